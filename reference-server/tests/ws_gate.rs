//! The conformance suites of tassis-v2 and simplex-v5 against this server, run as an outside
//! program: the test commands of their mutation runs (`docs/mutants.md`). Like
//! `edgecheck_gate.rs`, ignored by default:
//!
//! ```sh
//! cargo build --release --locked -p edgecheck
//! EDGECHECK_BIN=$PWD/target/release/edgecheck \
//!   cargo test -p edge-reference-server --test ws_gate -- --ignored
//! ```

mod gate_common;

use std::process::Command;
use std::time::Duration;

use edge_reference_server::simplex_v5::SimplexConfig;
use edge_reference_server::tassis_v2::TassisConfig;
use edge_reference_server::Tls;
use gate_common::{abandon, run_suite, runtime, suite_binary};

/// Every check of `edgecheck run --profile tassis-v2` but TB-IDLE (31 s of waiting, which
/// would make each mutant cost ten times as much; the server's own tests cover its idle
/// timeout), against a server configured as the embedded one.
#[test]
#[ignore = "needs EDGECHECK_BIN, a built edgecheck binary; run by the mutation run"]
fn every_tassis_v2_check_passes() {
    let bin = suite_binary();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let rt = runtime();
    let server = rt
        .block_on(edge_reference_server::tassis_v2::start(TassisConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Tls::SelfSigned { write_to: None },
            prekeys_low: 3,
            prekeys_interval: Duration::from_millis(200),
            ..TassisConfig::default()
        }))
        .expect("the server starts");
    std::fs::write(&cert, server.certificate_pem().expect("a certificate")).unwrap();
    let mut run = Command::new(&bin);
    run.args(["run", "--profile", "tassis-v2", "--server", &server.url()])
        .arg("--ca-cert")
        .arg(&cert)
        .args(["--prekeys-low", "3", "--prekeys-interval", "200ms"])
        .args(["--skip", "transport/idle-with-data-frames"]);
    if let Err(e) = run_suite(run, dir.path()) {
        abandon(rt, server);
        panic!("{e}");
    }
    rt.block_on(server.shutdown());
}

/// Every check of `edgecheck run --profile simplex-v5` but the timing ones (mutants are built
/// unoptimized, which magnifies the differences they measure; the kill matrix covers them),
/// against a server configured as the embedded one but with a head deadline of 1 s, which
/// `--idle-wait 2s` passes.
#[test]
#[ignore = "needs EDGECHECK_BIN, a built edgecheck binary; run by the mutation run"]
fn every_simplex_v5_check_passes() {
    let bin = suite_binary();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let rt = runtime();
    let server = rt
        .block_on(edge_reference_server::simplex_v5::start(SimplexConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Tls::SelfSigned { write_to: None },
            page_size: 10,
            large_message: 4096,
            head_timeout: Duration::from_secs(1),
            ..SimplexConfig::default()
        }))
        .expect("the server starts");
    std::fs::write(&cert, server.certificate_pem().expect("a certificate")).unwrap();
    let mut run = Command::new(&bin);
    run.args([
        "run",
        "--profile",
        "simplex-v5",
        "--server",
        &server.create_url(),
    ])
    .arg("--ca-cert")
    .arg(&cert)
    .args(["--page-size", "10", "--large-message", "4096"])
    .args(["--idle-wait", "2s"])
    // By case ID: a rule pattern would also skip every case that lists a timing rule among
    // others (V-TIMING-CODE stands beside V-SECURE, V-401, ...).
    .args(["--skip", "timing/rest", "--skip", "timing/websocket"]);
    if let Err(e) = run_suite(run, dir.path()) {
        abandon(rt, server);
        panic!("{e}");
    }
    rt.block_on(server.shutdown());
}
