//! TLS trust settings shared by both paths: the system roots plus `ca_cert_pem` (through
//! rustls-platform-verifier, the verifier reqwest itself uses), or no checks at all.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::{ClientError, ClientOptions};

/// The certificates of a PEM bundle.
pub(super) fn parse_ca_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::Ca(e.to_string()))?;
    if certs.is_empty() {
        return Err(ClientError::Ca("no CERTIFICATE block found".into()));
    }
    Ok(certs)
}

/// aws-lc-rs with TLS 1.3's AES-128-GCM-SHA256 offered first, as browsers do: its key
/// schedule hashes with SHA-256, which this machine's CPU computes in hardware, and a new
/// connection costs about a fifth less CPU on both sides than with AES-256-GCM-SHA384
/// (`cargo bench --bench floor`). Every suite of the provider is still offered.
fn provider() -> Arc<CryptoProvider> {
    let mut p = rustls::crypto::aws_lc_rs::default_provider();
    p.cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    Arc::new(p)
}

/// The rustls configuration of the raw path (HTTP/1.1 only).
pub(super) fn raw_config(
    o: &ClientOptions,
    roots: &[CertificateDer<'static>],
) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    config(o, roots, b"http/1.1")
}

/// A rustls configuration that offers one protocol by ALPN.
pub(super) fn config(
    o: &ClientOptions,
    roots: &[CertificateDer<'static>],
    alpn: &[u8],
) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    let provider = provider();
    let setup = |e: rustls::Error| ClientError::Setup(e.to_string());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(setup)?
        .dangerous();
    let verifier: Arc<dyn ServerCertVerifier> = if o.insecure {
        Arc::new(AcceptAnyCertificate(provider))
    } else {
        Arc::new(
            rustls_platform_verifier::Verifier::new_with_extra_roots(
                roots.iter().cloned(),
                provider,
            )
            .map_err(setup)?,
        )
    };
    let mut config = builder
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(Arc::new(config))
}

/// Accepts any certificate (`--insecure`) but still checks the handshake signatures.
/// Hand-written because rustls deliberately ships no such verifier.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_128_gcm_sha256_comes_first_and_every_suite_is_still_offered() {
        let ours: Vec<_> = provider().cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(ours[0], rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        let mut all: Vec<_> = rustls::crypto::aws_lc_rs::default_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        let mut sorted = ours.clone();
        sorted.sort_by_key(|s| u16::from(*s));
        all.sort_by_key(|s| u16::from(*s));
        assert_eq!(sorted, all);
    }
}
