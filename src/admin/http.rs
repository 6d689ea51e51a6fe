//! The admin listener: `/metrics` (Prometheus), `/healthz` (the process is
//! alive) and `/readyz` (the store and the CRM answer). Plain HTTP/1.1 on
//! its own address (`admin.listen`, loopback by default), apart from the
//! gateway's TLS listener: a load balancer or Prometheus reaches it, users
//! do not.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::live::Live;
use crate::metrics::{self, Metrics};
use crate::session::SessionService;

/// How long a readiness check waits for the store or the CRM.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

pub struct AdminState {
    pub live: Arc<ArcSwap<Live>>,
    /// For readiness and the active-session count; `None` without sign-in.
    pub sessions: Option<Arc<SessionService>>,
    /// Every worker's counters, and the shared ones.
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
}

pub async fn serve(listener: TcpListener, state: Arc<AdminState>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(answer(&state, req.uri().path()).await) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}

async fn answer(state: &AdminState, path: &str) -> Response<Full<Bytes>> {
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match ready(state).await {
            Ok(()) => text(StatusCode::OK, "ready\n".into()),
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
        },
        "/metrics" => {
            let active = active_sessions(state).await;
            let mut response = text(StatusCode::OK, metrics::render(&state.metrics, active));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /healthz or /readyz\n".into(),
        ),
    }
}

/// The store answers and the CRM accepts a connection.
async fn ready(state: &AdminState) -> Result<(), String> {
    if let Some(sessions) = &state.sessions {
        match tokio::time::timeout(PROBE_TIMEOUT, sessions.store.ping()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(format!("store: {err}")),
            Err(_) => return Err("store: no answer within 1 s".into()),
        }
    }
    let live = state.live.load();
    let authority = live.config.upstream.authority.clone();
    let port = authority
        .port_u16()
        .unwrap_or(if live.config.upstream.scheme == http::uri::Scheme::HTTPS {
            443
        } else {
            80
        });
    let address = format!(
        "{}:{port}",
        authority.host().trim_start_matches('[').trim_end_matches(']')
    );
    match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(&address)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(format!("upstream {address}: {err}")),
        Err(_) => Err(format!("upstream {address}: no connection within 1 s")),
    }
}

/// Live sessions of the policy's users (one store read per user), or none
/// when there are no logins or the store does not answer.
async fn active_sessions(state: &AdminState) -> Option<u64> {
    let sessions = state.sessions.as_ref()?;
    let live = state.live.load();
    let now = state.clock.now();
    let mut total = 0;
    for user in live.policy.users.keys() {
        total += sessions.sessions().list(user, now).await.ok()?.len() as u64;
    }
    Some(total)
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}
