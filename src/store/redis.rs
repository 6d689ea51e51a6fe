//! The Redis store, for several gateways sharing state: one Redis, Redis
//! Sentinel (the master found through the sentinels, followed across a
//! failover), or Redis Cluster. Every key is prefixed; every operation is
//! a single command or script on a single key, so it is atomic across
//! gateways and needs no cross-slot transaction in a cluster. Published
//! messages arrive through one subscriber connection per gateway,
//! re-established (to the new master, or another node) when it drops.
//!
//! Every command goes through [`RedisStore::run`], the one place that
//! knows which kind of Redis is behind it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionInfo, FromRedisValue, IntoConnectionInfo, TlsMode};
use tokio::sync::{broadcast, Mutex};

use super::StoreError;
use crate::config::{RedisSettings, RedisTopology};

const CHANNEL: &str = "events";
/// Connecting, and waiting for an answer: past this, fail (closed).
const TIMEOUT: Duration = Duration::from_secs(1);

pub struct RedisStore {
    conn: Conn,
    prefix: String,
    events: broadcast::Sender<String>,
    /// True while the subscription is up, so that no broadcast can be missed.
    subscribed: Arc<AtomicBool>,
    /// Forwards messages from Redis to `events`; ends with the store.
    listener: tokio::task::JoinHandle<()>,
}

/// A connection to whichever kind of Redis the config names.
enum Conn {
    /// One Redis; reconnects by itself.
    Single(ConnectionManager),
    /// Follows the cluster's slots and redirects by itself.
    Cluster(ClusterConnection),
    Sentinel(Arc<SentinelConn>),
}

/// The current master's connection, found through the sentinels and
/// forgotten at the first error, so that the next command asks again: after
/// a failover the old master refuses writes (READONLY) or is gone.
struct SentinelConn {
    sentinels: Mutex<SentinelClient>,
    master: Mutex<Option<MultiplexedConnection>>,
}

impl SentinelConn {
    async fn connection(&self) -> Result<MultiplexedConnection, StoreError> {
        let mut master = self.master.lock().await;
        if let Some(conn) = master.as_ref() {
            return Ok(conn.clone());
        }
        let mut sentinels = self.sentinels.lock().await;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        let conn = tokio::time::timeout(TIMEOUT * 2, sentinels.get_async_connection_with_config(&config))
            .await
            .map_err(|_| StoreError::Unavailable("no master found through the sentinels in time".into()))?
            .map_err(fail)?;
        *master = Some(conn.clone());
        Ok(conn)
    }

    async fn forget(&self) {
        *self.master.lock().await = None;
    }
}

fn fail(err: redis::RedisError) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

/// A command that failed, and whether trying it once more is safe and
/// worth it: its connection had dropped, so it never ran.
struct Failure {
    error: StoreError,
    retry: bool,
}

impl From<redis::RedisError> for Failure {
    fn from(err: redis::RedisError) -> Failure {
        let retry =
            !err.is_timeout() && (err.is_connection_dropped() || err.is_io_error() || err.is_unrecoverable_error());
        Failure {
            error: fail(err),
            retry,
        }
    }
}

/// INCR with the window starting at the first hit, atomically.
const COUNT: &str = "local n = redis.call('INCR', KEYS[1]) \
                     if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
                     return n";

/// `url` with the ACL user and password of `settings`.
fn connection_info(url: &str, settings: &RedisSettings) -> Result<ConnectionInfo, StoreError> {
    let info = url.into_connection_info().map_err(fail)?;
    let mut redis = info.redis_settings().clone();
    if let Some(user) = &settings.username {
        redis = redis.set_username(user);
    }
    if let Some(password) = &settings.password {
        redis = redis.set_password(&password.0);
    }
    Ok(info.set_redis_settings(redis))
}

/// The sentinels, and how to reach the master they name: as the ACL user,
/// and over TLS (with the private CA, if any) when the sentinels are
/// reached over TLS, so that `rediss://` sentinels never lead to a plain
/// connection to the master.
fn sentinel_client(master: &str, nodes: &[String], settings: &RedisSettings) -> Result<SentinelClient, StoreError> {
    let infos = (nodes.iter().map(|n| n.as_str().into_connection_info()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    let addrs = infos.iter().map(|info| info.addr().clone());
    let mut builder = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master).map_err(fail)?;
    // The sentinels' own password, if their URLs carry one.
    if let Some(first) = infos.first().map(ConnectionInfo::redis_settings) {
        if let Some(user) = first.username() {
            builder = builder.set_client_to_sentinel_username(user);
        }
        if let Some(password) = first.password() {
            builder = builder.set_client_to_sentinel_password(password);
        }
    }
    if let Some(user) = &settings.username {
        builder = builder.set_client_to_redis_username(user);
    }
    if let Some(password) = &settings.password {
        builder = builder.set_client_to_redis_password(&password.0);
    }
    if nodes.iter().all(|n| n.starts_with("rediss://")) {
        builder = builder.set_client_to_redis_tls_mode(TlsMode::Secure);
        if let Some(pem) = &settings.ca_pem {
            builder = builder
                .set_client_to_sentinel_certificates(certificates(pem))
                .set_client_to_redis_certificates(certificates(pem));
        }
    }
    builder.build().map_err(fail)
}

/// A private CA for `rediss://` (the system's roots are used otherwise).
fn certificates(pem: &[u8]) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    }
}

/// Where the subscriber connects: to one Redis, to the current master, or
/// to any cluster node (a cluster carries every PUBLISH to every node).
enum Subscriber {
    Clients(Vec<redis::Client>),
    Sentinel(Arc<SentinelConn>),
}

impl Subscriber {
    async fn client(&self, attempt: usize) -> Result<redis::Client, StoreError> {
        match self {
            Subscriber::Clients(clients) => Ok(clients[attempt % clients.len()].clone()),
            Subscriber::Sentinel(sentinel) => {
                let mut sentinels = sentinel.sentinels.lock().await;
                tokio::time::timeout(TIMEOUT * 2, sentinels.async_get_client())
                    .await
                    .map_err(|_| StoreError::Unavailable("no master found through the sentinels in time".into()))?
                    .map_err(fail)
            }
        }
    }
}

impl RedisStore {
    pub async fn connect(settings: &RedisSettings) -> Result<RedisStore, StoreError> {
        // The Redis client builds its TLS from rustls's process default:
        // make that ring, the gateway's own provider, unless one is set.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (conn, subscriber) = match &settings.topology {
            RedisTopology::Single(url) => {
                let info = connection_info(url, settings)?;
                let client = match &settings.ca_pem {
                    Some(pem) => redis::Client::build_with_tls(info, certificates(pem)),
                    None => redis::Client::open(info),
                }
                .map_err(fail)?;
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(TIMEOUT))
                    .set_response_timeout(Some(TIMEOUT))
                    .set_number_of_retries(1);
                let conn = client.get_connection_manager_with_config(config).await.map_err(fail)?;
                (Conn::Single(conn), Subscriber::Clients(vec![client]))
            }
            RedisTopology::Cluster { nodes } => {
                let infos = (nodes.iter().map(|n| connection_info(n, settings))).collect::<Result<Vec<_>, _>>()?;
                let mut builder = redis::cluster::ClusterClient::builder(infos.clone())
                    .connection_timeout(TIMEOUT)
                    .response_timeout(TIMEOUT);
                if let Some(pem) = &settings.ca_pem {
                    builder = builder.certs(certificates(pem));
                }
                let conn = builder
                    .build()
                    .map_err(fail)?
                    .get_async_connection()
                    .await
                    .map_err(fail)?;
                let clients = (infos.into_iter())
                    .map(|info| match &settings.ca_pem {
                        Some(pem) => redis::Client::build_with_tls(info, certificates(pem)),
                        None => redis::Client::open(info),
                    })
                    .collect::<Result<Vec<_>, _>>();
                (Conn::Cluster(conn), Subscriber::Clients(clients.map_err(fail)?))
            }
            RedisTopology::Sentinel { master, nodes } => {
                let sentinels = sentinel_client(master, nodes, settings)?;
                let sentinel = Arc::new(SentinelConn {
                    sentinels: Mutex::new(sentinels),
                    master: Mutex::new(None),
                });
                sentinel.connection().await?;
                (Conn::Sentinel(sentinel.clone()), Subscriber::Sentinel(sentinel))
            }
        };
        let events = broadcast::channel(1024).0;
        let channel = format!("{}{CHANNEL}", settings.prefix);
        let subscribed = Arc::new(AtomicBool::new(false));
        let listener = tokio::spawn(listen(subscriber, channel, events.clone(), subscribed.clone()));
        Ok(RedisStore {
            conn,
            prefix: settings.prefix.clone(),
            events,
            subscribed,
            listener,
        })
    }

    /// Run one command on whichever Redis is behind this store. A
    /// connection that died while idle (Redis restarted, a failover) is only
    /// found out by the next command, which is then tried once more on a
    /// fresh connection instead of failing someone's request. A command that
    /// timed out is not tried again: it may have run.
    async fn run<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        match self.run_once(cmd).await {
            Err(Failure { retry: true, .. }) => self.run_once(cmd).await.map_err(|f| f.error),
            other => other.map_err(|f| f.error),
        }
    }

    async fn run_once<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Failure> {
        match &self.conn {
            Conn::Single(conn) => cmd.query_async(&mut conn.clone()).await.map_err(Failure::from),
            Conn::Cluster(conn) => cmd.query_async(&mut conn.clone()).await.map_err(Failure::from),
            Conn::Sentinel(sentinel) => {
                let mut conn = sentinel
                    .connection()
                    .await
                    .map_err(|error| Failure { error, retry: false })?;
                match tokio::time::timeout(TIMEOUT, cmd.query_async(&mut conn)).await {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(err)) => {
                        sentinel.forget().await;
                        Err(Failure::from(err))
                    }
                    Err(_) => {
                        sentinel.forget().await;
                        Err(Failure {
                            error: StoreError::Unavailable("the Redis master did not answer in time".into()),
                            retry: false,
                        })
                    }
                }
            }
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(redis::cmd("GET").arg(self.key(key))).await
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
        }
        self.run(&cmd).await
    }

    pub async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        let set: Option<String> = self.run(&cmd).await?;
        Ok(set.is_some())
    }

    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(redis::cmd("GETDEL").arg(self.key(key))).await
    }

    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let removed: u64 = self.run(redis::cmd("DEL").arg(self.key(key))).await?;
        Ok(removed > 0)
    }

    pub async fn count(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(COUNT)
            .arg(1)
            .arg(self.key(key))
            .arg(window.as_millis().max(1) as u64);
        self.run(&cmd).await
    }

    pub async fn set_add(&self, set: &str, member: &str) -> Result<(), StoreError> {
        self.run(redis::cmd("SADD").arg(self.key(set)).arg(member)).await
    }

    pub async fn set_remove(&self, set: &str, member: &str) -> Result<(), StoreError> {
        self.run(redis::cmd("SREM").arg(self.key(set)).arg(member)).await
    }

    pub async fn set_members(&self, set: &str) -> Result<Vec<String>, StoreError> {
        self.run(redis::cmd("SMEMBERS").arg(self.key(set))).await
    }

    pub async fn publish(&self, message: &str) -> Result<(), StoreError> {
        self.run(redis::cmd("PUBLISH").arg(self.key(CHANNEL)).arg(message))
            .await
    }

    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.events.subscribe()
    }

    pub fn hearing_everything(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(&redis::cmd("PING")).await
    }

    /// Does this Redis write to disk (RDB snapshots or an append-only
    /// file)? `None` when it will not say (CONFIG is often disabled on
    /// managed services).
    pub async fn persists(&self) -> Option<bool> {
        let save: Vec<String> = self.run(redis::cmd("CONFIG").arg("GET").arg("save")).await.ok()?;
        let aof: Vec<String> = self.run(redis::cmd("CONFIG").arg("GET").arg("appendonly")).await.ok()?;
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
/// after a pause (to the next node, or the new master) whenever the
/// subscription drops.
async fn listen(
    subscriber: Subscriber,
    channel: String,
    events: broadcast::Sender<String>,
    subscribed: Arc<AtomicBool>,
) {
    use futures_util::StreamExt;
    for attempt in 0.. {
        let pubsub = match subscriber.client(attempt).await {
            Ok(client) => client.get_async_pubsub().await.map_err(fail),
            Err(err) => Err(err),
        };
        match pubsub {
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
