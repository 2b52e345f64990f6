//! The statistics of a timing check, as pure functions of the samples (nanoseconds): per-class
//! quantiles, and for every pair of classes the difference of medians with a percentile
//! bootstrap confidence interval, Bonferroni-corrected for the pairs of one endpoint.
//!
//! Medians, not means: one preempted request on a busy machine takes milliseconds and would
//! move a mean by more than the effect looked for, while it moves a median by at most one
//! rank. For the same reason no outlier is discarded: the median does not need it, and a
//! per-class cut-off could itself differ between classes and create a difference.

use super::rng::Rng;

/// The `q` quantile (`0 ≤ q ≤ 1`) of sorted values, interpolated linearly between the two
/// nearest ranks (Hyndman and Fan's type 7, the default of R and NumPy); 0 when empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
        }
    }
}

/// The median of sorted values (the mean of the two middle ones for an even count).
pub fn median(sorted: &[f64]) -> f64 {
    quantile(sorted, 0.5)
}

/// `values` as sorted `f64`s.
pub fn sorted(values: &[u64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
    v.sort_unstable_by(f64::total_cmp);
    v
}

/// Where the samples of one class lie.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Number of samples.
    pub n: usize,
    /// Smallest.
    pub min: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 25th percentile.
    pub p25: f64,
    /// Median.
    pub median: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Largest.
    pub max: f64,
}

/// The spread of sorted values.
pub fn spread(sorted: &[f64]) -> Spread {
    Spread {
        n: sorted.len(),
        min: sorted.first().copied().unwrap_or(0.0),
        p10: quantile(sorted, 0.10),
        p25: quantile(sorted, 0.25),
        median: median(sorted),
        p75: quantile(sorted, 0.75),
        p90: quantile(sorted, 0.90),
        max: sorted.last().copied().unwrap_or(0.0),
    }
}

/// When a difference of medians is a warning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Confidence of the whole family of comparisons of one endpoint (0.99).
    pub family_confidence: f64,
    /// Differences at or under this many nanoseconds never warn (10 µs).
    pub min_diff_ns: f64,
    /// Differences at or under this share of the smaller median never warn (0.05).
    pub min_diff_ratio: f64,
    /// Bootstrap resamples per class.
    pub resamples: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
}

/// The confidence level of each of `comparisons` intervals so that all of them hold together
/// with `family_confidence` (Bonferroni): `1 − (1 − family_confidence) / comparisons`.
pub fn bonferroni_level(family_confidence: f64, comparisons: usize) -> f64 {
    1.0 - (1.0 - family_confidence) / comparisons.max(1) as f64
}

/// The number of pairs of `k` classes.
pub fn pairs_of(k: usize) -> usize {
    k * k.saturating_sub(1) / 2
}

/// `resamples` bootstrap medians of sorted values: each the median of `n` values drawn with
/// replacement, from the generator of `seed` and `stream`.
///
/// Drawing ranks instead of values, the median of a resample is the value at the median of
/// the drawn ranks; the ranks are counted in an array of `n` slots, so each resample costs
/// two passes over `n` small integers and no sort.
pub fn bootstrap_medians(sorted: &[f64], resamples: usize, seed: u64, stream: u64) -> Vec<f64> {
    let rng = &mut Rng::new(seed, stream);
    let n = sorted.len();
    if n == 0 {
        return vec![0.0; resamples];
    }
    let (lower, upper) = ((n - 1) / 2, n / 2);
    let mut counts = vec![0u32; n];
    let mut out = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        counts.fill(0);
        for _ in 0..n {
            counts[rng.below(n)] += 1;
        }
        let mut seen = 0usize;
        let mut low = None;
        for (i, &c) in counts.iter().enumerate() {
            seen += c as usize;
            if low.is_none() && seen > lower {
                low = Some(sorted[i]);
            }
            if seen > upper {
                out.push((low.unwrap_or(sorted[i]) + sorted[i]) / 2.0);
                break;
            }
        }
    }
    out
}

/// One pair of classes compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    /// Index of the first class.
    pub a: usize,
    /// Index of the second class.
    pub b: usize,
    /// Median of `b` minus median of `a`.
    pub diff: f64,
    /// Lower end of the confidence interval of `diff`.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// The difference must be over this to warn: max(`min_diff_ns`, `min_diff_ratio` × the
    /// smaller median).
    pub threshold: f64,
    /// The interval excludes zero.
    pub significant: bool,
    /// Significant and larger than the threshold.
    pub warn: bool,
}

/// Every pair of classes (`a < b`, in class order), at the Bonferroni-corrected level for
/// their number; also that level. Classes without samples are left out of the pairs.
///
/// Each class is resampled once (`rule.resamples` bootstrap medians from its own stream of
/// the seed); a pair's bootstrap differences pair the `i`-th median of one class with the
/// `i`-th of the other, which are independent draws. Sharing the class resamples between
/// pairs makes their intervals dependent, which Bonferroni allows.
pub fn compare(classes: &[Vec<u64>], rule: &Rule) -> (f64, Vec<Pair>) {
    let sorted: Vec<Vec<f64>> = classes.iter().map(|c| sorted(c)).collect();
    let usable: Vec<usize> = (0..classes.len())
        .filter(|&i| !sorted[i].is_empty())
        .collect();
    let level = bonferroni_level(rule.family_confidence, pairs_of(usable.len()));
    let boots: Vec<Vec<f64>> = sorted
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if s.is_empty() {
                Vec::new()
            } else {
                bootstrap_medians(s, rule.resamples, rule.seed, i as u64)
            }
        })
        .collect();
    let tail = (1.0 - level) / 2.0;
    let mut pairs = Vec::new();
    for (x, &a) in usable.iter().enumerate() {
        for &b in &usable[x + 1..] {
            let (ma, mb) = (median(&sorted[a]), median(&sorted[b]));
            let mut diffs: Vec<f64> = boots[b].iter().zip(&boots[a]).map(|(y, x)| y - x).collect();
            diffs.sort_unstable_by(f64::total_cmp);
            let (low, high) = (quantile(&diffs, tail), quantile(&diffs, 1.0 - tail));
            let diff = mb - ma;
            let threshold = rule.min_diff_ns.max(rule.min_diff_ratio * ma.min(mb));
            let significant = low > 0.0 || high < 0.0;
            pairs.push(Pair {
                a,
                b,
                diff,
                low,
                high,
                threshold,
                significant,
                warn: significant && diff.abs() > threshold,
            });
        }
    }
    (level, pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nanoseconds per microsecond.
    const US: f64 = 1000.0;

    fn rule(seed: u64) -> Rule {
        Rule {
            family_confidence: 0.99,
            min_diff_ns: 10.0 * US,
            min_diff_ratio: 0.05,
            resamples: 2000,
            seed,
        }
    }

    /// A standard normal number (Box–Muller).
    fn normal(r: &mut Rng) -> f64 {
        let (u, v) = (r.unit().max(1e-300), r.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// An exponential number of mean `mean`.
    fn exponential(r: &mut Rng, mean: f64) -> f64 {
        -mean * (1.0 - r.unit()).ln()
    }

    /// Loopback-like response times around `base` µs: Gaussian jitter (sd 20 µs), a
    /// right-skewed scheduling delay (exponential, mean 15 µs), a slow drift over the run
    /// (±15 µs, shared by every class as interleaving makes it), and 3 % of requests
    /// preempted for 0.1 to several ms.
    fn loopback(r: &mut Rng, base: f64, n: usize, shift: f64) -> Vec<u64> {
        (0..n)
            .map(|i| {
                let drift = 15.0 * (i as f64 / n as f64 * std::f64::consts::TAU).sin();
                let mut t = base + shift + drift + 20.0 * normal(r) + exponential(r, 15.0);
                if r.unit() < 0.03 {
                    t += exponential(r, 800.0);
                }
                (t.max(30.0) * US) as u64
            })
            .collect()
    }

    /// Heavy tails: Pareto-distributed extra time (shape 1.5: finite mean, infinite
    /// variance) on top of the base.
    fn heavy(r: &mut Rng, base: f64, n: usize, shift: f64) -> Vec<u64> {
        (0..n)
            .map(|_| {
                let pareto = 10.0 * ((1.0 - r.unit()).powf(-1.0 / 1.5) - 1.0);
                ((base + shift + 15.0 * normal(r) + pareto).max(30.0) * US) as u64
            })
            .collect()
    }

    fn classes(
        seed: u64,
        shifts: &[f64],
        gen: fn(&mut Rng, f64, usize, f64) -> Vec<u64>,
    ) -> Vec<Vec<u64>> {
        let mut r = Rng::new(seed, 99);
        shifts.iter().map(|&s| gen(&mut r, 250.0, 500, s)).collect()
    }

    #[test]
    fn quantiles_interpolate_between_ranks() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(median(&v), 2.5);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert!((quantile(&v, 0.25) - 1.75).abs() < 1e-12);
        assert_eq!(median(&[5.0]), 5.0);
        assert_eq!(median(&[]), 0.0);
        let s = spread(&sorted(&[9, 1, 5]));
        assert_eq!((s.n, s.min, s.median, s.max), (3, 1.0, 5.0, 9.0));
    }

    #[test]
    fn bonferroni_divides_the_error_rate() {
        assert!((bonferroni_level(0.99, 1) - 0.99).abs() < 1e-12);
        assert!((bonferroni_level(0.99, 6) - (1.0 - 0.01 / 6.0)).abs() < 1e-12);
        assert_eq!(pairs_of(4), 6);
        assert_eq!(pairs_of(1), 0);
    }

    #[test]
    fn bootstrap_medians_of_constant_data_are_that_constant() {
        let v = vec![7.0; 11];
        let b = bootstrap_medians(&v, 50, 1, 0);
        assert!(b.iter().all(|&m| m == 7.0));
        // An even count averages the two middle values of each resample.
        let b = bootstrap_medians(&[1.0, 3.0], 200, 1, 0);
        assert!(b.iter().all(|m| [1.0, 2.0, 3.0].contains(m)));
        assert!(b.contains(&2.0));
    }

    #[test]
    fn bootstrap_spread_matches_the_median_standard_error() {
        // Normal data, sd 20: the standard error of the median is about
        // 1.2533 × 20 / √500 = 1.12.
        let mut r = Rng::new(5, 0);
        let data: Vec<u64> = (0..500)
            .map(|_| ((1000.0 + 20.0 * normal(&mut r)) * 1000.0) as u64)
            .collect();
        let b = bootstrap_medians(&sorted(&data), 4000, 6, 0);
        let mean = b.iter().sum::<f64>() / b.len() as f64;
        let sd = (b.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / b.len() as f64).sqrt();
        let se = sd / 1000.0;
        assert!((0.7..1.7).contains(&se), "bootstrap SE {se}");
    }

    #[test]
    fn identical_distributions_never_warn() {
        for seed in 0..20 {
            for gen in [loopback as fn(&mut Rng, f64, usize, f64) -> Vec<u64>, heavy] {
                let c = classes(seed, &[0.0; 4], gen);
                let (level, pairs) = compare(&c, &rule(seed));
                assert!((level - (1.0 - 0.01 / 6.0)).abs() < 1e-12);
                assert_eq!(pairs.len(), 6);
                assert!(pairs.iter().all(|p| !p.warn), "seed {seed}: {pairs:?}");
            }
        }
    }

    #[test]
    fn a_skipped_verification_of_50_us_warns() {
        // The first class skips a 50 µs verification; the others do it.
        for seed in 0..10 {
            for gen in [loopback as fn(&mut Rng, f64, usize, f64) -> Vec<u64>, heavy] {
                let c = classes(seed, &[-50.0, 0.0, 0.0, 0.0], gen);
                let (_, pairs) = compare(&c, &rule(seed));
                for p in &pairs {
                    if p.a == 0 {
                        assert!(p.warn, "seed {seed}: {p:?}");
                        assert!(p.low > 30.0 * US && p.high < 70.0 * US, "{p:?}");
                    } else {
                        assert!(!p.warn, "seed {seed}: {p:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_5_us_difference_is_under_the_threshold() {
        for seed in 0..10 {
            let c = classes(seed, &[0.0, 5.0, 0.0], loopback);
            let (_, pairs) = compare(&c, &rule(seed));
            assert!(pairs.iter().all(|p| !p.warn), "seed {seed}: {pairs:?}");
        }
        // Without noise the same difference is certain, and still not a warning.
        let exact = vec![vec![250_000u64; 500], vec![255_000u64; 500]];
        let (_, pairs) = compare(&exact, &rule(1));
        assert!(pairs[0].significant && !pairs[0].warn, "{pairs:?}");
        assert_eq!(pairs[0].threshold, 12_500.0);
    }

    #[test]
    fn the_relative_threshold_applies_to_slow_servers() {
        // 2 ms failures: 5 % is 100 µs, so a certain 60 µs difference does not warn.
        let c = vec![vec![2_000_000u64; 300], vec![2_060_000u64; 300]];
        let (_, pairs) = compare(&c, &rule(1));
        assert!(pairs[0].significant && !pairs[0].warn);
        assert_eq!(pairs[0].threshold, 100_000.0);
    }

    #[test]
    fn the_same_seed_gives_the_same_intervals() {
        let c = classes(3, &[0.0, 20.0, 0.0], loopback);
        assert_eq!(compare(&c, &rule(9)), compare(&c, &rule(9)));
        assert_ne!(compare(&c, &rule(9)).1, compare(&c, &rule(10)).1);
    }

    #[test]
    fn classes_without_samples_are_left_out() {
        let c = vec![vec![1_000u64; 10], Vec::new(), vec![1_000u64; 10]];
        let (level, pairs) = compare(&c, &rule(1));
        assert_eq!(pairs.len(), 1);
        assert_eq!((pairs[0].a, pairs[0].b), (0, 2));
        assert!((level - 0.99).abs() < 1e-12);
    }

    /// The cost of the default analysis (4 classes of 500 samples, 10,000 resamples each):
    /// `cargo test --lib timing::stats::tests::bootstrap_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn bootstrap_cost() {
        let c = classes(1, &[0.0; 4], loopback);
        let r = Rule {
            resamples: 10_000,
            ..rule(1)
        };
        let t = std::time::Instant::now();
        let (_, pairs) = compare(&c, &r);
        eprintln!(
            "4 classes x 500 samples, 10000 resamples, {} pairs: {:?}",
            pairs.len(),
            t.elapsed()
        );
    }
}
