//! `edgecheck race`: concurrency histories.
//!
//! N senders and M removing retrievers share a few connections, each with a bounded number
//! of requests, while a rotator replaces keys and URIs and disables and enables the
//! connection at random points of the senders' progress, and probes every credential it
//! replaced. Every request is recorded with its invoke and return times ([`history`]); the
//! history is then checked against the binding ([`check()`]) and a violation is reported with
//! the few operations that show it.
//!
//! [`history`] and [`check`](mod@check) are edge-v1's side of the engine's queue checker
//! ([`crate::engine::history`]); the scripted concurrency probe records and checks its
//! histories with them too.

pub mod check;
pub mod history;
pub mod run;

use std::time::{Duration, Instant};

pub use check::{check, Violation};
pub use history::{render, Op};
pub use run::{Env, Round, Shape};

/// Options of a race campaign.
#[derive(Debug, Clone, Copy)]
pub struct RaceOptions {
    /// The shape of every round.
    pub shape: Shape,
    /// Seed of the first round (round i uses seed + i).
    pub seed: u64,
    /// Rounds to run (at least one).
    pub rounds: usize,
    /// Keep running rounds until this much time has passed (at least `rounds` rounds).
    pub duration: Option<Duration>,
}

/// A round with violations.
#[derive(Debug, Clone)]
pub struct Failed {
    /// The round's seed.
    pub seed: u64,
    /// Its history.
    pub round: Round,
    /// What is wrong with it.
    pub violations: Vec<Violation>,
}

/// The outcome of a campaign.
#[derive(Debug, Default)]
pub struct RaceReport {
    /// Rounds run.
    pub rounds: usize,
    /// Operations recorded.
    pub ops: usize,
    /// Of which sends, retrievals and updates.
    pub sends: usize,
    /// Retrievals (removing and kept).
    pub retrievals: usize,
    /// Rotations, disables and enables.
    pub updates: usize,
    /// Requests without an answer (indeterminate).
    pub unanswered: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// The first round with violations (the campaign stops there).
    pub failed: Option<Failed>,
    /// The last round (for `--history`).
    pub last: Option<Round>,
    /// Why a round could not start: the server is unreachable, or broke a rule at set-up.
    pub error: Option<run::SetupError>,
}

/// Run rounds until one shows a violation, the rounds are done and the duration is over, or
/// a setup step fails.
pub async fn campaign(env: &Env, opts: &RaceOptions) -> RaceReport {
    let started = Instant::now();
    let mut report = RaceReport::default();
    let mut i = 0u64;
    loop {
        let enough_rounds = report.rounds >= opts.rounds.max(1);
        let time_left = opts.duration.is_some_and(|d| started.elapsed() < d);
        if enough_rounds && !time_left {
            break;
        }
        let seed = opts.seed.wrapping_add(i);
        i += 1;
        // `--duration` bounds every round too: a round cut by it is dropped, not judged.
        let round = run::round(env, opts.shape, seed);
        let round = match opts.duration {
            Some(d) => {
                let deadline = tokio::time::Instant::from_std(started + d);
                match tokio::time::timeout_at(deadline, round).await {
                    Ok(r) => r,
                    Err(_) => break,
                }
            }
            None => round.await,
        };
        let round = match round {
            Ok(r) => r,
            Err(e) => {
                report.error = Some(e);
                break;
            }
        };
        report.rounds += 1;
        tally(&mut report, &round.history);
        let violations = check(&round.history, &round.nonce);
        if !violations.is_empty() {
            report.failed = Some(Failed {
                seed,
                round: round.clone(),
                violations,
            });
            report.last = Some(round);
            break;
        }
        report.last = Some(round);
    }
    report.elapsed = started.elapsed();
    report
}

fn tally(report: &mut RaceReport, h: &[Op]) {
    use history::Action;
    report.ops += h.len();
    for op in h {
        match op.action {
            Action::Send { .. } => report.sends += 1,
            Action::Retrieve { .. } => report.retrievals += 1,
            Action::Update { .. } => report.updates += 1,
        }
        if op.outcome.status().is_none() {
            report.unanswered += 1;
        }
    }
}
