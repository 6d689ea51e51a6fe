//! Time-based one-time codes (RFC 6238): SHA-1, 6 digits, 30-second steps,
//! one step of clock drift either way. [`verify`] returns the step that
//! matched, so that the caller can refuse the same step twice (replay).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

pub const STEP_SECONDS: u64 = 30;
pub const DIGITS: usize = 6;

/// A user's TOTP secret (20 random bytes). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::Redacted.fmt(f)
    }
}

impl TotpSecret {
    pub fn generate() -> TotpSecret {
        TotpSecret(super::random_bytes::<20>().to_vec())
    }

    pub fn from_bytes(bytes: Vec<u8>) -> TotpSecret {
        TotpSecret(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Base32, as authenticator apps want it.
    pub fn base32(&self) -> String {
        totp_rs::Secret::Raw(self.0.clone()).to_encoded().to_string()
    }

    /// The `otpauth://` URI an authenticator app scans (as a QR code).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            encode(issuer),
            encode(account),
            self.base32(),
            encode(issuer)
        )
    }
}

fn generator(secret: &[u8], digits: usize) -> TOTP {
    TOTP::new_unchecked(Algorithm::SHA1, digits, 1, STEP_SECONDS, secret.to_vec())
}

/// The code for one step.
fn code_at(secret: &[u8], digits: usize, step: u64) -> String {
    generator(secret, digits).generate(step * STEP_SECONDS)
}

/// `Some(step)` if `code` is right for the step of `now` or one either side.
pub fn verify(secret: &TotpSecret, code: &str, now: SystemTime) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs() / STEP_SECONDS;
    [now.saturating_sub(1), now, now + 1].into_iter().find(|step| {
        let expected = code_at(secret.as_bytes(), DIGITS, *step);
        bool::from(expected.as_bytes().ct_eq(code.as_bytes()))
    })
}

/// The current code (for tests and the demo's console).
pub fn current_code(secret: &TotpSecret, now: SystemTime) -> String {
    let step = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) / STEP_SECONDS;
    code_at(secret.as_bytes(), DIGITS, step)
}

/// Percent-encode for the otpauth label and issuer.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    /// RFC 6238 appendix B, SHA-1 column (8 digits).
    #[test]
    fn rfc_6238_known_answers() {
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(code_at(secret, 8, time / STEP_SECONDS), expected, "T = {time}");
        }
    }

    #[test]
    fn a_code_is_good_for_its_step_and_one_either_side_only() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        let now = at(1111111111);
        let code = current_code(&secret, now);
        assert_eq!(verify(&secret, &code, now), Some(1111111111 / 30));
        assert!(
            verify(&secret, &code, now + Duration::from_secs(30)).is_some(),
            "a little drift is fine"
        );
        assert!(verify(&secret, &code, now - Duration::from_secs(30)).is_some());
        assert_eq!(verify(&secret, &code, now + Duration::from_secs(90)), None, "too late");
        assert_eq!(verify(&secret, "12345", now), None);
        assert_eq!(verify(&secret, "12a456", now), None);
    }

    #[test]
    fn the_enrolment_uri_is_what_authenticator_apps_expect() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            secret.otpauth_uri("Acme CRM", "alice@example.com"),
            "otpauth://totp/Acme%20CRM:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20CRM&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_ne!(TotpSecret::generate(), TotpSecret::generate());
    }
}
