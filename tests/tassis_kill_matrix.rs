//! The kill matrix of `tassis-v2` in CI: the fault-free reference server passes every check;
//! every fault of its `tassis-v2` fault list is killed by a check linked to the rule it
//! breaks, and the reports blame only that rule and what the fault really breaks too
//! (ALSO_BREAKS). The three crash faults of the public implementation are caught as their
//! own rule plus TB-ALIVE, and the run still ends in bounded time.
//!
//! A survivor fails the test: fix it by adding the missing check, never by loosening this
//! test. The whole matrix: `cargo run --release --features selftest -- selftest --profile
//! tassis-v2 [--full]`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use edge_reference_server::tassis_v2::{faults::Fault, start, TassisConfig};
use edge_reference_server::Tls;
use edgecheck::engine::Verdict;
use edgecheck::profiles::tassis_v2::selftest::{run_against, Verdicts};
use edgecheck::profiles::tassis_v2::{TassisSuite, EMBEDDED_PREKEYS};

/// Checks at once: most wait for replies or for silence.
const JOBS: usize = 12;

/// Rules a fault really breaks besides its own, as its reports show (reviewed one by one).
const ALSO_BREAKS: &[(&str, &[&str])] = &[
    // A crash is seen first as the request's missing reply, then as the server gone.
    ("crash-outbound-no-to", &["TB-ALIVE"]),
    ("crash-short-signature", &["TB-ALIVE"]),
    ("crash-login-no-address", &["TB-ALIVE"]),
    // No reply at all is T-SEQ-REPLY by definition.
    ("upload-nonpositive-silent", &["T-SEQ-REPLY"]),
    ("seq-zero-ignored", &["T-SEQ-REPLY"]),
    ("send-no-ack", &["T-SEQ-REPLY"]),
    // A crash on a large frame is also the server gone.
    ("large-frame-crash", &["TB-ALIVE"]),
];

fn also(fault: &str) -> Vec<&'static str> {
    ALSO_BREAKS
        .iter()
        .filter(|(f, _)| *f == fault)
        .flat_map(|(_, r)| r.iter().copied())
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn against(suite: &TassisSuite, fault: Option<Fault>, linked: Option<&str>) -> Verdicts {
    let server = start(TassisConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        prekeys_low: EMBEDDED_PREKEYS.0,
        prekeys_interval: EMBEDDED_PREKEYS.1,
        faults: fault.into_iter().collect(),
        ..TassisConfig::default()
    })
    .await
    .expect("the reference server starts");
    let v = run_against(suite, &server.url(), linked, JOBS)
        .await
        .expect("the target opens");
    server.shutdown().await;
    v
}

#[test]
fn the_fault_free_server_passes_every_check() {
    let suite = TassisSuite::load(None).unwrap();
    let v = runtime().block_on(against(&suite, None, None));
    let bad: Vec<String> = v
        .results
        .iter()
        // The servers here are plain ws://: the TLS check is waived, never passed.
        .filter(|r| {
            r.verdict != Verdict::Pass && !(r.verdict == Verdict::Waived && r.id == "transport/tls")
        })
        .map(|r| format!("{} {}: {}", r.id, r.verdict.as_str(), r.message))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert_eq!(v.results.len(), suite.cases().len());
}

#[test]
fn every_fault_is_killed_and_blamed_truthfully() {
    let suite = TassisSuite::load(None).unwrap();
    let rt = runtime();
    let mut problems = Vec::new();
    let mut lines = Vec::new();
    for f in Fault::ALL {
        let started = Instant::now();
        let v = rt.block_on(against(&suite, Some(*f), Some(f.rule())));
        let took = started.elapsed();
        let blamed = v.blamed();
        let allowed: BTreeSet<&str> = std::iter::once(f.rule()).chain(also(f.name())).collect();
        let extra: Vec<&String> = blamed
            .iter()
            .filter(|b| !allowed.contains(b.as_str()))
            .collect();
        lines.push(format!(
            "{:<34} {:<20} {:>5} ms  blamed: {}",
            f.name(),
            f.rule(),
            took.as_millis(),
            blamed.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
        if !v.kills(f.rule()) {
            problems.push(format!("{} ({}) survived", f.name(), f.rule()));
        }
        if !extra.is_empty() {
            problems.push(format!("{} ({}) also blames {extra:?}", f.name(), f.rule()));
        }
        if took > Duration::from_secs(90) {
            problems.push(format!("{}: the run took {took:?}", f.name()));
        }
    }
    println!("{}", lines.join("\n"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_crash_is_its_own_rule_plus_tb_alive_and_later_checks_are_errors() {
    let suite = TassisSuite::load(None).unwrap();
    let crash = Fault::ALL
        .iter()
        .copied()
        .find(|f| f.name() == "crash-outbound-no-to")
        .expect("the crash fault exists");
    // Every check, one job at a time: those after the crash must be errors, not failures.
    let v = runtime().block_on(async {
        let server = start(TassisConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Tls::Plain,
            prekeys_low: EMBEDDED_PREKEYS.0,
            prekeys_interval: EMBEDDED_PREKEYS.1,
            faults: vec![crash],
            ..TassisConfig::default()
        })
        .await
        .unwrap();
        let started = Instant::now();
        let v = run_against(&suite, &server.url(), None, 1).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{:?}",
            started.elapsed()
        );
        server.shutdown().await;
        v
    });
    // Checks are not started in plan order: judge by verdict, not by position.
    let alive: Vec<_> = v
        .results
        .iter()
        .filter(|r| r.failure.as_ref().is_some_and(|f| f.rule == "TB-ALIVE"))
        .collect();
    assert_eq!(alive.len(), 1, "one check finds the crash");
    let f = alive[0].failure.as_ref().unwrap();
    assert!(f.also.iter().any(|r| r == "T-MSG-NO-TO"), "{f:?}");
    let others_failed: Vec<_> = v
        .results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail | Verdict::Warn) && r.id != alive[0].id)
        .map(|r| (&r.id, &r.message))
        .collect();
    assert!(others_failed.is_empty(), "{others_failed:?}");
    let errors: Vec<_> = v
        .results
        .iter()
        .filter(|r| r.verdict == Verdict::Error)
        .collect();
    assert!(!errors.is_empty(), "checks after the crash are errors");
    assert!(
        errors.iter().all(|r| r.message.contains("gone")),
        "{:?}",
        errors
            .iter()
            .map(|r| (&r.id, &r.message))
            .collect::<Vec<_>>()
    );
}
