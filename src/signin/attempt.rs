//! [`Attempt`]: the request a sign-in step is taken from (address, client
//! type, the policy it runs under, the time), and what the policy says of
//! it before any password is checked.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::policy::{self, ClientTypeId, Deny, Facts, Policy, Principal, Refusal};
use crate::request_id::RequestId;

/// The request a step is taken from.
pub struct Attempt<'a> {
    pub ip: IpAddr,
    pub client: ClientTypeId,
    pub policy: &'a Policy,
    pub now: SystemTime,
    pub request_id: RequestId,
    /// Shown in authenticator apps and in codes sent.
    pub company: &'a str,
    /// Checks the passwords of users whose `password_from` is `directory`.
    pub directory: Option<&'a crate::config::directory::DirectorySettings>,
    /// The words of the page it came from, for what is sent about it.
    pub t: &'a crate::i18n::Texts,
    /// The host the browser asked for, for links in what is sent.
    pub host: Option<&'a str>,
}

impl<'a> Attempt<'a> {
    /// The same attempt under `policy` (compiled again since it began):
    /// `None` if that policy no longer has its client type.
    pub fn under<'b>(&self, policy: &'b Policy) -> Option<Attempt<'b>>
    where
        'a: 'b,
    {
        Some(Attempt {
            client: policy.client_type(self.client_type())?,
            policy,
            ip: self.ip,
            now: self.now,
            request_id: self.request_id,
            company: self.company,
            directory: self.directory,
            t: self.t,
            host: self.host,
        })
    }

    pub fn client_type(&self) -> &str {
        &self.policy.client_types[self.client].name
    }

    /// Is this account, from this address and client type, allowed at all
    /// (it exists, is enabled and unexpired, and may use the CRM from
    /// here)? Asked of the CRM's front page: what a route rule says of one
    /// page does not decide whether someone may sign in.
    pub fn allowed(&self, user: &str) -> bool {
        if user.is_empty() {
            return false;
        }
        let principal = Principal::User {
            name: user,
            second_factor_at: Some(self.now),
        };
        !matches!(
            self.decide("/", &principal),
            Err(Refusal::Deny(
                Deny::UnknownUser | Deny::Disabled | Deny::Expired { .. } | Deny::Network { .. }
            ))
        )
    }

    /// Does no rule let anyone in from here? Then not even the form is shown.
    pub fn nobody_from_here(&self) -> bool {
        matches!(
            self.decide("/", &Principal::Anonymous),
            Err(Refusal::Deny(Deny::NoAccountFromNetwork))
        )
    }

    /// Why a step-up asks again for `path`: the route's window, if a second
    /// factor proven at `second_factor_at` is too old for it.
    pub fn step_up_within(&self, user: &str, second_factor_at: SystemTime, path: &str) -> Option<Duration> {
        let principal = Principal::User {
            name: user,
            second_factor_at: Some(second_factor_at),
        };
        let path = path.split('?').next().unwrap_or("/");
        match self.decide(path, &principal) {
            Err(Refusal::StepUp { within, .. }) => Some(within),
            _ => None,
        }
    }

    fn decide(&self, path: &str, principal: &Principal<'_>) -> policy::Decision {
        let facts = Facts {
            ip: self.ip,
            client: self.client,
            method: &http::Method::GET,
            path,
        };
        policy::decide(self.policy, &facts, principal, self.now)
    }
}
