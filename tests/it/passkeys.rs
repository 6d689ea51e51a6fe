//! Passkeys in a real headless Chromium, with chromedriver's virtual
//! authenticator (the W3C WebAuthn extension commands: CTAP2, internal
//! transport, resident keys, user verification), through the real gateway:
//! Alice adds a passkey from her account page, uses it as her second
//! factor, then signs in with it alone; a copy of it with a counter that
//! went back is refused.

use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::Client;

use crate::browser::{chromium_speaking, click, sign_out, type_into, wait_for_url};
use crate::login::{admin_command, Office, PASSWORD};

/// One WebDriver WebAuthn command under the session.
#[derive(Debug)]
struct WebAuthn {
    method: http::Method,
    path: String,
    body: Option<serde_json::Value>,
}

impl WebDriverCompatibleCommand for WebAuthn {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/webauthn/{}",
            session.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (self.method.clone(), self.body.as_ref().map(|b| b.to_string()))
    }
}

async fn webauthn(
    client: &Client,
    method: http::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let path = path.to_owned();
    (client.issue_cmd(WebAuthn { method, path, body }).await).expect("a WebDriver WebAuthn command")
}

async fn wait_for_text(client: &Client, text: &str) -> String {
    for _ in 0..100 {
        let page = client.source().await.unwrap();
        if page.contains(text) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the page never said {text:?}: {}", client.source().await.unwrap());
}

/// Ask for `page`, then sign in as `user`: the password, then the passkey
/// on the second-factor page.
async fn password_then_passkey(client: &Client, page: &str, user: &str) {
    client.goto(page).await.unwrap();
    wait_for_url(client, "/.portcullis/login").await;
    type_into(client, "username", user).await;
    type_into(client, "password", PASSWORD).await;
    click(client, "form[action='/.portcullis/login'] button[type=submit]").await;
    wait_for_url(client, "/.portcullis/second-factor").await;
    click(client, "#passkey-button").await;
}

/// Sign out as a user does, from the sign-out page (it ends on the
/// sign-in page, unless the browser's autofill signs in again at once).
/// Let a passkey alone sign alice in, as ops would: edit the policy
/// file; the gateway reloads it.
async fn allow_passwordless(office: &Office, login: &str) {
    let file = office.gateway.config_file();
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replacen(
        "alice: { passkeys: { passwordless: false } }",
        "alice: { passkeys: { passwordless: true } }",
        1,
    );
    assert_ne!(text, edited);
    std::fs::write(file.with_extension("yaml.new"), edited).unwrap();
    std::fs::rename(file.with_extension("yaml.new"), &file).unwrap();
    let client = office.gateway.client();
    for _ in 0..200 {
        if client.get(login).await.body.contains("Sign in with a passkey") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the gateway never offered passkeys alone");
}

#[tokio::test]
async fn alice_adds_a_passkey_uses_it_as_her_second_factor_then_signs_in_with_it_alone() {
    let policy = "trusted_proxies: [127.0.0.1]\n\
                  networks: { here: [127.0.0.0/8] }\n\
                  access: { web: [here] }\n\
                  second_factors: [totp, passkey]\n\
                  users:\n  alice: { passkeys: { passwordless: false } }\n";
    let office = Office::enrolling(None, "", policy, &["alice"]).await;
    // Passkeys are bound to a name: the browser uses localhost, not 127.0.0.1.
    let url = |path: &str| format!("https://localhost:{}{path}", office.gateway.addr.port());
    let (_driver, client, _profile) = chromium_speaking("en").await;
    let authenticator = add_authenticator(&client, false).await;

    // Signed in with password and authenticator code, she adds a passkey
    // (her second factor is fresh, so no step-up is asked).
    client.goto(&url("/contacts")).await.unwrap();
    wait_for_url(&client, "/.portcullis/login").await;
    assert!(
        !client.source().await.unwrap().contains("Sign in with a passkey"),
        "no passkey alone where the policy does not allow it"
    );
    type_into(&client, "username", "alice").await;
    type_into(&client, "password", PASSWORD).await;
    click(&client, "form[action='/.portcullis/login'] button[type=submit]").await;
    wait_for_url(&client, "/.portcullis/second-factor").await;
    type_into(&client, "code", &office.code()).await;
    click(
        &client,
        "form[action='/.portcullis/second-factor']:not(.passkey) button",
    )
    .await;
    wait_for_url(&client, "/contacts").await;
    client.goto(&url("/.portcullis/account/passkeys")).await.unwrap();
    wait_for_text(&client, "You have no passkeys yet.").await;
    type_into(&client, "passkey-name", "Work laptop").await;
    click(&client, "#passkey-button").await;
    let page = wait_for_text(&client, "Passkey “Work laptop” added.").await;
    assert!(page.contains("last used never"), "{page}");

    // Next time: password, then the passkey instead of a code. (Each
    // visit asks for a new page: the browser may cache one it has seen.)
    sign_out(&client, &url("/.portcullis/logout")).await;
    wait_for_url(&client, "/.portcullis/login").await;
    password_then_passkey(&client, &url("/contacts?page=1"), "alice").await;
    wait_for_url(&client, "/contacts?page=1").await;
    assert!(client.source().await.unwrap().contains("hello from upstream"));
    assert_eq!(office.upstream.last().header("x-portcullis-user"), Some("alice"));

    // Then with the passkey alone: signed out, the sign-in page's username
    // field offers it (the browser's autofill; the virtual authenticator
    // consents at once) and she is back in the CRM without typing anything.
    allow_passwordless(&office, &url("/.portcullis/login")).await;
    let before = office.upstream.seen().len();
    sign_out(&client, &url("/.portcullis/logout")).await;
    wait_for_text(&client, "hello from upstream").await;
    let seen = &office.upstream.seen()[before..];
    assert!(seen.iter().any(|r| r.uri == "/"), "{seen:?}");
    assert!(
        seen.iter().all(|r| r.header("x-portcullis-user") == Some("alice")),
        "{seen:?}"
    );

    // A copy of the key whose counter went back (a cloned key) is refused,
    // and nothing reaches the CRM.
    let credentials = format!("authenticator/{authenticator}/credentials");
    let stored = webauthn(&client, http::Method::GET, &credentials, None).await;
    let mut credential = stored[0].clone();
    assert!(credential["signCount"].as_u64().unwrap() >= 2, "{credential}");
    credential["signCount"] = serde_json::json!(0);
    webauthn(&client, http::Method::DELETE, &credentials, None).await;
    let path = format!("authenticator/{authenticator}/credential");
    webauthn(&client, http::Method::POST, &path, Some(credential)).await;
    let reached = office.upstream.seen().len();
    sign_out(&client, &url("/.portcullis/logout")).await;
    wait_for_text(&client, "That passkey was not accepted").await;
    let after = &office.upstream.seen()[reached..];
    assert!(
        after.iter().all(|r| r.uri == "/favicon.ico"),
        "a cloned key reaches nothing: {after:?}"
    );

    // She still has her authenticator app, so the key may go: signed in
    // with her password and a code, she removes it from her account page.
    // (The cloned key leaves the browser first, or the sign-in page's
    // autofill would offer it again before she types.)
    webauthn(&client, http::Method::DELETE, &credentials, None).await;
    client.goto(&url("/.portcullis/login")).await.unwrap();
    type_into(&client, "username", "alice").await;
    type_into(&client, "password", PASSWORD).await;
    click(&client, "form[action='/.portcullis/login'] button[type=submit]").await;
    wait_for_url(&client, "/.portcullis/second-factor").await;
    office.gateway.clock.advance(std::time::Duration::from_secs(31)); // a new code
    type_into(&client, "code", &office.code()).await;
    click(
        &client,
        "form[action='/.portcullis/second-factor']:not(.passkey) button",
    )
    .await;
    wait_for_text(&client, "hello from upstream").await;
    client.goto(&url("/.portcullis/account/passkeys")).await.unwrap();
    click(&client, "button[aria-label='Remove: Work laptop']").await;
    let page = wait_for_text(&client, "Passkey “Work laptop” removed.").await;
    assert!(page.contains("You have no passkeys yet."), "{page}");
    client.close().await.unwrap();
}

/// A platform authenticator that keeps discoverable credentials and
/// verifies its user (as a laptop's fingerprint reader would); `synced`:
/// its passkeys copy themselves to the user's other devices (backup
/// eligible), as a phone's do.
async fn add_authenticator(client: &Client, synced: bool) -> String {
    let options = serde_json::json!({
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
        "hasUserVerification": true, "isUserConsenting": true, "isUserVerified": true,
        "defaultBackupEligibility": synced, "defaultBackupState": synced,
    });
    let id = webauthn(client, http::Method::POST, "authenticator", Some(options)).await;
    id.as_str().expect("an authenticator id").to_owned()
}

#[tokio::test]
async fn an_admin_who_must_use_a_device_bound_passkey_makes_it_in_the_invite_and_steps_up_with_it() {
    let policy = "trusted_proxies: [127.0.0.1]\n\
                  networks: { here: [127.0.0.0/8] }\n\
                  access: { web: [here] }\n\
                  groups: { admins: { second_factors: [passkey], passkeys: { device_bound: true } } }\n\
                  users:\n  ada: { groups: [admins] }\n\
                  routes:\n  - { paths: [\"/admin/**\"], step_up: 1s }\n";
    let office = Office::enrolling(None, "", policy, &[]).await;
    let url = |path: &str| format!("https://localhost:{}{path}", office.gateway.addr.port());
    let config = office.config_file();
    let printed = admin_command(&["user", "invite", "ada", "--config", &config, "--url", &url("")]);
    let link = (printed.split_whitespace())
        .find(|w| w.starts_with("https://localhost"))
        .unwrap_or_else(|| panic!("no link in {printed:?}"))
        .to_owned();
    let (_driver, client, _profile) = chromium_speaking("en").await;

    // Her phone's passkey would sync: refused, the page asks again.
    let phone = add_authenticator(&client, true).await;
    client.goto(&link).await.unwrap();
    type_into(&client, "password", PASSWORD).await;
    type_into(&client, "confirm", PASSWORD).await;
    click(&client, "button[type=submit]").await;
    wait_for_text(&client, "Create your passkey").await;
    type_into(&client, "passkey-name", "Phone").await;
    click(&client, "#passkey-button").await;
    wait_for_text(&client, "That passkey was not accepted").await;

    // A security key that keeps its keys to itself is taken.
    webauthn(&client, http::Method::DELETE, &format!("authenticator/{phone}"), None).await;
    add_authenticator(&client, false).await;
    type_into(&client, "passkey-name", "YubiKey").await;
    click(&client, "#passkey-button").await;
    wait_for_text(&client, "Recovery codes").await;

    // She signs in with her password and the key, and the admin pages ask
    // for it again once a second has passed (the gateway's clock is moved).
    password_then_passkey(&client, &url("/contacts"), "ada").await;
    wait_for_url(&client, "/contacts").await;
    office.gateway.clock.advance(Duration::from_secs(2));
    client.goto(&url("/admin/users")).await.unwrap();
    wait_for_url(&client, "/.portcullis/step-up").await;
    click(&client, "#passkey-button").await;
    wait_for_url(&client, "/admin/users").await;
    let seen = office.upstream.seen();
    let admin = (seen.iter().find(|r| r.uri == "/admin/users")).expect("the admin page reached the CRM");
    assert_eq!(admin.header("x-portcullis-user"), Some("ada"));

    // Her key is her only way to confirm it is her: it cannot be removed.
    client.goto(&url("/.portcullis/account/passkeys")).await.unwrap();
    wait_for_text(&client, "YubiKey").await;
    click(&client, "ul.passkeys form.inline button").await;
    let page = wait_for_text(&client, "This is your only way left to confirm it is you.").await;
    assert!(page.contains("YubiKey"), "still listed: {page}");
    client.close().await.unwrap();
}
