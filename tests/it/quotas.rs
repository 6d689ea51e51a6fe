//! Quotas on the CRM's data (issue: guards for the CRM's data): at most so
//! many exports per user in each hour, counted across every gateway on the
//! store; past it a 429 page that says when it opens again, and nothing
//! reaches the CRM. Two real gateways on one real Redis.

use crate::login::{signed_in, Office};
use crate::support::browser::Browser;
use crate::support::process;

const POLICY: &str = "trusted_proxies: [127.0.0.1]\n\
     networks: { here: [127.0.0.0/8] }\n\
     access: { web: [here] }\n\
     users: { alice: {}, bob: {}, dave: {}, gina: {} }\n\
     routes:\n  - { paths: [\"/reports/export*\"], quota: { requests: 3, every: 1h } }\n";

fn exports(office: &Office) -> usize {
    (office.upstream.seen().iter())
        .filter(|s| s.uri.path().starts_with("/reports/export"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_may_export_three_times_an_hour_on_all_gateways_together_then_waits_for_the_next_hour() {
    let office = Office::with_policy(POLICY).await;
    let other_gateway = office.second_gateway().await;
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    let mut alice_elsewhere = Browser::new(&other_gateway);
    alice_elsewhere.cookies = alice.cookies.clone();

    assert_eq!(alice.get("/reports/export?format=csv").await.status, 200);
    assert_eq!(alice.get("/reports/export?format=xlsx").await.status, 200);
    assert_eq!(alice_elsewhere.get("/reports/export").await.status, 200);
    // The fourth, on either gateway, is refused, and says until when.
    for browser in [&mut alice_elsewhere, &mut alice] {
        let refused = browser.get("/reports/export").await;
        assert_eq!(refused.status, 429, "{}", refused.body);
        assert!(refused.body.contains("You have reached the limit"), "{}", refused.body);
        assert!(refused.body.contains("It opens again at "), "{}", refused.body);
        assert!(refused.body.contains(":00:00 UTC"), "on the hour: {}", refused.body);
        let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=3600).contains(&wait), "{wait}");
    }
    assert_eq!(exports(&office), 3, "the CRM saw three exports");
    // The rest of the CRM is not counted, and Bob has his own three.
    assert_eq!(alice.get("/contacts").await.status, 200);
    let mut bob = signed_in(&office, "bob", "127.0.0.1").await;
    assert_eq!(bob.get("/reports/export").await.status, 200);
    assert_eq!(exports(&office), 4);

    // explain names the quota the gateway counted.
    let config = office.config_file();
    let args = [
        "explain",
        "--config",
        &config,
        "--user",
        "alice",
        "--ip",
        "127.0.0.1",
        "--path",
        "/reports/export",
    ];
    let explained = String::from_utf8_lossy(&process::run(&args).stdout).into_owned();
    assert!(explained.starts_with("allow"), "{explained}");
    assert!(
        explained.contains("counts it against a quota of 3 requests every 1h per user"),
        "{explained}"
    );

    // An hour on (her session has ended meanwhile), the next window: Alice exports again.
    office.gateway.clock.advance(std::time::Duration::from_secs(3600));
    let mut alice = signed_in(&office, "alice", "127.0.0.1").await;
    assert_eq!(alice.get("/reports/export").await.status, 200);
    assert_eq!(exports(&office), 5);
}
