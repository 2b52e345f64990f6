//! `prop` finds state bugs no scripted case targets, shrinks them to a few steps, and the case
//! file it writes replays the failure; against the correct server it finds nothing.

mod support;

use edgecheck::engine::Verdict;
use edgecheck::profiles::edge_v1::prop::{self, PropOptions};
use edgecheck::profiles::edge_v1::runner;
use support::reference::{context, server};

fn options(dir: &std::path::Path, cases: u32) -> PropOptions {
    PropOptions {
        seed: 1,
        cases,
        max_steps: 40,
        duration: None,
        findings: dir.to_path_buf(),
        jobs: 2,
    }
}

/// Run prop against a server with `fault` and check the shrunk finding.
fn finds(fault: &str, rules: &[&str], max_steps: usize) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bad = rt.block_on(server(&[fault]));
    let dir = tempfile::tempdir().unwrap();
    let report = prop::run(
        context(&bad),
        &options(dir.path(), 256),
        rt.handle().clone(),
    );
    let f = report
        .finding
        .unwrap_or_else(|| panic!("{fault}: no finding in {} sequences", report.sequences));
    assert!(
        f.case.steps.len() <= max_steps,
        "{fault}: shrunk to {} steps: {:#?}",
        f.case.steps.len(),
        f.case.steps
    );
    assert!(
        rules.contains(&f.failure.rule.as_str()),
        "{fault}: implicated {}",
        f.failure.rule
    );
    // The written case file replays: it fails on the faulty server and passes on a correct one.
    eprintln!(
        "{fault}: found after {} sequences, shrunk from {} to {} steps: {}",
        report.sequences,
        f.original_steps,
        f.case.steps.len(),
        f.message
    );
    let path = f.path.expect("finding written");
    let files = edgecheck::profiles::edge_v1::cases::read(&[&path]).expect("finding parses");
    let case = &files[0].cases[0];
    let on_bad = rt.block_on(runner::run_case(&context(&bad), case, "prop"));
    assert_eq!(
        on_bad.verdict,
        Verdict::Fail,
        "{fault}: replay did not fail: {}",
        on_bad.message
    );
    let good = rt.block_on(server(&[]));
    let on_good = rt.block_on(runner::run_case(&context(&good), case, "prop"));
    assert_eq!(
        on_good.verdict,
        Verdict::Pass,
        "{fault}: replay fails on the correct server: {}",
        on_good.message
    );
}

#[test]
fn finds_the_third_sender_uri_rotation_reviving_the_first() {
    finds(
        "third-su-rotation-revives-first",
        &["S-SUPD-OLDURI", "S-RUPD-OLDURI", "S-PRIV-NOHIST-KEYS"],
        6,
    );
}

#[test]
fn finds_keep_retrieve_after_delete_messages_resurrecting_messages() {
    finds(
        "keep-after-delete-messages-resurrects",
        &[
            "S-RETR-PAGE",
            "S-RETR-200",
            "S-RETR-NEXT",
            "S-PRIV-NOHIST-MSG",
            "S-RETR-REMOVE",
        ],
        6,
    );
}

/// Long run against the correct server: `cargo test --release --test prop_state_bugs -- --ignored`.
#[test]
#[ignore]
fn correct_server_long_run_finds_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let good = rt.block_on(server(&[]));
    let dir = tempfile::tempdir().unwrap();
    let report = prop::run(
        context(&good),
        &options(dir.path(), 2000),
        rt.handle().clone(),
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    assert!(
        report.finding.is_none(),
        "{:#?}",
        report.finding.map(|f| f.message)
    );
    assert!(report.sequences >= 2000);
}

/// The seed alone fixes the finding: one worker and three find the same shrunk sequence (its
/// case ID is a hash of its steps).
#[test]
fn the_same_seed_finds_the_same_sequence_with_any_number_of_workers() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bad = rt.block_on(server(&["keep-after-delete-messages-resurrects"]));
    let find = |jobs| {
        let dir = tempfile::tempdir().unwrap();
        let opts = PropOptions {
            jobs,
            ..options(dir.path(), 256)
        };
        let report = prop::run(context(&bad), &opts, rt.handle().clone());
        let f = report.finding.expect("a finding");
        (f.case.id, f.original_steps)
    };
    let one = find(1);
    assert_eq!(find(3), one);
}
