//! The profiles: one per protocol the suite checks, and the registry that lists them.
//!
//! A profile is its catalogue and binding, its checks, the code that runs them against an
//! opened target, its embedded reference server, and, where it has them, its generators
//! (`prop`, `fuzz`, `race`). The engine, the reporters and the command line know profiles
//! only through [`Profile`]; adding one is a new module and one line in [`all`]
//! (`docs/architecture.md`, "How to add a profile").

pub mod campaign;
pub mod case_files;
pub mod common;
pub mod edge_v1;
pub mod ending;
pub mod fuzzkit;
pub mod generated;
pub mod guard;
pub mod http_limits;
mod options;
pub mod sequence;
pub mod simplex_v5;
pub mod tassis_v2;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use options::{
    FuzzOptions, PropOptions, RaceOptions, SelftestOptions, TargetOptions, DEFAULT_MAX_BODY,
    DEFAULT_TIMEOUT,
};

use crate::catalogue::requirements::Requirements;
use crate::engine::{BoxFuture, CheckInfo, CheckResult, Session};

/// The subcommands a profile may or may not support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capability {
    /// `run` and `replay`: scripted checks.
    Run,
    /// `prop`: generated sequences checked against a model.
    Prop,
    /// `fuzz`: hostile inputs over the network.
    Fuzz,
    /// `race`: concurrent histories.
    Race,
    /// `selftest`: the kill matrix of the reference server's faults.
    Selftest,
    /// `keygen`: the fixture key pool.
    Keygen,
}

impl Capability {
    /// The subcommand's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Run => "run",
            Capability::Prop => "prop",
            Capability::Fuzz => "fuzz",
            Capability::Race => "race",
            Capability::Selftest => "selftest",
            Capability::Keygen => "keygen",
        }
    }
}

/// Why a profile could not do what it was asked; each kind has its exit code.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The options or input files are wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The target cannot be reached or trusted (exit 3).
    #[error("{0}")]
    Unreachable(String),
    /// A defect of edgecheck itself (exit 4).
    #[error("{0}")]
    Internal(String),
}

/// How a command that completed went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing found (exit 0).
    Clean,
    /// Findings of SHOULD or MAY rules only (exit 0): warnings, as `warn` is in `run`.
    Warned(Vec<Finding>),
    /// Findings, violations or failures (exit 1): what `prop`, `fuzz` and `race` found, for
    /// their `--junit` and `--json` outputs, warnings included (`selftest` lists none here:
    /// its report is its own).
    Found(Vec<Finding>),
}

impl Outcome {
    /// The outcome of a campaign that found `findings`: clean when there are none, warned
    /// when none of them is at MUST level.
    pub fn of(findings: Vec<Finding>) -> Outcome {
        if findings.is_empty() {
            Outcome::Clean
        } else if findings.iter().any(Finding::fails) {
            Outcome::Found(findings)
        } else {
            Outcome::Warned(findings)
        }
    }

    /// `clean`, `warned` or `found`, as the outputs name it.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Clean => "clean",
            Outcome::Warned(_) => "warned",
            Outcome::Found(_) => "found",
        }
    }

    /// What was found, warnings included.
    pub fn findings(&self) -> &[Finding] {
        match self {
            Outcome::Clean => &[],
            Outcome::Warned(f) | Outcome::Found(f) => f,
        }
    }
}

/// How the terminal heads a finding at `level`: `FINDING` for MUST, else `WARNING`.
pub fn heading(level: crate::engine::plan::Level) -> &'static str {
    if level == crate::engine::plan::Level::Must {
        "FINDING"
    } else {
        "WARNING"
    }
}

/// Something `prop`, `fuzz` or `race` found, as its outputs name it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The rule it shows broken.
    pub rule: String,
    /// The level of what was expected: MUST fails the campaign; SHOULD and MAY make a
    /// warning.
    pub level: crate::engine::plan::Level,
    /// What happened.
    pub message: String,
    /// The case file that replays it (`edgecheck replay`), or the history file that shows
    /// it (`race --history`), when one was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<std::path::PathBuf>,
    /// `file` is a case file `edgecheck replay` runs (not a history).
    #[serde(skip)]
    pub replayable: bool,
}

impl Finding {
    /// A finding of `rule`, at MUST level, without a case file.
    pub fn new(rule: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            rule: rule.into(),
            level: crate::engine::plan::Level::Must,
            message: message.into(),
            file: None,
            replayable: false,
        }
    }

    /// The same, at `level`.
    pub fn at_level(mut self, level: crate::engine::plan::Level) -> Finding {
        self.level = level;
        self
    }

    /// Whether it fails the campaign (a MUST finding) rather than warn.
    pub fn fails(&self) -> bool {
        self.level == crate::engine::plan::Level::Must
    }

    /// The same, replayed by the case file at `path`.
    pub fn with_file(mut self, path: Option<&std::path::Path>) -> Finding {
        self.file = path.map(std::path::Path::to_path_buf);
        self.replayable = true;
        self
    }

    /// The same, shown by the history file at `path` (`race --history`).
    pub fn with_history(mut self, path: Option<&std::path::Path>) -> Finding {
        self.file = path.map(std::path::Path::to_path_buf);
        self.replayable = false;
        self
    }
}

/// One protocol the suite checks.
pub trait Profile: Send + Sync {
    /// The name given to `--profile` and written into results (`edge-v1`).
    fn name(&self) -> &'static str;
    /// One line: what the protocol is.
    fn summary(&self) -> &'static str;
    /// The rule catalogue.
    fn catalogue(&self) -> &Requirements;
    /// The binding's text (markdown) the catalogue is checked against.
    fn binding(&self) -> &'static str;
    /// The commands this profile supports.
    fn capabilities(&self) -> &'static [Capability];
    /// Testable rules that no scripted check covers because the project checks them another
    /// way: `(rule ID, the test file that does)`.
    fn checked_elsewhere(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// Checks run at once when `--jobs` is not given: by default twice the cores; a profile
    /// whose checks wait for answers between signatures, replies or pushes sets more.
    fn default_jobs(&self) -> usize {
        2 * crate::engine::cores()
    }
    /// The scripted checks: the built-in cases, or the case files given to `replay`.
    fn suite(&self, files: Option<&[PathBuf]>) -> Result<Box<dyn Suite>, ProfileError>;
    /// `prop`: generated sequences against the target.
    fn prop(&self, _target: &TargetOptions, _opts: &PropOptions) -> Result<Outcome, ProfileError> {
        Err(unsupported(self.name(), Capability::Prop))
    }
    /// `fuzz`: hostile inputs against the target.
    fn fuzz(&self, _target: &TargetOptions, _opts: &FuzzOptions) -> Result<Outcome, ProfileError> {
        Err(unsupported(self.name(), Capability::Fuzz))
    }
    /// `race`: concurrent histories against the target.
    fn race(&self, _target: &TargetOptions, _opts: &RaceOptions) -> Result<Outcome, ProfileError> {
        Err(unsupported(self.name(), Capability::Race))
    }
    /// `selftest`: the kill matrix (builds with the `selftest` feature only).
    fn selftest(&self, _opts: &SelftestOptions) -> Result<Outcome, ProfileError> {
        Err(unsupported(self.name(), Capability::Selftest))
    }
    /// `keygen`: write a fresh fixture key pool of `count` keys into `out`.
    fn keygen(&self, _out: &std::path::Path, _count: usize) -> Result<Vec<PathBuf>, ProfileError> {
        Err(unsupported(self.name(), Capability::Keygen))
    }
}

/// The error for a command a profile does not have (exit 2).
pub fn unsupported(profile: &str, what: Capability) -> ProfileError {
    ProfileError::Usage(format!(
        "profile {profile} does not support `{}`; `edgecheck profiles` lists what each profile supports",
        what.as_str()
    ))
}

/// A profile's scripted checks, loaded and validated, ready to run against a target.
pub trait Suite: Send + Sync {
    /// Every check, in catalogue order (`CheckInfo::index` is the position here).
    fn checks(&self) -> &[CheckInfo];
    /// The checks as the profile's case files (`edgecheck cases --json`).
    fn cases_json(&self) -> serde_json::Value;
    /// Open the target (start the embedded server, or check `--server`) for these checks.
    fn open<'a>(
        &'a self,
        target: &'a TargetOptions,
    ) -> BoxFuture<'a, Result<Box<dyn OpenTarget>, ProfileError>>;
}

/// An opened target: runs checks, describes itself, and is closed at the end.
pub trait OpenTarget: Send + Sync {
    /// What runs the checks (shared by the engine's tasks).
    fn session(&self) -> Arc<dyn Session>;
    /// One line for reports: the URLs, and whether it is the embedded server.
    fn describe(&self) -> String;
    /// Profile-specific options of the run, recorded in the results (e.g. `pageSize`).
    fn options(&self) -> BTreeMap<String, serde_json::Value>;
    /// A line of counts after a run (requests, signatures, ...).
    fn stats(&self, results: &[CheckResult]) -> String;
    /// Lines of `--timing`: wall time against the run's own cryptographic work.
    fn timing(&self, wall: Duration, results: &[CheckResult], jobs: usize) -> Vec<String>;
    /// Stop the embedded server, if any.
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Every registered profile; the first is the default.
pub fn all() -> &'static [&'static dyn Profile] {
    static ALL: [&dyn Profile; 3] = [
        &edge_v1::EdgeV1,
        &tassis_v2::TassisV2,
        &simplex_v5::SimplexV5,
    ];
    &ALL
}

/// The default profile (`edgecheck run` without `--profile`).
pub fn default_profile() -> &'static dyn Profile {
    all()[0]
}

/// The profile with this name.
pub fn find(name: &str) -> Result<&'static dyn Profile, ProfileError> {
    all()
        .iter()
        .copied()
        .find(|p| p.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = all().iter().map(|p| p.name()).collect();
            ProfileError::Usage(format!(
                "unknown profile `{name}`; the profiles are: {}",
                names.join(", ")
            ))
        })
}
