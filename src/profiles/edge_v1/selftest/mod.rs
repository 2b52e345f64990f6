//! Self-validation: proof that the suite catches what it claims to check.
//!
//! The reference server has a fault-injection harness (crate feature `faults`): named faults,
//! each breaking exactly one rule of the binding. For every fault, the checks linked to that
//! rule (the cases whose `requirements` list it) run against a server with the fault. The
//! fault is *killed* when at least one linked check fails or warns; a fault caught only by an
//! unrelated check, or by none, *survived*: the suite does not prove what it claims.
//!
//! This module holds no fault itself: callers hand it each fault's name and rule and a
//! server that has the fault. `edgecheck selftest` (feature `selftest`) and
//! `tests/kill_matrix.rs` supply the reference server's faults.

mod markdown;
mod matrix;

pub use markdown::{blame_summary, markdown, text};
pub use matrix::{
    is_idle_fault, linked_plan, run_checks, run_matrix, sample, FaultRow, FaultSpec, Matrix, Mode,
    Outcome, RunChecksError, RunOptions, Servers, Target, IDLE_FAULTS, IDLE_HEAD_TIMEOUT,
    IDLE_WAIT,
};

#[cfg(feature = "selftest")]
mod reference;
#[cfg(feature = "selftest")]
pub use reference::{reference_faults, ReferenceServerError, ReferenceServers, QUEUE_CAP};
