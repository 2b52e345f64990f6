//! The scripted cases (`conformance/edge-v1/cases/*.json`), compiled into the binary, and case files
//! read from disk (`edgecheck replay`).

use std::collections::BTreeSet;
use std::path::Path;

use crate::profiles::edge_v1::case::{self, CaseFile, Op};
use crate::profiles::edge_v1::runner::probes::PROBES;

macro_rules! case_files {
    ($($name:literal),* $(,)?) => {
        /// Every built-in case file: (file stem, contents).
        pub const CASE_FILES: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../../conformance/edge-v1/cases/", $name, ".json")))),*
        ];
    };
}

case_files!(
    "http",
    "create",
    "signatures",
    "body",
    "routing",
    "update",
    "uri-invalidation",
    "delete",
    "retrieve",
    "delete-messages",
    "send",
    "disabled",
    "alternative-flow",
    "privacy",
    "limits",
    "scenarios",
);

/// Parse the built-in case files.
pub fn builtin() -> Result<Vec<CaseFile>, String> {
    CASE_FILES
        .iter()
        .map(|(name, text)| {
            serde_json::from_str::<CaseFile>(text)
                .map_err(|e| format!("conformance/edge-v1/cases/{name}.json: {e}"))
        })
        .collect()
}

/// Read case files from disk: each may be a case file (`{"area", "cases"}`) or a single case.
pub fn read(paths: &[impl AsRef<Path>]) -> Result<Vec<CaseFile>, String> {
    let mut out = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let text =
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", p.display()))?;
        let file = if value.get("cases").is_some() {
            serde_json::from_value::<CaseFile>(value)
        } else {
            serde_json::from_value::<case::Case>(value).map(|c| CaseFile {
                area: c.id.split('/').next().unwrap_or("replay").to_string(),
                title: c.title.clone(),
                cases: vec![c],
            })
        }
        .map_err(|e| {
            format!(
                "{}: not a case file: {e} (see docs/case-format.md)",
                p.display()
            )
        })?;
        out.push(file);
    }
    Ok(out)
}

/// Every problem in a set of case files: duplicate IDs, unknown rules or probes, IDs outside
/// their area, steps with overrides but no expected status.
pub fn validate(files: &[CaseFile], known_rule: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for f in files {
        for c in &f.cases {
            if !seen.insert(c.id.clone()) {
                problems.push(format!("{}: duplicate case ID", c.id));
            }
            if !c.id.starts_with(&format!("{}/", f.area)) {
                problems.push(format!(
                    "{}: ID must start with its area `{}/`",
                    c.id, f.area
                ));
            }
            problems.extend(case::validate(c, known_rule));
            for s in &c.steps {
                if s.op == Some(Op::Probe) {
                    let name = s.probe.as_deref().unwrap_or_default();
                    if !PROBES.contains(&name) {
                        problems.push(format!("{}: unknown probe `{name}`", c.id));
                    }
                }
            }
        }
    }
    problems
}
