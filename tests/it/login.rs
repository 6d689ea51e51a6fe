//! Scenarios 7, 11, 12 and 13: signing in with a password and a second
//! factor, through the real gateway, with sessions in a real Redis.

use std::time::Duration;

use portcullis::auth::credentials::{Credentials, SecretsKey};
use portcullis::auth::password::{Hasher, Password};
use portcullis::auth::recovery;
use portcullis::auth::totp::{self, TotpSecret};
use portcullis::config::RedisSettings;
use portcullis::store::Store;

use crate::support::browser::Browser;
use crate::support::redis::RedisServer;
use crate::support::{RecordingUpstream, Settings, TestGateway};

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// Who an office has enrolled, unless a test says otherwise.
const ENROLLED: [&str; 4] = ["alice", "bob", "dave", "gina"];

pub(crate) struct Office {
    pub(crate) gateway: TestGateway,
    pub(crate) upstream: RecordingUpstream,
    pub(crate) redis: Option<RedisServer>,
    pub(crate) store: Store,
    pub(crate) secret: TotpSecret,
    pub(crate) recovery_codes: Vec<String>,
    /// The policy part of the config and the files beside it, for a
    /// second gateway sharing the store.
    policy: String,
    files: Vec<(String, Vec<u8>)>,
}

impl Office {
    /// A gateway whose users sign in, sessions in Redis, alice and dave
    /// enrolled (dave since offboarded).
    pub(crate) async fn start() -> Office {
        Office::start_with("", "").await
    }

    /// With `sessions` settings and extra users appended to the policy.
    pub(crate) async fn start_with(sessions: &str, extra_users: &str) -> Office {
        let redis = RedisServer::start();
        let store = format!("{{ url: \"{}\" }}", redis.url());
        let settings = RedisSettings::single(&redis.url(), "portcullis:");
        Office::on(Some(redis), &store, &settings, sessions, extra_users).await
    }

    /// The same office on any Redis: `store` is the YAML of `store.redis`,
    /// `settings` the same for the test's own connection.
    pub(crate) async fn on(
        redis: Option<RedisServer>,
        store: &str,
        store_settings: &RedisSettings,
        sessions: &str,
        extra_users: &str,
    ) -> Office {
        let upstream = RecordingUpstream::start().await;
        let mut settings = Settings::new(upstream.url());
        settings.policy = format!(
            "store: {{ redis: {store} }}\n\
             auth: {{ company: Acme CRM, argon2_memory_kib: 8192, argon2_iterations: 1 }}\n\
             trusted_proxies: [127.0.0.1]\n\
             networks: {{ here: [127.0.0.0/8] }}\n\
             access: {{ web: [here] }}\n\
             groups: {{ sales-team: {{}} }}\n\
             users:\n  alice: {{ groups: [sales-team] }}\n  dave: {{ disabled: true }}\n  erin: {{ groups: [sales-team] }}\n\
             routes:\n  - {{ paths: [\"/contacts/export*\"], step_up: 3s }}\n"
        );
        let yaml_users = "users:\n";
        settings.policy = settings
            .policy
            .replace(yaml_users, &format!("{sessions}users:\n{extra_users}"));
        Office::serve(redis, store_settings, upstream, settings, &ENROLLED).await
    }

    /// A gateway with this policy (everything after `store` and `auth`),
    /// sessions in a fresh Redis; alice, bob, dave and gina enrolled.
    pub(crate) async fn with_policy(policy: &str) -> Office {
        Office::in_front_of(None, "", policy).await
    }

    /// [`Office::with_policy`] in front of the CRM at `crm` (a URL), or the
    /// recording upstream; `upstream` is more of the `upstream:` section.
    pub(crate) async fn in_front_of(crm: Option<&str>, upstream: &str, policy: &str) -> Office {
        Office::enrolling(crm, upstream, policy, &ENROLLED).await
    }

    /// [`Office::in_front_of`], with `users` enrolled.
    pub(crate) async fn enrolling(crm: Option<&str>, upstream: &str, policy: &str, users: &[&str]) -> Office {
        let redis = RedisServer::start();
        let store_settings = RedisSettings::single(&redis.url(), "portcullis:");
        let recorder = RecordingUpstream::start().await;
        let mut settings = Settings::new(crm.map_or(recorder.url(), str::to_owned));
        settings.extra_upstream = upstream.to_owned();
        let upstream = recorder;
        settings.policy = format!(
            "store: {{ redis: {{ url: \"{}\" }} }}\n\
             auth: {{ company: Acme CRM, argon2_memory_kib: 8192, argon2_iterations: 1 }}\n{policy}",
            redis.url()
        );
        Office::serve(Some(redis), &store_settings, upstream, settings, users).await
    }

    pub(crate) async fn serve(
        redis: Option<RedisServer>,
        store_settings: &RedisSettings,
        upstream: RecordingUpstream,
        settings: Settings,
        users: &[&str],
    ) -> Office {
        let (policy, files) = (settings.policy.clone(), settings.files.clone());
        let gateway = TestGateway::start(settings).await;
        let store = Store::redis_with(store_settings).await.unwrap();
        let key = SecretsKey::load(&gateway.pki.path().join("secrets.key")).unwrap();
        let hasher = Hasher::new(8192, 1, 1).unwrap();
        let secret = TotpSecret::generate();
        let recovery_codes = recovery::generate();
        for user in users {
            Credentials {
                password: Some(hasher.hash(&Password::new(PASSWORD)).unwrap()),
                totp: Some(key.seal(user, &secret)),
                recovery: recovery_codes.iter().map(|c| recovery::hash(c)).collect(),
                enrolled_at: Some(1),
                ..Default::default()
            }
            .save(&store, user)
            .await
            .unwrap();
        }
        Office {
            gateway,
            upstream,
            redis,
            store,
            secret,
            recovery_codes,
            policy,
            files,
        }
    }

    /// Another gateway in front of the same CRM, sharing the same Redis.
    pub(crate) async fn second_gateway(&self) -> TestGateway {
        let mut settings = Settings::new(self.upstream.url());
        settings.policy = self.policy.clone();
        settings.files = self.files.clone();
        // Gateways on one store share its secrets key, as ops set them up.
        let key = std::fs::read(self.gateway.pki.path().join("secrets.key")).unwrap();
        settings.files.push(("secrets.key".into(), key));
        TestGateway::start(settings).await
    }

    /// The authenticator's code now, by the gateway's clock.
    pub(crate) fn code(&self) -> String {
        totp::current_code(&self.secret, self.gateway.clock.now())
    }

    /// The config file on disk, as the admin commands read it.
    pub(crate) fn config_file(&self) -> String {
        self.gateway.pki.path().join("portcullis.yaml").display().to_string()
    }
}

/// Password step; returns the page it lands on.
pub(crate) async fn enter_password(
    browser: &mut Browser,
    user: &str,
    password: &str,
    next: &str,
) -> crate::support::gateway::Answer {
    let form = browser.get(&format!("/.portcullis/login?next={next}")).await;
    assert_eq!(form.status, 200);
    let csrf = Browser::csrf(&form);
    browser
        .post(
            "/.portcullis/login",
            &[
                ("csrf", &csrf),
                ("username", user),
                ("password", password),
                ("next", next),
            ],
        )
        .await
}

pub(crate) async fn enter_code(browser: &mut Browser, code: &str) -> crate::support::gateway::Answer {
    let form = browser.get("/.portcullis/second-factor").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = Browser::csrf(&form);
    browser
        .post("/.portcullis/second-factor", &[("csrf", &csrf), ("code", code)])
        .await
}

#[tokio::test]
async fn a_user_signs_in_with_password_and_authenticator_code_then_uses_the_crm() {
    let office = Office::start().await;
    let mut browser = Browser::new(&office.gateway);

    let first = browser.get("/contacts?page=2").await;
    assert_eq!(first.status, 303);
    assert_eq!(
        first.header("location"),
        Some("/.portcullis/login?next=%2Fcontacts%3Fpage%3D2")
    );
    assert!(
        office.upstream.seen().is_empty(),
        "nothing reaches the CRM before sign-in"
    );

    let after_password = enter_password(&mut browser, "alice", PASSWORD, "/contacts?page=2").await;
    assert_eq!(after_password.status, 303, "{}", after_password.body);
    assert_eq!(after_password.header("location"), Some("/.portcullis/second-factor"));

    let code = office.code();
    let signed_in = enter_code(&mut browser, &code).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.header("location"), Some("/contacts?page=2"));
    let cookie = signed_in
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("__Host-portcullis="))
        .expect("a session cookie");
    for flag in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }

    // Using the CRM: the CRM's own cookie passes, ours does not; it learns who.
    browser.cookies.insert("crm_sid".into(), "abc".into());
    browser.extra.push(("x-portcullis-user".into(), "carol".into()));
    let page = browser.get("/contacts?page=2").await;
    assert_eq!(page.status, 200);
    let seen = office.upstream.last();
    assert_eq!(
        seen.header("x-portcullis-user"),
        Some("alice"),
        "the client cannot choose its identity"
    );
    assert_eq!(seen.header("x-portcullis-groups"), Some("sales-team"));
    assert_eq!(seen.header("cookie"), Some("crm_sid=abc"));

    // Signing out ends the session.
    let confirm = browser.get("/.portcullis/logout").await;
    let csrf = Browser::csrf(&confirm);
    let out = browser.post("/.portcullis/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(browser.get("/contacts").await.status, 303);
}

#[tokio::test]
async fn wrong_passwords_unknown_users_and_offboarded_users_all_look_the_same() {
    let office = Office::start().await;
    for (user, password) in [("alice", "wrong password"), ("mallory", PASSWORD), ("dave", PASSWORD)] {
        let mut browser = Browser::new(&office.gateway);
        let answer = enter_password(&mut browser, user, password, "/").await;
        assert_eq!(answer.status, 200, "{user}");
        assert!(
            answer.body.contains("The username, password or code is not right."),
            "{user}"
        );
        assert!(
            !browser.cookies.contains_key("__Host-portcullis-login"),
            "{user} got no second-factor step"
        );
    }
}

#[tokio::test]
async fn an_authenticator_code_works_once_and_a_recovery_code_works_once() {
    let office = Office::start().await;
    let code = office.code();
    let mut first = Browser::new(&office.gateway);
    enter_password(&mut first, "alice", PASSWORD, "/").await;
    assert_eq!(enter_code(&mut first, &code).await.status, 303);

    let mut replay = Browser::new(&office.gateway);
    enter_password(&mut replay, "alice", PASSWORD, "/").await;
    let answer = enter_code(&mut replay, &code).await;
    assert_eq!(answer.status, 200, "the same code again is refused");
    assert!(answer.body.contains("not right"));

    let recovery_code = office.recovery_codes[0].to_uppercase();
    assert_eq!(enter_code(&mut replay, &recovery_code).await.status, 303);
    let mut again = Browser::new(&office.gateway);
    enter_password(&mut again, "alice", PASSWORD, "/").await;
    assert_eq!(
        enter_code(&mut again, &recovery_code).await.status,
        200,
        "a recovery code works once"
    );
}

#[tokio::test]
async fn guessing_locks_the_account_even_for_the_right_password() {
    let office = Office::start().await;
    let mut browser = Browser::new(&office.gateway);
    for _ in 0..5 {
        enter_password(&mut browser, "alice", "guess", "/").await;
    }
    let answer = enter_password(&mut browser, "alice", PASSWORD, "/").await;
    assert!(answer.body.contains("Too many attempts"), "{}", answer.body);
    assert!(
        office.store.get("locked:user:alice").await.unwrap().is_some(),
        "the lock is in the shared store"
    );
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused() {
    let office = Office::start().await;
    let mut browser = Browser::new(&office.gateway);
    browser.get("/.portcullis/login").await;
    let answer = browser
        .post(
            "/.portcullis/login",
            &[("csrf", &"0".repeat(64)), ("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(answer.status, 403);
}

#[tokio::test]
async fn after_sign_in_the_browser_only_ever_goes_back_to_this_site() {
    let office = Office::start().await;
    let mut browser = Browser::new(&office.gateway);
    enter_password(&mut browser, "alice", PASSWORD, "//evil.example/phish").await;
    let signed_in = enter_code(&mut browser, &office.code()).await;
    assert_eq!(signed_in.header("location"), Some("/"));
}

#[tokio::test]
async fn when_the_store_is_down_nothing_is_let_through_and_service_resumes_when_it_returns() {
    let mut office = Office::start().await;
    let mut browser = Browser::new(&office.gateway);
    enter_password(&mut browser, "alice", PASSWORD, "/").await;
    assert_eq!(enter_code(&mut browser, &office.code()).await.status, 303);
    assert_eq!(browser.get("/contacts").await.status, 200);

    let redis = office.redis.take().unwrap();
    let port = redis.addr.port();
    drop(redis);
    // A session checked less than a second ago may still pass (the same
    // bound as revocations between gateways); after that, nothing does.
    let started = std::time::Instant::now();
    let down = loop {
        let answer = browser.get("/contacts").await;
        if answer.status == 503 {
            break answer;
        }
        assert_eq!(answer.status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "still let through a second after the store went away"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!("failed closed after {:?}", started.elapsed());
    assert!(down.body.contains("Temporarily unavailable"), "{}", down.body);
    let forwarded_by_then = office.upstream.seen().len();
    for _ in 0..3 {
        assert_eq!(browser.get("/contacts").await.status, 503);
    }
    assert_eq!(
        office.upstream.seen().len(),
        forwarded_by_then,
        "nothing forwarded while the store is down"
    );

    let _back = RedisServer::start_on(port);
    let mut resumed = None;
    for _ in 0..50 {
        let answer = browser.get("/contacts").await;
        if answer.status != 503 {
            resumed = Some(answer.status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // This Redis kept nothing on disk, so the session is gone: sign in again.
    assert_eq!(resumed, Some(303));
}

#[tokio::test]
async fn from_a_network_no_rule_lets_in_not_even_the_login_page_is_shown() {
    let office = Office::start().await;
    let mut outsider = Browser::new(&office.gateway);
    outsider.forwarded_for = Some("192.0.2.99".into());
    let page = outsider.get("/.portcullis/login").await;
    assert_eq!(page.status, 403);
    assert!(
        page.body
            .contains("The CRM cannot be used from this network (192.0.2.99)"),
        "{}",
        page.body
    );
    let crm = outsider.get("/contacts").await;
    assert_eq!(crm.status, 403, "and no redirect to a login page either");
}

#[tokio::test]
async fn scenario_16_the_export_asks_for_a_fresh_code_and_then_returns_to_it() {
    let office = Office::start().await;
    let mut browser = Browser::new(&office.gateway);
    enter_password(&mut browser, "alice", PASSWORD, "/").await;
    assert_eq!(enter_code(&mut browser, &office.code()).await.status, 303);
    assert_eq!(
        browser.get("/contacts/export").await.status,
        200,
        "just signed in: fresh enough"
    );

    office.gateway.clock.advance(Duration::from_millis(4500));
    let stale = browser.get("/contacts/export?format=csv").await;
    assert_eq!(stale.status, 303);
    assert_eq!(
        stale.header("location"),
        Some("/.portcullis/step-up?next=%2Fcontacts%2Fexport%3Fformat%3Dcsv")
    );
    let exports_before = office.upstream.seen().len();

    let form = browser
        .get("/.portcullis/step-up?next=%2Fcontacts%2Fexport%3Fformat%3Dcsv")
        .await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = Browser::csrf(&form);
    // The code from sign-in is spent; the next step's is not.
    let next_code = totp::current_code(&office.secret, portcullis::clock::now() + Duration::from_secs(30));
    let wrong = browser
        .post(
            "/.portcullis/step-up",
            &[
                ("csrf", &csrf),
                ("code", "000000"),
                ("next", "/contacts/export?format=csv"),
            ],
        )
        .await;
    assert!(wrong.body.contains("not right"));
    let csrf = Browser::csrf(&wrong);
    let confirmed = browser
        .post(
            "/.portcullis/step-up",
            &[
                ("csrf", &csrf),
                ("code", &next_code),
                ("next", "/contacts/export?format=csv"),
            ],
        )
        .await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.body);
    assert_eq!(confirmed.header("location"), Some("/contacts/export?format=csv"));
    assert_eq!(
        office.upstream.seen().len(),
        exports_before,
        "nothing forwarded until confirmed"
    );
    assert_eq!(browser.get("/contacts/export?format=csv").await.status, 200);
}

#[tokio::test]
async fn scenario_10_a_new_employee_enrols_from_a_one_time_link_then_signs_in() {
    let office = Office::start().await;
    let config = office.gateway.pki.path().join("portcullis.yaml");
    let output = crate::support::process::run(&[
        "user",
        "invite",
        "erin",
        "--config",
        config.to_str().unwrap(),
        "--url",
        &office.gateway.url(""),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(printed.contains("Send this link to erin. It works once"), "{printed}");
    let link = printed
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap()
        .to_owned();
    let path = link.trim_start_matches(&office.gateway.url(""));

    let mut erin = Browser::new(&office.gateway);
    let form = erin.get(path).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let token = path.split("token=").nth(1).unwrap();
    let csrf = Browser::csrf(&form);
    let weak = erin
        .post(
            "/.portcullis/enrol",
            &[
                ("csrf", &csrf),
                ("token", token),
                ("password", "erin2026"),
                ("confirm", "erin2026"),
            ],
        )
        .await;
    assert!(weak.body.contains("at least 12 characters"), "{}", weak.body);

    let chosen = "violet tractor moonlight";
    let csrf = Browser::csrf(&weak);
    let scan = erin
        .post(
            "/.portcullis/enrol",
            &[
                ("csrf", &csrf),
                ("token", token),
                ("password", chosen),
                ("confirm", chosen),
            ],
        )
        .await;
    assert_eq!(scan.status, 200);
    assert!(scan.body.contains("<svg"), "a QR code to scan");
    let secret = secret_on(&scan);
    let csrf = Browser::csrf(&scan);
    let now = portcullis::clock::now();
    let done = erin
        .post(
            "/.portcullis/enrol/confirm",
            &[
                ("csrf", &csrf),
                ("token", token),
                ("code", &totp::current_code(&secret, now)),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(
        done.body.matches("<li><code>").count(),
        10,
        "ten recovery codes, shown once"
    );

    let again = Browser::new(&office.gateway).get(path).await;
    assert_eq!(again.status, 410, "the link works once");
    let forged = Browser::new(&office.gateway)
        .get("/.portcullis/enrol?token=6162.6364")
        .await;
    assert_eq!(forged.status, 400);

    // Erin signs in with what she chose (the enrolment code is spent; the next one is not).
    let mut browser = Browser::new(&office.gateway);
    assert_eq!(enter_password(&mut browser, "erin", chosen, "/").await.status, 303);
    let code = totp::current_code(&secret, now + Duration::from_secs(30));
    assert_eq!(enter_code(&mut browser, &code).await.status, 303);
    assert_eq!(browser.get("/contacts").await.status, 200);
    assert_eq!(office.upstream.last().header("x-portcullis-user"), Some("erin"));
}

#[tokio::test]
async fn a_page_loaded_in_the_background_does_not_expire_the_form_on_screen() {
    // Browsers fetch /favicon.ico behind the scenes; not signed in, that
    // lands on the login page again. The form already shown must still work.
    let office = Office::start().await;
    let mut browser = Browser::new(&office.gateway);
    let on_screen = browser.get("/.portcullis/login?next=/").await;
    let csrf = Browser::csrf(&on_screen);
    assert_eq!(browser.get("/favicon.ico").await.status, 303);
    browser.get("/.portcullis/login?next=%2Ffavicon.ico").await;
    let answer = browser
        .post(
            "/.portcullis/login",
            &[
                ("csrf", &csrf),
                ("username", "alice"),
                ("password", PASSWORD),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
}

pub(crate) async fn signed_in(office: &Office, user: &str, from: &str) -> Browser {
    let mut browser = Browser::new(&office.gateway);
    browser.forwarded_for = Some(from.into());
    enter_password(&mut browser, user, PASSWORD, "/").await;
    let code = office.code();
    // Each test signs in once per user, so the current step is unused.
    let answer = enter_code(&mut browser, &code).await;
    assert_eq!(answer.status, 303, "{user} could not sign in: {}", answer.body);
    browser
}

#[tokio::test]
async fn a_session_is_refused_as_soon_as_it_comes_from_a_network_the_user_may_not_use() {
    let office = Office::start().await;
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    assert_eq!(alice.get("/contacts").await.status, 200);
    // Same cookie, now from a cafe (the load balancer reports the address).
    alice.forwarded_for = Some("192.0.2.99".into());
    let answer = alice.get("/contacts").await;
    assert_eq!(answer.status, 403);
    assert!(answer.body.contains("from this network (192.0.2.99)"));
}

#[tokio::test]
async fn an_account_that_expires_mid_session_is_refused_on_its_next_request() {
    let expires = humantime::format_rfc3339_seconds(portcullis::clock::now() + Duration::from_secs(3));
    let office = Office::start_with("", &format!("  gina: {{ expires: \"{expires}\" }}\n")).await;
    let mut gina = signed_in(&office, "gina", "127.0.0.1").await;
    assert_eq!(gina.get("/contacts").await.status, 200);
    office.gateway.clock.advance(Duration::from_secs(4));
    assert_eq!(gina.get("/contacts").await.status, 403, "the contract ended");
}

#[tokio::test]
async fn with_one_session_per_user_a_new_login_ends_the_old_one() {
    let office = Office::start_with("sessions: { max_per_user: 1 }\n", "").await;
    let mut office_pc = signed_in(&office, "alice", "127.0.0.1").await;
    assert_eq!(office_pc.get("/contacts").await.status, 200);
    let mut laptop = Browser::new(&office.gateway);
    enter_password(&mut laptop, "alice", PASSWORD, "/").await;
    let next_step = totp::current_code(&office.secret, portcullis::clock::now() + Duration::from_secs(30));
    assert_eq!(enter_code(&mut laptop, &next_step).await.status, 303);
    assert_eq!(laptop.get("/contacts").await.status, 200);
    assert_eq!(
        office_pc.get("/contacts").await.status,
        303,
        "the older session was ended: sign in again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_session_per_user_simultaneous_sign_ins_on_two_gateways_leave_one() {
    let office = Office::start_with("sessions: { max_per_user: 1 }\n", "").await;
    let other = office.second_gateway().await;
    // Recovery codes: one per sign-in, so that pairs can finish at once.
    for round in 0..5 {
        let mut here = Browser::new(&office.gateway);
        let mut there = Browser::new(&other);
        enter_password(&mut here, "alice", PASSWORD, "/").await;
        enter_password(&mut there, "alice", PASSWORD, "/").await;
        let (a, b) = tokio::join!(
            enter_code(&mut here, &office.recovery_codes[2 * round]),
            enter_code(&mut there, &office.recovery_codes[2 * round + 1])
        );
        assert_eq!((a.status, b.status), (303, 303), "round {round}");
        let listed = admin_command(&[
            "sessions",
            "list",
            "--config",
            &office.config_file(),
            "--format",
            "json",
        ]);
        let live: Vec<serde_json::Value> = serde_json::from_str(&listed).unwrap();
        assert_eq!(live.len(), 1, "round {round}: {listed}");
        let (here, there) = (here.get("/contacts").await.status, there.get("/contacts").await.status);
        assert!(
            [(200, 303), (303, 200)].contains(&(here, there)),
            "round {round}: one browser is signed in, not {here} and {there}"
        );
    }
}

#[tokio::test]
async fn scenario_14_from_her_phone_alice_ends_the_session_left_open_at_the_office() {
    let office = Office::start().await;
    let mut office_pc = signed_in(&office, "alice", "127.0.0.1").await;
    let mut phone = Browser::new(&office.gateway);
    enter_password(&mut phone, "alice", PASSWORD, "/").await;
    let next_step = totp::current_code(&office.secret, portcullis::clock::now() + Duration::from_secs(30));
    assert_eq!(enter_code(&mut phone, &next_step).await.status, 303);

    let page = phone.get("/.portcullis/sessions").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body.matches(">web</td>").count(), 2, "two sessions: {}", page.body);
    assert_eq!(page.body.matches("This one").count(), 1, "this session is marked");
    let csrf = Browser::csrf(&page);
    assert_eq!(
        phone
            .post("/.portcullis/sessions", &[("csrf", &csrf), ("end", "others")])
            .await
            .status,
        303
    );

    assert_eq!(
        office_pc.get("/contacts").await.status,
        303,
        "the office PC is signed out"
    );
    assert_eq!(phone.get("/contacts").await.status, 200, "the phone is not");
    let page = phone.get("/.portcullis/sessions").await;
    assert_eq!(
        page.body.matches(">web</td>").count(),
        1,
        "one session left: {}",
        page.body
    );
}

#[tokio::test]
async fn scenario_19_a_login_on_one_gateway_works_on_another_and_a_logout_there_is_honoured_here_within_a_second() {
    let office = Office::start().await;
    let b = office.second_gateway().await;
    let mut on_a = signed_in(&office, "alice", "127.0.0.1").await;
    assert_eq!(
        on_a.get("/contacts").await.status,
        200,
        "A has the session (and caches it)"
    );

    let mut on_b = Browser::new(&b);
    on_b.cookies = on_a.cookies.clone();
    assert_eq!(on_b.get("/contacts").await.status, 200, "the same cookie works on B");
    let confirm = on_b.get("/.portcullis/logout").await;
    let csrf = Browser::csrf(&confirm);
    assert_eq!(on_b.post("/.portcullis/logout", &[("csrf", &csrf)]).await.status, 303);

    let started = std::time::Instant::now();
    loop {
        let status = on_a.get("/contacts").await.status;
        if status == 303 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "A still let the revoked session through after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("A refused the revoked session after {:?}", started.elapsed());
}

/// Wait for a gateway on the embedded store to open its admin socket (it
/// starts in the background; the socket comes with it).
pub(crate) async fn admin_socket_ready(socket: &std::path::Path) {
    let started = std::time::Instant::now();
    while !socket.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no admin socket at {socket:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Run `portcullis ARGS`, as an admin would; its standard output. Fails the
/// test if the command fails.
pub(crate) fn admin_command(args: &[&str]) -> String {
    let output = crate::support::process::run(args);
    assert!(
        output.status.success(),
        "portcullis {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The path of the invite link in what `user invite` or `user reset` printed.
pub(crate) fn link_in(printed: &str, gateway: &TestGateway) -> String {
    let link = printed
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no link in {printed:?}"));
    link.trim_start_matches(&gateway.url("")).to_owned()
}

/// Follow an invite link to the end: choose `password`, add the shown key
/// to an "authenticator", confirm a code. Returns the authenticator's secret.
pub(crate) async fn enrol_from_link(gateway: &TestGateway, path: &str, password: &str) -> TotpSecret {
    enrol_with(&mut Browser::new(gateway), path, password).await.0
}

/// [`enrol_from_link`] in a given browser; also returns the last page (the
/// recovery codes).
pub(crate) async fn enrol_with(
    browser: &mut Browser,
    path: &str,
    password: &str,
) -> (TotpSecret, crate::support::gateway::Answer) {
    let form = browser.get(path).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let token = path.split("token=").nth(1).unwrap();
    let csrf = Browser::csrf(&form);
    let scan = browser
        .post(
            "/.portcullis/enrol",
            &[
                ("csrf", &csrf),
                ("token", token),
                ("password", password),
                ("confirm", password),
            ],
        )
        .await;
    let secret = secret_on(&scan);
    let csrf = Browser::csrf(&scan);
    let code = totp::current_code(&secret, portcullis::clock::now());
    let done = browser
        .post(
            "/.portcullis/enrol/confirm",
            &[("csrf", &csrf), ("token", token), ("code", &code)],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Recovery codes"), "{}", done.body);
    (secret, done)
}

/// The TOTP secret a scan page shows as text under its QR code.
pub(crate) fn secret_on(scan: &crate::support::gateway::Answer) -> TotpSecret {
    let start = scan
        .body
        .find("<code class=\"key\">")
        .unwrap_or_else(|| panic!("no key on the page: {}", scan.body))
        + 18;
    let key: String = scan.body[start..]
        .split('<')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    TotpSecret::from_bytes(totp_rs::Secret::Encoded(key).to_bytes().unwrap())
}

/// A code for the step after the current one: the current one may be spent.
pub(crate) fn next_code(secret: &TotpSecret) -> String {
    totp::current_code(secret, portcullis::clock::now() + Duration::from_secs(30))
}

/// A code for the step before the current one: still accepted (±1 step),
/// and unused when a test has used only the current and the next.
/// A code of a step no sign-in so far can have used, inside the window
/// the gateway accepts: its clock moves on 90 s, and the code is of the
/// step before its new now. (The system clock's previous step was flaky: a
/// slow run crosses a step, and then it is the one just used.)
pub(crate) fn unused_code(gateway: &TestGateway, secret: &TotpSecret) -> String {
    gateway.clock.advance(Duration::from_secs(90));
    totp::current_code(secret, gateway.clock.now() - Duration::from_secs(30))
}

#[tokio::test]
async fn scenario_8_an_account_signed_in_from_two_networks_at_once_is_refused_when_the_policy_says_so() {
    let office = Office::start_with("sessions: { on_sharing: refuse }\n", "").await;
    let mut at_the_office = signed_in(&office, "alice", "127.0.0.1").await;
    let mut elsewhere = Browser::new(&office.gateway);
    elsewhere.forwarded_for = Some("127.0.9.9".into());
    enter_password(&mut elsewhere, "alice", PASSWORD, "/").await;
    let answer = enter_code(&mut elsewhere, &next_code(&office.secret)).await;
    assert_eq!(answer.status, 200, "refused: {}", answer.body);
    assert!(
        answer.body.contains("Your account is signed in from another place."),
        "{}",
        answer.body
    );
    assert_eq!(
        at_the_office.get("/contacts").await.status,
        200,
        "the first session goes on"
    );
    // From the same office network, a second sign-in is fine.
    let mut next_desk = Browser::new(&office.gateway);
    next_desk.forwarded_for = Some("127.0.0.77".into());
    enter_password(&mut next_desk, "alice", PASSWORD, "/").await;
    assert_eq!(
        enter_code(&mut next_desk, &unused_code(&office.gateway, &office.secret))
            .await
            .status,
        303
    );
}

#[tokio::test]
async fn a_gateway_idle_while_its_redis_restarted_serves_the_next_request_without_a_503() {
    let mut office = Office::start().await;
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    assert_eq!(alice.get("/contacts").await.status, 200);
    // Ops restart Redis (its data kept); the gateway's connection is dead,
    // and nothing has told it so yet.
    office.redis.as_mut().unwrap().restart_keeping_data();
    // Past the 1 s session cache, so that the next request asks Redis.
    office.gateway.clock.advance(Duration::from_millis(1100));
    let first = alice.get("/contacts").await;
    assert_eq!(first.status, 200, "the first request after the restart: {}", first.body);
}
