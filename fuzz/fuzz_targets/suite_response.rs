//! Target 2: arbitrary bytes as a server's answer to one step of the suite's runner. The
//! suite must parse, judge and render it without panicking or unbounded allocation.
#![no_main]

use std::sync::OnceLock;

use edgecheck::profiles::edge_v1::fuzz::harness::response::{fuzz_one, ResponseHarness};
use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<ResponseHarness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let h = HARNESS.get_or_init(|| ResponseHarness::new().expect("the response harness starts"));
    fuzz_one(h, data);
});
