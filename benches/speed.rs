//! The suite's speed goals in one run: `edgecheck run`, `prop` and `fuzz` against the
//! embedded server, each set against the cryptography it needs (docs/BENCHMARKS.md).
//!
//! ```text
//! cargo bench --bench speed                        # 3 runs, 20 s of prop and of fuzz
//! cargo bench --bench speed -- --seconds 30 --runs 5
//! cargo bench --bench speed -- --http 1.1          # run over HTTP/1.1 too
//! ```
//!
//! - One core's RSA-PSS-2048 signing rate is measured here with the suite's own signer and a
//!   fixture key, before and after the commands; the ratios use the mean of the two.
//! - `run --timing` prints its wall time against its crypto bound (signatures plus per-key
//!   set-up on the cores in use); the median over `--runs` is taken.
//! - `prop` and `fuzz` print their signatures per second; each is divided by the one-core
//!   rate.
//! - The fuzzers of tassis-v2 and simplex-v5 (no goal): frames or hostile inputs per second,
//!   and how busy they keep the cores.
//! - Where the CPU goes: every command's CPU time (its own process, embedded server and
//!   kernel time included, from `getrusage`) is split into cryptography and the rest, and set
//!   against what the goal leaves for the rest. The rate of all cores signing at once (each
//!   core with its own key) bounds every ratio from above.
//!
//! Every command is the release binary itself (`CARGO_BIN_EXE_edgecheck`), started as a
//! child process with its own embedded server, as a user would start it.

use std::process::Command;
use std::time::Instant;

use clap::Parser;
use edgecheck::profiles::edge_v1::sign::KeyPool;

mod support;

/// The goals of docs/BENCHMARKS.md.
const RUN_GOAL: f64 = 1.3;
const PROP_GOAL: f64 = 1.5;
const FUZZ_GOAL: f64 = 1.5;

/// Runs the suite's commands and prints their speed against their cryptographic bounds.
#[derive(Debug, Parser)]
struct Args {
    /// Seconds of `prop` and of `fuzz`.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Runs of `edgecheck run --timing` (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// `--jobs` for all three commands (default: each command's own default).
    #[arg(long)]
    jobs: Option<usize>,
    /// `--http` for all three commands (default: each command's own, `auto` for run and
    /// `1.1` for prop and fuzz).
    #[arg(long, value_name = "VERSION")]
    http: Option<String>,
    /// Ignored: `cargo bench` passes it.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let args = Args::parse();
    let bin = env!("CARGO_BIN_EXE_edgecheck");
    println!(
        "edgecheck speed: {} CPUs, 1-minute load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    let pool = KeyPool::builtin().expect("the built-in key pool loads");
    let before = support::signing_rate_on(&pool, 1);
    println!("one core signs {before:.0} RSA-PSS-2048 signatures/s (before)");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let together = support::signing_rate_on(&pool, cores);
    println!(
        "{cores} cores sign {together:.0} signatures/s together ({:.2} × one core: the most any ratio below can reach)",
        together / before
    );

    let mut extra: Vec<String> = args
        .jobs
        .map(|j| vec!["--jobs".into(), j.to_string()])
        .unwrap_or_default();
    if let Some(h) = &args.http {
        extra.extend(["--http".into(), h.clone()]);
    }
    let mut runs = Vec::new();
    for i in 1..=args.runs.max(1) {
        let run = edgecheck(
            bin,
            &[&["run", "--timing", "-q"], &strs(&extra)[..]].concat(),
        );
        let out = &run.text;
        let bound = number_after(out, "wall / bound = ");
        let crypto = number_after(out, "wall / crypto bound = ");
        for line in out.lines().filter(|l| l.starts_with("timing:")) {
            println!("  run {i}: {line}");
        }
        let crypto_cpu =
            number_after(out, "crypto bound with key set-up ") * number_after(out, " s on ");
        println!("  run {i}: cpu: {}", run_split(&run, crypto_cpu, cores));
        runs.push((crypto, bound));
    }
    let secs = format!("{}s", args.seconds);
    let prop = edgecheck(
        bin,
        &[
            &[
                "prop",
                "--seed",
                "1",
                "--cases",
                "1000000",
                "--duration",
                &secs,
            ][..],
            &strs(&extra)[..],
        ]
        .concat(),
    );
    let prop_rate = number_before(&prop.text, " signatures/s");
    println!("  prop: {}", first_line_with(&prop.text, "signatures/s"));
    let prop_signatures = number_before(&prop.text, " signatures in ");
    let fuzz = edgecheck(
        bin,
        &[
            &["fuzz", "--seed", "1", "--duration", &secs][..],
            &strs(&extra)[..],
        ]
        .concat(),
    );
    let fuzz_rate = number_before(&fuzz.text, " signatures/s");
    println!("  fuzz: {}", first_line_with(&fuzz.text, "signatures/s"));
    let fuzz_signatures = fuzz_rate * number_after(&fuzz.text, " requests in ");

    // The WebSocket profiles' fuzzers: no goal, their rate and how busy they keep the cores.
    type Rate = fn(&str) -> f64;
    let others: Vec<(&str, &str, f64, f64)> = [
        (
            "tassis-v2",
            "frames",
            (|l| number_before(l, " frames/s")) as Rate,
        ),
        ("simplex-v5", "hostile inputs", |l| {
            number_after(l, " WebSocket, ")
        }),
    ]
    .into_iter()
    .map(|(profile, what, rate_of)| {
        let ran = edgecheck(
            bin,
            &[
                "fuzz",
                "--profile",
                profile,
                "--seed",
                "1",
                "--duration",
                &secs,
                "-q",
            ],
        );
        let line = first_line_with(&ran.text, "worker(s)");
        let rate = rate_of(line);
        let busy = ran.cpu / (ran.wall * cores as f64) * 100.0;
        println!(
            "  {profile} fuzz: {line}; cpu: {:.1} CPU-s ({busy:.0} % of {cores} cores busy)",
            ran.cpu
        );
        (profile, what, rate, busy)
    })
    .collect();

    let after = support::signing_rate_on(&pool, 1);
    println!("one core signs {after:.0} RSA-PSS-2048 signatures/s (after)");
    let core = (before + after) / 2.0;
    let budget = Budget {
        core,
        together,
        cores,
    };
    println!(
        "  prop: cpu: {}",
        budget.split(&prop, prop_signatures, PROP_GOAL)
    );
    println!(
        "  fuzz: cpu: {}",
        budget.split(&fuzz, fuzz_signatures, FUZZ_GOAL)
    );

    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (run_crypto, run_bound) = runs[runs.len() / 2];
    let prop_ratio = prop_rate / core;
    let fuzz_ratio = fuzz_rate / core;
    println!();
    println!("| measure | value | goal | met |");
    println!("|---|---:|---:|---|");
    println!(
        "| run: wall / crypto bound (median of {}) | {run_crypto:.2} | ≤ {RUN_GOAL} | {} |",
        runs.len(),
        met(run_crypto <= RUN_GOAL)
    );
    println!("| run: wall / signing bound (same run) | {run_bound:.2} | | |");
    println!(
        "| prop: signatures/s ÷ one core ({prop_rate:.0} ÷ {core:.0}) | {prop_ratio:.2} | ≥ {PROP_GOAL} | {} |",
        met(prop_ratio >= PROP_GOAL)
    );
    println!(
        "| fuzz: signatures/s ÷ one core ({fuzz_rate:.0} ÷ {core:.0}) | {fuzz_ratio:.2} | ≥ {FUZZ_GOAL} | {} |",
        met(fuzz_ratio >= FUZZ_GOAL)
    );
    for (profile, what, rate, busy) in &others {
        println!("| {profile} fuzz: {what}/s ({busy:.0} % of the cores busy) | {rate:.0} | | |");
    }
    println!("load average after: {}", load_average());
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn met(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "no"
    }
}

/// What one command printed, and what it cost.
struct Ran {
    /// Its stdout and stderr.
    text: String,
    /// Its wall time in seconds, from start to exit.
    wall: f64,
    /// Its CPU time in seconds, user and system, of every thread of the process (the
    /// embedded server's included).
    cpu: f64,
}

/// Runs `edgecheck args`, returning its output and its cost; exits on a failed command.
fn edgecheck(bin: &str, args: &[&str]) -> Ran {
    let cpu_before = support::cpu_seconds(libc::RUSAGE_CHILDREN);
    let start = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let wall = start.elapsed().as_secs_f64();
    let cpu = support::cpu_seconds(libc::RUSAGE_CHILDREN) - cpu_before;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "`edgecheck {}` exited with {}; a speed figure of a failing run means nothing:\n{text}",
        args.join(" "),
        out.status
    );
    Ran { text, wall, cpu }
}

/// `run`'s whole process against its cryptography: how busy the cores were, and which share
/// of that was cryptography (wall / crypto bound = 1 / (busy × share)).
fn run_split(run: &Ran, crypto_cpu: f64, cores: usize) -> String {
    let busy = run.cpu / (run.wall * cores as f64);
    let share = crypto_cpu / run.cpu;
    format!(
        "whole process {:.2} s wall, {:.2} CPU-s ({:.0} % of {cores} cores busy), of which \
         cryptography {crypto_cpu:.2} s ({:.0} %) and the rest {:.2} s; ≤ {RUN_GOAL} needs \
         busy × cryptography ≥ {:.0} % (here {:.0} %)",
        run.wall,
        run.cpu,
        busy * 100.0,
        share * 100.0,
        run.cpu - crypto_cpu,
        100.0 / RUN_GOAL,
        busy * share * 100.0
    )
}

/// The signing rates a ratio of `prop` or `fuzz` is set against.
struct Budget {
    /// One core's signatures per second.
    core: f64,
    /// All cores' signatures per second, each core signing with its own key.
    together: f64,
    /// The cores.
    cores: usize,
}

impl Budget {
    /// The CPU time of one signed request of `ran`: the signature itself (at the rate of all
    /// cores signing), the rest, and the rest that a ratio of `goal` would leave.
    fn split(&self, ran: &Ran, signatures: f64, goal: f64) -> String {
        let per = ran.cpu / signatures * 1e6;
        let sign = self.cores as f64 / self.together * 1e6;
        let allowed = self.cores as f64 / (goal * self.core) * 1e6 - sign;
        format!(
            "{:.1} CPU-s ({:.0} % of {} cores busy) for {signatures:.0} signatures: {per:.0} µs \
             each, the signature {sign:.0} µs and the rest {:.0} µs (suite, embedded server and \
             kernel); {goal} × one core leaves {allowed:.0} µs for the rest",
            ran.cpu,
            ran.cpu / (ran.wall * self.cores as f64) * 100.0,
            self.cores,
            per - sign
        )
    }
}

/// The number right after the first `marker` in `text`.
fn number_after(text: &str, marker: &str) -> f64 {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in the output:\n{text}"));
    leading_number(&text[at + marker.len()..])
}

/// The number right before the first `marker` in `text`.
fn number_before(text: &str, marker: &str) -> f64 {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in the output:\n{text}"));
    let head = &text[..at];
    let start = head
        .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(0, |i| i + 1);
    leading_number(&head[start..])
}

fn leading_number(s: &str) -> f64 {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    s[..end]
        .parse()
        .unwrap_or_else(|_| panic!("not a number: `{}`", &s[..end]))
}

fn first_line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines().find(|l| l.contains(needle)).unwrap_or("")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}
