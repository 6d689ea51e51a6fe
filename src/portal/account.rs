//! `/.portcullis/account`: what signed-in users change themselves.
//!
//! ```text
//!  /account ──▶ /account/password       current + new password ──▶ saved,
//!          │                            other sessions ended
//!          └──▶ /account/authenticator  current password ──▶ scan a new
//!                   QR code ──▶ /account/authenticator/confirm with a code
//!                   from it ──▶ the new secret replaces the old
//! ```
//!
//! The engine ([`crate::signin::account`]) checks and changes; these
//! handlers decode the forms and show the result. The sessions list is
//! [`super::sessions`].

use http::StatusCode;

use super::cookies::with_cookies;
use super::signin::{scan_page, shown, sign_in_first, Page};
use super::views::{self, Links};
use super::{forms, redirect, Ctx};
use crate::i18n::fill;
use crate::signin::{Expect, Show};

const ACCOUNT: &str = "/.portcullis/account";
const AUTHENTICATOR: &str = "/.portcullis/account/authenticator";
const CONFIRM: &str = "/.portcullis/account/authenticator/confirm";

/// `/.portcullis/account`
pub async fn overview(ctx: &Ctx<'_>) -> Page {
    let Some((_, session)) = ctx.signed_in().await? else {
        return Ok(sign_in_first(ACCOUNT));
    };
    let t = ctx.t;
    let page = views::Account {
        frame: ctx.frame(&t.account_title, Links::Account),
        signed_in_as: fill(&t.account_signed_in_as, &[("user", &session.user)]),
        passkeys: (ctx.at.policy.users.get(&session.user))
            .is_some_and(|u| u.second_factors.contains(&crate::policy::Factor::Passkey)),
    };
    Ok(views::html(StatusCode::OK, &page))
}

/// `/.portcullis/account/password`
pub async fn password(ctx: &Ctx<'_>) -> Page {
    let Some((id, session)) = ctx.signed_in().await? else {
        return Ok(sign_in_first(ACCOUNT));
    };
    let t = ctx.t;
    let in_directory = (ctx.at.policy.users.get(&session.user))
        .is_some_and(|u| u.password_from == crate::policy::PasswordFrom::Directory);
    if in_directory {
        let frame = ctx.frame(&t.password_title, Links::Account);
        return Ok(views::message(
            frame,
            StatusCode::OK,
            vec![t.password_in_directory.clone()],
            None,
        ));
    }
    let form_page = |error: Option<String>| {
        let page = views::ChangePassword {
            frame: ctx.frame(&t.password_title, Links::Account),
            info: None,
            error,
            csrf: &ctx.csrf,
        };
        views::html(StatusCode::OK, &page)
    };
    if !ctx.posted() {
        return Ok(form_page(None));
    }
    let form: forms::ChangePassword = ctx.decode();
    let new = (&form.password, &form.confirm);
    let changed = (ctx
        .signin
        .change_password(&ctx.at, &id, &session.user, &form.current, new))
    .await?;
    Ok(match changed {
        Ok(ended) => views::message(
            ctx.frame(&t.password_changed_title, Links::Account),
            StatusCode::OK,
            vec![fill(&t.password_changed, &[("count", &ended.to_string())])],
            None,
        ),
        Err(notice) => form_page(Some(views::notice(t, notice))),
    })
}

/// `/.portcullis/account/authenticator`
pub async fn authenticator(ctx: &Ctx<'_>) -> Page {
    let Some((_, session)) = ctx.signed_in().await? else {
        return Ok(sign_in_first(ACCOUNT));
    };
    if !ctx.posted() {
        return Ok(authenticator_page(ctx, None));
    }
    let form: forms::CurrentPassword = ctx.decode();
    let flow = ctx.flow_id();
    let (outcome, secret) = (ctx.signin)
        .start_new_authenticator(&ctx.at, flow.as_ref(), &session.user, &form.current)
        .await?;
    let response = match (&outcome.show, &secret) {
        (Show::Scan { user, notice }, Some(secret)) => scan_page(ctx, CONFIRM, None, user, secret, *notice),
        (Show::NewAuthenticator { notice }, _) => authenticator_page(ctx, Some(views::notice(ctx.t, *notice))),
        _ => shown(ctx, &outcome),
    };
    Ok(with_cookies(response, &outcome))
}

/// `/.portcullis/account/authenticator/confirm`
pub async fn authenticator_confirm(ctx: &Ctx<'_>) -> Page {
    let Some((_, session)) = ctx.signed_in().await? else {
        return Ok(sign_in_first(ACCOUNT));
    };
    if !ctx.posted() {
        return Ok(redirect(AUTHENTICATOR));
    }
    let form: forms::NewCode = ctx.decode();
    let flow = ctx.flow_id();
    let expect = Expect::NewAuthenticator(&session.user);
    let (outcome, secret) = (ctx
        .signin
        .authenticator_code(&ctx.at, flow.as_ref(), expect, &form.code))
    .await?;
    let response = match (&outcome.show, &secret) {
        (Show::Scan { user, notice }, Some(secret)) => scan_page(ctx, CONFIRM, None, user, secret, *notice),
        (Show::TookTooLong, _) => authenticator_page(ctx, Some(ctx.t.took_too_long_start.clone())),
        _ => shown(ctx, &outcome),
    };
    Ok(with_cookies(response, &outcome))
}

fn authenticator_page(ctx: &Ctx<'_>, error: Option<String>) -> http::Response<http_body_util::Full<bytes::Bytes>> {
    let page = views::NewAuthenticator {
        frame: ctx.frame(&ctx.t.authenticator_title, Links::Account),
        info: None,
        error,
        csrf: &ctx.csrf,
    };
    views::html(StatusCode::OK, &page)
}
