//! `edgecheck prop`.

use std::path::PathBuf;
use std::time::Duration;

use super::run::{cores, open_context, runtime};
use super::{EXIT_FAIL, EXIT_INTERNAL, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE};
use crate::profiles::edge_v1::prop::{self, PropOptions};
use crate::profiles::edge_v1::target::TargetArgs;

/// Options of `edgecheck prop`.
#[derive(Debug, Clone, clap::Args)]
pub struct PropArgs {
    /// Target options.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Seed; the same seed against the same server makes the same requests (up to signatures
    /// and random IDs).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of sequences.
    #[arg(long, default_value_t = 256)]
    pub cases: u32,
    /// Longest sequence.
    #[arg(long, default_value_t = 40)]
    pub max_steps: usize,
    /// Time budget, e.g. `60s`, `5m` (generation stops then; shrinking finishes).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Where shrunk failures are written as case files.
    #[arg(long, value_name = "DIR", default_value = "edgecheck-findings")]
    pub findings: PathBuf,
    /// Sequences run at once (default: the number of cores).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
}

/// Parse `90`, `90s`, `5m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 60s, 5m or 1h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "ms" => n / 1000.0,
        _ => return Err(format!("`{s}`: use s, m or h")),
    };
    if !(secs > 0.0 && secs < 1e7) {
        return Err(format!("`{s}` is not a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Run `edgecheck prop`.
pub fn main(args: PropArgs) -> i32 {
    if args.max_steps == 0 || args.cases == 0 {
        eprintln!("edgecheck: --cases and --max-steps must be at least 1");
        return EXIT_USAGE;
    }
    let rt = runtime(cores());
    let (ctx, target) = match rt.block_on(open_context(&args.target, None)) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let opts = PropOptions {
        seed: args.seed,
        cases: args.cases,
        max_steps: args.max_steps,
        duration: args.duration,
        findings: args.findings.clone(),
        jobs: args.jobs.unwrap_or_else(cores).max(1),
    };
    eprintln!(
        "edgecheck prop · seed {} · {} sequences of up to {} steps · {}",
        opts.seed,
        opts.cases,
        opts.max_steps,
        target.describe()
    );
    let handle = rt.handle().clone();
    let report = prop::run(ctx, &opts, handle);
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    println!(
        "{} sequences, {} steps, {} signatures in {:.1} s: {:.0} steps/s, {:.0} signatures/s",
        report.sequences,
        report.steps,
        report.signatures,
        secs,
        report.steps as f64 / secs,
        report.signatures as f64 / secs
    );
    print!("{}", report.coverage.render());
    rt.block_on(target.close());
    if let Some(f) = &report.finding {
        println!();
        println!("FINDING: {}", f.message);
        println!(
            "  shrunk from {} to {} steps; rule {}",
            f.original_steps,
            f.case.steps.len(),
            f.case.requirements.join(", ")
        );
        if let Some(p) = &f.path {
            let servers: Vec<String> = args
                .target
                .servers
                .iter()
                .map(|s| format!(" --server {s}"))
                .collect();
            let http = if args.target.allow_http {
                " --allow-http"
            } else {
                ""
            };
            println!("  case file: {}", p.display());
            println!(
                "  replay:    edgecheck replay {}{}{}",
                p.display(),
                servers.join(""),
                http
            );
        }
        return EXIT_FAIL;
    }
    if let Some(e) = &report.error {
        eprintln!("edgecheck: prop stopped: {e}");
        return if e.contains("no response") {
            EXIT_UNREACHABLE
        } else {
            EXIT_INTERNAL
        };
    }
    println!("no finding");
    EXIT_OK
}
