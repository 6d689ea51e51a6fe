//! A decision in words, naming the setting that made it: what `portcullis
//! explain` prints, what the audit log records, and the verdict in one word
//! for logs, metrics and scripts.

use super::decide::{Decision, Deny, Facts, Refusal};
use super::reading::Reading;
use super::{Access, ClientTypeId, Policy, RouteId, Source};
use crate::config::raw::LoginMode;

/// The verdict in one word, for logs, metrics and scripts.
pub fn verdict(decision: &Decision) -> &'static str {
    match decision {
        Ok(_) => "allow",
        Err(Refusal::Login) => "login",
        Err(Refusal::StepUp { .. }) => "step-up",
        Err(Refusal::Deny(_)) => "deny",
    }
}

impl Policy {
    /// The decision in words, naming the setting that made it — what
    /// `portcullis explain` prints and what the audit log records.
    pub fn explain(&self, decision: &Decision, facts: &Facts<'_>, user: Option<&str>) -> String {
        let ip = facts.ip;
        let client = &self.client_types[facts.client].name;
        let access_text = |source: &Source| -> String {
            let setting = self.source_path(source, user, facts.client);
            match self.access_of(source, user, facts.client) {
                Some(access) => format!("{setting} ({})", access.describe()),
                None => setting,
            }
        };
        let route_text = |i: RouteId| -> String {
            let r = &self.routes[i];
            let paths = if r.paths.is_empty() {
                "every path".to_string()
            } else {
                r.paths.join(", ")
            };
            format!("routes[{}] ({paths})", i.index())
        };
        match decision {
            Ok(permit) => {
                let grant = permit.grant();
                let mut text = format!("allow: {} includes {ip}", access_text(&grant.access));
                if let Source::Exemption(i) = &grant.access {
                    let e = &self.exemptions[*i];
                    text.push_str(&format!(
                        " until {} ({})",
                        humantime::format_rfc3339_seconds(e.until),
                        e.reason
                    ));
                }
                if let Some(i) = grant.route {
                    text.push_str(&format!("; {} lets it pass", route_text(i)));
                }
                for i in permit.quotas() {
                    if let Some(quota) = &self.routes[*i].quota {
                        text.push_str(&format!(
                            "; {} counts it against a quota of {} (past it: 429 until the window ends)",
                            route_text(*i),
                            quota.describe()
                        ));
                    }
                }
                text
            }
            Err(Refusal::Login) => format!("login: client type {client} requires signing in at the gateway first"),
            Err(Refusal::StepUp { within, route }) => {
                let mut text = format!(
                    "step-up: {} requires a second factor within {}",
                    route_text(*route),
                    humantime::format_duration(*within)
                );
                if let Some((name, u)) = user.and_then(|name| Some((name, self.users.get(name)?))) {
                    text.push_str(&format!("; {name} is asked for {}", u.asks_for()));
                }
                text
            }
            Err(Refusal::Deny(deny)) => {
                let why = match deny {
                    Deny::NoAccountFromNetwork => {
                        format!("no users, groups, access or exemptions setting for client type {client} includes {ip}")
                    }
                    Deny::UnknownUser => format!("users has no user {:?}", user.unwrap_or("")),
                    Deny::Disabled => format!("users.{}.disabled is true", user.unwrap_or("")),
                    Deny::Expired { at } => format!(
                        "users.{}.expires ({}) has passed",
                        user.unwrap_or(""),
                        humantime::format_rfc3339_seconds(*at)
                    ),
                    Deny::Network {
                        source: Source::Nothing,
                    } => self.source_path(&Source::Nothing, user, facts.client),
                    Deny::Network { source } => format!("{} does not include {ip}", access_text(source)),
                    Deny::ReadOnly { source } => {
                        let setting = match source {
                            Source::User => format!("users.{}.read_only", user.unwrap_or("")),
                            Source::Groups(g) => format!("groups.{}.read_only", self.group_name(g[0])),
                            other => self.source_path(other, user, facts.client),
                        };
                        format!("{setting} allows only GET and HEAD, not {}", facts.method)
                    }
                    Deny::RouteDenied { route } => format!("{} denies all", route_text(*route)),
                    Deny::RouteGroups { route } => {
                        let groups = self.routes[*route]
                            .allow_groups
                            .iter()
                            .flatten()
                            .map(|g| self.group_name(*g))
                            .collect::<Vec<_>>()
                            .join(", ");
                        format!("{} allows only groups {groups}", route_text(*route))
                    }
                    Deny::RouteNetwork { route } => {
                        let nets = self.routes[*route]
                            .networks
                            .as_ref()
                            .map(Access::describe)
                            .unwrap_or_default();
                        format!("{} requires {nets}, not {ip}", route_text(*route))
                    }
                    Deny::RouteNeedsLogin { route } => {
                        format!(
                            "{} requires a second factor, but client type {client} has no login",
                            route_text(*route)
                        )
                    }
                };
                format!("deny: {why}")
            }
        }
    }

    /// [`Policy::explain`] for a decision made under a reading of the
    /// request: when the deciding reading is not the request as written,
    /// say which it was.
    pub fn explain_reading(
        &self,
        decision: &Decision,
        facts: &Facts<'_>,
        reading: &Reading<'_>,
        user: Option<&str>,
    ) -> String {
        let mut text = self.explain(decision, facts, user);
        let (method, path) = (&reading.methods[0], reading.path());
        if facts.method != method || facts.path != path {
            text.push_str(&format!(
                " (as the CRM may read {method} {path}: {} {})",
                facts.method, facts.path
            ));
        }
        if matches!(self.client_types[facts.client].login, LoginMode::Passthrough) && user.is_some() {
            text.push_str(&format!(
                "; client type {} has no sign-in, so the request is anonymous whoever sends it",
                self.client_types[facts.client].name
            ));
        }
        text
    }

    fn access_of(&self, source: &Source, user: Option<&str>, client: ClientTypeId) -> Option<&Access> {
        match source {
            Source::User | Source::Groups(_) => user
                .and_then(|u| self.users.get(u))
                .and_then(|u| u.effective[client].0.as_ref()),
            Source::Default => self.default_access[client].as_ref(),
            Source::Exemption(i) => self.exemptions[*i].access[client].as_ref(),
            Source::Nothing => None,
        }
    }
}
