//! `edgecheck report` (re-render, merge or compare saved results) and `edgecheck baseline`
//! (write a baseline from saved results). Neither runs a check.

use std::collections::BTreeSet;

use super::error::{CliError, EXIT_INTERNAL, EXIT_OK};
use super::outputs::{self, Outputs, ReportFormat};
use super::{BaselineArgs, ReportArgs};
use crate::profiles::{self, Profile};
use crate::report::baseline::Baseline;
use crate::report::terminal::ColorChoice;
use crate::report::{compare, json, merge, terminal, Results};

/// Every check ID of a profile's built-in cases, in catalogue order.
pub fn builtin_ids(profile: &dyn Profile) -> Vec<String> {
    profile
        .suite(None)
        .map(|s| s.checks().iter().map(|c| c.id.clone()).collect())
        .unwrap_or_default()
}

/// The profile saved results were made with.
fn profile_of(results: &Results, source: &str) -> Result<&'static dyn Profile, CliError> {
    profiles::find(&results.profile).map_err(|e| {
        CliError::usage(format!(
            "{source}: {e}; these results come from another edgecheck version"
        ))
    })
}

/// `edgecheck report`.
pub fn report(args: ReportArgs) -> Result<i32, CliError> {
    if !args.compare.is_empty() {
        return compare_results(&args);
    }
    let outputs = Outputs::with_summary(
        args.json.clone(),
        args.junit.clone(),
        args.report.clone(),
        args.summary.clone(),
    )?;
    let baseline = args
        .baseline
        .as_deref()
        .map(Baseline::read)
        .transpose()
        .map_err(CliError::usage)?;
    let (mut results, profile) = if args.merge.is_empty() {
        let Some(path) = &args.results else {
            return Err(CliError::usage(
                "give a results file (edgecheck report RESULTS.json) or --merge A.json B.json …",
            ));
        };
        let r = json::read(path).map_err(CliError::usage)?;
        let profile = profile_of(&r, &path.display().to_string())?;
        (r, profile)
    } else {
        let mut parts = Vec::new();
        for p in &args.merge {
            parts.push((
                p.display().to_string(),
                json::read(p).map_err(CliError::usage)?,
            ));
        }
        let (source, first) = &parts[0];
        let profile = profile_of(first, source)?;
        let ids = builtin_ids(profile);
        let order = |id: &str| ids.iter().position(|i| i == id);
        let merged = merge::merge(profile.catalogue(), parts, &order, args.partial)
            .map_err(CliError::usage)?;
        (merged, profile)
    };
    if let Some(b) = &baseline {
        let ids = builtin_ids(profile);
        let known: BTreeSet<&str> = ids
            .iter()
            .map(String::as_str)
            .chain(results.checks.iter().map(|c| c.id.as_str()))
            .collect();
        b.check_profile(&results.profile).map_err(CliError::usage)?;
        b.check_ids(profile.catalogue(), &|id| known.contains(id))
            .map_err(CliError::usage)?;
        let file = args
            .baseline
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        b.apply(&mut results, &file);
    }
    Ok(finish(&results, profile, &outputs, args.quiet, args.color))
}

/// `edgecheck report --compare A.json B.json …`: one matrix of rules × servers, written to
/// `--report` or printed as Markdown. Exits 0 once written: a comparison is not a gate.
fn compare_results(args: &ReportArgs) -> Result<i32, CliError> {
    let outputs = Outputs::new(None, None, args.report.clone())?;
    let mut runs = Vec::new();
    for p in &args.compare {
        runs.push((
            p.display().to_string(),
            json::read(p).map_err(CliError::usage)?,
        ));
    }
    let (source, first) = &runs[0];
    let profile = profile_of(first, source)?;
    let comparison =
        compare::build(&runs, profile.catalogue()).map_err(|e| CliError::usage(e.to_string()))?;
    match &outputs.report {
        Some((path, format)) => {
            let text = match format {
                ReportFormat::Markdown => compare::markdown(&comparison),
                ReportFormat::Html => compare::html(&comparison),
            };
            std::fs::write(path, text)
                .map_err(|e| CliError::internal(format!("cannot write {}: {e}", path.display())))?;
            if !args.quiet {
                eprintln!(
                    "edgecheck: compared {} results of profile {}: {}",
                    runs.len(),
                    comparison.profile,
                    path.display()
                );
            }
        }
        None => print!("{}", compare::markdown(&comparison)),
    }
    Ok(EXIT_OK)
}

/// Print the summary, write the outputs and return the gate's exit code.
pub fn finish(
    results: &Results,
    profile: &dyn Profile,
    outputs: &Outputs,
    quiet: bool,
    color: ColorChoice,
) -> i32 {
    let bodies = outputs.body_files(results);
    if quiet {
        for line in crate::report::gate::evaluate(results).lines {
            eprintln!("edgecheck: {line}");
        }
    } else {
        terminal::print(results, profile.catalogue(), &bodies, color);
    }
    let mut code = outputs::exit_code(results);
    for e in outputs.write(results, profile.catalogue(), &bodies) {
        eprintln!("edgecheck: {e}");
        code = code.max(EXIT_INTERNAL);
    }
    code
}

/// `edgecheck baseline --from RESULTS.json`.
pub fn baseline(args: BaselineArgs) -> Result<i32, CliError> {
    if let Some(d) = &args.expires {
        if !crate::report::baseline::valid_date(d) {
            return Err(CliError::usage(format!(
                "--expires must be a date YYYY-MM-DD, not `{d}`"
            )));
        }
    }
    let results: Results = json::read(&args.from).map_err(CliError::usage)?;
    let b = Baseline::from_results(&results, args.expires.as_deref(), args.reason.as_deref());
    print!("{}", b.to_json());
    if b.entries.is_empty() {
        eprintln!(
            "edgecheck: {} has no failing or warning check: the baseline is empty",
            args.from.display()
        );
    } else {
        eprintln!(
            "edgecheck: {} expected failure(s) listed; replace each generated reason with the \
             real one (an issue, a decision) before committing the file",
            b.entries.len()
        );
    }
    Ok(super::error::EXIT_OK)
}
