//! Quotas on the CRM's data (issue: guards for the CRM's data): at most so
//! many exports per user in each hour, counted across every gateway on the
//! store; past it a 429 page that says when it opens again, and nothing
//! reaches the CRM. Two real gateways on one real Redis.

use crate::login::{signed_in, Office};
use crate::support::browser::Browser;
use crate::support::process;

const POLICY: &str = "trusted_proxies: [127.0.0.1]\n\
     networks: { here: [127.0.0.0/8] }\n\
     access: { web: [here] }\n\
     users: { alice: {}, bob: {}, dave: {}, gina: {} }\n\
     routes:\n  - { paths: [\"/reports/export*\"], quota: { requests: 3, every: 1h, alert: [it@example.com] } }\n";

/// `codes.email` through the test's SMTP server on `port`.
fn mail_through(port: u16) -> String {
    format!(
        "codes:\n  email:\n    from: \"Acme CRM <crm@example.com>\"\n    subject: Your Acme CRM code\n    \
           smtp: {{ host: 127.0.0.1, port: {port}, security: none }}\n"
    )
}

fn exports(office: &Office) -> usize {
    (office.upstream.seen().iter())
        .filter(|s| s.uri.path().starts_with("/reports/export"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_may_export_three_times_an_hour_on_all_gateways_together_then_waits_for_the_next_hour() {
    let smtp = crate::support::mail::SmtpServer::start(None);
    let office = Office::with_policy(&(mail_through(smtp.port) + POLICY)).await;
    let other_gateway = office.second_gateway().await;
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    let mut alice_elsewhere = Browser::new(&other_gateway);
    alice_elsewhere.cookies = alice.cookies.clone();

    assert_eq!(alice.get("/reports/export?format=csv").await.status, 200);
    assert_eq!(alice.get("/reports/export?format=xlsx").await.status, 200);
    assert_eq!(alice_elsewhere.get("/reports/export").await.status, 200);
    // The fourth, on either gateway, is refused, and says until when.
    for browser in [&mut alice_elsewhere, &mut alice] {
        let refused = browser.get("/reports/export").await;
        assert_eq!(refused.status, 429, "{}", refused.body);
        assert!(refused.body.contains("You have reached the limit"), "{}", refused.body);
        assert!(refused.body.contains("It opens again at "), "{}", refused.body);
        assert!(refused.body.contains(":00:00 UTC"), "on the hour: {}", refused.body);
        let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=3600).contains(&wait), "{wait}");
    }
    assert_eq!(exports(&office), 3, "the CRM saw three exports");
    // The IT team hears of it once.
    let mail = smtp.message(1).await;
    assert!(mail.contains("To: it@example.com"), "{mail}");
    assert!(
        mail.contains("Subject: user alice reached a quota at Acme CRM"),
        "{mail}"
    );
    let body = mail.replace("=\n", ""); // quoted-printable's soft breaks
    assert!(body.contains("3 requests every 1h per user"), "{mail}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 1, "once per window");
    // The rest of the CRM is not counted, and Bob has his own three.
    assert_eq!(alice.get("/contacts").await.status, 200);
    let mut bob = signed_in(&office, "bob", "127.0.0.1").await;
    assert_eq!(bob.get("/reports/export").await.status, 200);
    assert_eq!(exports(&office), 4);

    // explain names the quota the gateway counted.
    let config = office.config_file();
    let args = [
        "explain",
        "--config",
        &config,
        "--user",
        "alice",
        "--ip",
        "127.0.0.1",
        "--path",
        "/reports/export",
    ];
    let explained = String::from_utf8_lossy(&process::run(&args).stdout).into_owned();
    assert!(explained.starts_with("allow"), "{explained}");
    assert!(
        explained.contains("counts it against a quota of 3 requests every 1h per user"),
        "{explained}"
    );

    // An hour on (her session has ended meanwhile), the next window: Alice exports again.
    office.gateway.clock.advance(std::time::Duration::from_secs(3600));
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    assert_eq!(alice.get("/reports/export").await.status, 200);
    assert_eq!(exports(&office), 5);
}

/// Ops try a rule before turning it on: `mode: report` on "the admin area
/// only from the office". Requests from elsewhere still reach the CRM,
/// and each is in the audit trail with the refusal it would have been,
/// and counted in the metrics. The real binary, its audit trail and its
/// admin listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_only_rule_lets_requests_through_and_records_each_one_it_would_refuse() {
    use crate::support::pki::TestPki;
    use crate::support::process::Process;
    use crate::support::redis::free_port;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let upstream = crate::support::RecordingUpstream::start().await;
    let pki = TestPki::new();
    let (port, admin) = (free_port(), free_port());
    let yaml = format!(
        "listen: {{ address: \"127.0.0.1:{port}\", tls: {{ cert: server.pem, key: server.key }} }}\n\
         upstream: {{ url: \"{}\" }}\n\
         admin: {{ listen: \"127.0.0.1:{admin}\" }}\n\
         networks: {{ here: [127.0.0.0/8], office: [10.1.0.0/16] }}\n\
         client_types: {{ web: {{ login: passthrough }} }}\n\
         access: {{ web: [here] }}\n\
         routes:\n  - {{ paths: [\"/admin/**\"], networks: [office], mode: report }}\n",
        upstream.url()
    );
    std::fs::write(pki.path().join("portcullis.yaml"), yaml).unwrap();
    let _gateway = Process::start_logged(
        &["serve", "--config", "portcullis.yaml", "--audit-log", "audit.jsonl"],
        ([127, 0, 0, 1], port).into(),
        pki.path(),
        std::process::Stdio::null(),
        std::process::Stdio::null(),
    );
    let client = crate::support::gateway::TestClient::trusting(&pki);
    for path in ["/admin/users", "/admin/settings", "/contacts"] {
        let answer = client.get(&format!("https://localhost:{port}{path}")).await;
        assert_eq!(answer.status, 200, "{path} reaches the CRM");
    }
    assert_eq!(upstream.seen().len(), 3);

    let audit = std::fs::read_to_string(pki.path().join("audit.jsonl")).unwrap();
    let would: Vec<serde_json::Value> = (audit.lines())
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "request.would_deny")
        .collect();
    let paths: Vec<&str> = would.iter().filter_map(|e| e["path"].as_str()).collect();
    assert_eq!(paths, ["/admin/users", "/admin/settings"], "{audit}");
    let reason = would[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("routes[0] (/admin/**) requires networks: office, not 127.0.0.1"),
        "{reason}"
    );

    let mut metrics = tokio::net::TcpStream::connect(("127.0.0.1", admin)).await.unwrap();
    metrics
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    metrics.read_to_string(&mut text).await.unwrap();
    assert!(text.contains("portcullis_report_only_refusals_total 2"), "{text}");
}

/// Before making billing office-only, ops replay a day of traffic: the
/// requests from the lab network would now be refused, by that rule, and
/// nothing else changes. The access log is the real binary's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_names_the_requests_a_new_policy_would_refuse_by_whom_and_which_rule() {
    use crate::support::pki::TestPki;
    use crate::support::process::Process;
    use crate::support::redis::free_port;

    let upstream = crate::support::RecordingUpstream::start().await;
    let pki = TestPki::new();
    let port = free_port();
    let policy = "trusted_proxies: [127.0.0.1]\n\
                  networks: { office: [10.1.0.0/16], lab: [10.9.0.0/16], here: [127.0.0.0/8] }\n\
                  client_types: { web: { login: passthrough } }\n\
                  access: { web: [office, lab, here] }\n";
    let yaml = |policy: &str| {
        format!(
            "listen: {{ address: \"127.0.0.1:{port}\", tls: {{ cert: server.pem, key: server.key }} }}\n\
             upstream: {{ url: \"{}\" }}\n{policy}",
            upstream.url()
        )
    };
    std::fs::write(pki.path().join("portcullis.yaml"), yaml(policy)).unwrap();
    let mut gateway = Process::start_logged(
        &["--log-format", "json", "serve", "--config", "portcullis.yaml"],
        ([127, 0, 0, 1], port).into(),
        pki.path(),
        std::process::Stdio::null(),
        std::fs::File::create(pki.path().join("gateway.jsonl")).unwrap(),
    );
    let client = crate::support::gateway::TestClient::trusting(&pki);
    for (from, path) in [
        ("10.1.0.5", "/billing/q3"),
        ("10.9.0.7", "/billing/q3"),
        ("10.9.0.8", "/billing/q4"),
        ("10.9.0.7", "/contacts"),
    ] {
        let request = http::Request::get(format!("https://localhost:{port}{path}")).header("x-forwarded-for", from);
        assert_eq!(client.send(request.body(()).unwrap()).await.status, 200);
    }
    // The log is complete once the gateway has stopped.
    let _ = std::process::Command::new("kill")
        .arg(gateway.child.id().to_string())
        .status();
    let _ = gateway.child.wait();

    let stricter = policy.to_owned() + "routes:\n  - { paths: [\"/billing/**\"], networks: [office] }\n";
    std::fs::write(pki.path().join("new.yaml"), yaml(&stricter)).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["replay", "--config", "new.yaml", "--access-log", "gateway.jsonl"])
        .current_dir(pki.path())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "something changes: {printed}");
    assert!(printed.starts_with("4 requests compared, 0 not"), "{printed}");
    assert!(printed.contains("allowed → refused: 2\n"), "{printed}");
    assert!(
        printed.contains("       2  user -  client web  from lab  by routes[0] (/billing/**)\n"),
        "{printed}"
    );
    assert!(!printed.contains("refused → allowed"), "{printed}");

    // The policy as it runs changes nothing.
    let same = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["replay", "--config", "portcullis.yaml", "--access-log", "gateway.jsonl"])
        .current_dir(pki.path())
        .output()
        .unwrap();
    assert_eq!(same.status.code(), Some(0), "{}", String::from_utf8_lossy(&same.stdout));
    assert!(String::from_utf8_lossy(&same.stdout).contains("No answer would change."));
}

/// Alice signs in from the office as every day; then someone signs in as
/// her from a network she never used: she and the IT team get an email
/// saying from where, with which client, when, and where to end that
/// session. A real SMTP server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_from_a_new_place_is_emailed_to_the_user_and_the_it_team() {
    use crate::support::mail::SmtpServer;
    let smtp = SmtpServer::start(None);
    let policy = format!(
        "{}alerts: {{ new_sign_in_place: {{ also: [it@example.com] }} }}\n\
         trusted_proxies: [127.0.0.1]\n\
         networks: {{ here: [127.0.0.0/8] }}\n\
         access: {{ web: [here] }}\n\
         users: {{ alice: {{ email: alice@example.com }} }}\n",
        mail_through(smtp.port)
    );
    let office = Office::enrolling(None, "", &policy, &["alice"]).await;
    let step = std::time::Duration::from_secs(31);
    // Her first sign-in, and another from the same network: nothing to tell.
    signed_in(&office, "alice", "127.0.0.1").await;
    office.gateway.clock.advance(step);
    signed_in(&office, "alice", "127.0.0.44").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), 0, "the same places");

    office.gateway.clock.advance(step);
    signed_in(&office, "alice", "127.0.9.9").await;
    let (first, second) = (smtp.message(1).await, smtp.message(2).await);
    let both = format!("{first}\n{second}");
    assert!(both.contains("To: alice@example.com"), "{both}");
    assert!(both.contains("To: it@example.com"), "{both}");
    for mail in [&first, &second] {
        assert!(mail.contains("Subject: New sign-in to Acme CRM"), "{mail}");
        assert!(mail.contains("as alice from 127.0.9.9 (web)"), "{mail}");
        assert!(mail.contains("/.portcullis/sessions"), "{mail}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 2, "one to each");
}
