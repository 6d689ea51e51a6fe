//! Upgrades that drop nothing: ops install a new binary over the running
//! one and send it SIGUSR2 while clients keep asking. The new process takes
//! the listening sockets, the old one finishes what it has and leaves, and
//! every request gets its answer, with the embedded store (one process at
//! a time) and with Redis.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::gateway::TestClient;
use crate::support::pki::TestPki;
use crate::support::redis::{free_port, RedisServer};
use crate::support::RecordingUpstream;

/// Kills the processes it names when the test ends, however it ends.
struct Kill(Vec<u32>);
impl Drop for Kill {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// The audit trail's `event` record with `field`, once it is there.
fn audited(log: &Path, event: &str, field: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let found = (text.lines())
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|r| r["event"] == event || r["fields"]["event"] == event);
        if let Some(record) = found {
            let value = record.get(field).or_else(|| record["fields"].get(field));
            return value
                .and_then(|v| v.as_u64())
                .unwrap_or_else(|| panic!("no {field} in {record}"));
        }
        assert!(Instant::now() < deadline, "no {event} in {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn upgrade_under_load(store: &str) {
    let upstream = RecordingUpstream::start().await;
    let pki = TestPki::new();
    portcullis::auth::credentials::SecretsKey::create(&pki.path().join("secrets.key")).unwrap();
    let (port, admin) = (free_port(), free_port());
    let yaml = format!(
        "listen: {{ address: \"127.0.0.1:{port}\", tls: {{ cert: server.pem, key: server.key }} }}\n\
         upstream: {{ url: \"{}\" }}\n\
         store: {store}\n\
         admin: {{ listen: \"127.0.0.1:{admin}\" }}\n\
         limits: {{ shutdown_grace: 5s }}\n\
         networks: {{ here: [127.0.0.0/8] }}\n\
         client_types: {{ app: {{ match: {{ header: {{ name: X-App-Key }} }}, login: passthrough }} }}\n\
         access: {{ web: [here], app: [here] }}\n\
         users: {{ alice: {{}} }}\n",
        upstream.url()
    );
    std::fs::write(pki.path().join("portcullis.yaml"), yaml).unwrap();
    // The binary as ops install it, at a path of its own.
    let exe = pki.path().join("portcullis");
    std::fs::copy(env!("CARGO_BIN_EXE_portcullis"), &exe).unwrap();
    let audit = pki.path().join("audit.jsonl");
    let mut old = Command::new(&exe)
        .args([
            "--log-format",
            "json",
            "serve",
            "--config",
            "portcullis.yaml",
            "--audit-log",
            "audit.jsonl",
        ])
        .current_dir(pki.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(pki.path().join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let mut cleanup = Kill(vec![old.id()]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the gateway never listened");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Clients asking all along: the mobile app reaches the CRM, a browser
    // is sent to sign in. Every answer must come, and be what it should.
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut clients = Vec::new();
    for i in 0..8 {
        let client = TestClient::trusting(&pki);
        let (stop, answered, failed) = (stop.clone(), answered.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            let mut problems = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let app = i % 2 == 0;
                let mut request = http::Request::get(format!("https://localhost:{port}/deals"));
                if app {
                    request = request.header("x-app-key", "k");
                }
                let expected = if app { 200 } else { 303 };
                match client.try_send(request.body(()).unwrap()).await {
                    Ok(status) if status == expected => answered.fetch_add(1, Ordering::Relaxed),
                    other => {
                        problems.push(format!("{other:?}"));
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
            problems
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = answered.load(Ordering::Relaxed);
    assert!(before > 0, "the load is running");

    // The new binary goes in by rename, as a package manager does, then SIGUSR2.
    std::fs::copy(env!("CARGO_BIN_EXE_portcullis"), pki.path().join("portcullis.new")).unwrap();
    std::fs::rename(pki.path().join("portcullis.new"), &exe).unwrap();
    let sent = Command::new("kill")
        .args(["-USR2", &old.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let new_pid = audited(&audit, "upgrade.started", "new_pid") as u32;
    cleanup.0.push(new_pid);
    let took_over = audited(&audit, "upgrade.took_over", "pid") as u32;
    assert_eq!(took_over, new_pid);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = old.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the old gateway never left");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "the old gateway left cleanly: {status}");
    let at_exit = answered.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::Relaxed);
    let mut problems = Vec::new();
    for client in clients {
        problems.extend(client.await.unwrap());
    }
    let after = answered.load(Ordering::Relaxed) - at_exit;
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "{store}: failed requests: {problems:?}"
    );
    assert!(
        after > 0,
        "{store}: the new gateway answers ({after} after the old one left)"
    );
    assert!(alive(new_pid), "the new gateway runs on");
    // Its admin listener came back too, once the old one let go of it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", admin)).is_err() {
        assert!(Instant::now() < deadline, "no admin listener after the upgrade");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("{store}: {before} answers before the upgrade, {at_exit} by the old one's exit, {after} after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_binary_takes_over_under_load_with_the_embedded_store_and_no_request_fails() {
    upgrade_under_load("{ embedded: { path: store.redb } }").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_binary_takes_over_under_load_with_redis_and_no_request_fails() {
    let redis = RedisServer::start();
    upgrade_under_load(&format!("{{ redis: {{ url: \"{}\" }} }}", redis.url())).await;
}
