//! Forward-auth mode: for teams that keep their own proxy in front of the
//! CRM. The proxy asks the gateway about each request it holds (nginx
//! `auth_request`, Traefik `ForwardAuth`, Caddy `forward_auth`), and the
//! gateway answers under the same policy, the same sessions and the same
//! reading of the request as when it forwards, instead of forwarding:
//!
//! ```text
//!  /.portcullis/authz/auth-request   (nginx)           200 + who | 401 + Location | 403
//!  /.portcullis/authz/forward-auth   (Traefik, Caddy)  200 + who | 303 to sign in | 403
//! ```
//!
//! The proxy names the request in `X-Forwarded-Method`, `X-Forwarded-Uri`
//! and `X-Forwarded-Host` (nginx's `X-Original-Method` and `X-Original-URI`
//! are read too); its cookies, User-Agent and `X-Forwarded-For` pass as
//! they are. Only a peer in `trusted_proxies` may ask: anyone else could
//! name any request.

use std::net::IpAddr;

use http::header::{HOST, LOCATION};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use ipnet::IpNet;

use super::error::GatewayError;
use super::framing::Malformed;
use crate::config::IdentityHeaders;
use crate::policy::Deny;

/// How the asking proxy wants to hear "sign in first".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// nginx: 401 with the sign-in page in `Location` (its `error_page`
    /// turns that into a redirect; it cannot pass on a 3xx).
    AuthRequest,
    /// Traefik and Caddy pass any other answer to the browser: a 303.
    ForwardAuth,
}

pub const PREFIX: &str = "/.portcullis/authz/";

/// The mode a path asks in, if it is a forward-auth question.
pub fn mode(path: &str) -> Option<Mode> {
    match path.strip_prefix(PREFIX)? {
        "auth-request" => Some(Mode::AuthRequest),
        "forward-auth" => Some(Mode::ForwardAuth),
        _ => None,
    }
}

/// The request the proxy asks about, in place of its question: the same
/// headers (the ones naming the request taken out), that method, URI and
/// host. The body stays the question's (proxies send none).
pub fn original<B>(req: Request<B>, peer: IpAddr, trusted: &[IpNet]) -> Result<Request<B>, GatewayError> {
    let peer = peer.to_canonical();
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return Err(GatewayError::Denied {
            deny: Deny::NoAccountFromNetwork,
            signed_in: false,
            why: format!("a forward-auth question from {peer}, which is not in trusted_proxies"),
        });
    }
    let (mut parts, body) = req.into_parts();
    let headers = &mut parts.headers;
    let method = named(headers, "x-forwarded-method", "x-original-method")?;
    let uri = named(headers, "x-forwarded-uri", "x-original-uri")?;
    let host = named(headers, "x-forwarded-host", "x-original-host")?;
    let (Some(method), Some(uri)) = (method, uri) else {
        return Err(Malformed::ForwardAuth("set X-Forwarded-Method and X-Forwarded-Uri").into());
    };
    parts.method = Method::from_bytes(method.as_bytes()).map_err(|_| Malformed::ForwardAuth("the method"))?;
    parts.uri = match uri.to_str().ok().filter(|u| u.starts_with('/')) {
        Some(path) => path.parse::<Uri>().map_err(|_| Malformed::ForwardAuth("the URI"))?,
        None => return Err(Malformed::ForwardAuth("the URI: a path, like /contacts?page=2").into()),
    };
    if let Some(host) = host {
        headers.insert(HOST, host);
    }
    Ok(Request::from_parts(parts, body))
}

/// The value of one of two names for a header, taken out of `headers`:
/// both may be set only to the same value, and each only once.
fn named(headers: &mut HeaderMap, name: &'static str, other: &'static str) -> Result<Option<HeaderValue>, Malformed> {
    let mut values = Vec::new();
    for name in [HeaderName::from_static(name), HeaderName::from_static(other)] {
        if let http::header::Entry::Occupied(entry) = headers.entry(name) {
            values.extend(entry.remove_entry_mult().1);
        }
    }
    values.dedup();
    match values.len() {
        0 | 1 => Ok(values.pop()),
        _ => Err(Malformed::ForwardAuth("the request is named twice, differently")),
    }
}

/// Allowed: 200, naming who (for the proxy to pass to the CRM). Both
/// headers are always there, empty for nobody, so that a proxy copying
/// them replaces whatever the browser sent under those names.
pub fn allowed(
    identity: Option<(String, String)>,
    names: &IdentityHeaders,
) -> Response<http_body_util::Full<bytes::Bytes>> {
    let mut response = Response::new(http_body_util::Full::new(bytes::Bytes::new()));
    let (user, groups) = identity.unwrap_or_default();
    for (name, value) in [(&names.user, user), (&names.groups, groups)] {
        let value = HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(""));
        response.headers_mut().insert(name.clone(), value);
    }
    response
}

/// Sign-in or step-up first: the answer `to_page` (a 303 to it), as the
/// asking proxy wants to hear it (as it is, when no proxy asks). nginx's
/// `error_page` redirects only to an absolute URL: on `host`, by HTTPS.
pub fn elsewhere(
    mode: Option<Mode>,
    mut to_page: Response<http_body_util::Full<bytes::Bytes>>,
    host: &HeaderValue,
) -> Response<http_body_util::Full<bytes::Bytes>> {
    if mode != Some(Mode::AuthRequest) {
        return to_page;
    }
    let page = to_page.headers().get(LOCATION).and_then(|l| l.to_str().ok());
    let absolute = page.and_then(|page| HeaderValue::from_str(&format!("https://{}{page}", host.to_str().ok()?)).ok());
    if let Some(absolute) = absolute {
        to_page.headers_mut().insert(LOCATION, absolute);
        *to_page.status_mut() = StatusCode::UNAUTHORIZED;
    }
    to_page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(headers: &[(&str, &str)]) -> Request<()> {
        let mut req = Request::get("/.portcullis/authz/auth-request").header("host", "portcullis.internal");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.body(()).unwrap()
    }

    #[test]
    fn the_question_becomes_the_request_it_names() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let asked = question(&[
            ("x-forwarded-method", "DELETE"),
            ("x-forwarded-uri", "/contacts/42?force=1"),
            ("x-forwarded-host", "crm.example.com"),
            ("cookie", "__Host-portcullis=abc"),
        ]);
        let req = original(asked, proxy, &trusted).unwrap();
        assert_eq!(req.method(), Method::DELETE);
        assert_eq!(req.uri(), "/contacts/42?force=1");
        assert_eq!(req.headers()["host"], "crm.example.com");
        assert_eq!(req.headers()["cookie"], "__Host-portcullis=abc");
        assert!(!req.headers().contains_key("x-forwarded-method"));

        // nginx's names work too, and agreeing twice is fine.
        let nginx = question(&[
            ("x-original-method", "GET"),
            ("x-original-uri", "/deals"),
            ("x-forwarded-uri", "/deals"),
        ]);
        let req = original(nginx, proxy, &trusted).unwrap();
        assert_eq!((req.method(), req.uri().path()), (&Method::GET, "/deals"));
    }

    #[test]
    fn only_a_trusted_proxy_may_ask_and_only_about_one_plain_request() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let named = [("x-forwarded-method", "GET"), ("x-forwarded-uri", "/")];
        let stranger = original(question(&named), "203.0.113.9".parse().unwrap(), &trusted);
        assert!(matches!(stranger, Err(GatewayError::Denied { .. })), "{stranger:?}");
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        for headers in [
            vec![("x-forwarded-method", "GET")],
            vec![
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "https://evil.example/"),
            ],
            vec![("x-forwarded-method", "GE T"), ("x-forwarded-uri", "/")],
            vec![
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/public"),
                ("x-original-uri", "/admin"),
            ],
        ] {
            let answer = original(question(&headers), proxy, &trusted);
            assert!(
                matches!(answer, Err(GatewayError::Malformed(Malformed::ForwardAuth(_)))),
                "{headers:?}: {answer:?}"
            );
        }
    }

    #[test]
    fn nginx_hears_sign_in_first_as_401_and_the_others_as_a_redirect() {
        let to_page = || {
            let mut response = Response::new(http_body_util::Full::new(bytes::Bytes::new()));
            *response.status_mut() = StatusCode::SEE_OTHER;
            response
                .headers_mut()
                .insert(LOCATION, HeaderValue::from_static("/.portcullis/login?next=%2F"));
            response
        };
        let host = HeaderValue::from_static("crm.example.com");
        let nginx = elsewhere(Some(Mode::AuthRequest), to_page(), &host);
        assert_eq!(nginx.status(), 401);
        assert_eq!(
            nginx.headers()[LOCATION],
            "https://crm.example.com/.portcullis/login?next=%2F"
        );
        let traefik = elsewhere(Some(Mode::ForwardAuth), to_page(), &host);
        assert_eq!(traefik.status(), 303);
        assert_eq!(traefik.headers()[LOCATION], "/.portcullis/login?next=%2F");
        assert_eq!(mode("/.portcullis/authz/forward-auth"), Some(Mode::ForwardAuth));
        assert_eq!(mode("/.portcullis/authz/other"), None);
    }
}
