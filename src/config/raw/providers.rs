//! `auth.providers`: the company's identity providers (OpenID Connect),
//! as ops write them.

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
}

fn default_scopes() -> Vec<String> {
    vec!["email".into(), "profile".into()]
}

fn default_user_claim() -> String {
    "email".into()
}
