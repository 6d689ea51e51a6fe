//! `decide`: the authorization decision for one request, as a value that
//! carries its reason. Pure: the same policy, facts, principal and `now`
//! always give the same decision.
//!
//! A [`Decision`] is `Ok(Permit)` or `Err(Refusal)`. Only this module can
//! make a [`Permit`] (its field is private), and forwarding to the CRM
//! takes one, so nothing reaches the CRM without a decision that allowed
//! it. The permit carries its [`Grant`], which audit and metrics read.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use http::Method;

use super::reading::Reading;
use super::{ClientTypeId, ExemptionId, GroupId, Policy, RouteId, Source};
use crate::config::raw::LoginMode;

/// What is known about the request, after identification.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub ip: IpAddr,
    pub client: ClientTypeId,
    pub method: &'a Method,
    /// Normalised (see [`super::path`]).
    pub path: &'a str,
}

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub enum Principal<'a> {
    /// No session: not signed in, or a passthrough client type.
    Anonymous,
    User {
        name: &'a str,
        /// When the user last completed a second factor.
        second_factor_at: Option<SystemTime>,
    },
}

impl<'a> Principal<'a> {
    /// The signed-in user's name, if anyone is signed in.
    pub fn name(&self) -> Option<&'a str> {
        match self {
            Principal::User { name, .. } => Some(name),
            Principal::Anonymous => None,
        }
    }
}

/// The policy's answer for one request.
pub type Decision = Result<Permit, Refusal>;

/// Proof that the policy allowed a request, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit {
    grant: Grant,
    /// The route rules with a quota or an approval that some reading of
    /// the request matched: each counts it, or holds it, before it is
    /// forwarded.
    guarded: Vec<RouteId>,
    /// What report-only rules (`mode: report`) would have refused it for.
    reported: Vec<Deny>,
}

impl Permit {
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    pub fn guarded(&self) -> &[RouteId] {
        &self.guarded
    }

    /// Refusals of report-only rules, recorded and not enforced.
    pub fn reported(&self) -> &[Deny] {
        &self.reported
    }
}

/// Why a request was allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The setting whose networks include the client's address.
    pub access: Source,
    /// The route rule that matched, if any.
    pub route: Option<RouteId>,
}

/// Every answer but yes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not signed in: send the user to the login interstitial.
    Login,
    /// Allowed only after a second factor within `within`.
    StepUp {
        within: Duration,
        route: RouteId,
    },
    Deny(Deny),
}

fn allow(access: Source, route: Option<RouteId>, reported: Vec<Deny>) -> Decision {
    Ok(Permit {
        guarded: Vec::new(),
        reported,
        grant: Grant { access, route },
    })
}

fn deny(why: Deny) -> Decision {
    Err(Refusal::Deny(why))
}

/// Why a request was denied; each names the setting that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deny {
    /// Anonymous and no rule for this client type includes the address:
    /// not even a login page is shown.
    NoAccountFromNetwork,
    UnknownUser,
    Disabled,
    Expired {
        at: SystemTime,
    },
    /// The user's access (from `source`) does not include the address.
    Network {
        source: Source,
    },
    /// Read-only users may only GET and HEAD.
    ReadOnly {
        source: Source,
    },
    /// `routes[i]` has `deny: all`.
    RouteDenied {
        route: RouteId,
    },
    /// `routes[i]` lets only some groups pass.
    RouteGroups {
        route: RouteId,
    },
    /// `routes[i]` requires other networks.
    RouteNetwork {
        route: RouteId,
    },
    /// `routes[i]` requires a signed-in user (step-up) but the client type
    /// has no login.
    RouteNeedsLogin {
        route: RouteId,
    },
}

pub fn decide(policy: &Policy, facts: &Facts<'_>, principal: &Principal<'_>, now: SystemTime) -> Decision {
    let client = &policy.client_types[facts.client];
    // A passthrough client type has no sign-in, so nobody is signed in on
    // it: its requests are anonymous, whoever asks (explain included).
    let principal = match client.login {
        LoginMode::Passthrough => &Principal::Anonymous,
        LoginMode::Required => principal,
    };
    match *principal {
        Principal::Anonymous if client.login == LoginMode::Required => {
            let exempted = active_exemption(policy, (0..policy.exemptions.len()).map(ExemptionId), facts, now);
            if policy.reachable[facts.client].contains(facts.ip) || exempted.is_some() {
                Err(Refusal::Login)
            } else {
                deny(Deny::NoAccountFromNetwork)
            }
        }
        Principal::Anonymous => {
            let access = match &policy.default_access[facts.client] {
                Some(access) if access.contains(facts.ip) => Source::Default,
                Some(_) => {
                    return deny(Deny::Network {
                        source: Source::Default,
                    })
                }
                None => {
                    return deny(Deny::Network {
                        source: Source::Nothing,
                    })
                }
            };
            let (outcome, reported) = route(policy, facts, None);
            match outcome {
                Ok(RouteOutcome::Pass(route)) => allow(access, route, reported),
                Ok(RouteOutcome::StepUp { route, .. }) => deny(Deny::RouteNeedsLogin { route }),
                Err(why) => deny(why),
            }
        }
        Principal::User { name, second_factor_at } => {
            let Some(user) = policy.users.get(name) else {
                return deny(Deny::UnknownUser);
            };
            if user.disabled {
                return deny(Deny::Disabled);
            }
            if let Some(at) = user.expires.filter(|at| *at <= now) {
                return deny(Deny::Expired { at });
            }
            let (effective, source) = &user.effective[facts.client];
            let access = if effective.as_ref().is_some_and(|a| a.contains(facts.ip)) {
                source.clone()
            } else if let Some(i) = active_exemption(policy, user.exemptions.iter().copied(), facts, now) {
                Source::Exemption(i)
            } else {
                return deny(Deny::Network { source: source.clone() });
            };
            if let Some(source) = &user.read_only {
                if facts.method != Method::GET && facts.method != Method::HEAD {
                    return deny(Deny::ReadOnly { source: source.clone() });
                }
            }
            let (outcome, reported) = route(policy, facts, Some(&user.groups));
            match outcome {
                Ok(RouteOutcome::Pass(route)) => allow(access, route, reported),
                Ok(RouteOutcome::StepUp { route, within }) => {
                    let fresh = second_factor_at
                        .and_then(|at| now.duration_since(at).ok())
                        .is_some_and(|age| age <= within);
                    match fresh {
                        true => allow(access, Some(route), reported),
                        false => Err(Refusal::StepUp { within, route }),
                    }
                }
                Err(why) => deny(why),
            }
        }
    }
}

/// [`decide`] under every reading of the request (see [`super::reading`]):
/// allowed only when every reading is allowed; otherwise the most
/// restrictive decision (deny, then login, then step-up), with the facts of
/// the reading that made it, so that explanations can name it.
pub fn decide_reading<'r>(
    policy: &Policy,
    ip: IpAddr,
    client: ClientTypeId,
    reading: &'r Reading<'_>,
    principal: &Principal<'_>,
    now: SystemTime,
) -> (Decision, Facts<'r>) {
    let mut worst: Option<(Decision, Facts<'r>)> = None;
    let mut guarded: Vec<RouteId> = Vec::new();
    let mut reported: Vec<Deny> = Vec::new();
    for path in &reading.paths {
        for method in &reading.methods {
            let facts = Facts {
                ip,
                client,
                method,
                path,
            };
            let decision = decide(policy, &facts, principal, now);
            let route = decision.as_ref().ok().and_then(|p| p.grant.route);
            let guards = |r: &RouteId| policy.routes[*r].quota.is_some() || policy.routes[*r].approval.is_some();
            if let Some(route) = route.filter(|r| guards(r) && !guarded.contains(r)) {
                guarded.push(route);
            }
            for deny in decision.as_ref().map_or(&[][..], Permit::reported) {
                if !reported.contains(deny) {
                    reported.push(deny.clone());
                }
            }
            if worst.as_ref().is_none_or(|(w, _)| severity(&decision) > severity(w)) {
                worst = Some((decision, facts));
            }
        }
    }
    if let Some((Ok(permit), _)) = &mut worst {
        permit.guarded = guarded;
        permit.reported = reported;
    }
    // A reading always has a path and a method; deny should one ever not.
    static NONE: Method = Method::GET;
    worst.unwrap_or_else(|| {
        let facts = Facts {
            ip,
            client,
            method: &NONE,
            path: "/",
        };
        (deny(Deny::NoAccountFromNetwork), facts)
    })
}

fn severity(decision: &Decision) -> u8 {
    match decision {
        Ok(_) => 0,
        Err(Refusal::StepUp { .. }) => 1,
        Err(Refusal::Login) => 2,
        Err(Refusal::Deny(_)) => 3,
    }
}

/// Would a reading of this request as another method that the rules name
/// not be allowed? Then a body that may name a method override must be read
/// before the request can be let through.
pub fn depends_on_method(
    policy: &Policy,
    ip: IpAddr,
    client: ClientTypeId,
    reading: &Reading<'_>,
    principal: &Principal<'_>,
    now: SystemTime,
) -> bool {
    policy.rule_methods.iter().any(|method| {
        reading.paths.iter().any(|path| {
            let facts = Facts {
                ip,
                client,
                method,
                path,
            };
            decide(policy, &facts, principal, now).is_err()
        })
    })
}

/// The first exemption among `candidates` running at `now` whose access for
/// this client type includes the address.
fn active_exemption(
    policy: &Policy,
    candidates: impl IntoIterator<Item = ExemptionId>,
    facts: &Facts<'_>,
    now: SystemTime,
) -> Option<ExemptionId> {
    candidates.into_iter().find(|i| {
        let e = &policy.exemptions[*i];
        now < e.until && e.access[facts.client].as_ref().is_some_and(|a| a.contains(facts.ip))
    })
}

enum RouteOutcome {
    Pass(Option<RouteId>),
    StepUp { route: RouteId, within: Duration },
}

/// The first route rule matching path, method and client type applies.
/// The first route rule that matches and is enforced, and what it says;
/// with what report-only rules that match before it would have refused
/// (they are recorded, never enforced, and never stand in for a later rule).
fn route(policy: &Policy, facts: &Facts<'_>, groups: Option<&[GroupId]>) -> (Result<RouteOutcome, Deny>, Vec<Deny>) {
    let mut reported = Vec::new();
    if policy.routes.is_empty() {
        return (Ok(RouteOutcome::Pass(None)), reported);
    }
    let matching = policy.route_paths.matches(facts.path);
    let applying = matching.iter().map(RouteId).filter(|i| {
        let r = &policy.routes[*i];
        r.methods.as_ref().is_none_or(|ms| ms.contains(facts.method))
            && r.client_types.as_ref().is_none_or(|cs| cs.contains(&facts.client))
    });
    for i in applying {
        let says = restrictions(&policy.routes[i], i, facts, groups);
        match (policy.routes[i].report, says) {
            (true, Err(deny)) => reported.push(deny),
            (true, Ok(_)) => {}
            (false, says) => return (says, reported),
        }
    }
    (Ok(RouteOutcome::Pass(None)), reported)
}

/// What route rule `i` says of a request it matches.
fn restrictions(
    r: &super::Route,
    i: RouteId,
    facts: &Facts<'_>,
    groups: Option<&[GroupId]>,
) -> Result<RouteOutcome, Deny> {
    if r.deny_all {
        return Err(Deny::RouteDenied { route: i });
    }
    if let Some(allowed) = &r.allow_groups {
        let member = groups.is_some_and(|gs| gs.iter().any(|g| allowed.contains(g)));
        if !member {
            return Err(Deny::RouteGroups { route: i });
        }
    }
    if let Some(networks) = &r.networks {
        if !networks.contains(facts.ip) {
            return Err(Deny::RouteNetwork { route: i });
        }
    }
    match r.step_up {
        Some(within) => Ok(RouteOutcome::StepUp { route: i, within }),
        None => Ok(RouteOutcome::Pass(Some(i))),
    }
}
