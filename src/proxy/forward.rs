//! Phase 5, forward: rewrite the request for the upstream CRM, send it over a
//! pooled keep-alive connection, and stream the response back. Bodies are
//! never buffered: a 1 GiB upload passes through in small frames.
//!
//! What the upstream sees: the client's method, path and body; hop-by-hop
//! headers removed; `X-Forwarded-For/-Proto/-Host`, `Forwarded` and
//! `X-Real-IP` written by us (never passed through from an untrusted client);
//! `Host` as configured.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use http_body::Body as _;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::pipeline::RequestContext;
use super::{Body, GatewayError};
use crate::config::{self, HostHeader};

/// A request body on its way to the CRM, with two limits. It fails if the
/// client sends nothing for `limit` (a slow-body client cannot hold a
/// connection, and an upstream one, open for ever), or once it grows past
/// `max_bytes`. The timer is made only when the body first stalls, so
/// requests without a body pay nothing.
pub struct IdleLimited {
    inner: Incoming,
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
        match Pin::new(&mut self.inner).poll_frame(cx) {
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
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
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

    /// Forward a request the policy allowed: `_permitted` can only come from
    /// [`crate::policy::Decision::permit`].
    pub async fn forward(
        &self,
        mut req: Request<Incoming>,
        ctx: &RequestContext,
        _permitted: crate::policy::Permitted,
    ) -> Result<Response<Body>, GatewayError> {
        let upgrade = upgrade_protocol(&req);
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));

        let (mut parts, body) = req.into_parts();
        let original_host = parts.headers.get(header::HOST).cloned().or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        remove_hop_by_hop(&mut parts.headers);
        if let Some(protocol) = upgrade {
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(header::UPGRADE, protocol);
        }
        set_forwarded(&mut parts.headers, ctx, original_host.as_ref());
        let host = match &self.host {
            HostHeader::Preserve => original_host,
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
            if let Some(client_upgrade) = client_upgrade {
                let upstream_upgrade = hyper::upgrade::on(&mut response);
                tokio::spawn(tunnel(client_upgrade, upstream_upgrade));
                return Ok(response.map(Either::Left));
            }
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

fn client_tls(
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

/// `Some(protocol)` for an HTTP/1.1 request asking to switch protocols
/// (WebSocket): `Connection: upgrade` plus an `Upgrade` header.
fn upgrade_protocol<B>(req: &Request<B>) -> Option<HeaderValue> {
    if req.version() != Version::HTTP_11 {
        return None;
    }
    let asks = req
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| req.headers().get(header::UPGRADE).cloned()).flatten()
}

/// Headers that describe one connection, not the message (RFC 9110 7.6.1),
/// plus any the sender listed in `Connection`.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Write the forwarding headers from what we know, replacing whatever the
/// client sent. A trusted proxy's `X-Forwarded-For` chain is kept and the
/// peer appended, as every proxy in a chain does.
fn set_forwarded(headers: &mut HeaderMap, ctx: &RequestContext, host: Option<&HeaderValue>) {
    let peer = ctx.peer.ip().to_canonical();
    let chain = if ctx.client.via_trusted_proxy {
        let earlier: Vec<&str> = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if earlier.is_empty() {
            peer.to_string()
        } else {
            format!("{}, {peer}", earlier.join(", "))
        }
    } else {
        peer.to_string()
    };
    let client = ctx.client.ip;
    headers.remove(&X_FORWARDED_FOR);
    headers.remove(header::FORWARDED);
    headers.remove(&X_FORWARDED_HOST);
    if let Ok(value) = HeaderValue::from_str(&chain) {
        headers.insert(&X_FORWARDED_FOR, value);
    }
    headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static("https"));
    if let Ok(value) = HeaderValue::from_str(&client.to_string()) {
        headers.insert(&X_REAL_IP, value);
    }
    let node = match client {
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("\"[{ip}]\""),
    };
    let mut forwarded = format!("for={node};proto=https");
    if let Some(host) = host.and_then(|h| h.to_str().ok()) {
        headers.insert(
            &X_FORWARDED_HOST,
            HeaderValue::from_str(host).unwrap_or(HeaderValue::from_static("")),
        );
        if host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)) {
            forwarded.push_str(&format!(";host=\"{host}\""));
        }
    }
    if let Ok(value) = HeaderValue::from_str(&forwarded) {
        headers.insert(header::FORWARDED, value);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_named_in_connection_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert("connection", "keep-alive, x-secret".parse().unwrap());
        headers.insert("keep-alive", "timeout=5".parse().unwrap());
        headers.insert("x-secret", "1".parse().unwrap());
        headers.insert("te", "trailers".parse().unwrap());
        headers.insert("accept", "text/html".parse().unwrap());
        remove_hop_by_hop(&mut headers);
        let names: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept"]);
    }

    #[test]
    fn only_http11_requests_with_both_headers_upgrade() {
        let ws = Request::builder()
            .header("connection", "keep-alive, Upgrade")
            .header("upgrade", "websocket")
            .body(())
            .unwrap();
        assert_eq!(upgrade_protocol(&ws).unwrap(), "websocket");
        let no_connection = Request::builder().header("upgrade", "websocket").body(()).unwrap();
        assert_eq!(upgrade_protocol(&no_connection), None);
    }
}
