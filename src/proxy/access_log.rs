//! One access-log line per request (target `access`), written when the
//! response body has been sent, so that duration and bytes are the real
//! ones. The query string is not logged: it may carry tokens.
//!
//! The line looks exactly like a tracing event's in the chosen format, but
//! is formatted here (see [`AccessLog`] for why).

use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use std::io::Write;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};

use crate::clock;
use crate::telemetry::{AccessLog, LogFormat};

pub struct Record {
    pub request_id: crate::request_id::RequestId,
    pub method: Method,
    pub path: String,
    pub client_ip: IpAddr,
    pub started: Instant,
    /// What the gateway did: `allow`, `login`, `deny`… (as in the metrics).
    pub decision: &'static str,
    /// `-` until the client type is known.
    pub client_type: String,
    /// The signed-in user, if anyone was.
    pub user: Option<String>,
}

/// A response body that counts what it sends and logs the request when done.
pub struct Logged<B> {
    inner: B,
    bytes: u64,
    status: StatusCode,
    record: Option<Record>,
    log: AccessLog,
}

pub fn wrap<B>(response: Response<B>, record: Record, log: &AccessLog) -> Response<Logged<B>> {
    let status = response.status();
    response.map(|inner| Logged {
        inner,
        bytes: 0,
        status,
        record: Some(record),
        log: log.clone(),
    })
}

impl<B: Body<Data = Bytes> + Unpin> Body for Logged<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.bytes += data.len() as u64;
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for Logged<B> {
    fn drop(&mut self) {
        let Some(r) = self.record.take() else { return };
        let duration_ms = (r.started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        match &self.log {
            AccessLog::Off => {}
            AccessLog::Tracing => tracing::info!(
                target: "access",
                request_id = %r.request_id,
                method = %r.method,
                path = %r.path,
                status = self.status.as_u16(),
                client_ip = %r.client_ip,
                duration_ms,
                bytes = self.bytes,
                decision = r.decision,
                client_type = %r.client_type,
                user = r.user.as_deref().unwrap_or("-"),
            ),
            direct => direct.write_with(|out, format| {
                let _ = write_line(
                    out,
                    format,
                    clock::now(),
                    &r,
                    self.status.as_u16(),
                    duration_ms,
                    self.bytes,
                );
            }),
        }
    }
}

/// The line tracing's formatters would write for the same event.
fn write_line(
    out: &mut Vec<u8>,
    format: LogFormat,
    now: std::time::SystemTime,
    r: &Record,
    status: u16,
    duration_ms: f64,
    bytes: u64,
) -> std::io::Result<()> {
    let time = humantime::format_rfc3339_micros(now);
    match format {
        LogFormat::Json => {
            write!(
                out,
                "{{\"timestamp\":\"{time}\",\"level\":\"INFO\",\"request_id\":\"{}\",\"method\":\"",
                r.request_id
            )?;
            json_escape(out, r.method.as_str());
            out.extend_from_slice(b"\",\"path\":\"");
            json_escape(out, &r.path);
            write!(
                out,
                "\",\"status\":{status},\"client_ip\":\"{}\",\"duration_ms\":{duration_ms},\"bytes\":{bytes},\"decision\":\"{}\",\"client_type\":\"",
                r.client_ip, r.decision
            )?;
            json_escape(out, &r.client_type);
            out.extend_from_slice(b"\",\"user\":\"");
            json_escape(out, r.user.as_deref().unwrap_or("-"));
            writeln!(out, "\",\"target\":\"access\"}}")
        }
        LogFormat::Human => writeln!(
            out,
            "{time}  INFO access: request_id={} method={} path={} status={status} client_ip={} duration_ms={duration_ms} bytes={bytes} decision={} client_type={} user={}",
            r.request_id, r.method, r.path, r.client_ip, r.decision, r.client_type, r.user.as_deref().unwrap_or("-")
        ),
    }
}

/// Escape for a JSON string: quotes, backslashes and control characters.
fn json_escape(out: &mut Vec<u8>, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_parse_and_carry_every_field() {
        let id = crate::request_id::RequestIds::for_workers(1).remove(0).next();
        let record = Record {
            request_id: id,
            method: Method::POST,
            path: "/a\"b\\c".into(),
            client_ip: "198.51.100.7".parse().unwrap(),
            started: Instant::now(),
            decision: "deny",
            client_type: "web".into(),
            user: Some("bob \"b\"".into()),
        };
        let mut out = Vec::new();
        let now = humantime::parse_rfc3339("2026-11-22T12:00:00.123456Z").unwrap();
        write_line(&mut out, LogFormat::Json, now, &record, 403, 1.25, 512).unwrap();
        assert_eq!(out.last(), Some(&b'\n'));
        let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(line["timestamp"], "2026-11-22T12:00:00.123456Z");
        assert_eq!(line["target"], "access");
        assert_eq!(line["request_id"], id.to_string());
        assert_eq!(line["path"], "/a\"b\\c");
        assert_eq!(line["status"], 403);
        assert_eq!(line["client_ip"], "198.51.100.7");
        assert_eq!(line["duration_ms"], 1.25);
        assert_eq!(line["bytes"], 512);
        assert_eq!(line["decision"], "deny");
        assert_eq!(line["client_type"], "web");
        assert_eq!(line["user"], "bob \"b\"");
    }

    #[test]
    fn human_lines_read_like_tracing_ones() {
        let id = crate::request_id::RequestIds::for_workers(1).remove(0).next();
        let record = Record {
            request_id: id,
            method: Method::GET,
            path: "/contacts".into(),
            client_ip: "127.0.0.1".parse().unwrap(),
            started: Instant::now(),
            decision: "allow",
            client_type: "web".into(),
            user: None,
        };
        let mut out = Vec::new();
        let now = humantime::parse_rfc3339("2026-11-22T12:00:00Z").unwrap();
        write_line(&mut out, LogFormat::Human, now, &record, 200, 0.5, 836).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("2026-11-22T12:00:00.000000Z  INFO access: request_id={id} method=GET path=/contacts status=200 client_ip=127.0.0.1 duration_ms=0.5 bytes=836 decision=allow client_type=web user=-\n")
        );
    }
}
