//! How the checks describe what they saw: failures, statuses, bodies.

use serde_json::{Map, Value};

use crate::client::Response;
use crate::engine::event::Verdict;
use crate::profiles::edge_v1::runner::state::{failure, StepFailure};
use crate::profiles::edge_v1::wire;

/// Step `n` broke `rule`: `expected` one thing, got `actual`.
pub(super) fn fail(
    verdict: Verdict,
    n: usize,
    rule: &str,
    expected: String,
    actual: String,
) -> StepFailure {
    failure(verdict, n, rule, expected, actual)
}

/// The body in a few words, for a failure.
pub(super) fn body_text(resp: &Response) -> String {
    let t = String::from_utf8_lossy(&resp.body);
    let t: String = t.chars().take(200).collect();
    if t.is_empty() {
        "an empty body".into()
    } else {
        format!("body {t}")
    }
}

/// A set of statuses in words (`status 200 or 204`, `a status in 400..499`).
pub(super) fn statuses(s: impl IntoIterator<Item = u16>) -> String {
    let v: Vec<String> = s.into_iter().map(|x| x.to_string()).collect();
    if v.len() > 6 {
        format!("a status in {}..{}", v[0], v[v.len() - 1])
    } else {
        format!("status {}", v.join(" or "))
    }
}

/// A long value cut short.
pub(super) fn short(s: &str) -> String {
    if s.len() > 24 {
        format!("{}…({} chars)", &s[..16], s.len())
    } else {
        s.to_string()
    }
}

/// The body as a strict JSON object, or a failure of `rule`.
pub(super) fn object(
    n: usize,
    rule: &str,
    resp: &Response,
) -> Result<Map<String, Value>, StepFailure> {
    wire::parse_object_strict(&resp.body).map_err(|e| {
        fail(
            Verdict::Fail,
            n,
            rule,
            "a JSON object body".into(),
            format!("{} ({e})", body_text(resp)),
        )
    })
}

/// The members of `o` other than `allowed`.
pub(super) fn extra_members<'o>(o: &'o Map<String, Value>, allowed: &[&str]) -> Vec<&'o String> {
    o.keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect()
}
