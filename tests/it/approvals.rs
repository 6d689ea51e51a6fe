//! Four-eyes approval (issue: guards for the CRM's data): Ben's bulk
//! deletion is held, not forwarded; Mia, a manager, gets an email, sees
//! exactly what it is in a real browser on another gateway, proves her
//! second factor again, and approves it; Ben sends it, once, and sees the
//! CRM's answer. Rejected, expired and oversized requests never reach the
//! CRM, and nobody approves their own. Two real gateways on one real
//! Redis, a real SMTP server, headless Chromium, and the real binary's
//! `approvals` commands.

use crate::browser::{chromium_speaking, click, type_into, wait_for_url};
use crate::login::{enter_code, enter_password, signed_in, Office, PASSWORD};
use crate::support::browser::Browser;
use crate::support::gateway::Answer;
use crate::support::mail::SmtpServer;
use crate::support::process;

/// The CRM's bulk deletion (here the recording CRM's `/echo`, which answers
/// with what it received) waits for a manager.
fn policy(smtp: &SmtpServer, approval: &str) -> String {
    format!(
        "codes:\n  email:\n    from: \"Acme CRM <crm@example.com>\"\n    subject: Your Acme CRM code\n    \
           smtp: {{ host: 127.0.0.1, port: {} , security: none }}\n\
         trusted_proxies: [127.0.0.1]\n\
         networks: {{ here: [127.0.0.0/8] }}\n\
         access: {{ web: [here] }}\n\
         groups: {{ sales: {{}}, managers: {{}} }}\n\
         users:\n  ben: {{ groups: [sales], email: ben@example.com }}\n  \
           mia: {{ groups: [managers], email: mia@example.com }}\n  alice: {{ groups: [sales] }}\n\
         routes:\n  - {{ paths: [\"/echo\"], methods: [POST], approval: {approval} }}\n",
        smtp.port
    )
}

const DELETION: &str = "ids=41%2C42%2C43&mode=hard&csrf_token=crm-own-token";

fn deletions(office: &Office) -> usize {
    office
        .upstream
        .seen()
        .iter()
        .filter(|s| s.uri.path() == "/echo")
        .count()
}

/// Ben asks for the deletion; the page it sends him to.
async fn ben_asks(ben: &mut Browser) -> String {
    let held = ben.send("POST", "/echo?list=duplicates", Some(DELETION.into())).await;
    assert_eq!(held.status, 303, "held, not forwarded: {}", held.body);
    let page = held.header("location").unwrap().to_owned();
    assert!(page.starts_with("/.portcullis/approvals/"), "{page}");
    page
}

/// The first message to `to` (waiting up to 5 s), its quoted-printable
/// soft line breaks undone.
async fn mail_to(smtp: &SmtpServer, to: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let found = smtp.messages().into_iter().find(|m| m.contains(&format!("To: {to}")));
        if let Some(mail) = found {
            return mail.replace("=\r\n", "").replace("=\n", "");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "no mail to {to}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn link_in(mail: &str) -> String {
    let start = mail.find("https://").expect("a link in the mail");
    mail[start..].split_whitespace().next().unwrap().to_owned()
}

/// Post `fields` to `action` as a form on `page` would (with the CSRF token
/// the page's visit leaves in the browser, whether or not it shows a form).
async fn post_form(browser: &mut Browser, page: &str, action: &str, fields: &[(&str, &str)]) -> Answer {
    browser.get(page).await;
    let csrf = browser.cookies["__Host-portcullis-csrf"].clone();
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    browser.post(action, &form).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ben_asks_to_delete_contacts_mia_approves_in_a_browser_on_another_gateway_and_it_reaches_the_crm_once() {
    let smtp = SmtpServer::start(None);
    let approval = "{ by: [managers], valid_for: 1h, reason: required }";
    let office = Office::enrolling(None, "", &policy(&smtp, approval), &["ben", "mia", "alice"]).await;
    let other_gateway = office.second_gateway().await;
    let mut ben = signed_in(&office, "ben", "127.0.0.1").await;

    // Held: the CRM sees nothing, and Ben's page asks him why.
    let page = ben_asks(&mut ben).await;
    assert_eq!(deletions(&office), 0);
    let shown = ben.get(&page).await;
    assert_eq!(shown.status, 200);
    assert!(
        shown.body.contains("waits for a second person&#39;s approval"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("Say why you need it"), "{}", shown.body);
    assert!(shown.body.contains("POST /echo?list=duplicates"), "{}", shown.body);
    let answer = post_form(&mut ben, &page, &page, &[("reason", "Duplicates of contact 40")]).await;
    assert_eq!(answer.status, 303);
    let shown = ben.get(&page).await;
    assert!(
        shown.body.contains("Waiting for a member of managers to approve it"),
        "{}",
        shown.body
    );

    // Someone in sales is not an approver: to her the request does not exist.
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    assert_eq!(alice.get(&page).await.status, 404);

    // Mia's email names the request and links to it.
    let mail = mail_to(&smtp, "mia@example.com").await;
    assert!(
        mail.contains("Subject: ben asks for your approval: POST /echo?list=duplicates"),
        "{mail}"
    );
    assert!(mail.contains("Reason: Duplicates of contact 40"), "{mail}");
    let link = link_in(&mail);
    assert!(link.ends_with(&page), "{link}");
    assert!(
        smtp.messages().iter().all(|m| !m.contains("To: ben@example.com")),
        "not the requester"
    );

    // Mia, in a real browser on the other gateway: signs in, then sees
    // exactly what Ben asked for, but not the CRM's token in the form.
    let (_driver, mia, _profile) = chromium_speaking("en").await;
    let port = office.gateway.addr.port();
    let on_other = link.replace(&format!(":{port}/"), &format!(":{}/", other_gateway.addr.port()));
    mia.goto(&on_other).await.unwrap();
    wait_for_url(&mia, "/.portcullis/login").await;
    type_into(&mia, "username", "mia").await;
    type_into(&mia, "password", PASSWORD).await;
    click(&mia, "button[type=submit]").await;
    wait_for_url(&mia, "/.portcullis/second-factor").await;
    type_into(&mia, "code", &office.code()).await;
    click(&mia, "button[type=submit]").await;
    wait_for_url(&mia, &page).await;
    let seen = mia.source().await.unwrap();
    for shown in [
        "ben asks to send this request",
        "POST /echo?list=duplicates",
        "Duplicates of contact 40",
    ] {
        assert!(seen.contains(shown), "{shown}: {seen}");
    }
    assert!(seen.contains("<code>ids</code> = <code>41,42,43</code>"), "{seen}");
    assert!(
        seen.contains("<code>csrf_token</code> = <code>(hidden)</code>"),
        "{seen}"
    );
    assert!(!seen.contains("crm-own-token"), "{seen}");

    // Six minutes on, her second factor is not fresh: she proves it again first.
    other_gateway.clock.advance(std::time::Duration::from_secs(6 * 60));
    mia.refresh().await.unwrap();
    let seen = mia.source().await.unwrap();
    assert!(!seen.contains("id=\"approve\""), "no deciding on a stale second factor");
    click(&mia, "#confirm-first").await;
    wait_for_url(&mia, "/.portcullis/step-up").await;
    type_into(&mia, "code", &crate::login::unused_code(&other_gateway, &office.secret)).await;
    click(&mia, "form[action='/.portcullis/step-up'] button[type=submit]").await;
    wait_for_url(&mia, &page).await;
    type_into(&mia, "note", "Checked: they are duplicates").await;
    click(&mia, "#approve").await;
    crate::sso::wait_for_text(&mia, "Approved by mia").await;
    mia.close().await.unwrap();
    assert_eq!(deletions(&office), 0, "approved is not sent");

    // Ben hears of it.
    let mail = mail_to(&smtp, "ben@example.com").await;
    assert!(mail.contains("Subject: Approved: POST /echo?list=duplicates"), "{mail}");
    assert!(mail.contains("Note: Checked: they are duplicates"), "{mail}");
    // He presses "Send" on both gateways at once: it goes once, and he sees
    // the CRM's answer, to exactly what he asked for.
    let send = format!("{page}/send");
    let mut ben_elsewhere = Browser::new(&other_gateway);
    ben_elsewhere.cookies = ben.cookies.clone();
    let (here, there) = tokio::join!(
        post_form(&mut ben, &page, &send, &[]),
        post_form(&mut ben_elsewhere, &page, &send, &[])
    );
    let mut statuses = [here.status, there.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{}\n{}", here.body, there.body);
    let sent = if here.status == 200 { here } else { there };
    assert_eq!(sent.body, DELETION, "the CRM's answer, to exactly the held request");
    assert_eq!(deletions(&office), 1);
    let reached = office.upstream.last();
    assert_eq!(reached.uri, "/echo?list=duplicates");
    assert_eq!(
        reached.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(reached.header("x-portcullis-user"), Some("ben"));
    // And never again.
    assert_eq!(post_form(&mut ben, &page, &send, &[]).await.status, 409);
    assert_eq!(deletions(&office), 1);
    assert!(ben.get(&page).await.body.contains("Sent to the CRM at"));

    // explain names the rule that holds it.
    let config = office.config_file();
    let args = [
        "explain",
        "--config",
        &config,
        "--user",
        "ben",
        "--ip",
        "127.0.0.1",
        "--method",
        "POST",
        "--path",
        "/echo",
    ];
    let explained = String::from_utf8_lossy(&process::run(&args).stdout).into_owned();
    assert!(
        explained.contains(
            "holds it until a member of managers other than the requester approves it (within 1h, a reason required)"
        ),
        "{explained}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_an_expired_and_an_oversized_request_never_reach_the_crm_and_nobody_approves_their_own() {
    let smtp = SmtpServer::start(None);
    let approval = "{ by: [managers], valid_for: 10m, max_body_bytes: 1024 }";
    let office = Office::enrolling(None, "", &policy(&smtp, approval), &["ben", "mia", "alice"]).await;
    let mut ben = signed_in(&office, "ben", "127.0.0.1").await;
    let config = office.config_file();
    let cli = |args: &[&str]| {
        let mut all = vec!["approvals"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", &config]);
        process::run(&all)
    };

    // No reason asked: Mia is emailed at once. From the command line, Ben
    // cannot approve his own, nor Alice (not a manager); Mia rejects it.
    let page = ben_asks(&mut ben).await;
    let reference = page.rsplit('/').next().unwrap().to_owned();
    assert!(link_in(&mail_to(&smtp, "mia@example.com").await).ends_with(&page));
    let own = cli(&["approve", &reference, "--by", "ben"]);
    assert!(!own.status.success());
    let said = String::from_utf8_lossy(&own.stderr);
    assert!(
        said.contains("ben made this request: someone else must approve it"),
        "{said}"
    );
    let not_manager = cli(&["approve", &reference, "--by", "alice"]);
    assert!(String::from_utf8_lossy(&not_manager.stderr).contains("alice may not approve this request"));
    let listed = cli(&["list"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains(&reference) && listed.contains("waiting"), "{listed}");
    let rejected = cli(&[
        "reject",
        &reference,
        "--by",
        "mia",
        "--note",
        "Not these: 42 has open deals",
    ]);
    assert!(
        rejected.status.success(),
        "{}",
        String::from_utf8_lossy(&rejected.stderr)
    );
    let audit = String::from_utf8_lossy(&rejected.stderr).into_owned();
    assert!(
        audit.contains("approval.rejected") && audit.contains("by=\"mia\""),
        "{audit}"
    );
    let shown = String::from_utf8_lossy(&rejected.stdout).into_owned();
    assert!(shown.contains("state        rejected"), "{shown}");
    assert!(
        shown.contains("ids = 41,42,43") && shown.contains("csrf_token = (hidden)"),
        "{shown}"
    );
    let answer = ben.get(&page).await;
    assert!(answer.body.contains("Rejected by mia"), "{}", answer.body);
    assert!(answer.body.contains("Not these: 42 has open deals"), "{}", answer.body);
    assert_eq!(
        post_form(&mut ben, &page, &format!("{page}/send"), &[]).await.status,
        409
    );

    // Ben's own page offers him no way to approve it either.
    let second = ben_asks(&mut ben).await;
    let tried = post_form(&mut ben, &second, &second, &[("decision", "approve")]).await;
    assert_eq!(tried.status, 303);
    assert!(ben.get(&second).await.body.contains("Waiting for a member of managers"));

    // Nobody decides within ten minutes: it expires, and cannot be
    // approved or sent after.
    office.gateway.clock.advance(std::time::Duration::from_secs(11 * 60));
    let mut mia = Browser::new(&office.gateway);
    mia.forwarded_for = Some("127.0.0.1".into());
    enter_password(&mut mia, "mia", PASSWORD, "/").await;
    assert_eq!(enter_code(&mut mia, &office.code()).await.status, 303);
    let expired = mia.get(&second).await;
    assert!(
        expired.body.contains("so it expired; it never reached the CRM"),
        "{}",
        expired.body
    );
    assert!(!expired.body.contains("id=\"approve\""), "{}", expired.body);
    let late = post_form(&mut mia, &second, &second, &[("decision", "approve")]).await;
    assert_eq!(late.status, 303);
    assert!(mia.get(&second).await.body.contains("so it expired"));

    // A request larger than the rule keeps is refused, and says so.
    let mut ben = signed_in(&office, "ben", "127.0.0.1").await;
    let large = format!("ids={}", "4".repeat(2000));
    let refused = ben.send("POST", "/echo", Some(large)).await;
    assert_eq!(refused.status, 413, "{}", refused.body);
    assert!(
        refused.body.contains("keeps at most 1 KiB of one while it waits"),
        "{}",
        refused.body
    );

    assert_eq!(deletions(&office), 0, "nothing reached the CRM");
}
