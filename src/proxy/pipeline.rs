//! The per-request path, top to bottom:
//!
//! ```text
//! 0. framing    (on the wire, before hyper: see [`super::framing`]) → 400
//! 1. identify   client address (peer, or trusted proxy's XFF), normalised
//!               path, client type                              → 400
//! 2. route      /.portcullis/* → portal; everything else → CRM
//! 3. authenticate  who is asking (a Principal)
//! 4. authorize  policy::decide → Allow, or a page              → 401 / 403
//! 5. forward    only with the Permitted that 4 made; rewrite
//!               headers, stream to the upstream                → 502 / 504
//! ```
//!
//! Each phase either continues or fails with a [`GatewayError`]; errors
//! become pages in exactly one place ([`Gateway::handle`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use http::header::{HeaderValue, HOST, STRICT_TRANSPORT_SECURITY};
use http::{Method, Request, Response};
use http_body_util::Either;
use hyper::body::Incoming;

use super::access_log::{self, Logged};
use super::client_ip::{self, ClientAddr};
use super::forward::Upstream;
use super::{Body, Fault, GatewayError};
use crate::config::raw::LoginMode;
use crate::config::Config;
use crate::metrics::{Metrics, Outcome, RequestMetrics};
use crate::policy::{self, Decision, Facts, Policy, Principal};
use crate::session::SessionId;
use crate::telemetry::AccessLog;
use crate::{clock, portal};

/// What the transport knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// The name the client asked for in TLS (SNI), if any.
    pub server_name: Option<String>,
}

/// Everything the phases learn about one request, passed along instead of
/// kept in globals.
#[derive(Debug)]
pub struct RequestContext {
    pub id: u64,
    pub peer: SocketAddr,
    pub client: ClientAddr,
    /// The client type, once identified (for metrics).
    pub client_type: Option<usize>,
    /// What the gateway did with the request (for metrics).
    pub outcome: Outcome,
}

/// Test-identity headers (see [`Gateway::authenticate`]).
const TEST_USER: &str = "x-test-user";
const TEST_SECOND_FACTOR_AGE: &str = "x-test-second-factor-age";

/// The gateway's request handler: configuration plus the upstream client.
pub struct Gateway {
    /// Shared by every worker; a reload swaps it whole, and each request
    /// runs under the config (and policy) it started with.
    config: Arc<ArcSwap<Config>>,
    /// The store, credentials and sessions; `None` when no client type
    /// needs a login.
    login: Option<Arc<portal::login::Login>>,
    upstream: Upstream,
    hsts: Option<HeaderValue>,
    /// Source of request ids for logs and error pages.
    next_request_id: AtomicU64,
    access_log: AccessLog,
    /// This worker's request counters (see [`crate::metrics`]).
    pub metrics: RequestMetrics,
    /// Counters shared by every worker (logins, lockouts).
    shared_metrics: Arc<Metrics>,
}

impl Gateway {
    /// The upstream and HSTS come from the config at start; a reload does
    /// not change them (see [`crate::reload`]).
    pub fn new(
        config: Arc<ArcSwap<Config>>,
        login: Option<Arc<portal::login::Login>>,
        access_log: AccessLog,
        shared_metrics: Arc<Metrics>,
    ) -> Result<Gateway, rustls::Error> {
        let start = config.load();
        let upstream = Upstream::new(&start.upstream, &start.limits)?;
        let hsts = start
            .listen
            .hsts_max_age
            .and_then(|age| HeaderValue::from_str(&format!("max-age={}", age.as_secs())).ok());
        drop(start);
        Ok(Gateway {
            config,
            login,
            upstream,
            hsts,
            next_request_id: AtomicU64::new(1),
            access_log,
            metrics: RequestMetrics::default(),
            shared_metrics,
        })
    }

    pub async fn handle(&self, req: Request<Incoming>, conn: &ConnInfo) -> Response<Logged<Body>> {
        let mut ctx = RequestContext {
            id: self.next_request_id.fetch_add(1, Ordering::Relaxed),
            peer: conn.peer,
            client: ClientAddr {
                ip: conn.peer.ip().to_canonical(),
                via_trusted_proxy: false,
            },
            client_type: None,
            outcome: Outcome::Error,
        };
        let record = access_log::Record {
            request_id: ctx.id,
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            client_ip: ctx.client.ip,
            started: Instant::now(),
        };
        // The config (and policy) this request runs under, start to finish,
        // its metric label included.
        let config = self.config.load();
        let mut response = match self.phases(&config, req, &mut ctx).await {
            Ok(response) => response,
            Err(err) => {
                ctx.outcome = match err {
                    GatewayError::Denied { .. } => Outcome::Denied,
                    GatewayError::LoginRequired => Outcome::Login,
                    GatewayError::StepUpRequired => Outcome::StepUp,
                    _ => Outcome::Error,
                };
                self.error_response(&err, &ctx)
            }
        };
        let client_type = ctx.client_type.and_then(|i| config.policy.client_types.get(i));
        self.metrics.record(
            ctx.outcome,
            client_type.map_or("-", |c| c.name.as_str()),
            record.started.elapsed(),
        );
        if let Some(hsts) = &self.hsts {
            response.headers_mut().insert(STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
        access_log::wrap(
            response,
            access_log::Record {
                client_ip: ctx.client.ip,
                ..record
            },
            &self.access_log,
        )
    }

    async fn phases(
        &self,
        config: &Config,
        mut req: Request<Incoming>,
        ctx: &mut RequestContext,
    ) -> Result<Response<Body>, GatewayError> {
        let policy: &Policy = &config.policy;

        // 1. identify: the client's address, the path as rules see it, the kind of client
        // Methods are case-sensitive, so `delete` would slip past a rule on
        // DELETE, while a CRM may well treat it as one. Refuse the ambiguity.
        if req.method().as_str().bytes().any(|b| b.is_ascii_lowercase()) {
            return Err(super::framing::Malformed::MethodCase.into());
        }
        ctx.client = client_ip::resolve(
            ctx.peer.ip(),
            req.headers().get_all("x-forwarded-for").iter(),
            &config.trusted_proxies,
        )?;
        // Borrow the path from a clone of the URI (reference-counted, no
        // copy), so that `req` stays free to be rewritten below.
        let uri = req.uri().clone();
        let path = policy::path::normalize(uri.path())?;
        let host = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or(req.uri().host());
        let client = policy.classify(host, &path, req.headers());
        ctx.client_type = Some(client);
        let now = clock::now();

        // 2. route: the gateway's own pages
        if let Some(page) = portal::route(&path) {
            ctx.outcome = Outcome::Portal;
            return self
                .portal(page, req, ctx, config, client, now)
                .await
                .map(|r| r.map(Either::Right));
        }

        // 3. authenticate
        let session = self.session(&req, policy, client, now).await?;
        let principal = match &session {
            Some(s) => Principal::User {
                name: &s.user,
                second_factor_at: Some(portal::login::from_secs(s.second_factor_at)),
            },
            None => test_identity(config, &req, client),
        };

        // 4. authorize
        let facts = Facts {
            ip: ctx.client.ip,
            client,
            method: req.method(),
            path: &path,
        };
        let decision = policy::decide(policy, &facts, &principal, now);
        let permitted = match decision.permit() {
            Ok(permitted) => permitted,
            Err(Decision::Login) if self.login.is_some() && matches!(*req.method(), Method::GET | Method::HEAD) => {
                ctx.outcome = Outcome::Login;
                return Ok(back_after(req.uri(), "/.portcullis/login").map(Either::Right));
            }
            Err(Decision::StepUp { .. })
                if session.is_some() && matches!(*req.method(), Method::GET | Method::HEAD) =>
            {
                ctx.outcome = Outcome::StepUp;
                return Ok(back_after(req.uri(), "/.portcullis/step-up").map(Either::Right));
            }
            Err(decision) => return Err(self.refusal(policy, decision, &facts, &principal, ctx)),
        };
        let identity = match &principal {
            Principal::User { name, .. } => Some(identity_of(policy, name)),
            Principal::Anonymous => None,
        };
        prepare_for_crm(config, &mut req, identity);
        if path != req.uri().path() {
            // Forward exactly the path the rules matched.
            *req.uri_mut() = with_path(req.uri(), &path)?;
        }

        // 5. forward
        ctx.outcome = Outcome::Allowed;
        let started = Instant::now();
        let forwarded = self.upstream.forward(req, ctx, permitted).await;
        self.metrics.upstream(started.elapsed(), forwarded.is_err());
        forwarded
    }

    /// The gateway's own pages.
    async fn portal(
        &self,
        page: portal::Page,
        req: Request<Incoming>,
        ctx: &RequestContext,
        config: &Config,
        client: usize,
        now: std::time::SystemTime,
    ) -> Result<Response<http_body_util::Full<bytes::Bytes>>, GatewayError> {
        use portal::Page;
        let (true, Some(login)) = (page.needs_login(), &self.login) else {
            return portal::handle(page, &config.auth);
        };
        let at = portal::login::Attempt {
            ip: ctx.client.ip,
            client,
            policy: &config.policy,
            now,
            request_id: ctx.id,
            metrics: &self.shared_metrics,
        };
        match page {
            Page::Login => portal::login::login(login, req, &at).await,
            Page::SecondFactor => portal::login::second_factor(login, req, &at).await,
            Page::SendCode => portal::codes::send_code(login, req, &at).await,
            Page::StepUp => portal::login::step_up(login, req, &at).await,
            Page::Enrol => portal::enrol::enrol(login, req, &at).await,
            Page::EnrolConfirm => portal::enrol::confirm(login, req, &at).await,
            Page::Sessions => portal::login::sessions(login, req, &at).await,
            Page::Account => portal::account::overview(login, req, &at).await,
            Page::AccountPassword => portal::account::password(login, req, &at).await,
            Page::AccountAuthenticator => portal::account::authenticator(login, req, &at).await,
            Page::AccountAuthenticatorConfirm => portal::account::authenticator_confirm(login, req, &at).await,
            _ => portal::login::logout(login, req, &at).await,
        }
    }

    /// The live session named by the request's cookie, if any. A store that
    /// does not answer fails the request (closed), not the check (open).
    async fn session(
        &self,
        req: &Request<Incoming>,
        policy: &Policy,
        client: usize,
        now: std::time::SystemTime,
    ) -> Result<Option<crate::session::Session>, GatewayError> {
        let Some(login) = &self.login else { return Ok(None) };
        if policy.client_types[client].login == LoginMode::Passthrough {
            return Ok(None);
        }
        let Some(id) =
            portal::login::cookie(req.headers(), portal::login::SESSION_COOKIE).and_then(SessionId::from_cookie)
        else {
            return Ok(None);
        };
        match login.resume(&id, now).await {
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

    /// A decision other than Allow, as the error that renders its page; a
    /// denial is audited with the setting that made it.
    fn refusal(
        &self,
        policy: &Policy,
        decision: Decision,
        facts: &Facts<'_>,
        principal: &Principal<'_>,
        ctx: &RequestContext,
    ) -> GatewayError {
        let user = match principal {
            Principal::User { name, .. } => Some(*name),
            Principal::Anonymous => None,
        };
        let why = policy.explain(&decision, facts, user);
        match decision {
            Decision::Deny(deny) => {
                tracing::info!(
                    target: "audit",
                    event = "request.denied",
                    request_id = ctx.id,
                    user = user.unwrap_or("-"),
                    client_ip = %facts.ip,
                    client_type = %policy.client_types[facts.client].name,
                    method = %facts.method,
                    path = facts.path,
                    reason = %why,
                );
                GatewayError::Denied {
                    message: deny.user_message(facts.ip),
                    why,
                }
            }
            Decision::Login => GatewayError::LoginRequired,
            Decision::StepUp { .. } => GatewayError::StepUpRequired,
            Decision::Allow(_) => GatewayError::Denied {
                message: "The request could not be authorized.".into(),
                why: format!("refusal() called with an allow: {why}"),
            },
        }
    }

    /// The one place an error becomes a response.
    fn error_response(&self, err: &GatewayError, ctx: &RequestContext) -> Response<Body> {
        match err.fault() {
            Fault::Client if matches!(err, GatewayError::Denied { .. }) => {} // audited already
            Fault::Client => {
                tracing::info!(request_id = ctx.id, client_ip = %ctx.client.ip, error = %err, "request refused")
            }
            Fault::Upstream => tracing::warn!(request_id = ctx.id, error = %err, "upstream failed"),
            Fault::Gateway => {
                tracing::error!(request_id = ctx.id, error = %err, "refusing requests: the store is unavailable")
            }
        }
        let (title, message) = err.page_text();
        portal::page::error(err.status(), title, message, ctx.id).map(Either::Right)
    }
}

/// What the CRM must not see, removed; who the user is, added. A client
/// cannot choose its identity: identity headers it sent are dropped.
fn prepare_for_crm(config: &Config, req: &mut Request<Incoming>, identity: Option<(String, String)>) {
    let names = &config.identity_headers;
    let headers = req.headers_mut();
    headers.remove(&names.user);
    headers.remove(&names.groups);
    if config.trust_test_identity {
        headers.remove(TEST_USER);
        headers.remove(TEST_SECOND_FACTOR_AGE);
    }
    if let Some((user, groups)) = identity {
        if let (Ok(user), Ok(groups)) = (HeaderValue::from_str(&user), HeaderValue::from_str(&groups)) {
            headers.insert(&names.user, user);
            headers.insert(&names.groups, groups);
        }
    }
    strip_our_cookies(headers);
}

/// The test-identity hook (debug builds, `testing.trust_identity_headers`)
/// for tests that predate the login pages; passthrough client types are
/// always anonymous.
fn test_identity<'r>(config: &Config, req: &'r Request<Incoming>, client: usize) -> Principal<'r> {
    if !config.trust_test_identity || config.policy.client_types[client].login == LoginMode::Passthrough {
        return Principal::Anonymous;
    }
    let Some(name) = req.headers().get(TEST_USER).and_then(|v| v.to_str().ok()) else {
        return Principal::Anonymous;
    };
    let second_factor_at = req
        .headers()
        .get(TEST_SECOND_FACTOR_AGE)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .and_then(|secs| clock::now().checked_sub(std::time::Duration::from_secs(secs)));
    Principal::User { name, second_factor_at }
}

/// `uri` with its path replaced and its query kept.
fn with_path(uri: &http::Uri, path: &str) -> Result<http::Uri, GatewayError> {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|_| GatewayError::BadPath(policy::path::PathError::BadEscape))?,
    );
    http::Uri::from_parts(parts).map_err(|_| GatewayError::BadPath(policy::path::PathError::BadEscape))
}

/// The user's name and groups, for the identity headers.
fn identity_of(policy: &Policy, user: &str) -> (String, String) {
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

/// Remove the gateway's cookies from what the CRM receives.
fn strip_our_cookies(headers: &mut http::HeaderMap) {
    let kept: Vec<String> = headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty() && !pair.starts_with(portal::login::COOKIE_PREFIX))
        .map(str::to_owned)
        .collect();
    headers.remove(http::header::COOKIE);
    if !kept.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(http::header::COOKIE, value);
        }
    }
}

/// Send the browser to a portal page (login, step-up), to come back here after.
fn back_after(uri: &http::Uri, page: &str) -> Response<http_body_util::Full<bytes::Bytes>> {
    let back = uri.path_and_query().map_or("/", |p| p.as_str());
    let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
    let mut response = Response::new(http_body_util::Full::new(bytes::Bytes::new()));
    *response.status_mut() = http::StatusCode::SEE_OTHER;
    if let Ok(location) = HeaderValue::from_str(&format!("{page}?next={next}")) {
        response.headers_mut().insert(http::header::LOCATION, location);
    }
    response
}
