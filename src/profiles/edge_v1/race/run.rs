//! Runs one round: concurrent senders, removing retrievers and a rotator on shared
//! connections, every request recorded with its invoke and return times; then a drain.
//!
//! Invoke times are taken under the connection's lock, before signing, when the actor reads
//! the credentials it will use; the rotator takes a rotation's return time under the same
//! lock as it publishes the new credentials. So an actor that used old credentials was
//! invoked before the rotation returned, and the recorded invoke times are never later than
//! the real ones, which keeps every check of the checker on the safe side.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use url::Url;

use super::history::{ciphertext, exchange_line, Action, Cred, Op, Outcome, Used};
use crate::client::origin::{judge_uri, UriOriginError};
use crate::client::{Client, Exchange, Request};
use crate::profiles::edge_v1::sign::{self, Key, KeyPool};
use crate::profiles::edge_v1::wire::{self, CreateResponse, RetrieveResponse, UpdateResponse};

/// The shape of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Concurrent senders (spread over the connections).
    pub senders: usize,
    /// Concurrent removing retrievers (spread over the connections).
    pub retrievers: usize,
    /// Requests per sender and per retriever.
    pub ops: usize,
    /// Shared connections.
    pub connections: usize,
    /// Rotations, disables and enables per connection, at random points.
    pub rotations: usize,
    /// Largest `pageSize` a retriever asks for.
    pub page: usize,
}

/// What a round needs from the outside.
#[derive(Clone)]
pub struct Env {
    /// The client (timeouts and body caps inside).
    pub client: Client,
    /// Keys.
    pub pool: Arc<KeyPool>,
    /// The create endpoint.
    pub ce: Url,
}

/// A finished round.
#[derive(Debug, Clone)]
pub struct Round {
    /// Every operation, in invoke order.
    pub history: Vec<Op>,
    /// The prefix of this round's ciphertexts.
    pub nonce: String,
}

/// A connection's current and past credentials.
struct ConnState {
    cid: String,
    rk: Vec<Arc<Key>>,
    sk: Vec<Arc<Key>>,
    ru: Vec<Url>,
    su: Vec<Url>,
    disabled: bool,
}

/// One request about to be sent: who, with what, and the recorded invoke time.
struct Planned {
    actor: String,
    conn: usize,
    used: Used,
    invoke: u64,
    request: Request,
}

struct Shared {
    env: Env,
    start: Instant,
    conns: Vec<Mutex<ConnState>>,
    nonce: String,
    /// Sends completed so far (paces the rotator).
    sent: AtomicUsize,
}

impl Shared {
    fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn state(&self, conn: usize) -> std::sync::MutexGuard<'_, ConnState> {
        // A poisoned lock only means another actor panicked; the data is still consistent
        // (every update happens in one statement block).
        self.conns[conn].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Send a planned request and record it.
    async fn exec(&self, p: Planned, action: Action) -> (Op, Exchange) {
        let ex = self.env.client.execute(p.request).await;
        let ret = self.now();
        let outcome = Outcome::of(&ex);
        let line = exchange_line(&ex, &outcome);
        let op = Op {
            actor: p.actor,
            conn: p.conn,
            invoke: p.invoke,
            ret,
            used: p.used,
            action,
            outcome,
            problem: None,
            exchange: line,
        };
        (op, ex)
    }
}

fn messages_url(u: &Url) -> Url {
    let mut u = u.clone();
    let p = format!("{}/messages", u.path());
    u.set_path(&p);
    u
}

/// A JSON request signed by `key` (and `EM-New-Key-Signature` by `new_key`).
fn signed(method: &str, url: &Url, body: &Value, key: &Key, new_key: Option<&Key>) -> Request {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut req = Request::new(method, url.clone())
        .header("Content-Type", "application/json")
        .body(bytes);
    let input = sign::signing_input(&req.method, &req.request_target(), &req.body);
    req.headers.push((
        "Authorization".into(),
        sign::authorization(&wire::b64(key.sign(&input))).into_bytes(),
    ));
    if let Some(nk) = new_key {
        req.headers.push((
            sign::NEW_KEY_HEADER.into(),
            wire::b64(nk.sign(&input)).into_bytes(),
        ));
    }
    req
}

fn version(list_len: usize) -> u32 {
    list_len.saturating_sub(1) as u32
}

/// Why a round could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// The server does not answer (exit 3).
    #[error("{0}")]
    Unreachable(String),
    /// The server broke a rule while the round was set up (exit 1).
    #[error("{rule}: {message}")]
    Broken {
        /// The rule broken.
        rule: String,
        /// What happened.
        message: String,
    },
    /// A defect of edgecheck (an actor task failed).
    #[error("{0}")]
    Internal(String),
}

impl SetupError {
    fn broken(rule: &str, message: String) -> SetupError {
        SetupError::Broken {
            rule: rule.to_string(),
            message,
        }
    }
}

/// A URI the server returned, resolved and on an origin the run may contact.
fn followable(env: &Env, returned: &str, i: usize, name: &str) -> Result<Url, SetupError> {
    let url = wire::resolve_uri(&env.ce, returned).map_err(|e| {
        SetupError::broken("S-CREATE-201", format!("connection {i}: `{name}`: {e}"))
    })?;
    judge_uri(&env.ce, &url, &env.client.options().origins, false).map_err(|e| {
        let rule = match e {
            UriOriginError::Downgrade { .. } => "S-GEN-HTTPS",
            UriOriginError::Origin(_) => "B-URI-ORIGIN",
        };
        SetupError::broken(rule, format!("connection {i}: `{name}`: {e}; not followed"))
    })?;
    Ok(url)
}

/// Create the round's connections (secured at once: `sender` given at create).
async fn create(env: &Env, n: usize) -> Result<Vec<ConnState>, SetupError> {
    let mut out = Vec::new();
    for i in 0..n {
        let (rk, sk) = (env.pool.take(), env.pool.take());
        let cid = wire::connection_id();
        let body =
            json!({"connectionID": cid, "recipient": rk.spki_base64(), "sender": sk.spki_base64()});
        let ex = env
            .client
            .execute(signed("POST", &env.ce, &body, &rk, None))
            .await;
        let r = match &ex.response {
            Ok(r) if r.status == 201 => r,
            Ok(r) => {
                return Err(SetupError::broken(
                    "S-CREATE-201",
                    format!(
                        "creating connection {i} got {} (expected 201); check the server with `edgecheck run --only create`",
                        r.status
                    ),
                ))
            }
            Err(e) => {
                return Err(SetupError::Unreachable(format!(
                    "creating connection {i}: {e}"
                )))
            }
        };
        let created = CreateResponse::from_body(&r.body).map_err(|e| {
            SetupError::broken("S-CREATE-201", format!("creating connection {i}: {e}"))
        })?;
        let ru = followable(env, &created.recipient_uri, i, "recipientURI")?;
        let su = followable(env, &created.sender_uri, i, "senderURI")?;
        out.push(ConnState {
            cid,
            rk: vec![rk],
            sk: vec![sk],
            ru: vec![ru],
            su: vec![su],
            disabled: false,
        });
    }
    Ok(out)
}

/// Run one round.
pub async fn round(env: &Env, shape: Shape, seed: u64) -> Result<Round, SetupError> {
    let conns = create(env, shape.connections.max(1)).await?;
    let nonce = wire::connection_id();
    let shared = Arc::new(Shared {
        env: env.clone(),
        start: Instant::now(),
        conns: conns.into_iter().map(Mutex::new).collect(),
        nonce: nonce.clone(),
        sent: AtomicUsize::new(0),
    });
    let n = shared.conns.len();
    let mut set = tokio::task::JoinSet::new();
    for s in 0..shape.senders.max(1) {
        let rng = StdRng::seed_from_u64(seed ^ (0x5e4d_0000 + s as u64));
        set.spawn(sender(shared.clone(), s, s % n, shape, rng));
    }
    for r in 0..shape.retrievers.max(1) {
        let rng = StdRng::seed_from_u64(seed ^ (0x7e7e_0000 + r as u64));
        set.spawn(retriever(shared.clone(), r, r % n, shape, rng));
    }
    for c in 0..n {
        let rng = StdRng::seed_from_u64(seed ^ (0x0707_0000 + c as u64));
        set.spawn(rotator(shared.clone(), c, shape, rng));
    }
    let mut history = Vec::new();
    while let Some(joined) = set.join_next().await {
        history.extend(
            joined
                .map_err(|e| SetupError::Internal(format!("an actor of the race failed: {e}")))?,
        );
    }
    let total = shape.senders.max(1) * shape.ops * 3 + shape.rotations * 4;
    for c in 0..n {
        history.extend(drain(&shared, c, shape.page.max(1), total + 5).await);
    }
    cleanup(&shared).await;
    history.sort_by_key(|op| (op.invoke, op.ret));
    Ok(Round { history, nonce })
}

async fn sender(sh: Arc<Shared>, s: usize, conn: usize, shape: Shape, mut rng: StdRng) -> Vec<Op> {
    let mut out = Vec::new();
    let mut seq = 0;
    for _ in 0..shape.ops {
        let batch = rng.random_range(1..=3usize);
        let msgs: Vec<String> = (seq..seq + batch)
            .map(|q| ciphertext(&sh.nonce, conn, s, q))
            .collect();
        seq += batch;
        let (cid, key, url, used, invoke) = {
            let st = sh.state(conn);
            (
                st.cid.clone(),
                st.sk.last().cloned(),
                st.su.last().cloned(),
                Used {
                    key: Some((Cred::Sk, version(st.sk.len()))),
                    uri: (Cred::Su, version(st.su.len())),
                },
                sh.now(),
            )
        };
        let (Some(key), Some(url)) = (key, url) else {
            break;
        };
        let list: Vec<Value> = msgs.iter().map(|m| json!({ "msg": m })).collect();
        let body = json!({"connectionID": cid, "messages": list});
        let planned = Planned {
            actor: format!("sender {s}"),
            conn,
            used,
            invoke,
            request: signed("POST", &messages_url(&url), &body, &key, None),
        };
        let (op, _) = sh.exec(planned, Action::Send { msgs }).await;
        out.push(op);
        sh.sent.fetch_add(1, Ordering::SeqCst);
        if rng.random_bool(0.5) {
            tokio::task::yield_now().await;
        }
    }
    out
}

/// One retrieval with the connection's current credentials.
async fn retrieve(sh: &Shared, actor: &str, conn: usize, page: usize, keep: bool) -> Op {
    let (cid, key, url, used, invoke) = {
        let st = sh.state(conn);
        (
            st.cid.clone(),
            st.rk.last().cloned(),
            st.ru.last().cloned(),
            Used {
                key: Some((Cred::Rk, version(st.rk.len()))),
                uri: (Cred::Ru, version(st.ru.len())),
            },
            sh.now(),
        )
    };
    let (Some(key), Some(url)) = (key, url) else {
        unreachable!("a connection always has a key and a URI")
    };
    let mut body = json!({"connectionID": cid, "pageSize": page});
    if keep {
        body["keepMessages"] = Value::Bool(true);
    }
    let planned = Planned {
        actor: actor.to_string(),
        conn,
        used,
        invoke,
        request: signed("POST", &messages_url(&url), &body, &key, None),
    };
    retrieval(sh, planned, page, keep).await
}

/// Send a planned retrieval and read its answer.
async fn retrieval(sh: &Shared, planned: Planned, page: usize, keep: bool) -> Op {
    let (mut op, ex) = sh
        .exec(
            planned,
            Action::Retrieve {
                page,
                keep,
                got: None,
            },
        )
        .await;
    if let Ok(r) = &ex.response {
        if (200..300).contains(&r.status) {
            match RetrieveResponse::from_body(&r.body) {
                Ok(rr) => {
                    let got: Vec<String> = rr.messages.into_iter().map(|m| m.msg).collect();
                    if got.len() > page {
                        op.problem = Some((
                            "S-RETR-PAGE".into(),
                            format!("{} messages for pageSize {page}", got.len()),
                        ));
                    }
                    op.action = Action::Retrieve {
                        page,
                        keep,
                        got: Some(got),
                    };
                }
                Err(e) => op.problem = Some(("S-RETR-200".into(), format!("malformed body: {e}"))),
            }
        }
    }
    op
}

async fn retriever(
    sh: Arc<Shared>,
    r: usize,
    conn: usize,
    shape: Shape,
    mut rng: StdRng,
) -> Vec<Op> {
    let mut out = Vec::new();
    let actor = format!("retriever {r}");
    for _ in 0..shape.ops {
        let page = rng.random_range(1..=shape.page.max(1));
        let op = retrieve(&sh, &actor, conn, page, false).await;
        let empty = matches!(&op.action, Action::Retrieve { got: Some(g), .. } if g.is_empty());
        out.push(op);
        if empty {
            // Nothing queued yet: let the senders run.
            tokio::time::sleep(Duration::from_millis(1)).await;
        } else if rng.random_bool(0.5) {
            tokio::task::yield_now().await;
        }
    }
    out
}

/// What the rotator does next.
#[derive(Debug, Clone, Copy)]
enum Change {
    Rk,
    SkByRecipient,
    SkBySender,
    Ru,
    SuByRecipient,
    SuBySender,
    RkAndRu,
    Toggle,
}

const CHANGES: [Change; 8] = [
    Change::Rk,
    Change::SkByRecipient,
    Change::SkBySender,
    Change::Ru,
    Change::SuByRecipient,
    Change::SuBySender,
    Change::RkAndRu,
    Change::Toggle,
];

/// Rotations, disables and enables at random points of the senders' progress; after each
/// rotation that returned, requests with the credentials it replaced.
async fn rotator(sh: Arc<Shared>, conn: usize, shape: Shape, mut rng: StdRng) -> Vec<Op> {
    let mut out = Vec::new();
    let total = shape.senders.max(1) * shape.ops;
    let mut marks: Vec<usize> = (0..shape.rotations)
        .map(|_| rng.random_range(0..total.max(1)))
        .collect();
    marks.sort_unstable();
    let deadline = Instant::now() + Duration::from_secs(300);
    for mark in marks {
        while sh.sent.load(Ordering::SeqCst) < mark && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let change = CHANGES[rng.random_range(0..CHANGES.len())];
        let (op, retired) = update(&sh, conn, change).await;
        let answered = !op.outcome.indeterminate();
        out.push(op);
        if !answered {
            // The connection's credentials are unknown from here on: stop changing them.
            return out;
        }
        for (cred, old) in retired {
            out.push(stale(&sh, conn, cred, old).await);
        }
    }
    // Leave the connection enabled.
    let disabled = sh.state(conn).disabled;
    if disabled {
        out.push(update(&sh, conn, Change::Toggle).await.0);
    }
    out
}

/// One update; on success the new credentials are published. Returns the operation and
/// the credentials it retired (with the old version).
async fn update(sh: &Shared, conn: usize, change: Change) -> (Op, Vec<(Cred, u32)>) {
    let by_sender = matches!(change, Change::SkBySender | Change::SuBySender);
    let new_key = match change {
        Change::Rk | Change::RkAndRu | Change::SkByRecipient | Change::SkBySender => {
            Some(sh.env.pool.take())
        }
        _ => None,
    };
    let (planned, retires, disabled) = {
        let st = sh.state(conn);
        let mut body = json!({"connectionID": st.cid});
        let (rkv, skv, ruv, suv) = (
            version(st.rk.len()),
            version(st.sk.len()),
            version(st.ru.len()),
            version(st.su.len()),
        );
        let mut retires = Vec::new();
        let mut disabled = None;
        let mut proof = None;
        match change {
            Change::Rk | Change::RkAndRu => {
                let k = new_key.as_ref().expect("made above");
                body["recipient"] = Value::String(k.spki_base64());
                proof = Some(k.clone());
                retires.push((Cred::Rk, rkv));
                if matches!(change, Change::RkAndRu) {
                    body["newRecipientURI"] = Value::Bool(true);
                    retires.push((Cred::Ru, ruv));
                }
            }
            Change::SkByRecipient | Change::SkBySender => {
                let k = new_key.as_ref().expect("made above");
                body["sender"] = Value::String(k.spki_base64());
                if by_sender {
                    proof = Some(k.clone());
                }
                retires.push((Cred::Sk, skv));
            }
            Change::Ru => {
                body["newRecipientURI"] = Value::Bool(true);
                retires.push((Cred::Ru, ruv));
            }
            Change::SuByRecipient | Change::SuBySender => {
                body["newSenderURI"] = Value::Bool(true);
                retires.push((Cred::Su, suv));
            }
            Change::Toggle => {
                let d = !st.disabled;
                body["disabled"] = Value::Bool(d);
                disabled = Some(d);
            }
        }
        let (url, key, used) = if by_sender {
            (
                st.su.last().cloned(),
                st.sk.last().cloned(),
                Used {
                    key: Some((Cred::Sk, skv)),
                    uri: (Cred::Su, suv),
                },
            )
        } else {
            (
                st.ru.last().cloned(),
                st.rk.last().cloned(),
                Used {
                    key: Some((Cred::Rk, rkv)),
                    uri: (Cred::Ru, ruv),
                },
            )
        };
        let (Some(url), Some(key)) = (url, key) else {
            unreachable!("a connection always has a key and a URI")
        };
        let invoke = sh.now();
        ((url, key, proof, body, used, invoke), retires, disabled)
    };
    let (url, key, proof, body, used, invoke) = planned;
    let planned = Planned {
        actor: "rotator".into(),
        conn,
        used,
        invoke,
        request: signed("PUT", &url, &body, &key, proof.as_deref()),
    };
    let action = Action::Update {
        retires: retires.clone(),
        disabled,
        by_sender,
    };
    let ex = sh.env.client.execute(planned.request).await;
    let mut st = sh.state(conn);
    let ret = sh.now();
    let outcome = Outcome::of(&ex);
    let mut problem = None;
    if outcome.succeeded() {
        let body = ex
            .response
            .as_ref()
            .map(|r| r.body.clone())
            .unwrap_or_default();
        let parsed = UpdateResponse::from_body(&body);
        let rule = if by_sender {
            "S-SUPD-200"
        } else {
            "S-RUPD-200"
        };
        let mut uri = |returned: Option<String>, name: &str| -> Option<Url> {
            match returned.map(|s| wire::resolve_uri(&sh.env.ce, &s)) {
                Some(Ok(u)) => {
                    match judge_uri(&sh.env.ce, &u, &sh.env.client.options().origins, false) {
                        Ok(_) => Some(u),
                        Err(e) => {
                            let rule = match e {
                                UriOriginError::Downgrade { .. } => "S-GEN-HTTPS",
                                UriOriginError::Origin(_) => "B-URI-ORIGIN",
                            };
                            problem =
                                Some((rule.to_string(), format!("`{name}`: {e}; not followed")));
                            None
                        }
                    }
                }
                Some(Err(e)) => {
                    problem = Some((rule.to_string(), format!("`{name}`: {e}")));
                    None
                }
                None => {
                    problem = Some((rule.to_string(), format!("no `{name}` in the answer")));
                    None
                }
            }
        };
        match parsed {
            Err(e) => problem = Some((rule.to_string(), format!("malformed body: {e}"))),
            Ok(u) => {
                for (cred, _) in &retires {
                    match cred {
                        Cred::Rk => st.rk.push(new_key.clone().expect("made above")),
                        Cred::Sk => st.sk.push(new_key.clone().expect("made above")),
                        Cred::Ru => {
                            if let Some(url) = uri(u.recipient_uri.clone(), "recipientURI") {
                                st.ru.push(url);
                            }
                        }
                        Cred::Su => {
                            if let Some(url) = uri(u.sender_uri.clone(), "senderURI") {
                                st.su.push(url);
                            }
                        }
                    }
                }
            }
        }
        if let Some(d) = disabled {
            st.disabled = d;
        }
    }
    drop(st);
    let op = Op {
        actor: planned.actor,
        conn,
        invoke: planned.invoke,
        ret,
        used: planned.used,
        action,
        outcome: outcome.clone(),
        problem,
        exchange: exchange_line(&ex, &outcome),
    };
    let retired = if outcome.succeeded() && op.problem.is_none() {
        retires
    } else {
        Vec::new()
    };
    (op, retired)
}

/// A request with a credential that a returned rotation replaced: it must be refused.
async fn stale(sh: &Shared, conn: usize, cred: Cred, old: u32) -> Op {
    let (planned, action, page) = {
        let st = sh.state(conn);
        let o = old as usize;
        let actor = "prober".to_string();
        let invoke = sh.now();
        match cred {
            Cred::Rk | Cred::Ru => {
                let (key, kv) = if cred == Cred::Rk {
                    (st.rk[o].clone(), old)
                } else {
                    (st.rk[st.rk.len() - 1].clone(), version(st.rk.len()))
                };
                let (url, uv) = if cred == Cred::Ru {
                    (st.ru[o].clone(), old)
                } else {
                    (st.ru[st.ru.len() - 1].clone(), version(st.ru.len()))
                };
                let body = json!({"connectionID": st.cid, "pageSize": 1, "keepMessages": true});
                let planned = Planned {
                    actor,
                    conn,
                    used: Used {
                        key: Some((Cred::Rk, kv)),
                        uri: (Cred::Ru, uv),
                    },
                    invoke,
                    request: signed("POST", &messages_url(&url), &body, &key, None),
                };
                (planned, None, 1)
            }
            Cred::Sk | Cred::Su => {
                let (key, kv) = if cred == Cred::Sk {
                    (st.sk[o].clone(), old)
                } else {
                    (st.sk[st.sk.len() - 1].clone(), version(st.sk.len()))
                };
                let (url, uv) = if cred == Cred::Su {
                    (st.su[o].clone(), old)
                } else {
                    (st.su[st.su.len() - 1].clone(), version(st.su.len()))
                };
                let msg = wire::b64(format!("{}:c{conn}.stale-{}{old}", sh.nonce, cred.name()));
                let body = json!({"connectionID": st.cid, "messages": [{"msg": msg}]});
                let planned = Planned {
                    actor,
                    conn,
                    used: Used {
                        key: Some((Cred::Sk, kv)),
                        uri: (Cred::Su, uv),
                    },
                    invoke,
                    request: signed("POST", &messages_url(&url), &body, &key, None),
                };
                (planned, Some(Action::Send { msgs: vec![msg] }), 0)
            }
        }
    };
    match action {
        Some(a) => sh.exec(planned, a).await.0,
        None => retrieval(sh, planned, page, true).await,
    }
}

/// Removing retrievals until an empty page (or `max` of them).
async fn drain(sh: &Shared, conn: usize, page: usize, max: usize) -> Vec<Op> {
    let mut out = Vec::new();
    for _ in 0..max {
        let op = retrieve(sh, "drain", conn, page, false).await;
        let done = match &op.action {
            Action::Retrieve { got: Some(g), .. } => g.is_empty(),
            _ => true,
        };
        out.push(op);
        if done {
            break;
        }
    }
    out
}

/// Delete the round's connections (best effort, not recorded).
async fn cleanup(sh: &Shared) {
    for conn in 0..sh.conns.len() {
        let (cid, key, url) = {
            let st = sh.state(conn);
            (st.cid.clone(), st.rk.last().cloned(), st.ru.last().cloned())
        };
        if let (Some(key), Some(url)) = (key, url) {
            let body = json!({ "connectionID": cid });
            let _ = sh
                .env
                .client
                .execute(signed("DELETE", &url, &body, &key, None))
                .await;
        }
    }
}
