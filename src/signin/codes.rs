//! Second factors: which a user is offered (the policy's `second_factors`,
//! what they have enrolled, what the gateway can send), sending a code by
//! email or SMS, and checking whatever code comes back.
//!
//! ```text
//!  code form ──"Email me a code"──▶ send: locked? too soon? too many?
//!      ▲                                 │ a new code; only its HMAC is stored
//!      │                                 │ (code:{scope}, a few minutes); send it
//!      └─── "We sent a code to a•••@example.com" (or: could not send) ◀──┘
//!  code form ──a code──▶ the sent code, else TOTP (if the policy allows it),
//!                        else a recovery code; each works once
//! ```

use std::time::Duration;

use crate::auth::credentials::Credentials;
use crate::auth::delivery::Context;
use crate::auth::lockout;
use crate::auth::otp::{self, Check, SentCode};
use crate::auth::{recovery, totp};
use crate::i18n::Texts;
use crate::policy::Factor;
use crate::session::SessionId;
use crate::store::Store;

use super::attempt::Attempt;
use super::engine::{SignIn, SignInError};
use super::machine::Proof;
use crate::auth::passkey::RelyingParty;

/// At most one code per sign-in or step-up this often.
const RESEND_AFTER: Duration = Duration::from_secs(30);
const SEND_WINDOW: Duration = Duration::from_secs(15 * 60);
const MAX_SENDS_PER_USER: u64 = 5;
const MAX_SENDS_PER_ADDRESS: u64 = 20;

/// What a user can prove themselves with, beyond recovery codes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Offers {
    pub totp: bool,
    /// The policy allows passkeys and the user has one.
    pub passkey: bool,
    /// Where a code would go.
    pub email: Option<String>,
    pub sms: Option<String>,
}

impl Offers {
    pub fn any(&self) -> bool {
        self.totp || self.passkey || self.email.is_some() || self.sms.is_some()
    }

    /// Where a code by this way would go, masked for the page.
    pub fn masked(&self, via: Via) -> Option<String> {
        match via {
            Via::Email => self.email.as_deref().map(masked),
            Via::Sms => self.sms.as_deref().map(masked),
        }
    }
}

/// A way to send a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Email,
    Sms,
}

/// What became of asking for a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Sent to (masked) `to`; it works for `minutes`.
    To {
        to: String,
        minutes: u64,
    },
    NotAvailable,
    Locked,
    TooSoon,
    TooMany,
    Failed,
}

/// Where a sent code for this sign-in (`login`, the flow's handle) or
/// step-up (`step-up`, the session's handle) is kept: it works for nothing else.
pub fn scope(purpose: &str, id: Option<&SessionId>) -> String {
    let handle = id.map(|id| id.handle().0).unwrap_or_default();
    format!("{purpose}:{handle}")
}

/// `a•••@example.com`, `•••0100`: enough to recognise, not to harvest.
pub fn masked(destination: &str) -> String {
    match destination.split_once('@') {
        Some((local, domain)) => format!("{}•••@{domain}", local.chars().next().unwrap_or('•')),
        None => {
            let digits: Vec<char> = destination.chars().collect();
            let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
            format!("•••{tail}")
        }
    }
}

impl SignIn {
    /// Is what was offered right for `scope`? A code or a ceremony works once.
    pub(super) async fn check(
        &self,
        at: &Attempt<'_>,
        user: &str,
        scope: &str,
        offered: &Offered<'_>,
    ) -> Result<bool, SignInError> {
        match offered {
            Offered::Code(code) => self.check_code(at, user, scope, code).await,
            Offered::Passkey { rp, answer } => self.check_passkey(at, rp, user, scope, answer).await,
        }
    }

    /// For `user` under the current policy, with their stored credentials.
    pub fn offers(&self, at: &Attempt<'_>, user: &str, credentials: Option<&Credentials>) -> Offers {
        let Some(account) = at.policy.users.get(user) else {
            return Offers::default();
        };
        let allows = |f: Factor| account.second_factors.contains(&f);
        let delivery = &self.sending.load().delivery;
        Offers {
            totp: allows(Factor::Totp) && credentials.is_some_and(|c| c.totp.is_some()),
            passkey: allows(Factor::Passkey) && credentials.is_some_and(|c| !c.passkeys.is_empty()),
            email: (account.email.clone()).filter(|_| allows(Factor::Email) && delivery.can_email()),
            sms: (account.phone.clone()).filter(|_| allows(Factor::Sms) && delivery.can_text()),
        }
    }

    /// The offers for `user`, reading their credentials.
    pub async fn offers_for(&self, at: &Attempt<'_>, user: &str) -> Result<Offers, SignInError> {
        let credentials = Credentials::load(&self.store, user).await?;
        Ok(self.offers(at, user, credentials.as_ref()))
    }

    /// Send `user` a code by `via` for the sign-in or step-up `scope`.
    /// The message is in `t`'s language, the page's.
    pub async fn send_code(
        &self,
        at: &Attempt<'_>,
        t: &Texts,
        user: &str,
        scope: &str,
        via: Via,
    ) -> Result<Sent, SignInError> {
        let offers = self.offers_for(at, user).await?;
        let (factor, destination) = match via {
            Via::Email => (Factor::Email, offers.email),
            Via::Sms => (Factor::Sms, offers.sms),
        };
        let Some(destination) = destination else {
            return Ok(Sent::NotAvailable);
        };
        if lockout::is_locked(&self.store, user, at.ip).await? {
            self.failure(at, user, "locked", false).await?;
            return Ok(Sent::Locked);
        }
        // One send per sign-in (or step-up) every RESEND_AFTER; the counts
        // below bound how many a user or an address can ask for in all.
        if !self
            .store
            .set_if_absent(&format!("code-cooldown:{scope}"), b"1", RESEND_AFTER)
            .await?
        {
            return Ok(Sent::TooSoon);
        }
        let by_user = self
            .store
            .count(&format!("code-sends:user:{user}"), SEND_WINDOW)
            .await?;
        let by_address = (self.store.count(&format!("code-sends:ip:{}", at.ip), SEND_WINDOW)).await?;
        if by_user > MAX_SENDS_PER_USER || by_address > MAX_SENDS_PER_ADDRESS {
            tracing::warn!(target: "audit", event = "code.throttled", user = %user, client_ip = %at.ip, sends_by_user = by_user, sends_by_address = by_address);
            return Ok(Sent::TooMany);
        }
        let sending = self.sending.load_full();
        let (settings, delivery) = (&sending.settings, &sending.delivery);
        let code = otp::generate(settings.digits);
        let now = super::machine::secs(at.now);
        let sent = SentCode::new(self.key(), factor, scope, &code, now + settings.valid_for.as_secs());
        let bytes = serde_json::to_vec(&sent).map_err(|e| crate::store::StoreError::Unavailable(e.to_string()))?;
        let key = format!("code:{scope}");
        self.store.set(&key, &bytes, Some(settings.valid_for)).await?;
        let ctx = Context {
            t,
            company: at.company,
            ip: at.ip,
            client_type: at.client_type(),
            at: at.now,
            valid_for: settings.valid_for,
        };
        let result = match factor {
            Factor::Email => delivery.email(&destination, &code, &ctx).await,
            _ => delivery.sms(&destination, &code, &ctx).await,
        };
        let via = if factor == Factor::Email { "email" } else { "sms" };
        if let Err(err) = result {
            let _ = self.store.delete(&key).await;
            tracing::warn!(target: "audit", event = "code.send_failed", user = %user, via, client_ip = %at.ip, error = %err);
            return Ok(Sent::Failed);
        }
        let purpose = scope.split(':').next().unwrap_or("");
        tracing::info!(target: "audit", event = "code.sent", user = %user, via, client_ip = %at.ip, purpose);
        Ok(Sent::To {
            to: masked(&destination),
            minutes: settings.valid_for.as_secs().div_ceil(60),
        })
    }

    /// A code sent for this `scope`, a TOTP code for a step not used before
    /// (if the user may use TOTP), or an unused recovery code. Each works once.
    pub(super) async fn check_code(
        &self,
        at: &Attempt<'_>,
        user: &str,
        scope: &str,
        code: &str,
    ) -> Result<bool, SignInError> {
        let code = code.trim();
        let now = super::machine::secs(at.now);
        let key = format!("code:{scope}");
        let sent: Option<SentCode> = (self.store.get(&key).await?).and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(mut sent) = sent {
            match sent.check(self.key(), scope, code, now) {
                // Taking it makes it single-use even against a concurrent try.
                Check::Accepted => return Ok(self.store.take(&key).await?.is_some()),
                Check::Wrong { void: false } => {
                    let left = Duration::from_secs(sent.expires.saturating_sub(now).max(1));
                    let bytes =
                        serde_json::to_vec(&sent).map_err(|e| crate::store::StoreError::Unavailable(e.to_string()))?;
                    self.store.set(&key, &bytes, Some(left)).await?;
                }
                Check::Wrong { void: true } | Check::Expired => {
                    self.store.delete(&key).await?;
                }
            }
        }
        let Some(mut credentials) = Credentials::load(&self.store, user).await? else {
            return Ok(false);
        };
        let totp_allowed = (at.policy.users.get(user)).is_some_and(|u| u.second_factors.contains(&Factor::Totp));
        if code.len() == totp::DIGITS && totp_allowed {
            if let Some(sealed) = &credentials.totp {
                let secret = self.key().open(user, sealed)?;
                if let Some(step) = totp::verify(&secret, code, at.now) {
                    return Ok(spend_totp_step(&self.store, user, step).await?);
                }
            }
        }
        match recovery::find(code, &credentials.recovery) {
            Some(index) => {
                credentials.recovery.remove(index);
                credentials.save(&self.store, user).await?;
                tracing::info!(target: "audit", event = "recovery_code.used", user, remaining = credentials.recovery.len());
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Record that `user` used TOTP `step`: `true` if this was its first use.
/// A code works once; the same step again is a replay. Enrolment and a new
/// authenticator spend the step they confirmed with, so it cannot also sign in.
pub async fn spend_totp_step(store: &Store, user: &str, step: u64) -> Result<bool, crate::store::StoreError> {
    let marker = format!("totp-used:{user}:{step}");
    store
        .set_if_absent(&marker, b"1", Duration::from_secs(totp::STEP_SECONDS * 4))
        .await
}

/// What a user offered as a second factor or step-up.
pub enum Offered<'a> {
    /// A code they typed.
    Code(&'a str),
    /// A passkey's answer (JSON) to the ceremony the page started.
    Passkey { rp: &'a RelyingParty, answer: &'a str },
}

impl Offered<'_> {
    pub(super) fn proof(&self) -> Proof {
        match self {
            Offered::Code(_) => Proof::Code,
            Offered::Passkey { .. } => Proof::Passkey,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_masked() {
        assert_eq!(masked("alice@example.com"), "a•••@example.com");
        assert_eq!(masked("+15550100"), "•••0100");
        assert_eq!(masked("12"), "•••12");
    }
}
