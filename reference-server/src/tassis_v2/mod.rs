//! Profile `tassis-v2`: the WebSocket + protobuf messaging back end of
//! `conformance/tassis-v2/binding.md` (signed-prekey distribution, sealed-sender store and
//! forward, upload authorizations), served in memory at `ws[s]://host:port/api`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), edge_reference_server::StartError> {
//! use edge_reference_server::tassis_v2::{start, TassisConfig};
//! use edge_reference_server::Tls;
//!
//! let server = start(TassisConfig {
//!     listen: "127.0.0.1:0".parse().unwrap(),
//!     tls: Tls::Plain,
//!     ..TassisConfig::default()
//! })
//! .await?;
//! println!("WebSocket endpoint: {}", server.url()); // ws://127.0.0.1:<port>/api
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

/// The profile's name (`edge-server --profile`).
pub const NAME: &str = "tassis-v2";

pub(crate) mod config;
pub(crate) mod conn;
#[cfg(feature = "faults")]
pub mod faults;
#[cfg(not(feature = "faults"))]
pub(crate) mod faults;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod server;
pub(crate) mod shared;
pub(crate) mod store;
pub mod wire;
pub(crate) mod xeddsa;

pub use config::{parse_duration, TassisConfig, DEFAULT_UPLOAD_BASE};

/// Whether the server accepts `signature` over `login` for `identity_key`, as a login checks
/// it: a 32-byte key without bit 255 (TB-KEY-LEN, TB-KEY-CANON), a 64-byte signature, and
/// XEdDSA verification per TB-SIG. For checking signature vectors against this server.
#[cfg_attr(mutants, mutants::skip)] // for tests of signature vectors, not the login path
pub fn accepts_login_signature(identity_key: &[u8], login: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(sig)) = (
        <[u8; 32]>::try_from(identity_key),
        <[u8; 64]>::try_from(signature),
    ) else {
        return false;
    };
    key[31] & 0x80 == 0 && xeddsa::verify(&key, login, &sig, xeddsa::Lax::default())
}
pub use server::{start, TassisServer, MAX_MESSAGE, PATH};
