//! The catalogue: `conformance/` as data, loaded and checked for completeness and consistency.
//!
//! - [`requirements`]: the rules of a profile's binding (`conformance/<profile>/requirements.json`),
//!   each with its level, origin, quoted source text, testability and ambiguities.

pub mod requirements;
