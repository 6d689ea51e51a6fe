//! The PROXY protocol (v1 text, v2 binary) that load balancers in TCP mode
//! (AWS NLB, HAProxy, Kubernetes ingresses) put before a connection to say
//! who the client is. Parsed with the `ppp` crate.
//!
//! Only connections from `listen.proxy_protocol` are read this way, and
//! from those a header is required: a missing or malformed one closes the
//! connection. Anyone else's connection is TLS from its first byte, so a
//! header from them fails the handshake and closes it too.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ppp::v2;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// `\r\n\r\n\0\r\nQUIT\n`: how every v2 header starts.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// A v1 header is at most 107 bytes, CRLF included.
const V1_MAX: usize = 107;
/// v2 headers carry addresses and optional TLVs; more than this is not a
/// load balancer talking.
const V2_MAX: usize = 16 + 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("no PROXY protocol header from a listed load balancer")]
    Missing,
    #[error("a malformed PROXY protocol header: {0}")]
    Malformed(String),
    #[error("no PROXY protocol header within the header-read timeout")]
    TimedOut,
}

/// Read the header at the start of `tcp` (and nothing after it); the client
/// address it names, or `peer` itself for a load balancer's own check
/// (v1 `UNKNOWN`, v2 `LOCAL`).
pub async fn read(tcp: &mut TcpStream, peer: SocketAddr, timeout: Duration) -> Result<SocketAddr, Refused> {
    tokio::time::timeout(timeout, read_header(tcp, peer))
        .await
        .map_err(|_| Refused::TimedOut)?
}

async fn read_header(tcp: &mut TcpStream, peer: SocketAddr) -> Result<SocketAddr, Refused> {
    let start = peek_at_least(tcp, 16).await?;
    let length = if start.starts_with(b"PROXY ") {
        let head = peek_until_crlf(tcp).await?;
        head.len()
    } else if start.starts_with(&V2_SIGNATURE) {
        16 + usize::from(u16::from_be_bytes([start[14], start[15]]))
    } else {
        return Err(Refused::Missing);
    };
    if length > V2_MAX {
        return Err(Refused::Malformed(format!("{length} bytes long")));
    }
    let mut header = vec![0; length];
    tcp.read_exact(&mut header)
        .await
        .map_err(|e| Refused::Malformed(e.to_string()))?;
    client_address(&header, peer)
}

/// The client's address in a whole header.
pub fn client_address(header: &[u8], peer: SocketAddr) -> Result<SocketAddr, Refused> {
    let malformed = |e: &dyn std::fmt::Display| Refused::Malformed(e.to_string());
    if header.starts_with(b"PROXY ") {
        let text = std::str::from_utf8(header).map_err(|e| malformed(&e))?;
        let parsed = ppp::v1::Header::try_from(text).map_err(|e| malformed(&e))?;
        return Ok(match parsed.addresses {
            ppp::v1::Addresses::Tcp4(a) => SocketAddr::new(IpAddr::V4(a.source_address), a.source_port),
            ppp::v1::Addresses::Tcp6(a) => SocketAddr::new(IpAddr::V6(a.source_address), a.source_port),
            ppp::v1::Addresses::Unknown => peer,
        });
    }
    let parsed = v2::Header::try_from(header).map_err(|e| malformed(&e))?;
    if parsed.command == v2::Command::Local {
        return Ok(peer);
    }
    match parsed.addresses {
        v2::Addresses::IPv4(a) => Ok(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port)),
        v2::Addresses::IPv6(a) => Ok(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port)),
        other => Err(Refused::Malformed(format!("no client IP address in it ({other:?})"))),
    }
}

/// Peek until at least `n` bytes are waiting (a v1 header can be shorter
/// than 16 only if it is malformed).
async fn peek_at_least(tcp: &TcpStream, n: usize) -> Result<Vec<u8>, Refused> {
    let mut buf = vec![0; n];
    loop {
        let got = tcp
            .peek(&mut buf)
            .await
            .map_err(|e| Refused::Malformed(e.to_string()))?;
        if got == 0 {
            return Err(Refused::Missing);
        }
        if got >= n || (buf.starts_with(b"PROXY ") && buf[..got].ends_with(b"\r\n")) {
            buf.truncate(got);
            return Ok(buf);
        }
        if !(V2_SIGNATURE.starts_with(&buf[..got.min(12)]) || b"PROXY ".starts_with(&buf[..got.min(6)])) {
            return Err(Refused::Missing);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A v1 header, CRLF included, still unread.
async fn peek_until_crlf(tcp: &TcpStream) -> Result<Vec<u8>, Refused> {
    let mut buf = vec![0; V1_MAX];
    loop {
        let got = tcp
            .peek(&mut buf)
            .await
            .map_err(|e| Refused::Malformed(e.to_string()))?;
        if let Some(end) = buf[..got].windows(2).position(|w| w == b"\r\n") {
            buf.truncate(end + 2);
            return Ok(buf);
        }
        if got == 0 || got >= V1_MAX {
            return Err(Refused::Malformed("a v1 header without its line end".into()));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "10.0.0.2:51000".parse().unwrap()
    }

    #[test]
    fn v1_names_the_client() {
        let header = b"PROXY TCP4 203.0.113.7 10.0.0.9 40000 443\r\n";
        assert_eq!(client_address(header, peer()), Ok("203.0.113.7:40000".parse().unwrap()));
        let header = b"PROXY TCP6 2001:db8::7 2001:db8::9 40000 443\r\n";
        assert_eq!(
            client_address(header, peer()),
            Ok("[2001:db8::7]:40000".parse().unwrap())
        );
        assert_eq!(client_address(b"PROXY UNKNOWN\r\n", peer()), Ok(peer()));
    }

    #[test]
    fn v2_names_the_client_and_local_is_the_balancer_itself() {
        let header = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Proxy,
            v2::Protocol::Stream,
            (
                "203.0.113.7:40000".parse::<SocketAddr>().unwrap(),
                "10.0.0.9:443".parse::<SocketAddr>().unwrap(),
            ),
        )
        .build()
        .unwrap();
        assert_eq!(
            client_address(&header, peer()),
            Ok("203.0.113.7:40000".parse().unwrap())
        );
        let local = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Local,
            v2::Protocol::Unspecified,
            v2::Addresses::Unspecified,
        )
        .build()
        .unwrap();
        assert_eq!(client_address(&local, peer()), Ok(peer()));
    }

    #[test]
    fn malformed_headers_are_refused() {
        for header in [
            &b"PROXY TCP4 203.0.113.7\r\n"[..],
            b"PROXY TCP4 999.0.0.1 10.0.0.9 1 2\r\n",
        ] {
            assert!(
                matches!(client_address(header, peer()), Err(Refused::Malformed(_))),
                "{header:?}"
            );
        }
    }
}
