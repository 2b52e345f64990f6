//! Verdicts, check results and the events the engine emits.

use std::time::Duration;

use serde::Serialize;

use super::plan::{CheckInfo, Level};
use crate::client::Exchange;
use crate::timing::{TimingReport, TimingVerdict};

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every expectation held.
    Pass,
    /// A capability is absent; the reason says which.
    Skip,
    /// Waived by the user (e.g. `--allow-http`).
    Waived,
    /// A SHOULD (or MAY) expectation failed.
    Warn,
    /// The suite or the network failed; never counted against the server.
    Error,
    /// A MUST expectation failed.
    Fail,
}

impl Verdict {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Skip => "skip",
            Verdict::Waived => "waived",
            Verdict::Warn => "warn",
            Verdict::Error => "error",
            Verdict::Fail => "fail",
        }
    }

    /// All verdicts, best first.
    pub const ALL: [Verdict; 6] = [
        Verdict::Pass,
        Verdict::Skip,
        Verdict::Waived,
        Verdict::Warn,
        Verdict::Error,
        Verdict::Fail,
    ];
}

/// Why a check did not pass: which step, which rule, expected versus actual.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// 1-based step number (0 for checks without steps).
    pub step: usize,
    /// The rule the failed expectation rests on.
    pub rule: String,
    /// Other rules the same observation was seen to break (a crash breaks TB-ALIVE too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
    /// What the binding allows.
    pub expected: String,
    /// What came back.
    pub actual: String,
}

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Case ID.
    pub id: String,
    /// Title.
    pub title: String,
    /// Area (the case file).
    pub area: String,
    /// Rule IDs the check covers.
    pub requirements: Vec<String>,
    /// Level.
    pub level: Level,
    /// Verdict.
    pub verdict: Verdict,
    /// One-line explanation (empty on pass).
    pub message: String,
    /// Details of a failure, warning or error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Exchanges, kept for checks that did not pass.
    #[serde(skip)]
    pub exchanges: Vec<Exchange>,
    /// Number of requests sent.
    pub requests: usize,
    /// Number of signatures made.
    pub signatures: usize,
    /// Wall time.
    #[serde(serialize_with = "ser_ms")]
    pub duration: Duration,
    /// The timing measurement of a timing check ([`CheckResult::attach_timing`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<Box<TimingReport>>,
    /// The measurements of the further endpoints of a check that measures several
    /// ([`CheckResult::attach_timings`]), after the one in `timing`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub more_timing: Vec<TimingReport>,
}

impl CheckResult {
    /// A passing result of `check` with nothing done yet, for a runner to fill in.
    pub fn new(check: &CheckInfo) -> CheckResult {
        CheckResult {
            id: check.id.clone(),
            title: check.title.clone(),
            area: check.area.clone(),
            requirements: check.requirements.clone(),
            level: check.level,
            verdict: Verdict::Pass,
            message: String::new(),
            failure: None,
            exchanges: Vec::new(),
            requests: 0,
            signatures: 0,
            duration: Duration::ZERO,
            timing: None,
            more_timing: Vec::new(),
        }
    }

    /// Every timing measurement of this result, in the order they were attached.
    pub fn timings(&self) -> impl Iterator<Item = &TimingReport> {
        self.timing.as_deref().into_iter().chain(&self.more_timing)
    }

    /// Attaches the measurements of several endpoints of one check, each as
    /// [`attach_timing`](CheckResult::attach_timing) does: the worst verdict wins, and when
    /// it comes from a measurement its message names the endpoint.
    pub fn attach_timings(&mut self, reports: Vec<TimingReport>, rule: &str) {
        let several = reports.len() > 1;
        for report in reports {
            let before = self.verdict;
            let (endpoint, summary) = (report.endpoint.clone(), report.summary.clone());
            self.attach_timing(report, rule);
            if several && self.verdict != before {
                self.message = format!("{endpoint}: {summary}");
                if let Some(f) = &mut self.failure {
                    f.actual = self.message.clone();
                }
            }
        }
    }

    /// Puts a timing measurement on this result and lets it judge `rule` (V-TIMING, say):
    /// a difference over the thresholds is a warning whatever the check's level (timing is
    /// never a failure), and a measurement that could not be judged is an error (never the
    /// server's fault). A verdict already worse stays. The requests sent are counted.
    pub fn attach_timing(&mut self, report: TimingReport, rule: &str) {
        self.requests += report.requests;
        let verdict = match report.verdict {
            TimingVerdict::Pass => Verdict::Pass,
            TimingVerdict::Warn => Verdict::Warn,
            TimingVerdict::Error => Verdict::Error,
        };
        if verdict > self.verdict {
            self.verdict = verdict;
            self.message = report.summary.clone();
            self.failure = (verdict == Verdict::Warn).then(|| Failure {
                step: 0,
                rule: rule.to_string(),
                also: Vec::new(),
                expected: format!(
                    "every failure of {} answered in the same time, whatever its cause",
                    report.endpoint
                ),
                actual: report.summary.clone(),
            });
        }
        match self.timing {
            None => self.timing = Some(Box::new(report)),
            Some(_) => self.more_timing.push(report),
        }
    }
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// What the engine tells reporters.
#[derive(Debug, Clone)]
pub enum Event {
    /// The plan is ready: this many checks will run.
    Started {
        /// Number of checks.
        total: usize,
    },
    /// One check finished.
    Finished(Box<CheckResult>),
}
