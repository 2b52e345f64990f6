//! `--json PATH`: the results file (schema in `docs/results-schema.md`).

use std::path::Path;

use super::Results;

/// Write results as pretty JSON.
pub fn write(results: &Results, path: &Path) -> Result<(), String> {
    let text = serde_json::to_string_pretty(results)
        .map_err(|e| format!("cannot serialise results: {e}"))?;
    std::fs::write(path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Largest results file read (a full run with every exchange is a few MiB).
pub const MAX_RESULTS_BYTES: u64 = 256 << 20;

/// Read a results file written by `--json`.
pub fn read(path: &Path) -> Result<Results, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    if size > MAX_RESULTS_BYTES {
        return Err(format!(
            "{}: {size} bytes is more than a results file can be ({MAX_RESULTS_BYTES}); is it the \
             file `edgecheck run --json` wrote?",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let r: Results = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not an edgecheck results file: {e}", path.display()))?;
    if r.schema != super::SCHEMA {
        return Err(format!(
            "{}: results schema `{}` is not `{}`; re-run with this edgecheck version",
            path.display(),
            r.schema,
            super::SCHEMA
        ));
    }
    Ok(r)
}
