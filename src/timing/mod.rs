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

/// One measurement and its judgement, taken further while it cannot judge
/// ([`TimingReport::unresolved`]) and `config.max_samples` allows.
async fn measure_once(
    endpoint: &str,
    probe: &mut dyn TimingProbe,
    config: &TimingConfig,
) -> TimingReport {
    let mut sampler = sampler::Sampler::new(probe, config);
    let mut target = config.samples;
    let mut extensions = 0;
    loop {
        sampler.fill(probe, target).await;
        let m = sampler.measurement();
        let stopped = m.stop.is_some();
        // The bootstrap is tens of milliseconds of CPU: off the async workers.
        let (name, settings) = (endpoint.to_string(), config.clone());
        let mut report =
            tokio::task::spawn_blocking(move || TimingReport::new(&name, &m, &settings))
                .await
                .expect("the timing analysis does not panic");
        let next = target.saturating_mul(2).min(config.max_samples);
        if stopped || next <= target || report.unresolved().is_none() {
            report.note_extensions(extensions);
            return report;
        }
        target = next;
        extensions += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Two classes drawn from the same wide spread (0 to 1 ms, a fixed pseudo-random
    /// sequence): with few samples no difference of the threshold's size is ruled out.
    struct Noisy {
        names: Vec<ClassName>,
        state: u64,
    }

    impl TimingProbe for Noisy {
        fn classes(&self) -> &[ClassName] {
            &self.names
        }

        fn sample(&mut self, _class: usize) -> BoxFuture<'_, Result<Sample, ProbeError>> {
            self.state = self
                .state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let us = (self.state >> 33) % 1000;
            Box::pin(async move {
                Ok(Sample {
                    elapsed: Duration::from_micros(us),
                    outcome: "401".into(),
                })
            })
        }
    }

    fn noisy() -> Noisy {
        Noisy {
            names: vec!["a".into(), "b".into()],
            state: 7,
        }
    }

    fn config(max_samples: usize) -> TimingConfig {
        TimingConfig {
            samples: 20,
            warmup_rounds: 0,
            resamples: 500,
            max_samples,
            ..TimingConfig::default()
        }
    }

    #[tokio::test]
    async fn a_measurement_too_wide_to_judge_is_taken_further_up_to_the_cap() {
        let r = measure("e", &mut noisy(), &config(80)).await;
        assert_eq!(r.verdict, TimingVerdict::Pass, "{}", r.summary);
        assert_eq!(r.extensions, 2);
        assert!(r.classes.iter().all(|c| c.n >= 80));
        assert!(
            r.summary.contains("too noisy to see a difference")
                && r.summary.contains("extended twice from 20"),
            "{}",
            r.summary
        );
        assert!(r.unresolved().is_some());
    }

    #[tokio::test]
    async fn without_room_to_extend_the_first_samples_are_judged() {
        let r = measure("e", &mut noisy(), &config(0)).await;
        assert_eq!(r.extensions, 0);
        assert!(r.classes.iter().all(|c| c.n == 20));
        assert!(!r.summary.contains("extended"), "{}", r.summary);
        assert!(r.summary.contains("too noisy"), "{}", r.summary);
    }
}
