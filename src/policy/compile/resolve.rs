//! [`Compiler`]: resolves the names and values a policy uses (networks,
//! client types, groups, access lists, times, methods) and collects a
//! problem, by YAML path, for each one that does not resolve.

use std::collections::HashMap;
use std::time::SystemTime;

use http::Method;
use ipnet::IpNet;
use regex::Regex;

use crate::config::raw::{LoginMode, RawAccess, RawConfig, RawNetList};
use crate::config::{parse_net, suggest, Problem};

use super::{hint, DEFAULT_CLIENT};
use crate::policy::{Access, ClientType, ClientTypeId, GroupId, IpSet, Matcher};

#[derive(Default)]
pub(super) struct Compiler {
    pub(super) problems: Vec<Problem>,
    /// Resolved networks: set and the flat list of ranges, in file order.
    pub(super) networks: indexmap::IndexMap<String, (IpSet, Vec<IpNet>)>,
    pub(super) client_names: Vec<String>,
}

impl Compiler {
    pub(super) fn problem(&mut self, path: &str, message: String) {
        self.problems.push(Problem {
            path: path.to_string(),
            message,
        });
    }

    pub(super) fn networks(&mut self, raw: &RawConfig) {
        if raw.networks.contains_key("any") {
            self.problem(
                "networks.any",
                "`any` is a keyword (every address); choose another name".into(),
            );
        }
        for name in raw.networks.keys() {
            let mut visiting = Vec::new();
            self.resolve_network(raw, name, &mut visiting);
        }
    }

    /// Resolve a named network, following names inside it.
    pub(super) fn resolve_network(&mut self, raw: &RawConfig, name: &str, visiting: &mut Vec<String>) -> Vec<IpNet> {
        if let Some((_, nets)) = self.networks.get(name) {
            return nets.clone();
        }
        if visiting.iter().any(|v| v == name) {
            let cycle = visiting.join(" → ");
            self.problem(
                &format!("networks.{name}"),
                format!("includes itself ({cycle} → {name})"),
            );
            return Vec::new();
        }
        visiting.push(name.to_string());
        let mut nets = Vec::new();
        for (i, entry) in raw.networks[name].iter().enumerate() {
            match parse_net(entry) {
                Ok(net) => nets.push(net),
                Err(_) if raw.networks.contains_key(entry.as_str()) => {
                    nets.extend(self.resolve_network(raw, entry, visiting));
                }
                Err(msg) => {
                    let hint = hint(suggest(entry, raw.networks.keys().map(String::as_str)));
                    self.problem(
                        &format!("networks.{name}[{i}]"),
                        format!("{msg}, nor a network name{hint}"),
                    );
                }
            }
        }
        visiting.pop();
        self.networks
            .insert(name.to_string(), (IpSet::from_nets(&nets), nets.clone()));
        nets
    }

    pub(super) fn client_types(&mut self, raw: &RawConfig) -> Vec<ClientType> {
        let mut types = Vec::new();
        let mut web_login = LoginMode::Required;
        for (name, t) in &raw.client_types {
            let path = format!("client_types.{name}");
            if name == DEFAULT_CLIENT {
                if t.matcher.is_some() {
                    self.problem(
                        &format!("{path}.match"),
                        "web is the default for every request no other type matches; it takes no match".into(),
                    );
                }
                web_login = t.login;
                continue;
            }
            let Some(m) = &t.matcher else {
                self.problem(&path, "needs a match (host, path_prefix, user_agent or header)".into());
                continue;
            };
            let regex = |c: &mut Compiler, pattern: &str, field: &str| match Regex::new(pattern) {
                Ok(re) => Some(re),
                Err(err) => {
                    c.problem(
                        &format!("{path}.match.{field}"),
                        format!("not a valid regular expression: {err}"),
                    );
                    None
                }
            };
            let header = m.header.as_ref().and_then(|h| {
                let name = match http::HeaderName::from_bytes(h.name.as_bytes()) {
                    Ok(name) => name,
                    Err(_) => {
                        self.problem(
                            &format!("{path}.match.header.name"),
                            format!("{:?} is not a header name", h.name),
                        );
                        return None;
                    }
                };
                Some((name, h.value.as_deref().and_then(|v| regex(self, v, "header.value"))))
            });
            let matcher = Matcher {
                host: m.host.as_ref().map(|h| h.to_ascii_lowercase()),
                path_prefix: m.path_prefix.clone(),
                user_agent: m.user_agent.as_deref().and_then(|ua| regex(self, ua, "user_agent")),
                header,
            };
            if matcher.host.is_none() && matcher.path_prefix.is_none() && m.user_agent.is_none() && m.header.is_none() {
                self.problem(
                    &format!("{path}.match"),
                    "is empty; give host, path_prefix, user_agent or header".into(),
                );
            }
            types.push(ClientType {
                name: name.clone(),
                login: t.login,
                matcher: Some(matcher),
            });
        }
        types.push(ClientType {
            name: DEFAULT_CLIENT.into(),
            login: web_login,
            matcher: None,
        });
        types
    }

    pub(super) fn client_id(&mut self, name: &str, path: &str) -> Option<ClientTypeId> {
        let found = self.client_names.iter().position(|n| n == name).map(ClientTypeId);
        if found.is_none() {
            let hint = hint(suggest(name, self.client_names.iter().map(String::as_str)));
            let known = self.client_names.join(", ");
            self.problem(path, format!("unknown client type {name:?}{hint}; known: {known}"));
        }
        found
    }

    pub(super) fn group_id(&mut self, ids: &HashMap<&str, GroupId>, name: &str, path: &str) -> Option<GroupId> {
        let found = ids.get(name).copied();
        if found.is_none() {
            let hint = hint(suggest(name, ids.keys().copied()));
            self.problem(path, format!("unknown group {name:?}{hint}; declare it under groups:"));
        }
        found
    }

    /// `any`, or names and addresses, into an [`Access`].
    pub(super) fn net_list(&mut self, raw: &RawNetList, path: &str) -> Option<Access> {
        let entries = match raw {
            RawNetList::Keyword(k) if k == "any" => return Some(Access::Any),
            RawNetList::Keyword(k) => std::slice::from_ref(k),
            RawNetList::List(list) => list.as_slice(),
        };
        let mut nets = Vec::new();
        let mut names = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let at = if matches!(raw, RawNetList::List(_)) {
                format!("{path}[{i}]")
            } else {
                path.to_string()
            };
            if entry == "any" {
                self.problem(&at, "`any` cannot be mixed with networks; write `any` alone".into());
            } else if let Some((_, ranges)) = self.networks.get(entry.as_str()) {
                nets.extend(ranges.iter().copied());
                names.push(entry.clone());
            } else if let Ok(net) = parse_net(entry) {
                nets.push(net);
                names.push(entry.clone());
            } else {
                let hint = hint(suggest(entry, self.networks.keys().map(String::as_str)));
                self.problem(&at, format!("unknown network {entry:?}{hint}"));
            }
        }
        Some(Access::Networks {
            set: IpSet::from_nets(&nets),
            names,
        })
    }

    /// A per-client-type map (`{ web: [office], mobile: any }`).
    pub(super) fn access_by_client_map(
        &mut self,
        map: &indexmap::IndexMap<String, RawNetList>,
        path: &str,
    ) -> Vec<Option<Access>> {
        let mut by_client = vec![None; self.client_names.len()];
        for (client, list) in map {
            if let Some(ct) = self.client_id(client, &format!("{path}.{client}")) {
                by_client[ct] = self.net_list(list, &format!("{path}.{client}"));
            }
        }
        by_client
    }

    /// Access as users, groups and exemptions write it.
    pub(super) fn access(&mut self, raw: Option<&RawAccess>, path: &str) -> Vec<Option<Access>> {
        match raw {
            None => vec![None; self.client_names.len()],
            Some(RawAccess::All(list)) => {
                let access = self.net_list(list, path);
                vec![access; self.client_names.len()]
            }
            Some(RawAccess::PerClient(map)) => self.access_by_client_map(map, path),
        }
    }

    pub(super) fn time(&mut self, text: &str, path: &str) -> Option<SystemTime> {
        match humantime::parse_rfc3339_weak(text.trim()) {
            Ok(t) => Some(t),
            Err(err) => {
                self.problem(
                    path,
                    format!("{text:?} is not a time ({err}); write it like 2026-12-01T17:00:00Z (UTC)"),
                );
                None
            }
        }
    }

    pub(super) fn method(&mut self, text: &str, path: &str) -> Option<Method> {
        let upper = text.to_ascii_uppercase();
        if ["TRACE", "TRACK", "DEBUG", "CONNECT"].contains(&upper.as_str()) {
            self.problem(
                path,
                format!("{upper} is never passed to the CRM; no rule is needed for it"),
            );
            return None;
        }
        if !KNOWN_METHODS.contains(&upper.as_str()) {
            // A misspelt method would quietly disable the rule.
            let hint = hint(suggest(&upper, KNOWN_METHODS.iter().copied()));
            let known = KNOWN_METHODS.join(", ");
            self.problem(path, format!("{text:?} is not an HTTP method{hint}; known: {known}"));
            return None;
        }
        if upper != text {
            self.problem(path, format!("write methods in capitals: {upper}"));
            return None;
        }
        Method::from_bytes(upper.as_bytes()).ok()
    }
}

/// Methods a route rule may name: HTTP's own and WebDAV's.
const KNOWN_METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "OPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "REPORT",
    "SEARCH",
];
