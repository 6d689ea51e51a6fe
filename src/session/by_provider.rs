//! Which of our sessions each identity provider's session vouched for, so
//! that the provider can end them (back-channel logout) and our sign-out
//! can end the provider's (RP-initiated logout). Kept in the store beside
//! the sessions, shared by every gateway on the store: each session's
//! record for as long as a session can live, and a set per provider
//! subject, pruned as its sessions end.

use std::time::Duration;

use ring::digest::{digest, SHA256};
use serde::{Deserialize, Serialize};

use super::SessionHandle;
use crate::auth::oidc::ProviderSession;
use crate::store::{Store, StoreError};

/// One session of ours that a provider's subject signed in to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vouched {
    pub user: String,
    pub handle: SessionHandle,
    pub sid: Option<String>,
}

fn session_key(handle: &SessionHandle) -> String {
    format!("provider-session:{}", handle.0)
}

/// By provider and subject (hashed: a subject is the provider's to choose).
fn subject_key(provider: &str, subject: &str) -> String {
    let hash = digest(&SHA256, format!("{provider}\n{subject}").as_bytes());
    format!("provider-subject:{}", hex::encode(hash.as_ref()))
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// Remember that `at` vouched for `user`'s new session `handle`. The
/// subject's sessions are a set in the store: two sign-ins at once, on two
/// gateways, both land.
pub async fn remember(
    store: &Store,
    handle: &SessionHandle,
    user: &str,
    at: &ProviderSession,
    keep: Duration,
) -> Result<(), StoreError> {
    store.set(&session_key(handle), &json(at)?, Some(keep)).await?;
    let key = subject_key(&at.provider, &at.subject);
    // Sessions that ended meanwhile (signed out, expired) are forgotten.
    for (member, earlier) in of_subject(store, &key).await? {
        if store.get(&super::session_key(&earlier.handle)).await?.is_none() {
            store.set_remove(&key, &member).await?;
        }
    }
    let vouched = Vouched {
        user: user.to_owned(),
        handle: handle.clone(),
        sid: at.sid.clone(),
    };
    store.set_add(&key, &String::from_utf8_lossy(&json(&vouched)?)).await
}

/// The provider's session that vouched for one of ours, if one did.
pub async fn of_session(store: &Store, handle: &SessionHandle) -> Result<Option<ProviderSession>, StoreError> {
    let bytes = store.get(&session_key(handle)).await?;
    Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Forget, and return, the sessions the provider's `subject` signed in
/// to: those of its session `sid`, or all of them when no `sid` is named.
pub async fn take(
    store: &Store,
    (provider, subject, sid): (&str, &str, Option<&str>),
) -> Result<Vec<Vouched>, StoreError> {
    let key = subject_key(provider, subject);
    let mut ended = Vec::new();
    for (member, vouched) in of_subject(store, &key).await? {
        if sid.is_none() || vouched.sid.as_deref() == sid {
            store.set_remove(&key, &member).await?;
            store.delete(&session_key(&vouched.handle)).await?;
            ended.push(vouched);
        }
    }
    Ok(ended)
}

/// The subject's sessions, each with its member text in the set.
async fn of_subject(store: &Store, key: &str) -> Result<Vec<(String, Vouched)>, StoreError> {
    let members = store.set_members(key).await?;
    Ok((members.into_iter())
        .filter_map(|m| serde_json::from_str(&m).ok().map(|v| (m, v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_logout_ends_the_sessions_of_its_provider_session_or_all_of_the_subjects() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::embedded(&dir.path().join("s.redb"), crate::clock::Clock::system()).unwrap();
        let keep = Duration::from_secs(3600);
        let at = |sid: &str| ProviderSession {
            provider: "okta".into(),
            subject: "00u1".into(),
            sid: Some(sid.into()),
            id_token: String::new(),
            mfa: false,
        };
        let (laptop, phone, gone) = (
            SessionHandle("laptop".into()),
            SessionHandle("phone".into()),
            SessionHandle("gone".into()),
        );
        for handle in [&laptop, &phone] {
            store
                .set(&super::super::session_key(handle), b"{}", Some(keep))
                .await
                .unwrap();
        }
        remember(&store, &gone, "carol", &at("s0"), keep).await.unwrap();
        remember(&store, &laptop, "carol", &at("s1"), keep).await.unwrap();
        remember(&store, &phone, "carol", &at("s2"), keep).await.unwrap();
        assert_eq!(of_session(&store, &laptop).await.unwrap(), Some(at("s1")));

        // `gone` had no session left: forgotten when the next one was remembered.
        let ended = take(&store, ("okta", "00u1", Some("s1"))).await.unwrap();
        assert_eq!(ended.iter().map(|v| &v.handle).collect::<Vec<_>>(), [&laptop]);
        assert_eq!(of_session(&store, &laptop).await.unwrap(), None);
        assert!(take(&store, ("okta", "someone else", None)).await.unwrap().is_empty());
        let rest = take(&store, ("okta", "00u1", None)).await.unwrap();
        assert_eq!(rest.iter().map(|v| &v.handle).collect::<Vec<_>>(), [&phone]);
        assert!(take(&store, ("okta", "00u1", None)).await.unwrap().is_empty());
    }
}
