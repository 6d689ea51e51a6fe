//! Stage one of configuration: serde structs that mirror the YAML exactly as
//! ops write it. Nothing here is trusted yet; `config::compile` turns these
//! into a validated [`Config`](super::Config) or a list of path-qualified problems.
//!
//! Every struct denies unknown fields so that a typo (`adress:`) is an error
//! rather than a silently ignored setting.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

mod auth;
mod codes;
mod directory;
mod policy;
mod providers;

pub use auth::RawAuth;
pub use codes::{RawAlerts, RawNewPlace};
pub use codes::{RawCodes, RawEmail, RawSms, RawSmsAccount, RawSmtp, RawWebhook, SmtpSecurity};
pub use directory::RawDirectory;
pub use policy::{
    Factor, LoginMode, PasswordFrom, QuotaPer, RawAccess, RawApproval, RawClientType, RawExemption, RawGroup,
    RawHeaderMatch, RawMatch, RawNetList, RawPasskeys, RawQuota, RawRoute, RawUser, ReasonMode, RouteMode, Server,
};
pub use providers::{Admit, RawProvider};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: RawListen,
    pub upstream: RawUpstream,
    /// Peers allowed to tell us the client's address in `X-Forwarded-For`.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Answer forward-auth questions from `trusted_proxies` (nginx
    /// `auth_request`, Traefik, Caddy) at `/.portcullis/authz/…`.
    #[serde(default)]
    pub forward_auth: bool,
    #[serde(default)]
    pub limits: RawLimits,
    /// Where credentials and sessions live: `{ embedded: { path } }` or
    /// `{ redis: { url, prefix } }`.
    #[serde(default, with = "serde_yaml::with::singleton_map")]
    pub store: RawStore,
    #[serde(default)]
    pub sessions: RawSessions,
    #[serde(default)]
    pub auth: RawAuth,
    /// Headers the CRM receives naming the signed-in user; any the client
    /// sends itself are removed.
    #[serde(default)]
    pub identity_headers: RawIdentityHeaders,
    /// The admin listener (metrics, health); off when absent.
    #[serde(default)]
    pub admin: Option<RawAdmin>,
    /// How one-time codes are sent by email and SMS.
    #[serde(default)]
    pub codes: RawCodes,
    /// Emails about sign-ins worth a look (sent through `codes.email`).
    #[serde(default)]
    pub alerts: RawAlerts,

    // The policy: who may reach the CRM, from where, with what, to which areas.
    /// Named lists of addresses and ranges; an entry may name another network.
    #[serde(default)]
    pub networks: IndexMap<String, Vec<String>>,
    /// Ordered: the first whose `match` fits the request wins; `web` is the default.
    #[serde(default)]
    pub client_types: IndexMap<String, RawClientType>,
    /// Default networks per client type, for users and groups that set none.
    #[serde(default)]
    pub access: IndexMap<String, RawNetList>,
    /// Default second factors, for users and groups that set none.
    #[serde(default)]
    pub second_factors: Option<Vec<Factor>>,
    /// Default passkey rules, for users and groups that set none.
    #[serde(default)]
    pub passkeys: Option<RawPasskeys>,
    /// `false`: nobody signs in with a password here, only with the
    /// company's identity provider (a user's own `true` keeps a break-glass
    /// account). Default true.
    #[serde(default)]
    pub password_sign_in: Option<bool>,
    /// Where the password of the sign-in form is checked: `local` (the
    /// gateway's own, set from the invite; default) or `directory`.
    #[serde(default)]
    pub password_from: Option<PasswordFrom>,
    #[serde(default)]
    pub groups: IndexMap<String, RawGroup>,
    #[serde(default)]
    pub users: IndexMap<String, RawUser>,
    #[serde(default)]
    pub exemptions: Vec<RawExemption>,
    /// Coarse permission areas; the first rule that matches a request decides.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Plain HTTP: keep it on loopback or a management network.
    #[serde(default = "default_admin_listen")]
    pub listen: String,
}

fn default_admin_listen() -> String {
    "127.0.0.1:9901".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListen {
    pub address: String,
    pub tls: RawTls,
    /// Optional plain-HTTP listener whose only job is to redirect to HTTPS.
    #[serde(default)]
    pub redirect_http: Option<String>,
    /// `Strict-Transport-Security` max-age; `0s` turns the header off.
    #[serde(default = "default_hsts")]
    pub hsts_max_age: HumanDuration,
    /// The names the gateway answers to (`Host`); others get 421. Default:
    /// every name and address its certificates are for.
    #[serde(default)]
    pub hosts: Option<Vec<String>>,
    /// Load balancers that put a PROXY protocol header (v1 or v2) before
    /// each connection: from these it is required, and the address it
    /// carries is the client's. Others never send one.
    #[serde(default)]
    pub proxy_protocol: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: String,
    pub key: String,
    /// Further certificates chosen by the name the client asks for (SNI).
    #[serde(default)]
    pub sni: BTreeMap<String, RawCertPair>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertPair {
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub url: String,
    /// What the CRM runs on, so that requests are read as it reads them:
    /// `generic` (unknown: every family's defences), `iis`, `java` or `php`.
    #[serde(default)]
    pub server: Server,
    /// Header names with characters other than letters, digits and `-`
    /// that the CRM needs. Others are removed: CGI-style servers read
    /// `X_User` and `X.User` as `X-User`.
    #[serde(default)]
    pub allow_header_names: Vec<String>,
    /// `preserve` (default): the client's Host; `upstream`: the URL's host;
    /// anything else: that exact value.
    #[serde(default)]
    pub host: Option<String>,
    /// PEM file of CAs to trust for an `https://` upstream (default: public roots).
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: HumanDuration,
    /// How long the upstream may take to send its response headers.
    #[serde(default = "default_response_timeout")]
    pub response_timeout: HumanDuration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Time a client has to finish the TLS handshake and send its headers.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout: HumanDuration,
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    #[serde(default = "default_max_headers")]
    pub max_headers: usize,
    /// How long in-flight requests may run on after SIGTERM.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: HumanDuration,
    /// How long a request body may send nothing before it is cut off.
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout: HumanDuration,
    /// The largest request body passed to the CRM; 0 = no limit.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// The largest form the gateway reads to find a method override
    /// (`_method`) when the method matters to a rule; larger ones get 413.
    #[serde(default = "default_max_inspected_body_bytes")]
    pub max_inspected_body_bytes: usize,
}

fn default_max_inspected_body_bytes() -> usize {
    1024 * 1024
}

fn default_max_body_bytes() -> u64 {
    100 * 1024 * 1024
}

fn default_body_read_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            max_connections: default_max_connections(),
            header_read_timeout: default_header_read_timeout(),
            max_header_bytes: default_max_header_bytes(),
            max_headers: default_max_headers(),
            shutdown_grace: default_shutdown_grace(),
            body_read_timeout: default_body_read_timeout(),
            max_body_bytes: default_max_body_bytes(),
            max_inspected_body_bytes: default_max_inspected_body_bytes(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum RawStore {
    Embedded {
        /// The redb file (created if missing).
        path: String,
    },
    Redis {
        /// One Redis: `redis://host:6379` (or `rediss://` for TLS).
        url: Option<String>,
        /// Redis Sentinel: the master's name and the sentinels' URLs.
        sentinel: Option<RawSentinel>,
        /// Redis Cluster: seed nodes' URLs.
        cluster: Option<RawCluster>,
        /// ACL user, and a file holding its password.
        username: Option<String>,
        password_file: Option<String>,
        /// For `rediss://` with a private CA: its certificates (PEM).
        ca_file: Option<String>,
        /// Put before every key, so that deployments can share a Redis.
        #[serde(default = "default_redis_prefix")]
        prefix: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSentinel {
    pub master: String,
    pub nodes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub nodes: Vec<String>,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore::Embedded {
            path: "portcullis.redb".into(),
        }
    }
}

fn default_redis_prefix() -> String {
    "portcullis:".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSessions {
    #[serde(default = "default_idle")]
    pub idle_timeout: HumanDuration,
    #[serde(default = "default_lifetime")]
    pub max_lifetime: HumanDuration,
    /// 0: no limit; 1: a new login ends the user's older sessions.
    #[serde(default)]
    pub max_per_user: usize,
    /// What to do when an account signs in while it is live from another
    /// network: `audit` (record and count it) or `refuse`.
    #[serde(default)]
    pub on_sharing: OnSharing,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnSharing {
    #[default]
    Audit,
    Refuse,
}

impl Default for RawSessions {
    fn default() -> Self {
        RawSessions {
            idle_timeout: default_idle(),
            max_lifetime: default_lifetime(),
            max_per_user: 0,
            on_sharing: OnSharing::Audit,
        }
    }
}

fn default_idle() -> HumanDuration {
    HumanDuration(Duration::from_secs(30 * 60))
}
fn default_lifetime() -> HumanDuration {
    HumanDuration(Duration::from_secs(12 * 3600))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentityHeaders {
    #[serde(default = "default_user_header")]
    pub user: String,
    #[serde(default = "default_groups_header")]
    pub groups: String,
}

impl Default for RawIdentityHeaders {
    fn default() -> Self {
        RawIdentityHeaders {
            user: default_user_header(),
            groups: default_groups_header(),
        }
    }
}

fn default_user_header() -> String {
    "X-Portcullis-User".into()
}
fn default_groups_header() -> String {
    "X-Portcullis-Groups".into()
}

fn default_hsts() -> HumanDuration {
    HumanDuration(Duration::from_secs(365 * 24 * 3600))
}
fn default_connect_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}
fn default_response_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}
fn default_max_connections() -> usize {
    10_000
}
fn default_header_read_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}
fn default_max_header_bytes() -> usize {
    32 * 1024
}
fn default_max_headers() -> usize {
    100
}
fn default_shutdown_grace() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

/// A duration written the way people write them: `30s`, `5m`, `12h`, `1h 30m`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(text.trim())
            .map(HumanDuration)
            .map_err(|err| {
                serde::de::Error::custom(format!(
                    "invalid duration {text:?} ({err}); write it like 30s, 5m, 12h or 1h 30m"
                ))
            })
    }
}
