//! edgecheck: a conformance test suite and protocol fuzzer for private messaging servers.
//!
//! Each protocol is a profile ([`profiles`]): its catalogue, cases, step runner, embedded
//! reference target and generators. The engine, the reporters and the command line are
//! protocol-neutral. See `docs/architecture.md`.

pub mod catalogue;
pub mod cli;
pub mod client;
pub mod engine;
pub mod profiles;
pub mod report;
pub mod timing;
