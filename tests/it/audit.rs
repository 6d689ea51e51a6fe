//! Scenario 18: every sign-in, failure, lockout, denial, revocation, reload
//! and admin action is an audit event; and no secret (password, code, TOTP
//! secret, recovery code, cookie, invite token) is in any log line. Through
//! the real binary, as ops run it, with its JSON log and audit file.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use portcullis::auth::totp;

use crate::login::{admin_command, enrol_with, enter_code, enter_password};
use crate::support::browser::Browser;
use crate::support::gateway::TestClient;
use crate::support::pki::TestPki;
use crate::support::process::Process;
use crate::support::redis::free_port;
use crate::support::RecordingUpstream;

/// Every JSON value in `line`, flattened to text.
fn values(line: &serde_json::Value, out: &mut Vec<String>) {
    match line {
        serde_json::Value::Object(map) => map.values().for_each(|v| values(v, out)),
        serde_json::Value::Array(items) => items.iter().for_each(|v| values(v, out)),
        serde_json::Value::String(s) => out.push(s.clone()),
        other => out.push(other.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_18_everything_that_matters_is_audited_and_no_secret_is_ever_logged() {
    let upstream = RecordingUpstream::start().await;
    let pki = TestPki::new();
    portcullis::auth::credentials::SecretsKey::create(&pki.path().join("secrets.key")).unwrap();
    let port = free_port();
    let yaml = format!(
        "listen: {{ address: \"127.0.0.1:{port}\", tls: {{ cert: server.pem, key: server.key }} }}\n\
         upstream: {{ url: \"{}\" }}\n\
         store: {{ embedded: {{ path: state.redb }} }}\n\
         auth: {{ argon2_memory_kib: 8192, argon2_iterations: 1 }}\n\
         networks: {{ here: [127.0.0.0/8] }}\n\
         access: {{ web: [here] }}\n\
         groups: {{ finance: {{}} }}\n\
         users: {{ alice: {{}}, bob: {{}} }}\n\
         routes:\n  - {{ paths: [\"/billing/**\"], allow_groups: [finance] }}\n",
        upstream.url()
    );
    let config = pki.path().join("portcullis.yaml");
    std::fs::write(&config, &yaml).unwrap();
    let config = config.display().to_string();
    let log_file = pki.path().join("gateway.log");
    let audit_file = pki.path().join("audit.jsonl");
    let mut gateway = Process::start_logged(
        &[
            "--log-format",
            "json",
            "serve",
            "--config",
            &config,
            "--audit-log",
            "audit.jsonl",
        ],
        ([127, 0, 0, 1], port).into(),
        pki.path(),
        Stdio::null(),
        std::fs::File::create(&log_file).unwrap(),
    );
    let base = format!("https://127.0.0.1:{port}");
    let browser = || Browser::at(base.clone(), TestClient::trusting(&pki));

    // Onboarding: an invite, a password, an authenticator, recovery codes.
    let password = "copper kettle midnight";
    let printed = admin_command(&["user", "invite", "alice", "--config", &config, "--url", &base]);
    let link = printed
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap()
        .to_owned();
    let path = link.trim_start_matches(&base).to_owned();
    let token = path.split("token=").nth(1).unwrap().to_owned();
    let mut alice = browser();
    let (secret, codes_page) = enrol_with(&mut alice, &path, password).await;
    let recovery_codes: Vec<String> = codes_page
        .body
        .split("<li><code>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(recovery_codes.len(), 10);

    // A wrong password; bob guessing until locked.
    let mut wrong = browser();
    enter_password(&mut wrong, "alice", "not her password", "/").await;
    let mut guesser = browser();
    for _ in 0..5 {
        enter_password(&mut guesser, "bob", "guess", "/").await;
    }

    // Alice signs in, is refused billing, signs out.
    let mut codes_used = Vec::new();
    let mut session = browser();
    enter_password(&mut session, "alice", password, "/").await;
    let code = totp::current_code(&secret, portcullis::clock::now() + Duration::from_secs(30));
    assert_eq!(enter_code(&mut session, &code).await.status, 303);
    codes_used.push(code);
    let cookies: Vec<String> = session.cookies.values().cloned().collect();
    assert_eq!(session.get("/contacts").await.status, 200);
    assert_eq!(session.get("/billing/invoices").await.status, 403);
    let confirm = session.get("/.portcullis/logout").await;
    let csrf = Browser::csrf(&confirm);
    assert_eq!(
        session.post("/.portcullis/logout", &[("csrf", &csrf)]).await.status,
        303
    );

    // Ops: a reload by SIGHUP, a broken edit (refused), an offboarding.
    let pid = gateway.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    tokio::time::sleep(Duration::from_millis(600)).await;
    std::fs::write(&config, yaml.replace("access: {", "access: {{")).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    std::fs::write(&config, &yaml).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    admin_command(&["user", "disable", "alice", "--config", &config]);

    // Stop it gracefully, so that every buffered log line is written.
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let stopping = Instant::now();
    while gateway.child.try_wait().unwrap().is_none() {
        assert!(stopping.elapsed() < Duration::from_secs(10), "the gateway did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let audit = std::fs::read_to_string(&audit_file).unwrap();
    let mut events = BTreeSet::new();
    let mut triggers = BTreeSet::new();
    for line in audit.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(event["target"], "audit", "{line}");
        assert!(event["timestamp"].is_string(), "{line}");
        events.insert(
            event["event"]
                .as_str()
                .unwrap_or_else(|| panic!("no event in {line}"))
                .to_owned(),
        );
        if let Some(trigger) = event["trigger"].as_str() {
            triggers.insert(trigger.to_owned());
        }
    }
    for expected in [
        "enrolment.complete",
        "login.failure",
        "login.locked",
        "login.success",
        "request.denied",
        "session.revoked",
        "config.reloaded",
        "config.reload_failed",
        "admin.user_disabled",
    ] {
        assert!(events.contains(expected), "no {expected} among {events:?}");
    }
    assert!(triggers.contains("SIGHUP"), "{triggers:?}");
    let denied = audit.lines().find(|l| l.contains("request.denied")).unwrap();
    assert!(
        denied.contains("routes[0]") && denied.contains("\"user\":\"alice\""),
        "{denied}"
    );

    // No secret anywhere: not in the audit file, not in the gateway's log.
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(log.lines().count() > 20, "the log has the whole story: {log}");
    let mut secrets = vec![password.to_owned(), secret.base32(), token];
    secrets.extend(recovery_codes);
    secrets.extend(cookies);
    for (name, text) in [("audit file", &audit), ("log", &log)] {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "the {name} contains the secret {secret:?}"
            );
        }
        // Codes are six digits, which timestamps may contain by chance: look
        // for them as whole values.
        for line in text.lines() {
            let mut all = Vec::new();
            values(&serde_json::from_str(line).unwrap(), &mut all);
            for code in &codes_used {
                assert!(!all.contains(code), "the {name} logged a code: {line}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_names_one_request_in_the_page_the_access_log_and_the_audit_trail() {
    let upstream = RecordingUpstream::start().await;
    let pki = TestPki::new();
    portcullis::auth::credentials::SecretsKey::create(&pki.path().join("secrets.key")).unwrap();
    let yaml = |port: u16| {
        format!(
            "listen: {{ address: \"127.0.0.1:{port}\", tls: {{ cert: server.pem, key: server.key }} }}\n\
             upstream: {{ url: \"{}\" }}\n\
             client_types: {{ web: {{ login: passthrough }} }}\n\
             access: {{ web: any }}\n\
             routes:\n  - {{ paths: [\"/billing/**\"], deny: all }}\n",
            upstream.url()
        )
    };
    let reference = |body: &str| -> String {
        let after = body.split("Reference: ").nth(1).expect("a reference on the page");
        after.split([' ', '<']).next().unwrap().to_owned()
    };
    let mut pages = Vec::new();
    // Two gateways, one of them started twice: a restart must not repeat ids.
    for (run, name) in [(0, "a"), (1, "b"), (2, "a")] {
        let port = free_port();
        let config = pki.path().join(format!("{name}.yaml"));
        std::fs::write(&config, yaml(port)).unwrap();
        let log = pki.path().join(format!("{name}-{run}.log"));
        let audit = format!("{name}-{run}.audit");
        let gateway = Process::start_logged(
            &[
                "--log-format",
                "json",
                "serve",
                "--config",
                &config.display().to_string(),
                "--audit-log",
                &audit,
            ],
            ([127, 0, 0, 1], port).into(),
            pki.path(),
            Stdio::null(),
            std::fs::File::create(&log).unwrap(),
        );
        let client = TestClient::trusting(&pki);
        for _ in 0..3 {
            let answer = client.get(&format!("https://127.0.0.1:{port}/billing")).await;
            assert_eq!(answer.status, 403);
            pages.push((reference(&answer.body), log.clone(), pki.path().join(&audit)));
        }
        // Stopped as ops stop it (SIGTERM), so that its logs are written out.
        let mut gateway = gateway;
        let pid = gateway.child.id().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let _ = gateway.child.wait();
    }
    let ids: BTreeSet<&String> = pages.iter().map(|(id, _, _)| id).collect();
    assert_eq!(ids.len(), pages.len(), "every page names its own request: {pages:?}");
    // The access log line and the audit event of each request carry the id on its page.
    let deadline = Instant::now() + Duration::from_secs(5);
    for (id, log, audit) in &pages {
        loop {
            let access = std::fs::read_to_string(log).unwrap_or_default();
            let audited = std::fs::read_to_string(audit).unwrap_or_default();
            let in_access = access
                .lines()
                .any(|l| l.contains("\"target\":\"access\"") && l.contains(&format!("\"request_id\":\"{id}\"")));
            let in_audit = audited
                .lines()
                .any(|l| l.contains("request.denied") && l.contains(&format!("\"request_id\":\"{id}\"")));
            if in_access && in_audit {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{id}: access log {in_access}, audit {in_audit}\n{access}\n{audited}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
