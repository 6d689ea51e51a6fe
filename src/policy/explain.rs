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
        let (ip, client) = (facts.ip, &self.client_types[facts.client].name);
        match decision {
            Ok(permit) => {
                let grant = permit.grant();
                let access = self.access_words(&grant.access, user, facts.client);
                let mut text = format!("allow: {access} includes {ip}");
                if let Source::Exemption(i) = &grant.access {
                    let e = &self.exemptions[*i];
                    text.push_str(&format!(
                        " until {} ({})",
                        humantime::format_rfc3339_seconds(e.until),
                        e.reason
                    ));
                }
                if let Some(i) = grant.route {
                    text.push_str(&format!("; {} lets it pass", self.route_words(i)));
                }
                for i in permit.guarded() {
                    if let Some(quota) = &self.routes[*i].quota {
                        text.push_str(&format!(
                            "; {} counts it against a quota of {} (past it: 429 until the window ends)",
                            self.route_words(*i),
                            quota.describe()
                        ));
                    }
                    if let Some(approval) = &self.routes[*i].approval {
                        text.push_str(&format!("; {} {}", self.route_words(*i), self.approval_words(approval)));
                    }
                }
                for deny in permit.reported() {
                    text.push_str(&format!(
                        "; report-only, not enforced: {}",
                        self.deny_words(deny, facts, user)
                    ));
                }
                text
            }
            Err(Refusal::Login) => format!("login: client type {client} requires signing in at the gateway first"),
            Err(Refusal::StepUp { within, route }) => {
                let mut text = format!(
                    "step-up: {} requires a second factor within {}",
                    self.route_words(*route),
                    humantime::format_duration(*within)
                );
                if let Some((name, u)) = user.and_then(|name| Some((name, self.users.get(name)?))) {
                    text.push_str(&format!("; {name} is asked for {}", u.asks_for()));
                }
                text
            }
            Err(Refusal::Deny(deny)) => format!("deny: {}", self.deny_words(deny, facts, user)),
        }
    }

    /// Why `deny`, naming the setting.
    pub fn deny_words(&self, deny: &Deny, facts: &Facts<'_>, user: Option<&str>) -> String {
        let (ip, client) = (facts.ip, &self.client_types[facts.client].name);
        match deny {
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
            Deny::Network { source } => {
                format!(
                    "{} does not include {ip}",
                    self.access_words(source, user, facts.client)
                )
            }
            Deny::ReadOnly { source } => {
                let setting = match source {
                    Source::User => format!("users.{}.read_only", user.unwrap_or("")),
                    Source::Groups(g) => format!("groups.{}.read_only", self.group_name(g[0])),
                    other => self.source_path(other, user, facts.client),
                };
                format!("{setting} allows only GET and HEAD, not {}", facts.method)
            }
            Deny::RouteDenied { route } => format!("{} denies all", self.route_words(*route)),
            Deny::RouteGroups { route } => {
                let groups = (self.routes[*route].allow_groups.iter().flatten())
                    .map(|g| self.group_name(*g))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("{} allows only groups {groups}", self.route_words(*route))
            }
            Deny::RouteNetwork { route } => {
                let nets = (self.routes[*route].networks.as_ref())
                    .map(Access::describe)
                    .unwrap_or_default();
                format!("{} requires {nets}, not {ip}", self.route_words(*route))
            }
            Deny::RouteNeedsLogin { route } => format!(
                "{} requires a second factor, but client type {client} has no login",
                self.route_words(*route)
            ),
        }
    }

    /// The setting an access came from, with its networks.
    fn access_words(&self, source: &Source, user: Option<&str>, client: ClientTypeId) -> String {
        let setting = self.source_path(source, user, client);
        match self.access_of(source, user, client) {
            Some(access) => format!("{setting} ({})", access.describe()),
            None => setting,
        }
    }

    /// `routes[2] (/billing/**)`.
    fn route_words(&self, i: RouteId) -> String {
        let r = &self.routes[i];
        let paths = match r.paths.is_empty() {
            true => "every path".to_string(),
            false => r.paths.join(", "),
        };
        format!("routes[{}] ({paths})", i.index())
    }

    /// `holds it until a member of managers approves it (within 1h, a reason required)`
    pub fn approval_words(&self, approval: &super::Approval) -> String {
        let groups: Vec<&str> = approval.by.iter().map(|g| self.groups[*g].name.as_str()).collect();
        let reason = match approval.reason_required {
            true => ", a reason required",
            false => "",
        };
        format!(
            "holds it until a member of {} other than the requester approves it (within {}{reason})",
            groups.join(" or "),
            humantime::format_duration(approval.valid_for)
        )
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
