//! The whole conformance suite against this server, run as an outside program: the test
//! command of the mutation run (`docs/mutants.md`). The server does not depend on the suite;
//! it only starts the `edgecheck` binary named by `EDGECHECK_BIN`, so the test is ignored by
//! default:
//!
//! ```sh
//! cargo build --release --locked -p edgecheck
//! EDGECHECK_BIN=$PWD/target/release/edgecheck \
//!   cargo test -p edge-reference-server --test edgecheck_gate -- --ignored
//! ```

mod gate_common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gate_common::{abandon, run_suite, runtime, suite_binary};

use edge_reference_server::{Config, Tls};

/// The main server's head deadline: short, so that it passes many times within the suite's
/// run and a fault in the deadline's bookkeeping (a connection closed with a request in
/// flight, a sweeper that never lets go) shows in ordinary checks.
const HEAD_TIMEOUT: Duration = Duration::from_secs(1);

#[test]
#[ignore = "needs EDGECHECK_BIN, a built edgecheck binary; run by the mutation run"]
fn every_edgecheck_check_passes() {
    let bin = suite_binary();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let rt = runtime();
    // The main server: HTTPS with a certificate made at startup, PAGE_SIZE 10 and a queue cap
    // so that B-QUOTA can be observed. The cap, 112, is a multiple of the suite's batches of
    // 16, so a cap check that refuses only an exact fill (`==` for `>`) meets a 429 and then
    // the consistency check. It listens on the wildcard address and is named by the loopback
    // address, independently of the server's own `create_url`, so that the origin it names
    // in its URIs for a wildcard listener is checked (B-URI-ORIGIN).
    let main = rt
        .block_on(edge_reference_server::start(Config {
            listen: "0.0.0.0:0".parse().unwrap(),
            tls: Tls::SelfSigned { write_to: None },
            page_size: 10,
            queue_cap: Some(112),
            head_timeout: HEAD_TIMEOUT,
            ..Config::default()
        }))
        .expect("the main server starts");
    // Read the certificate the way the suite's embedded run does.
    let pem = main
        .certificate_pem()
        .expect("a self-signed server has a certificate");
    std::fs::write(&cert, pem).unwrap();
    let main_ce = format!("https://127.0.0.1:{}/connection", main.local_addr().port());
    // A second server, for the scenario that needs two, on another loopback address (all of
    // 127/8 is the loopback on Linux): its URIs must name that address, not 127.0.0.1.
    let second = rt
        .block_on(edge_reference_server::start(Config {
            listen: "127.0.0.2:0".parse().unwrap(),
            tls: Tls::Plain,
            page_size: 10,
            ..Config::default()
        }))
        .expect("the second server starts");
    let second_ce = format!("http://{}/connection", second.local_addr());

    let mut run = Command::new(&bin);
    run.args(["run", "--server", &main_ce, "--server", &second_ce])
        .arg("--ca-cert")
        .arg(&cert)
        .args(["--allow-http", "--page-size", "10", "--timeout", "10"])
        // Past the head deadline: the idle check then sees the table's sweeper at work.
        .args(["--idle-wait", "2s"]);
    if let Err(e) = run_suite(run, dir.path()) {
        abandon(rt, vec![main, second]);
        panic!("{e}");
    }
    rt.block_on(async {
        main.shutdown().await;
        second.shutdown().await;
    });
    ipv6_origins(rt, &bin, dir.path());
}

/// The origin a server names for an IPv6 listen address (B-URI-ORIGIN): one server on the
/// IPv6 wildcard, reached as `[::1]`, and one on a specific IPv6 address (the IPv4-mapped
/// `::ffff:127.0.0.3`), each named by the address the suite reaches it on. Skipped, with a
/// note, where the machine has no IPv6 loopback.
fn ipv6_origins(rt: tokio::runtime::Runtime, bin: &Path, dir: &Path) {
    const WILDCARD: &str = "[::]:0";
    const SPECIFIC: &str = "[::ffff:127.0.0.3]:0";
    let unavailable = ["[::1]:0", SPECIFIC]
        .iter()
        .any(|a| std::net::TcpListener::bind(a).is_err());
    if unavailable {
        eprintln!(
            "note: no IPv6 loopback (or no dual stack) here; the origins of IPv6 listeners \
             are not checked"
        );
        return;
    }
    let start = |listen: &str| {
        rt.block_on(edge_reference_server::start(Config {
            listen: listen.parse().unwrap(),
            tls: Tls::Plain,
            page_size: 10,
            ..Config::default()
        }))
        .unwrap_or_else(|e| panic!("the server on {listen} starts: {e}"))
    };
    let wildcard = start(WILDCARD);
    let specific = start(SPECIFIC);
    let wildcard_ce = format!("http://[::1]:{}/connection", wildcard.local_addr().port());
    let specific_ce = format!("http://{}/connection", specific.local_addr());
    let mut run = Command::new(bin);
    run.args(["run", "--server", &wildcard_ce, "--server", &specific_ce])
        .args(["--allow-http", "--page-size", "10"])
        .args(["--only", "B-URI-ORIGIN", "--only", "scenarios/two-servers"]);
    if let Err(e) = run_suite(run, &dir.join("ipv6")) {
        abandon(rt, vec![wildcard, specific]);
        panic!("over IPv6: {e}");
    }
    rt.block_on(async {
        wildcard.shutdown().await;
        specific.shutdown().await;
    });
}
