//! Cookie headers from anyone: finding ours never panics, and a session id
//! is either 64 hex digits that round-trip, or no session.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::portal::login::{cookie, SESSION_COOKIE};
use portcullis::session::SessionId;

fuzz_target!(|bytes: &[u8]| {
    let Ok(value) = http::HeaderValue::from_bytes(bytes) else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    headers.append(http::header::COOKIE, value);
    if let Some(found) = cookie(&headers, SESSION_COOKIE) {
        if let Some(id) = SessionId::from_cookie(found) {
            assert_eq!(id.to_cookie(), found.to_ascii_lowercase());
        }
    }
});
