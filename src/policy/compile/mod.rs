//! Stage two for the policy: check every name and value in the YAML and
//! build the [`Policy`], or report every problem by its YAML path.

use std::collections::HashMap;
use std::time::SystemTime;

use http::Method;
use regex::RegexSet;

use crate::config::raw::{Factor, PasswordFrom, RawConfig, RawNetList, RawPasskeys};
use crate::config::{suggest, Problem};
use crate::policy::{
    glob, provisioned::Provisioned, Access, ClientTypeId, Exemption, ExemptionId, Group, GroupId, IpSet, PasskeyRules,
    Policy, Route, Source, User,
};

mod resolve;

use resolve::Compiler;

pub const DEFAULT_CLIENT: &str = "web";

pub fn compile(raw: &RawConfig) -> Result<Policy, Vec<Problem>> {
    compile_with(raw, &[])
}

/// The policy of `raw` with the users identity providers provisioned
/// (see [`super::provisioned`]) beside the YAML's.
pub fn compile_with(raw: &RawConfig, provisioned: &[Provisioned]) -> Result<Policy, Vec<Problem>> {
    let mut c = Compiler::default();
    c.networks(raw);
    let client_types = c.client_types(raw);
    let client_names: Vec<String> = client_types.iter().map(|t| t.name.clone()).collect();
    c.client_names = client_names;

    let default_access = c.access_by_client_map(&raw.access, "access");
    let groups: Vec<Group> = raw
        .groups
        .iter()
        .map(|(name, g)| Group {
            name: name.clone(),
            access: c.access(g.access.as_ref(), &format!("groups.{name}.access")),
            read_only: g.read_only,
        })
        .collect();
    let group_ids: HashMap<&str, GroupId> = (groups.iter().enumerate())
        .map(|(i, g)| (g.name.as_str(), GroupId(i)))
        .collect();

    for (id, provider) in &raw.auth.providers {
        for (theirs, ours) in &provider.groups {
            for (i, group) in ours.iter().enumerate() {
                c.group_id(&group_ids, group, &format!("auth.providers.{id}.groups.{theirs}[{i}]"));
            }
        }
    }

    let mut users = indexmap::IndexMap::new();
    let vouched = super::provisioned::admitted(raw, provisioned);
    let listed = raw.users.iter().map(|(name, u)| (name, u, None));
    let vouched = vouched.iter().map(|(p, u)| (&p.name, u, Some(p.by.clone())));
    for (name, u, provisioned_by) in listed.chain(vouched) {
        let path = format!("users.{name}");
        let ids: Vec<GroupId> = (u.groups.iter().enumerate())
            .filter_map(|(i, g)| c.group_id(&group_ids, g, &format!("{path}.groups[{i}]")))
            .collect();
        let own = c.access(u.access.as_ref(), &format!("{path}.access"));
        let effective = (0..c.client_names.len())
            .map(|ct| effective_access(ClientTypeId(ct), &own, &ids, &groups, &default_access))
            .collect();
        let read_only = if u.read_only {
            Some(Source::User)
        } else {
            ids.iter()
                .find(|g| groups[**g].read_only)
                .map(|g| Source::Groups(vec![*g]))
        };
        let expires = u.expires.as_deref().and_then(|t| c.time(t, &format!("{path}.expires")));
        let second_factors = second_factors(u.second_factors.as_ref(), &ids, raw);
        let passkeys = passkey_rules(u.passkeys.as_ref(), &ids, raw);
        let password_sign_in = password_sign_in(u.password_sign_in, &ids, raw);
        let password_from = password_from(u.password_from, &ids, raw);
        if password_from == PasswordFrom::Directory && raw.auth.directory.is_none() {
            let message = "checks this user's password with the directory, but auth.directory is not set; \
                           set it (url, bind_dn, base_dn) or say password_from: local"
                .to_owned();
            c.problem(&format!("{path}.password_from"), message);
        }
        users.insert(
            name.clone(),
            User {
                name: name.clone(),
                display_name: u.name.clone(),
                email: u.email.clone(),
                phone: u.phone.clone(),
                groups: ids,
                second_factors,
                passkeys,
                password_sign_in,
                password_from,
                disabled: u.disabled,
                expires,
                provisioned_by,
                read_only,
                effective,
                exemptions: Vec::new(),
            },
        );
    }

    let mut exemptions = Vec::new();
    for (i, e) in raw.exemptions.iter().enumerate() {
        let path = format!("exemptions[{i}]");
        let who = match (&e.user, &e.group) {
            (Some(user), None) => {
                if !users.contains_key(user) {
                    let hint = hint(suggest(user, users.keys().map(String::as_str)));
                    c.problem(&format!("{path}.user"), format!("unknown user {user:?}{hint}"));
                }
                user.clone()
            }
            (None, Some(group)) => {
                c.group_id(&group_ids, group, &format!("{path}.group"));
                format!("group {group}")
            }
            _ => {
                c.problem(&path, "name exactly one of user or group".into());
                String::new()
            }
        };
        let access = c.access(Some(&e.access), &format!("{path}.access"));
        let until = c.time(&e.until, &format!("{path}.until"));
        if e.reason.trim().is_empty() {
            c.problem(
                &format!("{path}.reason"),
                "say why (it shows in reviews and explanations)".into(),
            );
        }
        for user in users.values_mut() {
            let by_group = e
                .group
                .as_deref()
                .and_then(|g| group_ids.get(g))
                .is_some_and(|g| user.groups.contains(g));
            if e.user.as_deref() == Some(user.name.as_str()) || by_group {
                user.exemptions.push(ExemptionId(i));
            }
        }
        exemptions.push(Exemption {
            who,
            until: until.unwrap_or(SystemTime::UNIX_EPOCH),
            reason: e.reason.clone(),
            access,
        });
    }

    let mut routes = Vec::new();
    let mut patterns = Vec::new();
    for (i, r) in raw.routes.iter().enumerate() {
        let path = format!("routes[{i}]");
        let mut globs = Vec::new();
        for (j, p) in r.paths.iter().enumerate() {
            match glob::to_regex(p) {
                Ok(re) => globs.push(format!("(?:{re})")),
                Err(msg) => c.problem(&format!("{path}.paths[{j}]"), msg),
            }
        }
        patterns.push(if globs.is_empty() {
            "^".to_string()
        } else {
            globs.join("|")
        });
        let methods = (!r.methods.is_empty()).then(|| {
            (r.methods.iter().enumerate())
                .filter_map(|(j, m)| c.method(m, &format!("{path}.methods[{j}]")))
                .collect()
        });
        let client_types = (!r.client_types.is_empty()).then(|| {
            (r.client_types.iter().enumerate())
                .filter_map(|(j, t)| c.client_id(t, &format!("{path}.client_types[{j}]")))
                .collect()
        });
        let allow_groups = r.allow_groups.as_ref().map(|gs| {
            (gs.iter().enumerate())
                .filter_map(|(j, g)| c.group_id(&group_ids, g, &format!("{path}.allow_groups[{j}]")))
                .collect()
        });
        let deny_all = match r.deny.as_deref() {
            None => false,
            Some("all") => true,
            Some(other) => {
                c.problem(&format!("{path}.deny"), format!("{other:?}: the only value is `all`"));
                false
            }
        };
        let networks = r
            .networks
            .as_ref()
            .map(|list| c.net_list(&RawNetList::List(list.clone()), &format!("{path}.networks")));
        let networks = networks.flatten();
        let guards = r.step_up.is_some() || r.quota.is_some() || r.approval.is_some();
        if !deny_all && allow_groups.is_none() && networks.is_none() && !guards {
            c.problem(
                &path,
                "does nothing: give it allow_groups, deny: all, networks, step_up, quota or approval".into(),
            );
        }
        let approval = r.approval.as_ref().map(|a| approval(&mut c, &group_ids, a, &path));
        let quota = r.quota.as_ref().map(|q| crate::policy::Quota {
            requests: q.requests,
            every: q.every.0,
            per: q.per,
        });
        if quota.is_some_and(|q| q.requests == 0) {
            c.problem(
                &format!("{path}.quota.requests"),
                "is 0: nobody could pass; say deny: all instead".into(),
            );
        }
        if r.mode == crate::config::raw::RouteMode::Report && guards {
            let message = "mode: report records the refusals of allow_groups, networks and deny: all; \
                           step_up, quota and approval cannot be tried that way"
                .to_owned();
            c.problem(&format!("{path}.mode"), message);
        }
        if quota.is_some_and(|q| q.every < std::time::Duration::from_secs(1)) {
            c.problem(
                &format!("{path}.quota.every"),
                "must be at least 1s, like 1h or 24h".into(),
            );
        }
        routes.push(Route {
            paths: r.paths.clone(),
            methods,
            client_types,
            allow_groups,
            deny_all,
            networks,
            step_up: r.step_up.map(|d| d.0),
            quota,
            quota_alert: r.quota.as_ref().map(|q| q.alert.clone()).unwrap_or_default(),
            approval,
            report: r.mode == crate::config::raw::RouteMode::Report,
        });
    }
    let signs_in = client_types
        .iter()
        .any(|t| t.login == crate::config::raw::LoginMode::Required);
    for (i, r) in routes.iter().enumerate().filter(|_| !signs_in) {
        if r.quota.is_some() {
            let message =
                "quotas are counted in the store, which a gateway where no client type signs in does not open";
            c.problem(&format!("routes[{i}].quota"), message.to_owned());
        }
        if r.approval.is_some() {
            let message = "a held request waits for a signed-in approver, and no client type signs in here";
            c.problem(&format!("routes[{i}].approval"), message.to_owned());
        }
    }
    // Case-insensitively: on IIS `/Billing` is `/billing`, and on other
    // servers a rule that also covers `/BILLING` only refuses more.
    let route_paths = match regex::RegexSetBuilder::new(&patterns).case_insensitive(true).build() {
        Ok(set) => set,
        Err(err) => {
            c.problem("routes", format!("cannot compile the path patterns: {err}"));
            RegexSet::empty()
        }
    };

    let reachable = (0..c.client_names.len())
        .map(|ct| {
            let own = users
                .values()
                .filter(|u| !u.disabled)
                .filter_map(|u| u.effective[ct].0.as_ref());
            let sources = default_access[ct]
                .iter()
                .chain(groups.iter().filter_map(|g| g.access[ct].as_ref()));
            match sources
                .chain(own)
                .fold(None::<Access>, |acc, a| Some(acc.map_or(a.clone(), |acc| acc.union(a))))
            {
                Some(Access::Any) => IpSet::everything(),
                Some(Access::Networks { set, .. }) => set,
                None => IpSet::default(),
            }
        })
        .collect();

    let mut rule_methods: Vec<Method> = Vec::new();
    for method in routes.iter().filter_map(|r| r.methods.as_ref()).flatten() {
        if !rule_methods.contains(method) {
            rule_methods.push(method.clone());
        }
    }

    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    Ok(Policy {
        client_types,
        networks: c.networks.into_iter().map(|(name, (set, _))| (name, set)).collect(),
        default_access,
        groups,
        users,
        exemptions,
        routes,
        route_paths,
        reachable,
        rule_methods,
        password_from: raw.password_from.unwrap_or_default(),
    })
}

/// The precedence (see the module docs): the user's own, else their groups',
/// else the default, else nothing.
/// A user's passkey rules, each by the same precedence as access: their
/// own, else any of their groups' that says yes, else the default, else no.
/// `routes[i].approval`: its groups, and limits that leave room to decide.
fn approval(
    c: &mut Compiler,
    group_ids: &HashMap<&str, GroupId>,
    raw: &crate::config::raw::RawApproval,
    path: &str,
) -> crate::policy::Approval {
    let by = (raw.by.iter().enumerate())
        .filter_map(|(j, g)| c.group_id(group_ids, g, &format!("{path}.approval.by[{j}]")))
        .collect();
    if raw.by.is_empty() {
        c.problem(
            &format!("{path}.approval.by"),
            "names nobody: list the groups who approve".into(),
        );
    }
    let valid_for = raw.valid_for.0;
    if !(60..=7 * 86_400).contains(&valid_for.as_secs()) {
        let message = "must be from 1m to 7d: long enough for someone to decide, short enough to matter";
        c.problem(&format!("{path}.approval.valid_for"), message.into());
    }
    if !(1..=MAX_HELD_BODY).contains(&raw.max_body_bytes) {
        let message = format!("must be from 1 to {MAX_HELD_BODY}: held requests wait in the store");
        c.problem(&format!("{path}.approval.max_body_bytes"), message);
    }
    crate::policy::Approval {
        by,
        valid_for,
        reason_required: raw.reason == crate::config::raw::ReasonMode::Required,
        max_body_bytes: raw.max_body_bytes,
    }
}

/// The largest request body a held request may keep.
const MAX_HELD_BODY: usize = 1024 * 1024;

fn passkey_rules(own: Option<&RawPasskeys>, groups: &[GroupId], raw: &RawConfig) -> PasskeyRules {
    let groups: Vec<&RawPasskeys> = (groups.iter())
        .filter_map(|g| raw.groups.get_index(g.index())?.1.passkeys.as_ref())
        .collect();
    let rule = |field: fn(&RawPasskeys) -> Option<bool>| {
        own.and_then(field)
            .or_else(|| groups.iter().filter_map(|g| field(g)).reduce(|a, b| a || b))
            .or_else(|| raw.passkeys.as_ref().and_then(field))
            .unwrap_or(false)
    };
    PasskeyRules {
        passwordless: rule(|p| p.passwordless),
        device_bound: rule(|p| p.device_bound),
    }
}

/// A user's second factors, by the same precedence as access: their own,
/// else the union of their groups', else the default, else TOTP.
fn second_factors(own: Option<&Vec<Factor>>, groups: &[GroupId], raw: &RawConfig) -> Vec<Factor> {
    let mut factors: Vec<Factor> = match own {
        Some(own) => own.clone(),
        None => {
            let from_groups: Vec<Factor> = groups
                .iter()
                .filter_map(|g| raw.groups.get_index(g.index())?.1.second_factors.as_ref())
                .flatten()
                .copied()
                .collect();
            if from_groups.is_empty() {
                raw.second_factors.clone().unwrap_or_else(|| vec![Factor::Totp])
            } else {
                from_groups
            }
        }
    };
    factors.sort();
    factors.dedup();
    factors
}

/// Whether a user may sign in with a password: their own setting, else
/// `false` if any of their groups turns it off, else the default (true).
fn password_sign_in(own: Option<bool>, groups: &[GroupId], raw: &RawConfig) -> bool {
    let off_in_a_group = (groups.iter())
        .filter_map(|g| raw.groups.get_index(g.index())?.1.password_sign_in)
        .any(|allowed| !allowed);
    own.unwrap_or(!off_in_a_group && raw.password_sign_in.unwrap_or(true))
}

/// Where a user's password is checked: their own setting, else the
/// directory if any of their groups says so, else local if any says that,
/// else the default (local).
fn password_from(own: Option<PasswordFrom>, groups: &[GroupId], raw: &RawConfig) -> PasswordFrom {
    let in_groups: Vec<PasswordFrom> = (groups.iter())
        .filter_map(|g| raw.groups.get_index(g.index())?.1.password_from)
        .collect();
    let from_groups = match in_groups.contains(&PasswordFrom::Directory) {
        true => Some(PasswordFrom::Directory),
        false => in_groups.first().copied(),
    };
    (own.or(from_groups).or(raw.password_from)).unwrap_or_default()
}

fn effective_access(
    ct: ClientTypeId,
    own: &[Option<Access>],
    groups_of_user: &[GroupId],
    groups: &[Group],
    default_access: &[Option<Access>],
) -> (Option<Access>, Source) {
    if let Some(Some(access)) = own.get(ct.index()) {
        return (Some(access.clone()), Source::User);
    }
    let granting: Vec<GroupId> = groups_of_user
        .iter()
        .copied()
        .filter(|g| groups[g.index()].access[ct].is_some())
        .collect();
    if !granting.is_empty() {
        let union = granting
            .iter()
            .filter_map(|g| groups[g.index()].access[ct].clone())
            .reduce(|a, b| a.union(&b));
        return (union, Source::Groups(granting));
    }
    match &default_access[ct.index()] {
        Some(access) => (Some(access.clone()), Source::Default),
        None => (None, Source::Nothing),
    }
}

pub(super) fn hint(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!(" (did you mean {s:?}?)"))
        .unwrap_or_default()
}
