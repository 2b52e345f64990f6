//! The driver every profile's `prop` shares: sequence `i` of a run is drawn from a generator
//! seeded with the run's seed and `i`, whichever of the `jobs` threads runs it, so the seed
//! alone fixes every sequence; the failure reported is the one of the lowest sequence number,
//! shrunk, so the seed alone also fixes the finding (for a server that answers a sequence the
//! same way each time). One deadline bounds generating and shrinking, and a suite-side error
//! stops everything. What a sequence is, how it runs and what it counts stay with the
//! profile, in the `trial` closure. Also the IDs and files of findings, which `prop` and
//! `fuzz` write the same way.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// How one generated sequence went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trial {
    /// It ran and the server did what the model allows (or there was nothing to run).
    Pass,
    /// The server broke a rule: `message` says which; `size` is the sequence's length in
    /// the profile's unit (operations that did something), for "shrunk from N".
    Fail {
        /// Rule, expected and actual, in one line.
        message: String,
        /// Length of the failing sequence.
        size: usize,
    },
    /// The server missed a SHOULD (or MAY) rule: kept, but the search for a MUST failure
    /// goes on; reported, shrunk, only when no sequence fails.
    Warn {
        /// Rule, expected and actual, in one line.
        message: String,
        /// Length of the sequence.
        size: usize,
    },
    /// The suite or the transport failed: the run stops and reports it.
    Error(String),
    /// The deadline cut the sequence short: it proves nothing, and the run stops.
    Cut,
}

/// What to run: how many sequences, on how many threads, until when.
#[derive(Debug, Clone, Copy)]
pub struct Driver {
    /// The run's seed: with the sequence number, it seeds each sequence's generator.
    pub seed: u64,
    /// Sequences to generate in all (numbered from 0, taken by the workers in turn).
    pub cases: u32,
    /// Worker threads.
    pub jobs: usize,
    /// Generation and shrinking stop here.
    pub deadline: Option<Instant>,
    /// Most shrinking steps (sequences tried while shrinking).
    pub max_shrink_iters: u32,
}

/// A failure, shrunk.
#[derive(Debug, Clone)]
pub struct Shrunk<T> {
    /// The number of the failing sequence (the lowest that failed).
    pub index: usize,
    /// The minimal sequence.
    pub value: T,
    /// Size of the first failing sequence, before shrinking.
    pub first_size: usize,
}

/// What a run found.
#[derive(Debug)]
pub struct Found<T> {
    /// The failure of the lowest sequence number, shrunk.
    pub failure: Option<Shrunk<T>>,
    /// The first suite-side error, if one stopped the run.
    pub error: Option<String>,
}

/// What the workers share.
struct Shared {
    /// The next sequence number to run.
    next: AtomicUsize,
    /// The lowest sequence number that failed (`usize::MAX`: none), and its size.
    lowest: Mutex<(usize, usize)>,
    /// The lowest sequence number that only warned, and its size.
    lowest_warn: Mutex<(usize, usize)>,
    /// Set by an error, a cut sequence or the deadline: no more sequences start.
    stop: AtomicBool,
    error: Mutex<Option<String>>,
}

impl Shared {
    fn lowest(&self) -> usize {
        self.lowest.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    fn record_error(&self, e: String) {
        self.error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(e);
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Driver {
    /// Run `trial` on sequences drawn from `strategy()` (one strategy per worker).
    pub fn run<S, M, F>(&self, strategy: M, trial: F) -> Found<S::Value>
    where
        S: Strategy,
        S::Value: Send,
        M: Fn() -> S + Sync,
        F: Fn(&S::Value) -> Trial + Sync,
    {
        let shared = Shared {
            next: AtomicUsize::new(0),
            lowest: Mutex::new((usize::MAX, 0)),
            lowest_warn: Mutex::new((usize::MAX, 0)),
            stop: AtomicBool::new(false),
            error: Mutex::default(),
        };
        std::thread::scope(|scope| {
            for _ in 0..self.jobs.max(1) {
                let (shared, strategy, trial) = (&shared, &strategy, &trial);
                scope.spawn(move || self.worker(shared, &strategy(), trial));
            }
        });
        // A MUST failure if any sequence failed; else the lowest warning, shrunk while it
        // still breaks a rule.
        let (index, first_size) = *shared.lowest.lock().unwrap_or_else(|p| p.into_inner());
        let (warn_index, warn_size) = *shared.lowest_warn.lock().unwrap_or_else(|p| p.into_inner());
        let failure = if index != usize::MAX {
            self.shrink(index, first_size, false, &strategy(), &trial, &shared)
        } else if warn_index != usize::MAX {
            self.shrink(warn_index, warn_size, true, &strategy(), &trial, &shared)
        } else {
            None
        };
        Found {
            failure,
            error: shared.error.into_inner().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Runs sequences by number until the cases are done, one above the lowest failure is
    /// next, or the run stops.
    fn worker<S, F>(&self, shared: &Shared, strategy: &S, trial: &F)
    where
        S: Strategy,
        F: Fn(&S::Value) -> Trial,
    {
        loop {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            if self.deadline.is_some_and(|d| Instant::now() > d) {
                shared.stop.store(true, Ordering::Relaxed);
                return;
            }
            let i = shared.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.cases as usize || i > shared.lowest() {
                return;
            }
            let Some(tree) = self.tree(strategy, i) else {
                continue;
            };
            match trial(&tree.current()) {
                Trial::Pass => {}
                Trial::Fail { size, .. } => {
                    let mut lowest = shared.lowest.lock().unwrap_or_else(|p| p.into_inner());
                    if i < lowest.0 {
                        *lowest = (i, size);
                    }
                }
                Trial::Warn { size, .. } => {
                    let mut lowest = shared.lowest_warn.lock().unwrap_or_else(|p| p.into_inner());
                    if i < lowest.0 {
                        *lowest = (i, size);
                    }
                }
                Trial::Error(e) => shared.record_error(e),
                Trial::Cut => shared.stop.store(true, Ordering::Relaxed),
            }
        }
    }

    /// Sequence `i`'s value tree: drawn from a generator seeded with the run's seed and `i`.
    fn tree<S: Strategy>(&self, strategy: &S, i: usize) -> Option<S::Tree> {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&self.seed.to_le_bytes());
        seed[8..16].copy_from_slice(&(i as u64).to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
        let mut runner = TestRunner::new_with_rng(Config::default(), rng);
        strategy.new_tree(&mut runner).ok()
    }

    /// Shrinks failing sequence `index` (drawn again from its seed) as proptest does: simplify
    /// while it fails, complicate when a simplification passes, within the shrinking budget
    /// and the deadline. A warning counts as failing only when `warnings` (a warning is
    /// shrunk); an error while shrinking ends it with what it has.
    fn shrink<S, F>(
        &self,
        index: usize,
        first_size: usize,
        warnings: bool,
        strategy: &S,
        trial: &F,
        shared: &Shared,
    ) -> Option<Shrunk<S::Value>>
    where
        S: Strategy,
        F: Fn(&S::Value) -> Trial,
    {
        let mut tree = self.tree(strategy, index)?;
        let mut best = tree.current();
        let mut steps = 0;
        let mut more = tree.simplify();
        while more
            && steps < self.max_shrink_iters
            && self.deadline.is_none_or(|d| Instant::now() <= d)
        {
            steps += 1;
            let candidate = tree.current();
            more = match trial(&candidate) {
                Trial::Fail { .. } => {
                    best = candidate;
                    tree.simplify()
                }
                Trial::Warn { .. } if warnings => {
                    best = candidate;
                    tree.simplify()
                }
                Trial::Pass | Trial::Warn { .. } => tree.complicate(),
                Trial::Error(e) => {
                    shared.record_error(e);
                    false
                }
                Trial::Cut => false,
            };
        }
        Some(Shrunk {
            index,
            value: best,
            first_size,
        })
    }
}

/// Runs `fut` as a task of `handle`'s runtime and waits for it on this (non-runtime) thread.
/// CPU-heavy work in `fut` (signing) then runs on the runtime's workers next to the
/// connections it uses, instead of waking this thread at every step. A panic in `fut` is
/// raised here; `None` if the runtime shut down first.
pub fn block_on_task<T: Send + 'static>(
    handle: &tokio::runtime::Handle,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Option<T> {
    match handle.block_on(handle.spawn(fut)) {
        Ok(v) => Some(v),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => None,
    }
}

/// `fut`, unless `deadline` passes first (`None`).
pub async fn within<T>(
    deadline: Option<Instant>,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    match deadline {
        Some(d) => tokio::time::timeout_at(tokio::time::Instant::from_std(d), fut)
            .await
            .ok(),
        None => Some(fut.await),
    }
}

/// A finding's case ID: `prop/<rule in lower case>-<FNV-1a hash of its steps' JSON>`, so the
/// same steps always get the same file name.
pub fn finding_id(rule: &str, steps: &impl serde::Serialize) -> String {
    let text = serde_json::to_string(steps).unwrap_or_default();
    let hash = text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    format!("prop/{}-{:08x}", rule.to_ascii_lowercase(), hash as u32)
}

/// Write `value` as pretty JSON to `dir/file_name` (`dir` made if missing); returns the path.
/// Errors name the file and tell the user to pass a writable `--findings DIR`.
pub fn write_finding_file(
    dir: &std::path::Path,
    file_name: &str,
    value: &impl serde::Serialize,
) -> Result<std::path::PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "cannot create the findings directory {}: {e}; pass a writable --findings DIR",
            dir.display()
        )
    })?;
    let path = dir.join(file_name);
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n").map_err(|e| {
        format!(
            "cannot write {}: {e}; pass a writable --findings DIR",
            path.display()
        )
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn driver(jobs: usize) -> Driver {
        Driver {
            seed: 7,
            cases: 200,
            jobs,
            deadline: None,
            max_shrink_iters: 1024,
        }
    }

    #[test]
    fn a_failure_is_shrunk_to_the_smallest_sequence() {
        let found = driver(2).run(
            || prop::collection::vec(0u8..100, 1..20),
            |v| {
                if v.iter().any(|&x| x >= 50) {
                    Trial::Fail {
                        message: "a big one".into(),
                        size: v.len(),
                    }
                } else {
                    Trial::Pass
                }
            },
        );
        let f = found.failure.expect("found");
        assert_eq!(f.value, vec![50]);
        assert!(f.first_size >= 1);
        assert_eq!(found.error, None);
    }

    /// Values of 500 and more break a SHOULD rule (most sequences); 995 and more a MUST rule
    /// (a few).
    fn graded(v: &[u16]) -> Trial {
        let size = v.len();
        if v.iter().any(|&x| x >= 995) {
            Trial::Fail {
                message: "a huge one".into(),
                size,
            }
        } else if v.iter().any(|&x| x >= 500) {
            Trial::Warn {
                message: "a big one".into(),
                size,
            }
        } else {
            Trial::Pass
        }
    }

    #[test]
    fn a_warning_does_not_stop_the_search_for_a_must_failure() {
        let found = driver(2).run(|| prop::collection::vec(0u16..1000, 1..8), |v| graded(v));
        let f = found.failure.expect("found");
        // Lower sequences only warned; the MUST failure is reported, shrunk as a failure.
        assert_eq!(f.value, vec![995]);
        let warned_first = (0..f.index).any(|i| {
            let tree = driver(1).tree(&prop::collection::vec(0u16..1000, 1..8), i);
            matches!(graded(&tree.unwrap().current()), Trial::Warn { .. })
        });
        assert!(warned_first, "a lower sequence warned");
    }

    #[test]
    fn a_warning_is_reported_shrunk_when_nothing_fails() {
        let found = driver(2).run(|| prop::collection::vec(0u16..995, 1..8), |v| graded(v));
        assert_eq!(found.failure.expect("the warning").value, vec![500]);
    }

    #[test]
    fn the_seed_alone_fixes_the_finding_whatever_the_jobs() {
        // Many sequences fail, and each shrinks to a value of its own: what is reported must
        // not depend on which thread got there first.
        let find = |jobs| {
            driver(jobs)
                .run(
                    || prop::collection::vec(0u16..1000, 1..20),
                    |v| {
                        if v.iter().any(|&x| x % 16 == 5 && x > 100) {
                            Trial::Fail {
                                message: "a five".into(),
                                size: v.len(),
                            }
                        } else {
                            Trial::Pass
                        }
                    },
                )
                .failure
                .expect("found")
        };
        let one = find(1);
        for jobs in [2, 3, 8] {
            let other = find(jobs);
            assert_eq!(
                (other.index, &other.value, other.first_size),
                (one.index, &one.value, one.first_size),
                "jobs {jobs}"
            );
        }
        // The finding is the lowest failing sequence, not the first to fail.
        let lowest = (0..one.index).all(|i| {
            let tree = driver(1).tree(&prop::collection::vec(0u16..1000, 1..20), i);
            !tree
                .unwrap()
                .current()
                .iter()
                .any(|&x| x % 16 == 5 && x > 100)
        });
        assert!(lowest, "a lower sequence fails too");
    }

    #[test]
    fn an_error_stops_the_run_and_is_reported() {
        let runs = AtomicUsize::new(0);
        let found = driver(1).run(
            || 0u8..10,
            |_| {
                runs.fetch_add(1, Ordering::Relaxed);
                Trial::Error("the transport failed".into())
            },
        );
        assert!(found.failure.is_none());
        assert_eq!(found.error.as_deref(), Some("the transport failed"));
        assert!(runs.load(Ordering::Relaxed) < 10, "it went on");
    }

    #[test]
    fn a_passed_deadline_runs_nothing() {
        let runs = AtomicUsize::new(0);
        let d = Driver {
            deadline: Some(Instant::now()),
            ..driver(2)
        };
        let found = d.run(
            || 0u8..10,
            |_| {
                runs.fetch_add(1, Ordering::Relaxed);
                Trial::Pass
            },
        );
        assert!(found.failure.is_none() && found.error.is_none());
        assert_eq!(runs.load(Ordering::Relaxed), 0);
    }
}
