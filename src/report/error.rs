//! Errors of the report module: reading and writing results, baselines and JUnit, and merging
//! shards. Each message says what to do next.

use std::path::PathBuf;

/// A file of the report module could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than its kind can be.
    #[error("{}: {size} bytes is more than {what} can be ({max}); is it the right file?", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The largest accepted.
        max: u64,
        /// What it should be (`a results file`, `a baseline`).
        what: &'static str,
    },
    /// The file is not a results file.
    #[error("{}: not an edgecheck results file: {source}", path.display())]
    NotResults {
        /// The file.
        path: PathBuf,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// The results file has another schema version.
    #[error("{}: results schema `{found}` is not `{expected}`; re-run with this edgecheck version", path.display())]
    Schema {
        /// The file.
        path: PathBuf,
        /// Its schema.
        found: String,
        /// This version's.
        expected: &'static str,
    },
    /// Results cannot be serialized.
    #[error("cannot serialise results: {0}")]
    Serialize(#[from] serde_json::Error),
    /// JUnit XML cannot be rendered.
    #[error("cannot render JUnit XML: {0}")]
    Junit(#[from] quick_junit::SerializeError),
}

/// A baseline that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The file cannot be read.
    #[error("cannot read baseline {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is too large to be a baseline.
    #[error(transparent)]
    File(#[from] FileError),
    /// The text is not a baseline.
    #[error(
        "{origin}: not a baseline file: {source}; see docs/reports.md for the format, or write \
         one with `edgecheck baseline --from RESULTS.json`"
    )]
    NotBaseline {
        /// The file.
        origin: String,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// Another baseline schema version.
    #[error("{origin}: baseline schema `{found}` is not `{expected}`")]
    Schema {
        /// The file.
        origin: String,
        /// Its schema.
        found: String,
        /// This version's.
        expected: &'static str,
    },
    /// An entry is malformed.
    #[error("{at}: {problem}")]
    Entry {
        /// `FILE: entry N (`ID`)`.
        at: String,
        /// What is wrong with it and how to fix it.
        problem: String,
    },
    /// The baseline belongs to another profile.
    #[error(
        "the baseline is for profile `{baseline}`, the results are of profile `{results}`; give \
         the baseline of this profile"
    )]
    Profile {
        /// The baseline's profile.
        baseline: String,
        /// The run's.
        results: String,
    },
    /// Entries name IDs that do not exist.
    #[error(
        "baseline lists unknown IDs: {}; see `edgecheck cases` and `edgecheck requirements` for \
         the IDs, and remove or correct these entries",
        ids.join(", ")
    )]
    UnknownIds {
        /// The unknown IDs.
        ids: Vec<String>,
    },
}

/// Results that cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// No results were given.
    #[error("nothing to merge: give the results files of every shard")]
    Empty,
    /// The runs are of different profiles.
    #[error(
        "{source_file}: profile `{found}` differs from `{expected}`; merge runs of one profile"
    )]
    Profile {
        /// The results file.
        source_file: String,
        /// Its profile.
        found: String,
        /// The first run's.
        expected: String,
    },
    /// A shard is given twice.
    #[error("{source_file}: shard {i}/{n} is given twice; pass each shard's results once")]
    ShardTwice {
        /// The results file.
        source_file: String,
        /// The shard.
        i: usize,
        /// Of how many.
        n: usize,
    },
    /// Two runs ran the same check.
    #[error(
        "check `{check}` is in both {first} and {second}: the runs overlap; merge the shards of \
         one split (same --shard n), each once"
    )]
    Overlap {
        /// The check.
        check: String,
        /// One run.
        first: String,
        /// The other.
        second: String,
    },
    /// The shards come from splits of different sizes.
    #[error(
        "the runs come from splits of different sizes ({sizes}); merge the shards of one split"
    )]
    SplitSizes {
        /// `n = 2, n = 3`.
        sizes: String,
    },
    /// Shards are missing.
    #[error(
        "shard(s) {missing} missing: give every shard's results, or pass --partial to merge what \
         there is"
    )]
    Missing {
        /// `2/4, 3/4`.
        missing: String,
    },
}
