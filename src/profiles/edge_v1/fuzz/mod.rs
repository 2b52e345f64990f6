//! `edgecheck fuzz`: structure-aware mutation of correct requests over the network, and the
//! harnesses of the cargo-fuzz targets.
//!
//! Workers run sessions ([`session`]): correct operations chosen from the model's state,
//! most of them mutated ([`mutate`]), each sent through the step runner, so every answer is
//! checked against what the mutation allows and against the model. After every request: no
//! 5xx, no connection closed without a response, no answer slower than the timeout, every
//! answer well formed, and a refused request changed nothing (later correct requests on the
//! same connections show it, and a canary connection with a known past is checked
//! regularly: [`canary`]). Findings are deduplicated by rule and request shape, re-run for a
//! reproduction rate and written as case files ([`finding`]).

pub mod canary;
pub mod finding;
pub mod harness;
pub mod mutate;
pub mod predict;
pub mod session;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::profiles::edge_v1::Context;
pub use finding::Finding;
use session::{End, Raw, Session};

pub use crate::profiles::FuzzOptions;

/// The outcome of a campaign.
#[derive(Debug, Default)]
pub struct FuzzReport {
    /// Requests sent by the workers and the canary.
    pub requests: usize,
    /// RSA signatures the sessions made for them (signed requests and signature faults).
    pub signatures: usize,
    /// Sessions run.
    pub sessions: usize,
    /// Canary checks passed.
    pub canary_checks: usize,
    /// Wall time of the campaign (reproduction runs not included).
    pub elapsed: Duration,
    /// Distinct findings, in the order first seen.
    pub findings: Vec<Finding>,
    /// Problems of the suite itself (never the server's fault).
    pub errors: Vec<String>,
    /// The target stopped accepting connections.
    pub unreachable: bool,
    /// Distinct findings that turned up after `--max-findings` was reached, while the
    /// workers stopped: neither confirmed nor written.
    pub beyond_limit: usize,
}

impl FuzzReport {
    /// Requests per second over the campaign.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Whether any finding breaks a MUST rule.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(finding::is_must)
    }
}

/// State shared by the workers, the canary and the progress line.
pub struct Shared {
    stop: AtomicBool,
    requests: AtomicUsize,
    signatures: AtomicUsize,
    sessions: AtomicUsize,
    /// Canary checks passed so far (the canary task may be stopped at the deadline).
    canary_checks: AtomicUsize,
    started: Instant,
    deadline: Option<Instant>,
    max_requests: Option<usize>,
    max_findings: Option<usize>,
    found: Mutex<Vec<Finding>>,
    index: Mutex<HashMap<String, usize>>,
    beyond: Mutex<HashSet<String>>,
    recent: Mutex<VecDeque<String>>,
    errors: Mutex<Vec<String>>,
}

/// Requests kept in the recent-requests log.
const RECENT: usize = 256;
/// Suite errors after which a campaign stops (something is wrong with the setup).
const MAX_ERRORS: usize = 50;

impl Shared {
    fn new(opts: &FuzzOptions) -> Shared {
        let started = Instant::now();
        Shared {
            stop: AtomicBool::new(false),
            requests: AtomicUsize::new(0),
            signatures: AtomicUsize::new(0),
            sessions: AtomicUsize::new(0),
            canary_checks: AtomicUsize::new(0),
            started,
            deadline: opts.duration.map(|d| started + d),
            max_requests: opts.max_requests,
            max_findings: opts.max_findings,
            found: Mutex::new(Vec::new()),
            index: Mutex::new(HashMap::new()),
            beyond: Mutex::new(HashSet::new()),
            recent: Mutex::new(VecDeque::new()),
            errors: Mutex::new(Vec::new()),
        }
    }

    /// Whether workers should stop.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
            || self
                .max_requests
                .is_some_and(|m| self.requests.load(Ordering::Relaxed) >= m)
    }

    /// Count one request sent.
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Count signatures a session made.
    pub fn count_signatures(&self, n: usize) {
        self.signatures.fetch_add(n, Ordering::Relaxed);
    }

    /// Remember a request summary for the recent-requests log.
    pub fn note(&self, line: String) {
        let mut r = lock(&self.recent);
        if r.len() == RECENT {
            r.pop_front();
        }
        r.push_back(line);
    }

    fn recent(&self) -> Vec<String> {
        lock(&self.recent).iter().cloned().collect()
    }

    fn error(&self, e: String) {
        let mut errors = lock(&self.errors);
        errors.push(e);
        if errors.len() >= MAX_ERRORS {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    fn add(&self, raw: Raw, context: Vec<String>) {
        if raw.unreachable {
            self.stop.store(true, Ordering::Relaxed);
        }
        let key = finding::key(&raw);
        let mut index = lock(&self.index);
        let mut found = lock(&self.found);
        match index.get(&key) {
            Some(&i) => {
                found[i].count += 1;
                found[i].endpoints.insert(finding::endpoint(&raw.shape));
            }
            None if self.max_findings.is_some_and(|m| found.len() >= m) => {
                // Another worker's finding reached the limit first.
                lock(&self.beyond).insert(key);
            }
            None => {
                index.insert(key, found.len());
                let mut endpoints = BTreeSet::new();
                endpoints.insert(finding::endpoint(&raw.shape));
                found.push(Finding {
                    raw,
                    count: 1,
                    endpoints,
                    case: None,
                    reproduced: 0,
                    tries: 0,
                    path: None,
                    context,
                });
                if self.max_findings.is_some_and(|m| found.len() >= m) {
                    self.stop.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    fn findings(&self) -> usize {
        lock(&self.found).len()
    }
}

/// Workers without `--jobs`: four per core. Each worker waits for an answer before its next
/// request, and with two per core the cores idled.
pub fn default_jobs() -> usize {
    4 * crate::engine::cores()
}

/// A lock that survives a panicked holder (the data is only ever appended to).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn worker(ctx: Arc<Context>, shared: Arc<Shared>, seed: u64, len: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut n = 0u64;
    while !shared.stopping() {
        let session_seed = seed.wrapping_mul(1_000_003).wrapping_add(n);
        n += 1;
        shared.sessions.fetch_add(1, Ordering::Relaxed);
        let mut session = Session::new(&ctx, session_seed);
        match session.run(&mut rng, &shared, len).await {
            End::Done => session.cleanup(&shared).await,
            End::Finding(raw) => shared.add(*raw, Vec::new()),
            End::Error(e) => shared.error(e),
        }
    }
}

/// Set the canary up, say so through `ready` (the workers start only then, so that no
/// hostile request can damage it before its first check), then check it every `every`.
async fn canary_task(
    ctx: Arc<Context>,
    shared: Arc<Shared>,
    every: Duration,
    done: Arc<AtomicBool>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let setup = canary::Canary::setup(&ctx).await;
    let _ = ready.send(());
    let mut canary = match setup {
        Ok(c) => c,
        Err(e) => {
            shared.error(e.to_string());
            return;
        }
    };
    shared
        .canary_checks
        .store(canary.checks(), Ordering::Relaxed);
    loop {
        let last = done.load(Ordering::SeqCst);
        match canary.check().await {
            Ok(sent) => {
                for _ in 0..sent {
                    shared.count_request();
                }
                shared.canary_checks.fetch_add(1, Ordering::Relaxed);
            }
            Err((rule, message)) => {
                let raw = Raw {
                    rule: rule.clone(),
                    level: crate::profiles::edge_v1::case::Level::Must,
                    message,
                    shape: "canary/check".into(),
                    answer: rule,
                    steps: canary.steps.clone(),
                    refused_mutation: vec![false; canary.steps.len()],
                    seed: 0,
                    unreachable: false,
                };
                shared.add(raw, shared.recent());
                return;
            }
        }
        if last {
            return;
        }
        let wake = Instant::now() + every;
        while Instant::now() < wake && !done.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn progress_task(shared: Arc<Shared>, done: Arc<AtomicBool>) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    };
    let mut last = Instant::now();
    while !done.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if last.elapsed() < every {
            continue;
        }
        last = Instant::now();
        let secs = shared.started.elapsed().as_secs_f64();
        let n = shared.requests.load(Ordering::Relaxed);
        let line = format!(
            "[{:>4.0}s] {n} requests ({:.0}/s) · {} sessions · {} findings",
            secs,
            n as f64 / secs.max(1e-9),
            shared.sessions.load(Ordering::Relaxed),
            shared.findings()
        );
        if tty {
            eprint!("\r{line}   ");
        } else {
            eprintln!("{line}");
        }
    }
    if tty {
        eprintln!();
    }
}

/// Run a campaign against the context's target, then confirm and write its findings.
pub async fn campaign(ctx: Arc<Context>, opts: &FuzzOptions) -> FuzzReport {
    let shared = Arc::new(Shared::new(opts));
    let done = Arc::new(AtomicBool::new(false));
    let progress = opts
        .progress
        .then(|| tokio::spawn(progress_task(shared.clone(), done.clone())));
    let (ready, canary_ready) = tokio::sync::oneshot::channel();
    let canary = tokio::spawn(canary_task(
        ctx.clone(),
        shared.clone(),
        opts.canary_every,
        done.clone(),
        ready,
    ));
    let _ = within(
        shared.deadline.map(tokio::time::Instant::from_std),
        canary_ready,
    )
    .await;
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..opts.jobs.unwrap_or_else(default_jobs).max(1) {
        workers.spawn(worker(
            ctx.clone(),
            shared.clone(),
            opts.seed.wrapping_add(w as u64),
            opts.session_len.max(1),
        ));
    }
    // `--duration` bounds the whole campaign, confirmation included: at the deadline the
    // workers are stopped wherever they are (a request in flight is dropped).
    let deadline = shared.deadline.map(tokio::time::Instant::from_std);
    let drain = async {
        while let Some(joined) = workers.join_next().await {
            if let Err(e) = joined {
                if e.is_panic() {
                    shared.error(format!(
                        "a fuzz worker failed: {e}; this is a bug in edgecheck"
                    ));
                }
            }
        }
    };
    if within(deadline, drain).await.is_none() {
        workers.abort_all();
        while workers.join_next().await.is_some() {}
    }
    done.store(true, Ordering::SeqCst);
    let canary_abort = canary.abort_handle();
    // At the deadline the canary is stopped; the checks it passed until then still count.
    if within(deadline, canary).await.is_none() {
        canary_abort.abort();
    }
    let canary_checks = shared.canary_checks.load(Ordering::Relaxed);
    if let Some(p) = progress {
        let _ = p.await;
    }
    let elapsed = shared.started.elapsed();
    let mut findings = std::mem::take(&mut *lock(&shared.found));
    let unreachable = findings.iter().any(|f| f.raw.unreachable);
    for f in &mut findings {
        // Confirmation counts against `--duration`: once it is over, findings are written
        // unconfirmed (`reproduced 0/0`).
        if within(deadline, finding::confirm(&ctx, f, opts.repro))
            .await
            .is_none()
        {
            // Without tries, `confirm` only builds the case file (no request).
            finding::confirm(&ctx, f, 0).await;
            shared.error("--duration ran out before every finding was confirmed".into());
        }
        match finding::write(&opts.findings, f) {
            Ok(p) => f.path = Some(p),
            Err(e) => shared.error(e.to_string()),
        }
    }
    let errors = std::mem::take(&mut *lock(&shared.errors));
    let beyond_limit = lock(&shared.beyond).len();
    FuzzReport {
        requests: shared.requests.load(Ordering::Relaxed),
        signatures: shared.signatures.load(Ordering::Relaxed),
        sessions: shared.sessions.load(Ordering::Relaxed),
        canary_checks,
        elapsed,
        findings,
        errors,
        unreachable,
        beyond_limit,
    }
}

/// `fut`, unless `deadline` passes first (`None`).
async fn within<T>(
    deadline: Option<tokio::time::Instant>,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, fut).await.ok(),
        None => Some(fut.await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(rule: &str, shape: &str) -> Raw {
        Raw {
            rule: rule.into(),
            level: crate::profiles::edge_v1::case::Level::Must,
            message: format!("{rule} on {shape}"),
            shape: shape.into(),
            answer: "5xx".into(),
            steps: Vec::new(),
            refused_mutation: Vec::new(),
            seed: 0,
            unreachable: false,
        }
    }

    #[test]
    fn workers_finding_at_once_keep_no_more_than_max_findings() {
        let shared = Shared::new(&FuzzOptions {
            max_findings: Some(1),
            ..FuzzOptions::default()
        });
        shared.add(raw("B-NO-5XX", "send/json/deep/array/1000"), Vec::new());
        assert!(shared.stop.load(Ordering::Relaxed));
        // Two more workers finish their sessions after the limit: one with the same finding,
        // one with another.
        shared.add(raw("B-NO-5XX", "send/json/deep/array/1000"), Vec::new());
        shared.add(raw("S-GEN-400", "send/json/unknown-property"), Vec::new());
        assert_eq!(shared.findings(), 1);
        assert_eq!(lock(&shared.found)[0].count, 2);
        assert_eq!(lock(&shared.beyond).len(), 1);
    }
}
