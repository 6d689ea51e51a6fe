//! Request paths from anyone: normalising is idempotent and leaves no dot
//! segments or empty segments, and the policy decides on what is left
//! without panicking (route globs, methods, client types).
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use portcullis::policy::{self, Facts, Policy, Principal};

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let raw = portcullis::config::parse(portcullis::demo::DEMO_YAML).unwrap();
        policy::compile(&raw).unwrap()
    })
}

fuzz_target!(|input: (&str, bool)| {
    let (raw, delete) = input;
    let Ok(path) = policy::path::normalize(raw) else { return };
    assert!(path.starts_with('/'));
    assert!(!path.contains("//"), "{path:?}");
    assert!(path.split('/').all(|s| s != "." && s != ".."), "{path:?}");
    assert_eq!(policy::path::normalize(&path).unwrap(), path, "not idempotent");
    let method = if delete {
        http::Method::DELETE
    } else {
        http::Method::GET
    };
    let facts = Facts {
        ip: "127.0.0.1".parse().unwrap(),
        client: 0,
        method: &method,
        path: &path,
    };
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    let _ = policy::decide(
        policy(),
        &facts,
        &Principal::User {
            name: "bob",
            second_factor_at: Some(now),
        },
        now,
    );
});
