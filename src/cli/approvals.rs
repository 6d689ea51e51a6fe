//! `portcullis approvals list|show|approve|reject`: requests held for a
//! second person's approval, from the command line, on the store the
//! gateway uses (see [`portcullis::admin::approvals`]).

use clap::Subcommand;
use portcullis::admin;
use portcullis::live::Live;

use super::admin_commands::admin_command;
use super::args::{ConfigArg, ListFormat, OperatorArg};

#[derive(Subcommand)]
pub(crate) enum ApprovalsCommand {
    /// Requests held for approval, newest first, and what became of each.
    #[command(after_help = "Example:\n  portcullis approvals list --format json")]
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// table (for a terminal), json or csv.
        #[arg(long, value_enum, default_value = "table", value_name = "FORMAT")]
        format: ListFormat,
    },
    /// One held request: exactly what it is, and where it is.
    #[command(after_help = "Example:\n  portcullis approvals show K7QM-2HXD")]
    Show {
        /// Its reference, like K7QM-2HXD.
        #[arg(value_name = "REFERENCE")]
        reference: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Approve a waiting request, as --by.
    ///
    /// --by is a member of its approving groups, never its requester; the
    /// requester then sends it from its page.
    #[command(after_help = "Example:\n  portcullis approvals approve K7QM-2HXD --by mia --note \"checked with Ben\"")]
    Approve(Decide),
    /// Reject a waiting request, as --by: it never reaches the CRM.
    #[command(after_help = "Example:\n  portcullis approvals reject K7QM-2HXD --by mia --note \"42 has open deals\"")]
    Reject(Decide),
}

#[derive(clap::Args)]
pub(crate) struct Decide {
    /// Its reference, like K7QM-2HXD.
    #[arg(value_name = "REFERENCE")]
    reference: String,
    /// For the requester and the audit trail.
    #[arg(long, default_value = "", value_name = "TEXT")]
    note: String,
    #[command(flatten)]
    config: ConfigArg,
    #[command(flatten)]
    by: OperatorArg,
}

impl ApprovalsCommand {
    pub(crate) fn config(&self) -> &std::path::Path {
        match self {
            ApprovalsCommand::List { config, .. } | ApprovalsCommand::Show { config, .. } => &config.config,
            ApprovalsCommand::Approve(d) | ApprovalsCommand::Reject(d) => &d.config.config,
        }
    }
}

/// Carry out `command` (`operator` names who, for a decision).
pub(crate) async fn run(
    live: &Live,
    command: ApprovalsCommand,
    operator: impl Fn(&OperatorArg) -> String,
) -> anyhow::Result<()> {
    let approve = matches!(command, ApprovalsCommand::Approve(_));
    let (request, by, format) = match command {
        ApprovalsCommand::List { format, .. } => (admin::Command::ListApprovals, "a listing".to_owned(), Some(format)),
        ApprovalsCommand::Show { reference, .. } => {
            (admin::Command::ShowApproval { reference }, "a listing".into(), None)
        }
        ApprovalsCommand::Approve(d) | ApprovalsCommand::Reject(d) => {
            let Some(_) = d.by.by else {
                anyhow::bail!(
                    "say who decides with --by: an approver named under users:, not {}",
                    operator(&d.by)
                )
            };
            let (reference, note) = (d.reference, d.note);
            let decide = admin::Command::DecideApproval {
                reference,
                approve,
                note,
            };
            (decide, operator(&d.by), None)
        }
    };
    let rows = match admin_command(live, request, &by).await? {
        admin::Outcome::Approvals { approvals } => approvals,
        admin::Outcome::Refused { message } => anyhow::bail!("{message}"),
        other => anyhow::bail!("unexpected answer: {other:?}"),
    };
    match format {
        Some(ListFormat::Table) => println!("{}", admin::approvals::table(&rows)),
        Some(ListFormat::Json) => println!("{}", serde_json::to_string_pretty(&rows)?),
        Some(ListFormat::Csv) => print!("{}", admin::approvals::csv(&rows)),
        None => rows.iter().for_each(|row| print!("{}", admin::approvals::detail(row))),
    }
    Ok(())
}
