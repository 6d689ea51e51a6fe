//! Phase 4b, after the policy allowed a request, before it is forwarded.
//!
//! Report-only rules (`mode: report`): each refusal they would have made
//! is audited (`request.would_deny`) and counted; the request goes on.
//!
//! Quotas: a request that route rules with a `quota` let through is counted in the store (so every gateway on it counts together) in the
//! window it falls in, once per rule, before it is forwarded. Past the
//! limit it gets a 429 page that says when the window ends; the store
//! down, it is refused (503), never let through uncounted.

use std::net::IpAddr;
use std::time::SystemTime;

use super::GatewayError;
use crate::i18n::fill;
use crate::live::Live;
use crate::metrics::RequestMetrics;
use crate::policy::{Facts, Permit, Policy, QuotaPer, RouteId};
use crate::request_id::RequestId;
use crate::signin::SignIn;

/// Record what report-only rules would have refused of this request.
pub(super) fn report(
    policy: &Policy,
    permit: &Permit,
    facts: &Facts<'_>,
    user: Option<&str>,
    request_id: RequestId,
    metrics: &RequestMetrics,
) {
    for deny in permit.reported() {
        metrics.would_refuse();
        let why = policy.deny_words(deny, facts, user);
        super::request::audit_refusal("request.would_deny", policy, facts, (user, request_id), &why);
    }
}

/// Count this request against every quota `permit` names; the first
/// past one tells the quota's `alert` addresses.
pub(super) async fn count(
    signin: Option<&SignIn>,
    live: &Live,
    permit: &Permit,
    (user, ip): (Option<&str>, IpAddr),
    now: SystemTime,
) -> Result<(), GatewayError> {
    let policy = &live.policy;
    for route in permit.guarded() {
        let Some(quota) = policy.routes[*route].quota else {
            continue;
        };
        let Some(store) = signin.map(|s| &*s.store) else {
            // `check` refuses quotas where there is no store; fail closed.
            let why = "quotas are counted in the store, and this gateway has none";
            return Err(GatewayError::StoreUnavailable(why.into()));
        };
        let who = match (quota.per, user) {
            (QuotaPer::User, Some(user)) => format!("user {user}"),
            _ => format!("address {ip}"),
        };
        let (window, resets) = quota.window(now);
        let key = format!("quota:{route}:{window}:{who}");
        let hits = store
            .count(&key, quota.every)
            .await
            .map_err(|e| GatewayError::StoreUnavailable(e.to_string()))?;
        if hits > quota.requests {
            let resets_at = humantime::format_rfc3339_seconds(resets);
            if hits == quota.requests + 1 {
                tracing::warn!(target: "audit", event = "quota.reached", route = route.index(), who, limit = %quota.describe(), resets = %resets_at);
                if let Some(signin) = signin {
                    alert(signin, live, *route, &who, &resets_at.to_string());
                }
            }
            return Err(GatewayError::QuotaReached {
                route: *route,
                quota: quota.describe(),
                resets,
            });
        }
    }
    Ok(())
}

/// Email the quota's `alert` addresses (if any) that `who` reached it.
fn alert(signin: &SignIn, live: &Live, route: RouteId, who: &str, until: &str) {
    let rule = &live.policy.routes[route];
    let (Some(quota), false) = (rule.quota, rule.quota_alert.is_empty()) else {
        return;
    };
    let auth = &live.config.auth;
    let t = auth.texts.for_accept_language(None);
    let (index, paths, limit) = (route.index().to_string(), rule.paths.join(", "), quota.describe());
    let words = [
        ("company", auth.company.as_str()),
        ("who", who),
        ("rule", &index),
        ("paths", &paths),
        ("quota", &limit),
        ("time", until),
    ];
    let subject = fill(&t.quota_alert_subject, &words);
    signin.notify(rule.quota_alert.clone(), subject, fill(&t.quota_alert_body, &words));
}
