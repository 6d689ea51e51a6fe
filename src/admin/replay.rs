//! `portcullis replay`: recorded requests (the access log's JSON lines)
//! asked again of a candidate policy, and the answers that would change,
//! grouped by direction, user, client type, network and the rule that
//! decides, with counts. Ops see who a new rule would shut out (or let in)
//! before it goes live.
//!
//! Each line is asked as `explain` would ask it: its method and path read
//! as the candidate's CRM family reads them, its user signed in with a
//! fresh second factor (the log cannot say how fresh), at the time it was
//! made. Lines that were not the policy's yes or no (sent to sign in, a
//! step-up, a quota's 429, a held request, the gateway's own pages, errors) are counted,
//! not compared. The log has no
//! query or body, so a method override there is not replayed.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use serde::Deserialize;

use crate::config::raw::Server;
use crate::policy::{self, Decision, Deny, Policy, Principal, Refusal};

/// One access-log line, as far as the replay reads it.
#[derive(Debug, Deserialize)]
pub struct Logged {
    pub timestamp: String,
    pub method: String,
    pub path: String,
    pub client_ip: IpAddr,
    pub decision: String,
    pub client_type: String,
    pub user: String,
}

/// A change the candidate would make, and the requests it concerns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// `allowed → refused` or `refused → allowed`.
    pub direction: &'static str,
    pub user: String,
    pub client_type: String,
    /// The network (by name) the address is in, else the address.
    pub network: String,
    /// The rule that decides under the candidate: `routes[2] (/billing/**)`,
    /// `access`, `account`, `read-only`.
    pub rule: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub compared: usize,
    /// Sign-in pages, step-ups, the gateway's own pages, errors, lines it cannot ask.
    pub not_compared: usize,
    pub changes: BTreeMap<Change, usize>,
}

/// Replay `lines` (JSON, one per line) against `policy`.
pub fn replay<'l>(policy: &Policy, server: Server, lines: impl Iterator<Item = &'l str>) -> Report {
    let mut report = Report::default();
    // The access log shares the gateway's log stream: only its lines count.
    let access = |line: &&str| serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v["target"] == "access");
    for line in lines.filter(access) {
        let Some((was_allowed, logged)) = comparable(line) else {
            report.not_compared += 1;
            continue;
        };
        let Some(decision) = ask(policy, server, &logged) else {
            report.not_compared += 1;
            continue;
        };
        let now_allowed = match &decision {
            Ok(_) => true,
            Err(Refusal::Deny(_)) => false,
            Err(Refusal::Login | Refusal::StepUp { .. }) => {
                report.not_compared += 1;
                continue;
            }
        };
        report.compared += 1;
        if now_allowed == was_allowed {
            continue;
        }
        let change = Change {
            direction: if was_allowed {
                "allowed → refused"
            } else {
                "refused → allowed"
            },
            user: logged.user.clone(),
            client_type: logged.client_type.clone(),
            network: network_of(policy, logged.client_ip),
            rule: rule_of(policy, &decision),
        };
        *report.changes.entry(change).or_default() += 1;
    }
    report
}

/// A line that was a yes or a no, and whether it was a yes.
fn comparable(line: &str) -> Option<(bool, Logged)> {
    let logged: Logged = serde_json::from_str(line).ok()?;
    match logged.decision.as_str() {
        "allow" => Some((true, logged)),
        // A quota's 429 is not the policy's answer: replay counts no quotas.
        "deny" => Some((false, logged)),
        _ => None,
    }
}

/// The candidate's decision for a logged request; `None` if it cannot be asked.
fn ask(policy: &Policy, server: Server, logged: &Logged) -> Option<Decision> {
    let client = policy.client_type(&logged.client_type)?;
    let method = http::Method::from_bytes(logged.method.as_bytes()).ok()?;
    let now: SystemTime = humantime::parse_rfc3339_weak(&logged.timestamp).ok()?;
    let reading = policy::reading::read(server, &method, &logged.path, None, &http::HeaderMap::new()).ok()?;
    let principal = match logged.user.as_str() {
        "-" => Principal::Anonymous,
        name => Principal::User {
            name,
            second_factor_at: Some(now),
        },
    };
    Some(policy::decide_reading(policy, logged.client_ip, client, &reading, &principal, now).0)
}

fn network_of(policy: &Policy, ip: IpAddr) -> String {
    (policy.networks.iter())
        .find(|(_, set)| set.contains(ip))
        .map_or_else(|| ip.to_string(), |(name, _)| name.clone())
}

fn rule_of(policy: &Policy, decision: &Decision) -> String {
    let route = |i: policy::RouteId| {
        let paths = policy.routes[i].paths.join(", ");
        format!("routes[{}] ({paths})", i.index())
    };
    match decision {
        Ok(permit) => permit.grant().route.map_or("access".to_owned(), route),
        Err(Refusal::Deny(deny)) => match deny {
            Deny::RouteDenied { route: i }
            | Deny::RouteGroups { route: i }
            | Deny::RouteNetwork { route: i }
            | Deny::RouteNeedsLogin { route: i } => route(*i),
            Deny::Network { .. } | Deny::NoAccountFromNetwork => "access".to_owned(),
            Deny::ReadOnly { .. } => "read-only".to_owned(),
            Deny::UnknownUser | Deny::Disabled | Deny::Expired { .. } => "account".to_owned(),
        },
        Err(_) => String::new(),
    }
}

/// The report as `replay` prints it.
pub fn text(report: &Report) -> String {
    let mut out = format!(
        "{} requests compared, {} not (sign-in pages, step-ups, quotas, held requests, errors, the gateway's own pages).\n",
        report.compared, report.not_compared
    );
    if report.changes.is_empty() {
        out.push_str("No answer would change.\n");
        return out;
    }
    let mut direction = "";
    for (change, count) in &report.changes {
        if change.direction != direction {
            direction = change.direction;
            let total: usize = (report.changes.iter())
                .filter(|(c, _)| c.direction == direction)
                .map(|(_, n)| n)
                .sum();
            out.push_str(&format!("{direction}: {total}\n"));
        }
        out.push_str(&format!(
            "  {count:>6}  user {}  client {}  from {}  by {}\n",
            change.user, change.client_type, change.network, change.rule
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
listen: { address: "127.0.0.1:0", tls: { cert: a, key: b } }
upstream: { url: "http://127.0.0.1:1" }
networks: { office: [10.1.0.0/16], home: [192.0.2.0/24] }
access: { web: [office, home] }
groups: { finance: {} }
users: { alice: { groups: [finance] }, bob: {} }
routes:
  - { paths: ["/billing/**"], allow_groups: [finance] }
"#;

    fn line(user: &str, ip: &str, path: &str, decision: &str) -> String {
        format!(
            r#"{{"timestamp":"2026-12-01T10:00:00Z","method":"GET","path":"{path}","client_ip":"{ip}","decision":"{decision}","client_type":"web","user":"{user}","status":200,"target":"access"}}"#
        )
    }

    #[test]
    fn a_stricter_candidate_names_who_it_would_shut_out_and_by_which_rule() {
        let raw = crate::config::parse(&YAML.replace("web: [office, home]", "web: [office]")).unwrap();
        let candidate = crate::policy::compile(&raw).unwrap();
        let log = [
            line("alice", "192.0.2.7", "/contacts", "allow"),
            line("alice", "192.0.2.8", "/contacts", "allow"),
            line("alice", "10.1.0.5", "/billing/q3", "allow"),
            line("bob", "10.1.0.6", "/billing/q3", "allow"),
            line("bob", "10.1.0.6", "/billing/q3", "deny"),
            line("-", "10.1.0.9", "/contacts", "login"),
            line("alice", "10.1.0.5", "/reports/export", "quota"),
            "not json".to_owned(),
            r#"{"target":"audit","event":"login.success"}"#.to_owned(),
        ]
        .join("\n");
        let report = replay(&candidate, Server::Generic, log.lines());
        assert_eq!(
            (report.compared, report.not_compared),
            (5, 2),
            "the login and the quota; other lines are not the access log's"
        );
        let changes: Vec<(String, usize)> = (report.changes.iter())
            .map(|(c, n)| (format!("{} {} {} {}", c.direction, c.user, c.network, c.rule), *n))
            .collect();
        assert_eq!(
            changes,
            [
                ("allowed → refused alice home access".to_owned(), 2),
                ("allowed → refused bob office routes[0] (/billing/**)".to_owned(), 1),
            ]
        );
        let printed = text(&report);
        assert!(printed.contains("allowed → refused: 3\n"), "{printed}");
        assert!(
            printed.contains("       2  user alice  client web  from home  by access\n"),
            "{printed}"
        );
        assert!(
            printed.contains("user bob  client web  from office  by routes[0] (/billing/**)"),
            "{printed}"
        );
    }
}
