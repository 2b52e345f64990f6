//! `edgecheck fuzz --profile tassis-v2`: sessions of valid and hostile frames against one
//! server, TB-ALIVE after every hostile frame, a canary between sessions, and findings
//! deduplicated by rule and frame kind, re-run for a reproduction rate and written as case
//! files that `edgecheck replay --profile tassis-v2 FILE` runs.
//!
//! Each worker runs one session at a time against a server of its own, so a server that
//! stops serving is blamed on the frame just sent: against the embedded server, one worker
//! per core (`--jobs`), each with its own embedded server, restarted after a crash; against
//! `--server`, one worker, and a server that stops serving ends the campaign.

pub mod canary;
pub mod finding;
pub mod gen;
pub mod mutate;
pub mod session;
pub mod target;

use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;

pub use finding::Finding;
use session::{Counts, End, Raw};
use target::Target;

use crate::engine::{cores, runtime};
use crate::profiles::campaign::{Claim, Job, Shared, Tally, PROGRESS};
use crate::profiles::case_files::print_replay;
use crate::profiles::{FuzzOptions, Outcome, ProfileError, TargetOptions};

/// What a campaign did and found.
pub type FuzzReport = crate::profiles::campaign::Report<Counts, Finding>;

impl FuzzReport {
    /// Frames per second.
    pub fn rate(&self) -> f64 {
        self.per_second(self.counts.frames)
    }
}

/// `edgecheck fuzz --profile tassis-v2`.
pub fn fuzz(target: &TargetOptions, opts: &FuzzOptions) -> Result<Outcome, ProfileError> {
    if opts.write_corpus.is_some() {
        return Err(ProfileError::Usage(
            "--write-corpus grows the corpora of edge-v1's cargo-fuzz targets; the tassis_frame \
             target's seeds are in fixtures/corpus/tassis_frame (docs/fuzzing.md)"
                .into(),
        ));
    }
    let rt = runtime(cores());
    let report = rt.block_on(campaign(target, opts))?;
    println!(
        "{} frames ({} hostile) in {:.1} s ({:.0} frames/s), {} worker(s), {} sessions, \
         {} liveness checks, {} canary checks, {} restart(s), {} finding(s)",
        report.counts.frames,
        report.counts.hostile,
        report.elapsed.as_secs_f64(),
        report.rate(),
        report.workers,
        report.sessions,
        report.counts.alive_checks,
        report.canary_checks,
        report.restarts,
        report.findings.len()
    );
    let flags = target.flags();
    for f in &report.findings {
        println!();
        println!("FINDING {}: {}", f.raw.rule, f.raw.message);
        let rate = if f.tries == 0 {
            "not re-run (the server stopped serving and cannot be restarted)".to_string()
        } else {
            format!("reproduced {}/{}", f.reproduced, f.tries)
        };
        println!(
            "  kind {} · seen {} time(s) · first after {:.1} s · {rate}",
            f.raw.kind,
            f.count,
            f.after.as_secs_f64()
        );
        if let Some(p) = &f.path {
            print_replay(p, super::NAME, &flags);
        }
    }
    report.outcome(report.counts.frames, "frame", |f| {
        crate::profiles::Finding::new(&f.raw.rule, &f.raw.message).with_file(f.path.as_deref())
    })
}

impl Tally for Counts {
    fn add(&mut self, other: &Counts) {
        self.frames += other.frames;
        self.hostile += other.hostile;
        self.alive_checks += other.alive_checks;
    }
}

/// Run a campaign against the target of `target_opts`: against the embedded server (no
/// `--server`) one worker per core or `--jobs`, each with a server of its own; against
/// `--server` one worker.
pub async fn campaign(
    target_opts: &TargetOptions,
    opts: &FuzzOptions,
) -> Result<FuzzReport, ProfileError> {
    crate::profiles::campaign::run(target_opts, opts, worker).await
}

/// One worker: sessions one after another against its own target.
async fn worker(job: Job) -> Result<FuzzReport, ProfileError> {
    let (opts, shared) = (&job.opts, &*job.shared);
    let mut t = Target::open(&job.target).await?;
    let start = Instant::now();
    let deadline = opts.duration.map(|d| start + d);
    if job.speaks() {
        eprintln!(
            "edgecheck fuzz · seed {} · {} · {}{}",
            opts.seed,
            opts.duration
                .map_or_else(|| "no time limit".into(), |d| format!("{} s", d.as_secs())),
            t.describe(),
            job.workers_note()
        );
    }
    let mut rng = StdRng::seed_from_u64(job.seed());
    let mut report = FuzzReport::default();
    let mut next_canary = start + opts.canary_every;
    let mut last_progress = start;
    loop {
        if job.done(deadline) {
            break;
        }
        let Some(env) = t.env() else {
            break;
        };
        let now = Instant::now();
        if job.speaks() && opts.progress && now.duration_since(last_progress) >= PROGRESS {
            last_progress = now;
            eprintln!(
                "  {:.0} s: {} frames, {} finding(s)",
                now.duration_since(start).as_secs_f64(),
                shared.sent(),
                shared.distinct()
            );
        }
        let before = report.counts.frames;
        let end = session::run(
            &env,
            &mut rng,
            opts.session_len.max(1),
            deadline,
            &mut report.counts,
        )
        .await;
        shared.count_sent(report.counts.frames - before);
        report.sessions += 1;
        let mut raw = match end {
            End::Done => None,
            End::Found(raw) => Some(raw),
            End::Error(e) => {
                // A connection the server refused: blame it only if a liveness check fails.
                match crate::profiles::tassis_v2::runner::alive(&env).await {
                    Ok(()) => {
                        report.note_error(e);
                        None
                    }
                    Err(why) => Some(Raw {
                        rule: "TB-ALIVE".into(),
                        also: Vec::new(),
                        kind: "unknown (between sessions)".into(),
                        message: format!("TB-ALIVE: the server stopped serving: {why}"),
                        steps: vec![crate::profiles::tassis_v2::case::Step::Connect {
                            conn: "a".into(),
                        }],
                        prefix: 1,
                        crashed: true,
                    }),
                }
            }
        };
        if raw.is_none() && Instant::now() >= next_canary {
            next_canary = Instant::now() + opts.canary_every;
            report.canary_checks += 1;
            if let Err((rule, also, message)) = canary::check(&env).await {
                let crashed = crate::profiles::tassis_v2::runner::alive(&env)
                    .await
                    .is_err();
                if rule.is_empty() && !crashed {
                    report.note_error(message);
                } else {
                    raw = Some(Raw {
                        rule: if crashed { "TB-ALIVE".into() } else { rule },
                        also,
                        kind: "canary".into(),
                        message,
                        steps: canary::case().steps.clone(),
                        prefix: canary::case().steps.len(),
                        crashed,
                    });
                }
            }
        }
        let Some(raw) = raw else {
            continue;
        };
        if !record(&mut t, &mut report, raw, opts, start, shared).await {
            break;
        }
    }
    report.elapsed = start.elapsed();
    report.restarts = t.restarts;
    t.close().await;
    Ok(report)
}

/// Count or add an observation, restart the embedded server after a crash. `false`: the
/// campaign cannot go on (a `--server` stopped serving).
async fn record(
    t: &mut Target,
    report: &mut FuzzReport,
    mut raw: Raw,
    opts: &FuzzOptions,
    start: Instant,
    shared: &Shared,
) -> bool {
    let key = finding::key(&raw);
    if let Some(f) = report.findings.iter_mut().find(|f| f.key == key) {
        f.count += 1;
        return !raw.crashed || t.restart(report).await;
    }
    match shared.claim(&key, opts.max_findings) {
        Claim::New => {}
        Claim::Known => {
            // Another worker found it first and re-runs and writes it.
            *report.seen_elsewhere.entry(key).or_default() += 1;
            return !raw.crashed || t.restart(report).await;
        }
        // The campaign holds --max-findings findings and is ending.
        Claim::Beyond => return false,
    }
    let mut f = Finding {
        key,
        count: 1,
        reproduced: 0,
        tries: 0,
        path: None,
        after: start.elapsed(),
        raw: raw.clone(),
    };
    let mut go_on = true;
    if raw.crashed && t.embedded() {
        // A fresh server for each run: first try the last frame alone, then count.
        if raw.steps.len() > raw.prefix + 1 {
            let mut minimal = raw.steps[..raw.prefix].to_vec();
            minimal.extend(raw.steps.last().cloned());
            if t.restart(report).await {
                if let Some(env) = t.env() {
                    if finding::shows(&env, &raw, &minimal).await {
                        raw.steps = minimal;
                    }
                }
            }
        }
        for _ in 0..opts.repro {
            if !t.restart(report).await {
                break;
            }
            let Some(env) = t.env() else { break };
            f.tries += 1;
            if finding::shows(&env, &raw, &raw.steps).await {
                f.reproduced += 1;
            }
        }
        go_on = t.restart(report).await;
    } else if raw.crashed {
        // A --server that stopped serving: nothing can re-run it.
        report.target_gone = true;
        go_on = false;
    } else if let Some(env) = t.env() {
        for _ in 0..opts.repro {
            f.tries += 1;
            if finding::shows(&env, &raw, &raw.steps).await {
                f.reproduced += 1;
            }
        }
        if runner_gone(&env).await {
            go_on = t.restart(report).await;
        }
    }
    f.raw = raw;
    match finding::write(&opts.findings, &f) {
        Ok(p) => f.path = Some(p),
        Err(e) => report.note_error(e),
    }
    report.findings.push(f);
    go_on
}

async fn runner_gone(env: &crate::profiles::tassis_v2::runner::Env) -> bool {
    crate::profiles::tassis_v2::runner::alive(env)
        .await
        .is_err()
}
