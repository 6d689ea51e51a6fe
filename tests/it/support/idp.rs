//! The company's identity provider in the tests: node's `oidc-provider`
//! (a certified OpenID provider, from the npm registry; scripts/test
//! installs it into tests/it/servers/oidc), started on a free loopback port
//! with one client, the gateway. See tests/it/servers/oidc/provider.mjs for
//! its accounts.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::redis::free_port;

pub const CLIENT_ID: &str = "portcullis";
pub const CLIENT_SECRET: &str = "a client secret for tests only";

pub struct IdentityProvider {
    pub port: u16,
    child: Child,
}

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/servers/oidc")
}

impl IdentityProvider {
    /// A free port for it, before the gateway's config names it.
    pub fn port() -> u16 {
        free_port()
    }

    /// Serve on `port`, sending browsers back to `redirect_uri` (a
    /// gateway's, whose certificate `gateway_ca` signed: the provider's
    /// server posts its back-channel logouts there).
    pub fn start(port: u16, redirect_uri: &str, gateway_ca: &std::path::Path) -> IdentityProvider {
        let folder = folder();
        assert!(
            folder.join("node_modules/oidc-provider").is_dir(),
            "oidc-provider is not installed: run scripts/test (it runs `npm ci` in {})",
            folder.display()
        );
        let child = Command::new("node")
            .current_dir(&folder)
            .env("NODE_EXTRA_CA_CERTS", gateway_ca)
            .args([
                "provider.mjs",
                &port.to_string(),
                CLIENT_ID,
                CLIENT_SECRET,
                redirect_uri,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run node: the tests need it for their identity provider (scripts/test installs it)");
        let mut provider = IdentityProvider { port, child };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = provider.child.try_wait() {
                panic!(
                    "the test identity provider exited ({status}): run `node provider.mjs` in {}",
                    folder.display()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "oidc-provider did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        provider
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for IdentityProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
