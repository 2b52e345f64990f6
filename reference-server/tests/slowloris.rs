//! Connection floods: slow request heads ("slowloris") must not keep other clients out.
//!
//! The server closes a connection that has not delivered a whole request head within the head
//! timeout, and when its connection table is full it evicts the connection that has waited
//! longest for a head. The tests open many connections that send a request head one byte at a
//! time and reopen as soon as the server closes them, and check that a normal request on a new
//! connection is answered within 1 s, every time.
//!
//! All traffic goes to 127.0.0.1, with a bounded number of sockets for a bounded time.
//! `flood_2000_*` are `#[ignore]`d (a minute each, 2,000 sockets); see
//! `docs/BENCHMARKS.md`, "Reference server under connection floods".

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_reference_server::{start, Config, Tls};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;

/// The most a normal request may take, connection set-up included.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// The start of a request head that never ends: after it, `a` forever.
const SLOW_HEAD: &[u8] = b"GET /connection HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

/// A request on its own connection, closed after the answer.
const PROBE: &[u8] = b"GET /connection HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

/// How the test clients reach the server.
#[derive(Clone)]
enum Dial {
    Plain(SocketAddr),
    Tls(SocketAddr, TlsConnector),
}

impl Dial {
    fn tls(addr: SocketAddr, pem: &str) -> Dial {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Dial::Tls(addr, TlsConnector::from(Arc::new(config)))
    }

    /// Runs `f` on a new connection (TLS handshake done); `None` if it cannot be opened.
    async fn with<R>(&self, f: impl AsyncFnOnce(&mut (dyn Stream + '_)) -> R) -> Option<R> {
        match self {
            Dial::Plain(addr) => {
                let mut tcp = TcpStream::connect(addr).await.ok()?;
                Some(f(&mut tcp).await)
            }
            Dial::Tls(addr, connector) => {
                let tcp = TcpStream::connect(addr).await.ok()?;
                let name = ServerName::try_from("127.0.0.1").unwrap();
                let mut tls = connector.connect(name, tcp).await.ok()?;
                Some(f(&mut tls).await)
            }
        }
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

#[derive(Default)]
struct Stats {
    /// Connections opened by the slow clients.
    opened: AtomicU64,
    /// Of those, closed by the server.
    cut: AtomicU64,
}

/// A slow client: sends a request head one byte every `every`, and opens a new connection as
/// soon as the server closes the current one, until `stop`.
async fn slowloris(
    dial: Dial,
    every: Duration,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        stats.opened.fetch_add(1, Ordering::Relaxed);
        let stopped = dial
            .with(async |s| {
                let mut sent = 0usize;
                let mut buf = [0u8; 512];
                loop {
                    let byte = SLOW_HEAD.get(sent).copied().unwrap_or(b'a');
                    if s.write_all(&[byte]).await.is_err() || s.flush().await.is_err() {
                        return false;
                    }
                    sent += 1;
                    tokio::select! {
                        _ = stop.changed() => return true,
                        // Data (an error response) or end of stream: the server is done with us.
                        _ = s.read(&mut buf) => return false,
                        _ = tokio::time::sleep(every) => {}
                    }
                }
            })
            .await;
        match stopped {
            Some(true) => return,
            Some(false) => {
                stats.cut.fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A swarm of `count` slow clients, opened `stagger` apart.
struct Swarm {
    stats: Arc<Stats>,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

impl Swarm {
    async fn open(dial: &Dial, count: usize, every: Duration, stagger: Duration) -> Swarm {
        let stats = Arc::new(Stats::default());
        let (stop, stopped) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..count {
            tasks.spawn(slowloris(
                dial.clone(),
                every,
                stats.clone(),
                stopped.clone(),
            ));
            tokio::time::sleep(stagger).await;
        }
        Swarm { stats, stop, tasks }
    }

    async fn close(mut self) -> (u64, u64) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
        (
            self.stats.opened.load(Ordering::Relaxed),
            self.stats.cut.load(Ordering::Relaxed),
        )
    }
}

/// A normal request on a new connection: the time until the whole answer has arrived, or what
/// went wrong.
async fn probe(dial: &Dial) -> Result<Duration, String> {
    let started = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        dial.with(async |s| {
            s.write_all(PROBE).await.map_err(|e| e.to_string())?;
            let mut response = Vec::new();
            // A TLS peer that closes without close_notify is an error here; the bytes count.
            let _ = s.read_to_end(&mut response).await;
            Ok::<_, String>(response)
        }),
    )
    .await
    .map_err(|_| "no answer within 10 s".to_owned())?
    .ok_or("cannot connect")??;
    let elapsed = started.elapsed();
    if !answer.starts_with(b"HTTP/1.1 ") || !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        return Err(format!(
            "not an HTTP answer after {elapsed:?}: {:?}",
            String::from_utf8_lossy(&answer)
        ));
    }
    Ok(elapsed)
}

/// `count` probes, `gap` apart; the answer times, or the first failure.
async fn probes(dial: &Dial, count: usize, gap: Duration) -> Vec<Result<Duration, String>> {
    let mut times = Vec::new();
    for _ in 0..count {
        times.push(probe(dial).await);
        tokio::time::sleep(gap).await;
    }
    times
}

fn summary(times: &[Duration]) -> String {
    let mut sorted = times.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    format!(
        "{} answers: median {:?}, p99 {:?}, max {:?}",
        sorted.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

/// Asserts that every probe was answered within [`ANSWER_WITHIN`].
#[track_caller]
fn assert_all_answered(results: &[Result<Duration, String>], context: &str) -> Vec<Duration> {
    let mut times = Vec::new();
    let mut failures = Vec::new();
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(t) if *t <= ANSWER_WITHIN => times.push(*t),
            Ok(t) => failures.push(format!("probe {i}: answered after {t:?}")),
            Err(e) => failures.push(format!("probe {i}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{context}: {} of {} probes not answered within {ANSWER_WITHIN:?}:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
    times
}

async fn plain_server(tweak: impl FnOnce(&mut Config)) -> edge_reference_server::Server {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        ..Config::default()
    };
    tweak(&mut config);
    start(config).await.expect("server starts")
}

/// The soft limit of open files of this process, where known.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[track_caller]
fn need_open_files(n: u64) {
    if let Some(limit) = open_file_limit() {
        assert!(
            limit >= n,
            "this test needs {n} open files but `ulimit -n` is {limit}; raise it"
        );
    }
}

// 300 slow clients against a table of 100: the table is always full, so every new connection
// is admitted by evicting one that has waited longest for its head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_requests_are_answered_while_slow_clients_fill_the_table() {
    const SLOW: usize = 300;
    need_open_files(2 * SLOW as u64 + 200);
    let server = plain_server(|c| {
        c.max_connections = 100;
        c.head_timeout = Duration::from_secs(2);
    })
    .await;
    let dial = Dial::Plain(server.local_addr());
    let swarm = Swarm::open(
        &dial,
        SLOW,
        Duration::from_millis(500),
        Duration::from_millis(2),
    )
    .await;
    // Long enough for the head deadline to have cut slow clients too.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // A request whose body arrives slowly is being served: neither the deadline nor eviction
    // may close its connection.
    let addr = server.local_addr();
    let slow_body = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            b"POST /connection HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 2\r\nConnection: close\r\n\r\n{",
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        s.write_all(b"}").await.unwrap();
        let mut response = Vec::new();
        let _ = s.read_to_end(&mut response).await;
        String::from_utf8_lossy(&response).into_owned()
    });

    let results = probes(&dial, 30, Duration::from_millis(100)).await;
    let slow_body = slow_body.await.unwrap();
    let (opened, cut) = swarm.close().await;
    let times = assert_all_answered(&results, "table of 100, 300 slow clients");
    eprintln!(
        "{}; slow clients opened {opened} connections, {cut} closed by the server",
        summary(&times)
    );
    assert!(
        cut as usize > SLOW,
        "the slow clients were not cut: {cut} of {opened}"
    );
    assert!(
        slow_body.starts_with("HTTP/1.1 400"),
        "the request with a slow body was not served: {slow_body:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_head_is_cut_at_the_deadline() {
    let deadline = Duration::from_secs(1);
    let server = plain_server(|c| c.head_timeout = deadline).await;
    let addr = server.local_addr();

    // One byte every 100 ms: each byte arrives well within any per-byte timeout, the head never
    // completes.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let mut end = None;
    for i in 0.. {
        let byte = SLOW_HEAD.get(i).copied().unwrap_or(b'a');
        if let Err(e) = s.write_all(&[byte]).await {
            end = Some(Err(e));
            break;
        }
        tokio::select! {
            r = s.read(&mut buf) => {
                end = Some(r);
                break;
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not cut after 5 s"
        );
    }
    let cut = started.elapsed();
    assert!(
        // The clock starts once `connect` returns, which may be after the server accepted; the
        // upper bound leaves room for a loaded machine (the other tests run at the same time).
        cut >= deadline - Duration::from_millis(100)
            && cut < deadline + Duration::from_millis(1500),
        "cut after {cut:?}, deadline {deadline:?}"
    );
    // A connection that never delivered a head is reset (no TIME_WAIT entry on the server),
    // not closed with a FIN (which reads as end of stream).
    assert!(
        matches!(&end, Some(Err(e)) if matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        )),
        "a connection without a head was not reset: {end:?}"
    );

    // An idle keep-alive connection: the next head is due `deadline` after the response.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /connection HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let first = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before answering");
            got.extend_from_slice(&buf[..n]);
            if got.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(first.is_ok(), "no answer");
    let answered = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        // The answer has no body beyond what was read, or a short one; read until the end.
        loop {
            match s.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    let closed = closed.expect("an idle keep-alive connection was not closed");
    // An idle connection that was served gets a normal close, not a reset.
    assert!(closed.is_ok(), "an idle connection was reset: {closed:?}");
    let idle = answered.elapsed();
    assert!(
        idle >= deadline - Duration::from_millis(100)
            && idle < deadline + Duration::from_millis(1500),
        "idle connection closed after {idle:?}, deadline {deadline:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_tls_handshake_is_cut() {
    let server = start(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::SelfSigned { write_to: None },
        handshake_timeout: Duration::from_secs(1),
        ..Config::default()
    })
    .await
    .unwrap();
    // A ClientHello record header, then nothing.
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
    let cut = started.elapsed();
    assert!(closed.is_ok(), "a stalled handshake was not cut within 5 s");
    assert!(
        cut >= Duration::from_millis(900) && cut < Duration::from_millis(2500),
        "cut after {cut:?}"
    );
    server.shutdown().await;
}

/// `VmRSS` of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Open sockets of process `pid`.
fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// The `edge-server` binary with its defaults (head timeout 10 s, handshake 5 s, 16,384
/// connections), so that its memory is measured apart from the clients'.
struct Child {
    child: std::process::Child,
    addr: SocketAddr,
    pem: Option<String>,
    _dir: tempfile::TempDir,
    /// Kept open: the server prints a second line with TLS.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Child {
    fn spawn(tls: bool) -> Child {
        use std::io::BufRead as _;
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let mut args = vec!["--listen", "127.0.0.1:0"];
        if tls {
            args.extend(["--cert-out", cert.to_str().unwrap()]);
        } else {
            args.push("--http");
        }
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_edge-server"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let url = line.trim().rsplit(' ').next().unwrap();
        let host = url.split("://").nth(1).unwrap().split('/').next().unwrap();
        Child {
            child,
            addr: host.parse().unwrap(),
            pem: tls.then(|| std::fs::read_to_string(&cert).unwrap()),
            _dir: dir,
            _stdout: stdout,
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 2,000 slow clients (one byte every 5 s, reopened when closed) for `EDGE_FLOOD_SECS`
/// (default 60) against the binary with its defaults; a probe every 250 ms must be answered
/// within 1 s. Prints answer times and the server's memory.
async fn flood_2000(tls: bool) {
    const SLOW: usize = 2000;
    need_open_files(SLOW as u64 + 500);
    let secs: u64 = std::env::var("EDGE_FLOOD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let server = Child::spawn(tls);
    let pid = server.child.id();
    let dial = match &server.pem {
        Some(pem) => Dial::tls(server.addr, pem),
        None => Dial::Plain(server.addr),
    };
    probe(&dial).await.expect("the server answers");
    let rss_idle = rss_kib(pid);

    let ramp = Instant::now();
    let swarm = Swarm::open(
        &dial,
        SLOW,
        Duration::from_secs(5),
        Duration::from_millis(2),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (held, rss_held) = (sockets(pid), rss_kib(pid));
    eprintln!(
        "ramp {:?}: server holds {held} sockets, RSS {rss_idle} KiB before, {rss_held} KiB now \
         ({:.1} KiB per connection)",
        ramp.elapsed(),
        (rss_held.saturating_sub(rss_idle)) as f64 / held.max(1) as f64
    );

    let flood = Instant::now();
    let mut results = Vec::new();
    let mut rss_max = rss_held;
    let mut held_min = held;
    while flood.elapsed() < Duration::from_secs(secs) {
        results.extend(probes(&dial, 4, Duration::from_millis(250)).await);
        rss_max = rss_max.max(rss_kib(pid));
        held_min = held_min.min(sockets(pid));
    }
    let (opened, cut) = swarm.close().await;
    let times = assert_all_answered(
        &results,
        &format!("2,000 slow clients, {}", if tls { "HTTPS" } else { "HTTP" }),
    );
    eprintln!(
        "{} over {secs} s; slow clients opened {opened} connections, {cut} closed by the server; \
         server sockets at least {held_min}; RSS max {rss_max} KiB",
        summary(&times)
    );
    assert!(cut as usize >= SLOW, "the slow clients were not cut");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a minute with 2,000 sockets; run by hand, see docs/BENCHMARKS.md"]
async fn flood_2000_plain() {
    flood_2000(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a minute with 2,000 sockets; run by hand, see docs/BENCHMARKS.md"]
async fn flood_2000_tls() {
    flood_2000(true).await;
}
