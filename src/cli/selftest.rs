//! `edgecheck selftest`: the kill matrix of the reference server's faults (feature
//! `selftest`).

use std::path::PathBuf;
use std::time::Duration;

use globset::Glob;

use super::{EXIT_FAIL, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE};
use crate::profiles::edge_v1::cases;
use crate::profiles::edge_v1::selftest::{self, Mode, ReferenceServers, RunOptions};
use crate::profiles::edge_v1::sign::KeyPool;

/// Options of `edgecheck selftest`.
#[derive(Debug, Clone, clap::Args)]
pub struct SelftestArgs {
    /// Run every check against every fault (the full matrix) instead of only the checks
    /// linked to each fault's rule.
    #[arg(long)]
    pub full: bool,
    /// Only faults whose name or rule matches one of these globs (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub only: Vec<String>,
    /// Also write the matrix as Markdown to this file (e.g. docs/kill-matrix.md).
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    /// Checks run at once (default: the number of cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Skip the run against the fault-free server.
    #[arg(long)]
    pub no_baseline: bool,
    /// List the faults with their rules and exit.
    #[arg(long)]
    pub list: bool,
    /// Per-request timeout in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
}

/// Runs the subcommand; exit code 0 when every fault was killed and the fault-free server
/// passed every check, 1 otherwise.
pub fn main(args: SelftestArgs) -> i32 {
    let mut faults = selftest::reference_faults();
    if args.list {
        for (_, f) in &faults {
            println!("{:<36} {}", f.name, f.rule);
        }
        println!("{} faults", faults.len());
        return EXIT_OK;
    }
    if !(args.timeout > 0.0 && args.timeout <= 3600.0) {
        eprintln!("edgecheck: --timeout must be between 0 and 3600 seconds");
        return EXIT_USAGE;
    }
    let mut matchers = Vec::new();
    for p in &args.only {
        match Glob::new(p) {
            Ok(g) => matchers.push(g.compile_matcher()),
            Err(e) => {
                eprintln!("edgecheck: bad --only pattern `{p}`: {e}");
                return EXIT_USAGE;
            }
        }
    }
    if !matchers.is_empty() {
        faults.retain(|(_, f)| {
            matchers
                .iter()
                .any(|m| m.is_match(&f.name) || m.is_match(&f.rule))
        });
        if faults.is_empty() {
            eprintln!("edgecheck: no fault matches --only; see `edgecheck selftest --list`");
            return EXIT_USAGE;
        }
    }
    let files = match cases::builtin() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("edgecheck: {e}");
            return EXIT_INTERNAL;
        }
    };
    let pool = match KeyPool::builtin() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("edgecheck: key pool: {e}");
            return EXIT_INTERNAL;
        }
    };
    let options = RunOptions {
        mode: if args.full { Mode::Full } else { Mode::Linked },
        jobs: args.jobs.unwrap_or_else(super::run::cores).max(1),
        timeout: Duration::from_secs_f64(args.timeout),
        baseline: !args.no_baseline,
    };
    let servers = ReferenceServers {
        faults: faults.iter().map(|(f, _)| *f).collect(),
    };
    let specs: Vec<_> = faults.into_iter().map(|(_, s)| s).collect();
    let matrix = super::run::runtime(super::run::cores()).block_on(selftest::run_matrix(
        &servers,
        &specs,
        &files,
        pool,
        &options,
        &|row| {
            if row.fault.rule == "-" {
                eprintln!(
                    "fault-free server: {} checks, {} not passing",
                    row.ran,
                    row.caught.len() + row.errors.len()
                );
            } else {
                eprintln!(
                    "{:<8} {} ({})",
                    if row.killed() { "killed" } else { "SURVIVED" },
                    row.fault.name,
                    row.fault.rule
                );
            }
        },
    ));
    print!("{}", selftest::text(&matrix));
    if let Some(path) = &args.markdown {
        let mut command = String::from("cargo run --release --features selftest -- selftest");
        if args.full {
            command.push_str(" --full");
        }
        for p in &args.only {
            command.push_str(&format!(" --only '{p}'"));
        }
        command.push_str(&format!(" --markdown {}", path.display()));
        if let Err(e) = std::fs::write(path, selftest::markdown(&matrix, &command)) {
            eprintln!("edgecheck: cannot write {}: {e}", path.display());
            return EXIT_INTERNAL;
        }
        eprintln!("wrote {}", path.display());
    }
    if matrix.all_killed_and_clean() {
        EXIT_OK
    } else {
        EXIT_FAIL
    }
}
