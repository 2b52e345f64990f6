//! `--report PATH.md`: the compliance report as Markdown (GitHub-flavoured tables).

use super::escape::{self, Breaks};
use super::gate::Outcome;
use super::reproduce::{Base, BodyFiles};
use super::view::{self, View, RULE_VERDICTS};
use super::Results;
use crate::catalogue::requirements::Requirements;

/// Text outside code fences (table cells, list items, headings): one line, cut at
/// [`escape::TEXT_MAX`] bytes, unsafe characters escaped, no column separator, no link or
/// image syntax (`[`, `]`), and `&`, `<`, `>` as HTML entities so no tag is ever raw.
pub(crate) fn cell(s: &str) -> String {
    let one_line = s.replace(['\r', '\n'], " ");
    let text = escape::cap(&one_line, escape::TEXT_MAX);
    let text = escape::controls(&text, Breaks::Escape);
    let mut o = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' => o.push_str("\\\\"),
            '|' => o.push_str("\\|"),
            '[' => o.push_str("\\["),
            ']' => o.push_str("\\]"),
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            c => o.push(c),
        }
    }
    o
}

/// A fenced code block: unsafe characters escaped (line breaks and tabs kept), each line
/// capped at [`escape::LINE_MAX`], and a backtick fence longer than any backtick run inside,
/// so no line of the text can close it (a `~~~` line cannot close a backtick fence).
fn fenced(lang: &str, body: &str) -> String {
    let body = escape::controls(body, Breaks::Keep);
    let body: Vec<std::borrow::Cow<str>> = body
        .trim_end_matches('\n')
        .split('\n')
        .map(|l| escape::cap(l, escape::LINE_MAX - 32))
        .collect();
    let body = body.join("\n");
    let mut longest = 0;
    let mut run = 0;
    for ch in body.chars() {
        run = if ch == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat((longest + 1).max(3));
    format!("{fence}{lang}\n{body}\n{fence}\n")
}

/// The mark of a verdict in Markdown (shared by the report, the summary and comparisons).
pub(crate) fn mark(verdict: &str) -> &'static str {
    match verdict {
        "pass" => "✅",
        "fail" => "❌",
        "warn" => "⚠️",
        "error" => "💥",
        "skip" => "⏭️",
        "waived" => "➖",
        "blocked" => "⛔",
        _ => "·",
    }
}

/// A verdict as a short emphasised word.
fn badge(v: &str) -> String {
    format!("{} {v}", mark(v))
}

/// The anchor of a check's failure section (GitHub's heading slugs are not portable, so each
/// section carries an explicit `<a id>`).
fn anchor(id: &str) -> String {
    format!(
        "check-{}",
        id.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
    )
}

/// Render results as Markdown, long `curl` bodies described (no body files).
pub fn render(results: &Results, catalogue: &Requirements) -> String {
    render_with(results, catalogue, &BodyFiles::none())
}

/// Render results as Markdown, long `curl` bodies pointing at `bodies` (relative to the
/// report's directory).
pub fn render_with(results: &Results, catalogue: &Requirements, bodies: &BodyFiles) -> String {
    let v = view::build(results, catalogue);
    let mut o = String::new();
    header(&mut o, &v);
    summary(&mut o, &v);
    matrix(&mut o, &v);
    failures(&mut o, &v, bodies);
    timing(&mut o, &v);
    skipped(&mut o, &v);
    ambiguities(&mut o, &v);
    o
}

fn header(o: &mut String, v: &View) {
    o.push_str("# edgecheck compliance report\n\n");
    let verdict = match v.gate.outcome {
        Outcome::Pass => "**PASSED**: every required check passed",
        Outcome::Fail => "**FAILED**",
        Outcome::NothingRan => "**NOTHING JUDGED**",
        Outcome::Errors => "**INCOMPLETE**: some checks could not be judged",
    };
    o.push_str(&format!("Result: {verdict}\n\n"));
    for line in &v.gate.lines {
        o.push_str(&format!("- {}\n", cell(line)));
    }
    if !v.gate.lines.is_empty() {
        o.push('\n');
    }
    o.push_str("| | |\n|---|---|\n");
    for (k, val) in &v.header {
        o.push_str(&format!("| {k} | {} |\n", cell(val)));
    }
    o.push('\n');
}

fn summary(o: &mut String, v: &View) {
    o.push_str("## Summary\n\n### Checks by level\n\n");
    o.push_str("| level | checks | pass | fail | warn | skip | waived | error |\n");
    o.push_str("|---|--:|--:|--:|--:|--:|--:|--:|\n");
    for (level, s) in &v.checks_by_level {
        o.push_str(&format!(
            "| {level} | {} | {} | {} | {} | {} | {} | {} |\n",
            s.total, s.pass, s.fail, s.warn, s.skip, s.waived, s.error
        ));
    }
    let s = &v.results.summary;
    o.push_str(&format!(
        "| **all** | {} | {} | {} | {} | {} | {} | {} |\n\n",
        s.total, s.pass, s.fail, s.warn, s.skip, s.waived, s.error
    ));
    for (title, tallies) in [
        ("Rules by level", &v.rules_by_level),
        (
            "Rules by origin (source rule or binding decision)",
            &v.rules_by_origin,
        ),
    ] {
        o.push_str(&format!("### {title}\n\n| | rules |"));
        for verdict in RULE_VERDICTS {
            o.push_str(&format!(" {verdict} |"));
        }
        o.push_str("\n|---|--:|");
        o.push_str(&"--:|".repeat(RULE_VERDICTS.len()));
        o.push('\n');
        for t in tallies {
            o.push_str(&format!("| {} | {} |", t.label, t.total));
            for c in t.counts {
                o.push_str(&format!(" {c} |"));
            }
            o.push('\n');
        }
        o.push('\n');
    }
}

fn matrix(o: &mut String, v: &View) {
    o.push_str("## Requirement matrix\n\n");
    o.push_str("| rule | level | origin | verdict | checks | requirement |\n");
    o.push_str("|---|---|---|---|---|---|\n");
    for r in &v.matrix {
        let checks = checks_cell(&r.checks);
        let mut verdict = if r.known {
            format!("{} (expected, baseline)", badge(r.verdict))
        } else {
            badge(r.verdict)
        };
        if !r.blocked_by.is_empty() {
            verdict.push_str(&format!(" by `{}`", r.blocked_by.join("`, `")));
        }
        o.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            r.id,
            r.level,
            r.origin,
            verdict,
            checks,
            cell(&r.text)
        ));
    }
    o.push('\n');
}

fn checks_cell(checks: &[(&str, &str)]) -> String {
    let link = |id: &str, verdict: &str| {
        if super::needs_attention(verdict) {
            format!("[`{id}`](#{}) ({verdict})", anchor(id))
        } else {
            format!("`{id}`")
        }
    };
    if checks.is_empty() {
        return "—".into();
    }
    if checks.len() <= super::INLINE_CHECKS {
        return checks
            .iter()
            .map(|(id, v)| link(id, v))
            .collect::<Vec<_>>()
            .join("<br>");
    }
    let counts = super::Summary::of(checks.iter().map(|(_, v)| *v)).counts();
    let mut cell = format!("{} checks: {counts}", checks.len());
    for (id, v) in checks.iter().filter(|(_, v)| super::needs_attention(v)) {
        cell.push_str("<br>");
        cell.push_str(&link(id, v));
    }
    cell
}

fn failures(o: &mut String, v: &View, bodies: &BodyFiles) {
    if v.failures.is_empty() {
        return;
    }
    o.push_str("## Failures\n\n");
    for c in &v.failures {
        o.push_str(&format!(
            "<a id=\"{}\"></a>\n\n### {} `{}`: {}\n\n",
            anchor(&c.id),
            c.verdict.to_uppercase(),
            c.id,
            cell(&c.title)
        ));
        o.push_str(&format!("- Rules: {}\n", c.requirements.join(", ")));
        o.push_str(&format!("- Level: {}\n", c.level));
        if let Some(b) = &c.baseline {
            let reason = v
                .results
                .baseline
                .as_ref()
                .and_then(|bl| bl.entry(b))
                .map_or("", |e| e.reason.as_str());
            o.push_str(&format!(
                "- Expected failure (baseline entry `{b}`): {}\n",
                cell(reason)
            ));
        }
        if let Some(f) = &c.failure {
            if !f.rule.is_empty() {
                o.push_str(&format!("- Broken: `{}` at step {}\n", f.rule, f.step));
                if let Some(text) = view::quoted(v.catalogue, &f.rule) {
                    o.push_str(&format!("- Requirement: > {}\n", cell(&text)));
                }
            }
            if !f.expected.is_empty() {
                o.push_str(&format!("- Expected: {}\n", cell(&f.expected)));
            }
            o.push_str(&format!("- Actual: {}\n", cell(&f.actual)));
        } else if !c.message.is_empty() {
            o.push_str(&format!("- Message: {}\n", cell(&c.message)));
        }
        o.push('\n');
        let n = c.exchanges.len();
        for (i, ex) in c.exchanges.iter().enumerate() {
            o.push_str(&format!(
                "<details{}><summary>{}</summary>\n\n",
                if i + 1 == n { " open" } else { "" },
                escape::html(&escape::controls(&view::exchange_line(ex), Breaks::Escape))
            ));
            o.push_str(&fenced("http", &view::transcript(ex)));
            o.push_str("\nReproduce:\n\n");
            o.push_str(&fenced("sh", &bodies.curl(&c.id, i, ex, Base::Report)));
            o.push_str("\n</details>\n\n");
        }
    }
}

fn timing(o: &mut String, v: &View) {
    if v.timed.is_empty() {
        return;
    }
    o.push_str("## Timing\n\n");
    o.push_str(
        "Response times of the failures of one endpoint, by cause: the largest difference of \
         medians, or why nothing was judged (the HTML report plots the distributions; the JSON \
         results hold every pair).\n\n",
    );
    for c in &v.timed {
        let several = !c.more_timing.is_empty();
        for t in c.timings() {
            o.push_str(&format!(
                "- {} `{}`: {}\n",
                if several {
                    badge(t.verdict.as_str())
                } else {
                    badge(&c.verdict)
                },
                c.id,
                cell(&super::timing::line(t))
            ));
        }
    }
    o.push('\n');
}

fn skipped(o: &mut String, v: &View) {
    if v.skipped.is_empty() {
        return;
    }
    o.push_str("## Skipped and waived\n\n| check | verdict | reason |\n|---|---|---|\n");
    for c in &v.skipped {
        o.push_str(&format!(
            "| `{}` | {} | {} |\n",
            c.id,
            c.verdict,
            cell(&c.message)
        ));
    }
    o.push('\n');
}

fn ambiguities(o: &mut String, v: &View) {
    o.push_str("## Ambiguity register\n\n");
    o.push_str(
        "Where the source documents were ambiguous, what the binding chose, and what this \
         server did (the verdicts of the rules that rest on the choice).\n\n",
    );
    o.push_str("| | the sources | the binding chose | later versions | this server |\n");
    o.push_str("|---|---|---|---|---|\n");
    for a in &v.ambiguities {
        let rules: Vec<String> = a
            .rules
            .iter()
            .map(|(id, verdict)| format!("`{id}` {verdict}"))
            .collect();
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            a.id,
            cell(&a.question),
            cell(&a.binding),
            cell(&a.later),
            rules.join("<br>")
        ));
    }
    o.push('\n');
}
