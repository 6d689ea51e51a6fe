//! The HTTP/1 framing guard, fed any bytes in any pieces. Never a panic, and
//! what hyper is given matches a second, whole-buffer reading of the same
//! bytes: every request is passed untouched up to the first one the rules
//! refuse (then an invalid line, and nothing more), or that is too large
//! (then hyper is given its start, never its end, to answer 431, and nothing
//! more), or that is a WebSocket handshake (then nothing more: no switch
//! comes in this harness). So how a stream is cut into reads cannot change
//! what is inspected.
#![no_main]
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use portcullis::proxy::framing::{check, Framing, Guard};
use tokio::io::{AsyncRead, ReadBuf};

const MAX_HEAD: usize = 256;
const MAX_HEADERS: usize = 8;
const REFUSED: &[u8] = b"\x00refused\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let given = screened(stream, seed);
    match reference(stream) {
        End::Whole => assert_eq!(given, stream, "every byte passes"),
        End::Refused(at) => assert_eq!(given, [&stream[..at], REFUSED].concat(), "refused at {at}"),
        End::Upgrade(at) => assert_eq!(given, &stream[..at], "held after the handshake ending at {at}"),
        End::TooLarge { at, by_count } => {
            assert!(
                stream.starts_with(&given),
                "a large head at {at} is passed as it came, but hyper was given {:?}",
                String::from_utf8_lossy(&given)
            );
            assert!(given.len() > at, "the large head at {at} reaches hyper");
            if !by_count {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let parsed = httparse::Request::new(&mut headers).parse(&given[at..]);
                assert!(
                    !matches!(parsed, Ok(httparse::Status::Complete(_))),
                    "hyper was given the whole of a head too large"
                );
            }
        }
    }
});

/// What the guard gives hyper when `stream` arrives in pieces of sizes
/// drawn from `seed` (0: all at once).
fn screened(stream: &[u8], seed: u8) -> Vec<u8> {
    let pieces = Pieces {
        rest: stream.to_vec(),
        state: seed as u32,
    };
    let mut guard = Guard::new(pieces, MAX_HEAD, MAX_HEADERS, ([127, 0, 0, 1], 1).into(), Default::default());
    let mut given = Vec::new();
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        let mut space = [0u8; 100];
        let mut buf = ReadBuf::new(&mut space);
        match Pin::new(&mut guard).poll_read(&mut cx, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => return given,
            Poll::Ready(Ok(())) => given.extend_from_slice(buf.filled()),
            Poll::Ready(Err(err)) => panic!("an in-memory read failed: {err}"),
            // Held after a WebSocket handshake, waiting for a switch.
            Poll::Pending => return given,
        }
    }
}

/// A connection that delivers its bytes in pieces of varying sizes.
struct Pieces {
    rest: Vec<u8>,
    state: u32,
}

impl AsyncRead for Pieces {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let size = if self.state == 0 {
            usize::MAX
        } else {
            self.state = self.state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            1 + (self.state >> 16) as usize % 40
        };
        let n = size.min(buf.remaining()).min(self.rest.len());
        buf.put_slice(&self.rest[..n]);
        self.rest.drain(..n);
        Poll::Ready(Ok(()))
    }
}

enum End {
    /// Every byte passes (the stream may end mid-request: hyper waits).
    Whole,
    /// Refused at this offset.
    Refused(usize),
    /// A head too large starts here (by its size, or its count of headers).
    TooLarge { at: usize, by_count: bool },
    /// A WebSocket handshake ends here; what follows waits for the switch.
    Upgrade(usize),
}

/// The framing rules applied to the whole stream at once, as hyper will read
/// it: head, then the body its framing says, then the next head.
fn reference(stream: &[u8]) -> End {
    let mut at = 0;
    loop {
        if at >= stream.len() {
            return End::Whole;
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let window = &stream[at..stream.len().min(at + MAX_HEAD + 1)];
        let len = match request.parse(window) {
            Ok(httparse::Status::Partial) if window.len() > MAX_HEAD => return End::TooLarge { at, by_count: false },
            Ok(httparse::Status::Partial) => return End::Whole,
            Err(httparse::Error::TooManyHeaders) => return End::TooLarge { at, by_count: true },
            Err(_) => return End::Refused(at),
            Ok(httparse::Status::Complete(len)) if len > MAX_HEAD => return End::TooLarge { at, by_count: false },
            Ok(httparse::Status::Complete(len)) => len,
        };
        if request.method == Some("CONNECT") {
            return End::Refused(at);
        }
        let upgrades: Vec<&[u8]> = (request.headers.iter())
            .filter(|h| h.name.eq_ignore_ascii_case("upgrade"))
            .map(|h| h.value)
            .collect();
        let websocket = match upgrades.as_slice() {
            [] => false,
            [value] if value.eq_ignore_ascii_case(b"websocket") => true,
            _ => return End::Refused(at),
        };
        let framing = match check(
            request.version == Some(1),
            request.headers.iter().map(|h| (h.name, h.value)),
        ) {
            Err(_) => return End::Refused(at),
            Ok(framing) => framing,
        };
        at += len;
        match (websocket, framing) {
            (true, Framing::Length(0)) => return End::Upgrade(at),
            (true, _) => return End::Refused(at - len),
            (false, _) => {}
        }
        match framing {
            Framing::Length(n) => at = at.saturating_add(usize::try_from(n).unwrap_or(usize::MAX)),
            Framing::Chunked => loop {
                let Some(line) = line_at(stream, at) else {
                    return unfinished(stream, at);
                };
                if line.len() > MAX_HEAD {
                    return End::Refused(at);
                }
                let Some(size) = chunk_size(line) else {
                    return End::Refused(at);
                };
                at += line.len();
                if size > 0 {
                    // The data, then its CRLF (hyper checks those two bytes).
                    at = at
                        .saturating_add(usize::try_from(size).unwrap_or(usize::MAX))
                        .saturating_add(2);
                    continue;
                }
                // Trailer lines, up to an empty one.
                loop {
                    let Some(line) = line_at(stream, at) else {
                        return unfinished(stream, at);
                    };
                    if line.len() > MAX_HEAD {
                        return End::Refused(at);
                    }
                    at += line.len();
                    if line == b"\n" || line == b"\r\n" {
                        break;
                    }
                }
                break;
            },
        }
    }
}

/// The stream ends inside a chunk-size or trailer line starting at `at`:
/// refused once it is longer than any such line may be.
fn unfinished(stream: &[u8], at: usize) -> End {
    if stream.len().saturating_sub(at) > MAX_HEAD {
        End::Refused(at)
    } else {
        End::Whole
    }
}

/// The line starting at `at`, with its `\n`, if it is complete.
fn line_at(stream: &[u8], at: usize) -> Option<&[u8]> {
    let rest = stream.get(at..)?;
    let end = rest.iter().position(|&b| b == b'\n')?;
    Some(&rest[..=end])
}

/// Hex digits, optional spaces or tabs, then optionally `;` and extensions.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let size = line.split(|&b| b == b';').next()?;
    let mut end = size.len();
    while end > 0 && (size[end - 1] == b' ' || size[end - 1] == b'\t') {
        end -= 1;
    }
    let digits = &size[..end];
    let first = digits.iter().position(|&b| b != b'0').unwrap_or(digits.len());
    if digits.is_empty() || digits.len() - first > 15 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    digits
        .iter()
        .try_fold(0u64, |n, &d| Some(n * 16 + (d as char).to_digit(16)? as u64))
}
