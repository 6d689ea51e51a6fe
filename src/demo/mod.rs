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
    /// Print a line per request (off: the banner stays in view).
    pub access_log: bool,
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
    let secrets = enrol_demo_users(&live).await?;
    let listener = TcpListener::bind(options.listen).await.with_context(|| {
        format!(
            "cannot listen on {} (is something else using it? try --listen 127.0.0.1:9443)",
            options.listen
        )
    })?;
    let url = format!("https://{}/", display_host(listener.local_addr()?));
    let access_log = if options.access_log {
        access_log
    } else {
        crate::telemetry::AccessLog::Off
    };
    let gateway = crate::app::run(live, listener, access_log, Clock::system(), shutdown);
    tokio::pin!(gateway);
    // The banner comes last, once the gateway has started (and said anything
    // it had to say), so that it stays in view.
    tokio::select! {
        stopped = &mut gateway => return Ok(stopped?),
        _ = tokio::time::sleep(std::time::Duration::from_millis(300)) => {}
    }
    println!("{}", banner(&url, &cert_file, crm_addr, &secrets));
    tokio::spawn(print_codes(secrets));
    gateway.await?;
    Ok(())
}

/// What the demo prints once: where to go and how to sign in as whom.
fn banner(url: &str, cert: &std::path::Path, crm: SocketAddr, secrets: &[(String, TotpSecret)]) -> String {
    let mut lines = vec![
        String::new(),
        "  Portcullis demo is running.".to_owned(),
        String::new(),
        format!("  Open {url}"),
        format!(
            "  (your browser will warn about the self-signed certificate in {})",
            cert.display()
        ),
        String::new(),
        format!("  Sign in as alice (finance) or bob (sales), password: {DEMO_PASSWORD}"),
        "  Second factor: add the user's key to an authenticator app,".to_owned(),
    ];
    for (user, secret) in secrets {
        lines.push(format!("    {user:<6} {}", secret.base32()));
        lines.push(format!("           {}", secret.otpauth_uri("Acme CRM (demo)", user)));
    }
    lines.extend([
        "  or use the current codes, printed below every 30 seconds (demo only),".to_owned(),
        "  or ask for a code by email (alice) or SMS (bob): it is printed here too.".to_owned(),
        String::new(),
        format!("  The demo CRM behind it listens on http://{crm} (loopback only) and shows"),
        "  what it received from the gateway, X-Portcullis-User and X-Portcullis-Groups included.".to_owned(),
        "  Requests are not logged here; run with --access-log to see them. Stop with Ctrl-C.".to_owned(),
        String::new(),
    ]);
    lines.join("\n")
}

/// Every demo user's password (the demo is on loopback only).
const DEMO_PASSWORD: &str = "portcullis-demo";

/// On first start, give each demo user the demo password and a TOTP
/// secret of their own; afterwards, read the secrets back. The store is
/// closed again before the gateway opens it.
async fn enrol_demo_users(live: &Live) -> anyhow::Result<Vec<(String, TotpSecret)>> {
    let config = &live.config;
    let crate::config::StoreSettings::Embedded(path) = &config.store else {
        anyhow::bail!("the demo policy must use the embedded store");
    };
    let store = Store::embedded(path, Clock::system())?;
    let key = SecretsKey::load(&config.auth.secrets_key)?;
    let hasher = Hasher::new(config.auth.argon2_memory_kib, config.auth.argon2_iterations, 1)?;
    let mut secrets = Vec::new();
    for user in live.policy.users.keys() {
        let existing = Credentials::load(&store, user).await?;
        let secret = match existing.as_ref().and_then(|c| c.totp.as_ref()) {
            Some(sealed) => key.open(user, sealed)?,
            None => {
                let secret = TotpSecret::generate();
                Credentials {
                    password: Some(hasher.hash(&Password::new(DEMO_PASSWORD))?),
                    totp: Some(key.seal(user, &secret)),
                    recovery: Vec::new(),
                    enrolled_at: Some(0),
                    ..Default::default()
                }
                .save(&store, user)
                .await?;
                secret
            }
        };
        secrets.push((user.clone(), secret));
    }
    Ok(secrets)
}

/// The demo's stand-in for an authenticator app: each user's current code.
async fn print_codes(secrets: Vec<(String, TotpSecret)>) {
    loop {
        let now = crate::clock::now();
        let codes: Vec<String> = secrets
            .iter()
            .map(|(user, secret)| format!("{user} {}", totp::current_code(secret, now)))
            .collect();
        println!("  [demo] current codes: {}", codes.join(", "));
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
