//! `auth.directory`: the company's LDAP directory or Active Directory, as
//! ops write it. Users whose `password_from` is `directory` sign in with
//! the password the directory knows.

use serde::Deserialize;

use super::HumanDuration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDirectory {
    /// `ldaps://dc1.corp.example.com` (port 636), or `ldap://…` with
    /// `starttls: true`. Plain `ldap://` only on this machine.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before any password.
    #[serde(default)]
    pub starttls: bool,
    /// A private CA that signed the directory's certificate (PEM).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// The service account that looks users up (read-only is enough).
    pub bind_dn: String,
    /// A file holding its password, or the environment variable that does.
    #[serde(default)]
    pub bind_password_file: Option<String>,
    #[serde(default)]
    pub bind_password_env: Option<String>,
    /// Where users are searched for, and everything under it.
    pub base_dn: String,
    /// Finds the one entry of the user who signs in; `{user}` is the name
    /// typed, escaped. Active Directory: `(&(objectClass=user)(sAMAccountName={user}))`.
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    /// How long the directory may take to answer, per sign-in.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn default_user_filter() -> String {
    "(&(objectClass=inetOrgPerson)(uid={user}))".into()
}

fn default_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(5))
}
