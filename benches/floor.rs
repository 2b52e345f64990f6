//! What one exchange costs at the least: CPU time per request of the cheapest requests the
//! suite can send, through its own client (`edgecheck::client`) to the edge-v1 reference
//! server in the same process, over loopback TLS (docs/BENCHMARKS.md, "The floor").
//!
//! ```text
//! cargo bench --bench floor                       # 4 s per kind, 8 requests in flight
//! cargo bench --bench floor -- --seconds 8 --in-flight 16
//! ```
//!
//! - The kinds: kept-alive HTTP/1.1, kept-alive HTTP/2, and a new connection per request
//!   (the raw path: TCP, a TLS handshake, `Connection: close`). Each request is a `GET` of
//!   the create endpoint, answered 405 before any JSON, signature or store.
//! - The CPU time is the whole process's (`getrusage`): client, server and the kernel's work
//!   for both, as in `cargo bench --bench speed`.
//! - A signed request costs its signature plus at least this floor, so `cores × s ÷ (s +
//!   floor)`, with `s` one core's time per signature, bounds what `prop`, `fuzz` and `run`
//!   can reach against one core's signing rate. The bench prints that bound for each kind.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use edgecheck::client::{Client, ClientOptions, HttpVersion, Request};
use edgecheck::profiles::edge_v1::sign::KeyPool;
use url::Url;

mod support;

/// Measures the CPU cost of the cheapest exchanges with the embedded reference server.
#[derive(Debug, Parser)]
struct Args {
    /// Seconds per kind of exchange.
    #[arg(long, default_value_t = 4)]
    seconds: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
    /// Ignored: `cargo bench` passes it.
    #[arg(long, hide = true)]
    bench: bool,
}

/// One kind of exchange.
struct Kind {
    name: &'static str,
    http: HttpVersion,
    fresh_connection: bool,
}

const KINDS: [Kind; 3] = [
    Kind {
        name: "kept-alive HTTP/1.1",
        http: HttpVersion::Http1,
        fresh_connection: false,
    },
    Kind {
        name: "kept-alive HTTP/2",
        http: HttpVersion::Http2,
        fresh_connection: false,
    },
    Kind {
        name: "a new TLS connection per request",
        http: HttpVersion::Http1,
        fresh_connection: true,
    },
];

fn main() {
    let args = Args::parse();
    let cores = edgecheck::engine::cores();
    let pool = KeyPool::builtin().expect("the built-in key pool loads");
    let sign_us = 1e6 / support::signing_rate_on(&pool, 1);
    println!(
        "edgecheck floor: {cores} CPUs; one core signs in {sign_us:.0} µs (RSA-PSS-2048, the \
         suite's signer)"
    );
    let rt = edgecheck::engine::runtime(cores);
    rt.block_on(async {
        let server = edge_reference_server::start(edge_reference_server::Config {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            tls: edge_reference_server::Tls::SelfSigned { write_to: None },
            ..edge_reference_server::Config::default()
        })
        .await
        .expect("the embedded server starts");
        let ce = Url::parse(&server.create_url()).expect("the create URL");
        let pem = server.certificate_pem().map(String::into_bytes);
        for kind in &KINDS {
            let (requests, cpu, wall, status) = measure(&args, kind, &ce, pem.clone()).await;
            let floor_us = cpu / requests as f64 * 1e6;
            let bound = cores as f64 * sign_us / (sign_us + floor_us);
            println!(
                "  {}: {requests} requests in {wall:.1} s (status {status}), {cpu:.2} CPU-s \
                 ({:.0} % of {cores} cores): {floor_us:.0} µs per request; signed requests at \
                 this floor reach at most {bound:.2} × one core",
                kind.name,
                cpu / wall / cores as f64 * 100.0
            );
        }
        server.shutdown().await;
    });
}

/// Requests of `kind` from `args.in_flight` tasks for `args.seconds`: (requests, CPU
/// seconds, wall seconds, the last status seen).
async fn measure(args: &Args, kind: &Kind, ce: &Url, pem: Option<Vec<u8>>) -> (u64, f64, f64, u16) {
    let client = Arc::new(
        Client::new(&ClientOptions {
            ca_cert_pem: pem,
            http: kind.http,
            ..ClientOptions::default()
        })
        .expect("the client"),
    );
    let length = Duration::from_secs(args.seconds);
    let cpu_before = support::cpu_seconds(libc::RUSAGE_SELF);
    let began = Instant::now();
    let tasks: Vec<_> = (0..args.in_flight)
        .map(|_| {
            let (client, ce, fresh) = (client.clone(), ce.clone(), kind.fresh_connection);
            tokio::spawn(async move {
                let (mut n, mut status) = (0u64, 0u16);
                while began.elapsed() < length {
                    let mut r = Request::new("GET", ce.clone());
                    if fresh {
                        // A literal request-target goes over the raw path: a new connection.
                        r.target = Some(ce.path().to_owned());
                    }
                    let ex = client.execute(r).await;
                    status = ex.response.map_or(0, |r| r.status);
                    n += 1;
                }
                (n, status)
            })
        })
        .collect();
    let (mut requests, mut status) = (0, 0);
    for t in tasks {
        let (n, s) = t.await.expect("a request task");
        requests += n;
        status = s;
    }
    let wall = began.elapsed().as_secs_f64();
    (
        requests,
        support::cpu_seconds(libc::RUSAGE_SELF) - cpu_before,
        wall,
        status,
    )
}
