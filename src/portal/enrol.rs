//! Onboarding from a one-time invite link (`portcullis user invite`):
//!
//! ```text
//!  /enrol?token=…  ──▶ set a password ──▶ scan the QR code (or type the key)
//!        ──▶ /enrol/confirm with a code ──▶ ten recovery codes, shown once
//! ```
//!
//! The link is checked at every step (signature, expiry, account and
//! network); it works once; finishing enrolment replaces any earlier
//! credentials and ends the user's sessions (so the same flow resets).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::login::{
    self, account_allowed, csrf_for, csrf_ok, form_value, query_value, read_form, set_cookie, store_error, Attempt,
    Login,
};
use super::page::{escape, render};
use crate::auth::credentials::{Credentials, Sealed};
use crate::auth::invite::{self, Invite, InviteError};
use crate::auth::password::Password;
use crate::auth::{recovery, totp};
use crate::proxy::GatewayError;

const MIN_PASSWORD_CHARS: usize = 12;
/// Passwords every guesser tries first.
const COMMON: &[&str] = &[
    "password",
    "passw0rd",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "letmein",
    "welcome",
    "iloveyou",
    "changeme",
    "administrator",
    "trustno1",
    "sunshine",
    "football",
    "monkey",
];
pub(super) const PENDING_TTL: Duration = Duration::from_secs(15 * 60);
const CONFIRM: &str = "/.portcullis/enrol/confirm";

/// A password set and a TOTP secret shown, waiting for the first code.
#[derive(Serialize, Deserialize)]
struct Pending {
    user: String,
    password: String,
    totp: Sealed,
}

/// `/.portcullis/enrol`
pub async fn enrol(
    login: &Login,
    req: Request<Incoming>,
    at: &Attempt<'_>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    if req.method() != Method::POST {
        let token = query_value(&req, "token").unwrap_or_default();
        return Ok(match check(login, &token, at).await? {
            Ok(invite) => password_form(req.headers(), &token, &invite.user, None),
            Err(page) => page,
        });
    }
    let (headers, form) = read_form(req).await?;
    if !csrf_ok(&headers, &form) {
        return Err(GatewayError::Csrf);
    }
    let token = form_value(&form, "token").unwrap_or("").to_owned();
    let invite = match check(login, &token, at).await? {
        Ok(invite) => invite,
        Err(page) => return Ok(page),
    };
    let password = form_value(&form, "password").unwrap_or("");
    if let Some(problem) = weak(password, form_value(&form, "confirm").unwrap_or(""), &invite.user) {
        return Ok(password_form(&headers, &token, &invite.user, Some(problem)));
    }
    let password = login
        .hasher
        .hash(&Password::new(password))
        .map_err(|e| GatewayError::StoreUnavailable(e.to_string()))?;
    let uses_totp = at
        .policy
        .users
        .get(&invite.user)
        .is_some_and(|u| u.second_factors.contains(&crate::policy::Factor::Totp));
    if !uses_totp {
        // Codes by email or SMS only: nothing to scan.
        return finish(login, &invite, password, None, at).await;
    }
    let secret = totp::TotpSecret::generate();
    let pending = Pending {
        user: invite.user.clone(),
        password,
        totp: login.key().seal(&invite.user, &secret),
    };
    let bytes = serde_json::to_vec(&pending).map_err(store_error)?;
    (login.store.set(&pending_key(&invite), &bytes, Some(PENDING_TTL)).await).map_err(store_error)?;
    Ok(scan_page(
        &headers,
        login,
        CONFIRM,
        Some(&token),
        &invite.user,
        &secret,
        None,
    ))
}

/// `/.portcullis/enrol/confirm`
pub async fn confirm(
    login: &Login,
    req: Request<Incoming>,
    at: &Attempt<'_>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    if req.method() != Method::POST {
        return Err(GatewayError::NotFound);
    }
    let (headers, form) = read_form(req).await?;
    if !csrf_ok(&headers, &form) {
        return Err(GatewayError::Csrf);
    }
    let token = form_value(&form, "token").unwrap_or("").to_owned();
    let invite = match check(login, &token, at).await? {
        Ok(invite) => invite,
        Err(page) => return Ok(page),
    };
    let pending: Option<Pending> = (login.store.get(&pending_key(&invite)).await.map_err(store_error)?)
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(pending) = pending else {
        return Ok(password_form(
            &headers,
            &token,
            &invite.user,
            Some("That took too long; set your password again."),
        ));
    };
    let code = form_value(&form, "code").unwrap_or("");
    if let Err(page) = confirm_new_secret(
        login,
        &headers,
        at,
        (CONFIRM, Some(&token)),
        &invite.user,
        &pending.totp,
        code,
    )
    .await?
    {
        return Ok(page);
    }
    let _ = login.store.delete(&pending_key(&invite)).await;
    finish(login, &invite, pending.password, Some(pending.totp), at).await
}

/// A code from a secret just shown on a scan page: `Ok` once it is right
/// (its step is spent, so it cannot also sign in), else the scan page again
/// (posting to `form`: an action and maybe an invite token).
pub(super) async fn confirm_new_secret(
    login: &Login,
    headers: &HeaderMap,
    at: &Attempt<'_>,
    form: (&str, Option<&str>),
    user: &str,
    sealed: &Sealed,
    code: &str,
) -> Result<Result<(), Response<Full<Bytes>>>, GatewayError> {
    let secret = (login.key().open(user, sealed)).map_err(|e| GatewayError::StoreUnavailable(e.to_string()))?;
    let Some(step) = totp::verify(&secret, code.trim(), at.now) else {
        let (action, token) = form;
        let wrong = Some("That code is not right. Check the app and try again.");
        return Ok(Err(scan_page(headers, login, action, token, user, &secret, wrong)));
    };
    super::codes::spend_totp_step(login, user, step).await?;
    Ok(Ok(()))
}

/// Use up the link, save the credentials, end the user's other sessions,
/// and show the recovery codes.
async fn finish(
    login: &Login,
    invite: &Invite,
    password: String,
    totp: Option<Sealed>,
    at: &Attempt<'_>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    // The link works once: whoever records its use first wins.
    let used_for = Duration::from_secs(invite.expires.saturating_sub(now_secs(at)) + 24 * 3600);
    if !(login.store.set_if_absent(&used_key(invite), b"1", used_for).await).map_err(store_error)? {
        return Ok(message(
            StatusCode::GONE,
            "This link has been used",
            "Ask your administrator for a new one.",
        ));
    }
    let codes = recovery::generate();
    Credentials {
        password: Some(password),
        totp,
        recovery: codes.iter().map(|c| recovery::hash(c)).collect(),
        enrolled_at: Some(now_secs(at)),
        ..Default::default()
    }
    .save(&login.store, &invite.user)
    .await
    .map_err(store_error)?;
    let ended = login.revoke_all(&invite.user).await.map_err(store_error)?;
    tracing::info!(target: "audit", event = "enrolment.complete", user = %invite.user, client_ip = %at.ip, ended_sessions = ended.len());
    Ok(codes_page(&codes))
}

fn now_secs(at: &Attempt<'_>) -> u64 {
    at.now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn pending_key(invite: &Invite) -> String {
    format!("enrol:{}", invite.nonce)
}

fn used_key(invite: &Invite) -> String {
    format!("invite-used:{}", invite.nonce)
}

/// The invite, or the page that says why it cannot be used.
async fn check(
    login: &Login,
    token: &str,
    at: &Attempt<'_>,
) -> Result<Result<Invite, Response<Full<Bytes>>>, GatewayError> {
    let invite = match invite::verify(login.key(), token, at.now) {
        Ok(invite) => invite,
        Err(InviteError::Expired) => {
            return Ok(Err(message(
                StatusCode::GONE,
                "This link has expired",
                "Ask your administrator for a new one.",
            )))
        }
        Err(_) => {
            return Ok(Err(message(
                StatusCode::BAD_REQUEST,
                "This link is not valid",
                "Check that you opened the whole link, or ask your administrator for a new one.",
            )))
        }
    };
    if login
        .store
        .get(&used_key(&invite))
        .await
        .map_err(store_error)?
        .is_some()
    {
        return Ok(Err(message(
            StatusCode::GONE,
            "This link has been used",
            "Ask your administrator for a new one.",
        )));
    }
    let revoked_at = Credentials::revoked_at(&login.store, &invite.user)
        .await
        .map_err(store_error)?;
    // Strictly before: `user reset` issues its new link in the same
    // millisecond as the revocation often enough, and that link must work.
    if revoked_at.is_some_and(|revoked| invite.issued_ms < revoked) {
        return Ok(Err(message(
            StatusCode::GONE,
            "This link has been withdrawn",
            "Your access was changed after this link was made. Ask your administrator for a new one.",
        )));
    }
    if !account_allowed(at, &invite.user) {
        return Ok(Err(message(
            StatusCode::FORBIDDEN,
            "This link cannot be used here",
            "Your account may not use the CRM, or not from this network. Ask your administrator.",
        )));
    }
    Ok(Ok(invite))
}

/// What is wrong with a new password, if anything.
pub(super) fn weak(password: &str, confirm: &str, user: &str) -> Option<&'static str> {
    let lower = password.to_lowercase();
    if password != confirm {
        Some("The two passwords are not the same.")
    } else if password.chars().count() < MIN_PASSWORD_CHARS {
        Some("Use at least 12 characters; a few unrelated words work well.")
    } else if !user.is_empty() && lower.contains(&user.to_lowercase()) {
        Some("Do not use your username in your password.")
    } else if COMMON.iter().any(|c| lower.contains(c))
        || password.chars().collect::<std::collections::HashSet<_>>().len() < 5
    {
        Some("That password is too easy to guess.")
    } else {
        None
    }
}

pub(super) fn with_csrf(mut response: Response<Full<Bytes>>, token: &str) -> Response<Full<Bytes>> {
    set_cookie(&mut response, login::CSRF_COOKIE, token, "Strict", None);
    response
}

fn password_form(headers: &HeaderMap, token: &str, user: &str, error: Option<&str>) -> Response<Full<Bytes>> {
    let csrf = csrf_for(headers);
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<p>Welcome, {user}. Choose a password: at least 12 characters.</p>{error}\
         <form method=\"post\" action=\"/.portcullis/enrol\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <label for=\"password\">New password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"new-password\" minlength=\"12\" required autofocus>\
         <label for=\"confirm\">The same again</label>\
         <input type=\"password\" id=\"confirm\" name=\"confirm\" autocomplete=\"new-password\" minlength=\"12\" required>\
         <button type=\"submit\">Continue</button></form>",
        user = escape(user),
        token = escape(token),
    );
    with_csrf(render(StatusCode::OK, "Set up your account", &body), &csrf)
}

/// The QR code and key of a new TOTP secret, and a form that posts a code
/// from it to `action` (with the invite `token`, when enrolling from a link).
pub(super) fn scan_page(
    headers: &HeaderMap,
    login: &Login,
    action: &str,
    token: Option<&str>,
    user: &str,
    secret: &totp::TotpSecret,
    error: Option<&str>,
) -> Response<Full<Bytes>> {
    let csrf = csrf_for(headers);
    let uri = secret.otpauth_uri(login.company(), user);
    let qr = qrcode::QrCode::new(uri.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color>()
                .min_dimensions(200, 200)
                .build()
        })
        .unwrap_or_default();
    // Inline SVG: the XML prolog before <svg> does not belong in HTML.
    let qr = qr.find("<svg").map_or("", |start| &qr[start..]);
    let key: Vec<String> = secret
        .base32()
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<p>Scan this with an authenticator app (Google Authenticator, Microsoft Authenticator, 1Password…).</p>\
         <div class=\"qr\" role=\"img\" aria-label=\"QR code for your authenticator app\">{qr}</div>\
         <p>Or type this key: <code class=\"key\">{key}</code></p>{error}\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{token}\
         <label for=\"code\">The 6-digit code the app shows</label>\
         <input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required autofocus>\
         <button type=\"submit\">Confirm</button></form>",
        key = escape(&key.join(" ")),
        action = escape(action),
        token = token
            .map(|t| format!("<input type=\"hidden\" name=\"token\" value=\"{}\">", escape(t)))
            .unwrap_or_default(),
    );
    with_csrf(render(StatusCode::OK, "Add your authenticator", &body), &csrf)
}

fn codes_page(codes: &[String]) -> Response<Full<Bytes>> {
    let items: String = codes
        .iter()
        .map(|c| format!("<li><code>{}</code></li>", escape(c)))
        .collect();
    let body = format!(
        "<p>Your account is ready. Keep these recovery codes somewhere safe: each one signs you in once if you lose \
         your phone. They are shown only now.</p><ol class=\"codes\">{items}</ol>\
         <p><a href=\"/.portcullis/login\">Sign in</a></p>"
    );
    render(StatusCode::OK, "Recovery codes", &body)
}

pub(super) fn message(status: StatusCode, title: &str, text: &str) -> Response<Full<Bytes>> {
    render(status, title, &format!("<p>{}</p>", escape(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        assert_eq!(
            weak("abc", "abc", "alice"),
            Some("Use at least 12 characters; a few unrelated words work well.")
        );
        assert_eq!(
            weak("correct horse battery", "correct horse batterY", "alice"),
            Some("The two passwords are not the same.")
        );
        assert_eq!(
            weak("alice-is-great-2026", "alice-is-great-2026", "alice"),
            Some("Do not use your username in your password.")
        );
        assert_eq!(
            weak("MyPassword2026!!", "MyPassword2026!!", "bob"),
            Some("That password is too easy to guess.")
        );
        assert_eq!(
            weak("aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa", "bob"),
            Some("That password is too easy to guess.")
        );
        assert_eq!(
            weak("correct horse battery staple", "correct horse battery staple", "alice"),
            None
        );
    }
}
