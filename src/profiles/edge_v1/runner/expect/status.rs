//! The status of a response (or its absence): never 5xx, one the step or the model allows, and
//! the preferred one for SHOULD-level cases.

use std::collections::BTreeSet;

use super::cause;
use super::fail::{body_text, fail, statuses};
use crate::client::{Exchange, Response, TransportError};
use crate::engine::event::{Failure, Verdict};
use crate::profiles::edge_v1::case::{Level, Step};
use crate::profiles::edge_v1::model::{Endpoint, Outcome, Prediction};
use crate::profiles::edge_v1::runner::state::{CaseRun, StepFailure};

/// The response of step `n`, or the failure of getting none.
pub(super) fn response(n: usize, ex: &Exchange) -> Result<&Response, StepFailure> {
    let e = match &ex.response {
        Ok(r) => return Ok(r),
        Err(e) => e,
    };
    // A connection closed or reset without a response is the server's fault (B-NO-5XX); a
    // timeout or a refused connection cannot be told from the network's.
    let (verdict, rule) = match e {
        TransportError::Closed(_) => (Verdict::Fail, "B-NO-5XX"),
        TransportError::Timeout => (Verdict::Error, "B-NO-5XX"),
        _ => (Verdict::Error, ""),
    };
    Err(StepFailure {
        verdict,
        message: format!("step {n}: no response: {e}"),
        failure: Failure {
            also: Vec::new(),
            step: n,
            rule: rule.into(),
            expected: "a response".into(),
            actual: e.to_string(),
        },
    })
}

/// Check the status of step `n` against the step's explicit statuses, or the prediction.
pub(super) fn check_status(
    run: &mut CaseRun<'_>,
    n: usize,
    step: &Step,
    endpoint: Endpoint,
    pred: &Prediction,
    resp: &Response,
) -> Result<(), StepFailure> {
    let status = resp.status;
    let got = || format!("{status} with {}", body_text(resp));
    if status >= 500 {
        return Err(fail(Verdict::Fail, n, "B-NO-5XX", "no 5xx".into(), got()));
    }
    if status == 429 && !pred.allows(429) && !run.rules.iter().any(|r| r == QUOTA_RULE) {
        return Err(quota(run, n, step, got()));
    }
    match step.expect.as_ref().and_then(|e| e.status.as_ref()) {
        // A step that only narrows what the model allows (a SHOULD status among the MUST
        // ones) and got a status the model does not allow at all saw the model's rule broken.
        Some(allowed)
            if !allowed.contains(&status) && narrows(allowed, pred) && !pred.allows(status) =>
        {
            Err(fail(
                Verdict::Fail,
                n,
                pred.rule,
                statuses(pred.statuses.iter().copied()),
                got(),
            ))
        }
        Some(allowed) if !allowed.contains(&status) => {
            // The most specific rule the expectation enforces: a step that expects success,
            // as the model does, and got another success status broke the endpoint's success
            // rule (a set-up step of a case about something else); one refused for a cause an
            // earlier step explains broke the rule of that cause; an old RU seen refused and
            // then accepted was kept (S-RUPD-PERM); a step signed with the other party's key,
            // expecting what the model predicts for it, enforces S-G-KEYS when the case checks
            // it; any other mismatch is the case's point.
            let expects_success = allowed.iter().all(|s| (200..300).contains(s));
            let refused = (expects_success && !matches!(pred.outcome, Outcome::Rejected))
                .then(|| cause::refused_rule(run, step, endpoint, pred, status))
                .flatten();
            let rule = if expects_success
                && (200..300).contains(&status)
                && !matches!(pred.outcome, Outcome::Rejected)
                && !pred.allows(status)
                && !pred.rule.is_empty()
            {
                pred.rule.to_string()
            } else if let Some(rule) = refused {
                rule.to_string()
            } else if let Some(rule) = revived_rule(run, step, pred) {
                rule.to_string()
            } else if let Some(rule) = key_rule(run, allowed, pred) {
                rule.to_string()
            } else {
                run.rules.first().cloned().unwrap_or_default()
            };
            Err(fail(
                run.level_verdict(),
                n,
                &rule,
                statuses(allowed.iter().copied()),
                got(),
            ))
        }
        Some(_) => Ok(()),
        None if !pred.allows(status) => Err(fail(
            Verdict::Fail,
            n,
            cause::refused_rule(run, step, endpoint, pred, status).unwrap_or(pred.rule),
            statuses(pred.statuses.iter().copied()),
            got(),
        )),
        None => {
            note_preferred(run, n, pred, status);
            Ok(())
        }
    }
}

/// Whether `allowed` is a strict part of what the model allows (and the model names a rule).
fn narrows(allowed: &[u16], pred: &Prediction) -> bool {
    !pred.rule.is_empty()
        && allowed.iter().all(|s| pred.allows(*s))
        && allowed.iter().collect::<BTreeSet<_>>().len() < pred.statuses.len()
}

/// The rules the model gives a request to a URI replaced earlier.
const OLD_URI_RULES: [&str; 2] = ["S-RUPD-OLDURI", "S-SUPD-OLDURI"];

/// The old URI a refusal the model predicts for `step` is about (`c ru@0`): a server that
/// refuses it once and accepts it later has kept it.
pub(in crate::profiles::edge_v1::runner) fn old_uri_refusal(
    step: &Step,
    pred: &Prediction,
) -> Option<String> {
    if !matches!(pred.outcome, Outcome::Rejected) || !OLD_URI_RULES.contains(&pred.rule) {
        return None;
    }
    let via = step.via.as_deref()?;
    Some(format!("{} {via}", step.conn))
}

/// The rule a step signed with the other party's key enforces (S-G-KEYS, as the model
/// predicts), when the step expects exactly that refusal and the case checks the rule.
fn key_rule(run: &CaseRun<'_>, allowed: &[u16], pred: &Prediction) -> Option<&'static str> {
    const RULE: &str = "S-G-KEYS";
    let same = allowed.len() == pred.statuses.len() && allowed.iter().all(|s| pred.allows(*s));
    (same
        && matches!(pred.outcome, Outcome::Rejected)
        && pred.rule == RULE
        && run.rules.iter().any(|r| r == RULE))
    .then_some(RULE)
}

/// An old RU that the server refused earlier in the case and now accepts again: only PUT RU
/// replaces RU, so the update kept a copy of it (S-RUPD-PERM), when the case checks that rule.
fn revived_rule(run: &CaseRun<'_>, step: &Step, pred: &Prediction) -> Option<&'static str> {
    const RULE: &str = "S-RUPD-PERM";
    let token = old_uri_refusal(step, pred)?;
    (step.via.as_deref().is_some_and(|v| v.starts_with("ru@"))
        && run.refused_uris.contains(&token)
        && run.rules.iter().any(|r| r == RULE))
    .then_some(RULE)
}

/// The binding's queue-cap rule and its smallest allowed cap.
const QUOTA_RULE: &str = "B-QUOTA";
const SMALLEST_CAP: usize = 32;

/// A 429 met by a check about something else (B-QUOTA): with fewer than the smallest allowed
/// cap queued it breaks B-QUOTA; otherwise the check is skipped, blocked by the server's quota.
fn quota(run: &CaseRun<'_>, n: usize, step: &Step, got: String) -> StepFailure {
    let queued = run.model().conn(&step.conn).map_or(0, |c| c.queue.len());
    let sending = step.messages.as_ref().map_or(0, Vec::len);
    if queued + sending <= SMALLEST_CAP {
        return fail(
            Verdict::Fail,
            n,
            QUOTA_RULE,
            format!(
                "no 429 with {queued} message(s) queued and {sending} sent: a queue cap is at \
                 least {SMALLEST_CAP} messages"
            ),
            got,
        );
    }
    StepFailure {
        verdict: Verdict::Skip,
        message: format!(
            "blocked by the server's quota: step {n} got 429 with {queued} message(s) queued \
             and {sending} sent (B-QUOTA allows a cap of {SMALLEST_CAP} or more)"
        ),
        failure: Failure {
            also: Vec::new(),
            step: n,
            rule: String::new(),
            expected: "a send under the server's queue cap".into(),
            actual: got,
        },
    }
}

/// Only a SHOULD-level case checks the preferred status: a deviation is its warning.
fn note_preferred(run: &mut CaseRun<'_>, n: usize, pred: &Prediction, status: u16) {
    let Some((pref, rule)) = &pred.preferred else {
        return;
    };
    if !pref.contains(&status)
        && run.level != Level::Must
        && run.rules.iter().any(|r| r == rule)
        && run.warning.is_none()
    {
        run.warning = Some(fail(
            Verdict::Warn,
            n,
            rule,
            statuses(pref.iter().copied()),
            status.to_string(),
        ));
    }
}
