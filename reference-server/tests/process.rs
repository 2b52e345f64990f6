//! The `edge-server` binary: startup output, silence while serving (S-PRIV-QUIET), TLS by
//! default, graceful shutdown on SIGTERM, and usage errors.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{new_cid, Key};
use serde_json::json;

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_edge-server"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("edge-server starts")
}

/// Reads one line of the child's stdout.
fn first_line(child: &mut Child) -> (String, BufReader<std::process::ChildStdout>) {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    (line, reader)
}

/// SIGTERM by PID, then the exit status within 10 s.
fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("edge-server did not stop on SIGTERM");
}

fn rest(mut reader: impl std::io::Read) -> String {
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    text
}

// Multi-threaded: the test blocks one thread in `terminate` while the client's connection
// tasks answer the server's shutdown on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_quietly_and_stops_on_sigterm() {
    let mut child = spawn(&["--http", "--listen", "127.0.0.1:0"]);
    let (line, stdout) = first_line(&mut child);
    let ce = line
        .trim()
        .strip_prefix("edge-server listening on ")
        .unwrap_or_else(|| panic!("unexpected startup line {line:?}"))
        .to_owned();
    assert!(
        ce.starts_with("http://127.0.0.1:") && ce.ends_with("/connection"),
        "{ce}"
    );

    // Successful and failing requests of every kind.
    let client = reqwest::Client::new();
    let rk = Key::load("rsa2048-a");
    let body =
        serde_json::to_vec(&json!({"connectionID": new_cid(), "recipient": rk.spki})).unwrap();
    let auth = format!("EMSig {}", rk.sign("POST", "/connection", &body));
    for (auth, ct, expect) in [
        (auth.as_str(), "application/json", 201),
        (auth.as_str(), "application/json", 409),
        ("EMSig AAAA", "application/json", 401),
        (auth.as_str(), "text/plain", 400),
    ] {
        let r = client
            .post(&ce)
            .header("authorization", auth)
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expect);
    }
    let r = client.get(format!("{ce}/unknown")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    let status = terminate(&mut child);
    assert!(status.success(), "{status}");
    assert_eq!(rest(stdout), "", "nothing on stdout after startup");
    assert_eq!(rest(child.stderr.take().unwrap()), "", "nothing on stderr");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_by_default_with_a_written_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("edge.pem");
    let mut child = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--cert-out",
        cert.to_str().unwrap(),
    ]);
    let (line, mut stdout) = first_line(&mut child);
    let ce = line
        .trim()
        .strip_prefix("edge-server listening on ")
        .unwrap()
        .to_owned();
    assert!(ce.starts_with("https://127.0.0.1:"), "{ce}");
    let mut second = String::new();
    stdout.read_line(&mut second).unwrap();
    assert_eq!(
        second.trim(),
        format!("self-signed certificate written to {}", cert.display())
    );

    let pem = std::fs::read(&cert).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    let r = client
        .post(&ce)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.version(), reqwest::Version::HTTP_2);

    assert!(terminate(&mut child).success());
    assert_eq!(rest(stdout), "");
    assert_eq!(rest(child.stderr.take().unwrap()), "");
}

#[test]
fn usage_errors() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_edge-server"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stderr, _) = run(&["--listen", "not-an-address"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--listen"), "{stderr}");
    let (code, stderr, _) = run(&[
        "--http",
        "--base-path",
        "connection",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("base path"), "{stderr}");
    let (code, stderr, _) = run(&["--http", "--tls-cert", "a.pem", "--tls-key", "b.pem"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--http"), "{stderr}");
    let (code, _, stdout) = run(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("local use only"), "{stdout}");
}
