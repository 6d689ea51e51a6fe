//! Phase 2 target: the gateway's own pages under `/.portcullis/`. Nothing
//! else is taken from the CRM's URL space.
//!
//! Health, static assets, and the login interstitial ([`login`]).

pub mod account;
pub mod codes;
pub mod enrol;
pub mod login;
pub mod page;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response};
use http_body_util::Full;

use crate::config::AuthSettings;
use crate::proxy::GatewayError;

pub const PREFIX: &str = "/.portcullis/";

/// A portal page, by what it is rather than by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Health,
    Stylesheet,
    BrandStylesheet,
    Logo,
    Login,
    SecondFactor,
    SendCode,
    StepUp,
    Logout,
    Enrol,
    EnrolConfirm,
    Sessions,
    Account,
    AccountPassword,
    AccountAuthenticator,
    AccountAuthenticatorConfirm,
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
        "assets/brand.css" => Page::BrandStylesheet,
        "assets/logo" => Page::Logo,
        "login" => Page::Login,
        "second-factor" => Page::SecondFactor,
        "send-code" => Page::SendCode,
        "step-up" => Page::StepUp,
        "enrol" => Page::Enrol,
        "enrol/confirm" => Page::EnrolConfirm,
        "sessions" => Page::Sessions,
        "account" => Page::Account,
        "account/password" => Page::AccountPassword,
        "account/authenticator" => Page::AccountAuthenticator,
        "account/authenticator/confirm" => Page::AccountAuthenticatorConfirm,
        "logout" => Page::Logout,
        _ => Page::Unknown,
    })
}

/// Pages that need neither the store nor the request: health and assets.
/// `brand` is the company's colour and logo from the config.
pub fn handle(page: Page, brand: &AuthSettings) -> Result<Response<Full<Bytes>>, GatewayError> {
    match page {
        Page::Health => Ok(asset(
            Bytes::from_static(b"ok\n"),
            "text/plain; charset=utf-8",
            "no-store",
        )),
        Page::Stylesheet => Ok(asset(
            Bytes::from_static(page::STYLESHEET.as_bytes()),
            "text/css; charset=utf-8",
            "public, max-age=3600",
        )),
        Page::BrandStylesheet => Ok(asset(brand_css(brand).into(), "text/css; charset=utf-8", "no-cache")),
        Page::Logo => {
            let logo = brand.logo.as_ref().ok_or(GatewayError::NotFound)?;
            let mut response = asset(logo.bytes.clone(), logo.content_type, "no-cache");
            // An SVG opened on its own must not run scripts on our origin.
            response.headers_mut().insert(
                http::header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
            );
            Ok(response)
        }
        // Account pages need the request and the store: the pipeline serves
        // them when logins are configured; otherwise they do not exist.
        _ => Err(GatewayError::NotFound),
    }
}

fn asset(body: Bytes, content_type: &'static str, cache: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The company's colour and logo, as a stylesheet every page links to (so
/// the pages themselves need no inline style, and the CSP stays strict).
fn brand_css(brand: &AuthSettings) -> String {
    let mut css = String::new();
    if let Some(colour) = &brand.colour {
        // Checked by the config: `#` and 3 or 6 hex digits, nothing to escape.
        css.push_str(&format!(":root {{ --accent: {colour}; }}\n"));
    }
    if brand.logo.is_some() {
        css.push_str(
            ".brand { height: 2.5rem; background: url(\"/.portcullis/assets/logo\") left center / contain no-repeat; }\n\
             .brand span { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }\n",
        );
    }
    css
}

impl Page {
    /// Pages served by [`login`]: they need the store and the request.
    pub fn needs_login(self) -> bool {
        matches!(
            self,
            Page::Login
                | Page::SecondFactor
                | Page::SendCode
                | Page::StepUp
                | Page::Logout
                | Page::Enrol
                | Page::EnrolConfirm
                | Page::Sessions
                | Page::Account
                | Page::AccountPassword
                | Page::AccountAuthenticator
                | Page::AccountAuthenticatorConfirm
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

    #[test]
    fn the_company_colour_and_logo_reach_the_pages_through_a_stylesheet() {
        let mut brand = AuthSettings {
            secrets_key: "k".into(),
            argon2_memory_kib: 8192,
            argon2_iterations: 1,
            company: "Acme".into(),
            colour: None,
            logo: None,
        };
        assert_eq!(brand_css(&brand), "");
        assert!(matches!(handle(Page::Logo, &brand), Err(GatewayError::NotFound)));
        brand.colour = Some("#0a7d4f".into());
        brand.logo = Some(crate::config::Logo {
            content_type: "image/svg+xml",
            bytes: Bytes::from_static(b"<svg/>"),
        });
        let css = brand_css(&brand);
        assert!(css.contains("--accent: #0a7d4f"), "{css}");
        assert!(css.contains("url(\"/.portcullis/assets/logo\")"), "{css}");
        let logo = handle(Page::Logo, &brand).unwrap();
        assert_eq!(logo.headers()[CONTENT_TYPE], "image/svg+xml");
        assert!(logo.headers()[http::header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'"));
    }
}
