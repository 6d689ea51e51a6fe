//! Signing in with the company's identity provider ([`crate::auth::oidc`]):
//! the browser is sent there with a new flow, and the provider's answer is
//! checked against that flow, then against the policy exactly as a
//! password would be (the account, its network and client type, the
//! lockout), before the provider's second factor or ours completes it.

use crate::auth::credentials::Credentials;
use crate::auth::lockout;
use std::sync::Arc;

use crate::auth::oidc::{ProviderSession, StepUp, Vouched};
use crate::config::providers::ProviderSettings;
use crate::config::raw::Admit;
use crate::live::Live;
use crate::policy::provisioned::Provisioned;
use crate::policy::Policy;
use crate::session::{by_provider, provisioned, same_network, Session, SessionId};

use super::attempt::Attempt;
use super::engine::{Outcome, SignIn, SignInError};
use super::machine::{Effect, Flow, Input, ProviderCheck, Show};

impl SignIn {
    /// "Sign in with <provider>": send the browser there. `callback` is
    /// this gateway's callback URL for the provider, as the browser
    /// addressed the gateway. With `step_up`, a signed-in user goes to
    /// prove themselves again there.
    pub async fn provider_start(
        &self,
        at: &Attempt<'_>,
        flow_id: Option<&SessionId>,
        (provider, callback): (&ProviderSettings, &str),
        next: String,
        step_up: Option<StepUp>,
    ) -> Result<Outcome, SignInError> {
        let started = (self.providers.start(provider, callback, step_up).await).map_err(|problem| problem.to_string());
        let input = Input::ProviderStart {
            provider: provider.id.clone(),
            client_type: at.client_type().to_owned(),
            next,
            started,
        };
        self.run(at, flow_id, None, input).await
    }

    /// The provider's answer: the callback's query. `session`: the
    /// browser's, which a step-up at the provider renews.
    pub async fn provider_answer(
        &self,
        at: &Attempt<'_>,
        (flow_id, session): (Option<&SessionId>, Option<(&SessionId, &Session)>),
        provider: &ProviderSettings,
        query: &[(String, String)],
    ) -> Result<Outcome, SignInError> {
        let flow = self.flow(flow_id, at.now).await?;
        let Some(Flow::ProviderDue { kept, .. }) = &flow else {
            let mut outcome = Outcome::show(Show::ProviderProblem);
            let failure = Effect::ProviderFailure {
                provider: provider.id.clone(),
                user: None,
                detail: "no sign-in waits for this answer in this browser (replayed, or it took too long)".into(),
            };
            self.apply(at, flow_id, failure, &mut outcome).await?;
            return Ok(outcome);
        };
        let vouched = self.providers.answer(provider, kept, query, at.now).await;
        let from_provider = vouched.as_ref().ok().map(|v| ProviderSession {
            provider: provider.id.clone(),
            subject: v.subject.clone(),
            sid: v.sid.clone(),
            id_token: v.id_token.clone(),
            mfa: v.mfa,
        });
        let (mut user, fresh) = match vouched {
            Ok(vouched) => {
                let (user, fresh) = self.signs_in(at, provider, &vouched).await?;
                let user = (user.map(|user| (user, vouched.mfa)))
                    .map_err(|why| format!("{why} (subject {})", vouched.subject));
                (user, fresh)
            }
            Err(problem) => (Err(problem.to_string()), None),
        };
        // A user just provisioned is in the policy compiled since.
        let fresh_at = fresh.as_ref().and_then(|live| at.under(&live.policy));
        let at = fresh_at.as_ref().unwrap_or(at);
        let step_up = kept.step_up.clone();
        if let (Some(step_up), Ok(_)) = (&step_up, &user) {
            if !self.renews(session, step_up, from_provider.as_ref()).await? {
                user = Err("step-up: not the user and provider subject of this browser's session".into());
            }
        }
        let mut check = ProviderCheck {
            provider: provider.id.clone(),
            user: user.as_ref().map(|(u, _)| u.clone()).map_err(Clone::clone),
            session: from_provider,
            locked: false,
            allowed: false,
            mfa: false,
            second_factor: false,
            live_elsewhere: None,
            refuse_sharing: self.sessions.limits.refuse_sharing,
        };
        if let Ok((user, mfa)) = &user {
            check.locked = lockout::is_locked(&self.store, user, at.ip).await?;
            check.allowed = at.allowed(user);
            check.mfa = *mfa;
            let credentials = Credentials::load(&self.store, user).await?;
            check.second_factor = self.offers(at, user, credentials.as_ref()).any()
                || credentials.as_ref().is_some_and(|c| !c.recovery.is_empty());
            check.live_elsewhere = (self.sessions.sessions().list(user, at.now).await?.into_iter())
                .find(|(_, s)| !same_network(s.ip, at.ip))
                .map(|(_, s)| s.ip);
        }
        let outcome = self.run(at, flow_id, flow, Input::ProviderAnswer(check)).await?;
        if let (Some(_), Show::Redirect(_), Some((id, _))) = (&step_up, &outcome.show, session) {
            self.sessions.stepped_up(id, at.now).await?;
        }
        Ok(outcome)
    }

    /// Whom the provider's answer signs in: the YAML's user its claim
    /// names, else (where its `admit` lets it) a user it provisions, kept
    /// in the store with its groups, then in the policy compiled again
    /// (returned with them). `Err`: why nobody, for the audit trail.
    async fn signs_in(
        &self,
        at: &Attempt<'_>,
        provider: &ProviderSettings,
        vouched: &Vouched,
    ) -> Result<(Result<String, String>, Option<Arc<Live>>), SignInError> {
        let listed = policy_user(at.policy, &vouched.name);
        let in_yaml = |name: &String| at.policy.users.get(name).is_some_and(|u| u.provisioned_by.is_none());
        let unlisted = matches!(&listed, Err(Unlisted::NotInUsers(_)));
        if provider.admit == Admit::Listed || listed.as_ref().is_ok_and(in_yaml) || !unlisted && listed.is_err() {
            return Ok((listed.map_err(|why| why.to_string()), None));
        }
        let name = vouched.name.clone();
        if name.len() > 254 || name.chars().any(char::is_control) {
            return Ok((
                Err(format!(
                    "the provider vouched for a name the policy cannot hold: {name:?}"
                )),
                None,
            ));
        }
        // Refused before anything is kept: the store holds only users admitted.
        let maps = |g: &String| provider.mapped_groups.contains(g);
        if provider.admit == Admit::Mapped && !vouched.groups.iter().any(maps) {
            let groups = vouched.groups.join(", ");
            let why = format!("the provider vouched for {name:?}, who is not in users, and whose groups ({groups}) map to no policy group");
            return Ok((Err(why), None));
        }
        if let Some(kept) = provisioned::get(&self.store, &name)
            .await?
            .filter(|k| k.by != provider.id)
        {
            let why = format!("{name:?} was provisioned by the provider {}, not this one", kept.by);
            return Ok((Err(why), None));
        }
        let user = Provisioned {
            name: name.clone(),
            by: provider.id.clone(),
            email: vouched.email.clone(),
            display_name: vouched.display_name.clone(),
            claimed: vouched.groups.clone(),
        };
        let provisioned_here = |policy: &Policy| {
            (policy.users.get(&name)).is_some_and(|u| u.provisioned_by.as_deref() == Some(&provider.id))
        };
        let unmapped =
            || format!("the provider vouched for {name:?}, who is not in users and whom no group of ours takes in");
        // Unchanged: the running policy was compiled with them already
        // (a sign-in cannot make every gateway compile its policy again).
        if !provisioned::keep(&self.store, &user).await? {
            return Ok((
                Some(name.clone())
                    .filter(|_| provisioned_here(at.policy))
                    .ok_or_else(unmapped),
                None,
            ));
        }
        tracing::info!(target: "audit", event = "user.provisioned", request_id = %at.request_id, provider = %provider.id, user = %name, provider_groups = ?user.claimed);
        let Some(refresh) = self.refresh.get() else {
            let why = "this gateway runs without a config file, so it cannot take in users the provider provisions";
            return Ok((Err(why.into()), None));
        };
        let live = refresh.now().await;
        if !provisioned_here(&live.policy) {
            return Ok((Err(unmapped()), None));
        }
        Ok((Ok(name), Some(live)))
    }

    /// The provider's session that signed in this session of ours, if one did.
    pub async fn signed_in_by(&self, id: &SessionId) -> Result<Option<ProviderSession>, SignInError> {
        Ok(by_provider::of_session(&self.store, &id.handle()).await?)
    }

    /// Does the provider's answer renew this browser's session: the user
    /// who asked to step up, signed in by the same subject at the same provider?
    async fn renews(
        &self,
        session: Option<(&SessionId, &Session)>,
        step_up: &StepUp,
        vouched: Option<&ProviderSession>,
    ) -> Result<bool, SignInError> {
        let (Some((id, session)), Some(vouched)) = (session, vouched) else {
            return Ok(false);
        };
        let signed_in = by_provider::of_session(&self.store, &id.handle()).await?;
        Ok(session.user == step_up.user
            && signed_in.is_some_and(|s| s.provider == vouched.provider && s.subject == vouched.subject))
    }
}

impl SignIn {
    /// The provider ended a session of its own (back-channel logout):
    /// end ours that it vouched for, on every gateway sharing the store.
    /// `Err` says why the token was refused (the provider gets 400).
    pub async fn provider_logout(
        &self,
        at: &Attempt<'_>,
        provider: &ProviderSettings,
        token: &str,
    ) -> Result<Result<usize, String>, SignInError> {
        let (subject, sid) = match self.providers.logout_token(provider, token, at.now).await {
            Ok(named) => named,
            Err(problem) => {
                tracing::warn!(target: "audit", event = "logout.provider_refused", request_id = %at.request_id, provider = %provider.id, client_ip = %at.ip, detail = %problem);
                return Ok(Err(problem.to_string()));
            }
        };
        let named = (provider.id.as_str(), subject.as_str(), sid.as_deref());
        let ended = by_provider::take(&self.store, named).await?;
        for vouched in &ended {
            self.sessions.revoke(&vouched.user, &vouched.handle).await?;
            tracing::info!(target: "audit", event = "session.revoked", user = %vouched.user, session = %vouched.handle.0, why = "signed out at the identity provider", provider = %provider.id);
        }
        tracing::info!(target: "audit", event = "logout.provider", request_id = %at.request_id, provider = %provider.id, subject = %subject, ended_sessions = ended.len());
        Ok(Ok(ended.len()))
    }

    /// Where to send a browser whose session `ended` came from a
    /// provider, to sign out there too (RP-initiated logout), then back to
    /// `then`. `None`: no provider, or it has no end-session endpoint.
    pub async fn provider_sign_out(
        &self,
        providers: &[ProviderSettings],
        ended: Option<&ProviderSession>,
        then: &str,
    ) -> Option<String> {
        let ended = ended?;
        let provider = providers.iter().find(|p| p.id == ended.provider)?;
        match self.providers.end_session(provider, ended, then).await {
            Ok(url) => url,
            Err(problem) => {
                tracing::warn!(provider = %provider.id, detail = %problem, "cannot sign out at the identity provider");
                None
            }
        }
    }
}

/// Why the provider's claim names no user in the policy.
#[derive(Debug, thiserror::Error)]
enum Unlisted {
    #[error("the provider vouched for {0:?}, who is not in users")]
    NotInUsers(String),
    #[error("{0:?} is the email of several users ({1})")]
    Several(String, String),
}

/// The user in `users` the provider's claim names: by their name, else by
/// their `email` (case aside). Two users with one email name nobody.
fn policy_user(policy: &Policy, claim: &str) -> Result<String, Unlisted> {
    if policy.users.contains_key(claim) {
        return Ok(claim.to_owned());
    }
    let by_email: Vec<&str> = (policy.users.values())
        .filter(|u| u.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(claim)))
        .map(|u| u.name.as_str())
        .collect();
    match by_email.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(Unlisted::NotInUsers(claim.to_owned())),
        several => Err(Unlisted::Several(claim.to_owned(), several.join(", "))),
    }
}
