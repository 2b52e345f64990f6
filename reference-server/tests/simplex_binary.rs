//! `edge-server --profile simplex-v5`: startup line, REST and WebSocket over the binary with
//! its flags, silence while serving, SIGTERM, flags of other profiles refused; and the
//! library server over HTTPS and WSS with its self-signed certificate.

mod simplex_common;

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use edge_reference_server::simplex_v5::{start, SimplexConfig};
use edge_reference_server::Tls;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use simplex_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_simplex_v5_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge-server"))
        .args([
            "--profile",
            "simplex-v5",
            "--http",
            "--listen",
            "127.0.0.1:0",
            "--page-size",
            "2",
            "--large-message",
            "5",
            "--max-ws",
            "70000",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("edge-server starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let ce = line
        .trim()
        .strip_prefix("edge-server listening on ")
        .unwrap_or_else(|| panic!("unexpected startup line {line:?}"))
        .to_owned();
    assert!(
        ce.starts_with("http://127.0.0.1:") && ce.ends_with("/connection"),
        "{ce}"
    );
    let t = Api::remote(&ce);
    let rk = Key::load("rsa2048-a");
    let conn = t.create(&rk).await;
    for msg in ["AAAA", "AAAAAAAA", "AA=="] {
        t.send(&conn, msg).await.ok();
    }
    let page = t.page(&conn).await;
    assert_eq!(ids(&page).len(), 2);
    assert!(page["nextMessageID"].is_string());
    assert!(page["messages"][1].get("msg").is_none(), "6 bytes > 5");
    let mut ws = Ws::open(&ce.replace("http://", "ws://")).await;
    // 70 000 bytes are within --max-ws.
    let long = format!(
        r#"{{"id":"u","type":"unsubscribe","recipientURI":"{}"}}"#,
        "a".repeat(69_900)
    );
    ws.send_text(&long).await;
    assert_eq!(ws.recv().await["ok"], false);
    assert_eq!(ws.subscribe("s", &conn.ru, &rk).await["ok"], true);
    drop(ws);

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
fn flags_of_other_profiles_are_refused() {
    for args in [
        &["--profile", "simplex-v5", "--queue-cap", "3"][..],
        &["--profile", "simplex-v5", "--prekeys-low", "5"][..],
        &["--large-message", "10"][..],
        &["--profile", "tassis-v2", "--max-ws", "70000"][..],
        &["--profile", "simplex-v5", "--max-ws", "1000"][..],
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

#[tokio::test]
async fn https_and_wss_with_the_self_signed_certificate() {
    let server = start(SimplexConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::SelfSigned { write_to: None },
        ..SimplexConfig::default()
    })
    .await
    .unwrap();
    let ce = server.create_url();
    assert!(
        ce.starts_with("https://127.0.0.1:") && ce.ends_with("/connection"),
        "{ce}"
    );
    assert_eq!(server.ws_url(), ce.replace("https://", "wss://"));
    let pem = server.certificate_pem().unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let rk = Key::load("rsa2048-a");
    let body = serde_json::to_vec(&json!({"recipient": rk.spki})).unwrap();
    let r = client
        .post(&ce)
        .header("content-type", "application/json")
        .header(
            "authorization",
            format!("EMSig {}", rk.sign("POST", "/connection", &body)),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let created: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    let ru = created["recipientURI"].as_str().unwrap().to_owned();
    assert!(ru.starts_with("https://"));

    // WSS over HTTP/1.1 (no ALPN), trusting the PEM.
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let io: Box<dyn Io> = Box::new(tls);
    let (stream, _) = tokio_tungstenite::client_async(server.ws_url(), io)
        .await
        .expect("WSS upgrade");
    let mut ws = Ws {
        stream,
        nonce: String::new(),
    };
    let hello = ws.recv().await;
    ws.nonce = hello["nonce"].as_str().unwrap().to_owned();
    assert_eq!(ws.subscribe("s", &ru, &rk).await["ok"], true);
    server.shutdown().await;
}
