//! Phase 2 target: the gateway's own pages under `/.portcullis/`. Nothing
//! else is taken from the CRM's URL space.
//!
//! [`serve`] is the router: it serves the assets, reads a posted form
//! (16 KiB at most) and checks its CSRF token once for every page, then
//! hands the page to its handler. Handlers are thin: they decode a typed
//! form ([`forms`]), ask the sign-in engine ([`crate::signin`]) or the
//! session service, and render a template ([`views`]) in the user's language.

pub mod account;
pub mod approvals;
pub mod cookies;
pub mod forms;
mod pages;
pub mod passkeys;
pub mod sessions;
pub mod signin;
pub mod sso;
pub mod views;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Response};
use http_body_util::{BodyExt, Full, Limited};

use crate::config::AuthSettings;
use crate::i18n::Texts;
use crate::session::{Session, SessionId};
use crate::signin::{Attempt, SignIn, SignInError};

pub use pages::{route, Page};

pub const PREFIX: &str = "/.portcullis/";

/// The largest form the portal reads.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// Why a portal page could not be served; the gateway renders the page
/// that says so (see [`crate::proxy::GatewayError`]).
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("no such portal page")]
    NotFound,
    #[error("form without a valid CSRF token")]
    Csrf,
    #[error("form larger than allowed")]
    FormTooLarge,
    /// The sign-in page from a network no rule lets anyone in from.
    #[error("login page asked for from {0}, which no rule lets in")]
    NobodyFromHere(std::net::IpAddr),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The directory that checks the user's password did not answer.
    #[error("{0}")]
    DirectoryDown(String),
}

impl From<SignInError> for PortalError {
    fn from(err: SignInError) -> PortalError {
        match err {
            SignInError::Directory(down) => PortalError::DirectoryDown(down.to_string()),
            err => PortalError::Unavailable(err.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for PortalError {
    fn from(err: crate::store::StoreError) -> PortalError {
        PortalError::Unavailable(err.to_string())
    }
}

/// One request to a portal page, as its handler sees it.
pub struct Ctx<'a> {
    pub signin: &'a SignIn,
    pub at: Attempt<'a>,
    pub t: &'a Texts,
    pub headers: HeaderMap,
    pub query: Option<String>,
    /// The posted form (urlencoded), its CSRF token checked; `None` for a GET.
    pub form: Option<Bytes>,
    /// The CSRF token for the forms the page shows (the browser's own, or new).
    pub csrf: String,
    /// The name (and port) the browser addressed, one of `listen.hosts`.
    pub host: Option<String>,
    /// The page's path (`/.portcullis/sso/<id>` names a provider).
    pub path: String,
    /// The company's identity providers (`auth.providers`).
    pub providers: &'a [crate::config::providers::ProviderSettings],
}

impl Ctx<'_> {
    pub fn frame<'a>(&'a self, title: &'a str, links: views::Links) -> views::Frame<'a> {
        views::Frame {
            t: self.t,
            company: self.at.company,
            title,
            links,
        }
    }

    pub fn query_value(&self, key: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }

    /// The posted form as `T` (see [`forms`]: one that does not decode is empty).
    pub fn decode<T: serde::de::DeserializeOwned + Default>(&self) -> T {
        let form = self.form.as_deref().unwrap_or_default();
        serde_urlencoded::from_bytes(form).unwrap_or_default()
    }

    /// The live session named by the session cookie, if its user may still
    /// use the CRM from here (not disabled, expired or elsewhere).
    pub async fn signed_in(&self) -> Result<Option<(SessionId, Session)>, PortalError> {
        let Some(id) = self.session_id() else {
            return Ok(None);
        };
        match self.signin.sessions.resume(&id, self.at.now).await? {
            Ok(session) if self.at.allowed(&session.user) => Ok(Some((id, session))),
            _ => Ok(None),
        }
    }

    /// The browser's session cookie, live or not.
    pub fn session_id(&self) -> Option<SessionId> {
        self.cookie(cookies::SESSION)
    }

    /// The browser's sign-in flow cookie.
    pub fn flow_id(&self) -> Option<SessionId> {
        self.cookie(cookies::FLOW)
    }

    fn cookie(&self, name: &str) -> Option<SessionId> {
        cookies::get(&self.headers, name)
            .as_deref()
            .and_then(SessionId::from_cookie)
    }

    pub fn posted(&self) -> bool {
        self.form.is_some()
    }
}

/// Serve a portal page. `signin` is `None` when no client type signs in:
/// then only the health check and the assets exist.
pub async fn serve<B>(
    page: Page,
    req: http::Request<B>,
    signin: Option<&SignIn>,
    at: Attempt<'_>,
    brand: &AuthSettings,
    t: &Texts,
) -> Result<Response<Full<Bytes>>, PortalError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match page {
        Page::Health => {
            return Ok(asset(
                Bytes::from_static(b"ok\n"),
                "text/plain; charset=utf-8",
                "no-store",
            ))
        }
        Page::Stylesheet => {
            let css = Bytes::from_static(views::STYLESHEET.as_bytes());
            return Ok(asset(css, "text/css; charset=utf-8", "public, max-age=3600"));
        }
        Page::PasskeyScript => {
            let script = Bytes::from_static(views::PASSKEY_SCRIPT.as_bytes());
            return Ok(asset(script, "text/javascript; charset=utf-8", "public, max-age=3600"));
        }
        Page::BrandStylesheet => return Ok(asset(brand_css(brand).into(), "text/css; charset=utf-8", "no-cache")),
        Page::Logo => return logo(brand),
        Page::Unknown => return Err(PortalError::NotFound),
        _ => {}
    }
    let Some(signin) = signin else {
        return Err(PortalError::NotFound);
    };
    let (parts, body) = req.into_parts();
    let csrf = cookies::csrf_token(&parts.headers);
    let form = match parts.method == Method::POST {
        true => {
            let bytes = Limited::new(body, MAX_FORM_BYTES)
                .collect()
                .await
                .map_err(|_| PortalError::FormTooLarge)?
                .to_bytes();
            let pairs: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
            // Checked once, here, for every form of every page but the
            // one the provider's server posts a signed token to.
            if page != Page::ProviderLogout && !cookies::csrf_ok(&parts.headers, &pairs) {
                return Err(PortalError::Csrf);
            }
            Some(bytes)
        }
        false => None,
    };
    // HTTP/2 names it in :authority, HTTP/1.1 in Host; the gateway has
    // refused any name not in listen.hosts before this.
    let host = (parts.uri.authority().map(|a| a.as_str().to_owned()))
        .or_else(|| parts.headers.get(http::header::HOST)?.to_str().ok().map(str::to_owned));
    let ctx = Ctx {
        signin,
        at,
        t,
        headers: parts.headers,
        query: parts.uri.query().map(str::to_owned),
        form,
        csrf,
        host,
        path: parts.uri.path().to_owned(),
        providers: &brand.providers,
    };
    let mut response = match page {
        Page::Login => signin::login(&ctx).await?,
        Page::PasskeySignIn => passkeys::sign_in(&ctx).await?,
        Page::SecondFactor => signin::second_factor(&ctx).await?,
        Page::SendCode => signin::send_code(&ctx).await?,
        Page::StepUp => signin::step_up(&ctx).await?,
        Page::Enrol => signin::enrol(&ctx).await?,
        Page::EnrolConfirm => signin::enrol_confirm(&ctx).await?,
        Page::EnrolPasskey => passkeys::enrol(&ctx).await?,
        Page::Sessions => sessions::sessions(&ctx).await?,
        Page::Logout => sessions::logout(&ctx).await?,
        Page::Account => account::overview(&ctx).await?,
        Page::AccountPassword => account::password(&ctx).await?,
        Page::AccountAuthenticator => account::authenticator(&ctx).await?,
        Page::AccountAuthenticatorConfirm => account::authenticator_confirm(&ctx).await?,
        Page::AccountPasskeys => passkeys::account(&ctx).await?,
        Page::AccountPasskeysRemove => passkeys::remove(&ctx).await?,
        Page::ProviderStart => sso::start(&ctx).await?,
        Page::ProviderCallback => sso::callback(&ctx).await?,
        Page::ProviderLogout => sso::backchannel_logout(&ctx).await?,
        Page::Approvals => approvals::list(&ctx).await?,
        Page::Approval => approvals::approval(&ctx).await?,
        _ => return Err(PortalError::NotFound),
    };
    // Every form the page shows carries this token; the browser keeps it.
    cookies::set(&mut response, cookies::CSRF, &ctx.csrf, cookie::SameSite::Strict, None);
    Ok(response)
}

fn logo(brand: &AuthSettings) -> Result<Response<Full<Bytes>>, PortalError> {
    let logo = brand.logo.as_ref().ok_or(PortalError::NotFound)?;
    let mut response = asset(logo.bytes.clone(), logo.content_type, "no-cache");
    // An SVG opened on its own must not run scripts on our origin.
    response.headers_mut().insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    Ok(response)
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

/// A redirect that no cache keeps.
pub fn redirect(to: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = http::StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(http::header::LOCATION, value);
    }
    (response.headers_mut()).insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Only a same-origin path may be a `next`. It is read as a browser reads
/// it (the WHATWG URL parser: tabs and newlines dropped, `\\` read as `/`,
/// control characters and spaces trimmed), and what comes back is the path
/// and query as the browser would then ask for them, never `//host` or a
/// URL, and never a gateway page.
pub fn safe_next(next: Option<&str>) -> String {
    static BASE: std::sync::LazyLock<Option<url::Url>> =
        std::sync::LazyLock::new(|| url::Url::parse("https://gateway.invalid/").ok());
    let (Some(next), Some(base)) = (next, BASE.as_ref()) else {
        return "/".to_owned();
    };
    let same_origin = next
        .starts_with('/')
        .then(|| base.join(next).ok())
        .flatten()
        .filter(|url| url.origin() == base.origin() && url.username().is_empty() && url.password().is_none());
    let Some(url) = same_origin else {
        return "/".to_owned();
    };
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    // The passkeys page and a held request's, after the step-up they ask
    // for: a GET of them only shows.
    let shows =
        target == passkeys::PASSKEYS || approvals::reference_in(target).is_some_and(|_| !target.ends_with("/send"));
    if target.starts_with(PREFIX) && !shows {
        return "/".to_owned();
    }
    target.to_owned()
}

/// Seconds since the epoch, back to a time.
pub fn from_secs(secs: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
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
            texts: crate::i18n::Catalog::built_in(),
            providers: Vec::new(),
            directory: None,
        };
        assert_eq!(brand_css(&brand), "");
        assert!(matches!(logo(&brand), Err(PortalError::NotFound)));
        brand.colour = Some("#0a7d4f".into());
        brand.logo = Some(crate::config::Logo {
            content_type: "image/svg+xml",
            bytes: Bytes::from_static(b"<svg/>"),
        });
        let css = brand_css(&brand);
        assert!(css.contains("--accent: #0a7d4f"), "{css}");
        assert!(css.contains("url(\"/.portcullis/assets/logo\")"), "{css}");
        let logo = logo(&brand).unwrap();
        assert_eq!(logo.headers()[CONTENT_TYPE], "image/svg+xml");
        assert!(logo.headers()[http::header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'"));
    }

    #[test]
    fn next_is_only_ever_a_same_origin_path() {
        assert_eq!(safe_next(Some("/contacts?x=1")), "/contacts?x=1");
        for evil in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/\\\tevil.example",
            "/.portcullis/logout",
            "/%2e%2e/.portcullis/logout",
            "/./.portcullis/sessions",
            "/.portcullis/account/passkeys/remove",
        ] {
            assert_eq!(safe_next(Some(evil)), "/", "{evil:?}");
        }
        // Characters a browser would drop or escape come back as it would send them.
        assert_eq!(safe_next(Some("/x\r\nSet-Cookie: a=b")), "/xSet-Cookie:%20a=b");
        assert_eq!(safe_next(Some("/contacts/../billing?q=a b")), "/billing?q=a%20b");
        assert_eq!(safe_next(None), "/");
        assert_eq!(
            safe_next(Some("/.portcullis/account/passkeys")),
            "/.portcullis/account/passkeys"
        );
        assert_eq!(
            safe_next(Some("/.portcullis/approvals/K7QM-2HXD")),
            "/.portcullis/approvals/K7QM-2HXD"
        );
        assert_eq!(safe_next(Some("/.portcullis/approvals/K7QM-2HXD/send")), "/");
    }
}
