//! The framing check and the guard, on bytes as a client sends them.

use std::sync::Arc;

use super::guard::{chunk_size, REFUSED};
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
