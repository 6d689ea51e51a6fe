//! The test harness: real parts on loopback, nothing mocked.

pub mod browser;
pub mod caddy;
pub mod directory;
pub mod disk;
pub mod gateway;
pub mod idp;
pub mod mail;
pub mod nginx;
pub mod pki;
pub mod process;
pub mod redis;
pub mod upstream;

pub use gateway::{Settings, TestGateway};
pub use upstream::RecordingUpstream;

/// Start an upstream and a gateway in front of it with default settings.
pub async fn gateway_and_upstream() -> (TestGateway, RecordingUpstream) {
    let upstream = RecordingUpstream::start().await;
    let gateway = TestGateway::start(Settings::new(upstream.url())).await;
    (gateway, upstream)
}

/// GET over plain HTTP/1.1 (the admin listener), one connection per call:
/// the status and the body.
pub async fn plain_get(port: u16, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

/// The value of one series (name and labels, as written) in Prometheus text.
pub fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}
