//! Target 1: raw HTTP requests (with the harness's placeholders) to the reference server in
//! this process. Crashes: no response, a 5xx, or a 2xx for a request the binding refuses.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::OnceLock;

use edgecheck::profiles::edge_v1::fuzz::harness::server::{fuzz_one, ServerHarness};
use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<ServerHarness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let h = HARNESS
        .get_or_init(|| ServerHarness::new(common::config()).expect("the server harness starts"));
    fuzz_one(h, data);
});
