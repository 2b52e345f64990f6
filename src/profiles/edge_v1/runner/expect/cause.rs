//! Why a step the model expected to succeed was refused, when an earlier step of the case
//! explains it: the refusal then breaks the rule of that cause, not the endpoint's success rule.

use crate::profiles::edge_v1::case::{parse_via, Step};
use crate::profiles::edge_v1::model::{Endpoint, Outcome, Prediction};
use crate::profiles::edge_v1::runner::state::CaseRun;

/// The rule a refusal with `status` of `step` (predicted to succeed) breaks, when the case
/// shows its cause:
///
/// - a connection that is disabled keeps serving retrieval, deletion and both parties' updates
///   (B-SEND-DISABLED), so refusing them with the disabled status, 403, breaks that rule;
/// - a PUT refused earlier on this connection asked for exactly what now stands in the way (a
///   new RU or SU, a new RK or SK, `disabled: true`): it was applied (B-RUPD-ATOMIC);
/// - `fromMessageID` names a message last returned by a `keepMessages: true` retrieval, which
///   nothing removed since: the 400 says that retrieval removed it (S-RETR-REMOVE);
/// - a send to a connection without `SK` refused with 401: sends are open, whatever their
///   `Authorization` (S-G-OPEN);
/// - a create of a connection the case deleted, refused with 409: the server remembers the
///   deleted ID (S-PRIV-NOHIST-CONN).
pub(super) fn refused_rule(
    run: &CaseRun<'_>,
    step: &Step,
    endpoint: Endpoint,
    pred: &Prediction,
    status: u16,
) -> Option<&'static str> {
    if (200..300).contains(&status) || matches!(pred.outcome, Outcome::Rejected) {
        return None;
    }
    if let Some(rule) = half_applied(run, step, endpoint, status) {
        return Some(rule);
    }
    let known = run.model().conn(&step.conn);
    if endpoint == Endpoint::Create && status == 409 && known.is_some_and(|c| !c.live) {
        return Some("S-PRIV-NOHIST-CONN");
    }
    let conn = known.filter(|c| c.live)?;
    if endpoint == Endpoint::Send && conn.sk.is_none() && status == 401 {
        return Some("S-G-OPEN");
    }
    if conn.disabled && endpoint != Endpoint::Send && status == 403 {
        return Some("B-SEND-DISABLED");
    }
    let kept = step
        .from_message
        .as_ref()
        .is_some_and(|m| run.kept.contains(m) && conn.queue.contains(m));
    if kept && endpoint == Endpoint::Retrieve && status == 400 {
        return Some("S-RETR-REMOVE");
    }
    None
}

/// B-RUPD-ATOMIC when an earlier refused PUT on the step's connection asked for the change
/// that explains the refusal: 404 at the current RU or SU after a new one was asked for, 401
/// with the current RK or SK after a new key was, 403 on a send after `disabled: true` was.
fn half_applied(
    run: &CaseRun<'_>,
    step: &Step,
    endpoint: Endpoint,
    status: u16,
) -> Option<&'static str> {
    let asked = run.refused_updates.get(&step.conn)?;
    let current = step.via.as_deref().and_then(parse_via).is_none();
    let default_signer =
        step.sign_with.is_none() && step.sig_fault.is_none() && step.authorization.is_none();
    let (uri, key) = if endpoint.is_recipient() {
        ("ru", "rk")
    } else {
        ("su", "sk")
    };
    let explained = match status {
        404 => current && asked.contains(uri),
        401 => default_signer && asked.contains(key),
        403 => endpoint == Endpoint::Send && asked.contains("disabled"),
        _ => false,
    };
    explained.then_some("B-RUPD-ATOMIC")
}
