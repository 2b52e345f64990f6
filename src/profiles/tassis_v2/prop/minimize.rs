//! Step-level minimization of a finding's case file.
//!
//! proptest shrinks operations; one operation is several steps (a login is a connection, the
//! login, its reply and the pushes it is owed), and not all of them matter to the failure.
//! Here steps are dropped, in chunks and then one by one, while the case still fails on the
//! target with the same rule at its last step and still passes on a correct server (the
//! embedded reference server, started for this): without that second run, dropping an ack
//! would turn "no redelivery after the ack" into a failure any server shows. The result is
//! run again on the target; if it does not fail every time, the unminimized case is kept.

use std::ops::Range;
use std::time::Instant;

use crate::profiles::tassis_v2::case::{Case, Step};
use crate::profiles::tassis_v2::runner::{run_case, Ending, Env};

/// Runs of the minimized case on the target that must all fail before it replaces the
/// original.
const CONFIRM: usize = 3;

/// What minimization did.
#[derive(Debug, Clone, Default)]
pub struct Minimized {
    /// Steps before.
    pub before: usize,
    /// Steps after (as before when nothing could be dropped or the result was not stable).
    pub after: usize,
    /// Candidate cases run.
    pub trials: usize,
    /// The time ran out before every step was tried.
    pub out_of_time: bool,
}

/// Whether `case` fails on `target` with `rule` at its last step.
async fn fails(target: &Env, case: &Case, rule: &str) -> bool {
    match run_case(target, case).await.ending {
        Ending::Broken { step, broken, .. } => step == case.steps.len() && broken.rule == rule,
        _ => false,
    }
}

/// Whether `case` passes on `reference`.
async fn passes(reference: &Env, case: &Case) -> bool {
    matches!(run_case(reference, case).await.ending, Ending::Pass)
}

/// The request an `expect` step waits for the reply of: (connection, sequence).
fn request_of(step: &Step) -> Option<(&str, u32)> {
    match step {
        Step::Send { conn, seq, .. }
        | Step::Login { conn, seq, .. }
        | Step::ReplayLogin { conn, seq, .. } => Some((conn, *seq)),
        _ => None,
    }
}

/// `case` without the steps of `range`, except the replies it waits for to requests that
/// stay (a reply is where the case waits for the server: without it, the next step on
/// another connection would race with the request); with the replies of requests that go.
/// `None` when nothing would be dropped.
fn without(case: &Case, range: Range<usize>) -> Option<Case> {
    let dropped: Vec<(&str, u32)> = case.steps[range.clone()]
        .iter()
        .filter_map(request_of)
        .collect();
    let keep = |i: usize, step: &Step| match step {
        Step::Expect { conn, seq, .. } => !dropped.contains(&(conn.as_str(), *seq)),
        _ => !range.contains(&i),
    };
    let steps: Vec<Step> = case
        .steps
        .iter()
        .enumerate()
        .filter(|(i, s)| keep(*i, s))
        .map(|(_, s)| s.clone())
        .collect();
    (steps.len() < case.steps.len()).then(|| Case {
        steps,
        ..case.clone()
    })
}

/// Drop the steps of `case` that its failure on `target` does not need (its last step, the
/// failing one, stays). `reference` is a correct server every candidate must pass on.
/// Stops trying at `deadline`; returns the case to keep.
pub async fn minimize(
    target: &Env,
    reference: &Env,
    case: &Case,
    rule: &str,
    deadline: Instant,
) -> (Case, Minimized) {
    let mut stats = Minimized {
        before: case.steps.len(),
        ..Minimized::default()
    };
    let mut best = case.clone();
    let mut chunk = (best.steps.len() / 2).max(1);
    loop {
        let mut changed = false;
        // From the end: later steps depend on earlier ones (connections, captured values).
        let mut end = best.steps.len().saturating_sub(1);
        while end > 0 && Instant::now() < deadline {
            let start = end.saturating_sub(chunk);
            if let Some(candidate) = without(&best, start..end) {
                stats.trials += 1;
                if fails(target, &candidate, rule).await && passes(reference, &candidate).await {
                    best = candidate;
                    changed = true;
                }
            }
            end = start;
        }
        if Instant::now() >= deadline || (chunk == 1 && !changed) {
            break;
        }
        if !changed {
            chunk = (chunk / 2).max(1);
        }
    }
    stats.out_of_time = Instant::now() >= deadline;
    if best.steps.len() < case.steps.len() {
        for _ in 0..CONFIRM {
            stats.trials += 1;
            if !fails(target, &best, rule).await || !passes(reference, &best).await {
                stats.after = case.steps.len();
                return (case.clone(), stats);
            }
        }
    }
    stats.after = best.steps.len();
    (best, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::tassis_v2::case::{Level, Msg, ReplyKind};

    fn case() -> Case {
        let send = |seq| Step::Send {
            conn: "a".into(),
            seq,
            msg: Msg::Unregister {},
        };
        let expect = |seq| Step::Expect {
            conn: "a".into(),
            seq,
            reply: ReplyKind::Ack,
            error: vec![],
            pre_keys: None,
            uploads_at_most: None,
            rule: "T-UNREG".into(),
        };
        Case {
            id: "prop/x".into(),
            title: "x".into(),
            requirements: vec!["T-UNREG".into()],
            level: Level::Must,
            hostile: false,
            needs: vec![],
            steps: vec![
                Step::Connect { conn: "a".into() },
                send(1),
                send(2),
                expect(1),
                expect(2),
            ],
        }
    }

    #[test]
    fn a_request_goes_with_its_reply() {
        let c = without(&case(), 1..2).expect("something dropped");
        assert_eq!(c.steps.len(), 3);
        assert!(!c.steps.iter().any(|s| request_of(s) == Some(("a", 1))));
        assert!(!c
            .steps
            .iter()
            .any(|s| matches!(s, Step::Expect { seq: 1, .. })));
    }

    #[test]
    fn a_reply_stays_while_its_request_does() {
        assert_eq!(without(&case(), 3..4), None);
        let c = without(&case(), 2..4).expect("something dropped");
        assert!(c
            .steps
            .iter()
            .any(|s| matches!(s, Step::Expect { seq: 1, .. })));
        assert_eq!(c.steps.len(), 3);
    }
}
