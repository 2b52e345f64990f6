//! A server that stops serving is not blamed for the size limit: once its idle bookkeeping
//! stalls every new connection (edge-v1 fault `idle-close-stalls`), the check of a declared
//! 1 GiB body, which edge-v1 runs after the idle check, gets no answer, and neither does a
//! small request sent next. That check ends in error; only the idle check fails, on B-NO-5XX.
//! (simplex-v5 runs its oversized body first; both share `http_limits::unanswered_oversize`.)

use std::process::Command;
use std::time::Duration;

use edge_reference_server::edge_v1::faults::Fault;
use edge_reference_server::Tls;
use serde_json::Value;

/// `edgecheck run` of the idle check and then the oversized-body check, one at a time, with
/// its JSON results.
fn run(url: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    let status = Command::new(env!("CARGO_BIN_EXE_edgecheck"))
        .args(["run", "--server", url, "--allow-http"])
        .args(["--only", "limits/answered-after-idle"])
        .args(["--only", "limits/oversized-body"])
        .args([
            "--idle-wait",
            "2s",
            "--jobs",
            "1",
            "--timeout",
            "3",
            "--quiet",
        ])
        .arg("--json")
        .arg(&out)
        .status()
        .expect("edgecheck runs");
    assert_eq!(status.code(), Some(1), "the idle check fails");
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

fn verdicts(results: &Value) -> Vec<(String, String, String)> {
    results["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (s(&c["id"]), s(&c["verdict"]), s(&c["failure"]["rule"]))
        })
        .collect()
}

fn assert_blames_idle_only(results: &Value) {
    let mut seen = verdicts(results);
    seen.sort();
    let want = |slug: &str, verdict: &str, rule: &str| {
        (
            format!("limits/{slug}"),
            verdict.to_string(),
            rule.to_string(),
        )
    };
    assert_eq!(
        seen,
        vec![
            want("answered-after-idle", "fail", "B-NO-5XX"),
            want("oversized-body", "error", ""),
        ],
        "{results:#}"
    );
}

#[test]
fn a_server_that_stopped_serving_is_not_blamed_for_b_size() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(edge_reference_server::start(
            edge_reference_server::Config {
                listen: "127.0.0.1:0".parse().unwrap(),
                tls: Tls::Plain,
                faults: vec![Fault::IdleCloseStalls],
                head_timeout: Duration::from_secs(1),
                ..Default::default()
            },
        ))
        .expect("the reference server starts");
    let results = run(&server.create_url());
    assert_blames_idle_only(&results);
}
