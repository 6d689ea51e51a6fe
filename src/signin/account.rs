//! What signed-in users change themselves, through the engine: a new
//! authenticator (the current password, then a code from the new app), a
//! new password (the user's other sessions end), and their sessions.
//!
//! Every change asks for the current password, so a session left open on a
//! shared PC cannot be turned into a takeover; wrong passwords count
//! towards the same lockout as the sign-in page.

use crate::auth::credentials::Credentials;
use crate::auth::lockout;
use crate::auth::oidc::ProviderSession;
use crate::auth::password::Password;
use crate::auth::totp;
use crate::session::{by_provider, SessionHandle, SessionId};

use super::attempt::Attempt;
use super::engine::{Outcome, SignIn, SignInError};
use super::machine::{Flow, Input, Notice, Problem, Show};

/// Passwords a change may not go back to, besides the current one.
const REMEMBERED_PASSWORDS: usize = 3;

/// Which flow a code from a new authenticator continues.
#[derive(Debug, Clone, Copy)]
pub enum Expect<'a> {
    /// An invite link's enrolment.
    Enrolment,
    /// This signed-in user's move to a new app.
    NewAuthenticator(&'a str),
}

/// Which of a user's sessions to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    One(String),
    /// All but the one asking.
    Others,
}

impl SignIn {
    /// Move a signed-in user to a new authenticator: the current password,
    /// then the secret to scan.
    pub async fn start_new_authenticator(
        &self,
        at: &Attempt<'_>,
        flow_id: Option<&SessionId>,
        user: &str,
        current: &Password,
    ) -> Result<(Outcome, Option<totp::TotpSecret>), SignInError> {
        let locked = lockout::is_locked(&self.store, user, at.ip).await?;
        let credentials = Credentials::load(&self.store, user).await?;
        let hash = credentials.as_ref().and_then(|c| c.password.as_deref());
        let right = !locked && self.password_matches(at, user, hash, locked, current).await?;
        let secret = totp::TotpSecret::generate();
        let input = Input::CurrentPassword {
            user: user.to_owned(),
            locked,
            right,
            totp: self.key().seal(user, &secret),
        };
        let outcome = self.run(at, flow_id, None, input).await?;
        let shown = matches!(outcome.show, Show::Scan { .. }).then_some(secret);
        Ok((outcome, shown))
    }

    /// A code from the authenticator being set up: `expect` says which
    /// flow the page continues (an enrolment, or this user's new app).
    pub async fn authenticator_code(
        &self,
        at: &Attempt<'_>,
        flow_id: Option<&SessionId>,
        expect: Expect<'_>,
        code: &str,
    ) -> Result<(Outcome, Option<totp::TotpSecret>), SignInError> {
        let flow = self.flow(flow_id, at.now).await?.filter(|f| match (f, expect) {
            (Flow::ConfirmAuthenticator { .. }, Expect::Enrolment) => true,
            (Flow::ConfirmNewAuthenticator { user, .. }, Expect::NewAuthenticator(who)) => user == who,
            _ => false,
        });
        let secret = match &flow {
            Some(f @ (Flow::ConfirmAuthenticator { totp, .. } | Flow::ConfirmNewAuthenticator { totp, .. })) => {
                Some(self.key().open(f.user(), totp)?)
            }
            _ => None,
        };
        let step = secret.as_ref().and_then(|s| totp::verify(s, code.trim(), at.now));
        // The step that confirmed the secret is spent: it cannot also sign in.
        if let (Some(step), Some(flow)) = (step, &flow) {
            super::codes::spend_totp_step(&self.store, flow.user(), step).await?;
        }
        let outcome = self
            .run(at, flow_id, flow, Input::AuthenticatorCode { right: step.is_some() })
            .await?;
        let shown = matches!(outcome.show, Show::Scan { .. }).then_some(secret).flatten();
        Ok((outcome, shown))
    }

    /// Change a signed-in user's password: the current one, a strong new
    /// one not used before; the user's other sessions end.
    pub async fn change_password(
        &self,
        at: &Attempt<'_>,
        session: &SessionId,
        user: &str,
        current: &Password,
        new: (&Password, &Password),
    ) -> Result<Result<usize, Notice>, SignInError> {
        if lockout::is_locked(&self.store, user, at.ip).await? {
            self.failure(at, user, "locked", false).await?;
            return Ok(Err(Notice::Locked));
        }
        let Some(mut credentials) = Credentials::load(&self.store, user).await? else {
            return Ok(Err(Notice::WrongCurrentPassword));
        };
        let right = (credentials.password.as_deref()).is_some_and(|hash| self.hasher.verify(current, hash));
        if !right {
            self.failure(at, user, "wrong current password on the account page", true)
                .await?;
            return Ok(Err(Notice::WrongCurrentPassword));
        }
        if let Some(problem) = super::enrol::weakness(new.0.expose(), new.1.expose(), user) {
            return Ok(Err(Notice::Weak(problem)));
        }
        let new = new.0;
        let used_before = (credentials.password.iter())
            .chain(&credentials.previous_passwords)
            .any(|hash| self.hasher.verify(new, hash));
        if used_before {
            return Ok(Err(Notice::Weak(Problem::UsedBefore)));
        }
        if let Some(old) = credentials.password.replace(self.hasher.hash(new)?) {
            credentials.previous_passwords.insert(0, old);
            credentials.previous_passwords.truncate(REMEMBERED_PASSWORDS);
        }
        credentials.save(&self.store, user).await?;
        // Whoever knew the old password may be signed in elsewhere.
        let mut ended = 0;
        for (handle, _) in self.sessions.sessions().list(user, at.now).await? {
            if handle != session.handle() {
                self.sessions.revoke(user, &handle).await?;
                ended += 1;
            }
        }
        tracing::info!(target: "audit", event = "password.changed", user = %user, client_ip = %at.ip, ended_sessions = ended);
        Ok(Ok(ended))
    }

    /// End some of a signed-in user's other sessions (the office PC left
    /// signed in, ended from a phone). The session asking is never ended here.
    pub async fn end_sessions(
        &self,
        at: &Attempt<'_>,
        this: &SessionId,
        user: &str,
        which: &Ending,
    ) -> Result<usize, SignInError> {
        let this = this.handle();
        let chosen = |handle: &SessionHandle| match which {
            Ending::Others => true,
            Ending::One(h) => handle.0 == *h,
        };
        let mut ended = 0;
        for (handle, _) in self.sessions.sessions().list(user, at.now).await? {
            if handle != this && chosen(&handle) {
                self.sessions.revoke(user, &handle).await?;
                tracing::info!(target: "audit", event = "session.revoked", user = %user, session = %handle.0, why = "ended by the user");
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// Sign out: the session named by the browser's cookie ends.
    /// End the session; the identity provider's session it came from, if
    /// one did (to sign out there too).
    pub async fn sign_out(&self, at: &Attempt<'_>, id: &SessionId) -> Result<Option<ProviderSession>, SignInError> {
        let Ok(session) = self.sessions.resume(id, at.now).await? else {
            return Ok(None);
        };
        let from = by_provider::of_session(&self.store, &id.handle()).await?;
        self.sessions.revoke(&session.user, &id.handle()).await?;
        tracing::info!(target: "audit", event = "session.revoked", user = %session.user, session = %id.handle().0, why = "logout");
        Ok(from)
    }
}
