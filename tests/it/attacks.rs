//! What the gateway does under attack and when things break: spoofed
//! addresses, malformed bodies, oversized forms, a CRM that dies mid-answer,
//! thousands of idle connections. (The framing corpus, slowloris and path
//! tricks are in proxy.rs and policy.rs.) The recording upstream proves what
//! did, and did not, reach the CRM.

use std::time::{Duration, Instant};

use http::Request;
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;

use crate::login::{
    admin_command, admin_socket_ready, enrol_from_link, enter_code, enter_password, link_in, next_code, signed_in,
    Office, PASSWORD,
};
use crate::support::browser::Browser;
use crate::support::disk::SmallDisk;
use crate::support::pki::TestPki;
use crate::support::process::Process;
use crate::support::redis::{cli, free_port};
use crate::support::{gateway, gateway_and_upstream, RecordingUpstream, Settings};

#[tokio::test]
async fn a_client_cannot_name_its_address_in_any_forwarding_header() {
    let (gateway, upstream) = gateway_and_upstream().await;
    let client = gateway.client();
    let answer = client
        .send(
            Request::get(gateway.url("/contacts"))
                .header("x-forwarded-for", "10.0.0.1")
                .header("forwarded", "for=10.0.0.1;proto=http")
                .header("x-real-ip", "10.0.0.1")
                .header("x-forwarded-proto", "http")
                .header("x-forwarded-host", "evil.example")
                .body(())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, 200);
    let seen = upstream.last();
    for (name, want) in [
        ("x-forwarded-for", "127.0.0.1"),
        ("x-real-ip", "127.0.0.1"),
        ("x-forwarded-proto", "https"),
    ] {
        assert_eq!(seen.header(name), Some(want), "{name}");
    }
    let forwarded = seen.header("forwarded").unwrap();
    assert!(
        forwarded.contains("for=127.0.0.1") && !forwarded.contains("10.0.0.1"),
        "{forwarded}"
    );
    assert_ne!(seen.header("x-forwarded-host"), Some("evil.example"));
}

#[tokio::test]
async fn a_chunked_body_with_a_bad_chunk_size_is_never_delivered_whole() {
    let (gateway, upstream) = gateway_and_upstream().await;
    let answer = gateway
        .send_raw(
            b"POST /count HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        )
        .await;
    let status = answer.lines().next().unwrap_or("");
    assert!(status.starts_with("HTTP/1.1 400"), "{status:?}");
    // The CRM may have seen the head begin, never a complete request whose
    // body it could act on: /count would have answered with a count.
    assert!(!answer.contains("\r\n\r\n5"), "{answer}");
    assert!(upstream.seen().len() <= 1);
}

#[tokio::test]
async fn a_chunk_size_with_leading_zeros_does_not_hide_the_request_after_it() {
    // hyper reads 00000000000000005 as 5. The guard used to give up on it
    // and stop inspecting, so the request after the body (Content-Length
    // with chunked) reached hyper, which forwards such a request by its
    // chunked framing. Found while writing the framing fuzz target.
    let (gateway, upstream) = gateway_and_upstream().await;
    let answer = gateway
        .send_raw(
            b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
              00000000000000005\r\nhello\r\n0\r\n\r\n\
              POST /smuggled HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        )
        .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("hello"), "the first body arrives whole: {answer}");
    assert!(
        answer.contains("HTTP/1.1 400"),
        "the second request is refused: {answer}"
    );
    let seen: Vec<String> = upstream.seen().iter().map(|r| r.uri.to_string()).collect();
    assert_eq!(seen, ["/echo"]);
}

#[tokio::test]
async fn a_huge_login_form_is_refused_without_being_read_to_the_end() {
    let office = Office::start().await;
    let mut browser = Browser::new(&office.gateway);
    let form = browser.get("/.portcullis/login").await;
    let csrf = Browser::csrf(&form);
    let padding = "x".repeat(1024 * 1024);
    let answer = browser
        .post(
            "/.portcullis/login",
            &[("csrf", &csrf), ("username", "alice"), ("password", &padding)],
        )
        .await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert!(office.upstream.seen().is_empty());
}

#[tokio::test]
async fn a_crm_that_dies_in_the_middle_of_an_answer_breaks_that_answer_only() {
    let (gateway, upstream) = gateway_and_upstream().await;
    let client = gateway.client();
    let response = client
        .send_full(
            Request::get(gateway.url("/truncated"))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await;
    // The head and ten bytes are on their way; the rest must not pretend to be whole.
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await;
    assert!(body.is_err(), "a truncated answer was passed off as complete");
    // The gateway goes on serving.
    for _ in 0..3 {
        assert_eq!(client.get(&gateway.url("/contacts")).await.status, 200);
    }
    assert_eq!(upstream.seen().len(), 4);
}

/// 10,000 clients connect and say nothing: the gateway keeps answering
/// others, and its memory stays modest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_do_not_stop_the_gateway_answering_others() {
    const IDLE: usize = 10_000;
    let upstream = RecordingUpstream::start().await;
    let pki = TestPki::new();
    let port = free_port();
    let mut settings = Settings::new(upstream.url());
    settings.extra_limits = "  header_read_timeout: 60s\n  max_connections: 20000\n".into();
    let yaml = settings.yaml().replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let yaml = yaml.replace("  header_read_timeout: 1s\n", "");
    std::fs::write(pki.path().join("portcullis.yaml"), yaml).unwrap();
    let addr = ([127, 0, 0, 1], port).into();
    let process = Process::start(&["serve", "--config", "portcullis.yaml"], addr, pki.path());
    let before = process.rss_kib();

    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    // Half of them even start a TLS handshake and stop.
    for conn in idle.iter_mut().step_by(2) {
        conn.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = gateway::TestClient::trusting(&pki);
    let started = Instant::now();
    for _ in 0..20 {
        let answer = client.get(&format!("https://127.0.0.1:{port}/contacts")).await;
        assert_eq!(answer.status, 200);
    }
    let took = started.elapsed();
    let during = process.rss_kib();
    println!(
        "{IDLE} idle connections: 20 requests in {took:?}; gateway memory {} MiB before, {} MiB with them",
        before / 1024,
        during / 1024
    );
    assert!(took < Duration::from_secs(5), "others were kept waiting: {took:?}");
    assert!(
        during < before + 512 * 1024,
        "memory grew past 512 MiB for idle connections"
    );
    drop(idle);
}

#[tokio::test]
async fn odd_request_lines_are_refused_or_forwarded_exactly_as_the_rules_saw_them() {
    let (gateway, upstream) = gateway_and_upstream().await;
    // Refused: nothing reaches the CRM.
    for (what, raw) in [
        (
            "a lower-case method that a CRM may read as DELETE",
            &b"delete /projects/7 HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
        ),
        ("a lower-case GET", b"get /contacts HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        (
            "a bare CR inside a header",
            b"GET /contacts HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\n\r\n",
        ),
        (
            "a signed Content-Length",
            b"POST /count HTTP/1.1\r\nHost: localhost\r\nContent-Length: +5\r\n\r\nhello",
        ),
        ("CONNECT", b"CONNECT crm:443 HTTP/1.1\r\nHost: crm:443\r\n\r\n"),
    ] {
        let answer = gateway.send_raw(raw).await;
        let status = answer.lines().next().unwrap_or("");
        assert!(status.starts_with("HTTP/1.1 400"), "{what}: {status:?}");
    }
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());

    // Absolute-form: an authority that differs from Host is refused (which
    // one would the CRM believe?); one that agrees is forwarded as its path.
    let answer = gateway
        .send_raw(b"GET http://evil.example/contacts HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());
    let answer = gateway
        .send_raw(b"GET https://localhost/contacts HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = upstream.last();
    assert_eq!(seen.uri.to_string(), "/contacts");
    assert_eq!(seen.header("host"), Some("localhost"));
}

#[tokio::test]
async fn a_frozen_store_fails_closed_within_seconds_and_service_resumes_when_it_thaws() {
    let office = Office::start().await;
    let mut alice = crate::login::signed_in(&office, "alice", "127.0.0.1").await;
    assert_eq!(alice.get("/contacts").await.status, 200);
    let pid = office.redis.as_ref().unwrap().pid().to_string();
    let signal = |sig: &str| {
        assert!(std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success())
    };
    signal("-STOP"); // Redis hangs: connections stay open, nothing answers
    let frozen = Instant::now();
    let refused = loop {
        let status = alice.get("/contacts").await.status;
        if status == 503 {
            break frozen.elapsed();
        }
        assert_eq!(status, 200, "only the 1 s session cache may still answer");
        assert!(
            frozen.elapsed() < Duration::from_secs(5),
            "still let through {:?} after the store froze",
            frozen.elapsed()
        );
    };
    println!("a frozen store: refused after {refused:?}");
    let forwarded = office.upstream.seen().len();
    assert_eq!(alice.get("/contacts").await.status, 503);
    assert_eq!(
        office.upstream.seen().len(),
        forwarded,
        "nothing forwarded while frozen"
    );
    signal("-CONT");
    let thawed = Instant::now();
    while alice.get("/contacts").await.status != 200 {
        assert!(
            thawed.elapsed() < Duration::from_secs(10),
            "no recovery after the store came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("served again {:?} after the store came back", thawed.elapsed());
}

#[tokio::test]
async fn a_store_that_reads_but_cannot_write_refuses_sign_ins_and_keeps_signed_in_users_working() {
    // 30 s idle timeout: a session's activity is recorded every second.
    let office = Office::start_with("sessions: { idle_timeout: 30s }\n", "").await;
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    assert_eq!(alice.get("/contacts").await.status, 200);
    // Redis at its memory limit with nothing to evict: reads answer, every
    // write gets an OOM error.
    let port = office.redis.as_ref().unwrap().addr.port();
    cli(port, &["config", "set", "maxmemory-policy", "noeviction"]);
    cli(port, &["config", "set", "maxmemory", "1"]);

    let refused = enter_password(&mut Browser::new(&office.gateway), "alice", PASSWORD, "/").await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.body.contains("Temporarily unavailable"), "{}", refused.body);
    // Her activity can no longer be recorded; she works on regardless, and
    // her session can only idle out sooner for it.
    office.gateway.clock.advance(Duration::from_millis(1100));
    let forwarded = office.upstream.seen().len();
    assert_eq!(alice.get("/contacts").await.status, 200);
    assert_eq!(alice.get("/contacts").await.status, 200);
    assert_eq!(office.upstream.seen().len(), forwarded + 2);

    cli(port, &["config", "set", "maxmemory", "0"]);
    let answer = enter_password(&mut Browser::new(&office.gateway), "alice", PASSWORD, "/").await;
    assert_eq!(answer.status, 303, "sign-ins work again at once: {}", answer.body);
}

// Multi-threaded: the in-process gateway's admin socket must keep serving
// while this thread waits for the CLI that enrols the users.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_sign_ins_keeps_signed_in_users_working_and_recovers_when_freed() {
    let disk = SmallDisk::mount(8192);
    let upstream = RecordingUpstream::start().await;
    let mut settings = Settings::new(upstream.url());
    // 30 s idle timeout: a session's activity is recorded every second.
    settings.policy = format!(
        "store: {{ embedded: {{ path: \"{}\" }} }}\n\
         auth: {{ argon2_memory_kib: 8192, argon2_iterations: 1 }}\n\
         sessions: {{ idle_timeout: 30s }}\n\
         networks: {{ here: [127.0.0.0/8] }}\n\
         access: {{ web: [here] }}\n\
         users: {{ alice: {{}}, bob: {{}} }}\n",
        disk.path().join("state.redb").display()
    );
    let gateway = gateway::TestGateway::start(settings).await;
    let config = gateway.pki.path().join("portcullis.yaml").display().to_string();
    admin_socket_ready(&disk.path().join("state.sock")).await;
    let mut secrets = Vec::new();
    for user in ["alice", "bob"] {
        let printed = admin_command(&["user", "invite", user, "--config", &config, "--url", &gateway.url("")]);
        secrets.push(enrol_from_link(&gateway, &link_in(&printed, &gateway), "violet tractor moonlight").await);
    }
    let [alice_secret, bob_secret] = <[_; 2]>::try_from(secrets).ok().unwrap();
    let mut alice = Browser::new(&gateway);
    enter_password(&mut alice, "alice", "violet tractor moonlight", "/").await;
    assert_eq!(enter_code(&mut alice, &next_code(&alice_secret)).await.status, 303);
    assert_eq!(alice.get("/contacts").await.status, 200);

    disk.fill();
    // A sign-in writes to the store; the file's spare pages take a few.
    let mut tries = 0;
    let refused = loop {
        tries += 1;
        assert!(tries <= 50, "50 sign-ins on a full disk and none refused");
        let answer = enter_password(&mut Browser::new(&gateway), "bob", "violet tractor moonlight", "/").await;
        if answer.status == 503 {
            break answer;
        }
        assert_eq!(answer.status, 303, "{}", answer.body);
    };
    assert!(refused.body.contains("Temporarily unavailable"), "{}", refused.body);
    println!("the disk full: sign-in {tries} refused");
    // Alice, signed in before, works on (past her next activity write).
    gateway.clock.advance(Duration::from_millis(1100));
    let forwarded = upstream.seen().len();
    assert_eq!(alice.get("/contacts").await.status, 200);
    assert_eq!(upstream.seen().len(), forwarded + 1);

    disk.free();
    let freed = Instant::now();
    let mut bob = loop {
        let mut bob = Browser::new(&gateway);
        let answer = enter_password(&mut bob, "bob", "violet tractor moonlight", "/").await;
        if answer.status == 303 {
            break bob;
        }
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert!(
            freed.elapsed() < Duration::from_secs(5),
            "no sign-ins 5 s after the disk was freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("sign-ins came back {:?} after the disk was freed", freed.elapsed());
    assert_eq!(enter_code(&mut bob, &next_code(&bob_secret)).await.status, 303);
    assert_eq!(bob.get("/contacts").await.status, 200);
    assert_eq!(alice.get("/contacts").await.status, 200);
}

#[tokio::test]
async fn a_client_that_stops_sending_its_body_is_cut_off() {
    let upstream = RecordingUpstream::start().await;
    let mut settings = Settings::new(upstream.url());
    settings.extra_limits = "  body_read_timeout: 1s\n".into();
    let gateway = crate::support::TestGateway::start(settings).await;
    let mut tls = gateway.raw().await;
    tls.write_all(b"POST /count HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nab")
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut tls, &mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    println!("a stalled body was cut off after {:?}", started.elapsed());
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn bodies_larger_than_the_limit_are_refused_or_cut_off() {
    let upstream = RecordingUpstream::start().await;
    let mut settings = Settings::new(upstream.url());
    settings.extra_limits = "  max_body_bytes: 1000\n".into();
    let gateway = crate::support::TestGateway::start(settings).await;

    // Declared too large: refused before anything reaches the CRM.
    let answer = gateway
        .send_raw(
            format!(
                "POST /count HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1001\r\n\r\n{}",
                "a".repeat(1001)
            )
            .as_bytes(),
        )
        .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(upstream.seen().is_empty());

    // Within the limit: passed on whole.
    let answer = gateway
        .send_raw(
            format!(
                "POST /count HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{}",
                "a".repeat(1000)
            )
            .as_bytes(),
        )
        .await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("1000"),
        "{answer}"
    );

    // Chunked, growing past it: cut off, never counted whole by the CRM.
    let chunk = format!("{:x}\r\n{}\r\n", 600, "b".repeat(600));
    let answer = gateway
        .send_raw(
            format!(
                "POST /count HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}0\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(!answer.ends_with("1200"), "{answer}");
}
