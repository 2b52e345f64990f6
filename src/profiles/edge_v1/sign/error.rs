//! Errors of the `sign` module.

use std::path::PathBuf;
use std::sync::Arc;

/// Why a key could not be loaded, made or written.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The bytes are not an acceptable PKCS#8 private key.
    #[error("{what}: not a usable PKCS#8 private key ({reason})")]
    KeyRejected {
        /// Which key (file and index, or "key").
        what: String,
        /// The library's reason.
        reason: String,
    },
    /// A PEM file could not be read as PKCS#8 blocks.
    #[error("{what}: {reason}; regenerate the pool with `edgecheck keygen`")]
    Pem {
        /// Which file.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The key size is not one the suite makes.
    #[error("RSA keys of {0} bits are not supported here; use 2048, 3072 or 4096")]
    UnsupportedSize(usize),
    /// Key generation failed inside the crypto library.
    #[error("key generation failed: {0}")]
    Generate(String),
    /// Refusing to overwrite an existing key file.
    #[error("{0} already exists; delete the old pool or choose another directory")]
    Exists(PathBuf),
    /// The pool compiled into the binary cannot be loaded (shared: it is loaded once).
    #[error("built-in key pool: {0}; regenerate the pool with `edgecheck keygen`")]
    BuiltinPool(#[source] Arc<SignError>),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}
