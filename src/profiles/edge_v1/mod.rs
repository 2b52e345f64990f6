//! Profile `edge-v1`: the signed REST protocol (RSA-PSS per connection, key and URI rotation,
//! forgetting), as made concrete by `conformance/edge-v1/binding.md`.

pub mod case;
pub mod cases;
mod commands;
mod context;
pub mod fuzz;
pub mod model;
mod profile;
pub mod prop;
pub mod race;
pub mod runner;
pub mod selftest;
pub mod sign;
pub mod target;
#[cfg(test)]
mod testkit;
pub mod wire;

pub use context::Context;
pub use profile::{
    catalogue, info, open_context, CaseSession, EdgeV1, BINDING_MD, NAME, REQUIREMENTS_JSON,
};
