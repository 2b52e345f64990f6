//! Target 3: differential. An input is a sequence of abstract operations (the same ones
//! `edgecheck prop` generates, faults included); each is interpreted against the model's
//! state, sent to the reference server running in this process, and the answer is compared
//! with the model's prediction. Any disagreement is a bug in the server or in the model.

use std::sync::Arc;
use std::time::Duration;

use arbitrary::Arbitrary;

use crate::client::{Client, ClientError, ClientOptions};
use crate::engine::Verdict;
use crate::profiles::edge_v1::case::{Case, Level, Op, Step};
use crate::profiles::edge_v1::prop::gen::{AbstractOp, FaultKind, Kind, BODY_FAULTS, SIG_FAULTS};
use crate::profiles::edge_v1::prop::interpret::Interpreter;
use crate::profiles::edge_v1::runner::CaseRun;
use crate::profiles::edge_v1::sign::{KeyPool, SignError};
use crate::profiles::edge_v1::Context;

/// Longest sequence run (each step signs once or twice).
pub const MAX_OPS: usize = 12;

/// One encoded operation: four bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct OpCode {
    /// Connection slot (0 most often).
    pub slot: u8,
    /// Kind of operation.
    pub kind: u8,
    /// First parameter.
    pub a: u8,
    /// Second parameter.
    pub b: u8,
}

impl OpCode {
    /// The abstract operation this code stands for.
    pub fn decode(self) -> AbstractOp {
        let slot = match self.slot % 8 {
            0..=4 => 0,
            5 | 6 => 1,
            _ => 2,
        };
        let (a, b) = (self.a, self.b);
        let page = (a & 0x80 != 0).then_some((a & 0x7f) % 6 + 1);
        let from = (b & 0x80 != 0).then_some(((b & 0x7f) >> 1) % 8);
        let kind = match self.kind % 10 {
            0 => Kind::Create {
                alt: a & 1 != 0,
                disabled: a & 2 != 0 && b & 1 != 0,
            },
            1 => Kind::Update(a % 63 + 1),
            2 => Kind::SenderUpdate(a % 3 + 1),
            3 | 4 => Kind::Send(a % 4 + 1),
            5 | 6 => Kind::Retrieve {
                page,
                from,
                keep: b & 1 != 0,
            },
            7 => Kind::DeleteMessages { page, from },
            8 => Kind::Delete,
            _ => {
                let f = match a % 11 {
                    0 => FaultKind::OldKey,
                    1 => FaultKind::WrongKey,
                    2 => FaultKind::OtherPartyKey,
                    // Below 128 the first URI version, else another old one.
                    3 => FaultKind::OldUri(if b % 16 >= 8 { 128 } else { 0 }),
                    4 => FaultKind::UnknownMessageId,
                    5 => FaultKind::Body(b % 16 % BODY_FAULTS),
                    6 => FaultKind::Prohibited,
                    7 => FaultKind::CidMismatch,
                    8 => FaultKind::Method,
                    9 => FaultKind::UnknownPath,
                    _ => FaultKind::Signature(b % 16 % SIG_FAULTS),
                };
                Kind::Fault(f, b / 16)
            }
        };
        AbstractOp { slot, kind }
    }

    /// A code for an abstract operation (for seed corpora); `decode(encode(op)) == op`.
    pub fn encode(op: &AbstractOp) -> OpCode {
        let slot = match op.slot {
            0 => 0,
            1 => 5,
            _ => 7,
        };
        let page_byte = |p: Option<u8>| p.map_or(0, |p| 0x80 | (p.clamp(1, 6) - 1));
        let from_byte = |f: Option<u8>, low: u8| f.map_or(low, |f| 0x80 | ((f % 8) << 1) | low);
        let (kind, a, b) = match op.kind {
            Kind::Create { alt, disabled } => (
                0,
                u8::from(alt) | (u8::from(disabled) << 1),
                u8::from(disabled),
            ),
            Kind::Update(bits) => (1, bits.clamp(1, 63) - 1, 0),
            Kind::SenderUpdate(bits) => (2, bits.clamp(1, 3) - 1, 0),
            Kind::Send(n) => (3, n.clamp(1, 4) - 1, 0),
            Kind::Retrieve { page, from, keep } => {
                (5, page_byte(page), from_byte(from, u8::from(keep)))
            }
            Kind::DeleteMessages { page, from } => (7, page_byte(page), from_byte(from, 0)),
            Kind::Delete => (8, 0, 0),
            Kind::Fault(f, e) => {
                let (fa, fb) = match f {
                    FaultKind::OldKey => (0, 0),
                    FaultKind::WrongKey => (1, 0),
                    FaultKind::OtherPartyKey => (2, 0),
                    FaultKind::OldUri(v) => (3, if v >= 128 { 8 } else { 0 }),
                    FaultKind::UnknownMessageId => (4, 0),
                    FaultKind::Body(i) => (5, i % BODY_FAULTS),
                    FaultKind::Prohibited => (6, 0),
                    FaultKind::CidMismatch => (7, 0),
                    FaultKind::Method => (8, 0),
                    FaultKind::UnknownPath => (9, 0),
                    FaultKind::Signature(i) => (10, i % SIG_FAULTS),
                };
                (9, fa, (e % 16) * 16 + fb)
            }
        };
        OpCode { slot, kind, a, b }
    }
}

/// The reference server in this process and a context to reach it.
pub struct DifferentialHarness {
    rt: tokio::runtime::Runtime,
    server: Option<edge_reference_server::Server>,
    ctx: Arc<Context>,
}

impl Drop for DifferentialHarness {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

/// A disagreement between the server and the model, with the steps that show it.
#[derive(Debug, Clone)]
pub struct Disagreement {
    /// The runner's message (rule, expected, actual).
    pub message: String,
    /// The steps, as a case file's steps (replayable with `edgecheck replay`).
    pub steps: Vec<Step>,
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let steps = serde_json::to_string_pretty(&self.steps).unwrap_or_default();
        write!(f, "{}\nsteps:\n{steps}", self.message)
    }
}

/// Why the differential harness could not start.
#[derive(Debug, thiserror::Error)]
pub enum DifferentialHarnessError {
    /// The tokio runtime cannot be built.
    #[error(transparent)]
    Runtime(std::io::Error),
    /// The reference server did not start.
    #[error("the reference server did not start: {0}")]
    Start(#[source] edge_reference_server::StartError),
    /// The HTTP client cannot be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The built-in key pool cannot be loaded.
    #[error(transparent)]
    Pool(#[from] SignError),
    /// The server's create URL cannot be parsed.
    #[error(transparent)]
    Url(#[from] url::ParseError),
}

fn blank() -> Case {
    Case {
        id: "fuzz/differential".into(),
        title: "differential sequence".into(),
        requirements: Vec::new(),
        level: Level::Must,
        needs: Vec::new(),
        seed: None,
        origin: Some("fuzz".into()),
        steps: Vec::new(),
    }
}

impl DifferentialHarness {
    /// Start the reference server with `config` (plain HTTP on a free loopback port).
    pub fn new(
        mut config: edge_reference_server::Config,
    ) -> Result<DifferentialHarness, DifferentialHarnessError> {
        config.listen = "127.0.0.1:0".parse().expect("literal address");
        config.tls = edge_reference_server::Tls::Plain;
        let page = config.page_size;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(DifferentialHarnessError::Runtime)?;
        let server = rt
            .block_on(edge_reference_server::start(config))
            .map_err(DifferentialHarnessError::Start)?;
        let ctx = Arc::new(Context {
            client: Client::new(&ClientOptions {
                timeout: Duration::from_secs(5),
                ..ClientOptions::default()
            })?,
            pool: KeyPool::builtin()?,
            servers: vec![url::Url::parse(&server.create_url())?],
            page_size: Some(page),
            allow_http: true,
            origins: Default::default(),
            idle_wait: None,
        });
        Ok(DifferentialHarness {
            rt,
            server: Some(server),
            ctx,
        })
    }

    /// Run a sequence; `Err` when the server and the model disagree (or the server gave no
    /// answer). Connections left live are deleted afterwards.
    pub fn run(&self, codes: &[OpCode]) -> Result<usize, Disagreement> {
        let ops: Vec<AbstractOp> = codes.iter().take(MAX_OPS).map(|c| c.decode()).collect();
        self.rt.block_on(async {
            let c = blank();
            let mut run = CaseRun::new(&self.ctx, &c);
            let mut interp = Interpreter::default();
            let mut steps = Vec::new();
            let mut result = Ok(ops.len());
            for (i, op) in ops.iter().enumerate() {
                let step = interp.step(op, &run);
                let Some(e) = step.op.and_then(Op::endpoint) else {
                    continue;
                };
                steps.push(step.clone());
                if let Err(f) = run.protocol_step(i + 1, &step, e).await {
                    let transport = run
                        .exchanges()
                        .last()
                        .is_some_and(|ex| ex.response.is_err());
                    if f.verdict == Verdict::Fail || transport {
                        result = Err(Disagreement {
                            message: f.message,
                            steps: steps.clone(),
                        });
                    }
                    break;
                }
            }
            run.delete_live_connections(0).await;
            result
        })
    }
}

/// The operation codes of an input: one per four bytes (a shorter tail is ignored), so a
/// seed is simply its codes one after the other.
pub fn decode_input(data: &[u8]) -> Vec<OpCode> {
    data.chunks_exact(4)
        .filter_map(|c| OpCode::arbitrary(&mut arbitrary::Unstructured::new(c)).ok())
        .collect()
}

/// Decode and run one input, panicking on a disagreement (the libFuzzer entry point).
pub fn fuzz_one(h: &DifferentialHarness, data: &[u8]) {
    let codes = decode_input(data);
    if let Err(d) = h.run(&codes) {
        panic!("the reference server and the model disagree: {d}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_operations() {
        for slot in 0..8u8 {
            for kind in 0..10u8 {
                for a in [0u8, 1, 2, 3, 7, 63, 127, 128, 130, 255] {
                    for b in [0u8, 1, 16, 35, 128, 129, 200, 255] {
                        let op = OpCode { slot, kind, a, b }.decode();
                        assert_eq!(OpCode::encode(&op).decode(), op, "{slot} {kind} {a} {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn four_bytes_make_one_operation() {
        let data = [0u8, 0, 0, 0, 0, 3, 1, 0, 0, 5, 0, 1, 9];
        let codes = decode_input(&data);
        assert_eq!(codes.len(), 3);
        assert_eq!(
            codes[2],
            OpCode {
                slot: 0,
                kind: 5,
                a: 0,
                b: 1
            }
        );
        assert_eq!(codes[1].decode().kind, Kind::Send(2));
    }
}
