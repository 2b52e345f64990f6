//! The suite against servers that attack its memory and time (tests/support/hostile.rs):
//! retained exchanges keep a bounded head of each body with its true length, endless bodies
//! end with a `truncated` mark, megabyte URIs are refused with an error verdict, `fuzz
//! --duration` holds against silence, and a silent server stops `run` with exit code 3.

mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use edgecheck::client::{BodyStop, RETAINED_BODY};
use edgecheck::engine::{self, CheckResult, Plan, RunSettings, Selection, Verdict};
use edgecheck::profiles::{self, TargetOptions};
use support::hostile::{Hostile, Mode, BIG_BODY};

/// Runs the checks matching `only` against `h` through the library; the results.
fn run_checks(h: &Hostile, only: &[&str], timeout: Duration) -> Vec<CheckResult> {
    let rt = engine::runtime(2);
    rt.block_on(async {
        let profile = profiles::find("edge-v1").unwrap();
        let suite = profile.suite(None).unwrap();
        let plan = Plan::build(
            suite.checks(),
            &Selection {
                only: only.iter().map(|s| s.to_string()).collect(),
                ..Selection::default()
            },
        )
        .unwrap();
        assert!(!plan.checks.is_empty());
        let target = TargetOptions {
            servers: vec![h.ce()],
            allow_http: true,
            timeout,
            max_body: 4 << 20,
            ..TargetOptions::default()
        };
        let opened = suite.open(&target).await.unwrap();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let run = engine::run_plan(opened.session(), &plan, RunSettings::new(2), tx).await;
        opened.close().await;
        run.results
    })
}

fn edgecheck(args: &[&str]) -> (Output, Duration) {
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_edgecheck"))
        .args(args)
        .output()
        .unwrap();
    (out, t0.elapsed())
}

#[test]
fn big_bodies_are_kept_as_bounded_heads_with_their_true_length() {
    let h = Hostile::start(Mode::BigBodies);
    let results = run_checks(&h, &["create/*"], Duration::from_secs(5));
    let mut seen = 0;
    for r in &results {
        assert_ne!(r.verdict, Verdict::Pass, "{}", r.id);
        for ex in &r.exchanges {
            let resp = ex.response.as_ref().expect("8 MiB bodies are answers");
            assert!(
                resp.body.len() <= RETAINED_BODY,
                "{}: {}",
                r.id,
                resp.body.len()
            );
            assert_eq!(resp.body_len, BIG_BODY as u64, "{}", r.id);
            assert!(resp.truncated);
            assert_eq!(resp.body_stop, None);
            seen += 1;
        }
    }
    assert!(seen > 0);
    // A create answer over --max-body cannot be judged: an error that says why.
    let created = results.iter().find(|r| r.id == "create/created").unwrap();
    assert_eq!(created.verdict, Verdict::Error, "{}", created.message);
    assert!(
        created.message.contains("8388608 bytes"),
        "{}",
        created.message
    );
}

#[test]
fn an_endless_chunked_body_ends_at_the_byte_limit_or_the_timeout() {
    let h = Hostile::start(Mode::EndlessChunked);
    let t0 = Instant::now();
    let results = run_checks(&h, &["create/created"], Duration::from_secs(3));
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    let r = &results[0];
    assert_eq!(r.verdict, Verdict::Error, "{}", r.message);
    let resp = r.exchanges[0].response.as_ref().unwrap();
    assert!(resp.truncated);
    assert!(resp.body.len() <= RETAINED_BODY);
    assert!(resp.body_stop.is_some());
    if resp.body_stop == Some(BodyStop::Limit) {
        assert_eq!(resp.body_len, edgecheck::client::DEFAULT_BODY_LIMIT);
    }
}

#[test]
fn megabyte_uris_are_not_followed_and_are_an_error() {
    let h = Hostile::start(Mode::LongUris);
    let results = run_checks(&h, &["create/created"], Duration::from_secs(5));
    let r = &results[0];
    assert_eq!(r.verdict, Verdict::Error, "{}", r.message);
    assert!(
        r.message.contains("longer than the suite follows"),
        "{}",
        r.message
    );
    assert!(r.message.len() < 1000);
    // Only the pre-flight request and the create were sent: the URI was not requested.
    assert_eq!(h.requests.load(std::sync::atomic::Ordering::SeqCst), 2);
    for ex in &r.exchanges {
        assert!(ex.request.url.as_str().len() < 1000);
        let resp = ex.response.as_ref().unwrap();
        assert!(resp.body.len() <= RETAINED_BODY);
        assert!(resp.body_len > 2 * support::hostile::LONG_URI as u64);
    }
}

#[test]
fn a_silent_server_stops_run_with_exit_3() {
    // It answers the pre-flight request, then nothing (a server that never answers at all is
    // refused by the pre-flight: tests/preflight.rs).
    let h = Hostile::start(Mode::SilentAfter(1));
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let ce = h.ce();
    let (out, took) = edgecheck(&[
        "run",
        "-q",
        "--server",
        &ce,
        "--allow-http",
        "--timeout",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(err.contains("target stopped answering"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let checks = v["checks"].as_array().unwrap();
    let all = edgecheck::profiles::default_profile()
        .suite(None)
        .unwrap()
        .checks()
        .len();
    assert_eq!(checks.len(), all, "every check is reported");
    // Nothing is blamed on the server: no fail, no warn, no pass.
    for c in checks {
        let v = c["verdict"].as_str().unwrap();
        assert!(
            matches!(v, "error" | "skip" | "waived"),
            "{}: {v} {}",
            c["id"],
            c["message"]
        );
    }
    assert!(checks.iter().any(|c| c["message"]
        .as_str()
        .unwrap()
        .contains("target stopped answering")));
}

#[test]
fn a_server_that_goes_silent_after_answering_stops_run_too() {
    let h = Hostile::start(Mode::SilentAfter(20));
    let ce = h.ce();
    let (out, took) = edgecheck(&[
        "run",
        "-q",
        "--server",
        &ce,
        "--allow-http",
        "--timeout",
        "1",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(h.requests.load(std::sync::atomic::Ordering::SeqCst) >= 20);
}

#[test]
fn fuzz_duration_holds_against_silence() {
    let h = Hostile::start(Mode::Silent);
    let dir = tempfile::tempdir().unwrap();
    let ce = h.ce();
    let (out, took) = edgecheck(&[
        "fuzz",
        "--server",
        &ce,
        "--allow-http",
        "--timeout",
        "1",
        "--duration",
        "5s",
        "--findings",
        dir.path().to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    // 5 s of budget plus one request timeout, and process start-up and shutdown, which a
    // loaded two-core machine can stretch to seconds.
    assert!(took < Duration::from_secs(9), "{took:?} {err}");
    assert_ne!(out.status.code(), Some(0), "{err}");
}

/// Peak RSS of a full release `run` against each hostile mode (docs/untrusted.md).
/// `cargo test --test hostile_limits -- --ignored --nocapture` (add `--release` for a release build)
#[test]
#[ignore]
fn peak_rss_of_a_full_run_per_mode() {
    for mode in [Mode::BigBodies, Mode::EndlessChunked, Mode::LongUris] {
        let h = Hostile::start(mode);
        let ce = h.ce();
        let t0 = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args([
                "-v",
                env!("CARGO_BIN_EXE_edgecheck"),
                "run",
                "-q",
                "--server",
            ])
            .args([&ce, "--allow-http", "--timeout", "2"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let kb: u64 = err
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Maximum resident set size (kbytes): ")
            })
            .and_then(|v| v.parse().ok())
            .expect("GNU time -v output");
        println!(
            "{mode:?}: exit {:?}, {:.1} s, peak RSS {} MB",
            out.status.code(),
            t0.elapsed().as_secs_f64(),
            kb / 1024
        );
        assert!(kb < 200 * 1024, "{mode:?}: {kb} kB");
    }
}
