//! TLS termination: rustls with TLS 1.2 and 1.3 only (every suite rustls
//! offers is forward-secret), ALPN h2 and http/1.1, certificates by SNI.
//! Certificates come from the live config, so a reload replaces them for
//! the next handshake.

use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use arc_swap::ArcSwap;

use crate::live::Live;

pub fn server_config(live: Arc<ArcSwap<Live>>) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver(live)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Stateless resumption: returning clients skip the full handshake.
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    Ok(Arc::new(config))
}

/// Picks the certificate for the name the client asked for; clients that ask
/// for no name, or an unknown one, get the default certificate.
struct SniResolver(Arc<ArcSwap<Live>>);

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.load().config.listen.certificates.fmt(f)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let live = self.0.load();
        let config = &live.config;
        let certificates = &config.listen.certificates;
        let by_name = hello
            .server_name()
            .and_then(|name| certificates.by_name.get(&name.to_ascii_lowercase()));
        Some(by_name.unwrap_or(&certificates.default).clone())
    }
}
