//! A hostile HTTP/1.1 server, one mode per attack on the suite's memory or time: bodies
//! larger than any cap, a chunked body that never ends, megabyte URIs in create answers,
//! silence after accepting, silence after a number of answers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the server does with every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Answers 201 with an 8 MiB body (Content-Length) to every request.
    BigBodies,
    /// Answers 201 with a chunked body that never ends.
    EndlessChunked,
    /// Answers creates with 1 MB `recipientURI` and `senderURI`; anything else 404.
    LongUris,
    /// Accepts connections, reads the request, never answers.
    Silent,
    /// Answers the first this-many requests with 404, then is silent.
    SilentAfter(usize),
}

/// Body size of [`Mode::BigBodies`].
pub const BIG_BODY: usize = 8 << 20;
/// Length of each URI of [`Mode::LongUris`].
pub const LONG_URI: usize = 1 << 20;

/// A running hostile server (threads end with the test process).
pub struct Hostile {
    /// Its address.
    pub addr: SocketAddr,
    /// Requests read so far.
    pub requests: Arc<AtomicUsize>,
}

impl Hostile {
    /// Starts a server in `mode` on 127.0.0.1.
    pub fn start(mode: Mode) -> Hostile {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let count = requests.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let count = count.clone();
                std::thread::spawn(move || serve(s, mode, &count));
            }
        });
        Hostile { addr, requests }
    }

    /// The create endpoint to pass as `--server`.
    pub fn ce(&self) -> String {
        format!("http://{}/connection", self.addr)
    }
}

/// Reads one request (head and Content-Length body); its request line, or `None` at EOF.
fn read_request(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut byte).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < len {
        let n = s.read(&mut byte).ok()?;
        if n == 0 {
            return None;
        }
        have += n;
    }
    head.lines().next().map(str::to_owned)
}

fn serve(mut s: TcpStream, mode: Mode, count: &AtomicUsize) {
    let _ = s.set_nodelay(true);
    while let Some(line) = read_request(&mut s) {
        let n = count.fetch_add(1, Ordering::SeqCst);
        let ok = match mode {
            Mode::BigBodies => {
                let head = format!(
                    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {BIG_BODY}\r\n\r\n"
                );
                let chunk = vec![b'x'; 64 * 1024];
                s.write_all(head.as_bytes()).is_ok()
                    && (0..BIG_BODY / chunk.len()).all(|_| s.write_all(&chunk).is_ok())
            }
            Mode::EndlessChunked => {
                let head = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
                let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
                chunk.extend(std::iter::repeat_n(b'x', 64 * 1024));
                chunk.extend_from_slice(b"\r\n");
                if s.write_all(head.as_bytes()).is_ok() {
                    while s.write_all(&chunk).is_ok() {}
                }
                false
            }
            Mode::LongUris => {
                let create = line.starts_with("POST /connection ");
                let body = if create {
                    format!(
                        r#"{{"recipientURI":"/r/{}","senderURI":"/s/{}"}}"#,
                        "r".repeat(LONG_URI),
                        "s".repeat(LONG_URI)
                    )
                } else {
                    String::new()
                };
                let status = if create {
                    "201 Created"
                } else {
                    "404 Not Found"
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                s.write_all(head.as_bytes()).is_ok() && s.write_all(body.as_bytes()).is_ok()
            }
            Mode::Silent => hold(&mut s),
            Mode::SilentAfter(k) if n >= k => hold(&mut s),
            Mode::SilentAfter(_) => s
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .is_ok(),
        };
        if !ok {
            return;
        }
    }
}

/// Keeps the connection open without answering until the peer goes away.
fn hold(s: &mut TcpStream) -> bool {
    let _ = s.set_read_timeout(Some(Duration::from_secs(600)));
    let mut sink = [0u8; 1024];
    while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
    false
}
