//! Is the password typed the user's? Checked where the policy says their
//! password lives (`password_from`): the gateway's own hash, or the
//! company directory. A name that is no user's costs what a user's does.

use crate::auth::directory::{self, Verdict};
use crate::auth::Password;
use crate::policy::PasswordFrom;

use super::attempt::Attempt;
use super::engine::{SignIn, SignInError};

impl SignIn {
    /// `hash`: the user's own, if they have one and may be checked at all
    /// (known, allowed here, not locked). A locked name is never sent to
    /// the directory, so guessing here cannot lock the user out there.
    pub(super) async fn password_matches(
        &self,
        at: &Attempt<'_>,
        user: &str,
        hash: Option<&str>,
        locked: bool,
        password: &Password,
    ) -> Result<bool, SignInError> {
        let from = (at.policy.users.get(user)).map_or(at.policy.password_from, |u| u.password_from);
        let Some(settings) = at.directory.filter(|_| from == PasswordFrom::Directory && !locked) else {
            // The same cost whether or not the user exists (a dummy hash).
            return Ok(match (from, hash) {
                (PasswordFrom::Local, Some(hash)) => self.hasher.verify(password, hash),
                _ => self.hasher.verify_nobody(password),
            });
        };
        match directory::check(settings, user, password).await {
            Ok(Verdict::Right) => Ok(true),
            Ok(Verdict::Wrong(why)) => {
                tracing::info!(target: "audit", event = "directory.refused", request_id = %at.request_id, user, client_ip = %at.ip, why);
                Ok(false)
            }
            Err(down) => {
                tracing::warn!(target: "audit", event = "directory.unavailable", request_id = %at.request_id, user, client_ip = %at.ip, detail = %down);
                Err(down.into())
            }
        }
    }
}
