//! `edgecheck prop`: model-based generated sequences.
//!
//! proptest generates sequences of abstract operations over a few connections and both
//! parties, with faults mixed in; each is interpreted against the model's state, sent, and
//! every response is checked against the model. The first deviation of a MUST rule fails
//! the run (a missed SHOULD is a warning, reported only when no sequence fails); proptest
//! shrinks the sequence and the minimal one is written as a case file that `edgecheck replay`
//! runs (re-signing every request).

pub mod coverage;
pub mod gen;
pub mod interpret;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::engine::generate::{block_on_task, finding_id, within, Driver, Shrunk, Trial};
use crate::engine::{Failure, Verdict};
use crate::profiles::edge_v1::case::{write_case, Case, Level, Step, WriteError};
use crate::profiles::edge_v1::runner::CaseRun;
use crate::profiles::edge_v1::Context;
use coverage::{Coverage, Transition};
use gen::AbstractOp;
use interpret::Interpreter;

pub use crate::profiles::PropOptions;

/// A failure found and shrunk.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The minimal case.
    pub case: Case,
    /// What went wrong at its last step.
    pub failure: Failure,
    /// Message.
    pub message: String,
    /// Where the case file was written.
    pub path: Option<PathBuf>,
    /// Sequence length before shrinking.
    pub original_steps: usize,
}

/// The outcome of a generated run.
#[derive(Debug, Default)]
pub struct PropReport {
    /// Sequences run (shrinking runs included).
    pub sequences: usize,
    /// Steps run.
    pub steps: usize,
    /// Signatures made.
    pub signatures: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// The finding, if any.
    pub finding: Option<Finding>,
    /// A suite or network error that stopped the run.
    pub error: Option<String>,
    /// Model transitions exercised.
    pub coverage: Coverage,
}

/// One executed sequence.
struct Exec {
    steps: Vec<Step>,
    failure: Option<(Verdict, String, Failure)>,
    signatures: usize,
    transitions: Vec<Transition>,
}

async fn execute(ctx: &Context, ops: &[AbstractOp]) -> Exec {
    let case = placeholder_case(Vec::new(), 0);
    let mut run = CaseRun::new(ctx, &case);
    let mut interp = Interpreter::default();
    let mut steps = Vec::new();
    let mut transitions = Vec::new();
    let mut failure = None;
    for (i, op) in ops.iter().enumerate() {
        let step = interp.step(op, &run);
        let endpoint = step
            .op
            .and_then(|o| o.endpoint())
            .expect("generated steps are protocol steps");
        let phase = run.model().conn(&step.conn).map(|c| c.phase());
        let before = run.exchanges().len();
        let r = run.protocol_step(i + 1, &step, endpoint).await;
        let status = run
            .exchanges()
            .get(before)
            .and_then(|e| e.response.as_ref().ok())
            .map(|r| r.status);
        transitions.push(Transition::new(
            phase,
            endpoint,
            step.fault.is_some()
                || step.sig_fault.is_some()
                || step.sign_with.is_some()
                || step.via.is_some(),
            status,
        ));
        steps.push(step);
        if let Err(f) = r {
            failure = Some((f.verdict, f.message, f.failure));
            break;
        }
    }
    Exec {
        steps,
        failure,
        signatures: run.signatures(),
        transitions,
    }
}

/// Runs `ops` as a task of the runtime: the sequence's requests, their signatures and the
/// connections they use then share the runtime's workers, and the calling thread wakes once
/// per sequence rather than at every request. `None`: the deadline cut it.
fn on_runtime(
    handle: &tokio::runtime::Handle,
    ctx: &Arc<Context>,
    ops: &[AbstractOp],
    deadline: Option<Instant>,
) -> Option<Exec> {
    let (ctx, ops) = (ctx.clone(), ops.to_vec());
    block_on_task(handle, async move {
        within(deadline, execute(&ctx, &ops)).await
    })
    .flatten()
}

fn placeholder_case(steps: Vec<Step>, seed: u64) -> Case {
    Case {
        id: "prop/sequence".into(),
        title: "generated sequence".into(),
        requirements: vec![],
        level: Level::Must,
        needs: vec![],
        seed: Some(seed),
        origin: Some("prop".into()),
        steps,
    }
}

/// Run generated sequences against the context's target. Blocking: call it from a blocking
/// thread; it drives the async client with `handle`.
pub fn run(ctx: Arc<Context>, opts: &PropOptions, handle: tokio::runtime::Handle) -> PropReport {
    let started = Instant::now();
    let deadline = opts.duration.map(|d| started + d);
    let sequences = AtomicUsize::new(0);
    let steps = AtomicUsize::new(0);
    let signatures = AtomicUsize::new(0);
    let coverage = Mutex::new(Coverage::default());
    let driver = Driver {
        seed: opts.seed,
        cases: opts.cases,
        jobs: opts.jobs,
        deadline,
        max_shrink_iters: 2048,
    };
    let found = driver.run(
        || gen::sequence(opts.max_steps),
        |ops: &Vec<AbstractOp>| {
            // `--duration` bounds shrinking too: a sequence cut by it is not counted, and
            // the run stops.
            let Some(exec) = on_runtime(&handle, &ctx, ops, deadline) else {
                return Trial::Cut;
            };
            sequences.fetch_add(1, Ordering::Relaxed);
            steps.fetch_add(exec.steps.len(), Ordering::Relaxed);
            signatures.fetch_add(exec.signatures, Ordering::Relaxed);
            coverage
                .lock()
                .expect("coverage lock")
                .add(&exec.transitions);
            match exec.failure {
                Some((Verdict::Fail, message, _)) => Trial::Fail {
                    message,
                    size: ops.len(),
                },
                // A SHOULD rule missed: kept as a warning while the search goes on.
                Some((Verdict::Warn, message, _)) => Trial::Warn {
                    message,
                    size: ops.len(),
                },
                Some((Verdict::Error, message, _)) => Trial::Error(message),
                _ => Trial::Pass,
            }
        },
    );

    let mut report = PropReport {
        error: found.error,
        ..PropReport::default()
    };
    if let Some(Shrunk {
        value: ops,
        first_size: original,
        ..
    }) = found.failure
    {
        let seed = opts.seed;
        // Run the minimal sequence once more to record its steps and failure.
        let exec = handle.block_on(within(deadline, execute(&ctx, &ops)));
        sequences.fetch_add(1, Ordering::Relaxed);
        let Some(exec) = exec else {
            report.error = Some(
                "--duration ran out before the shrunk sequence could be run again; give more \
                 time to record the finding"
                    .into(),
            );
            return finish(report, &sequences, &steps, &signatures, &coverage, started);
        };
        if let Some((verdict, message, failure)) = exec.failure {
            let mut case = finding_case(exec.steps, &failure, seed);
            if verdict == Verdict::Warn {
                case.level = Level::Should;
            }
            let path = write_finding(&opts.findings, &case)
                .map_err(|e| report.error.get_or_insert(e.to_string()).clone())
                .ok();
            report.finding = Some(Finding {
                case,
                failure,
                message,
                path,
                original_steps: original,
            });
        } else {
            report.error.get_or_insert_with(|| {
                "the shrunk sequence no longer fails when run again: the failure is flaky".into()
            });
        }
    }
    finish(report, &sequences, &steps, &signatures, &coverage, started)
}

/// The report with the counters filled in.
fn finish(
    mut report: PropReport,
    sequences: &AtomicUsize,
    steps: &AtomicUsize,
    signatures: &AtomicUsize,
    coverage: &Mutex<Coverage>,
    started: Instant,
) -> PropReport {
    report.sequences = sequences.load(Ordering::Relaxed);
    report.steps = steps.load(Ordering::Relaxed);
    report.signatures = signatures.load(Ordering::Relaxed);
    report.coverage = std::mem::take(&mut *coverage.lock().expect("coverage lock"));
    report.elapsed = started.elapsed();
    report
}

/// The case a finding becomes: its steps, the implicated rule, seed and origin.
pub fn finding_case(steps: Vec<Step>, failure: &Failure, seed: u64) -> Case {
    let rule = if failure.rule.is_empty() {
        "B-NO-5XX".to_string()
    } else {
        failure.rule.clone()
    };
    let id = finding_id(&rule, &steps);
    let mut case = placeholder_case(steps, seed);
    case.id = id;
    case.title = format!(
        "Generated sequence (seed {seed}) breaks {rule} at step {}: expected {}, got {}",
        failure.step, failure.expected, failure.actual
    );
    case.requirements = vec![rule];
    case
}

/// Write a finding as a case file; returns its path.
pub fn write_finding(dir: &Path, case: &Case) -> Result<PathBuf, WriteError> {
    write_case(dir, "prop", case)
}
