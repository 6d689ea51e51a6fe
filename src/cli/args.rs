//! The command line, as clap reads it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use portcullis::telemetry::LogFormat;

#[derive(Parser)]
#[command(name = "portcullis", version, about = "A security gateway in front of a web CRM")]
pub(crate) struct Cli {
    /// Log as human-readable lines or as JSON lines.
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
pub(crate) enum StoreCommand {
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
pub(crate) enum UsersCommand {
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
pub(crate) enum ReviewFormat {
    Table,
    Json,
    Csv,
}

#[derive(Subcommand)]
pub(crate) enum SessionsCommand {
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
pub(crate) enum UserCommand {
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
pub(crate) struct LinkArgs {
    /// How long the link works.
    #[arg(long, default_value = "72h")]
    pub(crate) valid: humantime::Duration,
    /// The address users open, like https://crm.example.com (default: the
    /// listen address).
    #[arg(long)]
    pub(crate) url: Option<String>,
}

#[derive(clap::Args)]
pub(crate) struct ExplainArgs {
    #[arg(long, short)]
    pub(crate) config: PathBuf,
    /// The signed-in user; leave out for a request without a session.
    #[arg(long)]
    pub(crate) user: Option<String>,
    /// The client's address.
    #[arg(long)]
    pub(crate) ip: std::net::IpAddr,
    /// The client type (web, or one from client_types).
    #[arg(long, default_value = "web")]
    pub(crate) client: String,
    #[arg(long, default_value = "GET")]
    pub(crate) method: String,
    /// The path, with its query if any, as on the request line.
    #[arg(long)]
    pub(crate) path: String,
    /// A request header, like "X-HTTP-Method-Override: DELETE" (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,
    /// Decide as of this time (RFC 3339, UTC) instead of now.
    #[arg(long)]
    pub(crate) at: Option<String>,
    /// How long ago the user completed a second factor (like 2m); leave out
    /// for "not recently".
    #[arg(long)]
    pub(crate) second_factor_age: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: OutputFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum OutputFormat {
    Text,
    Json,
}
