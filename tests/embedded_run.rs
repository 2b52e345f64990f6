//! A full run of every scripted case against the embedded reference server passes with zero
//! failures, warnings or errors.

use std::process::Command;

#[test]
fn full_run_against_the_embedded_server_is_green() {
    full_run_is_green(None, "auto");
}

/// The same over HTTP/1.1 only (the embedded server offers HTTP/2 by ALPN otherwise): no
/// rule's verdict depends on the HTTP version.
#[test]
fn full_run_over_http_1_1_is_green_too() {
    full_run_is_green(Some("1.1"), "1.1");
}

/// Runs every check, with `--http` when given, and requires zero failures, warnings or
/// errors and the version in the results' options.
fn full_run_is_green(http: Option<&str>, recorded: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("results.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edgecheck"));
    cmd.args(["run", "--quiet", "--json"]).arg(&json);
    if let Some(h) = http {
        cmd.args(["--http", h]);
    }
    let out = cmd.output().expect("edgecheck runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "edgecheck run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --quiet: no line per check; the summary only.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines = stdout.lines().count() + stderr.lines().count();
    assert!(
        lines <= 30,
        "--quiet printed {lines} lines:\n{stdout}{stderr}"
    );
    assert!(
        !stdout.contains('\x1b') && !stderr.contains('\x1b'),
        "colour off a terminal"
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("results written"))
            .expect("results are JSON");
    assert_eq!(results["options"]["http"], recorded);
    let summary = &results["summary"];
    assert!(summary["total"].as_u64().unwrap() > 0, "no check ran");
    // Only two-servers (needs --server twice), B-QUOTA (no cap on the embedded server),
    // answered-after-idle and h2-stream-answered-after-idle (both need --idle-wait) skip.
    assert!(summary["skip"].as_u64().unwrap() <= 4, "{stdout}");
    for v in ["fail", "warn", "error"] {
        assert_eq!(
            summary[v], 0,
            "{v} checks in a run against the reference server:\n{stdout}"
        );
    }
    // Every rule a client can test was exercised and none is untested.
    let untested: Vec<&str> = results["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == "untested")
        // Checked by the reference server's own tests (its output is not visible to a client).
        .filter(|r| r["id"] != "S-PRIV-QUIET")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        untested.is_empty(),
        "rules with no check in the run: {untested:?}"
    );
}
