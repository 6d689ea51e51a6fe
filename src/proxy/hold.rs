//! Phase 4c: four-eyes approval (see [`crate::approval`]).
//!
//! A request that route rules with `approval` let through is held: its
//! body read (up to the rule's limit), kept in the store with its headers,
//! the approvers told, and the requester sent to its page. Once it is
//! approved, the requester's "Send" (`POST /.portcullis/approvals/REF/send`)
//! becomes that request again, which goes through every phase anew, under
//! the policy, address and session of that moment. Held by the same rules,
//! it is marked sent (once, across gateways) and goes on to the CRM.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Either, Full, Limited};

use super::request::RequestContext;
use super::{Body, GatewayError};
use crate::approval::{self, Held, Record, State};
use crate::live::Live;
use crate::policy::{Deny, Permit, RouteId};
use crate::session::Session;
use crate::signin::SignIn;

/// Headers that are the browser's at the time it sends, not the held ones'.
const NOT_KEPT: [&str; 2] = ["cookie", "x-forwarded-for"];

/// Headers about the connection it came on, not the request: the body is
/// whole when it goes, so its length is known then.
const OF_THE_CONNECTION: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "expect",
];

/// An approved request on its way: what "Send" released.
#[derive(Debug)]
pub struct Released {
    record: Record,
}

/// What phase 4c did: `Go` on with the request, or answer with a page.
pub(super) enum Holding {
    Go(Request<Body>),
    Answer(Response<Full<Bytes>>),
}

/// Hold `req` if approval rules let it through; else give it back. An
/// approved request coming back is marked sent here, before it goes on.
pub(super) async fn hold_if_asked(
    signin: Option<&SignIn>,
    live: &Live,
    permit: &Permit,
    req: Request<Body>,
    (ctx, asked_by_proxy): (&RequestContext, bool),
    now: SystemTime,
) -> Result<Holding, GatewayError> {
    let policy = &live.policy;
    let rules: Vec<RouteId> = (permit.guarded().iter().copied())
        .filter(|r| policy.routes[*r].approval.is_some())
        .collect();
    let words: Vec<String> = rules.iter().map(|r| policy.approval_rule(*r)).collect();
    let Some(signin) = signin else {
        return match rules.is_empty() {
            true => Ok(Holding::Go(req)),
            false => Err(GatewayError::StoreUnavailable(
                "held requests wait in the store, and there is none".into(),
            )),
        };
    };
    if let Some(released) = &ctx.released {
        // Marked sent just before it goes (see [`claim`]).
        return match words.iter().all(|w| released.record.held.rules.contains(w)) {
            true => Ok(Holding::Go(req)),
            false => Err(GatewayError::NotSendable("held by rules that have changed since")),
        };
    }
    if rules.is_empty() {
        return Ok(Holding::Go(req));
    }
    if asked_by_proxy {
        // The proxy holds the request, so the gateway cannot: refuse.
        return Err(GatewayError::Denied {
            deny: Deny::RouteDenied { route: rules[0] },
            signed_in: ctx.user.is_some(),
            why: format!(
                "routes[{}] holds requests for approval, which a proxy's question cannot be",
                rules[0].index()
            ),
        });
    }
    let Some(user) = ctx.user.clone() else {
        let route = rules[0];
        return Err(GatewayError::Denied {
            deny: Deny::RouteNeedsLogin { route },
            signed_in: false,
            why: format!(
                "routes[{}] holds requests for approval, and nobody is signed in",
                route.index()
            ),
        });
    };
    let approvals = rules.iter().filter_map(|r| policy.routes[*r].approval.as_ref());
    let limit = approvals.clone().map(|a| a.max_body_bytes).min().unwrap_or(0);
    let valid_for = approvals.clone().map(|a| a.valid_for).min().unwrap_or(Duration::ZERO);
    let (parts, body) = req.into_parts();
    let body = super::request::read_whole(body, limit, &live.config.limits, GatewayError::HeldBodyTooLarge).await?;
    let mut headers = Vec::new();
    let kept = |name: &str| !NOT_KEPT.contains(&name) && !OF_THE_CONNECTION.contains(&name);
    for (name, value) in parts.headers.iter().filter(|(n, _)| kept(n.as_str())) {
        let value = std::str::from_utf8(value.as_bytes())
            .map_err(|_| GatewayError::BadBody(format!("header {name} is not text, and a held request keeps text")))?;
        headers.push((name.as_str().to_owned(), value.to_owned()));
    }
    let secs = |at: SystemTime| at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let group_names = |a: &crate::policy::Approval| a.by.iter().map(|g| policy.groups[*g].name.clone()).collect();
    let held = Held {
        reference: approval::new_reference(),
        user,
        address: ctx.client.ip,
        client_type: ctx
            .client_type
            .map_or("-".into(), |c| policy.client_types[c].name.clone()),
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers,
        body: Held::encode_body(&body),
        held_at: secs(now),
        expires_at: secs(now + valid_for),
        rules: words,
        by: approvals.clone().map(group_names).collect(),
        reason_required: approvals.clone().any(|a| a.reason_required),
    };
    approval::hold(&signin.store, &held, now)
        .await
        .map_err(|e| GatewayError::StoreUnavailable(e.to_string()))?;
    tracing::info!(target: "audit", event = "approval.held", request_id = %ctx.id, reference = %held.reference,
        user = %held.user, client_ip = %held.address, client_type = %held.client_type,
        method = %held.method, path = %held.logged_path(), routes = ?rules.iter().map(|r| r.index()).collect::<Vec<_>>());
    let page = crate::portal::approvals::page_of(&held.reference);
    if !held.reason_required {
        let host = parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok());
        let host = parts.uri.authority().map(|a| a.as_str()).or(host);
        let language = parts
            .headers
            .get(http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let auth = &live.config.auth;
        let t = auth.texts.for_accept_language(language);
        let record = Record {
            held,
            reason: None,
            state: State::Waiting,
        };
        crate::portal::approvals::tell_approvers(signin, policy, t, &record, (&auth.company, host), now);
    }
    Ok(Holding::Answer(crate::portal::redirect(&page)))
}

/// An approved request about to go is marked sent, once across every
/// gateway: a second "Send" finds it sent.
pub(super) async fn claim(signin: Option<&SignIn>, ctx: &RequestContext, now: SystemTime) -> Result<(), GatewayError> {
    let (Some(released), Some(signin)) = (&ctx.released, signin) else {
        return Ok(());
    };
    let sent = approval::claim_send(&signin.store, &released.record, now).await;
    match sent.map_err(|e| GatewayError::StoreUnavailable(e.to_string()))? {
        true => Ok(()),
        false => Err(GatewayError::NotSendable("sent already")),
    }
}

/// `POST /.portcullis/approvals/REF/send` by the requester of an approved
/// request: that request, as held, with the browser's cookies and
/// forwarded address of now.
pub(super) async fn release(
    signin: Option<&SignIn>,
    req: Request<Body>,
    session: Option<&Session>,
    now: SystemTime,
) -> Result<(Request<Body>, Box<Released>), GatewayError> {
    let Some(signin) = signin else {
        return Err(GatewayError::NotFound);
    };
    let (parts, body) = req.into_parts();
    let form = Limited::new(body, 16 * 1024)
        .collect()
        .await
        .map_err(|_| GatewayError::FormTooLarge)?
        .to_bytes();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&form).into_owned().collect();
    if !crate::portal::cookies::csrf_ok(&parts.headers, &pairs) {
        return Err(GatewayError::Csrf);
    }
    let reference = crate::portal::approvals::reference_in(parts.uri.path()).unwrap_or_default();
    let record = approval::load(&signin.store, reference, now)
        .await
        .map_err(|e| GatewayError::StoreUnavailable(e.to_string()))?;
    // Only its requester sends it; to anyone else it does not exist.
    let Some(record) = record.filter(|r| session.is_some_and(|s| s.user == r.held.user)) else {
        return Err(GatewayError::NotFound);
    };
    if !matches!(record.state, State::Approved(_)) {
        return Err(GatewayError::NotSendable(record.state.word()));
    }
    let held = &record.held;
    let mut request = Request::builder().method(held.method.as_str()).uri(held.uri.as_str());
    for (name, value) in &held.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    for name in NOT_KEPT {
        for value in parts.headers.get_all(name) {
            request = request.header(name, value);
        }
    }
    let body = Either::Right(Full::new(Bytes::from(held.body_bytes())));
    let request = request
        .body(body)
        .map_err(|e| GatewayError::BadBody(format!("the held request no longer reads: {e}")))?;
    Ok((request, Box::new(Released { record })))
}

/// The audit trail's word on a released request's answer.
pub(super) fn forwarded(released: &Released, answer: &Result<Response<Body>, GatewayError>) {
    let held = &released.record.held;
    let by = match &released.record.state {
        State::Approved(decision) => decision.by.as_str(),
        _ => "-",
    };
    let status = match answer {
        Ok(response) => response.status().as_u16().to_string(),
        Err(err) => err.to_string(),
    };
    tracing::info!(target: "audit", event = "approval.forwarded", reference = %held.reference,
        user = %held.user, approved_by = by, method = %held.method, path = %held.logged_path(), status);
}
