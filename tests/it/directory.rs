//! Signing in with the company directory's password (LDAP, Active
//! Directory): a real OpenLDAP `slapd` and the real gateway. The directory
//! stands for the password only: the YAML still says who may sign in, from
//! where, and our second factor is still asked. A directory that does not
//! answer lets nobody in with its passwords, with a page that says so; the
//! break-glass account's own password still works.

use portcullis::auth::credentials::Credentials;

use crate::login::{admin_command, enrol_with, enter_code, enter_password, link_in, Office, PASSWORD};
use crate::support::browser::Browser;
use crate::support::directory::{Directory, BASE_DN, SERVICE_DN, SERVICE_PASSWORD};
use crate::support::redis::RedisServer;
use crate::support::{RecordingUpstream, Settings};

const BEN: &str = "ben's directory password";
const CAROL: &str = "carol's directory password";
const FAILED: &str = "The username, password or code is not right.";

fn people() -> Directory {
    Directory::start(&[
        ("ben", BEN, "ben@example.com"),
        ("carol", CAROL, "carol@example.com"),
        ("dave", "dave's directory password", "dave@example.com"),
        ("mallory", "mallory's directory password", "mallory@example.com"),
    ])
}

/// A gateway whose passwords live in the directory (`connection`: the
/// YAML of `auth.directory`'s url, signed by `ca_pem`) but alice's, the break-glass account;
/// alice and ben enrolled (ben from before: his old local password is
/// kept in the store, and must not work).
async fn office(ca_pem: &[u8], connection: &str) -> Office {
    let redis = RedisServer::start();
    let store_settings = portcullis::config::RedisSettings::single(&redis.url(), "portcullis:");
    let upstream = RecordingUpstream::start().await;
    let mut settings = Settings::new(upstream.url());
    settings.files.push(("corp-ca.pem".into(), ca_pem.to_vec()));
    settings
        .files
        .push(("ldap.secret".into(), SERVICE_PASSWORD.as_bytes().to_vec()));
    settings.policy = format!(
        "store: {{ redis: {{ url: \"{}\" }} }}\n\
         auth:\n  company: Acme CRM\n  argon2_memory_kib: 8192\n  argon2_iterations: 1\n  \
           directory: {{ {connection}, ca_file: corp-ca.pem, bind_dn: \"{SERVICE_DN}\", \
                         bind_password_file: ldap.secret, base_dn: \"{BASE_DN}\" }}\n\
         trusted_proxies: [127.0.0.1]\n\
         networks: {{ here: [127.0.0.0/8] }}\n\
         access: {{ web: [here] }}\n\
         groups: {{ staff: {{ password_from: directory }} }}\n\
         users:\n  \
           alice: {{}}\n  \
           ben: {{ groups: [staff] }}\n  \
           carol: {{ password_from: directory }}\n  \
           dave: {{ groups: [staff], disabled: true }}\n",
        redis.url()
    );
    Office::serve(Some(redis), &store_settings, upstream, settings, &["alice", "ben"]).await
}

async fn refused(office: &Office, user: &str, password: &str) {
    let mut browser = Browser::new(&office.gateway);
    let answer = enter_password(&mut browser, user, password, "/").await;
    assert_eq!(answer.status, 200, "{user}: {}", answer.body);
    assert!(answer.body.contains(FAILED), "{user}: {}", answer.body);
    assert!(
        !browser.cookies.contains_key("__Host-portcullis-login"),
        "{user} got no second-factor step"
    );
}

#[tokio::test]
async fn ben_signs_in_with_his_directory_password_over_ldaps_then_our_code_and_alice_keeps_her_own() {
    let directory = people();
    let office = office(&directory.ca_pem, &format!("url: \"{}\"", directory.ldaps)).await;

    // Every wrong way in looks the same and reaches nothing: ben's old
    // password of ours (his lives in the directory now), a wrong one, an
    // empty one (to LDAP an unauthenticated bind, which succeeds), a
    // directory user who is not in the YAML, an offboarded one, and a name
    // that tries to widen the directory's search.
    refused(&office, "ben", PASSWORD).await;
    refused(&office, "ben", "not his password").await;
    refused(&office, "ben", "").await;
    refused(&office, "mallory", "mallory's directory password").await;
    refused(&office, "dave", "dave's directory password").await;
    refused(&office, "*", BEN).await;
    refused(&office, "ben)(uid=*", BEN).await;
    assert!(office.upstream.seen().is_empty(), "{:?}", office.upstream.seen());

    let mut ben = Browser::new(&office.gateway);
    let password = enter_password(&mut ben, "ben", BEN, "/contacts").await;
    assert_eq!(
        password.header("location"),
        Some("/.portcullis/second-factor"),
        "{}",
        password.body
    );
    let signed_in = enter_code(&mut ben, &office.code()).await;
    assert_eq!(signed_in.header("location"), Some("/contacts"));
    assert_eq!(ben.get("/contacts").await.status, 200);
    assert_eq!(office.upstream.last().header("x-portcullis-user"), Some("ben"));

    // His password is the company's: the account page says where to change it.
    let account = ben.get("/.portcullis/account/password").await;
    assert!(
        account.body.contains("Your password is your company password"),
        "{}",
        account.body
    );
    assert!(!account.body.contains("name=\"current\""), "no form: {}", account.body);

    // alice, the break-glass account, signs in with her own password.
    let mut alice = Browser::new(&office.gateway);
    let password = enter_password(&mut alice, "alice", PASSWORD, "/").await;
    assert_eq!(password.header("location"), Some("/.portcullis/second-factor"));
    refused(&office, "alice", "alice's directory password is not hers here").await;

    // users review says whose password is the directory's.
    let config = office.config_file();
    let json = admin_command(&["users", "review", "--config", &config, "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    let from =
        |user: &str| rows.as_array().unwrap().iter().find(|r| r["user"] == user).unwrap()["password_from"].clone();
    assert_eq!(
        (from("alice"), from("ben"), from("carol")),
        ("local".into(), "directory".into(), "directory".into())
    );
    let table = admin_command(&["users", "review", "--config", &config]);
    let line = |user: &str| table.lines().find(|l| l.starts_with(user)).unwrap().to_owned();
    assert!(line("ben").contains("directory password; then totp"), "{table}");
    assert!(!line("alice").contains("directory"), "{table}");
}

#[tokio::test]
async fn carol_enrols_from_her_invite_with_her_directory_password_and_nothing_of_it_is_kept() {
    let directory = people();
    let office = office(&directory.ca_pem, &format!("url: \"{}\"", directory.ldaps)).await;
    let config = office.config_file();
    let url = office.gateway.url("");
    let link = link_in(
        &admin_command(&["user", "invite", "carol", "--config", &config, "--url", &url]),
        &office.gateway,
    );

    // The invite asks for the password she already has, once.
    let mut browser = Browser::new(&office.gateway);
    let form = browser.get(&link).await;
    assert!(form.body.contains("Your company password"), "{}", form.body);
    assert!(!form.body.contains("name=\"confirm\""), "{}", form.body);
    let token = link.split("token=").nth(1).unwrap();
    let wrong = browser
        .post(
            "/.portcullis/enrol",
            &[
                ("csrf", &Browser::csrf(&form)),
                ("token", token),
                ("password", "a guess"),
            ],
        )
        .await;
    assert!(
        wrong
            .body
            .contains("That is not the password the company directory knows for you."),
        "{}",
        wrong.body
    );

    let (secret, _) = enrol_with(&mut browser, &link, CAROL).await;
    let kept = Credentials::load(&office.store, "carol").await.unwrap().unwrap();
    assert!(kept.password.is_none(), "no copy of her directory password");
    assert!(kept.totp.is_some());

    let mut carol = Browser::new(&office.gateway);
    let password = enter_password(&mut carol, "carol", CAROL, "/").await;
    assert_eq!(password.header("location"), Some("/.portcullis/second-factor"));
    let code =
        portcullis::auth::totp::current_code(&secret, portcullis::clock::now() + std::time::Duration::from_secs(30));
    assert_eq!(enter_code(&mut carol, &code).await.status, 303);
    assert_eq!(carol.get("/").await.status, 200);
}

#[tokio::test]
async fn a_directory_that_stops_answering_lets_nobody_in_with_its_passwords_and_says_so() {
    let directory = people();
    let office = office(
        &directory.ca_pem,
        &format!("url: \"{}\", starttls: true, timeout: 1s", directory.ldap),
    )
    .await;

    // StartTLS on the plain port works as LDAPS does.
    let mut ben = Browser::new(&office.gateway);
    let password = enter_password(&mut ben, "ben", BEN, "/").await;
    assert_eq!(
        password.header("location"),
        Some("/.portcullis/second-factor"),
        "{}",
        password.body
    );

    // The directory goes away: ben's right password cannot be checked, so
    // he is told so (not that it is wrong), and nothing reaches the CRM.
    let ca_pem = directory.ca_pem.clone();
    drop(directory);
    let mut again = Browser::new(&office.gateway);
    let down = enter_password(&mut again, "ben", BEN, "/").await;
    assert_eq!(down.status, 503, "{}", down.body);
    assert!(
        down.body.contains("The company directory is not answering"),
        "{}",
        down.body
    );
    assert!(!down.body.contains("127.0.0.1"), "no internals: {}", down.body);
    assert!(office.upstream.seen().is_empty());

    // A directory that takes the connection and never answers: the same,
    // within the timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let connection = format!("url: \"ldap://127.0.0.1:{port}\", starttls: true, timeout: 1s");
    let office = self::office(&ca_pem, &connection).await;
    let started = std::time::Instant::now();
    let down = enter_password(&mut Browser::new(&office.gateway), "ben", BEN, "/").await;
    assert_eq!(down.status, 503, "{}", down.body);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // alice's own password does not depend on the directory.
    let mut alice = Browser::new(&office.gateway);
    let password = enter_password(&mut alice, "alice", PASSWORD, "/").await;
    assert_eq!(password.header("location"), Some("/.portcullis/second-factor"));
    assert_eq!(enter_code(&mut alice, &office.code()).await.status, 303);
}
