//! Stage two: check every value of the raw model and build the [`Config`],
//! a section at a time, collecting every problem (each named by its YAML
//! path) rather than stopping at the first.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::HeaderName;
use ipnet::IpNet;

use super::raw::{self, RawConfig};
use super::{
    codes, hosts, parse_net, tls, AuthSettings, Config, ConfigError, Found, HostHeader, IdentityHeaders, Limits,
    Listen, Logo, SessionLimits, Upstream,
};

/// The whole config, or every problem in it.
pub fn compile(raw: &RawConfig, base: &Path) -> Result<Config, ConfigError> {
    let mut found = Found::default();
    let listen = listen(raw, base, &mut found);
    let upstream = upstream(raw, base, &mut found);
    let trusted_proxies: Vec<IpNet> = (raw.trusted_proxies.iter().enumerate())
        .filter_map(|(i, entry)| found.check(&format!("trusted_proxies[{i}]"), parse_net(entry)))
        .collect();
    if raw.forward_auth && raw.trusted_proxies.is_empty() {
        found.add(
            "forward_auth",
            "only a proxy in trusted_proxies may ask, and there is none: list yours (nginx, Traefik, Caddy)",
        );
    }
    let limits = limits(raw, &mut found);
    let sessions = sessions(raw, &mut found);
    let identity_headers = identity_headers(raw, &mut found);
    let auth = auth(raw, base, &mut found);
    let codes = codes::compile(raw, base, &mut found);
    let admin_listen = match &raw.admin {
        Some(admin) => found.check("admin.listen", parse_socket_addr(&admin.listen)).map(Some),
        None => Some(None),
    };
    let store = super::store::compile(raw, base, &mut found);
    match (listen, upstream, auth, admin_listen) {
        (Some(listen), Some(upstream), Some(auth), Some(admin_listen)) if found.0.is_empty() => Ok(Config {
            listen,
            upstream,
            trusted_proxies,
            forward_auth: raw.forward_auth,
            limits,
            store,
            sessions,
            auth,
            identity_headers,
            source: None,
            files: named_files(raw, base),
            admin_listen,
            codes,
        }),
        _ => Err(ConfigError::Invalid(found.0)),
    }
}

fn listen(raw: &RawConfig, base: &Path, found: &mut Found) -> Option<Listen> {
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
    let hosts = match (&raw.listen.hosts, &certificates) {
        (Some(names), _) => hosts::ServedNames::listed(names, found),
        (None, Some(certificates)) => Some(hosts::ServedNames::of_certificates(certificates)),
        (None, None) => None,
    };
    let hsts = raw.listen.hsts_max_age.0;
    let proxy_protocol: Vec<IpNet> = (raw.listen.proxy_protocol.iter().enumerate())
        .filter_map(|(i, text)| found.check(&format!("listen.proxy_protocol[{i}]"), parse_net(text)))
        .collect();
    Some(Listen {
        address: address?,
        hosts: hosts?,
        redirect_http: redirect_http?,
        hsts_max_age: (!hsts.is_zero()).then_some(hsts),
        certificates: certificates?,
        proxy_protocol,
    })
}

fn upstream(raw: &RawConfig, base: &Path, found: &mut Found) -> Option<Upstream> {
    let url = found.check("upstream.url", parse_upstream_url(&raw.upstream.url));
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
    if let (Some(_), Some((scheme, _))) = (&raw.upstream.ca_file, &url) {
        if *scheme != Scheme::HTTPS {
            found.add(
                "upstream.ca_file",
                "is only used for an https:// upstream; remove it or change upstream.url",
            );
        }
    }
    for (path, timeout) in [
        ("upstream.response_timeout", raw.upstream.response_timeout.0),
        ("upstream.connect_timeout", raw.upstream.connect_timeout.0),
    ] {
        if timeout.is_zero() {
            found.add(path, "must be longer than 0s");
        }
    }
    let allow_header_names = allowed_odd_names(raw, found);
    let (scheme, authority) = url?;
    Some(Upstream {
        server: raw.upstream.server,
        allow_header_names,
        scheme,
        authority,
        host: host?,
        ca_certs: ca_certs?,
        connect_timeout: raw.upstream.connect_timeout.0,
        response_timeout: raw.upstream.response_timeout.0,
    })
}

/// `upstream.allow_header_names`: header names with `_` or `.` passed on
/// anyway, unless a CGI-style server would read one as a header the
/// gateway writes or decides on.
fn allowed_odd_names(raw: &RawConfig, found: &mut Found) -> Vec<HeaderName> {
    let names: Vec<HeaderName> = (raw.upstream.allow_header_names.iter().enumerate())
        .filter_map(|(i, name)| header(found, &format!("upstream.allow_header_names[{i}]"), name))
        .collect();
    for (i, name) in names.iter().enumerate() {
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
    names
}

fn header(found: &mut Found, path: &str, name: &str) -> Option<HeaderName> {
    found.check(
        path,
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("{name:?} is not a header name")),
    )
}

fn limits(raw: &RawConfig, found: &mut Found) -> Limits {
    let limits = &raw.limits;
    for (path, timeout) in [
        ("limits.header_read_timeout", limits.header_read_timeout.0),
        ("limits.body_read_timeout", limits.body_read_timeout.0),
    ] {
        if timeout.is_zero() {
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
    Limits {
        max_connections: limits.max_connections,
        header_read_timeout: limits.header_read_timeout.0,
        body_read_timeout: limits.body_read_timeout.0,
        max_body_bytes: (limits.max_body_bytes > 0).then_some(limits.max_body_bytes),
        max_inspected_body_bytes: limits.max_inspected_body_bytes,
        max_header_bytes: limits.max_header_bytes,
        max_headers: limits.max_headers,
        shutdown_grace: limits.shutdown_grace.0,
    }
}

fn sessions(raw: &RawConfig, found: &mut Found) -> SessionLimits {
    let sessions = &raw.sessions;
    if sessions.idle_timeout.0.as_secs() == 0 {
        found.add("sessions.idle_timeout", "must be at least 1s");
    }
    if sessions.max_lifetime.0 < sessions.idle_timeout.0 {
        found.add("sessions.max_lifetime", "is shorter than sessions.idle_timeout");
    }
    SessionLimits {
        idle_timeout: sessions.idle_timeout.0,
        max_lifetime: sessions.max_lifetime.0,
        touch_every: (sessions.idle_timeout.0 / 30).clamp(Duration::from_secs(1), Duration::from_secs(60)),
        max_per_user: sessions.max_per_user,
        refuse_sharing: sessions.on_sharing == raw::OnSharing::Refuse,
    }
}

/// The names the user and their groups reach the CRM under: letters,
/// digits and `-` only, so that every server reads them alike.
fn identity_headers(raw: &RawConfig, found: &mut Found) -> IdentityHeaders {
    let mut plain = |path: &str, name: &str, default: &'static str| {
        let Some(name) = header(found, path, name) else {
            return HeaderName::from_static(default);
        };
        if !name.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            let why = format!(
                "{:?}: use only letters, digits and -, so that every server reads it alike",
                name.as_str()
            );
            found.add(path, why);
        }
        name
    };
    let names = &raw.identity_headers;
    IdentityHeaders {
        user: plain("identity_headers.user", &names.user, "x-portcullis-user"),
        groups: plain("identity_headers.groups", &names.groups, "x-portcullis-groups"),
    }
}

fn auth(raw: &RawConfig, base: &Path, found: &mut Found) -> Option<AuthSettings> {
    let auth = &raw.auth;
    if auth.argon2_memory_kib < 8 * 1024 || auth.argon2_iterations == 0 {
        found.add(
            "auth",
            "argon2_memory_kib must be at least 8192 and argon2_iterations at least 1 (OWASP suggests 19456 and 2)",
        );
    }
    let colour = (auth.colour.as_deref()).and_then(|text| found.check("auth.colour", parse_colour(text)));
    let logo = (auth.logo.as_deref()).and_then(|file| found.check("auth.logo", load_logo(&base.join(file))));
    let texts = match &auth.texts {
        Some(folder) => found.check("auth.texts", crate::i18n::Catalog::with_folder(&base.join(folder)))?,
        None => crate::i18n::Catalog::built_in(),
    };
    Some(AuthSettings {
        secrets_key: base.join(&auth.secrets_key),
        argon2_memory_kib: auth.argon2_memory_kib,
        argon2_iterations: auth.argon2_iterations,
        company: auth.company.clone(),
        colour,
        logo,
        texts,
        providers: super::providers::compile(raw, base, found),
        directory: super::directory::compile(raw, base, found),
    })
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

fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not an address and port; write it like 0.0.0.0:443 or [::]:443"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_must_be_plain_origins() {
        assert!(parse_upstream_url("http://10.0.0.5:8080").is_ok());
        assert!(parse_upstream_url("https://crm.internal").is_ok());
        assert!(parse_upstream_url("ftp://x").unwrap_err().contains("http://"));
        assert!(parse_upstream_url("http://x/crm").unwrap_err().contains("has a path"));
        assert!(parse_upstream_url("http://u:p@x").is_err());
    }
}
