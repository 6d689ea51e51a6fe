//! Every page of the gateway in a real headless Chromium, in each language
//! it ships, at a desktop's width (1280 px) and a phone's (390 px): each is
//! kept as a screenshot in target/test-artifacts/pages/, and no text may
//! overflow its box or make the page scroll sideways.

use std::time::Duration;

use fantoccini::{Client, Locator};

use crate::browser::{artifact, chromium_speaking, click, type_into, wait_for_url};
use crate::login::{link_in, Office, PASSWORD};
use crate::support::process;

const POLICY: &str = "trusted_proxies: [127.0.0.1]\n\
    networks: { here: [127.0.0.0/8] }\n\
    access: { web: [here] }\n\
    users:\n  alice: {}\n  erin: {}\n\
    routes:\n  - { paths: [\"/contacts/export*\"], step_up: 5m }\n  - { paths: [\"/admin/**\"], deny: all }\n";

/// Elements whose content is wider than their box, or that stick out of
/// the card, and whether the page scrolls sideways.
const OVERFLOW: &str = r#"
const card = document.querySelector('main').getBoundingClientRect();
const found = [];
for (const el of document.querySelectorAll('main *')) {
  if (el.closest('svg') && el.tagName !== 'svg') continue;
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) continue;
  const what = el.tagName.toLowerCase() + ' "' + (el.textContent || '').trim().slice(0, 40) + '"';
  if (r.left < card.left - 1 || r.right > card.right + 1) found.push(what + ' sticks out of the card');
  else if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0 && getComputedStyle(el).display !== 'inline')
    found.push(what + ' is wider than its box');
}
if (document.documentElement.scrollWidth > window.innerWidth + 1) found.push('the page scrolls sideways');
return found;
"#;

/// Screenshot the page on screen at both widths, and check that it fits.
async fn shoot(client: &Client, lang: &str, name: &str) {
    let source = client.source().await.unwrap();
    assert!(
        source.contains(&format!("<html lang=\"{lang}\">")),
        "{name} is not in {lang}: {source}"
    );
    for (width, height) in [(1280, 900), (390, 844)] {
        client.set_window_size(width, height).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let found = client.execute(OVERFLOW, vec![]).await.unwrap();
        assert_eq!(found, serde_json::json!([]), "{lang} {name} at {width} px");
        let png = client.screenshot().await.unwrap();
        artifact(&format!("pages/{lang}-{name}-{width}.png"), &png);
    }
}

async fn submit(client: &Client) {
    click(client, "form:not(.send) button[type=submit]").await;
}

/// Every page, from signing in to setting up an account from a link.
async fn tour(lang: &str) {
    let office = Office::in_front_of(None, "", POLICY).await;
    let (_driver, client, _profile) = chromium_speaking(lang).await;
    let at = |path: &str| office.gateway.url(path);

    client.goto(&at("/contacts")).await.unwrap();
    wait_for_url(&client, "/.portcullis/login").await;
    shoot(&client, lang, "sign-in").await;
    type_into(&client, "username", "alice").await;
    type_into(&client, "password", "not her password").await;
    submit(&client).await;
    shoot(&client, lang, "sign-in-failed").await;
    type_into(&client, "password", PASSWORD).await;
    submit(&client).await;
    wait_for_url(&client, "/.portcullis/second-factor").await;
    shoot(&client, lang, "second-factor").await;
    type_into(&client, "code", &office.recovery_codes[0]).await;
    submit(&client).await;
    wait_for_url(&client, "/contacts").await;

    for (path, name) in [
        ("/.portcullis/account", "account"),
        ("/.portcullis/sessions", "sessions"),
        ("/.portcullis/account/password", "change-password"),
        ("/admin/users", "denied"),
        ("/.portcullis/nowhere", "not-found"),
        ("/.portcullis/account/authenticator", "new-authenticator"),
    ] {
        client.goto(&at(path)).await.unwrap();
        shoot(&client, lang, name).await;
    }
    type_into(&client, "current", PASSWORD).await;
    submit(&client).await;
    wait_for_url(&client, "/.portcullis/account/authenticator").await;
    shoot(&client, lang, "new-authenticator-scan").await;

    office.gateway.clock.advance(Duration::from_secs(6 * 60));
    client.goto(&at("/contacts/export")).await.unwrap();
    wait_for_url(&client, "/.portcullis/step-up").await;
    shoot(&client, lang, "step-up").await;
    client.goto(&at("/.portcullis/logout")).await.unwrap();
    shoot(&client, lang, "sign-out").await;
    submit(&client).await;
    wait_for_url(&client, "/.portcullis/login").await;

    let config = office.config_file();
    let invite = ["user", "invite", "erin", "--config", &config, "--url", &at("")];
    let output = process::run(&invite);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let link = link_in(&String::from_utf8_lossy(&output.stdout), &office.gateway);
    client.goto(&at(&link)).await.unwrap();
    shoot(&client, lang, "enrol").await;
    type_into(&client, "password", "violet tractor moonlight").await;
    type_into(&client, "confirm", "violet tractor moonlight").await;
    submit(&client).await;
    shoot(&client, lang, "enrol-scan").await;
    let key: String = client
        .find(Locator::Css("code.key"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key: String = key.split_whitespace().collect();
    let secret = portcullis::auth::totp::TotpSecret::from_bytes(totp_rs::Secret::Encoded(key).to_bytes().unwrap());
    let code = portcullis::auth::totp::current_code(&secret, office.gateway.clock.now());
    type_into(&client, "code", &code).await;
    submit(&client).await;
    wait_for_url(&client, "/.portcullis/enrol/confirm").await;
    shoot(&client, lang, "recovery-codes").await;
    client.close().await.unwrap();
}

#[tokio::test]
async fn every_page_in_english_fits_a_desktop_and_a_phone() {
    tour("en").await;
}

#[tokio::test]
async fn every_page_in_french_fits_a_desktop_and_a_phone() {
    tour("fr").await;
}

#[tokio::test]
async fn every_page_in_german_fits_a_desktop_and_a_phone() {
    tour("de").await;
}

#[tokio::test]
async fn every_page_in_spanish_fits_a_desktop_and_a_phone() {
    tour("es").await;
}
