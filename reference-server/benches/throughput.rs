//! Throughput of signed sends against a plain echo endpoint on the same server stack.
//!
//! ```text
//! cargo bench -p edge-reference-server --bench throughput -- --seconds 5 --connections 16 --rounds 3
//! ```
//!
//! The server runs in-process on its own 2-thread tokio runtime, over plain HTTP/1.1 on
//! 127.0.0.1. The load generator (hyper's HTTP/1 client, keep-alive, one request in flight
//! per connection) replays requests signed before the clock starts, so the client's signing
//! is not measured. Both paths read the body, check Content-Type and parse the JSON strictly;
//! the signed path (POST SU/messages) also verifies RSA-PSS-2048 with aws-lc-rs, validates
//! the schema and stores the message. A third path, the same sends to a connection without SK
//! (not verified, S-G-OPEN), separates the cost of the signature from the rest of the send.
//! Each round runs the three paths one after the other, to spread out noise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use clap::Parser;
use edge_reference_server::{bench::start_with_echo, Config, Tls};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};

/// Measures signed sends against an unsigned echo on the same stack.
#[derive(Debug, Parser)]
struct Args {
    /// Seconds per measured run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent keep-alive connections of the load generator.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Runs of each path (alternating).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Server worker threads.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// One pre-built request.
#[derive(Clone)]
struct Prepared {
    path: String,
    authorization: String,
    body: Bytes,
}

fn key(name: &str) -> rsa::RsaPrivateKey {
    let path = format!("{}/tests/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"));
    let pem = std::fs::read_to_string(path).expect("fixture key");
    rsa::RsaPrivateKey::from_pkcs8_pem(&pem).expect("PKCS#8 PEM")
}

fn spki(key: &rsa::RsaPrivateKey) -> String {
    STANDARD.encode(key.to_public_key().to_public_key_der().unwrap().as_bytes())
}

fn sign(key: &rsa::RsaPrivateKey, method: &str, path: &str, body: &[u8]) -> String {
    let mut input = format!("EMSig1\n{method}\n{path}\n").into_bytes();
    input.extend_from_slice(body);
    let signer = rsa::pss::SigningKey::<sha2::Sha256>::new(key.clone());
    let sig = signer.sign_with_rng(&mut rand_core::OsRng, &input);
    format!("EMSig {}", STANDARD.encode(sig.to_bytes()))
}

/// Sends one request on a fresh connection and returns status and body.
async fn once(addr: std::net::SocketAddr, method: &str, req: &Prepared) -> (u16, Bytes) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let response = sender.send_request(request(method, req)).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}

fn request(method: &str, req: &Prepared) -> hyper::Request<Full<Bytes>> {
    hyper::Request::builder()
        .method(method)
        .uri(req.path.as_str())
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .header("authorization", req.authorization.as_str())
        .body(Full::new(req.body.clone()))
        .unwrap()
}

/// Replays `requests` for `seconds` on `connections` connections; returns (ok, failed).
async fn load(
    addr: std::net::SocketAddr,
    requests: Arc<Vec<Prepared>>,
    connections: usize,
    seconds: u64,
) -> (u64, u64) {
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (requests, ok, failed) = (requests.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            let mut i = c;
            while Instant::now() < deadline {
                let req = &requests[i % requests.len()];
                i += 1;
                match sender.send_request(request("POST", req)).await {
                    Ok(response) => {
                        let good = response.status() == 200;
                        let drained = response.into_body().collect().await.is_ok();
                        if good && drained {
                            ok.fetch_add(1, Ordering::Relaxed);
                        } else {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
}

/// CPU time used so far by the threads named `name`, in ns (Linux `schedstat`; 0 elsewhere).
///
/// Unlike throughput, CPU time per request hardly changes when other processes compete for
/// the cores, so it shows the cost of a request even on a busy machine.
fn cpu_ns(name: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The 1-minute load average, to judge how noisy a run was (other work on the machine).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let args = Args::parse();
    // Named threads let a profiler tell the server from the load generator.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("bench-server")
        .worker_threads(args.server_threads)
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("bench-client")
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        ..Config::default()
    };
    let (server, echo_url) = server_rt
        .block_on(start_with_echo(config))
        .expect("server starts");
    let addr = server.local_addr();
    let origin = format!("http://{addr}");
    let path_of = |url: &str| url.strip_prefix(&origin).expect("local URL").to_owned();

    // Setup (not measured): a connection secured with SK, and signed requests.
    let (rk, sk) = (key("rsa2048-a"), key("rsa2048-b"));
    let cid = "benchmark-connection-1";
    let create = serde_json::to_vec(&serde_json::json!({
        "connectionID": cid, "recipient": spki(&rk), "sender": spki(&sk)
    }))
    .unwrap();
    let create_path = path_of(&server.create_url());
    let created = Prepared {
        authorization: sign(&rk, "POST", &create_path, &create),
        path: create_path,
        body: create.into(),
    };
    let (status, body) = client_rt.block_on(once(addr, "POST", &created));
    assert_eq!(status, 201, "create: {}", String::from_utf8_lossy(&body));
    let uris: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let send_path = path_of(&format!("{}/messages", uris["senderURI"].as_str().unwrap()));
    let retrieve_path = path_of(&format!(
        "{}/messages",
        uris["recipientURI"].as_str().unwrap()
    ));
    let echo_path = path_of(&echo_url);

    let mut signed = Vec::new();
    let mut plain = Vec::new();
    for i in 0..64u32 {
        let msg = STANDARD.encode(format!("benchmark message {i:04} {}", "x".repeat(180)));
        let body = serde_json::to_vec(
            &serde_json::json!({"connectionID": cid, "messages": [{"msg": msg}]}),
        )
        .unwrap();
        let authorization = sign(&sk, "POST", &send_path, &body);
        plain.push(Prepared {
            path: echo_path.clone(),
            authorization: authorization.clone(),
            body: body.clone().into(),
        });
        signed.push(Prepared {
            path: send_path.clone(),
            authorization,
            body: body.into(),
        });
    }
    // An open connection (no SK): sends are not verified, so this path costs everything but
    // the signature check.
    let open_cid = "benchmark-connection-2";
    let create_open = serde_json::to_vec(&serde_json::json!({
        "connectionID": open_cid, "recipient": spki(&rk)
    }))
    .unwrap();
    let created_open = Prepared {
        authorization: sign(&rk, "POST", &created.path, &create_open),
        path: created.path.clone(),
        body: create_open.into(),
    };
    let (status, body) = client_rt.block_on(once(addr, "POST", &created_open));
    assert_eq!(status, 201, "create: {}", String::from_utf8_lossy(&body));
    let open_uris: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let open_send_path = path_of(&format!(
        "{}/messages",
        open_uris["senderURI"].as_str().unwrap()
    ));
    let open_retrieve_path = path_of(&format!(
        "{}/messages",
        open_uris["recipientURI"].as_str().unwrap()
    ));
    let open: Vec<Prepared> = signed
        .iter()
        .map(|p| {
            let text = String::from_utf8(p.body.to_vec())
                .unwrap()
                .replace(cid, open_cid);
            Prepared {
                path: open_send_path.clone(),
                authorization: p.authorization.clone(),
                body: text.into_bytes().into(),
            }
        })
        .collect();
    let drain_open_body =
        serde_json::to_vec(&serde_json::json!({"connectionID": open_cid})).unwrap();
    let drain_open = Prepared {
        authorization: sign(&rk, "DELETE", &open_retrieve_path, &drain_open_body),
        path: open_retrieve_path,
        body: drain_open_body.into(),
    };
    let drain_body = serde_json::to_vec(&serde_json::json!({"connectionID": cid})).unwrap();
    let drain = Prepared {
        authorization: sign(&rk, "DELETE", &retrieve_path, &drain_body),
        path: retrieve_path,
        body: drain_body.into(),
    };
    // Check both paths once before measuring.
    assert_eq!(client_rt.block_on(once(addr, "POST", &signed[0])).0, 200);
    assert_eq!(client_rt.block_on(once(addr, "POST", &plain[0])).0, 200);
    assert_eq!(client_rt.block_on(once(addr, "POST", &open[0])).0, 200);

    let (signed, open, plain) = (Arc::new(signed), Arc::new(open), Arc::new(plain));
    let load_before = load_average();
    let mut rows = Vec::new();
    let (mut plain_rates, mut open_rates, mut signed_rates, mut ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut cpu: Vec<(f64, f64, f64)> = Vec::new();
    let mut cpu_ratios = Vec::new();
    for round in 1..=args.rounds {
        let mut failed = 0;
        // Returns requests/s, server CPU µs per request, and server + client CPU µs per request.
        let mut measure = |requests: &Arc<Vec<Prepared>>| {
            let started = Instant::now();
            let (server, client) = (cpu_ns("bench-server"), cpu_ns("bench-client"));
            let (ok, bad) =
                client_rt.block_on(load(addr, requests.clone(), args.connections, args.seconds));
            failed += bad;
            let per_request = |ns: u64| ns as f64 / 1000.0 / ok.max(1) as f64;
            let server = per_request(cpu_ns("bench-server") - server);
            let both = server + per_request(cpu_ns("bench-client") - client);
            (ok as f64 / started.elapsed().as_secs_f64(), server, both)
        };
        let (p, p_cpu, p_all) = measure(&plain);
        let (o, o_cpu, _) = measure(&open);
        let (s, s_cpu, s_all) = measure(&signed);
        // Empty the queues between rounds (not measured).
        for drain in [&drain, &drain_open] {
            assert_eq!(client_rt.block_on(once(addr, "DELETE", drain)).0, 200);
        }
        rows.push(format!(
            "| {round} | {p:.0} | {o:.0} | {s:.0} | {:.2} | {p_cpu:.1} / {o_cpu:.1} / {s_cpu:.1} | {:.2} | {failed} |",
            s / p,
            p_all / s_all
        ));
        cpu.push((p_cpu, o_cpu, s_cpu));
        cpu_ratios.push(p_all / s_all);
        plain_rates.push(p);
        open_rates.push(o);
        signed_rates.push(s);
        ratios.push(s / p);
    }
    println!(
        "edge-reference-server throughput: {} s per run, {} connections, {} server threads, {} CPUs, 1-minute load average {} before, {} after\n",
        args.seconds,
        args.connections,
        args.server_threads,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_before,
        load_average(),
    );
    println!(
        "| round | plain echo req/s | unsigned send req/s | signed send req/s | signed/plain | server CPU µs/req (echo / unsigned / signed) | signed/plain by CPU | failed |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    let column = |pick: fn(&(f64, f64, f64)) -> f64| {
        let mut values: Vec<f64> = cpu.iter().map(pick).collect();
        median(&mut values)
    };
    let (p_cpu, o_cpu, s_cpu) = (column(|c| c.0), column(|c| c.1), column(|c| c.2));
    println!(
        "| median | {:.0} | {:.0} | {:.0} | {:.2} | {p_cpu:.1} / {o_cpu:.1} / {s_cpu:.1} | {:.2} | |",
        median(&mut plain_rates),
        median(&mut open_rates),
        median(&mut signed_rates),
        median(&mut ratios),
        median(&mut cpu_ratios)
    );
    println!(
        "\ngoal: signed/plain ≥ 0.35. \"by CPU\" is the ratio of server + client CPU per request (plain / signed): \
         the throughput ratio of a machine with no other load, since both paths keep the cores busy."
    );
    client_rt.block_on(async {});
    server_rt.block_on(server.shutdown());
}
