//! `edgecheck fuzz --profile edge-v1`.

use std::io::IsTerminal;
use std::time::Duration;

use super::super::fuzz;
use super::super::profile::{open_context, warm_context, NAME};
use crate::engine::{cores, runtime};
use crate::profiles::case_files::print_replay;
use crate::profiles::{Finding, FuzzOptions, Outcome, ProfileError, TargetOptions};

/// `edgecheck fuzz`: hostile requests against the target, findings deduplicated and saved.
pub fn fuzz(target_opts: &TargetOptions, opts: &FuzzOptions) -> Result<Outcome, ProfileError> {
    if let Some(dir) = &opts.write_corpus {
        return match fuzz::harness::corpus::grow(dir) {
            Ok(w) => {
                println!(
                    "wrote {} server_request, {} suite_response and {} differential seeds under {}",
                    w.server,
                    w.response,
                    w.differential,
                    dir.display()
                );
                Ok(Outcome::Clean)
            }
            Err(e) => Err(ProfileError::Internal(format!(
                "cannot grow the corpora: {e}"
            ))),
        };
    }
    let rt = runtime(cores());
    let (ctx, target) = rt.block_on(open_context(target_opts))?;
    // The campaign resolves the same default.
    let jobs = opts.jobs.unwrap_or_else(fuzz::default_jobs).max(1);
    eprintln!(
        "edgecheck fuzz · seed {} · {} · {} workers · --http {} · {}",
        opts.seed,
        opts.duration
            .map_or_else(|| "no time limit".to_string(), humanize),
        jobs,
        target_opts.http.name(),
        target.describe()
    );
    let ctx = warm_context(&ctx, jobs);
    let report = rt.block_on(fuzz::campaign(ctx, opts));
    rt.block_on(target.close());
    println!(
        "{} requests in {:.1} s ({:.0} requests/s, {:.0} signatures/s), {} sessions, {} canary checks, {} finding(s)",
        report.requests,
        report.elapsed.as_secs_f64(),
        report.rate(),
        report.signatures as f64 / report.elapsed.as_secs_f64().max(1e-9),
        report.sessions,
        report.canary_checks,
        report.findings.len()
    );
    let flags = target_opts.flags();
    for f in &report.findings {
        let level = crate::profiles::heading(f.raw.level);
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
            print_replay(p, NAME, &flags);
        }
    }
    for e in report.errors.iter().take(5) {
        eprintln!("edgecheck: fuzz: {e}");
    }
    if report.beyond_limit > 0 {
        eprintln!(
            "edgecheck: fuzz: {} more distinct finding(s) turned up while the workers stopped \
             at --max-findings; they were not confirmed or written (raise --max-findings to \
             keep them)",
            report.beyond_limit
        );
    }
    let findings: Vec<Finding> = report
        .findings
        .iter()
        .map(|f| {
            Finding::new(&f.raw.rule, &f.raw.message)
                .at_level(f.raw.level)
                .with_file(f.path.as_deref())
        })
        .collect();
    if report.failed() {
        return Ok(Outcome::Found(findings));
    }
    if report.unreachable {
        return Err(ProfileError::Unreachable(
            "the target stopped answering during fuzz; see the messages above".into(),
        ));
    }
    if report.requests == 0 {
        let m = "fuzz sent no request".to_string();
        return Err(if report.errors.is_empty() {
            ProfileError::Usage(m)
        } else {
            ProfileError::Internal(m)
        });
    }
    if !report.errors.is_empty() && std::io::stderr().is_terminal() {
        eprintln!(
            "({} problem(s) of the suite itself; the server is not blamed for them)",
            report.errors.len()
        );
    }
    if findings.is_empty() {
        println!("no finding");
    } else {
        println!("no MUST finding; {} warning(s)", findings.len());
    }
    Ok(Outcome::of(findings))
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
