//! Live reload: the gateway follows its config file while it runs.
//!
//! ```text
//!  SIGHUP, or a change to the config file or a file it names
//!     │ (certificates, keys, CA, logo; debounced)
//!     ▼
//!  load + validate + compile, on the blocking pool (off the request path)
//!     │ invalid ─▶ the same messages as `check`, logged, audited, counted;
//!     │            the last good config keeps serving
//!     ▼ valid
//!  swap it in: requests in flight finish under the config they started with
//!     ▼
//!  end every session of users the new policy removed, disabled or expired
//!
//!  every SWEEP_EVERY: end every session of users whose `expires` has passed
//! ```
//!
//! What a reload changes: the policy (networks, client types, users, groups,
//! exemptions, routes), trusted proxies, identity headers, certificates, the
//! pages' colour and logo. What it cannot change in a running process (the
//! listening address, the upstream, the store, limits, session and password
//! settings) is reported as needing a restart; the rest still applies.

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot};

mod restart;

pub use restart::needs_restart;

use crate::clock::Clock;
use crate::config::providers::admit_unlisted;
use crate::config::ConfigError;
use crate::live::Live;
use crate::policy::Policy;
use crate::signin::SignIn;

/// How often accounts whose `expires` has passed are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// Editors write a file in several steps; wait for them to settle.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Users whose sessions must end under `new`: those it disables or has
/// expired, and those `old` had that it no longer has.
pub fn offboarded(old: &Policy, new: &Policy, now: SystemTime) -> Vec<(String, &'static str)> {
    let removed = old
        .users
        .keys()
        .filter(|name| !new.users.contains_key(*name))
        .map(|name| (name.clone(), "removed from the policy"));
    removed.chain(ended_accounts(new, now)).collect()
}

/// Users of `policy` who may no longer sign in at all.
fn ended_accounts(policy: &Policy, now: SystemTime) -> impl Iterator<Item = (String, &'static str)> + '_ {
    policy.users.values().filter_map(move |user| {
        if user.disabled {
            Some((user.name.clone(), "account disabled"))
        } else if user.expires.is_some_and(|at| at <= now) {
            Some((user.name.clone(), "account expired"))
        } else {
            None
        }
    })
}

pub struct Reloader {
    /// The config file.
    pub path: PathBuf,
    /// What every request reads; a reload swaps it whole.
    pub live: Arc<ArcSwap<Live>>,
    /// To end sessions and send codes the new way; `None` when no client
    /// type signs in.
    pub signin: Option<Arc<SignIn>>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub clock: Clock,
    /// Sign-in asking for the policy to be compiled again now ([`Refresh`]).
    pub asked: mpsc::Receiver<oneshot::Sender<()>>,
}

/// Asks the reloader to compile the policy again, with the users the
/// store now holds, and waits for it: sign-in, after it provisions a user.
#[derive(Clone)]
pub struct Refresh {
    ask: mpsc::Sender<oneshot::Sender<()>>,
    live: Arc<ArcSwap<Live>>,
}

impl Refresh {
    /// A handle for sign-in, and the reloader's end of it.
    pub fn new(live: Arc<ArcSwap<Live>>) -> (Refresh, mpsc::Receiver<oneshot::Sender<()>>) {
        let (ask, asked) = mpsc::channel(16);
        (Refresh { ask, live }, asked)
    }

    /// What the gateway runs under once a reload begun after this call
    /// has ended (whether or not it succeeded: a failed one keeps the last).
    pub async fn now(&self) -> Arc<Live> {
        let (done, reloaded) = oneshot::channel();
        if self.ask.send(done).await.is_ok() {
            let _ = reloaded.await;
        }
        self.live.load_full()
    }
}

impl Reloader {
    /// Load the file again, with the users identity providers provisioned
    /// in the store, and if it is valid swap it in and end the sessions it
    /// offboards. On error (the store included) the running config is untouched.
    pub async fn reload(&self, trigger: &str) -> Result<(), ConfigError> {
        let provisioned = match &self.signin {
            Some(signin) => match crate::session::provisioned::list(&signin.store).await {
                Ok(users) => users,
                // Nobody is provisioned while no provider admits anyone:
                // a store outage need not hold up the YAML's changes.
                Err(_) if !admit_unlisted(&self.live.load().config.auth.providers) => Vec::new(),
                Err(err) => {
                    let err = ConfigError::Syntax(format!("cannot read the provisioned users from the store: {err}"));
                    tracing::error!(target: "audit", event = "config.reload_failed", file = %self.path.display(), trigger, errors = ?err.lines());
                    self.metrics.reload_failures.inc();
                    return Err(err);
                }
            },
            None => Vec::new(),
        };
        let path = self.path.clone();
        let loaded = tokio::task::spawn_blocking(move || Live::load_with(&path, &provisioned))
            .await
            .unwrap_or_else(|err| Err(ConfigError::Syntax(format!("the reload task failed: {err}"))));
        let new = match loaded {
            Ok(new) => Arc::new(new),
            Err(err) => {
                let errors = err.lines();
                tracing::error!(
                    target: "audit",
                    event = "config.reload_failed",
                    file = %self.path.display(),
                    trigger,
                    errors = ?errors,
                    "the new config is not valid; still serving the last good one",
                );
                self.metrics.reload_failures.inc();
                return Err(err);
            }
        };
        // New ways of sending codes are set up first: if they cannot be,
        // the reload fails and everything stays as it was.
        let old = self.live.load_full();
        if let Some(signin) = self.signin.as_ref().filter(|_| old.config.codes != new.config.codes) {
            if let Err(err) = signin.send_with(&new.config.codes) {
                let err = ConfigError::Invalid(vec![crate::config::Problem {
                    path: "codes".into(),
                    message: err.to_string(),
                }]);
                tracing::error!(target: "audit", event = "config.reload_failed", file = %self.path.display(), trigger, errors = ?err.lines());
                self.metrics.reload_failures.inc();
                return Err(err);
            }
        }
        let old = self.live.swap(new.clone());
        let restart = needs_restart(&old.config, &new.config);
        tracing::info!(
            target: "audit",
            event = "config.reloaded",
            file = %self.path.display(),
            trigger,
            needs_restart = ?restart,
        );
        if !restart.is_empty() {
            tracing::warn!(sections = ?restart, "these config changes take effect after a restart");
        }
        self.metrics.reloads.inc();
        self.end_sessions(offboarded(&old.policy, &new.policy, self.clock.now()))
            .await;
        Ok(())
    }

    /// End the sessions of accounts whose `expires` has passed (or that are
    /// disabled) in the running policy.
    pub async fn sweep(&self) {
        let live = self.live.load_full();
        let ended: Vec<_> = ended_accounts(&live.policy, self.clock.now()).collect();
        self.end_sessions(ended).await;
    }

    async fn end_sessions(&self, users: Vec<(String, &'static str)>) {
        let Some(signin) = &self.signin else { return };
        for (user, why) in users {
            match signin.sessions.revoke_all(&user).await {
                Ok(ended) if ended.is_empty() => {}
                Ok(ended) => {
                    for handle in &ended {
                        tracing::info!(target: "audit", event = "session.revoked", user = %user, session = %handle.0, why);
                    }
                }
                // Their requests are refused by the policy regardless; the
                // next reload or sweep tries again.
                Err(err) => tracing::warn!(user = %user, error = %err, "cannot end the sessions of an offboarded user"),
            }
        }
    }

    /// Reload on SIGHUP, on changes to the files and to the provisioned
    /// users (announced on the store, or asked by sign-in here), sweep
    /// expired accounts, until `shutdown`.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let (changed, mut changes) = mpsc::channel::<()>(1);
        // Kept alive for as long as we watch.
        let _watcher = match self.watch(changed) {
            Ok(watcher) => Some(watcher),
            Err(err) => {
                tracing::warn!(error = %err, "cannot watch the config files; reload with SIGHUP");
                None
            }
        };
        let mut hangups = hangup_signals();
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        let mut announced = self.signin.as_ref().map(|s| s.store.subscribe());
        tokio::pin!(shutdown);
        loop {
            let trigger = tokio::select! {
                _ = &mut shutdown => return,
                _ = sweep.tick() => {
                    self.sweep().await;
                    continue;
                }
                Some(done) = self.asked.recv() => {
                    let _ = self.reload("a user was provisioned").await;
                    let _ = done.send(());
                    while let Ok(done) = self.asked.try_recv() {
                        let _ = done.send(());
                    }
                    continue;
                }
                true = provisioned_changed(&mut announced), if admit_unlisted(&self.live.load().config.auth.providers) => {
                    "provisioned users changed"
                }
                Some(()) = changes.recv() => "file changed",
                Some(()) = recv_hangup(&mut hangups) => "SIGHUP",
            };
            tokio::time::sleep(DEBOUNCE).await;
            while changes.try_recv().is_ok() {}
            let _ = self.reload(trigger).await;
        }
    }

    /// Watch the folders of the config file and of the files it names (an
    /// editor replaces a file by renaming over it, which a watch on the file
    /// itself would miss), and signal a change to any of those files.
    fn watch(&self, changed: mpsc::Sender<()>) -> notify::Result<notify::RecommendedWatcher> {
        use notify::{RecursiveMode, Watcher};
        let live = self.live.load();
        let files: HashSet<PathBuf> = std::iter::once(self.path.clone())
            .chain(live.config.files.iter().cloned())
            .filter_map(|file| canonical(&file))
            .collect();
        let folders: HashSet<PathBuf> = files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
        let watched = files.clone();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if event.kind.is_access() {
                return;
            }
            if event.paths.iter().any(|p| watched.contains(p)) {
                let _ = changed.try_send(());
            }
        })?;
        for folder in &folders {
            watcher.watch(folder, RecursiveMode::NonRecursive)?;
        }
        Ok(watcher)
    }
}

/// Has another gateway announced a change to the provisioned users (or
/// may an announcement have been missed)? Waits until one of those.
async fn provisioned_changed(announced: &mut Option<tokio::sync::broadcast::Receiver<String>>) -> bool {
    use tokio::sync::broadcast::error::RecvError;
    let Some(receiver) = announced else {
        return std::future::pending().await;
    };
    loop {
        match receiver.recv().await {
            Ok(message) if message == crate::session::provisioned::ANNOUNCEMENT || message == crate::store::RESYNC => {
                return true
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return true,
            Err(RecvError::Closed) => return std::future::pending().await,
        }
    }
}

/// `file` with its folder resolved (the file itself may be replaced later).
fn canonical(file: &Path) -> Option<PathBuf> {
    let folder = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(folder.canonicalize().ok()?.join(file.file_name()?))
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

fn hangup_signals() -> Hangups {
    #[cfg(unix)]
    {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
    }
    #[cfg(not(unix))]
    None
}

async fn recv_hangup(hangups: &mut Hangups) -> Option<()> {
    match hangups {
        #[cfg(unix)]
        Some(signal) => signal.recv().await,
        _ => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(users: &str) -> Arc<Policy> {
        let yaml = format!(
            "listen: {{ address: \"127.0.0.1:0\", tls: {{ cert: a, key: b }} }}\nupstream: {{ url: \"http://127.0.0.1:9\" }}\n{users}"
        );
        let raw = crate::config::parse(&yaml).unwrap();
        Arc::new(crate::policy::compile(&raw).unwrap())
    }

    #[test]
    fn a_reload_offboards_removed_disabled_and_expired_users_only() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let old = policy("users: { alice: {}, bob: {}, carol: {}, dave: {}, erin: {} }\n");
        let new = policy(
            "users:\n  alice: {}\n  bob: { disabled: true }\n  carol: { expires: \"2027-01-15T08:00:00Z\" }\n  \
             dave: { expires: \"2030-01-01T00:00:00Z\" }\n",
        );
        let mut ended = offboarded(&old, &new, now);
        ended.sort();
        assert_eq!(
            ended,
            vec![
                ("bob".to_string(), "account disabled"),
                ("carol".to_string(), "account expired"),
                ("erin".to_string(), "removed from the policy"),
            ]
        );
        assert!(
            offboarded(&new, &new, now - Duration::from_secs(1)).len() == 1,
            "carol not yet"
        );
    }
}
