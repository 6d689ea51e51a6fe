//! Users an identity provider vouched for who are not in the YAML: kept in
//! the store when they first sign in (see [`crate::signin`]), with the
//! groups the provider said they are in, and compiled into the policy
//! beside the YAML's users on every load, under the YAML's current `admit`
//! and `groups` of that provider. So a change to the mapping, or turning
//! `admit` back to `listed`, applies at the next reload to everyone, and
//! `explain`, `users review` and the gateway read the same users.
//!
//! A user in the YAML is never provisioned: the YAML's entry (its groups,
//! `disabled`, `expires`) is the user.

use serde::{Deserialize, Serialize};

use crate::config::raw::{Admit, RawConfig, RawUser};

/// A user provisioned by an identity provider, as the store keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provisioned {
    /// The value of the provider's `user_claim`.
    pub name: String,
    /// The provider's id in `auth.providers`.
    pub by: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// The provider's groups (values of its `groups_claim`), as it last said.
    pub claimed: Vec<String>,
}

/// At most this many of a user's provider groups are kept.
pub const MOST_GROUPS: usize = 500;

impl Provisioned {
    /// The policy groups the provider's groups stand for under `raw`, in
    /// the mapping's order; `None` if the provider no longer admits this user.
    pub fn groups_under(&self, raw: &RawConfig) -> Option<Vec<String>> {
        let provider = raw.auth.providers.get(&self.by)?;
        let mut groups: Vec<String> = Vec::new();
        for (theirs, ours) in &provider.groups {
            if self.claimed.contains(theirs) {
                groups.extend(ours.iter().filter(|g| !groups.contains(g)).cloned().collect::<Vec<_>>());
            }
        }
        match provider.admit {
            Admit::Listed => None,
            Admit::Mapped if groups.is_empty() => None,
            Admit::Mapped | Admit::Anyone => Some(groups),
        }
    }
}

/// The users to compile beside the YAML's: each provisioned user who is not
/// in `users` and whom their provider still admits, as a YAML entry with
/// the groups their provider's groups map to. They sign in with the
/// provider only (no password).
pub(super) fn admitted<'a>(raw: &RawConfig, provisioned: &'a [Provisioned]) -> Vec<(&'a Provisioned, RawUser)> {
    (provisioned.iter())
        .filter(|p| !raw.users.contains_key(&p.name))
        .filter_map(|p| {
            let groups = p.groups_under(raw)?;
            let user = RawUser {
                name: p.display_name.clone(),
                email: p.email.clone(),
                groups,
                password_sign_in: Some(false),
                ..RawUser::default()
            };
            Some((p, user))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::compile_with;

    const YAML: &str = r#"
listen: { address: "127.0.0.1:0", tls: { cert: a, key: b } }
upstream: { url: "http://127.0.0.1:1" }
auth:
  providers:
    okta:
      label: Okta
      issuer: "https://acme.okta.com"
      client_id: portcullis
      client_secret_env: X
      admit: mapped
      groups_claim: groups
      groups: { CRM-Sales: [sales], CRM-Admins: [admins, sales] }
    google: { label: Google, issuer: "https://accounts.google.com", client_id: x, client_secret_env: X, admit: anyone }
    entra: { label: Entra, issuer: "https://login.microsoftonline.com/t/v2.0", client_id: x, client_secret_env: X }
networks: { office: [10.0.0.0/8] }
groups: { sales: { access: { web: [office] } }, admins: {} }
users:
  ben: { groups: [admins] }
  gone: { disabled: true }
"#;

    fn vouched(name: &str, by: &str, claimed: &[&str]) -> Provisioned {
        Provisioned {
            name: name.into(),
            by: by.into(),
            email: Some(format!("{name}@acme.com")),
            display_name: None,
            claimed: claimed.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn a_provider_admits_whom_its_setting_says_with_the_groups_its_groups_map_to() {
        let raw = crate::config::parse(YAML).unwrap();
        let provisioned = [
            vouched("sam", "okta", &["CRM-Sales", "Everyone"]),
            vouched("ada", "okta", &["CRM-Admins", "CRM-Sales"]),
            // Okta admits only those whose groups map.
            vouched("guest", "okta", &["Everyone"]),
            // Google admits anyone; none of its groups map.
            vouched("gail", "google", &[]),
            // Entra admits only the YAML's users; a provider that is gone
            // admits nobody.
            vouched("eve", "entra", &[]),
            vouched("olga", "old-okta", &["CRM-Sales"]),
            // The YAML's entry wins: gone stays disabled, ben stays an admin only.
            vouched("gone", "okta", &["CRM-Sales"]),
            vouched("ben", "okta", &["CRM-Sales"]),
        ];
        let policy = compile_with(&raw, &provisioned).unwrap();
        let groups = |name: &str| -> Option<Vec<&str>> {
            let user = policy.users.get(name)?;
            Some(user.groups.iter().map(|g| policy.group_name(*g)).collect())
        };
        assert_eq!(groups("sam"), Some(vec!["sales"]));
        assert_eq!(groups("ada"), Some(vec!["sales", "admins"]), "in the mapping's order");
        assert_eq!(groups("gail"), Some(vec![]));
        for refused in ["guest", "eve", "olga"] {
            assert_eq!(groups(refused), None, "{refused}");
        }
        assert_eq!(groups("ben"), Some(vec!["admins"]));
        assert!(policy.users["gone"].disabled);
        assert_eq!(policy.users["sam"].provisioned_by.as_deref(), Some("okta"));
        assert_eq!(policy.users["ben"].provisioned_by, None);
        assert!(!policy.users["sam"].password_sign_in, "the provider only");
        assert_eq!(policy.users["sam"].email.as_deref(), Some("sam@acme.com"));
    }

    #[test]
    fn a_mapping_to_a_group_the_policy_lacks_is_named_by_its_path() {
        let yaml = YAML.replace("[admins, sales]", "[admins, salse]");
        let raw = crate::config::parse(&yaml).unwrap();
        let problems = compile_with(&raw, &[]).unwrap_err();
        let problems: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("auth.providers.okta.groups.CRM-Admins[1]: unknown group \"salse\"")),
            "{problems:#?}"
        );
    }
}
