//! `policy::decide` on a realistic large policy: 1,000 users, 100 groups,
//! 10,000 CIDRs in 100 networks, 200 route rules. Target: under 1 µs a
//! decision. Run with `cargo bench --bench decide`.

use std::fmt::Write;
use std::hint::black_box;
use std::net::IpAddr;
use std::time::SystemTime;

use criterion::{criterion_group, criterion_main, Criterion};
use http::Method;
use portcullis::config::raw::RawConfig;
use portcullis::policy::{self, Facts, Principal};

/// Deterministic pseudo-random numbers, so every run decides the same things.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// The YAML, and the group that the last route rule (routes[199]) allows.
fn large_policy() -> (String, u64) {
    let mut rng = Lcg(42);
    let mut yaml = String::from(
        "listen: { address: \"127.0.0.1:0\", tls: { cert: a, key: b } }\nupstream: { url: \"http://127.0.0.1:1\" }\n",
    );
    yaml.push_str(
        "client_types:\n  mobile: { match: { user_agent: \"^CRMMobile/\", path_prefix: /api/ }, login: passthrough }\n",
    );
    yaml.push_str("networks:\n");
    for n in 0..100 {
        write!(yaml, "  net{n}: [").unwrap();
        for c in 0..100 {
            let sep = if c == 0 { "" } else { ", " };
            if c % 10 == 9 {
                write!(yaml, "{sep}\"2001:db8:{:x}:{:x}::/64\"", n, c).unwrap();
            } else {
                let a = rng.next() as u32;
                let len = if c % 3 == 0 { 32 } else { 24 };
                let ip = std::net::Ipv4Addr::from(a & (u32::MAX << (32 - len)));
                write!(yaml, "{sep}{ip}/{len}").unwrap();
            }
        }
        yaml.push_str("]\n");
    }
    yaml.push_str("  office: [193.167.1.0/24]\n");
    yaml.push_str("access:\n  web: [office]\n  mobile: any\ngroups:\n");
    for g in 0..100 {
        writeln!(yaml, "  group{g}: {{ access: {{ web: [office, net{g}] }} }}").unwrap();
    }
    yaml.push_str("users:\n");
    for u in 0..1000 {
        let (a, b) = (rng.next() % 100, rng.next() % 100);
        if u % 10 == 0 {
            writeln!(
                yaml,
                "  user{u}: {{ groups: [group{a}, group{b}], access: {{ web: [net{a}, net{b}, office] }} }}"
            )
            .unwrap();
        } else {
            writeln!(yaml, "  user{u}: {{ groups: [group{a}, group{b}] }}").unwrap();
        }
    }
    yaml.push_str("exemptions:\n");
    for e in 0..20 {
        writeln!(
            yaml,
            "  - {{ user: user{e}, access: any, until: \"2099-01-01T00:00:00Z\", reason: bench }}"
        )
        .unwrap();
    }
    yaml.push_str("routes:\n");
    let mut last_group = 0;
    for r in 0..200 {
        let g = rng.next() % 100;
        last_group = g;
        match r % 4 {
            0 => writeln!(yaml, "  - {{ paths: [\"/area{r}/**\"], allow_groups: [group{g}] }}"),
            1 => writeln!(
                yaml,
                "  - {{ paths: [\"/area{r}/export*\"], methods: [GET, POST], networks: [office] }}"
            ),
            2 => writeln!(
                yaml,
                "  - {{ paths: [\"/area{r}/*/delete\"], methods: [DELETE], deny: all }}"
            ),
            _ => writeln!(
                yaml,
                "  - {{ paths: [\"/area{r}/**\", \"/legacy/area{r}/**\"], step_up: 5m, allow_groups: [group{g}] }}"
            ),
        }
        .unwrap();
    }
    (yaml, last_group)
}

fn bench(c: &mut Criterion) {
    let (yaml, last_group) = large_policy();
    let raw: RawConfig = serde_yaml::from_str(&yaml).unwrap();
    let policy = policy::compile(&raw).unwrap_or_else(|p| panic!("{p:?}"));
    let member = policy
        .users
        .values()
        .find(|u| {
            u.groups
                .iter()
                .any(|g| policy.group_name(*g) == format!("group{last_group}"))
        })
        .map(|u| u.name.clone())
        .expect("some user is in the last route's group");
    let now = humantime::parse_rfc3339("2026-11-22T12:00:00Z").unwrap();
    let web = policy.client_type("web").unwrap();
    let office: IpAddr = "193.167.1.70".parse().unwrap();
    let outside: IpAddr = "192.0.2.99".parse().unwrap();
    let get = Method::GET;
    let verified: Option<SystemTime> = Some(now);

    let mut case = |name: &str, user: Option<&str>, ip: IpAddr, path: &str, expect: &str| {
        let facts = Facts {
            ip,
            client: web,
            method: &get,
            path,
        };
        let principal = match user {
            Some(name) => Principal::User {
                name,
                second_factor_at: verified,
            },
            None => Principal::Anonymous,
        };
        let decision = policy::decide(&policy, &facts, &principal, now);
        assert_eq!(
            policy::verdict(&decision),
            expect,
            "{name}: {}",
            policy.explain(&decision, &facts, user)
        );
        c.bench_function(name, |b| {
            b.iter(|| policy::decide(black_box(&policy), black_box(&facts), black_box(&principal), now))
        });
    };
    case(
        "decide/allow, no route matches",
        Some("user500"),
        office,
        "/contacts/42",
        "allow",
    );
    case(
        "decide/allow through the last of 200 routes",
        Some(&member),
        office,
        "/area199/x",
        "allow",
    );
    case("decide/deny by network", Some("user501"), outside, "/contacts", "deny");
    case("decide/anonymous login", None, office, "/contacts", "login");
}

/// What the CRM-reading defences add to a typical browser request: reading
/// it as the CRM's server may (path, method, overrides) and cleaning its
/// headers (families of names a CRM could misread).
fn reading(c: &mut Criterion) {
    use portcullis::config::raw::Server;
    use portcullis::policy::reading;
    let mut headers = http::HeaderMap::new();
    for (name, value) in [
        ("host", "crm.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        ),
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("accept-language", "en-GB,en;q=0.9"),
        ("accept-encoding", "gzip, deflate, br"),
        ("referer", "https://crm.example.com/contacts?page=2"),
        ("sec-fetch-dest", "document"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-site", "same-origin"),
        ("sec-ch-ua", "\"Chromium\";v=\"131\""),
        ("sec-ch-ua-platform", "\"Linux\""),
        ("upgrade-insecure-requests", "1"),
        (
            "cookie",
            "crm_sid=0123456789abcdef; __Host-portcullis=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
        ("connection", "keep-alive"),
    ] {
        headers.insert(http::HeaderName::from_static(name), value.parse().unwrap());
    }
    let get = Method::GET;
    c.bench_function("reading/a browser GET, generic server", |b| {
        b.iter(|| {
            reading::read(
                Server::Generic,
                &get,
                black_box("/contacts/42/notes"),
                Some("page=2"),
                black_box(&headers),
            )
        })
    });
    let names = portcullis::config::IdentityHeaders {
        user: http::HeaderName::from_static("x-portcullis-user"),
        groups: http::HeaderName::from_static("x-portcullis-groups"),
    };
    let host = http::HeaderValue::from_static("crm.example.com");
    c.bench_function("headers/a browser GET cleaned for the CRM", |b| {
        b.iter_batched(
            || headers.clone(),
            |mut h| {
                let ours = portcullis::proxy::headers::Ours {
                    identity: Some(("alice".into(), "finance,managers".into())),
                    names: &names,
                    allowed_odd_names: &[],
                    client: portcullis::proxy::client_ip::ClientAddr {
                        ip: "193.167.1.70".parse().unwrap(),
                        via_trusted_proxy: false,
                    },
                    peer: "193.167.1.70".parse().unwrap(),
                    host: Some(&host),
                };
                portcullis::proxy::headers::for_crm(&mut h, &ours);
                h
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench, reading);
criterion_main!(benches);
