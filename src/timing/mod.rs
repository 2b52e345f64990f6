//! Statistical timing side-channel checks, for any profile: do the failures of one endpoint
//! take the same time whatever their cause?
//!
//! A profile describes an endpoint as a [`TimingProbe`]: its failure classes (unknown URI,
//! wrong signature, unsigned, ...) and how to time one request of each
//! ([`HttpProbe`] and [`WsProbe`] do it for prepared HTTP requests and WebSocket messages).
//! [`measure`] samples it ([`sampler`]: warm-up, interleaved rounds in a seeded random
//! order, one request at a time, a deadline), compares every pair of classes ([`stats`]:
//! difference of medians, percentile bootstrap interval, Bonferroni) and judges it
//! ([`TimingReport`]). `CheckResult::attach_timing` puts the report on a check result, and
//! every report format shows it. The method and its measured error rates: `docs/timing.md`.
//!
//! Nothing here knows a protocol.

pub mod config;
pub mod http;
pub mod probe;
pub mod report;
mod rng;
pub mod sampler;
pub mod stats;
pub mod ws;

pub use config::TimingConfig;
pub use http::HttpProbe;
pub use probe::{BoxFuture, ClassName, ProbeError, Sample, TimingProbe};
pub use report::{ClassSummary, PairSummary, TimingReport, TimingVerdict};
pub use ws::WsProbe;

/// Measures `probe` (the failure classes of `endpoint`) as `config` says, and judges it; a
/// warning is measured again when `config.remeasure_warnings` says so
/// ([`TimingReport::confirmed_by`]).
///
/// The caller makes sure nothing else loads the server meanwhile: run timing checks alone,
/// not alongside other checks.
pub async fn measure(
    endpoint: &str,
    probe: &mut dyn TimingProbe,
    config: &TimingConfig,
) -> TimingReport {
    let first = measure_once(endpoint, probe, config).await;
    if first.verdict != TimingVerdict::Warn || !config.remeasure_warnings {
        return first;
    }
    let again = TimingConfig {
        seed: config.seed.wrapping_add(1),
        ..config.clone()
    };
    let second = measure_once(endpoint, probe, &again).await;
    second.confirmed_by(&first)
}

/// One measurement and its judgement.
async fn measure_once(
    endpoint: &str,
    probe: &mut dyn TimingProbe,
    config: &TimingConfig,
) -> TimingReport {
    let m = sampler::run(probe, config).await;
    // The bootstrap is tens of milliseconds of CPU: off the async workers.
    let (endpoint, config) = (endpoint.to_string(), config.clone());
    tokio::task::spawn_blocking(move || TimingReport::new(&endpoint, &m, &config))
        .await
        .expect("the timing analysis does not panic")
}
