//! Checks one response against a step's expectations and the model's prediction, and learns
//! what the server chose (URIs, message ids).

mod cause;
mod fail;
mod headers;
mod retrieval;
mod status;
mod uris;

pub(super) use status::old_uri_refusal;

use crate::client::{Exchange, Response};
use crate::engine::event::Verdict;
use crate::profiles::edge_v1::case::Step;
use crate::profiles::edge_v1::model::{Endpoint, Outcome, Prediction};
use crate::profiles::edge_v1::runner::state::{CaseRun, StepFailure};

/// What a passing step tells the model.
#[derive(Debug, Clone, Copy)]
pub struct StepOutcome {
    /// The status.
    pub status: u16,
    /// Messages returned or deleted.
    pub count: Option<usize>,
}

/// Check the response of step `n`.
pub fn check(
    run: &mut CaseRun<'_>,
    n: usize,
    step: &Step,
    endpoint: Endpoint,
    pred: &Prediction,
    ex: &Exchange,
) -> Result<StepOutcome, StepFailure> {
    let resp = status::response(n, ex)?;
    status::check_status(run, n, step, endpoint, pred, resp)?;
    let exp = step.expect.clone().unwrap_or_default();
    headers::check_form(run, n, &exp, resp, pred)?;
    let status = resp.status;
    if !(200..300).contains(&status) {
        return Ok(StepOutcome {
            status,
            count: None,
        });
    }
    headers::check_complete(n, resp)?;
    let count = check_success(run, n, step, endpoint, pred, resp, &ex.request.body)?;
    Ok(StepOutcome { status, count })
}

/// Check a 2xx answer against the outcome the model predicts; the count of messages
/// returned or deleted.
fn check_success(
    run: &mut CaseRun<'_>,
    n: usize,
    step: &Step,
    endpoint: Endpoint,
    pred: &Prediction,
    resp: &Response,
    sent: &[u8],
) -> Result<Option<usize>, StepFailure> {
    let exp = step.expect.clone().unwrap_or_default();
    match &pred.outcome {
        Outcome::Rejected => Ok(None),
        Outcome::Created => uris::check_created(run, n, step, &exp, resp, sent).map(|()| None),
        Outcome::Updated {
            recipient_uri,
            sender_uri,
        } => uris::check_updated(run, n, step, endpoint, resp, [*recipient_uri, *sender_uri])
            .map(|()| None),
        Outcome::Deleted => check_empty(n, "S-DEL-200", resp).map(|()| None),
        Outcome::Sent => check_empty(n, "S-SEND-200", resp).map(|()| None),
        Outcome::DeletedMessages(sel) => {
            retrieval::check_deleted_messages(run, n, sel, &exp, resp, &step.conn).map(Some)
        }
        Outcome::Retrieved(sel) => {
            retrieval::check_retrieved(run, n, sel, resp, &exp, &step.conn).map(Some)
        }
    }
}

/// A deletion or a send answers with an empty body.
fn check_empty(n: usize, rule: &str, resp: &Response) -> Result<(), StepFailure> {
    if resp.body.is_empty() {
        return Ok(());
    }
    Err(fail::fail(
        Verdict::Fail,
        n,
        rule,
        "an empty body".into(),
        fail::body_text(resp),
    ))
}
