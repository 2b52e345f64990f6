//! In-process harnesses of the cargo-fuzz targets (`fuzz/`), kept in the library so that
//! tests run the same code over the seed corpora:
//!
//! 1. [`server`]: the reference server's request handling, raw HTTP in, checked against an
//!    independent reading of the binding ([`oracle`]);
//! 2. [`response`]: the suite's handling of whatever a server sends back;
//! 3. [`differential`]: operation sequences applied to the model and to the reference
//!    server, which must agree.
//!
//! [`corpus`] grows their seed corpora from the scripted cases.

pub mod corpus;
pub mod differential;
pub mod oracle;
pub mod raw;
pub mod response;
pub mod server;
