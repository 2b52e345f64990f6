//! Target 1: the reference server's request handling, in-process.
//!
//! An input is an HTTP/1.1 request with placeholders for what only the harness knows:
//!
//! | placeholder | becomes |
//! |---|---|
//! | `{CE}` | the path of `CE` |
//! | `{RU}`, `{SU}`, `{CID}`, `{RK}`, `{SK}` | a secured connection's paths, ID and keys (base64 SPKI) |
//! | `{RU2}`, `{SU2}`, `{CID2}`, `{RK2}` | an open connection (no `SK`) |
//! | `{NK}` | a spare key, `{NEWCID}` a fresh connection ID |
//! | `{SIG}` | the signature over the final method, target and body by the key that request needs (create: the body's recipient) |
//! | `{SIGRK}`, `{SIGSK}`, `{SIGNK}`, `{NEWSIG}` | signatures by RK, SK, the spare key, and the new key of the body |
//!
//! Everything else goes to the server byte for byte. `Host`, `Content-Length` and
//! `Connection: close` are added when the input has none. The server runs in this process
//! on a loopback port; the request must get a response (no crash, no 5xx, no hang), and a
//! request the binding refuses for a certain reason ([`super::oracle`]) must not get a 2xx.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::oracle::{self, Live, LiveConn};
use super::raw::{self, NoResponse, RawResponse};
use crate::profiles::edge_v1::model::Endpoint;
use crate::profiles::edge_v1::sign::SignError;
use crate::profiles::edge_v1::sign::{self, Key, KeyPool};
use crate::profiles::edge_v1::wire::{self, WireError};

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Executions after which the connections are made again (bounds the server's memory).
const REFRESH_EVERY: u64 = 2000;

/// What a request got, when nothing was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A response with this status.
    Answered(u16),
    /// The input's framing promised more bytes than it carried and the server, seeing the
    /// end of the stream, closed without answering (it cannot tell such a request from a
    /// client that went away).
    Unanswerable,
    /// The input is not a request line at all; nothing was sent.
    Skipped,
}

/// A broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why the server harness could not start or make its connections.
#[derive(Debug, thiserror::Error)]
pub enum ServerHarnessError {
    /// The tokio runtime cannot be built.
    #[error("tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The reference server did not start.
    #[error("the reference server did not start: {0}")]
    Start(#[source] edge_reference_server::StartError),
    /// A URL of the server cannot be parsed.
    #[error(transparent)]
    Url(#[from] url::ParseError),
    /// The built-in key pool cannot be loaded.
    #[error(transparent)]
    Pool(#[from] SignError),
    /// A request body cannot be serialized.
    #[error(transparent)]
    Serialize(#[from] serde_json::Error),
    /// A request of the harness got no usable response.
    #[error("{0}")]
    Exchange(NoResponse),
    /// The server refused to create one of the harness's connections.
    #[error("the harness could not create a connection: {status} {body}")]
    Create {
        /// The response's status.
        status: u16,
        /// The response's body, lossily decoded.
        body: String,
    },
    /// The server's create response or a URI in it is not usable.
    #[error(transparent)]
    Wire(#[from] WireError),
}

struct Keys {
    rk: Arc<Key>,
    sk: Arc<Key>,
    rk2: Arc<Key>,
    nk: Arc<Key>,
}

struct State {
    live: Live,
    dirty: bool,
    runs: u64,
}

/// The in-process server and the connections it holds for the inputs to use.
pub struct ServerHarness {
    rt: tokio::runtime::Runtime,
    server: Option<edge_reference_server::Server>,
    addr: SocketAddr,
    host: String,
    keys: Keys,
    state: Mutex<State>,
}

impl Drop for ServerHarness {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

/// A request split into its parts.
struct Parsed {
    method: String,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn replace_all(bytes: &[u8], pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (from, to) in pairs {
        if find(&out, from.as_bytes()).is_none() {
            continue;
        }
        let mut next = Vec::with_capacity(out.len());
        let mut rest = &out[..];
        while let Some(i) = find(rest, from.as_bytes()) {
            next.extend_from_slice(&rest[..i]);
            next.extend_from_slice(to.as_bytes());
            rest = &rest[i + from.len()..];
        }
        next.extend_from_slice(rest);
        out = next;
    }
    out
}

/// Header fields as name and value bytes.
type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// The request line, header fields and body of an input.
fn split(input: &[u8]) -> Option<(Vec<u8>, Fields, Vec<u8>)> {
    let (head, body) = match find(input, b"\r\n\r\n") {
        Some(i) => (&input[..i], &input[i + 4..]),
        None => (input, &[][..]),
    };
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let line = lines.next()?.to_vec();
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| match l.iter().position(|&b| b == b':') {
            Some(i) => (
                l[..i].to_vec(),
                l[i + 1..]
                    .strip_prefix(b" ")
                    .unwrap_or(&l[i + 1..])
                    .to_vec(),
            ),
            None => (l.to_vec(), Vec::new()),
        })
        .collect();
    Some((line, headers, body.to_vec()))
}

impl ServerHarness {
    /// Start the reference server (plain HTTP on a free loopback port; the rest of `config`
    /// is kept, faults included) and make the harness's connections.
    pub fn new(
        mut config: edge_reference_server::Config,
    ) -> Result<ServerHarness, ServerHarnessError> {
        config.listen = "127.0.0.1:0".parse().expect("literal address");
        config.tls = edge_reference_server::Tls::Plain;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(ServerHarnessError::Runtime)?;
        let server = rt
            .block_on(edge_reference_server::start(config))
            .map_err(ServerHarnessError::Start)?;
        let ce = url::Url::parse(&server.create_url())?;
        let pool = KeyPool::builtin()?;
        let keys = Keys {
            rk: pool.take(),
            sk: pool.take(),
            rk2: pool.take(),
            nk: pool.take(),
        };
        let addr = server.local_addr();
        let h = ServerHarness {
            rt,
            addr,
            host: format!("{}:{}", ce.host_str().unwrap_or("127.0.0.1"), addr.port()),
            server: Some(server),
            keys,
            state: Mutex::new(State {
                live: Live {
                    ce: ce.path().to_string(),
                    conns: Vec::new(),
                },
                dirty: true,
                runs: 0,
            }),
        };
        h.refresh()?;
        Ok(h)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Send a correct signed JSON request made by the harness itself.
    fn send_json(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        key: &Key,
    ) -> Result<RawResponse, ServerHarnessError> {
        let body = serde_json::to_vec(body)?;
        let token = wire::b64(key.sign(&sign::signing_input(method, path, &body)));
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAuthorization: EMSig {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.host,
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        raw::exchange(self.addr, &req, TIMEOUT, false).map_err(ServerHarnessError::Exchange)
    }

    /// Delete the harness's connections and make two fresh ones: secured, and open.
    fn refresh(&self) -> Result<(), ServerHarnessError> {
        let old = std::mem::take(&mut self.lock().live.conns);
        for c in old {
            let _ = self.send_json("DELETE", &c.ru, &json!({"connectionID": c.cid}), &c.rk);
        }
        let ce = self.lock().live.ce.clone();
        let mut conns = Vec::new();
        for (rk, sk) in [(&self.keys.rk, Some(&self.keys.sk)), (&self.keys.rk2, None)] {
            let cid = wire::connection_id();
            let mut body = json!({"connectionID": cid, "recipient": rk.spki_base64()});
            if let Some(sk) = sk {
                body["sender"] = Value::String(sk.spki_base64());
            }
            let r = self.send_json("POST", &ce, &body, rk)?;
            if r.status != 201 {
                return Err(ServerHarnessError::Create {
                    status: r.status,
                    body: String::from_utf8_lossy(&r.body).into_owned(),
                });
            }
            let created = wire::CreateResponse::from_body(&r.body)?;
            let base = url::Url::parse(&format!("http://{}{ce}", self.host))?;
            let path = |u: &str| wire::resolve_uri(&base, u).map(|u| u.path().to_string());
            conns.push(LiveConn {
                cid,
                ru: path(&created.recipient_uri)?,
                su: path(&created.sender_uri)?,
                rk: rk.clone(),
                sk: sk.cloned(),
            });
        }
        let mut st = self.lock();
        st.live.conns = conns;
        st.dirty = false;
        Ok(())
    }

    /// Expand an input into the request to send.
    fn expand(&self, live: &Live, input: &[u8]) -> Option<(Parsed, Vec<u8>, bool)> {
        let c0 = live.conns.first()?;
        let c1 = live.conns.get(1)?;
        let newcid = wire::connection_id();
        let (rk, sk, rk2, nk) = (
            self.keys.rk.spki_base64(),
            self.keys.sk.spki_base64(),
            self.keys.rk2.spki_base64(),
            self.keys.nk.spki_base64(),
        );
        let values: [(&str, &str); 12] = [
            ("{CE}", &live.ce),
            ("{RU2}", &c1.ru),
            ("{SU2}", &c1.su),
            ("{CID2}", &c1.cid),
            ("{RK2}", &rk2),
            ("{RU}", &c0.ru),
            ("{SU}", &c0.su),
            ("{CID}", &c0.cid),
            ("{RK}", &rk),
            ("{SK}", &sk),
            ("{NK}", &nk),
            ("{NEWCID}", &newcid),
        ];
        let (line, headers, body) = split(input)?;
        let body = replace_all(&body, &values);
        let line = replace_all(&line, &values);
        let line = String::from_utf8_lossy(&line).into_owned();
        let mut parts = line.split(' ');
        let method = parts.next().filter(|m| !m.is_empty())?.to_string();
        let target = parts.next().unwrap_or("/").to_string();
        // Signatures over the final method, target and body.
        let (path, covered) = oracle::path_of(&target);
        let input_bytes = sign::signing_input(&method, &covered, &body);
        let sig = |k: &Key| wire::b64(k.sign(&input_bytes));
        let natural: Option<&Key> = match oracle::route(live, &path, &method).ok() {
            Some((Endpoint::Create, _)) => {
                let recipient = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
                    v.get("recipient")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
                [&self.keys.rk, &self.keys.sk, &self.keys.rk2, &self.keys.nk]
                    .into_iter()
                    .find(|k| recipient.as_deref() == Some(k.spki_base64().as_str()))
                    .map(|k| k.as_ref())
            }
            Some((e, Some(i))) if e.is_recipient() => Some(&live.conns[i].rk),
            Some((_, Some(i))) => live.conns[i].sk.as_deref().or(Some(&live.conns[i].rk)),
            _ => None,
        };
        let new_key: Option<&Key> = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
            let k = v
                .get("recipient")
                .or_else(|| v.get("sender"))?
                .as_str()?
                .to_string();
            [&self.keys.rk, &self.keys.sk, &self.keys.rk2, &self.keys.nk]
                .into_iter()
                .find(|x| x.spki_base64() == k)
                .map(|x| x.as_ref())
        });
        let mut headers: Vec<(String, Vec<u8>)> = headers
            .into_iter()
            .map(|(n, v)| (String::from_utf8_lossy(&n).into_owned(), v))
            .collect();
        for (_, v) in &mut headers {
            let mut pairs: Vec<(String, String)> = Vec::new();
            let text = String::from_utf8_lossy(v);
            for (ph, key) in [
                ("{SIGRK}", Some(self.keys.rk.as_ref())),
                ("{SIGSK}", Some(self.keys.sk.as_ref())),
                ("{SIGNK}", Some(self.keys.nk.as_ref())),
                ("{NEWSIG}", new_key),
                ("{SIG}", natural),
            ] {
                if text.contains(ph) {
                    let value = key.map(sig).unwrap_or_default();
                    pairs.push((ph.to_string(), value));
                }
            }
            if !pairs.is_empty() {
                let refs: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                *v = replace_all(v, &refs);
            }
        }
        let has = |n: &str| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
        let mut out = format!("{method} {target}").into_bytes();
        let version = parts.next().unwrap_or("HTTP/1.1");
        out.extend_from_slice(format!(" {version}\r\n").as_bytes());
        if !has("host") {
            out.extend_from_slice(format!("Host: {}\r\n", self.host).as_bytes());
        }
        for (n, v) in &headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        // Whether the body is complete by the request's own framing; if not, the server may
        // wait for more, so the harness ends the stream after sending.
        let mut complete = true;
        if has("transfer-encoding") {
            complete = body.ends_with(b"0\r\n\r\n");
        } else if has("content-length") {
            let declared: Vec<Option<usize>> = headers
                .iter()
                .filter(|(h, _)| h.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| {
                    std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                })
                .collect();
            complete = declared.iter().all(|d| d.is_some_and(|n| n <= body.len()));
        } else {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        if !has("connection") {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
        Some((
            Parsed {
                method,
                target,
                headers,
                body,
            },
            out,
            complete,
        ))
    }

    /// Run one input. `Err` when the server broke a rule.
    pub fn run(&self, input: &[u8]) -> Result<Outcome, Violation> {
        let live = {
            let mut st = self.lock();
            st.runs += 1;
            if st.runs.is_multiple_of(REFRESH_EVERY) {
                st.dirty = true;
            }
            let dirty = st.dirty;
            drop(st);
            if dirty {
                self.refresh().map_err(|e| Violation(e.to_string()))?;
            }
            self.lock().live.clone()
        };
        let Some((req, bytes, complete)) = self.expand(&live, input) else {
            return Ok(Outcome::Skipped);
        };
        let refusals = oracle::refusals(&live, &req.method, &req.target, &req.headers, &req.body);
        let answer = raw::exchange(self.addr, &bytes, TIMEOUT, !complete);
        let shown = || String::from_utf8_lossy(&bytes[..bytes.len().min(600)]).into_owned();
        let resp = match answer {
            Ok(r) => r,
            Err(NoResponse::Closed(_) | NoResponse::Timeout) if !complete => {
                return Ok(Outcome::Unanswerable)
            }
            Err(e) => return Err(Violation(format!("B-NO-5XX: {e}\nrequest:\n{}", shown()))),
        };
        if resp.status >= 500 || resp.status < 200 {
            return Err(Violation(format!(
                "B-NO-5XX: status {}\nrequest:\n{}",
                resp.status,
                shown()
            )));
        }
        if (200..300).contains(&resp.status) {
            if let Some(first) = refusals.first() {
                return Err(Violation(format!(
                    "a request the binding refuses got {}: {first}\nrequest:\n{}",
                    resp.status,
                    shown()
                )));
            }
            // An update or delete may have changed the connections' keys, URIs or lives:
            // make them again before the next run.
            let path = oracle::path_of(&req.target).0;
            if matches!(
                oracle::route(&live, &path, &req.method),
                Ok((
                    Endpoint::Update | Endpoint::Delete | Endpoint::SenderUpdate,
                    _
                ))
            ) {
                self.lock().dirty = true;
            }
        }
        Ok(Outcome::Answered(resp.status))
    }
}

/// Run an input and panic on a violation (the libFuzzer entry point).
pub fn fuzz_one(h: &ServerHarness, input: &[u8]) {
    if let Err(v) = h.run(input) {
        panic!("{v}");
    }
}
