//! Profile `tassis-v2`: protobuf frames over WebSockets, XEdDSA logins
//! (`conformance/tassis-v2/binding.md`).

pub mod keys;
pub mod xeddsa;
