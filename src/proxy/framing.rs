//! Phase 0: refuse requests whose framing two HTTP parsers could read two
//! ways (the root of request smuggling). hyper already rejects most; this
//! check makes the rule ours and explicit, before anything is forwarded.

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, Version};

/// Why a request was refused as malformed. Shown to no one but the log; the
/// client gets a generic 400 page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("both Content-Length and Transfer-Encoding")]
    LengthAndChunked,
    #[error("more than one Content-Length, or one that is not a number")]
    ContentLength,
    #[error("a Transfer-Encoding other than a single `chunked`")]
    TransferEncoding,
    #[error("more than one Host header")]
    Host,
    #[error("an X-Forwarded-For from a trusted proxy that is not a list of addresses")]
    ForwardedFor,
}

pub fn check(version: Version, headers: &HeaderMap) -> Result<(), Malformed> {
    let lengths = headers.get_all(CONTENT_LENGTH).iter().count();
    let encodings: Vec<_> = headers.get_all(TRANSFER_ENCODING).iter().collect();
    if lengths > 0 && !encodings.is_empty() {
        return Err(Malformed::LengthAndChunked);
    }
    if lengths > 1 {
        return Err(Malformed::ContentLength);
    }
    if let Some(length) = headers.get(CONTENT_LENGTH) {
        let digits = length.as_bytes();
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(Malformed::ContentLength);
        }
    }
    match encodings.as_slice() {
        [] => {}
        [only] if version == Version::HTTP_11 && only.as_bytes().eq_ignore_ascii_case(b"chunked") => {}
        _ => return Err(Malformed::TransferEncoding),
    }
    if headers.get_all(HOST).iter().count() > 1 {
        return Err(Malformed::Host);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn plain_requests_pass() {
        assert_eq!(check(Version::HTTP_11, &headers(&[("content-length", "12")])), Ok(()));
        assert_eq!(
            check(Version::HTTP_11, &headers(&[("transfer-encoding", "Chunked")])),
            Ok(())
        );
        assert_eq!(check(Version::HTTP_2, &headers(&[])), Ok(()));
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        let both = headers(&[("content-length", "5"), ("transfer-encoding", "chunked")]);
        assert_eq!(check(Version::HTTP_11, &both), Err(Malformed::LengthAndChunked));
        let twice = headers(&[("content-length", "5"), ("content-length", "5")]);
        assert_eq!(check(Version::HTTP_11, &twice), Err(Malformed::ContentLength));
        let signed = headers(&[("content-length", "+5")]);
        assert_eq!(check(Version::HTTP_11, &signed), Err(Malformed::ContentLength));
        let gzip = headers(&[("transfer-encoding", "gzip, chunked")]);
        assert_eq!(check(Version::HTTP_11, &gzip), Err(Malformed::TransferEncoding));
        let old = headers(&[("transfer-encoding", "chunked")]);
        assert_eq!(check(Version::HTTP_10, &old), Err(Malformed::TransferEncoding));
        let hosts = headers(&[("host", "a"), ("host", "b")]);
        assert_eq!(check(Version::HTTP_11, &hosts), Err(Malformed::Host));
    }
}
