//! `edgecheck race --profile simplex-v5`: concurrent histories.
//!
//! Each round, on fresh connections:
//!
//! - **pushes**: a connection holds a few messages; one WebSocket session subscribes, then
//!   `--senders` actors send `--ops` messages each at once while further sessions
//!   (`--retrievers`, at least two in all) subscribe mid-way, so that their backlog pushes
//!   overlap live sends, and a REST walker pages through the connection
//!   (`?fromMessageId=` from each `nextMessageID`). When the senders are done, every session
//!   waits for its pushes and a quiet period; a final walk gives the receive order.
//! - **churn** ([`churn`]), beside the pushes part on a connection of its own: up to two
//!   senders send while one session unsubscribes and subscribes again every few pushes and
//!   another deletes about half of what it is pushed (`delete_message`); a walk ends it.
//! - **secures**: `--rotations` actors (at least two) secure one connection at once with
//!   different keys; then a send signed with each key shows which one is `SK`.
//!
//! The recorded history is checked ([`check`]): pushes with the engine's shared queue
//! checker (none twice, none missing, no phantom, per-sender order) and against the receive
//! order (V-WS-ORDER); pages against the receive order (V-RETR); the churn for nothing pushed
//! after an unsubscribe (V-WS-UNSUB) or a deletion (V-WS-ORDER), deletions that work
//! (V-WS-DEL) and every message never deleted pushed (VB-WS-BACKLOG); secures for exactly one
//! winner (V-SECURE). A failure names the rule and prints the events that show it.

pub mod check;
pub mod churn;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};
use url::Url;

use super::jcs;
use super::runner::Env;
use super::{open_target, NAME};
use crate::client::ws::{Incoming, WsConn};
use crate::client::Request;
use crate::engine::{cores, runtime};
use crate::profiles::edge_v1::sign::{self, signature_token, Key};
use crate::profiles::edge_v1::wire::{self, b64, unb64};
use crate::profiles::{Finding, Outcome, ProfileError, RaceOptions, TargetOptions};

/// Violations printed in full.
pub const SHOWN: usize = 3;
/// Messages in the connection before the first subscribe.
pub const PREFILL: usize = 5;
/// How long a session keeps reading after it has every message, for pushes that come twice.
pub const QUIET_MS: u64 = 250;
/// How long a session waits for missing pushes after the last send, at most.
pub const SETTLE_MS: u64 = 3000;

/// One event of a round, times in µs since the round began.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Who: `pre`, `s0`…, `w0`…, `walk`, `final`, `k0`….
    pub actor: String,
    /// What.
    pub what: What,
    /// When the request left (for a push: when it was read).
    pub invoke: u64,
    /// When the answer came.
    pub ret: u64,
}

/// What an event was.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum What {
    /// A send of one message (its bytes are the token).
    Send {
        /// The token.
        token: String,
        /// Its status (`None`: no answer).
        status: Option<u16>,
    },
    /// A subscribe and its `ok`.
    Subscribe {
        /// The session.
        session: String,
        /// The reply's `ok` (`None`: no reply).
        ok: Option<bool>,
    },
    /// A push read.
    Push {
        /// The session.
        session: String,
        /// The token its `msg` carries (`None`: no message the round sent).
        token: Option<String>,
        /// Its message ID.
        id: String,
    },
    /// A session stopped reading after a quiet period.
    Quiet {
        /// The session.
        session: String,
    },
    /// A page retrieved.
    Page {
        /// `fromMessageId`, if any.
        from: Option<String>,
        /// The tokens of its messages, in order.
        tokens: Vec<String>,
        /// Their IDs.
        ids: Vec<String>,
        /// `nextMessageID`.
        next: Option<String>,
        /// Its status.
        status: Option<u16>,
        /// Part of the walk after every send was answered (the receive order).
        final_walk: bool,
    },
    /// A secure with a key.
    Secure {
        /// The key's name.
        key: String,
        /// Its status.
        status: Option<u16>,
    },
    /// After the secures: a send signed with a key.
    Probe {
        /// The key's name.
        key: String,
        /// Its status.
        status: Option<u16>,
    },
    /// Churn: a send to the churn connection.
    ChurnSend {
        /// The token.
        token: String,
        /// Its status (`None`: no answer).
        status: Option<u16>,
    },
    /// Churn: a request of a churn session and its reply (`invoke`: when it was sent).
    ChurnReply {
        /// The session.
        session: String,
        /// What it asked.
        ask: churn::Ask,
        /// The reply's `ok`.
        ok: Option<bool>,
        /// The reply's place in the session's stream (from 1).
        frame: usize,
    },
    /// Churn: a push read by a churn session.
    ChurnPush {
        /// The session.
        session: String,
        /// The token its `msg` carries.
        token: Option<String>,
        /// Its message ID.
        id: String,
        /// Its place in the session's stream (from 1).
        frame: usize,
    },
    /// Churn: a walk of the churn connection after both sessions ended.
    ChurnWalk {
        /// The tokens of every page, in order.
        tokens: Vec<String>,
        /// The status of the last page.
        status: Option<u16>,
    },
}

/// A round's history.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    /// The round (from 1).
    pub round: usize,
    /// Its seed.
    pub seed: u64,
    /// The events, by invocation time.
    pub events: Vec<Event>,
}

/// The shape of a round.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Concurrent senders.
    pub senders: usize,
    /// Messages per sender.
    pub messages: usize,
    /// WebSocket sessions (the first subscribes before the senders start).
    pub sessions: usize,
    /// Concurrent secures (0: none).
    pub secures: usize,
    /// The server's PAGE_SIZE.
    pub page_size: usize,
}

impl Shape {
    /// The shape `race` options ask for.
    pub fn of(opts: &RaceOptions, page_size: usize) -> Shape {
        Shape {
            senders: opts.senders.max(1),
            messages: opts.ops.max(1),
            sessions: opts.receivers.max(2),
            secures: opts.rotations.max(2),
            page_size,
        }
    }
}

/// The round's clock and event log.
#[derive(Clone)]
struct Log {
    start: Instant,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Log {
    fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn add(&self, actor: &str, what: What, invoke: u64, ret: u64) {
        self.events.lock().expect("event log").push(Event {
            actor: actor.to_string(),
            what,
            invoke,
            ret,
        });
    }
}

/// One HTTP request, signed with `key` when given: (status, body).
async fn call(
    env: &Env,
    method: &str,
    url: &Url,
    body: Option<&Value>,
    key: Option<&Key>,
) -> (Option<u16>, Vec<u8>) {
    let mut req = Request::new(method, url.clone());
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(b).unwrap_or_default());
    }
    if let Some(k) = key {
        let target = req.request_target();
        let token = signature_token(k, k, method, &target, &req.body, None);
        req.headers.push((
            "Authorization".into(),
            sign::authorization(&token).into_bytes(),
        ));
    }
    match env.http.execute(req).await.response {
        Ok(r) => (Some(r.status), r.body),
        Err(_) => (None, Vec::new()),
    }
}

/// A created connection.
struct Conn {
    rk: Arc<Key>,
    ru_text: String,
    ru: Url,
    su: Url,
}

async fn create(env: &Env) -> Result<Conn, String> {
    let rk = env.pool.take();
    let body = json!({"recipient": b64(rk.spki_der())});
    let (status, resp) = call(env, "POST", &env.ce, Some(&body), Some(&rk)).await;
    if status != Some(201) {
        return Err(format!(
            "create answered {status:?} ({}); run `edgecheck run --profile {NAME}` first",
            String::from_utf8_lossy(&resp)
        ));
    }
    let o: Value = serde_json::from_slice(&resp).map_err(|e| format!("create: {e}"))?;
    let text = |k: &str| {
        o.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let ru_text = text("recipientURI");
    let ru = wire::resolve_uri(&env.ce, &ru_text).map_err(|e| format!("recipientURI: {e}"))?;
    let su =
        wire::resolve_uri(&env.ce, &text("senderURI")).map_err(|e| format!("senderURI: {e}"))?;
    Ok(Conn {
        rk,
        ru_text,
        ru,
        su,
    })
}

/// The token a message's `msg` carries.
fn token_of(message: &Value) -> Option<String> {
    let m = message.get("msg")?.as_str()?;
    String::from_utf8(unb64(m).ok()?).ok()
}

/// A page as retrieved: its status, the tokens and IDs of its messages, `nextMessageID`.
struct Fetched {
    status: Option<u16>,
    tokens: Vec<String>,
    ids: Vec<String>,
    next: Option<String>,
}

/// The page of `c` that starts at `from` (`fromMessageId`), or at the first message.
async fn fetch_page(env: &Env, c: &Conn, from: Option<&str>) -> Fetched {
    let mut url = c.ru.clone();
    url.set_path(&format!("{}/messages", url.path()));
    if let Some(f) = from {
        url.set_query(Some(&format!("fromMessageId={f}")));
    }
    let (status, body) = call(env, "GET", &url, None, Some(&c.rk)).await;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let list = v
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let tokens = list
        .iter()
        .map(|m| token_of(m).unwrap_or_else(|| "?".into()))
        .collect();
    let ids = list
        .iter()
        .map(|m| {
            m.get("id")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    let next = v
        .get("nextMessageID")
        .and_then(Value::as_str)
        .map(str::to_string);
    Fetched {
        status,
        tokens,
        ids,
        next,
    }
}

/// One page: records it; returns `nextMessageID` when the walk goes on.
async fn page(env: &Env, log: &Log, c: &Conn, actor: &str, from: Option<String>) -> Option<String> {
    let invoke = log.now();
    let f = fetch_page(env, c, from.as_deref()).await;
    let ret = log.now();
    log.add(
        actor,
        What::Page {
            from,
            tokens: f.tokens,
            ids: f.ids,
            next: f.next.clone(),
            status: f.status,
            final_walk: actor == "final",
        },
        invoke,
        ret,
    );
    f.next.filter(|_| f.status == Some(200))
}

/// A walk from the start through every `nextMessageID`.
async fn walk(env: &Env, log: &Log, c: &Conn, actor: &str) {
    let mut from = None;
    for _ in 0..10_000 {
        match page(env, log, c, actor, from).await {
            Some(n) => from = Some(n),
            None => return,
        }
    }
}

async fn send(
    env: &Env,
    log: &Log,
    c: &Conn,
    actor: &str,
    token: String,
    key: Option<&Key>,
) -> Option<u16> {
    let invoke = log.now();
    let status = post(env, c, &token, key).await;
    log.add(actor, What::Send { token, status }, invoke, log.now());
    status
}

/// Sends a message carrying `token` to `c` (signed with `key` when given): its status.
async fn post(env: &Env, c: &Conn, token: &str, key: Option<&Key>) -> Option<u16> {
    let mut url = c.su.clone();
    url.set_path(&format!("{}/messages", url.path()));
    let body = json!({"msg": b64(token.as_bytes())});
    call(env, "POST", &url, Some(&body), key).await.0
}

/// A WebSocket session opened, with the nonce of its hello.
async fn open_session(env: &Env) -> Result<(WsConn, String), String> {
    let mut ws = env
        .ws
        .connect(&env.ws_url)
        .await
        .map_err(|e| format!("cannot open a WebSocket: {e}"))?;
    loop {
        match ws.recv(env.reply_timeout).await {
            Ok(Some(Incoming::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                if v.get("type").and_then(Value::as_str) == Some("hello") {
                    let nonce = v["nonce"].as_str().unwrap_or_default().to_string();
                    return Ok((ws, nonce));
                }
            }
            other => return Err(format!("no hello: {other:?}")),
        }
    }
}

/// A subscribe to `c` with the request ID `id`, signed for the session of `nonce`.
fn subscribe_text(nonce: &str, id: &str, c: &Conn) -> String {
    let mut req = json!({"id": id, "type": "subscribe", "recipientURI": c.ru_text});
    let auth = b64(c.rk.sign(&jcs::signing_input(nonce, &req)));
    req["auth"] = json!(auth);
    req.to_string()
}

/// What the sessions and senders share.
struct Shared {
    /// Sends accepted so far.
    accepted: AtomicUsize,
    /// Every send has its answer; `expected` holds the accepted count.
    done: AtomicBool,
    expected: AtomicUsize,
    /// When the last send was answered (µs).
    last: AtomicU64,
}

/// A session: open, wait its turn, subscribe, record pushes until quiet.
async fn session(
    env: Env,
    log: Log,
    shared: Arc<Shared>,
    c: Arc<Conn>,
    name: String,
    after: usize,
) -> Result<(), String> {
    let (mut ws, nonce) = open_session(&env).await?;
    while shared.accepted.load(Ordering::Relaxed) < after && !shared.done.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let invoke = log.now();
    ws.send_text(subscribe_text(&nonce, &format!("sub-{name}"), &c))
        .await
        .map_err(|e| format!("subscribe not sent: {e}"))?;
    let mut replied = false;
    let mut seen = BTreeSet::new();
    let mut complete_at: Option<u64> = None;
    loop {
        let got = ws.recv(Duration::from_millis(20)).await;
        let now = log.now();
        match got {
            Ok(Some(Incoming::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                match v.get("type").and_then(Value::as_str) {
                    Some("message") => {
                        let m = &v["message"];
                        let token = token_of(m);
                        if let Some(t) = &token {
                            seen.insert(t.clone());
                        }
                        let id = m
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                            .to_string();
                        log.add(
                            &name,
                            What::Push {
                                session: name.clone(),
                                token,
                                id,
                            },
                            now,
                            now,
                        );
                    }
                    Some("subscribe") if !replied => {
                        replied = true;
                        let ok = v.get("ok").and_then(Value::as_bool);
                        log.add(
                            &name,
                            What::Subscribe {
                                session: name.clone(),
                                ok,
                            },
                            invoke,
                            now,
                        );
                        if ok != Some(true) {
                            break;
                        }
                    }
                    _ => {}
                }
            }
            Ok(Some(_)) | Err(_) => break,
            Ok(None) => {}
        }
        if shared.done.load(Ordering::Relaxed) {
            let expected = shared.expected.load(Ordering::Relaxed);
            let last = shared.last.load(Ordering::Relaxed);
            if complete_at.is_none() && (seen.len() >= expected || now > last + SETTLE_MS * 1000) {
                complete_at = Some(now);
            }
            if complete_at.is_some_and(|c| now > c + QUIET_MS * 1000) {
                log.add(
                    &name,
                    What::Quiet {
                        session: name.clone(),
                    },
                    now,
                    now,
                );
                break;
            }
        }
    }
    if !replied {
        log.add(
            &name,
            What::Subscribe {
                session: name.clone(),
                ok: None,
            },
            invoke,
            log.now(),
        );
    }
    ws.close().await;
    Ok(())
}

/// One round: pushes and pages, then secures.
pub async fn round(env: &Env, shape: Shape, round: usize, seed: u64) -> Result<History, String> {
    let log = Log {
        start: Instant::now(),
        events: Arc::default(),
    };
    let c = Arc::new(create(env).await?);
    for i in 0..PREFILL {
        send(env, &log, &c, "pre", format!("p-{i:03}"), None).await;
    }
    let shared = Arc::new(Shared {
        accepted: AtomicUsize::new(0),
        done: AtomicBool::new(false),
        expected: AtomicUsize::new(0),
        last: AtomicU64::new(0),
    });
    let total = shape.senders * shape.messages;
    let mut sessions = Vec::new();
    for k in 0..shape.sessions {
        let after = k * total / (shape.sessions + 1);
        sessions.push(tokio::spawn(session(
            env.clone(),
            log.clone(),
            shared.clone(),
            c.clone(),
            format!("w{k}"),
            after,
        )));
    }
    // The first session subscribes (and starts its backlog) before anything is sent.
    let wait = Instant::now();
    while !log
        .events
        .lock()
        .expect("event log")
        .iter()
        .any(|e| matches!(&e.what, What::Subscribe { .. }))
        && wait.elapsed() < env.reply_timeout
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The churn part runs beside the pushes part, on a connection of its own.
    let churn = tokio::spawn(churn::run(
        env.clone(),
        log.clone(),
        shape.senders.clamp(1, 2),
        shape.messages,
        seed,
    ));
    let mut senders = Vec::new();
    for j in 0..shape.senders {
        let (env, log, c, shared) = (env.clone(), log.clone(), c.clone(), shared.clone());
        let mut rng =
            rand::rngs::StdRng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(j as u64));
        senders.push(tokio::spawn(async move {
            for n in 0..shape.messages {
                if rng.random_bool(0.3) {
                    tokio::time::sleep(Duration::from_micros(rng.random_range(0..2000))).await;
                }
                let actor = format!("s{j}");
                if send(&env, &log, &c, &actor, format!("s{j}-{n:03}"), None).await == Some(200) {
                    shared.accepted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let walker = {
        let (env, log, c) = (env.clone(), log.clone(), c.clone());
        let stop = shared.clone();
        tokio::spawn(async move {
            while !stop.done.load(Ordering::Relaxed) {
                walk(&env, &log, &c, "walk").await;
            }
        })
    };
    for s in senders {
        let _ = s.await;
    }
    shared.expected.store(
        PREFILL + shared.accepted.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    shared.last.store(log.now(), Ordering::Relaxed);
    shared.done.store(true, Ordering::Relaxed);
    let _ = walker.await;
    let mut problems = Vec::new();
    for s in sessions {
        match s.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => problems.push(e),
            Err(e) => problems.push(e.to_string()),
        }
    }
    match churn.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => problems.push(format!("churn: {e}")),
        Err(e) => problems.push(format!("churn: {e}")),
    }
    if let Some(p) = problems.into_iter().next() {
        return Err(p);
    }
    walk(env, &log, &c, "final").await;

    // Concurrent secures of a fresh connection.
    if shape.secures >= 2 {
        let c2 = Arc::new(create(env).await?);
        let keys: Vec<Arc<Key>> = (0..shape.secures).map(|_| env.pool.take()).collect();
        let mut tasks = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let (env, log, c2, k) = (env.clone(), log.clone(), c2.clone(), k.clone());
            tasks.push(tokio::spawn(async move {
                let body = json!({"sender": b64(k.spki_der())});
                let invoke = log.now();
                let (status, _) = call(&env, "PUT", &c2.ru, Some(&body), Some(&c2.rk)).await;
                log.add(
                    &format!("k{i}"),
                    What::Secure {
                        key: format!("key{i}"),
                        status,
                    },
                    invoke,
                    log.now(),
                );
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        for (i, k) in keys.iter().enumerate() {
            let mut url = c2.su.clone();
            url.set_path(&format!("{}/messages", url.path()));
            let body = json!({"msg": b64(format!("probe-{i}").as_bytes())});
            let invoke = log.now();
            let (status, _) = call(env, "POST", &url, Some(&body), Some(k)).await;
            log.add(
                &format!("k{i}"),
                What::Probe {
                    key: format!("key{i}"),
                    status,
                },
                invoke,
                log.now(),
            );
        }
        // The probe messages stay in a connection nobody reads: delete it.
        call(env, "DELETE", &c2.ru, None, Some(&c2.rk)).await;
    }
    call(env, "DELETE", &c.ru, None, Some(&c.rk)).await;
    let mut events = std::mem::take(&mut *log.events.lock().expect("event log"));
    events.sort_by_key(|e| (e.invoke, e.ret));
    Ok(History {
        round,
        seed,
        events,
    })
}

/// A round that broke a rule.
#[derive(Debug, Clone)]
pub struct Failed {
    /// Its history.
    pub history: History,
    /// What broke.
    pub violations: Vec<check::Violation>,
}

/// The outcome of a race campaign.
#[derive(Debug, Default)]
pub struct RaceReport {
    /// Rounds run.
    pub rounds: usize,
    /// Events recorded.
    pub events: usize,
    /// Sends, pushes and pages recorded.
    pub sends: usize,
    /// Pushes read.
    pub pushes: usize,
    /// Pages retrieved.
    pub pages: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// The first failing round.
    pub failed: Option<Failed>,
    /// The last round's history (when none failed).
    pub last: Option<History>,
    /// A transport problem that stopped the campaign.
    pub error: Option<String>,
}

/// Rounds until `rounds` are done and `duration` has passed, or one fails.
pub async fn campaign(
    env: &Env,
    shape: Shape,
    seed: u64,
    rounds: usize,
    duration: Option<Duration>,
) -> RaceReport {
    let started = Instant::now();
    let mut report = RaceReport::default();
    let mut n = 0;
    loop {
        let more = n < rounds.max(1) || duration.is_some_and(|d| started.elapsed() < d);
        if !more {
            break;
        }
        n += 1;
        let s = seed.wrapping_add(n as u64 - 1);
        let h = match round(env, shape, n, s).await {
            Ok(h) => h,
            Err(e) => {
                report.error = Some(format!("round {n}: {e}"));
                break;
            }
        };
        report.rounds = n;
        report.events += h.events.len();
        for e in &h.events {
            match e.what {
                What::Send { .. } | What::ChurnSend { .. } => report.sends += 1,
                What::Push { .. } | What::ChurnPush { .. } => report.pushes += 1,
                What::Page { .. } => report.pages += 1,
                _ => {}
            }
        }
        let violations = check::all(&h, shape.page_size);
        if !violations.is_empty() {
            report.failed = Some(Failed {
                history: h,
                violations,
            });
            break;
        }
        report.last = Some(h);
    }
    report.elapsed = started.elapsed();
    report
}

/// `edgecheck race --profile simplex-v5`.
pub fn race(target: &TargetOptions, opts: &RaceOptions) -> Result<Outcome, ProfileError> {
    let rt = runtime(cores());
    let opened = rt.block_on(open_target(target))?;
    let Some(page_size) = opened.env.page_size else {
        rt.block_on(opened.close());
        return Err(ProfileError::Usage(
            "race needs the server's PAGE_SIZE to judge pages: give --page-size N".into(),
        ));
    };
    let shape = Shape::of(opts, page_size);
    eprintln!(
        "edgecheck race · {NAME} · seed {} · {} senders × {} messages, {} WebSocket sessions \
         (one subscribing mid-way), a REST walker; churn: {} senders, a session that \
         unsubscribes and subscribes again, one that deletes; {} concurrent secures · {}",
        opts.seed,
        shape.senders,
        shape.messages,
        shape.sessions,
        shape.senders.clamp(1, 2),
        shape.secures,
        opened.env.ce
    );
    let report = rt.block_on(campaign(
        &opened.env,
        shape,
        opts.seed,
        opts.rounds,
        opts.duration,
    ));
    rt.block_on(opened.close());
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    println!(
        "{} round(s), {} events ({} sends, {} pushes, {} pages) in {:.1} s: {:.0} events/s",
        report.rounds,
        report.events,
        report.sends,
        report.pushes,
        report.pages,
        secs,
        report.events as f64 / secs
    );
    if let Some(path) = &opts.history {
        let h = report
            .failed
            .as_ref()
            .map(|f| &f.history)
            .or(report.last.as_ref());
        if let Some(h) = h {
            let text = serde_json::to_string_pretty(h).unwrap_or_default();
            std::fs::write(path, text + "\n").map_err(|e| {
                ProfileError::Usage(format!("cannot write --history {}: {e}", path.display()))
            })?;
            println!("history: {}", path.display());
        }
    }
    if let Some(f) = &report.failed {
        println!();
        println!("round {} (seed {}):", f.history.round, f.history.seed);
        for v in f.violations.iter().take(SHOWN) {
            println!("VIOLATION {}: {}", v.rule, v.what);
            println!("{}", check::slice(&f.history, v));
        }
        if f.violations.len() > SHOWN {
            println!(
                "... and {} more violations (--history FILE keeps the whole round)",
                f.violations.len() - SHOWN
            );
        }
        let found = f
            .violations
            .iter()
            .map(|v| Finding::new(v.rule, &v.what).with_history(opts.history.as_deref()))
            .collect();
        return Ok(Outcome::Found(found));
    }
    if let Some(e) = report.error {
        return Err(ProfileError::Unreachable(format!("race stopped: {e}")));
    }
    println!("no violation");
    Ok(Outcome::Clean)
}
