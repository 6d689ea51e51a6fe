//! One conformance suite for both stores: the embedded redb file and a real
//! Redis. What the login, sessions and throttling will rely on.

use std::time::Duration;

use portcullis::store::{Store, StoreError};

use crate::support::disk::SmallDisk;
use crate::support::redis::RedisServer;

/// The next message that is not a resync notice, waiting at most `wait`.
async fn next_message(events: &mut tokio::sync::broadcast::Receiver<String>, wait: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(message)) if message == portcullis::store::RESYNC => continue,
            Ok(Ok(message)) => return Some(message),
            _ => return None,
        }
    }
}

/// Everything a backend must do, in the order a login would need it.
pub(crate) async fn conforms(store: &Store) {
    // Values, with and without expiry.
    assert_eq!(store.get("absent").await.unwrap(), None);
    store.set("session:abc", b"alice", None).await.unwrap();
    assert_eq!(store.get("session:abc").await.unwrap().as_deref(), Some(&b"alice"[..]));
    store.set("session:abc", b"alice v2", None).await.unwrap();
    assert_eq!(
        store.get("session:abc").await.unwrap().as_deref(),
        Some(&b"alice v2"[..]),
        "set overwrites"
    );
    store
        .set("short", b"x", Some(Duration::from_millis(150)))
        .await
        .unwrap();
    assert!(store.get("short").await.unwrap().is_some());

    // Single use: a code can be marked used once; a token taken once.
    assert!(store
        .set_if_absent("used:123456", b"1", Duration::from_secs(90))
        .await
        .unwrap());
    assert!(!store
        .set_if_absent("used:123456", b"1", Duration::from_secs(90))
        .await
        .unwrap());
    store
        .set("invite:t0k3n", b"bob", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(store.take("invite:t0k3n").await.unwrap().as_deref(), Some(&b"bob"[..]));
    assert_eq!(
        store.take("invite:t0k3n").await.unwrap(),
        None,
        "a token is taken only once"
    );

    // Delete says whether there was something to delete.
    assert!(store.delete("session:abc").await.unwrap());
    assert!(!store.delete("session:abc").await.unwrap());

    // Throttling counters: a window starts at the first hit.
    for expected in 1..=5 {
        assert_eq!(
            store.count("fail:alice", Duration::from_millis(300)).await.unwrap(),
            expected
        );
    }

    // A user's session index.
    store.set_add("user:alice:sessions", "s1").await.unwrap();
    store.set_add("user:alice:sessions", "s2").await.unwrap();
    store.set_add("user:alice:sessions", "s2").await.unwrap();
    assert_eq!(store.set_members("user:alice:sessions").await.unwrap(), ["s1", "s2"]);
    store.set_remove("user:alice:sessions", "s1").await.unwrap();
    assert_eq!(store.set_members("user:alice:sessions").await.unwrap(), ["s2"]);
    assert!(store.set_members("user:nobody:sessions").await.unwrap().is_empty());

    // Messages reach subscribers (revocations).
    let mut events = store.subscribe();
    // Redis delivers through its own connection: let the subscription settle.
    let mut delivered = None;
    for _ in 0..20 {
        store.publish("revoke:s2").await.unwrap();
        if let Some(message) = next_message(&mut events, Duration::from_millis(100)).await {
            delivered = Some(message);
            break;
        }
    }
    assert_eq!(delivered.as_deref(), Some("revoke:s2"));

    // Expiry: the short value and the counter window are gone after their time.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(store.get("short").await.unwrap(), None);
    assert_eq!(
        store.count("fail:alice", Duration::from_millis(300)).await.unwrap(),
        1,
        "a new window"
    );
    store.ping().await.unwrap();
}

#[tokio::test]
async fn the_embedded_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::embedded(&dir.path().join("state.redb"), portcullis::clock::Clock::system()).unwrap();
    conforms(&store).await;
}

#[tokio::test]
async fn the_redis_store_conforms() {
    let redis = RedisServer::start();
    let store = Store::redis(&redis.url(), "test:").await.unwrap();
    conforms(&store).await;
}

#[tokio::test]
async fn the_embedded_store_keeps_its_data_across_restarts_and_sweeps_expired_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    {
        let store = Store::embedded(&path, portcullis::clock::Clock::system()).unwrap();
        store.set("credential:alice", b"argon2id hash", None).await.unwrap();
        store
            .set("session:old", b"x", Some(Duration::from_millis(1)))
            .await
            .unwrap();
    }
    let Store::Embedded(reopened) = Store::embedded(&path, portcullis::clock::Clock::system()).unwrap() else {
        unreachable!()
    };
    assert_eq!(
        reopened.get("credential:alice").unwrap().as_deref(),
        Some(&b"argon2id hash"[..])
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(reopened.purge_expired().await.unwrap(), 1);
    assert!(reopened.get("credential:alice").unwrap().is_some());
}

#[tokio::test]
async fn an_embedded_store_file_that_is_not_one_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    std::fs::write(&path, b"this is not a redb file").unwrap();
    match Store::embedded(&path, portcullis::clock::Clock::system()) {
        Err(StoreError::File(message)) => assert!(message.contains("state.redb"), "{message}"),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a damaged file was accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_fails_closed_on_a_full_disk_and_writes_again_once_there_is_room() {
    let disk = SmallDisk::mount(4096);
    let store = Store::embedded(&disk.path().join("state.redb"), portcullis::clock::Clock::system()).unwrap();
    store.set("credential:alice", b"argon2id hash", None).await.unwrap();

    disk.fill();
    // Write until the file has to grow and cannot.
    let big = vec![7u8; 64 * 1024];
    let mut written = 0;
    let failure = loop {
        match store.set(&format!("upload:{written}"), &big, None).await {
            Ok(()) => written += 1,
            Err(err) => break err,
        }
        assert!(
            written < 200,
            "4 MiB of disk took {written} writes of 64 KiB without failing"
        );
    };
    let StoreError::File(message) = &failure else {
        panic!("unexpected error: {failure}")
    };
    assert!(message.contains("No space left on device"), "{message}");
    assert!(
        store.set("session:new", b"bob", None).await.is_err(),
        "still full, still refused"
    );
    assert_eq!(
        store.get("credential:alice").await.unwrap().as_deref(),
        Some(&b"argon2id hash"[..]),
        "reads go on while the disk is full"
    );

    disk.free();
    let freed = std::time::Instant::now();
    while store.set("session:new", b"bob", None).await.is_err() {
        assert!(
            freed.elapsed() < Duration::from_secs(3),
            "writes did not come back after the disk was freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "{written} writes fit, then refused; writes came back {:?} after the disk was freed",
        freed.elapsed()
    );
    assert_eq!(store.get("session:new").await.unwrap().as_deref(), Some(&b"bob"[..]));
    assert_eq!(
        store.get("credential:alice").await.unwrap().as_deref(),
        Some(&b"argon2id hash"[..]),
        "what was written before the disk filled is still there"
    );
    for i in 0..written {
        assert!(
            store.get(&format!("upload:{i}")).await.unwrap().is_some(),
            "upload:{i} was lost"
        );
    }
}

#[tokio::test]
async fn two_gateways_sharing_redis_hear_each_others_messages_within_a_second() {
    let redis = RedisServer::start();
    let a = Store::redis(&redis.url(), "shared:").await.unwrap();
    let b = Store::redis(&redis.url(), "shared:").await.unwrap();
    let mut heard_by_a = a.subscribe();
    // Each gateway subscribes in the background; wait until A is listening.
    let mut heard = None;
    let started = std::time::Instant::now();
    while heard.is_none() && started.elapsed() < Duration::from_secs(5) {
        b.publish("revoke:alice").await.unwrap();
        heard = next_message(&mut heard_by_a, Duration::from_millis(100)).await;
    }
    assert_eq!(heard.unwrap(), "revoke:alice");
    // Once subscribed, delivery is prompt.
    let sent = std::time::Instant::now();
    b.publish("revoke:bob").await.unwrap();
    let message = next_message(&mut heard_by_a, Duration::from_secs(1)).await;
    assert_eq!(message.unwrap(), "revoke:bob");
    println!("revocation heard after {:?}", sent.elapsed());
    // And they share values.
    a.set("session:x", b"carol", None).await.unwrap();
    assert_eq!(b.get("session:x").await.unwrap().as_deref(), Some(&b"carol"[..]));
}

#[tokio::test]
async fn when_redis_goes_away_every_operation_fails_and_service_resumes_when_it_returns() {
    let redis = RedisServer::start();
    let port = redis.addr.port();
    let store = Store::redis(&redis.url(), "outage:").await.unwrap();
    store.set("session:s", b"dave", None).await.unwrap();

    drop(redis);
    let outage = store.get("session:s").await;
    assert!(matches!(outage, Err(StoreError::Unavailable(_))), "{outage:?}");
    assert!(store.count("fail:x", Duration::from_secs(1)).await.is_err());

    let _back = RedisServer::start_on(port);
    let mut recovered = false;
    for _ in 0..50 {
        if store.ping().await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the store did not reconnect by itself");
    // The restarted Redis keeps nothing (no persistence here): absent, not an error.
    assert_eq!(store.get("session:s").await.unwrap(), None);
}

#[tokio::test]
async fn credentials_are_kept_with_the_totp_secret_sealed() {
    use portcullis::auth::credentials::{Credentials, SecretsKey};
    use portcullis::auth::totp::TotpSecret;

    let dir = tempfile::tempdir().unwrap();
    let key = SecretsKey::create(&dir.path().join("secrets.key")).unwrap();
    let redis = RedisServer::start();
    let stores = [
        Store::embedded(&dir.path().join("state.redb"), portcullis::clock::Clock::system()).unwrap(),
        Store::redis(&redis.url(), "creds:").await.unwrap(),
    ];
    for store in &stores {
        let secret = TotpSecret::generate();
        let credentials = Credentials {
            password: Some("$argon2id$v=19$m=19456,t=2,p=1$...".into()),
            totp: Some(key.seal("alice", &secret)),
            recovery: vec!["hash-1".into(), "hash-2".into()],
            enrolled_at: Some(1_800_000_000),
            ..Default::default()
        };
        credentials.save(store, "alice").await.unwrap();
        let loaded = Credentials::load(store, "alice").await.unwrap().unwrap();
        assert_eq!(loaded, credentials);
        assert_eq!(key.open("alice", loaded.totp.as_ref().unwrap()).unwrap(), secret);
        // What the store holds does not contain the secret in clear.
        let raw = store.get("credentials:alice").await.unwrap().unwrap();
        assert!(!raw
            .windows(secret.base32().len())
            .any(|w| w == secret.base32().as_bytes()));
        Credentials::remove(store, "alice").await.unwrap();
        assert_eq!(Credentials::load(store, "alice").await.unwrap(), None);
    }
}
