//! A real HTTP/1.1 upstream that records exactly what the gateway forwarded.
//!
//! Routes: `/echo` streams the request body back; `/count` counts the request
//! body and answers with the count; `/download?bytes=N` streams N bytes;
//! `/slow?ms=N` answers after N ms; `/ws` is a WebSocket echo; `/truncated`
//! breaks off in the middle of its body; anything else answers
//! `hello from upstream`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body::{Body, Frame};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What one request looked like when it reached the upstream.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

pub struct RecordingUpstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

type UpError = Box<dyn std::error::Error + Send + Sync>;
type UpBody = BoxBody<Bytes, UpError>;

impl RecordingUpstream {
    pub async fn start() -> RecordingUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let recorder = recorder.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let recorder = recorder.clone();
                        async move { Ok::<_, Infallible>(respond(req, &recorder).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        RecordingUpstream { addr, seen, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request the upstream has received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the upstream received no request")
    }
}

impl Drop for RecordingUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn respond(mut req: Request<Incoming>, recorder: &Mutex<Vec<Seen>>) -> Response<UpBody> {
    recorder.lock().unwrap().push(Seen {
        method: req.method().clone(),
        uri: req.uri().clone(),
        version: req.version(),
        headers: req.headers().clone(),
    });
    let query_number = |req: &Request<Incoming>, key: &str| -> u64 {
        req.uri()
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix(&format!("{key}="))))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    match req.uri().path() {
        "/echo" => Response::new(req.into_body().map_err(Into::into).boxed()),
        "/count" => {
            let mut body = req.into_body();
            let mut total = 0u64;
            // A body that breaks off (as the gateway cuts off a stalled
            // client) ends the count; the answer then goes nowhere.
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    total += data.len() as u64;
                }
            }
            text(total.to_string())
        }
        "/download" => Response::new(
            Zeros::new(query_number(&req, "bytes"))
                .map_err(|never| match never {})
                .boxed(),
        ),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(query_number(&req, "ms"))).await;
            text("slow hello".into())
        }
        "/ws" => websocket_echo(&mut req),
        // Promises 100,000 bytes, sends 10, then the connection drops: a CRM
        // that dies in the middle of an answer.
        "/truncated" => {
            // Ten bytes go out (the pause lets them leave), then the CRM dies.
            let frames = futures_util::stream::unfold(0, |step| async move {
                match step {
                    0 => Some((Ok(Frame::data(Bytes::from_static(b"0123456789"))), 1)),
                    1 => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Some((Err::<Frame<Bytes>, UpError>("the CRM crashed".into()), 2))
                    }
                    _ => None,
                }
            });
            Response::new(BodyExt::boxed(http_body_util::StreamBody::new(frames)))
        }
        _ => text("hello from upstream".into()),
    }
}

fn text(body: String) -> Response<UpBody> {
    Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed())
}

fn websocket_echo(req: &mut Request<Incoming>) -> Response<UpBody> {
    let key = req.headers()["sec-websocket-key"].as_bytes().to_vec();
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let upgraded = on_upgrade.await.unwrap();
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            None,
        )
        .await;
        while let Some(Ok(message)) = ws.next().await {
            if message.is_text() || message.is_binary() {
                ws.send(message).await.unwrap();
            }
        }
    });
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
    let mut response = Response::new(Full::new(Bytes::new()).map_err(|never| match never {}).boxed());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    response.headers_mut().insert("connection", "upgrade".parse().unwrap());
    response.headers_mut().insert("upgrade", "websocket".parse().unwrap());
    response
        .headers_mut()
        .insert("sec-websocket-accept", accept.parse().unwrap());
    response
}

/// A body of `remaining` zero bytes in 64 KiB frames, made on the fly so the
/// test itself holds no large buffer.
pub struct Zeros {
    remaining: u64,
    chunk: Bytes,
}

impl Zeros {
    pub fn new(bytes: u64) -> Zeros {
        Zeros {
            remaining: bytes,
            chunk: Bytes::from(vec![0u8; 64 * 1024]),
        }
    }
}

impl Body for Zeros {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(self.chunk.len() as u64) as usize;
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }
}
