//! `portcullis demo`: a working gateway with nothing to prepare. It makes a
//! self-signed certificate and a secrets key, enrols the demo users in an
//! embedded store, starts the built-in demo CRM on loopback, and serves
//! `config/demo.yaml` in front of it.

pub mod cert;
pub mod crm;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::auth::credentials::{Credentials, SecretsKey};
use crate::auth::password::{Hasher, Password};
use crate::auth::totp::{self, TotpSecret};
use crate::clock::Clock;
use crate::config;
use crate::live::Live;
use crate::store::Store;

/// The demo's policy, shipped in the binary.
pub const DEMO_YAML: &str = include_str!("../../config/demo.yaml");

pub struct DemoOptions {
    pub listen: SocketAddr,
    /// Where the demo keeps its certificate (and, later, its store).
    pub dir: PathBuf,
}

pub async fn run(
    options: DemoOptions,
    access_log: crate::telemetry::AccessLog,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&options.dir).with_context(|| format!("cannot create {}", options.dir.display()))?;
    let (cert_file, _key_file) = cert::ensure_self_signed(&options.dir)?;
    let key_file = options.dir.join("secrets.key");
    if !key_file.exists() {
        SecretsKey::create(&key_file)?;
    }

    let crm_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot start the demo CRM")?;
    let crm_addr = crm_listener.local_addr()?;
    tokio::spawn(crm::serve(crm_listener));

    let live = demo_config(&options, crm_addr)?;
    let totp_secret = enrol_demo_users(&live).await?;
    let listener = TcpListener::bind(options.listen).await.with_context(|| {
        format!(
            "cannot listen on {} (is something else using it? try --listen 127.0.0.1:9443)",
            options.listen
        )
    })?;
    let url = format!("https://{}/", display_host(listener.local_addr()?));
    println!();
    println!("  Portcullis demo is running.");
    println!();
    println!("  Open {url}");
    println!(
        "  (your browser will warn about the self-signed certificate in {})",
        cert_file.display()
    );
    println!();
    println!("  Sign in as alice (finance) or bob (sales), password: {DEMO_PASSWORD}");
    println!(
        "  Second factor: add this key to an authenticator app: {}",
        totp_secret.base32()
    );
    println!("  ({})", totp_secret.otpauth_uri("Acme CRM (demo)", "alice"));
    println!("  or use the current code, printed below every 30 seconds (demo only),");
    println!("  or ask for a code by email (alice) or SMS (bob): it is printed here too.");
    println!();
    println!("  The demo CRM behind it listens on http://{crm_addr} (loopback only).");
    println!("  Stop with Ctrl-C.");
    println!();
    tokio::spawn(print_codes(totp_secret));
    crate::app::run(live, listener, access_log, Clock::system(), shutdown).await?;
    Ok(())
}

/// Every demo user's password (the demo is on loopback only).
const DEMO_PASSWORD: &str = "portcullis-demo";

/// On first start, give the demo users a password and one shared TOTP
/// secret; afterwards, read the secret back. The store is closed again
/// before the gateway opens it.
async fn enrol_demo_users(live: &Live) -> anyhow::Result<TotpSecret> {
    let config = &live.config;
    let crate::config::StoreSettings::Embedded(path) = &config.store else {
        anyhow::bail!("the demo policy must use the embedded store");
    };
    let store = Store::embedded(path, Clock::system())?;
    let key = SecretsKey::load(&config.auth.secrets_key)?;
    if let Some(existing) = Credentials::load(&store, "alice").await? {
        if let Some(sealed) = &existing.totp {
            return Ok(key.open("alice", sealed)?);
        }
    }
    let hasher = Hasher::new(config.auth.argon2_memory_kib, config.auth.argon2_iterations, 1)?;
    let secret = TotpSecret::generate();
    for user in live.policy.users.keys() {
        Credentials {
            password: Some(hasher.hash(&Password::new(DEMO_PASSWORD))?),
            totp: Some(key.seal(user, &secret)),
            recovery: Vec::new(),
            enrolled_at: Some(0),
            ..Default::default()
        }
        .save(&store, user)
        .await?;
    }
    Ok(secret)
}

/// The demo's stand-in for an authenticator app.
async fn print_codes(secret: TotpSecret) {
    loop {
        let now = crate::clock::now();
        println!("  [demo] current code: {}", totp::current_code(&secret, now));
        let into_step = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) % totp::STEP_SECONDS;
        tokio::time::sleep(std::time::Duration::from_secs(totp::STEP_SECONDS - into_step)).await;
    }
}

/// demo.yaml names `demo.pem` and `demo.key`, relative to the demo's folder.
fn demo_config(options: &DemoOptions, crm: SocketAddr) -> anyhow::Result<Live> {
    let mut raw = config::parse(DEMO_YAML)?;
    raw.listen.address = options.listen.to_string();
    raw.upstream.url = format!("http://{crm}");
    Live::from_raw(&raw, &options.dir).map_err(|err| anyhow::anyhow!("the built-in demo policy is invalid:\n{err}"))
}

fn display_host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) if v4.ip().is_loopback() || v4.ip().is_unspecified() => format!("localhost:{}", v4.port()),
        other => other.to_string(),
    }
}
