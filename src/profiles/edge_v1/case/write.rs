//! Writing a found case as a case file that `edgecheck replay` runs and that can be copied
//! into `conformance/edge-v1/cases/` (prop and fuzz findings).

use std::path::{Path, PathBuf};

use super::{Case, CaseFile};

/// Why a case file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The directory cannot be created.
    #[error("cannot create {}: {source}; pass a writable --findings DIR", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The case file cannot be serialized.
    #[error(transparent)]
    Serialize(#[from] serde_json::Error),
    /// A file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Write `case` into `dir` as a case file of area `area` (`prop`, `fuzz`), named after the
/// case's ID; returns its path.
pub fn write_case(dir: &Path, area: &str, case: &Case) -> Result<PathBuf, WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError::CreateDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let file = CaseFile {
        area: area.into(),
        title: format!("Findings of edgecheck {area}"),
        cases: vec![case.clone()],
    };
    let path = dir.join(format!("{}.json", file_stem(case)));
    let text = serde_json::to_string_pretty(&file)?;
    write_file(&path, text + "\n")?;
    Ok(path)
}

/// The file name (without extension) of a case's files.
pub fn file_stem(case: &Case) -> String {
    case.id.replace('/', "-")
}

/// Write one file, with the error naming it.
pub fn write_file(path: &Path, text: String) -> Result<(), WriteError> {
    std::fs::write(path, text).map_err(|source| WriteError::Write {
        path: path.to_path_buf(),
        source,
    })
}
