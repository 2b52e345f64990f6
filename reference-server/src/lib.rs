//! Reference server for edgecheck's profiles, one module per profile: `edge-v1`, the signed
//! REST protocol (the crate root re-exports it), [`tassis_v2`], the WebSocket + protobuf
//! messaging back end, and [`simplex_v5`], the last REST revision of simplex messaging with
//! its WebSocket API.
//!
//! It implements every server-side rule of the binding (`conformance/edge-v1/binding.md` in
//! the edgecheck repository), and depends on nothing of edgecheck: the six
//! endpoints, RSA-PSS request signatures, strict JSON, literal routing, atomic updates and
//! sends, and forgetting (nothing is kept once removed, nothing about requests is logged).
//! State lives in memory only.
//!
//! ```no_run
//! # async fn demo() -> Result<(), edge_reference_server::StartError> {
//! use edge_reference_server::{start, Config, Tls};
//!
//! let server = start(Config {
//!     listen: "127.0.0.1:0".parse().unwrap(),
//!     tls: Tls::SelfSigned { write_to: None },
//!     ..Config::default()
//! })
//! .await?;
//! println!("create endpoint: {}", server.create_url());
//! let trust_this = server.certificate_pem();
//! server.shutdown().await;
//! # let _ = trust_this;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod bench;
mod body;
pub mod edge_v1;
mod fault_list;
pub mod simplex_v5;
pub mod tassis_v2;
mod tls;

pub use edge_v1::config::{Config, Tls, DEFAULT_CERT_PATH};
#[cfg(feature = "faults")]
pub use edge_v1::faults;
pub use edge_v1::server::{start, Server, StartError};

/// The profiles this server speaks (`edge-server --profile`).
pub const PROFILES: [&str; 3] = [edge_v1::NAME, tassis_v2::NAME, simplex_v5::NAME];
