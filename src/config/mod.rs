//! Configuration: what ops write in YAML, validated before the gateway uses it.
//!
//! Two stages, as in ripgrep: [`raw`] mirrors the YAML (serde, unknown fields
//! rejected), then [`compile`] checks every setting and produces a [`Config`]
//! that the rest of the gateway can trust, or every problem found, each named
//! by its YAML path (`upstream.url: ...`). Nothing invalid gets past stage two.
//!
//! A leaf: settings only. The policy in the same file is compiled by
//! [`crate::policy`]; [`crate::live`] loads both together.

pub mod codes;
mod compile;
pub mod directory;
#[cfg(test)]
mod documented;
pub mod hosts;
mod mistakes;
pub mod providers;
pub mod raw;
mod store;
mod tls;

pub use compile::compile;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use ipnet::IpNet;
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;

pub use raw::RawConfig;

/// The validated configuration the gateway runs with.
#[derive(Debug)]
pub struct Config {
    pub listen: Listen,
    pub upstream: Upstream,
    /// Peers whose `X-Forwarded-For` we believe; everyone else's is ignored.
    pub trusted_proxies: Vec<IpNet>,
    /// Answer forward-auth questions (see [`crate::proxy`]'s forward_auth).
    pub forward_auth: bool,
    pub limits: Limits,
    pub store: StoreSettings,
    pub sessions: SessionLimits,
    pub auth: AuthSettings,
    pub identity_headers: IdentityHeaders,
    /// The file this was loaded from (`None` for YAML given as text), and
    /// every file it names (certificates, keys, CA, logo): a change to any
    /// of them reloads it ([`crate::reload`]).
    pub source: Option<PathBuf>,
    pub files: Vec<PathBuf>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (plain HTTP).
    pub admin_listen: Option<SocketAddr>,
    /// How one-time codes are sent by email and SMS.
    pub codes: codes::CodeSettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    Embedded(PathBuf),
    Redis(RedisSettings),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    pub topology: RedisTopology,
    /// ACL user and password (from `password_file`).
    pub username: Option<String>,
    pub password: Option<codes::Secret>,
    /// CA certificates (PEM) for `rediss://` servers with a private CA.
    pub ca_pem: Option<Vec<u8>>,
    pub prefix: String,
}

impl RedisSettings {
    /// One Redis at `url`, as the tests and simple setups use.
    pub fn single(url: &str, prefix: &str) -> RedisSettings {
        RedisSettings {
            topology: RedisTopology::Single(url.to_owned()),
            username: None,
            password: None,
            ca_pem: None,
            prefix: prefix.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTopology {
    Single(String),
    Sentinel { master: String, nodes: Vec<String> },
    Cluster { nodes: Vec<String> },
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub secrets_key: PathBuf,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub company: String,
    /// The pages' accent colour (`#rrggbb` or `#rgb`), checked.
    pub colour: Option<String>,
    pub logo: Option<Logo>,
    /// The words of the pages and emails, in every language the gateway has.
    pub texts: crate::i18n::Catalog,
    /// The company's identity providers, in the order the page offers them.
    pub providers: Vec<providers::ProviderSettings>,
    /// The company directory that checks the passwords of users whose
    /// `password_from` is `directory`.
    pub directory: Option<directory::DirectorySettings>,
}

/// A logo file, read and checked when the config is loaded.
#[derive(Clone)]
pub struct Logo {
    pub content_type: &'static str,
    pub bytes: bytes::Bytes,
}

impl fmt::Debug for Logo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Logo({}, {} bytes)", self.content_type, self.bytes.len())
    }
}

#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    pub user: http::HeaderName,
    pub groups: http::HeaderName,
}

#[derive(Debug)]
pub struct Listen {
    pub address: SocketAddr,
    /// The names the gateway answers to; a request for another gets 421.
    pub hosts: hosts::ServedNames,
    pub redirect_http: Option<SocketAddr>,
    /// `None` when HSTS is turned off (`hsts_max_age: 0s`).
    pub hsts_max_age: Option<Duration>,
    pub certificates: Certificates,
    /// Load balancers whose connections start with a PROXY protocol header.
    pub proxy_protocol: Vec<IpNet>,
}

/// Server certificates, loaded and checked (key matches certificate).
#[derive(Clone)]
pub struct Certificates {
    pub default: Arc<CertifiedKey>,
    /// By lower-case server name, for SNI.
    pub by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Certificates hold private keys: show only which names are served.
        f.debug_struct("Certificates")
            .field("sni_names", &self.by_name.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct Upstream {
    /// What the CRM runs on: how it reads requests.
    pub server: raw::Server,
    /// Header names with odd characters (`_`, `.`) that are passed on anyway.
    pub allow_header_names: Vec<http::HeaderName>,
    pub scheme: Scheme,
    pub authority: Authority,
    pub host: HostHeader,
    /// CAs for an `https://` upstream; `None` means the public web roots.
    pub ca_certs: Option<Vec<CertificateDer<'static>>>,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
}

/// What the upstream sees in `Host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostHeader {
    /// The Host the client asked for (the CRM sees its public name).
    Preserve,
    /// The host of `upstream.url`.
    Upstream,
    /// A fixed value.
    Fixed(http::HeaderValue),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// A request body that sends nothing this long is cut off (slow bodies).
    pub body_read_timeout: Duration,
    /// The largest request body passed to the CRM; `None` = no limit.
    pub max_body_bytes: Option<u64>,
    /// The largest form read to find a method override.
    pub max_inspected_body_bytes: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub shutdown_grace: Duration,
}

/// How long sessions live, and how many a user may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
    /// Write `last_seen` at most this often.
    pub touch_every: Duration,
    /// 0 means no limit; 1 means a new login ends the older sessions.
    pub max_per_user: usize,
    /// Refuse a sign-in while the account is live from another network
    /// (otherwise it is only audited and counted).
    pub refuse_sharing: bool,
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// YAML that does not parse or does not fit the model; the message carries
    /// the line and column.
    #[error("{0}")]
    Syntax(String),
    #[error("{}", Problems(.0))]
    Invalid(Vec<Problem>),
}

/// One thing wrong with a configuration, at a YAML path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// Each problem on its own line, ready for a terminal or a log.
    pub fn lines(&self) -> Vec<String> {
        match self {
            ConfigError::Invalid(problems) => problems.iter().map(ToString::to_string).collect(),
            other => vec![other.to_string()],
        }
    }
}

/// Read and parse a file (stage one), with the file's name on a syntax error.
pub fn read(path: &Path) -> Result<RawConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|err| match err {
        ConfigError::Syntax(msg) => ConfigError::Syntax(format!("{}: {msg}", path.display())),
        other => other,
    })
}

/// Stage one: YAML text to the raw model, with line and column on failure.
pub fn parse(text: &str) -> Result<RawConfig, ConfigError> {
    serde_yaml::from_str(text).map_err(|err| ConfigError::Syntax(mistakes::explain(text, &err)))
}

/// Problems found so far while compiling.
#[derive(Default)]
pub(crate) struct Found(Vec<Problem>);

impl Found {
    pub(crate) fn add(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// The value if `result` is Ok; otherwise record the problem at `path`.
    pub(crate) fn check<T>(&mut self, path: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.add(path, message)).ok()
    }
}

/// An address or a CIDR range; a bare address means just that host.
pub fn parse_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        if net.trunc() != net {
            return Err(format!("{text:?} has host bits set; did you mean {}?", net.trunc()));
        }
        return Ok(net);
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{text:?} is not an IP address or CIDR range (like 192.0.2.10 or 192.0.2.0/24)"))
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_names_the_path_and_suggests_the_fix() {
        let err = parse("listen:\n  adress: 1\n").unwrap_err().to_string();
        assert!(err.contains("listen"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("did you mean `address`?"), "{err}");
    }

    #[test]
    fn bad_durations_say_how_to_write_them() {
        let err = serde_yaml::from_str::<raw::RawLimits>("header_read_timeout: 5 minutes please")
            .unwrap_err()
            .to_string();
        assert!(err.contains("write it like 30s"), "{err}");
    }

    #[test]
    fn nets_accept_hosts_and_ranges_but_not_sloppy_ranges() {
        assert_eq!(parse_net("192.0.2.7").unwrap().to_string(), "192.0.2.7/32");
        assert_eq!(parse_net("2001:db8::/48").unwrap().to_string(), "2001:db8::/48");
        assert!(parse_net("192.0.2.7/24")
            .unwrap_err()
            .contains("did you mean 192.0.2.0/24"));
        assert!(parse_net("office").is_err());
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(suggest("ofice", ["office", "home"]), Some("office"));
        assert_eq!(suggest("zzz", ["office", "home"]), None);
    }
}
