//! `edgecheck report --compare A.json B.json …`: the results of several servers side by side,
//! one row per rule of the catalogue and one column per server, each cell the rule's verdict
//! and the checks that did not pass (as Autobahn's test suite compares implementations).
//!
//! Results of different profiles cannot be compared: their rules differ.

use std::collections::HashMap;

use super::escape::{self, Breaks};
use super::gate::{self, Outcome};
use super::markdown::cell;
use super::{needs_attention, CheckRecord, Results, Summary, INLINE_CHECKS};
use crate::catalogue::requirements::Requirements;

/// Why results cannot be compared.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompareError {
    /// Fewer than two results.
    #[error("--compare needs at least two results files, got {0}")]
    TooFew(usize),
    /// Two results of different profiles.
    #[error(
        "{name} holds results of profile `{profile}`, {first} of profile `{first_profile}`: \
         only results of one profile can be compared"
    )]
    Profiles {
        /// The first results file.
        first: String,
        /// Its profile.
        first_profile: String,
        /// The results file of another profile.
        name: String,
        /// Its profile.
        profile: String,
    },
}

/// One server (one results file): a column of the matrix.
#[derive(Debug, Clone)]
pub struct Column<'a> {
    /// The results file, as given.
    pub name: &'a str,
    /// The target the results describe.
    pub target: &'a str,
    /// Counts per verdict.
    pub summary: &'a Summary,
    /// The gate's outcome for these results.
    pub outcome: Outcome,
}

/// One cell: a rule's verdict on one server, with the checks that did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell<'a> {
    /// The rule's verdict (`pass`, `fail`, …, `untested`, `not testable`).
    pub verdict: &'a str,
    /// The rule's checks that failed, warned or ended in error, with their verdicts.
    pub failing: Vec<(&'a str, &'a str)>,
}

/// One rule: a row of the matrix.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    /// Rule ID.
    pub rule: &'a str,
    /// MUST / SHOULD / MAY.
    pub level: &'a str,
    /// One cell per column; `None` when the results do not list the rule.
    pub cells: Vec<Option<Cell<'a>>>,
}

impl Row<'_> {
    /// Whether the servers' verdicts on the rule differ.
    pub fn differs(&self) -> bool {
        let mut verdicts = self.cells.iter().map(|c| c.as_ref().map(|c| c.verdict));
        let first = verdicts.next().flatten();
        verdicts.any(|v| v != first)
    }
}

/// The whole comparison.
#[derive(Debug, Clone)]
pub struct Comparison<'a> {
    /// The profile every result belongs to.
    pub profile: &'a str,
    /// The servers, in the order given.
    pub columns: Vec<Column<'a>>,
    /// The rules, in catalogue order.
    pub rows: Vec<Row<'a>>,
}

/// Per results file: the position of each rule record, and each check by ID.
type Index<'a> = (HashMap<&'a str, usize>, HashMap<&'a str, &'a CheckRecord>);

/// Compare `runs` (name, results), all of the profile of `catalogue`.
pub fn build<'a>(
    runs: &'a [(String, Results)],
    catalogue: &'a Requirements,
) -> Result<Comparison<'a>, CompareError> {
    if runs.len() < 2 {
        return Err(CompareError::TooFew(runs.len()));
    }
    let (first, first_results) = &runs[0];
    for (name, r) in runs {
        if r.profile != first_results.profile || r.profile != catalogue.profile() {
            return Err(CompareError::Profiles {
                first: first.clone(),
                first_profile: first_results.profile.clone(),
                name: name.clone(),
                profile: r.profile.clone(),
            });
        }
    }
    let columns = runs
        .iter()
        .map(|(name, r)| Column {
            name,
            target: &r.target,
            summary: &r.summary,
            outcome: gate::evaluate(r).outcome,
        })
        .collect();
    let indexes: Vec<Index> = runs
        .iter()
        .map(|(_, r)| {
            let rules = r
                .requirements
                .iter()
                .enumerate()
                .map(|(i, q)| (q.id.as_str(), i))
                .collect();
            let checks = r.checks.iter().map(|c| (c.id.as_str(), c)).collect();
            (rules, checks)
        })
        .collect();
    let rows = catalogue
        .all()
        .iter()
        .map(|req| {
            let cells = runs
                .iter()
                .zip(&indexes)
                .map(|((_, r), (rules, checks))| {
                    let rec = &r.requirements[*rules.get(req.id.as_str())?];
                    let failing = rec
                        .checks
                        .iter()
                        .filter_map(|id| checks.get(id.as_str()))
                        .filter(|c| needs_attention(&c.verdict))
                        .map(|c| (c.id.as_str(), c.verdict.as_str()))
                        .collect();
                    Some(Cell {
                        verdict: &rec.verdict,
                        failing,
                    })
                })
                .collect();
            Row {
                rule: &req.id,
                level: req.level.as_str(),
                cells,
            }
        })
        .collect();
    Ok(Comparison {
        profile: &first_results.profile,
        columns,
        rows,
    })
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "passed",
        Outcome::Fail => "failed",
        Outcome::NothingRan => "nothing judged",
        Outcome::Errors => "incomplete",
    }
}

fn mark(verdict: &str) -> &'static str {
    super::markdown::mark(verdict)
}

/// The failing checks of a cell, at most [`INLINE_CHECKS`] of them, then a count.
fn shown(failing: &[(&str, &str)]) -> (Vec<(String, String)>, usize) {
    let list = failing
        .iter()
        .take(INLINE_CHECKS)
        .map(|(id, v)| (id.to_string(), v.to_string()))
        .collect();
    (list, failing.len().saturating_sub(INLINE_CHECKS))
}

/// Render the comparison as Markdown (GitHub-flavoured tables).
pub fn markdown(c: &Comparison) -> String {
    let mut o = String::new();
    o.push_str("# edgecheck comparison\n\n");
    o.push_str(&format!(
        "Profile `{}`: {} servers, {} rules; rules whose verdicts differ are marked ≠.\n\n",
        cell(c.profile),
        c.columns.len(),
        c.rows.len()
    ));
    o.push_str("| | results | target | outcome | checks |\n|---|---|---|---|---|\n");
    for (i, col) in c.columns.iter().enumerate() {
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            i + 1,
            cell(col.name),
            cell(col.target),
            outcome_word(col.outcome),
            cell(&col.summary.counts())
        ));
    }
    o.push_str("\n| rule | level |");
    for (i, col) in c.columns.iter().enumerate() {
        o.push_str(&format!(" {} {} |", i + 1, cell(col.name)));
    }
    o.push_str("\n|---|---|");
    o.push_str(&"---|".repeat(c.columns.len()));
    o.push('\n');
    for r in &c.rows {
        let differs = if r.differs() { " ≠" } else { "" };
        o.push_str(&format!("| `{}`{differs} | {} |", cell(r.rule), r.level));
        for cl in &r.cells {
            let Some(cl) = cl else {
                o.push_str(" — |");
                continue;
            };
            o.push_str(&format!(" {} {}", mark(cl.verdict), cell(cl.verdict)));
            let (list, more) = shown(&cl.failing);
            for (id, v) in list {
                o.push_str(&format!("<br>{} ({v})", cell(&id)));
            }
            if more > 0 {
                o.push_str(&format!("<br>…and {more} more"));
            }
            o.push_str(" |");
        }
        o.push('\n');
    }
    o
}

fn h(s: &str) -> String {
    escape::html(&escape::controls(
        &escape::cap(s, escape::TEXT_MAX),
        Breaks::Escape,
    ))
}

/// Render the comparison as one self-contained HTML page.
pub fn html(c: &Comparison) -> String {
    let mut o = String::new();
    o.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>edgecheck comparison</title><style>\
         body{font:14px/1.4 system-ui,sans-serif;margin:1.5em}\
         table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.2em .5em;\
         vertical-align:top;text-align:left}th{background:#f4f4f4;position:sticky;top:0}\
         .pass{background:#e6f4ea}.fail{background:#fce8e6}.warn{background:#fef7e0}\
         .error{background:#f3e8fd}.differs td:first-child{font-weight:bold}\
         code{font-size:12px}small{display:block;color:#444}\
         </style></head><body>\n<h1>edgecheck comparison</h1>\n",
    );
    o.push_str(&format!(
        "<p>Profile <code>{}</code>: {} servers, {} rules; rules whose verdicts differ are \
         in bold and marked ≠.</p>\n",
        h(c.profile),
        c.columns.len(),
        c.rows.len()
    ));
    o.push_str(
        "<table><tr><th></th><th>results</th><th>target</th><th>outcome</th><th>checks</th></tr>\n",
    );
    for (i, col) in c.columns.iter().enumerate() {
        o.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            i + 1,
            h(col.name),
            h(col.target),
            outcome_word(col.outcome),
            h(&col.summary.counts())
        ));
    }
    o.push_str("</table>\n<h2>Rules</h2>\n<table><tr><th>rule</th><th>level</th>");
    for (i, col) in c.columns.iter().enumerate() {
        o.push_str(&format!("<th>{} {}</th>", i + 1, h(col.name)));
    }
    o.push_str("</tr>\n");
    for r in &c.rows {
        let (class, differs) = if r.differs() {
            (" class=\"differs\"", " ≠")
        } else {
            ("", "")
        };
        o.push_str(&format!(
            "<tr{class}><td><code>{}</code>{differs}</td><td>{}</td>",
            h(r.rule),
            h(r.level)
        ));
        for cl in &r.cells {
            let Some(cl) = cl else {
                o.push_str("<td>—</td>");
                continue;
            };
            let css: String = cl
                .verdict
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            o.push_str(&format!(
                "<td class=\"{css}\">{} {}",
                mark(cl.verdict),
                h(cl.verdict)
            ));
            let (list, more) = shown(&cl.failing);
            for (id, v) in list {
                o.push_str(&format!(
                    "<small><code>{}</code> ({})</small>",
                    h(&id),
                    h(&v)
                ));
            }
            if more > 0 {
                o.push_str(&format!("<small>…and {more} more</small>"));
            }
            o.push_str("</td>");
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</table>\n</body></html>\n");
    o
}
