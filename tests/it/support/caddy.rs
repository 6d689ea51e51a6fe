//! A real Caddy from Debian in front of the CRM, asking the gateway about
//! each request (`forward_auth`), as a team that keeps Caddy runs it. On a
//! free loopback port with TLS from the gateway's test CA, no admin
//! endpoint and no certificates of its own; stopped when dropped.
//! scripts/test installs it.

use std::process::{Child, Command, Stdio};

use super::redis::free_port;

pub struct Caddy {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Caddy {
    /// Serve `site` (the inside of a site block, which may use `{port}`)
    /// at https://127.0.0.1:{port} with `cert` and `key`.
    pub fn start(site: &str, cert: &std::path::Path, key: &std::path::Path) -> Caddy {
        let caddy = ["/usr/bin/caddy", "/usr/local/bin/caddy"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("caddy is missing: run scripts/test (it installs caddy) or `apt-get install caddy`");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = format!(
            "{{\n  admin off\n  auto_https off\n  default_sni 127.0.0.1\n  log {{\n    output file {log}\n  }}\n}}\n\
             https://127.0.0.1:{port} {{\n  tls {cert} {key}\n{site}\n}}\n",
            log = dir.path().join("caddy.log").display(),
            cert = cert.display(),
            key = key.display(),
            site = site.replace("{port}", &port.to_string()),
        );
        let file = dir.path().join("Caddyfile");
        std::fs::write(&file, config).unwrap();
        let child = Command::new(caddy)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&file)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        let mut caddy = Caddy { port, child, dir };
        let dir = caddy.dir.path().to_path_buf();
        super::process::wait_listening(&mut caddy.child, port, "caddy", || log_in(&dir));
        caddy
    }

    /// What it logged, for a failing test's message.
    pub fn log(&self) -> String {
        log_in(self.dir.path())
    }
}

fn log_in(dir: &std::path::Path) -> String {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    read("stderr.log") + &read("caddy.log")
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
