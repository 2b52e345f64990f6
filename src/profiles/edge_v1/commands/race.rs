//! `edgecheck race --profile edge-v1`.

use super::super::profile::open_context;
use super::super::race::{self, run::SetupError, Env, Shape};
use crate::engine::{cores, runtime};
use crate::profiles::{Finding, Outcome, ProfileError, RaceOptions, TargetOptions};

/// `edgecheck race`: concurrent senders, retrievers and rotations; the history checked.
pub fn race(target_opts: &TargetOptions, args: &RaceOptions) -> Result<Outcome, ProfileError> {
    let rt = runtime(cores());
    let (ctx, target) = rt.block_on(open_context(target_opts))?;
    let env = Env {
        client: ctx.client.clone(),
        pool: ctx.pool.clone(),
        ce: ctx.ce().clone(),
    };
    let opts = race::RaceOptions {
        shape: Shape {
            senders: args.senders,
            retrievers: args.receivers,
            ops: args.ops,
            connections: args.connections,
            rotations: args.rotations,
            page: args.page,
        },
        seed: args.seed,
        rounds: args.rounds,
        duration: args.duration,
    };
    eprintln!(
        "edgecheck race · seed {} · {} senders, {} retrievers, {} requests each, {} connection(s), {} rotations · {}",
        opts.seed,
        opts.shape.senders,
        opts.shape.retrievers,
        opts.shape.ops,
        opts.shape.connections,
        opts.shape.rotations,
        target.describe()
    );
    let report = rt.block_on(race::campaign(&env, &opts));
    rt.block_on(target.close());
    println!(
        "{} round(s), {} operations ({} sends, {} retrievals, {} updates), {} without an answer, in {:.1} s",
        report.rounds,
        report.ops,
        report.sends,
        report.retrievals,
        report.updates,
        report.unanswered,
        report.elapsed.as_secs_f64()
    );
    if let Some(path) = &args.history {
        let round = report
            .failed
            .as_ref()
            .map(|f| &f.round)
            .or(report.last.as_ref());
        if let Some(round) = round {
            let text = serde_json::to_string_pretty(&serde_json::json!({
                "nonce": round.nonce, "history": round.history,
            }))
            .unwrap_or_default();
            if let Err(e) = std::fs::write(path, text + "\n") {
                return Err(ProfileError::Usage(format!(
                    "cannot write {}: {e}",
                    path.display()
                )));
            }
            println!("history: {}", path.display());
        }
    }
    if let Some(f) = &report.failed {
        println!();
        println!(
            "{} violation(s) in round with seed {}:",
            f.violations.len(),
            f.seed
        );
        for v in f.violations.iter().take(5) {
            println!();
            println!("{}: {}", v.rule, v.what);
            for line in race::render(&f.round.history, &v.ops, &f.round.nonce).lines() {
                println!("  {line}");
            }
        }
        if f.violations.len() > 5 {
            println!("\n... and {} more", f.violations.len() - 5);
        }
        let found = f
            .violations
            .iter()
            .map(|v| Finding::new(&v.rule, &v.what).with_history(args.history.as_deref()))
            .collect();
        return Ok(Outcome::Found(found));
    }
    match &report.error {
        Some(SetupError::Unreachable(m)) => {
            return Err(ProfileError::Unreachable(format!(
                "race stopped: {m}; is the server running and answering?"
            )))
        }
        Some(SetupError::Broken { rule, message }) => {
            println!();
            println!("{rule}: {message}");
            return Ok(Outcome::Found(vec![Finding::new(rule, message)]));
        }
        Some(SetupError::Internal(m)) => return Err(ProfileError::Internal(m.clone())),
        None => {}
    }
    println!("no violation");
    Ok(Outcome::Clean)
}
