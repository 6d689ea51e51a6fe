//! Phase 0: refuse HTTP/1 requests whose framing two parsers could read two
//! ways (the root of request smuggling), before hyper or the CRM sees them.
//!
//! hyper follows RFC 9112 §6.3 and quietly resolves `Content-Length` plus
//! `Transfer-Encoding` (the latter wins) and merges duplicate equal lengths,
//! so by the time a request reaches the pipeline the evidence is gone. The
//! RFC says such a message "ought to be handled as an error"; we do, on the
//! wire: [`Guard`] wraps each HTTP/1 connection, parses every request head
//! with httparse (the parser hyper uses, so both agree where a head ends),
//! applies [`check`] to the raw headers, and skips bodies by their framing.
//! A refused head is replaced by an invalid request line, so hyper answers
//! its own 400 and closes the connection; nothing is forwarded.
//!
//! Upgrades are the one way out of HTTP on a connection, so only a
//! WebSocket upgrade without a body gets that far (CONNECT and any other
//! `Upgrade`, such as `h2c`, are refused), and what follows its head is held
//! back until the gateway has actually switched protocols for it
//! ([`UpgradeSignal`]). If it did not (the policy refused, or the CRM
//! answered otherwise) the connection closes after the answer: the bytes
//! held back are never read as requests nobody inspected.
//!
//! HTTP/2 needs no guard: the h2 crate refuses `Transfer-Encoding` and
//! connection-specific headers, and checks `Content-Length` against the
//! data frames.

use std::sync::atomic::{AtomicBool, Ordering};

mod guard;
#[cfg(test)]
mod tests;

pub use guard::Guard;

/// Why a request was refused as malformed. Only the log sees the reason;
/// the client gets a generic 400 page.
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
    #[error("a request head that does not parse")]
    Syntax,
    #[error("a chunk-size or trailer line that does not parse or is too long")]
    Chunk,
    #[error("an X-Forwarded-For from a trusted proxy that is not a list of addresses")]
    ForwardedFor,
    #[error(
        "a method with lower-case letters (methods are case-sensitive; route rules would not see `delete` as DELETE)"
    )]
    MethodCase,
    #[error("CONNECT (the gateway is no tunnel)")]
    Connect,
    #[error("an Upgrade other than a WebSocket handshake without a body")]
    Upgrade,
    #[error("a Host that differs from the request's authority (absolute-form or :authority)")]
    Authority,
    #[error("no Host")]
    NoHost,
    /// A forward-auth question that does not name one request plainly.
    #[error("a forward-auth question with a bad {0}")]
    ForwardAuth(&'static str),
}

/// Set by the gateway once it has switched a connection's protocol (a
/// WebSocket answered 101 by the CRM): only then do the bytes after an
/// upgrade request pass, uninspected.
#[derive(Debug, Default)]
pub struct UpgradeSignal(AtomicBool);

impl UpgradeSignal {
    pub fn switched(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn has_switched(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// How the body of an accepted request is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
}

/// The framing rules, on raw header lines as they came off the wire.
pub fn check<'a>(http11: bool, headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Result<Framing, Malformed> {
    let mut length: Option<u64> = None;
    let mut lengths = 0;
    let mut encodings = 0;
    let mut chunked = false;
    let mut hosts = 0;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("content-length") {
            lengths += 1;
            if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
                return Err(Malformed::ContentLength);
            }
            length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            encodings += 1;
            chunked = value.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        }
    }
    if lengths > 0 && encodings > 0 {
        return Err(Malformed::LengthAndChunked);
    }
    if lengths > 1 {
        return Err(Malformed::ContentLength);
    }
    if encodings > 1 || (encodings == 1 && (!chunked || !http11)) {
        return Err(Malformed::TransferEncoding);
    }
    if hosts > 1 {
        return Err(Malformed::Host);
    }
    Ok(if chunked {
        Framing::Chunked
    } else {
        Framing::Length(length.unwrap_or(0))
    })
}
