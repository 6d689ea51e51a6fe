//! `/.portcullis/sessions` (where the user is signed in, and ending any of
//! the others: the office PC left signed in, ended from a phone) and
//! `/.portcullis/logout` (a confirmation, then this session ends).

use cookie::SameSite;
use http::StatusCode;

use super::signin::{sign_in_first, Page, SIGN_IN};
use super::views::{self, Links};
use super::{cookies, forms, from_secs, redirect, Ctx};
use crate::i18n::fill;
use crate::signin::Ending;

const SESSIONS: &str = "/.portcullis/sessions";

/// `/.portcullis/sessions`
pub async fn sessions(ctx: &Ctx<'_>) -> Page {
    let Some((id, current)) = ctx.signed_in().await? else {
        return Ok(sign_in_first(SESSIONS));
    };
    if ctx.posted() {
        let form: forms::EndSession = ctx.decode();
        let which = match form.end.as_str() {
            "others" => Ending::Others,
            handle => Ending::One(handle.to_owned()),
        };
        ctx.signin.end_sessions(&ctx.at, &id, &current.user, &which).await?;
        return Ok(redirect(SESSIONS));
    }
    let this = id.handle();
    let listed = ctx.signin.sessions.sessions().list(&current.user, ctx.at.now).await?;
    let when = |secs: u64| {
        humantime::format_rfc3339_seconds(from_secs(secs))
            .to_string()
            .replace('T', " ")
    };
    let rows = (listed.into_iter())
        .map(|(handle, s)| views::SessionRow {
            client_type: s.client_type,
            ip: s.ip.to_string(),
            created: when(s.created),
            last_seen: when(s.last_seen),
            this: handle == this,
            handle: handle.0,
        })
        .collect();
    let t = ctx.t;
    let page = views::Sessions {
        frame: ctx.frame(&t.sessions_title, Links::Account),
        intro: fill(&t.sessions_intro, &[("user", &current.user)]),
        rows,
        csrf: &ctx.csrf,
    };
    Ok(views::html(StatusCode::OK, &page))
}

/// `/.portcullis/logout`: a confirmation form, then the session ends.
pub async fn logout(ctx: &Ctx<'_>) -> Page {
    if !ctx.posted() {
        let t = ctx.t;
        let page = views::SignOut {
            frame: ctx.frame(&t.sign_out_title, Links::None),
            question: fill(&t.sign_out_question, &[("company", ctx.at.company)]),
            csrf: &ctx.csrf,
        };
        return Ok(views::html(StatusCode::OK, &page));
    }
    let ended = match ctx.session_id() {
        Some(id) => ctx.signin.sign_out(&ctx.at, &id).await?,
        None => None,
    };
    // Signed in by the company's provider: signed out there too, then back.
    let then = ctx.host.as_ref().map(|host| format!("https://{host}{SIGN_IN}"));
    let at_provider = match (&ended, then) {
        (Some(ended), Some(then)) => ctx.signin.provider_sign_out(ctx.providers, Some(ended), &then).await,
        _ => None,
    };
    let mut response = match &at_provider {
        // A page that goes on: the form's CSP (form-action 'self') would
        // stop a redirect to the provider's site.
        Some(to) => {
            let page = views::Continue {
                frame: ctx.frame(&ctx.t.sign_out_title, Links::None),
                to,
            };
            views::html(StatusCode::OK, &page)
        }
        None => redirect(SIGN_IN),
    };
    cookies::clear(&mut response, cookies::SESSION, SameSite::Lax);
    Ok(response)
}
