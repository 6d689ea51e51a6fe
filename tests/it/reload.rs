//! Scenarios 6, 7 and 13 while the CRM is in use: ops edit the YAML of a
//! running gateway. A good change applies to the next request; a broken
//! file changes nothing; offboarding in the file ends sessions in the store,
//! on every gateway sharing it.

use std::time::{Duration, Instant};

use portcullis::auth::credentials::Credentials;
use portcullis::auth::password::{Hasher, Password};

use crate::login::{enter_password, signed_in, Office, PASSWORD};
use crate::support::browser::Browser;
use crate::support::mail::SmtpServer;
use crate::support::redis::free_port;
use crate::support::{metric, RecordingUpstream, Settings, TestGateway};

/// Replace the gateway's config file as an editor does: write a new file
/// beside it, then rename it over the old one.
fn edit(gateway: &TestGateway, from: &str, to: &str) {
    let file = gateway.config_file();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(from), "{from:?} is not in the config:\n{text}");
    write(gateway, &text.replacen(from, to, 1));
}

fn write(gateway: &TestGateway, text: &str) {
    let file = gateway.config_file();
    let temporary = file.with_extension("yaml.new");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, &file).unwrap();
}

/// Ask until `status` comes back, for at most `within`; how long it took.
async fn status_becomes(browser: &mut Browser, path: &str, status: u16, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let answer = browser.get(path).await;
        if answer.status == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{path} still answered {} after {within:?}",
            answer.status
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A gateway with no sign-in (IP rules only), allowed from loopback.
async fn allowlist_gateway(extra: &str) -> (TestGateway, RecordingUpstream) {
    let upstream = RecordingUpstream::start().await;
    let mut settings = Settings::new(upstream.url());
    settings.policy = format!(
        "{extra}client_types: {{ web: {{ login: passthrough }} }}\n\
         networks: {{ here: [127.0.0.0/8], office: [198.51.100.0/24] }}\n\
         access: {{ web: [here] }}\n"
    );
    (TestGateway::start(settings).await, upstream)
}

#[tokio::test]
async fn scenario_6_an_edit_applies_to_the_next_request_and_a_broken_file_changes_nothing() {
    let port = free_port();
    let (gateway, _upstream) = allowlist_gateway(&format!("admin: {{ listen: \"127.0.0.1:{port}\" }}\n")).await;
    let mut browser = Browser::new(&gateway);
    assert_eq!(browser.get("/contacts").await.status, 200);

    edit(&gateway, "access: { web: [here] }", "access: { web: [office] }");
    let took = status_becomes(&mut browser, "/contacts", 403, Duration::from_secs(3)).await;
    println!("an edit took effect after {took:?}");

    // A typo in a network name, then YAML that does not parse: both refused.
    edit(&gateway, "access: { web: [office] }", "access: { web: [here, ofice] }");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let text = std::fs::read_to_string(gateway.config_file()).unwrap();
    write(&gateway, &text.replace("networks: {", "networks: {{"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        browser.get("/contacts").await.status,
        403,
        "the last good policy (office only) still decides"
    );

    // Fixed: the gateway was still following the file.
    write(&gateway, &text.replace("[here, ofice]", "[here]"));
    status_becomes(&mut browser, "/contacts", 200, Duration::from_secs(3)).await;

    let (_, metrics) = crate::support::plain_get(port, "/metrics").await;
    assert_eq!(metric(&metrics, "portcullis_config_reloads_total"), 2, "{metrics}");
    assert_eq!(
        metric(&metrics, "portcullis_config_reload_failures_total"),
        2,
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_in_the_middle_of_traffic_fails_no_request() {
    let (gateway, upstream) = allowlist_gateway("").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut clients = Vec::new();
    for _ in 0..4 {
        let client = gateway.client();
        let url = gateway.url("/contacts");
        clients.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..250 {
                statuses.push(client.get(&url).await.status);
                if Instant::now() > deadline {
                    break;
                }
            }
            statuses
        }));
    }
    // Meanwhile, ten edits, each a valid policy that still lets loopback in.
    for i in 0..10 {
        let (from, to) = if i % 2 == 0 {
            ("office: [198.51.100.0/24]", "office: [198.51.100.0/25]")
        } else {
            ("office: [198.51.100.0/25]", "office: [198.51.100.0/24]")
        };
        edit(&gateway, from, to);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut total = 0;
    for client in clients {
        let statuses = client.await.unwrap();
        total += statuses.len();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }
    assert_eq!(total, 1000);
    assert_eq!(upstream.seen().len(), 1000);
}

#[tokio::test]
async fn scenario_7_disabling_alice_in_the_file_ends_her_sessions_on_every_gateway() {
    let office = Office::start().await;
    let b = office.second_gateway().await;
    let mut on_a = signed_in(&office, "alice", "127.0.0.1").await;
    let mut on_b = Browser::new(&b);
    on_b.cookies = on_a.cookies.clone();
    assert_eq!(on_a.get("/contacts").await.status, 200);
    assert_eq!(on_b.get("/contacts").await.status, 200);

    // Only A's file changes (B's operator has not deployed it yet).
    edit(
        &office.gateway,
        "alice: { groups: [sales-team] }",
        "alice: { groups: [sales-team], disabled: true }",
    );
    // Refused: 403 while the session still exists, 303 (sign in) once ended.
    let started = Instant::now();
    while on_a.get("/contacts").await.status == 200 {
        assert!(started.elapsed() < Duration::from_secs(3), "A still lets her in");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    while !office
        .store
        .set_members("user:alice:sessions")
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "her sessions are still in the store"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Ended, not merely refused: B, whose policy still lets her in, has no
    // session to let her in with.
    status_becomes(&mut on_b, "/contacts", 303, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn scenario_13_when_an_account_expires_its_sessions_end_without_anyone_reloading() {
    let expires = humantime::format_rfc3339_seconds(portcullis::clock::now() + Duration::from_secs(2));
    let office = Office::start_with("", &format!("  gina: {{ expires: \"{expires}\" }}\n")).await;
    let mut gina = signed_in(&office, "gina", "127.0.0.1").await;
    assert_eq!(gina.get("/contacts").await.status, 200);
    assert_eq!(office.store.set_members("user:gina:sessions").await.unwrap().len(), 1);
    // The sweep runs every 5 s; the contract ended 2 s from the start.
    let started = Instant::now();
    while !office.store.set_members("user:gina:sessions").await.unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "gina's session outlived her contract"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("gina's session ended {:?} after the test started", started.elapsed());
}

#[tokio::test]
async fn a_renewed_certificate_is_served_from_the_next_handshake() {
    let (gateway, _upstream) = allowlist_gateway("").await;
    let served = |tls: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>| {
        tls.get_ref().1.peer_certificates().unwrap()[0].as_ref().to_vec()
    };
    let before = served(&gateway.raw().await);
    // Renewal, as certbot does it: new files in place of the old ones.
    gateway.pki.issue("server", &["localhost", "crm.example.com"]);
    let started = Instant::now();
    loop {
        let now = served(&gateway.raw().await);
        if now != before {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "still the old certificate");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut browser = Browser::new(&gateway);
    assert_eq!(
        browser.get("/contacts").await.status,
        200,
        "and the new one is trusted and works"
    );
}

#[tokio::test]
async fn new_ways_of_sending_codes_and_a_new_company_name_apply_without_a_restart() {
    let files = crate::support::pki::TestPki::new();
    files.issue("smtp", &["localhost"]);
    let smtp = SmtpServer::start(Some((files.path().join("smtp.pem"), files.path().join("smtp.key"))));
    let codes = |port: u16| {
        format!(
            "codes:\n  email:\n    from: \"Acme <crm@example.com>\"\n    \
             smtp: {{ host: localhost, port: {port}, security: starttls, ca_file: {}/ca.pem }}\n",
            files.path().display()
        )
    };
    // At first the mail server named is not there.
    let nobody = free_port();
    let hana_user = "  hana: { email: hana@example.com, second_factors: [email] }\n";
    let office = Office::start_with(&codes(nobody), hana_user).await;
    Credentials {
        password: Some(Hasher::new(8192, 1, 1).unwrap().hash(&Password::new(PASSWORD)).unwrap()),
        ..Default::default()
    }
    .save(&office.store, "hana")
    .await
    .unwrap();
    let mut hana = Browser::new(&office.gateway);
    let send = |page: &crate::support::gateway::Answer| {
        let csrf = Browser::csrf(page);
        [
            ("csrf", csrf),
            ("for", "login".into()),
            ("via", "email".into()),
            ("next", "/".into()),
        ]
    };
    assert_eq!(enter_password(&mut hana, "hana", PASSWORD, "/").await.status, 303);
    let page = hana.get("/.portcullis/second-factor").await;
    let form = send(&page);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let failed = hana.post("/.portcullis/send-code", &form).await;
    assert!(
        failed.body.contains("We could not send a code just now."),
        "{}",
        failed.body
    );

    // Ops fix the mail server's port and rename the company; no restart.
    let from = format!("port: {nobody},");
    edit(&office.gateway, &from, &format!("port: {},", smtp.port));
    edit(
        &office.gateway,
        "auth: { company: Acme CRM,",
        "auth: { company: Acme Ltd,",
    );
    let started = Instant::now();
    while !hana
        .get("/.portcullis/login")
        .await
        .body
        .contains("<title>Sign in · Acme Ltd</title>")
    {
        assert!(started.elapsed() < Duration::from_secs(5), "the new name never showed");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(enter_password(&mut hana, "hana", PASSWORD, "/").await.status, 303);
    let page = hana.get("/.portcullis/second-factor").await;
    let form = send(&page);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let sent = hana.post("/.portcullis/send-code", &form).await;
    assert!(
        sent.body.contains("We sent a code to h•••@example.com."),
        "{}",
        sent.body
    );
    let mail = smtp.message(1).await;
    assert!(mail.contains("Your Acme Ltd sign-in code is:"), "{mail}");
}
