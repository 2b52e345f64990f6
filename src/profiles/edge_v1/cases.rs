//! The scripted cases (`conformance/edge-v1/cases/*.json`), compiled into the binary, and case files
//! read from disk (`edgecheck replay`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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

/// Why case files could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CaseFileError {
    /// A built-in case file does not parse (a bug in the suite's own data).
    #[error("conformance/edge-v1/cases/{name}.json: {source}")]
    Builtin {
        /// The file stem.
        name: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A case file on disk cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A case file on disk is not JSON.
    #[error("{}: not JSON: {source}", path.display())]
    NotJson {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A case file on disk is JSON but neither a case file nor a single case.
    #[error("{}: not a case file: {source} (see docs/case-format.md)", path.display())]
    NotCaseFile {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

/// Parse the built-in case files.
pub fn builtin() -> Result<Vec<CaseFile>, CaseFileError> {
    CASE_FILES
        .iter()
        .map(|&(name, text)| {
            serde_json::from_str::<CaseFile>(text)
                .map_err(|source| CaseFileError::Builtin { name, source })
        })
        .collect()
}

/// Read case files from disk: each may be a case file (`{"area", "cases"}`) or a single case.
pub fn read(paths: &[impl AsRef<Path>]) -> Result<Vec<CaseFile>, CaseFileError> {
    let mut out = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let text = std::fs::read_to_string(p).map_err(|source| CaseFileError::Read {
            path: p.to_path_buf(),
            source,
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| CaseFileError::NotJson {
                path: p.to_path_buf(),
                source,
            })?;
        let file = if value.get("cases").is_some() {
            serde_json::from_value::<CaseFile>(value)
        } else {
            serde_json::from_value::<case::Case>(value).map(|c| CaseFile {
                area: c.id.split('/').next().unwrap_or("replay").to_string(),
                title: c.title.clone(),
                cases: vec![c],
            })
        }
        .map_err(|source| CaseFileError::NotCaseFile {
            path: p.to_path_buf(),
            source,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_errors_name_the_file_and_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let missing = dir.join("missing.json");
        let e = read(&[&missing]).unwrap_err();
        assert!(matches!(e, CaseFileError::Read { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with(&format!("cannot read {}: ", missing.display())),
            "{e}"
        );
        let not_json = dir.join("not.json");
        std::fs::write(&not_json, "{").unwrap();
        let e = read(&[&not_json]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("{}: not JSON: ", not_json.display())),
            "{e}"
        );
        let not_case = dir.join("case.json");
        std::fs::write(&not_case, r#"{"cases": 1}"#).unwrap();
        let e = read(&[&not_case]).unwrap_err();
        assert!(e.to_string().ends_with(" (see docs/case-format.md)"), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }
}
