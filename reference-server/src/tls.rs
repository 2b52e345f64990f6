//! TLS with rustls (aws-lc-rs provider): certificates from files or made at startup by rcgen.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::edge_v1::config::Tls;
use crate::edge_v1::server::StartError;

/// Names the self-signed certificate is valid for.
const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A TLS acceptor and what the operator needs to know about its certificate.
pub(crate) struct Setup {
    /// Accepts TLS connections, offering HTTP/2 and HTTP/1.1 by ALPN.
    pub acceptor: TlsAcceptor,
    /// The self-signed certificate, PEM.
    pub certificate_pem: Option<String>,
    /// Where the self-signed certificate was written.
    pub written_to: Option<PathBuf>,
}

/// Builds the acceptor for `tls`, or `None` for plain HTTP.
pub(crate) fn setup(tls: &Tls) -> Result<Option<Setup>, StartError> {
    match tls {
        Tls::Plain => Ok(None),
        Tls::Files { cert, key } => {
            let chain = load_chain(cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| StartError::Tls(format!(
                "cannot read a PEM private key from {}: {e}; pass a PKCS#8, PKCS#1 or SEC1 key file",
                key.display()
            )))?;
            Ok(Some(Setup {
                acceptor: acceptor(chain, key)?,
                certificate_pem: None,
                written_to: None,
            }))
        }
        Tls::SelfSigned { write_to } => {
            let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|&n| n.to_owned()).collect();
            let made = rcgen::generate_simple_self_signed(names).map_err(|e| {
                StartError::Tls(format!("cannot make a self-signed certificate: {e}"))
            })?;
            let pem = made.cert.pem();
            if let Some(path) = write_to {
                std::fs::write(path, &pem).map_err(|source| StartError::Certificate {
                    path: path.clone(),
                    source,
                })?;
            }
            let key =
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
            Ok(Some(Setup {
                acceptor: acceptor(vec![made.cert.der().clone()], key)?,
                certificate_pem: Some(pem),
                written_to: write_to.clone(),
            }))
        }
    }
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, StartError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        StartError::Tls(format!(
            "cannot read PEM certificates from {}: {e}; pass the certificate chain, leaf first",
            path.display()
        ))
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))?;
    if chain.is_empty() {
        return Err(unreadable(&"no CERTIFICATE section found"));
    }
    Ok(chain)
}

fn acceptor(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<TlsAcceptor, StartError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| StartError::Tls(format!(
            "the certificate and key do not fit together: {e}; check that the key belongs to the first certificate"
        )))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
