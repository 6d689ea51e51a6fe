//! One access-log line per request (tracing target `access`), written when
//! the response body has been sent, so that duration and bytes are the real
//! ones. The query string is not logged: it may carry tokens.

use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};

pub struct Record {
    pub request_id: u64,
    pub method: Method,
    pub path: String,
    pub client_ip: IpAddr,
    pub started: Instant,
}

/// A response body that counts what it sends and logs the request when done.
pub struct Logged<B> {
    inner: B,
    bytes: u64,
    status: StatusCode,
    record: Option<Record>,
}

pub fn wrap<B>(response: Response<B>, record: Record) -> Response<Logged<B>> {
    let status = response.status();
    response.map(|inner| Logged {
        inner,
        bytes: 0,
        status,
        record: Some(record),
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
        if let Some(r) = self.record.take() {
            tracing::info!(
                target: "access",
                request_id = r.request_id,
                method = %r.method,
                path = %r.path,
                status = self.status.as_u16(),
                client_ip = %r.client_ip,
                duration_ms = (r.started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
                bytes = self.bytes,
            );
        }
    }
}
