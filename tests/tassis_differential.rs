//! The `tassis-v2` differential harness (cargo-fuzz target `tassis_differential`): the model
//! and the reference server agree on every seed of its corpus, and a seed that walks into a
//! planted bug is a disagreement naming the rule the bug breaks.

use std::path::PathBuf;

use edge_reference_server::tassis_v2::{faults::Fault, TassisConfig};
use edgecheck::profiles::tassis_v2::prop::differential::{decode_input, DifferentialHarness};

fn corpus() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus/tassis_differential");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn seed(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/corpus/tassis_differential")
        .join(format!("{name}.bin"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn harness(faults: Vec<Fault>) -> DifferentialHarness {
    DifferentialHarness::new(TassisConfig {
        faults,
        ..TassisConfig::default()
    })
    .expect("the harness starts")
}

#[test]
fn the_model_and_the_server_agree_on_every_seed() {
    let h = harness(vec![]);
    let files = corpus();
    assert!(files.len() >= 7, "{} seeds", files.len());
    let mut steps = 0;
    for f in files {
        let codes = decode_input(&std::fs::read(&f).unwrap());
        steps += h
            .run(&codes)
            .unwrap_or_else(|d| panic!("{}: {d}", f.display()));
    }
    assert!(steps > 60, "{steps} steps");
}

#[test]
fn a_planted_bug_is_a_disagreement_naming_its_rule() {
    for (fault, name, rule) in [
        (Fault::CumulativeAck, "cumulative-ack", "T-REDELIVER"),
        (Fault::OrderReversed, "stored-order", "T-ORDER"),
        (Fault::PrekeyHandedTwice, "prekeys-twice", "T-PK-ONCE"),
    ] {
        let codes = decode_input(&seed(name));
        let bad = harness(vec![fault]);
        let d = bad.run(&codes).expect_err(name);
        assert!(d.message.starts_with(rule), "{fault}: {d}");
        assert!(!d.steps.is_empty(), "{fault}: no steps");
    }
}
