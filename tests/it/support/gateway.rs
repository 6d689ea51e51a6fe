//! The real gateway, in-process on port 0, configured from YAML as ops would
//! write it, in front of a [`RecordingUpstream`]; plus TLS clients for it.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use portcullis::clock::Clock;
use portcullis::live::Live;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::pki::TestPki;

/// Settings a test may change; everything else is the base YAML.
pub struct Settings {
    pub upstream_url: String,
    pub extra_upstream: String,
    pub extra_top: String,
    pub extra_limits: String,
    /// The policy part of the YAML; by default everyone passes.
    pub policy: String,
    /// Files written next to the config before it is loaded (a logo…).
    pub files: Vec<(String, Vec<u8>)>,
    /// More lines under `listen:`, indented by two spaces.
    pub extra_listen: String,
}

/// A policy that lets every request through, for tests about the proxy itself.
pub const OPEN_POLICY: &str = "client_types: { web: { login: passthrough } }\naccess: { web: any }\n";

impl Settings {
    pub fn new(upstream_url: impl Into<String>) -> Settings {
        Settings {
            upstream_url: upstream_url.into(),
            extra_upstream: String::new(),
            extra_top: String::new(),
            extra_limits: String::new(),
            policy: OPEN_POLICY.into(),
            files: Vec::new(),
            extra_listen: String::new(),
        }
    }

    pub fn yaml(&self) -> String {
        format!(
            "listen:\n  address: \"127.0.0.1:0\"\n  tls: {{ cert: server.pem, key: server.key }}\n{}\
             upstream:\n  url: \"{}\"\n  connect_timeout: 1s\n  response_timeout: 2s\n{}\
             limits:\n  header_read_timeout: 1s\n  shutdown_grace: 5s\n{}{}{}",
            self.extra_listen, self.upstream_url, self.extra_upstream, self.extra_limits, self.extra_top, self.policy
        )
    }
}

pub struct TestGateway {
    pub addr: SocketAddr,
    pub pki: TestPki,
    /// The gateway's clock: tests move it forward instead of sleeping.
    pub clock: Clock,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<()>>,
}

impl TestGateway {
    pub async fn start(settings: Settings) -> TestGateway {
        let pki = TestPki::new();
        // As ops would: a key file for sealing TOTP secrets, next to the config.
        portcullis::auth::credentials::SecretsKey::create(&pki.path().join("secrets.key")).unwrap();
        for (name, bytes) in &settings.files {
            std::fs::write(pki.path().join(name), bytes).unwrap();
        }
        // As ops would: the config in a file, which the gateway follows
        // (live reload) and the admin commands read.
        let file = pki.path().join("portcullis.yaml");
        std::fs::write(&file, settings.yaml()).unwrap();
        let live = Live::load(&file).unwrap_or_else(|err| panic!("{err}"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let clock = Clock::adjustable();
        let gateway_clock = clock.clone();
        let task = tokio::spawn(async move {
            portcullis::app::run(
                live,
                listener,
                portcullis::telemetry::AccessLog::Tracing,
                gateway_clock,
                async {
                    let _ = rx.await;
                },
            )
            .await
            .unwrap();
        });
        TestGateway {
            addr,
            pki,
            clock,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// The config file the gateway follows.
    pub fn config_file(&self) -> std::path::PathBuf {
        self.pki.path().join("portcullis.yaml")
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    /// Begin graceful shutdown; `task` finishes when it is done.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// An HTTPS client trusting the test CA that speaks HTTP/1.1.
    pub fn client(&self) -> TestClient {
        TestClient::new(&self.pki, false)
    }

    /// An HTTPS client that speaks only HTTP/2.
    pub fn client_h2(&self) -> TestClient {
        TestClient::new(&self.pki, true)
    }

    /// A raw TLS connection for hand-written requests.
    pub async fn raw(&self) -> TlsStream<TcpStream> {
        let connector = TlsConnector::from(self.pki.client_config(&[b"http/1.1"]));
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap()
    }

    /// Send raw bytes over TLS and read until the gateway closes or stops
    /// talking for a second; returns what came back.
    pub async fn send_raw(&self, request: &[u8]) -> String {
        let mut tls = self.raw().await;
        tls.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(1), tls.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

pub type HttpsClient<B> = Client<hyper_rustls::HttpsConnector<HttpConnector>, B>;

pub struct TestClient {
    client: HttpsClient<http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>>,
}

/// A response with its body read to the end.
pub struct Answer {
    pub status: u16,
    pub version: http::Version,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

impl TestClient {
    fn new(pki: &TestPki, h2: bool) -> TestClient {
        // hyper-rustls sets ALPN itself from enable_http1/enable_http2.
        TestClient::with_tls((*pki.client_config(&[])).clone(), h2)
    }

    /// An HTTP/1.1 client trusting the test CA.
    pub fn trusting(pki: &TestPki) -> TestClient {
        TestClient::new(pki, false)
    }

    /// An HTTP/1.1 client trusting one PEM certificate (a self-signed one).
    pub fn trusting_file(cert: &std::path::Path) -> TestClient {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(cert).unwrap()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TestClient::with_tls(config, false)
    }

    fn with_tls(config: rustls::ClientConfig, h2: bool) -> TestClient {
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only();
        let connector = if h2 {
            builder.enable_http2().build()
        } else {
            builder.enable_http1().build()
        };
        let client = Client::builder(TokioExecutor::new()).http2_only(h2).build(connector);
        TestClient { client }
    }

    pub async fn get(&self, url: &str) -> Answer {
        self.send(Request::get(url).body(()).unwrap()).await
    }

    pub async fn send(&self, request: Request<()>) -> Answer {
        let (parts, ()) = request.into_parts();
        let request = Request::from_parts(parts, Empty::new().boxed());
        read(
            self.client
                .request(request)
                .await
                .expect("request through the gateway failed"),
        )
        .await
    }

    /// Send, and read the whole answer; `Err` says why either failed.
    pub async fn try_send(&self, request: Request<()>) -> Result<StatusCode, String> {
        let (parts, ()) = request.into_parts();
        let request = Request::from_parts(parts, Empty::new().boxed());
        let response = self.client.request(request).await.map_err(|e| format!("{e:?}"))?;
        let status = response.status();
        response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the body: {e}"))?;
        Ok(status)
    }

    /// Send with a complete body; return the response unread.
    pub async fn send_full(&self, request: Request<http_body_util::Full<Bytes>>) -> Response<hyper::body::Incoming> {
        let (parts, body) = request.into_parts();
        let body = body.map_err(|never| match never {}).boxed();
        self.client
            .request(Request::from_parts(parts, body))
            .await
            .expect("request through the gateway failed")
    }

    /// Send with a streaming body; return the response unread.
    pub async fn send_body<B>(&self, request: Request<B>) -> Response<hyper::body::Incoming>
    where
        B: http_body::Body<Data = Bytes, Error = std::convert::Infallible> + Send + Sync + 'static,
    {
        let (parts, body) = request.into_parts();
        self.client
            .request(Request::from_parts(parts, body.boxed()))
            .await
            .expect("request through the gateway failed")
    }
}

pub async fn read(response: Response<hyper::body::Incoming>) -> Answer {
    let status = response.status().as_u16();
    let version = response.version();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        version,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}
