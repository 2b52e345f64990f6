//! edgecheck: a conformance test suite and protocol fuzzer for edge-messaging servers
//! (REST binding, profile `edge-v1`).
//!
//! Data flows from the catalogue (`conformance/`) through a plan, the engine and its client,
//! into check results that reporters render. See `docs/architecture.md`.

pub mod case;
pub mod catalogue;
pub mod cli;
pub mod client;
pub mod engine;
pub mod fuzz;
pub mod model;
pub mod prop;
pub mod race;
pub mod report;
pub mod selftest;
pub mod sign;
pub mod target;
pub mod wire;
