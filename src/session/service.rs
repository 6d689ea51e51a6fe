//! The session service: sessions on the store, with a per-gateway cache of
//! the ones just checked, kept right by revocations made here (evicted at
//! once) and by other gateways' broadcasts (evicted when they arrive).
//! Everything that starts or ends a session goes through it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::{validity, Ended, Limits, Session, SessionHandle, SessionId, Sessions, Validity};
use crate::store::{Store, StoreError};

pub struct SessionService {
    pub store: Arc<Store>,
    pub limits: Limits,
    /// Sessions resumed in the last second, so a busy user does not cost a
    /// store round trip per request.
    cache: Arc<SessionCache>,
}

impl SessionService {
    /// The service over `store`; its cache follows the store's broadcasts
    /// (a task that ends with the store).
    pub fn new(store: Arc<Store>, limits: Limits) -> SessionService {
        let cache = Arc::new(SessionCache::default());
        tokio::spawn(evict_on_broadcast(store.subscribe(), cache.clone()));
        SessionService { store, limits, cache }
    }

    /// The live session for a cookie: from the cache when it is fresh and
    /// needs no touch, else from the store.
    pub async fn resume(&self, id: &SessionId, now: SystemTime) -> Result<Result<Session, Option<Ended>>, StoreError> {
        let handle = id.handle();
        // While the store's broadcasts may be missed, trust only the store.
        let cached = if self.store.hearing_everything() {
            self.cache.get(&handle, now)
        } else {
            None
        };
        if let Some(session) = cached {
            if validity(&session, &self.limits, now) == (Validity::Live { touch: false }) {
                return Ok(Ok(session));
            }
        }
        let resumed = self.sessions().resume(id, now).await?;
        match &resumed {
            Ok(session) => self.cache.put(&handle, session, now),
            Err(_) => self.cache.evict(&handle.0),
        }
        Ok(resumed)
    }

    /// Start a session; sessions it ends (`max_per_user`) leave the cache.
    pub async fn create(
        &self,
        user: &str,
        client_type: &str,
        ip: IpAddr,
        now: SystemTime,
    ) -> Result<(SessionId, Vec<SessionHandle>), StoreError> {
        let (id, ended) = self.sessions().create(user, client_type, ip, now).await?;
        ended.iter().for_each(|h| self.cache.evict(&h.0));
        Ok((id, ended))
    }

    pub async fn revoke(&self, user: &str, handle: &SessionHandle) -> Result<(), StoreError> {
        self.cache.evict(&handle.0);
        self.sessions().revoke(user, handle).await
    }

    pub async fn revoke_all(&self, user: &str) -> Result<Vec<SessionHandle>, StoreError> {
        let ended = self.sessions().revoke_all(user).await?;
        ended.iter().for_each(|h| self.cache.evict(&h.0));
        Ok(ended)
    }

    pub async fn stepped_up(&self, id: &SessionId, now: SystemTime) -> Result<(), StoreError> {
        self.cache.evict(&id.handle().0);
        self.sessions().stepped_up(id, now).await
    }

    /// The store's sessions, uncached: for listing. Change sessions through
    /// [`Login`]'s own methods, which keep the cache right.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions {
            store: &self.store,
            limits: self.limits,
        }
    }
}

/// Recently resumed sessions.
///
/// Safe because: an entry lives at most [`CACHE_FOR`]; revocations made
/// here evict at once (before the response goes out); revocations made by
/// other gateways evict when their broadcast arrives; while broadcasts could
/// be missed (Redis subscription down) the cache is bypassed and cleared;
/// and expiry and policy are still decided on every request
/// (`validity(now)`, `decide`). So a revoked session is refused everywhere,
/// and a store outage fails closed, within a second at worst (in practice
/// within the time the dead connection takes to notice).
#[derive(Default)]
struct SessionCache {
    /// By handle: the session and when (gateway time) it was read.
    entries: Mutex<HashMap<String, (Session, SystemTime)>>,
}

const CACHE_FOR: Duration = Duration::from_secs(1);
const CACHE_MAX_ENTRIES: usize = 100_000;

impl SessionCache {
    fn get(&self, handle: &SessionHandle, now: SystemTime) -> Option<Session> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&handle.0)
            .filter(|(_, at)| fresh(*at, now))
            .map(|(s, _)| s.clone())
    }

    fn put(&self, handle: &SessionHandle, session: &Session, now: SystemTime) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CACHE_MAX_ENTRIES {
            entries.retain(|_, (_, at)| fresh(*at, now));
        }
        entries.insert(handle.0.clone(), (session.clone(), now));
    }

    fn evict(&self, handle: &str) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(handle);
    }

    fn clear(&self) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// Read at `at`, still good at `now`?
fn fresh(at: SystemTime, now: SystemTime) -> bool {
    now.duration_since(at).is_ok_and(|age| age < CACHE_FOR)
}

/// Evict sessions that any gateway sharing the store revoked. If messages
/// were missed, forget everything rather than risk a stale entry.
async fn evict_on_broadcast(mut events: tokio::sync::broadcast::Receiver<String>, cache: Arc<SessionCache>) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(message) if message == crate::store::RESYNC => cache.clear(),
            Ok(message) => {
                if let Some(handle) = message.strip_prefix("revoked ") {
                    cache.evict(handle);
                }
            }
            Err(RecvError::Lagged(_)) => cache.clear(),
            Err(RecvError::Closed) => return,
        }
    }
}
