//! Running it for real: the `portcullis` binary, `check`, the demo, and
//! resource use measured on the real process.

use std::time::Duration;

use http::Request;
use http_body_util::BodyExt;

use crate::support::browser::Browser;
use crate::support::pki::TestPki;
use crate::support::process::{self, Process};
use crate::support::redis::free_port;
use crate::support::upstream::Zeros;
use crate::support::{gateway, RecordingUpstream, Settings};

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn the_documented_example_config_passes_check() {
    let pki = TestPki::new();
    std::fs::create_dir(pki.path().join("tls")).unwrap();
    pki.issue("tls/crm", &["crm.example.com"]);
    // The secrets it names, as ops would place them beside it.
    std::fs::write(pki.path().join("smtp.password"), "mail-password\n").unwrap();
    std::fs::write(pki.path().join("sms.token"), "sms-token\n").unwrap();
    std::fs::write(pki.path().join("okta.secret"), "okta-client-secret\n").unwrap();
    std::fs::write(pki.path().join("ldap.secret"), "service-account-password\n").unwrap();
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.yaml")).unwrap();
    let file = write(pki.path(), "portcullis.yaml", &example);
    let output = process::run(&["check", "--config", &file]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("is valid"));
}

#[test]
fn check_rejects_a_broken_file_naming_every_problem_by_path() {
    let pki = TestPki::new();
    let file = write(
        pki.path(),
        "broken.yaml",
        "listen:\n  address: \"0.0.0.0\"\n  tls: { cert: server.pem, key: missing.key }\n\
         upstream:\n  url: \"ftp://crm\"\n\
         trusted_proxies: [10.0.0.1/8, office]\n\
         store: { redis: { sentinel: { master: m, nodes: [\"rediss://a:26379\", \"redis://b:26379\"] } } }\n",
    );
    let output = process::run(&["check", "--config", &file]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "listen.address: \"0.0.0.0\" is not an address and port",
        "listen.tls.key: cannot read a PEM private key from",
        "upstream.url: \"ftp://crm\" must start with http:// or https://",
        "trusted_proxies[0]: \"10.0.0.1/8\" has host bits set; did you mean 10.0.0.0/8?",
        "trusted_proxies[1]: \"office\" is not an IP address or CIDR range",
        "store.redis.sentinel.nodes: use rediss:// for every sentinel or for none",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
}

#[test]
fn check_points_at_the_line_of_a_yaml_syntax_error_or_typo() {
    let pki = TestPki::new();
    let file = write(
        pki.path(),
        "syntax.yaml",
        "listen:\n  address: \"0.0.0.0:443\"\n  tls: {}\n upstream: x\n",
    );
    let output = process::run(&["check", "--config", &file]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "syntax.yaml: line 4: `upstream` is indented by 1 space, which lines it up with nothing above it. \
             Indent it by no spaces to make it a top-level setting, or by 2 spaces to put it under `listen` (line 1)"
        ),
        "{stderr}"
    );

    let file = write(
        pki.path(),
        "typo.yaml",
        "listen:\n  address: \"0.0.0.0:443\"\n  tls: { cert: a, key: b }\nupstream:\n  url: \"http://crm\"\n  respone_timeout: 5s\n",
    );
    let stderr = String::from_utf8_lossy(&process::run(&["check", "--config", &file]).stderr).into_owned();
    assert!(
        stderr.contains(
            "typo.yaml: line 6: `respone_timeout` is not a setting of `upstream`: did you mean `response_timeout`?"
        ),
        "{stderr}"
    );
}

#[test]
fn check_explains_a_missing_file() {
    let output = process::run(&["check", "--config", "/nonexistent/portcullis.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: there is no config file at /nonexistent/portcullis.yaml\n"
    );
}

/// The gateway process must not hold bodies in memory: 256 MiB up and
/// 256 MiB down may raise its peak RSS by only a small, fixed amount.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_and_download_stream_without_growing_the_gateways_memory() {
    let upstream = RecordingUpstream::start().await;
    let pki = TestPki::new();
    let port = free_port();
    let mut settings = Settings::new(upstream.url());
    settings.extra_limits = "  max_body_bytes: 0\n".into(); // no limit: this is about memory
                                                            // The upstream answers an upload once it has counted all of it: give a
                                                            // busy machine time to stream 256 MiB (the tests' usual 2 s is for
                                                            // small requests).
    let yaml = (settings.yaml())
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))
        .replace("response_timeout: 2s", "response_timeout: 120s");
    let file = write(pki.path(), "portcullis.yaml", &yaml);
    let addr = ([127, 0, 0, 1], port).into();
    let gateway = Process::start(&["serve", "--config", &file], addr, pki.path());
    let client = gateway::TestClient::trusting(&pki);

    // Warm up: TLS, pools, allocator arenas.
    let warm = client
        .send_body(
            Request::post(format!("https://127.0.0.1:{port}/count"))
                .body(Zeros::new(8 << 20))
                .unwrap(),
        )
        .await;
    assert_eq!(gateway::read(warm).await.status, 200);
    let before = gateway.peak_rss_kib();

    const SIZE: u64 = 256 << 20;
    let up = client
        .send_body(
            Request::post(format!("https://127.0.0.1:{port}/count"))
                .body(Zeros::new(SIZE))
                .unwrap(),
        )
        .await;
    assert_eq!(gateway::read(up).await.body, SIZE.to_string());
    let down = client
        .send_body(
            Request::get(format!("https://127.0.0.1:{port}/download?bytes={SIZE}"))
                .body(Zeros::new(0))
                .unwrap(),
        )
        .await;
    let mut body = down.into_body();
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        received += frame.unwrap().into_data().map(|d| d.len() as u64).unwrap_or(0);
    }
    assert_eq!(received, SIZE);

    let after = gateway.peak_rss_kib();
    let growth_mib = (after.saturating_sub(before)) / 1024;
    println!(
        "gateway peak RSS: {} MiB before, {} MiB after 2 x 256 MiB",
        before / 1024,
        after / 1024
    );
    assert!(
        growth_mib < 32,
        "peak RSS grew by {growth_mib} MiB while streaming 512 MiB"
    );
}

#[tokio::test]
async fn the_demo_gives_each_user_a_key_keeps_its_banner_in_view_and_shows_the_identity_the_crm_received() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    // Standard output and the log together, as a terminal shows them.
    let console = dir.path().join("console.txt");
    let file = std::fs::File::create(&console).unwrap();
    let _demo = Process::start_logged(
        &["demo", "--listen", &listen, "--dir", "state"],
        listen.parse().unwrap(),
        dir.path(),
        file.try_clone().unwrap(),
        file,
    );
    let printed = || std::fs::read_to_string(&console).unwrap_or_default();
    let mut waited = 0;
    while !printed().contains("[demo] current codes: ") && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let text = printed();
    assert!(
        text.contains("Sign in as alice (finance) or bob (sales), password: portcullis-demo"),
        "{text}"
    );
    // Each user has a key of their own, labelled with their name.
    let key_of = |user: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(user).map(str::trim).filter(|k| k.len() == 32))
            .unwrap_or_else(|| panic!("no key for {user} in:\n{text}"))
            .to_owned()
    };
    assert_ne!(key_of("alice"), key_of("bob"));
    assert!(
        text.contains(&format!(
            "otpauth://totp/Acme%20CRM%20%28demo%29:bob?secret={}",
            key_of("bob")
        )),
        "{text}"
    );
    // The banner is the first thing on the console: no log line above it.
    assert!(text.trim_start().starts_with("Portcullis demo is running."), "{text}");

    // Trust the certificate the demo made for itself, as a user accepting it would.
    let client = gateway::TestClient::trusting_file(&dir.path().join("state/demo.pem"));
    let mut browser = Browser::at(format!("https://localhost:{port}"), client);
    let first = browser.get("/contacts").await;
    assert_eq!(first.status, 303, "the demo asks for a login first");

    let form = browser.get("/.portcullis/login?next=/contacts").await;
    let csrf = Browser::csrf(&form);
    let fields = [
        ("csrf", csrf.as_str()),
        ("username", "bob"),
        ("password", "portcullis-demo"),
        ("next", "/contacts"),
    ];
    assert_eq!(browser.post("/.portcullis/login", &fields).await.status, 303);
    // Bob's code from the freshest line the console printed.
    let code = printed()
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("[demo] current codes: "))
        .and_then(|codes| codes.split(", ").find_map(|c| c.strip_prefix("bob ")))
        .unwrap()
        .to_owned();
    let form = browser.get("/.portcullis/second-factor").await;
    let csrf = Browser::csrf(&form);
    let signed_in = browser
        .post("/.portcullis/second-factor", &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);

    let answer = browser.get("/contacts").await;
    assert_eq!(answer.status, 200);
    assert!(answer.body.contains("Ada Lovelace"), "{}", answer.body);
    // What an integrator wants to see: who the gateway says is signed in.
    assert!(answer.body.contains("x-portcullis-user</td><td>bob"), "{}", answer.body);
    assert!(
        answer.body.contains("x-portcullis-groups</td><td>sales"),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("x-forwarded-proto</td><td>https"),
        "{}",
        answer.body
    );

    // Quiet: the requests above left no access-log line on the console.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let text = printed();
    assert!(!text.contains("/contacts"), "the demo logged requests:\n{text}");
}

#[tokio::test]
async fn the_admin_listener_counts_known_traffic_and_readiness_follows_the_store() {
    use crate::login::{enter_password, signed_in, Office};
    use crate::support::{metric, plain_get};
    let port = free_port();
    let mut office = Office::start_with(&format!("admin: {{ listen: \"127.0.0.1:{port}\" }}\n"), "").await;
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    for _ in 0..3 {
        assert_eq!(alice.get("/contacts").await.status, 200);
    }
    alice.forwarded_for = Some("192.0.2.1".into());
    assert_eq!(alice.get("/contacts").await.status, 403);
    let mut stranger = Browser::new(&office.gateway);
    assert_eq!(stranger.get("/contacts").await.status, 303);
    enter_password(&mut stranger, "alice", "not her password", "/").await;

    let (status, text) = plain_get(port, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        metric(
            &text,
            "portcullis_requests_total{decision=\"allow\",client_type=\"web\"}"
        ),
        3
    );
    assert_eq!(
        metric(
            &text,
            "portcullis_requests_total{decision=\"deny\",client_type=\"web\"}"
        ),
        1
    );
    assert_eq!(
        metric(
            &text,
            "portcullis_requests_total{decision=\"login\",client_type=\"web\"}"
        ),
        1
    );
    assert_eq!(metric(&text, "portcullis_upstream_duration_seconds_count"), 3);
    assert_eq!(metric(&text, "portcullis_upstream_errors_total"), 0);
    assert_eq!(metric(&text, "portcullis_logins_total"), 1);
    assert_eq!(metric(&text, "portcullis_login_failures_total"), 1);
    assert_eq!(metric(&text, "portcullis_active_sessions"), 1);
    let portal = metric(
        &text,
        "portcullis_requests_total{decision=\"portal\",client_type=\"web\"}",
    );
    let all = metric(&text, "portcullis_request_duration_seconds_count");
    assert_eq!(all, 3 + 1 + 1 + portal, "every request is timed once");

    assert_eq!(plain_get(port, "/healthz").await, (200, "ok\n".into()));
    assert_eq!(plain_get(port, "/readyz").await, (200, "ready\n".into()));
    drop(office.redis.take());
    let (status, body) = plain_get(port, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("not ready: store"), "{body}");
    assert_eq!(plain_get(port, "/healthz").await.0, 200, "alive all the same");
}

/// `serve` starts with a summary ops can check at a glance, and the
/// warnings `check` would give.
#[tokio::test]
async fn serve_says_where_it_listens_whether_the_crm_answers_and_who_can_sign_in() {
    let upstream = RecordingUpstream::start().await;
    let pki = TestPki::new();
    portcullis::auth::credentials::SecretsKey::create(&pki.path().join("secrets.key")).unwrap();
    let start = |crm: &str, name: &str| {
        let port = free_port();
        let yaml = format!(
            "listen: {{ address: \"127.0.0.1:{port}\", tls: {{ cert: server.pem, key: server.key }} }}\n\
             upstream: {{ url: \"{crm}\" }}\n\
             store: {{ embedded: {{ path: {name}.redb }} }}\n\
             access: {{ web: any }}\n\
             users: {{ alice: {{}}, bob: {{}}, dave: {{ disabled: true }} }}\n"
        );
        let config = write(pki.path(), &format!("{name}.yaml"), &yaml);
        let log = pki.path().join(format!("{name}.log"));
        let process = Process::start_logged(
            &["serve", "--config", &config],
            format!("127.0.0.1:{port}").parse().unwrap(),
            pki.path(),
            std::process::Stdio::null(),
            std::fs::File::create(&log).unwrap(),
        );
        (process, log, port)
    };
    let read_when = |log: &std::path::Path, wanted: &str| {
        for _ in 0..100 {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if text.contains(wanted) {
                return text;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no {wanted:?} in {}", std::fs::read_to_string(log).unwrap_or_default());
    };

    let (_gateway, log, port) = start(&upstream.url(), "up");
    let text = read_when(&log, "users      ");
    assert!(text.contains("portcullis 0.1.0 is serving"), "{text}");
    assert!(
        text.contains(&format!(
            "  listening  https://127.0.0.1:{port} for 127.0.0.1, localhost"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("  CRM        {}: reachable (", upstream.url())),
        "{text}"
    );
    assert!(text.contains("  store      embedded, "), "{text}");
    assert!(
        text.contains("  users      3 in the policy, 0 enrolled, 1 disabled"),
        "{text}"
    );
    // What check warns about, serve says too.
    assert!(
        text.contains("WARN portcullis: check: users.alice: may use every client type from any network"),
        "{text}"
    );

    let closed = free_port();
    let (_gateway, log, _) = start(&format!("http://127.0.0.1:{closed}"), "down");
    let text = read_when(&log, "users      ");
    assert!(
        text.contains(&format!(
            "  CRM        http://127.0.0.1:{closed}: NOT reachable (Connection refused"
        )),
        "{text}"
    );
    assert!(text.contains("requests get 502 until it is"), "{text}");
}
