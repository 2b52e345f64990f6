//! Profile `simplex-v5`: the last REST revision of the simplex messaging protocol with its
//! WebSocket API (the `simplex-v5` binding: rules `V-…` and `VB-…`, plus those it takes over
//! from `edge-v1`), served in memory: the REST endpoints under the create endpoint `CE`
//! (default `/connection`), and the WebSocket API on `CE` itself.
//!
//! ```no_run
//! # async fn demo() -> Result<(), edge_reference_server::StartError> {
//! use edge_reference_server::simplex_v5::{start, SimplexConfig};
//! use edge_reference_server::Tls;
//!
//! let server = start(SimplexConfig {
//!     listen: "127.0.0.1:0".parse().unwrap(),
//!     tls: Tls::SelfSigned { write_to: None },
//!     ..SimplexConfig::default()
//! })
//! .await?;
//! println!("create endpoint: {}", server.create_url()); // https://127.0.0.1:<port>/connection
//! println!("WebSocket API: {}", server.ws_url()); // wss://127.0.0.1:<port>/connection
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

/// The profile's name (`edge-server --profile`).
pub const NAME: &str = "simplex-v5";

pub(crate) mod config;
#[cfg(feature = "faults")]
pub mod faults;
#[cfg(not(feature = "faults"))]
pub(crate) mod faults;
pub(crate) mod request;
pub(crate) mod rest;
pub(crate) mod routes;
pub(crate) mod server;
pub(crate) mod store;
pub(crate) mod verify;
pub(crate) mod ws;
pub(crate) mod wsproto;

pub use config::{SimplexConfig, MIN_MAX_WS};
pub use server::{start, SimplexServer};
