//! Fitting into real networks: behind a load balancer in TCP mode that
//! sends the PROXY protocol (a real HAProxy from Debian), the address it
//! carries is the client's for every rule, and no one else can claim one.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;

use crate::support::gateway::{Settings, TestGateway};
use crate::support::redis::free_port;
use crate::support::RecordingUpstream;

/// HAProxy in TCP mode: one frontend sending PROXY v1, one sending v2,
/// both to the gateway. Stopped when dropped.
struct Haproxy {
    child: Child,
    v1: SocketAddr,
    v2: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    fn start(gateway: SocketAddr) -> Haproxy {
        let dir = tempfile::tempdir().unwrap();
        let (v1, v2): (SocketAddr, SocketAddr) = (
            format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            format!("127.0.0.1:{}", free_port()).parse().unwrap(),
        );
        let config = format!(
            "global\n  nbthread 1\n\
             defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
             listen v1\n  bind {v1}\n  server gateway {gateway} send-proxy\n\
             listen v2\n  bind {v2}\n  server gateway {gateway} send-proxy-v2\n"
        );
        let file = dir.path().join("haproxy.cfg");
        std::fs::write(&file, config).unwrap();
        let child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy is missing: scripts/test installs it (apt-get install haproxy)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(v2).is_err() || std::net::TcpStream::connect(v1).is_err() {
            assert!(Instant::now() < deadline, "haproxy did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Haproxy {
            child,
            v1,
            v2,
            _dir: dir,
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `path` over TLS to `to`, from the loopback address `from`, with
/// `before` written ahead of the handshake; the status, or None when the
/// connection was closed without an answer.
async fn get_from(gateway: &TestGateway, from: &str, to: SocketAddr, before: &[u8], path: &str) -> Option<u16> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let mut tcp = socket.connect(to).await.unwrap();
    tcp.write_all(before).await.unwrap();
    let connector = TlsConnector::from(gateway.pki.client_config(&[b"http/1.1"]));
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), tls.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_haproxy_the_proxy_protocol_address_is_the_client_for_every_rule() {
    let upstream = RecordingUpstream::start().await;
    let mut settings = Settings::new(upstream.url());
    // HAProxy connects from 127.0.0.1; the one client allowed is 127.0.0.2.
    settings.extra_listen = "  proxy_protocol: [127.0.0.1]\n".into();
    settings.policy = "client_types: { web: { login: passthrough } }\naccess: { web: [127.0.0.2] }\n".into();
    let gateway = TestGateway::start(settings).await;
    let haproxy = Haproxy::start(gateway.addr);

    for (version, balancer) in [("v1", haproxy.v1), ("v2", haproxy.v2)] {
        assert_eq!(
            get_from(&gateway, "127.0.0.2", balancer, b"", "/in").await,
            Some(200),
            "{version}"
        );
        let seen = upstream.last();
        assert_eq!(seen.uri.path(), "/in");
        assert_eq!(
            seen.headers["x-forwarded-for"], "127.0.0.2",
            "{version}: the CRM sees the client"
        );
        // Another client through the same balancer is judged as itself.
        assert_eq!(
            get_from(&gateway, "127.0.0.3", balancer, b"", "/other").await,
            Some(403),
            "{version}"
        );
    }

    // The balancer's address without a header: closed, nothing forwarded.
    let before = upstream.seen().len();
    assert_eq!(
        get_from(&gateway, "127.0.0.1", gateway.addr, b"", "/direct").await,
        None
    );
    // A header from anyone else: closed too (they speak TLS from the first byte).
    let forged = b"PROXY TCP4 127.0.0.2 127.0.0.1 40000 443\r\n";
    assert_eq!(
        get_from(&gateway, "127.0.0.3", gateway.addr, forged, "/forged").await,
        None
    );
    // A malformed one from the balancer's address: closed.
    let broken = b"PROXY TCP4 nonsense\r\n";
    assert_eq!(
        get_from(&gateway, "127.0.0.1", gateway.addr, broken, "/broken").await,
        None
    );
    // Without a header, a client that is not a balancer is judged as itself.
    assert_eq!(
        get_from(&gateway, "127.0.0.2", gateway.addr, b"", "/plain").await,
        Some(200)
    );
    let paths: Vec<String> = upstream.seen()[before..]
        .iter()
        .map(|s| s.uri.path().to_owned())
        .collect();
    assert_eq!(paths, ["/plain"], "only the plain request reached the CRM");
}
