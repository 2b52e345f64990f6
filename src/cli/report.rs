//! `edgecheck report` (re-render or merge saved results) and `edgecheck baseline` (write a
//! baseline from saved results). Neither runs a check.

use std::collections::BTreeSet;

use super::outputs::{self, Outputs};
use super::{BaselineArgs, ReportArgs, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE};
use crate::profiles::edge_v1::cases;
use crate::report::baseline::Baseline;
use crate::report::{json, merge, terminal, Results};

/// Every case ID of the built-in catalogue, in catalogue order.
fn builtin_ids() -> Vec<String> {
    cases::builtin()
        .map(|files| {
            files
                .iter()
                .flat_map(|f| f.cases.iter().map(|c| c.id.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// `edgecheck report`.
pub fn report(args: ReportArgs) -> i32 {
    let outputs = match Outputs::new(args.json.clone(), args.junit.clone(), args.report.clone()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("edgecheck: {e}");
            return EXIT_USAGE;
        }
    };
    let baseline = match args.baseline.as_deref().map(Baseline::read).transpose() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("edgecheck: {e}");
            return EXIT_USAGE;
        }
    };
    let ids = builtin_ids();
    let mut results = if args.merge.is_empty() {
        let Some(path) = &args.results else {
            eprintln!("edgecheck: give a results file (edgecheck report RESULTS.json) or --merge A.json B.json …");
            return EXIT_USAGE;
        };
        match json::read(path) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("edgecheck: {e}");
                return EXIT_USAGE;
            }
        }
    } else {
        let mut parts = Vec::new();
        for p in &args.merge {
            match json::read(p) {
                Ok(r) => parts.push((p.display().to_string(), r)),
                Err(e) => {
                    eprintln!("edgecheck: {e}");
                    return EXIT_USAGE;
                }
            }
        }
        let order = |id: &str| ids.iter().position(|i| i == id);
        match merge::merge(parts, &order, args.partial) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("edgecheck: {e}");
                return EXIT_USAGE;
            }
        }
    };
    if let Some(b) = &baseline {
        let known: BTreeSet<&str> = ids
            .iter()
            .map(String::as_str)
            .chain(results.checks.iter().map(|c| c.id.as_str()))
            .collect();
        if let Err(e) = b.check_ids(&|id| known.contains(id)) {
            eprintln!("edgecheck: {e}");
            return EXIT_USAGE;
        }
        let file = args
            .baseline
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        b.apply(&mut results, &file);
    }
    finish(&results, &outputs, args.quiet)
}

/// Print the summary, write the outputs and return the gate's exit code.
pub fn finish(results: &Results, outputs: &Outputs, quiet: bool) -> i32 {
    if quiet {
        for line in crate::report::gate::evaluate(results).lines {
            eprintln!("edgecheck: {line}");
        }
    } else {
        terminal::print(results);
    }
    let mut code = outputs::exit_code(results);
    for e in outputs.write(results) {
        eprintln!("edgecheck: {e}");
        code = code.max(EXIT_INTERNAL);
    }
    code
}

/// `edgecheck baseline --from RESULTS.json`.
pub fn baseline(args: BaselineArgs) -> i32 {
    if let Some(d) = &args.expires {
        if !crate::report::baseline::valid_date(d) {
            eprintln!("edgecheck: --expires must be a date YYYY-MM-DD, not `{d}`");
            return EXIT_USAGE;
        }
    }
    let results: Results = match json::read(&args.from) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("edgecheck: {e}");
            return EXIT_USAGE;
        }
    };
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
    EXIT_OK
}
