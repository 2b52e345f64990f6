//! `--junit PATH`: JUnit XML, written with quick-junit.
//!
//! One `<testsuite>` per area and one `<testcase>` per check: the classname is the area, the
//! name the check ID, and the rule IDs, level and verdict are properties. `fail` is a
//! `<failure>` carrying the quoted requirement, expected versus actual and a `curl` line;
//! `error` is an `<error>`; `skip` and `waived` are `<skipped>`. A `warn` (SHOULD not met)
//! passes, with the warning in `<system-out>`. An expected failure listed in a baseline is
//! `<skipped>` (as pytest's xfail), with the reason. Stale and expired baseline entries fail
//! the run, so each is a failing testcase of the suite `edgecheck.baseline`.

use std::collections::BTreeMap;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::baseline::EntryState;
use super::error::FileError;
use super::escape::{self, Breaks};
use super::reproduce::{Base, BodyFiles};
use super::view;
use super::{CheckRecord, Results};
use crate::catalogue::requirements::Requirements;

/// Render results as JUnit XML, long `curl` bodies described (no body files).
pub fn render(results: &Results, catalogue: &Requirements) -> Result<String, FileError> {
    render_with(results, catalogue, &BodyFiles::none())
}

/// Render results as JUnit XML, long `curl` bodies pointing at `bodies` (paths as seen from
/// the working directory).
pub fn render_with(
    results: &Results,
    catalogue: &Requirements,
    bodies: &BodyFiles,
) -> Result<String, FileError> {
    let mut report = Report::new(format!("edgecheck {}", results.profile));
    report.set_time(Duration::from_millis(results.duration_ms));
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for c in &results.checks {
        let suite = suites.entry(c.area.as_str()).or_insert_with(|| {
            order.push(c.area.as_str());
            let mut s = TestSuite::new(c.area.as_str());
            s.add_properties(run_properties(results));
            s
        });
        suite.add_test_case(test_case(results, catalogue, bodies, c));
    }
    for area in order {
        if let Some(mut s) = suites.remove(area) {
            let ms: u128 = results
                .checks
                .iter()
                .filter(|c| c.area == area)
                .map(|c| u128::from(c.duration_ms))
                .sum();
            s.set_time(Duration::from_millis(ms.min(u128::from(u64::MAX)) as u64));
            report.add_test_suite(s);
        }
    }
    if let Some(b) = &results.baseline {
        let mut suite = TestSuite::new("edgecheck.baseline");
        for e in &b.entries {
            let mut status = match e.state {
                EntryState::Stale => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_type("stale baseline entry").set_message(format!(
                        "`{}` now passes ({}): remove the entry from {}",
                        e.id,
                        e.checks.join(", "),
                        b.file
                    ));
                    s
                }
                EntryState::Expired => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_type("expired baseline entry").set_message(format!(
                        "`{}` expired {} (run on {}): fix the failure or extend `expires` in {}",
                        e.id,
                        e.expires.as_deref().unwrap_or("?"),
                        b.date,
                        b.file
                    ));
                    s
                }
                EntryState::Known => TestCaseStatus::success(),
                EntryState::NotRun => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message("nothing this entry lists ran");
                    s
                }
            };
            if let TestCaseStatus::NonSuccess { .. } = status {
                status.set_description(format!("reason given: {}", e.reason));
            }
            let mut tc = TestCase::new(e.id.as_str(), status);
            tc.set_classname("edgecheck.baseline");
            tc.add_property(Property::new("state", e.state.as_str()));
            tc.add_property(Property::new("reason", e.reason.as_str()));
            suite.add_test_case(tc);
        }
        if !suite.test_cases.is_empty() {
            report.add_test_suite(suite);
        }
    }
    Ok(report.to_string()?)
}

/// Write JUnit XML to `path`, long `curl` bodies pointing at `bodies`.
pub fn write(
    results: &Results,
    catalogue: &Requirements,
    bodies: &BodyFiles,
    path: &std::path::Path,
) -> Result<(), FileError> {
    let xml = render_with(results, catalogue, bodies)?;
    std::fs::write(path, xml).map_err(|source| FileError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn run_properties(r: &Results) -> Vec<Property> {
    let mut p = vec![
        Property::new("target", r.target.as_str()),
        Property::new("profile", r.profile.as_str()),
        Property::new("edgecheck", r.edgecheck.as_str()),
        Property::new("startedAt", r.started_at.as_str()),
    ];
    if let Some(s) = &r.shard {
        p.push(Property::new("shard", s.as_str()));
    }
    if let Some(s) = r.seed {
        p.push(Property::new("seed", s.to_string()));
    }
    p
}

fn test_case(
    results: &Results,
    cat: &Requirements,
    bodies: &BodyFiles,
    c: &CheckRecord,
) -> TestCase {
    let status = match c.verdict.as_str() {
        "pass" => TestCaseStatus::success(),
        "warn" if c.baseline.is_none() => TestCaseStatus::success(),
        "fail" | "warn" if c.baseline.is_some() => {
            let mut s = TestCaseStatus::skipped();
            let entry = c.baseline.as_deref().unwrap_or_default();
            let reason = results
                .baseline
                .as_ref()
                .and_then(|b| b.entry(entry))
                .map_or("", |e| e.reason.as_str());
            s.set_type("expected failure")
                .set_message(format!(
                    "expected failure (baseline entry `{entry}`: {reason}): {}",
                    headline(c)
                ))
                .set_description(details(cat, bodies, c));
            s
        }
        "fail" => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type(failure_type(c))
                .set_message(headline(c))
                .set_description(details(cat, bodies, c));
            s
        }
        "skip" | "waived" => {
            let mut s = TestCaseStatus::skipped();
            s.set_type(c.verdict.as_str())
                .set_message(xml_text(if c.message.is_empty() {
                    c.verdict.clone()
                } else {
                    format!("{}: {}", c.verdict, c.message)
                }));
            s
        }
        _ => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_type("error")
                .set_message(headline(c))
                .set_description(details(cat, bodies, c));
            s
        }
    };
    let mut tc = TestCase::new(c.id.as_str(), status);
    tc.set_classname(c.area.as_str());
    tc.set_time(Duration::from_millis(c.duration_ms));
    for r in &c.requirements {
        tc.add_property(Property::new("requirement", r.as_str()));
    }
    tc.add_property(Property::new("level", c.level.as_str()));
    tc.add_property(Property::new("verdict", c.verdict.as_str()));
    if let Some(rule) = super::broken_rule(c) {
        tc.add_property(Property::new("broken", rule));
    }
    tc.add_property(Property::new("title", c.title.as_str()));
    if let Some(b) = &c.baseline {
        tc.add_property(Property::new("baseline", b.as_str()));
    }
    if c.verdict == "warn" && c.baseline.is_none() {
        tc.set_system_out(format!(
            "WARNING (SHOULD not met)\n{}",
            details(cat, bodies, c)
        ));
    }
    tc
}

fn failure_type(c: &CheckRecord) -> String {
    match &c.failure {
        Some(f) if !f.rule.is_empty() => f.rule.clone(),
        _ => c.requirements.first().cloned().unwrap_or_default(),
    }
}

/// Server text in a description, cut at [`escape::TEXT_MAX`] bytes.
fn capped(s: &str) -> std::borrow::Cow<'_, str> {
    escape::cap(s, escape::TEXT_MAX)
}

/// Text as JUnit carries it: control and bidirectional characters shown as escapes (CI views
/// and terminals display these files), and U+FFFE and U+FFFF, which XML 1.0 cannot carry,
/// replaced. A hostile server's body may hold any of them.
pub(super) fn xml_text(s: String) -> String {
    let s = escape::controls(&s, Breaks::Keep).into_owned();
    if s.contains(['\u{FFFE}', '\u{FFFF}']) {
        s.replace(['\u{FFFE}', '\u{FFFF}'], "\u{FFFD}")
    } else {
        s
    }
}

/// One line: the broken rule, expected versus actual.
fn headline(c: &CheckRecord) -> String {
    xml_text(headline_raw(c))
}

fn headline_raw(c: &CheckRecord) -> String {
    match &c.failure {
        Some(f) => {
            let rule = if f.rule.is_empty() {
                String::new()
            } else {
                format!("{}: ", f.rule)
            };
            let exp = if f.expected.is_empty() {
                String::new()
            } else {
                format!("expected {}; ", one_line(&f.expected))
            };
            format!("{rule}{exp}actual {}", one_line(&f.actual))
        }
        None => one_line(&c.message),
    }
}

/// The failure's body: title, rules, quoted requirement, expected, actual, reproduction.
fn details(cat: &Requirements, bodies: &BodyFiles, c: &CheckRecord) -> String {
    xml_text(details_raw(cat, bodies, c))
}

fn details_raw(cat: &Requirements, bodies: &BodyFiles, c: &CheckRecord) -> String {
    let mut t = format!(
        "{}\nrules: {} ({})\n",
        c.title,
        c.requirements.join(", "),
        c.level
    );
    if let Some(f) = &c.failure {
        if !f.rule.is_empty() {
            t.push_str(&format!("broken: {} at step {}\n", f.rule, f.step));
            if let Some(q) = view::quoted(cat, &f.rule) {
                t.push_str(&format!("requirement: \"{q}\"\n"));
            }
        }
        if !f.expected.is_empty() {
            t.push_str(&format!("expected: {}\n", capped(&f.expected)));
        }
        t.push_str(&format!("actual: {}\n", capped(&f.actual)));
    } else if !c.message.is_empty() {
        t.push_str(&format!("message: {}\n", capped(&c.message)));
    }
    if let Some(ex) = c.exchanges.last() {
        let curl = bodies.curl(&c.id, c.exchanges.len() - 1, ex, Base::WorkingDir);
        t.push_str(&format!("\nlast exchange: {}\n", view::exchange_line(ex)));
        t.push_str(&format!("reproduce:\n{curl}\n"));
    }
    t
}

fn one_line(s: &str) -> String {
    let t: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() > 300 {
        format!("{}…", t.chars().take(300).collect::<String>())
    } else {
        t
    }
}
