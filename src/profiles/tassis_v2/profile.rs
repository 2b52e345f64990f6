//! `tassis-v2` as a [`Profile`]: its catalogue, its scripted cases, and the opened target
//! that runs them (the embedded reference server or `--server wss://host/api`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::json;
use url::Url;

use super::case::{Case, CaseFile};
use super::runner::{self, Env};
use super::{cases, keys};
use crate::catalogue::requirements::Requirements;
use crate::client::origin::{Origin, OriginPolicy};
use crate::client::ws::{WsClient, WsLimits};
use crate::client::{ClientOptions, HttpVersion, Liveness};
use crate::engine::{BoxFuture, CheckInfo, CheckResult, Session};
use crate::profiles::case_files::{load_error, scripted_checks};
use crate::profiles::guard::{Alive, Guard};
use crate::profiles::{
    Capability, FuzzOptions, OpenTarget, Outcome, Profile, ProfileError, PropOptions, RaceOptions,
    SelftestOptions, Suite, TargetOptions, DEFAULT_TIMEOUT,
};

/// The profile's name.
pub const NAME: &str = "tassis-v2";

/// The catalogue (`conformance/tassis-v2/requirements.json`), embedded at build time.
pub const REQUIREMENTS_JSON: &str =
    include_str!("../../../conformance/tassis-v2/requirements.json");

/// The binding text (`conformance/tassis-v2/binding.md`), embedded at build time.
pub const BINDING_MD: &str = include_str!("../../../conformance/tassis-v2/binding.md");

/// The schema (`conformance/tassis-v2/tassis.proto`).
pub const PROTO: &str = include_str!("../../../conformance/tassis-v2/tassis.proto");

/// The reply timeout when `--timeout` is left at its default (T-SEQ-REPLY: 5 s).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// PreKeysLow settings of the embedded server: limit 3, interval 200 ms.
pub const EMBEDDED_PREKEYS: (u32, Duration) = (3, Duration::from_millis(200));

/// The catalogue, parsed once (the embedded file is checked by the test suite).
pub fn catalogue() -> &'static Requirements {
    static CATALOGUE: OnceLock<Requirements> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        Requirements::from_json(REQUIREMENTS_JSON)
            .unwrap_or_else(|e| panic!("embedded conformance/tassis-v2/requirements.json: {e}"))
    })
}

/// The WebSocket + protobuf + XEdDSA protocol `tassis-v2`.
pub struct TassisV2;

impl Profile for TassisV2 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "protobuf over WebSockets: XEdDSA logins, Signal prekeys handed out once, store and forward with acks"
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
        // Most checks wait for replies, pushes or silence; the cryptography is cheap.
        16
    }

    fn suite(&self, files: Option<&[PathBuf]>) -> Result<Box<dyn Suite>, ProfileError> {
        Ok(Box::new(TassisSuite::load(files)?))
    }

    fn selftest(&self, opts: &SelftestOptions) -> Result<Outcome, ProfileError> {
        super::selftest::run(opts)
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

    fn keygen(&self, out: &Path, count: usize) -> Result<Vec<PathBuf>, ProfileError> {
        keys::write_fixture_pool(out, count)
            .map_err(|e| ProfileError::Internal(format!("keygen: {e}")))
    }
}

/// The scripted cases of a run, loaded and validated.
pub struct TassisSuite {
    files: Vec<CaseFile>,
    cases: Arc<Vec<Case>>,
    checks: Vec<CheckInfo>,
}

impl TassisSuite {
    /// Load the built-in cases, or `files`.
    pub fn load(files: Option<&[PathBuf]>) -> Result<TassisSuite, ProfileError> {
        let loaded = match files {
            Some(paths) => cases::read(paths),
            None => cases::builtin(),
        }
        .map_err(|e| load_error(e.to_string(), files.is_some()))?;
        let problems = cases::validate(&loaded, &|r| catalogue().contains(r));
        let (all, checks) = scripted_checks(&loaded, &problems, files.is_some(), |f| {
            (f.area.as_str(), f.cases.as_slice())
        })?;
        Ok(TassisSuite {
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

impl Suite for TassisSuite {
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
            let session = Arc::new(TassisSession::new(opened.env.clone(), self.cases.clone()));
            let t: Box<dyn OpenTarget> = Box::new(TassisTarget {
                session,
                describe: opened.describe(),
                opened: Mutex::new(Some(opened)),
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
    pub embedded: Option<edge_reference_server::tassis_v2::TassisServer>,
    /// The servers' URL, as given or as started.
    pub url: Url,
}

impl Opened {
    /// Its URL, marked when it is the embedded server (banners and reports).
    pub fn describe(&self) -> String {
        match &self.embedded {
            Some(_) => format!("{} (embedded reference server)", self.url),
            None => self.url.to_string(),
        }
    }

    /// Stop the embedded server, if any.
    pub async fn close(self) {
        if let Some(s) = self.embedded {
            s.shutdown().await;
        }
    }
}

/// Open the target: start the embedded server or check `--server`; then one connection
/// reads its hello (exit 3 when that fails).
pub async fn open_target(opts: &TargetOptions) -> Result<Opened, ProfileError> {
    let mut ca_pem = match &opts.ca_cert {
        Some(p) => Some(std::fs::read(p).map_err(|e| {
            ProfileError::Usage(format!("cannot read --ca-cert {}: {e}", p.display()))
        })?),
        None => None,
    };
    if opts.servers.len() > 1 {
        return Err(ProfileError::Usage(
            "tassis-v2 tests one server: give --server once".into(),
        ));
    }
    if opts.http == HttpVersion::Http2 {
        return Err(ProfileError::Usage(
            "tassis-v2 speaks WebSocket over HTTP/1.1, so --http 2 does not apply: \
             leave --http out or give 1.1"
                .into(),
        ));
    }
    let mut prekeys_low = match (opts.prekeys_low, opts.prekeys_interval) {
        (Some(l), Some(d)) => Some((l, d)),
        (None, None) => None,
        _ => {
            return Err(ProfileError::Usage(
                "give --prekeys-low and --prekeys-interval together (the server's PreKeysLow \
                 limit and check interval)"
                    .into(),
            ))
        }
    };
    let (url, embedded) = match opts.servers.first() {
        None => {
            let config = edge_reference_server::tassis_v2::TassisConfig {
                listen: "127.0.0.1:0".parse().expect("literal address"),
                // Trusted in memory; no certificate file is written.
                tls: edge_reference_server::Tls::SelfSigned { write_to: None },
                prekeys_low: EMBEDDED_PREKEYS.0,
                prekeys_interval: EMBEDDED_PREKEYS.1,
                ..edge_reference_server::tassis_v2::TassisConfig::default()
            };
            let server = edge_reference_server::tassis_v2::start(config)
                .await
                .map_err(|e| {
                    ProfileError::Unreachable(format!(
                        "cannot start the embedded reference server: {e}"
                    ))
                })?;
            ca_pem = server.certificate_pem().map(String::into_bytes);
            prekeys_low = Some(EMBEDDED_PREKEYS);
            let url = Url::parse(&server.url())
                .map_err(|e| ProfileError::Internal(format!("embedded server URL: {e}")))?;
            (url, Some(server))
        }
        Some(s) => {
            let u = Url::parse(s).map_err(|e| {
                ProfileError::Usage(format!(
                    "--server {s}: {e}; give the WebSocket URL, e.g. wss://host/api"
                ))
            })?;
            match u.scheme() {
                "wss" => {}
                "ws" if opts.allow_http => {}
                "ws" => {
                    return Err(ProfileError::Usage(format!(
                        "--server {s}: plain ws:// needs --allow-http (the TLS rule is then waived)"
                    )))
                }
                other => {
                    return Err(ProfileError::Usage(format!(
                        "--server {s}: the scheme is {other}; give wss://host/api (or ws:// with --allow-http)"
                    )))
                }
            }
            (u, None)
        }
    };
    let mut origins: Vec<Origin> = Origin::of(&url).into_iter().collect();
    for s in &opts.allow_origins {
        if let Some(o) = Url::parse(s).ok().as_ref().and_then(Origin::of) {
            origins.push(o);
        }
    }
    let timeout = if opts.timeout == DEFAULT_TIMEOUT {
        REPLY_TIMEOUT
    } else {
        opts.timeout
    };
    let client = WsClient::new(
        &ClientOptions {
            timeout,
            body_cap: opts.max_body,
            body_limit: crate::client::DEFAULT_BODY_LIMIT,
            ca_cert_pem: ca_pem,
            insecure: opts.insecure,
            origins: OriginPolicy::only(origins),
            http: opts.http,
        },
        WsLimits {
            frame_timeout: timeout,
            connect_timeout: timeout,
            max_message: opts.max_body.max(64 * 1024),
            ..WsLimits::default()
        },
    )
    .map_err(|e| ProfileError::Usage(e.to_string()))?;
    let env = Env {
        url: url.clone(),
        client,
        reply_timeout: timeout,
        prekeys_low,
    };
    let opened = Opened { env, embedded, url };
    if let Err(e) = preflight(&opened.env).await {
        opened.close().await;
        return Err(e);
    }
    Ok(opened)
}

/// One connection that reads an AuthChallenge before any check: a target the suite cannot
/// reach or trust is one clear message and exit 3.
async fn preflight(env: &Env) -> Result<(), ProfileError> {
    // The transport's errors carry their own hint (--ca-cert / --insecure for TLS).
    let ws = env.client.connect(&env.url).await.map_err(|e| {
        ProfileError::Unreachable(format!("cannot open a WebSocket to {}: {e}", env.url))
    })?;
    let mut c = runner::Conn::new(ws);
    let r = c.hello(env.reply_timeout).await;
    c.disconnect(false).await;
    // A broken hello is a finding of the checks (T-HELLO), not a reason to stop; a
    // connection that ends at once is.
    if let Err(runner::Read::Ended(e)) = r {
        return Err(ProfileError::Unreachable(format!(
            "{} accepted a WebSocket but {}; is it a tassis-v2 server?",
            env.url, e.what
        )));
    }
    Ok(())
}

/// Runs cases against one opened target; after a hostile case, checks TB-ALIVE.
pub struct TassisSession {
    env: Env,
    cases: Arc<Vec<Case>>,
    guard: Guard,
}

/// What a server that stops serving breaks.
const ALIVE: Alive = Alive {
    rule: "TB-ALIVE",
    expected: "the server keeps serving new connections",
    stopped: "stopped serving",
};

impl TassisSession {
    /// A session over these cases.
    pub fn new(env: Env, cases: Arc<Vec<Case>>) -> TassisSession {
        TassisSession {
            env,
            cases,
            guard: Guard::new(Arc::new(Liveness::default()), ALIVE),
        }
    }

    async fn run(&self, check: &CheckInfo) -> CheckResult {
        let case = &self.cases[check.index];
        let judge = || async {
            let mut result = CheckResult::new(check);
            let run = runner::run_case(&self.env, case).await;
            result.requests = run.frames_out;
            result.signatures = run.logins;
            run.ending.judge(&mut result, catalogue(), "frames");
            result
        };
        self.guard
            .check(check, case.hostile, case.steps.len(), judge, || {
                runner::alive(&self.env)
            })
            .await
    }
}

impl Session for TassisSession {
    fn run_check<'a>(&'a self, check: &'a CheckInfo) -> BoxFuture<'a, CheckResult> {
        Box::pin(self.run(check))
    }

    /// The milliseconds a check's steps wait on a correct server: a run starts the longest
    /// first, so that the 31 s of TB-IDLE overlap the rest instead of following it.
    fn cost(&self, check: &CheckInfo) -> u64 {
        let interval = self.env.prekeys_low.map(|(_, i)| i);
        self.cases[check.index]
            .steps
            .iter()
            .map(|s| s.wait_ms(interval))
            .sum()
    }

    fn liveness(&self) -> Option<Arc<Liveness>> {
        Some(self.guard.liveness())
    }
}

struct TassisTarget {
    session: Arc<TassisSession>,
    opened: Mutex<Option<Opened>>,
    describe: String,
}

impl OpenTarget for TassisTarget {
    fn session(&self) -> Arc<dyn Session> {
        self.session.clone()
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn options(&self) -> BTreeMap<String, serde_json::Value> {
        let mut o = BTreeMap::new();
        if let Some((limit, interval)) = self.session.env.prekeys_low {
            o.insert("prekeysLow".into(), json!(limit));
            o.insert(
                "prekeysIntervalMs".into(),
                json!(interval.as_millis() as u64),
            );
        }
        o
    }

    fn stats(&self, results: &[CheckResult]) -> String {
        let frames: usize = results.iter().map(|r| r.requests).sum();
        let logins: usize = results.iter().map(|r| r.signatures).sum();
        format!("{frames} frames sent, {logins} logins")
    }

    fn timing(&self, wall: Duration, results: &[CheckResult], jobs: usize) -> Vec<String> {
        let busy: Duration = results.iter().map(|r| r.duration).sum();
        vec![format!(
            "wall {:.1} s for {:.1} s of checks on {jobs} jobs: most checks wait for replies or \
             for the absence of frames, so more jobs help",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn http_2_is_refused_before_anything_starts() {
        let opts = TargetOptions {
            http: HttpVersion::Http2,
            servers: vec!["wss://127.0.0.1:9/api".into()],
            ..TargetOptions::default()
        };
        match open_target(&opts).await {
            Err(ProfileError::Usage(m)) => assert!(m.contains("--http 2"), "{m}"),
            Err(e) => panic!("not a usage error: {e}"),
            Ok(_) => panic!("--http 2 accepted for WebSocket"),
        }
    }
}
