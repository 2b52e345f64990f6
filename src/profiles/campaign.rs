//! What a fuzz campaign of `tassis-v2` or `simplex-v5` did and found, and how it ends; and
//! its workers: each runs sessions one at a time against a server of its own, and their
//! reports are merged.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::profiles::{FuzzOptions, ProfileError, TargetOptions};

pub mod target;

pub use target::{Opens, Target};

/// What a campaign did (`C`, the profile's counts) and found (`F`, its findings).
#[derive(Debug)]
pub struct Report<C, F> {
    /// What was sent and checked.
    pub counts: C,
    /// Sessions run.
    pub sessions: usize,
    /// Canary checks run.
    pub canary_checks: usize,
    /// Restarts of the embedded server.
    pub restarts: usize,
    /// Distinct findings, in the order found.
    pub findings: Vec<F>,
    /// Findings another worker re-ran and wrote first, by key: how often this worker saw
    /// them. Merging adds them to that worker's finding.
    pub seen_elsewhere: BTreeMap<String, usize>,
    /// Workers that ran.
    pub workers: usize,
    /// Distinct findings first seen after `--max-findings` had been reached by other
    /// workers: neither re-run nor written.
    pub beyond_limit: usize,
    /// Problems of the suite's side (never blamed on the server).
    pub errors: Vec<String>,
    /// The `--server` stopped serving (and could not be restarted).
    pub target_gone: bool,
    /// Wall time.
    pub elapsed: Duration,
}

impl<C: Default, F> Default for Report<C, F> {
    fn default() -> Self {
        Report {
            counts: C::default(),
            sessions: 0,
            canary_checks: 0,
            restarts: 0,
            findings: Vec::new(),
            seen_elsewhere: BTreeMap::new(),
            workers: 1,
            beyond_limit: 0,
            errors: Vec::new(),
            target_gone: false,
            elapsed: Duration::ZERO,
        }
    }
}

/// One distinct finding of a campaign, first seen as the observation `R`.
#[derive(Debug, Clone)]
pub struct Finding<R> {
    /// The first observation (its steps minimized where the profile does so).
    pub raw: R,
    /// Its deduplication key: the rule and the input's kind or shape.
    pub key: String,
    /// How often it was seen.
    pub count: usize,
    /// Re-runs of its case that showed it again.
    pub reproduced: usize,
    /// Re-runs of its case (0 when it could not be re-run, e.g. a `--server` that stopped
    /// serving).
    pub tries: usize,
    /// Where its case file was written.
    pub path: Option<PathBuf>,
    /// How long into the campaign it was first seen.
    pub after: Duration,
}

/// A file-name slug of a finding's key (`v-ws-json-ws-binary-unsubscribe`): lower-case
/// letters and digits, one `-` for each run of anything else, at most 80 characters.
pub fn slug(key: &str) -> String {
    let mut s = String::new();
    for c in key.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').chars().take(80).collect()
}

/// The most errors a report keeps.
const MAX_ERRORS: usize = 100;

impl<C, F> Report<C, F> {
    /// Keep a problem of the suite's side (the first hundred).
    pub fn note_error(&mut self, e: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(e);
        }
    }

    /// `n` things over the wall time: how many a second.
    pub fn per_second(&self, n: usize) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The end of the campaign: its first errors printed, then its outcome, each finding
    /// named by `name`. Findings come first; a target that stopped answering, or a campaign
    /// that sent no `unit` (`sent` is 0), cannot be judged.
    pub fn outcome(
        &self,
        sent: usize,
        unit: &str,
        name: impl Fn(&F) -> crate::profiles::Finding,
    ) -> Result<crate::profiles::Outcome, crate::profiles::ProfileError> {
        use crate::profiles::{Outcome, ProfileError};
        for e in self.errors.iter().take(5) {
            eprintln!("edgecheck: fuzz: {e}");
        }
        if self.beyond_limit > 0 {
            eprintln!(
                "edgecheck: fuzz: {} more distinct finding(s) turned up while the workers \
                 stopped at --max-findings; they were not re-run or written (raise \
                 --max-findings to keep them)",
                self.beyond_limit
            );
        }
        if !self.findings.is_empty() {
            return Ok(Outcome::Found(self.findings.iter().map(name).collect()));
        }
        if self.target_gone {
            return Err(ProfileError::Unreachable(
                "the target stopped answering during fuzz; see the messages above".into(),
            ));
        }
        if sent == 0 {
            return Err(ProfileError::Internal(format!(
                "fuzz sent no {unit}{}",
                self.errors
                    .first()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )));
        }
        println!("no finding");
        Ok(Outcome::Clean)
    }
}

/// Counts that add up over the workers of a campaign (or the runs of generated sequences).
pub trait Tally {
    /// Add another worker's counts.
    fn add(&mut self, other: &Self);
}

impl Tally for usize {
    fn add(&mut self, other: &usize) {
        *self += other;
    }
}

impl<A: Tally, B: Tally> Tally for (A, B) {
    fn add(&mut self, other: &(A, B)) {
        self.0.add(&other.0);
        self.1.add(&other.1);
    }
}

/// What a worker's sighting of a finding is to the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// New: this worker re-runs and writes it.
    New,
    /// Another worker saw it first; this one only counts it
    /// ([`Report::seen_elsewhere`]).
    Known,
    /// New, but the campaign already holds `--max-findings` findings: it is not written
    /// ([`Report::beyond_limit`]).
    Beyond,
}

/// What the workers of one campaign share: the keys of the findings known so far, so that
/// each finding is re-run and written once, and the totals the stop conditions and the
/// progress line read.
#[derive(Debug, Default)]
pub struct Shared {
    claimed: Mutex<Claimed>,
    sent: AtomicUsize,
}

/// The keys of the findings written, and of those turned away at the limit.
#[derive(Debug, Default)]
struct Claimed {
    written: HashSet<String>,
    beyond: HashSet<String>,
}

impl Shared {
    /// What the finding `key` is to the campaign: new (its first finder re-runs and writes
    /// it), known, or beyond `limit` distinct findings (`--max-findings`), so that several
    /// workers together never write more than the limit.
    pub fn claim(&self, key: &str, limit: Option<usize>) -> Claim {
        let mut c = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        if c.written.contains(key) {
            Claim::Known
        } else if limit.is_some_and(|m| c.written.len() >= m) {
            c.beyond.insert(key.to_string());
            Claim::Beyond
        } else {
            c.written.insert(key.to_string());
            Claim::New
        }
    }

    /// Distinct findings of all workers so far (those written).
    pub fn distinct(&self) -> usize {
        let c = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        c.written.len()
    }

    /// Distinct findings turned away at `--max-findings`.
    pub fn beyond(&self) -> usize {
        let c = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        c.beyond.len()
    }

    /// Count `n` more requests or frames sent.
    pub fn count_sent(&self, n: usize) {
        self.sent.fetch_add(n, Ordering::Relaxed);
    }

    /// Requests or frames all workers have sent.
    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }
}

/// The workers of a campaign: `jobs`, or one per core without it, each with an embedded
/// server of its own. Against `--server` one: a server that stops serving is then blamed on
/// the input just sent, which another session beside it would make uncertain.
pub fn workers(jobs: Option<usize>, embedded: bool) -> usize {
    if embedded {
        jobs.unwrap_or_else(crate::engine::cores).clamp(1, 64)
    } else {
        1
    }
}

/// Time between progress lines.
pub const PROGRESS: Duration = Duration::from_secs(5);

/// One worker of a campaign and what it needs.
pub struct Job {
    /// The target (each worker opens its own).
    pub target: TargetOptions,
    /// The campaign's options.
    pub opts: FuzzOptions,
    /// This worker's index.
    pub index: usize,
    /// Workers of the campaign.
    pub workers: usize,
    /// What the workers share.
    pub shared: Arc<Shared>,
}

impl Job {
    /// The seed of this worker's stream: the campaign's seed + its index, so one worker
    /// repeats the campaign of a seed.
    pub fn seed(&self) -> u64 {
        self.opts.seed.wrapping_add(self.index as u64)
    }

    /// Whether the campaign is over: `deadline` passed, `--max-requests` sent by all
    /// workers together, or `--max-findings` distinct findings among them.
    pub fn done(&self, deadline: Option<Instant>) -> bool {
        deadline.is_some_and(|d| Instant::now() >= d)
            || self
                .opts
                .max_requests
                .is_some_and(|m| self.shared.sent() >= m)
            || self
                .opts
                .max_findings
                .is_some_and(|m| self.shared.distinct() >= m)
    }

    /// Whether this worker prints the banner and the progress line (the first does, with
    /// the totals of all).
    pub fn speaks(&self) -> bool {
        self.index == 0
    }

    /// The banner's words on the workers: nothing for one.
    pub fn workers_note(&self) -> String {
        if self.workers > 1 {
            format!(" · {} workers, each with a server of its own", self.workers)
        } else {
            String::new()
        }
    }
}

/// Run a campaign: [`workers`] at once, worker `i` being `work(job i)`, and merge their
/// reports.
pub async fn run<C, R, W, Fut>(
    target: &TargetOptions,
    opts: &FuzzOptions,
    work: W,
) -> Result<Report<C, Finding<R>>, ProfileError>
where
    C: Tally + Default + Send + 'static,
    R: Send + 'static,
    W: Fn(Job) -> Fut,
    Fut: Future<Output = Result<Report<C, Finding<R>>, ProfileError>> + Send + 'static,
{
    let n = workers(opts.jobs, target.servers.is_empty());
    run_workers(n, |index, shared| {
        work(Job {
            target: target.clone(),
            opts: opts.clone(),
            index,
            workers: n,
            shared,
        })
    })
    .await
}

/// Run `n` workers at once on the current runtime (worker `i` is `work(i, shared)`) and
/// merge their reports. A worker that cannot start is noted as an error of the suite's side;
/// the campaign fails only when none starts.
async fn run_workers<C, R, W, Fut>(n: usize, work: W) -> Result<Report<C, Finding<R>>, ProfileError>
where
    C: Tally + Default + Send + 'static,
    R: Send + 'static,
    W: Fn(usize, Arc<Shared>) -> Fut,
    Fut: Future<Output = Result<Report<C, Finding<R>>, ProfileError>> + Send + 'static,
{
    let shared = Arc::new(Shared::default());
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n.max(1) {
        let fut = work(i, shared.clone());
        set.spawn(async move { (i, fut.await) });
    }
    let mut done = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(r) => done.push(r),
            Err(e) => {
                return Err(ProfileError::Internal(format!(
                    "a fuzz worker failed: {e}; this is a bug in edgecheck"
                )))
            }
        }
    }
    done.sort_by_key(|(i, _)| *i);
    let mut merged: Option<Report<C, Finding<R>>> = None;
    let mut failed = Vec::new();
    for (i, r) in done {
        match r {
            Ok(r) => match &mut merged {
                Some(m) => m.absorb(r),
                None => merged = Some(r),
            },
            Err(e) => failed.push((i, e)),
        }
    }
    let Some(mut merged) = merged else {
        return Err(failed.into_iter().next().map_or_else(
            || ProfileError::Internal("no fuzz worker ran".into()),
            |(_, e)| e,
        ));
    };
    for (i, e) in failed {
        merged.note_error(format!("fuzz worker {i} could not run: {e}"));
    }
    merged.workers = n.max(1);
    merged.beyond_limit = shared.beyond();
    merged.settle();
    Ok(merged)
}

impl<C: Tally, R> Report<C, Finding<R>> {
    /// Take in another worker's report.
    fn absorb(&mut self, other: Report<C, Finding<R>>) {
        self.counts.add(&other.counts);
        self.sessions += other.sessions;
        self.canary_checks += other.canary_checks;
        self.restarts += other.restarts;
        self.findings.extend(other.findings);
        for (k, n) in other.seen_elsewhere {
            *self.seen_elsewhere.entry(k).or_default() += n;
        }
        for e in other.errors {
            self.note_error(e);
        }
        self.target_gone |= other.target_gone;
        self.elapsed = self.elapsed.max(other.elapsed);
    }

    /// Add the sightings of other workers to the finding that was written, and order the
    /// findings by when they were first seen.
    fn settle(&mut self) {
        for f in &mut self.findings {
            if let Some(n) = self.seen_elsewhere.remove(&f.key) {
                f.count += n;
            }
        }
        self.findings.sort_by_key(|f| f.after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(
            slug("TB-ALIVE authResponse/short-signature"),
            "tb-alive-authresponse-short-signature"
        );
        assert_eq!(
            slug("V-WS-JSON ws/binary/unsubscribe"),
            "v-ws-json-ws-binary-unsubscribe"
        );
        assert_eq!(slug(&"x".repeat(200)).len(), 80);
    }

    #[test]
    fn the_outcome_is_a_finding_first_and_never_clean_without_input_or_target() {
        use crate::profiles::{Finding, Outcome, ProfileError};
        let name = |_: &()| Finding::new("TB-ALIVE", "the server stopped");
        let mut r: Report<usize, ()> = Report::default();
        assert!(matches!(
            r.outcome(0, "frame", name),
            Err(ProfileError::Internal(m)) if m == "fuzz sent no frame"
        ));
        assert!(matches!(r.outcome(3, "frame", name), Ok(Outcome::Clean)));
        r.target_gone = true;
        assert!(matches!(
            r.outcome(3, "frame", name),
            Err(ProfileError::Unreachable(_))
        ));
        r.findings.push(());
        assert_eq!(
            r.outcome(3, "frame", name).unwrap(),
            Outcome::Found(vec![name(&())])
        );
    }

    fn finding(key: &str, after: u64) -> Finding<()> {
        Finding {
            raw: (),
            key: key.into(),
            count: 1,
            reproduced: 0,
            tries: 0,
            path: None,
            after: Duration::from_secs(after),
        }
    }

    #[test]
    fn one_worker_per_core_each_with_its_own_server_and_one_against_a_given_server() {
        assert_eq!(workers(None, true), crate::engine::cores());
        assert_eq!(workers(Some(3), true), 3);
        assert_eq!(workers(Some(0), true), 1);
        assert_eq!(workers(None, false), 1);
        assert_eq!(workers(Some(4), false), 1);
    }

    #[test]
    fn a_job_draws_from_its_own_seed_and_stops_at_the_limits_of_all_workers() {
        let job = |index, opts: FuzzOptions| Job {
            target: TargetOptions::default(),
            opts,
            index,
            workers: 2,
            shared: Arc::new(Shared::default()),
        };
        let opts = FuzzOptions {
            seed: 7,
            max_requests: Some(10),
            max_findings: Some(1),
            ..FuzzOptions::default()
        };
        let (first, second) = (job(0, opts.clone()), job(1, opts));
        assert_eq!((first.seed(), second.seed()), (7, 8));
        assert!(first.speaks() && !second.speaks());
        assert_eq!(
            first.workers_note(),
            " · 2 workers, each with a server of its own"
        );
        assert!(!first.done(None));
        assert!(first.done(Some(Instant::now())));
        first.shared.count_sent(10);
        assert!(first.done(None));
        assert!(!second.done(None));
        second.shared.claim("B-NO-5XX json/deep", None);
        assert!(second.done(None));
        let one = Job {
            workers: 1,
            ..job(0, FuzzOptions::default())
        };
        assert_eq!(one.workers_note(), "");
    }

    #[test]
    fn a_finding_is_claimed_once_and_the_totals_are_shared() {
        let shared = Shared::default();
        let claim = |key| shared.claim(key, None);
        assert_eq!(claim("TB-ALIVE login/short-signature"), Claim::New);
        assert_eq!(claim("TB-ALIVE login/short-signature"), Claim::Known);
        assert_eq!(claim("TB-ALIVE ack/empty"), Claim::New);
        assert_eq!(shared.distinct(), 2);
        assert_eq!(shared.beyond(), 0);
        shared.count_sent(5);
        shared.count_sent(7);
        assert_eq!(shared.sent(), 12);
    }

    #[test]
    fn no_finding_beyond_max_findings_is_claimed() {
        let shared = Shared::default();
        assert_eq!(shared.claim("a", Some(1)), Claim::New);
        // A second worker's new finding, after the first reached the limit.
        assert_eq!(shared.claim("b", Some(1)), Claim::Beyond);
        assert_eq!(shared.claim("b", Some(1)), Claim::Beyond);
        assert_eq!(shared.claim("a", Some(1)), Claim::Known);
        assert_eq!((shared.distinct(), shared.beyond()), (1, 1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn workers_that_find_at_once_write_no_more_than_max_findings() {
        let merged = run_workers(3, |i, shared| async move {
            let mut r: Report<usize, Finding<()>> = Report::default();
            let key = format!("own-{i}");
            if shared.claim(&key, Some(1)) == Claim::New {
                r.findings.push(finding(&key, 1));
            }
            Ok(r)
        })
        .await
        .expect("the workers run");
        assert_eq!(merged.findings.len(), 1);
        assert_eq!(merged.beyond_limit, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_worker_runs_and_their_reports_merge_into_one() {
        let started = Arc::new(Mutex::new(Vec::new()));
        let log = started.clone();
        let merged = run_workers(3, move |i, shared| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(i);
                let mut r: Report<usize, Finding<()>> = Report {
                    counts: 10 * (i + 1),
                    sessions: 1,
                    restarts: i,
                    elapsed: Duration::from_secs(i as u64 + 1),
                    ..Report::default()
                };
                // Every worker sees "shared"; the first to claim it keeps it.
                if shared.claim("shared", None) == Claim::New {
                    r.findings.push(finding("shared", 5 - i as u64));
                } else {
                    *r.seen_elsewhere.entry("shared".into()).or_default() += 2;
                }
                r.findings.push(finding(&format!("own-{i}"), 9 - i as u64));
                if i == 2 {
                    r.note_error("worker 2 noted this".into());
                    r.target_gone = true;
                }
                Ok(r)
            }
        })
        .await
        .expect("the workers run");
        let mut ran = started.lock().unwrap().clone();
        ran.sort();
        assert_eq!(ran, vec![0, 1, 2]);
        assert_eq!(merged.workers, 3);
        assert_eq!(merged.counts, 60);
        assert_eq!(merged.sessions, 3);
        assert_eq!(merged.restarts, 3);
        assert_eq!(merged.elapsed, Duration::from_secs(3));
        assert_eq!(merged.errors, vec!["worker 2 noted this".to_string()]);
        assert!(merged.target_gone);
        // One "shared" finding, seen once by its owner and twice by each other worker.
        let shared: Vec<_> = merged
            .findings
            .iter()
            .filter(|f| f.key == "shared")
            .collect();
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].count, 5);
        assert!(merged.seen_elsewhere.is_empty());
        assert_eq!(merged.findings.len(), 4);
        // In the order first seen.
        let afters: Vec<_> = merged.findings.iter().map(|f| f.after).collect();
        let mut sorted = afters.clone();
        sorted.sort();
        assert_eq!(afters, sorted);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_worker_that_cannot_start_is_noted_and_only_all_failing_fails() {
        let some = run_workers(2, |i, _| async move {
            if i == 1 {
                Err(ProfileError::Unreachable("port taken".into()))
            } else {
                Ok(Report::<usize, Finding<()>> {
                    counts: 4,
                    ..Report::default()
                })
            }
        })
        .await
        .expect("one worker ran");
        assert_eq!(some.counts, 4);
        assert_eq!(some.errors.len(), 1);
        assert!(
            some.errors[0].contains("fuzz worker 1 could not run"),
            "{:?}",
            some.errors
        );

        let none = run_workers(2, |_, _| async {
            Err::<Report<usize, Finding<()>>, _>(ProfileError::Unreachable("no server".into()))
        })
        .await;
        assert!(matches!(none, Err(ProfileError::Unreachable(m)) if m == "no server"));
    }

    #[test]
    fn a_report_keeps_the_first_hundred_errors_and_counts_per_second() {
        let mut r: Report<usize, ()> = Report {
            elapsed: Duration::from_secs(4),
            ..Report::default()
        };
        for i in 0..150 {
            r.note_error(format!("e{i}"));
        }
        assert_eq!(r.errors.len(), MAX_ERRORS);
        assert_eq!(r.errors.last().map(String::as_str), Some("e99"));
        assert_eq!(r.per_second(10), 2.5);
    }
}
