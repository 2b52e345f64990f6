//! Sends the requests of a probe: warm-up, then rounds in which every class is sampled once,
//! in an order shuffled per round, one request at a time, until every class has enough
//! samples or the deadline passes.
//!
//! Interleaving is the main defence against a shared machine: a build or a frequency change
//! that slows everything for a few seconds slows every class alike, so it widens the
//! distributions but does not shift one class against another. Classes measured in blocks
//! would turn the same slowdown into a difference.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::config::TimingConfig;
use super::probe::{ClassName, ProbeError, TimingProbe};
use super::rng::Rng;

/// The stream of the seed that orders the rounds (the bootstrap uses one per class).
const ORDER_STREAM: u64 = u64::MAX;

/// Why sampling stopped before every class had its samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The probe cannot be measured (fewer than two classes).
    Setup(String),
    /// A request got no answer: the measurement says nothing about the server's timing.
    Transport {
        /// The class of the request.
        class: ClassName,
        /// What happened.
        error: String,
    },
    /// A class was answered otherwise than intended more often than tolerated.
    Unexpected {
        /// The class.
        class: ClassName,
        /// The last unintended answer.
        outcome: String,
        /// The intended one.
        expected: String,
    },
    /// The deadline passed.
    Deadline(Duration),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Setup(why) => write!(f, "{why}"),
            Stop::Transport { class, error } => {
                write!(f, "a request of class {class:?} got no answer: {error}")
            }
            Stop::Unexpected {
                class,
                outcome,
                expected,
            } => write!(
                f,
                "class {class:?} was answered {outcome} instead of {expected} too often: its \
                 requests do not fail as the class intends"
            ),
            Stop::Deadline(after) => write!(f, "the deadline of {after:?} passed"),
        }
    }
}

/// What sampling gathered.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// The classes, in the probe's order.
    pub names: Vec<ClassName>,
    /// Per class, the times in nanoseconds, in the order taken.
    pub samples: Vec<Vec<u64>>,
    /// Per class, how often each outcome was seen in the samples.
    pub outcomes: Vec<BTreeMap<String, usize>>,
    /// Per class, unintended answers (dropped), warm-up included.
    pub unexpected: Vec<BTreeMap<String, usize>>,
    /// Requests sent, warm-up and dropped ones included.
    pub sent: usize,
    /// Measured rounds (after warm-up).
    pub rounds: usize,
    /// Measured rounds in which at least one request was dropped.
    pub error_rounds: usize,
    /// Why sampling stopped early, if it did.
    pub stop: Option<Stop>,
    /// Wall time, warm-up included.
    pub wall: Duration,
}

/// Samples `probe` as `config` says: `config.samples` per class.
pub async fn run(probe: &mut dyn TimingProbe, config: &TimingConfig) -> Measurement {
    let mut s = Sampler::new(probe, config);
    s.fill(probe, config.samples).await;
    s.finish()
}

/// A measurement in progress, which can be taken further: more rounds continue the same
/// seeded order, on the same connection, under the same deadline.
pub struct Sampler<'c> {
    config: &'c TimingConfig,
    m: Measurement,
    started: Instant,
    deadline: tokio::time::Instant,
    rng: Rng,
    order: Vec<usize>,
    round: usize,
}

impl<'c> Sampler<'c> {
    /// A measurement of `probe` with nothing sent yet.
    pub fn new(probe: &dyn TimingProbe, config: &'c TimingConfig) -> Sampler<'c> {
        let started = Instant::now();
        let names = probe.classes().to_vec();
        let k = names.len();
        let mut m = Measurement {
            samples: vec![Vec::with_capacity(config.samples + 8); k],
            outcomes: vec![BTreeMap::new(); k],
            unexpected: vec![BTreeMap::new(); k],
            names,
            sent: 0,
            rounds: 0,
            error_rounds: 0,
            stop: None,
            wall: Duration::ZERO,
        };
        if k < 2 {
            m.stop = Some(Stop::Setup(format!(
                "a timing comparison needs at least two classes; the probe has {k}"
            )));
        }
        Sampler {
            config,
            m,
            started,
            deadline: tokio::time::Instant::from_std(started) + config.deadline(),
            rng: Rng::new(config.seed, ORDER_STREAM),
            order: (0..k).collect(),
            round: 0,
        }
    }

    /// What was gathered so far.
    pub fn measurement(&self) -> Measurement {
        let mut m = self.m.clone();
        m.wall = self.started.elapsed();
        m
    }

    /// The measurement, done.
    pub fn finish(mut self) -> Measurement {
        self.m.wall = self.started.elapsed();
        self.m
    }

    /// Sends rounds (the warm-up first, if not sent yet) until every class has `target`
    /// samples, or until something stops the measurement.
    pub async fn fill(&mut self, probe: &mut dyn TimingProbe, target: usize) {
        let (config, m) = (self.config, &mut self.m);
        'rounds: while m.stop.is_none() {
            let measuring = self.round >= config.warmup_rounds;
            if measuring && m.samples.iter().all(|s| s.len() >= target) {
                break;
            }
            self.rng.shuffle(&mut self.order);
            let mut dropped = false;
            for &c in &self.order {
                m.sent += 1;
                let sample = match tokio::time::timeout_at(self.deadline, probe.sample(c)).await {
                    Err(_) => {
                        m.stop = Some(Stop::Deadline(config.deadline()));
                        break 'rounds;
                    }
                    Ok(s) => s,
                };
                match sample {
                    Ok(s) if measuring => {
                        m.samples[c].push(s.elapsed.as_nanos().min(u64::MAX as u128) as u64);
                        *m.outcomes[c].entry(s.outcome).or_default() += 1;
                    }
                    Ok(_) => {}
                    Err(ProbeError::Transport(error)) => {
                        m.stop = Some(Stop::Transport {
                            class: m.names[c].clone(),
                            error,
                        });
                        break 'rounds;
                    }
                    Err(ProbeError::Unexpected { outcome, expected }) => {
                        dropped = true;
                        let seen = &mut m.unexpected[c];
                        *seen.entry(outcome.clone()).or_default() += 1;
                        if seen.values().sum::<usize>() > config.max_unexpected {
                            m.stop = Some(Stop::Unexpected {
                                class: m.names[c].clone(),
                                outcome,
                                expected,
                            });
                            break 'rounds;
                        }
                    }
                }
            }
            if measuring {
                m.rounds += 1;
                m.error_rounds += usize::from(dropped);
            }
            self.round += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timing::probe::{BoxFuture, Sample};

    /// Classes answering in fixed times, recording the order of requests; class `bad`
    /// answers `400` every `every`-th time, and request number `fail_at` fails.
    struct Fake {
        names: Vec<String>,
        log: Vec<usize>,
        bad: Option<(usize, usize)>,
        fail_at: Option<usize>,
        sleep: Duration,
    }

    impl Fake {
        fn new(k: usize) -> Fake {
            Fake {
                names: (0..k).map(|i| format!("c{i}")).collect(),
                log: Vec::new(),
                bad: None,
                fail_at: None,
                sleep: Duration::ZERO,
            }
        }
    }

    impl TimingProbe for Fake {
        fn classes(&self) -> &[ClassName] {
            &self.names
        }

        fn sample(&mut self, class: usize) -> BoxFuture<'_, Result<Sample, ProbeError>> {
            self.log.push(class);
            let n = self.log.len();
            Box::pin(async move {
                if !self.sleep.is_zero() {
                    tokio::time::sleep(self.sleep).await;
                }
                if self.fail_at == Some(n) {
                    return Err(ProbeError::Transport("reset".into()));
                }
                if let Some((bad, every)) = self.bad {
                    if class == bad && n.is_multiple_of(every) {
                        return Err(ProbeError::Unexpected {
                            outcome: "400".into(),
                            expected: "401".into(),
                        });
                    }
                }
                Ok(Sample {
                    elapsed: Duration::from_micros(100 * (class as u64 + 1)),
                    outcome: "401".into(),
                })
            })
        }
    }

    fn config(samples: usize, warmup: usize) -> TimingConfig {
        TimingConfig {
            samples,
            warmup_rounds: warmup,
            ..TimingConfig::default()
        }
    }

    #[tokio::test]
    async fn rounds_interleave_every_class_in_a_seeded_order() {
        let mut p = Fake::new(3);
        let m = run(&mut p, &config(20, 2)).await;
        assert_eq!(m.stop, None);
        assert_eq!(m.rounds, 20);
        assert_eq!(p.log.len(), 22 * 3);
        assert_eq!(m.sent, 22 * 3);
        for round in p.log.chunks(3) {
            let mut r = round.to_vec();
            r.sort_unstable();
            assert_eq!(r, [0, 1, 2]);
        }
        // Not always the same order, and the same for the same seed.
        assert!(p.log.chunks(3).any(|r| r != &p.log[..3]));
        let mut q = Fake::new(3);
        run(&mut q, &config(20, 2)).await;
        assert_eq!(p.log, q.log);
        assert_eq!(m.samples[2], vec![300_000; 20]);
        assert_eq!(m.outcomes[0].get("401"), Some(&20));
    }

    #[tokio::test]
    async fn a_measurement_taken_further_continues_the_same_rounds() {
        let c = config(20, 2);
        let mut p = Fake::new(3);
        let mut s = Sampler::new(&p, &c);
        s.fill(&mut p, 20).await;
        assert_eq!(s.measurement().rounds, 20);
        s.fill(&mut p, 50).await;
        let m = s.finish();
        assert_eq!((m.rounds, m.sent), (50, 52 * 3));
        assert!(m.samples.iter().all(|x| x.len() == 50));
        // No second warm-up, and the order of one run of 50.
        let mut q = Fake::new(3);
        run(&mut q, &config(50, 2)).await;
        assert_eq!(p.log, q.log);
    }

    #[tokio::test]
    async fn unexpected_answers_are_dropped_counted_and_topped_up() {
        let mut p = Fake::new(2);
        p.bad = Some((1, 7));
        let m = run(&mut p, &config(30, 0)).await;
        assert_eq!(m.stop, None);
        assert!(m.samples.iter().all(|s| s.len() >= 30));
        let dropped: usize = m.unexpected[1].values().sum();
        assert!(dropped > 0 && m.error_rounds > 0);
        assert_eq!(m.rounds, 30 + m.error_rounds);
    }

    #[tokio::test]
    async fn too_many_unexpected_answers_stop_the_measurement() {
        let mut p = Fake::new(2);
        p.bad = Some((0, 1));
        let m = run(&mut p, &config(30, 0)).await;
        assert!(matches!(m.stop, Some(Stop::Unexpected { ref class, .. }) if class == "c0"));
    }

    #[tokio::test]
    async fn a_transport_error_stops_the_measurement() {
        let mut p = Fake::new(2);
        p.fail_at = Some(9);
        let m = run(&mut p, &config(30, 1)).await;
        assert!(matches!(m.stop, Some(Stop::Transport { .. })));
        assert_eq!(p.log.len(), 9);
    }

    #[tokio::test]
    async fn the_deadline_bounds_the_whole_measurement() {
        let mut p = Fake::new(2);
        p.sleep = Duration::from_millis(5);
        let c = TimingConfig {
            deadline_ms: 60,
            ..config(1000, 0)
        };
        let t = Instant::now();
        let m = run(&mut p, &c).await;
        assert_eq!(m.stop, Some(Stop::Deadline(Duration::from_millis(60))));
        assert!(t.elapsed() < Duration::from_millis(500));
    }

    #[tokio::test]
    async fn one_class_is_refused() {
        let m = run(&mut Fake::new(1), &config(5, 0)).await;
        assert!(matches!(m.stop, Some(Stop::Setup(_))));
    }
}
