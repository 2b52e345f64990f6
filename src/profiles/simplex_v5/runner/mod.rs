//! Runs one case of `simplex-v5` against a server: REST steps over the HTTP client, WebSocket
//! steps over named sessions, both judged against a model of the case's connections.
//!
//! A step that sees the server break a rule stops the case and names that rule
//! ([`Broken`]); a transport problem of the suite's own side is an error, never a failure.

mod judge;
pub mod probes;
mod rest;
mod session;
pub mod timing;
mod ws;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use url::Url;

pub use session::Session;
pub use ws::WS_FAULTS;

use crate::client::origin::OriginPolicy;
use crate::client::ws::WsClient;
use crate::client::{Client, Exchange};
use crate::profiles::edge_v1::sign::{Key, KeyPool, SpecialKey};
use crate::profiles::edge_v1::wire::b64;
use crate::profiles::simplex_v5::case::{Case, Need, Step};
use crate::timing::TimingReport;

pub use crate::profiles::ending::{Broken, Ending};

/// What every case of a run shares: the target and what is known of it.
#[derive(Clone)]
pub struct Env {
    /// The create endpoint (`--server`).
    pub ce: Url,
    /// The WebSocket URL: `CE` with the `ws`/`wss` scheme (V-WS-URI).
    pub ws_url: Url,
    /// The HTTP client (timeouts and body caps inside).
    pub http: Client,
    /// The WebSocket client (timeouts and message caps inside).
    pub ws: WsClient,
    /// Keys.
    pub pool: Arc<KeyPool>,
    /// The server's PAGE_SIZE, when known.
    pub page_size: Option<usize>,
    /// The server's LARGE_MESSAGE, when known.
    pub large_message: Option<usize>,
    /// The server's MAX_WEBSOCKET_MESSAGE (`--max-ws`, default 64 KiB).
    pub max_ws: usize,
    /// `--allow-http` was given.
    pub allow_http: bool,
    /// The origins the run may contact.
    pub origins: OriginPolicy,
    /// How long a WebSocket reply or push may take.
    pub reply_timeout: Duration,
    /// Samples per failure class of the timing checks (500 unless
    /// [`timing::SAMPLES_VAR`] says otherwise).
    pub timing_samples: usize,
    /// `--idle-wait`: how long a connection is held idle past the server's head timeout
    /// before others are checked; `None`: those checks are skipped.
    pub idle_wait: Option<Duration>,
}

/// What a case did and how it ended.
#[derive(Debug, Clone)]
pub struct CaseRun {
    /// How it ended.
    pub ending: Ending,
    /// HTTP requests and WebSocket messages sent.
    pub requests: usize,
    /// Signatures made.
    pub signatures: usize,
    /// The HTTP exchanges (bodies trimmed), for the report of a failure.
    pub exchanges: Vec<Exchange>,
    /// The timing measurements of a timing probe, each with the rule it judges, in the order
    /// they were made.
    pub timing: Vec<(String, TimingReport)>,
}

/// Why a step stopped the case.
#[derive(Debug)]
pub(crate) enum Stop {
    /// A rule seen broken (on this session, if any).
    Broken(Broken, Option<String>),
    /// The suite could not go on.
    Error(String),
    /// A need is missing.
    Skip(String),
}

impl From<Broken> for Stop {
    fn from(b: Broken) -> Stop {
        Stop::Broken(b, None)
    }
}

/// A connection of the model.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    /// The name of `RK`.
    pub rk: String,
    /// The name of `SK`, once set.
    pub sk: Option<String>,
    /// `recipientURI` exactly as create returned it.
    pub ru_text: String,
    /// `senderURI` exactly as create returned it.
    pub su_text: String,
    /// `RU` resolved against `CE`.
    pub ru: Url,
    /// `SU` resolved against `CE`.
    pub su: Url,
    /// Deleted (V-DEL).
    pub deleted: bool,
    /// The names of its messages, in receive order.
    pub msgs: Vec<String>,
}

/// A message of the model.
#[derive(Debug, Clone)]
pub(crate) struct Msg {
    /// Its connection.
    pub conn: String,
    /// The bytes sent.
    pub bytes: Vec<u8>,
    /// Their base64, as sent.
    pub b64: String,
    /// The ID the server gave it, once seen.
    pub id: Option<String>,
    /// Its `ts`, once seen.
    pub ts: Option<String>,
    /// Removed (V-DELM, V-DEL).
    pub deleted: bool,
    /// A REST retrieval (a page or retrieve one) returned it: later pages must too, until
    /// it is deleted (V-RETR-KEEP).
    pub retrieved: bool,
}

/// The state of one running case.
pub(crate) struct Ctx<'e> {
    pub env: &'e Env,
    pub case: &'e Case,
    pub keys: HashMap<String, Arc<Key>>,
    pub conns: HashMap<String, Conn>,
    pub msgs: HashMap<String, Msg>,
    pub sessions: HashMap<String, Session>,
    /// Nonces of every session opened in this case.
    pub nonces: Vec<String>,
    /// `auth` of every subscribe sent, by request ID.
    pub auths: HashMap<String, String>,
    pub requests: usize,
    pub signatures: usize,
    pub exchanges: VecDeque<Exchange>,
    /// Timing measurements made (rule, report).
    pub timing: Vec<(String, TimingReport)>,
    next_id: usize,
}

/// Exchanges kept for a failure's report.
const KEPT_EXCHANGES: usize = 8;

impl<'e> Ctx<'e> {
    fn new(env: &'e Env, case: &'e Case) -> Ctx<'e> {
        Ctx {
            env,
            case,
            keys: HashMap::new(),
            conns: HashMap::new(),
            msgs: HashMap::new(),
            sessions: HashMap::new(),
            nonces: Vec::new(),
            auths: HashMap::new(),
            requests: 0,
            signatures: 0,
            exchanges: VecDeque::new(),
            timing: Vec::new(),
            next_id: 0,
        }
    }

    /// Whether the case checks `rule` (SHOULD-level checks run only then).
    pub fn checks(&self, rule: &str) -> bool {
        self.case.requirements.iter().any(|r| r == rule)
    }

    /// The key named `name` (a fresh pool key the first time).
    pub fn key(&mut self, name: &str) -> Arc<Key> {
        let pool = self.env.pool.clone();
        self.keys
            .entry(name.to_string())
            .or_insert_with(|| pool.take())
            .clone()
    }

    /// The connection named `name`.
    pub fn conn(&self, name: &str) -> Result<&Conn, Stop> {
        self.conns.get(name).ok_or_else(|| {
            Stop::Error(format!(
                "connection `{name}` was never created in this case; add a create step first"
            ))
        })
    }

    /// The message named `name`.
    pub fn msg(&self, name: &str) -> Result<&Msg, Stop> {
        self.msgs.get(name).ok_or_else(|| {
            Stop::Error(format!(
                "message `{name}` was never sent in this case; fix the case"
            ))
        })
    }

    /// The ID of message `name`, which must be known by now.
    pub fn msg_id(&self, name: &str) -> Result<String, Stop> {
        self.msg(name)?.id.clone().ok_or_else(|| {
            Stop::Error(format!(
                "the ID of message `{name}` is not known yet; retrieve or receive it first"
            ))
        })
    }

    /// A fresh request ID for a WebSocket request.
    pub fn fresh_id(&mut self, what: &str) -> String {
        self.next_id += 1;
        format!("{what}-{}", self.next_id)
    }

    /// Keep an exchange for the report (the last few, bodies trimmed).
    pub fn keep(&mut self, mut ex: Exchange) {
        ex.trim_bodies(crate::client::RETAINED_BODY);
        if self.exchanges.len() == KEPT_EXCHANGES {
            self.exchanges.pop_front();
        }
        self.exchanges.push_back(ex);
    }

    /// `text` with its `${…}` placeholders replaced (see the case format); `conn` is the
    /// connection of `${rk}`, `${ru}` and the like.
    pub fn expand(&mut self, text: &str, conn: &str) -> Result<String, Stop> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| {
                Stop::Error(format!("unclosed placeholder in {text:?}; fix the case"))
            })?;
            out.push_str(&self.placeholder(&after[..end], conn)?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The name of `RK` of connection `conn` (also before create has answered).
    fn rk_name(&self, conn: &str) -> String {
        self.conns
            .get(conn)
            .map_or_else(|| format!("{conn}.rk"), |c| c.rk.clone())
    }

    fn placeholder(&mut self, name: &str, conn: &str) -> Result<String, Stop> {
        let (what, arg) = match name.split_once(':') {
            Some((w, a)) => (w, Some(a)),
            None => (name, None),
        };
        let of = arg.unwrap_or(conn);
        Ok(match what {
            "rk" => {
                let k = self.rk_name(of);
                b64(self.key(&k).spki_der())
            }
            "sk" => {
                let k = self
                    .conns
                    .get(of)
                    .and_then(|c| c.sk.clone())
                    .unwrap_or_else(|| format!("{of}.sk"));
                b64(self.key(&k).spki_der())
            }
            // RK in the base64url alphabet, and with a line break (B-ENC-B64).
            "rk-url" => {
                let k = self.rk_name(of);
                b64(self.key(&k).spki_der())
                    .replace('+', "-")
                    .replace('/', "_")
            }
            "rk-nl" => {
                let k = self.rk_name(of);
                let t = b64(self.key(&k).spki_der());
                format!("{}\n{}", &t[..64], &t[64..])
            }
            "key" => b64(self.key(of).spki_der()),
            "special" => {
                let kind: SpecialKey = of
                    .parse()
                    .map_err(|e| Stop::Error(format!("{e}; fix the case")))?;
                b64(self.env.pool.special(kind))
            }
            "msg" => self.msg(of)?.b64.clone(),
            "id" => self.msg_id(of)?,
            "ru" => self.conn(of)?.ru_text.clone(),
            "su" => self.conn(of)?.su_text.clone(),
            "rupath" => self.conn(of)?.ru.path().to_string(),
            "supath" => self.conn(of)?.su.path().to_string(),
            "random-id" => random_id(22),
            // Matches any value (any pointer) in a ws-expect reply.
            "any" => "${any}".to_string(),
            "pointer" => "${pointer}".to_string(),
            "nonce" => self
                .sessions
                .get(of)
                .map(|s| s.nonce.clone())
                .ok_or_else(|| Stop::Error(format!("no session `{of}`; fix the case")))?,
            other => {
                return Err(Stop::Error(format!(
                    "unknown placeholder ${{{other}}}; fix the case"
                )))
            }
        })
    }

    /// `v` with the placeholders of every string expanded.
    pub fn expand_value(
        &mut self,
        v: &serde_json::Value,
        conn: &str,
    ) -> Result<serde_json::Value, Stop> {
        use serde_json::Value;
        Ok(match v {
            Value::String(s) => Value::String(self.expand(s, conn)?),
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.expand_value(x, conn))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, x) in m {
                    out.insert(self.expand(k, conn)?, self.expand_value(x, conn)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}

/// A fresh valid message ID (VB-MID) of `len` random base64url characters.
pub fn random_id(len: usize) -> String {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHA[rng.random_range(0..ALPHA.len())] as char)
        .collect()
}

/// The reason of checks that need TLS on an `http://` target (allowed only with
/// `--allow-http`).
pub const WAIVED_TLS: &str =
    "waived by --allow-http: the target is plain http://, so HTTPS is not checked";

/// Why a case cannot run against this target, if it cannot.
pub fn missing_need(env: &Env, case: &Case) -> Option<String> {
    for n in &case.needs {
        match n {
            Need::PageSize if env.page_size.is_none() => {
                return Some("needs the server's PAGE_SIZE: give --page-size N".into())
            }
            Need::LargeMessage if env.large_message.is_none() => {
                return Some("needs the server's LARGE_MESSAGE: give --large-message N".into())
            }
            Need::Tls if env.ce.scheme() != "https" => return Some(WAIVED_TLS.into()),
            _ => {}
        }
    }
    None
}

/// Run one case.
pub async fn run_case(env: &Env, case: &Case) -> CaseRun {
    let mut ctx = Ctx::new(env, case);
    let ending = match missing_need(env, case) {
        Some(why) if why == WAIVED_TLS => Ending::Waived(why),
        Some(why) => Ending::Skip(why),
        None => {
            let mut ending = Ending::Pass;
            for (i, step) in case.steps.iter().enumerate() {
                match run_step(&mut ctx, step).await {
                    Ok(()) => {}
                    Err(Stop::Broken(broken, session)) => {
                        let transcript = session
                            .and_then(|s| ctx.sessions.get(&s).map(Session::transcript))
                            .unwrap_or_default();
                        ending = Ending::Broken {
                            step: i + 1,
                            broken,
                            transcript,
                        };
                        break;
                    }
                    Err(Stop::Error(e)) => {
                        ending = Ending::Error(format!("step {}: {e}", i + 1));
                        break;
                    }
                    Err(Stop::Skip(s)) => {
                        ending = Ending::Skip(s);
                        break;
                    }
                }
            }
            ending
        }
    };
    for (_, mut s) in ctx.sessions.drain() {
        s.close().await;
    }
    CaseRun {
        ending,
        requests: ctx.requests,
        signatures: ctx.signatures,
        exchanges: ctx.exchanges.into_iter().collect(),
        timing: ctx.timing,
    }
}

/// A case run one step at a time, for generators that interleave their own checks (the
/// fuzzer): the model and the sessions live on between steps.
pub struct Stepper<'e> {
    ctx: Ctx<'e>,
}

impl<'e> Stepper<'e> {
    /// A fresh run of `case`'s rules (its steps are not run; [`Stepper::step`] runs steps).
    pub fn new(env: &'e Env, case: &'e Case) -> Stepper<'e> {
        Stepper {
            ctx: Ctx::new(env, case),
        }
    }

    /// Run one step; `Err` says how the case would have ended there.
    pub async fn step(&mut self, step: &Step) -> Result<(), Ending> {
        match run_step(&mut self.ctx, step).await {
            Ok(()) => Ok(()),
            Err(Stop::Broken(broken, session)) => {
                let transcript = session
                    .and_then(|s| self.ctx.sessions.get(&s).map(Session::transcript))
                    .unwrap_or_default();
                Err(Ending::Broken {
                    step: 0,
                    broken,
                    transcript,
                })
            }
            Err(Stop::Error(e)) => Err(Ending::Error(e)),
            Err(Stop::Skip(s)) => Err(Ending::Skip(s)),
        }
    }

    /// HTTP requests and WebSocket messages sent so far.
    pub fn requests(&self) -> usize {
        self.ctx.requests
    }

    /// Close every session.
    pub async fn close(mut self) {
        for (_, mut s) in self.ctx.sessions.drain() {
            s.close().await;
        }
    }
}

async fn run_step(ctx: &mut Ctx<'_>, step: &Step) -> Result<(), Stop> {
    match step {
        Step::Create(r) => rest::run(ctx, rest::Op::Create, r).await,
        Step::Secure(r) => rest::run(ctx, rest::Op::Secure, r).await,
        Step::Send(r) => rest::run(ctx, rest::Op::Send, r).await,
        Step::Retrieve(r) => rest::run(ctx, rest::Op::Retrieve, r).await,
        Step::Get(r) => rest::run(ctx, rest::Op::Get, r).await,
        Step::DeleteMessage(r) => rest::run(ctx, rest::Op::DeleteMessage, r).await,
        Step::Delete(r) => rest::run(ctx, rest::Op::Delete, r).await,
        Step::Request(r) => rest::run(ctx, rest::Op::Request, r).await,
        Step::WsConnect(s) => ws::connect(ctx, s).await,
        Step::Subscribe(r) => ws::request(ctx, ws::Kind::Subscribe, r).await,
        Step::Unsubscribe(r) => ws::request(ctx, ws::Kind::Unsubscribe, r).await,
        Step::WsDelete(r) => ws::request(ctx, ws::Kind::Delete, r).await,
        Step::WsSend(s) => ws::send(ctx, s).await,
        Step::WsExpect(s) => ws::expect(ctx, s).await,
        Step::ExpectPushes(s) => ws::expect_pushes(ctx, s).await,
        Step::ExpectNoPush(s) => ws::expect_no_push(ctx, s).await,
        Step::WsClose(s) => {
            if let Some(mut session) = ctx.sessions.remove(&s.session) {
                session.close().await;
            }
            Ok(())
        }
        Step::Sleep(s) => {
            tokio::time::sleep(Duration::from_millis(s.ms)).await;
            Ok(())
        }
        Step::Probe(p) => probes::run(ctx, &p.name).await,
    }
}

/// B-NO-5XX after a hostile case: the server still answers a request (any status below
/// 500). `Err` says why not.
pub async fn alive(env: &Env) -> Result<(), String> {
    let req = crate::client::Request::new("POST", env.ce.clone())
        .header("Content-Type", "application/json")
        .body(b"{}".to_vec());
    let ex = env.http.execute(req).await;
    match ex.response {
        Ok(r) if r.status < 500 => Ok(()),
        Ok(r) => Err(format!("a fresh request got {}", r.status)),
        Err(e) => Err(format!("a fresh request got no response: {e}")),
    }
}
