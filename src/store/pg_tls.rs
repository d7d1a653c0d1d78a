//! TLS for the PostgreSQL connection (rustls), with libpq's `sslmode` meanings: `prefer` and
//! `require` encrypt without checking the server's certificate (unless `sslrootcert` is given,
//! as libpq does for `require`), `verify-ca` checks the chain, `verify-full` the chain and the
//! host name. `sslcert`/`sslkey` add a client certificate.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::location::{PgTls, SslMode};
use super::StoreError;

/// The connector for `tls`; `None` for `sslmode=disable`.
pub fn connector(tls: &PgTls) -> Result<Option<MakeRustlsConnect>, StoreError> {
    if tls.mode == SslMode::Disable {
        return Ok(None);
    }
    let provider = Arc::new(ring::default_provider());
    let verify = match (tls.mode, &tls.root_cert) {
        (SslMode::VerifyFull, _) => Check::Full,
        (SslMode::VerifyCa, _) | (SslMode::Require, Some(_)) => Check::Chain,
        _ => Check::Nothing,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Check::Nothing => Arc::new(Lenient {
            chain: None,
            provider: provider.clone(),
        }),
        Check::Chain | Check::Full => {
            let roots = Arc::new(roots(tls.root_cert.as_deref())?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| tls_error(format!("certificate verifier: {e}")))?;
            if verify == Check::Full {
                webpki
            } else {
                Arc::new(Lenient {
                    chain: Some(webpki),
                    provider: provider.clone(),
                })
            }
        }
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match &tls.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs = read_certs(cert)?;
            let key_pem = read(key)?;
            let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
                .ok()
                .flatten()
                .ok_or_else(|| tls_error(format!("sslkey {}: no private key", key.display())))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| tls_error(format!("sslcert: {e}")))?
        }
    };
    Ok(Some(MakeRustlsConnect::new(config)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    Full,
}

fn tls_error(why: String) -> StoreError {
    StoreError::Refused(format!("PostgreSQL TLS: {why}"))
}

fn read(path: &Path) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|e| tls_error(format!("reading {}: {e}", path.display())))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let pem = read(path)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(tls_error(format!("{}: no certificate", path.display())));
    }
    Ok(certs)
}

/// The authorities to trust: `sslrootcert`'s, else the system's.
fn roots(root_cert: Option<&Path>) -> Result<RootCertStore, StoreError> {
    let mut store = RootCertStore::empty();
    let certs = match root_cert {
        Some(path) if path != Path::new("system") => read_certs(path)?,
        _ => rustls_native_certs::load_native_certs().certs,
    };
    for cert in certs {
        store
            .add(cert)
            .map_err(|e| tls_error(format!("root certificate: {e}")))?;
    }
    if store.is_empty() {
        return Err(tls_error(
            "no root certificate to verify the server with".into(),
        ));
    }
    Ok(store)
}

/// The server's certificate checked less than `verify-full` does:
/// - `verify-ca` (`chain` set): the chain must lead to a trusted root; the name is not checked;
/// - `prefer`/`require` without a root certificate (`chain` unset): encrypted, not
///   authenticated (libpq's meaning; `verify-full` is the mode to use across networks you do
///   not control).
///
/// Handshake signatures are checked either way (with the provider's algorithms, as the chain
/// verifier does), so the session key belongs to whoever holds the certificate.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
