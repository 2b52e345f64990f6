//! Runs one case: each protocol step is built from the symbolic state, signed, sent and checked
//! against its expectations or the model; each probe step runs its built-in check.
//!
//! Layers, each using only those before it: `error`, `state` (the run's bindings and how a
//! step fails), `view` (the model's view of a step), `body` and `request` (the HTTP request),
//! `expect` (checking an answer), `step` (one protocol step), `probes`, and this module.

// A step failure carries its whole observation (rule, rules also broken, expected, actual);
// it is built once per failing case, so its size costs nothing worth boxing.
#![allow(clippy::result_large_err)]
mod body;
pub mod error;
mod expect;
pub mod probes;
mod request;
pub mod state;
mod step;
pub mod view;

use std::time::Instant;

use crate::engine::event::{CheckResult, Verdict};
use crate::profiles::edge_v1::case::{Case, Need, Op};
use crate::profiles::edge_v1::context::Context;
pub use error::StepError;
pub use state::{level_verdict, CaseRun, Live, Snapshot, StepFailure};

/// Run a whole case and produce its result.
pub async fn run_case(ctx: &Context, case: &Case, area: &str) -> CheckResult {
    let started = Instant::now();
    let mut run = CaseRun::new(ctx, case);
    let mut result = CheckResult {
        id: case.id.clone(),
        title: case.title.clone(),
        area: area.to_string(),
        requirements: case.requirements.clone(),
        level: case.level,
        verdict: Verdict::Pass,
        message: String::new(),
        failure: None,
        exchanges: Vec::new(),
        requests: 0,
        signatures: 0,
        duration: Default::default(),
        timing: None,
        more_timing: Vec::new(),
    };
    if let Some(reason) = unmet_need(ctx, case) {
        result.verdict = Verdict::Skip;
        result.message = reason;
        return result;
    }
    let mut outcome: Result<(), StepFailure> = Ok(());
    for (i, step) in case.steps.iter().enumerate() {
        let n = i + 1;
        let op = step.op.unwrap_or(Op::Probe);
        outcome = match op.endpoint() {
            Some(e) => run.protocol_step(n, step, e).await,
            None => probes::run(&mut run, n, step).await,
        };
        if outcome.is_err() {
            break;
        }
    }
    match outcome {
        Ok(()) => {
            if let Some(w) = run.warning.take() {
                result.verdict = w.verdict;
                result.message = w.message;
                result.failure = Some(w.failure);
            } else if let Some(reason) = run.waived.take() {
                result.verdict = Verdict::Waived;
                result.message = reason;
            } else if let Some(reason) = run.skipped.take() {
                result.verdict = Verdict::Skip;
                result.message = reason;
            }
        }
        Err(f) => {
            result.verdict = f.verdict;
            result.message = f.message;
            result.failure = Some(f.failure);
        }
    }
    result.requests = run.exchanges.len();
    result.signatures = run.signatures;
    if result.verdict != Verdict::Pass {
        result.exchanges = run.take_exchanges();
    }
    result.duration = started.elapsed();
    result
}

/// Why the target cannot run `case`, if it cannot.
fn unmet_need(ctx: &Context, case: &Case) -> Option<String> {
    for need in &case.needs {
        match need {
            Need::PageSize if ctx.page_size.is_none() => {
                return Some("the server's PAGE_SIZE is unknown; give --page-size N".into())
            }
            Need::TwoServers if ctx.servers.len() < 2 => {
                return Some("needs two servers; give --server twice".into())
            }
            Need::Tls if ctx.ce().scheme() != "https" => {
                return Some("needs an https:// target".into())
            }
            _ => {}
        }
    }
    None
}
