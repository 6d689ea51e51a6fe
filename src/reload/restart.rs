//! What a reload cannot take over while running. Every part of the
//! [`Config`] is named here, each as applying to the next request or as
//! waiting for a restart, by destructuring it whole: a new setting does not
//! compile until someone decides which it is.

use crate::config::{AuthSettings, Config, Limits, Listen, Upstream};

/// The settings `new` changes that take effect only after a restart, by
/// their YAML names. Everything else applies to the next request.
pub fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let Config {
        listen,
        upstream,
        trusted_proxies: _, // read by every request
        forward_auth: _,
        limits,
        store,
        sessions,
        auth,
        identity_headers: _, // read by every request
        source: _,           // where the file is, not a setting
        files: _,            // watched again after every reload
        admin_listen,
        codes: _, // the reloader hands new settings to sign-in
    } = old;
    let Listen {
        address,
        hosts: _, // read by every request
        redirect_http,
        hsts_max_age,
        certificates: _,   // read by every handshake
        proxy_protocol: _, // read by every new connection
    } = listen;
    let Upstream {
        server: _,             // read by every request
        allow_header_names: _, // read by every request
        scheme,
        authority,
        host,
        ca_certs,
        connect_timeout,
        response_timeout,
    } = upstream;
    let Limits {
        max_connections,
        header_read_timeout,
        body_read_timeout,
        max_body_bytes,
        max_inspected_body_bytes: _, // read by every request
        max_header_bytes,
        max_headers,
        shutdown_grace,
    } = limits;
    let AuthSettings {
        secrets_key,
        argon2_memory_kib,
        argon2_iterations,
        company: _, // the pages read these on every request
        colour: _,
        logo: _,
        texts: _,
        providers: _, // read on every sign-in
        directory: _,
    } = auth;
    let (l, u, m, a) = (&new.listen, &new.upstream, &new.limits, &new.auth);
    let checks = [
        (*address != l.address, "listen.address"),
        (*redirect_http != l.redirect_http, "listen.redirect_http"),
        (*hsts_max_age != l.hsts_max_age, "listen.hsts_max_age"),
        (*scheme != u.scheme || *authority != u.authority, "upstream.url"),
        (*host != u.host, "upstream.host"),
        (*ca_certs != u.ca_certs, "upstream.ca_file"),
        (*connect_timeout != u.connect_timeout, "upstream.connect_timeout"),
        (*response_timeout != u.response_timeout, "upstream.response_timeout"),
        (*max_connections != m.max_connections, "limits.max_connections"),
        (
            *header_read_timeout != m.header_read_timeout,
            "limits.header_read_timeout",
        ),
        (*body_read_timeout != m.body_read_timeout, "limits.body_read_timeout"),
        (*max_body_bytes != m.max_body_bytes, "limits.max_body_bytes"),
        (*max_header_bytes != m.max_header_bytes, "limits.max_header_bytes"),
        (*max_headers != m.max_headers, "limits.max_headers"),
        (*shutdown_grace != m.shutdown_grace, "limits.shutdown_grace"),
        (*store != new.store, "store"),
        (*sessions != new.sessions, "sessions"),
        (*secrets_key != a.secrets_key, "auth.secrets_key"),
        (
            (*argon2_memory_kib, *argon2_iterations) != (a.argon2_memory_kib, a.argon2_iterations),
            "auth.argon2",
        ),
        (*admin_listen != new.admin_listen, "admin.listen"),
    ];
    checks
        .into_iter()
        .filter(|(changed, _)| *changed)
        .map(|(_, name)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::Live;

    /// A config with every section, certificates and a key on disk.
    struct Files {
        dir: tempfile::TempDir,
    }

    const BASE: &str = r#"
listen:
  address: "127.0.0.1:8443"
  redirect_http: "127.0.0.1:8080"
  hsts_max_age: 1d
  hosts: [crm.example.com]
  tls: { cert: cert.pem, key: key.pem }
upstream:
  url: "http://127.0.0.1:9"
  server: generic
  host: preserve
  connect_timeout: 5s
  response_timeout: 60s
trusted_proxies: [127.0.0.1]
limits:
  max_connections: 100
  header_read_timeout: 10s
  body_read_timeout: 30s
  max_body_bytes: 1000000
  max_inspected_body_bytes: 65536
  max_header_bytes: 16384
  max_headers: 100
  shutdown_grace: 10s
store: { embedded: { path: store.redb } }
sessions: { idle_timeout: 30m, max_lifetime: 12h, max_per_user: 0 }
auth:
  secrets_key: secrets.key
  argon2_memory_kib: 8192
  argon2_iterations: 1
  company: Acme CRM
identity_headers: { user: X-User, groups: X-Groups }
admin: { listen: "127.0.0.1:9100" }
codes: { digits: 6, valid_for: 5m, email: { console: true } }
access: { web: any }
users: { alice: {} }
"#;

    impl Files {
        fn new() -> Files {
            let dir = tempfile::tempdir().unwrap();
            let (cert, key) = crate::demo::cert::self_signed(&["crm.example.com"]).unwrap();
            std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
            std::fs::write(dir.path().join("key.pem"), key).unwrap();
            std::fs::write(dir.path().join("secrets.key"), format!("{}\n", "ab".repeat(32))).unwrap();
            Files { dir }
        }

        fn load(&self, yaml: &str) -> Live {
            Live::from_yaml(yaml, self.dir.path()).unwrap_or_else(|e| panic!("{}\n{yaml}", e.lines().join("\n")))
        }
    }

    #[test]
    fn every_section_changed_once_applies_or_is_reported() {
        let files = Files::new();
        let base = files.load(BASE);
        // (what ops change, what must be reported: nothing when it applies)
        let changes: &[(&str, &str, &[&str])] = &[
            (
                "address: \"127.0.0.1:8443\"",
                "address: \"127.0.0.1:9443\"",
                &["listen.address"],
            ),
            (
                "redirect_http: \"127.0.0.1:8080\"",
                "redirect_http: \"127.0.0.1:8081\"",
                &["listen.redirect_http"],
            ),
            ("hsts_max_age: 1d", "hsts_max_age: 2d", &["listen.hsts_max_age"]),
            (
                "hosts: [crm.example.com]",
                "hosts: [crm.example.com, crm2.example.com]",
                &[],
            ),
            (
                "url: \"http://127.0.0.1:9\"",
                "url: \"http://127.0.0.1:10\"",
                &["upstream.url"],
            ),
            ("server: generic", "server: iis", &[]),
            ("host: preserve", "host: upstream", &["upstream.host"]),
            (
                "connect_timeout: 5s",
                "connect_timeout: 6s",
                &["upstream.connect_timeout"],
            ),
            (
                "response_timeout: 60s",
                "response_timeout: 61s",
                &["upstream.response_timeout"],
            ),
            ("trusted_proxies: [127.0.0.1]", "trusted_proxies: [127.0.0.2]", &[]),
            (
                "max_connections: 100",
                "max_connections: 101",
                &["limits.max_connections"],
            ),
            (
                "header_read_timeout: 10s",
                "header_read_timeout: 11s",
                &["limits.header_read_timeout"],
            ),
            (
                "body_read_timeout: 30s",
                "body_read_timeout: 31s",
                &["limits.body_read_timeout"],
            ),
            (
                "max_body_bytes: 1000000",
                "max_body_bytes: 1000001",
                &["limits.max_body_bytes"],
            ),
            (
                "max_inspected_body_bytes: 65536",
                "max_inspected_body_bytes: 65537",
                &[],
            ),
            (
                "max_header_bytes: 16384",
                "max_header_bytes: 16385",
                &["limits.max_header_bytes"],
            ),
            ("max_headers: 100", "max_headers: 101", &["limits.max_headers"]),
            ("shutdown_grace: 10s", "shutdown_grace: 11s", &["limits.shutdown_grace"]),
            ("path: store.redb", "path: other.redb", &["store"]),
            ("idle_timeout: 30m", "idle_timeout: 31m", &["sessions"]),
            (
                "secrets_key: secrets.key",
                "secrets_key: other.key",
                &["auth.secrets_key"],
            ),
            ("argon2_iterations: 1", "argon2_iterations: 2", &["auth.argon2"]),
            ("company: Acme CRM", "company: Acme Ltd", &[]),
            ("user: X-User", "user: X-Who", &[]),
            (
                "listen: \"127.0.0.1:9100\"",
                "listen: \"127.0.0.1:9101\"",
                &["admin.listen"],
            ),
            (
                "email: { console: true } }",
                "email: { console: true }, sms: { console: true } }",
                &[],
            ),
            ("users: { alice: {} }", "users: { alice: {}, bob: {} }", &[]),
        ];
        std::fs::write(files.dir.path().join("other.key"), format!("{}\n", "cd".repeat(32))).unwrap();
        for (from, to, reported) in changes {
            assert!(BASE.contains(from), "{from}");
            let changed = files.load(&BASE.replacen(from, to, 1));
            assert_eq!(needs_restart(&base.config, &changed.config), *reported, "{from} → {to}");
        }
        assert!(needs_restart(&base.config, &files.load(BASE).config).is_empty());
    }
}
