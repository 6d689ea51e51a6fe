//! What route rules guard beyond allow and deny: a quota of requests, and
//! a second person's approval (see [`crate::approval`]).

use std::time::{Duration, SystemTime};

use super::{GroupId, Policy, QuotaPer, RouteId, User};

/// At most `requests` in each window of `every` (windows start at whole
/// multiples of it since 1970, UTC), counted per user or per address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub requests: u64,
    pub every: Duration,
    pub per: QuotaPer,
}

/// A second person approves each request the rule matches (see
/// [`crate::approval`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Members of any of these groups may approve (never their own).
    pub by: Vec<GroupId>,
    pub valid_for: Duration,
    pub reason_required: bool,
    pub max_body_bytes: usize,
}

impl Quota {
    /// The window `now` falls in: its number, and when it ends.
    pub fn window(&self, now: SystemTime) -> (u64, SystemTime) {
        let every = self.every.as_secs().max(1);
        let since = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        let index = since / every;
        (index, std::time::UNIX_EPOCH + Duration::from_secs((index + 1) * every))
    }

    /// In words: `5 requests every 24h per user`.
    pub fn describe(&self) -> String {
        let per = match self.per {
            QuotaPer::User => "user",
            QuotaPer::Address => "address",
        };
        let every = humantime::format_duration(self.every);
        format!("{} requests every {every} per {per}", self.requests)
    }
}

impl Policy {
    /// Users who may approve what `routes[route]` holds: members of its
    /// `approval.by` groups, not disabled; sorted.
    pub fn approvers(&self, route: RouteId) -> Vec<&User> {
        let Some(approval) = &self.routes[route].approval else {
            return Vec::new();
        };
        let mut users: Vec<&User> = (self.users.values())
            .filter(|u| !u.disabled && u.groups.iter().any(|g| approval.by.contains(g)))
            .collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        users
    }

    /// What `routes[route]` is about and who approves it, in words: a held
    /// request is let through only by the rule it was held by, even after
    /// a reload has moved the rules around.
    pub fn approval_rule(&self, route: RouteId) -> String {
        let r = &self.routes[route];
        let by = r
            .approval
            .as_ref()
            .map(|a| a.by.iter().map(|g| self.groups[*g].name.as_str()));
        format!(
            "paths {:?} methods {:?} client types {:?} approved by {:?}",
            r.paths,
            r.methods,
            r.client_types,
            by.map(Iterator::collect::<Vec<_>>)
        )
    }
}
