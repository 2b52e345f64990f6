//! `edge-v1` as a [`Profile`]: its catalogue, its scripted cases, and the opened target that
//! runs them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::json;

use super::case::{Case, CaseFile};
use super::sign::KeyPool;
use super::target::{Target, TargetError};
use super::{cases, commands, runner, Context};
use crate::catalogue::requirements::Requirements;
use crate::client::{Client, ClientOptions, TransportError};
use crate::engine::{BoxFuture, CheckInfo, CheckResult, Session};
use crate::profiles::case_files::{invalid_cases, load_error};
use crate::profiles::{
    Capability, FuzzOptions, OpenTarget, Outcome, Profile, ProfileError, PropOptions, RaceOptions,
    SelftestOptions, Suite, TargetOptions,
};

/// The profile's name.
pub const NAME: &str = "edge-v1";

/// The catalogue (`conformance/edge-v1/requirements.json`), embedded at build time.
pub const REQUIREMENTS_JSON: &str = include_str!("../../../conformance/edge-v1/requirements.json");

/// The binding text (`conformance/edge-v1/binding.md`), embedded at build time.
pub const BINDING_MD: &str = include_str!("../../../conformance/edge-v1/binding.md");

/// The catalogue, parsed once. The embedded file is checked by the test suite, so a parse
/// failure here is a build defect, not bad input.
pub fn catalogue() -> &'static Requirements {
    static CATALOGUE: OnceLock<Requirements> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        Requirements::from_json(REQUIREMENTS_JSON)
            .unwrap_or_else(|e| panic!("embedded conformance/edge-v1/requirements.json: {e}"))
    })
}

/// The signed REST protocol `edge-v1`.
pub struct EdgeV1;

impl Profile for EdgeV1 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "signed REST: RSA-PSS keys per connection, key and URI rotation, forgetting"
    }

    fn catalogue(&self) -> &Requirements {
        catalogue()
    }

    fn binding(&self) -> &'static str {
        BINDING_MD
    }

    fn capabilities(&self) -> &'static [Capability] {
        &[
            Capability::Run,
            Capability::Prop,
            Capability::Fuzz,
            Capability::Race,
            Capability::Selftest,
            Capability::Keygen,
        ]
    }

    fn default_jobs(&self) -> usize {
        // A check waits for each answer before its next signed request: with two per core
        // the cores idled (wall / crypto bound 1.57 against 1.45 with four per core; more
        // did not help).
        4 * crate::engine::cores()
    }

    fn checked_elsewhere(&self) -> &'static [(&'static str, &'static str)] {
        // The reference server's own process test captures its output; of another server a
        // client sees nothing.
        &[("S-PRIV-QUIET", "reference-server/tests/process.rs")]
    }

    fn suite(&self, files: Option<&[PathBuf]>) -> Result<Box<dyn Suite>, ProfileError> {
        Ok(Box::new(EdgeSuite::load(files)?))
    }

    fn prop(&self, target: &TargetOptions, opts: &PropOptions) -> Result<Outcome, ProfileError> {
        commands::prop(target, opts)
    }

    fn fuzz(&self, target: &TargetOptions, opts: &FuzzOptions) -> Result<Outcome, ProfileError> {
        commands::fuzz(target, opts)
    }

    fn race(&self, target: &TargetOptions, opts: &RaceOptions) -> Result<Outcome, ProfileError> {
        commands::race(target, opts)
    }

    fn selftest(&self, opts: &SelftestOptions) -> Result<Outcome, ProfileError> {
        commands::selftest(opts)
    }

    fn keygen(&self, out: &Path, count: usize) -> Result<Vec<PathBuf>, ProfileError> {
        let counts = super::sign::PoolCounts {
            rsa2048: count,
            ..Default::default()
        };
        super::sign::write_fixture_pool(out, counts)
            .map_err(|e| ProfileError::Internal(format!("keygen: {e}")))
    }
}

/// The scripted cases of a run, loaded and validated.
struct EdgeSuite {
    files: Vec<CaseFile>,
    cases: Arc<Vec<Case>>,
    checks: Vec<CheckInfo>,
}

impl EdgeSuite {
    fn load(files: Option<&[PathBuf]>) -> Result<EdgeSuite, ProfileError> {
        // Bad case files given by the user are usage errors; bad built-in ones are defects.
        let loaded = match files {
            Some(paths) => cases::read(paths),
            None => cases::builtin(),
        }
        .map_err(|e| load_error(e.to_string(), files.is_some()))?;
        let problems = cases::validate(&loaded, &|r| catalogue().contains(r));
        if !problems.is_empty() {
            return Err(invalid_cases(&problems, files.is_some()));
        }
        Ok(EdgeSuite::from_files(loaded))
    }

    fn from_files(files: Vec<CaseFile>) -> EdgeSuite {
        let mut cases = Vec::new();
        let mut checks = Vec::new();
        for f in &files {
            for c in &f.cases {
                checks.push(info(&f.area, c, cases.len()));
                cases.push(c.clone());
            }
        }
        EdgeSuite {
            files,
            cases: Arc::new(cases),
            checks,
        }
    }
}

/// What the engine knows of a case.
pub fn info(area: &str, c: &Case, index: usize) -> CheckInfo {
    CheckInfo {
        id: c.id.clone(),
        title: c.title.clone(),
        area: area.to_string(),
        requirements: c.requirements.clone(),
        level: c.level,
        index,
    }
}

impl Suite for EdgeSuite {
    fn checks(&self) -> &[CheckInfo] {
        &self.checks
    }

    fn cases_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.files).unwrap_or_default()
    }

    fn open<'a>(
        &'a self,
        target: &'a TargetOptions,
    ) -> BoxFuture<'a, Result<Box<dyn OpenTarget>, ProfileError>> {
        Box::pin(async move {
            let (ctx, target) = open_context(target).await?;
            let session = Arc::new(CaseSession {
                ctx: ctx.clone(),
                cases: self.cases.clone(),
            });
            let opened: Box<dyn OpenTarget> = Box::new(EdgeTarget {
                ctx,
                session,
                target: Mutex::new(Some(target)),
            });
            Ok(opened)
        })
    }
}

/// Keys per worker in the working set of `prop` and `fuzz` (a sequence or a session takes a
/// few dozen at most).
const KEYS_PER_WORKER: usize = 64;

/// The context `prop` and `fuzz` run with: a working set of warm keys
/// ([`KeyPool::working_set`]) for `workers` workers, its set-up time told on stderr.
pub fn warm_context(ctx: &Context, workers: usize) -> Arc<Context> {
    let started = std::time::Instant::now();
    let pool = ctx.pool.working_set(workers.max(1) * KEYS_PER_WORKER);
    eprintln!(
        "keys: {} parsed and warmed in {:.2} s",
        pool.len(),
        started.elapsed().as_secs_f64()
    );
    Arc::new(ctx.with_pool(pool))
}

/// Open the target and build the shared context: key pool, embedded server or `--server`,
/// reachability, client.
pub async fn open_context(opts: &TargetOptions) -> Result<(Arc<Context>, Target), ProfileError> {
    let pool = match opts.fresh_keys {
        Some(n) => KeyPool::with_fresh(n),
        None => KeyPool::builtin(),
    }
    .map_err(|e| ProfileError::Internal(format!("key pool: {e}")))?;
    let target = Target::open(opts).await.map_err(|e| match e {
        TargetError::Config(m) => ProfileError::Usage(m),
        TargetError::Unreachable(m) => ProfileError::Unreachable(m),
    })?;
    let origins = match crate::profiles::common::origin_policy(&target.servers, &opts.allow_origins)
    {
        Ok(p) => p,
        Err(e) => {
            target.close().await;
            return Err(e);
        }
    };
    if let Err(e) = target.check_reachable().await {
        target.close().await;
        return Err(ProfileError::Unreachable(e.to_string()));
    }
    let client = match Client::new(&ClientOptions {
        timeout: target.timeout,
        body_cap: opts.max_body,
        body_limit: crate::client::DEFAULT_BODY_LIMIT,
        ca_cert_pem: target.ca_pem.clone(),
        insecure: opts.insecure,
        origins: origins.clone(),
        http: opts.http,
    }) {
        Ok(c) => c,
        Err(e) => {
            target.close().await;
            return Err(ProfileError::Usage(e.to_string()));
        }
    };
    let ctx = Arc::new(Context {
        client,
        pool,
        servers: target.servers.clone(),
        page_size: target.page_size,
        allow_http: opts.allow_http,
        origins,
        idle_wait: opts.idle_wait,
    });
    if let Err(e) = preflight(&ctx).await {
        target.close().await;
        return Err(e);
    }
    Ok((ctx, target))
}

/// One plain request to each server before any check: a target the suite cannot reach or
/// trust is one clear message and exit 3, never hundreds of failed checks.
async fn preflight(ctx: &Context) -> Result<(), ProfileError> {
    for ce in &ctx.servers {
        let ex = ctx
            .client
            .execute(crate::client::Request::new("GET", ce.clone()))
            .await;
        let hint = match &ex.response {
            Ok(_) => continue,
            Err(TransportError::Tls(e)) => format!(
                "cannot trust {ce}: TLS handshake failed ({e}); pass the server's certificate \
                 or CA with --ca-cert FILE, or --insecure to skip the check (testing only)"
            ),
            Err(TransportError::Timeout) => format!(
                "{ce} accepts connections but does not answer an HTTP request within {:?}; \
                 is it an HTTP server? (raise --timeout if it is just slow)",
                ctx.client.options().timeout
            ),
            Err(e) => format!("cannot talk HTTP to {ce}: {e}"),
        };
        return Err(ProfileError::Unreachable(hint));
    }
    Ok(())
}

/// Runs cases of the suite against one context.
pub struct CaseSession {
    ctx: Arc<Context>,
    cases: Arc<Vec<Case>>,
}

impl CaseSession {
    /// A session over these cases (`CheckInfo::index` is a position in `cases`).
    pub fn new(ctx: Arc<Context>, cases: Vec<Case>) -> CaseSession {
        CaseSession {
            ctx,
            cases: Arc::new(cases),
        }
    }
}

impl Session for CaseSession {
    fn run_check<'a>(&'a self, check: &'a CheckInfo) -> BoxFuture<'a, CheckResult> {
        Box::pin(runner::run_case(
            &self.ctx,
            &self.cases[check.index],
            &check.area,
        ))
    }

    fn cost(&self, check: &CheckInfo) -> u64 {
        self.cases[check.index]
            .steps
            .iter()
            .map(|step| match &step.probe {
                Some(name) => runner::probes::cost(name, &self.ctx),
                None => 1,
            })
            .sum()
    }

    fn liveness(&self) -> Option<Arc<crate::client::Liveness>> {
        Some(self.ctx.client.liveness())
    }
}

/// The opened `edge-v1` target.
struct EdgeTarget {
    ctx: Arc<Context>,
    session: Arc<CaseSession>,
    target: Mutex<Option<Target>>,
}

impl OpenTarget for EdgeTarget {
    fn session(&self) -> Arc<dyn Session> {
        self.session.clone()
    }

    fn describe(&self) -> String {
        self.target
            .lock()
            .map(|t| t.as_ref().map(Target::describe).unwrap_or_default())
            .unwrap_or_default()
    }

    fn options(&self) -> BTreeMap<String, serde_json::Value> {
        BTreeMap::from([("pageSize".to_string(), json!(self.ctx.page_size))])
    }

    fn stats(&self, results: &[CheckResult]) -> String {
        let signatures: usize = results.iter().map(|r| r.signatures).sum();
        let requests: usize = results.iter().map(|r| r.requests).sum();
        format!(
            "{requests} requests, {signatures} signatures, {} pool keys reused",
            self.ctx.pool.reused()
        )
    }

    fn timing(&self, wall: Duration, results: &[CheckResult], jobs: usize) -> Vec<String> {
        timing_lines(&self.ctx, wall, results, jobs)
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        let target = self.target.lock().ok().and_then(|mut t| t.take());
        Box::pin(async move {
            if let Some(t) = target {
                t.close().await;
            }
        })
    }
}

/// Single-core RSA-2048 costs, measured now (medians).
struct CryptoCosts {
    /// A signature with a key that has signed before.
    sign: f64,
    /// Parsing and validating a key from the pool.
    parse: f64,
    /// What a key's first signature costs beyond `sign` (aws-lc sets up its blinding).
    first_extra: f64,
}

fn crypto_costs(pool: &KeyPool) -> CryptoCosts {
    let input = super::sign::signing_input("POST", "/connection/x/messages", &[b'x'; 300]);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let timed = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    let (mut parse, mut first) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let mut key = None;
        parse.push(timed(&mut || key = Some(pool.take())));
        let key = key.expect("taken");
        first.push(timed(&mut || {
            std::hint::black_box(key.sign(&input));
        }));
    }
    let key = pool.take();
    let sign = median(
        (0..41)
            .map(|_| {
                timed(&mut || {
                    std::hint::black_box(key.sign(&input));
                })
            })
            .collect(),
    );
    CryptoCosts {
        sign,
        parse: median(parse),
        first_extra: (median(first) - sign).max(0.0),
    }
}

/// `--timing`: wall time against what the cryptography alone needs on the cores in use.
fn timing_lines(
    ctx: &Context,
    wall: Duration,
    results: &[CheckResult],
    jobs: usize,
) -> Vec<String> {
    let signatures: usize = results.iter().map(|r| r.signatures).sum();
    let requests: usize = results.iter().map(|r| r.requests).sum();
    let usage = ctx.pool.usage();
    let c = crypto_costs(&ctx.pool);
    let lanes = jobs.min(crate::engine::cores()) as f64;
    let wall = wall.as_secs_f64();
    let bound = c.sign * signatures as f64 / lanes;
    let setup = c.parse * usage.parsed as f64 + c.first_extra * usage.signed as f64;
    let crypto = bound + setup / lanes;
    vec![
        format!(
            "timing: wall {wall:.2} s, {requests} requests, {signatures} signatures, sign {:.3} ms (single core), \
             signing bound {bound:.2} s on {lanes} cores, wall / bound = {:.2}",
            c.sign * 1e3,
            wall / bound.max(1e-9)
        ),
        format!(
            "timing: {} fresh keys (parse {:.3} ms each), {} of them signed (first signature +{:.3} ms: \
             blinding set-up), crypto bound with key set-up {crypto:.2} s, wall / crypto bound = {:.2}",
            usage.parsed,
            c.parse * 1e3,
            usage.signed,
            c.first_extra * 1e3,
            wall / crypto.max(1e-9)
        ),
    ]
}
