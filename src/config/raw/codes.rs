//! The `codes` section as written: how one-time codes reach users by email
//! (SMTP) and SMS (a webhook, or the common provider form).

use std::time::Duration;

use indexmap::IndexMap;

use serde::Deserialize;

use super::HumanDuration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCodes {
    /// Digits in a code sent by email or SMS (6 to 8).
    #[serde(default = "default_code_digits")]
    pub digits: u32,
    /// How long a sent code works.
    #[serde(default = "default_code_valid")]
    pub valid_for: HumanDuration,
    pub email: Option<RawEmail>,
    pub sms: Option<RawSms>,
}

impl Default for RawCodes {
    fn default() -> Self {
        RawCodes {
            digits: default_code_digits(),
            valid_for: default_code_valid(),
            email: None,
            sms: None,
        }
    }
}

fn default_code_digits() -> u32 {
    6
}
fn default_code_valid() -> HumanDuration {
    HumanDuration(Duration::from_secs(5 * 60))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    /// Print codes to standard output instead of sending them (the demo).
    #[serde(default)]
    pub console: bool,
    pub smtp: Option<RawSmtp>,
    /// Like `Acme CRM <crm@example.com>`.
    #[serde(default)]
    pub from: String,
    #[serde(default = "default_subject")]
    pub subject: String,
}

fn default_subject() -> String {
    "Your sign-in code".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `starttls` (default), `tls` (implicit, usually port 465) or `none`.
    #[serde(default)]
    pub security: SmtpSecurity,
    pub username: Option<String>,
    /// A file holding the SMTP password (never the password itself).
    pub password_file: Option<String>,
    /// CA certificates (PEM) for a server with a private CA.
    pub ca_file: Option<String>,
}

fn default_smtp_port() -> u16 {
    587
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    #[default]
    Starttls,
    Tls,
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSms {
    /// Print codes to standard output instead of sending them (the demo).
    #[serde(default)]
    pub console: bool,
    pub webhook: Option<RawWebhook>,
    /// The common provider form: account SID and auth token (HTTP basic),
    /// form-encoded `To`, `From`, `Body`.
    pub account: Option<RawSmsAccount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: String,
    #[serde(default = "default_post")]
    pub method: String,
    /// Header values; `{env:NAME}` and `{file:PATH}` are read at start, so
    /// an API key need not be in this file.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Form fields (`{phone}` and `{code}` are filled in), or
    pub form: Option<IndexMap<String, String>>,
    /// a JSON body template (values are JSON-escaped when filled in).
    pub json: Option<String>,
}

fn default_post() -> String {
    "POST".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmsAccount {
    /// Like `https://api.provider.example/2010-04-01/Accounts/AC…/Messages.json`.
    pub url: String,
    pub account_sid: String,
    /// A file holding the auth token.
    pub auth_token_file: String,
    /// The sending number.
    pub from: String,
}

/// `alerts`: emails about sign-ins worth a look.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    /// A sign-in from a network or client type the user has not signed in
    /// from before.
    pub new_sign_in_place: Option<RawNewPlace>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNewPlace {
    /// Email the user (at their `email`).
    #[serde(default = "yes")]
    pub to_user: bool,
    /// Also email these addresses (the IT team).
    #[serde(default)]
    pub also: Vec<String>,
}

fn yes() -> bool {
    true
}
