//! Keys and signatures: RSA keys on aws-lc-rs, the fixture key pool, the signing input of
//! B-SIG-INPUT, the `Authorization` and `EM-New-Key-Signature` values, and deliberate faults.

mod error;
mod fault;
mod generate;
mod input;
mod key;
mod pool;

pub use error::SignError;
pub use fault::{signature_token, SigFault};
pub use generate::{write_fixture_pool, PoolCounts};
pub use input::{authorization, signing_input, AUTH_SCHEME, NEW_KEY_HEADER};
pub use key::{Key, Scheme};
pub use pool::{KeyPool, KeyUsage, SpecialKey, UnknownSpecialKey};
