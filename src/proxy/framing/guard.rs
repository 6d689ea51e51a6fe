//! [`Guard`]: the framing check on the wire. It parses each HTTP/1 request
//! head as it arrives, applies [`check`], skips the body by its framing, and
//! holds back what follows a WebSocket handshake until the upgrade happens.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{check, Framing, Malformed, UpgradeSignal};

/// What hyper is fed in place of a refused head: not a request line, so
/// hyper answers 400 Bad Request and closes.
pub(super) const REFUSED: &[u8] = b"\x00refused\r\n\r\n";

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
    pub(super) held: Vec<u8>,
    /// Bytes cleared for hyper, not yet read by it.
    pub(super) ready: Vec<u8>,
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
    pub(super) fn feed(&mut self, mut input: &[u8]) {
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
pub(super) fn chunk_size(line: &[u8]) -> Option<u64> {
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
