//! TLS for `-secure`: certificate and key from PEM files, the minimum version and cipher suites
//! chosen with the reference's flag values, via rustls.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring::{default_provider, ALL_CIPHER_SUITES};
use rustls::SupportedCipherSuite;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no private key found")]
    NoKey { path: String },
    #[error("{path}: no certificate found")]
    NoCert { path: String },
    #[error("unsupported -tls-min-version {0:?} (1.2 or 1.3; rustls has no 1.0/1.1)")]
    Version(String),
    #[error("unknown cipher suite {0:?} (see -list-cipher-suites)")]
    Cipher(String),
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The names `-list-cipher-suites` prints and `-cipher-suites` accepts (IANA names).
pub fn cipher_suite_names() -> Vec<String> {
    ALL_CIPHER_SUITES
        .iter()
        .map(|s| format!("{:?}", s.suite()))
        .collect()
}

pub fn acceptor(
    cert: &Path,
    key: &Path,
    min_version: &str,
    ciphers: &str,
) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCert {
            path: cert.display().to_string(),
        });
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .ok()
        .flatten()
        .ok_or_else(|| TlsError::NoKey {
            path: key.display().to_string(),
        })?;
    let versions: &[&'static rustls::SupportedProtocolVersion] = match min_version {
        "" | "1.0" | "1.1" | "1.2" => &[&rustls::version::TLS12, &rustls::version::TLS13],
        "1.3" => &[&rustls::version::TLS13],
        other => return Err(TlsError::Version(other.to_string())),
    };
    let mut provider = default_provider();
    if !ciphers.trim().is_empty() {
        let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
        for name in ciphers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let suite = ALL_CIPHER_SUITES
                .iter()
                .find(|s| format!("{:?}", s.suite()) == name)
                .ok_or_else(|| TlsError::Cipher(name.to_string()))?;
            chosen.push(*suite);
        }
        // TLS 1.3 suites are not configurable in Go either; keep them.
        for s in ALL_CIPHER_SUITES {
            if s.version() == &rustls::version::TLS13 && !chosen.contains(s) {
                chosen.push(*s);
            }
        }
        provider.cipher_suites = chosen;
    }
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
