//! Scripted case files: reading those of `tassis-v2` and `simplex-v5` (the built-in ones
//! compiled in, and the ones given to `replay`), and for every profile, the errors of files
//! that do not load, their cases made into checks, and where a finding's file is written.

use std::path::Path;

use serde::de::DeserializeOwned;

/// A case file that cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {why}; the format is in {doc} (\"Case files\")")]
pub struct CaseFileError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub why: String,
    /// The document that describes the format, e.g. `docs/tassis-v2.md`.
    pub doc: &'static str,
}

/// The built-in case files `files` (stem, JSON) of the folder `dir`, parsed; `doc` describes
/// their format.
pub fn builtin<F: DeserializeOwned>(
    files: &[(&str, &str)],
    dir: &str,
    doc: &'static str,
) -> Result<Vec<F>, CaseFileError> {
    files
        .iter()
        .map(|(name, json)| {
            serde_json::from_str(json).map_err(|e| CaseFileError {
                file: format!("{dir}/{name}.json"),
                why: e.to_string(),
                doc,
            })
        })
        .collect()
}

/// Case files from disk; `doc` describes their format.
pub fn read<F: DeserializeOwned>(
    paths: &[impl AsRef<Path>],
    doc: &'static str,
) -> Result<Vec<F>, CaseFileError> {
    paths
        .iter()
        .map(|p| {
            let p = p.as_ref();
            let file = p.display().to_string();
            let text = std::fs::read_to_string(p).map_err(|e| CaseFileError {
                file: file.clone(),
                why: format!("cannot read it: {e}"),
                doc,
            })?;
            serde_json::from_str(&text).map_err(|e| CaseFileError {
                file,
                why: e.to_string(),
                doc,
            })
        })
        .collect()
}

/// What a check shows of its scripted case before it runs.
pub struct CaseHead<'a> {
    /// The case's ID, which the check takes.
    pub id: &'a str,
    /// Its title.
    pub title: &'a str,
    /// The rules it checks.
    pub requirements: &'a [String],
    /// Its requirement level.
    pub level: crate::engine::Level,
}

/// A scripted case of a profile, as its check shows it.
pub trait ScriptedCase: Clone {
    /// What the check shows of the case.
    fn head(&self) -> CaseHead<'_>;
}

/// Scripted cases made ready to run: `files` checked with `problems` (one line each; none
/// when they are valid), then flattened into their cases and one check per case (with its
/// file's area, from `parts`, indexed in that order). Problems are the user's to fix when
/// the files are the user's (`user_files`), and the suite's otherwise.
pub fn scripted_checks<F, C: ScriptedCase>(
    files: &[F],
    problems: &[String],
    user_files: bool,
    parts: impl Fn(&F) -> (&str, &[C]),
) -> Result<(Vec<C>, Vec<crate::engine::CheckInfo>), crate::profiles::ProfileError> {
    if !problems.is_empty() {
        return Err(invalid_cases(problems, user_files));
    }
    let mut cases = Vec::new();
    let mut checks = Vec::new();
    for file in files {
        let (area, file_cases) = parts(file);
        for c in file_cases {
            let h = c.head();
            checks.push(crate::engine::CheckInfo {
                id: h.id.to_string(),
                title: h.title.to_string(),
                area: area.to_string(),
                requirements: h.requirements.to_vec(),
                level: h.level,
                index: cases.len(),
            });
            cases.push(c.clone());
        }
    }
    Ok((cases, checks))
}

/// The error of case files that do not validate, every problem named on one line (an error
/// prints as one line: its line breaks would be shown escaped).
pub fn invalid_cases(problems: &[String], user_files: bool) -> crate::profiles::ProfileError {
    let what = if problems.len() == 1 {
        "invalid case".to_string()
    } else {
        format!("{} problems in the cases", problems.len())
    };
    load_error(format!("{what}: {}", problems.join("; ")), user_files)
}

/// A scripted suite that cannot load: the user's to fix when the files are the user's, the
/// suite's otherwise.
pub fn load_error(message: String, user_files: bool) -> crate::profiles::ProfileError {
    if user_files {
        crate::profiles::ProfileError::Usage(message)
    } else {
        crate::profiles::ProfileError::Internal(message)
    }
}

/// The lines under a finding that say where its case file is and how to replay it.
pub fn print_replay(path: &std::path::Path, profile: &str, flags: &str) {
    println!("  case file: {}", path.display());
    println!(
        "  replay:    edgecheck replay --profile {profile} {}{flags}",
        path.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Level;
    use crate::profiles::ProfileError;

    #[derive(Clone, Debug, PartialEq)]
    struct Case(&'static str, Vec<String>);

    impl ScriptedCase for Case {
        fn head(&self) -> CaseHead<'_> {
            CaseHead {
                id: self.0,
                title: "t",
                requirements: &self.1,
                level: Level::Must,
            }
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct File {
        area: String,
    }

    #[test]
    fn files_are_parsed_and_a_bad_one_is_named_with_the_format_document() {
        let ok: Vec<File> = builtin(&[("a", r#"{"area":"x"}"#)], "cases", "docs/p.md").unwrap();
        assert_eq!(ok[0].area, "x");
        let bad = builtin::<File>(&[("b", "{")], "cases", "docs/p.md").unwrap_err();
        assert_eq!(bad.file, "cases/b.json");
        assert!(
            bad.to_string()
                .ends_with("; the format is in docs/p.md (\"Case files\")"),
            "{bad}"
        );
        let missing = read::<File>(&["/no/such/file.json"], "docs/p.md").unwrap_err();
        assert!(missing.why.starts_with("cannot read it: "), "{missing}");
        assert_eq!(missing.file, "/no/such/file.json");
    }

    #[test]
    fn scripted_cases_become_checks_in_file_order_with_their_file_area() {
        let files = [
            (
                "a",
                vec![Case("a/1", vec!["R1".into()]), Case("a/2", vec![])],
            ),
            ("b", vec![Case("b/1", vec!["R2".into()])]),
        ];
        let (cases, checks) =
            scripted_checks(&files, &[], true, |f| (f.0, f.1.as_slice())).unwrap();
        assert_eq!(cases.len(), 3);
        let seen: Vec<(&str, &str, usize)> = checks
            .iter()
            .map(|c| (c.id.as_str(), c.area.as_str(), c.index))
            .collect();
        assert_eq!(seen, [("a/1", "a", 0), ("a/2", "a", 1), ("b/1", "b", 2)]);
        assert_eq!(checks[2].requirements, ["R2"]);
        assert_eq!(cases[checks[1].index], files[0].1[1]);
    }

    #[test]
    fn invalid_cases_are_named_on_one_line_and_blamed_on_whoever_wrote_them() {
        let files = [("a", vec![Case("a/1", vec![])])];
        let problems = vec!["a/1: no steps".to_string(), "a/1: unknown rule X".into()];
        let user = scripted_checks(&files, &problems, true, |f| (f.0, f.1.as_slice()));
        match user {
            Err(ProfileError::Usage(m)) => {
                assert_eq!(
                    m,
                    "2 problems in the cases: a/1: no steps; a/1: unknown rule X"
                )
            }
            other => panic!("expected a usage error, got {:?}", other.err()),
        }
        let builtin = invalid_cases(&problems[..1], false);
        match builtin {
            ProfileError::Internal(m) => assert_eq!(m, "invalid case: a/1: no steps"),
            other => panic!("expected an internal error, got {other:?}"),
        }
    }
}
