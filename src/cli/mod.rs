//! Command-line interface: parses arguments, runs a subcommand, returns the exit code.
//!
//! Protocol-neutral: every command finds its profile in the registry (`--profile`) and talks
//! to it through [`crate::profiles::Profile`]. Errors reach the edge as [`CliError`], which
//! carries its exit code: 0 every required check passed; 1 conformance failures (or
//! findings); 2 usage or configuration error (also: no check ran); 3 target unreachable;
//! 4 checks ended in error, an output could not be written, or an internal error.

pub mod config;
mod error;
mod generators;
mod outputs;
mod report;
mod run;
pub mod shard;
mod target;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use config::{args_with_config, ConfigError};
pub use error::{CliError, EXIT_FAIL, EXIT_INTERNAL, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE};
pub use generators::{parse_duration, DurationError, FuzzArgs, PropArgs, RaceArgs, SelftestArgs};
pub use outputs::{Outputs, ReportFormat};
pub use target::TargetArgs;

use crate::profiles::{self, Profile};
use crate::report::terminal::ColorChoice;

/// Conformance suite and protocol fuzzer for private messaging servers.
#[derive(Debug, Parser)]
#[command(name = "edgecheck", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 all required checks passed, 1 conformance failures (or a stale \
or expired baseline entry), 2 usage or configuration error (or no check ran), 3 target \
unreachable, 4 checks ended in error (the suite or the network failed, not the server), an output could \
not be written, or an internal error.\n\nCI: edgecheck run --junit junit.xml --report \
report.html --json results.json --summary summary.md [--baseline known.json] [--shard i/n]; \
then edgecheck report --merge shard-*.json --report report.html. Options can come from \
edgecheck.toml (--config-set NAME). Examples in docs/ci/, outputs in docs/reports.md."
)]
pub struct Cli {
    /// What to do (default: run).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a server against every testable rule of the binding.
    Run(RunArgs),
    /// Run case files (scripted or found) against a server.
    Replay(ReplayArgs),
    /// Generate operation sequences from the model, check every response, shrink failures.
    Prop(PropArgs),
    /// Run the suite against the reference server once per injected fault (kill matrix;
    /// needs a build with the `selftest` feature).
    #[cfg(feature = "selftest")]
    Selftest(SelftestArgs),
    /// Mutate correct requests, check every answer and a canary connection; save findings.
    Fuzz(FuzzArgs),
    /// Concurrent senders, retrievers and rotations; check the recorded history.
    Race(RaceArgs),
    /// List the profiles with their rule and case counts and the commands each supports.
    Profiles,
    /// List the requirement catalogue with its coverage by cases.
    Requirements {
        /// The profile (default: the first of `edgecheck profiles`).
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Render saved results again (`--junit`, `--report`, `--json`), or merge the results of
    /// several shards into one; runs nothing. Exits like the run would have.
    Report(ReportArgs),
    /// Write a baseline of expected failures from saved results (to stdout).
    Baseline(BaselineArgs),
    /// List the scripted cases.
    Cases {
        /// The profile (default: the first of `edgecheck profiles`).
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Generate a fresh fixture key pool (the command that made fixtures/keys/).
    Keygen {
        /// The profile (default: the first of `edgecheck profiles`).
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
        /// Directory to write the PEM files to.
        #[arg(long, value_name = "DIR", default_value = "fixtures/keys")]
        out: PathBuf,
        /// Number of 2048-bit keys.
        #[arg(long, default_value_t = 2048)]
        count: usize,
    },
}

/// Options of `edgecheck run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Target options.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Run only checks matching these case IDs, rule IDs, areas or globs (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub only: Vec<String>,
    /// Skip checks matching these case IDs, rule IDs, areas or globs (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub skip: Vec<String>,
    /// Which levels to run.
    #[arg(long, value_enum, default_value_t = LevelArg::All)]
    pub level: LevelArg,
    /// Checks run at once (default: the profile's; four per core for edge-v1, so that
    /// one check's round trip overlaps another's signing, 16 for tassis-v2, 8 for
    /// simplex-v5).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Stop the run when this many requests in a row (across jobs) got no answer at all
    /// (timeouts, failed connects): the checks left are errors and the exit code is 3.
    /// 0 never stops.
    #[arg(long, value_name = "N", default_value_t = crate::engine::DEFAULT_MAX_SILENT)]
    pub max_silent: usize,
    /// Write machine-readable results to this file (docs/results-schema.md).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write JUnit XML to this file: one testcase per check (docs/reports.md).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write the compliance report to this file: Markdown for .md, a self-contained HTML
    /// page for .html.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Write a short Markdown summary for a pull-request comment or a CI job summary: the
    /// verdict, counts by level, one line per failing rule, the reports written (always
    /// under 60,000 characters).
    #[arg(long, value_name = "PATH")]
    pub summary: Option<PathBuf>,
    /// Expected failures: a JSON file of check or rule IDs with reasons and optional expiry
    /// dates. Listed failures do not fail the run; stale or expired entries do.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Run only shard i of n (1-based), a stable split by check ID: n CI jobs with
    /// --shard 1/n … n/n run every check exactly once.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<shard::Shard>,
    /// No progress bar and no line per check: only the summary (and failures) at the end.
    #[arg(long, short = 'q', conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print every check as it finishes (by default only those that did not pass).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Colour verdicts: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Print timing figures: wall time, signatures made, and the single-core RSA-PSS sign time
    /// measured in the same run (the suite should be bound by signing, not by waiting).
    #[arg(long)]
    pub timing: bool,
    /// Generate this many fresh keys instead of using the fixture pool.
    #[arg(long, value_name = "N")]
    pub fresh_keys: Option<usize>,
    /// The configuration file (default: the first edgecheck.toml from the current directory
    /// upward, stopping at a `.git` directory); docs/ci/README.md.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The named option set `[set.NAME]` of the configuration file, applied over `[default]`;
    /// flags given on the command line win.
    #[arg(long, value_name = "NAME", env = "EDGECHECK_CONFIG_SET")]
    pub config_set: Option<String>,
}

/// Options of `edgecheck replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Case files (a case file or a single case).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Everything `run` takes.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Options of `edgecheck report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// A results file written by `edgecheck run --json`.
    #[arg(
        value_name = "RESULTS.json",
        required_unless_present_any = ["merge", "compare"],
        conflicts_with_all = ["merge", "compare"]
    )]
    pub results: Option<PathBuf>,
    /// Merge these results files (the shards of one split) into one result.
    #[arg(long, value_name = "RESULTS.json", num_args = 1.., conflicts_with = "compare")]
    pub merge: Vec<PathBuf>,
    /// Compare the results of several servers (same profile) side by side: one matrix of
    /// rules × servers, written to --report (.md or .html) or printed as Markdown.
    #[arg(
        long,
        value_name = "RESULTS.json",
        num_args = 2..,
        conflicts_with_all = ["baseline", "junit", "json", "summary", "partial"]
    )]
    pub compare: Vec<PathBuf>,
    /// With --merge: accept a split with shards missing.
    #[arg(long, requires = "merge")]
    pub partial: bool,
    /// Apply this baseline of expected failures (see `edgecheck run --baseline`).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write JUnit XML to this file.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write the compliance report to this file (.md or .html).
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Write the (merged) results to this file.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write a short Markdown summary for a pull-request comment (see `run --summary`).
    #[arg(long, value_name = "PATH")]
    pub summary: Option<PathBuf>,
    /// Do not print the summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Colour verdicts: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// Options of `edgecheck baseline`.
#[derive(Debug, Clone, clap::Args)]
pub struct BaselineArgs {
    /// The results file whose failing and warning checks become entries.
    #[arg(long, value_name = "RESULTS.json")]
    pub from: PathBuf,
    /// Expiry date of every entry (YYYY-MM-DD); after it, the entry fails the run.
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,
    /// Reason of every entry (default: the failure, to be replaced by the real reason).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

/// `--level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LevelArg {
    /// MUST checks only.
    Must,
    /// MUST and SHOULD.
    Should,
    /// Everything.
    All,
}

/// Run the command line; returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    let command = cli
        .command
        .unwrap_or_else(|| Command::Run(RunArgs::parse_from_defaults()));
    let outcome = match command {
        Command::Run(args) => run::run(args, None),
        Command::Replay(args) => run::run(args.run, Some(args.files)),
        Command::Prop(args) => generators::prop(args),
        #[cfg(feature = "selftest")]
        Command::Selftest(args) => generators::selftest(args),
        Command::Fuzz(args) => generators::fuzz(args),
        Command::Race(args) => generators::race(args),
        Command::Report(args) => report::report(args),
        Command::Baseline(args) => report::baseline(args),
        Command::Profiles => Ok(run::profiles()),
        Command::Requirements { profile, json } => {
            profile_named(profile.as_deref()).map(|p| run::requirements(p, json))
        }
        Command::Cases { profile, json } => {
            profile_named(profile.as_deref()).and_then(|p| run::cases(p, json))
        }
        Command::Keygen {
            profile,
            out,
            count,
        } => profile_named(profile.as_deref()).and_then(|p| run::keygen(p, &out, count)),
    };
    outcome.unwrap_or_else(|e| e.report())
}

/// The profile with this name, or the default one.
pub fn profile_named(name: Option<&str>) -> Result<&'static dyn Profile, CliError> {
    match name {
        Some(n) => Ok(profiles::find(n)?),
        None => Ok(profiles::default_profile()),
    }
}

impl RunArgs {
    fn parse_from_defaults() -> RunArgs {
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            args: RunArgs,
        }
        Wrap::parse_from(["edgecheck"]).args
    }
}
