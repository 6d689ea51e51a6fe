//! The `portcullis` command: serve, demo, check.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use portcullis::config::Config;
use portcullis::telemetry::{self, LogFormat};

// Measured with scripts/bench: mimalloc serves the many small per-request
// allocations (headers, bodies' frames) faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "portcullis", version, about = "A security gateway in front of a web CRM")]
struct Cli {
    /// Log as human-readable lines or as JSON lines.
    #[arg(long, global = true, value_enum, default_value = "human")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway with a configuration file.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run a demo gateway in front of a built-in demo CRM; nothing to prepare.
    Demo {
        /// Address to serve HTTPS on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Folder for the demo's certificate and state.
        #[arg(long, default_value = "portcullis-demo")]
        dir: PathBuf,
    },
    /// Validate a configuration file: exit 0 if it is valid, 1 with every
    /// problem otherwise.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Serve { config } => run_async(cli.log_format, serve(config)),
        Command::Demo { listen, dir } => run_async(
            cli.log_format,
            portcullis::demo::run(portcullis::demo::DemoOptions { listen, dir }, shutdown_signal()),
        ),
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match Config::load(path) {
        Ok(_) => {
            println!("ok: {} is valid", path.display());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {} is not valid:", path.display());
            for line in err.lines() {
                eprintln!("  {line}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run_async(format: LogFormat, job: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let _guard = telemetry::init(format);
    // The gateway's request path runs on its own worker threads (one per
    // core, see proxy::server); this runtime only waits for signals and runs
    // small side jobs such as the demo CRM and the HTTP redirect.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(job) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(path: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&path)
        .map_err(|err| anyhow::anyhow!("{} is not valid:\n  {}", path.display(), err.lines().join("\n  ")))?;
    let config = Arc::new(config);
    let listener = tokio::net::TcpListener::bind(config.listen.address)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen.address))?;
    if let Some(address) = config.listen.redirect_http {
        let redirect = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} (listen.redirect_http)"))?;
        tokio::spawn(portcullis::proxy::redirect::serve(
            redirect,
            config.listen.address.port(),
            std::future::pending(),
        ));
    }
    tracing::info!(address = %config.listen.address, "serving");
    portcullis::proxy::serve(config, listener, shutdown_signal()).await?;
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
