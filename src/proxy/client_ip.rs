//! Phase 1a, identify: who is the client, by address?
//!
//! The TCP peer is the client, unless the peer is one of `trusted_proxies`.
//! Only then is `X-Forwarded-For` read, from the right, skipping our own
//! trusted hops: the first address not in `trusted_proxies` is the client.
//! Anything a client writes in that header from elsewhere changes nothing.

use std::net::IpAddr;

use http::HeaderValue;
use ipnet::IpNet;

use super::framing::Malformed;

/// The client's address and whether it came through a trusted proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    pub ip: IpAddr,
    /// The TCP peer is one of `trusted_proxies`.
    pub via_trusted_proxy: bool,
}

pub fn resolve<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a HeaderValue>,
    trusted: &[IpNet],
) -> Result<ClientAddr, Malformed> {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Ok(ClientAddr {
            ip: peer,
            via_trusted_proxy: false,
        });
    }
    let mut client = peer;
    // Later headers were appended by later hops: walk them right to left.
    for value in forwarded_for.rev() {
        let text = value.to_str().map_err(|_| Malformed::ForwardedFor)?;
        for entry in text.rsplit(',') {
            // A trusted proxy that sends an address we cannot read leaves the
            // client unknown: refuse rather than guess (fail closed).
            let ip = entry
                .trim()
                .parse::<IpAddr>()
                .map_err(|_| Malformed::ForwardedFor)?
                .to_canonical();
            client = ip;
            if !is_trusted(&ip) {
                return Ok(ClientAddr {
                    ip,
                    via_trusted_proxy: true,
                });
            }
        }
    }
    // Every hop was trusted: the leftmost one is the best we know.
    Ok(ClientAddr {
        ip: client,
        via_trusted_proxy: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn resolve_str(peer: &str, headers: &[&str], trusted: &[&str]) -> Result<ClientAddr, Malformed> {
        let values: Vec<HeaderValue> = headers.iter().map(|h| HeaderValue::from_str(h).unwrap()).collect();
        resolve(peer.parse().unwrap(), values.iter(), &nets(trusted))
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let addr = resolve_str("198.51.100.7", &["193.167.1.70"], &["10.0.0.0/8"]).unwrap();
        assert_eq!(addr.ip.to_string(), "198.51.100.7");
        assert!(!addr.via_trusted_proxy);
    }

    #[test]
    fn a_trusted_proxy_names_the_client_rightmost_untrusted_wins() {
        // The client wrote "1.1.1.1" itself; the proxy appended the real peer.
        let addr = resolve_str("10.0.0.2", &["1.1.1.1, 203.0.113.9"], &["10.0.0.0/8"]).unwrap();
        assert_eq!(addr.ip.to_string(), "203.0.113.9");
        assert!(addr.via_trusted_proxy);
    }

    #[test]
    fn chains_of_trusted_proxies_are_skipped_across_headers() {
        let addr = resolve_str("10.0.0.2", &["203.0.113.9, 10.0.0.7", "10.0.0.8"], &["10.0.0.0/8"]).unwrap();
        assert_eq!(addr.ip.to_string(), "203.0.113.9");
    }

    #[test]
    fn garbage_from_a_trusted_proxy_is_refused_not_guessed() {
        assert_eq!(
            resolve_str("10.0.0.2", &["unknown"], &["10.0.0.0/8"]),
            Err(Malformed::ForwardedFor)
        );
    }

    #[test]
    fn a_trusted_proxy_without_the_header_is_the_client() {
        let addr = resolve_str("10.0.0.2", &[], &["10.0.0.0/8"]).unwrap();
        assert_eq!(addr.ip.to_string(), "10.0.0.2");
    }

    #[test]
    fn ipv4_mapped_peers_are_matched_as_ipv4() {
        let addr = resolve_str("::ffff:198.51.100.7", &[], &[]).unwrap();
        assert_eq!(addr.ip.to_string(), "198.51.100.7");
        let addr = resolve_str("::ffff:10.0.0.2", &["2001:db8::1"], &["10.0.0.0/8"]).unwrap();
        assert_eq!(addr.ip.to_string(), "2001:db8::1");
    }
}
