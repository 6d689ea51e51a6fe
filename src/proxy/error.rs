//! Everything that can stop a request, and the one mapping from error to
//! status and page. User-facing texts are constants; the detail goes to the log.

use std::time::Duration;

use http::StatusCode;

use super::framing::Malformed;
use crate::policy::reading::Unreadable;

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
    /// The policy said no; `message` is for the user, `why` for the log.
    #[error("denied: {why}")]
    Denied { message: String, why: String },
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
    /// A declared body larger than `limits.max_body_bytes`.
    #[error("a request body larger than {0} bytes")]
    BodyTooLarge(u64),
    /// The store did not answer: fail closed.
    #[error("store unavailable: {0}")]
    StoreUnavailable(String),
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
            GatewayError::Denied { .. } => StatusCode::FORBIDDEN,
            GatewayError::LoginRequired | GatewayError::StepUpRequired => StatusCode::UNAUTHORIZED,
            GatewayError::Csrf => StatusCode::FORBIDDEN,
            GatewayError::FormTooLarge | GatewayError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            | GatewayError::LoginRequired
            | GatewayError::StepUpRequired
            | GatewayError::Csrf
            | GatewayError::FormTooLarge
            | GatewayError::BodyTooLarge(_) => Fault::Client,
            GatewayError::StoreUnavailable(_) => Fault::Gateway,
            GatewayError::UpstreamUnreachable(_) | GatewayError::UpstreamTimeout(_) => Fault::Upstream,
        }
    }

    /// Title and message for the page the user sees.
    pub fn page_text(&self) -> (&'static str, &str) {
        match self {
            GatewayError::Denied { message, .. } => ("Access denied", message),
            GatewayError::Csrf => (
                "This form has expired",
                "Go back, reload the page and try again.",
            ),
            GatewayError::FormTooLarge => ("Too much data", "The form sent more than the gateway accepts."),
            GatewayError::BodyTooLarge(_) => (
                "Too much data",
                "The upload is larger than this gateway passes on. Ask your administrator if you need to send larger files.",
            ),
            GatewayError::StoreUnavailable(_) => (
                "Temporarily unavailable",
                "The gateway cannot check sign-ins right now, so it lets nobody through. Try again in a minute.",
            ),
            GatewayError::LoginRequired => (
                "Sign-in required",
                "This CRM is protected by the company's gateway. Open the CRM's address in your browser to sign in, then try again.",
            ),
            GatewayError::StepUpRequired => (
                "Confirm it is you",
                "This part of the CRM needs a fresh second factor. Open the page in your browser to confirm it, then try again.",
            ),
            GatewayError::Unreadable(Unreadable::Method(_)) => (
                "Not allowed",
                "The gateway does not pass this kind of request to the CRM.",
            ),
            GatewayError::NotServed(_) => (
                "Wrong address",
                "This gateway does not serve the address your browser asked for. Check the address, or ask your administrator for the right one.",
            ),
            GatewayError::InspectedBodyTooLarge(_) => (
                "Too much data to check",
                "The CRM could read this form as another kind of request, and it is larger than the gateway can check. Send less at once, or ask your administrator.",
            ),
            GatewayError::Malformed(_) | GatewayError::Unreadable(_) | GatewayError::BadBody(_) => (
                "Bad request",
                "Your browser sent a request the gateway could not safely understand. Reload the page; if this keeps happening, contact your administrator.",
            ),
            GatewayError::UpstreamUnreachable(_) => (
                "The CRM is unreachable",
                "The gateway could not reach the CRM. It may be restarting; try again in a minute. If this keeps happening, contact your administrator.",
            ),
            GatewayError::UpstreamTimeout(_) => (
                "The CRM is not answering",
                "The CRM took too long to answer. Try again in a minute. If this keeps happening, contact your administrator.",
            ),
            GatewayError::NotFound => ("Page not found", "There is no such page on the gateway."),
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
        let (title, message) = err.page_text();
        assert!(!title.contains("10.0.0.5") && !message.contains("10.0.0.5"));
    }
}
