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
    let needs_login = live.policy.client_types.iter().any(|c| c.login == LoginMode::Required);
    let live = Arc::new(ArcSwap::from_pointee(live));
    let start = live.load_full();
    let config = &start.config;
    let metrics = Arc::new(Metrics::default());

    let (sessions, signin) = match needs_login {
        true => {
            let store = Arc::new(match &config.store {
                StoreSettings::Embedded(path) => Store::embedded(path, clock.clone())?,
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
        admin_socket = Some(path);
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
    if let Some(address) = config.admin_listen {
        let admin = TcpListener::bind(address)
            .await
            .map_err(|err| AppError::AdminListener { address, err })?;
        tracing::info!(%address, "admin listener: /metrics, /healthz, /readyz");
        let state = crate::admin::http::AdminState {
            live: live.clone(),
            sessions: sessions.clone(),
            metrics: metrics.clone(),
            clock: clock.clone(),
        };
        side_jobs.push(tokio::spawn(crate::admin::http::serve(admin, Arc::new(state))));
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
    let served = crate::proxy::serve(parts, listener, shutdown).await;
    side_jobs.iter().for_each(|job| job.abort());
    if let Some(path) = admin_socket {
        let _ = std::fs::remove_file(path);
    }
    Ok(served?)
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
