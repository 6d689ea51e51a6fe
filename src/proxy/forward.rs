//! Phase 5, forward: rewrite the request for the upstream CRM, send it over a
//! pooled keep-alive connection, and stream the response back. Bodies are
//! never buffered: a 1 GiB upload passes through in small frames.
//!
//! What the upstream sees: the client's method, path and body (without
//! trailers, which some servers merge into headers); the headers as
//! [`super::headers`] left them; `Host` as configured; a WebSocket
//! handshake only when the pipeline checked it is one.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use http_body::Body as _;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::Either;
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::framing::UpgradeSignal;
use super::headers::remove_hop_by_hop;
use super::{Body, GatewayError};
use crate::config::{self, HostHeader};

/// A request body on its way to the CRM, with two limits. It fails if the
/// client sends nothing for `limit` (a slow-body client cannot hold a
/// connection, and an upstream one, open for ever), or once it grows past
/// `max_bytes`. The timer is made only when the body first stalls, so
/// requests without a body pay nothing.
pub struct IdleLimited {
    inner: Body,
    limit: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Bytes still allowed; `None` = no limit.
    allowance: Option<u64>,
}

impl http_body::Body for IdleLimited {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        let mut polled = Pin::new(&mut self.inner).poll_frame(cx);
        // Trailers never reach the CRM: some servers read them as headers,
        // after the gateway has cleaned those.
        while matches!(&polled, Poll::Ready(Some(Ok(frame))) if frame.is_trailers()) {
            polled = Pin::new(&mut self.inner).poll_frame(cx);
        }
        match polled {
            Poll::Ready(frame) => {
                let limit = self.limit;
                if let Some(timer) = self.timer.as_mut() {
                    timer.as_mut().reset(tokio::time::Instant::now() + limit);
                }
                let size = frame
                    .as_ref()
                    .and_then(|f| f.as_ref().ok())
                    .and_then(|f| f.data_ref())
                    .map_or(0, |d| d.len() as u64);
                if let Some(left) = self.allowance.as_mut() {
                    match left.checked_sub(size) {
                        Some(rest) => *left = rest,
                        None => return Poll::Ready(Some(Err("the request body is larger than allowed".into()))),
                    }
                }
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let limit = self.limit;
                let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(format!("the client sent no body for {limit:?}").into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The pooled client for the one upstream CRM.
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, IdleLimited>,
    /// See [`IdleLimited`].
    body_read_timeout: Duration,
    max_body_bytes: Option<u64>,
    scheme: Scheme,
    authority: Authority,
    host: HostHeader,
    response_timeout: Duration,
}

impl Upstream {
    pub fn new(cfg: &config::Upstream, limits: &config::Limits) -> Result<Upstream, rustls::Error> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(cfg.connect_timeout));
        let tls = client_tls(cfg.ca_certs.as_deref())?;
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(1024)
            .build(connector);
        Ok(Upstream {
            client,
            body_read_timeout: limits.body_read_timeout,
            max_body_bytes: limits.max_body_bytes,
            scheme: cfg.scheme.clone(),
            authority: cfg.authority.clone(),
            host: cfg.host.clone(),
            response_timeout: cfg.response_timeout,
        })
    }

    /// Forward a request the policy allowed: a [`crate::policy::Permit`]
    /// only comes from [`crate::policy::decide`]. `upgrade` is set for a checked
    /// WebSocket handshake; it is raised if the CRM switches protocols.
    pub async fn forward(
        &self,
        mut req: Request<Body>,
        host: &HeaderValue,
        upgrade: Option<&UpgradeSignal>,
        _permit: crate::policy::Permit,
    ) -> Result<Response<Body>, GatewayError> {
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        if upgrade.is_some() {
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            parts
                .headers
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        }
        let host = match &self.host {
            HostHeader::Preserve => Some(host.clone()),
            HostHeader::Upstream => HeaderValue::from_str(self.authority.as_str()).ok(),
            HostHeader::Fixed(value) => Some(value.clone()),
        };
        if let Some(host) = host {
            parts.headers.insert(header::HOST, host);
        }
        parts.uri = self.upstream_uri(parts.uri.path_and_query());
        parts.version = Version::HTTP_11;

        // A declared length over the limit is refused before anything is sent.
        let declared = body.size_hint().exact();
        if let (Some(max), Some(len)) = (self.max_body_bytes, declared) {
            if len > max {
                return Err(GatewayError::BodyTooLarge(max));
            }
        }
        let body = IdleLimited {
            inner: body,
            limit: self.body_read_timeout,
            timer: None,
            allowance: self.max_body_bytes,
        };
        let request = Request::from_parts(parts, body);
        let mut response = match tokio::time::timeout(self.response_timeout, self.client.request(request)).await {
            Err(_) => return Err(GatewayError::UpstreamTimeout(self.response_timeout)),
            Ok(Err(err)) if client_body_failed(&err) => return Err(GatewayError::BadBody(err.to_string())),
            Ok(Err(err)) => return Err(GatewayError::UpstreamUnreachable(err.into())),
            Ok(Ok(response)) => response,
        };

        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let (Some(signal), Some(client_upgrade)) = (upgrade, client_upgrade) {
                let upstream_upgrade = hyper::upgrade::on(&mut response);
                signal.switched();
                tokio::spawn(tunnel(client_upgrade, upstream_upgrade));
                return Ok(response.map(Either::Left));
            }
            // A switch nobody asked for is not passed on.
            return Err(GatewayError::UpstreamUnreachable(
                "the CRM switched protocols for a request that was no WebSocket handshake".into(),
            ));
        }
        remove_hop_by_hop(response.headers_mut());
        Ok(response.map(Either::Left))
    }

    fn upstream_uri(&self, path: Option<&PathAndQuery>) -> Uri {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path.cloned().unwrap_or_else(|| PathAndQuery::from_static("/")));
        // Scheme, authority and path are each valid already, so this cannot fail;
        // fall back to "/" on the upstream rather than panic if it ever did.
        Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("/"))
    }
}

/// Did the client's own body fail (a malformed chunk, an upload cut off)
/// rather than the CRM? hyper reports the body it was given as "user" input.
fn client_body_failed(err: &hyper_util::client::legacy::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if cause.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_user) {
            return true;
        }
        source = cause.source();
    }
    false
}

pub(crate) fn client_tls(
    ca_certs: Option<&[rustls::pki_types::CertificateDer<'static>]>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?;
    let config = match ca_certs {
        Some(certs) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certs {
                roots.add(cert.clone())?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder.with_webpki_roots().with_no_client_auth(),
    };
    Ok(config)
}

/// After both sides agreed to switch protocols, copy bytes both ways until
/// either closes.
async fn tunnel(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    let (client, upstream) = match tokio::join!(client, upstream) {
        (Ok(client), Ok(upstream)) => (client, upstream),
        (Err(err), _) | (_, Err(err)) => {
            tracing::debug!(error = %err, "upgrade failed");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    if let Err(err) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(error = %err, "upgraded connection ended with an error");
    }
}
