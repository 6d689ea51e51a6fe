//! Scenario 11 for people without an authenticator app: a code by email
//! (a real SMTP server, over STARTTLS) or by SMS (a real HTTP server playing
//! the provider), as the policy allows per user.

use std::time::Duration;

use portcullis::auth::credentials::Credentials;
use portcullis::auth::password::{Hasher, Password};

use crate::login::{enter_password, signed_in, Office, PASSWORD};
use crate::support::browser::Browser;
use crate::support::gateway::Answer;
use crate::support::mail::{code_after, SmsProvider, SmtpServer};
use crate::support::pki::TestPki;

pub(crate) struct Codes {
    pub(crate) office: Office,
    pub(crate) smtp: SmtpServer,
    sms: SmsProvider,
    _files: TestPki,
}

/// A gateway whose policy lets hana use email codes and ivan SMS codes
/// (and nothing else), both with a password set.
pub(crate) async fn codes_office(valid_for: &str) -> Codes {
    let files = TestPki::new();
    files.issue("smtp", &["localhost"]);
    let smtp = SmtpServer::start(Some((files.path().join("smtp.pem"), files.path().join("smtp.key"))));
    let sms = SmsProvider::start().await;
    std::fs::write(files.path().join("sms.token"), "t0ken-from-a-file\n").unwrap();
    let dir = files.path().display();
    let codes = format!(
        "codes:\n  valid_for: {valid_for}\n\
         \x20 email:\n    from: \"Acme CRM <crm@example.com>\"\n    subject: Your Acme CRM code\n\
         \x20   smtp: {{ host: localhost, port: {}, security: starttls, ca_file: {dir}/ca.pem }}\n\
         \x20 sms:\n    account: {{ url: \"{}\", account_sid: AC123, auth_token_file: {dir}/sms.token, from: \"+15550000\" }}\n",
        smtp.port,
        sms.url("/2010-04-01/Accounts/AC123/Messages.json"),
    );
    let users = "  hana: { email: hana@example.com, second_factors: [email] }\n  \
                 ivan: { phone: \"+15550123\", second_factors: [sms] }\n";
    let office = Office::start_with(&codes, users).await;
    let hasher = Hasher::new(8192, 1, 1).unwrap();
    for user in ["hana", "ivan"] {
        Credentials {
            password: Some(hasher.hash(&Password::new(PASSWORD)).unwrap()),
            ..Default::default()
        }
        .save(&office.store, user)
        .await
        .unwrap();
    }
    Codes {
        office,
        smtp,
        sms,
        _files: files,
    }
}

async fn ask_for_code(browser: &mut Browser, purpose: &str, via: &str, next: &str, page: &Answer) -> Answer {
    let csrf = Browser::csrf(page);
    browser
        .post(
            "/.portcullis/send-code",
            &[("csrf", &csrf), ("for", purpose), ("via", via), ("next", next)],
        )
        .await
}

async fn submit(browser: &mut Browser, action: &str, page: &Answer, code: &str) -> Answer {
    let csrf = Browser::csrf(page);
    browser
        .post(action, &[("csrf", &csrf), ("code", code), ("next", "/")])
        .await
}

/// Password step done; the second-factor page.
async fn after_password(codes: &Codes, user: &str) -> (Browser, Answer) {
    let mut browser = Browser::new(&codes.office.gateway);
    assert_eq!(
        enter_password(&mut browser, user, PASSWORD, "/").await.status,
        303,
        "{user}"
    );
    let page = browser.get("/.portcullis/second-factor").await;
    assert_eq!(page.status, 200);
    (browser, page)
}

#[tokio::test]
async fn scenario_11_hana_has_no_authenticator_and_signs_in_with_a_code_sent_by_email() {
    let codes = codes_office("5m").await;
    let (mut hana, page) = after_password(&codes, "hana").await;
    assert!(
        page.body.contains("Email me a code (h•••@example.com)"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("authenticator app"), "she has none: {}", page.body);
    assert!(!page.body.contains("Text me a code"), "SMS is not hers");

    let sent = ask_for_code(&mut hana, "login", "email", "/", &page).await;
    assert!(
        sent.body
            .contains("We sent a code to h•••@example.com. It works for 5 minutes."),
        "{}",
        sent.body
    );
    let mail = codes.smtp.message(1).await;
    assert!(mail.contains("To: hana@example.com"), "{mail}");
    assert!(mail.contains("From: \"Acme CRM\" <crm@example.com>"), "{mail}");
    assert!(mail.contains("Subject: Your Acme CRM code"), "{mail}");
    assert!(mail.contains("127.0.0.1 (web)"), "where the request came from: {mail}");
    assert!(mail.contains("If this was not you"), "{mail}");
    assert!(mail.contains("text/html"), "a plain-text and an HTML part: {mail}");
    let code = code_after(&mail, "sign-in code is:", 6);

    let signed_in = submit(&mut hana, "/.portcullis/second-factor", &sent, &code).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(hana.get("/contacts").await.status, 200);
    assert_eq!(codes.office.upstream.last().header("x-portcullis-user"), Some("hana"));

    // The code worked once, for that sign-in only.
    let (mut again, page) = after_password(&codes, "hana").await;
    let reused = submit(&mut again, "/.portcullis/second-factor", &page, &code).await;
    assert_eq!(reused.status, 200);
    assert!(reused.body.contains("not right"), "{}", reused.body);
}

#[tokio::test]
async fn scenario_11_ivan_signs_in_with_a_code_by_sms_through_the_providers_api() {
    let codes = codes_office("5m").await;
    let (mut ivan, page) = after_password(&codes, "ivan").await;
    assert!(page.body.contains("Text me a code (•••0123)"), "{}", page.body);
    let sent = ask_for_code(&mut ivan, "login", "sms", "/", &page).await;
    assert!(sent.body.contains("We sent a code to •••0123."), "{}", sent.body);

    let received = codes.sms.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    let basic = request.headers["authorization"].to_str().unwrap();
    assert_eq!(
        basic, "Basic QUMxMjM6dDBrZW4tZnJvbS1hLWZpbGU=",
        "account SID and the token from its file"
    );
    let form: Vec<(String, String)> = form_urlencoded::parse(request.body.as_bytes()).into_owned().collect();
    assert_eq!(form[0], ("To".into(), "+15550123".into()));
    assert_eq!(form[1], ("From".into(), "+15550000".into()));
    assert!(form[2].1.contains("is your Acme CRM sign-in code"), "{form:?}");
    let code = code_after(&form[2].1, "", 6);

    // A TOTP code is no use to ivan: his policy allows SMS only.
    let totp = office_code(&codes);
    let refused = submit(&mut ivan, "/.portcullis/second-factor", &sent, &totp).await;
    assert!(refused.body.contains("not right"), "{}", refused.body);
    let signed_in = submit(&mut ivan, "/.portcullis/second-factor", &refused, &code).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(ivan.get("/contacts").await.status, 200);
}

fn office_code(codes: &Codes) -> String {
    portcullis::auth::totp::current_code(&codes.office.secret, portcullis::clock::now())
}

#[tokio::test]
async fn a_code_allows_five_wrong_tries_and_codes_cannot_be_asked_for_in_a_stream() {
    let codes = codes_office("5m").await;
    let (mut ivan, page) = after_password(&codes, "ivan").await;
    let sent = ask_for_code(&mut ivan, "login", "sms", "/", &page).await;
    let again = ask_for_code(&mut ivan, "login", "sms", "/", &sent).await;
    assert!(again.body.contains("A code was sent a moment ago"), "{}", again.body);
    assert_eq!(codes.sms.received().len(), 1, "no second text");

    let code = code_after(&codes.sms.received()[0].body, "Body=", 6);
    let mut page = again;
    for _ in 0..4 {
        page = submit(&mut ivan, "/.portcullis/second-factor", &page, "000000").await;
        assert!(page.body.contains("not right"));
    }
    let signed_in = submit(&mut ivan, "/.portcullis/second-factor", &page, &code).await;
    assert_eq!(signed_in.status, 303, "four wrong tries still leave the code usable");

    // The fifth wrong try voids a code (and locks the account, as five
    // wrong passwords would).
    let (mut hana, page) = after_password(&codes, "hana").await;
    let sent = ask_for_code(&mut hana, "login", "email", "/", &page).await;
    let code = code_after(&codes.smtp.message(1).await, "sign-in code is:", 6);
    let mut page = sent;
    for _ in 0..5 {
        page = submit(&mut hana, "/.portcullis/second-factor", &page, "000000").await;
    }
    let late = submit(&mut hana, "/.portcullis/second-factor", &page, &code).await;
    assert_eq!(late.status, 200, "{}", late.body);
    assert!(late.body.contains("Too many attempts"), "{}", late.body);
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let codes = codes_office("10s").await;
    let (mut ivan, page) = after_password(&codes, "ivan").await;
    let sent = ask_for_code(&mut ivan, "login", "sms", "/", &page).await;
    assert!(sent.body.contains("It works for 1 minutes") || sent.body.contains("It works for 1 minute"));
    let code = code_after(&codes.sms.received()[0].body, "Body=", 6);
    codes.office.gateway.clock.advance(Duration::from_secs(11));
    // The pending sign-in itself lasts 5 minutes; only the code expired.
    let late = submit(&mut ivan, "/.portcullis/second-factor", &sent, &code).await;
    assert_eq!(late.status, 200);
    assert!(late.body.contains("not right"), "{}", late.body);
}

#[tokio::test]
async fn when_the_provider_or_the_mail_server_fails_the_user_is_told_and_nobody_gets_in() {
    let mut codes = codes_office("5m").await;
    codes.sms.answer_with(500);
    let (mut ivan, page) = after_password(&codes, "ivan").await;
    let failed = ask_for_code(&mut ivan, "login", "sms", "/", &page).await;
    assert!(
        failed.body.contains("We could not send a code just now"),
        "{}",
        failed.body
    );
    assert!(!ivan.cookies.contains_key("__Host-portcullis"));

    let port = codes.smtp.port;
    drop(std::mem::replace(&mut codes.smtp, SmtpServer::start(None)));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the mail server is gone"
    );
    let (mut hana, page) = after_password(&codes, "hana").await;
    let failed = ask_for_code(&mut hana, "login", "email", "/", &page).await;
    assert!(
        failed.body.contains("We could not send a code just now"),
        "{}",
        failed.body
    );
    assert_eq!(hana.get("/contacts").await.status, 303, "still not signed in");
    assert!(codes.office.upstream.seen().is_empty(), "nothing reached the CRM");
}

#[tokio::test]
async fn scenario_16_a_step_up_offers_the_same_codes() {
    let codes = codes_office("5m").await;
    let (mut ivan, page) = after_password(&codes, "ivan").await;
    ask_for_code(&mut ivan, "login", "sms", "/", &page).await;
    let code = code_after(&codes.sms.received()[0].body, "Body=", 6);
    assert_eq!(
        submit(&mut ivan, "/.portcullis/second-factor", &page, &code)
            .await
            .status,
        303
    );

    // The export asks for a second factor no older than 3 s.
    codes.office.gateway.clock.advance(Duration::from_millis(3500));
    assert_eq!(ivan.get("/contacts/export").await.status, 303);
    let prompt = ivan.get("/.portcullis/step-up?next=%2Fcontacts%2Fexport").await;
    assert!(prompt.body.contains("Text me a code"), "{}", prompt.body);
    let sent = ask_for_code(&mut ivan, "step-up", "sms", "/contacts/export", &prompt).await;
    assert!(sent.body.contains("We sent a code"), "{}", sent.body);
    let code = code_after(&codes.sms.received()[1].body, "Body=", 6);
    let csrf = Browser::csrf(&sent);
    let confirmed = ivan
        .post(
            "/.portcullis/step-up",
            &[("csrf", &csrf), ("code", &code), ("next", "/contacts/export")],
        )
        .await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.body);
    assert_eq!(ivan.get("/contacts/export").await.status, 200);

    // Alice (TOTP only, by default) is offered no codes.
    let mut alice = signed_in(&codes.office, "alice", "127.0.0.1").await;
    let prompt = alice.get("/.portcullis/step-up?next=%2F").await;
    assert!(!prompt.body.contains("me a code"), "{}", prompt.body);
}

#[test]
fn check_refuses_a_policy_that_offers_codes_it_cannot_send() {
    let pki = TestPki::new();
    let file = pki.path().join("portcullis.yaml");
    std::fs::write(
        &file,
        "listen: { address: \"127.0.0.1:0\", tls: { cert: server.pem, key: server.key } }\n\
         upstream: { url: \"http://127.0.0.1:9\" }\n\
         codes:\n  digits: 4\n  sms: { webhook: { url: \"ftp://sms\", json: \"{}\" } }\n\
         users: { ivan: { phone: \"+15550123\", second_factors: [sms, email] } }\n",
    )
    .unwrap();
    let output = crate::support::process::run(&["check", "--config", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "codes.digits: must be 6, 7 or 8",
        "codes.sms.webhook.url: \"ftp://sms\" must start with http:// or https://",
        "codes.email: second_factors offers email codes, but codes.email is not set; say how to send them",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in\n{stderr}");
    }
}
