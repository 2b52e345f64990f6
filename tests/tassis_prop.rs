//! `prop --profile tassis-v2` finds state bugs of the message store and key distribution that
//! need several operations to show, shrinks them, and the case file it writes replays the
//! failure with the profile's own suite; against the correct server it finds nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use edge_reference_server::tassis_v2::{faults::Fault, start, TassisConfig, TassisServer};
use edge_reference_server::Tls;
use edgecheck::engine::Verdict;
use edgecheck::profiles::tassis_v2::prop::{self, PropOptions, PropReport};
use edgecheck::profiles::tassis_v2::selftest::run_against;
use edgecheck::profiles::tassis_v2::{open_target, TassisSuite, EMBEDDED_PREKEYS};
use edgecheck::profiles::{TargetOptions, DEFAULT_MAX_BODY, DEFAULT_TIMEOUT};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn server(fault: Option<Fault>) -> TassisServer {
    start(TassisConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        prekeys_low: EMBEDDED_PREKEYS.0,
        prekeys_interval: EMBEDDED_PREKEYS.1,
        faults: fault.into_iter().collect(),
        ..TassisConfig::default()
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
        prekeys_low: Some(EMBEDDED_PREKEYS.0),
        prekeys_interval: Some(EMBEDDED_PREKEYS.1),
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
    server: &TassisServer,
    opts: &PropOptions,
) -> PropReport {
    let opened = rt
        .block_on(open_target(&target(&server.url())))
        .expect("the target opens");
    let report = prop::run(&opened.env, opts, rt.handle());
    rt.block_on(opened.close());
    report
}

/// The verdict of the case file at `path` against `url`, run as the profile's suite runs it.
fn replay(rt: &tokio::runtime::Runtime, path: &Path, url: &str) -> (Verdict, String) {
    let suite = TassisSuite::load(Some(&[path.to_path_buf()])).expect("the finding loads");
    let v = rt
        .block_on(run_against(&suite, url, None, 1))
        .expect("the target opens");
    assert_eq!(v.results.len(), 1);
    let r = &v.results[0];
    (r.verdict, r.message.clone())
}

/// prop against a server with `fault` finds `rule` broken within ≤ 8 operations, and the
/// written case fails there and passes on the correct server.
fn finds(fault: Fault, rules: &[&str]) {
    let started = Instant::now();
    let rt = runtime();
    let bad = rt.block_on(server(Some(fault)));
    let dir = tempfile::tempdir().unwrap();
    let report = prop_against(
        &rt,
        &bad,
        &options(dir.path(), 3000, 16, Duration::from_secs(40)),
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
        "{fault}: {} sequences, shrunk from {} to {} operations, {} to {} steps ({} candidates, out of time: {}) in {:.1} s: {}: {}\n{:#?}",
        report.sequences,
        f.original_ops,
        f.shrunk_ops,
        f.minimized.before,
        f.case.steps.len(),
        f.minimized.trials,
        f.minimized.out_of_time,
        started.elapsed().as_secs_f64(),
        f.broken.rule,
        f.broken.actual,
        f.ops
    );
    for (i, step) in f.case.steps.iter().enumerate() {
        eprintln!("  {:>2} {}", i + 1, serde_json::to_string(step).unwrap());
    }
    assert!(
        rules.contains(&f.broken.rule.as_str()),
        "{fault}: blamed {} ({})",
        f.broken.rule,
        f.broken.actual
    );
    assert!(
        f.shrunk_ops <= 8,
        "{fault}: shrunk to {} operations: {:#?}",
        f.shrunk_ops,
        f.ops
    );
    // Steps the failure does not need are dropped (a request and its reply go together),
    // unless minimizing ran out of its time (a slow machine): then it says so.
    assert!(
        f.case.steps.len() <= 14 || f.minimized.out_of_time,
        "{fault}: {} steps left",
        f.case.steps.len()
    );
    let path = f.path.expect("the finding is written");
    let (on_bad, msg) = replay(&rt, &path, &bad.url());
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
    let (on_good, msg) = replay(&rt, &path, &good.url());
    assert_eq!(
        on_good,
        Verdict::Pass,
        "{fault}: the replay fails on the correct server: {msg}"
    );
    rt.block_on(good.shutdown());
}

#[test]
fn finds_a_message_lost_to_a_cumulative_ack() {
    finds(Fault::CumulativeAck, &["T-REDELIVER"]);
}

#[test]
fn finds_stored_messages_delivered_out_of_order() {
    finds(Fault::OrderReversed, &["T-ORDER"]);
}

#[test]
fn finds_a_one_time_prekey_handed_out_twice() {
    finds(Fault::PrekeyHandedTwice, &["T-PK-ONCE"]);
}

fn clean_run(cases: u32, duration: Duration) -> PropReport {
    let rt = runtime();
    let good = rt.block_on(server(None));
    let dir = tempfile::tempdir().unwrap();
    let report = prop_against(&rt, &good, &options(dir.path(), cases, 24, duration));
    rt.block_on(good.shutdown());
    eprintln!(
        "correct server: {} sequences, {} operations, {} steps, {} logins in {:.1} s\n{}",
        report.sequences,
        report.ops,
        report.steps,
        report.logins,
        report.elapsed.as_secs_f64(),
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
    let r = clean_run(150, Duration::from_secs(15));
    assert!(r.sequences >= 10, "only {} sequences", r.sequences);
    let (hit, total) = r.coverage.ratio();
    assert!(hit * 4 >= total * 3, "only {hit} of {total} transitions");
}

/// Ten minutes against the correct server:
/// `cargo test --release --test tassis_prop -- --ignored`.
#[test]
#[ignore]
fn the_correct_server_gives_no_finding_in_ten_minutes() {
    let r = clean_run(u32::MAX, Duration::from_secs(600));
    assert!(r.sequences >= 1000, "only {} sequences", r.sequences);
}
