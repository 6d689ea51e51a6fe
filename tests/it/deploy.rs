//! The files in deploy/: each checked with what this machine has. The
//! systemd unit with systemd-analyze; the configs shipped for Compose and
//! Kubernetes with `portcullis check`; the manifests for what they promise;
//! the commands they call (`probe`, `demo-crm`) for real.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::pki::TestPki;
use crate::support::process::{self, Process};
use crate::support::redis::{free_port, RedisServer};
use crate::support::{plain_get, RecordingUpstream, Settings, TestGateway};

fn repo(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

fn systemd_analyze(args: &[&str]) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "cannot run systemd-analyze ({err}): run scripts/test (it installs systemd) or apt-get install systemd"
            )
        })
}

#[test]
fn the_systemd_unit_verifies_and_is_locked_down() {
    let dir = tempfile::tempdir().unwrap();
    // The unit as installed, pointing at the binary under test.
    let unit = repo("deploy/systemd/portcullis.service")
        .replace("/usr/local/bin/portcullis", env!("CARGO_BIN_EXE_portcullis"));
    let file = dir.path().join("portcullis.service");
    std::fs::write(&file, unit).unwrap();
    let file = file.to_str().unwrap();

    let verify = systemd_analyze(&["verify", file]);
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && complaints.trim().is_empty(), "{complaints}");

    let security = systemd_analyze(&["security", "--offline=yes", file]);
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = report
        .lines()
        .find_map(|l| l.split("Overall exposure level for portcullis.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    println!("systemd-analyze security: exposure {exposure}");
    assert!(
        exposure < 2.0,
        "the unit should stay well locked down (0 = best, 10 = worst): {exposure}"
    );
}

/// Write `config` into a folder with the certificate, key and secrets key
/// it names (`rename` maps its paths to ones there), and `check` it.
fn passes_check(config: &str, rename: &[(&str, &str)]) {
    let pki = TestPki::new();
    portcullis::auth::credentials::SecretsKey::create(&pki.path().join("secrets.key")).unwrap();
    let mut config = config.to_owned();
    for (from, to) in rename {
        config = config.replace(from, to);
    }
    let file = pki.path().join("portcullis.yaml");
    std::fs::write(&file, config).unwrap();
    let output = process::run(&["check", "--config", file.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_configs_shipped_for_compose_and_kubernetes_pass_check() {
    passes_check(
        &repo("deploy/compose/portcullis.yaml"),
        &[
            ("cert: crm.pem", "cert: server.pem"),
            ("key: crm.key", "key: server.key"),
        ],
    );

    let manifests = repo("deploy/kubernetes/portcullis.yaml");
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&manifests)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect();
    let kind = |k: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == k && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {k} {name}"))
    };
    let config = kind("ConfigMap", "portcullis-config")["data"]["portcullis.yaml"]
        .as_str()
        .unwrap();
    passes_check(
        config,
        &[
            ("/etc/portcullis/tls/tls.crt", "server.pem"),
            ("/etc/portcullis/tls/tls.key", "server.key"),
            ("/etc/portcullis/secrets/secrets.key", "secrets.key"),
        ],
    );

    let deployment = kind("Deployment", "portcullis");
    assert!(
        deployment["spec"]["replicas"].as_u64().unwrap() >= 2,
        "no single point of failure"
    );
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(container["securityContext"]["allowPrivilegeEscalation"], false);
    let redis = kind("StatefulSet", "portcullis-redis");
    let args = serde_yaml::to_string(&redis["spec"]["template"]["spec"]["containers"][0]["args"]).unwrap();
    assert!(
        args.contains("--appendonly") && args.contains("yes"),
        "credentials on disk: {args}"
    );

    let compose = repo("deploy/compose/docker-compose.yml");
    assert!(compose.contains("\"--appendonly\", \"yes\""), "{compose}");
    let dockerfile = repo("deploy/Dockerfile");
    assert!(dockerfile.contains("USER portcullis"), "not root");
    assert!(dockerfile.contains("\"portcullis\", \"probe\", \"http://127.0.0.1:9901/readyz\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_health_check_probes_readiness() {
    let upstream = RecordingUpstream::start().await;
    let port = free_port();
    let mut settings = Settings::new(upstream.url());
    settings.extra_top = format!("admin: {{ listen: \"127.0.0.1:{port}\" }}\n");
    let _gateway = TestGateway::start(settings).await;
    let ready =
        tokio::task::spawn_blocking(move || process::run(&["probe", &format!("http://127.0.0.1:{port}/readyz")]))
            .await
            .unwrap();
    assert!(ready.status.success(), "{}", String::from_utf8_lossy(&ready.stderr));
    let closed = free_port();
    let down =
        tokio::task::spawn_blocking(move || process::run(&["probe", &format!("http://127.0.0.1:{closed}/readyz")]))
            .await
            .unwrap();
    assert_eq!(down.status.code(), Some(1));
}

#[tokio::test]
async fn the_demo_crm_runs_on_its_own_for_compose() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _crm = Process::start(&["demo-crm", "--listen", &listen], listen.parse().unwrap(), dir.path());
    let (status, body) = plain_get(port, "/contacts").await;
    assert_eq!(status, 200);
    assert!(body.contains("Ada Lovelace"), "{body}");
}

#[tokio::test]
async fn a_redis_that_keeps_nothing_on_disk_is_warned_about_at_start() {
    let redis = RedisServer::start(); // started with --save "" --appendonly no
    let upstream = RecordingUpstream::start().await;
    let pki = TestPki::new();
    portcullis::auth::credentials::SecretsKey::create(&pki.path().join("secrets.key")).unwrap();
    let port = free_port();
    let mut settings = Settings::new(upstream.url());
    settings.policy = format!(
        "store: {{ redis: {{ url: \"{}\" }} }}\naccess: {{ web: any }}\nusers: {{ alice: {{}} }}\n",
        redis.url()
    );
    let yaml = settings.yaml().replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(pki.path().join("portcullis.yaml"), yaml).unwrap();
    let log = pki.path().join("gateway.log");
    let gateway = Process::start_logged(
        &["serve", "--config", "portcullis.yaml"],
        ([127, 0, 0, 1], port).into(),
        pki.path(),
        std::process::Stdio::null(),
        std::fs::File::create(&log).unwrap(),
    );
    let mut text = String::new();
    for _ in 0..40 {
        text = std::fs::read_to_string(&log).unwrap();
        if text.contains("Redis keeps nothing on disk") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(gateway);
    assert!(text.contains("Turn on the append-only file"), "{text}");
}
