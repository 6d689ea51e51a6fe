//! The names the gateway answers to (`listen.hosts`, by default every name
//! and address its certificates are for). A request for any other host is
//! refused with 421 before anything else happens: client types may be
//! chosen by host, and a CRM may build links or pick a tenant from it, so a
//! client must not be able to name a host the gateway does not serve.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::net::IpAddr;

use super::{Certificates, Found};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedNames {
    /// Lower-case names and addresses (IPv6 without brackets). Ordered: a
    /// lookup is a few comparisons, cheaper than hashing on every request.
    exact: BTreeSet<String>,
    /// For `*.crm.example`: `.crm.example` (a wildcard covers one label).
    wildcard_suffixes: Vec<String>,
}

impl ServedNames {
    /// The names listed in `listen.hosts`.
    pub(crate) fn listed(names: &[String], found: &mut Found) -> Option<ServedNames> {
        let mut served = ServedNames::default_empty();
        let before = found.0.len();
        for (i, name) in names.iter().enumerate() {
            let path = format!("listen.hosts[{i}]");
            let lower = name.trim().to_ascii_lowercase();
            if let Some(parent) = lower.strip_prefix("*.") {
                match canonical(parent) {
                    Some(parent) if !parent.contains(':') && parent.contains('.') => {
                        served.wildcard_suffixes.push(format!(".{parent}"))
                    }
                    _ => found.add(
                        &path,
                        format!("{name:?} is not a wildcard name; write it like *.crm.example.com"),
                    ),
                }
                continue;
            }
            if let Ok(ip) = lower.parse::<IpAddr>() {
                served.exact.insert(ip.to_string());
                continue;
            }
            match canonical(&lower) {
                Some(host) if host == lower => {
                    served.exact.insert(lower);
                }
                _ => found.add(
                    &path,
                    format!("{name:?} is not a host name or address; write it like crm.example.com (no port)"),
                ),
            }
        }
        if names.is_empty() {
            found.add(
                "listen.hosts",
                "name at least one host, or remove it to serve the certificates' names",
            );
        }
        (found.0.len() == before).then_some(served)
    }

    /// Every DNS name and address in the certificates, and the SNI names.
    pub(super) fn of_certificates(certificates: &Certificates) -> ServedNames {
        let mut served = ServedNames::default_empty();
        let keys = std::iter::once(&certificates.default).chain(certificates.by_name.values());
        for key in keys {
            let Some(leaf) = key.cert.first() else { continue };
            let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf) else {
                continue;
            };
            let Ok(Some(names)) = cert.subject_alternative_name() else {
                continue;
            };
            for name in &names.value.general_names {
                match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => {
                        match dns.to_ascii_lowercase().strip_prefix("*.") {
                            Some(parent) => served.wildcard_suffixes.push(format!(".{parent}")),
                            None => {
                                served.exact.insert(dns.to_ascii_lowercase());
                            }
                        }
                    }
                    x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                        let ip = match bytes.len() {
                            4 => <[u8; 4]>::try_from(*bytes).map(IpAddr::from).ok(),
                            16 => <[u8; 16]>::try_from(*bytes).map(IpAddr::from).ok(),
                            _ => None,
                        };
                        if let Some(ip) = ip {
                            served.exact.insert(ip.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        served.exact.extend(certificates.by_name.keys().cloned());
        served
    }

    fn default_empty() -> ServedNames {
        ServedNames {
            exact: BTreeSet::new(),
            wildcard_suffixes: Vec::new(),
        }
    }

    /// Does the gateway answer to `host` (as [`canonical`] gives it)?
    pub fn serves(&self, host: &str) -> bool {
        self.exact.contains(host)
            || self.wildcard_suffixes.iter().any(|suffix| {
                host.strip_suffix(suffix.as_str())
                    .is_some_and(|label| !label.is_empty() && !label.contains('.'))
            })
    }

    /// Is any of them a name rather than an address? Passkeys need one.
    pub fn has_a_name(&self) -> bool {
        !self.wildcard_suffixes.is_empty() || self.exact.iter().any(|h| h.parse::<IpAddr>().is_err())
    }

    /// The names, sorted, for messages and start-up summaries.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.exact.iter().cloned().collect();
        names.extend(self.wildcard_suffixes.iter().map(|s| format!("*{s}")));
        names
    }
}

/// A `Host` value (or an authority) as a name to compare: lower case,
/// without its port, an IPv6 address without brackets. `None` for anything
/// that is not a plain host name or address (a trailing dot included: it
/// names the same host to DNS but not to the rules).
pub fn canonical(authority: &str) -> Option<Cow<'_, str>> {
    let host = match authority.strip_prefix('[') {
        Some(rest) => {
            let (v6, after) = rest.split_once(']')?;
            port_ok(after)?;
            v6.parse::<std::net::Ipv6Addr>().ok()?;
            v6
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => {
                port_ok(&format!(":{port}"))?;
                host
            }
            None => authority,
        },
    };
    let name_like = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b':');
    if host.is_empty() || host.ends_with('.') || host.starts_with('.') || host.contains("..") || !name_like {
        return None;
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some(Cow::Owned(host.to_ascii_lowercase()));
    }
    Some(Cow::Borrowed(host))
}

fn port_ok(after: &str) -> Option<()> {
    match after.strip_prefix(':') {
        None if after.is_empty() => Some(()),
        Some(port) if !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) => Some(()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(names: &[&str]) -> Result<ServedNames, Vec<String>> {
        let mut found = Found::default();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        ServedNames::listed(&names, &mut found).ok_or_else(|| found.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn hosts_are_compared_without_port_or_case() {
        assert_eq!(canonical("CRM.Example.com:8443").unwrap(), "crm.example.com");
        assert_eq!(canonical("[::1]:8443").unwrap(), "::1");
        assert_eq!(canonical("127.0.0.1").unwrap(), "127.0.0.1");
        for bad in [
            "crm.example.com.",
            "",
            ":443",
            "crm.example.com:x",
            "a b",
            "crm..example",
            "[::1",
            "evil/x",
        ] {
            assert_eq!(canonical(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_listed_names_are_served_and_a_wildcard_covers_one_label() {
        let served = listed(&["crm.example.com", "*.apps.example.com", "10.0.0.5"]).unwrap();
        assert!(served.serves("crm.example.com"));
        assert!(served.serves("mobile.apps.example.com"));
        assert!(!served.serves("a.b.apps.example.com"));
        assert!(!served.serves("apps.example.com"));
        assert!(served.serves("10.0.0.5"));
        assert!(!served.serves("evil.example"));
    }

    #[test]
    fn listed_names_must_be_names() {
        let errors = listed(&["crm.example.com:443", "*.", "a b"]).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("listen.hosts[0]"), "{errors:?}");
        assert!(listed(&[]).is_err());
    }
}
