//! Phase 5a: the headers the CRM receives. A CRM believes some headers
//! about who the user is, where they come from and what they asked for, so
//! a client must not be able to write any of them, under any spelling that
//! a server reads as the same name. [`for_crm`] works in this order:
//!
//! 1. hop-by-hop headers go, with every header `Connection` names (first,
//!    so that `Connection: X-Portcullis-User` cannot remove ours later);
//! 2. names with characters other than letters, digits and `-` go, unless
//!    `upstream.allow_header_names` lists them: PHP, IIS and every CGI-style
//!    server read `X_User`, `X.User` and `X-User` as one variable
//!    (`HTTP_X_USER`), as nginx and Apache also know;
//! 3. every header that names a client address (`Client-IP`,
//!    `True-Client-IP`, `X-Forwarded-*`…), an identity or client certificate
//!    that another proxy would vouch for (`Remote-User`,
//!    `X-MS-CLIENT-PRINCIPAL`, `X-Forwarded-Client-Cert`…), another URL
//!    than the one decided (`X-Original-URL`, `X-Rewrite-URL`…), or the
//!    configured identity headers, goes, whatever its spelling;
//! 4. the gateway's own go in: the identity, `X-Forwarded-For/-Proto/-Host`,
//!    `Forwarded` and `X-Real-IP`, with the address the gateway resolved,
//!    and the gateway's cookies come out.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use smallvec::SmallVec;

use super::client_ip::ClientAddr;
use crate::config::IdentityHeaders;

/// What the gateway itself tells the CRM about a request.
pub struct Ours<'a> {
    pub identity: Option<(String, String)>,
    pub names: &'a IdentityHeaders,
    /// Odd names (`_`, `.`) that ops let through.
    pub allowed_odd_names: &'a [HeaderName],
    pub client: ClientAddr,
    /// The TCP peer (a trusted proxy, or the client itself).
    pub peer: std::net::IpAddr,
    /// The Host the client asked for, as checked.
    pub host: Option<&'a HeaderValue>,
}

/// Clean `headers` of everything the CRM could misread, then add ours.
pub fn for_crm(headers: &mut HeaderMap, ours: &Ours<'_>) {
    // The chain a trusted proxy sent, kept before the family below goes.
    let chain = ours.client.via_trusted_proxy.then(|| {
        headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ")
    });
    // One pass over the names: hop-by-hop, named in Connection, or misreadable.
    let listed = connection_listed(headers);
    let doomed: SmallVec<[HeaderName; 4]> = headers
        .keys()
        .filter(|name| is_hop_by_hop(name) || listed.contains(name) || misreadable(name, ours))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
    if let Some((user, groups)) = &ours.identity {
        if let (Ok(user), Ok(groups)) = (HeaderValue::from_str(user), HeaderValue::from_str(groups)) {
            headers.insert(&ours.names.user, user);
            headers.insert(&ours.names.groups, groups);
        }
    }
    set_forwarded(headers, ours, chain.filter(|c| !c.is_empty()));
    strip_our_cookies(headers);
}

/// Standard headers browsers send on every request, none of which a CRM
/// could misread: answered without looking further.
const ORDINARY: [HeaderName; 16] = [
    header::ACCEPT,
    header::ACCEPT_ENCODING,
    header::ACCEPT_LANGUAGE,
    header::USER_AGENT,
    header::REFERER,
    header::COOKIE,
    header::HOST,
    header::CACHE_CONTROL,
    header::PRAGMA,
    header::ORIGIN,
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::UPGRADE_INSECURE_REQUESTS,
    header::AUTHORIZATION,
];

/// Must this header go before the request reaches the CRM?
fn misreadable(name: &HeaderName, ours: &Ours<'_>) -> bool {
    if ORDINARY.contains(name) {
        return false;
    }
    let text = name.as_str();
    let plain = text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !plain && !ours.allowed_odd_names.contains(name) {
        return true;
    }
    // The name as CGI reads it, back in dashes: `x_real_ip` is `x-real-ip`.
    let dashed = match plain {
        true => std::borrow::Cow::Borrowed(text),
        false => std::borrow::Cow::Owned(text.replace(['_', '.'], "-")),
    };
    ours.names.user.as_str() == dashed
        || ours.names.groups.as_str() == dashed
        || PROTECTED_EXACT.contains(&dashed.as_ref())
        || PROTECTED_PARTS.is_match(dashed.as_ref())
}

/// Names that carry, in some server or framework, the client's address,
/// scheme or host, an identity or client certificate vouched for by a
/// proxy, or another URL than the request's.
const PROTECTED_EXACT: &[&str] = &[
    "x-real-ip",
    "remote-user",
    "remote-groups",
    "remote-name",
    "remote-email",
    "x-remote-user",
    "x-webauth-user",
    "x-host",
    "front-end-https",
    "x-url-scheme",
    "x-scheme",
];

/// Parts of names, for families with many members (`x-forwarded-*`,
/// `*-client-ip`, `x-ms-client-principal-*`, `x-original-url`…).
static PROTECTED_PARTS: LazyLock<AhoCorasick> = LazyLock::new(|| {
    // A DFA: the fastest search for a fixed, small set of short patterns.
    AhoCorasick::builder()
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build([
            // Client addresses.
            "forwarded",
            "client-ip",
            "clientip",
            "real-ip",
            "remote-addr",
            "remote-ip",
            "connecting-ip",
            "originating-ip",
            "user-ip",
            "socketip",
            "external-address",
            "pseudo-ipv4",
            "proxyuser",
            // Identities and client certificates vouched for by a proxy.
            "authenticated-user",
            "auth-request-",
            "client-principal",
            "x-ms-token-",
            "iap-jwt",
            "amzn-oidc",
            "cf-access-",
            "pomerium",
            "client-cert",
            "client-verify",
            "client-dn",
            "ssl-client",
            "x-ssl-",
            "x-arr-",
            // Another URL, host or method than the one decided on.
            "x-original-",
            "x-rewrite-",
            "override-url",
            "destinationurl",
            "host-override",
            "original-path",
        ])
        // Fixed, short strings: building the automaton cannot fail.
        .expect("the protected header patterns build")
});

/// Headers that describe one connection, not the message (RFC 9110 7.6.1).
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name)
}

/// The headers a `Connection` header names: they describe this connection.
fn connection_listed(headers: &HeaderMap) -> SmallVec<[HeaderName; 2]> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect()
}

/// Remove the hop-by-hop headers, and those `Connection` names (from a
/// response, say).
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let listed = connection_listed(headers);
    let doomed: SmallVec<[HeaderName; 4]> = headers
        .keys()
        .filter(|name| is_hop_by_hop(name) || listed.contains(name))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Write the forwarding headers from what we know. A trusted proxy's
/// `X-Forwarded-For` chain is kept and the peer appended, as every proxy in
/// a chain does.
fn set_forwarded(headers: &mut HeaderMap, ours: &Ours<'_>, trusted_chain: Option<String>) {
    let client = ip_text(ours.client.ip);
    let chain = match (trusted_chain, ours.client.via_trusted_proxy) {
        (Some(earlier), _) => format!("{earlier}, {}", ip_text(ours.peer.to_canonical())),
        (None, true) => ip_text(ours.peer.to_canonical()),
        // Not through a proxy: the peer is the client.
        (None, false) => client.clone(),
    };
    if let Ok(value) = HeaderValue::from_str(&chain) {
        headers.insert(&X_FORWARDED_FOR, value);
    }
    headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static("https"));
    let mut forwarded = match ours.client.ip {
        std::net::IpAddr::V4(_) => format!("for={client};proto=https"),
        std::net::IpAddr::V6(_) => format!("for=\"[{client}]\";proto=https"),
    };
    if let Ok(value) = HeaderValue::from_str(&client) {
        headers.insert(&X_REAL_IP, value);
    }
    if let Some(host) = ours.host {
        headers.insert(&X_FORWARDED_HOST, host.clone());
        if let Ok(host) = host.to_str() {
            forwarded.push_str(";host=\"");
            forwarded.push_str(host);
            forwarded.push('"');
        }
    }
    if let Ok(value) = HeaderValue::from_str(&forwarded) {
        headers.insert(header::FORWARDED, value);
    }
}

/// An address as text; IPv4 without the formatting machinery (this runs
/// on every request, and `Display` for addresses is slow).
fn ip_text(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut out = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push((b'0' + octet / 100) as char);
                }
                if octet >= 10 {
                    out.push((b'0' + octet / 10 % 10) as char);
                }
                out.push((b'0' + octet % 10) as char);
            }
            out
        }
        v6 => v6.to_string(),
    }
}

/// Remove the gateway's cookies from what the CRM receives.
fn strip_our_cookies(headers: &mut HeaderMap) {
    let ours = |pair: &str| pair.starts_with(crate::portal::cookies::PREFIX);
    let any = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(';').any(|pair| ours(pair.trim())));
    if !any && headers.get_all(header::COOKIE).iter().count() <= 1 {
        return;
    }
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty() && !ours(pair))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(header::COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests {
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
}
