//! `edgecheck prop --profile simplex-v5`: model-based generated sequences.
//!
//! proptest generates sequences of abstract operations ([`gen`]) over up to three
//! connections and two WebSocket sessions; each sequence is interpreted against the model of
//! the spec ([`model`]) into case steps whose expectations are the model's ([`interpret`]),
//! and run against the server with the profile's own runner. The first deviation fails the sequence with
//! the rule it breaks; proptest shrinks it, and the minimal sequence is written as a case
//! file that `edgecheck replay --profile simplex-v5 FILE` runs. [`coverage`] counts the model
//! transitions taken.

pub mod coverage;
pub mod gen;
pub mod interpret;
pub mod model;

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::case::{Case, CaseFile, Level, Step};
use super::runner::{Broken, Env};
use super::{catalogue, open_target, NAME};
use crate::engine::generate::{finding_id, within, write_finding_file};
use crate::engine::{cores, runtime};
use crate::profiles::case_files::print_replay;
use crate::profiles::generated::{self, Executed, Sequences};
use crate::profiles::{Outcome, ProfileError, TargetOptions};
use coverage::{Coverage, Transition};
use gen::Op;
use interpret::{execute, plan, Limits, Plan};

pub use crate::profiles::PropOptions;

/// How long a push may take on a loopback target, in ms (elsewhere 3 s).
pub const LOOPBACK_PUSH_MS: u64 = 1000;

/// A failure found and shrunk.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The minimal case (its steps end with the one that failed).
    pub case: Case,
    /// The rule seen broken, and what came.
    pub broken: Broken,
    /// The failing step (1-based).
    pub step: usize,
    /// The shrunk operations.
    pub ops: Vec<Op>,
    /// Operations that did something, after shrinking.
    pub shrunk_ops: usize,
    /// Operations that did something in the first failing sequence.
    pub original_ops: usize,
    /// Where the case file was written.
    pub path: Option<PathBuf>,
    /// The run's seed.
    pub seed: u64,
}

/// The outcome of a generated run.
#[derive(Debug, Default)]
pub struct PropReport {
    /// Sequences run (shrinking runs included).
    pub sequences: usize,
    /// Operations run.
    pub ops: usize,
    /// Case steps run.
    pub steps: usize,
    /// HTTP requests and WebSocket messages sent.
    pub requests: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// The finding, if any.
    pub finding: Option<Finding>,
    /// A transport or suite error that stopped the run.
    pub error: Option<String>,
    /// Model transitions taken.
    pub coverage: Coverage,
}

/// The push bound for a target: 1 s on loopback, else 3 s.
pub fn push_ms(env: &Env) -> u64 {
    match env.ce.host_str() {
        Some("127.0.0.1" | "localhost" | "[::1]" | "::1") => LOOPBACK_PUSH_MS,
        _ => 3000,
    }
}

/// Run generated sequences against the target of `env`. Blocking: it drives the async
/// client with `handle` from `opts.jobs` worker threads.
pub fn run(env: &Env, opts: &PropOptions, handle: &tokio::runtime::Handle) -> PropReport {
    let limits = Limits {
        page_size: env
            .page_size
            .unwrap_or(crate::profiles::simplex_v5::EMBEDDED_PAGE_SIZE),
        large: env.large_message.is_some(),
        push_ms: push_ms(env),
    };
    let ran: Sequences<Op, Step, Transition, usize, Coverage> = generated::run(
        opts,
        || gen::sequence(opts.max_steps),
        |ops| plan(ops, limits),
        |p, deadline| {
            let exec = handle.block_on(within(deadline, execute(env, p)))?;
            Some(Executed {
                ending: exec.ending,
                transitions: exec.transitions,
                counts: exec.requests,
            })
        },
        catalogue(),
    );
    let mut report = PropReport {
        sequences: ran.sequences,
        ops: ran.ops,
        steps: ran.steps,
        requests: ran.counts,
        coverage: ran.coverage,
        error: ran.error,
        ..PropReport::default()
    };
    if let Some(b) = ran.failure.and_then(|f| f.broke(&mut report.error)) {
        let seed = opts.seed;
        let case = finding_case(&b.plan, b.step, &b.broken, seed);
        let path = write_finding(&opts.findings, &case)
            .map_err(|e| report.error.get_or_insert(e).clone())
            .ok();
        report.finding = Some(Finding {
            case,
            broken: b.broken,
            step: b.step,
            shrunk_ops: b.plan.effective_ops(),
            ops: b.ops,
            original_ops: b.original_ops,
            path,
            seed,
        });
    }
    report.elapsed = ran.started.elapsed();
    report
}

/// The case a finding becomes: the plan's steps up to the failing one, the rule it broke.
pub fn finding_case(p: &Plan, step: usize, broken: &Broken, seed: u64) -> Case {
    let steps: Vec<Step> = p.steps[..step.min(p.steps.len())].to_vec();
    let rule = if broken.rule.is_empty() {
        "V-RETR".to_string()
    } else {
        broken.rule.clone()
    };
    let level = match catalogue().get(&rule).map(|r| r.level) {
        Some(crate::catalogue::requirements::Level::Should) => Level::Should,
        Some(crate::catalogue::requirements::Level::May) => Level::May,
        _ => Level::Must,
    };
    Case {
        id: finding_id(&rule, &steps),
        title: format!(
            "Generated sequence (seed {seed}, {} operations) breaks {rule} at step {step}: \
             expected {}; got {}",
            p.effective_ops(),
            broken.expected,
            broken.actual
        ),
        requirements: vec![rule],
        level,
        hostile: false,
        needs: vec![],
        steps,
    }
}

/// Write a finding as a case file in `dir` (made if missing); returns its path.
pub fn write_finding(dir: &Path, case: &Case) -> Result<PathBuf, String> {
    let name = case.id.trim_start_matches("prop/");
    let file = CaseFile {
        area: "prop".into(),
        title: "Sequences generated by edgecheck prop".into(),
        cases: vec![case.clone()],
    };
    write_finding_file(dir, &format!("prop-{name}.json"), &file)
}

/// `edgecheck prop --profile simplex-v5`: generated sequences against the target, the first
/// finding shrunk and written as a case file.
pub fn prop(target: &TargetOptions, opts: &PropOptions) -> Result<Outcome, ProfileError> {
    if opts.max_steps == 0 || opts.cases == 0 {
        return Err(ProfileError::Usage(
            "--cases and --max-steps must be at least 1".into(),
        ));
    }
    let rt = runtime(cores());
    let opened = rt.block_on(open_target(target))?;
    if opened.env.page_size.is_none() {
        rt.block_on(opened.close());
        return Err(ProfileError::Usage(
            "prop needs the server's PAGE_SIZE to know which page must come back: give \
             --page-size N (and --large-message N for large messages)"
                .into(),
        ));
    }
    eprintln!(
        "edgecheck prop · {NAME} · seed {} · {} sequences of up to {} operations · --http {} · {}",
        opts.seed,
        opts.cases,
        opts.max_steps,
        target.http.name(),
        opened.describe()
    );
    let report = run(&opened.env, opts, rt.handle());
    rt.block_on(opened.close());
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    println!(
        "{} sequences, {} operations, {} steps, {} requests in {:.1} s: {:.1} sequences/s, \
         {:.0} requests/s",
        report.sequences,
        report.ops,
        report.steps,
        report.requests,
        secs,
        report.sequences as f64 / secs,
        report.requests as f64 / secs
    );
    print!("{}", report.coverage.render());
    if let Some(f) = &report.finding {
        println!();
        println!(
            "{}: {}: expected {}; got {}",
            crate::profiles::heading(f.case.level),
            f.broken.rule,
            f.broken.expected,
            f.broken.actual
        );
        println!(
            "  shrunk from {} to {} operations ({} steps); fails at step {}",
            f.original_ops,
            f.shrunk_ops,
            f.case.steps.len(),
            f.step
        );
        for op in &f.ops {
            println!("    {op:?}");
        }
        if let Some(p) = &f.path {
            print_replay(p, NAME, &target.flags());
        }
        let message = format!("expected {}; got {}", f.broken.expected, f.broken.actual);
        let found = crate::profiles::Finding::new(&f.broken.rule, message)
            .at_level(f.case.level)
            .with_file(f.path.as_deref());
        return Ok(Outcome::of(vec![found]));
    }
    if let Some(e) = &report.error {
        return Err(ProfileError::Internal(format!("prop stopped: {e}")));
    }
    println!("no finding");
    Ok(Outcome::Clean)
}
