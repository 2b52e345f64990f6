//! `simplex-v5` as a [`Profile`]: its catalogue, its scripted cases, and the opened target
//! that runs them (the embedded reference server or `--server https://host/connection`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::json;
use url::Url;

use super::case::{Case, CaseFile};
use super::cases;
use super::runner::{self, Env};
use crate::catalogue::requirements::Requirements;
use crate::client::origin::Origin;
use crate::client::ws::{WsClient, WsLimits};
use crate::client::{Client, ClientOptions, Liveness, TransportError};
use crate::engine::{BoxFuture, CheckInfo, CheckResult, Session, Verdict};
use crate::profiles::case_files::{load_error, scripted_checks};
use crate::profiles::edge_v1::sign::KeyPool;
use crate::profiles::guard::{Alive, Guard};
use crate::profiles::{
    Capability, FuzzOptions, OpenTarget, Outcome, Profile, ProfileError, PropOptions, RaceOptions,
    SelftestOptions, Suite, TargetOptions, DEFAULT_TIMEOUT,
};

/// The profile's name.
pub const NAME: &str = "simplex-v5";

/// The catalogue (`conformance/simplex-v5/requirements.json`), embedded at build time.
pub const REQUIREMENTS_JSON: &str =
    include_str!("../../../conformance/simplex-v5/requirements.json");

/// The binding text (`conformance/simplex-v5/binding.md`), embedded at build time.
pub const BINDING_MD: &str = include_str!("../../../conformance/simplex-v5/binding.md");

/// The rules the binding takes over from `edge-v1` unchanged (its §1), in `edge-v1`'s order.
pub const TAKEN_OVER: [&str; 29] = [
    "B-ENC-B64",
    "B-KEY-FMT",
    "B-KEY-SIZE",
    "B-KEY-PKCS1",
    "B-MSG-FMT",
    "B-TS-FMT",
    "B-MID-FMT",
    "B-MID-RANDOM",
    "B-URI-ORIGIN",
    "B-B64-PADBITS",
    "S-CRYPTO-PSS",
    "B-SIG-ALG",
    "B-SIG-INPUT",
    "B-SIG-HDR",
    "S-GEN-HTTPS",
    "B-JSON-DUP",
    "B-SIZE",
    "B-ERR-BODY",
    "B-NO-5XX",
    "B-CACHE",
    "B-NO-COOKIE",
    "S-G-OPEN",
    "S-G-SIGNED-ONLY",
    "S-G-KEYS",
    "S-EP-NOMOD",
    "B-CONCURRENT",
    "B-ISOLATION",
    "B-CT-400",
    "S-PRIV-QUIET",
];

/// The heading of the section [`binding`] appends with the taken-over rules' text.
pub const TAKEN_OVER_HEADING: &str = "Rules taken over from edge-v1, as edge-v1 states them";

/// The binding as the catalogue is checked against it: `conformance/simplex-v5/binding.md`
/// followed by the text of every rule it takes over, as `edge-v1`'s binding states it (the
/// list items of `conformance/edge-v1/binding.md` that carry those rules, in its order).
pub fn binding() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut out = String::from(BINDING_MD);
        out.push_str(&format!("\n## {TAKEN_OVER_HEADING}\n\n"));
        for item in list_items(crate::profiles::edge_v1::BINDING_MD) {
            if TAKEN_OVER
                .iter()
                .any(|id| item.contains(&format!("**{id}**")))
            {
                out.push_str(&item);
                out.push_str("\n\n");
            }
        }
        out
    })
}

/// The list items (`- …` with their indented continuation lines, blank lines inside an item
/// included) of a markdown text.
fn list_items(md: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current: Option<String> = None;
    let mut blanks = 0;
    for line in md.lines() {
        if line.starts_with("- ") {
            items.extend(current.take());
            current = Some(line.to_string());
            blanks = 0;
        } else if line.trim().is_empty() {
            blanks += 1;
        } else if line.starts_with("  ") && current.is_some() {
            if let Some(c) = current.as_mut() {
                for _ in 0..=blanks {
                    c.push('\n');
                }
                c.push_str(line);
            }
            blanks = 0;
        } else {
            items.extend(current.take());
            blanks = 0;
        }
    }
    items.extend(current);
    items
}

/// PAGE_SIZE of the embedded server (small, so paging checks need few messages).
pub const EMBEDDED_PAGE_SIZE: usize = 10;

/// LARGE_MESSAGE of the embedded server.
pub const EMBEDDED_LARGE_MESSAGE: usize = 4096;

/// MAX_WEBSOCKET_MESSAGE when `--max-ws` is not given (the binding's minimum).
pub const DEFAULT_MAX_WS: usize = 64 * 1024;

/// The reply timeout when `--timeout` is left at its default.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// The catalogue, parsed once (the embedded file is checked by the test suite).
pub fn catalogue() -> &'static Requirements {
    static CATALOGUE: OnceLock<Requirements> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        Requirements::from_json(REQUIREMENTS_JSON)
            .unwrap_or_else(|e| panic!("embedded conformance/simplex-v5/requirements.json: {e}"))
    })
}

/// The signed REST + WebSocket protocol `simplex-v5`.
pub struct SimplexV5;

impl Profile for SimplexV5 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "signed REST with 401 for every value failure, non-destructive retrieval, and a WebSocket subscription API"
    }

    fn catalogue(&self) -> &Requirements {
        catalogue()
    }

    fn binding(&self) -> &'static str {
        binding()
    }

    fn capabilities(&self) -> &'static [Capability] {
        &[
            Capability::Run,
            Capability::Prop,
            Capability::Fuzz,
            Capability::Race,
            Capability::Selftest,
        ]
    }

    fn checked_elsewhere(&self) -> &'static [(&'static str, &'static str)] {
        // The reference server's output is not visible to a client: the process test of
        // `edge-server --profile simplex-v5` checks its silence while serving.
        &[("S-PRIV-QUIET", "reference-server/tests/simplex_binary.rs")]
    }

    fn default_jobs(&self) -> usize {
        // Checks wait for replies, pushes or silence as much as they sign.
        8
    }

    fn suite(&self, files: Option<&[PathBuf]>) -> Result<Box<dyn Suite>, ProfileError> {
        Ok(Box::new(SimplexSuite::load(files)?))
    }

    fn prop(&self, target: &TargetOptions, opts: &PropOptions) -> Result<Outcome, ProfileError> {
        super::prop::prop(target, opts)
    }

    fn fuzz(&self, target: &TargetOptions, opts: &FuzzOptions) -> Result<Outcome, ProfileError> {
        super::fuzz::fuzz(target, opts)
    }

    fn race(&self, target: &TargetOptions, opts: &RaceOptions) -> Result<Outcome, ProfileError> {
        super::race::race(target, opts)
    }

    fn selftest(&self, opts: &SelftestOptions) -> Result<Outcome, ProfileError> {
        super::selftest::run(opts)
    }
}

/// The scripted cases of a run, loaded and validated.
pub struct SimplexSuite {
    files: Vec<CaseFile>,
    cases: Arc<Vec<Case>>,
    checks: Vec<CheckInfo>,
}

impl SimplexSuite {
    /// Load the built-in cases, or `files`.
    pub fn load(files: Option<&[PathBuf]>) -> Result<SimplexSuite, ProfileError> {
        let loaded = match files {
            Some(paths) => cases::read(paths),
            None => cases::builtin(),
        }
        .map_err(|e| load_error(e.to_string(), files.is_some()))?;
        let problems = cases::validate(&loaded, &|r| catalogue().contains(r));
        let (all, checks) = scripted_checks(&loaded, &problems, files.is_some(), |f| {
            (f.area.as_str(), f.cases.as_slice())
        })?;
        Ok(SimplexSuite {
            files: loaded,
            cases: Arc::new(all),
            checks,
        })
    }

    /// The cases, in check order.
    pub fn cases(&self) -> &[Case] {
        &self.cases
    }
}

impl Suite for SimplexSuite {
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
            let opened = open_target(target).await?;
            let session = Arc::new(SimplexSession::new(opened.env.clone(), self.cases.clone()));
            let describe = opened.describe();
            let t: Box<dyn OpenTarget> = Box::new(SimplexTarget {
                session,
                opened: Mutex::new(Some(opened)),
                describe,
            });
            Ok(t)
        })
    }
}

/// An opened target: what runs the cases, and the embedded server while it is in use.
pub struct Opened {
    /// What cases share.
    pub env: Env,
    /// The embedded server, if no `--server` was given.
    pub embedded: Option<super::target::Embedded>,
}

impl Opened {
    /// Its create endpoint, marked when it is the embedded server (banners and reports).
    pub fn describe(&self) -> String {
        match &self.embedded {
            Some(_) => format!("{} (embedded reference server)", self.env.ce),
            None => self.env.ce.to_string(),
        }
    }

    /// Stop the embedded server, if any.
    pub async fn close(self) {
        if let Some(s) = self.embedded {
            s.shutdown().await;
        }
    }
}

/// The WebSocket URL of a create endpoint: the same URL with `ws` for `http`, `wss` for
/// `https` (V-WS-URI).
pub fn ws_url(ce: &Url) -> Url {
    let mut u = ce.clone();
    let scheme = if ce.scheme() == "https" { "wss" } else { "ws" };
    // `http` → `ws` keeps a special scheme special, which `url` allows.
    let _ = u.set_scheme(scheme);
    u
}

/// Open the target: start the embedded server or check `--server`; then one request must get
/// an HTTP answer (exit 3 when it does not).
pub async fn open_target(opts: &TargetOptions) -> Result<Opened, ProfileError> {
    let mut ca_pem = match &opts.ca_cert {
        Some(p) => Some(std::fs::read(p).map_err(|e| {
            ProfileError::Usage(format!("cannot read --ca-cert {}: {e}", p.display()))
        })?),
        None => None,
    };
    if opts.servers.len() > 1 {
        return Err(ProfileError::Usage(
            "simplex-v5 tests one server: give --server once".into(),
        ));
    }
    let pool = match opts.fresh_keys {
        Some(n) => KeyPool::with_fresh(n),
        None => KeyPool::builtin(),
    }
    .map_err(|e| ProfileError::Internal(format!("key pool: {e}")))?;
    let mut page_size = opts.page_size.map(|n| n as usize);
    let mut large_message = opts.large_message.map(|n| n as usize);
    let mut max_ws = opts.max_ws.map(|n| n as usize);
    let (ce, embedded) = match opts.servers.first() {
        None => {
            let e = super::target::Embedded::start().await?;
            ca_pem = e.certificate_pem().map(String::into_bytes);
            page_size = Some(page_size.unwrap_or(e.page_size));
            large_message = Some(large_message.unwrap_or(e.large_message));
            max_ws = Some(max_ws.unwrap_or(e.max_ws));
            let ce = Url::parse(&e.create_url())
                .map_err(|err| ProfileError::Internal(format!("embedded server URL: {err}")))?;
            (ce, Some(e))
        }
        Some(s) => {
            let u = Url::parse(s).map_err(|e| {
                ProfileError::Usage(format!(
                    "--server {s}: {e}; give the create endpoint as a full URL, e.g. https://host/connection"
                ))
            })?;
            match u.scheme() {
                "https" => {}
                "http" if opts.allow_http => {}
                "http" => {
                    return Err(ProfileError::Usage(format!(
                        "--server {s}: plain http:// needs --allow-http (the HTTPS rule is then waived)"
                    )))
                }
                other => {
                    return Err(ProfileError::Usage(format!(
                        "--server {s}: the scheme is {other}; give https://host/connection (or http:// with --allow-http)"
                    )))
                }
            }
            if u.host_str().is_none() {
                return Err(ProfileError::Usage(format!(
                    "--server {s}: the URL has no host"
                )));
            }
            (u, None)
        }
    };
    let opened = build(opts, ce, ca_pem, pool, page_size, large_message, max_ws);
    let env = match opened {
        Ok(env) => env,
        Err(e) => {
            if let Some(s) = embedded {
                s.shutdown().await;
            }
            return Err(e);
        }
    };
    let opened = Opened { env, embedded };
    if let Err(e) = preflight(&opened.env).await {
        opened.close().await;
        return Err(e);
    }
    Ok(opened)
}

fn build(
    opts: &TargetOptions,
    ce: Url,
    ca_pem: Option<Vec<u8>>,
    pool: Arc<KeyPool>,
    page_size: Option<usize>,
    large_message: Option<usize>,
    max_ws: Option<usize>,
) -> Result<Env, ProfileError> {
    let ws = ws_url(&ce);
    let mut origins =
        crate::profiles::common::origin_policy(std::slice::from_ref(&ce), &opts.allow_origins)?;
    if let Some(o) = Origin::of(&ws) {
        let mut all: Vec<Origin> = vec![o];
        all.extend(Origin::of(&ce));
        for s in &opts.allow_origins {
            if let Some(o) = Url::parse(s).ok().as_ref().and_then(Origin::of) {
                all.push(o);
            }
        }
        origins = crate::client::origin::OriginPolicy::only(all);
    }
    let reply_timeout = if opts.timeout == DEFAULT_TIMEOUT {
        REPLY_TIMEOUT
    } else {
        opts.timeout
    };
    let client_options = ClientOptions {
        timeout: opts.timeout,
        body_cap: opts.max_body,
        body_limit: crate::client::DEFAULT_BODY_LIMIT,
        ca_cert_pem: ca_pem,
        insecure: opts.insecure,
        origins: origins.clone(),
        http: opts.http,
    };
    let http = Client::new(&client_options).map_err(|e| ProfileError::Usage(e.to_string()))?;
    let wsc = WsClient::new(
        &client_options,
        WsLimits {
            frame_timeout: reply_timeout,
            connect_timeout: reply_timeout,
            max_message: opts.max_body.max(64 * 1024),
            ..WsLimits::default()
        },
    )
    .map_err(|e| ProfileError::Usage(e.to_string()))?;
    Ok(Env {
        ce,
        ws_url: ws,
        http,
        ws: wsc,
        pool,
        page_size,
        large_message,
        max_ws: max_ws.unwrap_or(DEFAULT_MAX_WS),
        allow_http: opts.allow_http,
        origins,
        reply_timeout,
        timing_samples: runner::timing::samples_from_env(),
        idle_wait: opts.idle_wait,
    })
}

/// One plain request before any check: a target the suite cannot reach or trust is one clear
/// message and exit 3, never a hundred failed checks.
async fn preflight(env: &Env) -> Result<(), ProfileError> {
    let ce = &env.ce;
    let ex = env
        .http
        .execute(crate::client::Request::new("GET", ce.clone()))
        .await;
    let hint = match &ex.response {
        Ok(_) => return Ok(()),
        Err(TransportError::Tls(e)) => format!(
            "cannot trust {ce}: TLS handshake failed ({e}); pass the server's certificate or CA \
             with --ca-cert FILE, or --insecure to skip the check (testing only)"
        ),
        Err(TransportError::Timeout) => format!(
            "{ce} accepts connections but does not answer an HTTP request within {:?}; is it an \
             HTTP server? (raise --timeout if it is just slow)",
            env.http.options().timeout
        ),
        Err(e) => format!("cannot talk HTTP to {ce}: {e}"),
    };
    Err(ProfileError::Unreachable(hint))
}

/// Runs cases against one opened target; hostile cases run alone and are followed by a
/// check that the server still answers (B-NO-5XX).
pub struct SimplexSession {
    env: Env,
    cases: Arc<Vec<Case>>,
    guard: Guard,
}

/// What a server that stops answering breaks.
const ALIVE: Alive = Alive {
    rule: "B-NO-5XX",
    expected: "the server keeps answering requests",
    stopped: "stopped answering",
};

impl SimplexSession {
    /// A session over these cases.
    pub fn new(env: Env, cases: Arc<Vec<Case>>) -> SimplexSession {
        let guard = Guard::new(env.http.liveness(), ALIVE);
        SimplexSession { env, cases, guard }
    }

    async fn run(&self, check: &CheckInfo) -> CheckResult {
        let case = &self.cases[check.index];
        self.guard
            .check(
                check,
                case.hostile,
                case.steps.len(),
                || self.judge(check, case),
                || runner::alive(&self.env),
            )
            .await
    }

    /// Run `case` and judge it, with the timings it measured.
    async fn judge(&self, check: &CheckInfo, case: &Case) -> CheckResult {
        let mut result = CheckResult::new(check);
        let run = runner::run_case(&self.env, case).await;
        result.requests = run.requests;
        result.signatures = run.signatures;
        let mut timed_rule = None;
        let mut timed = Vec::new();
        for (rule, report) in run.timing {
            timed_rule.get_or_insert(rule);
            timed.push(report);
        }
        run.ending.judge(&mut result, catalogue(), "WebSocket");
        // The measurements made before the case ended: a warning or an unjudged endpoint is
        // the check's verdict unless the case itself ended worse.
        if let Some(rule) = timed_rule {
            result.attach_timings(timed, &rule);
        }
        if matches!(
            result.verdict,
            Verdict::Fail | Verdict::Warn | Verdict::Error
        ) {
            result.exchanges = run.exchanges;
        }
        result
    }
}

impl Session for SimplexSession {
    fn run_check<'a>(&'a self, check: &'a CheckInfo) -> BoxFuture<'a, CheckResult> {
        Box::pin(self.run(check))
    }

    fn liveness(&self) -> Option<Arc<Liveness>> {
        Some(self.guard.liveness())
    }
}

struct SimplexTarget {
    session: Arc<SimplexSession>,
    opened: Mutex<Option<Opened>>,
    describe: String,
}

impl OpenTarget for SimplexTarget {
    fn session(&self) -> Arc<dyn Session> {
        self.session.clone()
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn options(&self) -> BTreeMap<String, serde_json::Value> {
        let env = &self.session.env;
        let mut o = BTreeMap::new();
        if let Some(n) = env.page_size {
            o.insert("pageSize".into(), json!(n));
        }
        if let Some(n) = env.large_message {
            o.insert("largeMessage".into(), json!(n));
        }
        o.insert("maxWebSocketMessage".into(), json!(env.max_ws));
        o
    }

    fn stats(&self, results: &[CheckResult]) -> String {
        let requests: usize = results.iter().map(|r| r.requests).sum();
        let signatures: usize = results.iter().map(|r| r.signatures).sum();
        format!("{requests} requests and WebSocket messages sent, {signatures} signatures")
    }

    fn timing(&self, wall: Duration, results: &[CheckResult], jobs: usize) -> Vec<String> {
        let busy: Duration = results.iter().map(|r| r.duration).sum();
        vec![format!(
            "wall {:.1} s for {:.1} s of checks on {jobs} jobs: checks sign (RSA-2048) and wait \
             for replies and for the absence of pushes",
            wall.as_secs_f64(),
            busy.as_secs_f64()
        )]
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        let opened = self.opened.lock().ok().and_then(|mut o| o.take());
        Box::pin(async move {
            if let Some(o) = opened {
                o.close().await;
            }
        })
    }
}
