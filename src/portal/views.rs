//! The pages, as templates (`templates/portal/*.html`, checked when the
//! gateway is compiled, escaped by default) and the values they show, in
//! the user's language ([`crate::i18n`]). Plain, accessible, no third-party
//! assets, and headers that keep them out of caches and frames. The one
//! script (`assets/passkey.js`) is for passkeys; without it every page works.

use askama::Template;
use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::auth::totp::TotpSecret;
use crate::i18n::{fill, Texts};
use crate::policy::Deny;
use crate::signin::enrol::LinkProblem;
use crate::signin::{Notice, Problem};

pub const STYLESHEET: &str = include_str!("assets/portcullis.css");

pub const PASSKEY_SCRIPT: &str = include_str!("assets/passkey.js");

/// The pages' only script is ours (passkeys), from our origin; never inline.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Which links a page ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    None,
    /// Signed in: back to the CRM, the account, the sessions, sign out.
    Account,
    /// A refusal: back, sign out, sign in as someone else.
    Refusal,
    /// A sign-in under way: sign in as someone else.
    SwitchAccount,
}

/// What every page has: its words, the company (the page's brand), a title.
pub struct Frame<'a> {
    pub t: &'a Texts,
    pub company: &'a str,
    pub title: &'a str,
    pub links: Links,
}

#[derive(Template)]
#[template(path = "portal/sign_in.html")]
pub struct SignIn<'a> {
    pub frame: Frame<'a>,
    pub intro: String,
    pub info: Option<String>,
    pub error: Option<String>,
    pub csrf: &'a str,
    pub next: &'a str,
    /// Kept after a wrong password.
    pub user: &'a str,
    pub passkey: Option<PasskeyForm>,
    /// "Sign in with <provider>": each link and its words.
    pub providers: Vec<(String, String)>,
}

/// A page that sends the browser on at once (a meta refresh, no script):
/// back from the identity provider's site, so that the next request is
/// this site's own and carries its `SameSite=Strict` cookies.
#[derive(Template)]
#[template(path = "portal/continue.html")]
pub struct Continue<'a> {
    pub frame: Frame<'a>,
    pub to: &'a str,
}

/// A form whose button asks the browser for a passkey (`get`) or makes a
/// new one (`create`), with the options the gateway made for it.
pub struct PasskeyForm {
    pub action: &'static str,
    pub kind: &'static str,
    /// The WebAuthn options, as JSON.
    pub options: String,
    pub label: String,
    /// Hidden fields to post with the answer.
    pub fields: Vec<(&'static str, String)>,
    /// Asks for the new passkey's name.
    pub named: bool,
    pub default_name: String,
    /// The username field offers passkeys too (the browser's autofill).
    pub autofill: bool,
    /// The page's main button, not a second way.
    pub primary: bool,
}

#[derive(Template)]
#[template(path = "portal/passkeys.html")]
pub struct Passkeys<'a> {
    pub frame: Frame<'a>,
    pub info: Option<String>,
    pub error: Option<String>,
    pub csrf: &'a str,
    pub keys: Vec<PasskeyRow>,
    /// Where to confirm it is you first, and the words for the link.
    pub confirm_first: Option<(String, String)>,
    pub passkey: Option<PasskeyForm>,
}

pub struct PasskeyRow {
    pub id: String,
    pub name: String,
    pub dates: String,
}

#[derive(Template)]
#[template(path = "portal/create_passkey.html")]
pub struct CreatePasskey<'a> {
    pub frame: Frame<'a>,
    pub info: Option<String>,
    pub error: Option<String>,
    pub csrf: &'a str,
    pub passkey: Option<PasskeyForm>,
}

/// A way to be sent a code, as a button.
pub struct Send {
    pub via: &'static str,
    pub label: String,
}

#[derive(Template)]
#[template(path = "portal/code.html")]
pub struct Code<'a> {
    pub frame: Frame<'a>,
    /// Why a step-up asks again.
    pub why: Option<String>,
    pub ask: &'a str,
    pub info: Option<String>,
    pub error: Option<String>,
    pub action: &'static str,
    pub purpose: &'static str,
    pub csrf: &'a str,
    pub next: &'a str,
    pub sends: Vec<Send>,
    pub passkey: Option<PasskeyForm>,
}

#[derive(Template)]
#[template(path = "portal/enrol_password.html")]
pub struct EnrolPassword<'a> {
    pub frame: Frame<'a>,
    pub intro: String,
    /// The user's password lives in the directory: they type it, once.
    pub directory: bool,
    pub info: Option<String>,
    pub error: Option<String>,
    pub csrf: &'a str,
    pub token: &'a str,
}

#[derive(Template)]
#[template(path = "portal/scan.html")]
pub struct Scan<'a> {
    pub frame: Frame<'a>,
    /// An SVG made by the qrcode crate from the secret's URI.
    pub qr: String,
    pub key: String,
    pub info: Option<String>,
    pub error: Option<String>,
    pub action: &'static str,
    pub csrf: &'a str,
    pub token: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "portal/recovery_codes.html")]
pub struct RecoveryCodes<'a> {
    pub frame: Frame<'a>,
    pub codes: &'a [String],
    /// The codes as a text file, for a download link (a `data:` URL).
    pub download: String,
    pub file_name: String,
    pub codes_text: String,
}

#[derive(Template)]
#[template(path = "portal/message.html")]
pub struct Message<'a> {
    pub frame: Frame<'a>,
    pub lines: Vec<String>,
    pub reference: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/account.html")]
pub struct Account<'a> {
    pub frame: Frame<'a>,
    pub signed_in_as: String,
    /// The policy lets this user use passkeys.
    pub passkeys: bool,
}

#[derive(Template)]
#[template(path = "portal/password.html")]
pub struct ChangePassword<'a> {
    pub frame: Frame<'a>,
    pub info: Option<String>,
    pub error: Option<String>,
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "portal/authenticator.html")]
pub struct NewAuthenticator<'a> {
    pub frame: Frame<'a>,
    pub info: Option<String>,
    pub error: Option<String>,
    pub csrf: &'a str,
}

/// One session, for the sessions page.
pub struct SessionRow {
    pub client_type: String,
    pub ip: String,
    pub created: String,
    pub last_seen: String,
    pub handle: String,
    pub this: bool,
}

#[derive(Template)]
#[template(path = "portal/sessions.html")]
pub struct Sessions<'a> {
    pub frame: Frame<'a>,
    pub intro: String,
    pub rows: Vec<SessionRow>,
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "portal/sign_out.html")]
pub struct SignOut<'a> {
    pub frame: Frame<'a>,
    pub question: String,
    pub csrf: &'a str,
}

/// A rendered page as a response, with the headers every page has.
pub fn html(status: StatusCode, page: &impl Template) -> Response<Full<Bytes>> {
    // The templates only interpolate values into fixed markup: rendering
    // cannot fail but for a writer error, which a String does not have.
    let body = page.render().unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// A page of one or two paragraphs: an error, a link that cannot be used,
/// a change done.
pub fn message(
    frame: Frame<'_>,
    status: StatusCode,
    lines: Vec<String>,
    reference: Option<String>,
) -> Response<Full<Bytes>> {
    html(
        status,
        &Message {
            frame,
            lines,
            reference,
        },
    )
}

/// A notice, in words.
pub fn notice(t: &Texts, notice: Notice) -> String {
    match notice {
        Notice::Failed => t.failed.clone(),
        Notice::Locked => t.locked.clone(),
        Notice::InUseElsewhere => t.in_use_elsewhere.clone(),
        Notice::WrongNewCode => t.wrong_new_code.clone(),
        Notice::WrongCurrentPassword => t.wrong_current_password.clone(),
        Notice::TookTooLong => t.took_too_long_password.clone(),
        Notice::PasskeyRefused => t.passkey_refused.clone(),
        Notice::LastFactor => t.passkey_last_factor.clone(),
        Notice::Weak(problem) => match problem {
            Problem::TooShort => t.too_short.clone(),
            Problem::NotSame => t.not_same.clone(),
            Problem::HasUsername => t.has_username.clone(),
            Problem::TooEasy => t.too_easy.clone(),
            Problem::UsedBefore => t.used_before.clone(),
            Problem::NotDirectoryPassword => t.not_directory_password.clone(),
        },
    }
}

/// What a user is told of a denial: plain words that match its reason,
/// no policy details. `signed_in`: whether a user asked (an app with no
/// sign-in has no account to speak of).
pub fn denial(t: &Texts, deny: &Deny, ip: std::net::IpAddr, signed_in: bool) -> String {
    let ip = ip.to_string();
    let with_ip = |text: &str| fill(text, &[("ip", &ip)]);
    match deny {
        Deny::NoAccountFromNetwork => with_ip(&t.deny_no_network),
        Deny::Network { .. } if signed_in => with_ip(&t.deny_account_network),
        Deny::Network { .. } => with_ip(&t.deny_app_network),
        Deny::RouteNetwork { .. } => with_ip(&t.deny_route_network),
        Deny::UnknownUser | Deny::Disabled | Deny::Expired { .. } => t.deny_account.clone(),
        Deny::ReadOnly { .. } => t.deny_read_only.clone(),
        Deny::RouteGroups { .. } => t.deny_route_groups.clone(),
        Deny::RouteDenied { .. } => t.deny_route_all.clone(),
        Deny::RouteNeedsLogin { .. } => t.deny_route_needs_login.clone(),
    }
}

/// The title and lines of the page for an invite link that cannot be used.
pub fn link_problem(t: &Texts, problem: LinkProblem) -> (StatusCode, &str, &str) {
    match problem {
        LinkProblem::Expired => (StatusCode::GONE, &t.link_expired_title, &t.ask_for_new_link),
        LinkProblem::Invalid => (StatusCode::BAD_REQUEST, &t.link_invalid_title, &t.check_whole_link),
        LinkProblem::Used => (StatusCode::GONE, &t.link_used_title, &t.ask_for_new_link),
        LinkProblem::Withdrawn => (StatusCode::GONE, &t.link_withdrawn_title, &t.link_withdrawn),
        LinkProblem::NotHere => (StatusCode::FORBIDDEN, &t.link_not_here_title, &t.link_not_here),
    }
}

/// The QR code (SVG) and the key, in groups of four, of a new secret.
pub fn scan_parts(secret: &TotpSecret, company: &str, user: &str) -> (String, String) {
    let uri = secret.otpauth_uri(company, user);
    let qr = qrcode::QrCode::new(uri.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color>()
                .min_dimensions(200, 200)
                .build()
        })
        .unwrap_or_default();
    // Inline SVG: the XML prolog before <svg> does not belong in HTML.
    let qr = qr.find("<svg").map_or(String::new(), |start| qr[start..].to_owned());
    let key: Vec<String> = (secret.base32().as_bytes().chunks(4))
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    (qr, key.join(" "))
}

/// `5 min`, `30 s`, `2 h`: read the same in every language the pages speak.
pub fn short_duration(d: std::time::Duration) -> String {
    match d.as_secs() {
        s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Recovery codes as a text file in a `data:` URL, for a download link.
pub fn codes_file(company: &str, codes: &[String]) -> String {
    let text = format!("{company} recovery codes\n\n{}\n", codes.join("\n"));
    let encoded: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
    format!("data:text/plain;charset=utf-8,{}", encoded.replace('+', "%20"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(t: &Texts) -> Frame<'_> {
        Frame {
            t,
            company: "Acme <CRM>",
            title: "Sign in",
            links: Links::None,
        }
    }

    #[test]
    fn pages_escape_what_they_show_and_are_not_cached_or_framed() {
        let catalog = crate::i18n::Catalog::built_in();
        let t = catalog.for_accept_language(None);
        let page = SignIn {
            frame: frame(t),
            intro: "Sign in to use Acme <CRM>.".into(),
            info: None,
            error: Some("<script>".into()),
            csrf: "c",
            next: "/\"><script>",
            user: "al\"ice",
            passkey: None,
            providers: vec![("/.portcullis/sso/x?next=%2F\"><".into(), "Sign in with <Okta>".into())],
        };
        let response = html(StatusCode::OK, &page);
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        assert!(response.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        let body = page.render().unwrap();
        assert!(
            body.contains("Acme &#60;CRM&#62;") || body.contains("Acme &lt;CRM&gt;"),
            "{body}"
        );
        assert!(!body.contains("<script>"), "{body}");
        assert!(!body.contains("<Okta>") && !body.contains("%2F\"><"), "{body}");
        assert!(
            body.contains("<title>Sign in · Acme"),
            "the company is the brand: {body}"
        );
    }

    #[test]
    fn durations_are_short_and_exact() {
        let d = std::time::Duration::from_secs;
        assert_eq!(short_duration(d(300)), "5 min");
        assert_eq!(short_duration(d(3)), "3 s");
        assert_eq!(short_duration(d(90)), "90 s");
        assert_eq!(short_duration(d(7200)), "2 h");
    }

    #[test]
    fn the_codes_file_holds_every_code() {
        let file = codes_file("Acme", &["aaaa-bbbb".into(), "cccc-dddd".into()]);
        assert!(file.starts_with("data:text/plain;charset=utf-8,"));
        assert!(file.contains("aaaa-bbbb%0Acccc-dddd"), "{file}");
    }
}
