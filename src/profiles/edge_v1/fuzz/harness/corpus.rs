//! Seed corpora grown from the scripted cases.
//!
//! Every scripted case runs against an in-process reference server through a recording
//! proxy. Each recorded request becomes a seed of the server target (with the harness's
//! placeholders in place of connection IDs, URIs, keys and accepted signatures), each
//! recorded response a seed of the response target, and each case's sequence of protocol
//! steps a seed of the differential target.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::differential::OpCode;
use super::response::ResponseInput;
use crate::client::{Client, ClientError, ClientOptions};
use crate::profiles::edge_v1::case::{Case, Op};
use crate::profiles::edge_v1::cases::{self, CaseFileError};
use crate::profiles::edge_v1::model::Endpoint;
use crate::profiles::edge_v1::prop::gen::{AbstractOp, Kind};
use crate::profiles::edge_v1::sign::{KeyPool, SignError};
use crate::profiles::edge_v1::wire;
use crate::profiles::edge_v1::{runner, Context};

/// Seeds larger than this are left out (libFuzzer's default `-max_len` is 4 KiB; a few
/// larger seeds still teach it long bodies).
const MAX_SEED: usize = 64 * 1024;

/// Why the corpora could not be grown.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A socket or the tokio runtime cannot be set up.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A corpus directory cannot be created.
    #[error("cannot create {}: {source}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A seed cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    WriteSeed {
        /// The seed file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The reference server did not start.
    #[error("the reference server did not start: {0}")]
    Start(#[source] edge_reference_server::StartError),
    /// A URL of the server or proxy cannot be parsed.
    #[error(transparent)]
    Url(#[from] url::ParseError),
    /// The HTTP client cannot be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The built-in key pool cannot be loaded.
    #[error(transparent)]
    Pool(#[from] SignError),
    /// The built-in cases cannot be loaded.
    #[error(transparent)]
    Cases(#[from] CaseFileError),
}

/// Bytes one proxied connection carried, each way.
#[derive(Default)]
struct Streams {
    up: Vec<u8>,
    down: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Arc<Mutex<Streams>>>>>;

fn pump(mut from: TcpStream, mut to: TcpStream, log: Arc<Mutex<Streams>>, up: bool) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        if let Ok(mut s) = log.lock() {
            if up { &mut s.up } else { &mut s.down }.extend_from_slice(&buf[..n]);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// A TCP proxy to `upstream` that records every connection's bytes.
fn proxy(upstream: SocketAddr) -> Result<(SocketAddr, Log), CorpusError> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let log: Log = Arc::default();
    let l = log.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            let streams = Arc::new(Mutex::new(Streams::default()));
            if let Ok(mut all) = l.lock() {
                all.push(streams.clone());
            }
            let (c2, s2) = match (client.try_clone(), server.try_clone()) {
                (Ok(c), Ok(s)) => (c, s),
                _ => continue,
            };
            let a = streams.clone();
            std::thread::spawn(move || pump(client, server, a, true));
            std::thread::spawn(move || pump(s2, c2, streams, false));
        }
    });
    Ok((addr, log))
}

/// One HTTP/1.1 message: head fields and body.
#[derive(Debug, Clone)]
struct Message {
    line: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

/// Split complete messages off the front of `buf` (requests or responses).
fn messages(buf: &mut Vec<u8>, requests: bool) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let line = lines.next().unwrap_or_default().to_string();
        let headers: Vec<(String, Vec<u8>)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.to_string(), v.trim().as_bytes().to_vec()))
            .collect();
        let get = |n: &str| {
            headers
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case(n))
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        let start = end + 4;
        let len = if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            buf[start..]
                .windows(5)
                .position(|w| w == b"0\r\n\r\n")
                .map(|i| i + 5)
        } else {
            Some(
                get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )
        };
        let no_body = !requests
            && line
                .split(' ')
                .nth(1)
                .is_some_and(|s| s == "204" || s == "304");
        let len = if no_body { Some(0) } else { len };
        let Some(len) = len.filter(|l| start + l <= buf.len()) else {
            break;
        };
        out.push(Message {
            line,
            headers,
            body: buf[start..start + len].to_vec(),
        });
        buf.drain(..start + len);
    }
    out
}

/// Requests and responses of the case just run, in order per connection.
fn take(log: &Log) -> Vec<(Message, Message)> {
    let mut out = Vec::new();
    let all = log.lock().map(|a| a.clone()).unwrap_or_default();
    for s in all {
        let Ok(mut s) = s.lock() else { continue };
        let reqs = messages(&mut s.up, true);
        let resps = messages(&mut s.down, false);
        out.extend(reqs.into_iter().zip(resps));
    }
    out
}

fn status(m: &Message) -> u16 {
    m.line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Placeholders for the values of one case, longest first.
fn placeholders(ce: &str, exchanges: &[(Message, Message)]) -> Vec<(String, String)> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    let mut conns = 0;
    let base = url::Url::parse(&format!("http://h{ce}")).ok();
    let path = |u: &str| -> Option<String> {
        base.as_ref()
            .and_then(|b| wire::resolve_uri(b, u).ok())
            .map(|u| u.path().to_string())
    };
    for (req, resp) in exchanges {
        let body: Option<Value> = serde_json::from_slice(&req.body).ok();
        let field = |n: &str| {
            body.as_ref()
                .and_then(|b| b.get(n))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let answer: Option<Value> = serde_json::from_slice(&resp.body).ok();
        let returned = |n: &str| {
            answer
                .as_ref()
                .and_then(|b| b.get(n))
                .and_then(Value::as_str)
                .and_then(path)
        };
        let created = status(resp) == 201 && req.line.starts_with(&format!("POST {ce} "));
        if created && conns < 2 {
            let sfx = if conns == 0 { "" } else { "2" };
            if let Some(c) = field("connectionID") {
                map.entry(c).or_insert(format!("{{CID{sfx}}}"));
            }
            if let Some(k) = field("recipient") {
                map.entry(k).or_insert(format!("{{RK{sfx}}}"));
            }
            if let (Some(k), 0) = (field("sender"), conns) {
                map.entry(k).or_insert("{SK}".into());
            }
            for (n, p) in [("recipientURI", "RU"), ("senderURI", "SU")] {
                if let Some(u) = returned(n) {
                    map.entry(u).or_insert(format!("{{{p}{sfx}}}"));
                }
            }
            conns += 1;
        }
        if status(resp) == 200 && req.line.starts_with("PUT ") {
            let target = req.line.split(' ').nth(1).unwrap_or_default().to_string();
            if let Some(p) = map.get(&target).cloned() {
                let (ru, su) = if p.ends_with("2}") {
                    ("{RU2}", "{SU2}")
                } else {
                    ("{RU}", "{SU}")
                };
                for (n, ph) in [("recipientURI", ru), ("senderURI", su)] {
                    if let Some(u) = returned(n) {
                        map.entry(u).or_insert(ph.into());
                    }
                }
            }
        }
        for n in ["recipient", "sender"] {
            if let Some(k) = field(n) {
                map.entry(k).or_insert("{NK}".into());
            }
        }
    }
    map.insert(ce.to_string(), "{CE}".into());
    let mut v: Vec<(String, String)> = map.into_iter().filter(|(k, _)| !k.is_empty()).collect();
    v.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    v
}

fn substitute(bytes: &[u8], pairs: &[(String, String)]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    if !matches!(text, std::borrow::Cow::Borrowed(_)) {
        return bytes.to_vec();
    }
    let mut t = text.into_owned();
    for (from, to) in pairs {
        t = t.replace(from.as_str(), to);
    }
    t.into_bytes()
}

/// A request as a seed of the server target.
fn server_seed(req: &Message, resp: &Message, pairs: &[(String, String)], ce: &str) -> Vec<u8> {
    let ok = (200..300).contains(&status(resp));
    let created = ok && req.line.starts_with(&format!("POST {ce} "));
    let mut body = substitute(&req.body, pairs);
    if created {
        // The harness's connections exist already: create a fresh one.
        for p in ["{CID}", "{CID2}"] {
            body = substitute(&body, &[(format!("\"{p}\""), "\"{NEWCID}\"".into())]);
        }
    }
    let mut out = substitute(req.line.as_bytes(), pairs);
    out.extend_from_slice(b"\r\n");
    for (n, v) in &req.headers {
        let lower = n.to_ascii_lowercase();
        // The harness adds Host, and Content-Length when the body's own length is meant.
        let true_length = lower == "content-length" && v == req.body.len().to_string().as_bytes();
        if lower == "host" || true_length {
            continue;
        }
        let v = match lower.as_str() {
            "authorization" if ok => b"EMSig {SIG}".to_vec(),
            "em-new-key-signature" if ok => b"{NEWSIG}".to_vec(),
            _ => substitute(v, pairs),
        };
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

/// The response target's step for a recorded request.
fn response_op(req: &Message, ce: &str) -> (u8, u8) {
    let mut parts = req.line.split(' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let messages = target.ends_with("/messages");
    let keep = req.body.windows(19).any(|w| w == b"\"keepMessages\":true");
    let op = match (method, messages) {
        ("POST", false) if target == ce => 0,
        ("PUT", false) => 1,
        ("DELETE", false) => 2,
        ("POST", true) if keep => 3,
        ("POST", true) if req.body.windows(11).any(|w| w == b"\"messages\":") => 7,
        ("POST", true) => 4,
        ("DELETE", true) => 5,
        _ => 6,
    };
    (op, 3)
}

/// The differential seed of a case: its protocol steps as abstract operations.
fn differential_seed(case: &Case) -> Vec<u8> {
    let mut slots: HashMap<String, u8> = HashMap::new();
    let mut out = Vec::new();
    for s in &case.steps {
        let Some(op) = s.op else { continue };
        let next = slots.len() as u8;
        let slot = *slots.entry(s.conn.clone()).or_insert(next.min(2));
        let kind = match op {
            Op::Call(Endpoint::Create) => Kind::Create {
                alt: s.sender.is_some(),
                disabled: s.disabled == Some(true),
            },
            Op::Call(Endpoint::Update) => Kind::Update(
                (u8::from(s.recipient.is_some())
                    | u8::from(s.sender.is_some()) << 1
                    | u8::from(s.new_recipient_uri == Some(true)) << 2
                    | u8::from(s.new_sender_uri == Some(true)) << 3
                    | u8::from(s.disabled == Some(true)) << 4
                    | u8::from(s.disabled == Some(false)) << 5)
                    .max(2),
            ),
            Op::Call(Endpoint::SenderUpdate) => Kind::SenderUpdate(
                (u8::from(s.sender.is_some()) | u8::from(s.new_sender_uri == Some(true)) << 1)
                    .max(1),
            ),
            Op::Call(Endpoint::Send) => {
                Kind::Send(s.messages.as_ref().map_or(1, |m| m.len().clamp(1, 4) as u8))
            }
            Op::Call(Endpoint::Retrieve) => Kind::Retrieve {
                page: s.page_size.map(|p| p.clamp(1, 6) as u8),
                from: None,
                keep: s.keep_messages == Some(true),
            },
            Op::Call(Endpoint::DeleteMessages) => Kind::DeleteMessages {
                page: s.page_size.map(|p| p.clamp(1, 6) as u8),
                from: None,
            },
            Op::Call(Endpoint::Delete) => Kind::Delete,
            Op::Probe => continue,
        };
        let c = OpCode::encode(&AbstractOp { slot, kind });
        out.extend_from_slice(&[c.slot, c.kind, c.a, c.b]);
    }
    out
}

/// The JSON structure of a body (member names, value types, array lengths), or its length
/// when it is not JSON: seeds with the same skeleton teach the fuzzer nothing new.
fn skeleton(body: &[u8]) -> String {
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                out.push('{');
                for (k, x) in m {
                    out.push_str(k);
                    out.push(':');
                    walk(x, out);
                    out.push(',');
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push_str(&format!("[{}", a.len()));
                if let Some(x) = a.first() {
                    walk(x, out);
                }
                out.push(']');
            }
            Value::String(s) => out.push_str(if s.is_empty() { "s0" } else { "s" }),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::Bool(b) => out.push_str(if *b { "t" } else { "f" }),
            Value::Null => out.push('n'),
        }
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let mut out = String::new();
            walk(&v, &mut out);
            out
        }
        Err(_) => format!("raw{}", body.len().min(64)),
    }
}

/// A message's shape: first line (placeholders in), header names and values that are not
/// signatures, and the body's skeleton.
fn shape(m: &Message, pairs: &[(String, String)], status_only: bool) -> String {
    let line = if status_only {
        m.line.split(' ').take(2).collect::<Vec<_>>().join(" ")
    } else {
        String::from_utf8_lossy(&substitute(m.line.as_bytes(), pairs)).into_owned()
    };
    let mut headers: Vec<String> = m
        .headers
        .iter()
        .map(|(n, v)| {
            let n = n.to_ascii_lowercase();
            match n.as_str() {
                "authorization" | "em-new-key-signature" | "date" | "content-length" | "host" => n,
                _ => format!("{n}={}", String::from_utf8_lossy(v)),
            }
        })
        .collect();
    headers.sort();
    format!("{line}|{}|{}", headers.join(";"), skeleton(&m.body))
}

fn write_seed(dir: &Path, seed: &[u8], ext: &str) -> Result<bool, CorpusError> {
    if seed.is_empty() || seed.len() > MAX_SEED {
        return Ok(false);
    }
    let hash = seed.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let path = dir.join(format!("{hash:016x}{ext}"));
    if path.exists() {
        return Ok(false);
    }
    std::fs::write(&path, seed).map_err(|source| CorpusError::WriteSeed { path, source })?;
    Ok(true)
}

/// Seeds written per target.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// `server_request` seeds.
    pub server: usize,
    /// `suite_response` seeds.
    pub response: usize,
    /// `differential` seeds.
    pub differential: usize,
}

/// Run every scripted case through a recording proxy and write the three corpora under
/// `dir` (`server_request/`, `suite_response/`, `differential/`).
pub fn grow(dir: &Path) -> Result<Written, CorpusError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dirs = ["server_request", "suite_response", "differential"].map(|d| dir.join(d));
    for d in &dirs {
        std::fs::create_dir_all(d).map_err(|source| CorpusError::CreateDir {
            dir: d.clone(),
            source,
        })?;
    }
    // The server builds URIs from its public URL: the proxy's, so every request passes it.
    let probe = TcpListener::bind("127.0.0.1:0")?;
    let server_addr = probe.local_addr()?;
    drop(probe);
    let (proxy_addr, log) = proxy(server_addr)?;
    let config = edge_reference_server::Config {
        listen: server_addr,
        tls: edge_reference_server::Tls::Plain,
        page_size: 10,
        public_url: Some(format!("http://{proxy_addr}")),
        ..edge_reference_server::Config::default()
    };
    let server = rt
        .block_on(edge_reference_server::start(config))
        .map_err(CorpusError::Start)?;
    let ce_path = url::Url::parse(&server.create_url())?.path().to_string();
    let ctx = Context {
        client: Client::new(&ClientOptions {
            timeout: Duration::from_secs(10),
            ..ClientOptions::default()
        })?,
        pool: KeyPool::builtin()?,
        servers: vec![url::Url::parse(&format!("http://{proxy_addr}{ce_path}"))?],
        page_size: Some(10),
        allow_http: true,
        origins: Default::default(),
        idle_wait: None,
    };
    let mut written = Written::default();
    let mut seen = std::collections::HashSet::new();
    for file in cases::builtin()? {
        for case in &file.cases {
            rt.block_on(runner::run_case(&ctx, case, &file.area));
            // Let the proxy's threads pass the last bytes on.
            std::thread::sleep(Duration::from_millis(20));
            let exchanges = take(&log);
            let pairs = placeholders(&ce_path, &exchanges);
            for (req, resp) in &exchanges {
                let ok = (200..300).contains(&status(resp));
                if seen.insert(format!("q{ok}{}", shape(req, &pairs, false)))
                    && write_seed(&dirs[0], &server_seed(req, resp, &pairs, &ce_path), ".http")?
                {
                    written.server += 1;
                }
                let (op, param) = response_op(req, &ce_path);
                if !seen.insert(format!("r{op}{}", shape(resp, &pairs, true))) {
                    continue;
                }
                let mut raw = resp.line.clone().into_bytes();
                raw.extend_from_slice(b"\r\n");
                for (n, v) in &resp.headers {
                    raw.extend_from_slice(n.as_bytes());
                    raw.extend_from_slice(b": ");
                    raw.extend_from_slice(v);
                    raw.extend_from_slice(b"\r\n");
                }
                raw.extend_from_slice(b"\r\n");
                raw.extend_from_slice(&resp.body);
                let input = ResponseInput {
                    op,
                    param,
                    response: raw,
                };
                if write_seed(&dirs[1], &input.to_bytes(), ".bin")? {
                    written.response += 1;
                }
            }
            if write_seed(&dirs[2], &differential_seed(case), ".bin")? {
                written.differential += 1;
            }
        }
    }
    rt.block_on(server.shutdown());
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_on_framing() {
        let mut buf = b"POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /b HTTP/1.1\r\n\r\nPOST /c HTTP/1.1\r\nContent-Length: 5\r\n\r\n{".to_vec();
        let m = messages(&mut buf, true);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].body, b"{}");
        assert_eq!(m[1].line, "GET /b HTTP/1.1");
        assert!(buf.starts_with(b"POST /c"), "an incomplete message stays");
    }

    #[test]
    fn placeholders_replace_longest_values_first() {
        let pairs = vec![
            ("/connection/abc".to_string(), "{RU}".to_string()),
            ("/connection".to_string(), "{CE}".to_string()),
        ];
        assert_eq!(
            substitute(b"PUT /connection/abc/messages", &pairs),
            b"PUT {RU}/messages".to_vec()
        );
        assert_eq!(
            substitute(b"\xff/connection", &pairs),
            b"\xff/connection".to_vec(),
            "non-UTF-8 stays as is"
        );
    }
}
