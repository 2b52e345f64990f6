//! Profile `simplex-v5`: the last REST revision of the simplex messaging protocol (RSA-PSS
//! signed requests, 401 for every value failure, non-destructive paged retrieval, per-message
//! endpoints) and its WebSocket subscription API, as made concrete by
//! `conformance/simplex-v5/binding.md`.

pub mod case;
pub mod cases;
pub mod fuzz;
pub mod jcs;
mod profile;
pub mod prop;
pub mod race;
pub mod runner;
pub mod selftest;
pub mod target;

pub use profile::{
    binding, catalogue, open_target, ws_url, Opened, SimplexSession, SimplexSuite, SimplexV5,
    BINDING_MD, DEFAULT_MAX_WS, EMBEDDED_LARGE_MESSAGE, EMBEDDED_PAGE_SIZE, NAME,
    REQUIREMENTS_JSON, TAKEN_OVER, TAKEN_OVER_HEADING,
};
