//! What the scripted sessions of tassis-v2 and simplex-v5 share around each check: hostile
//! checks run alone, so that a crash is blamed on the input that caused it; after a hostile
//! check, or any failure, the server must still serve; and once it has stopped, no check is
//! judged.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use crate::client::Liveness;
use crate::engine::{CheckInfo, CheckResult, Failure, Verdict};

/// The rule a server that stops serving breaks, and how a report says it.
#[derive(Debug, Clone, Copy)]
pub struct Alive {
    /// The rule (`TB-ALIVE`, `B-NO-5XX`).
    pub rule: &'static str,
    /// What it asks, for the failure's `expected`.
    pub expected: &'static str,
    /// What the server did instead, after "the server" (`stopped serving`).
    pub stopped: &'static str,
}

/// Runs the checks of one session under these rules.
pub struct Guard {
    liveness: Arc<Liveness>,
    exclusive: tokio::sync::RwLock<()>,
    alive: Alive,
}

impl Guard {
    /// A guard that marks `liveness` gone (the run then stops) when the server stops
    /// serving, blaming `alive`.
    pub fn new(liveness: Arc<Liveness>, alive: Alive) -> Guard {
        Guard {
            liveness,
            exclusive: tokio::sync::RwLock::new(()),
            alive,
        }
    }

    /// What the engine watches.
    pub fn liveness(&self) -> Arc<Liveness> {
        self.liveness.clone()
    }

    /// Run `check` (a case of `steps` steps): `run` judges it, alone when `hostile`, beside
    /// others otherwise. Then, after a hostile check or a failure, `alive` must succeed; if
    /// it does not, the check fails on [`Alive::rule`] (its own failure kept in `also` and
    /// `actual`) and the target is gone. A check of a target already gone is not judged.
    pub async fn check<R, A>(
        &self,
        check: &CheckInfo,
        hostile: bool,
        steps: usize,
        run: impl FnOnce() -> R,
        alive: impl FnOnce() -> A,
    ) -> CheckResult
    where
        R: Future<Output = CheckResult>,
        A: Future<Output = Result<(), String>>,
    {
        let (_alone, _beside);
        if hostile {
            _alone = self.exclusive.write().await;
        } else {
            _beside = self.exclusive.read().await;
        }
        let started = Instant::now();
        if let Some(why) = self.liveness.gone() {
            let mut result = CheckResult::new(check);
            result.verdict = Verdict::Error;
            result.message = format!("target gone: {why}; not a verdict on this check");
            return result;
        }
        let mut result = run().await;
        let broken = matches!(result.verdict, Verdict::Fail | Verdict::Warn);
        if let Some(why) = self.liveness.gone().filter(|_| broken) {
            // Another check saw the server stop while this one ran: not this check's finding.
            result.verdict = Verdict::Error;
            result.failure = None;
            result.message =
                format!("target gone while this check ran: {why}; not a verdict on this check");
        } else if (hostile && result.verdict != Verdict::Error) || broken {
            // A crash shows first as a closed connection or a missing answer.
            if let Err(why) = alive().await {
                self.stopped(check, steps, &mut result, why);
            }
        }
        result.duration = started.elapsed();
        result
    }

    /// The server stopped serving after `check`: blame it, keeping its own failure.
    fn stopped(&self, check: &CheckInfo, steps: usize, result: &mut CheckResult, why: String) {
        let Alive {
            rule,
            expected,
            stopped,
        } = self.alive;
        self.liveness
            .mark_gone(format!("the server {stopped} after {} ({why})", check.id));
        let own = result.failure.take();
        let mut also: Vec<String> = Vec::new();
        if let Some(f) = &own {
            also.push(f.rule.clone());
            also.extend(f.also.iter().cloned());
        }
        result.verdict = Verdict::Fail;
        result.message = format!("{rule}: the server {stopped} after this check: {why}");
        result.failure = Some(Failure {
            step: own.as_ref().map_or(steps, |f| f.step),
            rule: rule.into(),
            also,
            expected: expected.into(),
            actual: format!(
                "{why}{}",
                own.map(|f| format!("\nbefore that: {} — {}", f.rule, f.actual))
                    .unwrap_or_default()
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::Level;

    const ALIVE: Alive = Alive {
        rule: "TB-ALIVE",
        expected: "the server keeps serving new connections",
        stopped: "stopped serving",
    };

    fn info(id: &str) -> CheckInfo {
        CheckInfo {
            id: id.into(),
            title: id.into(),
            area: "hostile".into(),
            requirements: vec!["T-FRAME".into()],
            level: Level::Must,
            index: 0,
        }
    }

    fn verdict(check: &CheckInfo, v: Verdict) -> CheckResult {
        let mut r = CheckResult::new(check);
        r.verdict = v;
        if v == Verdict::Fail {
            r.failure = Some(Failure {
                step: 2,
                rule: "T-FRAME".into(),
                also: Vec::new(),
                expected: "an error reply".into(),
                actual: "the connection closed".into(),
            });
        }
        r
    }

    #[tokio::test]
    async fn a_server_that_stops_after_a_hostile_check_is_blamed_once_and_the_rest_not_judged() {
        let liveness = Arc::new(Liveness::default());
        let guard = Guard::new(liveness.clone(), ALIVE);
        let crash = info("hostile/short-frame");
        let r = guard
            .check(
                &crash,
                true,
                3,
                || async { verdict(&crash, Verdict::Fail) },
                || async { Err("connection refused".to_string()) },
            )
            .await;
        assert_eq!(r.verdict, Verdict::Fail);
        let f = r.failure.expect("a failure");
        assert_eq!((f.rule.as_str(), f.step), ("TB-ALIVE", 2));
        assert_eq!(f.also, vec!["T-FRAME".to_string()]);
        assert!(f.actual.contains("before that: T-FRAME"), "{}", f.actual);
        assert!(
            r.message
                .starts_with("TB-ALIVE: the server stopped serving after this check"),
            "{}",
            r.message
        );
        let why = liveness.gone().expect("the target is gone");
        assert!(why.contains("after hostile/short-frame"), "{why}");

        // The next check is not run, and not judged.
        let next = info("login/ok");
        let r = guard
            .check(
                &next,
                false,
                1,
                || async { panic!("a check of a gone target ran") },
                || async { Ok(()) },
            )
            .await;
        assert_eq!(r.verdict, Verdict::Error);
        assert!(r.message.starts_with("target gone: "), "{}", r.message);
    }

    #[tokio::test]
    async fn a_passing_check_is_not_followed_by_a_liveness_check_unless_hostile() {
        let guard = Guard::new(Arc::new(Liveness::default()), ALIVE);
        let c = info("login/ok");
        let r = guard
            .check(
                &c,
                false,
                1,
                || async { verdict(&c, Verdict::Pass) },
                || async { panic!("a liveness check after a passing check") },
            )
            .await;
        assert_eq!(r.verdict, Verdict::Pass);
        // A hostile check that passes, on a server that still serves, passes.
        let r = guard
            .check(
                &c,
                true,
                1,
                || async { verdict(&c, Verdict::Pass) },
                || async { Ok(()) },
            )
            .await;
        assert_eq!(r.verdict, Verdict::Pass);
        assert!(r.failure.is_none());
    }

    #[tokio::test]
    async fn a_failure_seen_while_another_check_stopped_the_server_is_not_a_verdict() {
        let liveness = Arc::new(Liveness::default());
        let guard = Guard::new(liveness.clone(), ALIVE);
        let c = info("ack/ok");
        let r = guard
            .check(
                &c,
                false,
                1,
                || async {
                    liveness.mark_gone("the server stopped serving after another check".into());
                    verdict(&c, Verdict::Fail)
                },
                || async { panic!("no liveness check once the target is gone") },
            )
            .await;
        assert_eq!(r.verdict, Verdict::Error);
        assert!(r.failure.is_none());
        assert!(
            r.message.starts_with("target gone while this check ran"),
            "{}",
            r.message
        );
    }
}
