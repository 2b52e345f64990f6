//! `edgecheck run --profile simplex-v5` against the embedded reference server: every check
//! passes (exit 0), every rule a client can test is exercised, and the options a client cannot
//! discover are recorded.

use std::process::Command;

#[test]
fn run_against_the_embedded_server_is_green() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("results.json");
    let out = Command::new(env!("CARGO_BIN_EXE_edgecheck"))
        .args(["run", "--profile", "simplex-v5", "--quiet", "--json"])
        .arg(&json)
        .output()
        .expect("edgecheck runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "edgecheck run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("results written"))
            .expect("results are JSON");
    let summary = &results["summary"];
    assert!(summary["total"].as_u64().unwrap() > 100, "{summary}");
    for v in ["fail", "warn", "error"] {
        assert_eq!(summary[v], 0, "{v} checks:\n{stdout}");
    }
    // Skipped: only the two checks that wait past the server's idle timeout, which run with
    // --idle-wait (tests/simplex_kill_matrix.rs runs them on the fault-free server).
    let skipped: Vec<(&str, &str)> = results["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] == "skip")
        .map(|c| (c["id"].as_str().unwrap(), c["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        skipped.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [
            "send/answered-after-idle",
            "send/h2-stream-answered-after-idle"
        ],
        "{stdout}"
    );
    assert!(
        skipped.iter().all(|(_, why)| why.contains("--idle-wait")),
        "{skipped:?}"
    );
    // Every rule a client can test was exercised, but those another check covers.
    let untested: Vec<&str> = results["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == "untested")
        .map(|r| r["id"].as_str().unwrap())
        // The reference server's silence (S-PRIV-QUIET) is not visible to a client.
        .filter(|id| *id != "S-PRIV-QUIET")
        .collect();
    assert!(
        untested.is_empty(),
        "rules with no check in the run: {untested:?}"
    );
    assert_eq!(results["profile"], "simplex-v5", "{}", results["profile"]);
}

#[test]
fn options_a_client_cannot_discover_are_taken_and_recorded() {
    // --large-message below the embedded server's LARGE_MESSAGE: the large-message check
    // then judges by 100 bytes and must fail; the options are recorded in the results.
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("results.json");
    let out = Command::new(env!("CARGO_BIN_EXE_edgecheck"))
        .args([
            "run",
            "--profile",
            "simplex-v5",
            "--quiet",
            "--only",
            "retrieval/large",
            "--large-message",
            "100",
            "--max-ws",
            "70000",
            "--json",
        ])
        .arg(&json)
        .output()
        .expect("edgecheck runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("results written")).unwrap();
    assert_eq!(results["options"]["largeMessage"], 100);
    assert_eq!(results["options"]["maxWebSocketMessage"], 70000);
    assert_eq!(results["options"]["pageSize"], 10);
    let check = &results["checks"][0];
    assert_eq!(check["failure"]["rule"], "V-RETR-LARGE", "{check}");
}

#[test]
fn checks_needing_a_value_the_user_did_not_give_are_skipped_with_the_reason() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(edge_reference_server::simplex_v5::start(
            edge_reference_server::simplex_v5::SimplexConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                tls: edge_reference_server::Tls::Plain,
                ..Default::default()
            },
        ))
        .expect("the reference server starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("results.json");
    let out = Command::new(env!("CARGO_BIN_EXE_edgecheck"))
        .args(["run", "--profile", "simplex-v5", "--quiet", "--allow-http"])
        .args(["--server", &server.create_url()])
        .args([
            "--only",
            "retrieval/*",
            "--only",
            "rest-websocket/large-push",
        ])
        .arg("--json")
        .arg(&json)
        .output()
        .expect("edgecheck runs");
    rt.block_on(server.shutdown());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("results written")).unwrap();
    let skipped: Vec<(String, String)> = results["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] == "skip")
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let ids: Vec<&str> = skipped.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(
        ids,
        [
            "retrieval/paging",
            "retrieval/large",
            "rest-websocket/large-push"
        ],
        "{skipped:?}"
    );
    assert!(skipped[0].1.contains("--page-size"), "{skipped:?}");
    assert!(skipped[1].1.contains("--large-message"), "{skipped:?}");
    assert_eq!(results["summary"]["fail"], 0, "{stdout}");
}

#[test]
fn a_server_that_never_answers_is_unreachable_in_bounded_time() {
    // Accepts connections and reads, but never answers: the preflight's timeout ends the run
    // with exit 3 (the target cannot be judged), not with failed checks and not with a hang.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_edgecheck"))
        .args([
            "run",
            "--profile",
            "simplex-v5",
            "--quiet",
            "--allow-http",
            "--timeout",
            "1",
        ])
        .args(["--server", &format!("http://127.0.0.1:{port}/connection")])
        .output()
        .expect("edgecheck runs");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not answer"));
}
