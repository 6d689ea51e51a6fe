//! Warnings for `portcullis check`: a policy that is valid but risky or
//! probably not what was meant. They never stop the gateway.

use std::collections::HashSet;
use std::time::SystemTime;

use super::{Access, Factor, Policy};
use crate::config::hosts::ServedNames;
use crate::config::raw::{LoginMode, RawAccess, RawConfig, RawNetList};
use crate::config::Problem;

/// Names that usually mean a shared account (scenario 8: one login per person).
const GENERIC_NAMES: &[&str] = &[
    "admin",
    "administrator",
    "reception",
    "frontdesk",
    "front-desk",
    "sales",
    "office",
    "info",
    "team",
    "support",
    "shared",
    "staff",
    "test",
    "user",
    "guest",
    "accounts",
    "accounting",
    "marketing",
    "hr",
    "it",
    "service",
    "crm",
];

/// Does this user name look like a shared account?
pub fn is_generic_name(name: &str) -> bool {
    GENERIC_NAMES.contains(&name.to_ascii_lowercase().as_str())
}

pub fn lint(raw: &RawConfig, policy: &Policy, hosts: &ServedNames, now: SystemTime) -> Vec<Problem> {
    let mut warnings = Vec::new();
    let mut warn = |path: String, message: String| warnings.push(Problem { path, message });

    for (name, user) in &policy.users {
        let path = format!("users.{name}");
        if is_generic_name(name) {
            warn(
                path.clone(),
                "looks like a shared account; give each person their own login".into(),
            );
        }
        let everywhere = user
            .effective
            .iter()
            .all(|(access, _)| matches!(access, Some(Access::Any)));
        if everywhere && !user.disabled {
            warn(path.clone(), "may use every client type from any network".into());
        }
        let passkeys = user.second_factors.contains(&Factor::Passkey);
        if (user.passkeys.passwordless || user.passkeys.device_bound) && !passkeys {
            warn(
                format!("{path}.passkeys"),
                "sets passkey rules, but passkey is not among this user's second_factors; add it or drop the rules"
                    .into(),
            );
        }
        if !user.password_sign_in && raw.auth.providers.is_empty() && !user.disabled {
            warn(
                format!("{path}.password_sign_in"),
                "passwords are off for this user and auth.providers names no identity provider: they cannot sign in"
                    .into(),
            );
        }
        let Some(raw_user) = raw.users.get(name) else {
            continue; // provisioned by an identity provider
        };
        if raw_user.groups.is_empty() && raw_user.access.is_none() && !user.disabled {
            warn(
                path,
                "has no group and no access of its own; only the defaults apply".into(),
            );
        }
    }

    for (id, provider) in &raw.auth.providers {
        if provider.admit != crate::config::raw::Admit::Listed && provider.trust_mfa.is_empty() {
            warn(
                format!("auth.providers.{id}.admit"),
                "admits users not in the YAML, who have no second factor here and so cannot sign in; \
                 trust the provider's own (trust_mfa: [mfa]) or list them in users and invite them"
                    .into(),
            );
        }
    }

    for (i, e) in policy.exemptions.iter().enumerate() {
        if e.until <= now {
            let until = humantime::format_rfc3339_seconds(e.until);
            warn(
                format!("exemptions[{i}]"),
                format!("ended at {until} ({}); remove it", e.reason),
            );
        }
    }

    for (j, later) in policy.routes.iter().enumerate() {
        let shadow = policy.routes[..j]
            .iter()
            .position(|earlier| !earlier.report && covers_route(earlier, later));
        if let Some(i) = shadow {
            warn(
                format!("routes[{j}]"),
                format!("can never match: routes[{i}] matches everything it would"),
            );
        }
    }

    // Settings for passthrough client types that no request can meet: such
    // a request has no signed-in user, so user and group settings never apply.
    let passthrough: Vec<&str> = (policy.client_types.iter())
        .filter(|c| c.login == LoginMode::Passthrough)
        .map(|c| c.name.as_str())
        .collect();
    let settings = (raw.users.iter().map(|(n, u)| (format!("users.{n}"), u.access.as_ref())))
        .chain(
            raw.groups
                .iter()
                .map(|(n, g)| (format!("groups.{n}"), g.access.as_ref())),
        )
        .chain((raw.exemptions.iter().enumerate()).map(|(i, e)| (format!("exemptions[{i}]"), Some(&e.access))));
    for (path, access) in settings {
        let Some(RawAccess::PerClient(map)) = access else {
            continue;
        };
        for client in map.keys().filter(|k| passthrough.contains(&k.as_str())) {
            warn(
                format!("{path}.access.{client}"),
                format!(
                    "client type {client} has no sign-in, so nobody is signed in on it: this never applies (use access.{client} for it)"
                ),
            );
        }
    }
    for (i, route) in raw.routes.iter().enumerate() {
        let only_passthrough =
            !route.client_types.is_empty() && route.client_types.iter().all(|c| passthrough.contains(&c.as_str()));
        if only_passthrough && (route.allow_groups.is_some() || route.step_up.is_some() || route.approval.is_some()) {
            warn(
                format!("routes[{i}]"),
                "applies only to client types without sign-in, where allow_groups, step_up and approval can never be met: it refuses every request it matches".into(),
            );
        }
    }

    let used = referenced_networks(raw);
    for name in raw.networks.keys() {
        if !used.contains(name.as_str()) {
            warn(
                format!("networks.{name}"),
                "is not used by any access, exemption or route".into(),
            );
        }
    }

    for (name, t) in &raw.client_types {
        let unconfined = t.matcher.as_ref().is_some_and(|m| m.path_prefix.is_none());
        if t.login == LoginMode::Passthrough && unconfined {
            warn(
                format!("client_types.{name}.match"),
                "any client can send this host, header or User-Agent and skip the login for the whole CRM; also match a path_prefix that the app alone uses".into(),
            );
        }
    }
    warnings.extend(passkeys(policy, hosts));
    warnings.extend(approvals(raw, policy));
    warnings
}

/// Approval rules nobody could satisfy: no approver, or only one who may
/// make the request themselves (and never approves their own); and
/// approvers the gateway cannot tell.
pub(super) fn approvals(raw: &RawConfig, policy: &Policy) -> Vec<Problem> {
    let mut warnings = Vec::new();
    for (i, route) in policy.routes.iter().enumerate() {
        if route.approval.is_none() {
            continue;
        }
        let path = format!("routes[{i}].approval.by");
        let approvers = policy.approvers(super::RouteId(i));
        let may_ask = |u: &super::User| {
            (route.allow_groups.as_ref()).is_none_or(|groups| u.groups.iter().any(|g| groups.contains(g)))
        };
        let message = match approvers.as_slice() {
            [] => "has nobody in it: every request the rule holds would wait until it expires".to_owned(),
            [only] if may_ask(only) => format!(
                "{} is the only approver and may make these requests too: their own could never be approved; add a second approver",
                only.name
            ),
            _ if raw.codes.email.is_none() => {
                "codes.email is not set, so approvers are not emailed: they must look at /.portcullis/approvals".to_owned()
            }
            _ => {
                let unreachable: Vec<&str> = (approvers.iter())
                    .filter(|u| u.email.is_none())
                    .map(|u| u.name.as_str())
                    .collect();
                if unreachable.is_empty() {
                    continue;
                }
                format!("{} have no email: they are not told of requests to approve", unreachable.join(", "))
            }
        };
        warnings.push(Problem { path, message });
    }
    warnings
}

/// Passkeys are bound to a host name: on a gateway that answers only to
/// addresses nobody can make or use one, and a user whose only second
/// factor is a passkey can never finish enrolling.
fn passkeys(policy: &Policy, hosts: &ServedNames) -> Vec<Problem> {
    let offered = |u: &&super::User| u.second_factors.contains(&Factor::Passkey) && !u.disabled;
    let (only, also): (Vec<&super::User>, Vec<&super::User>) =
        (policy.users.values().filter(offered)).partition(|u| u.second_factors == [Factor::Passkey]);
    if hosts.has_a_name() || (only.is_empty() && also.is_empty()) {
        return Vec::new();
    }
    let names = |users: &[&super::User]| users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>().join(", ");
    let why = format!(
        "the gateway answers only to addresses ({}), and passkeys need a host name",
        hosts.names().join(", ")
    );
    let message = if only.is_empty() {
        format!("{why}: passkey is offered to {} but can never be used; name the gateway's host here (and in its certificate)", names(&also))
    } else {
        format!("{why}: {} can only use a passkey, so they can never enrol; name the gateway's host here (and in its certificate), or give them another second factor", names(&only))
    };
    vec![Problem {
        path: "listen.hosts".into(),
        message,
    }]
}

/// Does `earlier` match every request `later` would, so that `later`
/// never gets its turn (first match wins)?
fn covers_route(earlier: &super::Route, later: &super::Route) -> bool {
    fn superset<T: PartialEq>(wide: &Option<Vec<T>>, narrow: &Option<Vec<T>>) -> bool {
        match (wide, narrow) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(w), Some(n)) => n.iter().all(|x| w.contains(x)),
        }
    }
    let paths = earlier.paths.is_empty()
        || (!later.paths.is_empty()
            && later
                .paths
                .iter()
                .all(|p| earlier.paths.iter().any(|e| super::glob::covers(e, p))));
    paths && superset(&earlier.methods, &later.methods) && superset(&earlier.client_types, &later.client_types)
}

fn referenced_networks(raw: &RawConfig) -> HashSet<&str> {
    fn list<'a>(l: &'a RawNetList, out: &mut HashSet<&'a str>) {
        match l {
            RawNetList::Keyword(k) => {
                out.insert(k);
            }
            RawNetList::List(v) => out.extend(v.iter().map(String::as_str)),
        }
    }
    fn access<'a>(a: &'a RawAccess, out: &mut HashSet<&'a str>) {
        match a {
            RawAccess::All(l) => list(l, out),
            RawAccess::PerClient(m) => m.values().for_each(|l| list(l, out)),
        }
    }
    let mut out = HashSet::new();
    raw.access.values().for_each(|l| list(l, &mut out));
    raw.groups
        .values()
        .filter_map(|g| g.access.as_ref())
        .for_each(|a| access(a, &mut out));
    raw.users
        .values()
        .filter_map(|u| u.access.as_ref())
        .for_each(|a| access(a, &mut out));
    raw.exemptions.iter().for_each(|e| access(&e.access, &mut out));
    raw.routes
        .iter()
        .filter_map(|r| r.networks.as_ref())
        .for_each(|n| out.extend(n.iter().map(String::as_str)));
    raw.networks
        .values()
        .for_each(|n| out.extend(n.iter().map(String::as_str)));
    out
}
