//! What `fuzz` blames: the narrowest rule a fault breaks, not the endpoint's rule around it.
//!
//! In CI, three faults it used to blame on the endpoint's rule (6 s each). The audit of every
//! fault of the edge-v1 reference server (a short campaign per fault, the MUST rules of its
//! findings against the fault's own rule) is ignored in CI (about 3.5 s per fault); run it
//! with `cargo test --release --test fuzz_blame -- --ignored --nocapture` (`FUZZ_BLAME_SECS`
//! sets the seconds per fault, `FUZZ_BLAME_ONLY` a comma-separated list of faults,
//! `FUZZ_BLAME_SHOW=1` prints the message of each finding under another rule).

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use edge_reference_server::faults::Fault;
use serde_json::Value;

/// The findings of a `fuzz` of `secs` seconds against a server with `faults`: the rules of
/// the MUST findings, of the warnings, and each MUST finding's rule and message.
type Blamed = (BTreeSet<String>, BTreeSet<String>, Vec<(String, String)>);

fn blamed(faults: &[&str], secs: &str) -> Blamed {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srv = rt.block_on(support::reference::server(faults));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    Command::new(env!("CARGO_BIN_EXE_edgecheck"))
        .args(["fuzz", "--server", &srv.create_url(), "--allow-http"])
        .args(["--page-size", "10", "--seed", "1", "--duration", secs])
        .args(["--findings", "found", "--json"])
        .arg(&out)
        .current_dir(dir.path())
        .output()
        .expect("edgecheck runs");
    rt.block_on(srv.shutdown());
    let json: Value = std::fs::read(&out)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let (mut must, mut warned, mut messages) = (BTreeSet::new(), BTreeSet::new(), Vec::new());
    for f in json["findings"].as_array().into_iter().flatten() {
        let rule = f["rule"].as_str().unwrap_or_default().to_string();
        if f["level"] == "MUST" {
            let message = f["message"].as_str().unwrap_or_default();
            messages.push((rule.clone(), message.to_string()));
            must.insert(rule);
        } else {
            warned.insert(rule);
        }
    }
    (must, warned, messages)
}

#[test]
#[ignore = "an audit of about 3.5 s per fault; see the module comment"]
fn what_fuzz_blames_on_each_fault() {
    let secs = std::env::var("FUZZ_BLAME_SECS").unwrap_or_else(|_| "4s".into());
    let only: Vec<String> = std::env::var("FUZZ_BLAME_ONLY")
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let show = std::env::var_os("FUZZ_BLAME_SHOW").is_some();
    let clean = blamed(&[], &secs);
    assert!(
        clean.0.is_empty() && clean.1.is_empty(),
        "the correct server: {clean:?}"
    );
    let (mut own, mut other) = (0, 0);
    for fault in Fault::ALL {
        if !only.is_empty() && !only.iter().any(|o| o == fault.name()) {
            continue;
        }
        let (must, warned, messages) = blamed(&[fault.name()], &secs);
        let found_own = must.contains(fault.rule()) || warned.contains(fault.rule());
        let others: Vec<&String> = must.iter().filter(|r| *r != fault.rule()).collect();
        own += usize::from(found_own);
        other += usize::from(!others.is_empty());
        println!(
            "{:<40} {:<18} {} others: {:?} warnings: {:?}",
            fault.name(),
            fault.rule(),
            if found_own { "own  " } else { "-    " },
            others,
            warned
        );
        for (rule, message) in messages.iter().filter(|(r, _)| show && r != fault.rule()) {
            println!("    {rule}: {message}");
        }
    }
    println!("{own} faults found under their own rule; {other} blamed other rules too");
}

/// Faults `fuzz` used to blame on the endpoint's rule, with the narrower rule it must blame
/// now and the broader ones it must not.
const NARROWEST: &[(&str, &str, &[&str])] = &[
    // A PKCS#1 v1.5 or wrongly salted signature accepted: the algorithm rule.
    (
        "accept-any-salt",
        "B-SIG-ALG",
        &["B-SIG-HDR", "S-G-SIGNED-ONLY"],
    ),
    // A valid `Content-Type` with parameters refused: the header rule, not the endpoint's.
    (
        "content-type-params-refused",
        "S-HDR-JSON",
        &["S-CREATE-201", "S-SEND-200", "S-RETR-200"],
    ),
    // An open send refused for its Authorization header: S-G-OPEN, not a half-applied update.
    (
        "open-send-verifies",
        "S-G-OPEN",
        &["S-SEND-200", "B-RUPD-ATOMIC"],
    ),
];

#[test]
fn fuzz_blames_the_narrowest_rule_broken() {
    for (fault, own, not) in NARROWEST {
        let (must, _, messages) = blamed(&[fault], "6s");
        assert!(
            must.contains(*own),
            "{fault}: {own} not blamed: {messages:?}"
        );
        let wrong: Vec<_> = messages
            .iter()
            .filter(|(r, _)| not.contains(&r.as_str()))
            .collect();
        assert!(wrong.is_empty(), "{fault}: {wrong:?}");
    }
}
