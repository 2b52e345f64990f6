//! Target 5: `tassis-v2` operation sequences (three bytes per operation, the operations
//! `prop` generates) interpreted by the model and run against the reference server in this
//! process; a disagreement is a crash. With `--features faults`, `TASSIS_FAULTS` names faults
//! to switch on (e.g. `cumulative-ack`).
#![no_main]

use std::sync::OnceLock;

use edgecheck::profiles::tassis_v2::prop::differential::{fuzz_one, DifferentialHarness};
use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<DifferentialHarness> = OnceLock::new();

fn config() -> edge_reference_server::tassis_v2::TassisConfig {
    #[allow(unused_mut)]
    let mut c = edge_reference_server::tassis_v2::TassisConfig::default();
    #[cfg(feature = "faults")]
    {
        c.faults = std::env::var("TASSIS_FAULTS")
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("TASSIS_FAULTS: {e}"))
            })
            .collect();
    }
    c
}

fuzz_target!(|data: &[u8]| {
    let h = HARNESS
        .get_or_init(|| DifferentialHarness::new(config()).expect("the differential harness starts"));
    fuzz_one(h, data);
});
