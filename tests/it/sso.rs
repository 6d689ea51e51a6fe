//! Signing in with the company's identity provider: a real OpenID provider
//! (node's oidc-provider) and the real gateway, driven by headless
//! Chromium. The provider vouches for who signs in; the gateway's own
//! rules (the user in the YAML, disabled, the network) and its second
//! factor still apply, unless the provider's own second factor is trusted.

use fantoccini::{Client, Locator};

use crate::browser::{chromium_speaking, click, sign_out, type_into, wait_for_url};
use crate::login::{admin_command, enter_code, enter_password, Office, PASSWORD};
use crate::support::browser::Browser;
use crate::support::idp::{IdentityProvider, CLIENT_ID, CLIENT_SECRET};
use crate::support::redis::RedisServer;
use crate::support::{RecordingUpstream, Settings};

const POLICY: &str = "trusted_proxies: [127.0.0.1]\n\
     networks: { here: [127.0.0.0/8] }\n\
     access: { web: [here] }\n\
     password_sign_in: false\n\
     users:\n  \
       alice: { email: alice@example.com, password_sign_in: true }\n  \
       erin: { email: erin@example.com }\n  \
       carol: { email: carol@example.com }\n  \
       dave: { email: dave@example.com, disabled: true }\n\
     routes:\n  - { paths: [\"/contacts/export*\"], step_up: 2s }\n";

/// A gateway whose sign-in page offers "Sign in with Company SSO" (the
/// provider on `idp_port`, whose `mfa` is trusted) and one that is down;
/// passwords off but for alice (the break-glass account); alice and erin
/// enrolled with a password and an authenticator app.
async fn office(idp_port: u16) -> Office {
    let down = "down: { label: Old SSO, issuer: \"http://127.0.0.1:9\", client_id: x, client_secret_file: idp.secret }";
    office_with(idp_port, "trust_mfa: [mfa] }", down, POLICY, &["alice", "erin"]).await
}

/// A gateway on Redis with the provider on `idp_port` as `company`: its
/// settings end with `company` (the rest of its flow mapping), then another
/// provider (`more`, a line of YAML) and the `policy`; `enrolled` with a
/// password and an authenticator app.
pub(crate) async fn office_with(idp_port: u16, company: &str, more: &str, policy: &str, enrolled: &[&str]) -> Office {
    let redis = RedisServer::start();
    let store_settings = portcullis::config::RedisSettings::single(&redis.url(), "portcullis:");
    let upstream = RecordingUpstream::start().await;
    let mut settings = Settings::new(upstream.url());
    settings
        .files
        .push(("idp.secret".into(), CLIENT_SECRET.as_bytes().to_vec()));
    settings.policy = format!(
        "store: {{ redis: {{ url: \"{}\" }} }}\n\
         auth:\n  company: Acme CRM\n  argon2_memory_kib: 8192\n  argon2_iterations: 1\n  providers:\n    \
           company: {{ label: Company SSO, issuer: \"http://127.0.0.1:{idp_port}\", client_id: {CLIENT_ID}, \
                       client_secret_file: idp.secret, {company}\n    {more}\n\
         {policy}",
        redis.url()
    );
    Office::serve(Some(redis), &store_settings, upstream, settings, enrolled).await
}

/// At the provider's own pages: its sign-in (any password), then consent.
pub(crate) async fn sign_in_at_provider(client: &Client, login: &str) {
    wait_for_url(client, "/interaction/").await;
    let field = |name: &'static str| client.find(Locator::Css(name));
    field("input[name=login]")
        .await
        .unwrap()
        .send_keys(login)
        .await
        .unwrap();
    field("input[name=password]")
        .await
        .unwrap()
        .send_keys("anything")
        .await
        .unwrap();
    click(client, "button[type=submit]").await;
    // The consent page, the first time this account meets the gateway.
    for _ in 0..100 {
        let url = client.current_url().await.unwrap();
        if !url.as_str().contains("/interaction/") {
            return;
        }
        let page = client.source().await.unwrap();
        if page.contains("Authorize") || page.contains("consent") {
            if let Ok(button) = client.find(Locator::Css("button[type=submit]")).await {
                let _ = button.click().await;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("stuck at the provider: {}", client.source().await.unwrap());
}

pub(crate) async fn wait_for_text(client: &Client, text: &str) -> String {
    for _ in 0..100 {
        let page = client.source().await.unwrap();
        if page.contains(text) {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the page never said {text:?}: {}", client.source().await.unwrap());
}

/// Forget the provider's session in this browser (its cookies are its own
/// site's), so that the next sign-in there is someone else.
pub(crate) async fn forget_provider(client: &Client, idp: &IdentityProvider) {
    client
        .goto(&format!("{}/.well-known/openid-configuration", idp.issuer()))
        .await
        .unwrap();
    client.delete_all_cookies().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_signs_in_with_the_company_provider_then_our_code_and_carol_with_the_providers_own_second_factor() {
    let idp_port = IdentityProvider::port();
    let office = office(idp_port).await;
    let url = |path: &str| format!("https://localhost:{}{path}", office.gateway.addr.port());
    let ca = office.gateway.pki.path().join("ca.pem");
    let idp = IdentityProvider::start(idp_port, &url("/.portcullis/sso/company/callback"), &ca);
    let (_driver, client, _profile) = chromium_speaking("en").await;

    // Alice: the provider vouches for alice@example.com, who is alice in
    // the YAML; its sign-in was a password only, so ours asks for her code.
    client.goto(&url("/contacts?page=2")).await.unwrap();
    wait_for_url(&client, "/.portcullis/login").await;
    click(&client, "ul.providers a[href^='/.portcullis/sso/company']").await;
    sign_in_at_provider(&client, "alice").await;
    wait_for_url(&client, "/.portcullis/second-factor").await;
    assert!(
        office.upstream.seen().is_empty(),
        "nothing reaches the CRM before the code"
    );
    type_into(&client, "code", &office.code()).await;
    click(
        &client,
        "form[action='/.portcullis/second-factor']:not(.passkey) button",
    )
    .await;
    wait_for_url(&client, "/contacts?page=2").await;
    assert!(client.source().await.unwrap().contains("hello from upstream"));
    assert_eq!(office.upstream.last().header("x-portcullis-user"), Some("alice"));

    // She signed in with the provider, so signing out here signs her out
    // there too (RP-initiated logout): the provider asks, then sends her
    // back to our sign-in page; her session is gone.
    sign_out(&client, &url("/.portcullis/logout")).await;
    wait_for_url(&client, &format!("127.0.0.1:{idp_port}/session/end")).await;
    let at_provider = client.current_url().await.unwrap().to_string();
    for part in ["id_token_hint=", "client_id=portcullis", "post_logout_redirect_uri="] {
        assert!(at_provider.contains(part), "{part} in {at_provider}");
    }
    click(&client, "button[name=logout][value=yes]").await;
    wait_for_url(&client, &url("/.portcullis/login")).await;
    client.goto(&url("/contacts")).await.unwrap();
    wait_for_url(&client, "/.portcullis/login?next=%2Fcontacts").await;

    // Mallory has an account at the provider but is not in the YAML, and
    // dave is disabled: a plain page each, and nothing reaches the CRM.
    let reached = office.upstream.seen().len();
    for login in ["mallory", "dave"] {
        forget_provider(&client, &idp).await;
        client.goto(&url("/.portcullis/login")).await.unwrap();
        click(&client, "ul.providers a[href^='/.portcullis/sso/company']").await;
        sign_in_at_provider(&client, login).await;
        let page = wait_for_text(&client, "Sign-in did not work").await;
        assert!(
            page.contains("Your company sign-in could not sign you in here"),
            "{page}"
        );
        assert!(!page.contains(login), "no detail for the user: {page}");
    }
    assert_eq!(office.upstream.seen().len(), reached, "{:?}", office.upstream.seen());

    // Carol signs in at the provider with its second factor (amr: mfa),
    // which this provider's settings trust: straight into the CRM.
    forget_provider(&client, &idp).await;
    client.goto(&url("/.portcullis/login?next=%2Fdeals")).await.unwrap();
    click(&client, "ul.providers a[href^='/.portcullis/sso/company']").await;
    sign_in_at_provider(&client, "carol+mfa").await;
    wait_for_url(&client, "/deals").await;
    assert_eq!(office.upstream.last().header("x-portcullis-user"), Some("carol"));
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_at_the_provider_ends_the_sessions_it_vouched_for_here_and_on_every_gateway() {
    let idp_port = IdentityProvider::port();
    let office = office(idp_port).await;
    let other_gateway = office.second_gateway().await;
    let url = |path: &str| format!("https://localhost:{}{path}", office.gateway.addr.port());
    let ca = office.gateway.pki.path().join("ca.pem");
    let idp = IdentityProvider::start(idp_port, &url("/.portcullis/sso/company/callback"), &ca);
    let (_driver, client, _profile) = chromium_speaking("en").await;
    client.goto(&url("/.portcullis/login?next=%2Fdeals")).await.unwrap();
    click(&client, "ul.providers a[href^='/.portcullis/sso/company']").await;
    sign_in_at_provider(&client, "carol+mfa").await;
    wait_for_url(&client, "/deals").await;
    // The same session cookie works on the other gateway (the same host).
    let cookie = client.get_named_cookie("__Host-portcullis").await.unwrap();
    let mut elsewhere = Browser::new(&other_gateway);
    elsewhere.cookies.insert(cookie.name().into(), cookie.value().into());
    assert_eq!(elsewhere.get("/deals").await.status, 200);

    // Carol signs out at the provider's own page: it tells the gateway
    // (back-channel logout, a signed token), and her session ends on both.
    client.goto(&format!("{}/session/end", idp.issuer())).await.unwrap();
    click(&client, "button[name=logout][value=yes]").await;
    let config = office.config_file();
    let started = std::time::Instant::now();
    while admin_command(&["sessions", "list", "--config", &config, "--user", "carol"])
        .lines()
        .count()
        > 1
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "carol's session outlived the provider's"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        elsewhere.get("/deals").await.status,
        303,
        "ended on the other gateway too"
    );
    client.goto(&url("/deals")).await.unwrap();
    wait_for_url(&client, "/.portcullis/login?next=%2Fdeals").await;

    // Anyone else posting to the back-channel endpoint is refused.
    let forged = office
        .gateway
        .client()
        .send_full(
            http::Request::post(office.gateway.url("/.portcullis/sso/company/backchannel-logout"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(http_body_util::Full::new(bytes::Bytes::from(
                    "logout_token=eyJhbGciOiJub25lIn0.e30.",
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(forged.status(), 400);
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carol_signed_in_by_the_providers_second_factor_steps_up_there_and_nobody_else_can_do_it_for_her() {
    let idp_port = IdentityProvider::port();
    let office = office(idp_port).await;
    let url = |path: &str| format!("https://localhost:{}{path}", office.gateway.addr.port());
    let ca = office.gateway.pki.path().join("ca.pem");
    let _idp = IdentityProvider::start(idp_port, &url("/.portcullis/sso/company/callback"), &ca);
    let (_driver, client, _profile) = chromium_speaking("en").await;
    client.goto(&url("/.portcullis/login?next=%2Fdeals")).await.unwrap();
    click(&client, "ul.providers a[href^='/.portcullis/sso/company']").await;
    sign_in_at_provider(&client, "carol+mfa").await;
    wait_for_url(&client, "/deals").await;

    // The export asks for a fresh second factor. Carol has none of ours:
    // the provider's stood for it, so the provider is asked to sign her
    // in afresh (prompt=login, max_age=0), with its second factor again.
    let export = |client: &Client| {
        let client = client.clone();
        let to = url("/contacts/export?all=1");
        async move { client.goto(&to).await.unwrap() }
    };
    // Her sign-in is older than the route's two seconds. (Real time: the
    // provider's tokens are checked against the gateway's clock.)
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let cookie = client.get_named_cookie("__Host-portcullis").await.unwrap();
    let mut same_session = Browser::new(&office.gateway);
    same_session.cookies.insert(cookie.name().into(), cookie.value().into());
    let asked = same_session.get("/.portcullis/step-up?next=%2Fcontacts%2Fexport").await;
    let to = asked.header("location").unwrap_or_default();
    assert!(to.starts_with(&format!("http://127.0.0.1:{idp_port}/auth?")), "{to}");
    assert!(to.contains("prompt=login") && to.contains("max_age=0"), "{to}");
    export(&client).await;
    sign_in_at_provider(&client, "carol+mfa").await;
    wait_for_url(&client, "/contacts/export?all=1").await;
    let exports = || {
        let seen = office.upstream.seen();
        (seen.into_iter())
            .filter(|s| s.uri.path() == "/contacts/export")
            .map(|s| s.header("x-portcullis-user").map(str::to_owned))
            .collect::<Vec<_>>()
    };
    assert_eq!(exports(), [Some("carol".to_owned())], "reached once, as carol");

    // Someone else signing in at the provider does not step her up; and
    // as it ends her session there, the provider ends hers here too.
    client
        .goto(&url("/.portcullis/step-up?next=%2Fcontacts%2Fexport"))
        .await
        .unwrap();
    sign_in_at_provider(&client, "alice+mfa").await;
    let page = wait_for_text(&client, "Sign-in did not work").await;
    assert!(!page.contains("alice"), "{page}");
    export(&client).await;
    wait_for_url(&client, "/.portcullis/login?next=%2Fcontacts%2Fexport").await;
    assert_eq!(exports().len(), 1, "the export was not reached again");
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_replayed_or_mixed_up_answer_and_a_provider_that_is_down_get_a_plain_page_and_reach_nothing() {
    let idp_port = IdentityProvider::port();
    let office = office(idp_port).await;
    let base = format!("https://localhost:{}", office.gateway.addr.port());
    let ca = office.gateway.pki.path().join("ca.pem");
    let _idp = IdentityProvider::start(idp_port, &format!("{base}/.portcullis/sso/company/callback"), &ca);
    let mut browser = Browser::new(&office.gateway);

    // Off to the provider: with state, nonce and a PKCE challenge, and a
    // flow cookie the browser will bring back from the provider's site.
    let start = browser.get("/.portcullis/sso/company?next=%2Fcontacts").await;
    assert_eq!(start.status, 303, "{}", start.body);
    let to = start.header("location").unwrap().to_owned();
    assert!(to.starts_with(&format!("http://127.0.0.1:{idp_port}/auth?")), "{to}");
    for part in [
        "state=",
        "nonce=",
        "code_challenge=",
        "code_challenge_method=S256",
        "response_type=code",
    ] {
        assert!(to.contains(part), "{part} in {to}");
    }
    let cookie = start.header("set-cookie").unwrap();
    assert!(cookie.contains("SameSite=Lax") && cookie.contains("Secure"), "{cookie}");

    // An answer whose state is not this browser's (a mixed-up or forged
    // one), and one with no sign-in waiting for it at all.
    let wrong = browser
        .get("/.portcullis/sso/company/callback?code=abc&state=not-yours")
        .await;
    assert_eq!(wrong.status, 403);
    assert!(wrong.body.contains("Sign-in did not work"), "{}", wrong.body);
    let mut stranger = Browser::new(&office.gateway);
    let replayed = stranger
        .get("/.portcullis/sso/company/callback?code=abc&state=xyz")
        .await;
    assert_eq!(replayed.status, 403);

    // A provider that cannot be reached: the same plain page, at once.
    let down = browser.get("/.portcullis/sso/down?next=%2F").await;
    assert_eq!(down.status, 403);
    assert!(down.body.contains("Your company sign-in could not sign you in here"));
    // An unknown provider is no page at all.
    assert_eq!(browser.get("/.portcullis/sso/nobody").await.status, 404);
    assert!(office.upstream.seen().is_empty(), "{:?}", office.upstream.seen());

    // Passwords are off here but for alice: erin's right password is
    // refused like a wrong one; alice's is taken, then her code.
    let erin = enter_password(&mut Browser::new(&office.gateway), "erin", PASSWORD, "/").await;
    assert_eq!(erin.status, 200);
    assert!(
        erin.body.contains("The username, password or code is not right."),
        "{}",
        erin.body
    );
    assert!(erin.header("location").is_none());
    let mut alice = Browser::new(&office.gateway);
    let password = enter_password(&mut alice, "alice", PASSWORD, "/").await;
    assert_eq!(password.header("location"), Some("/.portcullis/second-factor"));
    assert_eq!(enter_code(&mut alice, &office.code()).await.status, 303);
    assert_eq!(alice.get("/contacts").await.status, 200);

    // users review says how each can sign in: alice by either provider or
    // her password, then her code; carol has nothing of ours, so only the
    // provider whose second factor counts can sign her in.
    let config = office.config_file();
    let json = admin_command(&["users", "review", "--config", &config, "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    let alice = rows.as_array().unwrap().iter().find(|r| r["user"] == "alice").unwrap();
    assert_eq!(alice["company_sign_in"], serde_json::json!(["Company SSO", "Old SSO"]));
    assert_eq!(alice["company_second_factor"], serde_json::json!(["Company SSO"]));
    let table = admin_command(&["users", "review", "--config", &config]);
    let line = |user: &str| table.lines().find(|l| l.starts_with(user)).unwrap().to_owned();
    assert!(
        line("alice").contains("Company SSO or Old SSO, or password; then totp"),
        "{table}"
    );
    assert!(
        line("carol").contains("Company SSO alone (not enrolled here)"),
        "{table}"
    );
}
