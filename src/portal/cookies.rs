//! The gateway's cookies (parsed and written with the `cookie` crate) and
//! the CSRF double-submit check.
//!
//! Every cookie of ours is `__Host-` prefixed (Secure, `Path=/`, no
//! Domain: no subdomain can set or read it), HttpOnly, and never forwarded
//! to the CRM ([`crate::proxy::headers`] drops them by [`PREFIX`]).

use std::time::Duration;

use bytes::Bytes;
use cookie::{Cookie, SameSite};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Response};
use http_body_util::Full;
use subtle::ConstantTimeEq;

use crate::session::SessionId;
use crate::signin::{FlowCookie, Outcome};

/// The signed-in session.
pub const SESSION: &str = "__Host-portcullis";
/// A sign-in (or enrolment) under way: names its flow in the store.
pub const FLOW: &str = "__Host-portcullis-login";
/// The token every form carries back.
pub const CSRF: &str = "__Host-portcullis-csrf";
/// Every cookie of ours starts so.
pub const PREFIX: &str = "__Host-portcullis";

/// The value of the cookie `name` the browser sent, if any.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    (headers.get_all(COOKIE).iter())
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Set a cookie of ours; `max_age` `None` lasts as long as the browser
/// session, `Some(ZERO)` clears it.
pub fn set(
    response: &mut Response<Full<Bytes>>,
    name: &'static str,
    value: &str,
    same_site: SameSite,
    max_age: Option<Duration>,
) {
    let mut cookie = Cookie::build((name, value.to_owned()))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(same_site);
    if let Some(age) = max_age {
        let secs = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
        cookie = cookie.max_age(cookie::time::Duration::seconds(secs));
    }
    if let Ok(value) = HeaderValue::from_str(&cookie.build().to_string()) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

/// The step's cookies: the flow's, and a session's when one started. A
/// flow waiting for the identity provider is `Lax`: the browser comes back
/// to it from the provider's site, and a `Strict` cookie would stay behind.
pub fn with_cookies(mut response: Response<Full<Bytes>>, outcome: &Outcome) -> Response<Full<Bytes>> {
    match &outcome.flow {
        FlowCookie::Keep => {}
        FlowCookie::Set(id, wait) => set(&mut response, FLOW, &id.to_cookie(), SameSite::Strict, Some(*wait)),
        FlowCookie::SetForProvider(id, wait) => set(&mut response, FLOW, &id.to_cookie(), SameSite::Lax, Some(*wait)),
        FlowCookie::Clear => clear(&mut response, FLOW, SameSite::Strict),
    }
    if let Some(session) = &outcome.session {
        set(&mut response, SESSION, &session.to_cookie(), SameSite::Lax, None);
    }
    response
}

pub fn clear(response: &mut Response<Full<Bytes>>, name: &'static str, same_site: SameSite) {
    set(response, name, "", same_site, Some(Duration::ZERO));
}

/// The browser's CSRF token if it has a well-formed one, else a new one.
/// Reusing it matters: a page fetched in the background (a favicon that
/// redirects to the sign-in page) must not change the token under a form
/// that is already on screen.
pub fn csrf_token(headers: &HeaderMap) -> String {
    match get(headers, CSRF).filter(|t| well_formed(t)) {
        Some(token) => token,
        None => SessionId::generate().to_cookie(),
    }
}

/// Double submit: the form's token must equal the cookie's, which a page
/// on another site can neither read nor set.
pub fn csrf_ok(headers: &HeaderMap, form: &[(String, String)]) -> bool {
    let posted = form.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_bytes());
    match (get(headers, CSRF), posted) {
        (Some(cookie), Some(posted)) if well_formed(&cookie) => bool::from(cookie.as_bytes().ct_eq(posted)),
        _ => false,
    }
}

fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, "crm_sid=abc; __Host-portcullis=123".parse().unwrap());
        headers.append(COOKIE, "__Host-portcullis-csrf=zzz".parse().unwrap());
        assert_eq!(get(&headers, SESSION).as_deref(), Some("123"));
        assert_eq!(get(&headers, CSRF).as_deref(), Some("zzz"));
        assert_eq!(get(&headers, "missing"), None);
    }

    #[test]
    fn our_cookies_are_host_only_secure_and_hidden_from_scripts() {
        let mut response = Response::new(Full::new(Bytes::new()));
        set(&mut response, SESSION, "abc", SameSite::Lax, None);
        clear(&mut response, FLOW, SameSite::Strict);
        let set: Vec<&str> = (response.headers().get_all(SET_COOKIE).iter())
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(set[0], "__Host-portcullis=abc; HttpOnly; SameSite=Lax; Secure; Path=/");
        assert!(
            set[1].starts_with("__Host-portcullis-login=; ") && set[1].contains("Max-Age=0"),
            "{}",
            set[1]
        );
    }

    #[test]
    fn a_form_passes_only_with_the_token_of_its_own_cookie() {
        let token = "ab".repeat(32);
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, format!("{CSRF}={token}").parse().unwrap());
        let form = |t: &str| vec![("csrf".to_owned(), t.to_owned())];
        assert!(csrf_ok(&headers, &form(&token)));
        assert!(!csrf_ok(&headers, &form(&"cd".repeat(32))));
        assert!(!csrf_ok(&headers, &[]));
        assert!(!csrf_ok(&HeaderMap::new(), &form(&token)));
        assert_eq!(csrf_token(&headers), token, "the browser's token is kept");
        assert_ne!(csrf_token(&HeaderMap::new()), token);
    }
}
