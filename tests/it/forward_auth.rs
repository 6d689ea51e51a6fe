//! Forward-auth mode: a team keeps its own nginx in front of the CRM, and
//! nginx asks the gateway about each request (`auth_request`). The same
//! policy, sessions and sign-in pages decide; nginx passes the CRM only
//! what the gateway allowed, naming the user as the gateway said.

use crate::login::{enter_code, enter_password, Office, PASSWORD};
use crate::support::browser::Browser;
use crate::support::nginx::Nginx;

const POLICY: &str = "forward_auth: true\n\
     trusted_proxies: [127.0.0.1]\n\
     networks: { here: [127.0.0.0/8] }\n\
     access: { web: [here] }\n\
     groups: { sales-team: {}, finance: {} }\n\
     users:\n  alice: { groups: [sales-team] }\n\
     routes:\n  \
       - { paths: [\"/billing/**\"], allow_groups: [finance] }\n  \
       - { paths: [\"/projects/**\"], methods: [DELETE], deny: all }\n";

/// nginx as its documentation (and ours, in the README) sets it up: the
/// gateway's pages under /.portcullis/, every other request asked about.
fn nginx_in_front(office: &Office) -> Nginx {
    let gateway = format!("https://127.0.0.1:{}", office.gateway.addr.port());
    let crm = office.upstream.url();
    let server = format!(
        "    location /.portcullis/ {{\n      proxy_pass {gateway};\n      proxy_set_header Host $http_host;\n      \
               proxy_set_header X-Forwarded-For $remote_addr;\n    }}\n\
             location = /.portcullis/authz/auth-request {{\n      internal;\n      proxy_pass {gateway};\n      \
               proxy_pass_request_body off;\n      proxy_set_header Content-Length \"\";\n      \
               proxy_set_header Host $http_host;\n      proxy_set_header X-Forwarded-For $remote_addr;\n      \
               proxy_set_header X-Forwarded-Method $request_method;\n      proxy_set_header X-Forwarded-Uri $request_uri;\n    }}\n\
             location / {{\n      auth_request /.portcullis/authz/auth-request;\n      \
               auth_request_set $portcullis_user $upstream_http_x_portcullis_user;\n      \
               auth_request_set $portcullis_groups $upstream_http_x_portcullis_groups;\n      \
               auth_request_set $portcullis_login $upstream_http_location;\n      \
               error_page 401 =303 $portcullis_login;\n      \
               proxy_set_header X-Portcullis-User $portcullis_user;\n      \
               proxy_set_header X-Portcullis-Groups $portcullis_groups;\n      \
               proxy_pass {crm};\n    }}\n"
    );
    let pki = office.gateway.pki.path();
    Nginx::start(&server, &pki.join("server.pem"), &pki.join("server.key"))
}

#[tokio::test]
async fn nginx_asks_the_gateway_and_passes_the_crm_only_what_it_allowed() {
    let office = Office::enrolling(None, "", POLICY, &["alice"]).await;
    let nginx = nginx_in_front(&office);
    let mut browser = Browser::at(format!("https://127.0.0.1:{}", nginx.port), office.gateway.client());
    // nginx's 401 carries an absolute Location (it answers for the gateway).
    let login = format!("https://127.0.0.1:{}{LOGIN}", nginx.port);
    the_gateway_decides_through(&office, &mut browser, &login, &|| nginx.log()).await;

    // Nobody asks the gateway's question from outside: nginx keeps it internal.
    let outside = browser.get("/.portcullis/authz/auth-request").await;
    assert_eq!(outside.status, 404);
}

#[tokio::test]
async fn the_question_is_answered_only_when_forward_auth_is_on() {
    let policy = POLICY.replace("forward_auth: true\n", "");
    let office = Office::enrolling(None, "", &policy, &["alice"]).await;
    let mut browser = Browser::new(&office.gateway);
    browser.extra = vec![
        ("x-forwarded-method".into(), "GET".into()),
        ("x-forwarded-uri".into(), "/contacts".into()),
    ];
    assert_eq!(browser.get("/.portcullis/authz/auth-request").await.status, 404);

    // On, with no proxy allowed to ask: check says so.
    let config = std::fs::read_to_string(office.config_file()).unwrap();
    let broken = config.replace("trusted_proxies: [127.0.0.1]\n", "forward_auth: true\n");
    let file = office.gateway.pki.path().join("no-proxy.yaml");
    std::fs::write(&file, broken).unwrap();
    let checked = crate::support::process::run(&["check", "--config", file.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&checked.stderr);
    assert!(!checked.status.success());
    assert!(
        said.contains("forward_auth: only a proxy in trusted_proxies may ask"),
        "{said}"
    );
}

/// Caddy as the README sets it up (`forward_auth`): the same policy
/// decides, the sign-in pages are the gateway's, and Caddy passes the CRM
/// only what the gateway allowed, naming the user as it said.
#[tokio::test]
async fn caddy_asks_the_gateway_and_passes_the_crm_only_what_it_allowed() {
    let office = Office::enrolling(None, "", POLICY, &["alice"]).await;
    let pki = office.gateway.pki.path();
    let gateway = format!("https://127.0.0.1:{}", office.gateway.addr.port());
    let trust = format!(
        "transport http {{\n      tls_trusted_ca_certs {}\n    }}",
        pki.join("ca.pem").display()
    );
    let site = format!(
        "  handle /.portcullis/* {{\n    reverse_proxy {gateway} {{\n    {trust}\n    }}\n  }}\n  \
           handle {{\n    forward_auth {gateway} {{\n    uri /.portcullis/authz/forward-auth\n    \
             copy_headers X-Portcullis-User X-Portcullis-Groups\n    {trust}\n  }}\n  \
           reverse_proxy {}\n  }}\n",
        office.upstream.url()
    );
    let caddy = crate::support::caddy::Caddy::start(&site, &pki.join("server.pem"), &pki.join("server.key"));
    let mut browser = Browser::at(format!("https://127.0.0.1:{}", caddy.port), office.gateway.client());
    the_gateway_decides_through(&office, &mut browser, LOGIN, &|| caddy.log()).await;
}

/// Where a browser that is not signed in is sent, for `/contacts?page=2`.
const LOGIN: &str = "/.portcullis/login?next=%2Fcontacts%3Fpage%3D2";

/// What a team's proxy must do with the gateway deciding: send a browser
/// that is not signed in to the gateway's sign-in page (`login`), pass
/// the sign-in pages, then pass the CRM only what the policy allows,
/// naming the user as the gateway says (whatever the browser claims).
async fn the_gateway_decides_through(office: &Office, browser: &mut Browser, login: &str, log: &dyn Fn() -> String) {
    let first = browser.get("/contacts?page=2").await;
    assert_eq!(first.status, 303, "{}\n{}", first.body, log());
    assert_eq!(first.header("location"), Some(login));
    assert!(office.upstream.seen().is_empty());

    // Signing in happens on the gateway's own pages, through the proxy.
    let password = enter_password(browser, "alice", PASSWORD, "/contacts?page=2").await;
    assert_eq!(
        password.header("location"),
        Some("/.portcullis/second-factor"),
        "{}",
        password.body
    );
    let signed_in = enter_code(browser, &office.code()).await;
    assert_eq!(signed_in.header("location"), Some("/contacts?page=2"));

    browser.extra.push(("x-portcullis-user".into(), "carol".into()));
    let page = browser.get("/contacts?page=2").await;
    assert_eq!(page.status, 200, "{}", log());
    let seen = office.upstream.last();
    assert_eq!(seen.uri.to_string(), "/contacts?page=2");
    assert_eq!(seen.header("x-portcullis-user"), Some("alice"));
    assert_eq!(seen.header("x-portcullis-groups"), Some("sales-team"));

    // The policy's refusals stand: a route for another group, a DELETE a
    // rule denies, and a POST whose body could override its method where
    // the method decides (the proxy does not show the gateway the body).
    let before = office.upstream.seen().len();
    assert_eq!(browser.get("/billing/invoices").await.status, 403);
    assert_eq!(browser.send("DELETE", "/projects/7", None).await.status, 403);
    let post = browser.post("/projects/7", &[("_method", "DELETE")]).await;
    assert_eq!(post.status, 403);
    assert_eq!(office.upstream.seen().len(), before, "{:?}", office.upstream.seen());
    // A POST where the method decides nothing passes.
    assert_eq!(
        browser.post("/contacts/7/notes", &[("text", "called")]).await.status,
        200
    );
}
