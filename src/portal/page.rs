//! HTML pages the gateway renders itself: plain, accessible, no JavaScript,
//! no third-party assets, and headers that keep them out of caches and frames.

use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

pub const STYLESHEET: &str = include_str!("assets/portcullis.css");

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An error or notice page: a title, one paragraph, and a reference the user
/// can quote to their administrator.
pub fn error(
    status: StatusCode,
    title: &str,
    message: &str,
    request_id: crate::proxy::request_id::RequestId,
) -> Response<Full<Bytes>> {
    let body = format!(
        "<p>{}</p>\n<p class=\"reference\">Reference: {request_id} · {}</p>",
        escape(message),
        status.as_u16()
    );
    render(status, title, &body)
}

/// Wrap `body_html` (already escaped) in the portal's layout.
pub fn render(status: StatusCode, title: &str, body_html: &str) -> Response<Full<Bytes>> {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · Portcullis</title>\n\
         <link rel=\"stylesheet\" href=\"/.portcullis/assets/portcullis.css\">\n\
         <link rel=\"stylesheet\" href=\"/.portcullis/assets/brand.css\">\n</head>\n\
         <body>\n<main class=\"card\">\n<p class=\"brand\"><span>Portcullis</span></p>\n<h1>{title}</h1>\n{body_html}\n</main>\n</body>\n</html>\n",
        title = escape(title),
    );
    let mut response = Response::new(Full::new(Bytes::from(html)));
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

/// Escape text for HTML element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn pages_are_not_cached_or_framed() {
        let id = crate::proxy::request_id::RequestIds::for_workers(1).remove(0).next();
        let response = error(StatusCode::BAD_GATEWAY, "Down", "<script>", id);
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        assert!(response.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
    }
}
