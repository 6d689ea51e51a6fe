//! What the store keeps per user: the password hash, the TOTP secret
//! encrypted at rest, the recovery-code hashes and the passkeys' public keys.
//!
//! TOTP secrets are sealed with AES-256-GCM under a key read from a file
//! named in the config (never in the store, never in the YAML). The user
//! name is bound in as associated data, so a sealed secret copied onto
//! another user's record does not open.

use std::fmt;
use std::path::Path;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde::{Deserialize, Serialize};

use super::passkey::StoredPasskey;
use super::totp::TotpSecret;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("cannot read the secrets key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("a stored TOTP secret does not open with this key (wrong key file, or tampered data)")]
    Sealed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The key that seals TOTP secrets and signs invites. Never printed.
pub struct SecretsKey {
    sealing: LessSafeKey,
    /// Derived from the same file: HMAC-SHA256 for invite links.
    signing: ring::hmac::Key,
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::Redacted.fmt(f)
    }
}

impl SecretsKey {
    /// Read a key file: 64 hex digits (32 bytes), surrounding space ignored.
    pub fn load(path: &Path) -> Result<SecretsKey, CredentialError> {
        let fail = |reason: String| CredentialError::Key {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let bytes = hex::decode(text.trim()).ok().filter(|b| b.len() == 32).ok_or_else(|| {
            fail("it must hold 64 hex digits; make one with `head -c 32 /dev/urandom | xxd -p -c 64`".into())
        })?;
        SecretsKey::from_bytes(&bytes).ok_or_else(|| fail("not a usable AES-256 key".into()))
    }

    /// Make a new key file (mode 0600), as the demo does.
    pub fn create(path: &Path) -> anyhow::Result<SecretsKey> {
        let bytes: [u8; 32] = super::random_bytes();
        super::write_private(path, &format!("{}\n", hex::encode(bytes)))?;
        SecretsKey::from_bytes(&bytes).ok_or_else(|| anyhow::anyhow!("cannot use the new key"))
    }

    fn from_bytes(bytes: &[u8]) -> Option<SecretsKey> {
        let sealing = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).ok()?);
        // A separate key for signing, so the two uses never share a key.
        let derive = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes);
        let signing_bytes = ring::hmac::sign(&derive, b"portcullis invite signing key");
        let signing = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, signing_bytes.as_ref());
        Some(SecretsKey { sealing, signing })
    }

    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        ring::hmac::sign(&self.signing, data).as_ref().to_vec()
    }

    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        ring::hmac::verify(&self.signing, data, tag).is_ok()
    }

    pub fn seal(&self, user: &str, secret: &TotpSecret) -> Sealed {
        self.seal_bytes(user, secret.as_bytes().to_vec())
    }

    pub fn open(&self, user: &str, sealed: &Sealed) -> Result<TotpSecret, CredentialError> {
        self.open_bytes(user, sealed).map(TotpSecret::from_bytes)
    }

    /// Encrypt `data`, bound to `context` (a user name, or what a backup
    /// is): it opens only with the same key and context.
    pub fn seal_bytes(&self, context: &str, mut data: Vec<u8>) -> Sealed {
        let nonce_bytes: [u8; NONCE_LEN] = super::random_bytes();
        let sealed = self.sealing.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(context.as_bytes()),
            &mut data,
        );
        match sealed {
            Ok(()) => Sealed {
                nonce: nonce_bytes.to_vec(),
                data,
            },
            // Sealing cannot fail for data this small; should it, keep
            // nothing usable rather than the data in clear.
            Err(_) => Sealed {
                nonce: Vec::new(),
                data: Vec::new(),
            },
        }
    }

    pub fn open_bytes(&self, context: &str, sealed: &Sealed) -> Result<Vec<u8>, CredentialError> {
        let nonce = Nonce::try_assume_unique_for_key(&sealed.nonce).map_err(|_| CredentialError::Sealed)?;
        let mut data = sealed.data.clone();
        let plain = self
            .sealing
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut data)
            .map_err(|_| CredentialError::Sealed)?;
        Ok(plain.to_vec())
    }
}

/// An encrypted TOTP secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    nonce: Vec<u8>,
    data: Vec<u8>,
}

impl Sealed {
    /// A sealed value that opens with no key: for tests of code that only
    /// carries one along.
    #[cfg(test)]
    pub fn dummy() -> Sealed {
        Sealed {
            nonce: vec![0; 12],
            data: vec![0; 16],
        }
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::Redacted.fmt(f)
    }
}

/// A user's credentials as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// argon2id, PHC format.
    pub password: Option<String>,
    pub totp: Option<Sealed>,
    /// SHA-256 hashes of the unused recovery codes.
    pub recovery: Vec<String>,
    /// Seconds since the epoch when enrolment finished.
    pub enrolled_at: Option<u64>,
    /// The last few passwords (argon2id), so a change cannot go back to one.
    #[serde(default)]
    pub previous_passwords: Vec<String>,
    /// Passkeys and security keys (WebAuthn public keys, never secrets).
    #[serde(default)]
    pub passkeys: Vec<StoredPasskey>,
    /// The random handle the user's passkeys carry (see [`super::passkey`]).
    #[serde(default)]
    pub passkey_handle: Option<uuid::Uuid>,
}

fn key(user: &str) -> String {
    format!("credentials:{user}")
}

fn revoked_key(user: &str) -> String {
    format!("credentials-revoked:{user}")
}

impl Credentials {
    /// An invite was used: a password was set, or (the password living in
    /// the directory) enrolment finished without one.
    pub fn enrolled(&self) -> bool {
        self.password.is_some() || self.enrolled_at.is_some()
    }

    pub async fn load(store: &Store, user: &str) -> Result<Option<Credentials>, CredentialError> {
        let bytes = store.get(&key(user)).await?;
        // Unreadable records count as none: the user must be re-invited.
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    pub async fn save(&self, store: &Store, user: &str) -> Result<(), CredentialError> {
        let bytes = serde_json::to_vec(self).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        store.set(&key(user), &bytes, None).await?;
        Ok(())
    }

    pub async fn remove(store: &Store, user: &str) -> Result<(), CredentialError> {
        store.delete(&key(user)).await?;
        Ok(())
    }

    /// Drop the user's credentials and remember when (milliseconds since
    /// the epoch): invite links issued before then no longer work.
    pub async fn revoke(store: &Store, user: &str, now: std::time::SystemTime) -> Result<(), CredentialError> {
        let ms = now
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        store.set(&revoked_key(user), ms.to_string().as_bytes(), None).await?;
        Credentials::remove(store, user).await
    }

    /// When the user's credentials were last revoked, if ever.
    pub async fn revoked_at(store: &Store, user: &str) -> Result<Option<u64>, CredentialError> {
        let bytes = store.get(&revoked_key(user)).await?;
        // An unreadable mark counts as "revoked just now": no old link passes.
        Ok(bytes.map(|b| {
            std::str::from_utf8(&b)
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(u64::MAX)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretsKey {
        SecretsKey::from_bytes(&[7u8; 32]).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let secret = TotpSecret::generate();
        let sealed = key().seal("alice", &secret);
        assert!(
            !sealed.data.windows(20).any(|w| w == secret.as_bytes()),
            "not stored in clear"
        );
        assert_eq!(key().open("alice", &sealed).unwrap(), secret);
        assert!(matches!(key().open("mallory", &sealed), Err(CredentialError::Sealed)));
        let other = SecretsKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(matches!(other.open("alice", &sealed), Err(CredentialError::Sealed)));
        let mut tampered = sealed.clone();
        tampered.data[0] ^= 1;
        assert!(key().open("alice", &tampered).is_err());
        assert_eq!(format!("{sealed:?} {:?}", key()), "[redacted] [redacted]");
    }

    #[test]
    fn key_files_hold_64_hex_digits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let made = SecretsKey::create(&path).unwrap();
        let loaded = SecretsKey::load(&path).unwrap();
        let secret = TotpSecret::generate();
        assert_eq!(loaded.open("bob", &made.seal("bob", &secret)).unwrap(), secret);
        std::fs::write(&path, "too short").unwrap();
        let err = SecretsKey::load(&path).unwrap_err().to_string();
        assert!(err.contains("64 hex digits"), "{err}");
    }
}
