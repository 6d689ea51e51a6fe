//! The policy: who may reach the CRM, from which network, with which kind of
//! client, and which areas of it. Phase 4 of the request path (authorize).
//!
//! YAML (see `config::raw`) is compiled once at load into the immutable
//! [`Policy`] here: IP sets as merged ranges, path globs as one regex set,
//! each user's effective access per client type worked out in advance. Then
//! [`decide`] is a pure function of the policy, the request's facts, the
//! principal and `now`, returning a [`Decision`] that carries its reason.
//!
//! # Precedence of access (the one place it is written down)
//!
//! For a user and a client type, the networks they may come from are:
//!
//! 1. the user's own `access` for that client type, if set; otherwise
//! 2. the union of their groups' `access` for it, if any group sets it; otherwise
//! 3. the default `access` for that client type; otherwise nothing (deny).
//!
//! An **exemption** that is still running adds its networks on top (it never
//! takes any away), so a user is let in when the rule above or an active
//! exemption includes their address. Then, in order: `read_only` users and
//! groups may only GET and HEAD; the first route rule that matches the path,
//! method and client type applies its restrictions; a route's `step_up`
//! asks for a fresh second factor. Anything not allowed is denied.

mod compile;
mod decide;
mod explain;
pub mod glob;
pub mod ipset;
pub mod lint;
pub mod path;
pub mod provisioned;
pub mod reading;
mod route_guards;

use std::time::{Duration, SystemTime};

use http::Method;
use regex::{Regex, RegexSet};

pub use compile::{compile, compile_with};
pub use decide::{decide, decide_reading, depends_on_method, Decision, Deny, Facts, Grant, Permit, Principal, Refusal};
pub use explain::verdict;
pub use ipset::IpSet;

use crate::config::raw::LoginMode;
pub use crate::config::raw::{Factor, PasswordFrom, QuotaPer};
pub use route_guards::{Approval, Quota};

/// Ids of what the compiled policy holds: each names one kind of thing,
/// so that a group's id cannot be passed where a route's is meant. Only
/// the policy makes them; they index its lists.
macro_rules! ids {
    ($($name:ident: $what:literal),* $(,)?) => {$(
        #[doc = concat!("The position of a ", $what, " in the compiled policy.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(usize);

        impl $name {
            /// Its position in the YAML (routes[3] is `RouteId` 3).
            pub fn index(self) -> usize {
                self.0
            }
        }

        impl<T> std::ops::Index<$name> for Vec<T> {
            type Output = T;
            fn index(&self, id: $name) -> &T {
                &self[id.0]
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl<T> std::ops::IndexMut<$name> for Vec<T> {
            fn index_mut(&mut self, id: $name) -> &mut T {
                &mut self[id.0]
            }
        }
    )*};
}

ids!(ClientTypeId: "client type", GroupId: "group", RouteId: "route rule", ExemptionId: "exemption");

/// The compiled, immutable policy.
#[derive(Debug)]
pub struct Policy {
    /// In the order they are tried; `web`, the default, is always last.
    pub client_types: Vec<ClientType>,
    pub networks: Vec<(String, IpSet)>,
    /// The default `access`, by client type.
    default_access: Vec<Option<Access>>,
    pub groups: Vec<Group>,
    /// By user name, in file order.
    pub users: indexmap::IndexMap<String, User>,
    pub exemptions: Vec<Exemption>,
    pub routes: Vec<Route>,
    /// One pattern per route, same order: which routes' paths match.
    route_paths: RegexSet,
    /// By client type: every address some non-exemption rule lets in. A
    /// request from elsewhere is refused before any login page is shown.
    reachable: Vec<IpSet>,
    /// Every method some route rule names: the methods for which a decision
    /// can differ from another method's (see [`decide::depends_on_method`]).
    rule_methods: Vec<Method>,
    /// Where passwords are checked for names that are no user's (so that
    /// a guess at a name costs what a real user's sign-in costs).
    pub password_from: PasswordFrom,
}

#[derive(Debug)]
pub struct ClientType {
    pub name: String,
    pub login: LoginMode,
    matcher: Option<Matcher>,
}

#[derive(Debug, Default)]
struct Matcher {
    /// Lower case, without port.
    host: Option<String>,
    path_prefix: Option<String>,
    user_agent: Option<Regex>,
    header: Option<(http::HeaderName, Option<Regex>)>,
}

/// Where someone may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Any,
    Networks { set: IpSet, names: Vec<String> },
}

impl Access {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        match self {
            Access::Any => true,
            Access::Networks { set, .. } => set.contains(ip),
        }
    }

    fn union(&self, other: &Access) -> Access {
        match (self, other) {
            (Access::Any, _) | (_, Access::Any) => Access::Any,
            (Access::Networks { set: a, names: na }, Access::Networks { set: b, names: nb }) => {
                let mut names = na.clone();
                names.extend(nb.iter().filter(|n| !na.contains(n)).cloned());
                Access::Networks { set: a.union(b), names }
            }
        }
    }

    /// For explanations: `any`, or `networks: office, bob-home`.
    pub fn describe(&self) -> String {
        match self {
            Access::Any => "any network".into(),
            Access::Networks { names, .. } => format!("networks: {}", names.join(", ")),
        }
    }
}

#[derive(Debug)]
pub struct Group {
    pub name: String,
    access: Vec<Option<Access>>,
    pub read_only: bool,
}

#[derive(Debug)]
pub struct User {
    pub name: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub groups: Vec<GroupId>,
    /// Second factors this user may sign in with: their own setting, else
    /// their groups' (together), else the default (`[totp]`).
    pub second_factors: Vec<Factor>,
    pub passkeys: PasskeyRules,
    /// May sign in with a password (else only with an identity provider).
    pub password_sign_in: bool,
    /// Where that password is checked: the gateway's own, or the directory.
    pub password_from: PasswordFrom,
    pub disabled: bool,
    pub expires: Option<SystemTime>,
    /// The identity provider that vouched for this user, who is not in
    /// the YAML (see [`provisioned`]); `None` for the YAML's users.
    pub provisioned_by: Option<String>,
    /// Why this user may only look, if they may only look.
    read_only: Option<Source>,
    /// By client type: the access that applies and which setting gave it.
    effective: Vec<(Option<Access>, Source)>,
    /// The exemptions naming this user or one of their groups.
    exemptions: Vec<ExemptionId>,
}

/// How a user may use passkeys (`passkeys` in the policy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PasskeyRules {
    /// A passkey alone signs in, without the password.
    pub passwordless: bool,
    /// Synced passkeys are refused: only keys bound to one authenticator.
    pub device_bound: bool,
}

impl User {
    /// Whether this user may only look (GET and HEAD), by their own setting or a group's.
    pub fn is_read_only(&self) -> bool {
        self.read_only.is_some()
    }

    /// The second factors the gateway asks this user for, in words:
    /// `totp or passkey (device-bound passkeys only)`. Which of them they
    /// have set up is in the store (`users review` shows it).
    pub fn asks_for(&self) -> String {
        let names: Vec<&str> = self.second_factors.iter().map(|f| f.name()).collect();
        let mut words = names.join(" or ");
        if self.passkeys.device_bound && self.second_factors.contains(&Factor::Passkey) {
            words.push_str(" (device-bound passkeys only)");
        }
        words
    }
}

/// Which setting an access or restriction came from, for explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    User,
    Groups(Vec<GroupId>),
    Default,
    Exemption(ExemptionId),
    /// No setting grants this client type at all.
    Nothing,
}

#[derive(Debug)]
pub struct Exemption {
    pub who: String,
    pub until: SystemTime,
    pub reason: String,
    access: Vec<Option<Access>>,
}

#[derive(Debug)]
pub struct Route {
    pub paths: Vec<String>,
    methods: Option<Vec<Method>>,
    client_types: Option<Vec<ClientTypeId>>,
    allow_groups: Option<Vec<GroupId>>,
    deny_all: bool,
    networks: Option<Access>,
    pub step_up: Option<Duration>,
    pub quota: Option<Quota>,
    /// Who is emailed when someone reaches the quota.
    pub quota_alert: Vec<String>,
    pub approval: Option<Approval>,
    /// `mode: report`: what it would refuse is recorded, not refused.
    pub report: bool,
}

impl Policy {
    /// The id of a client type by name.
    pub fn client_type(&self, name: &str) -> Option<ClientTypeId> {
        self.client_types.iter().position(|c| c.name == name).map(ClientTypeId)
    }

    /// Every client type, with its id, in the order they are tried.
    pub fn client_type_ids(&self) -> impl Iterator<Item = (ClientTypeId, &ClientType)> {
        self.client_types.iter().enumerate().map(|(i, c)| (ClientTypeId(i), c))
    }

    /// Phase 1b: which kind of client sent this request. The first type
    /// whose match fits wins; `web` matches everything else.
    pub fn classify(&self, host: Option<&str>, path: &str, headers: &http::HeaderMap) -> ClientTypeId {
        let host = host.map(strip_port);
        let fits = |m: &Matcher| {
            m.host
                .as_deref()
                .is_none_or(|want| host.is_some_and(|h| h.eq_ignore_ascii_case(want)))
                && m.path_prefix
                    .as_deref()
                    .is_none_or(|p| starts_with_ignoring_case(path, p))
                && m.user_agent.as_ref().is_none_or(|re| {
                    headers
                        .get(http::header::USER_AGENT)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|ua| re.is_match(ua))
                })
                && m.header.as_ref().is_none_or(|(name, value)| {
                    headers
                        .get(name)
                        .is_some_and(|v| value.as_ref().is_none_or(|re| v.to_str().is_ok_and(|v| re.is_match(v))))
                })
        };
        let first = self
            .client_types
            .iter()
            .position(|c| c.matcher.as_ref().is_some_and(fits));
        ClientTypeId(first.unwrap_or(self.client_types.len() - 1))
    }

    /// The client type of a request under every reading of its path; a
    /// path prefix that only some readings have makes the request ambiguous.
    pub fn classify_reading(
        &self,
        host: Option<&str>,
        reading: &reading::Reading<'_>,
        headers: &http::HeaderMap,
    ) -> Result<ClientTypeId, reading::Unreadable> {
        let first = self.classify(host, reading.path(), headers);
        match reading.paths[1..]
            .iter()
            .all(|p| self.classify(host, p, headers) == first)
        {
            true => Ok(first),
            false => Err(reading::Unreadable::ClientType),
        }
    }

    pub fn group_name(&self, id: GroupId) -> &str {
        &self.groups[id].name
    }

    /// For access reviews: where `user` may use client type `client` from,
    /// in words, with any exemption running at `now` added.
    pub fn access_in_words(&self, user: &User, client: ClientTypeId, now: SystemTime) -> String {
        // Nobody signs in on a passthrough client type: its requests are
        // anonymous, so only its default access applies (as `decide` has it).
        if self.client_types[client].login == LoginMode::Passthrough {
            let from = self.default_access[client]
                .as_ref()
                .map_or("nowhere".to_owned(), Access::describe);
            return format!("no sign-in: anyone from {from}");
        }
        let mut words = match &user.effective[client].0 {
            Some(access) => access.describe(),
            None => "nowhere".to_owned(),
        };
        for e in self.running_exemptions(user, now) {
            if let Some(access) = &e.access[client] {
                words.push_str(&format!(
                    " + {} until {}",
                    access.describe(),
                    humantime::format_rfc3339_seconds(e.until)
                ));
            }
        }
        words
    }

    /// Client types whose users sign in at the gateway (not passthrough).
    pub fn signs_in(&self, client: ClientTypeId) -> bool {
        self.client_types[client].login != LoginMode::Passthrough
    }

    /// Exemptions naming `user` (or a group of theirs) still running at `now`.
    pub fn running_exemptions<'p>(&'p self, user: &'p User, now: SystemTime) -> impl Iterator<Item = &'p Exemption> {
        user.exemptions
            .iter()
            .map(|i| &self.exemptions[*i])
            .filter(move |e| now < e.until)
    }

    /// The YAML path of the setting a [`Source`] names, for a user and client type.
    pub fn source_path(&self, source: &Source, user: Option<&str>, client: ClientTypeId) -> String {
        let client = &self.client_types[client].name;
        match source {
            Source::User => format!("users.{}.access.{client}", user.unwrap_or("?")),
            Source::Groups(ids) => ids
                .iter()
                .map(|g| format!("groups.{}.access.{client}", self.groups[*g].name))
                .collect::<Vec<_>>()
                .join(" + "),
            Source::Default => format!("access.{client}"),
            Source::Exemption(i) => format!("exemptions[{i}]"),
            Source::Nothing => format!("no setting (users, groups or access) grants client type {client}"),
        }
    }
}

/// Path prefixes match as route globs do: whatever the case (IIS ignores it).
fn starts_with_ignoring_case(path: &str, prefix: &str) -> bool {
    path.len() >= prefix.len() && path.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_routes;
