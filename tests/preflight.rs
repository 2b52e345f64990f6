//! A target the suite cannot trust or talk HTTP to is one clear message and exit 3, never a
//! run of failed checks: a transport problem is not the server's failure.

use std::net::TcpListener;
use std::process::Command;

use edge_reference_server::{Config, Tls};

fn edgecheck(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edgecheck"))
        .args(args)
        .output()
        .expect("edgecheck runs")
}

#[test]
fn an_untrusted_certificate_exits_3_with_the_hint() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(edge_reference_server::start(Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Tls::SelfSigned { write_to: None },
            ..Config::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = edgecheck(&[
        "run",
        "--server",
        &server.create_url(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("--ca-cert") && stderr.contains("--insecure"),
        "{stderr}"
    );
    assert!(
        stdout.lines().count() + stderr.lines().count() < 5,
        "{stdout}{stderr}"
    );
    assert!(!json.exists(), "no results: nothing was judged");
    // With the certificate trusted, the same server is checked.
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.certificate_pem().unwrap()).unwrap();
    let ok = edgecheck(&[
        "run",
        "--server",
        &server.create_url(),
        "--ca-cert",
        ca.to_str().unwrap(),
        "--only",
        "create/created",
        "-q",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    rt.block_on(server.shutdown());
}

#[test]
fn a_listener_that_never_answers_http_exits_3() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s); // accept, never answer
        }
    });
    let ce = format!("http://{addr}/connection");
    let out = edgecheck(&["run", "--server", &ce, "--allow-http", "--timeout", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("does not answer"), "{stderr}");
}
