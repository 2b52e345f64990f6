//! `--junit PATH` and `--json PATH` of `prop`, `fuzz` and `race`: what a campaign found, for
//! a CI system.
//!
//! JUnit: one `<testsuite>` named `edgecheck COMMAND`, the profile, target and seed as
//! properties. A clean campaign is one passing testcase named after the command; each
//! finding is a failing testcase (classname the command, name the rule and its number) with
//! the message and the command that replays it; a finding of a SHOULD or MAY rule is a
//! warning: a passing testcase with the same text in `<system-out>`, as `run` writes a
//! `warn`. A campaign that could not be judged (the target unreachable, a problem of the
//! suite) is one `<error>` testcase. At most [`MAX_LISTED`] findings are listed; one more
//! testcase counts the rest.
//!
//! JSON (schema `edgecheck-generated/1`, `docs/results-schema.md`): the same facts.
//! `--summary PATH`: a few lines of Markdown for a pull-request comment or a CI job summary,
//! shorter than [`MAX_SUMMARY_BYTES`].

use std::path::Path;
use std::time::{Duration, Instant};

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use super::error::FileError;
use super::escape;
use super::junit::xml_text;
use super::markdown::cell;
pub use super::summary::MAX_SUMMARY_BYTES;
use crate::profiles::{Finding, Outcome};

/// The JSON schema name.
pub const SCHEMA: &str = "edgecheck-generated/1";
/// Findings listed one by one; the rest are counted.
pub const MAX_LISTED: usize = 100;

/// A campaign that ended: how, and what the outputs say of it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The suite's version.
    pub edgecheck: &'static str,
    /// `prop`, `fuzz` or `race`.
    pub command: &'static str,
    /// The profile.
    pub profile: String,
    /// The target (`--server`), or the embedded reference server.
    pub target: String,
    /// The seed.
    pub seed: u64,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Wall time.
    pub duration_ms: u64,
    /// `clean`, `warned` (findings of SHOULD or MAY rules only), `found` or `error`.
    pub outcome: &'static str,
    /// Why it could not be judged (`outcome` is `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What it found, each with the command that replays it when a case file was written.
    pub findings: Vec<Listed>,
}

/// When a campaign started: its clock and its date, for the outputs.
#[derive(Debug, Clone)]
pub struct Started {
    at: Instant,
    rfc3339: String,
}

impl Started {
    /// Now.
    pub fn now() -> Started {
        Started {
            at: Instant::now(),
            rfc3339: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        }
    }
}

/// A finding as listed.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// `edgecheck replay --profile P FILE`, when a case file was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
}

impl Campaign {
    /// The campaign of `command` that began at `started` and ended now with `result`
    /// (`Err`: the message of the problem that stopped it).
    pub fn new(
        command: &'static str,
        profile: &str,
        target: String,
        seed: u64,
        started: &Started,
        result: Result<&Outcome, String>,
    ) -> Campaign {
        let (outcome, error, findings) = match result {
            Ok(o) => (o.name(), None, o.findings().to_vec()),
            Err(e) => ("error", Some(e), Vec::new()),
        };
        let findings = findings
            .into_iter()
            .map(|finding| Listed {
                replay: finding
                    .file
                    .as_ref()
                    .filter(|_| finding.replayable)
                    .map(|f| format!("edgecheck replay --profile {profile} {}", f.display())),
                finding,
            })
            .collect();
        Campaign {
            schema: SCHEMA,
            edgecheck: env!("CARGO_PKG_VERSION"),
            command,
            profile: profile.to_string(),
            target,
            seed,
            started_at: started.rfc3339.clone(),
            duration_ms: started.at.elapsed().as_millis().min(u128::from(u64::MAX)) as u64,
            outcome,
            error,
            findings,
        }
    }

    /// JUnit XML.
    pub fn junit(&self) -> Result<String, FileError> {
        let mut report = Report::new(format!("edgecheck {} {}", self.command, self.profile));
        let elapsed = Duration::from_millis(self.duration_ms);
        report.set_time(elapsed);
        let mut suite = TestSuite::new(format!("edgecheck {}", self.command));
        suite.set_time(elapsed);
        suite.add_properties([
            Property::new("profile", self.profile.as_str()),
            Property::new("target", self.target.as_str()),
            Property::new("seed", self.seed.to_string()),
            Property::new("startedAt", self.started_at.as_str()),
            Property::new("edgecheck", self.edgecheck),
        ]);
        match (&self.error, self.findings.is_empty()) {
            (Some(e), _) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status
                    .set_type("not judged")
                    .set_message(xml_text(format!("the campaign could not be judged: {e}")));
                let mut tc = TestCase::new(self.command, status);
                tc.set_classname(self.command).set_time(elapsed);
                suite.add_test_case(tc);
            }
            (None, true) => {
                let mut tc = TestCase::new(self.command, TestCaseStatus::success());
                tc.set_classname(self.command).set_time(elapsed);
                suite.add_test_case(tc);
            }
            (None, false) => {
                for (i, l) in self.findings.iter().take(MAX_LISTED).enumerate() {
                    suite.add_test_case(self.finding_case(i, l));
                }
                let more = &self.findings[self.findings.len().min(MAX_LISTED)..];
                if !more.is_empty() {
                    let n = more.len();
                    let text = format!("{n} more finding(s) not listed (--json lists them all)");
                    let mut tc = if more.iter().any(|l| l.finding.fails()) {
                        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        status.set_type("more findings").set_message(text);
                        TestCase::new(format!("{n} more"), status)
                    } else {
                        let mut tc = TestCase::new(format!("{n} more"), TestCaseStatus::success());
                        tc.set_system_out(text);
                        tc
                    };
                    tc.set_classname(self.command);
                    suite.add_test_case(tc);
                }
            }
        }
        report.add_test_suite(suite);
        Ok(report.to_string()?)
    }

    /// The testcase of finding number `i`: a failure, or for a warning a pass with the
    /// text in `<system-out>`.
    fn finding_case(&self, i: usize, l: &Listed) -> TestCase {
        // Messages may quote the server: controls escaped, length capped.
        let rule = xml_text(l.finding.rule.clone());
        let mut text = escape::cap(&l.finding.message, escape::TEXT_MAX).into_owned();
        if let Some(r) = &l.replay {
            text.push_str(&format!("\nreplay: {r}"));
        } else if let Some(f) = &l.finding.file {
            text.push_str(&format!("\nhistory: {}", f.display()));
        }
        let level = l.finding.level.as_str();
        let mut tc = if l.finding.fails() {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_type(rule.as_str())
                .set_message(xml_text(first_line(&l.finding.message)))
                .set_description(xml_text(text));
            TestCase::new(format!("{rule} #{}", i + 1), status)
        } else {
            let mut tc = TestCase::new(format!("{rule} #{}", i + 1), TestCaseStatus::success());
            tc.set_system_out(xml_text(format!("WARNING ({level} not met)\n{text}")));
            tc
        };
        tc.set_classname(self.command);
        tc.add_property(Property::new("rule", rule.as_str()));
        tc.add_property(Property::new("level", level));
        tc
    }

    /// Markdown for a pull-request comment or a CI job summary: the outcome, then one table
    /// row per finding (rule, what, how to replay it) as long as they fit.
    pub fn summary(&self) -> String {
        let head = format!("edgecheck {} · {}", self.command, self.profile);
        let warnings = self.findings.iter().filter(|l| !l.finding.fails()).count();
        let failing = self.findings.len() - warnings;
        let mut out = match (&self.error, failing, warnings) {
            (Some(e), _, _) => format!("## {head}: not judged\n\n{}\n", cell(e)),
            (None, 0, 0) => format!("## {head}: no finding\n"),
            (None, 0, w) => format!("## {head}: no finding, {w} warning(s)\n"),
            (None, n, 0) => format!("## {head}: {n} finding(s)\n"),
            (None, n, w) => format!("## {head}: {n} finding(s), {w} warning(s)\n"),
        };
        out.push_str(&format!(
            "\n{} · seed {} · {:.1} s · edgecheck {}\n",
            cell(&self.target),
            self.seed,
            self.duration_ms as f64 / 1000.0,
            self.edgecheck
        ));
        if self.findings.is_empty() {
            return out;
        }
        out.push_str("\n| rule | level | what | replay |\n|---|---|---|---|\n");
        for (i, l) in self.findings.iter().enumerate() {
            let how = match (&l.replay, &l.finding.file) {
                (Some(r), _) => format!("`{}`", r.replace('`', "'")),
                (None, Some(f)) => format!("history: {}", cell(&f.display().to_string())),
                (None, None) => String::new(),
            };
            let row = format!(
                "| {} | {} | {} | {how} |\n",
                cell(&l.finding.rule),
                l.finding.level.as_str(),
                cell(&first_line(&l.finding.message))
            );
            let more = format!("\n…and {} more\n", self.findings.len() - i);
            if out.len() + row.len() + more.len() + 40 > MAX_SUMMARY_BYTES {
                out.push_str(&more);
                return out;
            }
            out.push_str(&row);
        }
        out
    }

    /// Write the Markdown summary to `path`.
    pub fn write_summary(&self, path: &Path) -> Result<(), FileError> {
        write(path, self.summary())
    }

    /// Write JUnit XML to `path`.
    pub fn write_junit(&self, path: &Path) -> Result<(), FileError> {
        let xml = self.junit()?;
        write(path, xml)
    }

    /// Write pretty JSON to `path`.
    pub fn write_json(&self, path: &Path) -> Result<(), FileError> {
        let text = serde_json::to_string_pretty(self)?;
        write(path, text + "\n")
    }
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    line.chars().take(300).collect()
}

fn write(path: &Path, text: String) -> Result<(), FileError> {
    std::fs::write(path, text).map_err(|source| FileError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::Level;

    fn campaign(result: Result<&Outcome, String>) -> Campaign {
        Campaign::new(
            "fuzz",
            "simplex-v5",
            "embedded reference server".into(),
            7,
            &Started::now(),
            result,
        )
    }

    fn found(n: usize) -> Outcome {
        Outcome::Found(
            (0..n)
                .map(|i| {
                    Finding::new("V-WS-UNSUB", format!("pushed m{i} after unsubscribe\nmore"))
                        .with_file(Some(Path::new("edgecheck-findings/a.json")))
                })
                .collect(),
        )
    }

    #[test]
    fn a_clean_campaign_is_one_passing_testcase() {
        let xml = campaign(Ok(&Outcome::Clean)).junit().unwrap();
        assert!(xml.contains(r#"tests="1""#), "{xml}");
        assert!(xml.contains(r#"failures="0""#), "{xml}");
        assert!(
            xml.contains(r#"<testcase name="fuzz" classname="fuzz""#),
            "{xml}"
        );
        assert!(xml.contains(r#"name="seed" value="7""#), "{xml}");
    }

    #[test]
    fn each_finding_fails_with_its_rule_and_replay() {
        let c = campaign(Ok(&found(2)));
        let xml = c.junit().unwrap();
        assert!(xml.contains(r#"failures="2""#), "{xml}");
        assert!(xml.contains(r#"name="V-WS-UNSUB #2""#), "{xml}");
        assert!(
            xml.contains(r#"message="pushed m0 after unsubscribe""#),
            "{xml}"
        );
        assert!(
            xml.contains("replay: edgecheck replay --profile simplex-v5 edgecheck-findings/a.json"),
            "{xml}"
        );
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["outcome"], "found");
        assert_eq!(json["findings"][1]["rule"], "V-WS-UNSUB");
        assert_eq!(json["findings"][1]["file"], "edgecheck-findings/a.json");
    }

    fn warning(rule: &str) -> Finding {
        Finding::new(rule, "expected status [401], got 403").at_level(Level::Should)
    }

    #[test]
    fn warnings_pass_with_their_text_and_count_apart_from_findings() {
        let outcome = Outcome::of(vec![warning("B-ORDER")]);
        assert!(matches!(outcome, Outcome::Warned(_)), "{outcome:?}");
        let c = campaign(Ok(&outcome));
        let xml = c.junit().unwrap();
        let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit");
        assert_eq!((parsed.tests, parsed.failures), (1, 0), "{xml}");
        assert!(xml.contains("WARNING (SHOULD not met)"), "{xml}");
        assert!(xml.contains(r#"name="level" value="SHOULD""#), "{xml}");
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["outcome"], "warned");
        assert_eq!(json["findings"][0]["level"], "SHOULD");
        let summary = c.summary();
        assert!(
            summary.starts_with("## edgecheck fuzz · simplex-v5: no finding, 1 warning(s)\n"),
            "{summary}"
        );
        assert!(summary.contains("| B-ORDER | SHOULD |"), "{summary}");

        let mut both = found(1).findings().to_vec();
        both.push(warning("B-JSON-DUP"));
        let outcome = Outcome::of(both);
        assert!(matches!(outcome, Outcome::Found(_)), "{outcome:?}");
        let c = campaign(Ok(&outcome));
        let parsed = quick_junit::Report::deserialize_from_str(&c.junit().unwrap()).unwrap();
        assert_eq!((parsed.tests, parsed.failures), (2, 1));
        assert!(c.summary().contains(": 1 finding(s), 1 warning(s)\n"));
        assert!(matches!(Outcome::of(Vec::new()), Outcome::Clean));
    }

    #[test]
    fn warnings_beyond_the_limit_are_counted_without_failing() {
        let many = Outcome::of((0..MAX_LISTED + 3).map(|_| warning("B-ORDER")).collect());
        let xml = campaign(Ok(&many)).junit().unwrap();
        assert!(xml.contains(r#"failures="0""#), "{xml}");
        assert!(xml.contains("3 more finding(s) not listed"), "{xml}");
    }

    #[test]
    fn server_text_with_controls_stays_valid_xml() {
        let f = Finding::new("B-NO-5XX", "body \u{1b}[31m\u{0}\u{FFFF} end");
        let xml = campaign(Ok(&Outcome::Found(vec![f]))).junit().unwrap();
        let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit");
        assert_eq!(parsed.failures, 1);
        assert!(
            !xml.contains('\u{1b}') && !xml.contains('\u{FFFF}'),
            "{xml}"
        );
    }

    #[test]
    fn the_summary_lists_findings_until_they_no_longer_fit() {
        let clean = campaign(Ok(&Outcome::Clean)).summary();
        assert!(
            clean.starts_with("## edgecheck fuzz · simplex-v5: no finding\n"),
            "{clean}"
        );
        let two = campaign(Ok(&found(2))).summary();
        assert!(
            two.starts_with("## edgecheck fuzz · simplex-v5: 2 finding(s)\n"),
            "{two}"
        );
        assert!(
            two.contains("| V-WS-UNSUB | MUST | pushed m1 after unsubscribe | `edgecheck replay --profile simplex-v5 edgecheck-findings/a.json` |"),
            "{two}"
        );
        let many = campaign(Ok(&found(5000))).summary();
        assert!(many.len() < MAX_SUMMARY_BYTES, "{}", many.len());
        assert!(many.contains(" more\n"), "{}", &many[many.len() - 100..]);
        let error = campaign(Err("no | hello".into())).summary();
        assert!(
            error.contains(": not judged") && error.contains("no \\| hello"),
            "{error}"
        );
    }

    #[test]
    fn findings_beyond_the_limit_are_counted() {
        let xml = campaign(Ok(&found(MAX_LISTED + 5))).junit().unwrap();
        assert!(
            xml.contains(&format!(r#"failures="{}""#, MAX_LISTED + 1)),
            "{xml}"
        );
        assert!(xml.contains("5 more finding(s) not listed"), "{xml}");
    }

    #[test]
    fn a_campaign_not_judged_is_an_error_not_a_failure() {
        let c = campaign(Err("cannot connect".into()));
        let xml = c.junit().unwrap();
        assert!(xml.contains(r#"errors="1""#), "{xml}");
        assert!(xml.contains(r#"failures="0""#), "{xml}");
        assert!(xml.contains("could not be judged: cannot connect"), "{xml}");
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["outcome"], "error");
        assert_eq!(json["error"], "cannot connect");
    }

    #[test]
    fn race_histories_are_named_but_not_replayed() {
        let history = Finding::new("V-WS-UNSUB", "pushed m0 after unsubscribe")
            .with_history(Some(Path::new("edgecheck-findings/a.json")));
        let c = Campaign::new(
            "race",
            "simplex-v5",
            "embedded reference server".into(),
            7,
            &Started::now(),
            Ok(&Outcome::Found(vec![history])),
        );
        let xml = c.junit().unwrap();
        assert!(xml.contains("history: edgecheck-findings/a.json"), "{xml}");
        assert!(!xml.contains("replay:"), "{xml}");
    }
}
