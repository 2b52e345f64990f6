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
pub(crate) mod server;
pub(crate) mod shared;
pub(crate) mod store;
pub mod wire;
pub(crate) mod xeddsa;

pub use config::{parse_duration, TassisConfig, DEFAULT_UPLOAD_BASE};
pub use server::{start, TassisServer, MAX_MESSAGE, PATH};
