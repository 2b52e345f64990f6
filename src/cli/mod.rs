//! Command-line interface: parses arguments, runs a subcommand, returns the exit code.
//!
//! Exit codes: 0 every required check passed; 1 conformance failures (or findings);
//! 2 usage or configuration error (also: no check ran); 3 target unreachable; 4 internal error.

mod run;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::target::TargetArgs;

/// Exit code: every required check passed.
pub const EXIT_OK: i32 = 0;
/// Exit code: the server broke a rule.
pub const EXIT_FAIL: i32 = 1;
/// Exit code: usage or configuration error.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the target cannot be reached.
pub const EXIT_UNREACHABLE: i32 = 3;
/// Exit code: internal error of edgecheck.
pub const EXIT_INTERNAL: i32 = 4;

/// Conformance suite and protocol fuzzer for edge-messaging servers (profile edge-v1).
#[derive(Debug, Parser)]
#[command(name = "edgecheck", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 all required checks passed, 1 conformance failures, \
2 usage or configuration error (or no check ran), 3 target unreachable, 4 internal error."
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
    /// List the requirement catalogue with its coverage by cases.
    Requirements {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the scripted cases.
    Cases {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Generate a fresh fixture key pool (the command that made fixtures/keys/).
    Keygen {
        /// Directory to write the PEM files to.
        #[arg(long, value_name = "DIR", default_value = "fixtures/keys")]
        out: PathBuf,
        /// Number of 2048-bit keys.
        #[arg(long, default_value_t = 1024)]
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
    /// Checks run at once (default: the number of cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Write machine-readable results to this file (docs/results-schema.md).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print every check as it finishes.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Print timing figures: wall time, signatures made, and the single-core RSA-PSS sign time
    /// measured in the same run (the suite should be bound by signing, not by waiting).
    #[arg(long)]
    pub timing: bool,
    /// Generate this many fresh keys instead of using the fixture pool.
    #[arg(long, value_name = "N")]
    pub fresh_keys: Option<usize>,
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
    match command {
        Command::Run(args) => run::run(args, None),
        Command::Replay(args) => run::run(args.run, Some(args.files)),
        Command::Requirements { json } => run::requirements(json),
        Command::Cases { json } => run::cases(json),
        Command::Keygen { out, count } => run::keygen(&out, count),
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
