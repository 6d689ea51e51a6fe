//! Sign-in with the company's identity provider: `/.portcullis/sso/<id>`
//! sends the browser there, `/.portcullis/sso/<id>/callback` takes its
//! answer. The engine ([`crate::signin`]) decides; these pages only carry
//! the browser there and back.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

use super::cookies::with_cookies;
use super::signin::sign_in_page;
use super::views::{self, Links};
use super::{redirect, safe_next, Ctx, PortalError};
use crate::config::providers::ProviderSettings;
use crate::i18n::fill;
use crate::signin::{Outcome, Show};

const PREFIX: &str = "/.portcullis/sso/";

/// The sign-in page's "Sign in with <provider>" links, carrying `next`.
pub(super) fn links(ctx: &Ctx<'_>, next: &str) -> Vec<(String, String)> {
    (ctx.providers.iter())
        .map(|p| {
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("next", next)
                .finish();
            let words = fill(&ctx.t.sign_in_with_provider, &[("provider", &p.label)]);
            (format!("{PREFIX}{}?{query}", p.id), words)
        })
        .collect()
}

/// The provider a path names (`/.portcullis/sso/<id>[/callback]`).
fn provider<'a>(ctx: &'a Ctx<'_>) -> Result<&'a ProviderSettings, PortalError> {
    let rest = ctx.path.strip_prefix(PREFIX).ok_or(PortalError::NotFound)?;
    let id = rest.strip_suffix("/callback").unwrap_or(rest);
    (ctx.providers.iter()).find(|p| p.id == id).ok_or(PortalError::NotFound)
}

/// `/.portcullis/sso/<id>?next=…`: off to the provider.
pub async fn start(ctx: &Ctx<'_>) -> Result<Response<Full<Bytes>>, PortalError> {
    let provider = provider(ctx)?;
    let host = ctx.host.as_deref().ok_or(PortalError::NotFound)?;
    let callback = format!("https://{host}{PREFIX}{}/callback", provider.id);
    let next = safe_next(ctx.query_value("next").as_deref());
    let flow = ctx.flow_id();
    let outcome = (ctx
        .signin
        .provider_start(&ctx.at, flow.as_ref(), provider, &callback, next))
    .await?;
    Ok(with_cookies(shown(ctx, &outcome), &outcome))
}

/// `/.portcullis/sso/<id>/callback?code=…&state=…`: the provider's answer.
pub async fn callback(ctx: &Ctx<'_>) -> Result<Response<Full<Bytes>>, PortalError> {
    let provider = provider(ctx)?;
    let query: Vec<(String, String)> = form_urlencoded::parse(ctx.query.as_deref().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let flow = ctx.flow_id();
    let outcome = (ctx.signin.provider_answer(&ctx.at, flow.as_ref(), provider, &query)).await?;
    let response = match &outcome.show {
        // Back on our own site before going on (see views::Continue).
        Show::Redirect(to) => {
            let page = views::Continue {
                frame: ctx.frame(&ctx.t.continuing_title, Links::None),
                to,
            };
            views::html(StatusCode::OK, &page)
        }
        _ => shown(ctx, &outcome),
    };
    Ok(with_cookies(response, &outcome))
}

fn shown(ctx: &Ctx<'_>, outcome: &Outcome) -> Response<Full<Bytes>> {
    match &outcome.show {
        Show::Redirect(to) => redirect(to),
        Show::SignIn { notice, .. } => sign_in_page(ctx, "/", "", Some(*notice), None),
        _ => views::message(
            ctx.frame(&ctx.t.provider_problem_title, Links::SwitchAccount),
            StatusCode::FORBIDDEN,
            vec![ctx.t.provider_problem.clone()],
            Some(fill(&ctx.t.reference, &[("id", &ctx.at.request_id.to_string())])),
        ),
    }
}
