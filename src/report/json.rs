//! `--json PATH`: the results file (schema in `docs/results-schema.md`).

use std::path::Path;

use super::error::FileError;
use super::Results;

/// Write results as pretty JSON.
pub fn write(results: &Results, path: &Path) -> Result<(), FileError> {
    let text = serde_json::to_string_pretty(results)?;
    std::fs::write(path, text + "\n").map_err(|source| FileError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Largest results file read (a full run with every exchange is a few MiB).
pub const MAX_RESULTS_BYTES: u64 = 256 << 20;

/// Read a results file written by `--json`.
pub fn read(path: &Path) -> Result<Results, FileError> {
    let read_err = |source| FileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_err)?.len();
    if size > MAX_RESULTS_BYTES {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            size,
            max: MAX_RESULTS_BYTES,
            what: "a results file",
        });
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    let r: Results = serde_json::from_str(&text).map_err(|source| FileError::NotResults {
        path: path.to_path_buf(),
        source,
    })?;
    if r.schema != super::SCHEMA {
        return Err(FileError::Schema {
            path: path.to_path_buf(),
            found: r.schema,
            expected: super::SCHEMA,
        });
    }
    Ok(r)
}
