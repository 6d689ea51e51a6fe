//! The per-request path, top to bottom:
//!
//! ```text
//! 0. framing    (on the wire, before hyper: see [`super::framing`]) → 400
//! 1. identify   the host (one the gateway serves)                   → 421
//!               client address (peer, or trusted proxy's XFF)
//!               every reading of path and method a CRM of the configured
//!               family could make (see [`crate::policy::reading`])  → 400 / 405
//!               client type
//! 2. route      /.portcullis/* → portal; everything else → CRM
//! 3. authenticate  who is asking (a Principal)
//! 4. authorize  policy::decide_reading: allowed under every reading (a form
//!               is read for method overrides where the method matters) → 401 / 403
//!    then       report-only rules recorded, quotas counted (see [`super::guards`]) → 429
//!               a request approval rules hold waits (see [`super::hold`])  → 303
//! 5. forward    only with the Permitted that 4 made; headers the CRM could
//!               misread removed, ours added (see [`super::headers`]);
//!               stream to the upstream                               → 502 / 504
//! ```
//!
//! Each phase either continues or fails with a [`GatewayError`]; errors
//! become pages in exactly one place ([`Gateway::handle`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use http::header::{HeaderValue, ACCEPT_LANGUAGE, CONNECTION, STRICT_TRANSPORT_SECURITY, UPGRADE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;

use super::access_log::{self, Logged};
use super::client_ip::{self, ClientAddr};
use super::forward::Upstream;
use super::forward_auth;
use super::framing::{Malformed, UpgradeSignal};
use super::headers;
pub use super::request::RequestContext;
use super::request::{
    back_after, form_body, identity_of, inspect, method_matters, refused, requested_host, served, session_of,
    websocket_handshake, with_path,
};
use super::{Body, Fault, GatewayError};
use crate::config::Config;
use crate::i18n::fill;
use crate::live::Live;
use crate::metrics::{Metrics, Outcome, RequestMetrics};
use crate::policy::reading;
use crate::policy::{self, Policy, Principal, Refusal};
use crate::portal;
use crate::request_id::RequestIds;
use crate::signin::{Attempt, SignIn};
use crate::telemetry::AccessLog;

/// What the transport knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    /// The name the client asked for in TLS (SNI), if any.
    pub server_name: Option<String>,
    /// Raised when the gateway switches this HTTP/1.1 connection to a
    /// WebSocket: only then does the framing guard let raw bytes through.
    pub upgrade: Arc<UpgradeSignal>,
}

/// The gateway's request handler: configuration plus the upstream client.
pub struct Gateway {
    /// Shared by every worker; a reload swaps it whole, and each request
    /// runs under the config (and policy) it started with.
    config: Arc<ArcSwap<Live>>,
    /// Signing in: the store, credentials and sessions; `None` when no
    /// client type signs in.
    signin: Option<Arc<SignIn>>,
    upstream: Upstream,
    hsts: Option<HeaderValue>,
    /// Ids for logs, audit events and error pages; unique across workers.
    request_ids: RequestIds,
    access_log: AccessLog,
    /// This worker's request counters (see [`crate::metrics`]).
    metrics: Arc<RequestMetrics>,
    /// Where `now` comes from.
    clock: crate::clock::Clock,
}

impl Gateway {
    /// Does a connection from `peer` start with a PROXY protocol header?
    pub(crate) fn expects_proxy_header(&self, peer: std::net::IpAddr) -> bool {
        let live = self.config.load();
        let from = &live.config.listen.proxy_protocol;
        !from.is_empty() && from.iter().any(|net| net.contains(&peer))
    }

    /// The upstream and HSTS come from the config at start; a reload does
    /// not change them (see [`crate::reload`]).
    pub fn new(
        config: Arc<ArcSwap<Live>>,
        signin: Option<Arc<SignIn>>,
        access_log: AccessLog,
        shared_metrics: Arc<Metrics>,
        request_ids: RequestIds,
        clock: crate::clock::Clock,
    ) -> Result<Gateway, rustls::Error> {
        let start = config.load();
        let upstream = Upstream::new(&start.config.upstream, &start.config.limits)?;
        let hsts = start
            .config
            .listen
            .hsts_max_age
            .and_then(|age| HeaderValue::from_str(&format!("max-age={}", age.as_secs())).ok());
        drop(start);
        Ok(Gateway {
            config,
            signin,
            upstream,
            hsts,
            request_ids,
            access_log,
            metrics: shared_metrics.worker(),
            clock,
        })
    }

    pub async fn handle(&self, req: Request<Incoming>, conn: &ConnInfo) -> Response<Logged<Body>> {
        let mut ctx = RequestContext {
            id: self.request_ids.next(),
            peer: conn.peer,
            client: ClientAddr {
                ip: conn.peer.ip().to_canonical(),
                via_trusted_proxy: false,
            },
            client_type: None,
            outcome: Outcome::Error,
            user: None,
            upgrade_requested: req.headers().contains_key(UPGRADE),
            released: None,
        };
        let head = req.method() == Method::HEAD;
        // For an error page in the user's language (a reference-counted copy).
        let language = req.headers().get(ACCEPT_LANGUAGE).cloned();
        let record = access_log::Record {
            request_id: ctx.id,
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            client_ip: ctx.client.ip,
            started: Instant::now(),
            decision: "error",
            client_type: String::new(),
            user: None,
        };
        // The config (and policy) this request runs under, start to finish,
        // its metric label included.
        let live = self.config.load();
        let mut response = match self.phases(&live, req.map(Either::Left), &mut ctx, conn).await {
            Ok(response) => response,
            Err(err) => {
                ctx.outcome = match err {
                    GatewayError::Denied { .. } => Outcome::Denied,
                    GatewayError::LoginRequired => Outcome::Login,
                    GatewayError::StepUpRequired => Outcome::StepUp,
                    GatewayError::QuotaReached { .. } => Outcome::Quota,
                    _ => Outcome::Error,
                };
                self.error_response(&err, &ctx, &live, language.as_ref())
            }
        };
        let client_type = ctx.client_type.map(|id| live.policy.client_types[id].name.as_str());
        self.metrics
            .record(ctx.outcome, client_type.unwrap_or("-"), record.started.elapsed());
        if let Some(hsts) = &self.hsts {
            response.headers_mut().insert(STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
        if head {
            // A page of ours answers HEAD with its headers only (an HTTP/2
            // client resets a stream that answers HEAD with a body).
            response = response.map(|body| match body {
                Either::Right(_) => Either::Right(Full::default()),
                upstream => upstream,
            });
        }
        if ctx.upgrade_requested && response.status() != StatusCode::SWITCHING_PROTOCOLS {
            // What the client sent after its handshake was never inspected.
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        access_log::wrap(
            response,
            access_log::Record {
                client_ip: ctx.client.ip,
                decision: ctx.outcome.label(),
                client_type: client_type.unwrap_or("-").to_owned(),
                user: ctx.user,
                ..record
            },
            &self.access_log,
        )
    }

    async fn phases(
        &self,
        live: &Live,
        req: Request<Body>,
        ctx: &mut RequestContext,
        conn: &ConnInfo,
    ) -> Result<Response<Body>, GatewayError> {
        let (config, policy): (&Config, &Policy) = (&live.config, &live.policy);

        // 0. a forward-auth question is about the request its proxy holds:
        //    every phase below reads that one, and the last answers for it.
        let authz = forward_auth::mode(req.uri().path()).filter(|_| config.forward_auth);
        let req = match authz {
            Some(_) => forward_auth::original(req, ctx.peer.ip(), &config.trusted_proxies)?,
            None => req,
        };

        // 1. identify: the host, the client's address, every reading of the
        //    request a CRM of this family could make, the kind of client
        // Methods are case-sensitive, so `delete` would slip past a rule on
        // DELETE, while a CRM may well treat it as one. Refuse the ambiguity.
        if req.method().as_str().bytes().any(|b| b.is_ascii_lowercase()) {
            return Err(Malformed::MethodCase.into());
        }
        let host_value = requested_host(&req)?;
        let host = served(config, &host_value)?;
        ctx.client = client_ip::resolve(
            ctx.peer.ip(),
            req.headers().get_all("x-forwarded-for").iter(),
            &config.trusted_proxies,
        )?;
        // Borrow the path from a clone of the URI (reference-counted, no
        // copy), so that `req` stays free to be rewritten below.
        let uri = req.uri().clone();
        let mut reading = reading::read(
            config.upstream.server,
            req.method(),
            uri.path(),
            uri.query(),
            req.headers(),
        )?;
        let websocket = websocket_handshake(&req, ctx.upgrade_requested)?;
        let client = policy.classify_reading(Some(&host), &reading, req.headers())?;
        ctx.client_type = Some(client);
        let now = self.clock.now();

        // 2. route: the gateway's own pages (asked for directly, never
        //    through a proxy's question: route /.portcullis/ to the gateway)
        if let Some(page) = portal::route(reading.path()) {
            if authz.is_some() {
                return Err(Malformed::ForwardAuth("URI: /.portcullis/ is the gateway's own, not asked about").into());
            }
            if page == portal::Page::ApprovalSend && ctx.released.is_none() {
                // An approved request, sent by its requester: read anew from the top.
                let session = session_of(self.signin.as_deref(), &req, policy, client, now).await?;
                let signin = self.signin.as_deref();
                let (held, released) = super::hold::release(signin, req, session.as_ref(), now).await?;
                ctx.released = Some(released);
                return Box::pin(self.phases(live, held, ctx, conn)).await;
            }
            ctx.outcome = Outcome::Portal;
            return self
                .portal(page, req, ctx, live, client, now)
                .await
                .map(|r| r.map(Either::Right));
        }

        // 3. authenticate
        let session = session_of(self.signin.as_deref(), &req, policy, client, now).await?;
        ctx.user = session.as_ref().map(|s| s.user.clone());
        let principal = match &session {
            Some(s) => Principal::User {
                name: &s.user,
                second_factor_at: Some(portal::from_secs(s.second_factor_at)),
            },
            None => Principal::Anonymous,
        };

        // 4. authorize, under every reading of the request
        let mut req = req;
        // A proxy's question carries no body, and the request it holds may
        // have one that overrides its method (`_method=DELETE`): where the
        // method decides, only GET and HEAD can be answered.
        let matters =
            |reading: &reading::Reading<'_>| method_matters(policy, ctx.client.ip, client, reading, &principal, now);
        let bodiless = matches!(*req.method(), Method::GET | Method::HEAD);
        if authz.is_some() && !bodiless && matters(&reading) {
            return Err(GatewayError::BodyNotAsked);
        }
        // A form that must be read before deciding: the request is allowed
        // as it stands, and another method would not be.
        if let Some(form) = form_body(&req).filter(|_| matters(&reading)) {
            let (parts, body) = req.into_parts();
            let body = inspect(body, &config.limits).await?;
            reading.add_methods(form.overrides(&body)?);
            req = Request::from_parts(parts, Either::Right(Full::new(body)));
        }
        let (decision, facts) = policy::decide_reading(policy, ctx.client.ip, client, &reading, &principal, now);
        let permit = match decision {
            Ok(permit) => permit,
            Err(Refusal::Login) if self.signin.is_some() && matches!(*req.method(), Method::GET | Method::HEAD) => {
                ctx.outcome = Outcome::Login;
                let to_page = back_after(req.uri(), "/.portcullis/login");
                return Ok(forward_auth::elsewhere(authz, to_page, &host_value).map(Either::Right));
            }
            Err(Refusal::StepUp { .. }) if session.is_some() && matches!(*req.method(), Method::GET | Method::HEAD) => {
                ctx.outcome = Outcome::StepUp;
                let to_page = back_after(req.uri(), "/.portcullis/step-up");
                return Ok(forward_auth::elsewhere(authz, to_page, &host_value).map(Either::Right));
            }
            Err(refusal) => return Err(refused(policy, refusal, &facts, &reading, &principal, ctx.id)),
        };

        // 4b. report-only rules recorded; a request approval rules hold
        //     waits; quotas counted across gateways
        let user = principal.name();
        super::guards::report(policy, &permit, &facts, user, ctx.id, &self.metrics);
        let signin = self.signin.as_deref();
        let mut req = match super::hold::hold_if_asked(signin, live, &permit, req, (ctx, authz.is_some()), now).await? {
            super::hold::Holding::Go(req) => req,
            super::hold::Holding::Answer(page) => {
                ctx.outcome = Outcome::Held;
                return Ok(page.map(Either::Right));
            }
        };
        super::guards::count(self.signin.as_deref(), live, &permit, (user, ctx.client.ip), now).await?;

        // 5. forward: what the CRM could misread removed, ours added (or,
        //    to a forward-auth question, the answer: yes, and who)
        let identity = user.map(|name| identity_of(policy, name));
        if authz.is_some() {
            ctx.outcome = Outcome::Allowed;
            return Ok(forward_auth::allowed(identity, &config.identity_headers).map(Either::Right));
        }
        let ours = headers::Ours {
            identity,
            names: &config.identity_headers,
            allowed_odd_names: &config.upstream.allow_header_names,
            client: ctx.client,
            peer: ctx.peer.ip(),
            host: Some(&host_value),
        };
        headers::for_crm(req.headers_mut(), &ours);
        if reading.path() != req.uri().path() {
            // Forward exactly the path the rules matched.
            *req.uri_mut() = with_path(req.uri(), reading.path())?;
        }
        super::hold::claim(self.signin.as_deref(), ctx, now).await?;
        ctx.outcome = Outcome::Allowed;
        let started = Instant::now();
        let upgrade = websocket.then_some(conn.upgrade.as_ref());
        let forwarded = self.upstream.forward(req, &host_value, upgrade, permit).await;
        self.metrics.upstream(started.elapsed(), forwarded.is_err());
        if let Some(released) = &ctx.released {
            super::hold::forwarded(released, &forwarded);
        }
        forwarded
    }

    /// The gateway's own pages, in the user's language.
    async fn portal(
        &self,
        page: portal::Page,
        req: Request<Body>,
        ctx: &RequestContext,
        live: &Live,
        client: policy::ClientTypeId,
        now: std::time::SystemTime,
    ) -> Result<Response<Full<bytes::Bytes>>, GatewayError> {
        let auth = &live.config.auth;
        let language = req.headers().get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        let t = auth.texts.for_accept_language(language);
        let host = requested_host(&req).ok();
        let at = Attempt {
            ip: ctx.client.ip,
            client,
            policy: &live.policy,
            now,
            request_id: ctx.id,
            company: &auth.company,
            directory: auth.directory.as_ref(),
            t,
            host: host.as_ref().and_then(|h| h.to_str().ok()),
        };
        Ok(portal::serve(page, req, self.signin.as_deref(), at, auth, t).await?)
    }

    /// The one place an error becomes a response: a page in the user's
    /// language, with a reference they can quote to their administrator.
    fn error_response(
        &self,
        err: &GatewayError,
        ctx: &RequestContext,
        live: &Live,
        language: Option<&HeaderValue>,
    ) -> Response<Body> {
        match err.fault() {
            Fault::Client if matches!(err, GatewayError::Denied { .. }) => {} // audited already
            Fault::Client => {
                tracing::info!(request_id = %ctx.id, client_ip = %ctx.client.ip, error = %err, "request refused")
            }
            Fault::Upstream => tracing::warn!(request_id = %ctx.id, error = %err, "upstream failed"),
            Fault::Gateway => {
                tracing::error!(request_id = %ctx.id, error = %err, "refusing requests: the store is unavailable")
            }
        }
        let auth = &live.config.auth;
        let t = auth.texts.for_accept_language(language.and_then(|v| v.to_str().ok()));
        let (title, message) = err.page_text(t, ctx.client.ip);
        let links = match err {
            GatewayError::Denied { .. } => portal::views::Links::Refusal,
            _ => portal::views::Links::None,
        };
        let frame = portal::views::Frame {
            t,
            company: &auth.company,
            title,
            links,
        };
        let status = err.status();
        let id = ctx.id.to_string();
        let reference = format!("{} · {}", fill(&t.reference, &[("id", &id)]), status.as_u16());
        let mut response = portal::views::message(frame, status, vec![message], Some(reference));
        if let GatewayError::QuotaReached { resets, .. } = err {
            let wait = resets
                .duration_since(self.clock.now())
                .unwrap_or_default()
                .as_secs()
                .max(1);
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(wait));
        }
        response.map(Either::Right)
    }
}
