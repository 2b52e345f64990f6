//! The kill matrix of `simplex-v5` in CI: the fault-free reference server passes every check;
//! every fault of its `simplex-v5` fault list is killed by a check linked to the rule it
//! breaks, and the reports blame only that rule and what the fault really breaks too
//! (ALSO_BREAKS). The timing fault (`skip-verify-unknown-uri`) is caught by a warning of the
//! timing measurement (V-TIMING), which counts only for timing faults.
//!
//! A survivor fails the test: fix it by adding the missing check, never by loosening this
//! test. The whole matrix: `cargo run --release --features selftest -- selftest --profile
//! simplex-v5 [--full]`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use edge_reference_server::simplex_v5::{faults::Fault, start, SimplexConfig};
use edge_reference_server::Tls;
use edgecheck::engine::Verdict;
use edgecheck::profiles::edge_v1::selftest::{is_idle_fault, IDLE_HEAD_TIMEOUT, IDLE_WAIT};
use edgecheck::profiles::simplex_v5::selftest::{run_against, Verdicts};
use edgecheck::profiles::simplex_v5::{SimplexSuite, EMBEDDED_LARGE_MESSAGE, EMBEDDED_PAGE_SIZE};

/// Checks at once: they sign and wait for pushes about as much.
const JOBS: usize = 8;

/// Rules a fault really breaks besides its own, as its reports show (reviewed one by one).
const ALSO_BREAKS: &[(&str, &[&str])] = &[
    // 404 for dead and unknown URIs: the requests after a delete, the one status of every
    // value failure and the 401 of unknown paths are all broken by it.
    (
        "unknown-uri-404",
        &["V-DEL-AFTER", "V-TIMING-CODE", "VB-ROUTE"],
    ),
    // 403 for bad signatures: every rule that names 401 for a signature failure.
    (
        "wrong-signature-403",
        &[
            "S-G-SIGNED-ONLY",
            "V-CREATE",
            "V-SEND-OPEN",
            "V-TIMING-CODE",
        ],
    ),
    // OPTIONS answered 204 is also a method a live URI or CE does not define.
    ("options-served", &["VB-ROUTE"]),
    // A syntax fault answered 401 breaks V-400's list and the order of checks alike.
    ("unauthorized-before-bad-request", &["V-400"]),
    ("extra-query-accepted", &["VB-ORDER"]),
    ("get-body-accepted", &["VB-ORDER"]),
    ("bad-message-id-401", &["V-400"]),
    // Accepting what must get 401 breaks the rule that names that 401.
    ("create-bad-signature-accepted", &["V-401"]),
    ("second-secure-replaces", &["V-401"]),
    ("unsigned-send-after-secure", &["S-G-SIGNED-ONLY"]),
    ("send-extra-property-accepted", &["V-400"]),
    // Pushes list messages as pages do.
    ("large-msg-included", &["VB-WS-BACKLOG"]),
    // Another connection's ID acting on this one.
    ("foreign-message-id-accepted", &["B-ISOLATION"]),
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

async fn against(suite: &SimplexSuite, fault: Option<Fault>, linked: Option<&str>) -> Verdicts {
    // Idle connections matter only to these faults: the other faults keep the usual deadline
    // (as in `edgecheck selftest --profile simplex-v5`). The fault-free server gets the short
    // one too, so that the idle checks run on it and are seen to pass.
    let idle = fault.is_none_or(|f| is_idle_fault(f.name()));
    let server = start(SimplexConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        page_size: EMBEDDED_PAGE_SIZE,
        large_message: EMBEDDED_LARGE_MESSAGE,
        faults: fault.into_iter().collect(),
        head_timeout: if idle {
            IDLE_HEAD_TIMEOUT
        } else {
            SimplexConfig::default().head_timeout
        },
        ..SimplexConfig::default()
    })
    .await
    .expect("the reference server starts");
    let v = run_against(
        suite,
        &server.create_url(),
        EMBEDDED_PAGE_SIZE,
        EMBEDDED_LARGE_MESSAGE,
        idle.then_some(IDLE_WAIT),
        linked,
        JOBS,
    )
    .await
    .expect("the target opens");
    server.shutdown().await;
    v
}

#[test]
fn the_fault_free_server_passes_every_check() {
    let suite = SimplexSuite::load(None).unwrap();
    let v = runtime().block_on(against(&suite, None, None));
    let bad: Vec<String> = v
        .results
        .iter()
        // The server here is plain http://: the HTTPS check is waived, never passed.
        .filter(|r| {
            r.verdict != Verdict::Pass && !(r.verdict == Verdict::Waived && r.id == "routing/https")
        })
        .map(|r| format!("{} {}: {}", r.id, r.verdict.as_str(), r.message))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert_eq!(v.results.len(), suite.cases().len());
}

#[test]
fn every_fault_is_killed_and_blamed_truthfully() {
    let suite = SimplexSuite::load(None).unwrap();
    let rt = runtime();
    let mut problems = Vec::new();
    let mut lines = Vec::new();
    let mut killed = 0;
    let faults: Vec<Fault> = Fault::ALL.to_vec();
    for f in &faults {
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
            "{:<34} {:<16} {:>5} ms  blamed: {}",
            f.name(),
            f.rule(),
            took.as_millis(),
            blamed.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
        if v.kills(f.rule()) {
            killed += 1;
        } else {
            problems.push(format!("{} ({}) survived", f.name(), f.rule()));
        }
        if !extra.is_empty() {
            problems.push(format!("{} ({}) also blames {extra:?}", f.name(), f.rule()));
        }
        if took > Duration::from_secs(60) {
            problems.push(format!("{}: the run took {took:?}", f.name()));
        }
    }
    println!("{}", lines.join("\n"));
    println!("{killed} of {} faults killed", faults.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
