//! `edgecheck race --profile tassis-v2`: concurrency histories of key distribution and of
//! store-and-forward delivery.
//!
//! Each round runs two scenarios, one after the other, each recorded as a history of
//! invoke/return times on one clock ([`history`]) and checked ([`check()`](check)):
//!
//! 1. **prekeys** ([`prekeys`]): an owner registers one-time keys and appends more during the
//!    round while many anonymous connections request the device's prekeys at once; a last
//!    requester takes what is left. T-PK-ONCE (no key twice, none never registered) and
//!    T-PK-AVAILABLE (no empty entry while keys were certainly left).
//! 2. **messages** ([`messages`]): anonymous senders send to one address while several
//!    sessions of it receive, acknowledge some messages, confirm their acks or not, drop and
//!    log in again; a last session takes everything left. T-DELIVER (no phantoms),
//!    T-REDELIVER (every acknowledged send acknowledged by a recipient in the end), T-ORDER
//!    (per sender, within each session), T-ACK-DONE (nothing confirmed acknowledged reaches
//!    a later session), T-FANOUT (a live session gets every message sent after its login).
//!
//! The options of `edgecheck race` map to the scenarios as follows:
//!
//! | option | prekeys | messages |
//! |---|---|---|
//! | `--senders N` | N × `--connections` requesters at once | N senders |
//! | `--retrievers M` | — | M concurrent sessions of the address (at least 2) |
//! | `--ops K` | K requests per requester | K messages per sender |
//! | `--connections C` | multiplies the requesters (C × N) | — |
//! | `--rotations R` | R appends (Registers with the same signed key) during the round | — |
//! | `--retrieve-page P` | — (a request takes at most one key per device) | — |
//!
//! Each Register carries a quarter of the round's requests (at least `1`), so that the
//! device runs dry now and then and empty entries are judged too.

pub mod check;
pub mod client;
pub mod history;
pub mod messages;
pub mod prekeys;

use std::time::{Duration, Instant};

pub use check::Violation;
pub use client::RoundError;
pub use history::{render, Event, History};

use super::profile::open_target;
use super::runner::Env;
use crate::engine::{cores, runtime};
use crate::profiles::{Finding, Outcome, ProfileError, RaceOptions, TargetOptions};

/// The shape of every round, from the command's options.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// The prekeys scenario.
    pub prekeys: prekeys::Shape,
    /// The messages scenario.
    pub messages: messages::Shape,
}

impl Plan {
    /// The mapping documented in the module.
    pub fn of(opts: &RaceOptions) -> Plan {
        let requesters = opts.senders.max(1) * opts.connections.max(1);
        let requests = opts.ops.max(1);
        let appends = opts.rotations;
        let batch = (requesters * requests / 4).max(1);
        Plan {
            prekeys: prekeys::Shape {
                requesters,
                requests,
                appends,
                batch,
            },
            messages: messages::Shape {
                senders: opts.senders.max(1),
                messages: opts.ops.max(1),
                receivers: opts.receivers.max(2),
            },
        }
    }
}

/// A round with violations.
#[derive(Debug, Clone)]
pub struct Failed {
    /// The round's seed.
    pub seed: u64,
    /// The history that shows them.
    pub history: History,
    /// What is wrong with it.
    pub violations: Vec<Violation>,
}

/// What a campaign did.
#[derive(Debug, Default)]
pub struct Report {
    /// Rounds run (both scenarios).
    pub rounds: usize,
    /// Events recorded.
    pub events: usize,
    /// Prekey requests.
    pub requests: usize,
    /// Messages sent.
    pub sends: usize,
    /// Deliveries.
    pub deliveries: usize,
    /// Sessions of the address.
    pub sessions: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// The first round with violations (the campaign stops there).
    pub failed: Option<Failed>,
    /// The last histories (for `--history`).
    pub last: Vec<History>,
    /// Why a round could not be run.
    pub error: Option<RoundError>,
}

fn tally(report: &mut Report, h: &[Event]) {
    report.events += h.len();
    for e in h {
        match e {
            Event::Request { .. } => report.requests += 1,
            Event::Send { .. } => report.sends += 1,
            Event::Deliver { .. } => report.deliveries += 1,
            Event::Login { .. } => report.sessions += 1,
            _ => {}
        }
    }
}

/// Run rounds (round i with seed + i) until one shows a violation, `rounds` are done and
/// `duration` is over, or a round cannot be run. A round cut by `duration` is dropped.
pub async fn campaign(
    env: &Env,
    plan: Plan,
    seed: u64,
    rounds: usize,
    duration: Option<Duration>,
) -> Report {
    let started = Instant::now();
    let mut report = Report::default();
    let mut i = 0u64;
    loop {
        let enough = report.rounds >= rounds.max(1);
        let time_left = duration.is_some_and(|d| started.elapsed() < d);
        if enough && !time_left {
            break;
        }
        let s = seed.wrapping_add(i);
        i += 1;
        let round = async {
            let p = prekeys::round(env, plan.prekeys, s).await?;
            let m = messages::round(env, plan.messages, s).await?;
            Ok::<_, RoundError>((p, m))
        };
        let round = match duration {
            Some(d) => match tokio::time::timeout_at((started + d).into(), round).await {
                Ok(r) => r,
                Err(_) if report.rounds > 0 => break,
                // The first round always runs to its end.
                Err(_) => {
                    let round = async {
                        let p = prekeys::round(env, plan.prekeys, s).await?;
                        let m = messages::round(env, plan.messages, s).await?;
                        Ok::<_, RoundError>((p, m))
                    };
                    round.await
                }
            },
            None => round.await,
        };
        let (p, m) = match round {
            Ok(r) => r,
            Err(e) => {
                report.error = Some(e);
                break;
            }
        };
        report.rounds += 1;
        tally(&mut report, &p);
        tally(&mut report, &m);
        let p = History {
            scenario: "prekeys",
            seed: s,
            events: p,
        };
        let m = History {
            scenario: "messages",
            seed: s,
            events: m,
        };
        for h in [&p, &m] {
            let violations = if h.scenario == "prekeys" {
                check::prekeys(&h.events)
            } else {
                check::messages(&h.events)
            };
            if !violations.is_empty() && report.failed.is_none() {
                report.failed = Some(Failed {
                    seed: s,
                    history: h.clone(),
                    violations,
                });
            }
        }
        report.last = vec![p, m];
        if report.failed.is_some() {
            break;
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// `edgecheck race --profile tassis-v2`.
pub fn race(target: &TargetOptions, opts: &RaceOptions) -> Result<Outcome, ProfileError> {
    let rt = runtime(cores());
    let opened = rt.block_on(open_target(target))?;
    let plan = Plan::of(opts);
    eprintln!(
        "edgecheck race · seed {} · prekeys: {} requesters × {} requests, {} appends of {} keys · \
         messages: {} senders × {} messages, {} sessions at once · {}",
        opts.seed,
        plan.prekeys.requesters,
        plan.prekeys.requests,
        plan.prekeys.appends,
        plan.prekeys.batch,
        plan.messages.senders,
        plan.messages.messages,
        plan.messages.receivers,
        opened.url
    );
    let report = rt.block_on(campaign(
        &opened.env,
        plan,
        opts.seed,
        opts.rounds,
        opts.duration,
    ));
    rt.block_on(opened.close());
    println!(
        "{} round(s), {} events ({} prekey requests, {} sends, {} deliveries, {} sessions) in {:.1} s",
        report.rounds,
        report.events,
        report.requests,
        report.sends,
        report.deliveries,
        report.sessions,
        report.elapsed.as_secs_f64()
    );
    if let Some(path) = &opts.history {
        let histories: Vec<&History> = match &report.failed {
            Some(f) => vec![&f.history],
            None => report.last.iter().collect(),
        };
        if !histories.is_empty() {
            let text = serde_json::to_string_pretty(&histories).unwrap_or_default();
            std::fs::write(path, text + "\n").map_err(|e| {
                ProfileError::Usage(format!(
                    "cannot write --history {}: {e}; give a writable path",
                    path.display()
                ))
            })?;
            println!("history: {}", path.display());
        }
    }
    if let Some(f) = &report.failed {
        println!();
        println!(
            "{} violation(s) in the {} scenario of the round with seed {}:",
            f.violations.len(),
            f.history.scenario,
            f.seed
        );
        for v in f.violations.iter().take(5) {
            println!();
            println!("{}: {}", v.rule, v.what);
            for line in render(&f.history.events, &v.events).lines() {
                println!("  {line}");
            }
        }
        if f.violations.len() > 5 {
            println!("\n... and {} more", f.violations.len() - 5);
        }
        let found = f
            .violations
            .iter()
            .map(|v| Finding::new(v.rule, &v.what).with_history(opts.history.as_deref()))
            .collect();
        return Ok(Outcome::Found(found));
    }
    match &report.error {
        Some(RoundError::Unreachable(m)) => Err(ProfileError::Unreachable(format!(
            "race stopped: {m}; is the server running and answering?"
        ))),
        Some(RoundError::Broken { rule, message }) => {
            println!();
            println!("{rule}: {message}");
            Ok(Outcome::Found(vec![Finding::new(rule, message)]))
        }
        None => {
            println!("no violation");
            Ok(Outcome::Clean)
        }
    }
}
