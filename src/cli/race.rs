//! `edgecheck race`.

use std::path::PathBuf;
use std::time::Duration;

use super::prop::parse_duration;
use super::run::{cores, open_context, runtime};
use super::{EXIT_FAIL, EXIT_INTERNAL, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE};
use crate::profiles::edge_v1::race::{self, Env, RaceOptions, Shape};
use crate::profiles::edge_v1::target::TargetArgs;

/// Options of `edgecheck race`.
#[derive(Debug, Clone, clap::Args)]
pub struct RaceArgs {
    /// Target options.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Concurrent senders.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub senders: u64,
    /// Concurrent removing retrievers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub retrievers: u64,
    /// Requests per sender and per retriever in each round.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub ops: u64,
    /// Connections the actors share.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub connections: u64,
    /// Rotations, disables and enables per connection in each round.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub rotations: u64,
    /// Largest pageSize a retriever asks for.
    #[arg(long = "retrieve-page", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub retrieve_page: u64,
    /// Rounds to run (each with fresh connections).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub rounds: u64,
    /// Keep running rounds for this long, e.g. `60s`, `5m`.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Seed of the first round (actors' choices; the interleaving is the network's).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the history of the failing (or last) round to this file, as JSON.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
}

/// Run `edgecheck race`.
pub fn main(args: RaceArgs) -> i32 {
    let rt = runtime(cores());
    let (ctx, target) = match rt.block_on(open_context(&args.target, None)) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let env = Env {
        client: ctx.client.clone(),
        pool: ctx.pool.clone(),
        ce: ctx.ce().clone(),
    };
    let opts = RaceOptions {
        shape: Shape {
            senders: args.senders as usize,
            retrievers: args.retrievers as usize,
            ops: args.ops as usize,
            connections: args.connections as usize,
            rotations: args.rotations as usize,
            page: args.retrieve_page as usize,
        },
        seed: args.seed,
        rounds: args.rounds as usize,
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
                eprintln!("edgecheck: cannot write {}: {e}", path.display());
                return EXIT_USAGE;
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
        return EXIT_FAIL;
    }
    if let Some(e) = &report.error {
        eprintln!("edgecheck: race stopped: {e}");
        return if e.contains("cannot connect") {
            EXIT_UNREACHABLE
        } else {
            EXIT_INTERNAL
        };
    }
    println!("no violation");
    EXIT_OK
}
