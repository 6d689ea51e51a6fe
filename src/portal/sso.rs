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

/// The provider a path names (`/.portcullis/sso/<id>[/callback|/backchannel-logout]`).
fn provider<'a>(ctx: &'a Ctx<'_>) -> Result<&'a ProviderSettings, PortalError> {
    let rest = ctx.path.strip_prefix(PREFIX).ok_or(PortalError::NotFound)?;
    let id = rest.split('/').next().unwrap_or(rest);
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
        .provider_start(&ctx.at, flow.as_ref(), (provider, &callback), next, None))
    .await?;
    Ok(with_cookies(shown(ctx, &outcome), &outcome))
}

/// A step-up for a session the provider signed in with its own second
/// factor: off to the provider to sign in afresh (`None`: ours is asked).
pub(super) async fn step_up(
    ctx: &Ctx<'_>,
    id: &crate::session::SessionId,
    user: &str,
    next: &str,
) -> Result<Option<Response<Full<Bytes>>>, PortalError> {
    let Some(signed_in) = ctx.signin.signed_in_by(id).await?.filter(|s| s.mfa) else {
        return Ok(None);
    };
    let Some(provider) = ctx.providers.iter().find(|p| p.id == signed_in.provider) else {
        return Ok(None);
    };
    let host = ctx.host.as_deref().ok_or(PortalError::NotFound)?;
    let callback = format!("https://{host}{PREFIX}{}/callback", provider.id);
    let step_up = crate::auth::oidc::StepUp {
        user: user.to_owned(),
        since: crate::signin::machine::secs(ctx.at.now),
    };
    let flow = ctx.flow_id();
    let outcome = (ctx.signin)
        .provider_start(
            &ctx.at,
            flow.as_ref(),
            (provider, &callback),
            next.to_owned(),
            Some(step_up),
        )
        .await?;
    Ok(Some(with_cookies(shown(ctx, &outcome), &outcome)))
}

/// `/.portcullis/sso/<id>/callback?code=…&state=…`: the provider's answer.
pub async fn callback(ctx: &Ctx<'_>) -> Result<Response<Full<Bytes>>, PortalError> {
    let provider = provider(ctx)?;
    let query: Vec<(String, String)> = form_urlencoded::parse(ctx.query.as_deref().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let flow = ctx.flow_id();
    let signed_in = ctx.signed_in().await?;
    let session = signed_in.as_ref().map(|(id, session)| (id, session));
    let outcome = (ctx
        .signin
        .provider_answer(&ctx.at, (flow.as_ref(), session), provider, &query))
    .await?;
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

/// `POST /.portcullis/sso/<id>/backchannel-logout` with `logout_token`:
/// the provider's server ends the sessions it vouched for. 200, or 400
/// with the reason as the specification's JSON error.
pub async fn backchannel_logout(ctx: &Ctx<'_>) -> Result<Response<Full<Bytes>>, PortalError> {
    let provider = provider(ctx)?;
    let form: super::forms::LogoutToken = match ctx.posted() {
        true => ctx.decode(),
        false => return Err(PortalError::NotFound),
    };
    let answer = (ctx.signin.provider_logout(&ctx.at, provider, &form.logout_token)).await?;
    let (status, body) = match answer {
        Ok(_) => (StatusCode::OK, String::new()),
        Err(why) => (
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": "invalid_request", "error_description": why }).to_string(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
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
