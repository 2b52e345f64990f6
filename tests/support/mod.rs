//! Shared test support.
#![allow(dead_code)]

pub mod audit;
pub mod fake;
pub mod hostile;
pub mod reference;
