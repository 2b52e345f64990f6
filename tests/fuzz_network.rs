//! `edgecheck fuzz` against the reference server: the correct server gives no finding;
//! servers with a crash on a malformed body, a crash on a path, a crash on large but valid
//! values, a 500 on a body over the limit, a lax body check or damage across connections are
//! caught, and each finding's case file replays the failure on the faulty server and passes
//! on the correct one.

mod support;

use std::time::Duration;

use edgecheck::engine::Verdict;
use edgecheck::profiles::edge_v1::fuzz::{self, FuzzOptions, FuzzReport};
use edgecheck::profiles::edge_v1::runner;
use support::reference::{context, server};

fn options(dir: &std::path::Path, seed: u64) -> FuzzOptions {
    FuzzOptions {
        seed,
        duration: Some(Duration::from_secs(120)),
        max_requests: Some(6000),
        max_findings: Some(1),
        findings: dir.to_path_buf(),
        jobs: Some(4),
        repro: 3,
        canary_every: Duration::from_millis(500),
        ..FuzzOptions::default()
    }
}

fn run(
    faults: &[&str],
    opts: &FuzzOptions,
) -> (
    tokio::runtime::Runtime,
    edge_reference_server::Server,
    FuzzReport,
) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(server(faults));
    let report = rt.block_on(fuzz::campaign(context(&s), opts));
    (rt, s, report)
}

/// Fuzz a server with `fault` until the first finding; check its rule, that it reproduced
/// every time, and that its case file fails on the faulty server and passes on a correct one.
fn finds(fault: &str, rules: &[&str]) -> fuzz::Finding {
    finds_with(fault, rules, |_| {}).0
}

/// [`finds`] with changed options; also returns how long the campaign ran.
fn finds_with(
    fault: &str,
    rules: &[&str],
    tweak: impl FnOnce(&mut FuzzOptions),
) -> (fuzz::Finding, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 1);
    tweak(&mut opts);
    let (rt, bad, report) = run(&[fault], &opts);
    let f = report.findings.first().cloned().unwrap_or_else(|| {
        panic!(
            "{fault}: no finding in {} requests ({:?})",
            report.requests, report.errors
        )
    });
    assert!(
        rules.contains(&f.raw.rule.as_str()),
        "{fault}: {} {}",
        f.raw.rule,
        f.raw.message
    );
    assert!(report.failed(), "{fault}: a MUST finding fails the run");
    assert_eq!(
        (f.reproduced, f.tries),
        (3, 3),
        "{fault}: {}",
        f.raw.message
    );
    let path = f.path.clone().expect("finding written");
    let files = edgecheck::profiles::edge_v1::cases::read(&[&path]).expect("the case file parses");
    let case = &files[0].cases[0];
    let problems = edgecheck::profiles::edge_v1::case::validate(case, &|r| {
        edgecheck::profiles::edge_v1::catalogue().get(r).is_some()
    });
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(case.origin.as_deref(), Some("fuzz"));
    let on_bad = rt.block_on(runner::run_case(&context(&bad), case, "fuzz"));
    assert!(
        matches!(on_bad.verdict, Verdict::Fail | Verdict::Error),
        "{fault}: replay did not fail: {:?} {}",
        on_bad.verdict,
        on_bad.message
    );
    let good = rt.block_on(server(&[]));
    let on_good = rt.block_on(runner::run_case(&context(&good), case, "fuzz"));
    assert_eq!(
        on_good.verdict,
        Verdict::Pass,
        "{fault}: replay fails on the correct server: {}",
        on_good.message
    );
    (f, report.elapsed)
}

/// `fuzz --duration 20s` with a fixed seed finds `fault`, a crash on a request the binding
/// allows, through the valid-extremes mutations.
fn finds_in_twenty_seconds(fault: &str) -> fuzz::Finding {
    let (f, elapsed) = finds_with(fault, &["B-NO-5XX"], |o| {
        o.duration = Some(Duration::from_secs(20));
        o.max_requests = None;
    });
    eprintln!("{fault}: found in {elapsed:.1?} ({})", f.raw.shape);
    assert!(f.raw.shape.contains("/valid/"), "{}", f.raw.shape);
    f
}

#[test]
fn the_correct_server_gives_no_finding() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 3);
    opts.max_requests = Some(2500);
    opts.max_findings = None;
    let (_rt, _s, report) = run(&[], &opts);
    let found: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("{}: {}", f.raw.rule, f.raw.message))
        .collect();
    assert!(found.is_empty(), "{found:#?}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.requests >= 2500, "{} requests", report.requests);
    assert!(
        report.canary_checks >= 2,
        "{} canary checks",
        report.canary_checks
    );
    assert!(!report.failed());
}

/// A campaign ended by `--duration` (the usual end) counts the canary checks it passed.
#[test]
fn a_campaign_ended_by_its_duration_counts_its_canary_checks() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 5);
    opts.duration = Some(Duration::from_secs(3));
    opts.max_requests = None;
    opts.max_findings = None;
    opts.canary_every = Duration::from_millis(200);
    let (_rt, _s, report) = run(&[], &opts);
    assert!(report.findings.is_empty() && report.errors.is_empty());
    assert!(
        report.canary_checks >= 2,
        "{} canary checks in 3 s",
        report.canary_checks
    );
}

#[test]
fn a_crash_on_a_deeply_nested_body_is_found() {
    let f = finds("deep-json-panics", &["B-NO-5XX"]);
    assert!(f.raw.shape.contains("json/deep"), "{}", f.raw.shape);
    assert_eq!(f.raw.answer, "closed", "{}", f.raw.message);
}

#[test]
fn a_crash_on_page_size_zero_is_found() {
    let f = finds("page-size-zero-panics", &["B-NO-5XX"]);
    assert!(f.raw.shape.contains("/json/"), "{}", f.raw.shape);
}

#[test]
fn a_crash_on_a_large_valid_page_size_is_found() {
    let f = finds_in_twenty_seconds("large-page-size-panics");
    assert!(f.raw.shape.contains("/valid/page-size/"), "{}", f.raw.shape);
}

#[test]
fn a_500_on_the_largest_legal_send_is_found() {
    let f = finds_in_twenty_seconds("largest-send-500");
    assert!(f.raw.shape.starts_with("send/valid/"), "{}", f.raw.shape);
}

/// Oversized bodies are drawn at a quarter of their weight (they are dear): a server that
/// fails on them is still found by one within 20 s. (Its 500 on a lying, huge
/// `Content-Length` is found first, so the campaign goes on to further findings.)
#[test]
fn a_500_on_a_body_over_the_limit_is_found_in_twenty_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 1);
    opts.duration = Some(Duration::from_secs(20));
    opts.max_requests = None;
    opts.max_findings = Some(2);
    let (_rt, _bad, report) = run(&["oversize-500"], &opts);
    let shapes: Vec<&str> = report
        .findings
        .iter()
        .map(|f| f.raw.shape.as_str())
        .collect();
    eprintln!("oversize-500: {shapes:?} in {:.1?}", report.elapsed);
    let f = report
        .findings
        .iter()
        .find(|f| f.raw.shape.contains("/size/body/"))
        .unwrap_or_else(|| panic!("no oversized-body finding in {shapes:?}"));
    assert!(
        ["B-NO-5XX", "B-SIZE"].contains(&f.raw.rule.as_str()),
        "{}",
        f.raw.rule
    );
    assert_eq!((f.reproduced, f.tries), (3, 3), "{}", f.raw.message);
}

#[test]
fn a_crash_on_a_nul_in_the_path_is_found() {
    let f = finds("nul-path-panics", &["B-NO-5XX"]);
    assert!(f.raw.shape.contains("%00"), "{}", f.raw.shape);
}

#[test]
fn an_unknown_property_accepted_is_found() {
    let f = finds("unknown-property-accepted", &["S-GEN-400"]);
    assert_eq!(f.raw.answer.len(), 3);
    assert!(f.raw.answer.starts_with('2'), "{}", f.raw.answer);
}

#[test]
fn damage_to_another_connection_is_found_by_the_canary() {
    let f = finds_canary("delete-messages-crosses-connections");
    assert_eq!(f.raw.rule, "B-ISOLATION", "{}", f.raw.message);
    assert!(
        !f.context.is_empty(),
        "the recent requests are kept with a canary finding"
    );
}

/// Canary findings come from another request of the campaign: their case (the canary's
/// own steps) does not reproduce alone, which the reproduction rate says. The damage may
/// also show first in a session's own retrieval, so the canary's need not be the first.
fn finds_canary(fault: &str) -> fuzz::Finding {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 5);
    opts.max_findings = None;
    opts.canary_every = Duration::from_millis(200);
    let (_rt, _bad, report) = run(&[fault], &opts);
    let f = report
        .findings
        .iter()
        .find(|f| f.raw.shape == "canary/check")
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "{fault}: no canary finding in {} requests, {} checks ({:?}): {:?}",
                report.requests,
                report.canary_checks,
                report.errors,
                report
                    .findings
                    .iter()
                    .map(|f| &f.raw.message)
                    .collect::<Vec<_>>()
            )
        });
    assert!(f.path.is_some());
    f
}
