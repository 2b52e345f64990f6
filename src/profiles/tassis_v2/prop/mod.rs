//! `edgecheck prop --profile tassis-v2`: model-based generated sequences.
//!
//! proptest generates sequences of abstract operations ([`gen`]) over two or three
//! identities, several devices and concurrent sessions; each sequence is interpreted against
//! the model of the spec ([`model`]) into case steps whose expectations are the model's
//! ([`interpret`]), and run against the server. The first deviation fails the sequence with
//! the rule it breaks; proptest shrinks it, and the minimal sequence is written as a case
//! file that `edgecheck replay --profile tassis-v2 FILE` runs. [`coverage`] counts the model
//! transitions taken.

pub mod coverage;
pub mod differential;
pub mod gen;
pub mod interpret;
pub mod minimize;
pub mod model;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::case::{Case, CaseFile, Level, Step};
use super::runner::{Broken, Env};
use super::{catalogue, open_target, NAME};
use crate::engine::generate::{finding_id, within, write_finding_file};
use crate::engine::{cores, runtime};
use crate::profiles::case_files::print_replay;
use crate::profiles::generated::{self, Executed, Sequences};
use crate::profiles::{Outcome, ProfileError, TargetOptions, DEFAULT_MAX_BODY, DEFAULT_TIMEOUT};
use coverage::{Coverage, Transition};
use gen::Op;
use interpret::{execute, plan, Plan};

pub use crate::profiles::PropOptions;

/// How long a push may take on a loopback target, in ms (elsewhere T-DELIVER's 3 s).
pub const LOOPBACK_PUSH_MS: u64 = 500;

/// Time given to dropping the steps a finding does not need ([`minimize`]).
pub const MINIMIZE_FOR: Duration = Duration::from_secs(30);

/// A failure found and shrunk.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The minimal case (its steps end with the one that failed).
    pub case: Case,
    /// The rule seen broken, and what came.
    pub broken: Broken,
    /// The failing step (1-based; the last of `case`).
    pub step: usize,
    /// The shrunk operations.
    pub ops: Vec<Op>,
    /// Operations that did something, after shrinking.
    pub shrunk_ops: usize,
    /// Operations that did something in the first failing sequence.
    pub original_ops: usize,
    /// Step minimization: steps before and after, candidates run.
    pub minimized: minimize::Minimized,
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
    /// Logins sent.
    pub logins: usize,
    /// Frames sent.
    pub frames: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// The finding, if any.
    pub finding: Option<Finding>,
    /// A transport or suite error that stopped the run.
    pub error: Option<String>,
    /// Model transitions taken.
    pub coverage: Coverage,
}

/// The push bound for a target: 0.5 s on loopback, else 3 s (T-DELIVER).
pub fn push_ms(env: &Env) -> u64 {
    match env.url.host_str() {
        Some("127.0.0.1" | "localhost" | "[::1]" | "::1") => LOOPBACK_PUSH_MS,
        _ => 3000,
    }
}

/// Run generated sequences against the target of `env`. Blocking: it drives the async
/// client with `handle` from `opts.jobs` worker threads.
pub fn run(env: &Env, opts: &PropOptions, handle: &tokio::runtime::Handle) -> PropReport {
    let push = push_ms(env);
    let ran: Sequences<Op, Step, Transition, (usize, usize), Coverage> = generated::run(
        opts,
        || gen::sequence(opts.max_steps),
        |ops| plan(ops, push),
        |p, deadline| {
            let exec = handle.block_on(within(deadline, execute(env, p)))?;
            Some(Executed {
                ending: exec.ending,
                transitions: exec.transitions,
                counts: (exec.logins, exec.frames),
            })
        },
        catalogue(),
    );
    let mut report = PropReport {
        sequences: ran.sequences,
        ops: ran.ops,
        steps: ran.steps,
        logins: ran.counts.0,
        frames: ran.counts.1,
        coverage: ran.coverage,
        error: ran.error,
        ..PropReport::default()
    };
    if let Some(b) = ran.failure.and_then(|f| f.broke(&mut report.error)) {
        let seed = opts.seed;
        let case = finding_case(&b.plan, b.step, &b.broken, seed);
        let (case, minimized) = handle.block_on(minimize_steps(env, case, &b.broken.rule));
        let path = write_finding(&opts.findings, &case)
            .map_err(|e| report.error.get_or_insert(e).clone())
            .ok();
        report.finding = Some(Finding {
            step: case.steps.len(),
            case,
            broken: b.broken,
            shrunk_ops: b.plan.effective_ops(),
            ops: b.ops,
            original_ops: b.original_ops,
            minimized,
            path,
            seed,
        });
    }
    report.elapsed = ran.started.elapsed();
    report
}

/// `case` without the steps its failure does not need, checked against a correct embedded
/// reference server; `case` itself when that server cannot start.
async fn minimize_steps(env: &Env, case: Case, rule: &str) -> (Case, minimize::Minimized) {
    let reference = TargetOptions {
        timeout: env.reply_timeout.max(DEFAULT_TIMEOUT),
        max_body: DEFAULT_MAX_BODY,
        ..TargetOptions::default()
    };
    let Ok(reference) = open_target(&reference).await else {
        let n = case.steps.len();
        let stats = minimize::Minimized {
            before: n,
            after: n,
            ..minimize::Minimized::default()
        };
        return (case, stats);
    };
    let deadline = Instant::now() + MINIMIZE_FOR;
    let kept = minimize::minimize(env, &reference.env, &case, rule, deadline).await;
    reference.close().await;
    kept
}

/// The case a finding becomes: the plan's steps up to the failing one, the rule it broke.
pub fn finding_case(p: &Plan, step: usize, broken: &Broken, seed: u64) -> Case {
    let steps: Vec<Step> = p.steps[..step.min(p.steps.len())].to_vec();
    let rule = if broken.rule.is_empty() {
        "T-DELIVER".to_string()
    } else {
        broken.rule.clone()
    };
    let level = match catalogue().get(&rule).map(|r| r.level) {
        Some(crate::catalogue::requirements::Level::Should) => Level::Should,
        Some(crate::catalogue::requirements::Level::May) => Level::May,
        _ => Level::Must,
    };
    let hostile = steps
        .iter()
        .any(|s| matches!(s, Step::Disconnect { abrupt: true, .. }));
    Case {
        id: finding_id(&rule, &steps),
        title: format!(
            "Generated sequence (seed {seed}, {} operations) breaks {rule} at its last step: \
             expected {}; got {}",
            p.effective_ops(),
            broken.expected,
            broken.actual
        ),
        requirements: vec![rule],
        level,
        hostile,
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

/// `edgecheck prop --profile tassis-v2`: generated sequences against the target, the first
/// finding shrunk and written as a case file.
pub fn prop(target: &TargetOptions, opts: &PropOptions) -> Result<Outcome, ProfileError> {
    if opts.max_steps == 0 || opts.cases == 0 {
        return Err(ProfileError::Usage(
            "--cases and --max-steps must be at least 1".into(),
        ));
    }
    let rt = runtime(cores());
    let opened = rt.block_on(open_target(target))?;
    eprintln!(
        "edgecheck prop · {NAME} · seed {} · {} sequences of up to {} operations · {}",
        opts.seed,
        opts.cases,
        opts.max_steps,
        opened.describe()
    );
    let report = run(&opened.env, opts, rt.handle());
    rt.block_on(opened.close());
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    println!(
        "{} sequences, {} operations, {} steps, {} logins, {} frames in {:.1} s: {:.0} logins/s, \
         {:.0} frames/s",
        report.sequences,
        report.ops,
        report.steps,
        report.logins,
        report.frames,
        secs,
        report.logins as f64 / secs,
        report.frames as f64 / secs
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
            "  shrunk from {} to {} operations, then from {} to {} steps ({} candidates{})",
            f.original_ops,
            f.shrunk_ops,
            f.minimized.before,
            f.minimized.after,
            f.minimized.trials,
            if f.minimized.out_of_time {
                ", out of time"
            } else {
                ""
            }
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
