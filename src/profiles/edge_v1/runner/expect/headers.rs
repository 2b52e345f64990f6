//! What a step asks of any response: `Cache-Control: no-store`, no cookie, an empty body or a
//! JSON object.

use super::fail::{body_text, fail};
use crate::client::Response;
use crate::engine::event::Verdict;
use crate::profiles::edge_v1::case::Expect;
use crate::profiles::edge_v1::model::{Outcome, Prediction};
use crate::profiles::edge_v1::runner::state::{CaseRun, StepFailure};
use crate::profiles::edge_v1::wire;

/// The values of every field `name` of a response.
fn header<'r>(resp: &'r Response, name: &'r str) -> impl Iterator<Item = &'r str> + 'r {
    resp.headers
        .iter()
        .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Check the headers and body form `exp` asks for in the response of step `n` (predicted as
/// `pred`).
pub(super) fn check_form(
    run: &CaseRun<'_>,
    n: usize,
    exp: &Expect,
    resp: &Response,
    pred: &Prediction,
) -> Result<(), StepFailure> {
    let verdict = run.level_verdict();
    let case_rule = run.rules.first().cloned().unwrap_or_default();
    // A deletion or a send that succeeds answers with an empty body by its own success rule
    // (S-DEL-200, S-SEND-200), whatever the case is about.
    let success = (200..300).contains(&resp.status);
    let empty_rule = match pred.outcome {
        Outcome::Deleted if success => "S-DEL-200".to_string(),
        Outcome::Sent if success => "S-SEND-200".to_string(),
        _ => case_rule.clone(),
    };
    if exp.no_store
        && !header(resp, "cache-control").any(|v| v.to_ascii_lowercase().contains("no-store"))
    {
        return Err(fail(
            verdict,
            n,
            "B-CACHE",
            "Cache-Control: no-store".into(),
            "no such header".into(),
        ));
    }
    if exp.no_cookie {
        if let Some(c) = header(resp, "set-cookie").next() {
            return Err(fail(
                verdict,
                n,
                "B-NO-COOKIE",
                "no Set-Cookie".into(),
                format!("Set-Cookie: {c}"),
            ));
        }
    }
    if exp.empty_body && !resp.body.is_empty() {
        return Err(fail(
            verdict,
            n,
            &empty_rule,
            "an empty body".into(),
            body_text(resp),
        ));
    }
    if exp.json_object && resp.truncated {
        return Err(too_large(n, resp));
    }
    if exp.json_object && wire::parse_object_strict(&resp.body).is_err() {
        return Err(fail(
            verdict,
            n,
            &case_rule,
            "a JSON object body".into(),
            body_text(resp),
        ));
    }
    Ok(())
}

/// A 2xx body over the client's size cap cannot be checked (a suite error).
pub(super) fn check_complete(n: usize, resp: &Response) -> Result<(), StepFailure> {
    if resp.truncated {
        return Err(too_large(n, resp));
    }
    Ok(())
}

/// The error of a body the suite did not read whole: its size, and why it was cut.
fn too_large(n: usize, resp: &Response) -> StepFailure {
    let mut f = fail(
        Verdict::Error,
        n,
        "",
        "a body the suite can read whole (under --max-body, within the timeout)".into(),
        format!(
            "status {} with a body of {}: truncated, not judged",
            resp.status,
            resp.body_size_text()
        ),
    );
    f.message = format!(
        "step {n}: the response body ({}) is larger than the suite reads (--max-body), so it \
         cannot be judged; edge-v1 answers are small JSON objects",
        resp.body_size_text()
    );
    f
}
