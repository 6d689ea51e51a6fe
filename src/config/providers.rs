//! `auth.providers`, compiled: each identity provider's issuer, client and
//! claims, checked, with its client secret read from a file or the
//! environment when the config loads (never printed).

use std::path::Path;

use rustls::pki_types::CertificateDer;
use url::Url;

use super::codes::Secret;
use super::raw::{Admit, RawConfig, RawProvider};
use super::Found;

#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// As in `auth.providers.<id>` and the callback path.
    pub id: String,
    pub label: String,
    /// Exactly as written: the provider's tokens must name this issuer.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub scopes: Vec<String>,
    pub user_claim: String,
    pub trust_mfa: Vec<String>,
    pub ca_certs: Option<Vec<CertificateDer<'static>>>,
    /// Who besides the YAML's users may sign in (see [`crate::policy::provisioned`]).
    pub admit: Admit,
    /// The claim that lists the user's groups at the provider.
    pub groups_claim: Option<String>,
    /// The provider's groups that `groups` maps to policy groups.
    pub mapped_groups: Vec<String>,
}

/// Does any provider admit users the YAML does not list?
pub fn admit_unlisted(providers: &[ProviderSettings]) -> bool {
    providers.iter().any(|p| p.admit != Admit::Listed)
}

pub(super) fn compile(raw: &RawConfig, base: &Path, found: &mut Found) -> Vec<ProviderSettings> {
    (raw.auth.providers.iter())
        .filter_map(|(id, p)| provider(id, p, base, found))
        .collect()
}

fn provider(id: &str, raw: &RawProvider, base: &Path, found: &mut Found) -> Option<ProviderSettings> {
    let path = format!("auth.providers.{id}");
    let id_ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !id_ok {
        found.add(
            &path,
            "name it with lower-case letters, digits and dashes (it is part of the callback URL)",
        );
    }
    let issuer = found.check(&format!("{path}.issuer"), issuer(&raw.issuer));
    let secret = (raw.client_secret_file.as_ref(), raw.client_secret_env.as_ref());
    let secret = super::codes::file_or_env(found, &path, "client_secret", secret, base);
    if raw.label.trim().is_empty() {
        found.add(&format!("{path}.label"), "say what the button names, like \"Okta\"");
    }
    if raw.client_id.trim().is_empty() {
        found.add(
            &format!("{path}.client_id"),
            "is empty; copy it from the provider's app settings",
        );
    }
    if raw.user_claim.trim().is_empty() {
        found.add(
            &format!("{path}.user_claim"),
            "name the claim that names the user, like email",
        );
    }
    let groups_claim = raw.groups_claim.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if groups_claim.is_none() && !raw.groups.is_empty() {
        found.add(
            &format!("{path}.groups_claim"),
            "name the claim that lists the user's groups (like groups), or the groups mapping cannot apply",
        );
    }
    if raw.admit == Admit::Mapped && raw.groups.is_empty() {
        found.add(
            &format!("{path}.admit"),
            "mapped admits users whose groups map to a policy group, but groups maps none: \
             map some (groups: { \"CRM-Sales\": [sales] }) or say admit: listed",
        );
    }
    let ca_certs = match &raw.ca_file {
        Some(file) => Some(found.check(&format!("{path}.ca_file"), super::tls::load_ca_file(&base.join(file)))?),
        None => None,
    };
    Some(ProviderSettings {
        id: id.to_owned(),
        label: raw.label.trim().to_owned(),
        issuer: issuer?,
        client_id: raw.client_id.trim().to_owned(),
        client_secret: secret?,
        scopes: raw.scopes.clone(),
        user_claim: raw.user_claim.trim().to_owned(),
        trust_mfa: raw.trust_mfa.clone(),
        ca_certs,
        admit: raw.admit,
        groups_claim: groups_claim.map(str::to_owned),
        mapped_groups: raw.groups.keys().cloned().collect(),
    })
    .filter(|_| id_ok)
}

/// An issuer URL: HTTPS, or plain HTTP on this machine only (a test
/// provider); no query or fragment.
fn issuer(text: &str) -> Result<String, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL ({e})"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(format!(
                "{text:?} must start with https:// (the provider's tokens vouch for who signs in)"
            ))
        }
    }
    if url.query().is_some() || url.fragment().is_some() || url.host().is_none() {
        return Err(format!(
            "{text:?} is not an issuer: write it like https://company.okta.com"
        ));
    }
    Ok(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issuer_is_https_except_on_this_machine() {
        assert!(issuer("https://company.okta.com").is_ok());
        assert!(issuer("http://127.0.0.1:9000").is_ok());
        let plain = issuer("http://idp.example.com").unwrap_err();
        assert!(plain.contains("must start with https://"), "{plain}");
        assert!(issuer("https://idp.example.com/?x=1").is_err());
        assert!(issuer("idp.example.com").is_err());
    }

    #[test]
    fn each_mistake_is_named_by_its_path_and_the_secret_is_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("okta.secret"), "s3cret\n").unwrap();
        let yaml = r#"
listen: { address: "127.0.0.1:0", tls: { cert: a, key: b } }
upstream: { url: "http://127.0.0.1:1" }
auth:
  providers:
    okta: { label: Okta, issuer: "https://acme.okta.com", client_id: portcullis, client_secret_file: okta.secret }
    Entra: { label: "", issuer: "http://login.example.com", client_id: "", client_secret_env: PORTCULLIS_NOT_SET }
    google: { label: Google, issuer: "https://accounts.google.com", client_id: x }
    keycloak: { label: Keycloak, issuer: "https://sso.acme.com/realms/acme", client_id: x, client_secret_file: okta.secret, admit: mapped }
    entra: { label: Entra, issuer: "https://login.microsoftonline.com/t/v2.0", client_id: x, client_secret_file: okta.secret, groups: { "8f2c": [sales] } }
"#;
        let raw: RawConfig = serde_yaml::from_str(yaml).unwrap();
        let mut found = Found::default();
        let providers = compile(&raw, dir.path(), &mut found);
        assert_eq!(providers.len(), 3);
        assert_eq!(providers[0].client_secret.0, "s3cret");
        assert!(!format!("{providers:?}").contains("s3cret"));
        let problems: Vec<String> = found.0.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
        for expected in [
            "auth.providers.Entra: name it with lower-case letters",
            "auth.providers.Entra.issuer: \"http://login.example.com\" must start with https://",
            "auth.providers.Entra.client_secret_env: the environment variable PORTCULLIS_NOT_SET is not set",
            "auth.providers.Entra.label: say what the button names",
            "auth.providers.Entra.client_id: is empty",
            "auth.providers.google: set client_secret_file or client_secret_env",
            "auth.providers.keycloak.admit: mapped admits users whose groups map to a policy group, but groups maps none",
            "auth.providers.entra.groups_claim: name the claim that lists the user's groups",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "{expected:?} in {problems:#?}"
            );
        }
    }
}
