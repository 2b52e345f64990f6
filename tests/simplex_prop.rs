//! `prop --profile simplex-v5` finds state bugs that need several operations to show (a
//! retrieval that deletes, a second secure that replaces the key, a message deleted twice,
//! URIs that outlive their connection, pushes after unsubscribe), shrinks them, and the case
//! file it writes replays the failure with the profile's own suite; against the correct
//! server it finds nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use edge_reference_server::simplex_v5::faults::Fault;
use edge_reference_server::simplex_v5::{start, SimplexConfig, SimplexServer};
use edge_reference_server::Tls;
use edgecheck::engine::Verdict;
use edgecheck::profiles::simplex_v5::prop::{self, PropOptions, PropReport};
use edgecheck::profiles::simplex_v5::selftest::run_against;
use edgecheck::profiles::simplex_v5::{open_target, SimplexSuite};
use edgecheck::profiles::{TargetOptions, DEFAULT_MAX_BODY, DEFAULT_TIMEOUT};

/// A small page, so that sequences reach `nextMessageID`.
const PAGE_SIZE: usize = 3;
const LARGE_MESSAGE: usize = 4096;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn server(fault: Option<Fault>) -> SimplexServer {
    server_with(&Vec::from_iter(fault)).await
}

async fn server_with(faults: &[Fault]) -> SimplexServer {
    start(SimplexConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        page_size: PAGE_SIZE,
        large_message: LARGE_MESSAGE,
        faults: faults.to_vec(),
        ..SimplexConfig::default()
    })
    .await
    .expect("the reference server starts")
}

fn target(url: &str) -> TargetOptions {
    TargetOptions {
        servers: vec![url.to_string()],
        allow_http: true,
        timeout: DEFAULT_TIMEOUT,
        max_body: DEFAULT_MAX_BODY,
        page_size: Some(PAGE_SIZE as u64),
        large_message: Some(LARGE_MESSAGE as u64),
        ..TargetOptions::default()
    }
}

fn options(dir: &Path, cases: u32, max_steps: usize, duration: Duration) -> PropOptions {
    PropOptions {
        seed: 1,
        cases,
        max_steps,
        duration: Some(duration),
        findings: dir.to_path_buf(),
        jobs: 2,
    }
}

fn prop_against(
    rt: &tokio::runtime::Runtime,
    server: &SimplexServer,
    opts: &PropOptions,
) -> PropReport {
    let opened = rt
        .block_on(open_target(&target(&server.create_url())))
        .expect("the target opens");
    let report = prop::run(&opened.env, opts, rt.handle());
    rt.block_on(opened.close());
    report
}

/// The verdict of the case file at `path` against `url`, run as the profile's suite runs it.
fn replay(rt: &tokio::runtime::Runtime, path: &Path, url: &str) -> (Verdict, String) {
    let suite = SimplexSuite::load(Some(&[path.to_path_buf()])).expect("the finding loads");
    let v = rt
        .block_on(run_against(
            &suite,
            url,
            PAGE_SIZE,
            LARGE_MESSAGE,
            None,
            None,
            1,
        ))
        .expect("the target opens");
    assert_eq!(v.results.len(), 1);
    let r = &v.results[0];
    (r.verdict, r.message.clone())
}

/// prop against a server with `fault` finds one of `rules` broken within ≤ 6 operations,
/// and the written case fails there and passes on the correct server.
fn finds(fault: Fault, rules: &[&str]) {
    let started = Instant::now();
    let rt = runtime();
    let bad = rt.block_on(server(Some(fault)));
    let dir = tempfile::tempdir().unwrap();
    let report = prop_against(
        &rt,
        &bad,
        &options(dir.path(), 2000, 16, Duration::from_secs(20)),
    );
    assert!(report.error.is_none(), "{fault}: {:?}", report.error);
    let f = report.finding.unwrap_or_else(|| {
        panic!(
            "{fault}: no finding in {} sequences\n{}",
            report.sequences,
            report.coverage.render()
        )
    });
    eprintln!(
        "{fault}: {} sequences, shrunk from {} to {} operations ({} steps) in {:.1} s: {}: {}\n{:#?}",
        report.sequences,
        f.original_ops,
        f.shrunk_ops,
        f.case.steps.len(),
        started.elapsed().as_secs_f64(),
        f.broken.rule,
        f.broken.actual,
        f.ops
    );
    assert!(
        rules.contains(&f.broken.rule.as_str()),
        "{fault}: blamed {} ({})",
        f.broken.rule,
        f.broken.actual
    );
    assert!(
        f.shrunk_ops <= 6,
        "{fault}: shrunk to {} operations: {:#?}",
        f.shrunk_ops,
        f.ops
    );
    let path = f.path.expect("the finding is written");
    let (on_bad, msg) = replay(&rt, &path, &bad.create_url());
    assert_eq!(
        on_bad,
        Verdict::Fail,
        "{fault}: the replay did not fail: {msg}"
    );
    assert!(
        msg.starts_with(&f.broken.rule),
        "{fault}: replay blamed {msg}"
    );
    rt.block_on(bad.shutdown());
    let good = rt.block_on(server(None));
    let (on_good, msg) = replay(&rt, &path, &good.create_url());
    assert_eq!(
        on_good,
        Verdict::Pass,
        "{fault}: the replay fails on the correct server: {msg}"
    );
    rt.block_on(good.shutdown());
}

#[test]
fn finds_a_retrieval_that_deletes() {
    finds(Fault::RetrievalDeletes, &["V-RETR-KEEP"]);
}

#[test]
fn finds_a_second_secure_that_replaces_the_key() {
    finds(Fault::SecondSecureReplaces, &["V-SECURE"]);
}

#[test]
fn finds_a_message_deleted_twice() {
    // The fault answers 200 for any ID that is not live, so the shortest sequence deletes an
    // ID never given out (V-RETR-401); a second delete of a deleted message breaks V-DELM.
    finds(Fault::DeleteMessageTwiceOk, &["V-DELM", "V-RETR-401"]);
}

#[test]
fn finds_uris_that_outlive_their_connection() {
    finds(Fault::DeleteLeavesUris, &["V-DEL-AFTER"]);
}

#[test]
fn finds_pushes_after_unsubscribe() {
    // The subscription outlives its unsubscribe: a push after it (V-WS-UNSUB), or, when the
    // session subscribes again, no backlog for the new subscription (VB-WS-BACKLOG).
    finds(
        Fault::PushAfterUnsubscribe,
        &["V-WS-UNSUB", "VB-WS-BACKLOG"],
    );
}

fn clean_run(cases: u32, duration: Duration) -> PropReport {
    let rt = runtime();
    let good = rt.block_on(server(None));
    let dir = tempfile::tempdir().unwrap();
    let report = prop_against(&rt, &good, &options(dir.path(), cases, 24, duration));
    rt.block_on(good.shutdown());
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "correct server: {} sequences, {} operations, {} steps, {} requests in {:.1} s \
         ({:.1} sequences/s, {:.0} requests/s)\n{}",
        report.sequences,
        report.ops,
        report.steps,
        report.requests,
        secs,
        report.sequences as f64 / secs,
        report.requests as f64 / secs,
        report.coverage.render()
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    assert!(
        report.finding.is_none(),
        "a finding on the correct server: {:#?}",
        report
            .finding
            .map(|f| (f.broken, f.ops, f.path, f.case.steps))
    );
    report
}

#[test]
fn the_correct_server_gives_no_finding() {
    let r = clean_run(400, Duration::from_secs(8));
    assert!(r.sequences >= 10, "only {} sequences", r.sequences);
    let (hit, total) = r.coverage.ratio();
    assert!(hit * 4 >= total * 3, "only {hit} of {total} transitions");
}

/// Two minutes against the correct server:
/// `cargo test --release --test simplex_prop -- --ignored --nocapture`.
#[test]
#[ignore]
fn the_correct_server_gives_no_finding_in_two_minutes() {
    let r = clean_run(u32::MAX, Duration::from_secs(120));
    assert!(r.sequences >= 100, "only {} sequences", r.sequences);
}

/// The finding of `prop` against a server with `faults`: its rule and its case's level.
fn finding_with(faults: &[Fault]) -> (String, edgecheck::profiles::simplex_v5::case::Level) {
    let rt = runtime();
    let bad = rt.block_on(server_with(faults));
    let dir = tempfile::tempdir().unwrap();
    let report = prop_against(
        &rt,
        &bad,
        &options(dir.path(), 2000, 16, Duration::from_secs(20)),
    );
    assert!(report.error.is_none(), "{faults:?}: {:?}", report.error);
    let f = report
        .finding
        .unwrap_or_else(|| panic!("{faults:?}: no finding"));
    (f.broken.rule, f.case.level)
}

/// A SHOULD rule missed on every response (no `Content-Type`) is reported as a warning when
/// nothing else is wrong, and does not hide a MUST failure when there is one: the search
/// goes on past the warnings.
#[test]
fn a_warning_does_not_hide_a_must_failure() {
    use edgecheck::profiles::simplex_v5::case::Level;
    assert_eq!(
        finding_with(&[Fault::NoContentType]),
        ("VB-RESP-CT".to_string(), Level::Should)
    );
    let (rule, level) = finding_with(&[Fault::NoContentType, Fault::RetrievalDeletes]);
    assert_eq!(level, Level::Must, "{rule}");
    assert_ne!(rule, "VB-RESP-CT");
}
