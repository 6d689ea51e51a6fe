//! Scenarios 7 and 14 from the admin's side: `portcullis user disable|reset`
//! and `portcullis sessions list|revoke`, run as the real binary against a
//! running gateway, on Redis and on the embedded store (through the
//! gateway's admin socket, since the gateway holds the file).

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::login::{
    admin_command, admin_socket_ready, enrol_from_link, enter_code, enter_password, link_in, next_code, signed_in,
    unused_code, Office, PASSWORD,
};
use crate::support::browser::Browser;
use crate::support::{RecordingUpstream, Settings, TestGateway};

/// The browser's session is refused (sent to sign in) within a second: the
/// bound on how long another process's revocation may take to arrive.
async fn signed_out_within_a_second(browser: &mut Browser, who: &str) {
    let started = Instant::now();
    loop {
        let status = browser.get("/contacts").await.status;
        if status == 303 {
            return;
        }
        assert_eq!(status, 200, "{who}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{who} was still let in a second after the revocation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn scenario_7_offboarding_ends_every_session_at_once_and_voids_her_old_invite_link() {
    let office = Office::start().await;
    let config = office.config_file();
    let url = office.gateway.url("");
    let old_link = link_in(
        &admin_command(&["user", "invite", "alice", "--config", &config, "--url", &url]),
        &office.gateway,
    );
    let mut office_pc = signed_in(&office, "alice", "127.0.0.1").await;
    let mut laptop = Browser::new(&office.gateway);
    enter_password(&mut laptop, "alice", PASSWORD, "/").await;
    assert_eq!(enter_code(&mut laptop, &next_code(&office.secret)).await.status, 303);
    assert_eq!(office_pc.get("/contacts").await.status, 200);
    assert_eq!(laptop.get("/contacts").await.status, 200);

    let printed = admin_command(&["user", "disable", "alice", "--config", &config]);
    assert!(printed.contains("2 session(s) ended"), "{printed}");
    assert!(printed.contains("set users.alice.disabled: true"), "{printed}");
    signed_out_within_a_second(&mut office_pc, "the office PC").await;
    signed_out_within_a_second(&mut laptop, "the laptop").await;

    // She knows her password and has her phone: neither helps any more.
    let mut again = Browser::new(&office.gateway);
    let answer = enter_password(&mut again, "alice", PASSWORD, "/").await;
    assert_eq!(answer.status, 200);
    assert!(answer.body.contains("The username, password or code is not right."));
    // Nor does the invite link she was sent before.
    let withdrawn = Browser::new(&office.gateway).get(&old_link).await;
    assert_eq!(withdrawn.status, 410);
    assert!(
        withdrawn.body.contains("This link has been withdrawn"),
        "{}",
        withdrawn.body
    );
    let listed = admin_command(&["sessions", "list", "--config", &config, "--user", "alice"]);
    assert_eq!(listed.lines().count(), 1, "only the heading: {listed}");

    // Rehired: a reset prints a new link, which works.
    let printed = admin_command(&["user", "reset", "alice", "--config", &config, "--url", &url]);
    assert!(printed.contains("alice's credentials are dropped"), "{printed}");
    let secret = enrol_from_link(
        &office.gateway,
        &link_in(&printed, &office.gateway),
        "quiet harbour lantern",
    )
    .await;
    let mut back = Browser::new(&office.gateway);
    assert_eq!(
        enter_password(&mut back, "alice", "quiet harbour lantern", "/")
            .await
            .status,
        303
    );
    // Replay markers are per user and time step: the old app and enrolment
    // used the steps around now; one they did not is accepted.
    assert_eq!(
        enter_code(&mut back, &unused_code(&office.gateway, &secret))
            .await
            .status,
        303
    );
    assert_eq!(back.get("/contacts").await.status, 200);
}

#[tokio::test]
async fn an_admin_ends_all_sessions_of_a_user_on_redis() {
    let office = Office::start().await;
    let config = office.config_file();
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    let printed = admin_command(&["sessions", "revoke", "--config", &config, "--user", "alice"]);
    assert_eq!(printed.trim(), "Ended 1 session(s).");
    signed_out_within_a_second(&mut alice, "alice").await;
    // Her credentials are untouched: she signs in again.
    let mut again = Browser::new(&office.gateway);
    enter_password(&mut again, "alice", PASSWORD, "/").await;
    assert_eq!(enter_code(&mut again, &next_code(&office.secret)).await.status, 303);
}

/// A gateway on the embedded store (as `demo` and single-gateway installs
/// run), whose users enrol from invite links.
async fn embedded_gateway() -> (TestGateway, RecordingUpstream) {
    let upstream = RecordingUpstream::start().await;
    let mut settings = Settings::new(upstream.url());
    settings.policy = "store: { embedded: { path: state.redb } }\n\
                       auth: { argon2_memory_kib: 8192, argon2_iterations: 1 }\n\
                       networks: { here: [127.0.0.0/8] }\n\
                       access: { web: [here] }\n\
                       users: { alice: {}, bob: {} }\n"
        .into();
    (TestGateway::start(settings).await, upstream)
}

// Multi-threaded: the in-process gateway's admin socket must keep serving
// while this thread waits for the CLI process it talks to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_embedded_store_the_admin_commands_go_through_the_running_gateway() {
    let (gateway, _upstream) = embedded_gateway().await;
    let config = gateway.pki.path().join("portcullis.yaml").display().to_string();
    let socket = gateway.pki.path().join("state.sock");
    admin_socket_ready(&socket).await;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only the gateway's own user may use it");

    let url = gateway.url("");
    let printed = admin_command(&["user", "invite", "alice", "--config", &config, "--url", &url]);
    let secret = enrol_from_link(&gateway, &link_in(&printed, &gateway), "violet tractor moonlight").await;
    let mut office_pc = Browser::new(&gateway);
    enter_password(&mut office_pc, "alice", "violet tractor moonlight", "/").await;
    assert_eq!(enter_code(&mut office_pc, &next_code(&secret)).await.status, 303);
    let mut laptop = Browser::new(&gateway);
    enter_password(&mut laptop, "alice", "violet tractor moonlight", "/").await;
    assert_eq!(
        enter_code(&mut laptop, &unused_code(&gateway, &secret)).await.status,
        303
    );

    // The gateway holds the store file; the commands reach it all the same.
    let table = admin_command(&["sessions", "list", "--config", &config]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("USER   SESSION"), "{table}");
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.starts_with("alice") && l.contains("127.0.0.1")),
        "{table}"
    );
    // The id an admin sees is the SHA-256 of the browser's cookie.
    let cookie = &office_pc.cookies["__Host-portcullis"];
    let office_pc_id = portcullis::session::SessionId::from_cookie(cookie).unwrap().handle().0;
    let json = admin_command(&["sessions", "list", "--config", &config, "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    // The JSON's fields are the table's columns, its times the table's too.
    let office_pc_row = rows
        .iter()
        .find(|r| r["session"] == office_pc_id.as_str())
        .expect(&json);
    let mut keys: Vec<&str> = office_pc_row.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["address", "client", "last_seen", "session", "signed_in", "user"],
        "{json}"
    );
    let signed_in_at = office_pc_row["signed_in"].as_str().unwrap();
    assert!(
        signed_in_at.ends_with('Z') && table.contains(signed_in_at),
        "{json}\n{table}"
    );
    let csv = admin_command(&["sessions", "list", "--config", &config, "--format", "csv"]);
    assert!(
        csv.starts_with("user,session,client,address,signed_in,last_seen\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3, "{csv}");

    let printed = admin_command(&["sessions", "revoke", "--config", &config, "--id", &office_pc_id[..12]]);
    assert_eq!(printed.trim(), "Ended 1 session(s).");
    assert_eq!(
        office_pc.get("/contacts").await.status,
        303,
        "that session ended at once"
    );
    assert_eq!(laptop.get("/contacts").await.status, 200, "the other one did not");

    let too_short = crate::support::process::run(&["sessions", "revoke", "--config", &config, "--id", "ab"]);
    assert_eq!(too_short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&too_short.stderr).contains("at least 8 characters"));

    let printed = admin_command(&["user", "disable", "alice", "--config", &config]);
    assert!(printed.contains("1 session(s) ended"), "{printed}");
    assert_eq!(laptop.get("/contacts").await.status, 303);
    let mut again = Browser::new(&gateway);
    let answer = enter_password(&mut again, "alice", "violet tractor moonlight", "/").await;
    assert!(answer.body.contains("not right"), "{}", answer.body);
}

#[test]
fn with_no_gateway_running_the_admin_commands_open_the_embedded_store_themselves() {
    let pki = crate::support::pki::TestPki::new();
    portcullis::auth::credentials::SecretsKey::create(&pki.path().join("secrets.key")).unwrap();
    let config = pki.path().join("portcullis.yaml");
    std::fs::write(
        &config,
        "listen: { address: \"127.0.0.1:0\", tls: { cert: server.pem, key: server.key } }\n\
         upstream: { url: \"http://127.0.0.1:9\" }\n\
         store: { embedded: { path: state.redb } }\n\
         access: { web: any }\nusers: { alice: {} }\n",
    )
    .unwrap();
    let config = config.display().to_string();
    let printed = admin_command(&["user", "disable", "alice", "--config", &config]);
    assert!(printed.contains("0 session(s) ended"), "{printed}");
    assert!(pki.path().join("state.redb").exists());
    let listed = admin_command(&["sessions", "list", "--config", &config]);
    assert_eq!(listed, "no sessions\n");
    let listed = admin_command(&["sessions", "list", "--config", &config, "--format", "json"]);
    assert_eq!(listed.trim(), "[]");
}

#[test]
fn the_audit_trail_names_the_operator_and_invite_links_use_the_served_name() {
    let pki = crate::support::pki::TestPki::new();
    portcullis::auth::credentials::SecretsKey::create(&pki.path().join("secrets.key")).unwrap();
    let write = |listen: &str, hosts: &str| {
        let config = pki.path().join("portcullis.yaml");
        std::fs::write(
            &config,
            format!(
                "listen: {{ address: \"{listen}\", tls: {{ cert: server.pem, key: server.key }}{hosts} }}\n\
                 upstream: {{ url: \"http://127.0.0.1:9\" }}\n\
                 store: {{ embedded: {{ path: state.redb }} }}\n\
                 access: {{ web: any }}\nusers: {{ alice: {{}} }}\n"
            ),
        )
        .unwrap();
        config.display().to_string()
    };
    let run = |args: &[&str], user: &str| {
        let output = crate::support::process::binary()
            .args(args)
            .env("USER", user)
            .env_remove("SUDO_USER")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let config = write("0.0.0.0:443", ", hosts: [crm.example.com]");
    let (_, log) = run(
        &["user", "disable", "alice", "--config", &config, "--by", "Nadia (IT)"],
        "root",
    );
    assert!(
        log.contains("admin.user_disabled") && log.contains("by=\"Nadia (IT)\""),
        "{log}"
    );
    let (printed, log) = run(&["user", "invite", "alice", "--config", &config], "nadia");
    assert!(log.contains("invite.issued") && log.contains("by=\"nadia\""), "{log}");
    assert!(
        printed.contains("  https://crm.example.com/.portcullis/enrol?token="),
        "{printed}"
    );
    assert!(!log.contains("warning"), "{log}");

    // The test certificate names localhost and 127.0.0.1 only: no name users
    // could open, so the link says where it points and warns.
    let config = write("0.0.0.0:8443", "");
    let (printed, log) = run(&["user", "invite", "alice", "--config", &config], "nadia");
    assert!(
        printed.contains("  https://localhost:8443/.portcullis/enrol?token="),
        "{printed}"
    );
    assert!(log.contains("warning: the gateway serves no host name"), "{log}");
    assert!(log.contains("Give --url with the address users open"), "{log}");

    // PORTCULLIS_CONFIG stands in for --config; a missing default file says what to do.
    let output = crate::support::process::binary()
        .args(["check"])
        .env("PORTCULLIS_CONFIG", &config)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = crate::support::process::binary()
        .args(["check"])
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: there is no config file at /etc/portcullis/portcullis.yaml\n  \
         Give one with --config FILE or PORTCULLIS_CONFIG=FILE, or try `portcullis demo`.\n"
    );
}

#[tokio::test]
async fn scenario_9_the_access_review_shows_who_has_access_from_real_sign_ins() {
    let office = Office::start_with("", "  reception: {}\n").await;
    let config = office.config_file();
    let _at_the_office = signed_in(&office, "alice", "127.0.0.1").await;
    let mut from_home = Browser::new(&office.gateway);
    from_home.forwarded_for = Some("127.0.9.9".into());
    enter_password(&mut from_home, "alice", PASSWORD, "/").await;
    assert_eq!(enter_code(&mut from_home, &next_code(&office.secret)).await.status, 303);

    let json = admin_command(&["users", "review", "--config", &config, "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let row = |user: &str| {
        rows.iter()
            .find(|r| r["user"] == user)
            .unwrap_or_else(|| panic!("{user}: {json}"))
    };
    let flags = |user: &str| {
        row(user)["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };

    let alice = row("alice");
    assert_eq!(alice["status"], "active");
    assert_eq!(alice["groups"], serde_json::json!(["sales-team"]));
    assert_eq!(
        alice["access"],
        serde_json::json!([{ "client_type": "web", "signs_in": true, "access": "networks: here" }])
    );
    assert_eq!(alice["asked_for"], serde_json::json!(["totp"]));
    assert_eq!(alice["read_only"], false);
    assert_eq!(
        alice["second_factors"],
        serde_json::json!(["totp", "recovery codes (10)"])
    );
    assert_eq!(alice["last_login"]["ip"], "127.0.9.9");
    assert_eq!(alice["last_login"]["client_type"], "web");
    assert_eq!(alice["open_sessions"], 2);
    assert!(
        flags("alice").iter().any(|f| f.starts_with("possible sharing")),
        "{json}"
    );
    assert_eq!(row("dave")["status"], "disabled");
    assert!(flags("erin").contains(&"never signed in".to_owned()), "{json}");
    assert!(
        flags("erin").contains(&"no second factor enrolled".to_owned()),
        "{json}"
    );
    assert!(flags("reception").contains(&"generic username".to_owned()), "{json}");

    // One row per user, within 120 columns, and a line to say where the rest is.
    let table = admin_command(&["users", "review", "--config", &config]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["USER", "STATUS", "GROUPS", "ACCESS", "SIGN-IN", "LAST", "SIGN-IN", "SESS", "NOTES"],
        "{table}"
    );
    assert_eq!(lines.len(), 1 + 4 + 2, "{table}");
    assert_eq!(lines[5], "ACCESS: the networks each user may sign in from with web.");
    assert!(lines.iter().all(|l| l.chars().count() <= 120), "{table}");
    let line = |user: &str| *lines.iter().find(|l| l.starts_with(&format!("{user} "))).expect(&table);
    let alice_line = line("alice");
    for part in ["active", "sales-team", "  here  ", "totp", "  2  ", "shared?"] {
        assert!(alice_line.contains(part), "{part:?} in {alice_line:?}");
    }
    assert!(line("erin").contains("not enrolled"), "{table}");
    assert!(line("erin").contains("  never  "), "{table}");
    assert!(line("dave").contains("disabled"), "{table}");
    assert!(line("reception").ends_with("generic name"), "{table}");
    assert!(line("alice").ends_with("shared? 2+ networks"), "{table}");
    assert_eq!(
        lines[6],
        "4 users, 3 active. Every detail: --format json or --format csv."
    );
    let csv = admin_command(&["users", "review", "--config", &config, "--format", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("user,name,status,read_only,expires,expires_in_days,exempted,exemptions,groups,access,asked_for,enrolled,second_factors,passkeys,passwordless,last_login,open_sessions,flags,company_sign_in,company_second_factor,password_sign_in,password_from,provisioned_by")
    );
    assert_eq!(lines.count(), 4, "one line per user: {csv}");
}
