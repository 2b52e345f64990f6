//! A server that points its URIs at another origin (B-URI-ORIGIN) or at cleartext HTTP from
//! an HTTPS endpoint (S-GEN-HTTPS) never gets the suite to contact that origin: `run`, `race`
//! and `fuzz` send nothing there, and `run` blames the rule that was broken.

use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use edge_reference_server::{Config, Tls};

/// A second listener that only counts the connections it is offered.
fn counting_listener() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let count = n.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            count.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });
    (addr, n)
}

/// A reference server whose returned URIs start with `public_url`, and its create endpoint.
fn server(rt: &tokio::runtime::Runtime, tls: Tls, public_url: String) -> (String, Option<String>) {
    let s = rt
        .block_on(edge_reference_server::start(Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls,
            page_size: 10,
            public_url: Some(public_url),
            ..Config::default()
        }))
        .unwrap();
    let scheme = if s.certificate_pem().is_some() {
        "https"
    } else {
        "http"
    };
    let ce = format!("{scheme}://{}/connection", s.local_addr());
    let pem = s.certificate_pem();
    std::mem::forget(s); // lives as long as the runtime
    (ce, pem)
}

fn edgecheck(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edgecheck"))
        .args(args)
        .output()
        .expect("edgecheck runs")
}

fn failing_rules(json: &std::path::Path) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] == "fail")
        .filter_map(|c| c["failure"]["rule"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn uris_on_another_origin_are_never_followed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (elsewhere, contacted) = counting_listener();
    let (ce, _) = server(&rt, Tls::Plain, format!("http://{elsewhere}"));
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = edgecheck(&[
        "run",
        "--server",
        &ce,
        "--allow-http",
        "--timeout",
        "5",
        "--only",
        "create",
        "--only",
        "update",
        "--only",
        "send",
        "--json",
        json.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let rules = failing_rules(&json);
    assert!(rules.iter().any(|r| r == "B-URI-ORIGIN"), "{rules:?}");
    let race = edgecheck(&[
        "race",
        "--server",
        &ce,
        "--allow-http",
        "--timeout",
        "5",
        "--ops",
        "3",
    ]);
    assert_ne!(race.status.code(), Some(0), "{race:?}");
    let fuzz = edgecheck(&[
        "fuzz",
        "--server",
        &ce,
        "--allow-http",
        "--timeout",
        "5",
        "--duration",
        "3s",
        "--seed",
        "1",
        "--findings",
        dir.path().join("f").to_str().unwrap(),
        "-q",
    ]);
    assert_ne!(fuzz.status.code(), Some(0), "{fuzz:?}");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        contacted.load(Ordering::SeqCst),
        0,
        "the suite contacted an origin it was not given"
    );
}

#[test]
fn a_cleartext_uri_from_an_https_endpoint_fails_https_and_is_not_followed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (elsewhere, contacted) = counting_listener();
    let (ce, pem) = server(
        &rt,
        Tls::SelfSigned { write_to: None },
        format!("http://{elsewhere}"),
    );
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem.expect("self-signed")).unwrap();
    let json = dir.path().join("r.json");
    let out = edgecheck(&[
        "run",
        "--server",
        &ce,
        "--ca-cert",
        ca.to_str().unwrap(),
        "--only",
        "create/created",
        "--only",
        "create/uris-on-ce-origin",
        "--json",
        json.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let rules = failing_rules(&json);
    assert!(
        !rules.is_empty() && rules.iter().all(|r| r == "S-GEN-HTTPS"),
        "{rules:?}"
    );
    assert_eq!(contacted.load(Ordering::SeqCst), 0);
}

#[test]
fn an_allowed_origin_waives_the_rule() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The URIs point back at the server itself under another name of the same origin
    // (localhost instead of 127.0.0.1): another origin, which the user allows.
    let s = rt
        .block_on(edge_reference_server::start(Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Tls::Plain,
            page_size: 10,
            ..Config::default()
        }))
        .unwrap();
    let port = s.local_addr().port();
    let ce = format!("http://localhost:{port}/connection");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = edgecheck(&[
        "run",
        "--server",
        &ce,
        "--allow-http",
        "--allow-origin",
        &format!("http://127.0.0.1:{port}"),
        "--only",
        "create/uris-on-ce-origin",
        "--json",
        json.to_str().unwrap(),
        "-q",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let verdicts: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["waived"], "{out:?}");
    rt.block_on(s.shutdown());
}
