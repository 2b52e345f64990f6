//! What a compliance report shows, computed once from [`Results`] and rendered by
//! [`super::markdown`] and [`super::html`]: the header, the summaries, the requirement matrix,
//! the failures with their transcripts, the timing measurements, and the ambiguity register.

use std::collections::BTreeMap;

use super::gate::{self, Gate};
use super::{verdict_rank, CheckRecord, RecordedExchange, Results};
use crate::catalogue::requirements::{self, Requirements};

/// Verdicts a rule can have, in the order summaries show them.
pub const RULE_VERDICTS: [&str; 9] = [
    "pass",
    "fail",
    "warn",
    "blocked",
    "skip",
    "waived",
    "error",
    "untested",
    "not testable",
];

/// Transcript bodies are cut here in reports (results keep up to 4 KiB).
pub const REPORT_BODY_CHARS: usize = 1500;

/// Counts of rule verdicts for one group (a level or an origin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The group (`MUST`, `source`, …).
    pub label: String,
    /// Rules in the group.
    pub total: usize,
    /// One count per entry of [`RULE_VERDICTS`].
    pub counts: [usize; 9],
}

/// One row of the requirement matrix.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    /// Rule ID.
    pub id: &'a str,
    /// Level.
    pub level: &'a str,
    /// `source` or `binding`.
    pub origin: &'a str,
    /// The rule's text in the binding (empty when the catalogue lacks it).
    pub text: String,
    /// `yes`, `partially`, `no` (empty when unknown).
    pub testable: &'static str,
    /// The rule's verdict.
    pub verdict: &'a str,
    /// The checks covering it, with their verdicts.
    pub checks: Vec<(&'a str, &'a str)>,
    /// Whether every failing check of the rule is a listed expected failure.
    pub known: bool,
    /// For a `blocked` rule: the rules whose failures kept its checks from judging it.
    pub blocked_by: &'a [String],
}

/// One ambiguity of the sources with the rules it bears on.
#[derive(Debug, Clone)]
pub struct Ambiguity<'a> {
    /// `A1` … `A37` (edge-v1) or `D1` … (a binding's decisions table).
    pub id: String,
    /// What the sources leave open.
    pub question: String,
    /// What the binding chose.
    pub binding: String,
    /// What later versions did.
    pub later: String,
    /// Rules (ID, verdict in this run).
    pub rules: Vec<(&'a str, &'a str)>,
}

/// Everything a compliance report shows.
#[derive(Debug, Clone)]
pub struct View<'a> {
    /// The results.
    pub results: &'a Results,
    /// The catalogue of the results' profile.
    pub catalogue: &'a Requirements,
    /// Header rows: label, value.
    pub header: Vec<(&'static str, String)>,
    /// The gate's verdict.
    pub gate: Gate,
    /// Check verdict counts per level (`MUST`, `SHOULD`, `MAY`).
    pub checks_by_level: Vec<(String, super::Summary)>,
    /// Rule verdicts per level.
    pub rules_by_level: Vec<Tally>,
    /// Rule verdicts per origin.
    pub rules_by_origin: Vec<Tally>,
    /// The requirement matrix, in catalogue order.
    pub matrix: Vec<Row<'a>>,
    /// Checks that failed, then warned, then ended in error.
    pub failures: Vec<&'a CheckRecord>,
    /// Skipped and waived checks.
    pub skipped: Vec<&'a CheckRecord>,
    /// Checks that carry a timing measurement, in check order.
    pub timed: Vec<&'a CheckRecord>,
    /// The ambiguity register, by ambiguity number.
    pub ambiguities: Vec<Ambiguity<'a>>,
}

/// The quoted text of a rule.
pub fn quoted(catalogue: &Requirements, rule: &str) -> Option<String> {
    catalogue.get(rule).map(|r| r.text.clone())
}

/// Build the view of a run.
pub fn build<'a>(results: &'a Results, reqs: &'a Requirements) -> View<'a> {
    let by_id: std::collections::HashMap<&str, &CheckRecord> =
        results.checks.iter().map(|c| (c.id.as_str(), c)).collect();
    let matrix: Vec<Row> = results
        .requirements
        .iter()
        .map(|r| {
            let entry = reqs.get(&r.id);
            let checks: Vec<(&str, &str)> = r
                .checks
                .iter()
                .map(|id| {
                    let v = by_id
                        .get(id.as_str())
                        .map_or("error", |c| c.verdict.as_str());
                    (id.as_str(), v)
                })
                .collect();
            let failing: Vec<&CheckRecord> = r
                .checks
                .iter()
                .filter_map(|id| by_id.get(id.as_str()).copied())
                .filter(|c| matches!(c.verdict.as_str(), "fail" | "warn"))
                .collect();
            Row {
                id: &r.id,
                level: &r.level,
                origin: &r.origin,
                text: entry.map(|e| e.text.clone()).unwrap_or_default(),
                testable: entry.map_or("", |e| super::testable_str(e.testable)),
                verdict: &r.verdict,
                known: !failing.is_empty() && failing.iter().all(|c| c.baseline.is_some()),
                blocked_by: &r.blocked_by,
                checks,
            }
        })
        .collect();
    let tally = |label: &str, pick: &dyn Fn(&Row) -> bool| {
        let mut counts = [0; 9];
        let mut total = 0;
        for row in matrix.iter().filter(|r| pick(r)) {
            total += 1;
            if let Some(i) = RULE_VERDICTS.iter().position(|v| *v == row.verdict) {
                counts[i] += 1;
            }
        }
        Tally {
            label: label.to_string(),
            total,
            counts,
        }
    };
    let mut rules_by_level = Vec::new();
    for level in requirements::Level::ALL {
        let t = tally(level.as_str(), &|r| r.level == level.as_str());
        if t.total > 0 {
            rules_by_level.push(t);
        }
    }
    rules_by_level.push(tally("all", &|_| true));
    let rules_by_origin = vec![
        tally("source", &|r| r.origin == "source"),
        tally("binding", &|r| r.origin == "binding"),
    ];
    let checks_by_level = ["MUST", "SHOULD", "MAY"]
        .iter()
        .map(|l| {
            let s = super::Summary::of(
                results
                    .checks
                    .iter()
                    .filter(|c| c.level == *l)
                    .map(|c| c.verdict.as_str()),
            );
            (l.to_string(), s)
        })
        .filter(|(_, s)| s.total > 0)
        .collect();
    let mut failures: Vec<&CheckRecord> = results
        .checks
        .iter()
        .filter(|c| super::needs_attention(&c.verdict))
        .collect();
    let severity = |v: &str| match v {
        "fail" => 0,
        "warn" => 1,
        _ => 2,
    };
    failures.sort_by_key(|c| severity(&c.verdict));
    let skipped = results
        .checks
        .iter()
        .filter(|c| matches!(c.verdict.as_str(), "skip" | "waived"))
        .collect();
    View {
        results,
        catalogue: reqs,
        header: header(results),
        gate: gate::evaluate(results),
        checks_by_level,
        rules_by_level,
        rules_by_origin,
        ambiguities: ambiguities(results, reqs),
        matrix,
        failures,
        skipped,
        timed: results
            .checks
            .iter()
            .filter(|c| c.timing.is_some())
            .collect(),
    }
}

fn header(r: &Results) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("Target", r.target.clone()),
        ("Started", r.started_at.clone()),
        (
            "Duration",
            format!("{:.1} s", r.duration_ms as f64 / 1000.0),
        ),
        ("edgecheck", r.edgecheck.clone()),
        ("Profile", r.profile.clone()),
        (
            "Seed",
            r.seed.map_or_else(
                || "none (scripted checks are deterministic)".to_string(),
                |s| s.to_string(),
            ),
        ),
        ("Options", options_line(&r.options)),
    ];
    if let Some(s) = &r.shard {
        rows.push((
            "Shard",
            format!("{s} (this run covers only its share of the checks)"),
        ));
    }
    if !r.merged.is_empty() {
        let parts: Vec<String> = r
            .merged
            .iter()
            .map(|m| match &m.shard {
                Some(s) => format!("{} (shard {s}, {} checks)", m.source, m.checks),
                None => format!("{} ({} checks)", m.source, m.checks),
            })
            .collect();
        rows.push(("Merged from", parts.join("; ")));
    }
    if let Some(b) = &r.baseline {
        rows.push((
            "Baseline",
            format!(
                "{} ({} entries, judged on {})",
                b.file,
                b.entries.len(),
                b.date
            ),
        ));
    }
    rows
}

/// `key=value` pairs of the options, in name order.
pub fn options_line(options: &BTreeMap<String, serde_json::Value>) -> String {
    options
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            serde_json::Value::Array(a) if a.is_empty() => format!("{k}=[]"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn ambiguity_number(id: &str) -> u32 {
    // `A12` (edge-v1's protocol history) or `D3` (a binding's decisions table).
    id.trim_start_matches(|c: char| c.is_ascii_uppercase())
        .parse()
        .unwrap_or(u32::MAX)
}

fn ambiguities<'a>(results: &'a Results, reqs: &Requirements) -> Vec<Ambiguity<'a>> {
    let mut by_id: BTreeMap<u32, Ambiguity> = BTreeMap::new();
    for r in &results.requirements {
        let Some(entry) = reqs.get(&r.id) else {
            continue;
        };
        for a in &entry.ambiguities {
            let row = by_id
                .entry(ambiguity_number(&a.id))
                .or_insert_with(|| Ambiguity {
                    id: a.id.clone(),
                    question: a.question.clone(),
                    binding: a.binding.clone(),
                    later: a.later.clone(),
                    rules: Vec::new(),
                });
            row.rules.push((r.id.as_str(), r.verdict.as_str()));
        }
    }
    by_id.into_values().collect()
}

/// The worst verdict among rules, for a one-word "what this server did".
pub fn worst<'a>(verdicts: impl Iterator<Item = &'a str>) -> &'a str {
    verdicts
        .filter(|v| !matches!(*v, "untested" | "not testable"))
        .max_by_key(|v| verdict_rank(v))
        .unwrap_or("untested")
}

/// Cut a text at `max` characters, saying how much was left out.
pub fn cut(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        s.to_string()
    } else {
        let head: String = s.chars().take(max).collect();
        format!("{head}\n… ({} more characters)", n - max)
    }
}

/// One line of a transcript, cut at [`super::escape::TEXT_MAX`] bytes.
fn line(t: &mut String, s: &str) {
    t.push_str(&super::escape::cap(s, super::escape::TEXT_MAX));
    t.push('\n');
}

/// An exchange as HTTP-like text: request line, header fields, body; then the response.
/// Request lines, header fields and errors are cut at [`super::escape::TEXT_MAX`] bytes and
/// bodies at [`REPORT_BODY_CHARS`] characters. The text is raw: each output escapes it.
pub fn transcript(ex: &RecordedExchange) -> String {
    let mut t = String::new();
    line(&mut t, &format!("{} {}", ex.method, ex.target));
    for (k, v) in &ex.request_headers {
        line(&mut t, &format!("{k}: {v}"));
    }
    if !ex.request_body.is_empty() {
        t.push('\n');
        t.push_str(&cut(&ex.request_body, REPORT_BODY_CHARS));
        t.push('\n');
    }
    t.push('\n');
    match (ex.status, &ex.error) {
        (Some(s), _) => {
            t.push_str(&format!("← {s}\n"));
            for (k, v) in &ex.response_headers {
                line(&mut t, &format!("{k}: {v}"));
            }
            if !ex.response_body.is_empty() {
                t.push('\n');
                t.push_str(&cut(&ex.response_body, REPORT_BODY_CHARS));
                t.push('\n');
            }
        }
        (None, Some(e)) => line(&mut t, &format!("← no response: {e}")),
        (None, None) => t.push_str("← no response\n"),
    }
    t
}

/// A one-line summary of an exchange: `POST /connection → 201 (12 ms)`, cut at
/// [`super::escape::TEXT_MAX`] bytes. The text is raw: each output escapes it.
pub fn exchange_line(ex: &RecordedExchange) -> String {
    let outcome = match (ex.status, &ex.error) {
        (Some(s), _) => s.to_string(),
        (None, Some(e)) => format!("no response ({e})"),
        (None, None) => "no response".into(),
    };
    let line = format!(
        "{} {} → {outcome} ({} ms)",
        ex.method, ex.target, ex.elapsed_ms
    );
    super::escape::cap(&line, super::escape::TEXT_MAX).into_owned()
}
