//! Runs a plan of checks with bounded parallelism and emits one event per finished check.
//!
//! Scripted cases, replayed case files and generated sequences all run through the same
//! step runner ([`runner`]), so a found case replays exactly as it was found.

pub mod event;
pub mod plan;
pub use event::{CheckResult, Event, Failure, Verdict};
pub use plan::{Plan, PlannedCase, Selection};

use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};

use crate::profiles::edge_v1::{runner, Context};

/// Run every case of `plan`, at most `jobs` at a time, sending events to `events`.
///
/// Results are also returned, in plan order.
pub async fn run_plan(
    ctx: Arc<Context>,
    plan: &Plan,
    jobs: usize,
    events: mpsc::UnboundedSender<Event>,
) -> Vec<CheckResult> {
    let _ = events.send(Event::Started {
        total: plan.cases.len(),
    });
    let sem = Arc::new(Semaphore::new(jobs.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, pc) in plan.cases.iter().enumerate() {
        let ctx = ctx.clone();
        let sem = sem.clone();
        let pc = pc.clone();
        let events = events.clone();
        set.spawn(async move {
            let _permit = sem
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            let r = runner::run_case(&ctx, &pc.case, &pc.area).await;
            let _ = events.send(Event::Finished(Box::new(r.clone())));
            (i, r)
        });
    }
    let mut results: Vec<Option<CheckResult>> = vec![None; plan.cases.len()];
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, r)) => results[i] = Some(r),
            Err(e) => {
                // A panic inside a check is a bug of the suite: report it as an error verdict.
                eprintln!("edgecheck: internal error in a check: {e}");
            }
        }
    }
    results
        .into_iter()
        .zip(&plan.cases)
        .map(|(r, pc)| {
            r.unwrap_or_else(|| CheckResult {
                id: pc.case.id.clone(),
                title: pc.case.title.clone(),
                area: pc.area.clone(),
                requirements: pc.case.requirements.clone(),
                level: pc.case.level,
                verdict: Verdict::Error,
                message: "the check panicked: this is a bug in edgecheck; please report it".into(),
                failure: None,
                exchanges: Vec::new(),
                requests: 0,
                signatures: 0,
                duration: Default::default(),
            })
        })
        .collect()
}
