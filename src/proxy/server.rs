//! The listener: accept TCP, cap concurrent connections, terminate TLS within
//! the header-read timeout, serve HTTP/1.1 or HTTP/2 by ALPN, and shut down
//! gracefully. It knows nothing of policy: each request goes to the [`Gateway`].

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, Semaphore};
use tokio_rustls::TlsAcceptor;

use arc_swap::ArcSwap;

use super::framing::{Guard, UpgradeSignal};
use super::pipeline::{ConnInfo, Gateway};
use crate::clock::Clock;
use crate::config::Limits;
use crate::live::Live;
use crate::request_id::RequestIds;
use crate::signin::SignIn;
use crate::telemetry::AccessLog;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot start the workers: {0}")]
    Io(#[from] std::io::Error),
}

/// What the transport is handed, ready-made ([`crate::app`] assembles it).
pub struct Parts {
    /// What every request and handshake reads; a reload swaps it whole.
    pub live: Arc<ArcSwap<Live>>,
    /// Sign-in and sessions; `None` when no client type signs in.
    pub signin: Option<Arc<SignIn>>,
    pub access_log: AccessLog,
    /// Every worker registers its request counters here.
    pub metrics: Arc<crate::metrics::Metrics>,
    pub clock: Clock,
}

/// Serve HTTPS on `listener` until `shutdown` completes, then let in-flight
/// requests finish within `limits.shutdown_grace`.
///
/// Thread per core, as nginx does: each worker thread runs its own
/// single-threaded runtime with its own upstream connection pool and accepts
/// from the shared listening socket. A request and the upstream exchange it
/// causes stay on one core, with no cross-thread wake-ups on the hot path.
pub async fn serve(parts: Parts, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
    let start = parts.live.load_full();
    let limits = start.config.limits.clone();
    let shared = Shared {
        acceptor: TlsAcceptor::from(super::tls::server_config(parts.live.clone())?),
        protocols: Arc::new(Protocols::new(&limits)),
        limits: limits.clone(),
        connections: Arc::new(Semaphore::new(limits.max_connections)),
        draining: Arc::new(AtomicBool::new(false)),
    };
    let listener = listener.into_std()?;
    // Workers stop accepting when `stop` fires, then drain their connections.
    let (stop, _) = broadcast::channel::<()>(1);
    let mut finished = Vec::new();
    let workers = worker_count();
    for (index, request_ids) in RequestIds::for_workers(workers).into_iter().enumerate() {
        let gateway = Arc::new(Gateway::new(
            parts.live.clone(),
            parts.signin.clone(),
            parts.access_log.clone(),
            parts.metrics.clone(),
            request_ids,
            parts.clock.clone(),
        )?);
        let worker = Worker {
            shared: shared.clone(),
            gateway,
            listener: listener.try_clone()?,
            stop: stop.subscribe(),
        };
        let (done, finished_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("portcullis-worker-{index}"))
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => {
                        runtime.spawn(give_back_memory());
                        runtime.block_on(worker.run())
                    }
                    Err(err) => tracing::error!(error = %err, "cannot start a worker runtime"),
                }
                let _ = done.send(());
            })?;
        finished.push(finished_rx);
    }
    drop(listener);

    shutdown.await;
    let in_flight = shared.limits.max_connections - shared.connections.available_permits();
    tracing::info!(connections = in_flight, grace = ?shared.limits.shutdown_grace, "shutting down");
    let _ = stop.send(());
    for worker in finished {
        let _ = worker.await;
    }
    Ok(())
}

/// How long connections get, once the gateway stops, to hear that they
/// close with an answer before idle ones are ended.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Each second, the memory this worker's connections freed goes back to
/// the system: the allocator keeps it for reuse otherwise, and a worker
/// with nothing to do never gets round to returning it. (Tidying a heap
/// takes microseconds.)
async fn give_back_memory() {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        // SAFETY: mi_collect only tidies the calling thread's heap (and
        // abandoned ones); any thread may call it at any time.
        unsafe { libmimalloc_sys::mi_collect(false) };
    }
}

fn worker_count() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// What every worker shares.
#[derive(Clone)]
struct Shared {
    acceptor: TlsAcceptor,
    protocols: Arc<Protocols>,
    limits: Limits,
    /// One cap on open connections across all workers.
    connections: Arc<Semaphore>,
    /// Shutting down: answers close their connections.
    draining: Arc<AtomicBool>,
}

struct Worker {
    shared: Shared,
    /// Each worker has its own, so that its upstream pool is its own.
    gateway: Arc<Gateway>,
    listener: std::net::TcpListener,
    stop: broadcast::Receiver<()>,
}

impl Worker {
    async fn run(mut self) {
        let listener = match TcpListener::from_std(self.listener) {
            Ok(listener) => listener,
            Err(err) => {
                tracing::error!(error = %err, "worker cannot use the listening socket");
                return;
            }
        };
        let limits = &self.shared.limits;
        // Connection tasks listen on `notify` for shutdown and hold a `done`
        // sender; when every sender is gone, every connection has finished.
        let (notify, _) = broadcast::channel::<()>(1);
        let (done, mut all_done) = mpsc::channel::<()>(1);
        loop {
            let permit = tokio::select! {
                _ = self.stop.recv() => break,
                permit = self.shared.connections.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break, // the semaphore is never closed
                },
            };
            let (tcp, peer) = tokio::select! {
                _ = self.stop.recv() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let conn = Connection {
                acceptor: self.shared.acceptor.clone(),
                protocols: self.shared.protocols.clone(),
                gateway: self.gateway.clone(),
                limits: limits.clone(),
                draining: self.shared.draining.clone(),
            };
            let shutdown = notify.subscribe();
            let done = done.clone();
            tokio::spawn(async move {
                conn.run(tcp, peer, shutdown).await;
                drop(permit);
                drop(done);
            });
        }
        drop(listener);
        drop(done);
        // Draining: every HTTP/1 answer now says `Connection: close`, so
        // that a client hears it before its connection ends (closing an idle
        // keep-alive connection races with the client's next request, which
        // would fail). Those still open after DRAIN end as soon as they are
        // idle; HTTP/2 has GOAWAY for this.
        self.shared.draining.store(true, Ordering::Relaxed);
        let drain = DRAIN.min(limits.shutdown_grace);
        if tokio::time::timeout(drain, all_done.recv()).await.is_err() {
            let _ = notify.send(());
            if tokio::time::timeout(limits.shutdown_grace, all_done.recv())
                .await
                .is_err()
            {
                tracing::warn!("grace period over; cutting the remaining connections");
            }
        }
    }
}

/// HTTP/1.1 and HTTP/2 settings, shared by every connection. The protocol is
/// chosen by ALPN during the TLS handshake, so no sniffing is needed.
struct Protocols {
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
}

impl Protocols {
    fn new(limits: &Limits) -> Protocols {
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            // Also bounds how long an idle keep-alive connection stays open.
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(limits.max_header_bytes.max(8192))
            // Also judged on a head that arrives whole (the buffer limit
            // above only stops an incomplete one).
            .max_header_size(limits.max_header_bytes.max(8192))
            .max_headers(limits.max_headers);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(256)
            .keep_alive_interval(std::time::Duration::from_secs(30));
        Protocols { h1, h2 }
    }
}

struct Connection {
    acceptor: TlsAcceptor,
    protocols: Arc<Protocols>,
    gateway: Arc<Gateway>,
    limits: Limits,
    draining: Arc<AtomicBool>,
}

impl Connection {
    async fn run(self, mut tcp: TcpStream, mut peer: std::net::SocketAddr, mut shutdown: broadcast::Receiver<()>) {
        let _ = tcp.set_nodelay(true);
        // Behind a listed load balancer the connection starts with who the
        // client is; without it (or with a broken one) it ends here.
        if self.gateway.expects_proxy_header(peer.ip()) {
            match super::proxy_protocol::read(&mut tcp, peer, self.limits.header_read_timeout).await {
                Ok(client) => peer = client,
                Err(refused) => {
                    tracing::warn!(balancer = %peer, "{refused}; connection closed");
                    return;
                }
            }
        }
        // The handshake counts against the header-read timeout: a client that
        // stalls in TLS is as much a slowloris as one that stalls in HTTP.
        let tls = match tokio::time::timeout(self.limits.header_read_timeout, self.acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(err)) => {
                tracing::debug!(%peer, error = %err, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        };
        let session = tls.get_ref().1;
        let h2 = session.alpn_protocol() == Some(b"h2");
        let upgrade = Arc::new(UpgradeSignal::default());
        let info = Arc::new(ConnInfo {
            peer,
            server_name: session.server_name().map(str::to_owned),
            upgrade: upgrade.clone(),
        });
        let gateway = self.gateway;
        let draining = self.draining;
        let service = service_fn(move |req| {
            let gateway = gateway.clone();
            let info = info.clone();
            let draining = draining.clone();
            async move {
                // On the heap for the request's while: hyper keeps room for
                // this future for a connection's life, idle or not, and the
                // whole request path is some kilobytes of it.
                let mut response = Box::pin(gateway.handle(req, &info)).await;
                if !h2 && draining.load(Ordering::Relaxed) {
                    (response.headers_mut()).insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response)
            }
        });
        let result = if h2 {
            // Boxed, each protocol's connection takes only its own room (in
            // the task, it would take the larger of the two).
            let mut conn = Box::pin(self.protocols.h2.serve_connection(TokioIo::new(tls), service));
            tokio::select! {
                result = conn.as_mut() => result,
                _ = shutdown.recv() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            }
        } else {
            let limits = &self.limits;
            let guarded = Guard::new(
                tls,
                limits.max_header_bytes.max(8192),
                limits.max_headers,
                peer,
                upgrade,
            );
            let conn = (self.protocols.h1)
                .serve_connection(TokioIo::new(guarded), service)
                .with_upgrades();
            let mut conn = Box::pin(conn);
            tokio::select! {
                result = conn.as_mut() => result,
                _ = shutdown.recv() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            }
        };
        if let Err(err) = result {
            tracing::debug!(%peer, error = %err, "connection ended with an error");
        }
    }
}
