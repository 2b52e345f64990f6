//! How a scripted case of the WebSocket-era profiles (`tassis-v2`, `simplex-v5`) ended, and
//! the rule it saw broken.

use crate::engine::generate::Trial;

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
    /// broken rule fails it, anything the suite could not judge is an error.
    pub fn trial(self, size: usize) -> Trial {
        match self {
            Ending::Broken { step, broken, .. } => Trial::Fail {
                message: format!(
                    "step {step}: {}: expected {}; got {}",
                    broken.rule, broken.expected, broken.actual
                ),
                size,
            },
            Ending::Error(e) | Ending::Skip(e) | Ending::Waived(e) => Trial::Error(e),
            Ending::Pass => Trial::Pass,
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
        match (Ending::Broken {
            step: 3,
            broken,
            transcript: String::new(),
        })
        .trial(7)
        {
            Trial::Fail { message, size } => {
                assert_eq!(message, "step 3: R-1: expected 201; got 500");
                assert_eq!(size, 7);
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        assert!(matches!(Ending::Pass.trial(1), Trial::Pass));
        assert!(matches!(
            Ending::Skip("no --prekeys-low".into()).trial(1),
            Trial::Error(e) if e == "no --prekeys-low"
        ));
    }
}
