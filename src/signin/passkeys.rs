//! Passkeys in the sign-in: the ceremonies a page starts, and checking
//! the browser's answers (see [`crate::auth::passkey`] for the WebAuthn).
//!
//! ```text
//!  second-factor or step-up page ──options──▶ passkey ──answer──▶ check_passkey  (a code, in the machine)
//!  sign-in page ──options (no user)──▶ passkey ──answer──▶ passkey_alone          (a whole sign-in)
//!  account page, fresh second factor ──options──▶ new passkey ──▶ add_passkey
//!  invite, after the password ──options──▶ new passkey ──▶ invite_passkey ──▶ enrolled
//! ```
//!
//! Each ceremony's server half waits in the store under its scope and is
//! taken when the answer comes: an answer is checked once.

use std::time::Duration;

use crate::auth::credentials::Credentials;
use crate::auth::lockout;
use crate::auth::passkey::{
    self, DiscoverableAuthentication, NewPasskey, PasskeyAuthentication, PasskeyRegistration, Refused, RelyingParty,
    StoredPasskey,
};
use crate::policy::Factor;
use crate::session::{same_network, SessionId};

use super::attempt::Attempt;
use super::engine::{Outcome, SignIn, SignInError};
use super::machine::{secs, Flow, Input, Notice, PasskeyAloneCheck};

/// How recently a second factor must have been proven to add a passkey.
pub const ADD_WITHIN: Duration = Duration::from_secs(5 * 60);

/// The longest name a passkey may have.
const MAX_NAME_CHARS: usize = 60;

/// A registration's server half, and the user handle it gives the key.
#[derive(serde::Serialize, serde::Deserialize)]
struct Registration {
    handle: uuid::Uuid,
    state: PasskeyRegistration,
}

impl SignIn {
    /// Options to prove one of `user`'s passkeys for `scope` (a sign-in's
    /// second factor or a step-up), if the policy offers them theirs.
    pub async fn passkey_options(
        &self,
        at: &Attempt<'_>,
        rp: &RelyingParty,
        user: &str,
        scope: &str,
    ) -> Result<Option<String>, SignInError> {
        let Some(credentials) = Credentials::load(&self.store, user).await? else {
            return Ok(None);
        };
        if !self.offers(at, user, Some(&credentials)).passkey {
            return Ok(None);
        }
        let Ok((options, state)) = rp.start_authentication(&credentials.passkeys) else {
            return Ok(None);
        };
        passkey::keep(&self.store, scope, &state).await?;
        Ok(Some(options))
    }

    /// Is `answer` a good signature from one of `user`'s passkeys, for the
    /// ceremony of `scope`? Its counter and last use are saved when it is.
    pub(super) async fn check_passkey(
        &self,
        at: &Attempt<'_>,
        rp: &RelyingParty,
        user: &str,
        scope: &str,
        answer: &str,
    ) -> Result<bool, SignInError> {
        let state: Option<PasskeyAuthentication> = passkey::take(&self.store, scope).await?;
        let credentials = Credentials::load(&self.store, user).await?;
        let (Some(state), Some(mut credentials)) = (state, credentials) else {
            self.passkey_refused(at, user, Refused::NoChallenge);
            return Ok(false);
        };
        if !self.offers(at, user, Some(&credentials)).passkey {
            return Ok(false);
        }
        let now = secs(at.now);
        let used = rp.finish_authentication(answer, &state, &mut credentials.passkeys, now);
        self.used(at, user, credentials, used).await
    }

    /// Save a passkey's use, or audit why it was refused.
    async fn used(
        &self,
        at: &Attempt<'_>,
        user: &str,
        credentials: Credentials,
        used: Result<usize, Refused>,
    ) -> Result<bool, SignInError> {
        let device_bound = (at.policy.users.get(user)).is_some_and(|u| u.passkeys.device_bound);
        let used = used.and_then(|i| match device_bound && credentials.passkeys[i].synced() {
            true => Err(Refused::Synced),
            false => Ok(i),
        });
        match used {
            Ok(index) => {
                let name = credentials.passkeys[index].name.clone();
                credentials.save(&self.store, user).await?;
                tracing::info!(target: "audit", event = "passkey.used", user, client_ip = %at.ip, passkey = %name);
                Ok(true)
            }
            Err(refused) => {
                self.passkey_refused(at, user, refused);
                Ok(false)
            }
        }
    }

    fn passkey_refused(&self, at: &Attempt<'_>, user: &str, refused: Refused) {
        let event = match refused {
            Refused::CounterWentBack => "passkey.cloned_suspected",
            _ => "passkey.refused",
        };
        tracing::warn!(target: "audit", event, request_id = %at.request_id, user, client_ip = %at.ip, reason = refused.reason());
    }

    /// A ceremony for the sign-in page: any user's passkey may answer.
    /// Its id goes in the form; the server half waits under it.
    pub async fn passwordless_options(&self, rp: &RelyingParty) -> Result<Option<(String, String)>, SignInError> {
        let Ok((options, state)) = rp.start_discoverable() else {
            return Ok(None);
        };
        let id = hex::encode(crate::auth::random_bytes::<16>());
        passkey::keep(&self.store, &format!("alone:{id}"), &state).await?;
        Ok(Some((id, options)))
    }

    /// A passkey on the sign-in page, without a username: it names the
    /// user, and signs them in where the policy lets a passkey alone.
    pub async fn passkey_alone(
        &self,
        at: &Attempt<'_>,
        rp: &RelyingParty,
        ceremony: &str,
        answer: &str,
        next: String,
    ) -> Result<Outcome, SignInError> {
        let state: Option<DiscoverableAuthentication> =
            passkey::take(&self.store, &format!("alone:{ceremony}")).await?;
        let handle = RelyingParty::identify(answer);
        let user = match &handle {
            Ok(handle) => passkey::owner(&self.store, handle).await?.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let locked = lockout::is_locked(&self.store, &user, at.ip).await?;
        let allowed = at.allowed(&user);
        let credentials = match allowed && !locked {
            true => Credentials::load(&self.store, &user).await?,
            false => None,
        };
        let ours = |c: &Credentials| handle.as_ref().is_ok_and(|h| c.passkey_handle.as_ref() == Some(h));
        let right = match (state, credentials.filter(ours)) {
            (Some(state), Some(mut credentials)) => {
                let used = rp.finish_discoverable(answer, state, &mut credentials.passkeys, secs(at.now));
                self.used(at, &user, credentials, used).await?
            }
            (None, _) => {
                self.passkey_refused(at, &user, Refused::NoChallenge);
                false
            }
            (Some(_), None) => {
                self.passkey_refused(at, &user, Refused::UnknownCredential);
                false
            }
        };
        let passwordless = (at.policy.users.get(&user))
            .is_some_and(|u| u.passkeys.passwordless && u.second_factors.contains(&Factor::Passkey));
        let live_elsewhere = match right {
            true => (self.sessions.sessions().list(&user, at.now).await?.into_iter())
                .find(|(_, s)| !same_network(s.ip, at.ip))
                .map(|(_, s)| s.ip),
            false => None,
        };
        let check = PasskeyAloneCheck {
            locked,
            allowed,
            right,
            passwordless,
            live_elsewhere,
            refuse_sharing: self.sessions.limits.refuse_sharing,
        };
        let input = Input::PasskeyAlone {
            user,
            client_type: at.client_type().to_owned(),
            next,
            check,
        };
        self.run(at, None, None, input).await
    }

    /// Options to make a new passkey for `user`, for `scope` (an account
    /// page's session, an invite's flow).
    pub async fn new_passkey_options(
        &self,
        at: &Attempt<'_>,
        rp: &RelyingParty,
        user: &str,
        scope: &str,
    ) -> Result<Option<String>, SignInError> {
        let credentials = Credentials::load(&self.store, user).await?.unwrap_or_default();
        let handle = credentials.passkey_handle.unwrap_or_else(passkey::new_handle);
        let display = (at.policy.users.get(user))
            .and_then(|u| u.display_name.clone())
            .unwrap_or_else(|| user.to_owned());
        let Ok((options, state)) = rp.start_registration(handle, user, &display, &credentials.passkeys) else {
            return Ok(None);
        };
        passkey::keep(&self.store, scope, &Registration { handle, state }).await?;
        Ok(Some(options))
    }

    /// The browser's new passkey for the ceremony of `scope`, checked.
    async fn made(
        &self,
        at: &Attempt<'_>,
        rp: &RelyingParty,
        user: &str,
        scope: &str,
        name: &str,
        answer: &str,
    ) -> Result<Result<NewPasskey, Refused>, SignInError> {
        let Some(registration) = passkey::take::<Registration>(&self.store, scope).await? else {
            return Ok(Err(Refused::NoChallenge));
        };
        let key = match rp.finish_registration(answer, &registration.state) {
            Ok(key) => key,
            Err(refused) => return Ok(Err(refused)),
        };
        let name: String = name
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_NAME_CHARS)
            .collect();
        let key = StoredPasskey {
            name: if name.is_empty() { "Passkey".to_owned() } else { name },
            created: secs(at.now),
            last_used: None,
            key,
        };
        let device_bound = (at.policy.users.get(user)).is_some_and(|u| u.passkeys.device_bound);
        if device_bound && key.synced() {
            return Ok(Err(Refused::Synced));
        }
        Ok(Ok(NewPasskey {
            handle: registration.handle,
            key,
        }))
    }

    /// A signed-in user adds a passkey from their account page.
    pub async fn add_passkey(
        &self,
        at: &Attempt<'_>,
        rp: &RelyingParty,
        (session, user): (&SessionId, &str),
        name: &str,
        answer: &str,
    ) -> Result<Result<String, Notice>, SignInError> {
        let scope = super::codes::scope("new-passkey", Some(session));
        let new = match self.made(at, rp, user, &scope, name, answer).await? {
            Ok(new) => new,
            Err(refused) => {
                self.passkey_refused(at, user, refused);
                return Ok(Err(Notice::PasskeyRefused));
            }
        };
        let Some(mut credentials) = Credentials::load(&self.store, user).await? else {
            return Ok(Err(Notice::PasskeyRefused));
        };
        if credentials.passkeys.iter().any(|k| k.id() == new.key.id()) {
            return Ok(Err(Notice::PasskeyRefused));
        }
        passkey::record_owner(&self.store, &new.handle, user).await?;
        credentials.passkey_handle = Some(new.handle);
        let name = new.key.name.clone();
        credentials.passkeys.push(new.key);
        credentials.save(&self.store, user).await?;
        tracing::info!(target: "audit", event = "passkey.added", user, client_ip = %at.ip, passkey = %name, passkeys = credentials.passkeys.len());
        Ok(Ok(name))
    }

    /// Remove one of a signed-in user's passkeys (by its id), unless it is
    /// the last way they have to prove a second factor.
    pub async fn remove_passkey(
        &self,
        at: &Attempt<'_>,
        user: &str,
        id: &str,
    ) -> Result<Result<String, Notice>, SignInError> {
        let Some(mut credentials) = Credentials::load(&self.store, user).await? else {
            return Ok(Err(Notice::PasskeyRefused));
        };
        let Some(index) = credentials.passkeys.iter().position(|k| k.id() == id) else {
            return Ok(Err(Notice::PasskeyRefused));
        };
        let mut after = credentials.clone();
        after.passkeys.remove(index);
        if !self.offers(at, user, Some(&after)).any() {
            return Ok(Err(Notice::LastFactor));
        }
        let removed = credentials.passkeys.remove(index);
        credentials.save(&self.store, user).await?;
        tracing::info!(target: "audit", event = "passkey.removed", user, client_ip = %at.ip, passkey = %removed.name, passkeys = credentials.passkeys.len());
        Ok(Ok(removed.name))
    }

    /// The passkey an invite's user made after choosing their password.
    pub async fn invite_passkey(
        &self,
        at: &Attempt<'_>,
        rp: &RelyingParty,
        flow_id: Option<&SessionId>,
        name: &str,
        answer: &str,
    ) -> Result<Outcome, SignInError> {
        let flow = self.flow(flow_id, at.now).await?;
        let key = match &flow {
            Some(Flow::CreatePasskey { user, .. }) => {
                let scope = super::codes::scope("enrol-passkey", flow_id);
                match self.made(at, rp, user, &scope, name, answer).await? {
                    Ok(new) => Some(new),
                    Err(refused) => {
                        self.passkey_refused(at, user, refused);
                        None
                    }
                }
            }
            _ => None,
        };
        self.run(at, flow_id, flow, Input::NewPasskey { key }).await
    }
}
