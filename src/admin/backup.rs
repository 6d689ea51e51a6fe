//! `portcullis store export|import`: an encrypted backup of what only the
//! store holds and nobody can re-type: password hashes, sealed TOTP
//! secrets, recovery-code hashes, revocation marks and last sign-ins, for
//! every user in the policy. Sessions are not included (they end anyway).
//!
//! The file is sealed with the secrets key (AES-256-GCM, bound to what it
//! is), so it is as safe to keep as the store itself, and opens only with
//! the same key.

use serde::{Deserialize, Serialize};

use crate::auth::credentials::{CredentialError, Credentials, Sealed, SecretsKey};
use crate::policy::Policy;
use crate::store::{Store, StoreError};

/// The associated data every backup is sealed with.
const CONTEXT: &str = "portcullis store backup v1";

/// What is kept per user: the keys that hold state no one can re-create.
const KINDS: [&str; 3] = ["credentials", "credentials-revoked", "last-login"];

/// One store entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    pub value: String,
}

/// The records of every user in `policy`.
pub async fn export(store: &Store, policy: &Policy) -> Result<Vec<Record>, StoreError> {
    let mut records = Vec::new();
    for user in policy.users.keys() {
        for kind in KINDS {
            let key = format!("{kind}:{user}");
            if let Some(value) = store.get(&key).await? {
                records.push(Record {
                    key,
                    value: String::from_utf8_lossy(&value).into_owned(),
                });
            }
        }
    }
    Ok(records)
}

/// Write records back. Only the kinds a backup holds are accepted: a
/// tampered file cannot plant sessions or anything else.
pub async fn import(store: &Store, records: &[Record]) -> Result<usize, String> {
    for record in records {
        let known = KINDS.iter().any(|kind| {
            record
                .key
                .strip_prefix(kind)
                .and_then(|rest| rest.strip_prefix(':'))
                .is_some_and(|user| !user.is_empty() && !user.contains(':'))
        });
        if !known {
            return Err(format!("{:?} is not something a backup holds", record.key));
        }
    }
    for record in records {
        store
            .set(&record.key, record.value.as_bytes(), None)
            .await
            .map_err(|e| e.to_string())?;
        // Whose passkeys carry which handle, for sign-in without a username.
        let user = record.key.strip_prefix("credentials:");
        let credentials = serde_json::from_str::<crate::auth::credentials::Credentials>(&record.value);
        if let (
            Some(user),
            Ok(Credentials {
                passkey_handle: Some(handle),
                ..
            }),
        ) = (user, credentials)
        {
            (crate::auth::passkey::record_owner(store, &handle, user).await).map_err(|e| e.to_string())?;
        }
    }
    Ok(records.len())
}

/// The backup file's contents.
pub fn seal(key: &SecretsKey, records: &[Record]) -> Result<Vec<u8>, serde_json::Error> {
    let plain = serde_json::to_vec(records)?;
    serde_json::to_vec(&key.seal_bytes(CONTEXT, plain))
}

pub fn open(key: &SecretsKey, file: &[u8]) -> Result<Vec<Record>, String> {
    let sealed: Sealed = serde_json::from_slice(file).map_err(|_| "not a Portcullis backup".to_owned())?;
    let plain = key
        .open_bytes(CONTEXT, &sealed)
        .map_err(|e: CredentialError| format!("{e}: was it made with this secrets key?"))?;
    serde_json::from_slice(&plain).map_err(|e| format!("the backup's contents are damaged: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_opens_only_with_its_key_and_holds_nothing_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretsKey::create(&dir.path().join("a")).unwrap();
        let other = SecretsKey::create(&dir.path().join("b")).unwrap();
        let records = vec![Record {
            key: "credentials:alice".into(),
            value: "{\"password\":\"$argon2id$secret-hash\"}".into(),
        }];
        let file = seal(&key, &records).unwrap();
        assert!(!String::from_utf8_lossy(&file).contains("argon2id"));
        assert_eq!(open(&key, &file).unwrap(), records);
        assert!(open(&other, &file).unwrap_err().contains("secrets key"));
        assert!(open(&key, b"{}").is_err());
    }
}
