//! Profile `tassis-v2`: the end-to-end-encrypted key-distribution and store-and-forward
//! server (protobuf frames over WebSockets, XEdDSA logins, Signal prekeys handed out once,
//! acks), as made concrete by `conformance/tassis-v2/binding.md`.

pub mod case;
pub mod cases;
pub mod fuzz;
pub mod keys;
mod profile;
pub mod prop;
pub mod race;
pub mod runner;
pub mod selftest;
pub mod wire;
pub mod xeddsa;

pub use profile::{
    catalogue, open_target, Opened, TassisSession, TassisSuite, TassisV2, BINDING_MD,
    EMBEDDED_PREKEYS, NAME, PROTO, REQUIREMENTS_JSON,
};
