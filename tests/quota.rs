//! B-QUOTA as the binding states it: a queue cap of 32 messages or more is allowed, and a 429
//! met while setting up a check about something else skips that check (blocked by the
//! server's quota) instead of failing it; a cap under 32 breaks B-QUOTA.

use std::process::Command;

use edge_reference_server::faults::Fault;
use edge_reference_server::{Config, Tls};

fn server(rt: &tokio::runtime::Runtime, cap: usize) -> edge_reference_server::Server {
    rt.block_on(edge_reference_server::start(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        page_size: 10,
        queue_cap: Some(cap),
        ..Config::default()
    }))
    .unwrap()
}

fn run(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = Command::new(env!("CARGO_BIN_EXE_edgecheck"))
        .args(args)
        .args(["--allow-http", "--page-size", "10", "-q", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    (out.status.code(), v)
}

fn verdicts(v: &serde_json::Value, of: &str) -> Vec<(String, String)> {
    v[of]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            !matches!(
                c["verdict"].as_str(),
                Some("pass" | "untested" | "not testable")
            )
        })
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_cap_of_32_passes_the_whole_suite() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = server(&rt, 32);
    let (code, v) = run(&["run", "--server", &s.create_url()]);
    assert_eq!(code, Some(0), "{:?}", verdicts(&v, "checks"));
    rt.block_on(s.shutdown());
}

#[test]
fn a_cap_under_32_breaks_b_quota_and_blocks_the_rest() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = server(&rt, 16);
    let (code, v) = run(&[
        "run",
        "--server",
        &s.create_url(),
        "--only",
        "delete-messages",
    ]);
    assert_eq!(code, Some(1));
    let rules = verdicts(&v, "requirements");
    assert!(
        rules.contains(&("B-QUOTA".into(), "fail".into())),
        "{rules:?}"
    );
    assert!(
        rules
            .iter()
            .all(|(id, verdict)| id == "B-QUOTA" || verdict != "fail"),
        "{rules:?}"
    );
    rt.block_on(s.shutdown());
}

#[test]
fn a_429_over_a_legal_cap_skips_the_check() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = server(&rt, 33);
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case.json");
    let twenty: Vec<String> = (0..16).map(|i| format!("m{i}")).collect();
    let mut steps = vec![serde_json::json!({"op": "create"})];
    for _ in 0..3 {
        steps.push(serde_json::json!({"op": "send", "messages": twenty}));
    }
    steps.push(serde_json::json!({"op": "retrieve", "pageSize": 1}));
    std::fs::write(
        &case,
        serde_json::json!({
            "id": "send/three-full-sends",
            "title": "three sends of 16 messages",
            "requirements": ["S-SEND-200"],
            "level": "MUST",
            "steps": steps,
        })
        .to_string(),
    )
    .unwrap();
    let (code, v) = run(&[
        "replay",
        case.to_str().unwrap(),
        "--server",
        &s.create_url(),
    ]);
    let checks = verdicts(&v, "checks");
    assert_eq!(checks, [("send/three-full-sends".into(), "skip".into())]);
    let message = v["checks"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("blocked by the server's quota"),
        "{message}"
    );
    // Nothing was judged: the gate says so (exit 2), it does not fail the server.
    assert_eq!(code, Some(2));
    rt.block_on(s.shutdown());
}

/// The quota probe's second fill, offset by one message, meets a cap that is a multiple of 16
/// with a batch of which 15 would fit: a server storing those (fault `quota-partial`) fails
/// B-QUOTA, though its first fill met a full queue; the same server without the fault passes.
#[test]
fn a_send_that_would_partly_fit_a_cap_of_112_stores_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (faults, expected) in [(vec![], "pass"), (vec![Fault::QuotaPartial], "fail")] {
        let s = rt
            .block_on(edge_reference_server::start(Config {
                listen: "127.0.0.1:0".parse().unwrap(),
                tls: Tls::Plain,
                page_size: 10,
                queue_cap: Some(112),
                faults,
                ..Config::default()
            }))
            .unwrap();
        let (_, v) = run(&[
            "run",
            "--server",
            &s.create_url(),
            "--only",
            "limits/quota-larger-send-refused",
        ]);
        let check = &v["checks"][0];
        assert_eq!(check["verdict"], expected, "{check}");
        if expected == "fail" {
            let message = check["message"].as_str().unwrap();
            assert!(message.contains("B-QUOTA"), "{message}");
        }
        rt.block_on(s.shutdown());
    }
}
