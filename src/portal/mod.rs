//! Phase 2 target: the gateway's own pages under `/.portcullis/`. Nothing
//! else is taken from the CRM's URL space.
//!
//! Health, static assets, and the login interstitial ([`login`]).

pub mod enrol;
pub mod login;
pub mod page;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response};
use http_body_util::Full;

use crate::proxy::GatewayError;

pub const PREFIX: &str = "/.portcullis/";

/// A portal page, by what it is rather than by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Health,
    Stylesheet,
    Login,
    SecondFactor,
    StepUp,
    Logout,
    Enrol,
    EnrolConfirm,
    Sessions,
    Unknown,
}

/// `Some(page)` when the path belongs to the portal (even an unknown one:
/// the CRM never sees `/.portcullis/...`).
pub fn route(path: &str) -> Option<Page> {
    let rest = path
        .strip_prefix(PREFIX)
        .or_else(|| (path == "/.portcullis").then_some(""))?;
    Some(match rest {
        "health" => Page::Health,
        "assets/portcullis.css" => Page::Stylesheet,
        "login" => Page::Login,
        "second-factor" => Page::SecondFactor,
        "step-up" => Page::StepUp,
        "enrol" => Page::Enrol,
        "enrol/confirm" => Page::EnrolConfirm,
        "sessions" => Page::Sessions,
        "logout" => Page::Logout,
        _ => Page::Unknown,
    })
}

pub fn handle(page: Page, _request_id: u64) -> Result<Response<Full<Bytes>>, GatewayError> {
    match page {
        Page::Health => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"ok\n")));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        Page::Stylesheet => {
            let mut response = Response::new(Full::new(Bytes::from_static(page::STYLESHEET.as_bytes())));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
            Ok(response)
        }
        // Account pages need the request and the store: the pipeline serves
        // them when logins are configured; otherwise they do not exist.
        _ => Err(GatewayError::NotFound),
    }
}

impl Page {
    /// Pages served by [`login`]: they need the store and the request.
    pub fn needs_login(self) -> bool {
        matches!(
            self,
            Page::Login
                | Page::SecondFactor
                | Page::StepUp
                | Page::Logout
                | Page::Enrol
                | Page::EnrolConfirm
                | Page::Sessions
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portal_owns_only_its_prefix() {
        assert_eq!(route("/.portcullis/health"), Some(Page::Health));
        assert_eq!(route("/.portcullis/nope"), Some(Page::Unknown));
        assert_eq!(route("/.portcullis"), Some(Page::Unknown));
        assert_eq!(route("/.portcullisx"), None);
        assert_eq!(route("/contacts"), None);
    }
}
