//! One-time invite links, signed rather than stored: `portcullis user
//! invite` needs only the config and the secrets key, so it works while a
//! gateway holds the embedded store. The gateway checks the signature and
//! the expiry, and makes each link work once by recording its nonce in the
//! store when enrolment completes. A link issued before the user's
//! credentials were last revoked (`portcullis user disable|reset`) is void:
//! see [`crate::admin`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::credentials::SecretsKey;
use hex::encode as hex;

fn unhex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok()
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Invite {
    pub user: String,
    /// Milliseconds since the epoch: links older than a revocation are void.
    pub issued_ms: u64,
    /// Seconds since the epoch.
    pub expires: u64,
    /// Hex; names this invite in the store once used.
    pub nonce: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    #[error("not an invite link")]
    Malformed,
    #[error("the invite's signature does not match")]
    Forged,
    #[error("the invite has expired")]
    Expired,
}

/// A token for `user`, valid for `valid` from `now`.
pub fn issue(key: &SecretsKey, user: &str, now: SystemTime, valid: Duration) -> String {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let issued_ms = since_epoch.as_millis() as u64;
    let expires = since_epoch.as_secs() + valid.as_secs();
    let nonce = hex(super::random_bytes::<16>());
    let payload = format!("{issued_ms}:{expires}:{nonce}:{user}");
    format!("{}.{}", hex(payload.as_bytes()), hex(key.sign(payload.as_bytes())))
}

pub fn verify(key: &SecretsKey, token: &str, now: SystemTime) -> Result<Invite, InviteError> {
    let (payload, tag) = token.split_once('.').ok_or(InviteError::Malformed)?;
    let payload = unhex(payload).ok_or(InviteError::Malformed)?;
    let tag = unhex(tag).ok_or(InviteError::Malformed)?;
    if !key.verify(&payload, &tag) {
        return Err(InviteError::Forged);
    }
    let text = String::from_utf8(payload).map_err(|_| InviteError::Malformed)?;
    let mut parts = text.splitn(4, ':');
    let (Some(issued_ms), Some(expires), Some(nonce), Some(user)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(InviteError::Malformed);
    };
    let issued_ms: u64 = issued_ms.parse().map_err(|_| InviteError::Malformed)?;
    let expires: u64 = expires.parse().map_err(|_| InviteError::Malformed)?;
    if now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) >= expires {
        return Err(InviteError::Expired);
    }
    Ok(Invite {
        user: user.to_owned(),
        issued_ms,
        expires,
        nonce: nonce.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dir: &tempfile::TempDir, name: &str) -> SecretsKey {
        SecretsKey::create(&dir.path().join(name)).unwrap()
    }

    #[test]
    fn an_invite_names_its_user_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let key = key(&dir, "k");
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let token = issue(&key, "alice", now, Duration::from_secs(3600));
        let invite = verify(&key, &token, now + Duration::from_secs(3599)).unwrap();
        assert_eq!(invite.user, "alice");
        assert_eq!(invite.nonce.len(), 32);
        assert_eq!(invite.issued_ms, 1_800_000_000_000);
        assert_eq!(
            verify(&key, &token, now + Duration::from_secs(3600)),
            Err(InviteError::Expired)
        );
    }

    #[test]
    fn invites_cannot_be_forged_or_edited() {
        let dir = tempfile::tempdir().unwrap();
        let key_a = key(&dir, "a");
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let token = issue(&key_a, "alice", now, Duration::from_secs(3600));
        assert_eq!(verify(&key(&dir, "b"), &token, now), Err(InviteError::Forged));
        let (payload, tag) = token.split_once('.').unwrap();
        let edited = String::from_utf8(unhex(payload).unwrap())
            .unwrap()
            .replace("alice", "admin");
        assert_eq!(
            verify(&key_a, &format!("{}.{tag}", hex(edited.as_bytes())), now),
            Err(InviteError::Forged)
        );
        assert_eq!(verify(&key_a, "nonsense", now), Err(InviteError::Malformed));
    }
}
