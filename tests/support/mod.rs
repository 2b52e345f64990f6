//! Shared test support.
#![allow(dead_code)]

pub mod fake;
pub mod reference;
