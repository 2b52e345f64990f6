//! The driver every profile's `prop` shares: proptest runners on `jobs` threads (worker `w`
//! draws from seed + `w`, so a seed fixes every worker's stream of sequences), one deadline
//! for generating and shrinking, the first failure shrunk while the other workers stop, and
//! a suite-side error stopping everything. What a sequence is, how it runs and what it
//! counts stay with the profile, in the `trial` closure. Also the IDs and files of findings,
//! which `prop` and `fuzz` write the same way.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

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
    /// The suite or the transport failed: the run stops and reports it.
    Error(String),
    /// The deadline cut the sequence short: it proves nothing, and the run stops.
    Cut,
}

/// What to run: how many sequences, on how many threads, until when.
#[derive(Debug, Clone, Copy)]
pub struct Driver {
    /// The run's seed (worker `w` uses seed + `w`).
    pub seed: u64,
    /// Sequences to generate in all (split among the workers).
    pub cases: u32,
    /// Worker threads, each with its own proptest runner.
    pub jobs: usize,
    /// Generation and shrinking stop here.
    pub deadline: Option<Instant>,
    /// proptest's bound on shrinking steps.
    pub max_shrink_iters: u32,
}

/// A failure, shrunk.
#[derive(Debug, Clone)]
pub struct Shrunk<T> {
    /// The seed of the worker that found it.
    pub seed: u64,
    /// The minimal sequence.
    pub value: T,
    /// Size of the first failing sequence, before shrinking.
    pub first_size: usize,
}

/// What a run found.
#[derive(Debug)]
pub struct Found<T> {
    /// The first failure (by worker order), shrunk.
    pub failure: Option<Shrunk<T>>,
    /// The first suite-side error, if one stopped the run.
    pub error: Option<String>,
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
        let stop = AtomicBool::new(false);
        let error: Mutex<Option<String>> = Mutex::default();
        let jobs = self.jobs.max(1);
        let per_worker = (self.cases as usize).div_ceil(jobs).max(1) as u32;
        let results: Vec<Option<Shrunk<S::Value>>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..jobs)
                .map(|w| {
                    let (stop, error, strategy, trial) = (&stop, &error, &strategy, &trial);
                    let seed = self.seed.wrapping_add(w as u64);
                    scope.spawn(move || {
                        self.worker(seed, per_worker, stop, error, &strategy(), trial)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or(None))
                .collect()
        });
        Found {
            failure: results.into_iter().flatten().next(),
            error: error.into_inner().unwrap_or_else(|e| e.into_inner()),
        }
    }

    fn worker<S, F>(
        &self,
        seed: u64,
        cases: u32,
        stop: &AtomicBool,
        error: &Mutex<Option<String>>,
        strategy: &S,
        trial: &F,
    ) -> Option<Shrunk<S::Value>>
    where
        S: Strategy,
        F: Fn(&S::Value) -> Trial,
    {
        let config = Config {
            cases,
            max_shrink_iters: self.max_shrink_iters,
            max_global_rejects: 64,
            failure_persistence: None,
            ..Config::default()
        };
        let mut seed_bytes = [0u8; 32];
        seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
        let mut runner = TestRunner::new_with_rng(config, rng);
        let first = AtomicUsize::new(0);
        let shrinking = AtomicBool::new(false);
        let outcome = runner.run(strategy, |value| {
            let over = self.deadline.is_some_and(|d| Instant::now() > d);
            if shrinking.load(Ordering::Relaxed) {
                if over {
                    // Out of time: every further simplification "passes", so shrinking
                    // ends with what it has.
                    return Ok(());
                }
            } else if over || stop.load(Ordering::Relaxed) {
                // Rejections end the runner (max_global_rejects) without running or
                // generating the remaining cases.
                return Err(TestCaseError::reject("the run is over"));
            }
            match trial(&value) {
                Trial::Pass => Ok(()),
                Trial::Fail { message, size } => {
                    if !shrinking.swap(true, Ordering::Relaxed) {
                        first.store(size, Ordering::Relaxed);
                        stop.store(true, Ordering::Relaxed);
                    }
                    Err(TestCaseError::fail(message))
                }
                Trial::Error(e) => {
                    error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                    stop.store(true, Ordering::Relaxed);
                    Ok(())
                }
                Trial::Cut => {
                    stop.store(true, Ordering::Relaxed);
                    Ok(())
                }
            }
        });
        match outcome {
            Err(TestError::Fail(_, value)) => Some(Shrunk {
                seed,
                value,
                first_size: first.load(Ordering::Relaxed),
            }),
            _ => None,
        }
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
