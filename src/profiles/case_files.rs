//! Reading the case files of `tassis-v2` and `simplex-v5`: the built-in ones compiled in, and
//! the ones given to `replay`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
