//! The command line, as clap reads it. Every command's `-h` is one line per
//! option; `--help` adds the details and examples.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use portcullis::telemetry::LogFormat;

/// Where `--config` points when neither it nor `PORTCULLIS_CONFIG` is given.
pub(crate) const DEFAULT_CONFIG: &str = "/etc/portcullis/portcullis.yaml";

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "A security gateway in front of a web CRM",
    long_about = "A security gateway in front of a web CRM: TLS, network rules per user and \
                  client type, its own sign-in with a second factor, and the CRM behind it.\n\n\
                  Every command that reads the configuration takes --config FILE, else \
                  $PORTCULLIS_CONFIG, else /etc/portcullis/portcullis.yaml.",
    after_help = "Examples:\n  \
        portcullis demo                                 try it: a gateway, a demo CRM and two demo users\n  \
        portcullis check -c portcullis.yaml             every problem in a config file, with its line\n  \
        portcullis serve -c portcullis.yaml             run the gateway\n  \
        portcullis explain --user alice --ip 193.167.1.70 --path /billing\n  \
        portcullis user invite alice                    a one-time link to set a password and a second factor\n  \
        portcullis user review                          who has access, one line each\n\n\
        Run `portcullis help COMMAND` for a command's options and examples."
)]
pub(crate) struct Cli {
    /// Before the command, as in `portcullis --log-format json serve`;
    /// kept for scripts written that way. Commands that log take it too.
    #[arg(long, global = false, hide = true, value_enum)]
    pub(crate) log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The configuration file, for every command that reads it.
#[derive(clap::Args)]
pub(crate) struct ConfigArg {
    /// The configuration file (YAML).
    #[arg(long, short, env = "PORTCULLIS_CONFIG", default_value = DEFAULT_CONFIG, value_name = "FILE")]
    pub(crate) config: PathBuf,
}

/// How the commands that run a server log.
#[derive(clap::Args)]
pub(crate) struct LogArgs {
    /// Log lines for people (human) or for a log collector (json).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) log_format: Option<LogFormat>,
}

/// Who runs an admin command, for the audit trail.
#[derive(clap::Args)]
pub(crate) struct OperatorArg {
    /// Your name in the audit trail [default: your login name, or the one
    /// sudo was run by].
    #[arg(long, value_name = "NAME")]
    pub(crate) by: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run the gateway; it reloads when the config file changes.
    ///
    /// Saving the file (or SIGHUP) reloads it: a file with a mistake is
    /// refused, with its line, and the last good one keeps serving. SIGTERM
    /// or Ctrl-C stops taking new connections and lets open requests finish.
    #[command(after_help = "Examples:\n  \
        portcullis serve -c /etc/portcullis/portcullis.yaml\n  \
        portcullis serve --log-format json --audit-log /var/log/portcullis/audit.jsonl")]
    Serve {
        #[command(flatten)]
        config: ConfigArg,
        /// Also append audit events to this file, one JSON object per line.
        #[arg(long, value_name = "FILE")]
        audit_log: Option<PathBuf>,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Run a demo gateway and CRM with two demo users; nothing to prepare.
    ///
    /// Makes a self-signed certificate, an embedded store and a demo CRM in
    /// DIR, prints the address, the users' passwords and each one's
    /// authenticator key, and stays quiet after that (--access-log to see
    /// each request).
    #[command(after_help = "Examples:\n  \
        portcullis demo\n  \
        portcullis demo --listen 0.0.0.0:8443 --access-log")]
    Demo {
        /// Address to serve HTTPS on.
        #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDRESS:PORT")]
        listen: SocketAddr,
        /// Folder for the demo's certificate and state.
        #[arg(long, default_value = "portcullis-demo", value_name = "DIR")]
        dir: PathBuf,
        /// Print a line for every request (off so that the banner stays in view).
        #[arg(long)]
        access_log: bool,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Check a config file: every problem with its line, and warnings.
    ///
    /// Exit 0 when the file is valid (warnings about risky policy are
    /// printed but do not fail), 1 with every problem otherwise.
    #[command(after_help = "Examples:\n  \
        portcullis check -c portcullis.yaml\n  \
        PORTCULLIS_CONFIG=staging.yaml portcullis check")]
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Ask whether a request would pass, and which setting decides.
    ///
    /// Exit 0 when it would pass (possibly after signing in or a fresh
    /// second factor), 1 when it would be denied, 2 on a usage or config
    /// error. The gateway decides the same way, as it reads the request.
    #[command(after_help = "Examples:\n  \
        portcullis explain --user alice --ip 193.167.1.70 --path /billing/2024\n  \
        portcullis explain --ip 203.0.113.9 --client mobile --method POST --path /api/mobile/sync\n  \
        portcullis explain --user bob --ip 198.51.100.7 --path /contacts/export --second-factor-age 2m\n  \
        portcullis explain --user carol --ip 10.0.0.8 --path /projects/7 --header 'X-HTTP-Method-Override: DELETE'")]
    Explain(ExplainArgs),
    /// Ask recorded requests again of a new policy: which answers change.
    ///
    /// Reads an access log in JSON lines (serve --log-format json), asks
    /// each allowed or refused request again of the policy in --config, and
    /// prints those whose answer would change, from allowed to refused and
    /// back, grouped by user, client type, network and deciding rule, with
    /// counts. Exit 0 when nothing changes, 1 when something does.
    #[command(after_help = "Example:\n  portcullis replay --config new.yaml --access-log access.jsonl")]
    Replay {
        #[command(flatten)]
        config: ConfigArg,
        /// The access log to replay (JSON lines).
        #[arg(long, value_name = "FILE")]
        access_log: PathBuf,
    },
    /// Invite, reset, disable and review users.
    #[command(subcommand, visible_alias = "users")]
    User(UserCommand),
    /// List and end sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Requests held for a second person's approval: list, show, approve, reject.
    #[command(subcommand)]
    Approvals(super::approvals::ApprovalsCommand),
    /// Export and import credentials, for backups and moves to a new store.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Health check: exit 0 if URL answers 200 within 3 s.
    ///
    /// For container health checks against the admin listener's /readyz
    /// (plain HTTP).
    #[command(after_help = "Example:\n  portcullis probe http://127.0.0.1:9090/readyz")]
    Probe {
        /// The plain-HTTP URL to ask.
        #[arg(value_name = "URL")]
        url: String,
    },
    /// Serve only the demo CRM (plain HTTP), to put a gateway in front of.
    DemoCrm {
        /// Address to serve plain HTTP on.
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDRESS:PORT")]
        listen: SocketAddr,
        #[command(flatten)]
        log: LogArgs,
    },
}

#[derive(Subcommand)]
pub(crate) enum StoreCommand {
    /// Write every user's credentials to an encrypted backup file.
    ///
    /// Password hashes, sealed authenticator secrets, recovery codes and
    /// records of every user in the policy, encrypted with the secrets key
    /// (auth.secrets_key): keep the key apart from the backup.
    #[command(after_help = "Example:\n  portcullis store export --out /var/backups/portcullis-$(date +%F).bak")]
    Export {
        #[command(flatten)]
        config: ConfigArg,
        /// The backup file to write (readable by its owner only).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        by: OperatorArg,
    },
    /// Restore what `store export` wrote (after a flush or a move).
    #[command(after_help = "Example:\n  portcullis store import --in /var/backups/portcullis-2026-12-01.bak")]
    Import {
        #[command(flatten)]
        config: ConfigArg,
        /// The backup file to read.
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
        #[command(flatten)]
        by: OperatorArg,
    },
}

#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// Print a one-time link with which USER sets a password and a second factor.
    ///
    /// Using it later again resets their credentials and ends their
    /// sessions. Needs only the config and its secrets key, so it works
    /// while the gateway runs. The link's address is --url, else a name
    /// from listen.hosts (or the certificate), else the listen address.
    #[command(after_help = "Examples:\n  \
        portcullis user invite alice\n  \
        portcullis user invite bob --valid 24h --url https://crm.example.com")]
    Invite(LinkCommand),
    /// Drop USER's credentials, end their sessions, print a new invite link.
    ///
    /// For a lost phone or a forgotten password: the password, second
    /// factors and recovery codes are dropped, every session ends, earlier
    /// links stop working.
    #[command(after_help = "Example:\n  portcullis user reset alice --valid 4h")]
    Reset(LinkCommand),
    /// Offboard USER now: credentials dropped, every session ended.
    ///
    /// Their invite links stop working too. A later invite enrols them
    /// again; set `disabled: true` in the policy to keep them out.
    #[command(after_help = "Example:\n  portcullis user disable dave --by 'IT on-call'")]
    Disable {
        /// The user, as named under `users:` in the policy.
        #[arg(value_name = "USER")]
        user: String,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        by: OperatorArg,
    },
    /// Who has access: one row per user, with how they sign in and flags.
    ///
    /// The table fits 120 columns; json and csv carry every detail (access
    /// per client type, second factors, sessions, exemptions).
    #[command(after_help = "Examples:\n  \
        portcullis user review\n  \
        portcullis user review --format csv > review-$(date +%F).csv\n  \
        portcullis user review --format json --inactive-days 30")]
    Review {
        #[command(flatten)]
        config: ConfigArg,
        /// table (for a terminal), json or csv (every detail).
        #[arg(long, value_enum, default_value = "table", value_name = "FORMAT")]
        format: ListFormat,
        /// Flag users who have not signed in for this many days.
        #[arg(long, default_value = "90", value_name = "DAYS")]
        inactive_days: u64,
    },
}

#[derive(Subcommand)]
pub(crate) enum SessionsCommand {
    /// Live sessions of every user in the policy, or of one.
    #[command(after_help = "Examples:\n  \
        portcullis sessions list\n  \
        portcullis sessions list --user alice --format json")]
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this user's sessions.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// table (for a terminal), json or csv.
        #[arg(long, value_enum, default_value = "table", value_name = "FORMAT")]
        format: ListFormat,
    },
    /// End every session of a user, or one session by its id.
    ///
    /// The user signs in again on their next request.
    #[command(after_help = "Examples:\n  \
        portcullis sessions revoke --user alice\n  \
        portcullis sessions revoke --id 3f9a61c2")]
    Revoke {
        #[command(flatten)]
        config: ConfigArg,
        /// End every session of this user.
        #[arg(long, required_unless_present = "id", conflicts_with = "id", value_name = "USER")]
        user: Option<String>,
        /// End this one session: at least 8 characters of its id, as
        /// `sessions list` shows it.
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        #[command(flatten)]
        by: OperatorArg,
    },
}

/// A command that prints an invite link for a user (invite, reset).
#[derive(clap::Args)]
pub(crate) struct LinkCommand {
    /// The user, as named under `users:` in the policy.
    #[arg(value_name = "USER")]
    pub(crate) user: String,
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    #[command(flatten)]
    pub(crate) link: LinkArgs,
    #[command(flatten)]
    pub(crate) by: OperatorArg,
}

/// How an invite link is made.
#[derive(clap::Args)]
pub(crate) struct LinkArgs {
    /// How long the link works, like 72h or 30m.
    #[arg(long, default_value = "72h", value_name = "DURATION")]
    pub(crate) valid: humantime::Duration,
    /// The address users open, like https://crm.example.com.
    #[arg(long, value_name = "URL")]
    pub(crate) url: Option<String>,
}

#[derive(clap::Args)]
pub(crate) struct ExplainArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// The signed-in user; leave out for a request without a session.
    #[arg(long, value_name = "USER")]
    pub(crate) user: Option<String>,
    /// The client's address.
    #[arg(long, value_name = "ADDRESS")]
    pub(crate) ip: std::net::IpAddr,
    /// The client type: web, or one from client_types.
    #[arg(long, default_value = "web", value_name = "TYPE")]
    pub(crate) client: String,
    /// The request's method.
    #[arg(long, default_value = "GET", value_name = "METHOD")]
    pub(crate) method: String,
    /// The path, with its query if any, as on the request line.
    #[arg(long, value_name = "PATH")]
    pub(crate) path: String,
    /// A request header (repeatable).
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    pub(crate) headers: Vec<String>,
    /// Decide as of this time (RFC 3339, UTC) instead of now.
    #[arg(long, value_name = "TIME")]
    pub(crate) at: Option<String>,
    /// How long ago the user completed a second factor, like 2m; leave out
    /// for "not recently".
    #[arg(long, value_name = "DURATION")]
    pub(crate) second_factor_age: Option<String>,
    /// text (a sentence) or json.
    #[arg(long, value_enum, default_value = "text", value_name = "FORMAT")]
    pub(crate) format: AnswerFormat,
}

/// How explain answers.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum AnswerFormat {
    Text,
    Json,
}

/// How the listing commands print.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum ListFormat {
    /// Aligned columns for a terminal.
    #[value(alias = "text")]
    Table,
    Json,
    Csv,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every command, with its path (`user invite`).
    fn commands(command: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            let path = format!("{path} {}", sub.get_name()).trim().to_owned();
            out.push((path.clone(), sub.clone()));
            commands(sub, path, out);
        }
    }

    #[test]
    fn every_command_has_a_short_summary_every_option_a_description_and_examples() {
        let mut all = Vec::new();
        commands(&Cli::command(), String::new(), &mut all);
        assert!(all.len() >= 16, "{}", all.len());
        for (path, command) in &all {
            let about = command.get_about().map(ToString::to_string).unwrap_or_default();
            assert!(
                !about.is_empty() && about.chars().count() <= 76,
                "{path}: summary {about:?}"
            );
            for arg in command
                .get_arguments()
                .filter(|a| !a.is_hide_set() && a.get_id() != "help")
            {
                assert!(
                    arg.get_help().is_some(),
                    "{path}: --{} has no description",
                    arg.get_id()
                );
            }
            let leaf = command.get_subcommands().next().is_none();
            let examples = command.get_after_help().map(ToString::to_string).unwrap_or_default();
            if leaf && path != "demo-crm" {
                assert!(examples.starts_with("Example"), "{path} has no examples");
                let program = format!("portcullis {path}");
                assert!(examples.contains(&program), "{path}: examples do not show {program:?}");
            }
        }
    }

    #[test]
    fn every_command_that_reads_the_config_defaults_it_alike() {
        let mut all = Vec::new();
        commands(&Cli::command(), String::new(), &mut all);
        let mut reading = 0;
        for (path, command) in &all {
            if let Some(config) = command.get_arguments().find(|a| a.get_id() == "config") {
                reading += 1;
                assert_eq!(
                    config.get_env().and_then(|e| e.to_str()),
                    Some("PORTCULLIS_CONFIG"),
                    "{path}"
                );
                assert_eq!(config.get_default_values(), [super::DEFAULT_CONFIG], "{path}");
                assert_eq!(config.get_short(), Some('c'), "{path}");
            }
        }
        assert_eq!(
            reading, 16,
            "serve, check, explain, replay, 4 user, 2 sessions, 4 approvals, 2 store commands"
        );
    }
}
