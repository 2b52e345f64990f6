//! WebCrypto interoperability: `interop/webcrypto-flow.mjs`, a client that uses only
//! `crypto.subtle` and `fetch`, runs a full flow against the reference server and verifies
//! the signature vectors. Without `node` each test passes and says it was skipped on the real
//! standard error (the harness would hide a `println!`), and its name says it can skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `node --version`, or None when node cannot be run.
fn node_version() -> Option<String> {
    let out = Command::new("node").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs the script against `ce` with a time limit; returns (success, stdout, stderr).
fn run_script(ce: &str, vectors: Option<&Path>) -> (bool, String, String) {
    let mut cmd = Command::new("node");
    cmd.arg(root().join("interop/webcrypto-flow.mjs")).arg(ce);
    if let Some(v) = vectors {
        cmd.arg(v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    // The script bounds every request; this bounds the whole run.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().expect("wait on node").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("interop/webcrypto-flow.mjs ran for more than 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("node output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts a plain-HTTP reference server on a free port in a background runtime and returns
/// its create endpoint and a handle that stops it when dropped.
fn start_server(config: edge_reference_server::Config) -> (String, ServerGuard) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(edge_reference_server::start(config))
        .expect("the reference server starts");
    (
        server.create_url(),
        ServerGuard {
            rt,
            server: Some(server),
        },
    )
}

struct ServerGuard {
    rt: tokio::runtime::Runtime,
    server: Option<edge_reference_server::Server>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

fn plain() -> edge_reference_server::Config {
    edge_reference_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: edge_reference_server::Tls::Plain,
        ..edge_reference_server::Config::default()
    }
}

/// Say on the real standard error that a test was skipped: the test harness captures
/// `println!` and `eprintln!` of passing tests, which would hide the skip.
fn skipped(test: &str) {
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: node not found (install Node.js 20 or later to run the WebCrypto \
         interop flow); the test passes without checking anything"
    );
}

#[test]
fn webcrypto_client_runs_the_full_flow_and_verifies_the_vectors_or_skips_without_node() {
    let Some(version) = node_version() else {
        skipped("webcrypto_client_runs_the_full_flow_and_verifies_the_vectors");
        return;
    };
    let (ce, _guard) = start_server(plain());
    let vectors = root().join("fixtures/vectors/signatures.json");
    let (ok, stdout, stderr) = run_script(&ce, Some(&vectors));
    println!("node {version}\n{stdout}");
    assert!(ok, "the WebCrypto flow failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("create signed with RK")
            && stdout.contains("new RK with EM-New-Key-Signature")
            && stdout.contains("vector valid-2048")
            && stdout.contains(", 0 failed"),
        "the flow and the vector checks both ran:\n{stdout}"
    );
}

#[test]
fn webcrypto_flow_fails_against_a_server_that_breaks_a_rule_or_skips_without_node() {
    let Some(_) = node_version() else {
        skipped("webcrypto_flow_fails_against_a_server_that_breaks_a_rule");
        return;
    };
    // A server on which the old RK keeps working (S-RUPD-OLDKEY): the flow must notice.
    let (ce, _guard) = start_server(edge_reference_server::Config {
        faults: vec![edge_reference_server::faults::Fault::OldRkAlive],
        ..plain()
    });
    let (ok, stdout, stderr) = run_script(&ce, None);
    assert!(!ok, "the script must fail:\n{stdout}");
    assert!(
        stderr.contains("retrieve signed with the old RK → 401"),
        "{stdout}\n{stderr}"
    );
}
