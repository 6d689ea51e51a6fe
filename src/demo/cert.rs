//! Self-signed certificates for the demo (and the test suite's private CA).

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{CertificateParams, KeyPair, SanType};

/// Reuse `demo.pem`/`demo.key` in `dir`, or make them: a certificate for
/// localhost, 127.0.0.1 and ::1, valid for a year.
pub fn ensure_self_signed(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert_file = dir.join("demo.pem");
    let key_file = dir.join("demo.key");
    if cert_file.exists() && key_file.exists() {
        return Ok((cert_file, key_file));
    }
    let (cert_pem, key_pem) = self_signed(&["localhost"]).context("cannot make a self-signed certificate")?;
    std::fs::write(&cert_file, cert_pem).with_context(|| format!("cannot write {}", cert_file.display()))?;
    crate::auth::write_private(&key_file, &key_pem)?;
    Ok((cert_file, key_file))
}

/// A self-signed certificate for `names` plus the loopback addresses, as PEM
/// (certificate, private key).
pub fn self_signed(names: &[&str]) -> Result<(String, String), rcgen::Error> {
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Portcullis demo");
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}
