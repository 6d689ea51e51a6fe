//! What the pipeline's phases ask of a request: the host it names, whether
//! it is a WebSocket handshake, whether its form must be read before
//! deciding (and reading it), the path it is forwarded with, and where a
//! browser is sent to sign in.

use http::header::{HeaderValue, CONNECTION, HOST, UPGRADE};
use http::{Method, Request, Response, Version};
use http_body_util::BodyExt;

use super::framing::Malformed;
use super::{Body, GatewayError};
use crate::config::{hosts, Config};
use crate::policy::reading::{self, FormBody, Reading};
use crate::policy::{self, Facts, Policy, Principal, Refusal};

/// Everything the phases learn about one request, passed along instead of
/// kept in globals.
#[derive(Debug)]
pub struct RequestContext {
    pub id: crate::request_id::RequestId,
    pub peer: std::net::SocketAddr,
    pub client: super::client_ip::ClientAddr,
    /// The client type, once identified (for metrics).
    pub client_type: Option<crate::policy::ClientTypeId>,
    /// What the gateway did with the request (for metrics and the access log).
    pub outcome: crate::metrics::Outcome,
    /// Who was signed in (for the access log).
    pub user: Option<String>,
    /// The request asked to upgrade: unless it became a tunnel, the
    /// connection closes after the answer (the guard held back what followed).
    pub upgrade_requested: bool,
    /// The approved request a requester's "Send" turned this one into.
    pub released: Option<Box<super::hold::Released>>,
}

/// `uri` with its path replaced and its query kept.
pub(super) fn with_path(uri: &http::Uri, path: &str) -> Result<http::Uri, GatewayError> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|_| reading::Unreadable::Path(policy::path::PathError::BadEscape))?,
    );
    http::Uri::from_parts(parts).map_err(|_| reading::Unreadable::Path(policy::path::PathError::BadEscape).into())
}

/// The user's name and groups, for the identity headers.
pub(super) fn identity_of(policy: &Policy, user: &str) -> (String, String) {
    let groups = policy
        .users
        .get(user)
        .map(|u| {
            u.groups
                .iter()
                .map(|g| policy.group_name(*g))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    (user.to_owned(), groups)
}

/// Send the browser to a portal page (login, step-up), to come back here after.
pub(super) fn back_after(uri: &http::Uri, page: &str) -> Response<http_body_util::Full<bytes::Bytes>> {
    let back = uri.path_and_query().map_or("/", |p| p.as_str());
    let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
    let mut response = Response::new(http_body_util::Full::new(bytes::Bytes::new()));
    *response.status_mut() = http::StatusCode::SEE_OTHER;
    if let Ok(location) = HeaderValue::from_str(&format!("{page}?next={next}")) {
        response.headers_mut().insert(http::header::LOCATION, location);
    }
    response
}

/// The host a request asks for: its `Host`, which must agree with the
/// authority of an absolute-form target or HTTP/2's `:authority`.
pub(super) fn requested_host<B>(req: &Request<B>) -> Result<HeaderValue, GatewayError> {
    let header = req.headers().get(HOST);
    let authority = req.uri().authority().map(|a| a.as_str());
    match (header, authority) {
        (Some(h), Some(a)) if h.as_bytes().eq_ignore_ascii_case(a.as_bytes()) => Ok(h.clone()),
        (Some(_), Some(_)) => Err(Malformed::Authority.into()),
        (Some(h), None) => Ok(h.clone()),
        (None, Some(a)) => HeaderValue::from_str(a).map_err(|_| Malformed::Authority.into()),
        (None, None) => Err(Malformed::NoHost.into()),
    }
}

/// The host as rules compare it, if the gateway serves it.
pub(super) fn served<'h>(config: &Config, host: &'h HeaderValue) -> Result<std::borrow::Cow<'h, str>, GatewayError> {
    let text = host.to_str().unwrap_or("");
    match hosts::canonical(text) {
        Some(name) if config.listen.hosts.serves(&name) => Ok(name),
        _ => Err(GatewayError::NotServed(
            String::from_utf8_lossy(host.as_bytes()).into_owned(),
        )),
    }
}

/// Is this a WebSocket handshake that may become a tunnel? Any other
/// upgrade, or a handshake that is not one, is refused; the framing guard
/// refuses most on the wire already.
pub(super) fn websocket_handshake<B: http_body::Body>(req: &Request<B>, asked: bool) -> Result<bool, GatewayError> {
    let Some(upgrade) = req.headers().get(UPGRADE).filter(|_| asked) else {
        return Ok(false);
    };
    let h = req.headers();
    let connection_upgrade = h
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let handshake = req.version() == Version::HTTP_11
        && req.method() == Method::GET
        && upgrade.as_bytes().eq_ignore_ascii_case(b"websocket")
        && connection_upgrade
        && h.contains_key("sec-websocket-key")
        && h.get("sec-websocket-version").is_some_and(|v| v == "13")
        && req.body().is_end_stream();
    match handshake {
        true => Ok(true),
        false => Err(Malformed::Upgrade.into()),
    }
}

/// The form body some framework could read a method override from, if
/// the request has one (whether it must be read is [`method_matters`]).
pub(super) fn form_body<B: http_body::Body>(req: &Request<B>) -> Option<FormBody> {
    if req.body().is_end_stream() {
        return None;
    }
    FormBody::of(req.headers())
}

/// Would another method change what the policy says of an allowed
/// request (so that an override the CRM reads could slip past a rule)?
pub(super) fn method_matters(
    policy: &Policy,
    ip: std::net::IpAddr,
    client: policy::ClientTypeId,
    reading: &Reading<'_>,
    principal: &Principal<'_>,
    now: std::time::SystemTime,
) -> bool {
    let allowed = policy::decide_reading(policy, ip, client, reading, principal, now)
        .0
        .is_ok();
    allowed && policy::depends_on_method(policy, ip, client, reading, principal, now)
}

/// Read a form body whole (it is small, or refused), within the body timeout.
pub(super) async fn inspect(body: Body, limits: &crate::config::Limits) -> Result<bytes::Bytes, GatewayError> {
    let limit = limits.max_inspected_body_bytes;
    read_whole(body, limit, limits, GatewayError::InspectedBodyTooLarge).await
}

/// Read a body whole if it is at most `limit` bytes (else `too_large`),
/// within the body timeout.
pub(super) async fn read_whole(
    body: Body,
    limit: usize,
    limits: &crate::config::Limits,
    too_large: fn(usize) -> GatewayError,
) -> Result<bytes::Bytes, GatewayError> {
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(limits.body_read_timeout, limited.collect()).await {
        Err(_) => Err(GatewayError::BadBody(format!(
            "the client sent no body for {:?}",
            limits.body_read_timeout
        ))),
        Ok(Err(err)) if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large(limit)),
        Ok(Err(err)) => Err(GatewayError::BadBody(err.to_string())),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// A decision other than Allow, as the error that renders its page; a
/// denial is audited with the setting that made it.
pub(super) fn refused(
    policy: &Policy,
    refusal: Refusal,
    facts: &Facts<'_>,
    reading: &Reading<'_>,
    principal: &Principal<'_>,
    request_id: crate::request_id::RequestId,
) -> GatewayError {
    let user = principal.name();
    let why = policy.explain_reading(&Err(refusal.clone()), facts, reading, user);
    match refusal {
        Refusal::Deny(deny) => {
            audit_refusal("request.denied", policy, facts, (user, request_id), &why);
            GatewayError::Denied {
                deny,
                signed_in: user.is_some(),
                why,
            }
        }
        Refusal::Login => GatewayError::LoginRequired,
        Refusal::StepUp { .. } => GatewayError::StepUpRequired,
    }
}

/// A refusal in the audit trail: `request.denied`, or `request.would_deny`
/// for a report-only rule's.
pub(super) fn audit_refusal(
    event: &'static str,
    policy: &Policy,
    facts: &Facts<'_>,
    (user, request_id): (Option<&str>, crate::request_id::RequestId),
    reason: &str,
) {
    tracing::info!(
        target: "audit",
        event,
        request_id = %request_id,
        user = user.unwrap_or("-"),
        client_ip = %facts.ip,
        client_type = %policy.client_types[facts.client].name,
        method = %facts.method,
        path = facts.path,
        reason,
    );
}

/// The live session named by the request's cookie, if any. A store that
/// does not answer fails the request (closed), not the check (open).
pub(super) async fn session_of(
    signin: Option<&crate::signin::SignIn>,
    req: &Request<Body>,
    policy: &Policy,
    client: policy::ClientTypeId,
    now: std::time::SystemTime,
) -> Result<Option<crate::session::Session>, GatewayError> {
    let Some(signin) = signin else { return Ok(None) };
    if policy.client_types[client].login == crate::config::raw::LoginMode::Passthrough {
        return Ok(None);
    }
    let cookie = crate::portal::cookies::get(req.headers(), crate::portal::cookies::SESSION);
    let Some(id) = cookie.as_deref().and_then(crate::session::SessionId::from_cookie) else {
        return Ok(None);
    };
    match signin.sessions.resume(&id, now).await {
        Ok(Ok(session)) => Ok(Some(session)),
        Ok(Err(ended)) => {
            if let Some(why) = ended {
                tracing::info!(target: "audit", event = "session.ended", session = %id.handle().0, why = ?why);
            }
            Ok(None)
        }
        Err(err) => Err(GatewayError::StoreUnavailable(err.to_string())),
    }
}
