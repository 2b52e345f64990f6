//! Small helpers the probes share.

use serde_json::Value;

use crate::profiles::edge_v1::case::Step;
use crate::profiles::edge_v1::model::Endpoint;

/// The integer argument `name` of a probe step, or `default`.
pub(super) fn arg_u64(step: &Step, name: &str, default: u64) -> u64 {
    step.args
        .as_ref()
        .and_then(|a| a.get(name))
        .and_then(Value::as_u64)
        .unwrap_or(default)
}

/// A request to `endpoint` on `conn` with no overrides.
pub(super) fn plain(endpoint: Endpoint, conn: &str) -> Step {
    Step {
        op: Some(endpoint.into()),
        conn: conn.to_string(),
        ..Step::default()
    }
}
