//! What the admin commands do against the store: list and end sessions,
//! disable and reset users (`portcullis sessions …`, `portcullis user …`).
//!
//! One [`execute`] serves both ways the commands reach the store:
//! directly (Redis, or an embedded file no gateway has open), and through a
//! running gateway's admin socket ([`socket`]) when that gateway holds the
//! embedded file (redb allows one process). Either way the change goes
//! through the [`SessionService`], so the gateways' session caches hear of
//! it at once.
//!
//! Disabling or resetting a user revokes their credentials: the stored
//! password, TOTP secret and recovery codes are dropped, every session
//! ends, and invite links issued before that moment stop working. The YAML
//! stays the source of who exists; a new invite enrols the user again.

pub mod approvals;
pub mod backup;
pub mod http;
pub mod replay;
pub mod review;
mod review_csv;
pub mod socket;
pub mod tables;

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::auth::credentials::Credentials;
use crate::policy::Policy;
use crate::session::{SessionHandle, SessionService};
use crate::store::StoreError;

/// An admin request, as the CLI sends it (also over the socket, as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Live sessions of one user, or of every user in the policy.
    ListSessions {
        user: Option<String>,
    },
    /// End every session of a user.
    EndSessions {
        user: String,
    },
    /// End one session, named by its handle or a unique prefix of it.
    EndSession {
        id: String,
    },
    /// Revoke the user's credentials and end their sessions.
    Disable {
        user: String,
    },
    /// The same as disable; the CLI then prints a fresh invite link.
    Reset {
        user: String,
    },
    /// The access review; `inactive_days` without a sign-in is flagged.
    Review {
        inactive_days: u64,
    },
    /// The records a backup holds, for the CLI to seal into a file.
    Export,
    /// Write records from an opened backup back.
    Import {
        records: Vec<backup::Record>,
    },
    /// The users identity providers provisioned, for the command line to
    /// compile beside the YAML's (`explain`, reviews).
    Provisioned,
    /// Requests held for approval, newest first.
    ListApprovals,
    ShowApproval {
        reference: String,
    },
    /// Approve (or reject) a held request, as the operator.
    DecideApproval {
        reference: String,
        approve: bool,
        note: String,
    },
}

/// A command and the operator who gives it (the audit trail names them:
/// `--by`, else their login name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub by: String,
    #[serde(flatten)]
    pub command: Command,
}

/// One session, as admins see it (the handle is the id's hash: safe to show).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    pub user: String,
    pub handle: String,
    pub client_type: String,
    pub ip: String,
    /// Seconds since the epoch.
    pub created: u64,
    pub last_seen: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Sessions {
        sessions: Vec<SessionRow>,
    },
    Review {
        rows: Vec<review::Row>,
    },
    Records {
        records: Vec<backup::Record>,
    },
    Imported {
        records: usize,
    },
    Provisioned {
        users: Vec<crate::policy::provisioned::Provisioned>,
    },
    Approvals {
        approvals: Vec<approvals::ApprovalRow>,
    },
    /// Sessions ended (their handles), and whether credentials were revoked.
    Done {
        ended: Vec<String>,
        credentials_revoked: bool,
    },
    /// The command was understood but cannot be done (no such session…).
    Refused {
        message: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Carry out `command` under the current `policy` (whose users a listing
/// or a search by id looks at) and identity `providers`.
pub async fn execute(
    service: &SessionService,
    policy: &Policy,
    providers: &[crate::config::providers::ProviderSettings],
    request: &Request,
    now: SystemTime,
) -> Result<Outcome, AdminError> {
    let (command, by) = (&request.command, request.by.as_str());
    let users = policy.users.keys().map(String::as_str);
    let outcome = match command {
        Command::ListSessions { user } => {
            let sessions = match user {
                Some(user) => rows(service, [user.as_str()], now).await?,
                None => rows(service, users, now).await?,
            };
            Outcome::Sessions { sessions }
        }
        Command::EndSessions { user } => {
            let ended = service.revoke_all(user).await?;
            audit("admin.sessions_ended", user, ended.len(), by);
            done(ended, false)
        }
        Command::EndSession { id } => {
            let id = id.trim().to_ascii_lowercase();
            let all = rows(service, users, now).await?;
            let matching: Vec<&SessionRow> = all.iter().filter(|r| r.handle.starts_with(&id)).collect();
            match matching.as_slice() {
                [row] if id.len() >= 8 => {
                    let handle = SessionHandle(row.handle.clone());
                    service.revoke(&row.user, &handle).await?;
                    audit("admin.session_ended", &row.user, 1, by);
                    done(vec![handle], false)
                }
                _ if id.len() < 8 => refused("give at least 8 characters of the session id"),
                [] => refused(&format!("no live session has an id starting {id:?}")),
                _ => refused(&format!(
                    "{} sessions have ids starting {id:?}; give more of it",
                    matching.len()
                )),
            }
        }
        Command::Disable { user } | Command::Reset { user } => {
            Credentials::revoke(&service.store, user, now)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let ended = service.revoke_all(user).await?;
            let event = match command {
                Command::Disable { .. } => "admin.user_disabled",
                _ => "admin.user_reset",
            };
            audit(event, user, ended.len(), by);
            done(ended, true)
        }
        Command::Export => Outcome::Records {
            records: backup::export(&service.store, policy).await?,
        },
        Command::Import { records } => match backup::import(&service.store, records).await {
            Ok(records) => {
                tracing::info!(target: "audit", event = "admin.store_imported", records, by);
                Outcome::Imported { records }
            }
            Err(message) => Outcome::Refused { message },
        },
        Command::Provisioned => Outcome::Provisioned {
            users: crate::session::provisioned::list(&service.store).await?,
        },
        Command::ListApprovals => Outcome::Approvals {
            approvals: approvals::list(&service.store, now).await?,
        },
        Command::ShowApproval { reference } => match approvals::show(&service.store, reference, now).await? {
            Some(row) => Outcome::Approvals { approvals: vec![row] },
            None => refused(&format!("no held request has the reference {reference:?}")),
        },
        Command::DecideApproval {
            reference,
            approve,
            note,
        } => match approvals::decide(&service.store, policy, reference, (by, *approve, note), now).await? {
            Ok(row) => Outcome::Approvals { approvals: vec![row] },
            Err(message) => refused(&message),
        },
        Command::Review { inactive_days } => {
            let inactive = std::time::Duration::from_secs(inactive_days.saturating_mul(86_400));
            Outcome::Review {
                rows: review::review(service, policy, providers, now, inactive).await?,
            }
        }
    };
    Ok(outcome)
}

async fn rows<'u>(
    service: &SessionService,
    users: impl IntoIterator<Item = &'u str>,
    now: SystemTime,
) -> Result<Vec<SessionRow>, StoreError> {
    let mut rows = Vec::new();
    for user in users {
        for (handle, session) in service.sessions().list(user, now).await? {
            rows.push(SessionRow {
                user: session.user,
                handle: handle.0,
                client_type: session.client_type,
                ip: session.ip.to_string(),
                created: session.created,
                last_seen: session.last_seen,
            });
        }
    }
    Ok(rows)
}

fn done(ended: Vec<SessionHandle>, credentials_revoked: bool) -> Outcome {
    Outcome::Done {
        ended: ended.into_iter().map(|h| h.0).collect(),
        credentials_revoked,
    }
}

fn refused(message: &str) -> Outcome {
    Outcome::Refused {
        message: message.to_owned(),
    }
}

fn audit(event: &str, user: &str, ended_sessions: usize, by: &str) {
    tracing::info!(target: "audit", event, user, ended_sessions, by);
}

/// A session as `sessions list` prints it: the table's columns are the
/// JSON's and the CSV's fields, and times are RFC 3339 (UTC) in all three.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionLine {
    pub user: String,
    /// The session's id as `sessions revoke --id` takes it (the table shows
    /// its first 12 characters; 8 are enough there).
    pub session: String,
    pub client: String,
    pub address: String,
    pub signed_in: String,
    pub last_seen: String,
}

impl SessionLine {
    /// A table or CSV row, in the columns' order, with the id as given.
    fn cells(&self, session: String) -> Vec<String> {
        let l = self;
        vec![
            l.user.clone(),
            session,
            l.client.clone(),
            l.address.clone(),
            l.signed_in.clone(),
            l.last_seen.clone(),
        ]
    }
}

pub fn session_lines(rows: &[SessionRow]) -> Vec<SessionLine> {
    rows.iter()
        .map(|row| SessionLine {
            user: row.user.clone(),
            session: row.handle.clone(),
            client: row.client_type.clone(),
            address: row.ip.clone(),
            signed_in: tables::when(row.created),
            last_seen: tables::when(row.last_seen),
        })
        .collect()
}

const SESSION_COLUMNS: [&str; 6] = ["USER", "SESSION", "CLIENT", "ADDRESS", "SIGNED IN", "LAST SEEN"];

/// Sessions for a terminal; "no sessions" rather than a bare header.
pub fn sessions_table(lines: &[SessionLine]) -> String {
    if lines.is_empty() {
        return "no sessions".to_owned();
    }
    let cells: Vec<Vec<String>> = lines
        .iter()
        .map(|l| l.cells(l.session.chars().take(12).collect()))
        .collect();
    tables::aligned(&SESSION_COLUMNS, &cells)
}

pub fn sessions_csv(lines: &[SessionLine]) -> String {
    let header = SESSION_COLUMNS.map(|c| c.to_ascii_lowercase().replace(' ', "_"));
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let cells: Vec<Vec<String>> = lines.iter().map(|l| l.cells(l.session.clone())).collect();
    tables::csv(&header, &cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_travel_as_json_that_says_what_they_do() {
        let request = Request {
            by: "nadia".into(),
            command: Command::EndSession { id: "ab12cd34".into() },
        };
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(json, r#"{"by":"nadia","op":"end_session","id":"ab12cd34"}"#);
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), request);
    }

    #[test]
    fn the_session_table_lines_up_and_shortens_ids() {
        let row = SessionRow {
            user: "alice".into(),
            handle: "0123456789abcdef0123".into(),
            client_type: "web".into(),
            ip: "193.167.1.70".into(),
            created: 1_800_000_000,
            last_seen: 1_800_000_060,
        };
        let lines = session_lines(&[row]);
        let text = sessions_table(&lines);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(
            rows[0],
            "USER   SESSION       CLIENT  ADDRESS       SIGNED IN             LAST SEEN"
        );
        assert_eq!(
            rows[1],
            "alice  0123456789ab  web     193.167.1.70  2027-01-15T08:00:00Z  2027-01-15T08:01:00Z"
        );
        // The JSON says the same, under the table's names, with the whole id.
        let json = serde_json::to_value(&lines[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "user": "alice", "session": "0123456789abcdef0123", "client": "web",
                "address": "193.167.1.70", "signed_in": "2027-01-15T08:00:00Z", "last_seen": "2027-01-15T08:01:00Z"
            })
        );
        assert_eq!(sessions_table(&[]), "no sessions");
    }
}
