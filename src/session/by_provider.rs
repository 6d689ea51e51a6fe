//! Which of our sessions each identity provider's session vouched for, so
//! that the provider can end them (back-channel logout) and our sign-out
//! can end the provider's (RP-initiated logout). Kept in the store beside
//! the sessions, for as long as a session can live, shared by every
//! gateway on the store.

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

/// Remember that `at` vouched for `user`'s new session `handle`.
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
    let mut vouched = Vec::new();
    for earlier in of_subject(store, &key).await? {
        if store.get(&super::session_key(&earlier.handle)).await?.is_some() {
            vouched.push(earlier);
        }
    }
    vouched.push(Vouched {
        user: user.to_owned(),
        handle: handle.clone(),
        sid: at.sid.clone(),
    });
    store.set(&key, &json(&vouched)?, Some(keep)).await
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
    keep: Duration,
) -> Result<Vec<Vouched>, StoreError> {
    let key = subject_key(provider, subject);
    let (ended, kept): (Vec<Vouched>, Vec<Vouched>) =
        (of_subject(store, &key).await?.into_iter()).partition(|v| sid.is_none() || v.sid.as_deref() == sid);
    match kept.is_empty() {
        true => store.delete(&key).await.map(|_| ())?,
        false => store.set(&key, &json(&kept)?, Some(keep)).await?,
    }
    for vouched in &ended {
        store.delete(&session_key(&vouched.handle)).await?;
    }
    Ok(ended)
}

async fn of_subject(store: &Store, key: &str) -> Result<Vec<Vouched>, StoreError> {
    let bytes = store.get(key).await?;
    Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default())
}
