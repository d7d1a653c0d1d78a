//! TLS for `-secure`: certificate and key from PEM files, the minimum version and cipher suites
//! chosen with the reference's flag values, via rustls.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use rustls::crypto::ring::{default_provider, ALL_CIPHER_SUITES};
use rustls::SupportedCipherSuite;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}")]
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

/// `-tls-min-version`. rustls has no TLS 1.0/1.1, so asking for them (as the reference allows)
/// gives TLS 1.2 and 1.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMinVersion {
    #[default]
    Tls12,
    Tls13,
}

impl FromStr for TlsMinVersion {
    type Err = TlsError;

    fn from_str(s: &str) -> Result<Self, TlsError> {
        match s {
            "" | "1.0" | "1.1" | "1.2" => Ok(TlsMinVersion::Tls12),
            "1.3" => Ok(TlsMinVersion::Tls13),
            other => Err(TlsError::Version(other.to_string())),
        }
    }
}

/// `-cipher-suites`: the TLS 1.2 suites to offer, by IANA name; empty offers rustls' defaults.
/// TLS 1.3 suites are always offered (they are not configurable in Go either).
#[derive(Debug, Clone, Default)]
pub struct CipherSuites(Vec<SupportedCipherSuite>);

impl FromStr for CipherSuites {
    type Err = TlsError;

    fn from_str(s: &str) -> Result<Self, TlsError> {
        let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
        for name in s.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let suite = ALL_CIPHER_SUITES
                .iter()
                .find(|s| format!("{:?}", s.suite()) == name)
                .ok_or_else(|| TlsError::Cipher(name.to_string()))?;
            chosen.push(*suite);
        }
        Ok(CipherSuites(chosen))
    }
}

pub fn acceptor(
    cert: &Path,
    key: &Path,
    min_version: TlsMinVersion,
    ciphers: &CipherSuites,
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
        TlsMinVersion::Tls12 => &[&rustls::version::TLS12, &rustls::version::TLS13],
        TlsMinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let mut provider = default_provider();
    if !ciphers.0.is_empty() {
        let mut chosen = ciphers.0.clone();
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
