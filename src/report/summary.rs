//! `--summary PATH`: a short Markdown summary of a run for a pull-request comment or a CI job
//! summary (`$GITHUB_STEP_SUMMARY`): the overall verdict, check counts by level, one line per
//! failing rule (rule, level, verdict, the check that saw it, what came back) and the names of
//! the full reports written by the same run.
//!
//! The summary is always shorter than [`MAX_SUMMARY_BYTES`] (GitHub refuses longer comments):
//! when the failing rules do not fit, the list ends with "…and N more". Server text passes
//! through the same escaping as the Markdown report ([`super::markdown`]).

use super::gate::{self, Outcome};
use super::markdown::cell;
use super::{escape, needs_attention, CheckRecord, RequirementRecord, Results, Summary};

/// Upper bound of a summary's length, in bytes (so in characters too). GitHub accepts
/// comments of up to 65,536 characters; the margin leaves room for a bot's own text.
pub const MAX_SUMMARY_BYTES: usize = 60_000;

/// Server text (an actual value, a message) is cut at this many bytes before escaping.
const ACTUAL_MAX: usize = 160;

/// Gate lines and file names are cut at this many bytes before escaping.
const LINE_TEXT_MAX: usize = 300;

/// At most this many gate lines are shown; the rest are counted.
const GATE_LINES: usize = 10;

/// A full report written by the same run, named in the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenReport {
    /// What it is (`HTML report`, `JUnit XML`, `results (JSON)`).
    pub kind: String,
    /// Its path or URL, as given on the command line.
    pub name: String,
}

/// One failing rule as the summary lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct FailingRule<'a> {
    /// Rule ID.
    pub rule: &'a str,
    /// MUST / SHOULD / MAY.
    pub level: &'a str,
    /// `fail`, `warn` or `error`.
    pub verdict: &'a str,
    /// The check that saw it (the first of its checks with the rule's verdict).
    pub check: Option<&'a CheckRecord>,
    /// How many other checks of the rule have the same verdict.
    pub others: usize,
    /// Whether every such check is a listed expected failure (baseline).
    pub expected: bool,
}

/// The rules of `results` that fail, warn or ended in error: fails first, then warnings,
/// then errors, each group in catalogue order.
pub fn failing_rules(results: &Results) -> Vec<FailingRule<'_>> {
    let mut rows: Vec<FailingRule> = results
        .requirements
        .iter()
        .filter(|r| needs_attention(&r.verdict))
        .map(|r| failing_rule(results, r))
        .collect();
    let order = |v: &str| match v {
        "fail" => 0,
        "warn" => 1,
        _ => 2,
    };
    rows.sort_by_key(|r| order(r.verdict));
    rows
}

fn failing_rule<'a>(results: &'a Results, r: &'a RequirementRecord) -> FailingRule<'a> {
    let same: Vec<&CheckRecord> = r
        .checks
        .iter()
        .filter_map(|id| results.check(id))
        .filter(|c| c.verdict == r.verdict)
        .collect();
    // Prefer a check whose failure names this very rule.
    let check = same
        .iter()
        .find(|c| c.failure.as_ref().is_some_and(|f| f.rule == r.id))
        .or_else(|| same.first())
        .copied();
    FailingRule {
        rule: &r.id,
        level: &r.level,
        verdict: &r.verdict,
        check,
        others: same.len().saturating_sub(1),
        expected: !same.is_empty() && same.iter().all(|c| c.baseline.is_some()),
    }
}

/// `s` as inline code when it is made of plain ID characters, else as escaped cell text.
fn code(s: &str) -> String {
    let plain = !s.is_empty()
        && s.len() <= LINE_TEXT_MAX
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:*+@=,".contains(c));
    if plain {
        format!("`{s}`")
    } else {
        cell(&escape::cap(s, LINE_TEXT_MAX))
    }
}

/// One line of what a check saw: its failure's actual value, or its message.
fn actual_of(c: &CheckRecord) -> String {
    let text = match &c.failure {
        Some(f) if !f.actual.is_empty() => f.actual.as_str(),
        _ => c.message.as_str(),
    };
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    cell(&escape::cap(&one_line, ACTUAL_MAX))
}

fn headline(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "✅ edgecheck: passed",
        Outcome::Fail => "❌ edgecheck: failed",
        Outcome::NothingRan => "⚠️ edgecheck: nothing judged",
        Outcome::Errors => "💥 edgecheck: incomplete (checks ended in error)",
    }
}

fn badge(verdict: &str) -> &'static str {
    match verdict {
        "fail" => "❌ fail",
        "warn" => "⚠️ warn",
        _ => "💥 error",
    }
}

fn counts_row(label: &str, s: &Summary) -> String {
    format!(
        "| {label} | {} | {} | {} | {} | {} | {} | {} |\n",
        s.total, s.pass, s.fail, s.warn, s.skip, s.waived, s.error
    )
}

/// Render the summary of `results`, naming `reports` (the full reports of the same run).
/// The result is always shorter than [`MAX_SUMMARY_BYTES`].
pub fn render(results: &Results, reports: &[WrittenReport]) -> String {
    let gate = gate::evaluate(results);
    let mut head = String::new();
    head.push_str(&format!("## {}\n\n", headline(gate.outcome)));
    let mut about = format!(
        "Profile {} · target {} · {} checks in {:.1} s",
        code(&results.profile),
        cell(&escape::cap(&results.target, LINE_TEXT_MAX)),
        results.summary.total,
        results.duration_ms as f64 / 1000.0
    );
    if let Some(shard) = &results.shard {
        about.push_str(&format!(" · shard {}", code(shard)));
    }
    if !results.merged.is_empty() {
        about.push_str(&format!(" · merged from {} runs", results.merged.len()));
    }
    head.push_str(&about);
    head.push_str("\n\n");
    for line in gate.lines.iter().take(GATE_LINES) {
        head.push_str(&format!("- {}\n", cell(&escape::cap(line, LINE_TEXT_MAX))));
    }
    if gate.lines.len() > GATE_LINES {
        head.push_str(&format!(
            "- …and {} more (see the full reports)\n",
            gate.lines.len() - GATE_LINES
        ));
    }
    if !gate.lines.is_empty() {
        head.push('\n');
    }
    head.push_str("| level | checks | pass | fail | warn | skip | waived | error |\n");
    head.push_str("|---|--:|--:|--:|--:|--:|--:|--:|\n");
    for level in ["MUST", "SHOULD", "MAY"] {
        let of = results.checks.iter().filter(|c| c.level == level);
        let s = Summary::of(of.map(|c| c.verdict.as_str()));
        if s.total > 0 {
            head.push_str(&counts_row(level, &s));
        }
    }
    head.push_str(&counts_row("**all**", &results.summary));
    head.push('\n');

    let mut tail = String::new();
    if !reports.is_empty() {
        tail.push_str("### Full reports\n\n");
        for r in reports {
            tail.push_str(&format!("- {}: {}\n", cell(&r.kind), code(&r.name)));
        }
        tail.push('\n');
    }

    let rules = failing_rules(results);
    let mut body = String::new();
    if !rules.is_empty() {
        body.push_str(&format!("### Failing rules ({})\n\n", rules.len()));
        body.push_str("| rule | level | verdict | seen by | actual |\n|---|---|---|---|---|\n");
    }
    // Room for the rule lines: what is left once the head, the tail and the longest
    // "…and N more" line are counted.
    let more_line = |n: usize| format!("\n…and {n} more failing rules: see the full reports.\n");
    let reserve = more_line(usize::MAX).len() + 1;
    let budget = MAX_SUMMARY_BYTES.saturating_sub(head.len() + tail.len() + reserve + 1);
    let mut shown = 0;
    for r in &rules {
        let line = rule_line(r);
        if body.len() + line.len() > budget {
            break;
        }
        body.push_str(&line);
        shown += 1;
    }
    if shown < rules.len() {
        body.push_str(&more_line(rules.len() - shown));
    }
    if !rules.is_empty() {
        body.push('\n');
    }
    let mut out = head;
    out.push_str(&body);
    out.push_str(&tail);
    if out.len() >= MAX_SUMMARY_BYTES {
        // Only a pathological head (every gate line at its longest, fully escaped) gets here.
        let mut cut = MAX_SUMMARY_BYTES - 64;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("\n\n…(cut: see the full reports)\n");
    }
    out
}

fn rule_line(r: &FailingRule) -> String {
    let verdict = if r.expected {
        format!("{} (expected, baseline)", badge(r.verdict))
    } else {
        badge(r.verdict).to_string()
    };
    let (seen, actual) = match r.check {
        Some(c) => {
            let mut seen = code(&c.id);
            if r.others > 0 {
                seen.push_str(&format!(" (+{} more)", r.others));
            }
            (seen, actual_of(c))
        }
        None => ("—".to_string(), String::new()),
    };
    format!(
        "| {} | {} | {verdict} | {seen} | {actual} |\n",
        code(r.rule),
        cell(r.level)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_only_plain_ids() {
        assert_eq!(code("create/duplicate-id-409"), "`create/duplicate-id-409`");
        assert_eq!(code("a`b|c"), "a`b\\|c");
        assert_eq!(code("<x>"), "&lt;x&gt;");
    }
}
