//! Small helpers the probes share.

use serde_json::Value;

use crate::profiles::edge_v1::case::{Op, Step};

/// The integer argument `name` of a probe step, or `default`.
pub(super) fn arg_u64(step: &Step, name: &str, default: u64) -> u64 {
    step.args
        .as_ref()
        .and_then(|a| a.get(name))
        .and_then(Value::as_u64)
        .unwrap_or(default)
}

/// A step of `op` on `conn` with no overrides.
pub(super) fn plain(op: Op, conn: &str) -> Step {
    Step {
        op: Some(op),
        conn: conn.to_string(),
        ..Step::default()
    }
}
