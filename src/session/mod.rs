//! Sessions: who is signed in, from where, since when.
//!
//! - A session id is 256 random bits, sent to the browser as the cookie
//!   value. The store keys the session by the id's SHA-256, so a dump of
//!   the store yields no usable cookie.
//! - Whether a session is still good is [`validity`], a pure function of the
//!   session, the limits and `now`: idle timeout and absolute lifetime. The
//!   store's own expiry is only garbage collection, set a little longer.
//! - `last_seen` is written at most every `touch_every`, not on every request.
//! - Each user has an index of their sessions, for remote logout, reviews
//!   and `max_per_user`.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::digest::{digest, SHA256};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

pub mod by_provider;
pub mod provisioned;
mod service;
pub use crate::config::SessionLimits as Limits;
pub use service::SessionService;

/// The cookie value. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId([u8; 32]);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl SessionId {
    pub fn generate() -> SessionId {
        SessionId(crate::auth::random_bytes())
    }

    /// Parse a cookie value; anything but 64 hex digits is no session.
    pub fn from_cookie(value: &str) -> Option<SessionId> {
        if value.len() != 64 {
            return None;
        }
        hex::decode(value).ok()?.try_into().ok().map(SessionId)
    }

    pub fn to_cookie(&self) -> String {
        hex::encode(self.0)
    }

    /// What the store knows the session by: the SHA-256 of the id.
    pub fn handle(&self) -> SessionHandle {
        SessionHandle(hex::encode(digest(&SHA256, &self.0).as_ref()))
    }
}

/// A session as the store knows it (the id's hash). Safe to show admins
/// and to log: it cannot be turned back into a cookie.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionHandle(pub String);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user: String,
    pub client_type: String,
    pub ip: IpAddr,
    /// Seconds since the epoch.
    pub created: u64,
    pub last_seen: u64,
    /// When the user last completed a second factor (login or step-up).
    pub second_factor_at: u64,
}

/// The last completed sign-in of a user, for access reviews.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastLogin {
    /// Seconds since the epoch.
    pub at: u64,
    pub ip: IpAddr,
    pub client_type: String,
}

impl LastLogin {
    fn key(user: &str) -> String {
        format!("last-login:{user}")
    }

    pub async fn record(
        store: &Store,
        user: &str,
        ip: IpAddr,
        client_type: &str,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let record = LastLogin {
            at: secs(now),
            ip,
            client_type: client_type.to_owned(),
        };
        let bytes = serde_json::to_vec(&record).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        store.set(&LastLogin::key(user), &bytes, None).await
    }

    pub async fn load(store: &Store, user: &str) -> Result<Option<LastLogin>, StoreError> {
        let bytes = store.get(&LastLogin::key(user)).await?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Good; `touch` says `last_seen` is old enough to write again.
    Live {
        touch: bool,
    },
    Idle,
    TooOld,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub fn validity(session: &Session, limits: &Limits, now: SystemTime) -> Validity {
    let now = secs(now);
    if now >= session.created.saturating_add(limits.max_lifetime.as_secs()) {
        Validity::TooOld
    } else if now >= session.last_seen.saturating_add(limits.idle_timeout.as_secs()) {
        Validity::Idle
    } else {
        Validity::Live {
            touch: now >= session.last_seen.saturating_add(limits.touch_every.as_secs()),
        }
    }
}

/// Why a session ended, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Idle,
    TooOld,
}

/// Session operations on a store.
pub struct Sessions<'a> {
    pub store: &'a Store,
    pub limits: Limits,
}

/// How long a sign-in may hold a user's place, and how long another waits
/// for it; starting a session takes a few store round trips.
const SIGNING_IN_HOLD: Duration = Duration::from_secs(5);
const SIGNING_IN_WAIT: Duration = Duration::from_secs(2);

fn signing_in_key(user: &str) -> String {
    format!("user:{user}:signing-in")
}

fn session_key(handle: &SessionHandle) -> String {
    format!("session:{}", handle.0)
}

fn index_key(user: &str) -> String {
    format!("user:{user}:sessions")
}

impl Sessions<'_> {
    /// The store keeps a session a little longer than it can live idle, so
    /// that expiry is decided by [`validity`], not by the store's clock.
    fn store_ttl(&self) -> Duration {
        self.limits.idle_timeout + Duration::from_secs(60)
    }

    async fn save(&self, handle: &SessionHandle, session: &Session) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(session).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        self.store
            .set(&session_key(handle), &bytes, Some(self.store_ttl()))
            .await
    }

    async fn load(&self, handle: &SessionHandle) -> Result<Option<Session>, StoreError> {
        let bytes = self.store.get(&session_key(handle)).await?;
        // Unreadable data is no session (fail closed), not an outage.
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Start a session after a complete login. With `max_per_user`, the
    /// oldest sessions of the user end to make room; they are returned.
    pub async fn create(
        &self,
        user: &str,
        client_type: &str,
        ip: IpAddr,
        now: SystemTime,
    ) -> Result<(SessionId, Vec<SessionHandle>), StoreError> {
        let id = SessionId::generate();
        let handle = id.handle();
        let at = secs(now);
        let session = Session {
            user: user.to_owned(),
            client_type: client_type.to_owned(),
            ip,
            created: at,
            last_seen: at,
            second_factor_at: at,
        };
        if self.limits.max_per_user == 0 {
            self.save(&handle, &session).await?;
            self.store.set_add(&index_key(user), &handle.0).await?;
            return Ok((id, Vec::new()));
        }
        // Count, end the oldest and add this one as one step: two sign-ins
        // at the same moment, on two gateways, must not both find room.
        self.signing_in(user).await?;
        let made_room = async {
            let mut ended = Vec::new();
            let existing = self.list(user, now).await?;
            let excess = (existing.len() + 1).saturating_sub(self.limits.max_per_user);
            for (old, _) in existing.into_iter().take(excess) {
                self.revoke(user, &old).await?;
                ended.push(old);
            }
            self.save(&handle, &session).await?;
            self.store.set_add(&index_key(user), &handle.0).await?;
            Ok(ended)
        }
        .await;
        self.store.delete(&signing_in_key(user)).await?;
        Ok((id, made_room?))
    }

    /// Wait until no other sign-in of `user` is starting a session, on any
    /// gateway sharing the store, and hold that place. The hold lapses by
    /// itself should this gateway die holding it.
    async fn signing_in(&self, user: &str) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        while !self
            .store
            .set_if_absent(&signing_in_key(user), b"1", SIGNING_IN_HOLD)
            .await?
        {
            if started.elapsed() > SIGNING_IN_WAIT {
                return Err(StoreError::Unavailable(
                    "another sign-in of the same user did not finish in time".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// The live session for a cookie, touched if due; an expired one is
    /// ended and reported.
    pub async fn resume(&self, id: &SessionId, now: SystemTime) -> Result<Result<Session, Option<Ended>>, StoreError> {
        let handle = id.handle();
        let Some(mut session) = self.load(&handle).await? else {
            return Ok(Err(None));
        };
        match validity(&session, &self.limits, now) {
            Validity::Live { touch } => {
                if touch {
                    session.last_seen = secs(now);
                    // A store that reads but cannot write (a full disk)
                    // keeps signed-in users working: the session was found
                    // live, and one whose activity went unrecorded only
                    // idles out sooner.
                    if let Err(err) = self.save(&handle, &session).await {
                        tracing::warn!("could not record a session's activity: {err}");
                    }
                }
                Ok(Ok(session))
            }
            expired => {
                self.revoke(&session.user, &handle).await?;
                Ok(Err(Some(if expired == Validity::Idle {
                    Ended::Idle
                } else {
                    Ended::TooOld
                })))
            }
        }
    }

    /// Record a fresh second factor (step-up).
    pub async fn stepped_up(&self, id: &SessionId, now: SystemTime) -> Result<(), StoreError> {
        let handle = id.handle();
        if let Some(mut session) = self.load(&handle).await? {
            session.second_factor_at = secs(now);
            session.last_seen = secs(now);
            self.save(&handle, &session).await?;
        }
        Ok(())
    }

    /// End one session, and tell every gateway sharing the store.
    pub async fn revoke(&self, user: &str, handle: &SessionHandle) -> Result<(), StoreError> {
        self.store.delete(&session_key(handle)).await?;
        self.store.set_remove(&index_key(user), &handle.0).await?;
        self.store.publish(&format!("revoked {}", handle.0)).await
    }

    /// End every session of a user (offboarding, "log out everywhere").
    pub async fn revoke_all(&self, user: &str) -> Result<Vec<SessionHandle>, StoreError> {
        let handles: Vec<SessionHandle> = (self.store.set_members(&index_key(user)).await?)
            .into_iter()
            .map(SessionHandle)
            .collect();
        for handle in &handles {
            self.revoke(user, handle).await?;
        }
        Ok(handles)
    }

    /// A user's live sessions, oldest first; index entries whose session
    /// has gone are pruned.
    pub async fn list(&self, user: &str, now: SystemTime) -> Result<Vec<(SessionHandle, Session)>, StoreError> {
        let mut live = Vec::new();
        for member in self.store.set_members(&index_key(user)).await? {
            let handle = SessionHandle(member);
            match self.load(&handle).await? {
                Some(session) if matches!(validity(&session, &self.limits, now), Validity::Live { .. }) => {
                    live.push((handle, session))
                }
                _ => self.store.set_remove(&index_key(user), &handle.0).await?,
            }
        }
        live.sort_by_key(|(_, s)| s.created);
        Ok(live)
    }
}

/// Two addresses count as one network when they share a /24 (IPv4) or a
/// /48 (IPv6): an office or a home, not the whole internet provider.
pub fn same_network(a: IpAddr, b: IpAddr) -> bool {
    match (a.to_canonical(), b.to_canonical()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.octets()[..3] == b.octets()[..3],
        (IpAddr::V6(a), IpAddr::V6(b)) => a.segments()[..3] == b.segments()[..3],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        idle_timeout: Duration::from_secs(30 * 60),
        max_lifetime: Duration::from_secs(12 * 3600),
        touch_every: Duration::from_secs(60),
        max_per_user: 0,
        refuse_sharing: false,
    };

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn session(created: u64, last_seen: u64) -> Session {
        Session {
            user: "alice".into(),
            client_type: "web".into(),
            ip: "193.167.1.70".parse().unwrap(),
            created,
            last_seen,
            second_factor_at: created,
        }
    }

    #[test]
    fn a_session_idle_too_long_or_too_old_is_over() {
        let s = session(1_000, 1_000);
        assert_eq!(validity(&s, &LIMITS, at(1_030)), Validity::Live { touch: false });
        assert_eq!(validity(&s, &LIMITS, at(1_060)), Validity::Live { touch: true });
        assert_eq!(validity(&s, &LIMITS, at(1_000 + 1800)), Validity::Idle);
        let busy = session(1_000, 1_000 + 12 * 3600 - 10);
        assert_eq!(validity(&busy, &LIMITS, at(1_000 + 12 * 3600)), Validity::TooOld);
    }

    #[test]
    fn cookies_round_trip_and_the_store_sees_only_a_hash() {
        let id = SessionId::generate();
        let cookie = id.to_cookie();
        assert_eq!(cookie.len(), 64);
        assert_eq!(SessionId::from_cookie(&cookie), Some(id.clone()));
        assert_ne!(id.handle().0, cookie);
        assert_eq!(id.handle().0.len(), 64);
        assert_eq!(SessionId::from_cookie("zz"), None);
        assert_eq!(SessionId::from_cookie(&"g".repeat(64)), None);
        assert_eq!(format!("{id:?}"), "[redacted]");
    }

    #[test]
    fn neighbours_share_a_network_strangers_do_not() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(same_network(ip("193.167.1.70"), ip("193.167.1.9")));
        assert!(same_network(ip("::ffff:193.167.1.70"), ip("193.167.1.9")));
        assert!(!same_network(ip("193.167.1.70"), ip("193.167.2.70")));
        assert!(same_network(ip("2001:db8:1::1"), ip("2001:db8:1:ff::2")));
        assert!(!same_network(ip("2001:db8:1::1"), ip("2001:db8:2::1")));
        assert!(!same_network(ip("193.167.1.70"), ip("2001:db8:1::1")));
    }
}
