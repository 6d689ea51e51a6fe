//! Everything that can stop a request, and the one mapping from error to
//! status and page. What the user reads comes from the texts of their
//! language ([`crate::i18n`]); the detail goes to the log.

use std::net::IpAddr;
use std::time::Duration;

use http::StatusCode;

use super::framing::Malformed;
use crate::i18n::Texts;
use crate::policy::reading::Unreadable;
use crate::policy::Deny;
use crate::portal::PortalError;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("malformed request: {0}")]
    Malformed(#[from] Malformed),
    #[error("upstream unreachable: {0}")]
    UpstreamUnreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("upstream sent no response headers within {0:?}")]
    UpstreamTimeout(Duration),
    #[error("no such portal page")]
    NotFound,
    /// No reading of the request the gateway can stand behind (see
    /// [`crate::policy::reading`]).
    #[error("request refused: {0}")]
    Unreadable(#[from] crate::policy::reading::Unreadable),
    /// A Host the gateway does not serve.
    #[error("not a host this gateway serves: {0:?}")]
    NotServed(String),
    /// A form that must be read for a method override, larger than allowed.
    #[error("a form larger than {0} bytes where the method matters")]
    InspectedBodyTooLarge(usize),
    /// The policy said no: `deny` is why (the user reads it in plain
    /// words), `why` the setting that made it, for the log.
    #[error("denied: {why}")]
    Denied { deny: Deny, signed_in: bool, why: String },
    #[error("not signed in")]
    LoginRequired,
    #[error("needs a fresh second factor")]
    StepUpRequired,
    #[error("form without a valid CSRF token")]
    Csrf,
    #[error("form larger than allowed")]
    FormTooLarge,
    /// The client's request body broke off or was malformed (a bad chunk)
    /// while it was being passed to the CRM: the client's fault, not the CRM's.
    #[error("the request body was malformed or cut off: {0}")]
    BadBody(String),
    /// A forward-auth question about a request whose body could override
    /// its method, for a rule the method decides: the proxy's question
    /// carries no body, so it cannot be checked (fail closed).
    #[error("forward-auth: the body may override the method, and the question carries no body")]
    BodyNotAsked,
    /// A declared body larger than `limits.max_body_bytes`.
    #[error("a request body larger than {0} bytes")]
    BodyTooLarge(u64),
    /// The store did not answer: fail closed.
    #[error("store unavailable: {0}")]
    StoreUnavailable(String),
    /// The directory that checks passwords did not answer: fail closed.
    #[error("directory unavailable: {0}")]
    DirectoryUnavailable(String),
    /// A request to be held for approval with a body larger than its
    /// rule keeps while it waits.
    #[error("a request body larger than the {0} bytes a held request keeps")]
    HeldBodyTooLarge(usize),
    /// "Send" on a held request that is not (or no longer) approved.
    #[error("the held request cannot be sent: it is {0}")]
    NotSendable(&'static str),
    /// `routes[route]`'s quota is used up until `resets`.
    #[error("quota of routes[{route}] reached ({quota}) until {}", humantime::format_rfc3339_seconds(*.resets))]
    QuotaReached {
        route: crate::policy::RouteId,
        quota: String,
        resets: std::time::SystemTime,
    },
}

/// Whose fault it was: decides the log level and helps the reader of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Client,
    Upstream,
    /// Our side: the store is down, say.
    Gateway,
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::Unreadable(Unreadable::Method(_)) => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::Malformed(_) | GatewayError::Unreadable(_) | GatewayError::BadBody(_) => {
                StatusCode::BAD_REQUEST
            }
            GatewayError::NotServed(_) => StatusCode::MISDIRECTED_REQUEST,
            GatewayError::InspectedBodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::Denied { .. } | GatewayError::BodyNotAsked => StatusCode::FORBIDDEN,
            GatewayError::LoginRequired | GatewayError::StepUpRequired => StatusCode::UNAUTHORIZED,
            GatewayError::Csrf => StatusCode::FORBIDDEN,
            GatewayError::FormTooLarge | GatewayError::BodyTooLarge(_) | GatewayError::HeldBodyTooLarge(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            GatewayError::NotSendable(_) => StatusCode::CONFLICT,
            GatewayError::StoreUnavailable(_) | GatewayError::DirectoryUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            GatewayError::QuotaReached { .. } => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::UpstreamUnreachable(_) => StatusCode::BAD_GATEWAY,
            GatewayError::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::NotFound => StatusCode::NOT_FOUND,
        }
    }

    pub fn fault(&self) -> Fault {
        match self {
            GatewayError::Malformed(_)
            | GatewayError::NotFound
            | GatewayError::Unreadable(_)
            | GatewayError::NotServed(_)
            | GatewayError::InspectedBodyTooLarge(_)
            | GatewayError::BadBody(_)
            | GatewayError::Denied { .. }
            | GatewayError::BodyNotAsked
            | GatewayError::LoginRequired
            | GatewayError::StepUpRequired
            | GatewayError::Csrf
            | GatewayError::FormTooLarge
            | GatewayError::BodyTooLarge(_)
            | GatewayError::HeldBodyTooLarge(_)
            | GatewayError::NotSendable(_) => Fault::Client,
            GatewayError::StoreUnavailable(_) => Fault::Gateway,
            GatewayError::QuotaReached { .. } => Fault::Client,
            GatewayError::DirectoryUnavailable(_) => Fault::Upstream,
            GatewayError::UpstreamUnreachable(_) | GatewayError::UpstreamTimeout(_) => Fault::Upstream,
        }
    }

    /// Title and message for the page the user sees, in their language;
    /// `ip` is the client's address, which some denials name.
    pub fn page_text<'t>(&self, t: &'t Texts, ip: IpAddr) -> (&'t str, String) {
        let text = |title: &'t String, message: &String| (title.as_str(), message.clone());
        match self {
            GatewayError::Denied { deny, signed_in, .. } => {
                (&t.denied_title, crate::portal::views::denial(t, deny, ip, *signed_in))
            }
            GatewayError::Csrf => text(&t.form_expired_title, &t.form_expired),
            GatewayError::FormTooLarge => text(&t.too_much_title, &t.form_too_large),
            GatewayError::BodyTooLarge(_) => text(&t.too_much_title, &t.upload_too_large),
            GatewayError::StoreUnavailable(_) => text(&t.unavailable_title, &t.unavailable),
            GatewayError::DirectoryUnavailable(_) => text(&t.directory_down_title, &t.directory_down),
            GatewayError::LoginRequired => text(&t.sign_in_required_title, &t.sign_in_required),
            GatewayError::StepUpRequired => text(&t.confirm_title, &t.step_up_required),
            GatewayError::Unreadable(Unreadable::Method(_)) | GatewayError::BodyNotAsked => {
                text(&t.not_allowed_title, &t.not_allowed)
            }
            GatewayError::NotServed(_) => text(&t.wrong_address_title, &t.wrong_address),
            GatewayError::InspectedBodyTooLarge(_) => text(&t.inspect_too_large_title, &t.inspect_too_large),
            GatewayError::Malformed(_) | GatewayError::Unreadable(_) | GatewayError::BadBody(_) => {
                text(&t.bad_request_title, &t.bad_request)
            }
            GatewayError::UpstreamUnreachable(_) => text(&t.unreachable_title, &t.unreachable),
            GatewayError::UpstreamTimeout(_) => text(&t.slow_title, &t.slow),
            GatewayError::NotFound => text(&t.not_found_title, &t.not_found),
            GatewayError::HeldBodyTooLarge(limit) => {
                let size = format!("{} KiB", limit.div_ceil(1024));
                (
                    &t.too_much_title,
                    crate::i18n::fill(&t.approval_too_large, &[("size", &size)]),
                )
            }
            GatewayError::NotSendable(_) => text(&t.approval_title, &t.approval_not_sendable),
            GatewayError::QuotaReached { resets, .. } => {
                let at = humantime::format_rfc3339_seconds(*resets).to_string().replace('T', " ");
                let at = format!("{} UTC", at.trim_end_matches('Z'));
                (&t.quota_title, crate::i18n::fill(&t.quota_reached, &[("time", &at)]))
            }
        }
    }
}

impl From<PortalError> for GatewayError {
    fn from(err: PortalError) -> GatewayError {
        match err {
            PortalError::NotFound => GatewayError::NotFound,
            PortalError::Csrf => GatewayError::Csrf,
            PortalError::FormTooLarge => GatewayError::FormTooLarge,
            PortalError::NobodyFromHere(ip) => GatewayError::Denied {
                deny: Deny::NoAccountFromNetwork,
                signed_in: false,
                why: format!("login page asked for from {ip}, which no rule lets in"),
            },
            PortalError::Unavailable(err) => GatewayError::StoreUnavailable(err),
            PortalError::DirectoryDown(err) => GatewayError::DirectoryUnavailable(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_fault() {
        let cases = [
            (GatewayError::Malformed(Malformed::LengthAndChunked), 400, Fault::Client),
            (
                GatewayError::UpstreamUnreachable("refused".into()),
                502,
                Fault::Upstream,
            ),
            (
                GatewayError::UpstreamTimeout(Duration::from_secs(1)),
                504,
                Fault::Upstream,
            ),
            (GatewayError::NotFound, 404, Fault::Client),
        ];
        for (err, status, fault) in cases {
            assert_eq!(err.status().as_u16(), status, "{err}");
            assert_eq!(err.fault(), fault, "{err}");
        }
    }

    #[test]
    fn pages_do_not_leak_internals() {
        let err = GatewayError::UpstreamUnreachable("tcp connect error: 10.0.0.5:8080 refused".into());
        let catalog = crate::i18n::Catalog::built_in();
        for lang in catalog.languages() {
            let t = catalog.language(lang).unwrap();
            let (title, message) = err.page_text(t, "193.167.1.70".parse().unwrap());
            assert!(!title.contains("10.0.0.5") && !message.contains("10.0.0.5"), "{lang}");
        }
    }
}
