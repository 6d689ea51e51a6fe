//! X-Forwarded-For from anyone: never a panic, and a peer that is not a
//! trusted proxy is always the client itself, whatever the header says.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portcullis::proxy::client_ip::resolve;

fuzz_target!(|input: (bool, [u8; 4], Vec<Vec<u8>>)| {
    let (from_proxy, octets, values) = input;
    let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
    let peer = if from_proxy {
        std::net::IpAddr::from([10, octets[1], octets[2], octets[3]])
    } else {
        std::net::IpAddr::from([193, octets[1], octets[2], octets[3]])
    };
    let headers: Vec<http::HeaderValue> = values
        .iter()
        .filter_map(|v| http::HeaderValue::from_bytes(v).ok())
        .collect();
    if let Ok(client) = resolve(peer, headers.iter(), &trusted) {
        if !from_proxy {
            assert_eq!(client.ip, peer, "an untrusted peer named another address");
        }
    }
});
