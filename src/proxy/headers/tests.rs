//! The headers the CRM receives: what is removed, what is added, what is refused.

use super::*;

fn names() -> IdentityHeaders {
    IdentityHeaders {
        user: HeaderName::from_static("x-portcullis-user"),
        groups: HeaderName::from_static("x-portcullis-groups"),
    }
}

fn cleaned(pairs: &[(&str, &str)], allowed: &[HeaderName], identity: Option<(&str, &str)>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    let names = names();
    let ours = Ours {
        identity: identity.map(|(u, g)| (u.to_owned(), g.to_owned())),
        names: &names,
        allowed_odd_names: allowed,
        client: ClientAddr {
            ip: "198.51.100.7".parse().unwrap(),
            via_trusted_proxy: false,
        },
        peer: "198.51.100.7".parse().unwrap(),
        host: None,
    };
    for_crm(&mut headers, &ours);
    headers
}

#[test]
fn addresses_are_written_as_std_writes_them() {
    for ip in [
        "0.0.0.0",
        "10.0.0.1",
        "127.0.0.1",
        "198.51.100.7",
        "255.255.255.255",
        "2001:db8::1",
        "::1",
    ] {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        assert_eq!(ip_text(ip), ip.to_string());
    }
}

#[test]
fn hop_by_hop_headers_and_those_named_in_connection_are_removed() {
    let mut headers = HeaderMap::new();
    headers.insert("connection", "keep-alive, x-secret".parse().unwrap());
    headers.insert("keep-alive", "timeout=5".parse().unwrap());
    headers.insert("x-secret", "1".parse().unwrap());
    headers.insert("te", "trailers".parse().unwrap());
    headers.insert("accept", "text/html".parse().unwrap());
    remove_hop_by_hop(&mut headers);
    let names: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["accept"]);
}

#[test]
fn a_connection_header_cannot_remove_the_identity_the_gateway_adds() {
    let headers = cleaned(
        &[("connection", "x-portcullis-user, x-portcullis-groups, x-real-ip")],
        &[],
        Some(("alice", "finance")),
    );
    assert_eq!(headers["x-portcullis-user"], "alice");
    assert_eq!(headers["x-portcullis-groups"], "finance");
    assert_eq!(headers["x-real-ip"], "198.51.100.7");
}

#[test]
fn identity_in_any_spelling_a_cgi_server_reads_alike_is_removed() {
    let headers = cleaned(
        &[
            ("x_portcullis_user", "mallory"),
            ("x.portcullis.user", "mallory"),
            ("x-portcullis_groups", "admins"),
            ("X-Portcullis-User", "mallory"),
        ],
        &[],
        None,
    );
    let left: Vec<_> = headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.contains("portcullis"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn every_client_address_identity_and_rewrite_header_is_removed() {
    let forged = [
        "client-ip",
        "true-client-ip",
        "x-client-ip",
        "x-cluster-client-ip",
        "cf-connecting-ip",
        "fastly-client-ip",
        "x-originating-ip",
        "x-remote-ip",
        "x-remote-addr",
        "wl-proxy-client-ip",
        "proxy-client-ip",
        "x-forwarded",
        "forwarded-for",
        "x-original-forwarded-for",
        "x-forwarded-server",
        "x-forwarded-port",
        "remote-user",
        "x-forwarded-user",
        "x-auth-request-email",
        "x-ms-client-principal-name",
        "x-goog-authenticated-user-email",
        "x-amzn-oidc-identity",
        "cf-access-authenticated-user-email",
        "x-forwarded-client-cert",
        "ssl-client-cert",
        "x-arr-clientcert",
        "x-original-url",
        "x-rewrite-url",
        "x-original-uri",
        "x-http-destinationurl",
        "x-host",
        "x_real_ip",
        "client_ip",
    ];
    let pairs: Vec<(&str, &str)> = forged.iter().map(|n| (*n, "10.0.0.1")).collect();
    let headers = cleaned(&pairs, &[HeaderName::from_static("x_real_ip")], None);
    for name in forged {
        let value = headers.get(name).map(|v| v.to_str().unwrap());
        assert!(value.is_none() || value == Some("198.51.100.7"), "{name}: {value:?}");
    }
    assert_eq!(headers["x-forwarded-for"], "198.51.100.7");
}

#[test]
fn ordinary_headers_and_listed_odd_names_pass() {
    let headers = cleaned(
        &[
            ("accept", "text/html"),
            ("x-api_key", "k"),
            ("api_key", "k2"),
            ("x-http-method-override", "DELETE"),
            ("cookie", "crm=1; __Host-portcullis=secret"),
        ],
        &[HeaderName::from_static("api_key")],
        None,
    );
    assert_eq!(headers["accept"], "text/html");
    assert_eq!(headers["api_key"], "k2");
    assert!(headers.get("x-api_key").is_none());
    assert_eq!(headers["x-http-method-override"], "DELETE", "decided on, then passed");
    assert_eq!(headers["cookie"], "crm=1");
}
