//! A real browser signs in: headless Debian Chromium, driven through
//! chromedriver, types a password and an authenticator code into the
//! gateway's pages and reaches the CRM. The login page's screenshot is kept
//! in target/test-artifacts/.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};

use crate::login::{Office, PASSWORD};
use crate::support::redis::free_port;

pub(crate) struct ChromeDriver {
    child: Child,
    port: u16,
}

impl ChromeDriver {
    fn start() -> ChromeDriver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot start chromedriver ({err}). The browser test needs Debian's chromium and \\
                     chromium-driver: run scripts/test (it installs them) or apt-get install chromium chromium-driver"
                )
            });
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen within 15 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        ChromeDriver { child, port }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn wait_for_url(client: &fantoccini::Client, part: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = client.current_url().await.unwrap();
        if url.as_str().contains(part) {
            return;
        }
        if Instant::now() >= deadline {
            let page = client.source().await.unwrap_or_default();
            panic!("never reached {part}; at {url}, showing:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A headless Chromium session through chromedriver (keep the driver alive).
async fn chromium() -> (ChromeDriver, fantoccini::Client, tempfile::TempDir) {
    chromium_speaking("en").await
}

/// One whose user reads `lang` first (its Accept-Language).
pub(crate) async fn chromium_speaking(lang: &str) -> (ChromeDriver, fantoccini::Client, tempfile::TempDir) {
    // fantoccini's TLS stack brings a second rustls provider; name ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let driver = ChromeDriver::start();
    let profile = tempfile::tempdir().unwrap();
    let capabilities = serde_json::json!({
        "acceptInsecureCerts": true,
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=900,800",
                format!("--user-data-dir={}", profile.path().display()),
                format!("--lang={lang}"), format!("--accept-lang={lang}"),
            ],
            "prefs": { "intl.accept_languages": lang },
        },
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let client = ClientBuilder::rustls()
        .unwrap()
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("chromedriver session");
    (driver, client, profile)
}

pub(crate) async fn type_into(client: &fantoccini::Client, id: &str, text: &str) {
    client
        .find(Locator::Id(id))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

pub(crate) async fn click(client: &fantoccini::Client, css: &str) {
    client.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

/// Sign out on the gateway's sign-out page (`logout` is its URL).
pub(crate) async fn sign_out(client: &fantoccini::Client, logout: &str) {
    client.goto(logout).await.unwrap();
    click(client, "form[action='/.portcullis/logout'] button").await;
}

pub(crate) fn artifact(name: &str, png: &[u8]) {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-artifacts")
        .join(name);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, png).unwrap();
}

#[tokio::test]
async fn a_real_browser_signs_in_with_password_and_authenticator_code_and_reaches_the_crm() {
    let office = Office::start().await;
    let (_driver, client, _profile) = chromium().await;

    client.goto(&office.gateway.url("/contacts")).await.unwrap();
    wait_for_url(&client, "/.portcullis/login").await;
    artifact("login-page.png", &client.screenshot().await.unwrap());
    type_into(&client, "username", "alice").await;
    type_into(&client, "password", PASSWORD).await;
    click(&client, "button[type=submit]").await;
    wait_for_url(&client, "/.portcullis/second-factor").await;
    type_into(&client, "code", &office.code()).await;
    click(&client, "button[type=submit]").await;
    wait_for_url(&client, "/contacts").await;
    let page = client.source().await.unwrap();
    assert!(page.contains("hello from upstream"), "{page}");
    assert_eq!(office.upstream.last().header("x-portcullis-user"), Some("alice"));
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_real_browser_signs_in_with_a_code_sent_by_email() {
    let codes = crate::codes::codes_office("5m").await;
    let (_driver, client, _profile) = chromium().await;
    client.goto(&codes.office.gateway.url("/contacts")).await.unwrap();
    wait_for_url(&client, "/.portcullis/login").await;
    type_into(&client, "username", "hana").await;
    type_into(&client, "password", PASSWORD).await;
    click(&client, "button[type=submit]").await;
    wait_for_url(&client, "/.portcullis/second-factor").await;
    click(&client, "button[name=via][value=email]").await;
    wait_for_url(&client, "/.portcullis/send-code").await;
    let page = client.source().await.unwrap();
    assert!(page.contains("We sent a code to h•••@example.com"), "{page}");
    artifact("email-code-page.png", &client.screenshot().await.unwrap());
    let mail = codes.smtp.message(1).await;
    let code = crate::support::mail::code_after(&mail, "sign-in code is:", 6);
    type_into(&client, "code", &code).await;
    click(&client, "button[type=submit]").await;
    wait_for_url(&client, "/contacts").await;
    let page = client.source().await.unwrap();
    assert!(page.contains("hello from upstream"), "{page}");
    assert_eq!(codes.office.upstream.last().header("x-portcullis-user"), Some("hana"));
    client.close().await.unwrap();
}
