//! Scenarios 13 and 14 on the session layer, against both stores: walking
//! away, remote logout, one session per user. Time is moved, not waited for.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis::session::{Ended, Limits, SessionId, Sessions};
use portcullis::store::Store;

use crate::support::redis::RedisServer;

const LIMITS: Limits = Limits {
    idle_timeout: Duration::from_secs(30 * 60),
    max_lifetime: Duration::from_secs(12 * 3600),
    touch_every: Duration::from_secs(60),
    max_per_user: 0,
    refuse_sharing: false,
};

fn at(minutes: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + minutes * 60)
}

const OFFICE: &str = "193.167.1.70";

async fn walking_away_ends_the_session(store: &Store) {
    let sessions = Sessions { store, limits: LIMITS };
    let (id, _) = sessions
        .create("alice", "web", OFFICE.parse().unwrap(), at(0))
        .await
        .unwrap();
    // Busy all morning: each request within 30 minutes keeps it alive.
    for minute in (10..=120).step_by(10) {
        assert!(
            sessions.resume(&id, at(minute)).await.unwrap().is_ok(),
            "minute {minute}"
        );
    }
    // Lunch: 31 minutes away.
    assert_eq!(sessions.resume(&id, at(151)).await.unwrap(), Err(Some(Ended::Idle)));
    assert_eq!(
        sessions.resume(&id, at(152)).await.unwrap(),
        Err(None),
        "and it is gone from the store"
    );

    // However busy, twelve hours is the end.
    let (id, _) = sessions
        .create("alice", "web", OFFICE.parse().unwrap(), at(0))
        .await
        .unwrap();
    for minute in (20..12 * 60).step_by(20) {
        assert!(sessions.resume(&id, at(minute)).await.unwrap().is_ok());
    }
    assert_eq!(
        sessions.resume(&id, at(12 * 60)).await.unwrap(),
        Err(Some(Ended::TooOld))
    );
}

async fn remote_logout_ends_every_other_session(store: &Store) {
    let sessions = Sessions { store, limits: LIMITS };
    let (office, _) = sessions
        .create("bob", "web", OFFICE.parse().unwrap(), at(0))
        .await
        .unwrap();
    let (phone, _) = sessions
        .create("bob", "web", "198.51.100.7".parse().unwrap(), at(5))
        .await
        .unwrap();
    let listed = sessions.list("bob", at(6)).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].1.ip.to_string(), OFFICE, "oldest first");

    // From the phone, bob ends the office session.
    sessions.revoke("bob", &office.handle()).await.unwrap();
    assert_eq!(sessions.resume(&office, at(7)).await.unwrap(), Err(None));
    assert!(sessions.resume(&phone, at(7)).await.unwrap().is_ok());

    // An admin ends all of them.
    let ended = sessions.revoke_all("bob").await.unwrap();
    assert_eq!(ended, vec![phone.handle()]);
    assert_eq!(sessions.resume(&phone, at(8)).await.unwrap(), Err(None));
    assert!(sessions.list("bob", at(8)).await.unwrap().is_empty());
}

async fn one_session_per_user_means_a_new_login_ends_the_old(store: &Store) {
    let sessions = Sessions {
        store,
        limits: Limits {
            max_per_user: 1,
            ..LIMITS
        },
    };
    let (first, ended) = sessions
        .create("carol", "web", OFFICE.parse().unwrap(), at(0))
        .await
        .unwrap();
    assert!(ended.is_empty());
    let (second, ended) = sessions
        .create("carol", "web", OFFICE.parse().unwrap(), at(1))
        .await
        .unwrap();
    assert_eq!(ended, vec![first.handle()]);
    assert_eq!(sessions.resume(&first, at(2)).await.unwrap(), Err(None));
    assert!(sessions.resume(&second, at(2)).await.unwrap().is_ok());
}

async fn a_forged_cookie_is_no_session(store: &Store) {
    let sessions = Sessions { store, limits: LIMITS };
    assert_eq!(sessions.resume(&SessionId::generate(), at(0)).await.unwrap(), Err(None));
}

async fn all(store: &Store) {
    walking_away_ends_the_session(store).await;
    remote_logout_ends_every_other_session(store).await;
    one_session_per_user_means_a_new_login_ends_the_old(store).await;
    a_forged_cookie_is_no_session(store).await;
}

#[tokio::test]
async fn sessions_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    all(&Store::embedded(&dir.path().join("state.redb"), portcullis::clock::Clock::system()).unwrap()).await;
}

#[tokio::test]
async fn sessions_on_redis() {
    let redis = RedisServer::start();
    all(&Store::redis(&redis.url(), "sessions:").await.unwrap()).await;
}

#[tokio::test]
async fn a_revocation_on_one_gateway_is_heard_by_another_sharing_redis() {
    let redis = RedisServer::start();
    let a = Store::redis(&redis.url(), "pair:").await.unwrap();
    let b = Store::redis(&redis.url(), "pair:").await.unwrap();
    let on_a = Sessions {
        store: &a,
        limits: LIMITS,
    };
    let on_b = Sessions {
        store: &b,
        limits: LIMITS,
    };
    let (id, _) = on_a
        .create("dave", "web", OFFICE.parse().unwrap(), at(0))
        .await
        .unwrap();
    assert!(
        on_b.resume(&id, at(1)).await.unwrap().is_ok(),
        "a login on A is valid on B"
    );

    let mut heard_by_a = a.subscribe();
    // Let A's subscription settle before the revocation that counts.
    let mut ready = false;
    for _ in 0..50 {
        b.publish("ping").await.unwrap();
        if tokio::time::timeout(Duration::from_millis(100), heard_by_a.recv())
            .await
            .is_ok()
        {
            ready = true;
            break;
        }
    }
    assert!(ready);
    while heard_by_a.try_recv().is_ok() {}
    on_b.revoke_all("dave").await.unwrap();
    let message = loop {
        let message = tokio::time::timeout(Duration::from_secs(1), heard_by_a.recv())
            .await
            .unwrap()
            .unwrap();
        if message != portcullis::store::RESYNC {
            break message;
        }
    };
    assert_eq!(message, format!("revoked {}", id.handle().0));
    assert_eq!(on_a.resume(&id, at(2)).await.unwrap(), Err(None), "and A refuses it");
}
