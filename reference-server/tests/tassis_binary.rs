//! `edge-server --profile tassis-v2`: startup line, a session over the binary, silence while
//! serving, SIGTERM, and flags of the other profile refused.

mod tassis_common;

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use tassis_common::{Client, Identity};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_tassis_v2_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge-server"))
        .args([
            "--profile",
            "tassis-v2",
            "--http",
            "--listen",
            "127.0.0.1:0",
            "--prekeys-interval",
            "50ms",
            "--max-attachment",
            "1234",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("edge-server starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("edge-server listening on ")
        .unwrap_or_else(|| panic!("unexpected startup line {line:?}"))
        .to_owned();
    assert!(
        url.starts_with("ws://127.0.0.1:") && url.ends_with("/api"),
        "{url}"
    );

    let mut c = Client::connect_url(&url).await;
    assert!(matches!(
        &c.hello[1].payload,
        Some(edge_reference_server::tassis_v2::wire::message::Payload::Configuration(cfg))
            if cfg.max_attachment_size == 1234
    ));
    let id = Identity::new();
    c.login_ok(&id, "d").await;
    c.register("spk", &[]).await;
    // PreKeysLow at the configured interval.
    assert!(c.push(Duration::from_millis(500)).await.is_ok());

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut status = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("edge-server did not stop on SIGTERM")
    });
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut errors = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut errors)
        .unwrap();
    assert_eq!((rest.as_str(), errors.as_str()), ("", ""), "nothing logged");
}

#[test]
fn flags_of_the_other_profile_are_refused() {
    for args in [
        &["--profile", "tassis-v2", "--page-size", "3"][..],
        &["--prekeys-low", "5"][..],
        &["--profile", "tassis-v2", "--prekeys-interval", "soon"][..],
        &["--profile", "tassis-v2", "--upload-base", "uploads"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_edge-server"))
            .args(args)
            .args(["--http", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.is_empty(), "{args:?}");
    }
}
