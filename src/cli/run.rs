//! `run` and `replay`, and the listings (`profiles`, `requirements`, `cases`, `keygen`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use super::error::{CliError, EXIT_OK};
use super::outputs::Outputs;
use super::{LevelArg, RunArgs};
use crate::client::HttpVersion;
use crate::engine::{
    self, cores, plan::LevelFilter, runtime, CheckInfo, CheckResult, Plan, Selection,
};
use crate::profiles::{self, Capability, Profile, Suite};
use crate::report::baseline::Baseline;
use crate::report::{self, terminal, Results};

/// `edgecheck run` and `edgecheck replay`.
pub fn run(args: RunArgs, files: Option<Vec<PathBuf>>) -> Result<i32, CliError> {
    let profile = args.target.profile()?;
    let suite = profile.suite(files.as_deref())?;
    let selection = Selection {
        only: args.only.clone(),
        skip: args.skip.clone(),
        level: match args.level {
            LevelArg::Must => LevelFilter::Must,
            LevelArg::Should => LevelFilter::Should,
            LevelArg::All => LevelFilter::All,
        },
    };
    let mut plan =
        Plan::build(suite.checks(), &selection).map_err(|e| CliError::usage(e.to_string()))?;
    if plan.checks.is_empty() {
        return Err(CliError::usage(
            "no check matches the selection; see `edgecheck cases` for the IDs",
        ));
    }
    if let Some(shard) = args.shard {
        plan.checks.retain(|c| shard.contains(&c.id));
        if plan.checks.is_empty() {
            return Err(CliError::usage(format!(
                "shard {shard} holds none of the selected checks; use fewer shards or a wider selection"
            )));
        }
    }
    // Outputs and the baseline are checked before anything runs: a typo costs no run.
    let outputs = Outputs::with_summary(
        args.json.clone(),
        args.junit.clone(),
        args.report.clone(),
        args.summary.clone(),
    )?;
    let baseline = match &args.baseline {
        Some(path) => Some((
            path.display().to_string(),
            read_baseline(profile, path, suite.checks(), files.is_some())?,
        )),
        None => None,
    };
    let target = args.target.options(args.fresh_keys, HttpVersion::Auto)?;
    let jobs = args.jobs.unwrap_or_else(|| profile.default_jobs()).max(1);
    runtime(cores()).block_on(run_async(RunParts {
        args,
        profile,
        suite: suite.as_ref(),
        target,
        plan,
        jobs,
        outputs,
        baseline,
    }))
}

/// Read a baseline and check its profile and IDs against the checks run and, for a replay of
/// case files, the profile's built-in checks too.
fn read_baseline(
    profile: &dyn Profile,
    path: &Path,
    checks: &[CheckInfo],
    replay: bool,
) -> Result<Baseline, CliError> {
    let b = Baseline::read(path).map_err(CliError::usage)?;
    b.check_profile(profile.name()).map_err(CliError::usage)?;
    let mut known: std::collections::BTreeSet<String> =
        checks.iter().map(|c| c.id.clone()).collect();
    if replay {
        known.extend(super::report::builtin_ids(profile));
    }
    b.check_ids(profile.catalogue(), &|id| known.contains(id))
        .map_err(CliError::usage)?;
    Ok(b)
}

/// What a run needs once its inputs are checked.
struct RunParts<'a> {
    args: RunArgs,
    profile: &'static dyn Profile,
    suite: &'a dyn Suite,
    target: profiles::TargetOptions,
    plan: Plan,
    jobs: usize,
    outputs: Outputs,
    baseline: Option<(String, Baseline)>,
}

async fn run_async(p: RunParts<'_>) -> Result<i32, CliError> {
    let RunParts {
        args,
        profile,
        suite,
        target,
        plan,
        jobs,
        outputs,
        baseline,
    } = p;
    let t_open = Instant::now();
    let opened = suite.open(&target).await?;
    let open_time = t_open.elapsed();
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let t0 = Instant::now();
    let detail = if args.quiet {
        terminal::Detail::Quiet
    } else if args.verbose {
        terminal::Detail::Every
    } else {
        terminal::Detail::Problems
    };
    let progress = terminal::Progress::new(detail, args.color);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            progress.on(&ev);
        }
        progress.finish();
    });
    let settings = engine::RunSettings {
        jobs,
        max_silent: args.max_silent,
    };
    let engine::PlanRun { results, stopped } =
        engine::run_plan(opened.session(), &plan, settings, tx).await;
    let _ = printer.await;
    let elapsed = t0.elapsed();
    let mut options = BTreeMap::new();
    options.insert("jobs".into(), json!(jobs));
    options.insert("only".into(), json!(args.only));
    options.insert("skip".into(), json!(args.skip));
    options.insert(
        "level".into(),
        json!(format!("{:?}", args.level).to_lowercase()),
    );
    options.insert("allowHttp".into(), json!(args.target.allow_http));
    options.insert("insecure".into(), json!(args.target.insecure));
    options.insert("http".into(), json!(target.http.name()));
    options.extend(opened.options());
    options.insert("timeoutSecs".into(), json!(args.target.timeout));
    if let Some(shard) = args.shard {
        options.insert("shard".into(), json!(shard.to_string()));
    }
    let mut res = Results::new(
        profile.catalogue(),
        opened.describe(),
        started_at,
        elapsed.as_millis() as u64,
        options,
        &results,
    );
    res.shard = args.shard.map(|s| s.to_string());
    if let Some((file, b)) = &baseline {
        b.apply(&mut res, file);
    }
    let stats = opened.stats(&results);
    let mut timing = if args.timing {
        opened.timing(elapsed, &results, jobs)
    } else {
        Vec::new()
    };
    let t_close = Instant::now();
    opened.close().await;
    let code = super::report::finish(&res, profile, &outputs, false, args.color);
    if args.timing {
        timing.push(phases_line(open_time, elapsed, t_close.elapsed(), &results));
    }
    eprintln!("{stats}");
    for line in timing {
        println!("{line}");
    }
    if let Some(reason) = stopped {
        // The results are written; the run itself did not finish.
        return Err(CliError::unreachable(reason));
    }
    Ok(code)
}

/// `--timing`: where the run's time went, phase by phase, and the slowest areas of checks.
fn phases_line(
    open: std::time::Duration,
    checks: std::time::Duration,
    close: std::time::Duration,
    results: &[CheckResult],
) -> String {
    let mut areas: BTreeMap<&str, f64> = BTreeMap::new();
    for r in results {
        *areas.entry(r.area.as_str()).or_default() += r.duration.as_secs_f64();
    }
    let mut areas: Vec<(&str, f64)> = areas.into_iter().collect();
    areas.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top: Vec<String> = areas
        .iter()
        .take(4)
        .map(|(a, s)| format!("{a} {s:.2} s"))
        .collect();
    format!(
        "timing: phases: open {:.2} s (target, embedded server, preflight), checks {:.2} s, \
         close and reports {:.2} s; busiest areas (summed check time): {}",
        open.as_secs_f64(),
        checks.as_secs_f64(),
        close.as_secs_f64(),
        top.join(", ")
    )
}

/// `edgecheck profiles`.
pub fn profiles() -> i32 {
    println!(
        "{:<12} {:>6} {:>6}  {:<36} summary",
        "profile", "rules", "cases", "commands"
    );
    for p in profiles::all() {
        let cases = p.suite(None).map_or(0, |s| s.checks().len());
        let commands: Vec<&str> = p.capabilities().iter().map(|c| c.as_str()).collect();
        println!(
            "{:<12} {:>6} {:>6}  {:<36} {}",
            p.name(),
            p.catalogue().len(),
            cases,
            commands.join(","),
            p.summary()
        );
    }
    EXIT_OK
}

/// `edgecheck requirements`.
pub fn requirements(profile: &dyn Profile, as_json: bool) -> i32 {
    let checks: Vec<CheckInfo> = profile
        .suite(None)
        .map(|s| s.checks().to_vec())
        .unwrap_or_default();
    let mut covering: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in &checks {
        for r in &c.requirements {
            covering.entry(r.clone()).or_default().push(c.id.clone());
        }
    }
    let reqs = profile.catalogue();
    if as_json {
        let rows: Vec<_> = reqs
            .all()
            .iter()
            .map(|r| {
                json!({
                    "id": r.id, "level": r.level.as_str(), "origin": report::origin_str(r.origin),
                    "testable": report::testable_str(r.testable), "text": r.text,
                    "cases": covering.get(&r.id).cloned().unwrap_or_default(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return EXIT_OK;
    }
    let mut covered = 0;
    for r in reqs.all() {
        let n = covering.get(&r.id).map_or(0, Vec::len);
        if n > 0 {
            covered += 1;
        }
        println!(
            "{:<22} {:<8} {:<8} {:<10} {:>3} case(s)",
            r.id,
            r.level.as_str(),
            report::origin_str(r.origin),
            report::testable_str(r.testable),
            n
        );
    }
    println!(
        "{} rules, {} covered by at least one case",
        reqs.len(),
        covered
    );
    EXIT_OK
}

/// `edgecheck cases`.
pub fn cases(profile: &dyn Profile, as_json: bool) -> Result<i32, CliError> {
    let suite = profile.suite(None)?;
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&suite.cases_json()).unwrap_or_default()
        );
        return Ok(EXIT_OK);
    }
    let mut areas = std::collections::BTreeSet::new();
    for c in suite.checks() {
        areas.insert(c.area.as_str());
        println!(
            "{:<52} {:<6} {:<40} {}",
            c.id,
            c.level.as_str(),
            c.requirements.join(","),
            c.title
        );
    }
    println!("{} cases in {} areas", suite.checks().len(), areas.len());
    Ok(EXIT_OK)
}

/// `edgecheck keygen`.
pub fn keygen(profile: &dyn Profile, out: &Path, count: usize) -> Result<i32, CliError> {
    if !profile.capabilities().contains(&Capability::Keygen) {
        return Err(profiles::unsupported(profile.name(), Capability::Keygen).into());
    }
    for f in profile.keygen(out, count)? {
        println!("wrote {}", f.display());
    }
    Ok(EXIT_OK)
}
