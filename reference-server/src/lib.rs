//! Reference server for the edge-messaging REST binding, profile `edge-v1`.
//!
//! It implements every server-side rule of the binding (`spec/binding.md`): the six
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

mod auth;
pub mod bench;
mod clock;
mod config;
mod encoding;
#[cfg(feature = "faults")]
pub mod faults;
#[cfg(not(feature = "faults"))]
mod faults;
mod handler;
mod json;
mod keys;
mod request;
mod routes;
mod server;
mod store;
mod tls;

pub use config::{Config, Tls, DEFAULT_CERT_PATH};
pub use server::{start, Server, StartError};
