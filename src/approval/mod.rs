//! Four-eyes approval: a request that a route rule with `approval` matches
//! is held in the store, not forwarded, until a second person approves it;
//! then its requester sends it to the CRM, once, exactly as it was held.
//!
//! ```text
//! held ──reason (if required)──▶ waiting ──approve──▶ approved ──send──▶ sent
//!                                        └─reject───▶ rejected
//! not sent by valid_for ──▶ expired: it never reaches the CRM
//! ```
//!
//! Each step after holding is one key written only if absent, so two
//! approvers (or two gateways) deciding at once cannot both win, and a
//! request goes once however often "Send" is pressed. Keys, on either
//! store backend and shared by every gateway on it: `approval:REF` (the
//! request), `approval:REF:reason`, `:decision`, `:sent`, `:expired`, and
//! the set `approvals` for listings. All are kept a day past the request's
//! end, so that its page can still say what became of it.

pub mod summary;

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::policy::Policy;
use crate::store::{Store, StoreError};

/// How long the record of a request outlives it.
const KEPT_AFTER: Duration = Duration::from_secs(86_400);

const LISTED: &str = "approvals";

/// A request waiting for approval, as it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// What the requester, approvers and the CLI call it (`K7QM-2HXD`).
    pub reference: String,
    pub user: String,
    pub address: IpAddr,
    pub client_type: String,
    pub method: String,
    /// As the client asked for it (path and query; the authority for HTTP/2).
    pub uri: String,
    /// Its headers but `Cookie` and `X-Forwarded-For`: when it is sent, the
    /// requester's browser's own go with it, as with any request.
    pub headers: Vec<(String, String)>,
    /// Base64.
    pub body: String,
    /// Seconds since the epoch.
    pub held_at: u64,
    pub expires_at: u64,
    /// The rules that held it (see [`Policy::approval_rule`]), and for each
    /// the groups whose members may approve it.
    pub rules: Vec<String>,
    pub by: Vec<Vec<String>>,
    pub reason_required: bool,
}

/// An approver's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub approved: bool,
    pub by: String,
    pub note: String,
    pub at: u64,
}

/// Where a held request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Its rule asks for a reason, and the requester has not given one.
    NeedsReason,
    Waiting,
    Approved(Decision),
    Rejected(Decision),
    /// Sent to the CRM at (seconds since the epoch), after this approval.
    Sent(u64, Decision),
    Expired,
}

impl State {
    /// In one word, for listings and the audit trail.
    pub fn word(&self) -> &'static str {
        match self {
            State::NeedsReason => "needs-reason",
            State::Waiting => "waiting",
            State::Approved(_) => "approved",
            State::Rejected(_) => "rejected",
            State::Sent(..) => "sent",
            State::Expired => "expired",
        }
    }
}

/// A held request and what has become of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub held: Held,
    pub reason: Option<String>,
    pub state: State,
}

/// Why an approver's answer was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0} made this request: someone else must approve it")]
    OwnRequest(String),
    #[error("{0} may not approve this request: approvers are members of {1}")]
    NotAnApprover(String, String),
    #[error("it is {0}, not waiting for approval")]
    NotWaiting(&'static str),
}

impl Held {
    /// The body as it came.
    pub fn body_bytes(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.body)
            .unwrap_or_default()
    }

    pub fn encode_body(body: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(body)
    }

    /// The path and query (the URI without an authority).
    pub fn path(&self) -> &str {
        let uri = &self.uri;
        match uri.find("://") {
            Some(i) => uri[i + 3..].find('/').map_or("/", |j| &uri[i + 3 + j..]),
            None => uri,
        }
    }

    /// The path without the query, for the audit trail (a query may carry
    /// a token; the approvers' page shows it, logs do not).
    pub fn logged_path(&self) -> &str {
        self.path().split('?').next().unwrap_or("/")
    }

    /// Its `Content-Type`, for the summary approvers see.
    pub fn content_type(&self) -> Option<&str> {
        (self.headers.iter())
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str())
    }

    fn expired(&self, now: SystemTime) -> bool {
        secs(now) >= self.expires_at
    }
}

/// A new reference: eight letters and digits that are hard to misread.
pub fn new_reference() -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let bytes = crate::auth::random_bytes::<8>();
    let mut reference: String = bytes.iter().map(|b| ALPHABET[*b as usize % 32] as char).collect();
    reference.insert(4, '-');
    reference
}

/// Is `reference` shaped like one (so that a path cannot name other keys)?
pub fn is_reference(reference: &str) -> bool {
    reference.len() == 9
        && reference.char_indices().all(|(i, c)| {
            if i == 4 {
                c == '-'
            } else {
                c.is_ascii_uppercase() || c.is_ascii_digit()
            }
        })
}

fn key(reference: &str, part: &str) -> String {
    match part {
        "" => format!("approval:{reference}"),
        part => format!("approval:{reference}:{part}"),
    }
}

fn secs(at: SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// How long from `now` the keys of `held` are kept.
fn kept(held: &Held, now: SystemTime) -> Duration {
    Duration::from_secs(held.expires_at.saturating_sub(secs(now))) + KEPT_AFTER
}

/// Keep `held` in the store.
pub async fn hold(store: &Store, held: &Held, now: SystemTime) -> Result<(), StoreError> {
    let json = serde_json::to_vec(held).expect("a held request serializes");
    store
        .set(&key(&held.reference, ""), &json, Some(kept(held, now)))
        .await?;
    store.set_add(LISTED, &held.reference).await
}

/// The request `reference` names and its state; `None` once forgotten.
pub async fn load(store: &Store, reference: &str, now: SystemTime) -> Result<Option<Record>, StoreError> {
    if !is_reference(reference) {
        return Ok(None);
    }
    let Some(bytes) = store.get(&key(reference, "")).await? else {
        return Ok(None);
    };
    let Ok(held) = serde_json::from_slice::<Held>(&bytes) else {
        return Ok(None);
    };
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    let reason = store.get(&key(reference, "reason")).await?.map(text);
    let decision = (store.get(&key(reference, "decision")).await?)
        .and_then(|bytes| serde_json::from_slice::<Decision>(&bytes).ok());
    let sent = (store.get(&key(reference, "sent")).await?).and_then(|bytes| text(bytes).parse::<u64>().ok());
    let state = match (decision, sent) {
        (Some(decision), Some(at)) => State::Sent(at, decision),
        (Some(decision), _) if !decision.approved => State::Rejected(decision),
        _ if held.expired(now) => State::Expired,
        (Some(decision), _) => State::Approved(decision),
        (None, _) if held.reason_required && reason.is_none() => State::NeedsReason,
        (None, _) => State::Waiting,
    };
    Ok(Some(Record { held, reason, state }))
}

/// The requester's reason, once; `false` if one was given already.
pub async fn give_reason(store: &Store, record: &Record, reason: &str, now: SystemTime) -> Result<bool, StoreError> {
    let reason = reason.trim();
    if reason.is_empty() || record.state == State::Expired {
        return Ok(false);
    }
    let reason: String = reason.chars().take(500).collect();
    let ttl = kept(&record.held, now);
    store
        .set_if_absent(&key(&record.held.reference, "reason"), reason.as_bytes(), ttl)
        .await
}

/// May `user` approve `held` under `policy`? Not their own, and a member
/// of an approving group of every rule that held it.
pub fn may_decide(policy: &Policy, held: &Held, user: &str, now: SystemTime) -> Result<(), Refused> {
    if user == held.user {
        return Err(Refused::OwnRequest(user.to_owned()));
    }
    let groups: Vec<&str> = match policy.users.get(user) {
        Some(u) if !u.disabled && u.expires.is_none_or(|at| at > now) => {
            u.groups.iter().map(|g| policy.groups[*g].name.as_str()).collect()
        }
        _ => Vec::new(),
    };
    let member = |of: &Vec<String>| of.iter().any(|g| groups.contains(&g.as_str()));
    match held.by.iter().all(member) {
        true => Ok(()),
        false => {
            let by: Vec<String> = held.by.iter().map(|gs| gs.join(" or ")).collect();
            Err(Refused::NotAnApprover(user.to_owned(), by.join(", and of ")))
        }
    }
}

/// Approve or reject a waiting request, as `by`, on its page or from the
/// command line (`via`); the first answer stands, and is audited.
pub async fn decide(
    store: &Store,
    policy: &Policy,
    record: &Record,
    (by, approved, note, via): (&str, bool, &str, &str),
    now: SystemTime,
) -> Result<Result<Decision, Refused>, StoreError> {
    if let Err(refused) = may_decide(policy, &record.held, by, now) {
        return Ok(Err(refused));
    }
    if record.state != State::Waiting {
        return Ok(Err(Refused::NotWaiting(record.state.word())));
    }
    let decision = Decision {
        approved,
        by: by.to_owned(),
        note: note.trim().chars().take(500).collect(),
        at: secs(now),
    };
    let json = serde_json::to_vec(&decision).expect("a decision serializes");
    let ttl = kept(&record.held, now);
    match store
        .set_if_absent(&key(&record.held.reference, "decision"), &json, ttl)
        .await?
    {
        true => {
            let event = match approved {
                true => "approval.approved",
                false => "approval.rejected",
            };
            let held = &record.held;
            tracing::info!(target: "audit", event, reference = %held.reference, user = %held.user, by,
                note = %decision.note, via, method = %held.method, path = %held.logged_path());
            Ok(Ok(decision))
        }
        false => Ok(Err(Refused::NotWaiting("decided already"))),
    }
}

/// Mark an approved request sent; `true` for the one caller that may send it.
pub async fn claim_send(store: &Store, record: &Record, now: SystemTime) -> Result<bool, StoreError> {
    if !matches!(record.state, State::Approved(_)) {
        return Ok(false);
    }
    let at = secs(now).to_string();
    let ttl = kept(&record.held, now);
    store
        .set_if_absent(&key(&record.held.reference, "sent"), at.as_bytes(), ttl)
        .await
}

/// Every request still remembered, newest first; forgotten ones leave the list.
pub async fn list(store: &Store, now: SystemTime) -> Result<Vec<Record>, StoreError> {
    let mut records = Vec::new();
    for reference in store.set_members(LISTED).await? {
        match load(store, &reference, now).await? {
            Some(record) => records.push(record),
            None => store.set_remove(LISTED, &reference).await?,
        }
    }
    records.sort_by_key(|r| std::cmp::Reverse(r.held.held_at));
    Ok(records)
}

/// Audit each request that expired unsent, once across every gateway.
pub async fn sweep(store: &Store, now: SystemTime) -> Result<(), StoreError> {
    for record in list(store, now).await? {
        if record.state != State::Expired {
            continue;
        }
        let held = &record.held;
        if store
            .set_if_absent(&key(&held.reference, "expired"), b"1", kept(held, now))
            .await?
        {
            tracing::info!(target: "audit", event = "approval.expired", reference = %held.reference,
                user = %held.user, method = %held.method, path = %held.logged_path());
        }
    }
    Ok(())
}

/// Sweep every `every` until the task is dropped; a store that does not
/// answer is tried again next time.
pub async fn sweep_every(store: std::sync::Arc<Store>, clock: crate::clock::Clock, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if let Err(err) = sweep(&store, clock.now()).await {
            tracing::warn!(error = %err, "cannot look for expired approvals");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_shaped_so_that_nothing_else_passes_for_one() {
        let reference = new_reference();
        assert!(is_reference(&reference), "{reference}");
        assert_ne!(reference, new_reference());
        for not in ["", "K7QM2HXD", "k7qm-2hxd", "K7QM-2HX", "K7QM-2HXD:sent", "../../x"] {
            assert!(!is_reference(not), "{not}");
        }
    }

    #[test]
    fn the_path_of_an_http2_request_is_its_uri_without_the_authority() {
        let mut held = Held {
            reference: new_reference(),
            user: "ben".into(),
            address: "10.0.0.1".parse().unwrap(),
            client_type: "web".into(),
            method: "POST".into(),
            uri: "https://crm.example.com/contacts/42/delete?x=1".into(),
            headers: Vec::new(),
            body: Held::encode_body(b"id=42"),
            held_at: 0,
            expires_at: 10,
            rules: Vec::new(),
            by: Vec::new(),
            reason_required: false,
        };
        assert_eq!(held.path(), "/contacts/42/delete?x=1");
        held.uri = "/contacts".into();
        assert_eq!(held.path(), "/contacts");
        assert_eq!(held.body_bytes(), b"id=42");
        assert!(held.expired(std::time::UNIX_EPOCH + Duration::from_secs(10)));
        assert!(!held.expired(std::time::UNIX_EPOCH + Duration::from_secs(9)));
    }
}
