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
//! Both changes ask for the current password, so a session left open on a
//! shared PC cannot be turned into a takeover. Wrong passwords count towards
//! the same lockout as the login page. The sessions list is
//! [`super::login::sessions`].

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::enrol::{confirm_new_secret, scan_page, weak, with_csrf, PENDING_TTL};
use super::login::{
    audit_failure, count_failure, csrf_for, csrf_ok, form_value, is_locked, read_form, redirect, signed_in,
    store_error, Attempt, Login,
};
use super::page::{escape, render};
use crate::auth::credentials::{Credentials, Sealed};
use crate::auth::password::Password;
use crate::auth::totp;
use crate::proxy::GatewayError;
use crate::session::{Session, SessionId};

/// Passwords a change may not go back to, besides the current one.
const REMEMBERED_PASSWORDS: usize = 3;
const WRONG_PASSWORD: &str = "Your current password is not right.";
const LOCKED: &str = "Too many attempts. Wait a while, then try again.";
const CONFIRM: &str = "/.portcullis/account/authenticator/confirm";

/// `/.portcullis/account`
pub async fn overview(
    login: &Login,
    req: Request<Incoming>,
    at: &Attempt<'_>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    let Some((_, session)) = signed_in(login, req.headers(), at).await? else {
        return Ok(sign_in_first());
    };
    let body = format!(
        "<p>Signed in as <strong>{user}</strong>.</p>\
         <ul class=\"links\">\
         <li><a href=\"/.portcullis/account/password\">Change your password</a></li>\
         <li><a href=\"/.portcullis/account/authenticator\">Move to a new authenticator app</a></li>\
         <li><a href=\"/.portcullis/sessions\">See where you are signed in</a></li>\
         <li><a href=\"/.portcullis/logout\">Sign out</a></li>\
         <li><a href=\"/\">Back to the CRM</a></li></ul>",
        user = escape(&session.user)
    );
    Ok(render(StatusCode::OK, "Your account", &body))
}

/// `/.portcullis/account/password`
pub async fn password(
    login: &Login,
    req: Request<Incoming>,
    at: &Attempt<'_>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    let Some((id, session)) = signed_in(login, req.headers(), at).await? else {
        return Ok(sign_in_first());
    };
    if req.method() != Method::POST {
        return Ok(password_form(req.headers(), None));
    }
    let (headers, form) = read_form(req).await?;
    if !csrf_ok(&headers, &form) {
        return Err(GatewayError::Csrf);
    }
    let user = &session.user;
    let mut credentials = match check_current_password(login, &form, &session, at).await? {
        Ok(credentials) => credentials,
        Err(problem) => return Ok(password_form(&headers, Some(problem))),
    };
    let new = form_value(&form, "password").unwrap_or("");
    if let Some(problem) = weak(new, form_value(&form, "confirm").unwrap_or(""), user) {
        return Ok(password_form(&headers, Some(problem)));
    }
    let new = Password::new(new);
    let used_before = credentials
        .password
        .iter()
        .chain(&credentials.previous_passwords)
        .any(|hash| login.hasher.verify(&new, hash));
    if used_before {
        return Ok(password_form(
            &headers,
            Some("Choose a password you have not used here before."),
        ));
    }
    let hash = login
        .hasher
        .hash(&new)
        .map_err(|e| GatewayError::StoreUnavailable(e.to_string()))?;
    if let Some(old) = credentials.password.replace(hash) {
        credentials.previous_passwords.insert(0, old);
        credentials.previous_passwords.truncate(REMEMBERED_PASSWORDS);
    }
    credentials.save(&login.store, user).await.map_err(store_error)?;
    // Whoever knew the old password may be signed in elsewhere.
    let mut ended = 0;
    for (handle, _) in login.sessions().list(user, at.now).await.map_err(store_error)? {
        if handle != id.handle() {
            login.revoke(user, &handle).await.map_err(store_error)?;
            ended += 1;
        }
    }
    tracing::info!(target: "audit", event = "password.changed", user = %user, client_ip = %at.ip, ended_sessions = ended);
    Ok(done(
        "Password changed",
        &format!("Your password is changed. Sessions ended elsewhere: {ended}."),
    ))
}

/// A TOTP secret shown to a signed-in user, waiting for its first code.
#[derive(Serialize, Deserialize)]
struct Pending {
    user: String,
    totp: Sealed,
}

fn pending_key(id: &SessionId) -> String {
    format!("reenrol:{}", id.handle().0)
}

/// `/.portcullis/account/authenticator`
pub async fn authenticator(
    login: &Login,
    req: Request<Incoming>,
    at: &Attempt<'_>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    let Some((id, session)) = signed_in(login, req.headers(), at).await? else {
        return Ok(sign_in_first());
    };
    if req.method() != Method::POST {
        return Ok(authenticator_form(req.headers(), None));
    }
    let (headers, form) = read_form(req).await?;
    if !csrf_ok(&headers, &form) {
        return Err(GatewayError::Csrf);
    }
    if let Err(problem) = check_current_password(login, &form, &session, at).await? {
        return Ok(authenticator_form(&headers, Some(problem)));
    }
    let secret = totp::TotpSecret::generate();
    let pending = Pending {
        user: session.user.clone(),
        totp: login.key().seal(&session.user, &secret),
    };
    let bytes = serde_json::to_vec(&pending).map_err(store_error)?;
    (login.store.set(&pending_key(&id), &bytes, Some(PENDING_TTL)).await).map_err(store_error)?;
    Ok(scan_page(&headers, login, CONFIRM, None, &session.user, &secret, None))
}

/// `/.portcullis/account/authenticator/confirm`
pub async fn authenticator_confirm(
    login: &Login,
    req: Request<Incoming>,
    at: &Attempt<'_>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    let Some((id, session)) = signed_in(login, req.headers(), at).await? else {
        return Ok(sign_in_first());
    };
    if req.method() != Method::POST {
        return Ok(redirect("/.portcullis/account/authenticator"));
    }
    let (headers, form) = read_form(req).await?;
    if !csrf_ok(&headers, &form) {
        return Err(GatewayError::Csrf);
    }
    let pending: Option<Pending> = (login.store.get(&pending_key(&id)).await.map_err(store_error)?)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|p: &Pending| p.user == session.user);
    let Some(pending) = pending else {
        return Ok(authenticator_form(&headers, Some("That took too long; start again.")));
    };
    let code = form_value(&form, "code").unwrap_or("");
    let confirmed =
        confirm_new_secret(login, &headers, at, (CONFIRM, None), &session.user, &pending.totp, code).await?;
    if let Err(page) = confirmed {
        return Ok(page);
    }
    let Some(mut credentials) = Credentials::load(&login.store, &session.user)
        .await
        .map_err(store_error)?
    else {
        return Ok(sign_in_first());
    };
    credentials.totp = Some(pending.totp);
    credentials
        .save(&login.store, &session.user)
        .await
        .map_err(store_error)?;
    let _ = login.store.delete(&pending_key(&id)).await;
    tracing::info!(target: "audit", event = "authenticator.changed", user = %session.user, client_ip = %at.ip);
    Ok(done(
        "Authenticator changed",
        "From now on, sign in with codes from the new app. Codes from the old one no longer work.",
    ))
}

/// The user's credentials if the form's `current` password is right, else
/// what to tell them. A wrong one counts towards the lockout, as on the
/// sign-in page.
async fn check_current_password(
    login: &Login,
    form: &[(String, String)],
    session: &Session,
    at: &Attempt<'_>,
) -> Result<Result<Credentials, &'static str>, GatewayError> {
    let user = &session.user;
    if is_locked(&login.store, user, at.ip).await? {
        audit_failure(at, user, "locked");
        return Ok(Err(LOCKED));
    }
    let credentials = Credentials::load(&login.store, user).await.map_err(store_error)?;
    let current = Password::new(form_value(form, "current").unwrap_or(""));
    match credentials {
        Some(credentials)
            if credentials
                .password
                .as_deref()
                .is_some_and(|hash| login.hasher.verify(&current, hash)) =>
        {
            Ok(Ok(credentials))
        }
        _ => {
            audit_failure(at, user, "wrong current password on the account page");
            count_failure(&login.store, user, at).await?;
            Ok(Err(WRONG_PASSWORD))
        }
    }
}

fn sign_in_first() -> Response<Full<Bytes>> {
    redirect("/.portcullis/login?next=%2F.portcullis%2Faccount")
}

fn done(title: &str, text: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<p>{}</p><p><a href=\"/.portcullis/account\">Your account</a> · <a href=\"/\">Back to the CRM</a></p>",
        escape(text)
    );
    render(StatusCode::OK, title, &body)
}

fn error_html(error: Option<&str>) -> String {
    error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default()
}

fn password_form(headers: &HeaderMap, error: Option<&str>) -> Response<Full<Bytes>> {
    let csrf = csrf_for(headers);
    let body = format!(
        "{error}<form method=\"post\" action=\"/.portcullis/account/password\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"current\">Current password</label>\
         <input type=\"password\" id=\"current\" name=\"current\" autocomplete=\"current-password\" required autofocus>\
         <label for=\"password\">New password (at least 12 characters)</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"new-password\" minlength=\"12\" required>\
         <label for=\"confirm\">The new password again</label>\
         <input type=\"password\" id=\"confirm\" name=\"confirm\" autocomplete=\"new-password\" minlength=\"12\" required>\
         <button type=\"submit\">Change password</button></form>",
        error = error_html(error),
    );
    with_csrf(render(StatusCode::OK, "Change your password", &body), &csrf)
}

fn authenticator_form(headers: &HeaderMap, error: Option<&str>) -> Response<Full<Bytes>> {
    let csrf = csrf_for(headers);
    let body = format!(
        "<p>A new phone? Confirm your password, then scan a new code. Until you confirm a code from the new app, \
         the old one keeps working.</p>{error}\
         <form method=\"post\" action=\"/.portcullis/account/authenticator\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"current\">Current password</label>\
         <input type=\"password\" id=\"current\" name=\"current\" autocomplete=\"current-password\" required autofocus>\
         <button type=\"submit\">Continue</button></form>",
        error = error_html(error),
    );
    with_csrf(render(StatusCode::OK, "New authenticator app", &body), &csrf)
}
