//! The terminal: a live progress bar on a TTY (plain lines otherwise), then a summary by level
//! and, for each failure, the rule, the quoted requirement, expected versus actual and a `curl`
//! command reproducing the request.
//!
//! Every line passes through [`escape::controls`]: text from the server (messages, values,
//! `curl` arguments) never writes a control, escape or bidirectional character to the
//! terminal, and no line is longer than [`escape::LINE_MAX`].

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use super::escape::{self, Breaks};
use super::reproduce::{Base, BodyFiles};
use super::{CheckRecord, Results};
use crate::catalogue::requirements::Requirements;
use crate::engine::{Event, Verdict};

/// `--color`: when verdicts are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set (to anything but the empty string).
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// Whether to colour a stream that is (or is not) a terminal.
    pub fn enabled(self, is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// How much the terminal shows while checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// No per-check lines (`--quiet`).
    Quiet,
    /// Checks that did not pass (the default).
    Problems,
    /// Every check (`--verbose`).
    Every,
}

/// The SGR colour of a verdict word (our own escape codes, never server text).
fn paint(verdict: &str) -> Option<&'static str> {
    match verdict.to_ascii_lowercase().as_str() {
        "pass" => Some("32"),
        "fail" => Some("31;1"),
        "warn" => Some("33"),
        "error" => Some("35"),
        "skip" | "waived" | "blocked" => Some("36"),
        _ => None,
    }
}

/// `line` with its first word (a verdict) coloured, when `color` is on.
fn colour_lead(line: &str, color: bool) -> String {
    let word = line.split_whitespace().next().unwrap_or_default();
    match (color, paint(word)) {
        (true, Some(code)) if line.starts_with(word) => {
            format!("\x1b[{code}m{word}\x1b[0m{}", &line[word.len()..])
        }
        _ => line.to_string(),
    }
}

/// Live progress while checks run.
pub struct Progress {
    bar: Option<ProgressBar>,
    detail: Detail,
    color: bool,
}

impl Progress {
    /// A progress display: a bar when stderr is a terminal and the detail is not quiet; lines
    /// for the checks `detail` asks for, verdicts coloured when `color` allows.
    pub fn new(detail: Detail, color: ColorChoice) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let bar = (detail != Detail::Quiet && tty).then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            b
        });
        Progress {
            bar,
            detail,
            color: color.enabled(tty),
        }
    }

    /// Show one event.
    pub fn on(&self, ev: &Event) {
        match ev {
            Event::Started { total } => {
                if let Some(b) = &self.bar {
                    b.set_length(*total as u64);
                }
            }
            Event::Finished(r) => {
                let line = format!("{:<6} {}", r.verdict.as_str(), r.id);
                let line = escape::controls(&line, Breaks::Escape).into_owned();
                let show = match self.detail {
                    Detail::Quiet => false,
                    Detail::Problems => !matches!(r.verdict, Verdict::Pass | Verdict::Skip),
                    Detail::Every => true,
                };
                let line = colour_lead(&line, self.color);
                match &self.bar {
                    Some(b) => {
                        b.inc(1);
                        b.set_message(r.id.clone());
                        if show {
                            b.println(line);
                        }
                    }
                    None if show => eprintln!("{line}"),
                    None => {}
                }
            }
        }
    }

    /// Remove the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Render the summary and the failures, long `curl` bodies described (no report file).
pub fn render(results: &Results, catalogue: &Requirements) -> String {
    render_with(results, catalogue, &BodyFiles::none())
}

/// Render the summary and the failures, long `curl` bodies pointing at `bodies`.
pub fn render_with(results: &Results, catalogue: &Requirements, bodies: &BodyFiles) -> String {
    let mut out = String::new();
    let w = &mut out;
    let s = &results.summary;
    push(
        w,
        format!(
            "edgecheck {} · profile {} · {}",
            results.edgecheck, results.profile, results.target
        ),
    );
    if let Some(shard) = &results.shard {
        push(
            w,
            format!("shard {shard}: this run covers its share of the checks"),
        );
    }
    if !results.merged.is_empty() {
        push(w, format!("merged from {} runs", results.merged.len()));
    }
    push(w, String::new());
    for level in ["MUST", "SHOULD", "MAY"] {
        let of: Vec<&CheckRecord> = results.checks.iter().filter(|c| c.level == level).collect();
        if of.is_empty() {
            continue;
        }
        let sum = super::Summary::of(of.iter().map(|c| c.verdict.as_str()));
        push(
            w,
            format!(
                "{level:<7} {:>4} checks: {} pass, {} fail, {} warn, {} skip, {} waived, {} error",
                sum.total, sum.pass, sum.fail, sum.warn, sum.skip, sum.waived, sum.error
            ),
        );
    }
    let bad: Vec<&CheckRecord> = results
        .checks
        .iter()
        .filter(|c| super::needs_attention(&c.verdict))
        .collect();
    for c in &bad {
        push(w, String::new());
        let known = match &c.baseline {
            Some(b) => format!(" (expected: baseline entry `{b}`)"),
            None => String::new(),
        };
        push(
            w,
            format!("{}{known} {} — {}", c.verdict.to_uppercase(), c.id, c.title),
        );
        push(w, format!("  rules:    {}", c.requirements.join(", ")));
        if let Some(f) = &c.failure {
            if !f.rule.is_empty() {
                push(w, format!("  broken:   {} (step {})", f.rule, f.step));
                if let Some(text) = super::view::quoted(catalogue, &f.rule) {
                    push(w, format!("  requires: \"{}\"", one_line(&text, 300)));
                }
            }
            if !f.expected.is_empty() {
                push(w, format!("  expected: {}", one_line(&f.expected, 300)));
            }
            push(w, format!("  actual:   {}", one_line(&f.actual, 300)));
        } else if !c.message.is_empty() {
            push(w, format!("  {}", c.message));
        }
        if let Some(ex) = c.exchanges.last() {
            push(w, "  reproduce:".into());
            let curl = bodies.curl(&c.id, c.exchanges.len() - 1, ex, Base::WorkingDir);
            for line in curl.lines() {
                push(w, format!("    {line}"));
            }
        }
    }
    // Timing checks that did not warn: their largest difference (the others say it above).
    for c in results
        .checks
        .iter()
        .filter(|c| !super::needs_attention(&c.verdict))
    {
        for t in c.timings() {
            push(w, format!("timing {}: {}", c.id, super::timing::line(t)));
        }
    }
    for c in results
        .checks
        .iter()
        .filter(|c| matches!(c.verdict.as_str(), "skip" | "waived"))
    {
        push(
            w,
            format!("{} {}: {}", c.verdict.to_uppercase(), c.id, c.message),
        );
    }
    if let Some(b) = &results.baseline {
        push(w, String::new());
        push(
            w,
            format!(
                "baseline {} ({} entries, judged on {}):",
                b.file,
                b.entries.len(),
                b.date
            ),
        );
        for line in b.entry_lines() {
            push(w, format!("  {line}"));
        }
    }
    push(w, String::new());
    push(
        w,
        format!(
            "{} checks: {} passed, {} failed, {} warned, {} skipped, {} waived, {} errors in {:.1} s",
            s.total,
            s.pass,
            s.fail,
            s.warn,
            s.skip,
            s.waived,
            s.error,
            results.duration_ms as f64 / 1000.0
        ),
    );
    let gate = super::gate::evaluate(results);
    for line in &gate.lines {
        push(w, format!("gate: {line}"));
    }
    out
}

fn one_line(s: &str, max: usize) -> String {
    let t: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() > max {
        format!("{}…", t.chars().take(max).collect::<String>())
    } else {
        t
    }
}

/// Add one line, its unsafe characters escaped and its length capped.
fn push(w: &mut String, line: String) {
    let line = escape::controls(&line, Breaks::Escape);
    w.push_str(&escape::cap(&line, escape::LINE_MAX - 32));
    w.push('\n');
}

/// Print the rendering to stdout, long `curl` bodies pointing at `bodies`, verdict words at
/// the start of lines coloured when `color` allows.
pub fn print(results: &Results, catalogue: &Requirements, bodies: &BodyFiles, color: ColorChoice) {
    let color = color.enabled(std::io::stdout().is_terminal());
    let text = render_with(results, catalogue, bodies);
    let mut o = std::io::stdout().lock();
    for line in text.lines() {
        let _ = writeln!(o, "{}", colour_lead(line, color));
    }
}
