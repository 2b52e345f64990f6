//! Runs a plan of checks with bounded parallelism and emits one event per finished check.
//!
//! The engine is protocol-neutral: a profile supplies the checks ([`CheckInfo`]) and a
//! [`Session`] that runs one of them against the target.
//!
//! [`history`] checks histories of concurrent operations on message queues, for any
//! profile.

pub mod event;
pub mod history;
pub mod plan;
mod session;

pub use event::{CheckResult, Event, Failure, Verdict};
pub use plan::{CheckInfo, Level, Plan, Selection};
pub use session::{BoxFuture, Session};

use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};

/// Run every case of `plan`, at most `jobs` at a time, sending events to `events`.
///
/// Results are also returned, in plan order.
pub async fn run_plan(
    session: Arc<dyn Session>,
    plan: &Plan,
    jobs: usize,
    events: mpsc::UnboundedSender<Event>,
) -> Vec<CheckResult> {
    let _ = events.send(Event::Started {
        total: plan.checks.len(),
    });
    let sem = Arc::new(Semaphore::new(jobs.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, check) in plan.checks.iter().enumerate() {
        let session = session.clone();
        let sem = sem.clone();
        let check = check.clone();
        let events = events.clone();
        set.spawn(async move {
            let _permit = sem
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            let r = session.run_check(&check).await;
            let _ = events.send(Event::Finished(Box::new(r.clone())));
            (i, r)
        });
    }
    let mut results: Vec<Option<CheckResult>> = vec![None; plan.checks.len()];
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
        .zip(&plan.checks)
        .map(|(r, c)| {
            r.unwrap_or_else(|| CheckResult {
                id: c.id.clone(),
                title: c.title.clone(),
                area: c.area.clone(),
                requirements: c.requirements.clone(),
                level: c.level,
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

/// The number of cores (2 when it cannot be told).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A multi-threaded tokio runtime with this many workers.
pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.clamp(1, 64))
        .enable_all()
        .build()
        .expect("a tokio runtime can be built")
}
