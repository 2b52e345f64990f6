//! What a profile hands the engine to run checks against an opened target.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::event::CheckResult;
use super::plan::CheckInfo;
use crate::client::Liveness;

/// A boxed future that can move between threads.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An opened target with a profile's checks loaded: runs one check at a time, from any task.
pub trait Session: Send + Sync {
    /// Run the check (`check.index` is its position in the profile's list).
    fn run_check<'a>(&'a self, check: &'a CheckInfo) -> BoxFuture<'a, CheckResult>;

    /// A rough guess of how long the check takes, in units of about one request. The engine
    /// starts the dearest checks first, so that a long one is not left running alone at the
    /// end while the cores idle; ties keep the plan's order. 0 (the default): no guess.
    fn cost(&self, _check: &CheckInfo) -> u64 {
        0
    }

    /// The counter of requests in a row without an answer, which the run's circuit breaker
    /// watches (`None`: the run never stops early).
    fn liveness(&self) -> Option<Arc<Liveness>> {
        None
    }
}
