//! The gateway's pages as users meet them: the company's name as the
//! brand, the username kept after a typo, words that match the user's own
//! second factors, a step-up that says why, ways out of a refusal, links to
//! the account and the sessions, recovery codes that can be kept, and every
//! page in the browser's language.

use std::time::{Duration, Instant};

use crate::login::{enrol_with, enter_password, link_in, signed_in, Office, PASSWORD};
use crate::support::browser::Browser;
use crate::support::process;

#[tokio::test]
async fn the_pages_carry_the_companys_name_and_keep_the_username_after_a_typo() {
    let office = Office::start().await;
    let mut alice = Browser::new(&office.gateway);
    let form = alice.get("/.portcullis/login").await;
    assert!(form.body.contains("<title>Sign in · Acme CRM</title>"), "{}", form.body);
    assert!(form.body.contains("<p class=\"brand\"><span>Acme CRM</span></p>"));
    assert!(form.body.contains("Sign in to use Acme CRM."));
    assert!(
        !form.body.contains("Portcullis"),
        "our name is not the brand: {}",
        form.body
    );

    let typo = enter_password(&mut alice, "alice", "correct horse battery stapel", "/").await;
    assert_eq!(typo.status, 200);
    assert!(typo.body.contains("The username, password or code is not right."));
    assert!(
        typo.body.contains("name=\"username\" value=\"alice\""),
        "kept: {}",
        typo.body
    );
    assert!(
        typo.body
            .contains("id=\"password\" name=\"password\" autocomplete=\"current-password\" required autofocus"),
        "the password field has the focus: {}",
        typo.body
    );
}

#[tokio::test]
async fn the_code_page_asks_for_the_factors_the_user_has() {
    let office = Office::start().await;
    let mut alice = Browser::new(&office.gateway);
    assert_eq!(enter_password(&mut alice, "alice", PASSWORD, "/").await.status, 303);
    let page = alice.get("/.portcullis/second-factor").await;
    assert!(
        page.body
            .contains("Enter the 6-digit code from your authenticator app, or one of your recovery codes."),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("Email me"),
        "no code can be sent to her: {}",
        page.body
    );
    assert!(page
        .body
        .contains("href=\"/.portcullis/login\">Sign in as someone else</a>"));
}

#[tokio::test]
async fn a_step_up_says_why_it_asks_again() {
    let office = Office::start().await;
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    office.gateway.clock.advance(Duration::from_secs(10));
    let asked = alice.get("/contacts/export").await;
    assert_eq!(asked.status, 303);
    let page = alice.get(asked.header("location").unwrap()).await;
    assert!(
        page.body.contains("your last confirmation was more than 3 s ago"),
        "the route's step_up: 3s: {}",
        page.body
    );
    assert!(page.body.contains("href=\"/.portcullis/account\">Your account</a>"));
}

#[tokio::test]
async fn a_refusal_offers_a_way_back_a_way_out_and_a_way_in_as_someone_else() {
    let office = Office::start().await;
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    alice.forwarded_for = Some("192.0.2.99".into());
    let refused = alice.get("/contacts").await;
    assert_eq!(refused.status, 403);
    for link in [
        "<a href=\"/\">Back to the CRM</a>",
        "<a href=\"/.portcullis/logout\">Sign out</a>",
        "<a href=\"/.portcullis/login\">Sign in as someone else</a>",
    ] {
        assert!(refused.body.contains(link), "{link}: {}", refused.body);
    }
    assert!(
        refused.body.contains("Reference: "),
        "a reference to quote: {}",
        refused.body
    );
}

#[tokio::test]
async fn signed_in_pages_link_to_the_account_the_sessions_and_signing_out() {
    let office = Office::start().await;
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    for page in [
        "/.portcullis/account",
        "/.portcullis/sessions",
        "/.portcullis/account/password",
    ] {
        let answer = alice.get(page).await;
        assert_eq!(answer.status, 200, "{page}");
        for link in [
            "href=\"/\">Back to the CRM",
            "href=\"/.portcullis/account\">Your account",
            "href=\"/.portcullis/sessions\">Your sessions",
            "href=\"/.portcullis/logout\">Sign out",
        ] {
            assert!(answer.body.contains(link), "{page} lacks {link}: {}", answer.body);
        }
    }
    let account = alice.get("/.portcullis/account").await;
    assert!(account.body.contains("Signed in as alice."), "{}", account.body);
}

#[tokio::test]
async fn recovery_codes_can_be_downloaded_copied_and_printed() {
    let office = Office::start().await;
    let config = office.config_file();
    let invite = [
        "user",
        "invite",
        "erin",
        "--config",
        &config,
        "--url",
        &office.gateway.url(""),
    ];
    let output = process::run(&invite);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let link = link_in(&String::from_utf8_lossy(&output.stdout), &office.gateway);
    let (_, page) = enrol_with(&mut Browser::new(&office.gateway), &link, "violet tractor moonlight").await;
    let codes: Vec<&str> = (page.body.split("<li><code>").skip(1))
        .map(|rest| rest.split('<').next().unwrap())
        .collect();
    assert_eq!(codes.len(), 10, "{}", page.body);
    let download = page
        .body
        .split("<a href=\"data:text/plain;charset=utf-8,")
        .nth(1)
        .unwrap();
    let (file, rest) = download.split_once('"').unwrap();
    let file: String = form_urlencoded::parse(format!("f={file}").as_bytes())
        .next()
        .unwrap()
        .1
        .into();
    assert!(rest.starts_with(" download=\"acme-crm-recovery-codes.txt\""), "{rest}");
    let copy = page
        .body
        .split("readonly>")
        .nth(1)
        .unwrap()
        .split("</textarea>")
        .next()
        .unwrap();
    for code in &codes {
        assert!(file.contains(code), "{code} is in the file");
        assert!(copy.contains(code), "{code} is in the box to copy");
    }
    assert!(page.body.contains("Print command"), "{}", page.body);
}

#[tokio::test]
async fn pages_and_error_pages_speak_the_browsers_language_and_ops_can_change_a_text() {
    let office = Office::start().await;
    let mut marie = Browser::new(&office.gateway);
    marie.extra = vec![("accept-language".into(), "fr-CA,fr;q=0.9,en;q=0.5".into())];
    let form = marie.get("/.portcullis/login").await;
    assert!(form.body.contains("<html lang=\"fr\">"), "{}", form.body);
    assert!(
        form.body.contains("Connectez-vous pour utiliser Acme CRM."),
        "{}",
        form.body
    );

    let mut jonas = signed_in(&office, "alice", "127.0.0.1").await;
    jonas.extra = vec![("accept-language".into(), "de-DE,de;q=0.9".into())];
    jonas.forwarded_for = Some("192.0.2.99".into());
    let refused = jonas.get("/contacts").await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("<html lang=\"de\">"), "{}", refused.body);
    assert!(refused.body.contains("(192.0.2.99)"), "{}", refused.body);
    assert!(
        !refused.body.contains("Your account"),
        "no English left: {}",
        refused.body
    );

    let mut yuki = Browser::new(&office.gateway);
    yuki.extra = vec![("accept-language".into(), "ja".into())];
    assert!(
        yuki.get("/.portcullis/login").await.body.contains("<html lang=\"en\">"),
        "else English"
    );

    // Ops add Italian and change an English text, in a folder the config names.
    let texts = office.gateway.pki.path().join("texts");
    std::fs::create_dir(&texts).unwrap();
    std::fs::write(texts.join("it.yaml"), "sign_in_title: Accedi\n").unwrap();
    std::fs::write(
        texts.join("en.yaml"),
        "sign_in_intro: \"Welcome to {company}. Sign in below.\"\n",
    )
    .unwrap();
    let file = office.gateway.config_file();
    let yaml = std::fs::read_to_string(&file).unwrap();
    let yaml = yaml.replacen(
        "auth: { company: Acme CRM,",
        "auth: { texts: texts, company: Acme CRM,",
        1,
    );
    std::fs::write(file.with_extension("new"), yaml).unwrap();
    std::fs::rename(file.with_extension("new"), &file).unwrap();
    let started = Instant::now();
    while !yuki
        .get("/.portcullis/login")
        .await
        .body
        .contains("Welcome to Acme CRM. Sign in below.")
    {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the changed text never showed"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    yuki.extra = vec![("accept-language".into(), "it".into())];
    let italian = yuki.get("/.portcullis/login").await;
    assert!(italian.body.contains("<h1>Accedi</h1>"), "{}", italian.body);
    assert!(
        italian.body.contains(">Password</label>"),
        "the rest in English: {}",
        italian.body
    );
}
