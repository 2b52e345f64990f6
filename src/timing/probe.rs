//! What a profile supplies to measure one endpoint: its failure classes and a way to time one
//! request of a class.

use std::time::Duration;

/// A boxed future that can move between threads: the same type as the engine's `BoxFuture`
/// (both spell `Pin<Box<dyn Future + Send>>`), named here so that this module does not
/// depend on the engine, whose results carry timing reports.
pub use futures_util::future::BoxFuture;

/// The name of a failure class, as reports show it (`unknown URI`, `wrong signature`, ...).
pub type ClassName = String;

/// One timed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// From the request's first byte written to the response fully read; preparing the
    /// request (signing, encoding) is not included.
    pub elapsed: Duration,
    /// What the server answered, in a few characters (`401`, `ok:false`).
    pub outcome: String,
}

/// Why a request gave no sample.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// No (complete) answer: the connection failed, closed or timed out. The measurement
    /// stops: it says nothing about the server's timing.
    #[error("{0}")]
    Transport(String),
    /// An answer, but not the failure the class stands for (a 400 or a 200 where a 401 was
    /// meant): the sample is dropped and counted.
    #[error("answered {outcome} instead of {expected}")]
    Unexpected {
        /// What came back.
        outcome: String,
        /// What the class expects.
        expected: String,
    },
}

/// Failure classes of one endpoint and how to time one request of each.
///
/// The sampler calls [`sample`](TimingProbe::sample) one request at a time, never
/// concurrently, so a probe keeps one connection open and reuses it (keep-alive): neither
/// handshakes nor queueing behind other requests enter the measurement. A probe prepares
/// everything before it starts the clock (a request signed once can be sent again and again:
/// failures change nothing on the server).
pub trait TimingProbe: Send {
    /// The classes, in the order reports list them (at least two).
    fn classes(&self) -> &[ClassName];

    /// Sends one request of class `class` (an index into [`classes`](TimingProbe::classes))
    /// and times it.
    fn sample(&mut self, class: usize) -> BoxFuture<'_, Result<Sample, ProbeError>>;
}
