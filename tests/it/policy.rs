//! SCENARIOS.md 1–8 and 15–17: who may reach which part of the CRM, from
//! where, with which client. Through the real gateway, signed in for real
//! (a load balancer on 127.0.0.1 names the client's address), and through
//! `portcullis explain`.

use std::collections::HashMap;
use std::time::Duration;

use http::Request;
use tokio::sync::Mutex;

use crate::login::{enter_code, enter_password, Office, PASSWORD};
use crate::support::browser::Browser;
use crate::support::gateway::Answer;
use crate::support::process;
use crate::support::Settings;

const POLICY: &str = r#"
trusted_proxies: [127.0.0.1]
networks:
  office: [193.167.1.70/32, "2001:db8:1::/48"]
  bob-home: [198.51.100.7]
client_types:
  mobile: { match: { user_agent: "^CRMMobile/", path_prefix: /api/ }, login: passthrough }
access:
  web: [office]
  mobile: any
groups:
  finance: {}
  managers: {}
  field: { access: { web: [office] } }
  readonly: { read_only: true }
  offsite-team: {}
users:
  alice: { name: Alice Ng, email: alice@example.com, groups: [finance] }
  bob: { groups: [field], access: { web: [office, bob-home] } }
  carol: { groups: [managers], access: any }
  dave: { groups: [finance], disabled: true }
  erin: { groups: [field] }
  frank: { groups: [readonly] }
  gus: { groups: [offsite-team] }
  hana: { groups: [offsite-team] }
exemptions:
  - { user: gus, access: { web: any }, until: "2099-01-01T00:00:00Z", reason: "building the new site" }
  - { user: hana, access: { web: any }, until: "2020-01-01T00:00:00Z", reason: "old trade fair" }
routes:
  - { paths: ["/billing/**"], allow_groups: [finance] }
  - { paths: ["/contacts/export*"], allow_groups: [managers], step_up: 5m, networks: [office] }
  - { paths: ["/projects/**"], methods: [DELETE], deny: all }
"#;

/// Everyone in the policy has set up a password and an authenticator.
const ENROLLED: [&str; 8] = ["alice", "bob", "carol", "dave", "erin", "frank", "gus", "hana"];

const OFFICE: &str = "193.167.1.70";
const BOB_HOME: &str = "198.51.100.7";
const CAFE: &str = "192.0.2.99";

/// The CRM behind the gateway, and a browser for each user who signed in.
struct Crm {
    office: Office,
    browsers: Mutex<HashMap<String, Browser>>,
}

impl Crm {
    async fn start() -> Crm {
        Crm {
            office: Office::enrolling(None, "", POLICY, &ENROLLED).await,
            browsers: Mutex::new(HashMap::new()),
        }
    }

    /// `user` (or nobody) asks from `ip` with a browser. A user signs in
    /// first, once, at the office; their laptop then goes where `ip` says.
    async fn browse(&self, user: Option<&str>, ip: &str, method: &str, path: &str) -> Answer {
        self.ask(user, ip, method, path, &[]).await
    }

    async fn ask(&self, user: Option<&str>, ip: &str, method: &str, path: &str, extra: &[(&str, &str)]) -> Answer {
        let mut browsers = self.browsers.lock().await;
        let mut anonymous = Browser::new(&self.office.gateway);
        let browser = match user {
            Some(user) => match browsers.entry(user.to_owned()) {
                std::collections::hash_map::Entry::Occupied(signed_in) => signed_in.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => entry.insert(self.sign_in(user).await),
            },
            None => &mut anonymous,
        };
        browser.forwarded_for = Some(ip.into());
        browser.extra = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if !extra.iter().any(|(name, _)| *name == "user-agent") {
            browser
                .extra
                .push(("user-agent".into(), "Mozilla/5.0 (X11; Linux x86_64)".into()));
        }
        browser.send(method, path, None).await
    }

    /// Sign `user` in at the office, with their password and a recovery code.
    async fn sign_in(&self, user: &str) -> Browser {
        let mut browser = Browser::new(&self.office.gateway);
        browser.forwarded_for = Some(OFFICE.into());
        enter_password(&mut browser, user, PASSWORD, "/").await;
        let answer = enter_code(&mut browser, &self.office.recovery_codes[0]).await;
        assert_eq!(answer.status, 303, "{user} could not sign in: {}", answer.body);
        browser
    }

    /// Signing in as `user` from the office fails, the way every failure does.
    async fn sign_in_refused(&self, user: &str) {
        let mut browser = Browser::new(&self.office.gateway);
        browser.forwarded_for = Some(OFFICE.into());
        let answer = enter_password(&mut browser, user, PASSWORD, "/").await;
        assert_eq!(answer.status, 200, "{user} is not let past the password");
        assert!(
            answer.body.contains("The username, password or code is not right."),
            "{}",
            answer.body
        );
        assert_eq!(
            browser.get("/contacts").await.status,
            303,
            "and is sent to sign in again"
        );
    }

    fn crm_saw(&self, path: &str) -> bool {
        self.office.upstream.seen().iter().any(|s| s.uri.path() == path)
    }
}

#[tokio::test]
async fn scenario_1_office_staff_reach_the_crm_from_the_office_and_nowhere_else() {
    let crm = Crm::start().await;
    assert_eq!(crm.browse(Some("erin"), OFFICE, "GET", "/contacts").await.status, 200);
    let from_cafe = crm.browse(Some("erin"), CAFE, "GET", "/deals").await;
    assert_eq!(from_cafe.status, 403);
    assert!(
        from_cafe
            .body
            .contains("Your account may not use the CRM from this network (192.0.2.99)"),
        "{}",
        from_cafe.body
    );
    assert!(!from_cafe.body.contains("office"), "the page does not dump the policy");
    assert!(crm.crm_saw("/contacts") && !crm.crm_saw("/deals"));
}

#[tokio::test]
async fn scenario_2_a_remote_worker_is_allowed_from_home_and_only_they_are() {
    let crm = Crm::start().await;
    assert_eq!(crm.browse(Some("bob"), BOB_HOME, "GET", "/contacts").await.status, 200);
    assert_eq!(crm.browse(Some("erin"), BOB_HOME, "GET", "/contacts").await.status, 403);
}

#[tokio::test]
async fn scenario_3_the_mobile_app_comes_in_from_anywhere_while_the_web_stays_in_the_office() {
    let crm = Crm::start().await;
    let app = crm
        .ask(
            None,
            CAFE,
            "GET",
            "/api/contacts",
            &[("user-agent", "CRMMobile/4.2 (Android)")],
        )
        .await;
    assert_eq!(app.status, 200, "{}", app.body);
    assert!(crm.crm_saw("/api/contacts"));
    assert_eq!(crm.browse(Some("erin"), CAFE, "GET", "/contacts").await.status, 403);
    // A browser that claims to be the app still gets only the app's paths.
    let pretender = crm
        .ask(
            Some("erin"),
            CAFE,
            "GET",
            "/contacts",
            &[("user-agent", "CRMMobile/4.2")],
        )
        .await;
    assert_eq!(pretender.status, 403);
}

#[tokio::test]
async fn scenario_4_the_owner_abroad_gets_in_and_the_rest_of_the_office_does_not() {
    let crm = Crm::start().await;
    assert_eq!(crm.browse(Some("carol"), CAFE, "GET", "/contacts").await.status, 200);
    assert_eq!(crm.browse(Some("alice"), CAFE, "GET", "/contacts").await.status, 403);
}

#[tokio::test]
async fn scenario_5_temporary_access_applies_until_its_date_and_then_stops_by_itself() {
    let crm = Crm::start().await;
    assert_eq!(crm.browse(Some("gus"), CAFE, "GET", "/contacts").await.status, 200);
    assert_eq!(
        crm.browse(Some("hana"), CAFE, "GET", "/contacts").await.status,
        403,
        "her exemption ended in 2020"
    );
}

#[tokio::test]
async fn scenario_7_the_fired_employee_is_refused_even_from_the_office() {
    let crm = Crm::start().await;
    // Dave still has his password and authenticator; his account is disabled.
    crm.sign_in_refused("dave").await;
    assert!(crm.office.upstream.seen().is_empty(), "nothing of his reached the CRM");
}

#[tokio::test]
async fn scenario_15_billing_is_for_finance_and_not_for_project_managers() {
    let crm = Crm::start().await;
    assert_eq!(
        crm.browse(Some("alice"), OFFICE, "GET", "/billing/invoices/7")
            .await
            .status,
        200
    );
    let pm = crm.browse(Some("erin"), OFFICE, "GET", "/billing").await;
    assert_eq!(pm.status, 403);
    assert!(pm.body.contains("You do not have access to this part of the CRM"));
}

#[tokio::test]
async fn scenario_15_path_tricks_do_not_get_round_the_billing_rule() {
    let crm = Crm::start().await;
    for trick in ["/contacts/../billing", "//billing", "/%62illing/x", "/./billing/"] {
        assert_eq!(
            crm.browse(Some("erin"), OFFICE, "GET", trick).await.status,
            403,
            "{trick}"
        );
    }
    assert_eq!(
        crm.browse(Some("erin"), OFFICE, "GET", "/billing%2Fx").await.status,
        400
    );
    // The CRM receives the path the rules matched, not the trick.
    assert_eq!(
        crm.browse(Some("alice"), OFFICE, "GET", "/contacts/../billing?y=1")
            .await
            .status,
        200
    );
    assert_eq!(crm.office.upstream.last().uri.path_and_query().unwrap(), "/billing?y=1");
    assert!(!crm.office.upstream.seen().iter().any(|s| s.uri.path().contains("..")));
}

#[tokio::test]
async fn scenario_16_export_needs_a_manager_in_the_office_with_a_fresh_second_factor() {
    let crm = Crm::start().await;
    // Carol has just signed in: her second factor is fresh.
    assert_eq!(
        crm.browse(Some("carol"), OFFICE, "GET", "/contacts/export")
            .await
            .status,
        200
    );
    // Carol uses the CRM from anywhere; only the export is office-only, and
    // the page says that, not that her account may not use this network.
    let from_cafe = crm.browse(Some("carol"), CAFE, "GET", "/contacts/export").await;
    assert_eq!(from_cafe.status, 403);
    assert!(
        from_cafe.body.contains(
            "This part of the CRM can only be used from certain networks, and this one (192.0.2.99) is not among them."
        ),
        "{}",
        from_cafe.body
    );
    assert!(!from_cafe
        .body
        .contains("Your account may not use the CRM from this network"));
    let not_a_manager = crm.browse(Some("erin"), OFFICE, "GET", "/contacts/export").await;
    assert_eq!(not_a_manager.status, 403);
    assert!(not_a_manager
        .body
        .contains("You do not have access to this part of the CRM."));
    // Fifteen minutes later her second factor is stale: the export asks again.
    crm.office.gateway.clock.advance(Duration::from_secs(15 * 60));
    let stale = crm.browse(Some("carol"), OFFICE, "GET", "/contacts/export.csv").await;
    assert_eq!(stale.status, 303, "asks for a fresh second factor");
    assert_eq!(
        stale.header("location"),
        Some("/.portcullis/step-up?next=%2Fcontacts%2Fexport.csv")
    );
    let forwarded: Vec<_> = crm
        .office
        .upstream
        .seen()
        .iter()
        .map(|s| s.uri.path().to_owned())
        .collect();
    assert_eq!(forwarded, ["/contacts/export"]);
    assert!(
        crm.office
            .upstream
            .last()
            .header("cookie")
            .is_none_or(|c| !c.contains("__Host-portcullis")),
        "the gateway's cookies stay at the gateway"
    );
}

#[tokio::test]
async fn scenario_16_nobody_bulk_deletes_projects() {
    let crm = Crm::start().await;
    assert_eq!(
        crm.browse(Some("carol"), OFFICE, "DELETE", "/projects/7").await.status,
        403
    );
    assert_eq!(
        crm.browse(Some("carol"), OFFICE, "GET", "/projects/7").await.status,
        200
    );
}

#[tokio::test]
async fn scenario_17_read_only_users_may_look_but_never_change_anything() {
    let crm = Crm::start().await;
    assert_eq!(crm.browse(Some("frank"), OFFICE, "GET", "/contacts").await.status, 200);
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let answer = crm.browse(Some("frank"), OFFICE, method, "/contacts/1").await;
        assert_eq!(answer.status, 403, "{method}");
        assert!(answer.body.contains("view the CRM but not change"));
    }
    assert!(!crm.crm_saw("/contacts/1"));
}

#[tokio::test]
async fn nobody_signed_in_is_sent_to_sign_in_and_unknown_users_are_refused() {
    let crm = Crm::start().await;
    let anonymous = crm.browse(None, OFFICE, "GET", "/contacts").await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(
        anonymous.header("location"),
        Some("/.portcullis/login?next=%2Fcontacts")
    );
    crm.sign_in_refused("mallory").await;
    assert!(crm.office.upstream.seen().is_empty());
}

/// The policy file on disk, as ops would have it, for `check` and `explain`.
fn policy_file(extra: &str) -> (crate::support::pki::TestPki, String) {
    let pki = crate::support::pki::TestPki::new();
    let mut settings = Settings::new("http://127.0.0.1:9");
    settings.policy = format!("{POLICY}{extra}");
    let file = pki.path().join("portcullis.yaml");
    std::fs::write(&file, settings.yaml()).unwrap();
    (pki, file.display().to_string())
}

fn explain(file: &str, args: &[&str]) -> (i32, String) {
    let mut all = vec!["explain", "--config", file];
    all.extend_from_slice(args);
    let output = process::run(&all);
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

/// Managers must step up with a security key: `explain` says so, and
/// `check` warns when the gateway answers only to an address, where no
/// passkey can be made (WebAuthn binds them to a host name).
#[test]
fn explain_names_the_factor_a_step_up_asks_for_and_check_warns_when_passkeys_cannot_be_made() {
    let (_pki, file) = policy_file("");
    let yaml = std::fs::read_to_string(&file).unwrap().replace(
        "  managers: {}",
        "  managers: { second_factors: [passkey], passkeys: { device_bound: true } }",
    );
    let with_hosts = |hosts: &str| yaml.replacen("listen:\n", &format!("listen:\n  hosts: {hosts}\n"), 1);
    std::fs::write(&file, with_hosts("[127.0.0.1]")).unwrap();

    let (code, text) = explain(
        &file,
        &[
            "--user",
            "carol",
            "--ip",
            OFFICE,
            "--path",
            "/contacts/export",
            "--second-factor-age",
            "1h",
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        text,
        "step-up: routes[1] (/contacts/export*) requires a second factor within 5m; carol is asked for passkey (device-bound passkeys only)"
    );

    let output = process::run(&["check", "--config", &file]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let warning = "warning: listen.hosts: the gateway answers only to addresses (127.0.0.1), and passkeys need a host name: carol can only use a passkey, so they can never enrol; name the gateway's host here (and in its certificate), or give them another second factor";
    assert!(stdout.contains(warning), "{stdout}");

    // With a name to answer to, passkeys can be made: no warning.
    std::fs::write(&file, with_hosts("[crm.example.com, 127.0.0.1]")).unwrap();
    let output = process::run(&["check", "--config", &file]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(!stdout.contains("passkeys need a host name"), "{stdout}");
}

#[test]
fn scenario_6_ops_ask_would_alice_from_this_address_reach_this_page() {
    let (_pki, file) = policy_file("");
    let (code, text) = explain(&file, &["--user", "bob", "--ip", CAFE, "--path", "/contacts"]);
    assert_eq!(code, 1);
    assert_eq!(
        text,
        "deny: users.bob.access.web (networks: office, bob-home) does not include 192.0.2.99"
    );

    let (code, text) = explain(&file, &["--user", "bob", "--ip", BOB_HOME, "--path", "/contacts"]);
    assert_eq!(code, 0);
    assert_eq!(
        text,
        "allow: users.bob.access.web (networks: office, bob-home) includes 198.51.100.7"
    );

    let (code, text) = explain(
        &file,
        &[
            "--user", "erin", "--ip", OFFICE, "--path", "/billing", "--format", "json",
        ],
    );
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["decision"], "deny");
    assert_eq!(
        json["explanation"],
        "deny: routes[0] (/billing/**) allows only groups finance"
    );

    let (code, text) = explain(
        &file,
        &[
            "--user",
            "carol",
            "--ip",
            OFFICE,
            "--path",
            "/contacts/export",
            "--second-factor-age",
            "10m",
        ],
    );
    assert_eq!(
        (code, text.as_str()),
        (
            0,
            "step-up: routes[1] (/contacts/export*) requires a second factor within 5m; carol is asked for totp"
        )
    );
}

#[test]
fn scenario_5_explain_shows_an_exemption_ending_on_its_own() {
    let (_pki, file) = policy_file("");
    let before = [
        "--user",
        "gus",
        "--ip",
        CAFE,
        "--path",
        "/",
        "--at",
        "2098-12-31T23:59:59Z",
    ];
    let (code, text) = explain(&file, &before);
    assert_eq!(code, 0);
    assert!(
        text.contains(
            "exemptions[0] (any network) includes 192.0.2.99 until 2099-01-01T00:00:00Z (building the new site)"
        ),
        "{text}"
    );
    let after = [
        "--user",
        "gus",
        "--ip",
        CAFE,
        "--path",
        "/",
        "--at",
        "2099-01-01T00:00:01Z",
    ];
    assert_eq!(explain(&file, &after).0, 1);
}

#[test]
fn explain_refuses_questions_it_cannot_answer() {
    let (_pki, file) = policy_file("");
    let (code, text) = explain(&file, &["--ip", OFFICE, "--client", "tablet", "--path", "/"]);
    assert_eq!(code, 2);
    assert!(
        text.contains("unknown client type \"tablet\"; known: mobile, web"),
        "{text}"
    );
}

#[test]
fn scenario_8_check_flags_shared_looking_accounts_and_other_risky_policy() {
    let extra = "\n".to_string();
    let (_pki, file) = policy_file(&extra);
    let yaml = std::fs::read_to_string(&file)
        .unwrap()
        .replace("  alice:", "  reception: { groups: [finance] }\n  alice:");
    let yaml = yaml.replace(
        "  bob-home: [198.51.100.7]",
        "  bob-home: [198.51.100.7]\n  old-branch: [203.0.113.0/24]",
    );
    std::fs::write(&file, yaml).unwrap();
    let output = process::run(&["check", "--config", &file]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "warnings do not fail check: {stdout}");
    for expected in [
        "warning: users.reception: looks like a shared account; give each person their own login",
        "warning: users.carol: may use every client type from any network",
        "warning: exemptions[1]: ended at 2020-01-01T00:00:00Z (old trade fair); remove it",
        "warning: networks.old-branch: is not used by any access, exemption or route",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
}

#[test]
fn check_rejects_a_policy_naming_things_that_do_not_exist() {
    let (_pki, file) = policy_file("");
    let yaml = std::fs::read_to_string(&file)
        .unwrap()
        .replace("web: [office, bob-home]", "web: [ofice, bob-home]")
        .replace("allow_groups: [finance]", "allow_groups: [finace]");
    std::fs::write(&file, yaml).unwrap();
    let output = process::run(&["check", "--config", &file]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("users.bob.access.web[0]: unknown network \"ofice\" (did you mean \"office\"?)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("routes[0].allow_groups[0]: unknown group \"finace\" (did you mean \"finance\"?)"),
        "{stderr}"
    );
}

#[test]
fn check_flags_rules_that_can_never_match_or_never_apply_and_refuses_misspelt_methods() {
    let (_pki, file) = policy_file("");
    let yaml = std::fs::read_to_string(&file).unwrap();
    let yaml = yaml
        .replace(
            "  - { paths: [\"/projects/**\"], methods: [DELETE], deny: all }",
            "  - { paths: [\"/projects/**\"], methods: [DELETE], deny: all }\n  \
             - { paths: [\"/billing/invoices/*\"], step_up: 5m }\n  \
             - { paths: [\"/api/reports/**\"], client_types: [mobile], allow_groups: [finance] }",
        )
        .replace(
            "  erin: { groups: [field] }",
            "  erin: { groups: [field], access: { web: [office], mobile: [office] }, passkeys: { passwordless: true } }",
        );
    std::fs::write(&file, &yaml).unwrap();
    let output = process::run(&["check", "--config", &file]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "warning: routes[3]: can never match: routes[0] matches everything it would",
        "warning: users.erin.access.mobile: client type mobile has no sign-in, so nobody is signed in on it: this never applies (use access.mobile for it)",
        "warning: routes[4]: applies only to client types without sign-in, where allow_groups, step_up and approval can never be met",
        "warning: users.erin.passkeys: sets passkey rules, but passkey is not among this user's second_factors; add it or drop the rules",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }

    // A misspelt method would quietly disable the rule it is in.
    std::fs::write(&file, yaml.replace("methods: [DELETE]", "methods: [DELTE]")).unwrap();
    let output = process::run(&["check", "--config", &file]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("routes[2].methods[0]: \"DELTE\" is not an HTTP method (did you mean \"DELETE\"?)"),
        "{stderr}"
    );
}

#[test]
fn explain_reads_a_path_with_a_query_and_every_reading_of_it_as_the_gateway_does() {
    let (_pki, file) = policy_file("");
    for path in [
        "/billing?x=1",
        "/Billing",
        "/billing;jsessionid=1",
        "/billing/../billing/x",
    ] {
        let (code, text) = explain(&file, &["--user", "erin", "--ip", OFFICE, "--path", path]);
        assert_eq!(code, 1, "{path}: {text}");
        assert!(
            text.starts_with("deny: routes[0] (/billing/**) allows only groups finance"),
            "{path}: {text}"
        );
    }
    let (code, text) = explain(
        &file,
        &[
            "--user",
            "erin",
            "--ip",
            OFFICE,
            "--method",
            "POST",
            "--path",
            "/projects/7",
            "--header",
            "X-HTTP-Method-Override: DELETE",
        ],
    );
    assert_eq!(code, 1, "{text}");
    assert_eq!(
        text,
        "deny: routes[2] (/projects/**) denies all (as the CRM may read POST /projects/7: DELETE /projects/7)"
    );
    let (code, text) = explain(
        &file,
        &["--user", "erin", "--ip", OFFICE, "--path", "/public/..;/billing"],
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.starts_with("refuse: the gateway refuses this request before any rule"),
        "{text}"
    );
}

/// The policy of the agreement test: per-group access for a client type
/// without sign-in (which never applies), a route for one group, a method
/// rule and a step-up.
const AGREEMENT_POLICY: &str = r#"
trusted_proxies: [127.0.0.1]
networks: { office: [193.167.1.0/24], home: [198.51.100.7/32] }
client_types:
  mobile: { match: { path_prefix: /api/, header: { name: X-App-Key } }, login: passthrough }
access: { web: [office], mobile: any }
groups:
  finance: {}
  sales: { access: { web: [office], mobile: [office] } }
users:
  alice: { groups: [finance], access: { web: [office, home] } }
  bob: { groups: [sales] }
routes:
  - { paths: ["/billing/**", "/api/billing/**"], allow_groups: [finance] }
  - { paths: ["/projects/**", "/api/projects/**"], methods: [DELETE], deny: all }
  - { paths: ["/contacts/export*"], step_up: 5m }
"#;

/// What the gateway did, in explain's words.
fn verdict_of(answer: &Answer) -> &'static str {
    match (answer.status, answer.header("location")) {
        (200, _) => "allow",
        (303, Some(l)) if l.starts_with("/.portcullis/login") => "login",
        // Not a GET: nowhere to send it back to after signing in.
        (401, _) => "login",
        (303, Some(l)) if l.starts_with("/.portcullis/step-up") => "step-up",
        (403, _) => "deny",
        (400 | 405, _) => "refuse",
        _ => "unexpected",
    }
}

#[tokio::test]
async fn explain_users_review_and_the_gateway_give_the_same_answers() {
    let office = crate::login::Office::with_policy(AGREEMENT_POLICY).await;
    let config = office.config_file();
    let mut cookies = std::collections::HashMap::new();
    for user in ["alice", "bob"] {
        let browser = crate::login::signed_in(&office, user, OFFICE).await;
        cookies.insert(user, browser.cookies["__Host-portcullis"].clone());
    }
    // (client type, method, path, extra header)
    type Question = (
        &'static str,
        &'static str,
        &'static str,
        Option<(&'static str, &'static str)>,
    );
    let requests: &[Question] = &[
        ("web", "GET", "/contacts", None),
        ("web", "GET", "/billing?x=1", None),
        ("web", "GET", "/Billing/q3", None),
        ("web", "GET", "/billing;jsessionid=7", None),
        ("web", "POST", "/projects/7", Some(("x-http-method-override", "DELETE"))),
        ("web", "POST", "/projects/7?_method=DELETE", None),
        ("web", "GET", "/contacts/export", None),
        ("web", "GET", "/public/..;/billing", None),
        ("web", "TRACE", "/contacts", None),
        ("mobile", "GET", "/api/contacts", None),
        ("mobile", "GET", "/api/billing/q3", None),
        ("mobile", "POST", "/api/projects/7", Some(("x-http-method", "DELETE"))),
    ];
    let mut asked = 0;
    for user in [Some("alice"), Some("bob"), None] {
        for ip in [OFFICE, BOB_HOME, CAFE] {
            for (client, method, path, header) in requests {
                let mut request = Request::builder()
                    .method(*method)
                    .uri(office.gateway.url(path))
                    .header("x-forwarded-for", ip);
                if let Some(user) = user {
                    request = request.header("cookie", format!("__Host-portcullis={}", cookies[user]));
                }
                if *client == "mobile" {
                    request = request.header("x-app-key", "app-1");
                }
                if let Some((name, value)) = header {
                    request = request.header(*name, *value);
                }
                let answer = office.gateway.client().send(request.body(()).unwrap()).await;
                let gateway = verdict_of(&answer);

                let mut args = vec!["--ip", ip, "--client", client, "--method", method, "--path", path];
                args.extend(["--second-factor-age", "10s", "--format", "json"]);
                if let Some(user) = user {
                    args.extend(["--user", user]);
                }
                let header_arg = header.map(|(n, v)| format!("{n}: {v}"));
                if let Some(h) = &header_arg {
                    args.extend(["--header", h.as_str()]);
                }
                let (_, text) = explain(&config, &args);
                let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
                // A browser without a session that may come from here is sent
                // to the login page, which explain calls login.
                assert_eq!(
                    json["decision"], gateway,
                    "{user:?} from {ip}, {client} {method} {path} {header:?}: explain says {}, the gateway answered {}",
                    json["explanation"], answer.status
                );
                asked += 1;
            }
        }
    }
    assert_eq!(asked, 108);

    // users review shows for the app what applies to it: no sign-in, the
    // default; never bob's group's `mobile: [office]`.
    let output = process::run(&["users", "review", "--config", &config, "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).expect("review as json");
    let bob = rows.as_array().unwrap().iter().find(|r| r["user"] == "bob").unwrap();
    let mobile = bob["access"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["client_type"] == "mobile")
        .unwrap();
    assert_eq!(mobile["access"], "no sign-in: anyone from any network");
    assert_eq!(mobile["signs_in"], false);
}
