//! [`SignIn`]: runs the sign-in state machine ([`super::machine`]) against
//! the world. Each public method is one thing a browser can do: it finds
//! out what the step needs to know (locks, credentials, whether a password
//! or code is right), calls [`step`], carries out the effects in order, and
//! returns an [`Outcome`] for the portal to show.
//!
//! Flows live in the store under the SHA-256 of a random id that the
//! browser holds in its flow cookie, for as long as the flow waits.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

use crate::auth::credentials::{Credentials, SecretsKey};
use crate::auth::delivery::Delivery;
use crate::auth::lockout;
use crate::auth::passkey;
use crate::auth::password::{Hasher, Password};
use crate::auth::recovery;
use crate::config::codes::CodeSettings;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::session::{by_provider, same_network, LastLogin, Session, SessionId, SessionService};
use crate::store::{Store, StoreError};

use super::attempt::Attempt;
use super::codes::Offered;
use super::machine::{self, step, CodeCheck, Effect, Flow, Input, PasswordCheck, Show, SignedInWith};

/// What signing in needs: the store and the sessions on it, the key that
/// seals TOTP secrets and signs invites, the password hasher, how codes
/// are sent, and the counters it moves.
pub struct SignIn {
    pub store: Arc<Store>,
    pub sessions: Arc<SessionService>,
    key: SecretsKey,
    pub(super) hasher: Hasher,
    /// How codes are sent; a reload replaces it whole.
    pub(super) sending: ArcSwap<Sending>,
    pub(super) metrics: Arc<Metrics>,
    /// The identity providers' discovered settings and keys.
    pub(super) providers: crate::auth::oidc::Providers,
    /// Compiles the policy again once a user is provisioned; unset when
    /// the gateway runs without a config file (then nobody is).
    pub refresh: std::sync::OnceLock<crate::reload::Refresh>,
}

/// The `codes` settings and the senders made from them.
pub(super) struct Sending {
    pub settings: CodeSettings,
    pub delivery: Delivery,
}

pub use super::errors::{SignInError, SignInSetupError};

/// What the browser sees after a step, and what its cookies become.
#[derive(Debug)]
pub struct Outcome {
    pub show: Show,
    pub flow: FlowCookie,
    /// A session started: its id, for the session cookie.
    pub session: Option<SessionId>,
    /// Shown once, after enrolment.
    pub recovery_codes: Vec<String>,
    /// Sessions a step ended elsewhere (a password change).
    pub ended: usize,
}

/// What to do with the browser's flow cookie.
#[derive(Debug, PartialEq, Eq)]
pub enum FlowCookie {
    Keep,
    /// A new flow: its id, and how long it waits.
    Set(SessionId, std::time::Duration),
    /// [`FlowCookie::Set`] for a flow that waits for the identity
    /// provider: the browser must send it back from the provider's site.
    SetForProvider(SessionId, std::time::Duration),
    Clear,
}

/// Inputs that begin a flow of their own, whatever flow the browser had.
fn starts_flow(input: &Input) -> bool {
    matches!(
        input,
        Input::Password { .. }
            | Input::InvitePassword { .. }
            | Input::CurrentPassword { .. }
            | Input::PasskeyAlone { .. }
            | Input::ProviderStart { .. }
            | Input::ProviderAnswer(_)
    )
}

impl Outcome {
    pub(super) fn show(show: Show) -> Outcome {
        Outcome {
            show,
            flow: FlowCookie::Keep,
            session: None,
            recovery_codes: Vec::new(),
            ended: 0,
        }
    }
}

fn flow_key(id: &SessionId) -> String {
    format!("flow:{}", id.handle().0)
}

impl SignIn {
    pub fn open(
        config: &Config,
        sessions: Arc<SessionService>,
        metrics: Arc<Metrics>,
    ) -> Result<SignIn, SignInSetupError> {
        Ok(SignIn {
            store: sessions.store.clone(),
            key: SecretsKey::load(&config.auth.secrets_key)?,
            hasher: Hasher::new(config.auth.argon2_memory_kib, config.auth.argon2_iterations, 1)?,
            sending: ArcSwap::from_pointee(Sending {
                settings: config.codes.clone(),
                delivery: Delivery::new(&config.codes)?,
            }),
            sessions,
            metrics,
            providers: Default::default(),
            refresh: std::sync::OnceLock::new(),
        })
    }

    pub fn key(&self) -> &SecretsKey {
        &self.key
    }

    /// Send codes as `settings` say from now on (a reload changed them).
    pub fn send_with(&self, settings: &CodeSettings) -> Result<(), crate::auth::delivery::SendError> {
        let delivery = Delivery::new(settings)?;
        self.sending.store(Arc::new(Sending {
            settings: settings.clone(),
            delivery,
        }));
        Ok(())
    }

    /// The flow a browser's flow cookie names, if it still waits at `now`.
    pub async fn flow(&self, id: Option<&SessionId>, now: SystemTime) -> Result<Option<Flow>, SignInError> {
        let Some(id) = id else { return Ok(None) };
        let bytes = self.store.get(&flow_key(id)).await?;
        let flow: Option<Flow> = bytes.and_then(|b| serde_json::from_slice(&b).ok());
        Ok(flow.filter(|f| !f.expired(now)))
    }

    /// The sign-in form: a username and password.
    pub async fn password(
        &self,
        at: &Attempt<'_>,
        flow_id: Option<&SessionId>,
        user: &str,
        password: &Password,
        next: String,
    ) -> Result<Outcome, SignInError> {
        let user = user.trim();
        let locked = lockout::is_locked(&self.store, user, at.ip).await?;
        let allowed = at.allowed(user);
        let credentials = match allowed && !locked {
            true => Credentials::load(&self.store, user).await?,
            false => None,
        };
        let hash = credentials.as_ref().and_then(|c| c.password.as_deref());
        let right = self.password_matches(at, user, hash, locked, password).await?;
        let second_factor = self.offers(at, user, credentials.as_ref()).any()
            || credentials.as_ref().is_some_and(|c| !c.recovery.is_empty());
        let check = PasswordCheck {
            locked,
            allowed,
            right,
            second_factor,
            password_sign_in: at.policy.users.get(user).is_some_and(|u| u.password_sign_in),
        };
        let input = Input::Password {
            user: user.to_owned(),
            client_type: at.client_type().to_owned(),
            next,
            check,
        };
        self.run(at, flow_id, None, input).await
    }

    /// A code or a passkey on the second-factor page.
    pub async fn second_factor(
        &self,
        at: &Attempt<'_>,
        flow_id: Option<&SessionId>,
        offered: Offered<'_>,
    ) -> Result<Outcome, SignInError> {
        let flow = self.flow(flow_id, at.now).await?;
        let Some(Flow::SecondFactorDue { user, .. }) = &flow else {
            return self.run(at, flow_id, flow, Input::Code(CodeCheck::nothing())).await;
        };
        let user = user.clone();
        let locked = lockout::is_locked(&self.store, &user, at.ip).await?;
        let scope = super::codes::scope("login", flow_id);
        let right = !locked && self.check(at, &user, &scope, &offered).await?;
        let live_elsewhere = match right {
            true => (self.sessions.sessions().list(&user, at.now).await?.into_iter())
                .find(|(_, s)| !same_network(s.ip, at.ip))
                .map(|(_, s)| s.ip),
            false => None,
        };
        let check = CodeCheck {
            locked,
            right,
            allowed: at.allowed(&user),
            live_elsewhere,
            refuse_sharing: self.sessions.limits.refuse_sharing,
            by: offered.proof(),
        };
        self.run(at, flow_id, flow, Input::Code(check)).await
    }

    /// A code or a passkey on the step-up page, from a signed-in user.
    pub async fn step_up(
        &self,
        at: &Attempt<'_>,
        session: (&SessionId, &Session),
        next: String,
        offered: Offered<'_>,
    ) -> Result<Outcome, SignInError> {
        let (id, session) = session;
        let locked = lockout::is_locked(&self.store, &session.user, at.ip).await?;
        let scope = super::codes::scope("step-up", Some(id));
        let right = !locked && self.check(at, &session.user, &scope, &offered).await?;
        let check = CodeCheck {
            locked,
            right,
            allowed: true,
            live_elsewhere: None,
            refuse_sharing: false,
            by: offered.proof(),
        };
        let input = Input::StepUpCode {
            user: session.user.clone(),
            next,
            check,
        };
        let outcome = self.run(at, None, None, input).await?;
        if matches!(outcome.show, Show::Redirect(_)) {
            self.sessions.stepped_up(id, at.now).await?;
        }
        Ok(outcome)
    }

    /// Take one step: run the machine, carry out its effects, keep the flow.
    pub(super) async fn run(
        &self,
        at: &Attempt<'_>,
        flow_id: Option<&SessionId>,
        flow: Option<Flow>,
        input: Input,
    ) -> Result<Outcome, SignInError> {
        let carried_on = flow.as_ref().is_some_and(|f| !f.expired(at.now)) && !starts_flow(&input);
        let step = step(flow, input, at.now);
        let mut outcome = Outcome::show(step.show);
        for effect in step.effects {
            if let Some(show) = self.apply(at, flow_id, effect, &mut outcome).await? {
                outcome.show = show;
                outcome.flow = FlowCookie::Clear;
                return Ok(outcome);
            }
        }
        // A flow that goes on keeps its id; a new one gets a new id (the
        // browser's old one is forgotten), so no id outlives its flow.
        let continues = flow_id.filter(|_| carried_on);
        outcome.flow = match (step.flow, continues) {
            (Some(flow), id) => {
                let bytes = serde_json::to_vec(&flow).map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let wait = match flow {
                    Flow::SecondFactorDue { .. } => machine::SECOND_FACTOR_WITHIN,
                    _ => machine::CONFIRM_WITHIN,
                };
                let id = id.cloned().unwrap_or_else(SessionId::generate);
                self.store.set(&flow_key(&id), &bytes, Some(wait)).await?;
                match (continues, flow) {
                    (Some(_), _) => FlowCookie::Keep,
                    (None, Flow::ProviderDue { .. }) => FlowCookie::SetForProvider(id, wait),
                    (None, _) => FlowCookie::Set(id, wait),
                }
            }
            (None, _) if flow_id.is_some() => FlowCookie::Clear,
            (None, _) => FlowCookie::Keep,
        };
        if let (Some(old), None) = (flow_id, continues) {
            let _ = self.store.delete(&flow_key(old)).await;
        }
        Ok(outcome)
    }

    /// Carry out one effect. `Some(show)` when it could not (a racer used
    /// the flow or the invite first): the step ends there, showing that.
    pub(super) async fn apply(
        &self,
        at: &Attempt<'_>,
        flow_id: Option<&SessionId>,
        effect: Effect,
        outcome: &mut Outcome,
    ) -> Result<Option<Show>, SignInError> {
        match effect {
            Effect::Failure { user, reason, count } => {
                self.metrics.login_failures.inc();
                tracing::info!(target: "audit", event = "login.failure", request_id = %at.request_id, user, client_ip = %at.ip, reason);
                if count {
                    for lock in lockout::count_failure(&self.store, &user, at.ip).await? {
                        tracing::info!(target: "audit", event = "login.locked", who = %lock.who, failures = lock.failures, period_s = lock.period.as_secs());
                        self.metrics.lockouts.inc();
                    }
                }
            }
            Effect::SharingSuspected { user, other, refused } => {
                self.metrics.sharing_signals.inc();
                tracing::warn!(
                    target: "audit",
                    event = "account.sharing_suspected",
                    user = %user,
                    client_ip = %at.ip,
                    other_session_ip = %other,
                    action = if refused { "sign-in refused" } else { "allowed" },
                );
            }
            Effect::StartSession {
                user,
                client_type,
                with,
                provider,
            } => {
                // The flow is used up: taking it fails for a second racer.
                // A passkey alone had its ceremony taken instead.
                let taken = match (with, flow_id) {
                    (SignedInWith::Passkey, _) => true,
                    (SignedInWith::PasswordAndSecondFactor | SignedInWith::Provider, Some(id)) => {
                        self.store.take(&flow_key(id)).await?.is_some()
                    }
                    (SignedInWith::PasswordAndSecondFactor | SignedInWith::Provider, None) => false,
                };
                if !taken {
                    return Ok(Some(Show::Redirect("/.portcullis/login".into())));
                }
                let (session, ended) = self.sessions.create(&user, &client_type, at.ip, at.now).await?;
                if let Some(at_provider) = &provider {
                    let keep = self.sessions.limits.max_lifetime;
                    by_provider::remember(&self.store, &session.handle(), &user, at_provider, keep).await?;
                }
                tracing::info!(
                    target: "audit",
                    event = "login.success",
                    request_id = %at.request_id,
                    user = %user,
                    client_ip = %at.ip,
                    client_type = %client_type,
                    with = with.words(),
                    provider = provider.as_ref().map(|p| p.provider.as_str()),
                    session = %session.handle().0,
                    ended_sessions = ended.len(),
                );
                self.metrics.logins.inc();
                // For access reviews only: the sign-in stands if this cannot be written.
                if let Err(err) = LastLogin::record(&self.store, &user, at.ip, &client_type, at.now).await {
                    tracing::warn!(user = %user, error = %err, "cannot record the last sign-in");
                }
                self.tell_of_new_place(at, &user, &client_type).await;
                outcome.session = Some(session);
            }
            Effect::ProviderFailure { provider, user, detail } => {
                self.metrics.login_failures.inc();
                tracing::info!(target: "audit", event = "login.failure", request_id = %at.request_id, user, client_ip = %at.ip, provider, reason = "identity provider", detail);
            }
            Effect::SteppedUp { user } => {
                tracing::info!(target: "audit", event = "step_up.success", user = %user, client_ip = %at.ip);
            }
            Effect::Enrol {
                user,
                invite,
                password,
                totp,
                passkey,
            } => {
                // Checked again: the user may have been revoked or offboarded
                // while the code was typed, or a racer used the link.
                if let Err(problem) = self.invite_usable(at, &invite).await? {
                    return Ok(Some(Show::Link(problem)));
                }
                if !self.spend_invite(&invite, at).await? {
                    return Ok(Some(Show::Link(super::enrol::LinkProblem::Used)));
                }
                let codes = recovery::generate();
                if let Some(new) = &passkey {
                    passkey::record_owner(&self.store, &new.handle, &user).await?;
                }
                Credentials {
                    // Empty: the user's password lives in the directory.
                    password: Some(password).filter(|hash| !hash.is_empty()),
                    totp,
                    recovery: codes.iter().map(|c| recovery::hash(c)).collect(),
                    enrolled_at: Some(machine::secs(at.now)),
                    passkey_handle: passkey.as_ref().map(|new| new.handle),
                    passkeys: passkey.into_iter().map(|new| new.key).collect(),
                    ..Default::default()
                }
                .save(&self.store, &user)
                .await?;
                let ended = self.sessions.revoke_all(&user).await?;
                tracing::info!(target: "audit", event = "enrolment.complete", user = %user, client_ip = %at.ip, ended_sessions = ended.len());
                outcome.recovery_codes = codes;
            }
            Effect::ReplaceAuthenticator { user, totp } => {
                let Some(mut credentials) = Credentials::load(&self.store, &user).await? else {
                    return Ok(Some(Show::Redirect("/.portcullis/login".into())));
                };
                credentials.totp = Some(totp);
                credentials.save(&self.store, &user).await?;
                tracing::info!(target: "audit", event = "authenticator.changed", user = %user, client_ip = %at.ip);
            }
        }
        Ok(None)
    }

    /// A failure outside the machine's steps (the account pages).
    pub(super) async fn failure(
        &self,
        at: &Attempt<'_>,
        user: &str,
        reason: &'static str,
        count: bool,
    ) -> Result<(), SignInError> {
        let mut outcome = Outcome::show(Show::Redirect(String::new()));
        let effect = Effect::Failure {
            user: user.to_owned(),
            reason,
            count,
        };
        self.apply(at, None, effect, &mut outcome).await.map(|_| ())
    }
}
