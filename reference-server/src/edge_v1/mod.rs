//! Profile `edge-v1`: the signed REST protocol, its endpoints, signatures, store and faults.

/// The profile's name (`edge-server --profile`).
pub const NAME: &str = "edge-v1";

pub(crate) mod auth;
pub(crate) mod clock;
pub(crate) mod config;
pub(crate) mod conns;
pub(crate) mod encoding;
#[cfg(feature = "faults")]
pub mod faults;
#[cfg(not(feature = "faults"))]
pub(crate) mod faults;
pub(crate) mod handler;
pub(crate) mod json;
pub(crate) mod keys;
pub(crate) mod request;
pub(crate) mod routes;
pub(crate) mod server;
pub(crate) mod store;
