//! Running checks against a faulty server and deciding whether each fault was killed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::client::{Client, ClientError, ClientOptions};
use crate::engine::{self, CheckResult, Plan, Verdict};
use crate::profiles::edge_v1::case::{Case, CaseFile};
use crate::profiles::edge_v1::sign::KeyPool;
use crate::profiles::edge_v1::Context;
use crate::profiles::edge_v1::{catalogue, info, CaseSession};
use crate::report::{requirement_records, CheckRecord};

/// A fault of the server under test: its name and the one rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpec {
    /// Stable name (`kebab-case`).
    pub name: String,
    /// The rule ID of the binding the fault breaks.
    pub rule: String,
    /// What the faulty server does wrong.
    pub description: String,
}

/// Which checks run against each fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only the checks linked to the fault's rule (fast; what CI runs for every fault).
    Linked,
    /// Every check (the full matrix; also shows unrelated checks that notice the fault).
    Full,
}

/// Where the checks go: a create endpoint (plain `http://` allowed) and its PAGE_SIZE.
#[derive(Debug, Clone)]
pub struct Target {
    /// The create endpoint.
    pub ce: Url,
    /// The server's PAGE_SIZE, when known.
    pub page_size: Option<usize>,
    /// How long to idle a connection past the server's head deadline (`--idle-wait`);
    /// `None` skips `limits/answered-after-idle` and `limits/h2-stream-answered-after-idle`.
    pub idle_wait: Option<Duration>,
}

/// The head deadline the matrix's reference server gets for a fault of idle connections, and
/// the idle wait its checks then use: past the deadline, and short.
pub const IDLE_HEAD_TIMEOUT: Duration = Duration::from_secs(1);
/// See [`IDLE_HEAD_TIMEOUT`].
pub const IDLE_WAIT: Duration = Duration::from_secs(2);

/// The faults of idle connections, by name (the same in the `edge-v1` and `simplex-v5`
/// fault lists): their servers get [`IDLE_HEAD_TIMEOUT`] and their checks [`IDLE_WAIT`].
pub const IDLE_FAULTS: &[&str] = &["idle-close-stalls", "h2-stream-closed-at-idle"];

/// Whether the fault named `name` is one of [`IDLE_FAULTS`].
pub fn is_idle_fault(name: &str) -> bool {
    IDLE_FAULTS.contains(&name)
}

/// One check that did not pass against a faulty server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Case ID.
    pub id: String,
    /// Its verdict (`fail`, `warn` or `error`).
    pub verdict: Verdict,
    /// Whether the case lists the fault's rule among its requirements.
    pub linked: bool,
    /// The rule the failed expectation rests on, when the engine names one.
    pub cited_rule: Option<String>,
    /// The engine's one-line explanation.
    pub message: String,
}

/// The row of one fault in the kill matrix.
#[derive(Debug, Clone)]
pub struct FaultRow {
    /// The fault.
    pub fault: FaultSpec,
    /// Which checks ran.
    pub mode: Mode,
    /// Number of checks run.
    pub ran: usize,
    /// Number of checks run that are linked to the fault's rule.
    pub linked: usize,
    /// Checks that failed or warned.
    pub caught: Vec<Outcome>,
    /// Checks with an `error` verdict (the suite or the network failed: never a kill).
    pub errors: Vec<Outcome>,
    /// Why no check could run, when the server could not be started or the run not set up.
    pub setup_error: Option<String>,
    /// The rules a report of this run shows as `fail` or `warn` (what the report blames).
    pub fail_rules: Vec<String>,
}

impl FaultRow {
    /// Build the row from the results of a run against the faulty server.
    pub fn from_results(fault: FaultSpec, mode: Mode, results: &[CheckResult]) -> FaultRow {
        let mut caught = Vec::new();
        let mut errors = Vec::new();
        let mut linked = 0;
        for r in results {
            let is_linked = r.requirements.contains(&fault.rule);
            linked += usize::from(is_linked);
            let outcome = || Outcome {
                id: r.id.clone(),
                verdict: r.verdict,
                linked: is_linked,
                cited_rule: r.failure.as_ref().map(|f| f.rule.clone()),
                message: r.message.clone(),
            };
            match r.verdict {
                Verdict::Fail | Verdict::Warn => caught.push(outcome()),
                Verdict::Error => errors.push(outcome()),
                Verdict::Pass | Verdict::Skip | Verdict::Waived => {}
            }
        }
        let records: Vec<CheckRecord> = results.iter().map(CheckRecord::from_result).collect();
        let fail_rules = requirement_records(catalogue(), &records)
            .into_iter()
            .filter(|r| matches!(r.verdict.as_str(), "fail" | "warn"))
            .map(|r| r.id)
            .collect();
        FaultRow {
            fault,
            mode,
            ran: results.len(),
            linked,
            caught,
            errors,
            setup_error: None,
            fail_rules,
        }
    }

    /// A row for a fault whose run could not be set up.
    pub fn setup_failed(fault: FaultSpec, mode: Mode, why: String) -> FaultRow {
        FaultRow {
            fault,
            mode,
            ran: 0,
            linked: 0,
            caught: Vec::new(),
            errors: Vec::new(),
            setup_error: Some(why),
            fail_rules: Vec::new(),
        }
    }

    /// Rules the report blames besides the fault's own.
    pub fn blamed_elsewhere(&self) -> Vec<&str> {
        self.fail_rules
            .iter()
            .map(String::as_str)
            .filter(|r| *r != self.fault.rule)
            .collect()
    }

    /// Killed: at least one check linked to the fault's rule failed or warned.
    pub fn killed(&self) -> bool {
        self.caught.iter().any(|o| o.linked)
    }

    /// The linked checks that caught the fault.
    pub fn killers(&self) -> impl Iterator<Item = &Outcome> {
        self.caught.iter().filter(|o| o.linked)
    }

    /// Checks not linked to the fault's rule that noticed it.
    pub fn unrelated(&self) -> impl Iterator<Item = &Outcome> {
        self.caught.iter().filter(|o| !o.linked)
    }

    /// Why the fault survived, in a few words (None when killed).
    pub fn survival_reason(&self) -> Option<String> {
        if self.killed() {
            return None;
        }
        Some(if let Some(e) = &self.setup_error {
            format!("not run: {e}")
        } else if self.linked == 0 {
            format!("no check lists {} among its requirements", self.fault.rule)
        } else if self.unrelated().next().is_some() {
            format!(
                "caught only by checks not linked to {}: {}",
                self.fault.rule,
                self.unrelated()
                    .map(|o| o.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else if !self.errors.is_empty() {
            format!(
                "{} linked check(s) passed, {} ended in error",
                self.linked - self.errors.iter().filter(|o| o.linked).count(),
                self.errors.len()
            )
        } else {
            format!(
                "all {} linked check(s) passed against the faulty server",
                self.linked
            )
        })
    }
}

/// A whole kill matrix: one row per fault, and the fault-free run.
#[derive(Debug, Clone, Default)]
pub struct Matrix {
    /// One row per fault, in the harness's order.
    pub rows: Vec<FaultRow>,
    /// The fault-free run, when made: every check that did not pass (must be empty).
    pub baseline: Option<FaultRow>,
}

impl Matrix {
    /// Number of killed faults.
    pub fn killed(&self) -> usize {
        self.rows.iter().filter(|r| r.killed()).count()
    }

    /// The faults that survived.
    pub fn survivors(&self) -> Vec<&FaultRow> {
        self.rows.iter().filter(|r| !r.killed()).collect()
    }

    /// Checks that did not pass against the fault-free server (fail, warn or error).
    pub fn baseline_problems(&self) -> Vec<&Outcome> {
        self.baseline
            .iter()
            .flat_map(|b| b.caught.iter().chain(&b.errors))
            .collect()
    }

    /// Every fault killed, and the fault-free server passed every check that ran.
    pub fn all_killed_and_clean(&self) -> bool {
        self.survivors().is_empty()
            && self.baseline_problems().is_empty()
            && self
                .baseline
                .as_ref()
                .is_none_or(|b| b.setup_error.is_none())
    }

    /// Distinct rules the faults break.
    pub fn rules(&self) -> BTreeSet<&str> {
        self.rows.iter().map(|r| r.fault.rule.as_str()).collect()
    }
}

/// Cases to run, with the engine's plan over them (`CheckInfo::index` is a position in
/// `cases`).
#[derive(Debug, Clone, Default)]
pub struct CasePlan {
    /// The engine's plan.
    pub plan: Plan,
    /// The cases, in plan order.
    pub cases: Vec<Case>,
}

impl CasePlan {
    /// The cases of `files` that `keep` accepts, in catalogue order.
    pub fn of(files: &[CaseFile], keep: impl Fn(&Case) -> bool) -> CasePlan {
        let mut out = CasePlan::default();
        for f in files {
            for c in f.cases.iter().filter(|c| keep(c)) {
                out.plan.checks.push(info(&f.area, c, out.cases.len()));
                out.cases.push(c.clone());
            }
        }
        out
    }
}

/// The checks linked to `rule`: every case whose `requirements` list it, in catalogue order.
pub fn linked_plan(files: &[CaseFile], rule: &str) -> CasePlan {
    CasePlan::of(files, |c| c.requirements.iter().any(|r| r == rule))
}

/// Why checks could not be run against a target.
#[derive(Debug, thiserror::Error)]
pub enum RunChecksError {
    /// The HTTP client cannot be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] ClientError),
}

/// Runs `plan` against `target` with at most `jobs` checks at a time.
///
/// Plain `http://` is allowed (S-GEN-HTTPS is then waived, as with `--allow-http`).
pub async fn run_checks(
    target: &Target,
    plan: &CasePlan,
    jobs: usize,
    pool: Arc<KeyPool>,
    timeout: Duration,
) -> Result<Vec<CheckResult>, RunChecksError> {
    let client = Client::new(&ClientOptions {
        timeout,
        body_cap: 4 << 20,
        body_limit: crate::client::DEFAULT_BODY_LIMIT,
        ca_cert_pem: None,
        insecure: false,
        origins: Default::default(),
        http: Default::default(),
    })
    .map_err(RunChecksError::Client)?;
    let ctx = Arc::new(Context {
        client,
        pool,
        servers: vec![target.ce.clone()],
        page_size: target.page_size,
        allow_http: true,
        origins: Default::default(),
        idle_wait: target.idle_wait,
    });
    // Nobody listens to the events: the results are returned.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    drop(rx);
    let session = Arc::new(CaseSession::new(ctx, plan.cases.clone()));
    // Faults that hang are part of the matrix: the circuit breaker stays off.
    let settings = engine::RunSettings {
        jobs,
        max_silent: 0,
    };
    Ok(engine::run_plan(session, &plan.plan, settings, tx)
        .await
        .results)
}

/// Starts and stops the servers a matrix runs against.
pub trait Servers: Sync {
    /// A running server.
    type Running: Send;
    /// Why a server could not be started; its text becomes the row's setup error.
    type Error: std::fmt::Display + Send;

    /// Starts a server with `fault` (an index into the matrix's fault list), or a fault-free
    /// one for `None`.
    fn start(
        &self,
        fault: Option<usize>,
    ) -> impl std::future::Future<Output = Result<(Target, Self::Running), Self::Error>> + Send;

    /// Stops a server.
    fn stop(&self, running: Self::Running) -> impl std::future::Future<Output = ()> + Send;
}

/// How a matrix runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Which checks run against each fault.
    pub mode: Mode,
    /// Checks at once.
    pub jobs: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Also run every check against a fault-free server.
    pub baseline: bool,
}

/// Runs the matrix: for each fault a fresh server with that fault, the checks `options.mode`
/// selects, and a row; `on_row` sees each row as it is made (for progress output).
pub async fn run_matrix(
    servers: &impl Servers,
    faults: &[FaultSpec],
    files: &[CaseFile],
    pool: Arc<KeyPool>,
    options: &RunOptions,
    on_row: &(dyn Fn(&FaultRow) + Sync),
) -> Matrix {
    let all = CasePlan::of(files, |_| true);
    let mut matrix = Matrix::default();
    if options.baseline {
        let spec = FaultSpec {
            name: "(none)".into(),
            rule: "-".into(),
            description: "the fault-free server".into(),
        };
        let row = run_one(servers, None, spec, &all, pool.clone(), options, Mode::Full).await;
        on_row(&row);
        matrix.baseline = Some(row);
    }
    for (i, fault) in faults.iter().enumerate() {
        let linked;
        let plan = match options.mode {
            Mode::Full => &all,
            Mode::Linked => {
                linked = linked_plan(files, &fault.rule);
                &linked
            }
        };
        let row = run_one(
            servers,
            Some(i),
            fault.clone(),
            plan,
            pool.clone(),
            options,
            options.mode,
        )
        .await;
        on_row(&row);
        matrix.rows.push(row);
    }
    matrix
}

async fn run_one(
    servers: &impl Servers,
    index: Option<usize>,
    spec: FaultSpec,
    plan: &CasePlan,
    pool: Arc<KeyPool>,
    options: &RunOptions,
    mode: Mode,
) -> FaultRow {
    let (target, running) = match servers.start(index).await {
        Ok(x) => x,
        Err(e) => return FaultRow::setup_failed(spec, mode, e.to_string()),
    };
    let results = run_checks(&target, plan, options.jobs, pool, options.timeout).await;
    servers.stop(running).await;
    match results {
        Ok(results) => FaultRow::from_results(spec, mode, &results),
        Err(e) => FaultRow::setup_failed(spec, mode, e.to_string()),
    }
}

/// `n` items spread evenly over `items` (all of them when `n` ≥ its length), for the faults
/// that get a full run in CI.
pub fn sample<T>(items: &[T], n: usize) -> Vec<&T> {
    if n >= items.len() {
        return items.iter().collect();
    }
    if n == 0 {
        return Vec::new();
    }
    (0..n).map(|i| &items[i * items.len() / n]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::edge_v1::case::Level;

    #[test]
    fn idle_faults_are_faults_of_both_rest_profiles() {
        for name in IDLE_FAULTS {
            assert!(
                name.parse::<edge_reference_server::faults::Fault>().is_ok(),
                "{name}"
            );
            assert!(
                name.parse::<edge_reference_server::simplex_v5::faults::Fault>()
                    .is_ok(),
                "{name}"
            );
            assert!(is_idle_fault(name));
        }
        assert!(!is_idle_fault("page-size-zero-panics"));
    }

    fn result(id: &str, reqs: &[&str], verdict: Verdict) -> CheckResult {
        CheckResult {
            id: id.into(),
            title: String::new(),
            area: "a".into(),
            requirements: reqs.iter().map(|s| s.to_string()).collect(),
            level: Level::Must,
            verdict,
            message: String::new(),
            failure: None,
            exchanges: Vec::new(),
            requests: 0,
            signatures: 0,
            duration: Duration::ZERO,
            timing: None,
            more_timing: Vec::new(),
        }
    }

    fn spec(rule: &str) -> FaultSpec {
        FaultSpec {
            name: "f".into(),
            rule: rule.into(),
            description: String::new(),
        }
    }

    #[test]
    fn killed_only_by_a_failing_or_warning_linked_check() {
        let rs = [
            result("a/1", &["S-X"], Verdict::Pass),
            result("a/2", &["S-Y"], Verdict::Fail),
        ];
        let row = FaultRow::from_results(spec("S-X"), Mode::Full, &rs);
        assert!(!row.killed());
        assert_eq!(row.linked, 1);
        assert!(row
            .survival_reason()
            .unwrap()
            .contains("only by checks not linked"));

        let rs = [
            result("a/1", &["S-Y", "S-X"], Verdict::Warn),
            result("a/2", &["S-X"], Verdict::Error),
        ];
        let row = FaultRow::from_results(spec("S-X"), Mode::Linked, &rs);
        assert!(row.killed());
        assert_eq!(row.killers().count(), 1);
        assert_eq!(row.errors.len(), 1);
        assert_eq!(row.survival_reason(), None);

        let rs = [result("a/1", &["S-X"], Verdict::Error)];
        let row = FaultRow::from_results(spec("S-X"), Mode::Linked, &rs);
        assert!(!row.killed(), "an error is never a kill");

        let row = FaultRow::from_results(spec("S-Z"), Mode::Linked, &[]);
        assert!(row
            .survival_reason()
            .unwrap()
            .contains("no check lists S-Z"));
    }

    #[test]
    fn matrix_counts_and_baseline() {
        let killed = FaultRow::from_results(
            spec("S-X"),
            Mode::Linked,
            &[result("a/1", &["S-X"], Verdict::Fail)],
        );
        let survived = FaultRow::from_results(
            spec("S-Y"),
            Mode::Linked,
            &[result("a/2", &["S-Y"], Verdict::Pass)],
        );
        let mut m = Matrix {
            rows: vec![killed.clone(), survived],
            baseline: Some(FaultRow::from_results(
                spec("-"),
                Mode::Full,
                &[result("a/1", &["S-X"], Verdict::Pass)],
            )),
        };
        assert_eq!(m.killed(), 1);
        assert_eq!(m.survivors().len(), 1);
        assert!(!m.all_killed_and_clean());
        m.rows.pop();
        assert!(m.all_killed_and_clean());
        m.baseline = Some(FaultRow::from_results(
            spec("-"),
            Mode::Full,
            &[result("a/1", &["S-X"], Verdict::Error)],
        ));
        assert!(
            !m.all_killed_and_clean(),
            "errors in the fault-free run count"
        );
    }

    #[test]
    fn sample_spreads_and_keeps_all_when_small() {
        let v: Vec<u32> = (0..10).collect();
        assert_eq!(sample(&v, 3), [&0, &3, &6]);
        assert_eq!(sample(&v, 20).len(), 10);
        assert!(sample(&v, 0).is_empty());
    }

    #[test]
    fn linked_plan_selects_by_exact_rule() {
        let files: Vec<CaseFile> = serde_json::from_str(
            r#"[{"area":"x","title":"t","cases":[
              {"id":"x/a","title":"t","requirements":["S-CREATE-201"],"level":"MUST","steps":[{"op":"create"}]},
              {"id":"x/b","title":"t","requirements":["S-CREATE-2010","S-DEL-200"],"level":"MUST","steps":[{"op":"create"}]}]}]"#,
        )
        .unwrap();
        let p = linked_plan(&files, "S-CREATE-201");
        assert_eq!(p.cases.len(), 1);
        assert_eq!(p.cases[0].id, "x/a");
        assert_eq!(p.plan.checks[0].id, "x/a");
        assert!(linked_plan(&files, "S-NONE").cases.is_empty());
    }
}
