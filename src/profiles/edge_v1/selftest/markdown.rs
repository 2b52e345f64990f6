//! Rendering a kill matrix: plain text for the terminal, Markdown for `docs/kill-matrix.md`.

use std::fmt::Write as _;

use super::matrix::{FaultRow, Matrix, Mode, Outcome};

/// How many check IDs a cell lists before it says "and N more".
const LIST_MAX: usize = 4;

fn list(outcomes: &[&Outcome]) -> String {
    let mut ids: Vec<String> = outcomes
        .iter()
        .take(LIST_MAX)
        .map(|o| format!("{} ({})", o.id, o.verdict.as_str()))
        .collect();
    if outcomes.len() > LIST_MAX {
        ids.push(format!("and {} more", outcomes.len() - LIST_MAX));
    }
    ids.join(", ")
}

fn percent(n: usize, of: usize) -> String {
    if of == 0 {
        return "n/a".into();
    }
    format!("{:.1}%", 100.0 * n as f64 / of as f64)
}

fn summary(m: &Matrix) -> String {
    let n = m.rows.len();
    let mut s = format!(
        "{} of {} faults killed ({}), {} rules broken",
        m.killed(),
        n,
        percent(m.killed(), n),
        m.rules().len()
    );
    if let Some(b) = &m.baseline {
        let _ = write!(
            s,
            "; fault-free run: {} checks, {} not passing",
            b.ran,
            m.baseline_problems().len()
        );
    }
    s
}

fn result_word(r: &FaultRow) -> &'static str {
    if r.killed() {
        "killed"
    } else {
        "SURVIVED"
    }
}

/// The matrix as terminal lines: one per fault, then the survivors and the summary.
pub fn text(m: &Matrix) -> String {
    let mut out = String::new();
    for r in &m.rows {
        let killers: Vec<&Outcome> = r.killers().collect();
        let detail = if r.killed() {
            format!("by {}", list(&killers))
        } else {
            r.survival_reason().unwrap_or_default()
        };
        let _ = writeln!(
            out,
            "{:<8} {:<34} {:<20} {}/{} linked  {}",
            result_word(r),
            r.fault.name,
            r.fault.rule,
            killers.len(),
            r.linked,
            detail
        );
    }
    if let Some(b) = &m.baseline {
        for o in m.baseline_problems() {
            let _ = writeln!(
                out,
                "fault-free server: {} {}: {}",
                o.id,
                o.verdict.as_str(),
                o.message
            );
        }
        if let Some(e) = &b.setup_error {
            let _ = writeln!(out, "fault-free run not made: {e}");
        }
    }
    let _ = writeln!(out, "kill matrix: {}", summary(m));
    let _ = writeln!(out, "report blame: {}", blame_summary(m));
    out
}

/// How many faults' reports blame only the fault's own rule (FAIL rows ⊆ {rule}), and which
/// rules the others blame too.
pub fn blame_summary(m: &Matrix) -> String {
    let rows: Vec<&FaultRow> = m
        .rows
        .iter()
        .filter(|r| r.fault.rule != "-" && r.setup_error.is_none())
        .collect();
    let exact = rows
        .iter()
        .filter(|r| r.blamed_elsewhere().is_empty())
        .count();
    let mut s = format!(
        "{exact} of {} faults' reports blame (fail or warn) only the fault's own rule ({:.1}%)",
        rows.len(),
        100.0 * exact as f64 / rows.len().max(1) as f64
    );
    for r in rows.iter().filter(|r| !r.blamed_elsewhere().is_empty()) {
        let how = if r.fail_rules.contains(&r.fault.rule) {
            "also blames"
        } else {
            "blames instead"
        };
        let _ = write!(
            s,
            "\n  {} ({}) {how} {}",
            r.fault.name,
            r.fault.rule,
            r.blamed_elsewhere().join(", ")
        );
    }
    s
}

/// The matrix as a Markdown document; `command` is the command that produced it.
pub fn markdown(m: &Matrix, command: &str) -> String {
    let mut out = String::new();
    let full = m.rows.iter().any(|r| r.mode == Mode::Full);
    let _ = writeln!(out, "# Kill matrix\n");
    let _ = writeln!(
        out,
        "Each fault of the reference server's fault-injection harness breaks exactly one rule \
         of the binding. A fault is **killed** when at least one check linked to that rule \
         (a case listing it among its `requirements`) fails or warns against a server with \
         the fault; a fault noticed only by unrelated checks counts as a survivor. See \
         `docs/selftest.md`.\n"
    );
    let _ = writeln!(out, "Made by `{command}`.\n");
    let _ = writeln!(out, "**{}**\n", summary(m));
    let mut header = "| Fault | What the server does wrong | Rule it breaks | Linked checks run \
                      | Linked checks that failed |"
        .to_owned();
    let mut rule = "|---|---|---|---:|---|".to_owned();
    if full {
        header.push_str(" Other checks that failed |");
        rule.push_str("---|");
    }
    header.push_str(" Result |");
    rule.push_str("---|");
    let _ = writeln!(out, "{header}\n{rule}");
    for r in &m.rows {
        let killers: Vec<&Outcome> = r.killers().collect();
        let caught = if killers.is_empty() {
            r.survival_reason().unwrap_or_default()
        } else {
            list(&killers)
        };
        let _ = write!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            r.fault.name,
            r.fault.description.replace('|', "\\|"),
            r.fault.rule,
            r.linked,
            caught.replace('|', "\\|")
        );
        if full {
            let others: Vec<&Outcome> = r.unrelated().collect();
            let _ = write!(out, " {} |", list(&others));
        }
        let _ = writeln!(out, " {} |", result_word(r));
    }
    let survivors = m.survivors();
    if !survivors.is_empty() {
        let _ = writeln!(out, "\n## Survivors\n");
        for r in survivors {
            let _ = writeln!(
                out,
                "- `{}` ({}): {}",
                r.fault.name,
                r.fault.rule,
                r.survival_reason().unwrap_or_default()
            );
        }
    }
    let problems = m.baseline_problems();
    if !problems.is_empty() {
        let _ = writeln!(
            out,
            "\n## Checks that did not pass against the fault-free server\n"
        );
        for o in problems {
            let _ = writeln!(out, "- `{}` ({}): {}", o.id, o.verdict.as_str(), o.message);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Verdict;
    use crate::profiles::edge_v1::selftest::FaultSpec;

    fn row(name: &str, rule: &str, linked_fail: bool) -> FaultRow {
        FaultRow {
            fault: FaultSpec {
                name: name.into(),
                rule: rule.into(),
                description: "d".into(),
            },
            mode: Mode::Full,
            ran: 3,
            linked: 1,
            caught: vec![Outcome {
                id: "area/check".into(),
                verdict: Verdict::Fail,
                linked: linked_fail,
                cited_rule: Some(rule.into()),
                message: "m".into(),
            }],
            errors: Vec::new(),
            setup_error: None,
            fail_rules: vec![rule.into()],
        }
    }

    #[test]
    fn markdown_lists_every_fault_and_the_survivors() {
        let m = Matrix {
            rows: vec![row("a-fault", "S-X", true), row("b-fault", "S-Y", false)],
            baseline: None,
        };
        let md = markdown(&m, "edgecheck selftest --full");
        assert!(
            md.contains("| `a-fault` | d | S-X | 1 | area/check (fail) |  | killed |"),
            "{md}"
        );
        assert!(md.contains("| `b-fault` | d | S-Y | 1 |"), "{md}");
        assert!(md.contains("SURVIVED"), "{md}");
        let header = md.lines().find(|l| l.starts_with("| Fault")).unwrap();
        let row = md.lines().find(|l| l.starts_with("| `a-fault`")).unwrap();
        assert_eq!(
            header.matches(" |").count(),
            row.matches(" |").count(),
            "{md}"
        );
        assert!(md.contains("## Survivors"), "{md}");
        assert!(md.contains("1 of 2 faults killed (50.0%)"), "{md}");
        let t = text(&m);
        assert!(t.contains("killed   a-fault"), "{t}");
        assert!(t.contains("SURVIVED b-fault"), "{t}");
    }
}
