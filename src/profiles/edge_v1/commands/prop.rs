//! `edgecheck prop --profile edge-v1`.

use super::super::profile::{open_context, warm_context, NAME};
use super::super::prop;
use crate::engine::{cores, runtime};
use crate::profiles::case_files::print_replay;
use crate::profiles::{heading, Finding, Outcome, ProfileError, PropOptions, TargetOptions};

/// `edgecheck prop`: generated sequences against the target, the finding shrunk and saved.
pub fn prop(target_opts: &TargetOptions, opts: &PropOptions) -> Result<Outcome, ProfileError> {
    if opts.max_steps == 0 || opts.cases == 0 {
        return Err(ProfileError::Usage(
            "--cases and --max-steps must be at least 1".into(),
        ));
    }
    let rt = runtime(cores());
    let (ctx, target) = rt.block_on(open_context(target_opts))?;
    eprintln!(
        "edgecheck prop · seed {} · {} sequences of up to {} steps · --http {} · {}",
        opts.seed,
        opts.cases,
        opts.max_steps,
        target_opts.http.name(),
        target.describe()
    );
    let ctx = warm_context(&ctx, opts.jobs);
    let handle = rt.handle().clone();
    let report = prop::run(ctx, opts, handle);
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
        println!("{}: {}", heading(f.case.level), f.message);
        println!(
            "  shrunk from {} to {} steps; rule {}",
            f.original_steps,
            f.case.steps.len(),
            f.case.requirements.join(", ")
        );
        if let Some(p) = &f.path {
            print_replay(p, NAME, &target_opts.flags());
        }
        let found = Finding::new(&f.failure.rule, &f.message)
            .at_level(f.case.level)
            .with_file(f.path.as_deref());
        return Ok(Outcome::of(vec![found]));
    }
    if let Some(e) = &report.error {
        let m = format!("prop stopped: {e}");
        return Err(if e.contains("no response") {
            ProfileError::Unreachable(m)
        } else {
            ProfileError::Internal(m)
        });
    }
    println!("no finding");
    Ok(Outcome::Clean)
}
