//! `portcullis demo`: a working gateway with nothing to prepare. It makes a
//! self-signed certificate, starts the built-in demo CRM on loopback, and
//! serves `config/demo.yaml` in front of it.

pub mod cert;
pub mod crm;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::{self, Config};

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

    let crm_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot start the demo CRM")?;
    let crm_addr = crm_listener.local_addr()?;
    tokio::spawn(crm::serve(crm_listener));

    let config = demo_config(&options, crm_addr)?;
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
    println!("  The demo CRM behind it listens on http://{crm_addr} (loopback only).");
    println!("  Stop with Ctrl-C.");
    println!();
    crate::proxy::serve(Arc::new(config), listener, access_log, shutdown).await?;
    Ok(())
}

/// demo.yaml names `demo.pem` and `demo.key`, relative to the demo's folder.
fn demo_config(options: &DemoOptions, crm: SocketAddr) -> anyhow::Result<Config> {
    let mut raw = config::parse(DEMO_YAML)?;
    raw.listen.address = options.listen.to_string();
    raw.upstream.url = format!("http://{crm}");
    config::compile(&raw, &options.dir).map_err(|err| anyhow::anyhow!("the built-in demo policy is invalid:\n{err}"))
}

fn display_host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) if v4.ip().is_loopback() || v4.ip().is_unspecified() => format!("localhost:{}", v4.port()),
        other => other.to_string(),
    }
}
