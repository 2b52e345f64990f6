//! How a scripted case of the WebSocket-era profiles (`tassis-v2`, `simplex-v5`) ended, and
//! the rule it saw broken.

use crate::catalogue::requirements::Requirements;
use crate::engine::generate::Trial;
use crate::engine::{CheckResult, Failure, Verdict};

/// A rule seen broken: which, what was expected, what came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The rule.
    pub rule: String,
    /// Other rules the same observation breaks.
    pub also: Vec<String>,
    /// What the binding allows.
    pub expected: String,
    /// What came.
    pub actual: String,
}

impl Broken {
    /// A rule seen broken.
    pub fn new(rule: &str, expected: impl Into<String>, actual: impl Into<String>) -> Broken {
        Broken {
            rule: rule.to_string(),
            also: Vec::new(),
            expected: expected.into(),
            actual: actual.into(),
        }
    }

    /// The same observation breaks `rule` too.
    pub fn and(mut self, rule: &str) -> Broken {
        if rule != self.rule && !self.also.iter().any(|r| r == rule) {
            self.also.push(rule.to_string());
        }
        self
    }
}

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Every step held.
    Pass,
    /// Step `step` (1-based) saw a rule broken.
    Broken {
        /// 1-based step.
        step: usize,
        /// What was seen.
        broken: Broken,
        /// The last frames or WebSocket messages of the connection concerned, if any.
        transcript: String,
    },
    /// The case could not run here (a need is missing).
    Skip(String),
    /// The user waived what the case checks (`--allow-http` for a plain `ws://` or `http://`
    /// target).
    Waived(String),
    /// The suite could not judge: a transport problem, or a bad case.
    Error(String),
}

impl Ending {
    /// What a generated sequence of `size` operations that ended so tells its driver: a
    /// broken rule fails it (warns, for a rule `rules` does not require), anything the suite
    /// could not judge is an error.
    pub fn trial(self, size: usize, rules: &Requirements) -> Trial {
        match self {
            Ending::Broken { step, broken, .. } => {
                let message = format!(
                    "step {step}: {}: expected {}; got {}",
                    broken.rule, broken.expected, broken.actual
                );
                if rules.warns(&broken.rule) {
                    Trial::Warn { message, size }
                } else {
                    Trial::Fail { message, size }
                }
            }
            Ending::Error(e) | Ending::Skip(e) | Ending::Waived(e) => Trial::Error(e),
            Ending::Pass => Trial::Pass,
        }
    }
}

impl Ending {
    /// Writes how a check's case ended into `result`: its verdict and message, and for a
    /// broken rule the failure, blamed as `fail` or, for a rule `rules` does not require,
    /// `warn`. A transcript follows what came, after `label` (e.g. `frames`).
    pub fn judge(self, result: &mut CheckResult, rules: &Requirements, label: &str) {
        match self {
            Ending::Pass => {}
            Ending::Skip(why) => {
                result.verdict = Verdict::Skip;
                result.message = why;
            }
            Ending::Waived(why) => {
                result.verdict = Verdict::Waived;
                result.message = why;
            }
            Ending::Error(why) => {
                result.verdict = Verdict::Error;
                result.message = why;
            }
            Ending::Broken {
                step,
                broken,
                transcript,
            } => {
                result.verdict = if rules.warns(&broken.rule) {
                    Verdict::Warn
                } else {
                    Verdict::Fail
                };
                result.message = format!(
                    "{}: expected {}; got {}",
                    broken.rule, broken.expected, broken.actual
                );
                let actual = if transcript.is_empty() {
                    broken.actual
                } else {
                    format!("{}\n{label}: {transcript}", broken.actual)
                };
                result.failure = Some(Failure {
                    step,
                    rule: broken.rule,
                    also: broken.also,
                    expected: broken.expected,
                    actual,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_rule_fails_the_trial_and_the_rest_is_not_judged() {
        let broken = Broken::new("R-1", "201", "500").and("R-2").and("R-1");
        assert_eq!(broken.also, ["R-2"]);
        let ending = Ending::Broken {
            step: 3,
            broken,
            transcript: String::new(),
        };
        let rules = crate::profiles::tassis_v2::catalogue();
        match ending.trial(7, rules) {
            Trial::Fail { message, size } => {
                assert_eq!(message, "step 3: R-1: expected 201; got 500");
                assert_eq!(size, 7);
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        // A SHOULD rule warns: the search for a MUST failure goes on.
        let should = Ending::Broken {
            step: 3,
            broken: Broken::new("TB-TEXT-FRAME", "201", "500"),
            transcript: String::new(),
        };
        match should.trial(7, rules) {
            Trial::Warn { message, size } => {
                assert_eq!(message, "step 3: TB-TEXT-FRAME: expected 201; got 500");
                assert_eq!(size, 7);
            }
            other => panic!("expected a warning, got {other:?}"),
        }
        assert!(matches!(Ending::Pass.trial(1, rules), Trial::Pass));
        assert!(matches!(
            Ending::Skip("no --prekeys-low".into()).trial(1, rules),
            Trial::Error(e) if e == "no --prekeys-low"
        ));
    }

    #[test]
    fn a_broken_rule_is_blamed_at_its_level_and_the_rest_is_not_blamed() {
        use crate::engine::{CheckInfo, Level};
        let rules = crate::profiles::tassis_v2::catalogue();
        let check = CheckInfo {
            id: "a/b".into(),
            title: String::new(),
            area: "a".into(),
            requirements: vec![],
            level: Level::Must,
            index: 0,
        };
        let judged = |ending: Ending| {
            let mut r = CheckResult::new(&check);
            ending.judge(&mut r, rules, "frames");
            r
        };
        let must = judged(Ending::Broken {
            step: 2,
            broken: Broken::new("TB-IDLE", "open", "closed"),
            transcript: "login".into(),
        });
        assert_eq!(must.verdict, Verdict::Fail);
        assert_eq!(must.message, "TB-IDLE: expected open; got closed");
        let failure = must.failure.expect("a failure");
        assert_eq!((failure.step, failure.rule.as_str()), (2, "TB-IDLE"));
        assert_eq!(failure.actual, "closed\nframes: login");
        let should = judged(Ending::Broken {
            step: 1,
            broken: Broken::new("TB-TEXT-FRAME", "ignored", "closed"),
            transcript: String::new(),
        });
        assert_eq!(should.verdict, Verdict::Warn);
        assert_eq!(should.failure.expect("a failure").actual, "closed");
        let error = judged(Ending::Error("connection refused".into()));
        assert_eq!(
            (
                error.verdict,
                error.message.as_str(),
                error.failure.is_none()
            ),
            (Verdict::Error, "connection refused", true)
        );
        assert_eq!(judged(Ending::Skip("x".into())).verdict, Verdict::Skip);
        assert_eq!(judged(Ending::Waived("x".into())).verdict, Verdict::Waived);
        assert_eq!(judged(Ending::Pass).verdict, Verdict::Pass);
    }
}
