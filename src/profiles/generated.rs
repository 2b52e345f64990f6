//! The run of generated sequences that the prop drivers of `tassis-v2` and `simplex-v5`
//! share: proptest draws the sequences ([`Driver`]); each is planned into case steps, run
//! against the server, its sends counted and its model transitions covered; the shrunk
//! failure is run once more, so that its steps and the rule it broke can be recorded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use proptest::strategy::Strategy;

use crate::catalogue::requirements::Requirements;
use crate::engine::generate::{Driver, Shrunk, Trial};
use crate::profiles::campaign::Tally;
use crate::profiles::ending::{Broken, Ending};
use crate::profiles::sequence::Plan;
use crate::profiles::PropOptions;

/// Most sequences tried while shrinking.
const MAX_SHRINK_ITERS: u32 = 1024;

/// One run of a plan: how it ended, the model transitions of the operations that completed,
/// and what it sent (`C`).
pub struct Executed<T, C> {
    /// How the case ended.
    pub ending: Ending,
    /// Transitions of the operations that completed.
    pub transitions: Vec<T>,
    /// What was sent.
    pub counts: C,
}

/// The model transitions a run took, counted.
pub trait Cover<T>: Default + Send {
    /// Count these transitions.
    fn cover(&mut self, transitions: &[T]);
}

/// What a run of generated sequences did.
pub struct Sequences<O, S, T, C, V> {
    /// When it started (the driver's elapsed time counts from here).
    pub started: Instant,
    /// Sequences run (shrinking runs and the final run included).
    pub sequences: usize,
    /// Operations run.
    pub ops: usize,
    /// Case steps run.
    pub steps: usize,
    /// What was sent, over all runs.
    pub counts: C,
    /// Model transitions taken.
    pub coverage: V,
    /// The failure of the lowest sequence number, shrunk and run once more.
    pub failure: Option<Failure<O, S, T>>,
    /// A transport or suite error that stopped the run.
    pub error: Option<String>,
}

/// A failure, shrunk and run once more.
pub struct Failure<O, S, T> {
    /// The shrunk operations.
    pub ops: Vec<O>,
    /// Operations that did something in the first failing sequence.
    pub original_ops: usize,
    /// The shrunk sequence's plan.
    pub plan: Plan<S, T>,
    /// How it ended when run once more; `None` when `--duration` ran out first.
    pub ending: Option<Ending>,
}

/// A failure that broke a rule again when run once more.
pub struct Broke<O, S, T> {
    /// The shrunk operations.
    pub ops: Vec<O>,
    /// Operations that did something in the first failing sequence.
    pub original_ops: usize,
    /// The shrunk sequence's plan.
    pub plan: Plan<S, T>,
    /// The failing step (1-based).
    pub step: usize,
    /// The rule seen broken, and what came.
    pub broken: Broken,
}

impl<O, S, T> Failure<O, S, T> {
    /// The failure, if its run once more broke a rule again; otherwise why it cannot be
    /// recorded goes to `error` (unless an error is already there).
    pub fn broke(self, error: &mut Option<String>) -> Option<Broke<O, S, T>> {
        match self.ending {
            Some(Ending::Broken { step, broken, .. }) => Some(Broke {
                ops: self.ops,
                original_ops: self.original_ops,
                plan: self.plan,
                step,
                broken,
            }),
            None => {
                *error = Some(
                    "--duration ran out before the shrunk sequence could be run again; give \
                     more time to record the finding"
                        .into(),
                );
                None
            }
            Some(_) => {
                error.get_or_insert_with(|| {
                    "the shrunk sequence no longer fails when run again: the failure is flaky \
                     (run again with the same --seed, or raise --timeout)"
                        .into()
                });
                None
            }
        }
    }
}

/// Run the sequences of `strategy` as `opts` says: each is planned with `plan` and run with
/// `execute` (which gets the deadline and returns `None` when it passed), on `opts.jobs`
/// threads. The first failure is shrunk and run once more; a broken rule `rules` does not
/// require (SHOULD, MAY) is only a warning, reported when no sequence breaks a MUST rule.
pub fn run<O, S, T, C, V, St, G, P, E>(
    opts: &PropOptions,
    strategy: G,
    plan: P,
    execute: E,
    rules: &Requirements,
) -> Sequences<O, S, T, C, V>
where
    O: Send,
    St: Strategy<Value = Vec<O>>,
    G: Fn() -> St + Sync,
    P: Fn(&[O]) -> Plan<S, T> + Sync,
    E: Fn(&Plan<S, T>, Option<Instant>) -> Option<Executed<T, C>> + Sync,
    C: Tally + Default + Send,
    V: Cover<T>,
{
    let started = Instant::now();
    let deadline = opts.duration.map(|d| started + d);
    let (sequences, ops, steps) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let totals = Mutex::new((C::default(), V::default()));
    let driver = Driver {
        seed: opts.seed,
        cases: opts.cases,
        jobs: opts.jobs,
        deadline,
        max_shrink_iters: MAX_SHRINK_ITERS,
    };
    let found = driver.run(strategy, |sequence: &Vec<O>| {
        let p = plan(sequence);
        if p.steps.is_empty() {
            return Trial::Pass;
        }
        let Some(exec) = execute(&p, deadline) else {
            return Trial::Cut;
        };
        sequences.fetch_add(1, Ordering::Relaxed);
        ops.fetch_add(p.effective_ops(), Ordering::Relaxed);
        steps.fetch_add(p.steps.len(), Ordering::Relaxed);
        {
            let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
            t.0.add(&exec.counts);
            t.1.cover(&exec.transitions);
        }
        exec.ending.trial(p.effective_ops(), rules)
    });
    let failure = found.failure.map(
        |Shrunk {
             value, first_size, ..
         }| {
            // The minimal sequence once more, to record its steps and failure.
            let p = plan(&value);
            let ending = execute(&p, deadline).map(|e| e.ending);
            sequences.fetch_add(1, Ordering::Relaxed);
            Failure {
                ops: value,
                original_ops: first_size,
                plan: p,
                ending,
            }
        },
    );
    let (counts, coverage) = totals.into_inner().unwrap_or_else(|e| e.into_inner());
    Sequences {
        started,
        sequences: sequences.into_inner(),
        ops: ops.into_inner(),
        steps: steps.into_inner(),
        counts,
        coverage,
        failure,
        error: found.error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::sequence::Span;
    use proptest::collection::vec;

    #[derive(Default)]
    struct Seen(usize);

    impl Cover<u8> for Seen {
        fn cover(&mut self, transitions: &[u8]) {
            self.0 += transitions.len();
        }
    }

    /// A plan of one step per operation, each taking one transition.
    fn plan(ops: &[u8]) -> Plan<u8, u8> {
        Plan {
            steps: ops.to_vec(),
            spans: (0..ops.len())
                .map(|i| Span {
                    op: i,
                    steps: i..i + 1,
                    transitions: vec![ops[i]],
                })
                .collect(),
        }
    }

    /// A server that breaks a rule on any operation over 200.
    fn execute(p: &Plan<u8, u8>) -> Executed<u8, usize> {
        let ending = match p.steps.iter().position(|&s| s > 200) {
            Some(i) => Ending::Broken {
                step: i + 1,
                broken: Broken::new("X-RULE", "at most 200", p.steps[i].to_string()),
                transcript: String::new(),
            },
            None => Ending::Pass,
        };
        Executed {
            ending,
            transitions: p.steps.clone(),
            counts: p.steps.len(),
        }
    }

    fn options(cases: u32) -> PropOptions {
        PropOptions {
            seed: 3,
            cases,
            max_steps: 8,
            duration: None,
            findings: std::path::PathBuf::new(),
            jobs: 2,
        }
    }

    #[test]
    fn every_sequence_is_counted_and_a_failure_is_shrunk_and_run_again() {
        let ran: Sequences<u8, u8, u8, usize, Seen> = run(
            &options(200),
            || vec(0u8..=255, 1..8),
            plan,
            |p, _| Some(execute(p)),
            &Requirements::from_entries("test", Vec::new()),
        );
        assert!(ran.error.is_none(), "{:?}", ran.error);
        assert!(ran.sequences > 1);
        assert_eq!(ran.counts, ran.steps, "every step sent once");
        assert_eq!(ran.coverage.0, ran.steps, "every step's transition covered");
        let mut error = None;
        let broke = ran
            .failure
            .expect("a sequence with an operation over 200 fails")
            .broke(&mut error)
            .expect("it fails again");
        assert!(error.is_none());
        // Shrunk to the one operation that breaks the rule, at its smallest.
        assert_eq!(broke.ops, vec![201]);
        assert_eq!((broke.step, broke.broken.rule.as_str()), (1, "X-RULE"));
        assert!(broke.original_ops >= 1);
    }

    #[test]
    fn a_clean_run_has_no_failure_and_a_flaky_or_late_one_says_why() {
        let clean: Sequences<u8, u8, u8, usize, Seen> = run(
            &options(50),
            || vec(0u8..=200, 1..8),
            plan,
            |p, _| Some(execute(p)),
            &Requirements::from_entries("test", Vec::new()),
        );
        assert!(clean.failure.is_none() && clean.error.is_none());
        assert_eq!(clean.sequences, 50);

        let failure = |ending| Failure::<u8, u8, u8> {
            ops: vec![],
            original_ops: 1,
            plan: Plan::default(),
            ending,
        };
        let mut error = None;
        assert!(failure(None).broke(&mut error).is_none());
        assert!(error.unwrap().contains("--duration ran out"));
        let mut error = None;
        assert!(failure(Some(Ending::Pass)).broke(&mut error).is_none());
        assert!(error.unwrap().contains("flaky"));
    }
}
