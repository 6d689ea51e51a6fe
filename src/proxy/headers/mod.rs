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
mod tests;
