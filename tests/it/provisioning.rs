//! Users the company's identity provider vouches for who are not in the
//! YAML: ops map the provider's groups to policy groups and admit whoever
//! has a mapped group. A real OpenID provider (node's oidc-provider, whose
//! `groups` claim is in userinfo, as Okta's is), two real gateways on one
//! Redis, headless Chromium; `explain` and `users review` asked the same
//! questions as the gateway.

use crate::browser::{chromium_speaking, click, wait_for_url};
use crate::login::{admin_command, Office};
use crate::sso::{forget_provider, office_with, sign_in_at_provider, wait_for_text};
use crate::support::browser::Browser;
use crate::support::idp::IdentityProvider;
use crate::support::process;

const POLICY: &str = "trusted_proxies: [127.0.0.1]\n\
     networks: { here: [127.0.0.0/8] }\n\
     groups: { sales: { access: { web: [here] } }, admins: { access: { web: [here] } } }\n\
     password_sign_in: false\n\
     users:\n  \
       alice: { email: alice@example.com, groups: [admins], password_sign_in: true }\n\
     routes:\n  - { paths: [\"/admin/**\"], allow_groups: [admins] }\n";

/// A gateway whose provider admits anyone with a mapped group: CRM-Sales
/// is sales, CRM-Admins is admins; its second factor is trusted.
async fn office(idp_port: u16) -> Office {
    let company = "trust_mfa: [mfa], scopes: [email, profile, groups], admit: mapped, groups_claim: groups, \
                   groups: { CRM-Sales: [sales], CRM-Admins: [admins] } }";
    office_with(idp_port, company, "", POLICY, &["alice"]).await
}

/// How many requests for paths under `prefix` reached the CRM.
fn reached(office: &Office, prefix: &str) -> usize {
    (office.upstream.seen().iter())
        .filter(|s| s.uri.path().starts_with(prefix))
        .count()
}

fn explain(config: &str, user: &str, path: &str) -> String {
    let args = [
        "explain",
        "--config",
        config,
        "--user",
        user,
        "--ip",
        "127.0.0.1",
        "--path",
        path,
    ];
    let output = process::run(&args);
    String::from_utf8_lossy(&output.stdout).trim().to_owned() + &String::from_utf8_lossy(&output.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sam_whom_the_yaml_does_not_list_signs_in_with_his_provider_groups_and_the_yaml_still_wins() {
    let idp_port = IdentityProvider::port();
    let office = office(idp_port).await;
    let other_gateway = office.second_gateway().await;
    let url = |path: &str| format!("https://localhost:{}{path}", office.gateway.addr.port());
    let ca = office.gateway.pki.path().join("ca.pem");
    let idp = IdentityProvider::start(idp_port, &url("/.portcullis/sso/company/callback"), &ca);
    let (_driver, client, _profile) = chromium_speaking("en").await;
    let config = office.config_file();

    // Sam is in CRM-Sales at the provider, and nowhere in the YAML: he
    // signs in (the provider's second factor) as sales.
    client.goto(&url("/.portcullis/login?next=%2Fdeals")).await.unwrap();
    click(&client, "ul.providers a[href^='/.portcullis/sso/company']").await;
    sign_in_at_provider(&client, "sam+mfa").await;
    wait_for_url(&client, "/deals").await;
    assert_eq!(
        office.upstream.last().header("x-portcullis-user"),
        Some("sam@example.com")
    );
    // Sales may not open the admin area, which admins may.
    client.goto(&url("/admin/settings")).await.unwrap();
    let page = client.source().await.unwrap();
    assert!(!page.contains("hello from upstream"), "{page}");
    assert_eq!(reached(&office, "/admin"), 0, "the admin area reached nothing");

    // The other gateway on the same store heard of him: his session works there.
    let cookie = client.get_named_cookie("__Host-portcullis").await.unwrap();
    let mut elsewhere = Browser::new(&other_gateway);
    elsewhere.cookies.insert(cookie.name().into(), cookie.value().into());
    assert_eq!(elsewhere.get("/deals").await.status, 200);
    assert_eq!(elsewhere.get("/admin/settings").await.status, 403);

    // explain and the review say what the gateways did.
    let deals = explain(&config, "sam@example.com", "/deals");
    assert!(deals.starts_with("allow"), "{deals}");
    let admin = explain(&config, "sam@example.com", "/admin/settings");
    assert!(admin.starts_with("deny"), "{admin}");
    assert!(admin.contains("admins"), "names the group it takes: {admin}");
    let review = admin_command(&["users", "review", "--config", &config, "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&review).unwrap();
    let sam = (rows.as_array().unwrap().iter())
        .find(|r| r["user"] == "sam@example.com")
        .unwrap_or_else(|| panic!("sam in {review}"));
    assert_eq!(sam["groups"], serde_json::json!(["sales"]));
    assert_eq!(sam["provisioned_by"], "Company SSO");
    assert_eq!(sam["open_sessions"], 1);
    let table = admin_command(&["users", "review", "--config", &config]);
    assert!(table.contains("provisioned by Company SSO"), "{table}");

    // Guest's groups at the provider map to none here: a plain page, and
    // nothing reaches the CRM; nor is guest in the review.
    forget_provider(&client, &idp).await;
    client.goto(&url("/.portcullis/login")).await.unwrap();
    click(&client, "ul.providers a[href^='/.portcullis/sso/company']").await;
    sign_in_at_provider(&client, "guest+mfa").await;
    let page = wait_for_text(&client, "Sign-in did not work").await;
    assert!(!page.contains("guest"), "no detail for the user: {page}");
    let as_guest = (office.upstream.seen().iter())
        .filter(|s| s.header("x-portcullis-user") == Some("guest@example.com"))
        .count();
    assert_eq!(as_guest, 0);
    let review = admin_command(&["users", "review", "--config", &config]);
    assert!(!review.contains("guest@example.com"), "{review}");
    let kept = portcullis::session::provisioned::get(&office.store, "guest@example.com").await;
    assert_eq!(kept.unwrap(), None, "nothing kept of someone not admitted");

    // Ops list Sam in the YAML, disabled: the YAML wins over the provider,
    // and his sessions end on both gateways.
    let yaml = std::fs::read_to_string(&config).unwrap();
    let yaml = yaml.replace("users:\n", "users:\n  sam@example.com: { disabled: true }\n");
    std::fs::write(&config, yaml).unwrap();
    let started = std::time::Instant::now();
    while elsewhere.get("/deals").await.status == 200 {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "sam still in");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let deals_before = reached(&office, "/deals");
    client.goto(&url("/deals")).await.unwrap();
    wait_for_url(&client, "/.portcullis/login").await;
    assert_eq!(reached(&office, "/deals"), deals_before);
    let deals = explain(&config, "sam@example.com", "/deals");
    assert!(deals.starts_with("deny"), "{deals}");
    client.close().await.unwrap();
}
