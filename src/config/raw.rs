//! Stage one of configuration: serde structs that mirror the YAML exactly as
//! ops write it. Nothing here is trusted yet; `config::compile` turns these
//! into a validated [`Config`](super::Config) or a list of path-qualified problems.
//!
//! Every struct denies unknown fields so that a typo (`adress:`) is an error
//! rather than a silently ignored setting.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: RawListen,
    pub upstream: RawUpstream,
    /// Peers allowed to tell us the client's address in `X-Forwarded-For`.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    #[serde(default)]
    pub limits: RawLimits,
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
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            max_connections: default_max_connections(),
            header_read_timeout: default_header_read_timeout(),
            max_header_bytes: default_max_header_bytes(),
            max_headers: default_max_headers(),
            shutdown_grace: default_shutdown_grace(),
        }
    }
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
