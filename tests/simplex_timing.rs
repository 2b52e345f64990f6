//! The timing checks of `simplex-v5` (V-TIMING, V-WS-TIMING) against the reference server:
//! no warning on the correct server, a warning on `skip-verify-unknown-uri` (failures on
//! unknown URIs answered without the RSA verification), every endpoint's measurement shown.
//!
//! The error rates over many runs, by hand (docs/simplex-v5.md, "Timing"):
//!
//! ```sh
//! EDGECHECK_TIMING_RUNS=20 cargo test --test simplex_timing error_rates -- --ignored --nocapture
//! ```

use edge_reference_server::simplex_v5::{faults::Fault, start, SimplexConfig};
use edge_reference_server::Tls;
use edgecheck::engine::{CheckResult, Verdict};
use edgecheck::profiles::simplex_v5::selftest::{run_against, Verdicts};
use edgecheck::profiles::simplex_v5::{SimplexSuite, EMBEDDED_LARGE_MESSAGE, EMBEDDED_PAGE_SIZE};
use edgecheck::timing::TimingVerdict;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The two timing checks against a fresh reference server, with `fault` if any.
async fn timing_checks(suite: &SimplexSuite, fault: Option<Fault>) -> Vec<CheckResult> {
    let server = start(SimplexConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        page_size: EMBEDDED_PAGE_SIZE,
        large_message: EMBEDDED_LARGE_MESSAGE,
        faults: fault.into_iter().collect(),
        ..SimplexConfig::default()
    })
    .await
    .expect("the reference server starts");
    let mut results = Vec::new();
    for rule in ["V-TIMING", "V-WS-TIMING"] {
        let v = run_against(
            suite,
            &server.create_url(),
            EMBEDDED_PAGE_SIZE,
            EMBEDDED_LARGE_MESSAGE,
            None,
            Some(rule),
            1,
        )
        .await
        .expect("the target opens");
        results.extend(v.results);
    }
    server.shutdown().await;
    results
}

/// One line per endpoint: its verdict and its largest difference of medians.
fn describe(results: &[CheckResult]) -> Vec<String> {
    let mut lines = Vec::new();
    for r in results {
        for t in r.timings() {
            let largest = t
                .pairs
                .iter()
                .max_by(|x, y| x.diff_us.abs().total_cmp(&y.diff_us.abs()));
            let pair = largest.map_or_else(String::new, |p| {
                format!(
                    "{} − {}: {:+.1} µs [{:+.1}, {:+.1}] threshold {:.1}",
                    p.b, p.a, p.diff_us, p.ci_low_us, p.ci_high_us, p.threshold_us
                )
            });
            let medians: Vec<String> = t
                .classes
                .iter()
                .map(|c| format!("{} {:.1}", c.name, c.median_us))
                .collect();
            lines.push(format!(
                "{:<16} {:<26} {:<5} {pair} | medians µs: {}",
                r.id,
                t.endpoint,
                t.verdict.as_str(),
                medians.join(", ")
            ));
        }
    }
    lines
}

#[test]
fn the_correct_server_does_not_warn_and_the_unverified_unknown_uris_do() {
    let suite = SimplexSuite::load(None).unwrap();
    let rt = runtime();

    let correct = rt.block_on(timing_checks(&suite, None));
    let lines = describe(&correct).join("\n");
    println!("correct server:\n{lines}");
    assert_eq!(correct.len(), 2);
    for r in &correct {
        assert_eq!(r.verdict, Verdict::Pass, "{}: {}\n{lines}", r.id, r.message);
    }
    // Every endpoint of §4's table measured: 7 REST, 3 WebSocket.
    assert_eq!(correct[0].timings().count(), 7, "{lines}");
    assert_eq!(correct[1].timings().count(), 3, "{lines}");

    let fault = Fault::SkipVerifyUnknownUri;
    let faulty = rt.block_on(timing_checks(&suite, Some(fault)));
    let lines = describe(&faulty).join("\n");
    println!("{}:\n{lines}", fault.name());
    let rest = &faulty[0];
    assert_eq!(rest.verdict, Verdict::Warn, "{}\n{lines}", rest.message);
    let v = Verdicts {
        results: faulty.clone(),
    };
    assert!(v.kills(fault.rule()), "{lines}");
    // A timing warning catches the timing fault only, and blames no rule by itself.
    assert!(!v.kills("V-401"));
    assert!(v.blamed().is_empty(), "{:?}", v.blamed());
    // The faster class is the unknown URI, on the endpoints that verify a signature.
    let warned: Vec<_> = rest
        .timings()
        .filter(|t| t.verdict == TimingVerdict::Warn)
        .collect();
    assert!(!warned.is_empty());
    for t in warned {
        for p in t.pairs.iter().filter(|p| p.verdict == TimingVerdict::Warn) {
            let faster = if p.diff_us > 0.0 { &p.a } else { &p.b };
            assert_eq!(faster, "unknown URI", "{}: {p:?}", t.endpoint);
        }
    }
}

/// The false-warning and detection rates: `EDGECHECK_TIMING_RUNS` runs (20 by default) on the
/// correct server, then as many on `skip-verify-unknown-uri`, one line per endpoint and run.
#[test]
#[ignore = "long: run by hand for the error rates (docs/simplex-v5.md, \"Timing\")"]
fn error_rates() {
    let runs: usize = std::env::var("EDGECHECK_TIMING_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let suite = SimplexSuite::load(None).unwrap();
    let rt = runtime();
    let mut summary = Vec::new();
    for fault in [None, Some(Fault::SkipVerifyUnknownUri)] {
        let name = fault.map_or("correct", |f| f.name());
        let (mut warned, mut errors) = (0, 0);
        let started = std::time::Instant::now();
        for run in 1..=runs {
            let results = rt.block_on(timing_checks(&suite, fault));
            let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
            for line in describe(&results) {
                println!("{name} run {run:>2}: {line}");
            }
            println!(
                "{name} run {run:>2}: {} | load {}",
                results
                    .iter()
                    .map(|r| format!("{} {}", r.id, r.verdict.as_str()))
                    .collect::<Vec<_>>()
                    .join(", "),
                load.split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            if results.iter().any(|r| r.verdict == Verdict::Warn) {
                warned += 1;
            }
            if results.iter().any(|r| r.verdict == Verdict::Error) {
                errors += 1;
            }
        }
        summary.push(format!(
            "{name}: warned in {warned} of {runs} runs, unjudged in {errors}, {:.1} s per run",
            started.elapsed().as_secs_f64() / runs as f64
        ));
    }
    println!("{}", summary.join("\n"));
}
