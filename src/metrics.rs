//! Metrics in the Prometheus text format, served on the admin listener
//! ([`crate::admin::http`]).
//!
//! Two kinds, by how often they change:
//! - [`RequestMetrics`]: per request. Each worker keeps its own (no cache
//!   line shared between cores on the hot path); a scrape adds them up.
//! - [`Metrics`]: rare events (logins, lockouts, reloads), shared atomics.
//!
//! Why not the `prometheus-client` crate: its counters are atomics every
//! core would write on every request (one contended cache line), and its
//! labelled families take a lock and a hash lookup per request; a family
//! per worker would instead show a series per worker to whoever scrapes.
//! The text format is small, and the admin listener's tests read it back.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A latency histogram: counts per bucket (not cumulative), sum, count.
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum_micros: u64,
    count: u64,
}

impl Histogram {
    pub fn observe(&mut self, took: Duration) {
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i] += 1;
        }
        self.sum_micros += took.as_micros() as u64;
        self.count += 1;
    }

    fn add(&mut self, other: &Histogram) {
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
        self.sum_micros += other.sum_micros;
        self.count += other.count;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, n) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum_micros as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// What happened to a request, for `portcullis_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Forwarded to the CRM.
    Allowed,
    /// Sent to sign in, or asked for a fresh second factor.
    Login,
    StepUp,
    /// Refused by the policy.
    Denied,
    /// A route's quota was used up (429).
    Quota,
    /// Held for a second person's approval.
    Held,
    /// One of the gateway's own pages.
    Portal,
    /// Malformed, or the store or upstream failed.
    Error,
}

impl Outcome {
    /// As in the metrics and the access log.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Allowed => "allow",
            Outcome::Login => "login",
            Outcome::StepUp => "step_up",
            Outcome::Denied => "deny",
            Outcome::Quota => "quota",
            Outcome::Held => "held",
            Outcome::Portal => "portal",
            Outcome::Error => "error",
        }
    }
}

/// One worker's request counters. Only that worker writes them; the lock
/// is uncontended except during a scrape.
#[derive(Debug, Default)]
pub struct RequestMetrics(Mutex<RequestCounts>);

#[derive(Debug, Default, Clone)]
pub struct RequestCounts {
    /// By outcome and client type: a handful of entries, scanned without
    /// allocating on the request path.
    requests: Vec<(Outcome, String, u64)>,
    latency: Histogram,
    upstream_latency: Histogram,
    upstream_errors: u64,
    /// Refusals of report-only rules, not enforced.
    report_only: u64,
}

impl RequestMetrics {
    pub fn record(&self, outcome: Outcome, client_type: &str, took: Duration) {
        let mut counts = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match counts
            .requests
            .iter_mut()
            .find(|(o, c, _)| *o == outcome && c == client_type)
        {
            Some((_, _, n)) => *n += 1,
            None => counts.requests.push((outcome, client_type.to_owned(), 1)),
        }
        counts.latency.observe(took);
    }

    pub fn upstream(&self, took: Duration, failed: bool) {
        let mut counts = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.upstream_latency.observe(took);
        if failed {
            counts.upstream_errors += 1;
        }
    }

    /// A report-only rule would have refused a request (it went through).
    pub fn would_refuse(&self) {
        let mut counts = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.report_only += 1;
    }

    fn snapshot(&self) -> RequestCounts {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// Rare events, shared by every worker, and each worker's request counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// One per worker (see [`Metrics::worker`]); a scrape adds them up.
    workers: Mutex<Vec<std::sync::Arc<RequestMetrics>>>,
    pub logins: Counter,
    pub login_failures: Counter,
    pub lockouts: Counter,
    pub reloads: Counter,
    pub reload_failures: Counter,
    pub sharing_signals: Counter,
}

impl Metrics {
    /// Request counters for one more worker, which it alone writes.
    pub fn worker(&self) -> std::sync::Arc<RequestMetrics> {
        let counters = std::sync::Arc::new(RequestMetrics::default());
        let mut workers = self.workers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        workers.push(counters.clone());
        counters
    }
}

/// The Prometheus text for every worker's request counters plus the shared
/// ones; `active_sessions` is counted by the caller (it needs the store).
pub fn render(shared: &Metrics, active_sessions: Option<u64>) -> String {
    let mut total = RequestCounts::default();
    let mut requests: BTreeMap<(Outcome, String), u64> = BTreeMap::new();
    let workers = shared
        .workers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for worker in &workers {
        let counts = worker.snapshot();
        for (outcome, client, n) in counts.requests {
            *requests.entry((outcome, client)).or_default() += n;
        }
        total.latency.add(&counts.latency);
        total.upstream_latency.add(&counts.upstream_latency);
        total.upstream_errors += counts.upstream_errors;
        total.report_only += counts.report_only;
    }
    let mut out = String::new();
    out.push_str("# HELP portcullis_requests_total Requests by what the gateway did with them.\n");
    out.push_str("# TYPE portcullis_requests_total counter\n");
    for ((outcome, client), n) in &requests {
        let _ = writeln!(
            out,
            "portcullis_requests_total{{decision=\"{}\",client_type=\"{}\"}} {n}",
            outcome.label(),
            client.replace(['"', '\\', '\n'], "_")
        );
    }
    out.push_str("# HELP portcullis_request_duration_seconds Time to the response head.\n");
    out.push_str("# TYPE portcullis_request_duration_seconds histogram\n");
    total
        .latency
        .render(&mut out, "portcullis_request_duration_seconds", "");
    out.push_str("# HELP portcullis_upstream_duration_seconds Time the CRM took to start answering.\n");
    out.push_str("# TYPE portcullis_upstream_duration_seconds histogram\n");
    total
        .upstream_latency
        .render(&mut out, "portcullis_upstream_duration_seconds", "");
    let counters = [
        (
            "upstream_errors_total",
            "Requests the CRM did not answer in time or at all.",
            total.upstream_errors,
        ),
        ("logins_total", "Completed sign-ins.", shared.logins.get()),
        (
            "login_failures_total",
            "Failed sign-in steps (password, code, locked).",
            shared.login_failures.get(),
        ),
        (
            "lockouts_total",
            "Accounts or addresses locked after repeated failures.",
            shared.lockouts.get(),
        ),
        (
            "config_reloads_total",
            "Config reloads that took effect.",
            shared.reloads.get(),
        ),
        (
            "config_reload_failures_total",
            "Config reloads refused as invalid.",
            shared.reload_failures.get(),
        ),
        (
            "sharing_signals_total",
            "Sign-ins while the account had a live session from another network.",
            shared.sharing_signals.get(),
        ),
        (
            "report_only_refusals_total",
            "Requests a report-only route rule (mode: report) would have refused; they were let through.",
            total.report_only,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP portcullis_{name} {help}\n# TYPE portcullis_{name} counter\nportcullis_{name} {value}"
        );
    }
    if let Some(active) = active_sessions {
        let _ = writeln!(
            out,
            "# HELP portcullis_active_sessions Live sessions of users in the policy.\n# TYPE portcullis_active_sessions gauge\nportcullis_active_sessions {active}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_add_up_and_histograms_are_cumulative() {
        let shared = Metrics::default();
        let (a, b) = (shared.worker(), shared.worker());
        a.record(Outcome::Allowed, "web", Duration::from_micros(300));
        b.record(Outcome::Allowed, "web", Duration::from_millis(3));
        b.record(Outcome::Denied, "mobile", Duration::from_millis(30));
        b.upstream(Duration::from_millis(2), true);
        shared.logins.inc();
        let text = render(&shared, Some(4));
        for line in [
            "portcullis_requests_total{decision=\"allow\",client_type=\"web\"} 2",
            "portcullis_requests_total{decision=\"deny\",client_type=\"mobile\"} 1",
            "portcullis_request_duration_seconds_bucket{le=\"0.0005\"} 1",
            "portcullis_request_duration_seconds_bucket{le=\"0.005\"} 2",
            "portcullis_request_duration_seconds_bucket{le=\"+Inf\"} 3",
            "portcullis_request_duration_seconds_count 3",
            "portcullis_upstream_errors_total 1",
            "portcullis_logins_total 1",
            "portcullis_active_sessions 4",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
