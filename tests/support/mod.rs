//! Shared test support.
#![allow(dead_code)]

pub mod fake;
pub mod hostile;
pub mod reference;
