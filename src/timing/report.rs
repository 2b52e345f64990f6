//! The result of one timing measurement, as results files carry it: settings, per-class
//! distributions, per-pair differences with their intervals, and a verdict with a one-line
//! summary. Times are microseconds, to the nanosecond.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::config::TimingConfig;
use super::sampler::{Measurement, Stop};
use super::stats;

/// The verdict of a measurement, or of one pair of classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimingVerdict {
    /// No difference worth a warning.
    Pass,
    /// A difference over the thresholds, with confidence.
    Warn,
    /// Not judged: the measurement was blocked or incomplete (never the server's fault).
    Error,
}

impl TimingVerdict {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TimingVerdict::Pass => "pass",
            TimingVerdict::Warn => "warn",
            TimingVerdict::Error => "error",
        }
    }
}

/// Where the samples of one class lie.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassSummary {
    /// The class.
    pub name: String,
    /// Samples measured.
    pub n: usize,
    /// Outcomes of the samples (`{"401": 500}`).
    pub outcomes: BTreeMap<String, usize>,
    /// Unintended answers, dropped (warm-up included).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unexpected: BTreeMap<String, usize>,
    /// Smallest time, µs.
    pub min_us: f64,
    /// 10th percentile, µs.
    pub p10_us: f64,
    /// 25th percentile, µs.
    pub p25_us: f64,
    /// Median, µs.
    pub median_us: f64,
    /// 75th percentile, µs.
    pub p75_us: f64,
    /// 90th percentile, µs.
    pub p90_us: f64,
    /// Largest time, µs.
    pub max_us: f64,
}

/// One pair of classes compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairSummary {
    /// The first class.
    pub a: String,
    /// The second class.
    pub b: String,
    /// Median of `b` minus median of `a`, µs.
    pub diff_us: f64,
    /// Lower end of its confidence interval (at the report's `level`), µs.
    pub ci_low_us: f64,
    /// Upper end, µs.
    pub ci_high_us: f64,
    /// The difference must be over this to warn, µs.
    pub threshold_us: f64,
    /// `warn` when the interval excludes zero and the difference is over the threshold.
    pub verdict: TimingVerdict,
}

impl PairSummary {
    /// Half the interval's width, µs. Over the threshold, a difference of the threshold's
    /// size could go unseen: the measurement is too noisy to judge the pair.
    pub fn half_width_us(&self) -> f64 {
        (self.ci_high_us - self.ci_low_us) / 2.0
    }

    /// Too noisy to judge: neither warns nor is narrow enough to see a difference of the
    /// threshold's size.
    pub fn unresolved(&self) -> bool {
        self.verdict != TimingVerdict::Warn && self.half_width_us() > self.threshold_us
    }
}

/// The timing of one endpoint's failure classes, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimingReport {
    /// What was measured (`retrieve`, `WebSocket subscribe`, ...).
    pub endpoint: String,
    /// `pass`, `warn`, or `error` (not judged).
    pub verdict: TimingVerdict,
    /// One line: the largest difference, or why nothing was judged.
    pub summary: String,
    /// How it was measured.
    pub settings: TimingConfig,
    /// Confidence level of each pair's interval (Bonferroni: 1 − (1 − family) / pairs).
    pub level: f64,
    /// Requests sent, warm-up and dropped answers included.
    pub requests: usize,
    /// Measured rounds (each class once per round).
    pub rounds: usize,
    /// Rounds in which a request was answered otherwise than intended (dropped).
    pub error_rounds: usize,
    /// Wall time of the measurement, warm-up included, ms.
    pub wall_ms: u64,
    /// Why the measurement stopped early, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Every class, in the probe's order.
    pub classes: Vec<ClassSummary>,
    /// Every pair of classes.
    pub pairs: Vec<PairSummary>,
    /// When this is a second measurement, taken because the first warned: the first's
    /// summary (`requests` and `wall_ms` then count both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_measurement: Option<String>,
    /// How often sampling was taken further (doubling the samples) because the intervals
    /// were too wide to judge (`TimingConfig::max_samples`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub extensions: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Nanoseconds as microseconds, to the nanosecond.
fn us(ns: f64) -> f64 {
    ns.round() / 1000.0
}

/// Microseconds as text: `48.2 µs`, `1.25 ms` from 10 ms up.
pub fn format_us(v: f64) -> String {
    // No `-0.0`: a value that rounds to zero is zero.
    let v = if v.abs() < 0.05 { 0.0 } else { v };
    if v.abs() >= 10_000.0 {
        format!("{:.2} ms", v / 1000.0)
    } else {
        format!("{v:.1} µs")
    }
}

/// A confidence level as a percentage: `99.83 %`.
pub fn format_level(level: f64) -> String {
    let p = level * 100.0;
    let mut s = format!("{p:.3}");
    while s.ends_with('0') {
        s.pop();
    }
    format!("{} %", s.trim_end_matches('.'))
}

impl TimingReport {
    /// Judges a measurement of `endpoint` taken with `config`.
    pub fn new(endpoint: &str, m: &Measurement, config: &TimingConfig) -> TimingReport {
        let rule = stats::Rule {
            family_confidence: config.family_confidence,
            min_diff_ns: config.min_diff_us * 1000.0,
            min_diff_ratio: config.min_diff_ratio,
            resamples: config.resamples,
            seed: config.seed,
        };
        let (level, pairs) = stats::compare(&m.samples, &rule);
        let classes: Vec<ClassSummary> = m
            .names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let s = stats::spread(&stats::sorted(&m.samples[i]));
                ClassSummary {
                    name: name.clone(),
                    n: s.n,
                    outcomes: m.outcomes[i].clone(),
                    unexpected: m.unexpected[i].clone(),
                    min_us: us(s.min),
                    p10_us: us(s.p10),
                    p25_us: us(s.p25),
                    median_us: us(s.median),
                    p75_us: us(s.p75),
                    p90_us: us(s.p90),
                    max_us: us(s.max),
                }
            })
            .collect();
        let pairs: Vec<PairSummary> = pairs
            .iter()
            .map(|p| PairSummary {
                a: m.names[p.a].clone(),
                b: m.names[p.b].clone(),
                diff_us: us(p.diff),
                ci_low_us: us(p.low),
                ci_high_us: us(p.high),
                threshold_us: us(p.threshold),
                verdict: if p.warn {
                    TimingVerdict::Warn
                } else {
                    TimingVerdict::Pass
                },
            })
            .collect();
        let short = m.samples.iter().map(Vec::len).min().unwrap_or(0);
        let mut report = TimingReport {
            endpoint: endpoint.to_string(),
            verdict: TimingVerdict::Pass,
            summary: String::new(),
            settings: config.clone(),
            level,
            requests: m.sent,
            rounds: m.rounds,
            error_rounds: m.error_rounds,
            wall_ms: m.wall.as_millis() as u64,
            stopped: m.stop.as_ref().map(Stop::to_string),
            classes,
            pairs,
            first_measurement: None,
            extensions: 0,
        };
        let blocked = match &m.stop {
            Some(Stop::Deadline(_)) if short >= config.samples => None,
            Some(Stop::Deadline(after)) => Some(format!(
                "only {short} of {} samples per class within the deadline of {} s; timing not \
                 judged",
                config.samples,
                after.as_secs()
            )),
            Some(stop) => Some(format!("{stop}; timing not judged")),
            None => None,
        };
        (report.verdict, report.summary) = match blocked {
            Some(why) => (TimingVerdict::Error, why),
            None => report.judged(),
        };
        report
    }

    /// This second measurement judged together with `first`, which warned: a pair warns only
    /// when it warned in both, in the same direction. A second measurement that could not be
    /// judged leaves the whole endpoint unjudged.
    pub fn confirmed_by(mut self, first: &TimingReport) -> TimingReport {
        let warned_first = |p: &PairSummary| {
            first.pairs.iter().any(|f| {
                f.a == p.a
                    && f.b == p.b
                    && f.verdict == TimingVerdict::Warn
                    && (f.diff_us > 0.0) == (p.diff_us > 0.0)
            })
        };
        for p in &mut self.pairs {
            if p.verdict == TimingVerdict::Warn && !warned_first(p) {
                p.verdict = TimingVerdict::Pass;
            }
        }
        self.requests += first.requests;
        self.wall_ms += first.wall_ms;
        self.first_measurement = Some(first.summary.clone());
        (self.verdict, self.summary) = match self.verdict {
            TimingVerdict::Error => (
                TimingVerdict::Error,
                format!(
                    "a first measurement warned and could not be confirmed: {}",
                    self.summary
                ),
            ),
            _ => match self.judged() {
                (TimingVerdict::Warn, line) => (
                    TimingVerdict::Warn,
                    format!("{line}; confirmed by a second measurement"),
                ),
                (verdict, line) => (
                    verdict,
                    format!("{line}; a first measurement warned, a second did not confirm it"),
                ),
            },
        };
        self
    }

    /// When the endpoint passes, the pair most too noisy to judge
    /// ([`PairSummary::unresolved`]): its interval is wider than twice its threshold. `None`
    /// when every pair could be judged, or the endpoint warns or was not judged.
    pub fn unresolved(&self) -> Option<&PairSummary> {
        if self.verdict != TimingVerdict::Pass {
            return None;
        }
        self.unresolved_pair()
    }

    /// The pair most too noisy to judge, whatever the verdict.
    fn unresolved_pair(&self) -> Option<&PairSummary> {
        self.pairs.iter().filter(|p| p.unresolved()).max_by(|x, y| {
            (x.half_width_us() / x.threshold_us).total_cmp(&(y.half_width_us() / y.threshold_us))
        })
    }

    /// Records that sampling was taken further `n` times, and judges again.
    pub fn note_extensions(&mut self, n: usize) {
        self.extensions = n;
        if self.verdict != TimingVerdict::Error {
            (self.verdict, self.summary) = self.judged();
        }
    }

    /// The verdict and summary of a complete measurement.
    fn judged(&self) -> (TimingVerdict, String) {
        let n = self.classes.iter().map(|c| c.n).min().unwrap_or(0);
        let mut what = format!("{} classes, {n}+ samples each", self.classes.len());
        if self.extensions > 0 {
            let times = match self.extensions {
                1 => "once".to_string(),
                2 => "twice".to_string(),
                k => format!("{k} times"),
            };
            what.push_str(&format!(
                "; extended {times} from {} because the intervals were too wide to judge",
                self.settings.samples
            ));
        }
        let warned: Vec<&PairSummary> = self
            .pairs
            .iter()
            .filter(|p| p.verdict == TimingVerdict::Warn)
            .collect();
        fn largest<'a>(pairs: &[&'a PairSummary]) -> Option<&'a PairSummary> {
            pairs
                .iter()
                .max_by(|x, y| x.diff_us.abs().total_cmp(&y.diff_us.abs()))
                .copied()
        }
        if let Some(p) = largest(&warned) {
            let more = match warned.len() {
                1 => String::new(),
                2 => "; one more pair differs".to_string(),
                k => format!("; {} more pairs differ", k - 1),
            };
            return (
                TimingVerdict::Warn,
                format!("{}{more} ({what})", self.describe(p)),
            );
        }
        let all: Vec<&PairSummary> = self.pairs.iter().collect();
        let caveat = match self.unresolved_pair() {
            Some(p) => format!(
                ", but too noisy to see a difference of the threshold's size: an interval is \
                 ±{} wide (more samples narrow it)",
                format_us(p.half_width_us())
            ),
            None => String::new(),
        };
        let line = match largest(&all) {
            Some(p) => format!(
                "no cause of failure is told apart by time{caveat}; largest difference: {} \
                 ({what})",
                self.describe(p)
            ),
            None => format!("nothing to compare ({what})"),
        };
        (TimingVerdict::Pass, line)
    }

    /// `"unknown URI" answers 48.2 µs faster than "wrong signature" (99.83 % CI 41.0 to
    /// 55.1 µs, threshold 12.5 µs)`.
    fn describe(&self, p: &PairSummary) -> String {
        // diff = b − a: a is faster when the difference is positive.
        let (fast, slow, lo, hi) = if p.diff_us >= 0.0 {
            (&p.a, &p.b, p.ci_low_us, p.ci_high_us)
        } else {
            (&p.b, &p.a, -p.ci_high_us, -p.ci_low_us)
        };
        let interval = format!(
            "{} CI {} to {}, threshold {}",
            format_level(self.level),
            format_us(lo),
            format_us(hi),
            format_us(p.threshold_us)
        );
        if format_us(p.diff_us.abs()) == format_us(0.0) {
            return format!("{fast:?} and {slow:?} have the same median ({interval})");
        }
        format!(
            "{fast:?} answers {} faster than {slow:?} ({interval})",
            format_us(p.diff_us.abs())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn measurement(shift_ns: u64, stop: Option<Stop>) -> Measurement {
        let base: Vec<u64> = (0..200).map(|i| 250_000 + (i % 20) * 1_000).collect();
        Measurement {
            names: vec!["unknown URI".into(), "wrong signature".into()],
            samples: vec![base.iter().map(|x| x - shift_ns).collect(), base.clone()],
            outcomes: vec![BTreeMap::from([("401".into(), 200)]); 2],
            unexpected: vec![BTreeMap::new(); 2],
            sent: 410,
            rounds: 200,
            error_rounds: 0,
            stop,
            wall: Duration::from_millis(321),
        }
    }

    fn config() -> TimingConfig {
        TimingConfig {
            samples: 200,
            resamples: 1000,
            ..TimingConfig::default()
        }
    }

    #[test]
    fn a_faster_class_warns_and_says_which() {
        let r = TimingReport::new("secure", &measurement(50_000, None), &config());
        assert_eq!(r.verdict, TimingVerdict::Warn);
        assert_eq!(r.pairs[0].diff_us, 50.0);
        assert!(
            r.summary.starts_with(
                "\"unknown URI\" answers 50.0 µs faster than \"wrong signature\" (99 % CI"
            ),
            "{}",
            r.summary
        );
        assert_eq!(r.classes[1].median_us, 259.5);
        assert_eq!(r.requests, 410);
        assert_eq!(r.wall_ms, 321);
    }

    #[test]
    fn equal_classes_pass() {
        let r = TimingReport::new("secure", &measurement(0, None), &config());
        assert_eq!(r.verdict, TimingVerdict::Pass);
        assert!(
            r.summary
                .starts_with("no cause of failure is told apart by time; largest"),
            "{}",
            r.summary
        );
        assert!(r.unresolved().is_none());
    }

    #[test]
    fn a_stopped_measurement_is_not_judged() {
        let stop = Stop::Transport {
            class: "unknown URI".into(),
            error: "reset".into(),
        };
        let r = TimingReport::new("secure", &measurement(50_000, Some(stop)), &config());
        assert_eq!(r.verdict, TimingVerdict::Error);
        assert!(r
            .summary
            .contains("got no answer: reset; timing not judged"));
        // A deadline after enough samples still gives a verdict.
        let late = Stop::Deadline(Duration::from_secs(1));
        let r = TimingReport::new("secure", &measurement(0, Some(late)), &config());
        assert_eq!(r.verdict, TimingVerdict::Pass);
        let short = TimingConfig {
            samples: 500,
            ..config()
        };
        let late = Stop::Deadline(Duration::from_secs(1));
        let r = TimingReport::new("secure", &measurement(0, Some(late)), &short);
        assert_eq!(r.verdict, TimingVerdict::Error);
        assert!(
            r.summary.starts_with("only 200 of 500 samples"),
            "{}",
            r.summary
        );
    }

    #[test]
    fn a_warning_stands_only_when_measured_again_in_the_same_direction() {
        let first = TimingReport::new("secure", &measurement(50_000, None), &config());
        let again = TimingReport::new("secure", &measurement(40_000, None), &config());
        let r = again.confirmed_by(&first);
        assert_eq!(r.verdict, TimingVerdict::Warn);
        assert!(r.summary.ends_with("; confirmed by a second measurement"));
        assert_eq!(r.first_measurement.as_deref(), Some(first.summary.as_str()));
        assert_eq!((r.requests, r.wall_ms), (820, 642));

        let quiet = TimingReport::new("secure", &measurement(0, None), &config());
        let r = quiet.confirmed_by(&first);
        assert_eq!(r.verdict, TimingVerdict::Pass);
        assert!(
            r.summary.ends_with("a second did not confirm it"),
            "{}",
            r.summary
        );

        // The other class faster the second time: not the same finding.
        let mut m = measurement(50_000, None);
        m.samples.reverse();
        let reversed = TimingReport::new("secure", &m, &config());
        assert_eq!(reversed.verdict, TimingVerdict::Warn);
        let r = reversed.confirmed_by(&first);
        assert_eq!(r.verdict, TimingVerdict::Pass, "{}", r.summary);
        assert!(r.pairs.iter().all(|p| p.verdict == TimingVerdict::Pass));

        let stop = Stop::Transport {
            class: "unknown URI".into(),
            error: "reset".into(),
        };
        let broken = TimingReport::new("secure", &measurement(50_000, Some(stop)), &config());
        let r = broken.confirmed_by(&first);
        assert_eq!(r.verdict, TimingVerdict::Error);
        assert!(r
            .summary
            .starts_with("a first measurement warned and could not"));
    }

    #[test]
    fn reports_round_trip_through_json() {
        let r = TimingReport::new("secure", &measurement(50_000, None), &config());
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"medianUs\":259.5"), "{text}");
        assert_eq!(serde_json::from_str::<TimingReport>(&text).unwrap(), r);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(format_us(48.24), "48.2 µs");
        assert_eq!(format_us(12_500.0), "12.50 ms");
        assert_eq!(format_us(-0.04), "0.0 µs");
        assert_eq!(format_level(0.99), "99 %");
        assert_eq!(format_level(1.0 - 0.01 / 6.0), "99.833 %");
    }
}
