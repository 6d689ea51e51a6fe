//! Loading PEM certificates and keys for the configuration, with errors that
//! name the YAML path and the file.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::raw::RawTls;
use super::{Certificates, Problem};

pub(super) fn load_certificates(raw: &RawTls, base: &Path) -> Result<Certificates, Vec<Problem>> {
    let mut problems = Vec::new();
    let default = load_pair(&raw.cert, &raw.key, base, "listen.tls", &mut problems);
    let mut by_name = HashMap::new();
    for (name, pair) in &raw.sni {
        let path = format!("listen.tls.sni.{name}");
        if name.is_empty() || name.contains(['/', ':', ' ']) {
            problems.push(Problem {
                path: path.clone(),
                message: "is not a server name; write it like crm.example.com".into(),
            });
        }
        if let Some(key) = load_pair(&pair.cert, &pair.key, base, &path, &mut problems) {
            by_name.insert(name.to_ascii_lowercase(), key);
        }
    }
    match default {
        Some(default) if problems.is_empty() => Ok(Certificates { default, by_name }),
        _ => Err(problems),
    }
}

fn load_pair(cert: &str, key: &str, base: &Path, path: &str, problems: &mut Vec<Problem>) -> Option<Arc<CertifiedKey>> {
    let mut fail = |field: &str, message: String| {
        problems.push(Problem {
            path: format!("{path}.{field}"),
            message,
        });
    };
    let cert_file = base.join(cert);
    let chain: Vec<CertificateDer<'static>> =
        match CertificateDer::pem_file_iter(&cert_file).and_then(|certs| certs.collect::<Result<Vec<_>, _>>()) {
            Ok(chain) if !chain.is_empty() => chain,
            Ok(_) => {
                fail("cert", format!("{} holds no PEM certificate", cert_file.display()));
                return None;
            }
            Err(err) => {
                fail("cert", format!("cannot read {}: {err}", cert_file.display()));
                return None;
            }
        };
    let key_file = base.join(key);
    let der = match PrivateKeyDer::from_pem_file(&key_file) {
        Ok(der) => der,
        Err(err) => {
            fail(
                "key",
                format!("cannot read a PEM private key from {}: {err}", key_file.display()),
            );
            return None;
        }
    };
    let signing_key = match rustls::crypto::ring::sign::any_supported_type(&der) {
        Ok(key) => key,
        Err(err) => {
            fail("key", format!("{} is not a usable key: {err}", key_file.display()));
            return None;
        }
    };
    let certified = CertifiedKey::new(chain, signing_key);
    if let Err(err) = certified.keys_match() {
        fail(
            "key",
            format!(
                "{} does not belong to the certificate in {}: {err}",
                key_file.display(),
                cert_file.display()
            ),
        );
        return None;
    }
    Some(Arc::new(certified))
}

pub(super) fn load_ca_file(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(file)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|err| format!("cannot read {}: {err}", file.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", file.display()));
    }
    Ok(certs)
}
