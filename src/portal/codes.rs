//! Second factors on the sign-in and step-up pages: which a user is offered
//! (the policy's `second_factors`, what they have enrolled, what the gateway
//! can send), the code form, sending a code by email or SMS, and checking
//! whatever code comes back.
//!
//! ```text
//!  code form ──"Email me a code"──▶ POST /send-code ──▶ locked? too soon? too many?
//!      ▲                                 │ new code; only its HMAC is stored
//!      │                                 │ (code:{scope}, a few minutes); send it
//!      └─── "We sent a code to a•••@example.com" (or: could not send) ◀──┘
//!  code form ──POST code──▶ the sent code, else TOTP (if the policy allows
//!                           it), else a recovery code; each works once
//! ```

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::login::{
    audit_failure, count_failure, csrf_for, csrf_ok, form_value, is_locked, pending_login, read_form, redirect,
    safe_next, set_cookie, signed_in, store_error, Attempt, Login, CSRF_COOKIE,
};
use super::page::{escape, render};
use crate::auth::credentials::Credentials;
use crate::auth::delivery::Context;
use crate::auth::otp::{self, Check, SentCode};
use crate::auth::{recovery, totp};
use crate::policy::Factor;
use crate::proxy::GatewayError;

/// At most one code per sign-in or step-up this often.
const RESEND_AFTER: Duration = Duration::from_secs(30);
const SEND_WINDOW: Duration = Duration::from_secs(15 * 60);
const MAX_SENDS_PER_USER: u64 = 5;
const MAX_SENDS_PER_ADDRESS: u64 = 20;

const SEND_FAILED: &str = "We could not send a code just now. Try again in a minute, or choose another way.";
const TOO_SOON: &str = "A code was sent a moment ago. Wait half a minute before asking for another.";
const TOO_MANY: &str = "Too many codes were asked for. Wait a while, or use another way.";

/// What a user can prove themselves with, beyond recovery codes.
#[derive(Debug, Default)]
pub struct Offers {
    pub totp: bool,
    /// Where a code would go.
    pub email: Option<String>,
    pub sms: Option<String>,
}

impl Offers {
    /// For `user` under the current policy, with their stored credentials.
    pub fn for_user(login: &Login, at: &Attempt<'_>, user: &str, credentials: Option<&Credentials>) -> Offers {
        let Some(account) = at.policy.users.get(user) else {
            return Offers::default();
        };
        let allows = |f: Factor| account.second_factors.contains(&f);
        Offers {
            totp: allows(Factor::Totp) && credentials.is_some_and(|c| c.totp.is_some()),
            email: account
                .email
                .clone()
                .filter(|_| allows(Factor::Email) && login.delivery.can_email()),
            sms: account
                .phone
                .clone()
                .filter(|_| allows(Factor::Sms) && login.delivery.can_text()),
        }
    }

    pub fn any(&self) -> bool {
        self.totp || self.email.is_some() || self.sms.is_some()
    }
}

/// Which code form: the sign-in's second step, or a step-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Login,
    StepUp,
}

impl Purpose {
    fn action(self) -> &'static str {
        match self {
            Purpose::Login => "/.portcullis/second-factor",
            Purpose::StepUp => "/.portcullis/step-up",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::StepUp => "step-up",
        }
    }
}

/// Where a sent code for this sign-in (the pending login's handle) or
/// step-up (the session's handle) is kept: it works for nothing else.
pub fn scope(purpose: Purpose, handle: &str) -> String {
    format!("{}:{handle}", purpose.name())
}

/// `a•••@example.com`, `•••0100`: enough to recognise, not to harvest.
fn masked(destination: &str) -> String {
    match destination.split_once('@') {
        Some((local, domain)) => format!("{}•••@{domain}", local.chars().next().unwrap_or('•')),
        None => {
            let digits: Vec<char> = destination.chars().collect();
            let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
            format!("•••{tail}")
        }
    }
}

pub struct Notice<'a> {
    /// "We sent a code to …"
    pub info: Option<String>,
    pub error: Option<&'a str>,
}

impl Notice<'_> {
    pub fn none() -> Notice<'static> {
        Notice {
            info: None,
            error: None,
        }
    }

    pub fn error(error: &str) -> Notice<'_> {
        Notice {
            info: None,
            error: Some(error),
        }
    }
}

pub fn code_form(
    headers: &HeaderMap,
    login: &Login,
    purpose: Purpose,
    next: &str,
    offers: &Offers,
    notice: Notice<'_>,
) -> Response<Full<Bytes>> {
    let token = csrf_for(headers);
    let sent = notice.info.is_some();
    let mut messages = String::new();
    if let Some(info) = &notice.info {
        messages.push_str(&format!("<p class=\"notice\" role=\"status\">{}</p>", escape(info)));
    }
    if let Some(error) = notice.error {
        messages.push_str(&format!("<p class=\"error\" role=\"alert\">{}</p>", escape(error)));
    }
    let ask = if offers.totp {
        format!(
            "Enter the 6-digit code from your authenticator app for {}, a code we sent you, or one of your recovery codes.",
            login.company()
        )
    } else {
        "Enter the code we sent you, or one of your recovery codes.".to_owned()
    };
    let send = |via: &str, to: &Option<String>, label: &str| {
        to.as_ref().map_or(String::new(), |to| {
            format!(
                "<form method=\"post\" action=\"/.portcullis/send-code\" class=\"send\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
                 <input type=\"hidden\" name=\"for\" value=\"{purpose}\">\
                 <input type=\"hidden\" name=\"next\" value=\"{next}\">\
                 <button type=\"submit\" name=\"via\" value=\"{via}\" class=\"secondary\">{label} ({to})</button></form>",
                purpose = purpose.name(),
                next = escape(next),
                to = escape(&masked(to)),
            )
        })
    };
    let body = format!(
        "<p>{ask}</p>{messages}\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label for=\"code\">Code</label>\
         <input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required autofocus>\
         <button type=\"submit\">Confirm</button></form>{email}{sms}",
        ask = escape(&ask),
        action = purpose.action(),
        next = escape(next),
        email = send("email", &offers.email, if sent { "Email me another code" } else { "Email me a code" }),
        sms = send("sms", &offers.sms, if sent { "Text me another code" } else { "Text me a code" }),
    );
    let mut response = render(StatusCode::OK, "Confirm it is you", &body);
    set_cookie(&mut response, CSRF_COOKIE, &token, "Strict", None);
    response
}

/// `/.portcullis/send-code`: send a code by email or SMS for the sign-in or
/// step-up under way, then show the code form again.
pub async fn send_code(
    login: &Login,
    req: Request<Incoming>,
    at: &Attempt<'_>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    if req.method() != Method::POST {
        return Ok(redirect("/.portcullis/login"));
    }
    let (headers, form) = read_form(req).await?;
    if !csrf_ok(&headers, &form) {
        return Err(GatewayError::Csrf);
    }
    let (purpose, user, handle, next) = match form_value(&form, "for") {
        Some("step-up") => match signed_in(login, &headers, at).await? {
            Some((id, session)) => (
                Purpose::StepUp,
                session.user,
                id.handle().0,
                safe_next(form_value(&form, "next")),
            ),
            None => return Ok(redirect("/.portcullis/login")),
        },
        _ => match pending_login(login, &headers).await? {
            Some((flow, pending)) => (Purpose::Login, pending.user, flow.handle().0, "/".to_owned()),
            None => return Ok(redirect("/.portcullis/login")),
        },
    };
    let credentials = Credentials::load(&login.store, &user).await.map_err(store_error)?;
    let offers = Offers::for_user(login, at, &user, credentials.as_ref());
    let form_again = |notice: Notice<'_>| code_form(&headers, login, purpose, &next, &offers, notice);
    let (factor, destination) = match form_value(&form, "via") {
        Some("email") => (Factor::Email, offers.email.clone()),
        Some("sms") => (Factor::Sms, offers.sms.clone()),
        _ => (Factor::Totp, None),
    };
    let Some(destination) = destination else {
        return Ok(form_again(Notice::error(
            "That way of sending a code is not available to you.",
        )));
    };
    if is_locked(&login.store, &user, at.ip).await? {
        audit_failure(at, &user, "locked");
        return Ok(form_again(Notice::error(super::login::LOCKED)));
    }
    let scope = scope(purpose, &handle);
    // One send per sign-in (or step-up) every RESEND_AFTER; the counts
    // below bound how many a user or an address can ask for in all.
    if !(login
        .store
        .set_if_absent(&format!("code-cooldown:{scope}"), b"1", RESEND_AFTER)
        .await)
        .map_err(store_error)?
    {
        return Ok(form_again(Notice::error(TOO_SOON)));
    }
    let by_user = (login.store.count(&format!("code-sends:user:{user}"), SEND_WINDOW).await).map_err(store_error)?;
    let by_address = (login
        .store
        .count(&format!("code-sends:ip:{}", at.ip), SEND_WINDOW)
        .await)
        .map_err(store_error)?;
    if by_user > MAX_SENDS_PER_USER || by_address > MAX_SENDS_PER_ADDRESS {
        tracing::warn!(target: "audit", event = "code.throttled", user = %user, client_ip = %at.ip, sends_by_user = by_user, sends_by_address = by_address);
        return Ok(form_again(Notice::error(TOO_MANY)));
    }

    let code = otp::generate(login.codes.digits);
    let now = at.now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let sent = SentCode::new(
        login.key(),
        factor,
        &scope,
        &code,
        now + login.codes.valid_for.as_secs(),
    );
    let bytes = serde_json::to_vec(&sent).map_err(store_error)?;
    let key = format!("code:{scope}");
    (login.store.set(&key, &bytes, Some(login.codes.valid_for)).await).map_err(store_error)?;
    let ctx = Context {
        company: login.company(),
        ip: at.ip,
        client_type: &at.policy.client_types[at.client].name,
        at: at.now,
        valid_for: login.codes.valid_for,
    };
    let result = match factor {
        Factor::Email => login.delivery.email(&destination, &code, &ctx).await,
        _ => login.delivery.sms(&destination, &code, &ctx).await,
    };
    let via = if factor == Factor::Email { "email" } else { "sms" };
    if let Err(err) = result {
        let _ = login.store.delete(&key).await;
        tracing::warn!(target: "audit", event = "code.send_failed", user = %user, via, client_ip = %at.ip, error = %err);
        return Ok(form_again(Notice::error(SEND_FAILED)));
    }
    tracing::info!(target: "audit", event = "code.sent", user = %user, via, client_ip = %at.ip, purpose = purpose.name());
    Ok(form_again(Notice {
        info: Some(format!(
            "We sent a code to {}. It works for {} minutes.",
            masked(&destination),
            login.codes.valid_for.as_secs().div_ceil(60)
        )),
        error: None,
    }))
}

/// A code sent for this `scope`, a TOTP code for a step not used before (if
/// the user may use TOTP), or an unused recovery code. Each works once.
pub async fn check_code(
    login: &Login,
    at: &Attempt<'_>,
    user: &str,
    scope: &str,
    code: &str,
) -> Result<bool, GatewayError> {
    let code = code.trim();
    let now = at.now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let key = format!("code:{scope}");
    let sent: Option<SentCode> =
        (login.store.get(&key).await.map_err(store_error)?).and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(mut sent) = sent {
        match sent.check(login.key(), scope, code, now) {
            // Taking it makes it single-use even against a concurrent try.
            Check::Accepted => return Ok(login.store.take(&key).await.map_err(store_error)?.is_some()),
            Check::Wrong { void: false } => {
                let left = Duration::from_secs(sent.expires.saturating_sub(now).max(1));
                let bytes = serde_json::to_vec(&sent).map_err(store_error)?;
                (login.store.set(&key, &bytes, Some(left)).await).map_err(store_error)?;
            }
            Check::Wrong { void: true } | Check::Expired => {
                (login.store.delete(&key).await).map_err(store_error)?;
            }
        }
    }
    let Some(mut credentials) = Credentials::load(&login.store, user).await.map_err(store_error)? else {
        return Ok(false);
    };
    let totp_allowed = at
        .policy
        .users
        .get(user)
        .is_some_and(|u| u.second_factors.contains(&Factor::Totp));
    if code.len() == totp::DIGITS && totp_allowed {
        if let Some(sealed) = &credentials.totp {
            let secret = login
                .key()
                .open(user, sealed)
                .map_err(|e| GatewayError::StoreUnavailable(e.to_string()))?;
            if let Some(step) = totp::verify(&secret, code, at.now) {
                return spend_totp_step(login, user, step).await;
            }
        }
    }
    match recovery::find(code, &credentials.recovery) {
        Some(index) => {
            credentials.recovery.remove(index);
            credentials.save(&login.store, user).await.map_err(store_error)?;
            tracing::info!(target: "audit", event = "recovery_code.used", user, remaining = credentials.recovery.len());
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Record that `user` used TOTP `step`: `true` if this was its first use.
/// A code works once; the same step again is a replay. Enrolment and
/// re-enrolment spend the step they confirmed with, so it cannot also sign in.
pub(super) async fn spend_totp_step(login: &Login, user: &str, step: u64) -> Result<bool, GatewayError> {
    let marker = format!("totp-used:{user}:{step}");
    login
        .store
        .set_if_absent(&marker, b"1", Duration::from_secs(totp::STEP_SECONDS * 4))
        .await
        .map_err(store_error)
}

/// Count a wrong code like a wrong password, and say so in the form.
pub async fn wrong_code(login: &Login, at: &Attempt<'_>, user: &str, reason: &str) -> Result<(), GatewayError> {
    audit_failure(at, user, reason);
    count_failure(&login.store, user, at).await
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
