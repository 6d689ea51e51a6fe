//! Onboarding from a one-time invite link (`portcullis user invite`):
//!
//! ```text
//!  /enrol?token=…  ──▶ set a password ──▶ scan the QR code (or type the key)
//!        ──▶ /enrol/confirm with a code ──▶ ten recovery codes, shown once
//! ```
//!
//! The link is checked at every step (signature, expiry, use, revocation,
//! account and network); it works once; finishing enrolment replaces any
//! earlier credentials and ends the user's sessions (so the same flow resets).

use std::time::Duration;

use crate::auth::credentials::Credentials;
use crate::auth::invite::{self, Invite, InviteError};
use crate::auth::lockout;
use crate::auth::password::Password;
use crate::auth::totp;
use crate::policy::{Factor, PasswordFrom};
use crate::session::SessionId;

use super::attempt::Attempt;
use super::engine::{Outcome, SignIn, SignInError};
use super::machine::{Input, NewFactor, Problem, Show};

const MIN_PASSWORD_CHARS: usize = 12;
/// Passwords every guesser tries first.
const COMMON: &[&str] = &[
    "password",
    "passw0rd",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "letmein",
    "welcome",
    "iloveyou",
    "changeme",
    "administrator",
    "trustno1",
    "sunshine",
    "football",
    "monkey",
];

/// Why an invite link cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    Expired,
    Invalid,
    Used,
    /// Issued before the user's access was last revoked.
    Withdrawn,
    /// The account may not use the CRM, or not from here.
    NotHere,
}

fn used_key(invite: &Invite) -> String {
    format!("invite-used:{}", invite.nonce)
}

impl SignIn {
    /// The invite a token names, or why it cannot be used.
    pub async fn check_invite(
        &self,
        at: &Attempt<'_>,
        token: &str,
    ) -> Result<Result<Invite, LinkProblem>, SignInError> {
        let invite = match invite::verify(self.key(), token, at.now) {
            Ok(invite) => invite,
            Err(InviteError::Expired) => return Ok(Err(LinkProblem::Expired)),
            Err(_) => return Ok(Err(LinkProblem::Invalid)),
        };
        Ok(self.invite_usable(at, &invite).await?.map(|()| invite))
    }

    /// Can a genuine, unexpired invite still be used, here and now?
    pub(super) async fn invite_usable(
        &self,
        at: &Attempt<'_>,
        invite: &Invite,
    ) -> Result<Result<(), LinkProblem>, SignInError> {
        if self.store.get(&used_key(invite)).await?.is_some() {
            return Ok(Err(LinkProblem::Used));
        }
        // Strictly before: `user reset` issues its new link in the same
        // millisecond as the revocation often enough, and that link must work.
        let revoked_at = Credentials::revoked_at(&self.store, &invite.user).await?;
        if revoked_at.is_some_and(|revoked| invite.issued_ms < revoked) {
            return Ok(Err(LinkProblem::Withdrawn));
        }
        if !at.allowed(&invite.user) {
            return Ok(Err(LinkProblem::NotHere));
        }
        Ok(Ok(()))
    }

    /// The invite's password form: a strong password, then the
    /// authenticator to scan (unless the user only gets codes sent). A
    /// user whose password lives in the directory types that one instead:
    /// it proves the link reached its owner, and nothing is kept of it.
    pub async fn invite_password(
        &self,
        at: &Attempt<'_>,
        flow_id: Option<&SessionId>,
        token: &str,
        password: &Password,
        confirm: &Password,
    ) -> Result<(Outcome, Option<totp::TotpSecret>), SignInError> {
        let invite = match self.check_invite(at, token).await? {
            Ok(invite) => invite,
            Err(problem) => return Ok((Outcome::show(Show::Link(problem)), None)),
        };
        let user = invite.user.clone();
        let in_directory = (at.policy.users.get(&user)).is_some_and(|u| u.password_from == PasswordFrom::Directory);
        let (problem, hash) = match in_directory {
            true => {
                let locked = lockout::is_locked(&self.store, &user, at.ip).await?;
                let right = !locked && self.password_matches(at, &user, None, locked, password).await?;
                if !right {
                    self.failure(at, &user, "wrong directory password on the invite page", !locked)
                        .await?;
                }
                (Some(Problem::NotDirectoryPassword).filter(|_| !right), String::new())
            }
            false => match weakness(password.expose(), confirm.expose(), &user) {
                Some(problem) => (Some(problem), String::new()),
                None => (None, self.hasher.hash(password)?),
            },
        };
        // An authenticator app where the policy offers one, else a passkey
        // where it offers that, else nothing (codes are sent).
        let factors = (at.policy.users.get(&user)).map_or(&[][..], |u| u.second_factors.as_slice());
        let secret = (factors.contains(&Factor::Totp) && problem.is_none()).then(totp::TotpSecret::generate);
        let then = match &secret {
            Some(secret) => NewFactor::Totp(self.key().seal(&user, secret)),
            None if factors.contains(&Factor::Passkey) => NewFactor::Passkey,
            None => NewFactor::Nothing,
        };
        let input = Input::InvitePassword {
            user: user.clone(),
            invite,
            problem,
            password: hash,
            then,
        };
        let outcome = self.run(at, flow_id, None, input).await?;
        Ok((outcome, secret))
    }

    /// Record that the invite is used: `false` if it already was (a racer).
    pub(super) async fn spend_invite(&self, invite: &Invite, at: &Attempt<'_>) -> Result<bool, SignInError> {
        let left = invite.expires.saturating_sub(super::machine::secs(at.now));
        let remember = Duration::from_secs(left + 24 * 3600);
        Ok(self.store.set_if_absent(&used_key(invite), b"1", remember).await?)
    }
}

/// What is wrong with a new password, if anything.
pub fn weakness(password: &str, confirm: &str, user: &str) -> Option<Problem> {
    let lower = password.to_lowercase();
    if password != confirm {
        Some(Problem::NotSame)
    } else if password.chars().count() < MIN_PASSWORD_CHARS {
        Some(Problem::TooShort)
    } else if !user.is_empty() && lower.contains(&user.to_lowercase()) {
        Some(Problem::HasUsername)
    } else if COMMON.iter().any(|c| lower.contains(c))
        || password.chars().collect::<std::collections::HashSet<_>>().len() < 5
    {
        Some(Problem::TooEasy)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        assert_eq!(weakness("abc", "abc", "alice"), Some(Problem::TooShort));
        assert_eq!(
            weakness("correct horse battery", "correct horse batterY", "alice"),
            Some(Problem::NotSame)
        );
        assert_eq!(
            weakness("alice-is-great-2026", "alice-is-great-2026", "alice"),
            Some(Problem::HasUsername)
        );
        assert_eq!(
            weakness("MyPassword2026!!", "MyPassword2026!!", "bob"),
            Some(Problem::TooEasy)
        );
        assert_eq!(
            weakness("aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa", "bob"),
            Some(Problem::TooEasy)
        );
        assert_eq!(
            weakness("correct horse battery staple", "correct horse battery staple", "alice"),
            None
        );
    }
}
