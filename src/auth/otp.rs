//! One-time codes sent by email or SMS: random digits, kept in the store
//! only as an HMAC under the secrets key (10^6 codes are too few to hash
//! without a key), valid for a few minutes, a few attempts, once.
//!
//! Checking is a pure function of the stored code, the attempt and `now`.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::credentials::SecretsKey;
use crate::policy::Factor;

/// Wrong tries on one sent code before it is void.
pub const MAX_ATTEMPTS: u32 = 5;

/// A code that was sent, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentCode {
    pub factor: Factor,
    /// HMAC of scope and code, hex.
    tag: String,
    /// Seconds since the epoch.
    pub expires: u64,
    pub attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Accepted,
    /// Wrong; `void` when no attempts are left.
    Wrong {
        void: bool,
    },
    Expired,
}

/// `digits` random decimal digits, each uniform (rejection sampling).
pub fn generate(digits: u32) -> String {
    let mut code = String::with_capacity(digits as usize);
    while code.len() < digits as usize {
        for byte in super::random_bytes::<16>() {
            // 250 = 25 × 10: bytes above it would make low digits likelier.
            if byte < 250 && code.len() < digits as usize {
                code.push(char::from(b'0' + byte % 10));
            }
        }
    }
    code
}

fn tag(key: &SecretsKey, scope: &str, code: &str) -> String {
    hex::encode(key.sign(format!("otp\0{scope}\0{code}").as_bytes()))
}

impl SentCode {
    /// `scope` names the sign-in or step-up it belongs to: a code sent for
    /// one does not work for another.
    pub fn new(key: &SecretsKey, factor: Factor, scope: &str, code: &str, expires: u64) -> SentCode {
        SentCode {
            factor,
            tag: tag(key, scope, code),
            expires,
            attempts: 0,
        }
    }

    /// Check an attempt at `now` (seconds); a wrong one is counted here.
    pub fn check(&mut self, key: &SecretsKey, scope: &str, code: &str, now: u64) -> Check {
        if now >= self.expires {
            return Check::Expired;
        }
        let given = tag(key, scope, code.trim());
        if bool::from(given.as_bytes().ct_eq(self.tag.as_bytes())) {
            return Check::Accepted;
        }
        self.attempts += 1;
        Check::Wrong {
            void: self.attempts >= MAX_ATTEMPTS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretsKey {
        let dir = tempfile::tempdir().unwrap();
        SecretsKey::create(&dir.path().join("k")).unwrap()
    }

    #[test]
    fn codes_are_digits_of_the_asked_length() {
        for digits in 6..=8 {
            let code = generate(digits);
            assert_eq!(code.len(), digits as usize);
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.insert(generate(6));
        }
        assert!(seen.len() > 190, "random: {} distinct of 200", seen.len());
    }

    #[test]
    fn a_code_works_in_its_scope_until_it_expires_and_only_five_wrong_tries_are_allowed() {
        let key = key();
        let mut sent = SentCode::new(&key, Factor::Sms, "login:abc", "482913", 1_000);
        assert!(!format!("{sent:?}").contains("482913"), "stored as an HMAC");
        assert_eq!(sent.clone().check(&key, "login:abc", " 482913 ", 999), Check::Accepted);
        assert_eq!(
            sent.clone().check(&key, "login:other", "482913", 999),
            Check::Wrong { void: false }
        );
        assert_eq!(sent.clone().check(&key, "login:abc", "482913", 1_000), Check::Expired);
        for _ in 0..4 {
            assert_eq!(
                sent.check(&key, "login:abc", "000000", 10),
                Check::Wrong { void: false }
            );
        }
        assert_eq!(sent.check(&key, "login:abc", "000000", 10), Check::Wrong { void: true });
    }
}
