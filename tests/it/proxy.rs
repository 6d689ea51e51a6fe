//! The gateway as a reverse proxy: what reaches the CRM, and what does not.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use http::Request;
use http_body_util::BodyExt;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use crate::support::upstream::Zeros;
use crate::support::{gateway_and_upstream, RecordingUpstream, Settings, TestGateway};

#[tokio::test]
async fn a_browser_page_is_forwarded_to_the_crm_with_forwarding_headers() {
    let (gateway, upstream) = gateway_and_upstream().await;
    let answer = gateway.client().get(&gateway.url("/contacts?page=2")).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "hello from upstream");
    let seen = upstream.last();
    assert_eq!(seen.uri.path_and_query().unwrap(), "/contacts?page=2");
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-real-ip"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    let host = format!("127.0.0.1:{}", gateway.addr.port());
    assert_eq!(seen.header("host"), Some(host.as_str()), "Host is preserved by default");
    assert_eq!(seen.header("x-forwarded-host"), Some(host.as_str()));
    assert_eq!(
        seen.header("forwarded"),
        Some(format!("for=127.0.0.1;proto=https;host=\"{host}\"").as_str())
    );
}

#[tokio::test]
async fn responses_carry_hsts() {
    let (gateway, _upstream) = gateway_and_upstream().await;
    let answer = gateway.client().get(&gateway.url("/")).await;
    assert_eq!(answer.header("strict-transport-security"), Some("max-age=31536000"));
}

#[tokio::test]
async fn hop_by_hop_headers_stop_at_the_gateway() {
    let (gateway, upstream) = gateway_and_upstream().await;
    let request = Request::get(gateway.url("/"))
        .header("connection", "x-internal-token")
        .header("x-internal-token", "secret")
        .header("proxy-authorization", "Basic abc")
        .header("accept", "text/html")
        .body(())
        .unwrap();
    assert_eq!(gateway.client().send(request).await.status, 200);
    let seen = upstream.last();
    assert_eq!(seen.header("x-internal-token"), None);
    assert_eq!(seen.header("proxy-authorization"), None);
    assert_eq!(seen.header("accept"), Some("text/html"), "end-to-end headers pass");
}

#[tokio::test]
async fn a_client_cannot_choose_its_address_with_x_forwarded_for() {
    let (gateway, upstream) = gateway_and_upstream().await;
    let request = Request::get(gateway.url("/"))
        .header("x-forwarded-for", "193.167.1.70")
        .header("x-real-ip", "193.167.1.70")
        .header("forwarded", "for=193.167.1.70")
        .body(())
        .unwrap();
    assert_eq!(gateway.client().send(request).await.status, 200);
    let seen = upstream.last();
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-real-ip"), Some("127.0.0.1"));
    assert!(!seen.header("forwarded").unwrap().contains("193.167.1.70"));
}

#[tokio::test]
async fn a_trusted_load_balancer_tells_the_gateway_who_the_client_is() {
    let upstream = RecordingUpstream::start().await;
    let mut settings = Settings::new(upstream.url());
    settings.extra_top = "trusted_proxies: [127.0.0.1]\n".into();
    let gateway = TestGateway::start(settings).await;
    let request = Request::get(gateway.url("/"))
        .header("x-forwarded-for", "1.2.3.4, 203.0.113.9")
        .body(())
        .unwrap();
    assert_eq!(gateway.client().send(request).await.status, 200);
    let seen = upstream.last();
    assert_eq!(
        seen.header("x-real-ip"),
        Some("203.0.113.9"),
        "rightmost untrusted address"
    );
    assert_eq!(seen.header("x-forwarded-for"), Some("1.2.3.4, 203.0.113.9, 127.0.0.1"));
    assert!(seen.header("forwarded").unwrap().starts_with("for=203.0.113.9;"));
}

#[tokio::test]
async fn an_http2_browser_reaches_an_http11_crm() {
    let (gateway, upstream) = gateway_and_upstream().await;
    let answer = gateway.client_h2().get(&gateway.url("/contacts")).await;
    assert_eq!(answer.version, http::Version::HTTP_2);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "hello from upstream");
    let seen = upstream.last();
    assert_eq!(seen.version, http::Version::HTTP_11);
    let host = format!("127.0.0.1:{}", gateway.addr.port());
    assert_eq!(seen.header("host"), Some(host.as_str()), ":authority becomes Host");
}

#[tokio::test]
async fn request_and_response_bodies_stream_through() {
    let (gateway, upstream) = gateway_and_upstream().await;
    let client = gateway.client();
    let upload = 32 * 1024 * 1024;
    let response = client
        .send_body(Request::post(gateway.url("/count")).body(Zeros::new(upload)).unwrap())
        .await;
    assert_eq!(crate::support::gateway::read(response).await.body, upload.to_string());
    assert_eq!(upstream.last().method, http::Method::POST);

    let response = client
        .send_body(Request::post(gateway.url("/echo")).body(Zeros::new(3_000_000)).unwrap())
        .await;
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes().len(),
        3_000_000
    );
}

#[tokio::test]
async fn websockets_pass_through_the_gateway() {
    let (gateway, upstream) = gateway_and_upstream().await;
    let tls = gateway.raw().await;
    let url = format!("wss://localhost:{}/ws", gateway.addr.port());
    let (mut ws, response) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    assert_eq!(response.status(), 101);
    ws.send(Message::text("hello over the gateway")).await.unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "hello over the gateway");
    assert_eq!(upstream.last().header("upgrade"), Some("websocket"));
}

#[tokio::test]
async fn a_crm_that_is_down_gets_a_clear_502_page_and_the_gateway_keeps_serving() {
    let closed_port = crate::support::redis::free_port();
    let gateway = TestGateway::start(Settings::new(format!("http://127.0.0.1:{closed_port}"))).await;
    let client = gateway.client();
    let answer = client.get(&gateway.url("/contacts")).await;
    assert_eq!(answer.status, 502);
    assert!(answer.body.contains("The CRM is unreachable"), "{}", answer.body);
    assert!(
        !answer.body.contains(&closed_port.to_string()),
        "no internals leak: {}",
        answer.body
    );
    assert!(!answer.body.to_lowercase().contains("refused"));
    assert_eq!(client.get(&gateway.url("/.portcullis/health")).await.status, 200);
}

#[tokio::test]
async fn a_crm_that_is_too_slow_gets_a_504_page() {
    let upstream = RecordingUpstream::start().await;
    let mut settings = Settings::new(upstream.url());
    settings.extra_upstream = "  host: upstream\n".into();
    let gateway = TestGateway::start(settings).await;
    let started = Instant::now();
    let answer = gateway.client().get(&gateway.url("/slow?ms=4000")).await;
    assert_eq!(answer.status, 504);
    assert!(answer.body.contains("The CRM is not answering"));
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "response_timeout is 2s"
    );
    let expected_host = upstream.addr.to_string();
    assert_eq!(
        upstream.last().header("host"),
        Some(expected_host.as_str()),
        "host: upstream"
    );
}

#[tokio::test]
async fn ambiguous_or_oversized_requests_get_4xx_and_never_reach_the_crm() {
    let (gateway, upstream) = gateway_and_upstream().await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "Content-Length with Transfer-Encoding",
            b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            "400",
        ),
        (
            "two different Content-Lengths",
            b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(),
            "400",
        ),
        (
            "two equal Content-Lengths",
            b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
            "400",
        ),
        (
            "Transfer-Encoding that is not just chunked",
            b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".to_vec(),
            "400",
        ),
        (
            "two Host headers",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            "400",
        ),
        (
            "an obs-fold header",
            b"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n  folded\r\n\r\n".to_vec(),
            "400",
        ),
        (
            "a 64 KiB header",
            format!(
                "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
                "a".repeat(64 * 1024)
            )
            .into_bytes(),
            "431",
        ),
        (
            "200 headers",
            format!(
                "GET / HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
                (0..200).map(|i| format!("X-H{i}: v\r\n")).collect::<String>()
            )
            .into_bytes(),
            "431",
        ),
    ];
    for (what, raw, status) in cases {
        let answer = gateway.send_raw(&raw).await;
        let status_line = answer.lines().next().unwrap_or("");
        assert!(
            status_line.starts_with(&format!("HTTP/1.1 {status}")),
            "{what}: expected {status}, got {status_line:?}"
        );
    }
    assert!(
        upstream.seen().is_empty(),
        "nothing may reach the CRM: {:?}",
        upstream.seen()
    );
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_after_the_header_timeout() {
    let (gateway, upstream) = gateway_and_upstream().await;
    let mut tls = gateway.raw().await;
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    // The header_read_timeout is 1 s: the gateway must give up on us.
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue, // a 408 page may come first
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the connection was still open after 5 s");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(upstream.seen().is_empty());

    // A client that opens TCP and never starts TLS is cut off too.
    let mut tcp = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "a silent TCP connection stayed open"
    );
}

#[tokio::test]
async fn each_server_name_gets_its_own_certificate() {
    let upstream = RecordingUpstream::start().await;
    let mut settings = Settings::new(upstream.url());
    // The test PKI issues `other.pem` for other.test before the gateway loads it.
    settings.extra_top = String::new();
    let pki = crate::support::pki::TestPki::new();
    pki.issue("other", &["other.test"]);
    let yaml = settings.yaml().replace(
        "tls: { cert: server.pem, key: server.key }",
        "tls: { cert: server.pem, key: server.key, sni: { other.test: { cert: other.pem, key: other.key } } }",
    );
    let live = portcullis::live::Live::from_yaml(&yaml, pki.path()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(portcullis::app::run(
        live,
        listener,
        portcullis::telemetry::AccessLog::Tracing,
        portcullis::clock::Clock::system(),
        std::future::pending(),
    ));

    for name in ["other.test", "localhost"] {
        let connector = tokio_rustls::TlsConnector::from(pki.client_config(&[b"http/1.1"]));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        // The handshake only succeeds if the certificate names `name`.
        let tls = connector
            .connect(ServerName::try_from(name.to_string()).unwrap(), tcp)
            .await;
        assert!(tls.is_ok(), "{name}: {:?}", tls.err());
    }
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let (mut gateway, _upstream) = gateway_and_upstream().await;
    let client = gateway.client();
    let url = gateway.url("/slow?ms=700");
    let in_flight = tokio::spawn(async move { client.get(&url).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    gateway.begin_shutdown();
    let answer = in_flight.await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "slow hello");
    tokio::time::timeout(Duration::from_secs(5), gateway.task.take().unwrap())
        .await
        .expect("the gateway did not stop after its last request")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(gateway.addr).await.is_err(),
        "no new connections after shutdown"
    );
}

#[tokio::test]
async fn the_plain_http_port_redirects_to_https() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pki = crate::support::pki::TestPki::new();
    let yaml = "listen: { address: \"127.0.0.1:443\", tls: { cert: server.pem, key: server.key }, hosts: [crm.example.com] }\n\
                upstream: { url: \"http://127.0.0.1:1\" }\n";
    let live = portcullis::live::Live::from_yaml(yaml, pki.path()).unwrap();
    tokio::spawn(portcullis::proxy::redirect::serve(
        listener,
        8443,
        live.config.listen.hosts.clone(),
        std::future::pending(),
    ));
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /contacts?x=1 HTTP/1.1\r\nHost: crm.example.com\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 308"), "{answer}");
    assert!(
        answer
            .to_lowercase()
            .contains("location: https://crm.example.com:8443/contacts?x=1"),
        "{answer}"
    );
    // Never to a name the gateway does not serve (an open redirect).
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 421"), "{answer}");
    assert!(!answer.contains("evil.example"), "{answer}");
}
