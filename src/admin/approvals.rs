//! What `portcullis approvals …` does: held requests as rows (see
//! [`crate::approval`]), and an operator's approval or rejection, which the
//! audit trail names. The command line trusts whoever runs it, as it does
//! for `user disable`: it asks no second factor. An approver is still never
//! the requester, and must be in an approving group.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::tables::{self, when};
use crate::approval::{self, Record, State};
use crate::policy::Policy;
use crate::store::{Store, StoreError};

/// One held request, as the command line shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRow {
    pub reference: String,
    pub state: String,
    pub user: String,
    /// `POST /contacts/42/delete`
    pub request: String,
    pub address: String,
    pub client_type: String,
    pub held_at: String,
    pub expires_at: String,
    pub reason: String,
    pub decided_by: String,
    pub note: String,
    /// What an approver sees of the body, a line each.
    pub body: Vec<String>,
}

pub fn row(record: &Record) -> ApprovalRow {
    let held = &record.held;
    let decision = match &record.state {
        State::Approved(d) | State::Rejected(d) | State::Sent(_, d) => Some(d),
        _ => None,
    };
    let summary = approval::summary::summarize(held.content_type(), &held.body_bytes());
    let body = std::iter::once(summary.about)
        .chain(summary.fields.into_iter().map(|(k, v)| format!("{k} = {v}")))
        .chain(summary.text)
        .collect();
    ApprovalRow {
        reference: held.reference.clone(),
        state: record.state.word().to_owned(),
        user: held.user.clone(),
        request: format!("{} {}", held.method, held.path()),
        address: held.address.to_string(),
        client_type: held.client_type.clone(),
        held_at: when(held.held_at),
        expires_at: when(held.expires_at),
        reason: record.reason.clone().unwrap_or_default(),
        decided_by: decision.map(|d| d.by.clone()).unwrap_or_default(),
        note: decision.map(|d| d.note.clone()).unwrap_or_default(),
        body,
    }
}

pub async fn list(store: &Store, now: SystemTime) -> Result<Vec<ApprovalRow>, StoreError> {
    Ok(approval::list(store, now).await?.iter().map(row).collect())
}

pub async fn show(store: &Store, reference: &str, now: SystemTime) -> Result<Option<ApprovalRow>, StoreError> {
    Ok(approval::load(store, reference, now).await?.as_ref().map(row))
}

/// Approve or reject `reference` as `by`; why not, in words.
pub async fn decide(
    store: &Store,
    policy: &Policy,
    reference: &str,
    (by, approved, note): (&str, bool, &str),
    now: SystemTime,
) -> Result<Result<ApprovalRow, String>, StoreError> {
    let Some(record) = approval::load(store, reference, now).await? else {
        return Ok(Err(format!("no held request has the reference {reference:?}")));
    };
    let answer = (by, approved, note, "command line");
    if let Err(refused) = approval::decide(store, policy, &record, answer, now).await? {
        return Ok(Err(refused.to_string()));
    }
    match approval::load(store, reference, now).await? {
        Some(record) => Ok(Ok(row(&record))),
        None => Ok(Err(format!("{reference} was forgotten meanwhile"))),
    }
}

const COLUMNS: [&str; 5] = ["REFERENCE", "STATE", "USER", "REQUEST", "HELD AT"];

/// Held requests for a terminal.
pub fn table(rows: &[ApprovalRow]) -> String {
    if rows.is_empty() {
        return "no held requests".to_owned();
    }
    let cells: Vec<Vec<String>> = (rows.iter())
        .map(|r| {
            vec![
                r.reference.clone(),
                r.state.clone(),
                r.user.clone(),
                r.request.clone(),
                r.held_at.clone(),
            ]
        })
        .collect();
    tables::aligned(&COLUMNS, &cells)
}

/// Held requests for a spreadsheet: every field, the body's lines joined.
pub fn csv(rows: &[ApprovalRow]) -> String {
    let header = [
        "reference",
        "state",
        "user",
        "request",
        "address",
        "client_type",
        "held_at",
        "expires_at",
        "reason",
        "decided_by",
        "note",
        "body",
    ];
    let cells: Vec<Vec<String>> = (rows.iter())
        .map(|r| {
            vec![
                r.reference.clone(),
                r.state.clone(),
                r.user.clone(),
                r.request.clone(),
                r.address.clone(),
                r.client_type.clone(),
                r.held_at.clone(),
                r.expires_at.clone(),
                r.reason.clone(),
                r.decided_by.clone(),
                r.note.clone(),
                r.body.join("; "),
            ]
        })
        .collect();
    tables::csv(&header, &cells)
}

/// One held request, a field a line.
pub fn detail(r: &ApprovalRow) -> String {
    let mut text = String::new();
    let fields = [
        ("reference", &r.reference),
        ("state", &r.state),
        ("request", &r.request),
        ("asked by", &r.user),
        ("from", &r.address),
        ("client type", &r.client_type),
        ("held at", &r.held_at),
        ("expires at", &r.expires_at),
        ("reason", &r.reason),
        ("decided by", &r.decided_by),
        ("note", &r.note),
    ];
    for (name, value) in fields.iter().filter(|(_, v)| !v.is_empty()) {
        text.push_str(&format!("{name:12} {value}\n"));
    }
    for (i, line) in r.body.iter().enumerate() {
        let name = if i == 0 { "body" } else { "" };
        text.push_str(&format!("{name:12} {line}\n"));
    }
    text
}
