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

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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

/// What hyper is fed in place of a refused head: not a request line, so
/// hyper answers 400 Bad Request and closes.
const REFUSED: &[u8] = b"\x00refused\r\n\r\n";

#[derive(Debug)]
enum State {
    /// Collecting a request head in `held` (not yet given to hyper).
    Head,
    /// Content-Length bytes still to pass.
    Body(u64),
    /// Collecting a chunk-size line in `held`.
    ChunkSize,
    ChunkData(u64),
    /// The CRLF after a chunk's data: bytes still to pass.
    ChunkEnd(u8),
    /// Trailer lines after the last chunk, until an empty line.
    Trailers,
    /// After a WebSocket handshake: what follows is held in `held` until
    /// the gateway says it switched protocols (then `Passthrough`).
    UpgradeRequested,
    /// Upgraded: no more HTTP, no more inspection.
    Passthrough,
    /// Handed to hyper to refuse (a bad or oversized head): hyper answers
    /// 400 or 431 and closes; nothing after it reaches hyper.
    Refused,
}

/// An HTTP/1 connection with its request heads checked before hyper reads them.
pub struct Guard<IO> {
    io: IO,
    state: State,
    /// Bytes of a head, chunk-size or trailer line not yet complete.
    held: Vec<u8>,
    /// Bytes cleared for hyper, not yet read by it.
    ready: Vec<u8>,
    ready_from: usize,
    max_head: usize,
    max_headers: usize,
    peer: std::net::SocketAddr,
    upgrade: Arc<UpgradeSignal>,
    /// Set once we have shut down our side and are draining theirs.
    linger: Option<Linger>,
}

impl<IO> Guard<IO> {
    pub fn new(
        io: IO,
        max_head: usize,
        max_headers: usize,
        peer: std::net::SocketAddr,
        upgrade: Arc<UpgradeSignal>,
    ) -> Guard<IO> {
        Guard {
            io,
            state: State::Head,
            held: Vec::new(),
            ready: Vec::new(),
            ready_from: 0,
            max_head,
            max_headers,
            peer,
            upgrade,
            linger: None,
        }
    }

    /// Run newly read bytes through the state machine, moving what is
    /// cleared into `ready`.
    fn feed(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            match self.state {
                State::Refused => return,
                State::UpgradeRequested => {
                    // Held, not inspected: if no switch comes, never read.
                    // Bounded: nothing more is read from the client until
                    // the switch (only the rest of the read the head came in).
                    self.held.extend_from_slice(input);
                    return;
                }
                State::Passthrough | State::Body(_) | State::ChunkData(_) => {
                    let n = self.pass_through(input);
                    self.ready.extend_from_slice(&input[..n]);
                    input = &input[n..];
                }
                State::ChunkEnd(left) => {
                    let n = (left as usize).min(input.len());
                    self.ready.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    self.state = match left as usize - n {
                        0 => State::ChunkSize,
                        rest => State::ChunkEnd(rest as u8),
                    };
                }
                State::Head | State::ChunkSize | State::Trailers => {
                    let taken = self.hold_line_or_head(input);
                    input = &input[taken..];
                }
            }
        }
    }

    /// Hold bytes until a head (or a chunk-size/trailer line) is complete,
    /// then decide. Returns how many input bytes were consumed.
    fn hold_line_or_head(&mut self, input: &[u8]) -> usize {
        let start = self.held.len();
        let end = match self.state {
            State::Head => {
                // A head ends at an empty line; find it in held + input.
                self.held.extend_from_slice(input);
                match self.parse_head() {
                    HeadOutcome::Partial => return input.len(),
                    HeadOutcome::Done { len, next } => {
                        self.ready.extend_from_slice(&self.held[..len]);
                        self.held.clear();
                        self.state = next;
                        return len - start;
                    }
                    HeadOutcome::Refused(reason) => {
                        self.refuse(reason);
                        return input.len();
                    }
                    HeadOutcome::TooLarge => {
                        self.too_large();
                        return input.len();
                    }
                    HeadOutcome::TooManyHeaders => {
                        self.too_many_headers();
                        return input.len();
                    }
                }
            }
            _ => match input.iter().position(|&b| b == b'\n') {
                Some(i) => i + 1,
                None => {
                    self.held.extend_from_slice(input);
                    if self.held.len() > self.max_head {
                        self.refuse(Malformed::Chunk);
                    }
                    return input.len();
                }
            },
        };
        self.held.extend_from_slice(&input[..end]);
        if self.held.len() > self.max_head {
            self.refuse(Malformed::Chunk);
            return end;
        }
        let line = std::mem::take(&mut self.held);
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let next = match self.state {
            State::ChunkSize => match chunk_size(text) {
                Some(0) => State::Trailers,
                Some(size) => State::ChunkData(size),
                None => {
                    // Where the body ends is unknown, so is where the next
                    // request starts: nothing after this can be inspected.
                    self.refuse(Malformed::Chunk);
                    return end;
                }
            },
            _ if text.is_empty() => State::Head, // end of trailers
            _ => State::Trailers,
        };
        self.ready.extend_from_slice(&line);
        self.state = next;
        end
    }

    /// Give hyper what we could not inspect in its place: an invalid
    /// request line, which it answers with 400 before closing.
    fn refuse(&mut self, reason: Malformed) {
        tracing::warn!(peer = %self.peer, %reason, "refused a request with ambiguous framing");
        self.held.clear();
        self.ready.extend_from_slice(REFUSED);
        self.state = State::Refused;
    }

    /// A head over the size limit: hyper is given only its first
    /// `max_head` bytes, which cannot hold the head's end, so it answers
    /// 431 when its buffer (as large) fills. Given the whole head in one
    /// read, hyper would accept it, however large.
    fn too_large(&mut self) {
        self.held.truncate(self.max_head);
        self.ready.append(&mut self.held);
        self.state = State::Refused;
    }

    /// A head with more headers than allowed: hyper has the same limit, so
    /// it is given the head to answer 431 itself.
    fn too_many_headers(&mut self) {
        self.ready.append(&mut self.held);
        self.state = State::Refused;
    }

    fn parse_head(&self) -> HeadOutcome {
        let mut on_stack = [httparse::EMPTY_HEADER; 64];
        let mut on_heap = Vec::new();
        let headers = if self.max_headers <= on_stack.len() {
            &mut on_stack[..self.max_headers]
        } else {
            on_heap.resize(self.max_headers, httparse::EMPTY_HEADER);
            &mut on_heap[..]
        };
        let mut request = httparse::Request::new(headers);
        // Only the first `max_head` bytes (and one more) are judged, so the
        // outcome cannot depend on how the head was cut into reads.
        let window = &self.held[..self.held.len().min(self.max_head + 1)];
        match request.parse(window) {
            Ok(httparse::Status::Partial) if window.len() > self.max_head => HeadOutcome::TooLarge,
            Ok(httparse::Status::Partial) => HeadOutcome::Partial,
            Err(httparse::Error::TooManyHeaders) => HeadOutcome::TooManyHeaders,
            Ok(httparse::Status::Complete(len)) if len > self.max_head => HeadOutcome::TooLarge,
            // Anything our parser cannot read is refused, even if a more
            // lenient one might: what we cannot inspect does not pass.
            Err(_) => HeadOutcome::Refused(Malformed::Syntax),
            Ok(httparse::Status::Complete(len)) => {
                if request.method == Some("CONNECT") {
                    return HeadOutcome::Refused(Malformed::Connect);
                }
                let mut upgrades = request
                    .headers
                    .iter()
                    .filter(|h| h.name.eq_ignore_ascii_case("upgrade"));
                let upgrade = match (upgrades.next(), upgrades.next()) {
                    (None, _) => false,
                    (Some(h), None) if h.value.eq_ignore_ascii_case(b"websocket") => true,
                    _ => return HeadOutcome::Refused(Malformed::Upgrade),
                };
                let http11 = request.version == Some(1);
                match check(http11, request.headers.iter().map(|h| (h.name, h.value))) {
                    Err(reason) => HeadOutcome::Refused(reason),
                    Ok(Framing::Length(0)) if upgrade => HeadOutcome::Done {
                        len,
                        next: State::UpgradeRequested,
                    },
                    Ok(_) if upgrade => HeadOutcome::Refused(Malformed::Upgrade),
                    Ok(Framing::Chunked) => HeadOutcome::Done {
                        len,
                        next: State::ChunkSize,
                    },
                    Ok(Framing::Length(0)) => HeadOutcome::Done { len, next: State::Head },
                    Ok(Framing::Length(n)) => HeadOutcome::Done {
                        len,
                        next: State::Body(n),
                    },
                }
            }
        }
    }
}

enum HeadOutcome {
    Partial,
    Done {
        len: usize,
        next: State,
    },
    Refused(Malformed),
    /// Over the size limit.
    TooLarge,
    /// Over the header-count limit.
    TooManyHeaders,
}

/// The size in a chunk-size line (`1a;ext=1`), or `None` if it is not one.
/// As hyper reads it: hex digits, then optional spaces or tabs before any
/// extension. Sizes of 2^60 bytes and more are refused.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.split(|&b| b == b';').next()?;
    let digits = std::str::from_utf8(digits).ok()?.trim_end_matches([' ', '\t']);
    let significant = digits.trim_start_matches('0');
    if digits.is_empty() || significant.len() > 15 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

impl<IO> Guard<IO> {
    /// How many leading bytes of freshly read `input` may go to hyper as they
    /// are, without holding: body bytes and upgraded streams. Advances the
    /// state over them.
    fn pass_through(&mut self, input: &[u8]) -> usize {
        match self.state {
            State::Passthrough => input.len(),
            State::Body(left) | State::ChunkData(left) => {
                let n = left.min(input.len() as u64);
                let left = left - n;
                self.state = match (&self.state, left) {
                    (State::Body(_), 0) => State::Head,
                    (State::Body(_), _) => State::Body(left),
                    (_, 0) => State::ChunkEnd(2),
                    (_, _) => State::ChunkData(left),
                };
                n as usize
            }
            _ => 0,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guard<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if matches!(this.state, State::UpgradeRequested) {
                if !this.upgrade.has_switched() {
                    if this.ready_from == this.ready.len() {
                        // Nothing to give until the gateway has answered; the
                        // answer (or the switch) wakes whoever reads next.
                        return Poll::Pending;
                    }
                } else {
                    this.state = State::Passthrough;
                    this.ready.append(&mut this.held);
                }
            }
            if this.ready_from < this.ready.len() {
                let n = buf.remaining().min(this.ready.len() - this.ready_from);
                buf.put_slice(&this.ready[this.ready_from..this.ready_from + n]);
                this.ready_from += n;
                if this.ready_from == this.ready.len() {
                    this.ready.clear();
                    this.ready_from = 0;
                }
                return Poll::Ready(Ok(()));
            }
            // Read straight into hyper's buffer; bodies stay there untouched,
            // and only bytes that must be held (heads, chunk-size lines) are
            // taken back out and run through the state machine.
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
            let fresh = &buf.filled()[before..];
            if fresh.is_empty() {
                // End of stream: whatever is held goes to hyper, which sees
                // an incomplete request and closes.
                this.ready.append(&mut this.held);
                if this.ready.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            let passed = this.pass_through(fresh);
            if passed == fresh.len() {
                return Poll::Ready(Ok(()));
            }
            let rest = fresh[passed..].to_vec();
            buf.set_filled(before + passed);
            this.feed(&rest);
            if passed > 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Guard<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Close like nginx's `lingering_close`: after our last response, read
    /// and discard what the client is still sending (bounded in time and
    /// bytes). Closing with unread data makes the kernel send a reset, which
    /// can destroy the response (say, a 431 page) before the client reads it.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.linger.is_none() {
            ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            this.linger = Some(Linger {
                deadline: Box::pin(tokio::time::sleep(LINGER_TIME)),
                drained: 0,
            });
        }
        let Some(linger) = this.linger.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        loop {
            if linger.deadline.as_mut().poll(cx).is_ready() || linger.drained > LINGER_BYTES {
                return Poll::Ready(Ok(()));
            }
            let mut scratch = [0u8; 4096];
            let mut discard = ReadBuf::new(&mut scratch);
            match ready!(Pin::new(&mut this.io).poll_read(cx, &mut discard)) {
                Ok(()) if !discard.filled().is_empty() => linger.drained += discard.filled().len(),
                _ => return Poll::Ready(Ok(())), // the client closed too, or failed
            }
        }
    }
}

const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

struct Linger {
    deadline: Pin<Box<tokio::time::Sleep>>,
    drained: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        pairs.iter().map(|(n, v)| (*n, v.as_bytes()))
    }

    #[test]
    fn plain_framing_is_accepted() {
        assert_eq!(
            check(true, headers(&[("Content-Length", "12")])),
            Ok(Framing::Length(12))
        );
        assert_eq!(
            check(true, headers(&[("transfer-encoding", "Chunked")])),
            Ok(Framing::Chunked)
        );
        assert_eq!(check(true, headers(&[("host", "x")])), Ok(Framing::Length(0)));
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        let cases: &[(&[(&str, &str)], Malformed)] = &[
            (
                &[("content-length", "5"), ("transfer-encoding", "chunked")],
                Malformed::LengthAndChunked,
            ),
            (
                &[("transfer-encoding", "chunked"), ("content-length", "5")],
                Malformed::LengthAndChunked,
            ),
            (
                &[("content-length", "5"), ("content-length", "5")],
                Malformed::ContentLength,
            ),
            (&[("content-length", "+5")], Malformed::ContentLength),
            (&[("content-length", "5, 5")], Malformed::ContentLength),
            (&[("transfer-encoding", "gzip, chunked")], Malformed::TransferEncoding),
            (
                &[("transfer-encoding", "chunked"), ("transfer-encoding", "chunked")],
                Malformed::TransferEncoding,
            ),
            (&[("host", "a"), ("host", "b")], Malformed::Host),
        ];
        for (pairs, expected) in cases {
            assert_eq!(check(true, headers(pairs)), Err(*expected), "{pairs:?}");
        }
        assert_eq!(
            check(false, headers(&[("transfer-encoding", "chunked")])),
            Err(Malformed::TransferEncoding)
        );
    }

    fn guard() -> Guard<()> {
        Guard::new((), 8192, 100, ([127, 0, 0, 1], 1).into(), Arc::default())
    }

    fn fed(parts: &[&[u8]]) -> Vec<u8> {
        let mut g = guard();
        for part in parts {
            g.feed(part);
        }
        g.ready
    }

    #[test]
    fn pipelined_requests_with_bodies_pass_unchanged_however_they_are_split() {
        let stream: &[u8] = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
            POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nworld\r\n0\r\nT: 1\r\n\r\n\
            GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
        for split in 1..stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(fed(&[a, b]), stream, "split at {split}");
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(fed(&bytewise), stream);
    }

    #[test]
    fn a_smuggling_attempt_in_a_later_pipelined_request_is_refused() {
        let out = fed(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"]);
        assert_eq!(out, [&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..], REFUSED].concat());
    }

    #[test]
    fn a_body_that_looks_like_a_request_is_not_inspected() {
        let body = b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let head = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len());
        let out = fed(&[head.as_bytes(), body]);
        assert_eq!(out, [head.as_bytes(), body].concat());
    }

    #[test]
    fn after_a_websocket_handshake_bytes_wait_for_the_switch_and_then_pass_uninspected() {
        let head: &[u8] = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n";
        let mut g = guard();
        g.feed(&[head, b"\x81\x05hello"].concat());
        assert_eq!(g.ready, head, "nothing after the head before the switch");
        assert_eq!(g.held, b"\x81\x05hello");
    }

    #[test]
    fn connect_and_upgrades_other_than_websocket_are_refused() {
        for head in [
            &b"CONNECT crm:443 HTTP/1.1\r\nHost: crm:443\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket, h2c\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nContent-Length: 5\r\n\r\nhello",
        ] {
            assert_eq!(fed(&[head]), REFUSED, "{}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn chunk_sizes_parse_like_hyper() {
        assert_eq!(chunk_size(b"1a"), Some(26));
        assert_eq!(chunk_size(b"0;ext"), Some(0));
        assert_eq!(chunk_size(b"5 \t;ext"), Some(5));
        assert_eq!(
            chunk_size(b"00000000000000005"),
            Some(5),
            "leading zeros are no overflow"
        );
        assert_eq!(chunk_size(b"zz"), None);
        assert_eq!(chunk_size(b""), None);
        assert_eq!(chunk_size(b"+5"), None, "Rust's parser would take it; hyper does not");
        assert_eq!(chunk_size(b" 5"), None);
        assert_eq!(chunk_size(b"1000000000000000"), None, "2^60 bytes");
    }

    #[test]
    fn after_a_chunk_size_line_it_cannot_read_nothing_more_reaches_hyper() {
        let head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        let smuggled = b"GET /admin HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        for bad in [&b"+5\r\n"[..], b"5 5\r\n", &[b'a'; 9000]] {
            let out = fed(&[head, bad, b"hello\r\n0\r\n\r\n", smuggled]);
            assert_eq!(
                out,
                [&head[..], REFUSED].concat(),
                "{:?}",
                String::from_utf8_lossy(&bad[..8])
            );
        }
    }

    #[test]
    fn a_head_too_large_reaches_hyper_only_in_part_and_nothing_after_it() {
        let large = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(9000));
        let next = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
        // Whole or in pieces, hyper gets the head's first 8192 bytes (never
        // its end, so it answers 431), and nothing after it.
        assert_eq!(fed(&[large.as_bytes(), next]), &large.as_bytes()[..8192]);
        let (a, b) = large.as_bytes().split_at(100);
        assert_eq!(fed(&[a, b, next]), &large.as_bytes()[..8192]);
        // Just over the limit, whole: the end of the head is cut off too.
        let edge = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(8192 - 26));
        assert!(edge.len() > 8192 && edge.len() < 8200);
        assert!(!fed(&[edge.as_bytes()]).ends_with(b"\r\n\r\n"));
    }
}
