//! `edgecheck fuzz`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use super::prop::parse_duration;
use super::run::{cores, open_context, runtime};
use super::{EXIT_FAIL, EXIT_INTERNAL, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE};
use crate::profiles::edge_v1::fuzz::{self, FuzzOptions};
use crate::profiles::edge_v1::target::TargetArgs;

/// Options of `edgecheck fuzz`.
#[derive(Debug, Clone, clap::Args)]
pub struct FuzzArgs {
    /// Target options.
    #[command(flatten)]
    pub target: TargetArgs,
    /// How long to fuzz, e.g. `60s`, `10m`, `1h`.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub duration: Duration,
    /// Seed (default: from the clock; printed, so a run can be repeated).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where findings are written as case files.
    #[arg(long, value_name = "DIR", default_value = "edgecheck-findings")]
    pub findings: PathBuf,
    /// Stop after this many requests.
    #[arg(long, value_name = "N")]
    pub max_requests: Option<usize>,
    /// Stop once this many distinct findings are known.
    #[arg(long, value_name = "N")]
    pub max_findings: Option<usize>,
    /// Runs of each finding's case for its reproduction rate.
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub repro: usize,
    /// Workers sending at once (default: the number of cores).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Seconds between checks of the canary connection.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub canary_every: f64,
    /// No progress line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Grow the seed corpora of the cargo-fuzz targets from the scripted cases into this
    /// directory (e.g. `fixtures/corpus`), then exit; no target is fuzzed.
    #[arg(long, value_name = "DIR")]
    pub write_corpus: Option<PathBuf>,
}

/// Run `edgecheck fuzz`.
pub fn main(args: FuzzArgs) -> i32 {
    if let Some(dir) = &args.write_corpus {
        return match fuzz::harness::corpus::grow(dir) {
            Ok(w) => {
                println!(
                    "wrote {} server_request, {} suite_response and {} differential seeds under {}",
                    w.server,
                    w.response,
                    w.differential,
                    dir.display()
                );
                EXIT_OK
            }
            Err(e) => {
                eprintln!("edgecheck: cannot grow the corpora: {e}");
                EXIT_INTERNAL
            }
        };
    }
    if !(args.canary_every > 0.0 && args.canary_every <= 3600.0) {
        eprintln!("edgecheck: --canary-every must be between 0 and 3600 seconds");
        return EXIT_USAGE;
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let rt = runtime(cores());
    let (ctx, target) = match rt.block_on(open_context(&args.target, None)) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let opts = FuzzOptions {
        seed,
        duration: Some(args.duration),
        max_requests: args.max_requests,
        max_findings: args.max_findings,
        findings: args.findings.clone(),
        jobs: args.jobs.unwrap_or_else(cores).max(1),
        repro: args.repro,
        canary_every: Duration::from_secs_f64(args.canary_every),
        progress: !args.quiet,
        ..FuzzOptions::default()
    };
    eprintln!(
        "edgecheck fuzz · seed {seed} · {} · {} workers · {}",
        humanize(args.duration),
        opts.jobs,
        target.describe()
    );
    let report = rt.block_on(fuzz::campaign(ctx, &opts));
    rt.block_on(target.close());
    println!(
        "{} requests in {:.1} s ({:.0} requests/s), {} sessions, {} canary checks, {} finding(s)",
        report.requests,
        report.elapsed.as_secs_f64(),
        report.rate(),
        report.sessions,
        report.canary_checks,
        report.findings.len()
    );
    let servers: String = args
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
    for f in &report.findings {
        let level = if fuzz::finding::is_must(f) {
            "FINDING"
        } else {
            "WARNING"
        };
        println!();
        println!("{level} {}: {}", f.raw.rule, f.raw.message);
        println!(
            "  shape {} · seen {} time(s) on {} · reproduced {}/{}",
            f.raw.shape,
            f.count,
            f.endpoints.iter().cloned().collect::<Vec<_>>().join(", "),
            f.reproduced,
            f.tries
        );
        if let Some(p) = &f.path {
            println!("  case file: {}", p.display());
            println!(
                "  replay:    edgecheck replay {}{servers}{http}",
                p.display()
            );
        }
    }
    for e in report.errors.iter().take(5) {
        eprintln!("edgecheck: fuzz: {e}");
    }
    if report.failed() {
        return EXIT_FAIL;
    }
    if report.unreachable {
        return EXIT_UNREACHABLE;
    }
    if report.requests == 0 {
        eprintln!("edgecheck: fuzz sent no request");
        return if report.errors.is_empty() {
            EXIT_USAGE
        } else {
            EXIT_INTERNAL
        };
    }
    if !report.errors.is_empty() && std::io::stderr().is_terminal() {
        eprintln!(
            "({} problem(s) of the suite itself; the server is not blamed for them)",
            report.errors.len()
        );
    }
    println!("no finding");
    EXIT_OK
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else if s >= 60.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.0} s")
    }
}
