//! The differential harness of the cargo-fuzz target `tassis_differential`: an input is a
//! sequence of operation codes, decoded into the operations `prop` generates; the model
//! turns them into steps with its expectations, and they run against the reference server
//! started in this process. Any deviation (a rule the runner sees broken, or a step that
//! cannot run) is a disagreement between the server and the model.

use super::gen::Op;
use super::interpret::{execute, plan};
use super::LOOPBACK_PUSH_MS;
use crate::profiles::tassis_v2::case::Step;
use crate::profiles::tassis_v2::runner::Ending;
use crate::profiles::tassis_v2::{open_target, Opened};
use crate::profiles::{TargetOptions, DEFAULT_MAX_BODY, DEFAULT_TIMEOUT};

/// Longest sequence run.
pub const MAX_OPS: usize = 12;

/// One encoded operation: three bytes (kind, then two parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpCode {
    /// Kind of operation.
    pub kind: u8,
    /// First parameter.
    pub a: u8,
    /// Second parameter.
    pub b: u8,
}

impl OpCode {
    /// The operation this code stands for (every code is one).
    pub fn decode(self) -> Op {
        let (a, b) = (self.a, self.b);
        let id = a % 3;
        let dev = (a / 3) % 3;
        match self.kind % 9 {
            0 => Op::Login {
                id,
                dev,
                register: b % 5,
            },
            1 => Op::Register {
                session: a % 4,
                new_signed: b & 0x80 != 0,
                keys: b % 4,
            },
            2 => Op::Unregister { session: a % 4 },
            3 => Op::RequestPreKeys { id, known: b % 16 },
            4 => Op::Send {
                known: b & 0x80 != 0,
                id,
                dev,
                count: (b & 0x7f) % 3 + 1,
            },
            5 => Op::Receive { session: a % 4 },
            6 => Op::Ack {
                session: a % 4,
                pick: b,
            },
            7 => Op::Disconnect {
                conn: a % 5,
                abrupt: b & 1 != 0,
            },
            _ => Op::Misuse {
                session: a % 4,
                kind: b % 3,
            },
        }
    }

    /// A code for an operation (for seed corpora); `decode(encode(op)) == op` for operations
    /// in the ranges `prop` generates.
    pub fn encode(op: &Op) -> OpCode {
        let addr = |id: u8, dev: u8| id % 3 + 3 * (dev % 3);
        let (kind, a, b) = match *op {
            Op::Login { id, dev, register } => (0, addr(id, dev), register % 5),
            Op::Register {
                session,
                new_signed,
                keys,
            } => (1, session % 4, (u8::from(new_signed) << 7) | (keys % 4)),
            Op::Unregister { session } => (2, session % 4, 0),
            Op::RequestPreKeys { id, known } => (3, id % 3, known % 16),
            Op::Send {
                known,
                id,
                dev,
                count,
            } => (
                4,
                addr(id, dev),
                (u8::from(known) << 7) | (count.clamp(1, 3) - 1),
            ),
            Op::Receive { session } => (5, session % 4, 0),
            Op::Ack { session, pick } => (6, session % 4, pick),
            Op::Disconnect { conn, abrupt } => (7, conn % 5, u8::from(abrupt)),
            Op::Misuse { session, kind } => (8, session % 4, kind % 3),
        };
        OpCode { kind, a, b }
    }
}

/// A disagreement between the server and the model, with the steps that show it.
#[derive(Debug, Clone)]
pub struct Disagreement {
    /// The rule, what the model expected and what came (or why a step could not run).
    pub message: String,
    /// The steps up to the one that failed (a case file's steps).
    pub steps: Vec<Step>,
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let steps = serde_json::to_string_pretty(&self.steps).unwrap_or_default();
        write!(f, "{}\nsteps:\n{steps}", self.message)
    }
}

/// Why the harness could not start.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The tokio runtime cannot be built.
    #[error("cannot build the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The reference server did not start or answer.
    #[error("the reference server did not start: {0}")]
    Start(String),
}

/// The reference server in this process and what reaches it.
pub struct DifferentialHarness {
    rt: tokio::runtime::Runtime,
    opened: Option<Opened>,
}

impl Drop for DifferentialHarness {
    fn drop(&mut self) {
        if let Some(o) = self.opened.take() {
            self.rt.block_on(o.close());
        }
    }
}

impl DifferentialHarness {
    /// Start the reference server with `config` as the embedded target runs it: plain
    /// WebSocket on a free loopback port, the embedded PreKeysLow settings (faults and other
    /// settings as given).
    pub fn new(
        mut config: edge_reference_server::tassis_v2::TassisConfig,
    ) -> Result<DifferentialHarness, HarnessError> {
        config.listen = ([127, 0, 0, 1], 0).into();
        config.tls = edge_reference_server::Tls::Plain;
        config.prekeys_low = crate::profiles::tassis_v2::EMBEDDED_PREKEYS.0;
        config.prekeys_interval = crate::profiles::tassis_v2::EMBEDDED_PREKEYS.1;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(HarnessError::Runtime)?;
        let opened = rt.block_on(async {
            let server = edge_reference_server::tassis_v2::start(config)
                .await
                .map_err(|e| HarnessError::Start(e.to_string()))?;
            let target = TargetOptions {
                servers: vec![server.url()],
                allow_http: true,
                timeout: DEFAULT_TIMEOUT,
                max_body: DEFAULT_MAX_BODY,
                ..TargetOptions::default()
            };
            let opened = open_target(&target)
                .await
                .map_err(|e| HarnessError::Start(e.to_string()));
            match opened {
                Ok(mut o) => {
                    o.embedded = Some(server);
                    Ok(o)
                }
                Err(e) => {
                    server.shutdown().await;
                    Err(e)
                }
            }
        })?;
        Ok(DifferentialHarness {
            rt,
            opened: Some(opened),
        })
    }

    /// Run the first [`MAX_OPS`] operations of `codes`; the number of steps run, or the
    /// disagreement.
    pub fn run(&self, codes: &[OpCode]) -> Result<usize, Disagreement> {
        let ops: Vec<Op> = codes.iter().take(MAX_OPS).map(|c| c.decode()).collect();
        let p = plan(&ops, LOOPBACK_PUSH_MS);
        if p.steps.is_empty() {
            return Ok(0);
        }
        let Some(opened) = &self.opened else {
            return Ok(0);
        };
        let exec = self.rt.block_on(execute(&opened.env, &p));
        match exec.ending {
            Ending::Pass => Ok(p.steps.len()),
            Ending::Broken { step, broken, .. } => Err(Disagreement {
                message: format!(
                    "{}: expected {}; got {}",
                    broken.rule, broken.expected, broken.actual
                ),
                steps: p.steps[..step.min(p.steps.len())].to_vec(),
            }),
            Ending::Error(why) | Ending::Skip(why) | Ending::Waived(why) => Err(Disagreement {
                message: format!("a step could not run: {why}"),
                steps: p.steps.clone(),
            }),
        }
    }
}

/// The operation codes of a fuzz input: three bytes each (a shorter rest is ignored).
pub fn decode_input(data: &[u8]) -> Vec<OpCode> {
    data.chunks_exact(3)
        .map(|c| OpCode {
            kind: c[0],
            a: c[1],
            b: c[2],
        })
        .collect()
}

/// The fuzz input of a sequence (for seed corpora).
pub fn encode_input(ops: &[Op]) -> Vec<u8> {
    ops.iter()
        .flat_map(|op| {
            let c = OpCode::encode(op);
            [c.kind, c.a, c.b]
        })
        .collect()
}

/// The target's body: run the operations of `data`; a disagreement panics (libFuzzer's
/// crash).
pub fn fuzz_one(h: &DifferentialHarness, data: &[u8]) {
    if let Err(d) = h.run(&decode_input(data)) {
        panic!("the reference server and the model disagree: {d}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_generated_operation_has_a_code(op in super::super::gen::op()) {
            prop_assert_eq!(OpCode::encode(&op).decode(), op);
        }

        #[test]
        fn a_sequence_survives_its_input(ops in super::super::gen::sequence(12)) {
            let back: Vec<Op> = decode_input(&encode_input(&ops)).into_iter().map(OpCode::decode).collect();
            prop_assert_eq!(back, ops);
        }
    }
}
