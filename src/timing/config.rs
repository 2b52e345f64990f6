//! How much to measure and when a difference is a warning.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of one timing measurement; reports carry them with the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimingConfig {
    /// Samples per class, at least (500 for real runs: V-TIMING asks for ≥ 500).
    pub samples: usize,
    /// Rounds (one request of every class) sent first and not measured: they open the
    /// connection and warm caches, allocators and CPU frequency on both sides.
    pub warmup_rounds: usize,
    /// Seed of the order of classes within rounds and of the bootstrap.
    pub seed: u64,
    /// The whole measurement, warm-up included, stops after this long.
    pub deadline_ms: u64,
    /// Answers other than the intended failure tolerated per class before the measurement
    /// stops (each is dropped and counted).
    pub max_unexpected: usize,
    /// Bootstrap resamples per class.
    pub resamples: usize,
    /// Confidence of all comparisons of one endpoint together (Bonferroni).
    pub family_confidence: f64,
    /// A difference of medians must be over this many microseconds to warn ...
    pub min_diff_us: f64,
    /// ... and over this share of the smaller median.
    pub min_diff_ratio: f64,
    /// A warning is measured once more, with the next seed, and stands only for the pairs
    /// that warn again in the same direction (a false warning then needs two in a row).
    #[serde(default = "yes")]
    pub remeasure_warnings: bool,
    /// When `samples` per class leave a pair too noisy to judge (its interval more than twice
    /// its threshold wide, without a warning), sampling goes on, doubling the samples, up to
    /// this many per class. At most `samples`: never.
    #[serde(default)]
    pub max_samples: usize,
}

fn yes() -> bool {
    true
}

impl Default for TimingConfig {
    fn default() -> Self {
        TimingConfig {
            samples: 500,
            warmup_rounds: 50,
            seed: 1,
            deadline_ms: 120_000,
            max_unexpected: 5,
            resamples: 10_000,
            family_confidence: 0.99,
            min_diff_us: 10.0,
            min_diff_ratio: 0.05,
            remeasure_warnings: true,
            max_samples: 2000,
        }
    }
}

impl TimingConfig {
    /// The deadline as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }
}
