//! The per-request path, top to bottom:
//!
//! ```text
//! 0. framing    (on the wire, before hyper: see [`super::framing`]) → 400
//! 1. identify   client address (peer, or trusted proxy's XFF)  → 400 if a proxy lies
//! 2. route      /.portcullis/* → portal; everything else → CRM
//! 5. forward    rewrite headers, stream to the upstream        → 502 / 504
//! ```
//!
//! Each phase either continues or fails with a [`GatewayError`]; errors
//! become pages in exactly one place ([`Gateway::handle`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use http::header::{HeaderValue, STRICT_TRANSPORT_SECURITY};
use http::{Request, Response};
use http_body_util::Either;
use hyper::body::Incoming;

use super::access_log::{self, Logged};
use super::client_ip::{self, ClientAddr};
use super::forward::Upstream;
use super::{Body, Fault, GatewayError};
use crate::config::Config;
use crate::portal;

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
}

/// The gateway's request handler: configuration plus the upstream client.
pub struct Gateway {
    config: Arc<Config>,
    upstream: Upstream,
    hsts: Option<HeaderValue>,
    /// Source of request ids for logs and error pages.
    next_request_id: AtomicU64,
}

impl Gateway {
    pub fn new(config: Arc<Config>) -> Result<Gateway, rustls::Error> {
        let upstream = Upstream::new(&config.upstream)?;
        let hsts = config
            .listen
            .hsts_max_age
            .and_then(|age| HeaderValue::from_str(&format!("max-age={}", age.as_secs())).ok());
        Ok(Gateway {
            config,
            upstream,
            hsts,
            next_request_id: AtomicU64::new(1),
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
        };
        let record = access_log::Record {
            request_id: ctx.id,
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            client_ip: ctx.client.ip,
            started: Instant::now(),
        };
        let mut response = match self.phases(req, &mut ctx).await {
            Ok(response) => response,
            Err(err) => self.error_response(&err, &ctx),
        };
        if let Some(hsts) = &self.hsts {
            response.headers_mut().insert(STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
        access_log::wrap(
            response,
            access_log::Record {
                client_ip: ctx.client.ip,
                ..record
            },
        )
    }

    async fn phases(&self, req: Request<Incoming>, ctx: &mut RequestContext) -> Result<Response<Body>, GatewayError> {
        // 1. identify
        ctx.client = client_ip::resolve(
            ctx.peer.ip(),
            req.headers().get_all("x-forwarded-for").iter(),
            &self.config.trusted_proxies,
        )?;

        // 2. route
        if let Some(page) = portal::route(req.uri().path()) {
            return portal::handle(page, ctx.id).map(|r| r.map(Either::Right));
        }

        // 5. forward
        self.upstream.forward(req, ctx).await
    }

    /// The one place an error becomes a response.
    fn error_response(&self, err: &GatewayError, ctx: &RequestContext) -> Response<Body> {
        match err.fault() {
            Fault::Client => {
                tracing::info!(request_id = ctx.id, client_ip = %ctx.client.ip, error = %err, "request refused")
            }
            Fault::Upstream => tracing::warn!(request_id = ctx.id, error = %err, "upstream failed"),
        }
        let (title, message) = err.page_text();
        portal::page::error(err.status(), title, message, ctx.id).map(Either::Right)
    }
}
