//! `auth`: how sign-in works, as ops write it: the secrets key, the
//! password hash's cost, the pages' branding and words, and the company's
//! identity providers and directory.

use indexmap::IndexMap;
use serde::Deserialize;

use super::{RawDirectory, RawProvider};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// File holding the key that seals TOTP secrets (64 hex digits).
    #[serde(default = "default_secrets_key")]
    pub secrets_key: String,
    /// argon2id cost: memory in KiB, iterations, lanes.
    #[serde(default = "default_argon_memory")]
    pub argon2_memory_kib: u32,
    #[serde(default = "default_argon_iterations")]
    pub argon2_iterations: u32,
    /// Shown on the login pages and in authenticator apps.
    #[serde(default = "default_issuer")]
    pub company: String,
    /// The pages' accent colour, like "#0a7d4f".
    #[serde(default)]
    pub colour: Option<String>,
    /// The company's logo on the pages: a PNG, JPEG, SVG or WebP file.
    #[serde(default)]
    pub logo: Option<String>,
    /// A folder of `<language>.yaml` files that add a language or change
    /// texts of the pages and emails (see [`crate::i18n`]).
    #[serde(default)]
    pub texts: Option<String>,
    /// Sign-in with the company's identity providers, by id (the id is in
    /// their callback path: `/.portcullis/sso/<id>/callback`).
    #[serde(default)]
    pub providers: IndexMap<String, RawProvider>,
    /// The company's LDAP directory or Active Directory, for users whose
    /// `password_from` is `directory`.
    #[serde(default)]
    pub directory: Option<RawDirectory>,
}

impl Default for RawAuth {
    fn default() -> Self {
        RawAuth {
            secrets_key: default_secrets_key(),
            argon2_memory_kib: default_argon_memory(),
            argon2_iterations: default_argon_iterations(),
            company: default_issuer(),
            colour: None,
            logo: None,
            texts: None,
            providers: IndexMap::new(),
            directory: None,
        }
    }
}

fn default_secrets_key() -> String {
    "secrets.key".into()
}
fn default_argon_memory() -> u32 {
    19 * 1024
}
fn default_argon_iterations() -> u32 {
    2
}
fn default_issuer() -> String {
    "CRM".into()
}
