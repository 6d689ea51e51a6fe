//! The login interstitial: username and password, then a second factor,
//! then a session.
//!
//! ```text
//!  GET /login ──▶ form ──POST──▶ CSRF ok? locked? account and network allowed?
//!                                password right? ──no──▶ same generic failure
//!                                      │ yes
//!                                      ▼
//!                          pending login (5 min) ──▶ GET/POST /second-factor
//!                                      │ TOTP (unused step) or recovery code
//!                                      ▼
//!                          session cookie ──▶ back to `next`
//! ```
//!
//! Every failure shows the same words and costs the same time (an unknown
//! user's password is checked against a dummy hash). Failures count per
//! user name and per address in the store, so every gateway sharing it
//! locks together; a lock grows with each further failure.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{COOKIE, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::codes::{self, code_form, Notice, Offers, Purpose};
use super::page::{escape, render};
use crate::auth::credentials::{Credentials, SecretsKey};
use crate::auth::delivery::Delivery;
use crate::auth::password::{Hasher, Password};
use crate::config::codes::CodeSettings;
use crate::config::Config;
use crate::policy::{self, Deny, Facts, Policy, Principal, Refusal};
use crate::proxy::GatewayError;
use crate::session::{Ended, LastLogin, Limits, Session, SessionHandle, SessionId, SessionService, Sessions};
use crate::store::{Store, StoreError};

pub const SESSION_COOKIE: &str = "__Host-portcullis";
const LOGIN_COOKIE: &str = "__Host-portcullis-login";
pub(super) const CSRF_COOKIE: &str = "__Host-portcullis-csrf";
/// Every cookie of ours starts so; none is forwarded to the CRM.
pub const COOKIE_PREFIX: &str = "__Host-portcullis";

const FAILED: &str = "The username, password or code is not right.";
pub(super) const LOCKED: &str = "Too many attempts. Wait a while, then try again.";
const IN_USE_ELSEWHERE: &str =
    "Your account is signed in from another place. Sign out there (or ask your administrator), then try again.";
const PENDING_TTL: Duration = Duration::from_secs(300);
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
const MAX_USER_FAILURES: u64 = 5;
const MAX_ADDRESS_FAILURES: u64 = 20;
const MAX_FORM_BYTES: usize = 16 * 1024;

/// What signing in needs: the sessions, the store, the key that opens TOTP
/// secrets, the password hasher, and how codes are sent.
pub struct Login {
    pub store: Arc<Store>,
    pub service: Arc<SessionService>,
    key: SecretsKey,
    pub hasher: Hasher,
    pub limits: Limits,
    company: String,
    /// Sends codes by email and SMS.
    pub delivery: Delivery,
    pub codes: CodeSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginSetupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Credentials(#[from] crate::auth::credentials::CredentialError),
    #[error(transparent)]
    Hash(#[from] crate::auth::password::HashError),
    #[error(transparent)]
    Delivery(#[from] crate::auth::delivery::SendError),
}

impl Login {
    pub fn open(config: &Config, service: Arc<SessionService>) -> Result<Login, LoginSetupError> {
        Ok(Login {
            store: service.store.clone(),
            key: SecretsKey::load(&config.auth.secrets_key)?,
            hasher: Hasher::new(config.auth.argon2_memory_kib, config.auth.argon2_iterations, 1)?,
            limits: config.sessions,
            company: config.auth.company.clone(),
            delivery: Delivery::new(&config.codes)?,
            codes: config.codes.clone(),
            service,
        })
    }

    pub async fn resume(&self, id: &SessionId, now: SystemTime) -> Result<Result<Session, Option<Ended>>, StoreError> {
        self.service.resume(id, now).await
    }

    pub async fn create(
        &self,
        user: &str,
        client_type: &str,
        ip: IpAddr,
        now: SystemTime,
    ) -> Result<(SessionId, Vec<SessionHandle>), StoreError> {
        self.service.create(user, client_type, ip, now).await
    }

    pub async fn revoke(&self, user: &str, handle: &SessionHandle) -> Result<(), StoreError> {
        self.service.revoke(user, handle).await
    }

    pub async fn revoke_all(&self, user: &str) -> Result<Vec<SessionHandle>, StoreError> {
        self.service.revoke_all(user).await
    }

    pub async fn stepped_up(&self, id: &SessionId, now: SystemTime) -> Result<(), StoreError> {
        self.service.stepped_up(id, now).await
    }

    pub fn sessions(&self) -> Sessions<'_> {
        self.service.sessions()
    }

    pub fn key(&self) -> &SecretsKey {
        &self.key
    }

    /// Shown on the pages and in authenticator apps.
    pub fn company(&self) -> &str {
        &self.company
    }
}

/// A login whose password was right, waiting for its second factor.
#[derive(Serialize, Deserialize)]
pub(super) struct Pending {
    pub user: String,
    pub client_type: String,
    pub next: String,
}

fn pending_key(flow: &SessionId) -> String {
    format!("login:{}", flow.handle().0)
}

/// The sign-in under way in this browser (its flow cookie), if any.
pub(super) async fn pending_login(
    login: &Login,
    headers: &HeaderMap,
) -> Result<Option<(SessionId, Pending)>, GatewayError> {
    let Some(flow) = cookie(headers, LOGIN_COOKIE).and_then(SessionId::from_cookie) else {
        return Ok(None);
    };
    let bytes = login.store.get(&pending_key(&flow)).await.map_err(store_error)?;
    Ok(bytes
        .and_then(|b| serde_json::from_slice(&b).ok())
        .map(|pending| (flow, pending)))
}

/// The request facts a login step needs.
pub struct Attempt<'a> {
    pub ip: IpAddr,
    pub client: crate::policy::ClientTypeId,
    pub policy: &'a Policy,
    pub now: SystemTime,
    pub request_id: crate::proxy::request_id::RequestId,
    pub metrics: &'a crate::metrics::Metrics,
}

/// `/.portcullis/login`
pub async fn login(
    login: &Login,
    req: Request<Incoming>,
    at: &Attempt<'_>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    // From a network no rule lets in, not even the form is shown.
    let anyone = Facts {
        ip: at.ip,
        client: at.client,
        method: &Method::GET,
        path: "/",
    };
    if let Err(Refusal::Deny(deny @ Deny::NoAccountFromNetwork)) =
        policy::decide(at.policy, &anyone, &Principal::Anonymous, at.now)
    {
        return Err(GatewayError::Denied {
            message: deny.user_message(at.ip, false),
            why: format!("login page asked for from {}, which no rule lets in", at.ip),
        });
    }
    let next = safe_next(query_value(&req, "next").as_deref());
    if req.method() != Method::POST {
        return Ok(login_form(req.headers(), &login.company, &next, None));
    }
    let (headers, form) = read_form(req).await?;
    if !csrf_ok(&headers, &form) {
        return Err(GatewayError::Csrf);
    }
    let next = safe_next(form_value(&form, "next"));
    let user = form_value(&form, "username").unwrap_or("").trim().to_owned();
    let password = Password::new(form_value(&form, "password").unwrap_or(""));
    if is_locked(&login.store, &user, at.ip).await? {
        audit_failure(at, &user, "locked");
        return Ok(login_form(&headers, &login.company, &next, Some(LOCKED)));
    }
    // Account and network first: an offboarded user or a wrong network
    // stops here, before any second factor is asked.
    let allowed = account_allowed(at, &user);
    let credentials = if allowed {
        Credentials::load(&login.store, &user).await.map_err(store_error)?
    } else {
        None
    };
    let password_ok = match credentials.as_ref().and_then(|c| c.password.as_deref()) {
        Some(hash) => login.hasher.verify(&password, hash),
        None => login.hasher.verify_nobody(&password),
    };
    // Some second factor must be possible: enrolled TOTP, a code the
    // gateway can send, or recovery codes left.
    let enrolled = Offers::for_user(login, at, &user, credentials.as_ref()).any()
        || credentials.as_ref().is_some_and(|c| !c.recovery.is_empty());
    if !(allowed && password_ok && enrolled) {
        let reason = if !allowed {
            "account or network not allowed"
        } else if !password_ok {
            "wrong password"
        } else {
            "no second factor enrolled"
        };
        audit_failure(at, &user, reason);
        count_failure(&login.store, &user, at).await?;
        return Ok(login_form(&headers, &login.company, &next, Some(FAILED)));
    }
    let flow = SessionId::generate();
    let pending = Pending {
        user,
        client_type: at.policy.client_types[at.client].name.clone(),
        next,
    };
    let bytes = serde_json::to_vec(&pending).map_err(|e| GatewayError::StoreUnavailable(e.to_string()))?;
    (login.store.set(&pending_key(&flow), &bytes, Some(PENDING_TTL)).await).map_err(store_error)?;
    let mut response = redirect("/.portcullis/second-factor");
    set_cookie(
        &mut response,
        LOGIN_COOKIE,
        &flow.to_cookie(),
        "Strict",
        Some(PENDING_TTL),
    );
    Ok(response)
}

/// `/.portcullis/second-factor`
pub async fn second_factor(
    login: &Login,
    req: Request<Incoming>,
    at: &Attempt<'_>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    let Some((flow, pending)) = pending_login(login, req.headers()).await? else {
        return Ok(redirect("/.portcullis/login"));
    };
    let credentials = Credentials::load(&login.store, &pending.user)
        .await
        .map_err(store_error)?;
    let offers = Offers::for_user(login, at, &pending.user, credentials.as_ref());
    if req.method() != Method::POST {
        return Ok(code_form(
            req.headers(),
            login,
            Purpose::Login,
            "/",
            &offers,
            Notice::none(),
        ));
    }
    let (headers, form) = read_form(req).await?;
    if !csrf_ok(&headers, &form) {
        return Err(GatewayError::Csrf);
    }
    let form_again = |error| code_form(&headers, login, Purpose::Login, "/", &offers, Notice::error(error));
    if is_locked(&login.store, &pending.user, at.ip).await? {
        audit_failure(at, &pending.user, "locked");
        return Ok(form_again(LOCKED));
    }
    let code = form_value(&form, "code").unwrap_or("");
    let scope = codes::scope(Purpose::Login, &flow.handle().0);
    let accepted = codes::check_code(login, at, &pending.user, &scope, code).await?;
    // The account may have been disabled, or the network changed, meanwhile.
    if !accepted || !account_allowed(at, &pending.user) {
        let reason = if accepted {
            "account or network not allowed"
        } else {
            "wrong code"
        };
        codes::wrong_code(login, at, &pending.user, reason).await?;
        return Ok(form_again(FAILED));
    }
    // One account live from two places at once: a sign of a shared login.
    let elsewhere = login
        .sessions()
        .list(&pending.user, at.now)
        .await
        .map_err(store_error)?
        .into_iter()
        .find(|(_, s)| !same_network(s.ip, at.ip));
    if let Some((_, other)) = elsewhere {
        at.metrics.sharing_signals.inc();
        let refuse = login.limits.refuse_sharing;
        tracing::warn!(
            target: "audit",
            event = "account.sharing_suspected",
            user = %pending.user,
            client_ip = %at.ip,
            other_session_ip = %other.ip,
            action = if refuse { "sign-in refused" } else { "allowed" },
        );
        if refuse {
            audit_failure(at, &pending.user, "account in use from another network");
            return Ok(form_again(IN_USE_ELSEWHERE));
        }
    }
    // The pending login is used up: taking it fails for a second racer.
    if login
        .store
        .take(&pending_key(&flow))
        .await
        .map_err(store_error)?
        .is_none()
    {
        return Ok(redirect("/.portcullis/login"));
    }
    let (session, ended) = login
        .create(&pending.user, &pending.client_type, at.ip, at.now)
        .await
        .map_err(store_error)?;
    tracing::info!(
        target: "audit",
        event = "login.success",
        request_id = %at.request_id,
        user = %pending.user,
        client_ip = %at.ip,
        client_type = %pending.client_type,
        session = %session.handle().0,
        ended_sessions = ended.len(),
    );
    at.metrics.logins.inc();
    // For access reviews only: the sign-in stands if this cannot be written.
    if let Err(err) = LastLogin::record(&login.store, &pending.user, at.ip, &pending.client_type, at.now).await {
        tracing::warn!(user = %pending.user, error = %err, "cannot record the last sign-in");
    }
    let mut response = redirect(&pending.next);
    set_cookie(&mut response, SESSION_COOKIE, &session.to_cookie(), "Lax", None);
    set_cookie(&mut response, LOGIN_COOKIE, "", "Strict", Some(Duration::ZERO));
    Ok(response)
}

/// `/.portcullis/step-up`: a signed-in user confirms a second factor again
/// before a route that asks for a fresh one (`step_up` in a route rule).
pub async fn step_up(
    login: &Login,
    req: Request<Incoming>,
    at: &Attempt<'_>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    let Some((id, session)) = signed_in(login, req.headers(), at).await? else {
        return Ok(redirect("/.portcullis/login"));
    };
    let credentials = Credentials::load(&login.store, &session.user)
        .await
        .map_err(store_error)?;
    let offers = Offers::for_user(login, at, &session.user, credentials.as_ref());
    if req.method() != Method::POST {
        let next = safe_next(query_value(&req, "next").as_deref());
        return Ok(code_form(
            req.headers(),
            login,
            Purpose::StepUp,
            &next,
            &offers,
            Notice::none(),
        ));
    }
    let (headers, form) = read_form(req).await?;
    if !csrf_ok(&headers, &form) {
        return Err(GatewayError::Csrf);
    }
    let next = safe_next(form_value(&form, "next"));
    let form_again = |error| code_form(&headers, login, Purpose::StepUp, &next, &offers, Notice::error(error));
    if is_locked(&login.store, &session.user, at.ip).await? {
        audit_failure(at, &session.user, "locked");
        return Ok(form_again(LOCKED));
    }
    let code = form_value(&form, "code").unwrap_or("");
    let scope = codes::scope(Purpose::StepUp, &id.handle().0);
    if !codes::check_code(login, at, &session.user, &scope, code).await? {
        codes::wrong_code(login, at, &session.user, "wrong step-up code").await?;
        return Ok(form_again(FAILED));
    }
    login.stepped_up(&id, at.now).await.map_err(store_error)?;
    tracing::info!(target: "audit", event = "step_up.success", user = %session.user, client_ip = %at.ip, session = %id.handle().0);
    Ok(redirect(&next))
}

/// `/.portcullis/sessions`: the user's sessions, and ending any of the others
/// (the office PC left signed in, ended from a phone).
pub async fn sessions(
    login: &Login,
    req: Request<Incoming>,
    at: &Attempt<'_>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    let Some((id, current)) = signed_in(login, req.headers(), at).await? else {
        return Ok(redirect("/.portcullis/login?next=%2F.portcullis%2Fsessions"));
    };
    let this = id.handle();
    if req.method() == Method::POST {
        let (headers, form) = read_form(req).await?;
        if !csrf_ok(&headers, &form) {
            return Err(GatewayError::Csrf);
        }
        let listed = login
            .sessions()
            .list(&current.user, at.now)
            .await
            .map_err(store_error)?;
        let chosen = form_value(&form, "end").unwrap_or("");
        for (handle, _) in listed
            .iter()
            .filter(|(h, _)| *h != this && (chosen == "others" || h.0 == chosen))
        {
            login.revoke(&current.user, handle).await.map_err(store_error)?;
            tracing::info!(target: "audit", event = "session.revoked", user = %current.user, session = %handle.0, why = "ended by the user");
        }
        return Ok(redirect("/.portcullis/sessions"));
    }
    let token = csrf_for(req.headers());
    let listed = login
        .sessions()
        .list(&current.user, at.now)
        .await
        .map_err(store_error)?;
    let when = |secs: u64| {
        humantime::format_rfc3339_seconds(from_secs(secs))
            .to_string()
            .replace('T', " ")
    };
    let rows: String = listed
        .iter()
        .map(|(handle, s)| {
            let action = if *handle == this {
                "<td>this one</td>".to_string()
            } else {
                format!(
                    "<td><form method=\"post\"><input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
                     <button name=\"end\" value=\"{}\">End</button></form></td>",
                    escape(&handle.0)
                )
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{action}</tr>",
                escape(&s.client_type),
                s.ip,
                when(s.created),
                when(s.last_seen)
            )
        })
        .collect();
    let body = format!(
        "<p>Where {user} is signed in (times in UTC).</p>\
         <table class=\"sessions\"><tr><th>Client</th><th>Address</th><th>Signed in</th><th>Last seen</th><th></th></tr>{rows}</table>\
         <form method=\"post\"><input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
         <button name=\"end\" value=\"others\">End all other sessions</button></form>\
         <p><a href=\"/.portcullis/account\">Your account</a> · <a href=\"/.portcullis/logout\">Sign out here</a></p>",
        user = escape(&current.user),
    );
    let mut response = render(StatusCode::OK, "Your sessions", &body);
    set_cookie(&mut response, CSRF_COOKIE, &token, "Strict", None);
    Ok(response)
}

/// `/.portcullis/logout`: a confirmation form, then the session ends.
pub async fn logout(
    login: &Login,
    req: Request<Incoming>,
    at: &Attempt<'_>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    if req.method() != Method::POST {
        let token = csrf_for(req.headers());
        let body = format!(
            "<form method=\"post\" action=\"/.portcullis/logout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{token}\"><button type=\"submit\">Sign out</button></form>"
        );
        let mut response = render(StatusCode::OK, "Sign out", &body);
        set_cookie(&mut response, CSRF_COOKIE, &token, "Strict", None);
        return Ok(response);
    }
    let session = cookie(req.headers(), SESSION_COOKIE).and_then(SessionId::from_cookie);
    let (headers, form) = read_form(req).await?;
    if !csrf_ok(&headers, &form) {
        return Err(GatewayError::Csrf);
    }
    if let Some(id) = session {
        if let Ok(Ok(s)) = login.resume(&id, at.now).await {
            login.revoke(&s.user, &id.handle()).await.map_err(store_error)?;
            tracing::info!(target: "audit", event = "session.revoked", user = %s.user, session = %id.handle().0, why = "logout");
        }
    }
    let mut response = redirect("/.portcullis/login");
    set_cookie(&mut response, SESSION_COOKIE, "", "Lax", Some(Duration::ZERO));
    Ok(response)
}

/// The session named by the request's cookie, if it is live and its user
/// may still use the CRM from here (not disabled, expired or elsewhere).
pub(super) async fn signed_in(
    login: &Login,
    headers: &HeaderMap,
    at: &Attempt<'_>,
) -> Result<Option<(SessionId, Session)>, GatewayError> {
    let Some(id) = cookie(headers, SESSION_COOKIE).and_then(SessionId::from_cookie) else {
        return Ok(None);
    };
    match login.resume(&id, at.now).await.map_err(store_error)? {
        Ok(session) if account_allowed(at, &session.user) => Ok(Some((id, session))),
        _ => Ok(None),
    }
}

/// Is this account, from this address and client, allowed at all?
pub(super) fn account_allowed(at: &Attempt<'_>, user: &str) -> bool {
    if user.is_empty() {
        return false;
    }
    let facts = Facts {
        ip: at.ip,
        client: at.client,
        method: &Method::GET,
        path: "/",
    };
    let principal = Principal::User {
        name: user,
        second_factor_at: Some(at.now),
    };
    !matches!(
        policy::decide(at.policy, &facts, &principal, at.now),
        Err(Refusal::Deny(
            Deny::UnknownUser | Deny::Disabled | Deny::Expired { .. } | Deny::Network { .. }
        ))
    )
}

pub(super) async fn is_locked(store: &Store, user: &str, ip: IpAddr) -> Result<bool, GatewayError> {
    let user_lock = store.get(&format!("locked:user:{user}")).await.map_err(store_error)?;
    let ip_lock = store.get(&format!("locked:ip:{ip}")).await.map_err(store_error)?;
    Ok(user_lock.is_some() || ip_lock.is_some())
}

/// Count a failure; past the limit, lock for a period that doubles with
/// each further failure (up to a day).
pub(super) async fn count_failure(store: &Store, user: &str, at: &Attempt<'_>) -> Result<(), GatewayError> {
    let ip = at.ip;
    for (what, limit) in [
        (format!("user:{user}"), MAX_USER_FAILURES),
        (format!("ip:{ip}"), MAX_ADDRESS_FAILURES),
    ] {
        let failures = store
            .count(&format!("failures:{what}"), FAILURE_WINDOW)
            .await
            .map_err(store_error)?;
        if failures >= limit {
            let doublings = (failures - limit).min(7) as u32;
            let period = (Duration::from_secs(5 * 60) * 2u32.pow(doublings)).min(Duration::from_secs(24 * 3600));
            store
                .set(&format!("locked:{what}"), b"1", Some(period))
                .await
                .map_err(store_error)?;
            tracing::info!(target: "audit", event = "login.locked", who = %what, failures, period_s = period.as_secs());
            at.metrics.lockouts.inc();
        }
    }
    Ok(())
}

pub(super) fn audit_failure(at: &Attempt<'_>, user: &str, reason: &str) {
    at.metrics.login_failures.inc();
    tracing::info!(target: "audit", event = "login.failure", request_id = %at.request_id, user, client_ip = %at.ip, reason);
}

pub(super) fn store_error(err: impl std::fmt::Display) -> GatewayError {
    GatewayError::StoreUnavailable(err.to_string())
}

/// Two addresses count as one network when they share a /24 (IPv4) or a
/// /48 (IPv6): an office or a home, not the whole internet provider.
pub fn same_network(a: IpAddr, b: IpAddr) -> bool {
    match (a.to_canonical(), b.to_canonical()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.octets()[..3] == b.octets()[..3],
        (IpAddr::V6(a), IpAddr::V6(b)) => a.segments()[..3] == b.segments()[..3],
        _ => false,
    }
}

/// Only a same-origin path may be a `next`. It is read as a browser reads
/// it (the WHATWG URL parser: tabs and newlines dropped, `\\` read as `/`,
/// control characters and spaces trimmed), and what comes back is the path
/// and query as the browser would then ask for them, never `//host` or a
/// URL, and never a gateway page.
pub fn safe_next(next: Option<&str>) -> String {
    static BASE: std::sync::LazyLock<Option<url::Url>> =
        std::sync::LazyLock::new(|| url::Url::parse("https://gateway.invalid/").ok());
    let (Some(next), Some(base)) = (next, BASE.as_ref()) else {
        return "/".to_owned();
    };
    let same_origin = next
        .starts_with('/')
        .then(|| base.join(next).ok())
        .flatten()
        .filter(|url| url.origin() == base.origin() && url.username().is_empty() && url.password().is_none());
    let Some(url) = same_origin else {
        return "/".to_owned();
    };
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    if target.starts_with("/.portcullis/") {
        return "/".to_owned();
    }
    target.to_owned()
}

pub(super) fn query_value<B>(req: &Request<B>, key: &str) -> Option<String> {
    let query = req.uri().query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

pub(super) async fn read_form(req: Request<Incoming>) -> Result<(HeaderMap, Vec<(String, String)>), GatewayError> {
    let (parts, body) = req.into_parts();
    let bytes = Limited::new(body, MAX_FORM_BYTES)
        .collect()
        .await
        .map_err(|_| GatewayError::FormTooLarge)?
        .to_bytes();
    let form = form_urlencoded::parse(&bytes).into_owned().collect();
    Ok((parts.headers, form))
}

pub(super) fn form_value<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The value of one of our cookies.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The browser's CSRF token if it has a well-formed one, else a new one.
/// Reusing it matters: a page fetched in the background (a favicon that
/// redirects to the login page) must not change the token under a form
/// that is already on screen.
pub(super) fn csrf_for(headers: &HeaderMap) -> String {
    match cookie(headers, CSRF_COOKIE).filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())) {
        Some(token) => token.to_owned(),
        None => SessionId::generate().to_cookie(),
    }
}

/// Double-submit: the form's token must equal the cookie's, which a page
/// on another site can neither read nor set.
pub(super) fn csrf_ok(headers: &HeaderMap, form: &[(String, String)]) -> bool {
    match (cookie(headers, CSRF_COOKIE), form_value(form, "csrf")) {
        (Some(c), Some(f)) if c.len() == 64 => bool::from(c.as_bytes().ct_eq(f.as_bytes())),
        _ => false,
    }
}

pub(super) fn set_cookie(
    response: &mut Response<Full<Bytes>>,
    name: &str,
    value: &str,
    same_site: &str,
    max_age: Option<Duration>,
) {
    let mut text = format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite={same_site}");
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    if let Ok(value) = HeaderValue::from_str(&text) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

pub(super) fn redirect(to: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
        .headers_mut()
        .insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn login_form(headers: &HeaderMap, company: &str, next: &str, error: Option<&str>) -> Response<Full<Bytes>> {
    let token = csrf_for(headers);
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<p>Sign in to use {company}.</p>{error}\
         <form method=\"post\" action=\"/.portcullis/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label for=\"username\">Username</label>\
         <input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" autocapitalize=\"none\" required autofocus>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Continue</button></form>",
        company = escape(company),
        next = escape(next),
    );
    let mut response = render(StatusCode::OK, "Sign in", &body);
    set_cookie(&mut response, CSRF_COOKIE, &token, "Strict", None);
    response
}

/// Seconds since the epoch, for sessions.
pub fn from_secs(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_only_ever_a_same_origin_path() {
        assert_eq!(safe_next(Some("/contacts?x=1")), "/contacts?x=1");
        for evil in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/\\\tevil.example",
            "/.portcullis/logout",
            "/%2e%2e/.portcullis/logout",
            "/./.portcullis/sessions",
        ] {
            assert_eq!(safe_next(Some(evil)), "/", "{evil:?}");
        }
        // Characters a browser would drop or escape come back as it would send them.
        assert_eq!(safe_next(Some("/x\r\nSet-Cookie: a=b")), "/xSet-Cookie:%20a=b");
        assert_eq!(safe_next(Some("/contacts/../billing?q=a b")), "/billing?q=a%20b");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn neighbours_share_a_network_strangers_do_not() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(same_network(ip("193.167.1.70"), ip("193.167.1.9")));
        assert!(same_network(ip("::ffff:193.167.1.70"), ip("193.167.1.9")));
        assert!(!same_network(ip("193.167.1.70"), ip("193.167.2.70")));
        assert!(same_network(ip("2001:db8:1::1"), ip("2001:db8:1:ff::2")));
        assert!(!same_network(ip("2001:db8:1::1"), ip("2001:db8:2::1")));
        assert!(!same_network(ip("193.167.1.70"), ip("2001:db8:1::1")));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, "crm_sid=abc; __Host-portcullis=123".parse().unwrap());
        headers.append(COOKIE, "__Host-portcullis-csrf=zzz".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("123"));
        assert_eq!(cookie(&headers, CSRF_COOKIE), Some("zzz"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
