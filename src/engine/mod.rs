//! Runs a plan of checks with bounded parallelism and emits one event per finished check.
//!
//! The engine is protocol-neutral: a profile supplies the checks ([`CheckInfo`]) and a
//! [`Session`] that runs one of them against the target.
//!
//! [`history`] checks histories of concurrent operations on message queues, for any
//! profile.

pub mod event;
pub mod generate;
pub mod history;
pub mod plan;
mod session;

pub use event::{CheckResult, Event, Failure, Verdict};
pub use plan::{CheckInfo, Level, Plan, Selection};
pub use session::{BoxFuture, Session};

use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};

/// Requests in a row without any answer after which a run stops (`--max-silent`).
pub const DEFAULT_MAX_SILENT: usize = 8;

/// How a run is carried out: parallelism and its circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSettings {
    /// Checks running at once (at least 1).
    pub jobs: usize,
    /// Stop the run after this many requests in a row (across jobs) got no answer at all
    /// (timeouts, failed connects); 0 never stops.
    pub max_silent: usize,
}

impl RunSettings {
    /// `jobs` at once, the default circuit breaker.
    pub fn new(jobs: usize) -> RunSettings {
        RunSettings {
            jobs,
            max_silent: DEFAULT_MAX_SILENT,
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct PlanRun {
    /// One result per check, in plan order.
    pub results: Vec<CheckResult>,
    /// Why the run stopped early (the circuit breaker), if it did: every check that had not
    /// finished is an `error` with this reason.
    pub stopped: Option<String>,
}

/// Run every case of `plan`, `settings.jobs` at a time, sending events to `events`.
///
/// Checks start dearest first ([`Session::cost`]); results are returned in plan order.
/// Retained exchanges keep at most [`RETAINED_BODY`](crate::client::RETAINED_BODY) body bytes
/// each. When the session's [`Liveness`](crate::client::Liveness) counts `settings.max_silent`
/// unanswered requests in a row, the checks still running are stopped and none is started any
/// more.
pub async fn run_plan(
    session: Arc<dyn Session>,
    plan: &Plan,
    settings: RunSettings,
    events: mpsc::UnboundedSender<Event>,
) -> PlanRun {
    let _ = events.send(Event::Started {
        total: plan.checks.len(),
    });
    let liveness = session.liveness().filter(|_| settings.max_silent > 0);
    let tripped = || {
        liveness
            .as_ref()
            .is_some_and(|l| l.silent_in_a_row() >= settings.max_silent)
    };
    let sem = Arc::new(Semaphore::new(settings.jobs.max(1)));
    let mut set = tokio::task::JoinSet::new();
    // Dearest first (longest processing time first), the plan's order among equals. A check
    // is spawned only once it holds its permit, so checks start in exactly this order
    // whatever the number of worker threads.
    let mut order: Vec<usize> = (0..plan.checks.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(session.cost(&plan.checks[i])));
    let mut pending = order.into_iter().peekable();
    let mut results: Vec<Option<CheckResult>> = vec![None; plan.checks.len()];
    let mut stopped = None;
    let mut watch = tokio::time::interval(std::time::Duration::from_millis(100));
    loop {
        let feeding = stopped.is_none() && pending.peek().is_some();
        if !feeding && set.is_empty() {
            break;
        }
        tokio::select! {
            permit = sem.clone().acquire_owned(), if feeding => {
                let permit = permit.expect("semaphore is never closed");
                let i = pending.next().expect("a check is pending");
                if tripped() {
                    stopped = Some(stop_reason(liveness.as_deref()));
                    set.abort_all();
                    continue;
                }
                let session = session.clone();
                let check = plan.checks[i].clone();
                let events = events.clone();
                set.spawn(async move {
                    let _permit = permit;
                    let mut r = session.run_check(&check).await;
                    for ex in &mut r.exchanges {
                        ex.trim_bodies(crate::client::RETAINED_BODY);
                    }
                    let _ = events.send(Event::Finished(Box::new(r.clone())));
                    (i, r)
                });
            },
            joined = set.join_next(), if !set.is_empty() => match joined {
                Some(Ok((i, r))) => results[i] = Some(r),
                Some(Err(e)) if e.is_panic() => {
                    // A panic inside a check is a bug of the suite: an error verdict.
                    eprintln!("edgecheck: internal error in a check: {e}");
                }
                _ => {}
            },
            _ = watch.tick(), if stopped.is_none() => {
                if tripped() {
                    stopped = Some(stop_reason(liveness.as_deref()));
                    set.abort_all();
                }
            }
        }
    }
    if stopped.is_none() && results.iter().any(Option::is_none) && tripped() {
        stopped = Some(stop_reason(liveness.as_deref()));
    }
    let results = results
        .into_iter()
        .zip(&plan.checks)
        .map(|(r, c)| {
            r.unwrap_or_else(|| {
                let message = match &stopped {
                    Some(reason) => reason.clone(),
                    None => {
                        "the check panicked: this is a bug in edgecheck; please report it".into()
                    }
                };
                let r = CheckResult {
                    verdict: Verdict::Error,
                    message,
                    ..CheckResult::new(c)
                };
                if stopped.is_some() {
                    let _ = events.send(Event::Finished(Box::new(r.clone())));
                }
                r
            })
        })
        .collect();
    PlanRun { results, stopped }
}

/// The message of every check a tripped circuit breaker stopped.
fn stop_reason(liveness: Option<&crate::client::Liveness>) -> String {
    if let Some(why) = liveness.and_then(|l| l.gone()) {
        return format!("target gone: {why}; the run was stopped, not a verdict on this check");
    }
    let n = liveness.map_or(0, |l| l.silent_in_a_row());
    format!(
        "target stopped answering: {n} requests in a row got no answer (timeouts or failed \
         connects), so the run was stopped before this check finished; not a verdict on the \
         server (--max-silent sets the number, 0 never stops)"
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records the order in which checks start; check `i` costs `costs[i]`.
    struct Recorder {
        started: Mutex<Vec<usize>>,
        costs: Vec<u64>,
    }

    impl Session for Recorder {
        fn run_check<'a>(&'a self, check: &'a CheckInfo) -> BoxFuture<'a, CheckResult> {
            self.started.lock().unwrap().push(check.index);
            Box::pin(async move { CheckResult::new(check) })
        }

        fn cost(&self, check: &CheckInfo) -> u64 {
            self.costs[check.index]
        }
    }

    fn plan(n: usize) -> Plan {
        Plan {
            checks: (0..n)
                .map(|index| CheckInfo {
                    id: format!("area/check-{index}"),
                    title: String::new(),
                    area: "area".into(),
                    requirements: vec![],
                    level: Level::Must,
                    index,
                })
                .collect(),
        }
    }

    #[test]
    fn the_dearest_checks_start_first_and_results_keep_the_plan_order() {
        // Two workers, as on a 2-core machine: a task's first poll order is not its spawn
        // order there, so only holding the permit before the spawn keeps this order.
        let rt = runtime(2);
        for _ in 0..50 {
            let costs = vec![1, 0, 250, 1, 40, 0];
            let recorder = Arc::new(Recorder {
                started: Mutex::default(),
                costs,
            });
            let (tx, _rx) = mpsc::unbounded_channel();
            rt.block_on(run_plan(
                recorder.clone(),
                &plan(6),
                RunSettings::new(1),
                tx,
            ));
            assert_eq!(*recorder.started.lock().unwrap(), vec![2, 4, 0, 3, 1, 5]);
        }
        let (tx, _rx) = mpsc::unbounded_channel();
        let run = rt.block_on(run_plan(
            Arc::new(Recorder {
                started: Mutex::default(),
                costs: vec![0; 6],
            }),
            &plan(6),
            RunSettings::new(2),
            tx,
        ));
        let ids: Vec<&str> = run.results.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            (0..6)
                .map(|i| format!("area/check-{i}"))
                .collect::<Vec<_>>()
        );
    }
}
