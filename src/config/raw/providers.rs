//! `auth.providers`: the company's identity providers (OpenID Connect),
//! as ops write them.

use indexmap::IndexMap;
use serde::Deserialize;

/// One OpenID Connect provider: Okta, Entra ID, Google Workspace, Keycloak.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    /// On the sign-in page: "Sign in with <label>".
    pub label: String,
    /// The issuer URL; its `/.well-known/openid-configuration` is read.
    pub issuer: String,
    pub client_id: String,
    /// A file holding the client secret, or the environment variable that does.
    #[serde(default)]
    pub client_secret_file: Option<String>,
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Scopes besides `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim that names the user: matched to a user's name in `users`,
    /// else to their `email`.
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// `amr` values that mean the provider asked for a second factor
    /// itself (`[mfa]`); then ours is not asked again. Empty: always ours.
    #[serde(default)]
    pub trust_mfa: Vec<String>,
    /// A private CA that signed the provider's certificate (PEM).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Who may sign in with this provider besides the users in `users`.
    #[serde(default)]
    pub admit: Admit,
    /// The claim that lists the user's groups at the provider, like `groups`.
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// The policy groups each of the provider's groups (a value of
    /// `groups_claim`) stands for, for users not in `users`.
    #[serde(default)]
    pub groups: IndexMap<String, Vec<String>>,
}

/// Who an identity provider (or the directory) may sign in. A user in
/// `users` is always as the YAML says: its `groups`, `disabled` and
/// `expires` win over anything the provider says.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Admit {
    /// Only users in `users`.
    #[default]
    Listed,
    /// Also anyone whose provider groups map to at least one policy group
    /// (they get those groups).
    Mapped,
    /// Also anyone the provider vouches for (with any groups that map).
    Anyone,
}

fn default_scopes() -> Vec<String> {
    vec!["email".into(), "profile".into()]
}

fn default_user_claim() -> String {
    "email".into()
}
