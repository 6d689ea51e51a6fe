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
pub mod hosts;
pub mod raw;
mod tls;

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

/// Larger files are not logos.
const MAX_LOGO_BYTES: usize = 256 * 1024;

fn parse_colour(text: &str) -> Result<String, String> {
    let hex = text.strip_prefix('#').unwrap_or("");
    if matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!("{text:?} is not a colour; write it like \"#0a7d4f\""))
    }
}

fn load_logo(path: &Path) -> Result<Logo, String> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let content_type = match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        _ => return Err(format!("{} must be a .png, .jpg, .svg or .webp file", path.display())),
    };
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(format!("{} is larger than 256 KiB", path.display()));
    }
    Ok(Logo {
        content_type,
        bytes: bytes.into(),
    })
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
    serde_yaml::from_str(text).map_err(|err| ConfigError::Syntax(with_suggestion(err.to_string())))
}

/// Stage two: check every value and build the [`Config`], collecting every
/// problem rather than stopping at the first.
pub fn compile(raw: &RawConfig, base: &Path) -> Result<Config, ConfigError> {
    let mut found = Found::default();

    let address = found.check("listen.address", parse_socket_addr(&raw.listen.address));
    let redirect_http = match &raw.listen.redirect_http {
        None => Some(None),
        Some(text) => found.check("listen.redirect_http", parse_socket_addr(text)).map(Some),
    };
    let certificates = match tls::load_certificates(&raw.listen.tls, base) {
        Ok(certificates) => Some(certificates),
        Err(problems) => {
            found.0.extend(problems);
            None
        }
    };
    let served = match (&raw.listen.hosts, &certificates) {
        (Some(names), _) => hosts::ServedNames::listed(names, &mut found),
        (None, Some(certificates)) => Some(hosts::ServedNames::of_certificates(certificates)),
        (None, None) => None,
    };

    let upstream_url = found.check("upstream.url", parse_upstream_url(&raw.upstream.url));
    let host = found.check(
        "upstream.host",
        match raw.upstream.host.as_deref() {
            None | Some("preserve") => Ok(HostHeader::Preserve),
            Some("upstream") => Ok(HostHeader::Upstream),
            Some(value) => http::HeaderValue::from_str(value).map(HostHeader::Fixed).map_err(|_| {
                format!("{value:?} is not a valid Host header value; use preserve, upstream, or a host name")
            }),
        },
    );
    let ca_certs = match &raw.upstream.ca_file {
        None => Some(None),
        Some(file) => found
            .check("upstream.ca_file", tls::load_ca_file(&base.join(file)))
            .map(Some),
    };
    if let (Some(_), Some((scheme, _))) = (&raw.upstream.ca_file, &upstream_url) {
        if *scheme != Scheme::HTTPS {
            found.add(
                "upstream.ca_file",
                "is only used for an https:// upstream; remove it or change upstream.url",
            );
        }
    }

    let trusted_proxies: Vec<IpNet> = (raw.trusted_proxies.iter().enumerate())
        .filter_map(|(i, entry)| found.check(&format!("trusted_proxies[{i}]"), parse_net(entry)))
        .collect();

    let limits = &raw.limits;
    let zero_checks = [
        ("limits.header_read_timeout", limits.header_read_timeout.0.is_zero()),
        ("limits.body_read_timeout", limits.body_read_timeout.0.is_zero()),
        ("upstream.response_timeout", raw.upstream.response_timeout.0.is_zero()),
        ("upstream.connect_timeout", raw.upstream.connect_timeout.0.is_zero()),
    ];
    for (path, is_zero) in zero_checks {
        if is_zero {
            found.add(path, "must be longer than 0s");
        }
    }
    if limits.max_connections == 0 {
        found.add("limits.max_connections", "must be at least 1");
    }
    if limits.max_headers == 0 {
        found.add("limits.max_headers", "must be at least 1");
    }
    if limits.max_header_bytes < 8192 {
        found.add(
            "limits.max_header_bytes",
            format!("{} is too small; use at least 8192", limits.max_header_bytes),
        );
    }

    let sessions = &raw.sessions;
    if sessions.idle_timeout.0.as_secs() == 0 {
        found.add("sessions.idle_timeout", "must be at least 1s");
    }
    if sessions.max_lifetime.0 < sessions.idle_timeout.0 {
        found.add("sessions.max_lifetime", "is shorter than sessions.idle_timeout");
    }
    let header = |found: &mut Found, path: &str, name: &str| {
        found.check(
            path,
            http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("{name:?} is not a header name")),
        )
    };
    let plain = |found: &mut Found, path: &str, name: &str| {
        let name = header(found, path, name)?;
        if !name.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            found.add(
                path,
                format!(
                    "{:?}: use only letters, digits and -, so that every server reads it alike",
                    name.as_str()
                ),
            );
        }
        Some(name)
    };
    let user_header = plain(&mut found, "identity_headers.user", &raw.identity_headers.user);
    let groups_header = plain(&mut found, "identity_headers.groups", &raw.identity_headers.groups);
    let allow_header_names: Vec<http::HeaderName> = (raw.upstream.allow_header_names.iter().enumerate())
        .filter_map(|(i, name)| header(&mut found, &format!("upstream.allow_header_names[{i}]"), name))
        .collect();
    for (i, name) in allow_header_names.iter().enumerate() {
        // CGI-style servers read it under its dashed name: it must not be
        // one the gateway writes or decides on.
        let dashed = name.as_str().replace(['_', '.'], "-");
        let identity = [raw.identity_headers.user.as_str(), raw.identity_headers.groups.as_str()];
        let overrides = ["x-http-method-override", "x-http-method", "x-method-override"];
        if identity
            .iter()
            .chain(&overrides)
            .any(|h| h.eq_ignore_ascii_case(&dashed))
        {
            found.add(
                &format!("upstream.allow_header_names[{i}]"),
                format!(
                    "{:?} reads as {dashed} to CGI-style servers, which the gateway writes or decides on; it cannot be let through",
                    name.as_str()
                ),
            );
        }
    }
    if raw.auth.argon2_memory_kib < 8 * 1024 || raw.auth.argon2_iterations == 0 {
        found.add(
            "auth",
            "argon2_memory_kib must be at least 8192 and argon2_iterations at least 1 (OWASP suggests 19456 and 2)",
        );
    }
    let codes = codes::compile(raw, base, &mut found);
    let admin_listen = match &raw.admin {
        Some(admin) => found.check("admin.listen", parse_socket_addr(&admin.listen)).map(Some),
        None => Some(None),
    };
    let colour = raw
        .auth
        .colour
        .as_deref()
        .and_then(|text| found.check("auth.colour", parse_colour(text)));
    let logo = raw
        .auth
        .logo
        .as_deref()
        .and_then(|file| found.check("auth.logo", load_logo(&base.join(file))));
    let texts = match &raw.auth.texts {
        Some(folder) => found.check("auth.texts", crate::i18n::Catalog::with_folder(&base.join(folder))),
        None => Some(crate::i18n::Catalog::built_in()),
    };
    let store = match &raw.store {
        raw::RawStore::Embedded { path } => StoreSettings::Embedded(base.join(path)),
        raw::RawStore::Redis {
            url,
            sentinel,
            cluster,
            username,
            password_file,
            ca_file,
            prefix,
        } => {
            let mut urls = |path: &str, list: &[String]| {
                for (i, url) in list.iter().enumerate() {
                    if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                        found.add(
                            &format!("{path}[{i}]"),
                            format!("{url:?} must start with redis:// or rediss://"),
                        );
                    }
                }
                if list.is_empty() {
                    found.add(path, "name at least one node");
                }
                list.to_vec()
            };
            let topology = match (url, sentinel, cluster) {
                (Some(url), None, None) => {
                    RedisTopology::Single(urls("store.redis.url", std::slice::from_ref(url)).remove(0))
                }
                (None, Some(s), None) => {
                    let nodes = urls("store.redis.sentinel.nodes", &s.nodes);
                    let tls = nodes.iter().filter(|n| n.starts_with("rediss://")).count();
                    if tls != 0 && tls != nodes.len() {
                        found.add(
                            "store.redis.sentinel.nodes",
                            "use rediss:// for every sentinel or for none (the master is reached over TLS when the sentinels are)",
                        );
                    }
                    RedisTopology::Sentinel {
                        master: s.master.clone(),
                        nodes,
                    }
                }
                (None, None, Some(c)) => RedisTopology::Cluster {
                    nodes: urls("store.redis.cluster.nodes", &c.nodes),
                },
                _ => {
                    found.add("store.redis", "set exactly one of url, sentinel and cluster");
                    RedisTopology::Single(String::new())
                }
            };
            let password = password_file.as_ref().and_then(|file| {
                found.check(
                    "store.redis.password_file",
                    std::fs::read_to_string(base.join(file))
                        .map(|p| codes::Secret(p.trim().to_owned()))
                        .map_err(|e| format!("cannot read {}: {e}", base.join(file).display())),
                )
            });
            let ca_pem = ca_file.as_ref().and_then(|file| {
                let path = base.join(file);
                // Checked as certificates here; handed to Redis's TLS as PEM.
                found.check("store.redis.ca_file", tls::load_ca_file(&path))?;
                found.check(
                    "store.redis.ca_file",
                    std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display())),
                )
            });
            StoreSettings::Redis(RedisSettings {
                topology,
                username: username.clone(),
                password,
                ca_pem,
                prefix: prefix.clone(),
            })
        }
    };

    match (
        address,
        redirect_http,
        certificates,
        upstream_url,
        host,
        ca_certs,
        served,
    ) {
        (
            Some(address),
            Some(redirect_http),
            Some(certificates),
            Some((scheme, authority)),
            Some(host),
            Some(ca_certs),
            Some(hosts),
        ) if found.0.is_empty() => {
            let hsts = raw.listen.hsts_max_age.0;
            Ok(Config {
                listen: Listen {
                    address,
                    hosts,
                    redirect_http,
                    hsts_max_age: (!hsts.is_zero()).then_some(hsts),
                    certificates,
                },
                upstream: Upstream {
                    server: raw.upstream.server,
                    allow_header_names,
                    scheme,
                    authority,
                    host,
                    ca_certs,
                    connect_timeout: raw.upstream.connect_timeout.0,
                    response_timeout: raw.upstream.response_timeout.0,
                },
                trusted_proxies,
                limits: Limits {
                    max_connections: limits.max_connections,
                    header_read_timeout: limits.header_read_timeout.0,
                    body_read_timeout: limits.body_read_timeout.0,
                    max_body_bytes: (limits.max_body_bytes > 0).then_some(limits.max_body_bytes),
                    max_inspected_body_bytes: limits.max_inspected_body_bytes,
                    max_header_bytes: limits.max_header_bytes,
                    max_headers: limits.max_headers,
                    shutdown_grace: limits.shutdown_grace.0,
                },
                store,
                sessions: SessionLimits {
                    idle_timeout: sessions.idle_timeout.0,
                    max_lifetime: sessions.max_lifetime.0,
                    touch_every: (sessions.idle_timeout.0 / 30).clamp(Duration::from_secs(1), Duration::from_secs(60)),
                    max_per_user: sessions.max_per_user,
                    refuse_sharing: sessions.on_sharing == raw::OnSharing::Refuse,
                },
                auth: AuthSettings {
                    secrets_key: base.join(&raw.auth.secrets_key),
                    argon2_memory_kib: raw.auth.argon2_memory_kib,
                    argon2_iterations: raw.auth.argon2_iterations,
                    company: raw.auth.company.clone(),
                    colour,
                    logo,
                    // Some: a problem with it would have been found above.
                    texts: texts.unwrap_or_default(),
                },
                identity_headers: IdentityHeaders {
                    user: user_header.unwrap_or(http::HeaderName::from_static("x-portcullis-user")),
                    groups: groups_header.unwrap_or(http::HeaderName::from_static("x-portcullis-groups")),
                },
                source: None,
                files: named_files(raw, base),
                admin_listen: admin_listen.flatten(),
                codes,
            })
        }
        _ => Err(ConfigError::Invalid(found.0)),
    }
}

/// The files a config names, resolved as the gateway reads them.
fn named_files(raw: &RawConfig, base: &Path) -> Vec<PathBuf> {
    let tls = &raw.listen.tls;
    let pairs = std::iter::once((&tls.cert, &tls.key)).chain(tls.sni.values().map(|p| (&p.cert, &p.key)));
    pairs
        .flat_map(|(cert, key)| [cert, key])
        .chain(&raw.upstream.ca_file)
        .chain(&raw.auth.logo)
        .map(|file| base.join(file))
        .chain(raw.auth.texts.iter().flat_map(|folder| text_files(&base.join(folder))))
        .collect()
}

/// The language files in an `auth.texts` folder.
fn text_files(folder: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(folder).into_iter().flatten().filter_map(Result::ok);
    let mut files: Vec<PathBuf> = (entries.map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
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

fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not an address and port; write it like 0.0.0.0:443 or [::]:443"))
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

fn parse_upstream_url(text: &str) -> Result<(Scheme, Authority), String> {
    let uri: http::Uri = text
        .parse()
        .map_err(|_| format!("{text:?} is not a URL; write it like http://10.0.0.5:8080"))?;
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::HTTP,
        Some("https") => Scheme::HTTPS,
        _ => return Err(format!("{text:?} must start with http:// or https://")),
    };
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| format!("{text:?} has no host"))?;
    if authority.as_str().contains('@') {
        return Err("must not contain user information (user@host)".into());
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!(
            "{text:?} has a path; the gateway forwards each request's own path, so give only scheme, host and port"
        ));
    }
    Ok((scheme, authority))
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

/// serde lists the fields it expected; add the one the user probably meant.
fn with_suggestion(message: String) -> String {
    let Some(rest) = message.split("unknown field `").nth(1) else {
        return message;
    };
    let mut quoted = rest.split('`').step_by(2);
    let Some(unknown) = quoted.next() else {
        return message;
    };
    let expected: Vec<&str> = rest
        .split_once("expected")
        .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
        .unwrap_or_default();
    match suggest(unknown, expected) {
        Some(best) => format!("{message} (did you mean `{best}`?)"),
        None => message,
    }
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
    fn upstream_urls_must_be_plain_origins() {
        assert!(parse_upstream_url("http://10.0.0.5:8080").is_ok());
        assert!(parse_upstream_url("https://crm.internal").is_ok());
        assert!(parse_upstream_url("ftp://x").unwrap_err().contains("http://"));
        assert!(parse_upstream_url("http://x/crm").unwrap_err().contains("has a path"));
        assert!(parse_upstream_url("http://u:p@x").is_err());
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(suggest("ofice", ["office", "home"]), Some("office"));
        assert_eq!(suggest("zzz", ["office", "home"]), None);
    }
}
