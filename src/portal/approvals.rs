//! `/.portcullis/approvals/REF`: a held request's page (see
//! [`crate::approval`]). Its requester sees where it is, gives a reason
//! when the rule asks for one, and sends it once it is approved (the
//! pipeline takes that `…/send`, see [`crate::proxy`]'s `hold`). An approver
//! sees exactly what it is and approves or rejects it, after a second
//! factor proven in the last minutes. To anyone else it does not exist.
//! `/.portcullis/approvals` lists what waits for the signed-in user.

use std::time::{Duration, SystemTime};

use askama::Template;
use http::StatusCode;
use serde::Deserialize;

use super::signin::{sign_in_first, Page};
use super::views::{self, Frame, Links};
use super::{from_secs, redirect, Ctx, PortalError};
use crate::approval::{self, summary::Summary, Held, Record, State};
use crate::i18n::{fill, Texts};
use crate::policy::Policy;
use crate::signin::SignIn;

pub const APPROVALS: &str = "/.portcullis/approvals";

/// How recently an approver must have proven a second factor to decide.
const DECIDE_WITHIN: Duration = Duration::from_secs(5 * 60);

#[derive(Template)]
#[template(path = "portal/approval.html")]
struct ApprovalPage<'a> {
    frame: Frame<'a>,
    lines: Vec<String>,
    info: Option<String>,
    error: Option<String>,
    request: String,
    asked_by: String,
    address: String,
    client: String,
    held_at: String,
    reason: String,
    body: Summary,
    ask_reason: bool,
    send: bool,
    send_to: String,
    decide: bool,
    confirm_first: Option<String>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "portal/approvals.html")]
struct ListPage<'a> {
    frame: Frame<'a>,
    rows: Vec<Row>,
}

struct Row {
    link: String,
    request: String,
    asked_by: String,
    held_at: String,
    state: &'static str,
}

/// What the page's forms post.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Posted {
    reason: String,
    decision: String,
    note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Requester,
    Approver,
}

/// The page of the request `reference`.
pub fn page_of(reference: &str) -> String {
    format!("{APPROVALS}/{reference}")
}

/// The reference a page's path (or its `/send`) names.
pub fn reference_in(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(APPROVALS)?.strip_prefix('/')?;
    let reference = rest.strip_suffix("/send").unwrap_or(rest);
    approval::is_reference(reference).then_some(reference)
}

/// `/.portcullis/approvals/REF`
pub async fn approval(ctx: &Ctx<'_>) -> Page {
    let Some((_, session)) = ctx.signed_in().await? else {
        return Ok(sign_in_first(&ctx.path));
    };
    let reference = reference_in(&ctx.path).ok_or(PortalError::NotFound)?;
    let (store, policy, now) = (&ctx.signin.store, ctx.at.policy, ctx.at.now);
    let record = approval::load(store, reference, now).await?;
    let record = record.ok_or(PortalError::NotFound)?;
    let user = session.user.as_str();
    let role = match (
        user == record.held.user,
        approval::may_decide(policy, &record.held, user, now),
    ) {
        (true, _) => Role::Requester,
        (false, Ok(())) => Role::Approver,
        (false, Err(_)) => return Err(PortalError::NotFound),
    };
    let proven = now.duration_since(from_secs(session.second_factor_at));
    let fresh = proven.unwrap_or(Duration::ZERO) <= DECIDE_WITHIN;
    let mut error = None;
    if ctx.posted() {
        let form: Posted = ctx.decode();
        let t = ctx.t;
        match role {
            // Only a reason, and only while one is missing.
            Role::Requester if record.state != State::NeedsReason => return Ok(redirect(&page_of(reference))),
            Role::Requester => match approval::give_reason(store, &record, &form.reason, now).await? {
                true => {
                    tracing::info!(target: "audit", event = "approval.reason", reference, user, reason = %form.reason.trim());
                    if let Some(record) = approval::load(store, reference, now).await? {
                        let to = (ctx.at.company, ctx.host.as_deref());
                        tell_approvers(ctx.signin, policy, t, &record, to, now);
                    }
                    return Ok(redirect(&page_of(reference)));
                }
                false => error = Some(t.approval_reason_missing.clone()),
            },
            Role::Approver if !fresh => error = Some(t.approval_confirm_first.clone()),
            Role::Approver => {
                let answer = (user, form.decision == "approve", form.note.as_str(), "page");
                // Someone else may have answered first: the page shows whose stands.
                if let Ok(decision) = approval::decide(store, policy, &record, answer, now).await? {
                    tell_requester(ctx, policy, &record.held, &decision);
                }
                return Ok(redirect(&page_of(reference)));
            }
        }
    }
    Ok(page(ctx, &record, (role, fresh), error))
}

fn page(
    ctx: &Ctx<'_>,
    record: &Record,
    (role, fresh): (Role, bool),
    error: Option<String>,
) -> http::Response<http_body_util::Full<bytes::Bytes>> {
    let (t, held) = (ctx.t, &record.held);
    let reference = held.reference.as_str();
    let mut lines = vec![match role {
        Role::Requester => fill(&t.approval_held, &[("reference", reference)]),
        Role::Approver => fill(&t.approval_review, &[("user", &held.user), ("reference", reference)]),
    }];
    lines.extend(state_lines(t, record, role));
    let waiting = record.state == State::Waiting;
    let confirm_first = (role == Role::Approver && waiting && !fresh).then(|| {
        let next: String = form_urlencoded::byte_serialize(page_of(reference).as_bytes()).collect();
        format!("/.portcullis/step-up?next={next}")
    });
    let page = ApprovalPage {
        frame: ctx.frame(&t.approval_title, Links::Account),
        lines,
        info: None,
        error,
        request: format!("{} {}", held.method, held.path()),
        asked_by: held.user.clone(),
        address: held.address.to_string(),
        client: held.client_type.clone(),
        held_at: when(held.held_at),
        reason: record.reason.clone().unwrap_or_else(|| t.approval_no_reason.clone()),
        body: approval::summary::summarize(held.content_type(), &held.body_bytes()),
        ask_reason: role == Role::Requester && record.state == State::NeedsReason,
        send: role == Role::Requester && matches!(record.state, State::Approved(_)),
        send_to: format!("{}/send", page_of(reference)),
        decide: role == Role::Approver && waiting && fresh,
        confirm_first,
        csrf: &ctx.csrf,
    };
    views::html(StatusCode::OK, &page)
}

/// Where the request is, in words, for the one who reads the page.
fn state_lines(t: &Texts, record: &Record, role: Role) -> Vec<String> {
    let held = &record.held;
    let until = when(held.expires_at);
    let groups: Vec<String> = held.by.iter().map(|gs| gs.join(" / ")).collect();
    let noted = |d: &approval::Decision| {
        (!d.note.is_empty()).then(|| fill(&t.approval_note, &[("by", &d.by), ("note", &d.note)]))
    };
    let (line, decision) = match &record.state {
        State::NeedsReason if role == Role::Requester => (t.approval_ask_reason.clone(), None),
        State::NeedsReason => (fill(&t.approval_waiting_reason, &[("user", &held.user)]), None),
        State::Waiting => (
            fill(&t.approval_waiting, &[("groups", &groups.join(", ")), ("time", &until)]),
            None,
        ),
        State::Approved(d) => (fill(&t.approval_approved, &[("by", &d.by), ("time", &until)]), Some(d)),
        State::Rejected(d) => (fill(&t.approval_rejected, &[("by", &d.by)]), Some(d)),
        State::Sent(at, d) => (fill(&t.approval_sent, &[("by", &d.by), ("time", &when(*at))]), Some(d)),
        State::Expired => (fill(&t.approval_expired, &[("time", &until)]), None),
    };
    std::iter::once(line).chain(decision.and_then(noted)).collect()
}

/// `/.portcullis/approvals`: requests the signed-in user made or may decide.
pub async fn list(ctx: &Ctx<'_>) -> Page {
    let Some((_, session)) = ctx.signed_in().await? else {
        return Ok(sign_in_first(APPROVALS));
    };
    let (policy, now, user) = (ctx.at.policy, ctx.at.now, session.user.as_str());
    let records = approval::list(&ctx.signin.store, now).await?;
    let rows = (records.iter())
        .filter(|r| r.held.user == user || approval::may_decide(policy, &r.held, user, now).is_ok())
        .map(|r| Row {
            link: page_of(&r.held.reference),
            request: format!("{} {}", r.held.method, r.held.path()),
            asked_by: r.held.user.clone(),
            held_at: when(r.held.held_at),
            state: r.state.word(),
        })
        .collect();
    let page = ListPage {
        frame: ctx.frame(&ctx.t.approval_list_title, Links::Account),
        rows,
    };
    Ok(views::html(StatusCode::OK, &page))
}

/// Email everyone who may approve `record` (with an address) a link to it.
pub fn tell_approvers(
    signin: &SignIn,
    policy: &Policy,
    t: &Texts,
    record: &Record,
    (company, host): (&str, Option<&str>),
    now: SystemTime,
) {
    let held = &record.held;
    let to: Vec<String> = (policy.users.values())
        .filter(|u| approval::may_decide(policy, held, &u.name, now).is_ok())
        .filter_map(|u| u.email.clone())
        .collect();
    let link = link(host, &held.reference);
    let (path, until) = (held.path(), when(held.expires_at));
    let reason = record.reason.clone().unwrap_or_else(|| t.approval_no_reason.clone());
    let words = [
        ("user", held.user.as_str()),
        ("method", &held.method),
        ("path", path),
        ("company", company),
        ("address", &held.address.to_string()),
        ("client", &held.client_type),
        ("reason", &reason),
        ("link", &link),
        ("time", &until),
    ];
    signin.notify(
        to,
        fill(&t.approval_mail_subject, &words),
        fill(&t.approval_mail_body, &words),
    );
}

/// Email the requester (if they have an address) what became of it.
fn tell_requester(ctx: &Ctx<'_>, policy: &Policy, held: &Held, decision: &approval::Decision) {
    let Some(to) = policy.users.get(&held.user).and_then(|u| u.email.clone()) else {
        return;
    };
    let t = ctx.t;
    let link = link(ctx.host.as_deref(), &held.reference);
    let until = when(held.expires_at);
    let words = [
        ("by", decision.by.as_str()),
        ("method", &held.method),
        ("path", held.path()),
        ("note", &decision.note),
        ("link", &link),
        ("time", &until),
    ];
    let (subject, body) = match decision.approved {
        true => (&t.approval_approved_subject, &t.approval_approved_mail),
        false => (&t.approval_rejected_subject, &t.approval_rejected_mail),
    };
    ctx.signin.notify(vec![to], fill(subject, &words), fill(body, &words));
}

fn link(host: Option<&str>, reference: &str) -> String {
    match host {
        Some(host) => format!("https://{host}{}", page_of(reference)),
        None => page_of(reference),
    }
}

/// Seconds since the epoch as `2026-12-04 09:30:00 UTC`.
fn when(secs: u64) -> String {
    let at = humantime::format_rfc3339_seconds(from_secs(secs)).to_string();
    format!("{} UTC", at.replace('T', " ").trim_end_matches('Z'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_reference_shaped_path_names_a_held_request() {
        assert_eq!(reference_in("/.portcullis/approvals/K7QM-2HXD"), Some("K7QM-2HXD"));
        assert_eq!(reference_in("/.portcullis/approvals/K7QM-2HXD/send"), Some("K7QM-2HXD"));
        assert_eq!(reference_in("/.portcullis/approvals"), None);
        assert_eq!(reference_in("/.portcullis/approvals/K7QM-2HXD/other"), None);
        assert_eq!(reference_in("/.portcullis/approvals/..%2F"), None);
        assert_eq!(when(0), "1970-01-01 00:00:00 UTC");
    }
}
