//! `auth.directory`, compiled: where the directory is, how the connection
//! is secured, the service account (its password read from a file or the
//! environment when the config loads, never printed), and how a user's
//! entry is found.

use std::path::Path;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use url::Url;

use super::codes::Secret;
use super::raw::{RawConfig, RawDirectory};
use super::Found;

#[derive(Debug, Clone)]
pub struct DirectorySettings {
    /// `ldaps://host:port` or `ldap://host:port`, as written.
    pub url: String,
    pub starttls: bool,
    pub ca_certs: Option<Vec<CertificateDer<'static>>>,
    pub bind_dn: String,
    pub bind_password: Secret,
    pub base_dn: String,
    /// With `{user}` where the escaped name goes.
    pub user_filter: String,
    pub timeout: Duration,
}

const PATH: &str = "auth.directory";

pub(super) fn compile(raw: &RawConfig, base: &Path, found: &mut Found) -> Option<DirectorySettings> {
    let raw: &RawDirectory = raw.auth.directory.as_ref()?;
    let url = found.check(&format!("{PATH}.url"), url(&raw.url, raw.starttls));
    let password = (raw.bind_password_file.as_ref(), raw.bind_password_env.as_ref());
    let password = super::codes::file_or_env(found, PATH, "bind_password", password, base);
    for (key, value) in [("bind_dn", &raw.bind_dn), ("base_dn", &raw.base_dn)] {
        if value.trim().is_empty() {
            found.add(
                &format!("{PATH}.{key}"),
                "is empty; write a DN like DC=corp,DC=example,DC=com",
            );
        }
    }
    let filter = found.check(&format!("{PATH}.user_filter"), user_filter(&raw.user_filter));
    let ca_certs = match &raw.ca_file {
        Some(file) => Some(found.check(&format!("{PATH}.ca_file"), super::tls::load_ca_file(&base.join(file)))?),
        None => None,
    };
    if raw.timeout.0.is_zero() {
        found.add(&format!("{PATH}.timeout"), "must be more than 0s (5s is usual)");
    }
    Some(DirectorySettings {
        url: url?,
        starttls: raw.starttls,
        ca_certs,
        bind_dn: raw.bind_dn.trim().to_owned(),
        bind_password: password?,
        base_dn: raw.base_dn.trim().to_owned(),
        user_filter: filter?,
        timeout: raw.timeout.0,
    })
}

/// An LDAP URL whose passwords travel encrypted: `ldaps://`, or `ldap://`
/// with StartTLS; plain `ldap://` only to this machine (a test directory).
fn url(text: &str, starttls: bool) -> Result<String, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL ({e})"))?;
    let loopback = match url.host() {
        // ldap:// is not a scheme the URL standard knows: its host stays text.
        Some(url::Host::Domain(d)) => {
            let ip = d
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>();
            d == "localhost" || ip.is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => {
            return Err(format!(
                "{text:?} names no host: write it like ldaps://dc1.corp.example.com"
            ))
        }
    };
    match (url.scheme(), starttls) {
        ("ldaps", false) | ("ldap", true) => {}
        ("ldap", false) if loopback => {}
        ("ldaps", true) => return Err(format!("{text:?} is already TLS: drop starttls, or use ldap://")),
        ("ldap", false) => {
            return Err(format!(
                "{text:?} would send passwords unencrypted: use ldaps:// or set starttls: true"
            ))
        }
        (other, _) => return Err(format!("{text:?}: the scheme is {other}, not ldaps or ldap")),
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() {
        return Err(format!(
            "{text:?}: only the scheme, host and port; the base DN goes in base_dn"
        ));
    }
    Ok(text.trim().to_owned())
}

fn user_filter(text: &str) -> Result<String, String> {
    let text = text.trim();
    if !(text.starts_with('(') && text.ends_with(')')) {
        return Err(format!(
            "{text:?} is not an LDAP filter: write it in parentheses, like (uid={{user}})"
        ));
    }
    if !text.contains("{user}") {
        return Err(format!(
            "{text:?} does not say where the user's name goes: put {{user}} in it"
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_travel_encrypted_except_on_this_machine() {
        assert!(url("ldaps://dc1.corp.example.com", false).is_ok());
        assert!(url("ldap://dc1.corp.example.com:389", true).is_ok());
        assert!(url("ldap://127.0.0.1:3890", false).is_ok());
        assert!(url("ldap://[::1]:3890", false).is_ok());
        assert!(url("ldap://127.0.0.1.evil.example", false).is_err());
        let plain = url("ldap://dc1.corp.example.com", false).unwrap_err();
        assert!(plain.contains("unencrypted"), "{plain}");
        assert!(url("ldaps://dc1.corp.example.com", true)
            .unwrap_err()
            .contains("drop starttls"));
        assert!(url("ldaps://dc1/DC=corp", false).unwrap_err().contains("base_dn"));
        assert!(url("https://dc1", false).is_err());
    }

    #[test]
    fn each_mistake_is_named_by_its_path_and_the_password_is_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ldap.secret"), "s3cret\n").unwrap();
        let config = |directory: &str| {
            let yaml = format!(
                "listen: {{ address: \"127.0.0.1:0\", tls: {{ cert: a, key: b }} }}\n\
                 upstream: {{ url: \"http://127.0.0.1:1\" }}\nauth: {{ directory: {directory} }}\n"
            );
            let raw: RawConfig = serde_yaml::from_str(&yaml).unwrap();
            let mut found = Found::default();
            let settings = compile(&raw, dir.path(), &mut found);
            let problems: Vec<String> = found.0.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
            (settings, problems)
        };
        let (good, problems) = config(
            "{ url: \"ldaps://dc1.corp.example.com\", bind_dn: \"CN=portcullis,DC=corp\", \
             bind_password_file: ldap.secret, base_dn: \"DC=corp\", \
             user_filter: \"(&(objectClass=user)(sAMAccountName={user}))\" }",
        );
        assert_eq!(problems, Vec::<String>::new());
        let good = good.unwrap();
        assert_eq!(good.bind_password.0, "s3cret");
        assert!(!format!("{good:?}").contains("s3cret"));

        let (bad, problems) = config(
            "{ url: \"ldap://dc1.corp.example.com\", bind_dn: \"\", base_dn: \" \", \
             bind_password_env: PORTCULLIS_NOT_SET, user_filter: \"uid=alice\", timeout: 0s }",
        );
        assert!(bad.is_none());
        for expected in [
            "auth.directory.url: \"ldap://dc1.corp.example.com\" would send passwords unencrypted",
            "auth.directory.bind_password_env: the environment variable PORTCULLIS_NOT_SET is not set",
            "auth.directory.bind_dn: is empty",
            "auth.directory.base_dn: is empty",
            "auth.directory.user_filter: \"uid=alice\" is not an LDAP filter",
            "auth.directory.timeout: must be more than 0s",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "{expected:?} in {problems:#?}"
            );
        }
        let (_, problems) = config("{ url: \"ldaps://dc1\", bind_dn: x, base_dn: y, user_filter: \"(uid=alice)\" }");
        assert!(problems
            .iter()
            .any(|p| p.starts_with("auth.directory: set bind_password_file")));
        assert!(problems.iter().any(|p| p.contains("put {user} in it")));
    }
}
