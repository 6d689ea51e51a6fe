//! `decide` on the policy from SCENARIOS.md, without sockets.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use http::Method;

use super::*;
use crate::config::raw::RawConfig;

pub(super) const POLICY: &str = r#"
listen: { address: "127.0.0.1:0", tls: { cert: a, key: b } }
upstream: { url: "http://127.0.0.1:1" }
networks:
  office: [193.167.1.70/32, "2001:db8:1::/48"]
  bob-home: [198.51.100.7]
  client-site: [203.0.113.0/24]
  trusted: [office, bob-home]
client_types:
  mobile: { match: { user_agent: "^CRMMobile/" }, login: passthrough }
access:
  web: [office]
  mobile: any
groups:
  finance: {}
  managers: {}
  field: { access: { web: [office, client-site] } }
  readonly: { read_only: true }
users:
  alice: { name: Alice Ng, email: alice@example.com, groups: [finance] }
  bob: { groups: [field], access: { web: [office, bob-home] } }
  carol: { groups: [managers], access: any }
  dave: { disabled: true }
  erin: { groups: [field] }
  frank: { groups: [readonly, finance] }
  gina: { expires: "2026-11-30T17:00:00Z" }
exemptions:
  - { user: alice, access: { web: any }, until: "2026-12-01T00:00:00Z", reason: "site visit" }
routes:
  - { paths: ["/billing/**"], allow_groups: [finance] }
  - { paths: ["/contacts/export*"], allow_groups: [managers], step_up: 5m, networks: [office] }
  - { paths: ["/projects/**"], methods: [DELETE], deny: all }
"#;

fn policy() -> Policy {
    let raw: RawConfig = serde_yaml::from_str(POLICY).unwrap();
    compile(&raw).unwrap_or_else(|problems| panic!("{problems:?}"))
}

pub(super) fn at(time: &str) -> SystemTime {
    humantime::parse_rfc3339(time).unwrap()
}

const NOV_22: &str = "2026-11-22T12:00:00Z";
const OFFICE: &str = "193.167.1.70";
const HOME: &str = "198.51.100.7";
const CAFE: &str = "192.0.2.99";

struct Ask<'a> {
    policy: &'a Policy,
    user: Option<&'a str>,
    ip: &'a str,
    client: &'a str,
    method: Method,
    path: &'a str,
    now: SystemTime,
    second_factor_at: Option<SystemTime>,
}

impl<'a> Ask<'a> {
    fn new(policy: &'a Policy, user: Option<&'a str>, ip: &'a str, path: &'a str) -> Ask<'a> {
        Ask {
            policy,
            user,
            ip,
            client: "web",
            method: Method::GET,
            path,
            now: at(NOV_22),
            second_factor_at: None,
        }
    }

    /// The decision and its explanation.
    fn answer(&self) -> (Decision, String) {
        let facts = Facts {
            ip: self.ip.parse::<IpAddr>().unwrap(),
            client: self.policy.client_type(self.client).unwrap(),
            method: &self.method,
            path: self.path,
        };
        let principal = match self.user {
            None => Principal::Anonymous,
            Some(name) => Principal::User {
                name,
                second_factor_at: self.second_factor_at,
            },
        };
        let decision = decide(self.policy, &facts, &principal, self.now);
        let explanation = self.policy.explain(&decision, &facts, self.user);
        (decision, explanation)
    }

    fn decide(&self) -> Decision {
        self.answer().0
    }

    fn explain(&self) -> String {
        self.answer().1
    }
}

#[test]
fn office_only_staff_get_in_from_the_office_and_nowhere_else() {
    let p = policy();
    assert!(Ask::new(&p, Some("erin"), OFFICE, "/contacts").decide().is_ok());
    let away = Ask::new(&p, Some("erin"), CAFE, "/contacts");
    assert!(matches!(away.decide(), Err(Refusal::Deny(Deny::Network { .. }))));
    assert_eq!(
        away.explain(),
        "deny: groups.field.access.web (networks: office, client-site) does not include 192.0.2.99"
    );
}

#[test]
fn a_users_own_access_replaces_their_groups() {
    let p = policy();
    let bob = Ask::new(&p, Some("bob"), HOME, "/contacts");
    assert_eq!(
        bob.explain(),
        "allow: users.bob.access.web (networks: office, bob-home) includes 198.51.100.7"
    );
    // bob's own list replaces the field group's, so client-site is not his.
    let site = Ask::new(&p, Some("bob"), "203.0.113.5", "/contacts");
    assert_eq!(
        site.explain(),
        "deny: users.bob.access.web (networks: office, bob-home) does not include 203.0.113.5"
    );
}

#[test]
fn not_signed_in_from_a_known_network_means_login_from_elsewhere_deny() {
    let p = policy();
    assert_eq!(Ask::new(&p, None, OFFICE, "/").decide(), Err(Refusal::Login));
    // carol may come from anywhere, so the login page must be reachable everywhere.
    assert_eq!(Ask::new(&p, None, CAFE, "/").decide(), Err(Refusal::Login));
}

#[test]
fn mobile_app_passes_from_anywhere_without_login() {
    let p = policy();
    let mut ask = Ask::new(&p, None, CAFE, "/api/contacts");
    ask.client = "mobile";
    assert_eq!(ask.explain(), "allow: access.mobile (any network) includes 192.0.2.99");
}

#[test]
fn exemptions_add_access_until_they_expire() {
    let p = policy();
    let mut ask = Ask::new(&p, Some("alice"), CAFE, "/contacts");
    assert_eq!(
        ask.explain(),
        "allow: exemptions[0] (any network) includes 192.0.2.99 until 2026-12-01T00:00:00Z (site visit)"
    );
    ask.now = at("2026-12-01T00:00:01Z");
    assert!(matches!(
        ask.decide(),
        Err(Refusal::Deny(Deny::Network {
            source: Source::Default
        }))
    ));
}

#[test]
fn offboarded_and_expired_accounts_are_refused() {
    let p = policy();
    assert_eq!(
        Ask::new(&p, Some("dave"), OFFICE, "/").decide(),
        Err(Refusal::Deny(Deny::Disabled))
    );
    let mut gina = Ask::new(&p, Some("gina"), OFFICE, "/");
    assert!(gina.decide().is_ok());
    gina.now = at("2026-11-30T17:00:00Z");
    assert!(matches!(gina.decide(), Err(Refusal::Deny(Deny::Expired { .. }))));
    assert_eq!(
        Ask::new(&p, Some("mallory"), OFFICE, "/").decide(),
        Err(Refusal::Deny(Deny::UnknownUser))
    );
}

#[test]
fn billing_is_for_finance_only() {
    let p = policy();
    assert!(Ask::new(&p, Some("alice"), OFFICE, "/billing/invoices")
        .decide()
        .is_ok());
    let pm = Ask::new(&p, Some("erin"), OFFICE, "/billing");
    assert_eq!(pm.explain(), "deny: routes[0] (/billing/**) allows only groups finance");
}

#[test]
fn export_needs_managers_the_office_and_a_fresh_second_factor() {
    let p = policy();
    let mut carol = Ask::new(&p, Some("carol"), OFFICE, "/contacts/export.csv");
    assert_eq!(
        carol.decide(),
        Err(Refusal::StepUp {
            within: Duration::from_secs(300),
            route: RouteId(1)
        })
    );
    carol.second_factor_at = Some(carol.now - Duration::from_secs(60));
    assert!(carol.decide().is_ok());
    carol.second_factor_at = Some(carol.now - Duration::from_secs(301));
    assert!(matches!(carol.decide(), Err(Refusal::StepUp { .. })));
    // carol may use the CRM from anywhere, but not export from there.
    let mut abroad = Ask::new(&p, Some("carol"), CAFE, "/contacts/export");
    abroad.second_factor_at = Some(abroad.now);
    assert_eq!(
        abroad.explain(),
        "deny: routes[1] (/contacts/export*) requires networks: office, not 192.0.2.99"
    );
}

#[test]
fn read_only_users_may_look_but_not_change() {
    let p = policy();
    assert!(Ask::new(&p, Some("frank"), OFFICE, "/billing").decide().is_ok());
    let mut post = Ask::new(&p, Some("frank"), OFFICE, "/billing");
    post.method = Method::POST;
    assert_eq!(
        post.explain(),
        "deny: groups.readonly.read_only allows only GET and HEAD, not POST"
    );
}

#[test]
fn bulk_delete_of_projects_is_denied_to_everyone() {
    let p = policy();
    let mut delete = Ask::new(&p, Some("carol"), OFFICE, "/projects/7");
    delete.method = Method::DELETE;
    assert_eq!(delete.explain(), "deny: routes[2] (/projects/**) denies all");
    assert!(Ask::new(&p, Some("carol"), OFFICE, "/projects/7").decide().is_ok());
}

#[test]
fn client_types_are_chosen_by_their_match_and_default_to_web() {
    let p = policy();
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::USER_AGENT, "CRMMobile/4.2 (iOS)".parse().unwrap());
    assert_eq!(
        p.client_types[p.classify(Some("crm.example.com"), "/", &headers)].name,
        "mobile"
    );
    headers.insert(http::header::USER_AGENT, "Mozilla/5.0".parse().unwrap());
    assert_eq!(p.client_types[p.classify(None, "/", &headers)].name, "web");
}

#[test]
fn every_mistake_is_reported_with_its_path_and_a_suggestion() {
    let yaml = POLICY
        .replace("web: [office]", "web: [ofice]")
        .replace("groups: [finance] }", "groups: [finanse] }")
        .replace("allow_groups: [managers]", "allow_groups: [managers], methods: [get]")
        .replace("until: \"2026-12-01T00:00:00Z\"", "until: \"next week\"");
    let raw: RawConfig = serde_yaml::from_str(&yaml).unwrap();
    let problems: Vec<String> = compile(&raw).unwrap_err().iter().map(ToString::to_string).collect();
    for expected in [
        "access.web[0]: unknown network \"ofice\" (did you mean \"office\"?)",
        "users.alice.groups[0]: unknown group \"finanse\" (did you mean \"finance\"?); declare it under groups:",
        "routes[1].methods[0]: write methods in capitals: GET",
        "exemptions[0].until: \"next week\" is not a time",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "missing {expected:?} in {problems:#?}"
        );
    }
}

#[test]
fn networks_may_include_networks_but_not_themselves() {
    let p = policy();
    let trusted = &p.networks.iter().find(|(n, _)| n == "trusted").unwrap().1;
    assert!(trusted.contains(OFFICE.parse().unwrap()) && trusted.contains(HOME.parse().unwrap()));
    let yaml = POLICY.replace(
        "trusted: [office, bob-home]",
        "trusted: [office, loop]\n  loop: [trusted]",
    );
    let raw: RawConfig = serde_yaml::from_str(&yaml).unwrap();
    let problems = compile(&raw).unwrap_err();
    assert!(
        problems.iter().any(|p| p.message.contains("includes itself")),
        "{problems:?}"
    );
}

#[test]
fn a_step_up_names_the_factors_the_user_will_be_asked_for() {
    let p = policy();
    let mut export = Ask::new(&p, Some("carol"), OFFICE, "/contacts/export");
    export.second_factor_at = Some(at(NOV_22) - Duration::from_secs(600));
    assert_eq!(
        export.explain(),
        "step-up: routes[1] (/contacts/export*) requires a second factor within 5m; carol is asked for totp"
    );

    let text = POLICY.replace(
        "managers: {}",
        "managers: { second_factors: [passkey, totp], passkeys: { device_bound: true } }",
    );
    let p = compile(&serde_yaml::from_str(&text).unwrap()).unwrap();
    let mut export = Ask::new(&p, Some("carol"), OFFICE, "/contacts/export");
    export.second_factor_at = Some(at(NOV_22) - Duration::from_secs(600));
    assert!(matches!(export.decide(), Err(Refusal::StepUp { .. })));
    assert!(
        export
            .explain()
            .ends_with("; carol is asked for totp or passkey (device-bound passkeys only)"),
        "{}",
        export.explain()
    );
}

#[test]
fn passwords_off_for_a_group_stay_on_for_a_break_glass_user_of_it() {
    let text = POLICY
        .replace("  finance: {}", "  finance: { password_sign_in: false }")
        .replace(
            "  frank: { groups: [readonly, finance] }",
            "  frank: { groups: [readonly, finance], password_sign_in: true }",
        );
    let p = compile(&serde_yaml::from_str(&text).unwrap()).unwrap();
    assert!(
        !p.users["alice"].password_sign_in,
        "finance signs in with the provider only"
    );
    assert!(p.users["frank"].password_sign_in, "his own setting wins");
    assert!(p.users["bob"].password_sign_in, "the default");
    let off = compile(&serde_yaml::from_str(&format!("{POLICY}password_sign_in: false\n")).unwrap()).unwrap();
    assert!(!off.users["bob"].password_sign_in);
}

#[test]
fn directory_passwords_for_a_group_stay_local_for_a_break_glass_user_and_need_a_directory() {
    use crate::policy::PasswordFrom::{Directory, Local};
    let text = POLICY
        .replace("  finance: {}", "  finance: { password_from: directory }")
        .replace(
            "  readonly: { read_only: true }",
            "  readonly: { read_only: true, password_from: local }",
        )
        .replace(
            "  frank: { groups: [readonly, finance] }",
            "  frank: { groups: [readonly, finance], password_from: local }",
        );
    let without = compile(&serde_yaml::from_str(&text).unwrap()).unwrap_err();
    let paths: Vec<&str> = without.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["users.alice.password_from"], "{without:#?}");
    assert!(without[0].message.contains("auth.directory is not set"), "{without:#?}");

    let directory = "auth: { directory: { url: \"ldaps://dc1\", bind_dn: x, base_dn: y } }\n";
    let p = compile(&serde_yaml::from_str(&format!("{text}{directory}")).unwrap()).unwrap();
    assert_eq!(p.users["alice"].password_from, Directory, "finance's");
    assert_eq!(p.users["frank"].password_from, Local, "his own setting wins");
    assert_eq!(p.users["bob"].password_from, Local, "the default");
    assert_eq!(p.password_from, Local);
    let everyone =
        compile(&serde_yaml::from_str(&format!("{POLICY}{directory}password_from: directory\n")).unwrap()).unwrap();
    assert_eq!(
        (everyone.users["bob"].password_from, everyone.password_from),
        (Directory, Directory)
    );
}
