//! Passwords: argon2id hashes in PHC format (the parameters travel with the
//! hash, so they can be raised later without breaking old hashes).

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// A password as typed. Never printed.
#[derive(Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub fn new(text: impl Into<String>) -> Password {
        Password(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::Redacted.fmt(f)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2 parameters are invalid: {0}")]
    Params(String),
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

pub struct Hasher {
    argon: Argon2<'static>,
    /// A real hash of a random password, verified against when the user
    /// does not exist, so that the answer takes the same time either way.
    dummy: String,
}

impl Hasher {
    /// `memory_kib`, `iterations`, `parallelism`: argon2id's cost. OWASP's
    /// minimum is 19 MiB, 2 iterations, 1 lane.
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Hasher, HashError> {
        let params =
            Params::new(memory_kib, iterations, parallelism, None).map_err(|e| HashError::Params(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut hasher = Hasher {
            argon,
            dummy: String::new(),
        };
        let random: [u8; 16] = super::random_bytes();
        hasher.dummy = hasher.hash(&Password::new(format!("{random:?}")))?;
        Ok(hasher)
    }

    pub fn hash(&self, password: &Password) -> Result<String, HashError> {
        let salt = SaltString::encode_b64(&super::random_bytes::<16>()).map_err(|e| HashError::Hash(e.to_string()))?;
        let hash = self
            .argon
            .hash_password(password.expose().as_bytes(), &salt)
            .map_err(|e| HashError::Hash(e.to_string()))?;
        Ok(hash.to_string())
    }

    /// Does `password` match `phc`? A damaged hash never matches.
    pub fn verify(&self, password: &Password, phc: &str) -> bool {
        PasswordHash::new(phc)
            .map(|hash| self.argon.verify_password(password.expose().as_bytes(), &hash).is_ok())
            .unwrap_or(false)
    }

    /// Spend the time a real check takes, for a user who does not exist.
    pub fn verify_nobody(&self, password: &Password) -> bool {
        let _ = self.verify(password, &self.dummy);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Hasher {
        // Small parameters: the tests check behaviour, not cost.
        Hasher::new(1024, 1, 1).unwrap()
    }

    #[test]
    fn the_right_password_matches_and_others_do_not() {
        let hasher = cheap();
        let hash = hasher.hash(&Password::new("correct horse battery staple")).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
        assert!(hasher.verify(&Password::new("correct horse battery staple"), &hash));
        assert!(!hasher.verify(&Password::new("correct horse battery stapl"), &hash));
        assert!(!hasher.verify(&Password::new("anything"), "not a hash"));
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        let hasher = cheap();
        let password = Password::new("same");
        assert_ne!(hasher.hash(&password).unwrap(), hasher.hash(&password).unwrap());
    }

    #[test]
    fn unknown_users_never_match_but_cost_the_same() {
        let hasher = cheap();
        assert!(!hasher.verify_nobody(&Password::new("whatever")));
    }

    #[test]
    fn passwords_do_not_print() {
        assert_eq!(format!("{:?}", Password::new("hunter2")), "[redacted]");
    }
}
