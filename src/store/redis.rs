//! The Redis store, for several gateways sharing state. Every key is
//! prefixed; multi-step operations are single commands or Lua scripts, so
//! they are atomic across gateways. Published messages arrive through one
//! subscriber connection per gateway, re-established if Redis restarts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tokio::sync::broadcast;

use super::StoreError;

const CHANNEL: &str = "events";

pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    events: broadcast::Sender<String>,
    /// True while the subscription is up, so that no broadcast can be missed.
    subscribed: Arc<AtomicBool>,
    /// Forwards messages from Redis to `events`; ends with the store.
    listener: tokio::task::JoinHandle<()>,
}

fn fail(err: redis::RedisError) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

/// INCR with the window starting at the first hit, atomically.
const COUNT: &str = "local n = redis.call('INCR', KEYS[1]) \
                     if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
                     return n";

impl RedisStore {
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(fail)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1);
        let conn = client.get_connection_manager_with_config(config).await.map_err(fail)?;
        let events = broadcast::channel(1024).0;
        let channel = format!("{prefix}{CHANNEL}");
        let subscribed = Arc::new(AtomicBool::new(false));
        let listener = tokio::spawn(listen(client, channel, events.clone(), subscribed.clone()));
        Ok(RedisStore {
            conn,
            prefix: prefix.to_owned(),
            events,
            subscribed,
            listener,
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn.clone().get(self.key(key)).await.map_err(fail)
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
        }
        cmd.query_async::<()>(&mut self.conn.clone()).await.map_err(fail)
    }

    pub async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(fail)?;
        Ok(set.is_some())
    }

    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        redis::cmd("GETDEL")
            .arg(self.key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(fail)
    }

    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let removed: u64 = self.conn.clone().del(self.key(key)).await.map_err(fail)?;
        Ok(removed > 0)
    }

    pub async fn count(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        redis::Script::new(COUNT)
            .key(self.key(key))
            .arg(window.as_millis().max(1) as u64)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(fail)
    }

    pub async fn set_add(&self, set: &str, member: &str) -> Result<(), StoreError> {
        self.conn
            .clone()
            .sadd::<_, _, ()>(self.key(set), member)
            .await
            .map_err(fail)
    }

    pub async fn set_remove(&self, set: &str, member: &str) -> Result<(), StoreError> {
        self.conn
            .clone()
            .srem::<_, _, ()>(self.key(set), member)
            .await
            .map_err(fail)
    }

    pub async fn set_members(&self, set: &str) -> Result<Vec<String>, StoreError> {
        self.conn.clone().smembers(self.key(set)).await.map_err(fail)
    }

    pub async fn publish(&self, message: &str) -> Result<(), StoreError> {
        let channel = self.key(CHANNEL);
        self.conn
            .clone()
            .publish::<_, _, ()>(channel, message)
            .await
            .map_err(fail)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.events.subscribe()
    }

    pub fn hearing_everything(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        redis::cmd("PING")
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(fail)
    }

    /// Does this Redis write to disk (RDB snapshots or an append-only
    /// file)? `None` when it will not say (CONFIG is often disabled on
    /// managed services).
    pub async fn persists(&self) -> Option<bool> {
        let mut conn = self.conn.clone();
        let save: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("save")
            .query_async(&mut conn)
            .await
            .ok()?;
        let aof: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("appendonly")
            .query_async(&mut conn)
            .await
            .ok()?;
        let snapshots = save.get(1).is_some_and(|s| !s.trim().is_empty());
        let append_only = aof.get(1).is_some_and(|a| a == "yes");
        Some(snapshots || append_only)
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Receive published messages for as long as the store lives, reconnecting
/// after a pause whenever the subscription drops.
async fn listen(
    client: redis::Client,
    channel: String,
    events: broadcast::Sender<String>,
    subscribed: Arc<AtomicBool>,
) {
    use futures_util::StreamExt;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(&channel).await.is_ok() {
                    subscribed.store(true, Ordering::Release);
                    // Anything published while we were away is lost: resync.
                    let _ = events.send(super::RESYNC.to_owned());
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        if let Ok(text) = message.get_payload::<String>() {
                            let _ = events.send(text);
                        }
                    }
                }
                subscribed.store(false, Ordering::Release);
                let _ = events.send(super::RESYNC.to_owned());
                tracing::warn!("lost the store's subscription; reconnecting");
            }
            Err(err) => tracing::warn!(error = %err, "cannot subscribe to the store; retrying"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
