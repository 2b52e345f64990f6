//! The profiles: one module per protocol the suite checks.

pub mod edge_v1;
