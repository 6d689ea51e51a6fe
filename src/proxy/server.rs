//! The listener: accept TCP, cap concurrent connections, terminate TLS within
//! the header-read timeout, serve HTTP/1.1 or HTTP/2 by ALPN, and shut down
//! gracefully. It knows nothing of policy: each request goes to the [`Gateway`].

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, Semaphore};
use tokio_rustls::TlsAcceptor;

use super::framing::{Guard, UpgradeSignal};
use super::pipeline::{ConnInfo, Gateway};
use crate::config::raw::LoginMode;
use crate::config::{Config, Limits};
use crate::portal::login::Login;
use crate::telemetry::AccessLog;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot start the workers: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot set up logins: {0}")]
    Login(#[from] crate::portal::login::LoginSetupError),
    #[error("cannot open the admin socket {path}: {err}")]
    AdminSocket { path: String, err: std::io::Error },
    #[error("cannot listen on {address} (admin.listen): {err}")]
    AdminListener {
        address: std::net::SocketAddr,
        err: std::io::Error,
    },
}

/// Serve HTTPS on `listener` until `shutdown` completes, then let in-flight
/// requests finish within `limits.shutdown_grace`.
///
/// Thread per core, as nginx does: each worker thread runs its own
/// single-threaded runtime with its own upstream connection pool and accepts
/// from the shared listening socket. A request and the upstream exchange it
/// causes stay on one core, with no cross-thread wake-ups on the hot path.
pub async fn serve(
    config: Arc<Config>,
    listener: TcpListener,
    access_log: AccessLog,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    // What every request and handshake reads; a reload swaps it whole.
    let live = Arc::new(arc_swap::ArcSwap::new(config.clone()));
    let shared = Shared {
        acceptor: TlsAcceptor::from(super::tls::server_config(live.clone())?),
        protocols: Arc::new(Protocols::new(&config.limits)),
        limits: config.limits.clone(),
        connections: Arc::new(Semaphore::new(config.limits.max_connections)),
    };
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let needs_login = config
        .policy
        .client_types
        .iter()
        .any(|c| c.login == LoginMode::Required);
    let login = match needs_login {
        true => Some(Arc::new(Login::open(&config).await?)),
        false => None,
    };
    if let Some(crate::store::Store::Redis(redis)) = login.as_deref().map(|l| &l.store) {
        if redis.persists().await == Some(false) {
            tracing::warn!(
                "Redis keeps nothing on disk: a restart or a flush loses every password, authenticator and \
                 session. Turn on the append-only file (appendonly yes) or RDB snapshots."
            );
        }
    }
    // The admin commands reach an embedded store through this gateway.
    let admin = match (&login, &config.store) {
        (Some(login), crate::config::StoreSettings::Embedded(file)) => {
            let path = crate::admin::socket::path_for(file);
            let listener = crate::admin::socket::listen(&path).map_err(|err| ServeError::AdminSocket {
                path: path.display().to_string(),
                err,
            })?;
            let task = tokio::spawn(crate::admin::socket::serve(listener, login.clone(), live.clone()));
            Some((path, task))
        }
        _ => None,
    };
    let listener = listener.into_std()?;
    // Workers stop accepting when `stop` fires, then drain their connections.
    let (stop, _) = broadcast::channel::<()>(1);
    let mut finished = Vec::new();
    let mut gateways = Vec::new();
    let workers = worker_count();
    for (index, request_ids) in crate::proxy::request_id::RequestIds::for_workers(workers)
        .into_iter()
        .enumerate()
    {
        let gateway = Arc::new(Gateway::new(
            live.clone(),
            login.clone(),
            access_log.clone(),
            metrics.clone(),
            request_ids,
        )?);
        gateways.push(gateway.clone());
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
                    Ok(runtime) => runtime.block_on(worker.run()),
                    Err(err) => tracing::error!(error = %err, "cannot start a worker runtime"),
                }
                let _ = done.send(());
            })?;
        finished.push(finished_rx);
    }
    drop(listener);

    // Side jobs on this runtime: following the config file, the admin listener.
    let mut side_jobs = Vec::new();
    if let Some(path) = &config.source {
        let reloader = crate::reload::Reloader {
            path: path.clone(),
            live: live.clone(),
            login: login.clone(),
            metrics: metrics.clone(),
        };
        side_jobs.push(tokio::spawn(reloader.run(std::future::pending())));
    }
    if let Some(address) = config.admin_listen {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|err| ServeError::AdminListener { address, err })?;
        tracing::info!(%address, "admin listener: /metrics, /healthz, /readyz");
        let admin = crate::admin::http::AdminState {
            live: live.clone(),
            login: login.clone(),
            gateways,
            metrics: metrics.clone(),
        };
        side_jobs.push(tokio::spawn(crate::admin::http::serve(listener, Arc::new(admin))));
    }

    shutdown.await;
    let in_flight = shared.limits.max_connections - shared.connections.available_permits();
    tracing::info!(connections = in_flight, grace = ?shared.limits.shutdown_grace, "shutting down");
    let _ = stop.send(());
    for worker in finished {
        let _ = worker.await;
    }
    if let Some((path, task)) = admin {
        task.abort();
        let _ = std::fs::remove_file(path);
    }
    side_jobs.iter().for_each(|job| job.abort());
    Ok(())
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
        let _ = notify.send(());
        drop(done);
        if tokio::time::timeout(limits.shutdown_grace, all_done.recv())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; cutting the remaining connections");
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
}

impl Connection {
    async fn run(self, tcp: TcpStream, peer: std::net::SocketAddr, mut shutdown: broadcast::Receiver<()>) {
        let _ = tcp.set_nodelay(true);
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
        let service = service_fn(move |req| {
            let gateway = gateway.clone();
            let info = info.clone();
            async move { Ok::<_, Infallible>(gateway.handle(req, &info).await) }
        });
        let result = if h2 {
            let conn = self.protocols.h2.serve_connection(TokioIo::new(tls), service);
            tokio::pin!(conn);
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
            let conn = self
                .protocols
                .h1
                .serve_connection(TokioIo::new(guarded), service)
                .with_upgrades();
            tokio::pin!(conn);
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
