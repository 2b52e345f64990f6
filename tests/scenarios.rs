//! The scenario, concurrency and isolation cases pass against two reference servers given as
//! two `--server`s, and the two-servers scenario really puts one recipient on the second
//! server (a byte-counting relay in front of it sees that connection being secured).

use std::process::Command;
use std::sync::{Arc, Mutex};

use edge_reference_server::{start, Config, Server, Tls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn plain_server(public_url: Option<String>) -> Server {
    start(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url,
        page_size: 10,
        tls: Tls::Plain,
        ..Config::default()
    })
    .await
    .expect("a reference server starts")
}

/// A TCP relay from `listener` to `upstream` that keeps every byte clients send through it.
fn relay(listener: TcpListener, upstream: std::net::SocketAddr) -> Arc<Mutex<Vec<u8>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        keep.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = sw.shutdown().await;
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    let _ = cw.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    seen
}

/// Run `edgecheck` with `args` and return its exit code, output and JSON results.
async fn edgecheck(args: Vec<String>) -> (Option<i32>, String, serde_json::Value) {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("temp dir");
        let json = dir.path().join("results.json");
        let out = Command::new(env!("CARGO_BIN_EXE_edgecheck"))
            .args(&args)
            .arg("--json")
            .arg(&json)
            .output()
            .expect("edgecheck runs");
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let results = std::fs::read(&json)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        (out.status.code(), text, results)
    })
    .await
    .unwrap()
}

fn verdict<'a>(results: &'a serde_json::Value, id: &str) -> &'a str {
    results["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == id))
        .and_then(|c| c["verdict"].as_str())
        .unwrap_or("missing")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_pass_against_two_servers_and_use_the_second() {
    let one = plain_server(None).await;
    // The second server is reached only through the relay: its URIs name the relay.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let via = listener.local_addr().unwrap();
    let two = plain_server(Some(format!("http://{via}"))).await;
    let seen = relay(listener, two.local_addr());
    let second = format!("http://{via}/connection");
    let args = [
        "run",
        "--quiet",
        "--only",
        "scenarios",
        "--allow-http",
        "--server",
        &one.create_url(),
        "--server",
        &second,
    ];
    let (code, out, results) = edgecheck(args.iter().map(|s| s.to_string()).collect()).await;
    assert_eq!(
        code,
        Some(0),
        "scenarios failed against two servers:\n{out}"
    );
    let checks = results["checks"].as_array().expect("checks in the results");
    assert!(checks.len() >= 9, "{out}");
    for c in checks {
        assert_eq!(c["verdict"], "pass", "{}: {}\n{out}", c["id"], c["message"]);
    }
    // Bob's connection lives on the second server: it was created and secured there.
    let bytes = seen.lock().unwrap().clone();
    let count = |needle: &[u8]| bytes.windows(needle.len()).filter(|w| *w == needle).count();
    assert!(
        count(b"PUT /connection/") >= 1,
        "the second server never saw Bob secure his connection"
    );
    assert!(
        count(b"POST /connection ") >= 1,
        "the second server never saw a create"
    );
    one.shutdown().await;
    two.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_is_skipped_with_one_server() {
    let one = plain_server(None).await;
    let args = [
        "run",
        "--quiet",
        "--only",
        "scenarios/two-servers",
        "--allow-http",
        "--server",
        &one.create_url(),
    ];
    let (_, out, results) = edgecheck(args.iter().map(|s| s.to_string()).collect()).await;
    assert_eq!(verdict(&results, "scenarios/two-servers"), "skip", "{out}");
    let message = results["checks"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("--server twice"), "{message}");
    one.shutdown().await;
}
