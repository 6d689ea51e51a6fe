//! Passkeys in a real headless Chromium, with chromedriver's virtual
//! authenticator (the W3C WebAuthn extension commands: CTAP2, internal
//! transport, resident keys, user verification), through the real gateway:
//! Alice adds a passkey from her account page, uses it as her second
//! factor, then signs in with it alone; a copy of it with a counter that
//! went back is refused.

use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::Client;

use crate::browser::{chromium_speaking, click, type_into, wait_for_url};
use crate::login::{Office, PASSWORD};

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

/// A platform authenticator that keeps discoverable credentials and
/// verifies its user (as a laptop's fingerprint reader would).
async fn add_authenticator(client: &Client) -> String {
    let options = serde_json::json!({
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
        "hasUserVerification": true, "isUserConsenting": true, "isUserVerified": true,
    });
    let id = webauthn(client, http::Method::POST, "authenticator", Some(options)).await;
    id.as_str().expect("an authenticator id").to_owned()
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

/// Sign out as a user does, from the sign-out page (it ends on the
/// sign-in page, unless the browser's autofill signs in again at once).
async fn sign_out(client: &Client, logout: &str) {
    client.goto(logout).await.unwrap();
    click(client, "form[action='/.portcullis/logout'] button").await;
}

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
    let authenticator = add_authenticator(&client).await;

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
    client.goto(&url("/contacts?page=1")).await.unwrap();
    wait_for_url(&client, "/.portcullis/login").await;
    type_into(&client, "username", "alice").await;
    type_into(&client, "password", PASSWORD).await;
    click(&client, "form[action='/.portcullis/login'] button[type=submit]").await;
    wait_for_url(&client, "/.portcullis/second-factor").await;
    click(&client, "#passkey-button").await;
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
    let stored = webauthn(
        &client,
        http::Method::GET,
        &format!("authenticator/{authenticator}/credentials"),
        None,
    )
    .await;
    let mut credential = stored[0].clone();
    assert!(credential["signCount"].as_u64().unwrap() >= 2, "{credential}");
    credential["signCount"] = serde_json::json!(0);
    webauthn(
        &client,
        http::Method::DELETE,
        &format!("authenticator/{authenticator}/credentials"),
        None,
    )
    .await;
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
    client.close().await.unwrap();
}
