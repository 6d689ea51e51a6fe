//! Route rules beyond allow and deny: quotas and report-only rules, on
//! the policy of [`super::tests`].

use std::net::IpAddr;

use http::Method;

use super::tests::{at, POLICY};
use super::*;

fn with_routes(routes: &str) -> Policy {
    let yaml = POLICY.replace("routes:\n", &format!("routes:\n{routes}"));
    compile(&serde_yaml::from_str(&yaml).unwrap()).unwrap_or_else(|p| panic!("{p:?}"))
}

fn ask<'p>(policy: &'p Policy, user: &'p str, path: &'p str) -> (Decision, Facts<'p>) {
    static GET: Method = Method::GET;
    let facts = Facts {
        ip: "193.167.1.70".parse().unwrap(),
        client: ClientTypeId(1),
        method: &GET,
        path,
    };
    let principal = Principal::User {
        name: user,
        second_factor_at: None,
    };
    (decide(policy, &facts, &principal, at("2026-11-20T10:00:00Z")), facts)
}

/// Ops try "contacts for managers only" before turning it on: Alice is let
/// through and the refusal recorded; the report rule never stands in for
/// the enforced rules after it.
#[test]
fn a_report_only_rule_records_what_it_would_refuse_and_enforces_nothing() {
    let policy = with_routes(
        "  - { paths: [\"/contacts/**\"], allow_groups: [managers], mode: report }\n  \
         - { paths: [\"/billing/**\"], allow_groups: [field], mode: report }\n",
    );
    let (decision, facts) = ask(&policy, "alice", "/contacts/1");
    let permit = decision.as_ref().expect("let through");
    assert_eq!(permit.reported(), &[Deny::RouteGroups { route: RouteId(0) }]);
    let words = policy.explain(&decision, &facts, Some("alice"));
    assert!(
        words.contains("report-only, not enforced: routes[0] (/contacts/**) allows only groups managers"),
        "{words}"
    );
    let (decision, _) = ask(&policy, "carol", "/contacts/1");
    assert!(decision.unwrap().reported().is_empty(), "carol is a manager");
    // Bob is in field, which the report rule on billing would let in; the
    // enforced finance rule after it still refuses him.
    let (decision, _) = ask(&policy, "bob", "/billing/q3");
    assert_eq!(
        decision.unwrap_err(),
        Refusal::Deny(Deny::RouteGroups { route: RouteId(2) })
    );
    let (decision, _) = ask(&policy, "alice", "/billing/q3");
    assert_eq!(decision.unwrap().reported(), &[Deny::RouteGroups { route: RouteId(1) }]);

    let broken = POLICY.replace(
        "routes:\n",
        "routes:\n  - { paths: [\"/a\"], step_up: 5m, mode: report }\n",
    );
    let problems = compile(&serde_yaml::from_str(&broken).unwrap()).unwrap_err();
    assert!(problems.iter().any(|p| p.path == "routes[0].mode"), "{problems:?}");
}

/// Exports are counted however the CRM would read the path: a Java
/// container drops `;jsessionid=…`, so that reading counts too.
#[test]
fn a_quota_counts_a_request_that_any_reading_of_it_matches_and_check_refuses_impossible_ones() {
    let policy = with_routes("  - { paths: [\"/reports/export\"], quota: { requests: 5, every: 24h } }\n");
    let principal = Principal::User {
        name: "alice",
        second_factor_at: None,
    };
    let ip: IpAddr = "193.167.1.70".parse().unwrap();
    let now = at("2026-11-20T10:00:00Z");
    let quotas = |path: &str| {
        let reading = reading::read(reading::Server::Java, &Method::GET, path, None, &http::HeaderMap::new()).unwrap();
        let (decision, _) = decide_reading(&policy, ip, ClientTypeId(1), &reading, &principal, now);
        decision
            .unwrap()
            .guarded()
            .iter()
            .map(|r| r.index())
            .collect::<Vec<_>>()
    };
    assert_eq!(quotas("/reports/export"), vec![0]);
    assert_eq!(quotas("/reports/export;jsessionid=x"), vec![0]);
    assert_eq!(quotas("/contacts"), Vec::<usize>::new());
    let quota = policy.routes[0].quota.unwrap();
    assert_eq!(quota.describe(), "5 requests every 1day per user");
    let (_, resets) = quota.window(now);
    assert_eq!(resets, at("2026-11-21T00:00:00Z"), "24h windows end at midnight UTC");

    let broken = POLICY.replace(
        "routes:\n",
        "routes:\n  - { paths: [\"/a\"], quota: { requests: 0, every: 24h } }\n  - { paths: [\"/b\"], quota: { requests: 1, every: 0s } }\n",
    );
    let problems = compile(&serde_yaml::from_str(&broken).unwrap()).unwrap_err();
    let problems: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
    assert!(
        problems.iter().any(|p| p.starts_with("routes[0].quota.requests: is 0")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("routes[1].quota.every: must be at least 1s")),
        "{problems:?}"
    );
}

/// Deleting a contact waits for a manager: the policy lets it through to
/// be held, explain says by whom, and check refuses the rules nobody could
/// meet and warns of the ones nobody would.
#[test]
fn an_approval_rule_holds_what_it_lets_through_and_check_names_approvals_nobody_could_give() {
    let held = "  - { paths: [\"/contacts/*/delete\"], approval: { by: [managers], reason: required } }\n";
    let policy = with_routes(held);
    let guarded = |path: &str| {
        let reading = reading::read(reading::Server::Iis, &Method::POST, path, None, &http::HeaderMap::new()).unwrap();
        let alice = Principal::User {
            name: "alice",
            second_factor_at: None,
        };
        let ip: IpAddr = "193.167.1.70".parse().unwrap();
        let (decision, facts) = decide_reading(
            &policy,
            ip,
            ClientTypeId(1),
            &reading,
            &alice,
            at("2026-11-20T10:00:00Z"),
        );
        let words = policy.explain(&decision, &facts, Some("alice"));
        (decision.unwrap().guarded().to_vec(), words)
    };
    // However the CRM's server reads it (IIS: any case).
    let (routes, words) = guarded("/Contacts/7/DELETE");
    assert_eq!(routes, [RouteId(0)]);
    let expected = "routes[0] (/contacts/*/delete) holds it until a member of managers other than the requester \
                    approves it (within 1h, a reason required)";
    assert!(words.contains(expected), "{words}");
    let approvers: Vec<&str> = policy.approvers(RouteId(0)).iter().map(|u| u.name.as_str()).collect();
    assert_eq!(approvers, ["carol"]);
    assert!(guarded("/contacts/7").0.is_empty());

    // Carol is the only manager, and may delete contacts herself.
    let raw: crate::config::RawConfig =
        serde_yaml::from_str(&POLICY.replace("routes:\n", &format!("routes:\n{held}"))).unwrap();
    let warned: Vec<String> = super::lint::approvals(&raw, &policy)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        warned,
        [
            "routes[0].approval.by: carol is the only approver and may make these requests too: their own could never \
          be approved; add a second approver"
        ]
    );
    let managers_only = with_routes(
        "  - { paths: [\"/a\"], allow_groups: [finance], approval: { by: [managers] } }\n  \
         - { paths: [\"/b\"], approval: { by: [readonly, finance] } }\n",
    );
    let warned: Vec<String> = super::lint::approvals(&raw, &managers_only)
        .iter()
        .map(ToString::to_string)
        .collect();
    // Carol may not ask on /a, so she may approve it alone; both rules
    // warn only that nobody is emailed.
    assert_eq!(warned.len(), 2, "{warned:?}");
    assert!(
        warned[0].starts_with("routes[0].approval.by: codes.email is not set"),
        "{warned:?}"
    );
    assert!(
        warned[1].starts_with("routes[1].approval.by: codes.email is not set"),
        "{warned:?}"
    );

    let broken = POLICY.replace(
        "routes:\n",
        "routes:\n  - { paths: [\"/a\"], approval: { by: [managrs] } }\n  \
         - { paths: [\"/b\"], approval: { by: [], valid_for: 10s, max_body_bytes: 0 } }\n  \
         - { paths: [\"/c\"], allow_groups: [field], approval: { by: [managers] }, mode: report }\n",
    );
    let problems = compile(&serde_yaml::from_str(&broken).unwrap()).unwrap_err();
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    for expected in [
        "routes[0].approval.by[0]: unknown group \"managrs\" (did you mean \"managers\"?)",
        "routes[1].approval.by: names nobody",
        "routes[1].approval.valid_for: must be from 1m to 7d",
        "routes[1].approval.max_body_bytes: must be from 1 to 1048576",
        "routes[2].mode: mode: report records the refusals",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "{expected}: {problems:?}"
        );
    }
}
