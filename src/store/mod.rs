//! The store: where secrets and sessions live (the YAML holds only policy).
//!
//! Two backends behind one small interface, chosen in the config:
//! **embedded** (a redb file; the default, for one gateway) and **Redis**
//! (for several gateways sharing state). One conformance suite
//! (`tests/it/store.rs`) runs against both.
//!
//! An enum rather than a trait object: two backends, dispatched explicitly,
//! readable top to bottom. Every error is [`StoreError`]; callers fail closed
//! on it (a 503 page, nothing forwarded).

mod embedded;
mod redis;

use std::path::Path;
use std::time::Duration;

use tokio::sync::broadcast;

pub use self::embedded::Embedded;
pub use self::redis::RedisStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("the store file cannot be used: {0}")]
    File(String),
}

/// Sent to subscribers when messages may have been missed (a Redis
/// subscription dropped or came back): forget anything cached.
pub const RESYNC: &str = "\u{0}resync";

pub enum Store {
    Embedded(Embedded),
    Redis(RedisStore),
}

impl Store {
    /// Open (or create) the embedded store at `path`; values expire by `clock`.
    pub fn embedded(path: &Path, clock: crate::clock::Clock) -> Result<Store, StoreError> {
        Embedded::open(path, clock).map(Store::Embedded)
    }

    /// Connect to one Redis at `url`; every key gets `prefix` so that
    /// several deployments can share one Redis.
    pub async fn redis(url: &str, prefix: &str) -> Result<Store, StoreError> {
        Store::redis_with(&crate::config::RedisSettings::single(url, prefix)).await
    }

    /// Connect to one Redis, a Sentinel-managed master, or a Cluster.
    pub async fn redis_with(settings: &crate::config::RedisSettings) -> Result<Store, StoreError> {
        RedisStore::connect(settings).await.map(Store::Redis)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Store::Embedded(s) => s.get(key),
            Store::Redis(s) => s.get(key).await,
        }
    }

    /// Set a value, to expire after `ttl` if given.
    pub async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => s.set(key, value, ttl).await,
            Store::Redis(s) => s.set(key, value, ttl).await,
        }
    }

    /// Set only if the key is absent; `true` if this call set it. For
    /// single-use markers such as "this TOTP code was used".
    pub async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        match self {
            Store::Embedded(s) => s.set_if_absent(key, value, ttl).await,
            Store::Redis(s) => s.set_if_absent(key, value, ttl).await,
        }
    }

    /// Read and delete in one step: a single-use token can be taken once.
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Store::Embedded(s) => s.take(key).await,
            Store::Redis(s) => s.take(key).await,
        }
    }

    /// `true` if the key existed.
    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        match self {
            Store::Embedded(s) => s.delete(key).await,
            Store::Redis(s) => s.delete(key).await,
        }
    }

    /// Count one more hit in a window that starts at the first hit and
    /// lasts `window`; returns the hits so far. For throttling.
    pub async fn count(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        match self {
            Store::Embedded(s) => s.count(key, window).await,
            Store::Redis(s) => s.count(key, window).await,
        }
    }

    /// Add `member` to the set `set` (a user's sessions, say).
    pub async fn set_add(&self, set: &str, member: &str) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => s.set_add(set, member).await,
            Store::Redis(s) => s.set_add(set, member).await,
        }
    }

    pub async fn set_remove(&self, set: &str, member: &str) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => s.set_remove(set, member).await,
            Store::Redis(s) => s.set_remove(set, member).await,
        }
    }

    /// The members of `set`, sorted.
    pub async fn set_members(&self, set: &str) -> Result<Vec<String>, StoreError> {
        let mut members = match self {
            Store::Embedded(s) => s.set_members(set)?,
            Store::Redis(s) => s.set_members(set).await?,
        };
        members.sort();
        Ok(members)
    }

    /// Tell every gateway sharing this store (revocations, mainly).
    pub async fn publish(&self, message: &str) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => s.publish(message),
            Store::Redis(s) => s.publish(message).await,
        }
    }

    /// True while every message published by any gateway is sure to reach
    /// this one; false while a Redis subscription is down. Caches of store
    /// data must not be trusted while it is false.
    pub fn hearing_everything(&self) -> bool {
        match self {
            Store::Embedded(_) => true,
            Store::Redis(s) => s.hearing_everything(),
        }
    }

    /// Messages published by any gateway sharing this store, this one
    /// included. [`RESYNC`] means messages may have been missed.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        match self {
            Store::Embedded(s) => s.subscribe(),
            Store::Redis(s) => s.subscribe(),
        }
    }

    /// Is the store answering? For readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => s.get("\u{0}ping").map(|_| ()),
            Store::Redis(s) => s.ping().await,
        }
    }
}
