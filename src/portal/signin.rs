//! The sign-in pages, as the browser meets them:
//!
//! ```text
//!  /login ──▶ /second-factor (and /send-code) ──▶ back to the CRM page
//!  /step-up?next=… ──▶ back to the page that asked for it
//!  /enrol?token=… ──▶ /enrol/confirm ──▶ recovery codes
//! ```
//!
//! Each handler decodes its form, asks the engine ([`crate::signin`]) and
//! shows what the engine says; the pages the sign-in and account pages
//! share ([`shown`], [`code_page`], [`scan_page`]) are here too.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

use super::cookies::with_cookies;
use super::views::{self, Links};
use super::{forms, passkeys, redirect, safe_next, Ctx, PortalError};
use crate::auth::totp::TotpSecret;
use crate::i18n::fill;
use crate::session::Session;
use crate::signin::codes::{self, Sent, Via};
use crate::signin::{Expect, Flow, Notice, Outcome, Show};

pub type Page = Result<Response<Full<Bytes>>, PortalError>;

pub const SIGN_IN: &str = "/.portcullis/login";
const SECOND_FACTOR: &str = "/.portcullis/second-factor";
const STEP_UP: &str = "/.portcullis/step-up";
const ENROL_CONFIRM: &str = "/.portcullis/enrol/confirm";

/// `/.portcullis/login`
pub async fn login(ctx: &Ctx<'_>) -> Page {
    // From a network no rule lets anyone in from, not even the form is shown.
    if ctx.at.nobody_from_here() {
        return Err(PortalError::NobodyFromHere(ctx.at.ip));
    }
    if !ctx.posted() {
        let next = safe_next(ctx.query_value("next").as_deref());
        let passkey = passkeys::passwordless_form(ctx, &next).await?;
        return Ok(sign_in_page(ctx, &next, "", None, passkey));
    }
    let form: forms::SignIn = ctx.decode();
    let next = safe_next(Some(&form.next));
    let flow = ctx.flow_id();
    let outcome = (ctx.signin)
        .password(&ctx.at, flow.as_ref(), &form.username, &form.password, next.clone())
        .await?;
    let response = match &outcome.show {
        Show::SignIn { user, notice } => {
            let passkey = passkeys::passwordless_form(ctx, &next).await?;
            sign_in_page(ctx, &next, user, Some(*notice), passkey)
        }
        _ => shown(ctx, &outcome),
    };
    Ok(with_cookies(response, &outcome))
}

pub(super) fn sign_in_page(
    ctx: &Ctx<'_>,
    next: &str,
    user: &str,
    notice: Option<Notice>,
    passkey: Option<views::PasskeyForm>,
) -> Response<Full<Bytes>> {
    let t = ctx.t;
    let page = views::SignIn {
        frame: ctx.frame(&t.sign_in_title, Links::None),
        intro: fill(&t.sign_in_intro, &[("company", ctx.at.company)]),
        info: None,
        error: notice.map(|n| views::notice(t, n)),
        csrf: &ctx.csrf,
        next,
        user,
        passkey,
        providers: super::sso::links(ctx, next),
    };
    views::html(StatusCode::OK, &page)
}

/// `/.portcullis/second-factor`
pub async fn second_factor(ctx: &Ctx<'_>) -> Page {
    let flow = ctx.flow_id();
    let Some(user) = due(ctx, flow.as_ref()).await? else {
        return Ok(redirect(SIGN_IN));
    };
    if !ctx.posted() {
        return code_page(ctx, Purpose::SignIn, &user, Notes::default()).await;
    }
    let form: forms::Code = ctx.decode();
    let rp = ctx.relying_party();
    let outcome = (ctx
        .signin
        .second_factor(&ctx.at, flow.as_ref(), passkeys::offered(&form, rp.as_ref())))
    .await?;
    let response = match &outcome.show {
        Show::SecondFactor { notice } => {
            let notes = Notes::error(notice.map(|n| views::notice(ctx.t, n)));
            code_page(ctx, Purpose::SignIn, &user, notes).await?
        }
        _ => shown(ctx, &outcome),
    };
    Ok(with_cookies(response, &outcome))
}

/// Whose second factor the browser's flow waits for, if it does.
async fn due(ctx: &Ctx<'_>, flow: Option<&crate::session::SessionId>) -> Result<Option<String>, PortalError> {
    Ok(match ctx.signin.flow(flow, ctx.at.now).await? {
        Some(Flow::SecondFactorDue { user, .. }) => Some(user),
        _ => None,
    })
}

/// `/.portcullis/send-code`: send a code by email or SMS for the sign-in
/// or step-up under way, then show its code form again.
pub async fn send_code(ctx: &Ctx<'_>) -> Page {
    if !ctx.posted() {
        return Ok(redirect(SIGN_IN));
    }
    let form: forms::SendCode = ctx.decode();
    let (purpose, user, scope) = match form.purpose.as_str() {
        "step-up" => match ctx.signed_in().await? {
            Some((id, session)) => {
                let user = session.user.clone();
                let next = safe_next(Some(&form.next));
                let purpose = Purpose::StepUp {
                    next,
                    session: Box::new(session),
                };
                (purpose, user, codes::scope("step-up", Some(&id)))
            }
            None => return Ok(redirect(SIGN_IN)),
        },
        _ => {
            let flow = ctx.flow_id();
            match due(ctx, flow.as_ref()).await? {
                Some(user) => (Purpose::SignIn, user, codes::scope("login", flow.as_ref())),
                None => return Ok(redirect(SIGN_IN)),
            }
        }
    };
    let via = match form.via.as_str() {
        "email" => Some(Via::Email),
        "sms" => Some(Via::Sms),
        _ => None,
    };
    let sent = match via {
        Some(via) => ctx.signin.send_code(&ctx.at, ctx.t, &user, &scope, via).await?,
        None => Sent::NotAvailable,
    };
    let t = ctx.t;
    let notes = match sent {
        Sent::To { to, minutes } => Notes {
            info: Some(fill(&t.code_sent, &[("to", &to), ("minutes", &minutes.to_string())])),
            error: None,
        },
        Sent::NotAvailable => Notes::error(Some(t.not_available.clone())),
        Sent::Locked => Notes::error(Some(t.locked.clone())),
        Sent::TooSoon => Notes::error(Some(t.too_soon.clone())),
        Sent::TooMany => Notes::error(Some(t.too_many.clone())),
        Sent::Failed => Notes::error(Some(t.send_failed.clone())),
    };
    code_page(ctx, purpose, &user, notes).await
}

/// `/.portcullis/step-up`: a signed-in user proves a second factor again
/// for a route that asks for a fresh one (`step_up` in a route rule).
pub async fn step_up(ctx: &Ctx<'_>) -> Page {
    let next = match ctx.posted() {
        true => safe_next(Some(&ctx.decode::<forms::Code>().next)),
        false => safe_next(ctx.query_value("next").as_deref()),
    };
    let Some((id, session)) = ctx.signed_in().await? else {
        return Ok(sign_in_first(&next));
    };
    let user = session.user.clone();
    if !ctx.posted() {
        // Signed in by the provider's second factor: proven again there.
        if let Some(to_provider) = super::sso::step_up(ctx, &id, &user, &next).await? {
            return Ok(to_provider);
        }
        let purpose = Purpose::StepUp {
            next,
            session: Box::new(session),
        };
        return code_page(ctx, purpose, &user, Notes::default()).await;
    }
    let form: forms::Code = ctx.decode();
    let rp = ctx.relying_party();
    let offered = passkeys::offered(&form, rp.as_ref());
    let outcome = (ctx.signin.step_up(&ctx.at, (&id, &session), next.clone(), offered)).await?;
    let response = match &outcome.show {
        Show::StepUp { notice, .. } => {
            let purpose = Purpose::StepUp {
                next,
                session: Box::new(session),
            };
            let notes = Notes::error(Some(views::notice(ctx.t, *notice)));
            code_page(ctx, purpose, &user, notes).await?
        }
        _ => shown(ctx, &outcome),
    };
    Ok(with_cookies(response, &outcome))
}

/// The sign-in page, to come back to `next` after.
pub fn sign_in_first(next: &str) -> Response<Full<Bytes>> {
    let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    redirect(&format!("{SIGN_IN}?next={next}"))
}

/// `/.portcullis/enrol?token=…`: an invite link's password form.
pub async fn enrol(ctx: &Ctx<'_>) -> Page {
    if !ctx.posted() {
        let token = ctx.query_value("token").unwrap_or_default();
        return Ok(match ctx.signin.check_invite(&ctx.at, &token).await? {
            Ok(invite) => enrol_page(ctx, &token, &invite.user, None),
            Err(problem) => link_page(ctx, problem),
        });
    }
    let form: forms::EnrolPassword = ctx.decode();
    let flow = ctx.flow_id();
    let (outcome, secret) = (ctx.signin)
        .invite_password(&ctx.at, flow.as_ref(), &form.token, &form.password, &form.confirm)
        .await?;
    let response = match (&outcome.show, &secret) {
        (Show::InvitePassword { user, notice }, _) => enrol_page(ctx, &form.token, user, Some(*notice)),
        (Show::Scan { user, notice }, Some(secret)) => {
            scan_page(ctx, ENROL_CONFIRM, Some(&form.token), user, secret, *notice)
        }
        (Show::CreatePasskey { user, notice }, _) => {
            passkeys::create_page(ctx, &outcome.flow, &form.token, user, *notice).await?
        }
        _ => shown(ctx, &outcome),
    };
    Ok(with_cookies(response, &outcome))
}

/// `/.portcullis/enrol/confirm`: the first code from the authenticator.
pub async fn enrol_confirm(ctx: &Ctx<'_>) -> Page {
    if !ctx.posted() {
        return Err(PortalError::NotFound);
    }
    let form: forms::NewCode = ctx.decode();
    let flow = ctx.flow_id();
    let (outcome, secret) = (ctx.signin)
        .authenticator_code(&ctx.at, flow.as_ref(), Expect::Enrolment, &form.code)
        .await?;
    let response = match (&outcome.show, &secret) {
        (Show::Scan { user, notice }, Some(secret)) => {
            scan_page(ctx, ENROL_CONFIRM, Some(&form.token), user, secret, *notice)
        }
        // The password is chosen again, if the link still works.
        (Show::TookTooLong, _) => match ctx.signin.check_invite(&ctx.at, &form.token).await? {
            Ok(invite) => enrol_page(ctx, &form.token, &invite.user, Some(Notice::TookTooLong)),
            Err(problem) => link_page(ctx, problem),
        },
        _ => shown(ctx, &outcome),
    };
    Ok(with_cookies(response, &outcome))
}

pub(super) fn enrol_page(ctx: &Ctx<'_>, token: &str, user: &str, notice: Option<Notice>) -> Response<Full<Bytes>> {
    let t = ctx.t;
    let directory = ctx.at.directory.is_some()
        && (ctx.at.policy.users.get(user)).is_some_and(|u| u.password_from == crate::policy::PasswordFrom::Directory);
    let intro = if directory {
        &t.enrol_intro_directory
    } else {
        &t.enrol_intro
    };
    let page = views::EnrolPassword {
        frame: ctx.frame(&t.enrol_title, Links::None),
        intro: fill(intro, &[("user", user)]),
        directory,
        info: None,
        error: notice.map(|n| views::notice(t, n)),
        csrf: &ctx.csrf,
        token,
    };
    views::html(StatusCode::OK, &page)
}

pub(super) fn link_page(ctx: &Ctx<'_>, problem: crate::signin::enrol::LinkProblem) -> Response<Full<Bytes>> {
    let (status, title, line) = views::link_problem(ctx.t, problem);
    views::message(ctx.frame(title, Links::None), status, vec![line.to_owned()], None)
}

/// What a step shows that is the same on every page: somewhere else, an
/// invite link that cannot be used, the recovery codes, a change done.
/// Anything a page did not expect starts the sign-in again.
pub fn shown(ctx: &Ctx<'_>, outcome: &Outcome) -> Response<Full<Bytes>> {
    let t = ctx.t;
    match &outcome.show {
        Show::Redirect(to) => redirect(to),
        Show::Link(problem) => link_page(ctx, *problem),
        Show::RecoveryCodes => {
            let codes = &outcome.recovery_codes;
            let page = views::RecoveryCodes {
                frame: ctx.frame(&t.codes_title, Links::None),
                codes,
                download: views::codes_file(ctx.at.company, codes),
                file_name: format!("{}-recovery-codes.txt", file_safe(ctx.at.company)),
                codes_text: codes.join("\n"),
            };
            views::html(StatusCode::OK, &page)
        }
        Show::AuthenticatorChanged => views::message(
            ctx.frame(&t.authenticator_changed_title, Links::Account),
            StatusCode::OK,
            vec![t.authenticator_changed.clone()],
            None,
        ),
        _ => redirect(SIGN_IN),
    }
}

/// `Acme Ltd.` → `acme-ltd`, for a file name.
fn file_safe(name: &str) -> String {
    let words: Vec<String> = (name.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    match words.is_empty() {
        true => "portcullis".to_owned(),
        false => words.join("-"),
    }
}

/// Which code form: the sign-in's second step, or a signed-in user's step-up.
pub enum Purpose {
    SignIn,
    StepUp { next: String, session: Box<Session> },
}

/// A notice on a form: something done, or something wrong.
#[derive(Default)]
pub struct Notes {
    pub info: Option<String>,
    pub error: Option<String>,
}

impl Notes {
    pub fn error(error: Option<String>) -> Notes {
        Notes { info: None, error }
    }
}

/// The code form, in words that match the user's own factors: a code
/// from their authenticator app, a code we send them, a recovery code.
async fn code_page(ctx: &Ctx<'_>, purpose: Purpose, user: &str, notes: Notes) -> Page {
    let offers = ctx.signin.offers_for(&ctx.at, user).await?;
    let t = ctx.t;
    let ask = match (offers.totp, offers.email.is_some() || offers.sms.is_some()) {
        (true, true) => &t.ask_totp_or_sent,
        (true, false) => &t.ask_totp,
        (false, true) => &t.ask_sent,
        (false, false) => &t.ask_recovery,
    };
    let again = notes.info.is_some();
    let buttons = [
        (Via::Email, "email", &t.email_me, &t.email_me_again),
        (Via::Sms, "sms", &t.text_me, &t.text_me_again),
    ];
    let sends = (buttons.into_iter())
        .filter_map(|(via, name, first, more)| {
            let to = offers.masked(via)?;
            let label = fill(if again { more } else { first }, &[("to", &to)]);
            Some(views::Send { via: name, label })
        })
        .collect();
    let (action, purpose_name, next, why, links, scope) = match &purpose {
        Purpose::SignIn => {
            let scope = codes::scope("login", ctx.flow_id().as_ref());
            (SECOND_FACTOR, "login", "/", None, Links::SwitchAccount, scope)
        }
        Purpose::StepUp { next, session } => {
            let proven = super::from_secs(session.second_factor_at);
            let why = (ctx.at.step_up_within(&session.user, proven, next))
                .map(|within| fill(&t.step_up_why, &[("within", &views::short_duration(within))]));
            let scope = codes::scope("step-up", ctx.session_id().as_ref());
            (STEP_UP, "step-up", next.as_str(), why, Links::Account, scope)
        }
    };
    let passkey = passkeys::proof_form(ctx, user, &scope, action, next).await?;
    let page = views::Code {
        frame: ctx.frame(&t.confirm_title, links),
        why,
        ask,
        info: notes.info,
        error: notes.error,
        action,
        purpose: purpose_name,
        csrf: &ctx.csrf,
        next,
        sends,
        passkey,
    };
    Ok(views::html(StatusCode::OK, &page))
}

/// A new secret's QR code and key, and a form that posts a code from it to
/// `action` (with the invite `token`, when enrolling from a link).
pub fn scan_page(
    ctx: &Ctx<'_>,
    action: &'static str,
    token: Option<&str>,
    user: &str,
    secret: &TotpSecret,
    notice: Option<Notice>,
) -> Response<Full<Bytes>> {
    let t = ctx.t;
    let (qr, key) = views::scan_parts(secret, ctx.at.company, user);
    let page = views::Scan {
        frame: ctx.frame(&t.scan_title, Links::None),
        qr,
        key,
        info: None,
        error: notice.map(|n| views::notice(t, n)),
        action,
        csrf: &ctx.csrf,
        token,
    };
    views::html(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_file_is_named_after_the_company() {
        assert_eq!(file_safe("Acme Ltd."), "acme-ltd");
        assert_eq!(file_safe("Société Générale"), "société-générale");
        assert_eq!(file_safe("../"), "portcullis");
    }
}
