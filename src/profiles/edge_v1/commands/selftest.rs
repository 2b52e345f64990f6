//! `edgecheck selftest --profile edge-v1`: the kill matrix of the reference server's faults.

use globset::Glob;

use super::super::cases;
use super::super::selftest::{self, Mode, ReferenceServers, RunOptions};
use super::super::sign::KeyPool;
use crate::engine::{cores, runtime};
use crate::profiles::{Outcome, ProfileError, SelftestOptions};

/// Runs the subcommand; exit code 0 when every fault was killed and the fault-free server
/// passed every check, 1 otherwise.
pub fn selftest(args: &SelftestOptions) -> Result<Outcome, ProfileError> {
    let mut faults = selftest::reference_faults();
    if args.list {
        for (_, f) in &faults {
            println!("{:<36} {}", f.name, f.rule);
        }
        println!("{} faults", faults.len());
        return Ok(Outcome::Clean);
    }
    let mut matchers = Vec::new();
    for p in &args.only {
        match Glob::new(p) {
            Ok(g) => matchers.push(g.compile_matcher()),
            Err(e) => {
                return Err(ProfileError::Usage(format!(
                    "bad --only pattern `{p}`: {e}"
                )))
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
            return Err(ProfileError::Usage(
                "no fault matches --only; see `edgecheck selftest --list`".into(),
            ));
        }
    }
    let files = cases::builtin().map_err(|e| ProfileError::Internal(e.to_string()))?;
    let pool = KeyPool::builtin().map_err(|e| ProfileError::Internal(format!("key pool: {e}")))?;
    let options = RunOptions {
        mode: if args.full { Mode::Full } else { Mode::Linked },
        jobs: args.jobs.unwrap_or_else(cores).max(1),
        timeout: args.timeout,
        baseline: !args.no_baseline,
    };
    let servers = ReferenceServers {
        faults: faults.iter().map(|(f, _)| *f).collect(),
    };
    let specs: Vec<_> = faults.into_iter().map(|(_, s)| s).collect();
    let matrix = runtime(cores()).block_on(selftest::run_matrix(
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
            return Err(ProfileError::Usage(format!(
                "cannot write {}: {e}",
                path.display()
            )));
        }
        eprintln!("wrote {}", path.display());
    }
    if matrix.all_killed_and_clean() {
        Ok(Outcome::Clean)
    } else {
        Ok(Outcome::Found(Vec::new()))
    }
}
