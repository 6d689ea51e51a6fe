//! What signed-in users change themselves (their password, their
//! authenticator app), and the company's look on the pages.

use crate::login::{enter_code, enter_password, next_code, secret_on, signed_in, Office, PASSWORD};
use crate::support::browser::Browser;
use crate::support::{process, RecordingUpstream, Settings, TestGateway};

async fn change_password(browser: &mut Browser, current: &str, new: &str) -> crate::support::gateway::Answer {
    let form = browser.get("/.portcullis/account/password").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = Browser::csrf(&form);
    browser
        .post(
            "/.portcullis/account/password",
            &[
                ("csrf", &csrf),
                ("current", current),
                ("password", new),
                ("confirm", new),
            ],
        )
        .await
}

#[tokio::test]
async fn alice_changes_her_password_and_whoever_knew_the_old_one_is_signed_out() {
    let office = Office::start().await;
    let mut laptop = signed_in(&office, "alice", "127.0.0.1").await;
    let mut somewhere_else = Browser::new(&office.gateway);
    enter_password(&mut somewhere_else, "alice", PASSWORD, "/").await;
    assert_eq!(
        enter_code(&mut somewhere_else, &next_code(&office.secret)).await.status,
        303
    );

    let page = laptop.get("/.portcullis/account").await;
    assert!(page.body.contains("Change your password"), "{}", page.body);

    let wrong = change_password(&mut laptop, "not my password", "amber orchard seventeen").await;
    assert!(
        wrong.body.contains("Your current password is not right."),
        "{}",
        wrong.body
    );
    let same = change_password(&mut laptop, PASSWORD, PASSWORD).await;
    assert!(same.body.contains("not used here before"), "{}", same.body);
    let weak = change_password(&mut laptop, PASSWORD, "alice-2026-alice").await;
    assert!(weak.body.contains("Do not use your username"), "{}", weak.body);

    let changed = change_password(&mut laptop, PASSWORD, "amber orchard seventeen").await;
    assert_eq!(changed.status, 200);
    assert!(
        changed.body.contains("Sessions ended elsewhere: 1."),
        "{}",
        changed.body
    );
    assert_eq!(laptop.get("/contacts").await.status, 200, "this session goes on");
    assert_eq!(somewhere_else.get("/contacts").await.status, 303, "the other one ended");

    let mut old = Browser::new(&office.gateway);
    assert!(enter_password(&mut old, "alice", PASSWORD, "/")
        .await
        .body
        .contains("not right"));
    let mut new = Browser::new(&office.gateway);
    assert_eq!(
        enter_password(&mut new, "alice", "amber orchard seventeen", "/")
            .await
            .status,
        303
    );
    // And she cannot go back to the old one.
    let back = change_password(&mut laptop, "amber orchard seventeen", PASSWORD).await;
    assert!(back.body.contains("not used here before"), "{}", back.body);
}

#[tokio::test]
async fn a_new_phone_alice_moves_to_a_new_authenticator_and_the_old_codes_stop_working() {
    let office = Office::start().await;
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    let form = alice.get("/.portcullis/account/authenticator").await;
    let csrf = Browser::csrf(&form);
    let wrong = alice
        .post(
            "/.portcullis/account/authenticator",
            &[("csrf", &csrf), ("current", "guess")],
        )
        .await;
    assert!(
        wrong.body.contains("Your current password is not right."),
        "{}",
        wrong.body
    );
    let csrf = Browser::csrf(&wrong);
    let scan = alice
        .post(
            "/.portcullis/account/authenticator",
            &[("csrf", &csrf), ("current", PASSWORD)],
        )
        .await;
    assert!(scan.body.contains("<svg"), "a QR code to scan: {}", scan.body);
    let new_secret = secret_on(&scan);

    // Not confirmed yet: the old app still works.
    let mut meanwhile = Browser::new(&office.gateway);
    enter_password(&mut meanwhile, "alice", PASSWORD, "/").await;
    assert_eq!(enter_code(&mut meanwhile, &next_code(&office.secret)).await.status, 303);

    let csrf = Browser::csrf(&scan);
    let bad = alice
        .post(
            "/.portcullis/account/authenticator/confirm",
            &[("csrf", &csrf), ("code", "000000")],
        )
        .await;
    assert!(bad.body.contains("That code is not right"), "{}", bad.body);
    let csrf = Browser::csrf(&bad);
    let code = portcullis::auth::totp::current_code(&new_secret, portcullis::clock::now());
    let done = alice
        .post(
            "/.portcullis/account/authenticator/confirm",
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert!(done.body.contains("Authenticator changed"), "{}", done.body);

    // Replay markers are per user and time step. The old app's previous
    // step is unused and inside the ±1 step window, so only the change can
    // refuse it; the refusal sets no marker, so the new app may use it.
    // (The gateway's clock moves on first: a slow run could otherwise cross
    // a step, making "the previous step" the one the change just used.)
    office.gateway.clock.advance(std::time::Duration::from_secs(90));
    let previous = office.gateway.clock.now() - std::time::Duration::from_secs(30);
    let previous_code = |secret| portcullis::auth::totp::current_code(secret, previous);
    let mut with_old_phone = Browser::new(&office.gateway);
    enter_password(&mut with_old_phone, "alice", PASSWORD, "/").await;
    let old_code = previous_code(&office.secret);
    assert_eq!(enter_code(&mut with_old_phone, &old_code).await.status, 200, "refused");
    let mut with_new_phone = Browser::new(&office.gateway);
    enter_password(&mut with_new_phone, "alice", PASSWORD, "/").await;
    assert_eq!(
        enter_code(&mut with_new_phone, &previous_code(&new_secret))
            .await
            .status,
        303
    );
}

#[tokio::test]
async fn account_pages_need_a_session() {
    let office = Office::start().await;
    let mut stranger = Browser::new(&office.gateway);
    for page in ["/.portcullis/account", "/.portcullis/account/password"] {
        let answer = stranger.get(page).await;
        assert_eq!(answer.status, 303, "{page}");
        assert!(answer.header("location").unwrap().starts_with("/.portcullis/login"));
    }
}

const LOGO: &[u8] = b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"120\" height=\"32\"><rect width=\"120\" height=\"32\" fill=\"#0a7d4f\"/></svg>";

#[tokio::test]
async fn the_pages_wear_the_company_colour_and_logo() {
    let upstream = RecordingUpstream::start().await;
    let mut settings = Settings::new(upstream.url());
    settings.files.push(("acme.svg".into(), LOGO.to_vec()));
    settings.extra_top = "auth: { company: Acme CRM, colour: \"#0A7D4F\", logo: acme.svg }\n".into();
    let gateway = TestGateway::start(settings).await;
    let client = gateway.client();

    let page = client.get(&gateway.url("/.portcullis/nope")).await;
    assert!(
        page.body.contains("href=\"/.portcullis/assets/brand.css\""),
        "{}",
        page.body
    );
    let css = client.get(&gateway.url("/.portcullis/assets/brand.css")).await;
    assert_eq!(css.status, 200);
    assert!(css.body.contains("--accent: #0a7d4f"), "{}", css.body);
    assert!(css.body.contains("/.portcullis/assets/logo"), "{}", css.body);
    let logo = client.get(&gateway.url("/.portcullis/assets/logo")).await;
    assert_eq!(logo.header("content-type"), Some("image/svg+xml"));
    assert_eq!(logo.body.as_bytes(), LOGO);
    assert!(
        upstream.seen().is_empty(),
        "the portal's assets are ours, not the CRM's"
    );
}

#[test]
fn check_names_a_colour_or_logo_it_cannot_use() {
    let pki = crate::support::pki::TestPki::new();
    std::fs::write(pki.path().join("logo.gif"), b"GIF89a").unwrap();
    let file = pki.path().join("portcullis.yaml");
    std::fs::write(
        &file,
        "listen: { address: \"127.0.0.1:0\", tls: { cert: server.pem, key: server.key } }\n\
         upstream: { url: \"http://127.0.0.1:9\" }\n\
         auth: { colour: green, logo: logo.gif }\n",
    )
    .unwrap();
    let output = process::run(&["check", "--config", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("auth.colour: \"green\" is not a colour; write it like \"#0a7d4f\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("auth.logo:") && stderr.contains("must be a .png, .jpg, .svg or .webp file"),
        "{stderr}"
    );
}
