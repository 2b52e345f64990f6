//! `prop`, `fuzz`, `race` and `selftest`: their options, handed to the profile's generator.

use std::path::PathBuf;
use std::time::Duration;

use super::error::{CliError, EXIT_FAIL, EXIT_INTERNAL, EXIT_OK};
use super::target::TargetArgs;
use crate::client::HttpVersion;
use crate::engine::cores;
use crate::profiles::{
    FuzzOptions, Outcome, Profile, ProfileError, PropOptions, RaceOptions, TargetOptions,
};
use crate::report::generated::{Campaign, Started};

/// Where a generator writes what it found for a CI system.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CampaignOutputs {
    /// Write JUnit XML: one failing testcase per finding (its rule, message and the command
    /// that replays it), one passing testcase when nothing was found, an error when the
    /// campaign could not be judged
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write what the campaign found as JSON (schema `edgecheck-generated/1`,
    /// docs/results-schema.md)
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write a short Markdown summary (outcome, one line per finding with its replay
    /// command) for a pull-request comment or a CI job summary
    #[arg(long, value_name = "PATH")]
    pub summary: Option<PathBuf>,
}

impl CampaignOutputs {
    /// Check the outputs (distinct paths, not directories) before anything runs.
    fn check(&self) -> Result<(), CliError> {
        super::outputs::Outputs::with_summary(
            self.json.clone(),
            self.junit.clone(),
            None,
            self.summary.clone(),
        )
        .map(|_| ())
    }
}

/// A generator's campaign: `run` (the profile's generator), then the outputs written
/// and the exit code. An output that cannot be written makes the code 4, whatever was found.
fn campaign(
    command: &'static str,
    profile: &dyn Profile,
    target: &TargetOptions,
    seed: u64,
    outputs: &CampaignOutputs,
    run: impl FnOnce() -> Result<Outcome, ProfileError>,
) -> Result<i32, CliError> {
    let started = Started::now();
    let result = run();
    if outputs.junit.is_some() || outputs.json.is_some() || outputs.summary.is_some() {
        let described = if target.servers.is_empty() {
            "embedded reference server".to_string()
        } else {
            target.servers.join(" ")
        };
        let campaign = Campaign::new(
            command,
            profile.name(),
            described,
            seed,
            &started,
            result.as_ref().map_err(ToString::to_string),
        );
        let mut failed = Vec::new();
        if let Some(p) = &outputs.junit {
            if let Err(e) = campaign.write_junit(p) {
                failed.push(e.to_string());
            }
        }
        if let Some(p) = &outputs.json {
            if let Err(e) = campaign.write_json(p) {
                failed.push(e.to_string());
            }
        }
        if let Some(p) = &outputs.summary {
            if let Err(e) = campaign.write_summary(p) {
                failed.push(e.to_string());
            }
        }
        if !failed.is_empty() {
            if let Err(e) = &result {
                failed.insert(0, e.to_string());
            }
            return Err(CliError {
                code: EXIT_INTERNAL,
                lines: failed,
            });
        }
    }
    Ok(exit(&result?))
}

/// The HTTP version of `prop` and `fuzz` without `--http`: HTTP/1.1, about 9 % more
/// requests a second than HTTP/2 on one shared connection (docs/BENCHMARKS.md).
const GENERATOR_HTTP: HttpVersion = HttpVersion::Http1;

/// Options of `edgecheck prop`.
#[derive(Debug, Clone, clap::Args)]
pub struct PropArgs {
    /// Target options.
    #[command(flatten)]
    pub target: TargetArgs,
    /// `--junit`, `--json` and `--summary`.
    #[command(flatten)]
    pub outputs: CampaignOutputs,
    /// Seed; the same seed against the same server makes the same requests (up to signatures
    /// and random IDs) and reports the same finding, whatever `--jobs`.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of sequences.
    #[arg(long, default_value_t = 256)]
    pub cases: u32,
    /// Longest sequence.
    #[arg(long, default_value_t = 40)]
    pub max_steps: usize,
    /// Time budget, e.g. `60s`, `1m30s`, `10min` (generation stops then; shrinking finishes).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Where shrunk failures are written as case files.
    #[arg(long, value_name = "DIR", default_value = "edgecheck-findings")]
    pub findings: PathBuf,
    /// Sequences run at once (default: four per core, so that the cores sign while other
    /// sequences wait for answers).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
}

/// A `--duration` that is not one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    /// Not a duration at all.
    #[error("`{input}` is not a duration like 90s, 1m30s, 10min or 1h ({reason})")]
    Syntax {
        /// What was given.
        input: String,
        /// The parser's reason.
        reason: String,
    },
    /// Zero, or longer than the suite accepts.
    #[error("`{0}` must be longer than zero and shorter than 100 days")]
    Range(String),
}

/// Parse a duration: `90` (seconds), `90s`, `1m30s`, `10min`, `1h`, `500ms` (units and
/// spelling of the `humantime` crate).
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let t = s.trim();
    let d = if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        t.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| DurationError::Syntax {
                input: s.into(),
                reason: e.to_string(),
            })?
    } else {
        humantime::parse_duration(t).map_err(|e| DurationError::Syntax {
            input: s.into(),
            reason: e.to_string(),
        })?
    };
    if d.is_zero() || d >= Duration::from_secs(100 * 86_400) {
        return Err(DurationError::Range(s.into()));
    }
    Ok(d)
}

/// Options of `edgecheck fuzz`.
#[derive(Debug, Clone, clap::Args)]
pub struct FuzzArgs {
    /// Target options.
    #[command(flatten)]
    pub target: TargetArgs,
    /// `--junit`, `--json` and `--summary`.
    #[command(flatten)]
    pub outputs: CampaignOutputs,
    /// How long to fuzz, e.g. `90s`, `1m30s`, `10min`, `1h`.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub duration: Duration,
    /// Seed (default: from the clock; printed, so a run can be repeated).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where findings are written as case files.
    #[arg(long, value_name = "DIR", default_value = "edgecheck-findings")]
    pub findings: PathBuf,
    /// Stop after this many requests.
    #[arg(long, value_name = "N")]
    pub max_requests: Option<usize>,
    /// Stop once this many distinct findings are known; no more than this many are written,
    /// however many workers find at once.
    #[arg(long, value_name = "N")]
    pub max_findings: Option<usize>,
    /// Runs of each finding's case for its reproduction rate.
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub repro: usize,
    /// Workers sending at once. edge-v1: four per core by default, so that the cores sign
    /// while other workers wait for answers. tassis-v2 and simplex-v5: one per core by
    /// default, each with an embedded server of its own; against --server always one, so
    /// that a crash is blamed on the input just sent.
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Seconds between checks of the canary connection.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub canary_every: f64,
    /// No progress line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Grow the seed corpora of the cargo-fuzz targets from the scripted cases into this
    /// directory (e.g. `fixtures/corpus`), then exit; no target is fuzzed.
    #[arg(long, value_name = "DIR")]
    pub write_corpus: Option<PathBuf>,
}

/// Options of `edgecheck race`.
#[derive(Debug, Clone, clap::Args)]
pub struct RaceArgs {
    /// Target options.
    #[command(flatten)]
    pub target: TargetArgs,
    /// `--junit`, `--json` and `--summary`.
    #[command(flatten)]
    pub outputs: CampaignOutputs,
    /// Concurrent senders.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub senders: u64,
    /// Concurrent removing retrievers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub retrievers: u64,
    /// Requests per sender and per retriever in each round.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub ops: u64,
    /// Connections the actors share.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub connections: u64,
    /// Rotations, disables and enables per connection in each round.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub rotations: u64,
    /// Largest pageSize a retriever asks for.
    #[arg(long = "retrieve-page", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub retrieve_page: u64,
    /// Rounds to run (each with fresh connections).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub rounds: u64,
    /// Keep running rounds for this long, e.g. `60s`, `1m30s`, `5min`.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Seed of the first round (actors' choices; the interleaving is the network's).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the history of the failing (or last) round to this file, as JSON.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
}

/// Options of `edgecheck selftest`.
#[derive(Debug, Clone, clap::Args)]
pub struct SelftestArgs {
    /// The profile (default: the first of `edgecheck profiles`).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Run every check against every fault (the full matrix) instead of only the checks
    /// linked to each fault's rule.
    #[arg(long)]
    pub full: bool,
    /// Only faults whose name or rule matches one of these globs (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub only: Vec<String>,
    /// Also write the matrix as Markdown to this file (e.g. docs/kill-matrix.md).
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    /// Checks run at once (default: the number of cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Skip the run against the fault-free server.
    #[arg(long)]
    pub no_baseline: bool,
    /// List the faults with their rules and exit.
    #[arg(long)]
    pub list: bool,
    /// Per-request timeout in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
}

fn exit(outcome: &Outcome) -> i32 {
    match outcome {
        Outcome::Clean | Outcome::Warned(_) => EXIT_OK,
        Outcome::Found(_) => EXIT_FAIL,
    }
}

/// `edgecheck prop`.
pub fn prop(args: PropArgs) -> Result<i32, CliError> {
    let profile = args.target.profile()?;
    args.outputs.check()?;
    let target = args.target.options(None, GENERATOR_HTTP)?;
    let opts = PropOptions {
        seed: args.seed,
        cases: args.cases,
        max_steps: args.max_steps,
        duration: args.duration,
        findings: args.findings.clone(),
        jobs: args.jobs.unwrap_or_else(generator_jobs).max(1),
    };
    campaign("prop", profile, &target, args.seed, &args.outputs, || {
        profile.prop(&target, &opts)
    })
}

/// `edgecheck fuzz`.
pub fn fuzz(args: FuzzArgs) -> Result<i32, CliError> {
    let profile = args.target.profile()?;
    args.outputs.check()?;
    let target = args.target.options(None, GENERATOR_HTTP)?;
    if !(args.canary_every > 0.0 && args.canary_every <= 3600.0) {
        return Err(CliError::usage(
            "--canary-every must be between 0 and 3600 seconds",
        ));
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let opts = FuzzOptions {
        seed,
        duration: Some(args.duration),
        max_requests: args.max_requests,
        max_findings: args.max_findings,
        findings: args.findings.clone(),
        jobs: args.jobs.map(|j| j.max(1)),
        repro: args.repro,
        canary_every: Duration::from_secs_f64(args.canary_every),
        progress: !args.quiet,
        write_corpus: args.write_corpus.clone(),
        ..FuzzOptions::default()
    };
    campaign("fuzz", profile, &target, seed, &args.outputs, || {
        profile.fuzz(&target, &opts)
    })
}

/// `edgecheck race`.
pub fn race(args: RaceArgs) -> Result<i32, CliError> {
    let profile = args.target.profile()?;
    args.outputs.check()?;
    let target = args.target.options(None, HttpVersion::Auto)?;
    let opts = RaceOptions {
        senders: args.senders as usize,
        receivers: args.retrievers as usize,
        ops: args.ops as usize,
        connections: args.connections as usize,
        rotations: args.rotations as usize,
        page: args.retrieve_page as usize,
        rounds: args.rounds as usize,
        duration: args.duration,
        seed: args.seed,
        history: args.history.clone(),
    };
    campaign("race", profile, &target, args.seed, &args.outputs, || {
        profile.race(&target, &opts)
    })
}

/// `edgecheck selftest`.
#[cfg(feature = "selftest")]
pub fn selftest(args: SelftestArgs) -> Result<i32, CliError> {
    let profile = super::profile_named(args.profile.as_deref())?;
    if !(args.timeout > 0.0 && args.timeout <= 3600.0) {
        return Err(CliError::usage(
            "--timeout must be between 0 and 3600 seconds",
        ));
    }
    let opts = crate::profiles::SelftestOptions {
        full: args.full,
        only: args.only.clone(),
        markdown: args.markdown.clone(),
        jobs: args.jobs,
        no_baseline: args.no_baseline,
        list: args.list,
        timeout: Duration::from_secs_f64(args.timeout),
    };
    Ok(exit(&profile.selftest(&opts)?))
}

/// `prop` without `--jobs`: four per core. Each sequence waits for an answer before its next
/// request, and with two per core the cores idled; four signed 7 to 10 % more per second
/// against the embedded server, more did not help. (`fuzz` leaves the default to the
/// profile.)
fn generator_jobs() -> usize {
    4 * cores()
}
