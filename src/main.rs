//! The `portcullis` command: serve, demo, check, explain, and the admin
//! commands (user, sessions).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use portcullis::admin;
use portcullis::live::Live;
use portcullis::telemetry::{self, AccessLog, LogFormat};

mod cli;

use cli::admin_commands::{
    disable, end_sessions, export, import, invite, list_sessions, reset, review, with_provisioned,
};
use cli::args::{
    Cli, Command, LinkCommand, LogArgs, OperatorArg, SessionsCommand, StoreCommand, UserCommand, DEFAULT_CONFIG,
};
use cli::explain::explain;

// Measured with scripts/bench: mimalloc serves the many small per-request
// allocations (headers, bodies' frames) faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) | Err(code) => code,
    }
}

/// `Err` carries the exit code of a command that could not start (its
/// message already printed).
fn run(cli: Cli) -> Result<ExitCode, ExitCode> {
    // `--log-format` before the command still counts, as it always did.
    let log_format = |log: LogArgs| log.log_format.or(cli.log_format).unwrap_or(LogFormat::Human);
    Ok(match cli.command {
        Command::Check { config } => check(&config.config),
        Command::Explain(args) => explain(&args),
        Command::Replay { config, access_log } => cli::replay::replay(&config.config, &access_log),
        Command::User(UserCommand::Invite(LinkCommand { user, config, link, by })) => {
            let config = load(&config.config)?;
            report(in_runtime(async { invite(&user, &config, &link, &operator(&by)) }))
        }
        Command::User(UserCommand::Reset(LinkCommand { user, config, link, by })) => {
            let config = load(&config.config)?;
            report(in_runtime(reset(&user, &config, &link, &operator(&by))))
        }
        Command::User(UserCommand::Disable { user, config, by }) => {
            let config = load(&config.config)?;
            report(in_runtime(disable(&user, &config, &operator(&by))))
        }
        Command::User(UserCommand::Review {
            config,
            format,
            inactive_days,
        }) => {
            let config = load(&config.config)?;
            report(in_runtime(async {
                review(&with_provisioned(config).await?, format, inactive_days).await
            }))
        }
        Command::Sessions(SessionsCommand::List { config, user, format }) => {
            let config = load(&config.config)?;
            report(in_runtime(list_sessions(&config, user, format)))
        }
        Command::Sessions(SessionsCommand::Revoke { config, user, id, by }) => {
            let config = load(&config.config)?;
            // clap makes sure exactly one of --user and --id is given.
            let command = match user {
                Some(user) => admin::Command::EndSessions { user },
                None => admin::Command::EndSession {
                    id: id.unwrap_or_default(),
                },
            };
            report(in_runtime(end_sessions(&config, command, &operator(&by))))
        }
        Command::Approvals(command) => {
            let config = load(command.config())?;
            report(in_runtime(cli::approvals::run(&config, command, operator)))
        }
        Command::Serve { config, audit_log, log } => {
            // First, before any thread: it reads and clears the environment.
            let inherited = portcullis::upgrade::Inherited::take();
            let audit = match audit_log.map(|path| open_append(&path)).transpose() {
                Ok(file) => file,
                Err(err) => {
                    eprintln!("error: {err:#}");
                    return Err(ExitCode::FAILURE);
                }
            };
            run_async(log_format(log), audit, |log| serve(config.config, log, inherited))
        }
        Command::Store(StoreCommand::Export { config, out, by }) => {
            let config = load(&config.config)?;
            report(in_runtime(export(&config, out, &operator(&by))))
        }
        Command::Store(StoreCommand::Import { config, input, by }) => {
            let config = load(&config.config)?;
            report(in_runtime(import(&config, input, &operator(&by))))
        }
        Command::Probe { url } => report(in_runtime(probe(url))),
        Command::DemoCrm { listen, log } => run_async(log_format(log), None, |_| async move {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            tracing::info!(address = %listen, "demo CRM serving");
            portcullis::demo::crm::serve(listener).await;
            Ok(())
        }),
        Command::Demo {
            listen,
            dir,
            access_log,
            log,
        } => run_logged(log_format(log), None, if access_log { "info" } else { "warn" }, |log| {
            let options = portcullis::demo::DemoOptions {
                listen,
                dir,
                access_log,
            };
            portcullis::demo::run(options, log, shutdown_signal())
        }),
    })
}

/// Who the audit trail names for an admin command: `--by`, else the person
/// sudo was run by, else the login name.
fn operator(by: &OperatorArg) -> String {
    if let Some(name) = by.by.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        return name.to_owned();
    }
    let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (var("SUDO_USER"), var("USER").or_else(|| var("LOGNAME"))) {
        (Some(real), _) => format!("{real} (sudo)"),
        (None, Some(user)) => user,
        (None, None) => "an unnamed operator".to_owned(),
    }
}

/// Load a config for a command, printing its problems if it is invalid.
fn load(path: &std::path::Path) -> Result<Live, ExitCode> {
    Live::load(path).map_err(|err| {
        print_invalid(path, &err);
        ExitCode::FAILURE
    })
}

/// A config's problems, or, for a file that is not there, where it was looked for.
fn print_invalid(path: &std::path::Path, err: &portcullis::config::ConfigError) {
    if matches!(err, portcullis::config::ConfigError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    {
        eprintln!("error: there is no config file at {}", path.display());
        if path == std::path::Path::new(DEFAULT_CONFIG) {
            eprintln!("  Give one with --config FILE or PORTCULLIS_CONFIG=FILE, or try `portcullis demo`.");
        }
        return;
    }
    eprintln!("error: {} is not valid:", path.display());
    for line in err.lines() {
        eprintln!("  {line}");
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Run an admin job on a small runtime; audit events go to stderr.
fn in_runtime(job: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let (_guard, _) = telemetry::init(LogFormat::Human, None);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(job)
}

fn check(path: &std::path::Path) -> ExitCode {
    match Live::load_and_lint(path, Some(portcullis::clock::now())) {
        Ok((_, warnings)) => {
            for warning in &warnings {
                println!("warning: {warning}");
            }
            println!("ok: {} is valid", path.display());
            ExitCode::SUCCESS
        }
        Err(err) => {
            print_invalid(path, &err);
            ExitCode::FAILURE
        }
    }
}

/// GET a plain-HTTP URL; fail unless it answers 200 within 3 s.
async fn probe(url: String) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").context("the URL must start with http://")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let check = async {
        let mut tcp = tokio::net::TcpStream::connect(authority).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await?;
        anyhow::Ok(String::from_utf8_lossy(&answer).into_owned())
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(3), check)
        .await
        .context("no answer within 3 s")??;
    let status = answer.lines().next().unwrap_or_default();
    anyhow::ensure!(status.split(' ').nth(1) == Some("200"), "{url} answered {status:?}");
    Ok(())
}

fn open_append(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the audit log {}", path.display()))
}

fn run_async<F>(format: LogFormat, audit: Option<std::fs::File>, job: impl FnOnce(AccessLog) -> F) -> ExitCode
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    run_logged(format, audit, "info", job)
}

/// [`run_async`], logging at `level` unless RUST_LOG says otherwise.
fn run_logged<F>(
    format: LogFormat,
    audit: Option<std::fs::File>,
    level: &str,
    job: impl FnOnce(AccessLog) -> F,
) -> ExitCode
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let (_guard, access_log) = telemetry::init_with(format, audit, level);
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
    match runtime.block_on(job(access_log)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(
    path: PathBuf,
    access_log: AccessLog,
    mut inherited: portcullis::upgrade::Inherited,
) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot tell where this binary is")?;
    let (live, warnings) = Live::load_and_lint(&path, Some(portcullis::clock::now()))
        .map_err(|err| anyhow::anyhow!("{} is not valid:\n  {}", path.display(), err.lines().join("\n  ")))?;
    for warning in &warnings {
        tracing::warn!("check: {warning}");
    }
    let config = &live.config;
    let listener = listen(&mut inherited, 0, config.listen.address, "").await?;
    // Kept for the next upgrade: the listening sockets it hands over.
    let mut handed = vec![std::os::fd::AsFd::as_fd(&listener).try_clone_to_owned()?];
    if let Some(address) = config.listen.redirect_http {
        let redirect = listen(&mut inherited, 1, address, " (listen.redirect_http)").await?;
        handed.push(std::os::fd::AsFd::as_fd(&redirect).try_clone_to_owned()?);
        tokio::spawn(portcullis::proxy::redirect::serve(
            redirect,
            config.listen.address.port(),
            config.listen.hosts.clone(),
            std::future::pending(),
        ));
    }
    tokio::spawn(portcullis::upgrade::on_signal(exe, handed));
    let clock = portcullis::clock::Clock::system();
    let replacing = inherited.replacing();
    // A socket handed over that this config no longer listens on closes.
    drop(inherited);
    portcullis::app::run_replacing(live, listener, access_log, clock, shutdown_signal(), replacing).await?;
    Ok(())
}

/// The socket the gateway being replaced handed over for `address`, else a new one.
async fn listen(
    inherited: &mut portcullis::upgrade::Inherited,
    index: usize,
    address: std::net::SocketAddr,
    what: &str,
) -> anyhow::Result<tokio::net::TcpListener> {
    if let Some(listener) = inherited.listener(index, address) {
        return Ok(tokio::net::TcpListener::from_std(listener)?);
    }
    (tokio::net::TcpListener::bind(address).await).with_context(|| format!("cannot listen on {address}{what}"))
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
