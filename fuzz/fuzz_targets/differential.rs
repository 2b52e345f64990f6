//! Target 3: operation sequences applied to the model and to the reference server in this
//! process; a disagreement is a crash.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::OnceLock;

use edgecheck::profiles::edge_v1::fuzz::harness::differential::{fuzz_one, DifferentialHarness};
use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<DifferentialHarness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let h = HARNESS.get_or_init(|| {
        DifferentialHarness::new(common::config()).expect("the differential harness starts")
    });
    fuzz_one(h, data);
});
