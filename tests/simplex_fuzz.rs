//! `edgecheck fuzz --profile simplex-v5` against the reference server: each of the two
//! WebSocket session drops (`binary-frame-crash`, `large-message-crash`) is found from an
//! empty findings folder within 60 s, its case file fails on the faulty server and passes
//! on the correct one; 20 s against the correct server find nothing.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use edge_reference_server::simplex_v5::{faults::Fault, start, SimplexConfig, SimplexServer};
use edge_reference_server::Tls;
use edgecheck::engine::Verdict;
use edgecheck::profiles::simplex_v5::fuzz::{campaign, FuzzReport};
use edgecheck::profiles::simplex_v5::selftest::run_against;
use edgecheck::profiles::simplex_v5::{SimplexSuite, EMBEDDED_LARGE_MESSAGE, EMBEDDED_PAGE_SIZE};
use edgecheck::profiles::{FuzzOptions, TargetOptions, DEFAULT_MAX_BODY};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn server(fault: Option<Fault>) -> SimplexServer {
    start(SimplexConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        page_size: EMBEDDED_PAGE_SIZE,
        large_message: EMBEDDED_LARGE_MESSAGE,
        faults: fault.into_iter().collect(),
        ..SimplexConfig::default()
    })
    .await
    .unwrap()
}

fn target(url: &str) -> TargetOptions {
    TargetOptions {
        servers: vec![url.to_string()],
        allow_http: true,
        page_size: Some(EMBEDDED_PAGE_SIZE as u64),
        large_message: Some(EMBEDDED_LARGE_MESSAGE as u64),
        timeout: Duration::from_secs(2),
        max_body: DEFAULT_MAX_BODY,
        ..TargetOptions::default()
    }
}

fn options(dir: &Path, secs: u64, seed: u64) -> FuzzOptions {
    FuzzOptions {
        seed,
        duration: Some(Duration::from_secs(secs)),
        max_findings: Some(1),
        findings: dir.to_path_buf(),
        canary_every: Duration::from_secs(1),
        ..FuzzOptions::default()
    }
}

/// Fuzz a server with `fault`; the first finding breaks `rule` and its case file fails on
/// the faulty server and passes on the correct one.
fn finds(fault: Fault, rule: &str) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let s = rt.block_on(server(Some(fault)));
    let t0 = Instant::now();
    let report: FuzzReport = rt
        .block_on(campaign(
            &target(&s.create_url()),
            &options(dir.path(), 60, 1),
        ))
        .unwrap();
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(65), "{fault:?}: {took:?}");
    let f = report.findings.first().unwrap_or_else(|| {
        panic!(
            "{fault:?}: no finding in {} inputs ({:?})",
            report.counts.hostile, report.errors
        )
    });
    assert_eq!(f.raw.rule, rule, "{}", f.raw.message);
    assert!(f.after < Duration::from_secs(60), "{:?}", f.after);
    assert!(f.tries > 0 && f.reproduced > 0, "{f:?}");
    eprintln!(
        "{fault:?}: found after {:.1} s, {} inputs, reproduced {}/{}: {}",
        f.after.as_secs_f64(),
        report.counts.hostile,
        f.reproduced,
        f.tries,
        f.raw.message
    );
    let path = f.path.clone().expect("the case file is written");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let suite = SimplexSuite::load(Some(std::slice::from_ref(&path))).expect("the case loads");
    rt.block_on(async {
        let bad = server(Some(fault)).await;
        let v = run_against(
            &suite,
            &bad.create_url(),
            EMBEDDED_PAGE_SIZE,
            EMBEDDED_LARGE_MESSAGE,
            None,
            None,
            1,
        )
        .await
        .unwrap();
        let r = &v.results[0];
        assert_eq!(r.verdict, Verdict::Fail, "{fault:?}: {}", r.message);
        let good = server(None).await;
        let v = run_against(
            &suite,
            &good.create_url(),
            EMBEDDED_PAGE_SIZE,
            EMBEDDED_LARGE_MESSAGE,
            None,
            None,
            1,
        )
        .await
        .unwrap();
        assert_eq!(
            v.results[0].verdict,
            Verdict::Pass,
            "{}",
            v.results[0].message
        );
    });
}

#[test]
fn finds_the_session_drop_on_a_binary_message() {
    finds(Fault::BinaryFrameCrash, "V-WS-JSON");
}

#[test]
fn finds_the_session_drop_on_an_oversize_message() {
    finds(Fault::LargeMessageCrash, "VB-WS-LIMIT");
}

/// Fuzz the correct server for `secs` seconds; nothing may be found.
fn clean_run(secs: u64) -> FuzzReport {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let s = rt.block_on(server(None));
    let mut opts = options(dir.path(), secs, 7);
    opts.max_findings = None;
    let report = rt
        .block_on(campaign(&target(&s.create_url()), &opts))
        .unwrap();
    assert!(
        report.findings.is_empty(),
        "{:#?}",
        report
            .findings
            .iter()
            .map(|f| &f.raw.message)
            .collect::<Vec<_>>()
    );
    assert!(report.counts.hostile > 50, "{report:?}");
    assert!(report.canary_checks > 0);
    eprintln!(
        "clean run: {} requests and messages ({} hostile inputs, {} WebSocket) in {:.1} s = \
         {:.0}/s ({:.0} hostile/s), {} liveness checks, {} canary checks, {} suite-side problems {:?}",
        report.counts.requests,
        report.counts.hostile,
        report.counts.ws,
        report.elapsed.as_secs_f64(),
        report.rate(),
        report.hostile_rate(),
        report.counts.alive_checks,
        report.canary_checks,
        report.errors.len(),
        report
            .errors
            .iter()
            .take(3)
            .map(|e| e.chars().take(200).collect::<String>())
            .collect::<Vec<_>>()
    );
    assert_eq!(std::fs::read_dir(dir.path()).map_or(0, |d| d.count()), 0);
    report
}

/// Against the embedded server, two workers fuzz at once, each with a server of its own,
/// and their reports are merged; nothing is found.
#[test]
fn two_workers_each_with_an_embedded_server_find_nothing() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let embedded = TargetOptions {
        timeout: Duration::from_secs(10),
        max_body: DEFAULT_MAX_BODY,
        ..TargetOptions::default()
    };
    let mut opts = options(dir.path(), 60, 5);
    opts.max_findings = None;
    opts.jobs = Some(2);
    opts.max_requests = Some(1500);
    let report = rt.block_on(campaign(&embedded, &opts)).unwrap();
    assert_eq!(report.workers, 2);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.counts.requests >= 1500, "{report:?}");
    assert_eq!(report.restarts, 0);
    assert_eq!(std::fs::read_dir(dir.path()).map_or(0, |d| d.count()), 0);
}

#[test]
fn twenty_seconds_on_the_correct_server_find_nothing() {
    clean_run(20);
}

/// `cargo test --release --test simplex_fuzz -- --ignored ten_minutes --nocapture`
#[test]
#[ignore = "ten minutes; run by hand (docs/simplex-v5.md)"]
fn ten_minutes_on_the_correct_server_find_nothing() {
    clean_run(600);
}

/// What the fuzzer blames on each fault of the reference server (`support::audit`): about
/// 4 s per fault,
/// `cargo test --release --test simplex_fuzz -- --ignored what_fuzz_blames --nocapture`.
#[test]
#[ignore = "an audit of about 4 s per fault; run by hand"]
fn what_fuzz_blames_on_each_fault() {
    let rt = runtime();
    support::audit::blame_audit(Fault::ALL, Fault::name, Fault::rule, |fault, secs| {
        let dir = tempfile::tempdir().unwrap();
        let s = rt.block_on(server(Some(fault)));
        let mut o = options(dir.path(), secs, 1);
        o.max_findings = Some(8);
        let report = rt
            .block_on(campaign(&target(&s.create_url()), &o))
            .map_err(|e| e.to_string())?;
        Ok(report
            .findings
            .iter()
            .map(|f| (f.raw.rule.clone(), f.raw.message.clone()))
            .collect())
    });
}

/// A server that breaks a rule in the canary's own setup (V-OK-BODY: a send answered 200
/// without "OK") gets that rule as a finding, and the sessions still run; before, the
/// campaign stopped as if the target could not be reached.
#[test]
fn a_rule_broken_in_the_canary_setup_is_a_finding_and_fuzzing_goes_on() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let s = rt.block_on(server(Some(Fault::OkBodyMissing)));
    let mut o = options(dir.path(), 3, 1);
    o.max_findings = Some(4);
    let report = rt
        .block_on(campaign(&target(&s.create_url()), &o))
        .expect("the campaign runs");
    let rules: Vec<&str> = report
        .findings
        .iter()
        .map(|f| f.raw.rule.as_str())
        .collect();
    assert!(rules.contains(&"V-OK-BODY"), "{rules:?}");
    assert!(
        rules.iter().all(|r| *r == "V-OK-BODY"),
        "only the rule broken is blamed: {rules:?}"
    );
    assert!(report.sessions > 0, "the sessions ran");
}
