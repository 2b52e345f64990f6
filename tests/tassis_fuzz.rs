//! `edgecheck fuzz --profile tassis-v2` against the reference server: each of the public
//! implementation's three crashes is found from an empty findings folder, its case file
//! fails on the faulty server (TB-ALIVE) and passes on the correct one; a run against the
//! correct server finds nothing.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use edge_reference_server::tassis_v2::{faults::Fault, start, TassisConfig, TassisServer};
use edge_reference_server::Tls;
use edgecheck::engine::Verdict;
use edgecheck::profiles::tassis_v2::fuzz::{campaign, FuzzReport};
use edgecheck::profiles::tassis_v2::selftest::run_against;
use edgecheck::profiles::tassis_v2::{TassisSuite, EMBEDDED_PREKEYS};
use edgecheck::profiles::{FuzzOptions, TargetOptions, DEFAULT_MAX_BODY, DEFAULT_TIMEOUT};

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
    .unwrap()
}

fn target(url: &str) -> TargetOptions {
    TargetOptions {
        servers: vec![url.to_string()],
        allow_http: true,
        timeout: Duration::from_secs(2),
        max_body: DEFAULT_MAX_BODY,
        prekeys_low: Some(EMBEDDED_PREKEYS.0),
        prekeys_interval: Some(EMBEDDED_PREKEYS.1),
        ..TargetOptions::default()
    }
}

/// The embedded server (started by the campaign itself).
fn embedded() -> TargetOptions {
    TargetOptions {
        timeout: DEFAULT_TIMEOUT,
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

/// Fuzz a server with `fault` from an empty findings folder; the finding's case file fails
/// on that fault (TB-ALIVE) and passes on the correct server.
fn finds(fault: Fault, kind: &str) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let s = rt.block_on(server(Some(fault)));
    let t0 = Instant::now();
    let report: FuzzReport = rt
        .block_on(campaign(&target(&s.url()), &options(dir.path(), 60, 1)))
        .unwrap();
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(70), "{fault:?}: {took:?}");
    let f = report.findings.first().unwrap_or_else(|| {
        panic!(
            "{fault:?}: no finding in {} frames ({:?})",
            report.counts.frames, report.errors
        )
    });
    assert_eq!(f.raw.rule, "TB-ALIVE", "{}", f.raw.message);
    assert_eq!(f.raw.kind, kind, "{}", f.raw.message);
    assert!(s.crashed(), "{fault:?}: the server did not crash");
    assert!(report.target_gone);
    eprintln!(
        "{fault:?}: found after {:.1} s, {} frames: {}",
        f.after.as_secs_f64(),
        report.counts.frames,
        f.raw.message
    );
    let path = f.path.clone().expect("the case file is written");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "one file per finding"
    );
    let suite = TassisSuite::load(Some(std::slice::from_ref(&path))).expect("the case file loads");
    rt.block_on(async {
        let bad = server(Some(fault)).await;
        let v = run_against(&suite, &bad.url(), None, 1).await.unwrap();
        assert_eq!(v.results.len(), 1);
        let r = &v.results[0];
        assert_eq!(r.verdict, Verdict::Fail, "{fault:?}: {}", r.message);
        assert_eq!(
            r.failure.as_ref().map(|f| f.rule.as_str()),
            Some("TB-ALIVE"),
            "{}",
            r.message
        );
        let good = server(None).await;
        let v = run_against(&suite, &good.url(), None, 1).await.unwrap();
        assert_eq!(
            v.results[0].verdict,
            Verdict::Pass,
            "{}",
            v.results[0].message
        );
    });
}

#[test]
fn finds_the_crash_on_an_outbound_message_without_to() {
    finds(Fault::CrashOutboundNoTo, "outboundMessage/no-to");
}

#[test]
fn finds_the_crash_on_a_short_signature() {
    finds(Fault::CrashShortSignature, "authResponse/short-signature");
}

#[test]
fn finds_the_crash_on_a_login_without_address() {
    finds(Fault::CrashLoginNoAddress, "authResponse/no-address");
}

/// Fuzz the correct server for `secs` seconds; nothing may be found.
fn clean_run(secs: u64) -> FuzzReport {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let s = rt.block_on(server(None));
    let mut opts = options(dir.path(), secs, 7);
    opts.max_findings = None;
    let report = rt.block_on(campaign(&target(&s.url()), &opts)).unwrap();
    assert!(
        report.findings.is_empty(),
        "{:?}",
        report
            .findings
            .iter()
            .map(|f| &f.raw.message)
            .collect::<Vec<_>>()
    );
    assert!(!s.crashed());
    assert!(report.counts.frames > 100, "{report:?}");
    assert!(report.canary_checks > 0);
    eprintln!(
        "clean run: {} frames ({} hostile) in {:.1} s = {:.0} frames/s, {} liveness checks, \
         {} canary checks, {} suite-side problems",
        report.counts.frames,
        report.counts.hostile,
        report.elapsed.as_secs_f64(),
        report.rate(),
        report.counts.alive_checks,
        report.canary_checks,
        report.errors.len()
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
    let embedded = embedded();
    let mut opts = options(dir.path(), 60, 5);
    opts.max_findings = None;
    opts.jobs = Some(2);
    opts.max_requests = Some(1500);
    let report = rt.block_on(campaign(&embedded, &opts)).unwrap();
    assert_eq!(report.workers, 2);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.counts.frames >= 1500, "{report:?}");
    assert_eq!(report.restarts, 0);
    assert_eq!(std::fs::read_dir(dir.path()).map_or(0, |d| d.count()), 0);
}

#[test]
fn twenty_seconds_on_the_correct_server_find_nothing() {
    clean_run(20);
}

/// `cargo test --release --test tassis_fuzz -- --ignored ten_minutes --nocapture`
#[test]
#[ignore = "ten minutes; run by hand (docs/tassis-v2.md)"]
fn ten_minutes_on_the_correct_server_find_nothing() {
    clean_run(600);
}

/// Frames per second against the embedded server (TLS, restarts included) and the XEdDSA
/// signing rate of one core (docs/BENCHMARKS.md):
/// `cargo test --release --test tassis_fuzz -- --ignored rates --nocapture`
#[test]
#[ignore = "a measurement; run by hand"]
fn rates() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let embedded = embedded();
    let mut opts = options(dir.path(), 20, 3);
    opts.max_findings = None;
    let report = rt.block_on(campaign(&embedded, &opts)).unwrap();
    println!(
        "fuzz against the embedded server: {} frames ({} hostile, {} liveness checks) in {:.1} s \
         = {:.0} frames/s",
        report.counts.frames,
        report.counts.hostile,
        report.counts.alive_checks,
        report.elapsed.as_secs_f64(),
        report.rate()
    );
    let key = edgecheck::profiles::tassis_v2::xeddsa::IdentityKey::generate();
    let msg = [7u8; 100];
    let n = 2000;
    let t = Instant::now();
    for i in 0..n {
        let mut z = [0u8; 64];
        z[0] = i as u8;
        std::hint::black_box(key.sign_xeddsa(&msg, z));
    }
    let per = t.elapsed().as_secs_f64() / n as f64;
    println!(
        "XEdDSA signing on one core: {:.0} signatures/s ({:.1} µs each)",
        1.0 / per,
        per * 1e6
    );
}

/// What the fuzzer blames on each fault of the reference server (`support::audit`): about
/// 4 s per fault,
/// `cargo test --release --test tassis_fuzz -- --ignored what_fuzz_blames --nocapture`.
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
            .block_on(campaign(&target(&s.url()), &o))
            .map_err(|e| e.to_string())?;
        Ok(report
            .findings
            .iter()
            .map(|f| (f.raw.rule.clone(), f.raw.message.clone()))
            .collect())
    });
}

/// An anonymous connection's first operation refused as unauthorized breaks T-ANON, not
/// the rule of the operation's own answer: the canary's anonymous send is blamed on T-ANON.
#[test]
fn an_anonymous_operation_refused_is_blamed_on_t_anon() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let s = rt.block_on(server(Some(Fault::AnonFirstRequestRefused)));
    let mut o = options(dir.path(), 3, 1);
    o.max_findings = Some(4);
    let report = rt
        .block_on(campaign(&target(&s.url()), &o))
        .expect("the campaign runs");
    let rules: Vec<&str> = report
        .findings
        .iter()
        .map(|f| f.raw.rule.as_str())
        .collect();
    assert!(rules.contains(&"T-ANON"), "{rules:?}");
    assert!(!rules.contains(&"T-SEND-ACK"), "{rules:?}");
}
