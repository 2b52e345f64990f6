//! Target 2: the suite's handling of server responses.
//!
//! A fake server in this process answers one protocol step of the step runner with the
//! input's bytes (status line, headers, body, anything). The runner parses the answer (the
//! suite's own HTTP/1.1 parser: the step goes over the raw path), compares it with the
//! model, and the exchange is rendered as a `curl` command and as the JSON of a check
//! result. None of that may panic, and every size is capped (bodies by the client's cap,
//! heads by the parser's).
//!
//! The step runs on a connection that the runner believes exists with three queued
//! messages, so retrievals and deletions are compared with a non-trivial model state.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arbitrary::Arbitrary;

use crate::client::{self, Client, ClientError, ClientOptions};
use crate::engine::{CheckResult, Verdict};
use crate::profiles::edge_v1::case::{Case, Level, Op, Step};
use crate::profiles::edge_v1::model::Endpoint;
use crate::profiles::edge_v1::runner::{CaseRun, Snapshot};
use crate::profiles::edge_v1::sign::{KeyPool, SignError};
use crate::profiles::edge_v1::Context;

/// One input: which step, a parameter for it, and the answer.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct ResponseInput {
    /// The step (modulo the number of steps).
    pub op: u8,
    /// `pageSize` and flags of the step.
    pub param: u8,
    /// The bytes the server sends back.
    pub response: Vec<u8>,
}

impl ResponseInput {
    /// Decode an input: the step and its parameter (one byte each), then the answer bytes.
    pub fn from_bytes(data: &[u8]) -> Option<ResponseInput> {
        let mut u = arbitrary::Unstructured::new(data);
        let op = u8::arbitrary(&mut u).ok()?;
        let param = u8::arbitrary(&mut u).ok()?;
        if data.len() < 2 {
            return None;
        }
        Some(ResponseInput {
            op,
            param,
            response: u.take_rest().to_vec(),
        })
    }

    /// The input as bytes: `from_bytes(to_bytes(x)) == x`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.op, self.param];
        out.extend_from_slice(&self.response);
        out
    }
}

/// Number of distinct steps.
pub const STEPS: u8 = 8;

/// The answer the fake server sends next.
type Answer = Arc<Mutex<Vec<u8>>>;

/// Serve `answer` to every request: read the request head and body, write the answer,
/// close.
fn serve(listener: TcpListener, answer: Answer) {
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        // Read the head, then the body by Content-Length (the runner always sends one).
        let mut need = None;
        loop {
            if let Some(n) = need {
                if buf.len() >= n {
                    break;
                }
            } else if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                need = Some(i + 4 + len);
                continue;
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if buf.len() > 8 << 20 {
                break;
            }
        }
        let bytes = answer.lock().map(|a| a.clone()).unwrap_or_default();
        let _ = s.write_all(&bytes);
        let _ = s.flush();
    }
}

/// Why the response harness could not start.
#[derive(Debug, thiserror::Error)]
pub enum ResponseHarnessError {
    /// The fake server's socket or the tokio runtime cannot be set up.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The HTTP client cannot be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The built-in key pool cannot be loaded.
    #[error(transparent)]
    Pool(#[from] SignError),
    /// The fake server's URL cannot be parsed.
    #[error(transparent)]
    Url(#[from] url::ParseError),
    /// The fake server's answer slot is poisoned (its thread panicked).
    #[error("poisoned lock: another task failed inside")]
    Poisoned,
    /// A setup step did not get the canned answer's outcome.
    #[error("the response harness setup failed: {0}")]
    Setup(String),
}

/// The fake server and a runner state with a live connection.
pub struct ResponseHarness {
    rt: tokio::runtime::Runtime,
    ctx: Context,
    answer: Answer,
    /// The runner's state after the setup, copied into each run.
    snapshot: Snapshot,
}

fn case() -> Case {
    Case {
        id: "fuzz/response".into(),
        title: "a step answered by fuzz bytes".into(),
        requirements: vec!["B-NO-5XX".into()],
        level: Level::Must,
        needs: Vec::new(),
        seed: None,
        origin: Some("fuzz".into()),
        steps: Vec::new(),
    }
}

fn step(op: Op) -> Step {
    Step {
        op: Some(op),
        conn: "c".into(),
        // Over the raw path: the suite's own response parser.
        headers: Some(vec![("Connection".into(), "close".into())]),
        ..Step::default()
    }
}

/// A correct answer with this status and body.
fn answer(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

const EMPTY_OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
const OBJECT_OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

impl ResponseHarness {
    /// Start the fake server and set up the runner's state with canned correct answers.
    pub fn new() -> Result<ResponseHarness, ResponseHarnessError> {
        fn answer_slot(
            a: &Answer,
        ) -> Result<std::sync::MutexGuard<'_, Vec<u8>>, ResponseHarnessError> {
            a.lock().map_err(|_| ResponseHarnessError::Poisoned)
        }
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr: SocketAddr = listener.local_addr()?;
        let slot: Answer = Arc::default();
        let a = slot.clone();
        std::thread::spawn(move || serve(listener, a));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let ctx = Context {
            client: Client::new(&ClientOptions {
                timeout: Duration::from_secs(2),
                body_cap: 1 << 20,
                body_limit: crate::client::DEFAULT_BODY_LIMIT,
                ca_cert_pem: None,
                insecure: false,
                origins: Default::default(),
                http: Default::default(),
            })?,
            pool: KeyPool::builtin()?,
            servers: vec![url::Url::parse(&format!("http://{addr}/connection"))?],
            page_size: Some(10),
            allow_http: true,
            origins: Default::default(),
            idle_wait: None,
        };
        let snapshot = {
            let c = case();
            let mut run = CaseRun::new(&ctx, &c);
            let mut secure = step(Op::Call(Endpoint::Update));
            secure.sender = Some("c.sk".into());
            let mut send = step(Op::Call(Endpoint::Send));
            send.messages = Some(vec!["m1".into(), "m2".into(), "m3".into()]);
            let created = answer(
                "201 Created",
                r#"{"recipientURI":"/connection/r1","senderURI":"/c/s1"}"#,
            );
            for (s, canned) in [
                (step(Op::Call(Endpoint::Create)), created.as_slice()),
                (secure, OBJECT_OK),
                (send, EMPTY_OK),
            ] {
                *answer_slot(&slot)? = canned.to_vec();
                let e = s.op.and_then(Op::endpoint).unwrap_or(Endpoint::Create);
                rt.block_on(run.protocol_step(1, &s, e))
                    .map_err(|f| ResponseHarnessError::Setup(f.message))?;
            }
            run.snapshot()
        };
        Ok(ResponseHarness {
            rt,
            ctx,
            answer: slot,
            snapshot,
        })
    }

    /// The step an input asks for.
    fn step_for(op: u8, param: u8) -> (Step, Endpoint) {
        let page = u64::from(param % 8).max(1);
        let s = match op % STEPS {
            0 => {
                let mut s = step(Op::Call(Endpoint::Create));
                s.conn = "d".into();
                s
            }
            1 => {
                let mut s = step(Op::Call(Endpoint::Update));
                s.recipient = (param & 1 != 0).then(|| "c.rk2".into());
                s.new_recipient_uri = Some(param & 2 != 0);
                s.new_sender_uri = Some(param & 4 != 0);
                s
            }
            2 => step(Op::Call(Endpoint::Delete)),
            3 | 4 => {
                let mut s = step(Op::Call(Endpoint::Retrieve));
                s.page_size = (param & 8 == 0).then_some(page);
                s.keep_messages = (op % STEPS == 3).then_some(true);
                s
            }
            5 => {
                let mut s = step(Op::Call(Endpoint::DeleteMessages));
                s.page_size = (param & 8 == 0).then_some(page);
                s
            }
            6 => {
                let mut s = step(Op::Call(Endpoint::SenderUpdate));
                s.sender = (param & 1 != 0).then(|| "c.sk2".into());
                s.new_sender_uri = Some(param & 2 != 0);
                s
            }
            _ => {
                let mut s = step(Op::Call(Endpoint::Send));
                s.messages = Some(vec!["m4".into()]);
                s
            }
        };
        let e = s.op.and_then(Op::endpoint).unwrap_or(Endpoint::Create);
        (s, e)
    }

    /// Run one input; returns the verdict and the rendered transcript (for tests). Never
    /// panics unless the suite has a bug.
    pub fn run(&self, input: &ResponseInput) -> (Verdict, String) {
        if let Ok(mut a) = self.answer.lock() {
            *a = input.response.clone();
        }
        let c = case();
        let mut run = CaseRun::new(&self.ctx, &c);
        run.restore(self.snapshot.clone());
        let (s, e) = Self::step_for(input.op, input.param);
        let outcome = self.rt.block_on(run.protocol_step(1, &s, e));
        let (verdict, message, failure) = match outcome {
            Ok(()) => (Verdict::Pass, String::new(), None),
            Err(f) => (f.verdict, f.message, Some(f.failure)),
        };
        let mut transcript = String::new();
        for ex in run.exchanges() {
            transcript.push_str(&client::curl(ex));
            transcript.push('\n');
        }
        let result = CheckResult {
            id: c.id.clone(),
            title: c.title.clone(),
            area: "fuzz".into(),
            requirements: c.requirements.clone(),
            level: c.level,
            verdict,
            message,
            failure,
            exchanges: run.take_exchanges(),
            requests: 1,
            signatures: run.signatures(),
            duration: Duration::ZERO,
            timing: None,
            more_timing: Vec::new(),
        };
        transcript.push_str(&serde_json::to_string(&result).unwrap_or_default());
        (verdict, transcript)
    }
}

/// Decode and run one input (the libFuzzer entry point).
pub fn fuzz_one(h: &ResponseHarness, data: &[u8]) {
    if let Some(input) = ResponseInput::from_bytes(data) {
        let _ = h.run(&input);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_round_trip_through_bytes() {
        let x = ResponseInput {
            op: 7,
            param: 200,
            response: b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
        };
        assert_eq!(ResponseInput::from_bytes(&x.to_bytes()), Some(x));
        assert_eq!(ResponseInput::from_bytes(&[1]), None);
        assert_eq!(
            ResponseInput::from_bytes(&[1, 2]).map(|i| i.response),
            Some(vec![])
        );
    }
}
