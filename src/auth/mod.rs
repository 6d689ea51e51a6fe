//! Credentials: passwords (argon2id), TOTP codes (RFC 6238) and recovery
//! codes. Pure functions of their inputs and `now`; the store keeps the
//! results and the login state machine (next) uses them.
//!
//! Secrets never print: [`Password`] and [`totp::TotpSecret`] redact
//! themselves in `Debug`.

pub mod credentials;
pub mod delivery;
pub mod directory;
pub mod invite;
pub mod lockout;
pub mod oidc;
pub mod otp;
pub mod passkey;
pub mod password;
pub mod recovery;
pub mod totp;

use std::fmt;

use anyhow::Context as _;

pub use password::Password;

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The system RNG failing is unrecoverable for a security product; ring
    // reports it as an error we cannot act on, so we abort loudly rather
    // than hand out predictable secrets.
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        std::process::abort();
    }
    bytes
}

/// Write a file only its owner can read (keys, sealed backups).
pub fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// `Debug` for secrets.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
