//! The `portcullis` command: serve, demo, check, explain, and the admin
//! commands (user, sessions).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use portcullis::admin;
use portcullis::config::Config;
use portcullis::telemetry::{self, AccessLog, LogFormat};

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
    /// Run the gateway with a configuration file. It follows the file:
    /// changes (or SIGHUP) reload it; an invalid file is refused and the
    /// last good one keeps serving.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
        /// Also append audit events to this file, as JSON lines.
        #[arg(long)]
        audit_log: Option<PathBuf>,
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
    /// Validate a configuration file: exit 0 if it is valid (printing
    /// warnings about risky policy), 1 with every problem otherwise.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Would this request be let through, and which setting decides it?
    /// Exit 0 when it would pass (possibly after signing in or a fresh
    /// second factor), 1 when it would be denied, 2 on a usage or config error.
    Explain(ExplainArgs),
    /// Onboard and offboard users: `portcullis user invite alice --config FILE`.
    #[command(subcommand)]
    User(UserCommand),
    /// See and end sessions: `portcullis sessions list --config FILE`.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Review who has access: `portcullis users review --config FILE`.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Back up and restore credentials: `portcullis store export --config FILE --out BACKUP`.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Exit 0 if URL (plain HTTP, like the admin listener's /readyz)
    /// answers 200 within 3 s: for container health checks.
    Probe { url: String },
    /// Serve only the demo CRM (plain HTTP), to put a gateway in front of.
    DemoCrm {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Write every policy user's password hash, sealed TOTP secret,
    /// recovery codes and records to FILE, encrypted with the secrets key.
    Export {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore what `export` wrote (after a flush or a move to a new store).
    Import {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long = "in")]
        input: PathBuf,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// One entry per user in the policy: groups, access per client type,
    /// second factors, last sign-in, open sessions, status, and flags.
    Review {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: ReviewFormat,
        /// Flag users who have not signed in for this many days.
        #[arg(long, default_value = "90")]
        inactive_days: u64,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReviewFormat {
    Table,
    Json,
    Csv,
}

#[derive(Subcommand)]
enum SessionsCommand {
    /// Live sessions of every user in the policy, or of one.
    List {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        user: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// End every session of a user (--user), or one session (--id, at
    /// least 8 characters of the id `sessions list` shows).
    Revoke {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long, required_unless_present = "id", conflicts_with = "id")]
        user: Option<String>,
        #[arg(long)]
        id: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Print a one-time link with which USER sets a password and enrols an
    /// authenticator app. Using it again later resets their credentials and
    /// ends their sessions. Needs only the config and its secrets key, so it
    /// works while the gateway runs.
    Invite {
        user: String,
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        link: LinkArgs,
    },
    /// Drop USER's password, authenticator and recovery codes, end their
    /// sessions, void their earlier links, and print a new invite link.
    Reset {
        user: String,
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        link: LinkArgs,
    },
    /// Offboard USER now: drop their credentials, end every session, void
    /// their invite links. A later invite enrols them again.
    Disable {
        user: String,
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// How an invite link is made.
#[derive(clap::Args)]
struct LinkArgs {
    /// How long the link works.
    #[arg(long, default_value = "72h")]
    valid: humantime::Duration,
    /// The address users open, like https://crm.example.com (default: the
    /// listen address).
    #[arg(long)]
    url: Option<String>,
}

#[derive(clap::Args)]
struct ExplainArgs {
    #[arg(long, short)]
    config: PathBuf,
    /// The signed-in user; leave out for a request without a session.
    #[arg(long)]
    user: Option<String>,
    /// The client's address.
    #[arg(long)]
    ip: std::net::IpAddr,
    /// The client type (web, or one from client_types).
    #[arg(long, default_value = "web")]
    client: String,
    #[arg(long, default_value = "GET")]
    method: String,
    #[arg(long)]
    path: String,
    /// Decide as of this time (RFC 3339, UTC) instead of now.
    #[arg(long)]
    at: Option<String>,
    /// How long ago the user completed a second factor (like 2m); leave out
    /// for "not recently".
    #[arg(long)]
    second_factor_age: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) | Err(code) => code,
    }
}

/// `Err` carries the exit code of a command that could not start (its
/// message already printed).
fn run(cli: Cli) -> Result<ExitCode, ExitCode> {
    Ok(match cli.command {
        Command::Check { config } => check(&config),
        Command::Explain(args) => explain(&args),
        Command::User(UserCommand::Invite { user, config, link }) => {
            let config = load(&config)?;
            report(in_runtime(async { invite(&user, &config, &link) }))
        }
        Command::User(UserCommand::Reset { user, config, link }) => {
            let config = load(&config)?;
            report(in_runtime(reset(&user, &config, &link)))
        }
        Command::User(UserCommand::Disable { user, config }) => {
            let config = load(&config)?;
            report(in_runtime(disable(&user, &config)))
        }
        Command::Sessions(SessionsCommand::List { config, user, format }) => {
            let config = load(&config)?;
            report(in_runtime(list_sessions(&config, user, format)))
        }
        Command::Users(UsersCommand::Review {
            config,
            format,
            inactive_days,
        }) => {
            let config = load(&config)?;
            report(in_runtime(review(&config, format, inactive_days)))
        }
        Command::Sessions(SessionsCommand::Revoke { config, user, id }) => {
            let config = load(&config)?;
            // clap makes sure exactly one of --user and --id is given.
            let command = match user {
                Some(user) => admin::Command::EndSessions { user },
                None => admin::Command::EndSession {
                    id: id.unwrap_or_default(),
                },
            };
            report(in_runtime(end_sessions(&config, command)))
        }
        Command::Serve { config, audit_log } => {
            let audit = match audit_log.map(|path| open_append(&path)).transpose() {
                Ok(file) => file,
                Err(err) => {
                    eprintln!("error: {err:#}");
                    return Err(ExitCode::FAILURE);
                }
            };
            run_async(cli.log_format, audit, |log| serve(config, log))
        }
        Command::Store(StoreCommand::Export { config, out }) => {
            let config = load(&config)?;
            report(in_runtime(export(&config, out)))
        }
        Command::Store(StoreCommand::Import { config, input }) => {
            let config = load(&config)?;
            report(in_runtime(import(&config, input)))
        }
        Command::Probe { url } => report(in_runtime(probe(url))),
        Command::DemoCrm { listen } => run_async(cli.log_format, None, |_| async move {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            tracing::info!(address = %listen, "demo CRM serving");
            portcullis::demo::crm::serve(listener).await;
            Ok(())
        }),
        Command::Demo { listen, dir } => run_async(cli.log_format, None, |log| {
            portcullis::demo::run(portcullis::demo::DemoOptions { listen, dir }, log, shutdown_signal())
        }),
    })
}

/// Load a config for a command, printing its problems if it is invalid.
fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|err| {
        eprintln!("error: {} is not valid:", path.display());
        for line in err.lines() {
            eprintln!("  {line}");
        }
        ExitCode::FAILURE
    })
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

/// Send an admin command where the store is: through the running gateway's
/// admin socket when it holds the embedded file, else to the store itself.
async fn admin_command(config: &Config, command: &admin::Command) -> anyhow::Result<admin::Outcome> {
    if let portcullis::config::StoreSettings::Embedded(file) = &config.store {
        match admin::socket::call(&admin::socket::path_for(file), command).await {
            Err(admin::socket::CallError::NotRunning(socket)) => {
                // No gateway: open the file ourselves (fails if one holds it).
                let login = portcullis::portal::login::Login::open(config).await.with_context(|| {
                    format!(
                        "no gateway answers on {} and the store cannot be opened directly",
                        socket.display()
                    )
                })?;
                return run_admin(&login, config, command).await;
            }
            answered => return Ok(answered?),
        }
    }
    let login = portcullis::portal::login::Login::open(config).await?;
    run_admin(&login, config, command).await
}

async fn run_admin(
    login: &portcullis::portal::login::Login,
    config: &Config,
    command: &admin::Command,
) -> anyhow::Result<admin::Outcome> {
    Ok(admin::execute(login, &config.policy, command, portcullis::clock::now()).await?)
}

/// What an admin command changed, or why it could not.
fn ended(outcome: admin::Outcome) -> anyhow::Result<Vec<String>> {
    match outcome {
        admin::Outcome::Done { ended, .. } => Ok(ended),
        admin::Outcome::Refused { message } => anyhow::bail!("{message}"),
        other => anyhow::bail!("unexpected answer: {other:?}"),
    }
}

async fn list_sessions(config: &Config, user: Option<String>, format: OutputFormat) -> anyhow::Result<()> {
    let outcome = admin_command(config, &admin::Command::ListSessions { user }).await?;
    let admin::Outcome::Sessions { sessions } = outcome else {
        anyhow::bail!("unexpected answer: {outcome:?}");
    };
    match format {
        OutputFormat::Text => println!("{}", admin::table(&sessions)),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&sessions)?),
    }
    Ok(())
}

async fn review(config: &Config, format: ReviewFormat, inactive_days: u64) -> anyhow::Result<()> {
    let outcome = admin_command(config, &admin::Command::Review { inactive_days }).await?;
    let admin::Outcome::Review { rows } = outcome else {
        anyhow::bail!("unexpected answer: {outcome:?}");
    };
    match format {
        ReviewFormat::Table => print!("{}", admin::review::text(&rows)),
        ReviewFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        ReviewFormat::Csv => print!("{}", admin::review::csv(&rows)),
    }
    Ok(())
}

async fn export(config: &Config, out: PathBuf) -> anyhow::Result<()> {
    let key = portcullis::auth::credentials::SecretsKey::load(&config.auth.secrets_key)?;
    let admin::Outcome::Records { records } = admin_command(config, &admin::Command::Export).await? else {
        anyhow::bail!("the gateway did not answer with records");
    };
    let sealed = admin::backup::seal(&key, &records)?;
    portcullis::demo::cert::write_private(&out, &String::from_utf8_lossy(&sealed))?;
    tracing::info!(target: "audit", event = "admin.store_exported", records = records.len(), by = "admin command");
    println!(
        "Wrote {} record(s) to {} (encrypted with the secrets key).",
        records.len(),
        out.display()
    );
    Ok(())
}

async fn import(config: &Config, input: PathBuf) -> anyhow::Result<()> {
    let key = portcullis::auth::credentials::SecretsKey::load(&config.auth.secrets_key)?;
    let file = std::fs::read(&input).with_context(|| format!("cannot read {}", input.display()))?;
    let records = admin::backup::open(&key, &file).map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
    match admin_command(config, &admin::Command::Import { records }).await? {
        admin::Outcome::Imported { records } => println!("Restored {records} record(s)."),
        admin::Outcome::Refused { message } => anyhow::bail!("{message}"),
        other => anyhow::bail!("unexpected answer: {other:?}"),
    }
    Ok(())
}

async fn end_sessions(config: &Config, command: admin::Command) -> anyhow::Result<()> {
    let ended = ended(admin_command(config, &command).await?)?;
    println!("Ended {} session(s).", ended.len());
    Ok(())
}

async fn disable(user: &str, config: &Config) -> anyhow::Result<()> {
    let ended = ended(admin_command(config, &admin::Command::Disable { user: user.to_owned() }).await?)?;
    println!(
        "{user} is offboarded: credentials dropped, {} session(s) ended, earlier invite links void.",
        ended.len()
    );
    if config.policy.users.get(user).is_some_and(|u| !u.disabled) {
        println!("To keep it so in the policy too, set users.{user}.disabled: true (or remove {user}).");
    }
    Ok(())
}

async fn reset(user: &str, config: &Config, link: &LinkArgs) -> anyhow::Result<()> {
    check_invitable(user, config)?;
    let ended = ended(admin_command(config, &admin::Command::Reset { user: user.to_owned() }).await?)?;
    println!("{user}'s credentials are dropped and {} session(s) ended.", ended.len());
    invite(user, config, link)
}

fn check(path: &std::path::Path) -> ExitCode {
    match Config::load_and_lint(path, Some(portcullis::clock::now())) {
        Ok((_, warnings)) => {
            for warning in &warnings {
                println!("warning: {warning}");
            }
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

/// Only users the policy knows and has not disabled can be invited.
fn check_invitable(user: &str, config: &Config) -> anyhow::Result<()> {
    match config.policy.users.get(user) {
        None => anyhow::bail!("{user:?} is not in the policy's users; add them there first"),
        Some(account) if account.disabled => anyhow::bail!("{user:?} is disabled in the policy"),
        Some(_) => Ok(()),
    }
}

fn invite(user: &str, config: &Config, link: &LinkArgs) -> anyhow::Result<()> {
    let valid: std::time::Duration = link.valid.into();
    check_invitable(user, config)?;
    let key = portcullis::auth::credentials::SecretsKey::load(&config.auth.secrets_key)?;
    let now = portcullis::clock::now();
    let token = portcullis::auth::invite::issue(&key, user, now, valid);
    let base = link.url.clone().unwrap_or_else(|| {
        let address = config.listen.address;
        let host = if address.ip().is_unspecified() {
            "localhost".to_string()
        } else {
            address.ip().to_string()
        };
        match address.port() {
            443 => format!("https://{host}"),
            port => format!("https://{host}:{port}"),
        }
    });
    let until = humantime::format_rfc3339_seconds(now + valid);
    tracing::info!(target: "audit", event = "invite.issued", user, valid_until = %until, by = "admin command");
    println!("Send this link to {user}. It works once, until {until}:");
    println!();
    println!("  {}/.portcullis/enrol?token={token}", base.trim_end_matches('/'));
    Ok(())
}

fn explain(args: &ExplainArgs) -> ExitCode {
    match explain_decision(args) {
        Ok((verdict, text)) => {
            match args.format {
                OutputFormat::Text => println!("{text}"),
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::json!({
                        "decision": verdict,
                        "explanation": text,
                        "user": args.user,
                        "ip": args.ip.to_string(),
                        "client": args.client,
                        "method": args.method,
                        "path": args.path,
                    })
                ),
            }
            if verdict == "deny" {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn explain_decision(args: &ExplainArgs) -> anyhow::Result<(&'static str, String)> {
    use portcullis::policy::{self, Facts, Principal};
    let config = Config::load(&args.config).map_err(|err| {
        anyhow::anyhow!(
            "{} is not valid:\n  {}",
            args.config.display(),
            err.lines().join("\n  ")
        )
    })?;
    let policy = &config.policy;
    let now = match &args.at {
        Some(at) => humantime::parse_rfc3339_weak(at)
            .with_context(|| format!("--at {at:?} is not a time like 2026-12-01T17:00:00Z"))?,
        None => portcullis::clock::now(),
    };
    let client = policy.client_type(&args.client).with_context(|| {
        let known: Vec<&str> = policy.client_types.iter().map(|c| c.name.as_str()).collect();
        format!("unknown client type {:?}; known: {}", args.client, known.join(", "))
    })?;
    let method = http::Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .with_context(|| format!("{:?} is not an HTTP method", args.method))?;
    let path = policy::path::normalize(&args.path)
        .with_context(|| format!("the gateway would refuse the path {:?}", args.path))?;
    let second_factor_at = match &args.second_factor_age {
        Some(age) => Some(
            now.checked_sub(
                humantime::parse_duration(age)
                    .with_context(|| format!("--second-factor-age {age:?} is not a duration like 2m"))?,
            )
            .context("--second-factor-age is too long")?,
        ),
        None => None,
    };
    let principal = match &args.user {
        Some(name) => Principal::User { name, second_factor_at },
        None => Principal::Anonymous,
    };
    let facts = Facts {
        ip: args.ip.to_canonical(),
        client,
        method: &method,
        path: &path,
    };
    let decision = policy::decide(policy, &facts, &principal, now);
    Ok((
        decision.verdict(),
        policy.explain(&decision, &facts, args.user.as_deref()),
    ))
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
    let (_guard, access_log) = telemetry::init(format, audit);
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

async fn serve(path: PathBuf, access_log: AccessLog) -> anyhow::Result<()> {
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
    portcullis::proxy::serve(config, listener, access_log, shutdown_signal()).await?;
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
