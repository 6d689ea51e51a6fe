//! A running gateway, assembled from a loaded config in one place: the
//! store and the session service, sign-in, the admin socket (for the
//! embedded store), the reloader and the admin listener; then the transport
//! ([`crate::proxy::serve`]) is handed the ready parts.
//!
//! ```text
//!  Live (config + policy) ──▶ store ──▶ SessionService ──▶ SignIn
//!        │                                   │
//!        ├──▶ Reloader (file changes, SIGHUP, expiry sweep)
//!        ├──▶ admin socket (embedded store) · admin listener (metrics, health)
//!        └──▶ proxy::serve(Parts): workers, TLS, the request pipeline
//! ```

use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::config::raw::LoginMode;
use crate::config::StoreSettings;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::proxy::Parts;
use crate::session::SessionService;
use crate::signin::{SignIn, SignInSetupError};
use crate::store::{Store, StoreError};
use crate::telemetry::AccessLog;
use crate::upgrade::Replacing;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot set up sign-in: {0}")]
    SignIn(#[from] SignInSetupError),
    #[error("cannot open the admin socket {path}: {err}")]
    AdminSocket { path: String, err: std::io::Error },
    #[error("cannot listen on {address} (admin.listen): {err}")]
    AdminListener {
        address: std::net::SocketAddr,
        err: std::io::Error,
    },
    #[error(transparent)]
    Serve(#[from] crate::proxy::ServeError),
}

/// Run a gateway for `live` on `listener` until `shutdown` completes, then
/// let requests in flight finish within `limits.shutdown_grace`.
pub async fn run(
    live: Live,
    listener: TcpListener,
    access_log: AccessLog,
    clock: Clock,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AppError> {
    run_replacing(live, listener, access_log, clock, shutdown, None).await
}

/// [`run`], taking over from the gateway `replacing` (an upgrade, see
/// [`crate::upgrade`]): it is told to stop once this one is ready to
/// accept, or before this one opens the embedded store that it holds.
pub async fn run_replacing(
    live: Live,
    listener: TcpListener,
    access_log: AccessLog,
    clock: Clock,
    shutdown: impl Future<Output = ()>,
    mut replacing: Option<Replacing>,
) -> Result<(), AppError> {
    let needs_login = live.policy.client_types.iter().any(|c| c.login == LoginMode::Required);
    let live = Arc::new(ArcSwap::from_pointee(live));
    let start = live.load_full();
    let config = &start.config;
    let metrics = Arc::new(Metrics::default());

    let (sessions, signin) = match needs_login {
        true => {
            let store = Arc::new(match &config.store {
                StoreSettings::Embedded(path) => match replacing.take() {
                    Some(old) => {
                        old.take_over();
                        embedded_once_released(path, &clock, config.limits.shutdown_grace).await?
                    }
                    None => Store::embedded(path, clock.clone())?,
                },
                StoreSettings::Redis(settings) => Store::redis_with(settings).await?,
            });
            warn_if_redis_forgets(&store).await;
            let sessions = Arc::new(SessionService::new(store, config.sessions));
            let signin = Arc::new(SignIn::open(config, sessions.clone(), metrics.clone())?);
            (Some(sessions), Some(signin))
        }
        false => (None, None),
    };

    let mut side_jobs = Vec::new();
    // The admin commands reach an embedded store through this gateway.
    let mut admin_socket = None;
    if let (Some(sessions), StoreSettings::Embedded(file)) = (&sessions, &config.store) {
        let path = crate::admin::socket::path_for(file);
        let socket = crate::admin::socket::listen(&path).map_err(|err| AppError::AdminSocket {
            path: path.display().to_string(),
            err,
        })?;
        let serve = crate::admin::socket::serve(socket, sessions.clone(), live.clone(), clock.clone());
        side_jobs.push(tokio::spawn(serve));
        let inode =
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).map_err(|err| AppError::AdminSocket {
                path: path.display().to_string(),
                err,
            })?);
        admin_socket = Some((path, inode));
    }
    if let Some(path) = &config.source {
        let (refresh, asked) = crate::reload::Refresh::new(live.clone());
        let reloader = crate::reload::Reloader {
            path: path.clone(),
            live: live.clone(),
            signin: signin.clone(),
            metrics: metrics.clone(),
            clock: clock.clone(),
            asked,
        };
        if let Some(signin) = &signin {
            let _ = signin.refresh.set(refresh);
            // The users identity providers provisioned join the file's
            // before the first request.
            match crate::session::provisioned::list(&signin.store).await {
                Ok(users) if users.is_empty() => {}
                Ok(_) => {
                    let _ = reloader.reload("start, with provisioned users").await;
                }
                // They are refused until the store answers (its return is
                // announced, and the policy compiled again).
                Err(err) => tracing::warn!(error = %err, "cannot read the provisioned users from the store"),
            }
        }
        side_jobs.push(tokio::spawn(reloader.run(std::future::pending())));
    }
    if let Some(signin) = &signin {
        // Held requests that expire unsent are audited once, by some gateway.
        let sweep =
            crate::approval::sweep_every(signin.store.clone(), clock.clone(), std::time::Duration::from_secs(15));
        side_jobs.push(tokio::spawn(sweep));
    }
    if let Some(address) = config.admin_listen {
        let state = Arc::new(crate::admin::http::AdminState {
            live: live.clone(),
            sessions: sessions.clone(),
            metrics: metrics.clone(),
            clock: clock.clone(),
        });
        let admin = match TcpListener::bind(address).await {
            Ok(admin) => Some(admin),
            // The gateway being replaced holds it until it ends.
            Err(err) if replacing.is_some() && err.kind() == std::io::ErrorKind::AddrInUse => None,
            Err(err) => return Err(AppError::AdminListener { address, err }),
        };
        let grace = config.limits.shutdown_grace;
        side_jobs.push(tokio::spawn(async move {
            let Some(admin) = (match admin {
                Some(admin) => Some(admin),
                None => bound_once_released(address, grace).await,
            }) else {
                return;
            };
            tracing::info!(%address, "admin listener: /metrics, /healthz, /readyz");
            crate::admin::http::serve(admin, state).await
        }));
    }

    let listen = listener.local_addr().unwrap_or(config.listen.address);
    let summary = crate::startup::Summary::gather(&start, listen, sessions.as_ref().map(|s| &*s.store)).await;
    if let Err(why) = &summary.crm_reachable {
        tracing::warn!(crm = %summary.crm, why, "the CRM is not reachable: requests get 502 until it is");
    }
    tracing::info!(target: "startup", "{summary}");

    let parts = Parts {
        live,
        signin,
        access_log,
        metrics,
        clock,
    };
    match replacing {
        Some(old) => old.take_over(),
        None => crate::upgrade::notify_systemd("READY=1"),
    }
    let served = crate::proxy::serve(parts, listener, shutdown).await;
    side_jobs.iter().for_each(|job| job.abort());
    // Unless a gateway replacing this one has made its own there since.
    if let Some((path, inode)) = admin_socket {
        let ours = std::fs::metadata(&path).is_ok_and(|m| std::os::unix::fs::MetadataExt::ino(&m) == inode);
        if ours {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(served?)
}

/// How long past its `shutdown_grace` a gateway being replaced may take to
/// let go of what it holds.
const RELEASE_SLACK: std::time::Duration = std::time::Duration::from_secs(10);

/// The embedded store, once the gateway being replaced has let go of it
/// (redb allows one process). New connections wait in the listening
/// socket's queue meanwhile; none is refused.
async fn embedded_once_released(
    path: &std::path::Path,
    clock: &Clock,
    grace: std::time::Duration,
) -> Result<Store, StoreError> {
    let deadline = tokio::time::Instant::now() + grace + RELEASE_SLACK;
    loop {
        match Store::embedded(path, clock.clone()) {
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            opened => return opened,
        }
    }
}

/// The admin listener's address, once the gateway being replaced has let go of it.
async fn bound_once_released(address: std::net::SocketAddr, grace: std::time::Duration) -> Option<TcpListener> {
    let deadline = tokio::time::Instant::now() + grace + RELEASE_SLACK;
    loop {
        match TcpListener::bind(address).await {
            Ok(listener) => return Some(listener),
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(err) => {
                tracing::error!(%address, error = %err, "cannot listen (admin.listen): no metrics or health checks here");
                return None;
            }
        }
    }
}

async fn warn_if_redis_forgets(store: &Store) {
    if let Store::Redis(redis) = store {
        if redis.persists().await == Some(false) {
            tracing::warn!(
                "Redis keeps nothing on disk: a restart or a flush loses every password, authenticator and \
                 session. Turn on the append-only file (appendonly yes) or RDB snapshots."
            );
        }
    }
}
