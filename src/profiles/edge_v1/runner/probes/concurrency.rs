//! B-CONCURRENT: concurrent senders and removing retrievers on one connection, and the checker
//! of the history they record.
//!
//! The model is sequential, so these requests bypass it: the probe signs and sends them itself
//! and records every operation with a logical start and end time. The checker then needs only
//! the history: every acknowledged message retrieved exactly once, each sender's order kept,
//! nothing retrieved that was never sent (or that was refused), timed-out sends at most once.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use url::Url;

use super::{arg_u64, failure, plain};
use crate::client::{Client, Exchange, Request, TransportError};
use crate::engine::event::Verdict;
use crate::profiles::edge_v1::case::{Op, Step};
use crate::profiles::edge_v1::model::Endpoint;
use crate::profiles::edge_v1::runner::{CaseRun, StepFailure};
use crate::profiles::edge_v1::sign::{self, Key};
use crate::profiles::edge_v1::wire::{self, RetrieveResponse};

/// The rule this module checks.
const RULE: &str = "B-CONCURRENT";

/// Identity of a sent message: its sender and its place in that sender's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag {
    /// Index of the sender.
    pub sender: usize,
    /// Position in the sender's sequence, from 0.
    pub seq: usize,
}

/// What the answer to a send says about its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// 200: every message is stored.
    Acked,
    /// A refusal (4xx): nothing may be stored.
    Refused(u16),
    /// No usable answer (timeout, 5xx): each message may be stored at most once.
    Indeterminate,
}

/// One operation of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpKind {
    /// A send of these messages, in array order.
    Send {
        /// The messages with their ciphertexts.
        msgs: Vec<(Tag, String)>,
        /// What the answer said.
        outcome: SendOutcome,
    },
    /// A removing retrieval with this `pageSize`.
    Retrieve {
        /// `pageSize` sent.
        limit: usize,
        /// The ciphertexts returned, in order; `None` when there was no usable answer.
        got: Option<Vec<String>>,
    },
}

/// An operation with who made it and when (logical clock ticks, shared by all actors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistOp {
    /// `sender 2`, `retriever 0`, `drain`.
    pub actor: String,
    /// Tick taken just before the request was sent.
    pub start: u64,
    /// Tick taken just after the answer (or its absence) was known.
    pub end: u64,
    /// What it was.
    pub kind: OpKind,
}

/// The kinds of violation of B-CONCURRENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    /// A message nobody sent, one of a refused send, or one retrieved before it was sent.
    Phantom,
    /// A message retrieved more than once.
    Duplicate,
    /// A sender's later message retrieved before its earlier one.
    Reorder,
    /// An acknowledged message never retrieved.
    Loss,
}

/// One violation, with the smallest slice of the history that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which kind.
    pub kind: ViolationKind,
    /// What happened, in one line.
    pub what: String,
    /// Indices of the operations that show it, in history order.
    pub ops: Vec<usize>,
}

fn violation(kind: ViolationKind, what: String, ops: impl IntoIterator<Item = usize>) -> Violation {
    let ops: BTreeSet<usize> = ops.into_iter().collect();
    Violation {
        kind,
        what,
        ops: ops.into_iter().collect(),
    }
}

/// How a message is shown in reports: `s1#4`, or the start of an unknown ciphertext.
fn label(tags: &HashMap<&str, Tag>, msg: &str) -> String {
    match tags.get(msg) {
        Some(t) => format!("s{}#{}", t.sender, t.seq),
        None => format!("unknown {:?}", msg.chars().take(16).collect::<String>()),
    }
}

/// A sent message as the checker sees it.
#[derive(Debug, Clone, Copy)]
struct SentMsg<'a> {
    msg: &'a str,
    /// Index of its send in the history.
    send: usize,
    /// Position in that send.
    pos: usize,
    tag: Tag,
    outcome: SendOutcome,
}

impl SentMsg<'_> {
    /// Whether `self` was stored before `later` could be: same send and earlier in it, or
    /// acknowledged before the send of `later` began.
    fn precedes(&self, later: &SentMsg<'_>, h: &[HistOp]) -> bool {
        (self.send == later.send && self.pos < later.pos)
            || (self.outcome == SendOutcome::Acked && h[self.send].end < h[later.send].start)
    }
}

/// Every violation of B-CONCURRENT in `h`, phantoms first, then duplicates, reorders, losses.
///
/// A sender's messages are ordered when they share a send (array order) or when the send of
/// the first was acknowledged before the send of the second began. A retrieval comes strictly
/// before another when it ended before the other began; overlapping retrievals may have been
/// served in either order.
pub fn check(h: &[HistOp]) -> Vec<Violation> {
    use ViolationKind::*;
    // Every sent message in send order (the first send wins if a ciphertext repeats).
    let mut order: Vec<SentMsg<'_>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut tags: HashMap<&str, Tag> = HashMap::new();
    for (i, op) in h.iter().enumerate() {
        if let OpKind::Send { msgs, outcome } = &op.kind {
            for (pos, (tag, m)) in msgs.iter().enumerate() {
                if !index.contains_key(m.as_str()) {
                    index.insert(m, order.len());
                    tags.insert(m, *tag);
                    order.push(SentMsg {
                        msg: m,
                        send: i,
                        pos,
                        tag: *tag,
                        outcome: *outcome,
                    });
                }
            }
        }
    }
    let mut out = Vec::new();
    // Where each sent message was retrieved: (retrieval op, position in it).
    let mut seen: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
    for (i, op) in h.iter().enumerate() {
        let OpKind::Retrieve { got: Some(got), .. } = &op.kind else {
            continue;
        };
        for (pos, m) in got.iter().enumerate() {
            let m = m.as_str();
            let Some(sent) = index.get(m).map(|&k| order[k]) else {
                out.push(violation(
                    Phantom,
                    format!("{} was retrieved but never sent", label(&tags, m)),
                    [i],
                ));
                continue;
            };
            if let SendOutcome::Refused(code) = sent.outcome {
                out.push(violation(
                    Phantom,
                    format!(
                        "{} was retrieved although its send was refused with {code}",
                        label(&tags, m)
                    ),
                    [sent.send, i],
                ));
                continue;
            }
            if op.end < h[sent.send].start {
                out.push(violation(
                    Phantom,
                    format!("{} was retrieved before it was sent", label(&tags, m)),
                    [sent.send, i],
                ));
            }
            seen.entry(m).or_default().push((i, pos));
        }
    }
    for sent in &order {
        if let Some(places) = seen.get(sent.msg).filter(|p| p.len() > 1) {
            let list: Vec<String> = places.iter().map(|(r, _)| format!("op {r}")).collect();
            out.push(violation(
                Duplicate,
                format!(
                    "{} was retrieved {} times ({})",
                    label(&tags, sent.msg),
                    places.len(),
                    list.join(", ")
                ),
                [sent.send, places[0].0, places[1].0],
            ));
        }
    }
    // Reorders: of two ordered messages of one sender, the later must not come out first.
    let first_seen = |m: &str| seen.get(m).and_then(|v| v.first()).copied();
    let mut senders: Vec<usize> = order.iter().map(|m| m.tag.sender).collect();
    senders.sort_unstable();
    senders.dedup();
    'senders: for sender in senders {
        let list: Vec<&SentMsg<'_>> = order.iter().filter(|m| m.tag.sender == sender).collect();
        for (k, a) in list.iter().enumerate() {
            let Some((ra, qa)) = first_seen(a.msg) else {
                continue;
            };
            for b in &list[k + 1..] {
                let Some((rb, qb)) = first_seen(b.msg).filter(|_| a.precedes(b, h)) else {
                    continue;
                };
                if (ra == rb && qb < qa) || h[rb].end < h[ra].start {
                    out.push(violation(
                        Reorder,
                        format!(
                            "{} was sent before {} but retrieved after it",
                            label(&tags, a.msg),
                            label(&tags, b.msg)
                        ),
                        [a.send, b.send, ra, rb],
                    ));
                    continue 'senders;
                }
            }
        }
    }
    // Losses: acknowledged messages never retrieved, beyond what unanswered retrievals may
    // have removed (at most their pageSize each).
    let allowance: usize = h
        .iter()
        .map(|op| match &op.kind {
            OpKind::Retrieve { limit, got: None } => *limit,
            _ => 0,
        })
        .sum();
    let lost: Vec<&SentMsg<'_>> = order
        .iter()
        .filter(|m| m.outcome == SendOutcome::Acked && !seen.contains_key(m.msg))
        .collect();
    if let Some(first) = lost.first().filter(|_| lost.len() > allowance) {
        let last_empty = h.iter().rposition(
            |op| matches!(&op.kind, OpKind::Retrieve { got: Some(g), .. } if g.is_empty()),
        );
        let more = if lost.len() > 1 {
            format!(" ({} acknowledged messages in all)", lost.len())
        } else {
            String::new()
        };
        let excuse = if allowance > 0 {
            format!("; unanswered retrievals excuse at most {allowance}")
        } else {
            String::new()
        };
        out.push(violation(
            Loss,
            format!(
                "{} was acknowledged but never retrieved{more}{excuse}",
                label(&tags, first.msg)
            ),
            std::iter::once(first.send).chain(last_empty),
        ));
    }
    out
}

/// The operations `ops` of a history, one line each.
pub fn render(h: &[HistOp], ops: &[usize]) -> String {
    let mut tags: HashMap<&str, Tag> = HashMap::new();
    for op in h {
        if let OpKind::Send { msgs, .. } = &op.kind {
            for (t, m) in msgs {
                tags.entry(m).or_insert(*t);
            }
        }
    }
    let lines: Vec<String> = ops
        .iter()
        .filter_map(|&i| h.get(i).map(|op| (i, op)))
        .map(|(i, op)| {
            let what = match &op.kind {
                OpKind::Send { msgs, outcome } => {
                    let m: Vec<String> = msgs.iter().map(|(_, m)| label(&tags, m)).collect();
                    let answer = match outcome {
                        SendOutcome::Acked => "200".to_string(),
                        SendOutcome::Refused(c) => c.to_string(),
                        SendOutcome::Indeterminate => "no answer".to_string(),
                    };
                    format!("send [{}] -> {answer}", m.join(", "))
                }
                OpKind::Retrieve { limit, got } => match got {
                    Some(g) => {
                        let m: Vec<String> = g.iter().map(|m| label(&tags, m)).collect();
                        format!("retrieve pageSize {limit} -> [{}]", m.join(", "))
                    }
                    None => format!("retrieve pageSize {limit} -> no answer"),
                },
            };
            format!("op {i} ({}, t{}..t{}): {what}", op.actor, op.start, op.end)
        })
        .collect();
    lines.join("; ")
}

/// Probe arguments, each bounded so that a case file cannot ask for an unbounded run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    senders: usize,
    per_sender: usize,
    batch: usize,
    retrievers: usize,
    page: usize,
    budget: usize,
    secured: bool,
}

impl Plan {
    fn from_step(step: &Step) -> Plan {
        let senders = arg_u64(step, "senders", 4).clamp(1, 32) as usize;
        let per_sender = arg_u64(step, "messages", 24).clamp(1, 1000) as usize;
        let batch = arg_u64(step, "batch", 3).clamp(1, 16) as usize;
        let retrievers = arg_u64(step, "retrievers", 2).clamp(1, 16) as usize;
        let page = arg_u64(step, "pageSize", 4).clamp(1, 1000) as usize;
        let total = senders * per_sender;
        let default_budget = total.div_ceil(page).div_ceil(retrievers) + 2;
        let budget = arg_u64(step, "retrievals", default_budget as u64).clamp(1, 10_000) as usize;
        let secured = step
            .args
            .as_ref()
            .and_then(|a| a.get("secured"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Plan {
            senders,
            per_sender,
            batch,
            retrievers,
            page,
            budget,
            secured,
        }
    }

    /// Batch sizes of one sender: 1, 2, ..., batch, 1, 2, ... until its messages are used up.
    fn batches(&self) -> Vec<usize> {
        let mut left = self.per_sender;
        let mut out = Vec::new();
        let mut next = 1;
        while left > 0 {
            let n = next.min(left);
            out.push(n);
            left -= n;
            next = next % self.batch + 1;
        }
        out
    }
}

/// What every task shares.
#[derive(Clone)]
struct Shared {
    client: Client,
    clock: Arc<AtomicU64>,
    cid: String,
}

impl Shared {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    /// Send `req` and record it with its ticks.
    async fn timed(&self, req: Request) -> (u64, u64, Exchange) {
        let start = self.tick();
        let ex = self.client.execute(req).await;
        let end = self.tick();
        (start, end, ex)
    }
}

/// One recorded operation with its exchange, and the rule its answer broke outright, if any.
struct Record {
    op: HistOp,
    ex: Exchange,
    problem: Option<(&'static str, String, String)>,
}

fn messages_url(u: &Url) -> Url {
    let mut u = u.clone();
    let p = format!("{}/messages", u.path());
    u.set_path(&p);
    u
}

fn json_request(method: &str, url: &Url, body: &Value, key: Option<&Key>) -> Request {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut req = Request::new(method, url.clone())
        .header("Content-Type", "application/json")
        .body(bytes);
    if let Some(k) = key {
        let input = sign::signing_input(&req.method, &req.request_target(), &req.body);
        let token = wire::b64(k.sign(&input));
        req.headers.push((
            "Authorization".into(),
            sign::authorization(&token).into_bytes(),
        ));
    }
    req
}

/// A ciphertext that names its sender and place (opaque to the server, readable in reports).
fn ciphertext(nonce: &str, t: Tag) -> String {
    wire::b64(format!("{nonce}:s{}#{}", t.sender, t.seq))
}

async fn sender_task(
    sh: Shared,
    url: Url,
    key: Option<Arc<Key>>,
    sender: usize,
    batches: Vec<usize>,
    nonce: String,
    left: Arc<AtomicUsize>,
) -> Vec<Record> {
    let mut out = Vec::new();
    let mut seq = 0;
    for size in batches {
        let msgs: Vec<(Tag, String)> = (seq..seq + size)
            .map(|s| {
                let t = Tag { sender, seq: s };
                (t, ciphertext(&nonce, t))
            })
            .collect();
        seq += size;
        let list: Vec<Value> = msgs.iter().map(|(_, m)| json!({ "msg": m })).collect();
        let body = json!({ "connectionID": sh.cid, "messages": list });
        let req = json_request("POST", &url, &body, key.as_deref());
        let (start, end, ex) = sh.timed(req).await;
        let (outcome, problem) = match &ex.response {
            Ok(r) if r.status == 200 => (SendOutcome::Acked, None),
            // B-QUOTA: a server may cap the queue; nothing of that send is stored.
            Ok(r) if r.status == 429 => (SendOutcome::Refused(429), None),
            Ok(r) if r.status >= 500 => (
                SendOutcome::Indeterminate,
                Some(("B-NO-5XX", "no 5xx".to_string(), r.status.to_string())),
            ),
            Ok(r) => (
                SendOutcome::Refused(r.status),
                Some((
                    "S-SEND-200",
                    "200 for a correct send".to_string(),
                    r.status.to_string(),
                )),
            ),
            Err(_) => (SendOutcome::Indeterminate, None),
        };
        out.push(Record {
            op: HistOp {
                actor: format!("sender {sender}"),
                start,
                end,
                kind: OpKind::Send { msgs, outcome },
            },
            ex,
            problem,
        });
    }
    left.fetch_sub(1, Ordering::SeqCst);
    out
}

/// One removing retrieval, recorded.
async fn retrieve_once(sh: &Shared, url: &Url, key: &Key, page: usize, actor: &str) -> Record {
    let body = json!({ "connectionID": sh.cid, "pageSize": page });
    let (start, end, ex) = sh.timed(json_request("POST", url, &body, Some(key))).await;
    let (got, problem) = match &ex.response {
        Ok(r) if r.status == 200 => match RetrieveResponse::from_body(&r.body) {
            Ok(rr) if rr.messages.len() > page => (
                Some(rr.messages.into_iter().map(|m| m.msg).collect()),
                Some((
                    "S-RETR-PAGE",
                    format!("at most {page} messages"),
                    "more".to_string(),
                )),
            ),
            Ok(rr) => (Some(rr.messages.into_iter().map(|m| m.msg).collect()), None),
            Err(e) => (
                None,
                Some(("S-RETR-200", "a retrieval body".to_string(), e.to_string())),
            ),
        },
        Ok(r) if r.status >= 500 => (
            None,
            Some(("B-NO-5XX", "no 5xx".to_string(), r.status.to_string())),
        ),
        Ok(r) => (
            None,
            Some((
                "S-RETR-200",
                "200 for a correct retrieval".to_string(),
                r.status.to_string(),
            )),
        ),
        Err(_) => (None, None),
    };
    Record {
        op: HistOp {
            actor: actor.to_string(),
            start,
            end,
            kind: OpKind::Retrieve { limit: page, got },
        },
        ex,
        problem,
    }
}

async fn retriever_task(
    sh: Shared,
    url: Url,
    key: Arc<Key>,
    idx: usize,
    plan: Plan,
    left: Arc<AtomicUsize>,
) -> Vec<Record> {
    let actor = format!("retriever {idx}");
    let mut out = Vec::new();
    for _ in 0..plan.budget {
        let senders_done = left.load(Ordering::SeqCst) == 0;
        let rec = retrieve_once(&sh, &url, &key, plan.page, &actor).await;
        let empty = matches!(&rec.op.kind, OpKind::Retrieve { got: Some(g), .. } if g.is_empty());
        out.push(rec);
        if empty && senders_done {
            break;
        }
        tokio::task::yield_now().await;
    }
    out
}

/// B-CONCURRENT: concurrent senders and removing retrievers on one connection.
///
/// Arguments: `senders` (4), `messages` per sender (24), `batch` (largest batch, 3),
/// `retrievers` (2), `pageSize` (4), `retrievals` per retriever (enough to drain), `secured`
/// (false: the connection stays open and sends are unsigned; true: sends are signed by SK).
pub(super) async fn concurrent(
    run: &mut CaseRun<'_>,
    n: usize,
    step: &Step,
) -> Result<(), StepFailure> {
    let plan = Plan::from_step(step);
    let conn = "concurrent";
    run.protocol_step(n, &plain(Op::Create, conn), Endpoint::Create)
        .await?;
    let sk = if plan.secured {
        let mut s = plain(Op::Update, conn);
        s.sender = Some(format!("{conn}.sk"));
        run.protocol_step(n, &s, Endpoint::Update).await?;
        Some(run.key(&format!("{conn}.sk")))
    } else {
        None
    };
    let rk = run.key(&format!("{conn}.rk"));
    let live = run.conns[conn].clone();
    let (Some(ru), Some(su)) = (live.ru.last(), live.su.last()) else {
        return Err(failure(
            Verdict::Error,
            n,
            "",
            "the new connection's URIs",
            "none recorded",
        ));
    };
    let (ru_msgs, su_msgs) = (messages_url(ru), messages_url(su));
    let sh = Shared {
        client: run.ctx.client.clone(),
        clock: Arc::new(AtomicU64::new(0)),
        cid: live.cid.clone(),
    };
    let nonce = wire::connection_id();
    let left = Arc::new(AtomicUsize::new(plan.senders));
    let mut set = tokio::task::JoinSet::new();
    for r in 0..plan.retrievers {
        set.spawn(retriever_task(
            sh.clone(),
            ru_msgs.clone(),
            rk.clone(),
            r,
            plan,
            left.clone(),
        ));
    }
    for s in 0..plan.senders {
        set.spawn(sender_task(
            sh.clone(),
            su_msgs.clone(),
            sk.clone(),
            s,
            plan.batches(),
            nonce.clone(),
            left.clone(),
        ));
    }
    let mut records = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(r) => records.extend(r),
            Err(e) => {
                return Err(failure(
                    Verdict::Error,
                    n,
                    "",
                    "every concurrent task to finish",
                    format!("a task failed: {e}"),
                ));
            }
        }
    }
    // Drain what is left, one retrieval at a time, until an empty page.
    let total = plan.senders * plan.per_sender;
    for _ in 0..total + 3 {
        let rec = retrieve_once(&sh, &ru_msgs, &rk, plan.page, "drain").await;
        let empty = matches!(&rec.op.kind, OpKind::Retrieve { got: Some(g), .. } if g.is_empty());
        records.push(rec);
        if empty {
            break;
        }
    }
    run.signatures += records
        .iter()
        .filter(|r| matches!(r.op.kind, OpKind::Retrieve { .. }) || plan.secured)
        .count();
    records.sort_by_key(|r| r.op.start);
    judge(run, n, records)
}

/// Turn a finished run into a verdict, keeping the exchanges that show it last.
fn judge(run: &mut CaseRun<'_>, n: usize, records: Vec<Record>) -> Result<(), StepFailure> {
    let history: Vec<HistOp> = records.iter().map(|r| r.op.clone()).collect();
    let unanswered: Vec<usize> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.ex.response.is_err())
        .map(|(i, _)| i)
        .collect();
    let mut result = Ok(());
    let mut shown: Vec<usize> = Vec::new();
    if let Some((i, (rule, expected, actual))) = records
        .iter()
        .enumerate()
        .find_map(|(i, r)| r.problem.clone().map(|p| (i, p)))
    {
        let what = render(&history, &[i]);
        result = Err(failure(
            Verdict::Fail,
            n,
            rule,
            expected,
            format!("{actual} ({what})"),
        ));
        shown.push(i);
    } else {
        let violations = check(&history);
        if let Some(v) = violations.first() {
            let more = match violations.len() {
                1 => String::new(),
                k => format!(" ({} more violations)", k - 1),
            };
            result = Err(failure(
                Verdict::Fail,
                n,
                RULE,
                "every acknowledged message retrieved exactly once, in each sender's order, and nothing else",
                format!("{}{more}; history: {}", v.what, render(&history, &v.ops)),
            ));
            shown = v.ops.clone();
        } else if let Some(&first) = unanswered.first() {
            let e = match &records[first].ex.response {
                Err(e) => e.clone(),
                Ok(_) => TransportError::Other(String::new()),
            };
            let rule = if matches!(e, TransportError::Timeout) {
                "B-NO-5XX"
            } else {
                ""
            };
            result = Err(failure(
                Verdict::Error,
                n,
                rule,
                "an answer to every request",
                format!(
                    "{} of {} requests got none (first: {e}); the history held for the rest",
                    unanswered.len(),
                    records.len()
                ),
            ));
            shown = unanswered.clone();
        }
    }
    // Keep the exchanges in time order, those that show the verdict last (reports show the end).
    let mut tail = Vec::new();
    for (i, r) in records.into_iter().enumerate() {
        if shown.contains(&i) {
            tail.push(r.ex);
        } else {
            run.exchanges.push(r.ex);
        }
    }
    run.exchanges.extend(tail);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: usize, q: usize) -> (Tag, String) {
        let t = Tag { sender: s, seq: q };
        (t, ciphertext("n", t))
    }

    fn send(
        actor: usize,
        start: u64,
        end: u64,
        msgs: &[(usize, usize)],
        outcome: SendOutcome,
    ) -> HistOp {
        HistOp {
            actor: format!("sender {actor}"),
            start,
            end,
            kind: OpKind::Send {
                msgs: msgs.iter().map(|&(s, q)| msg(s, q)).collect(),
                outcome,
            },
        }
    }

    fn got(start: u64, end: u64, msgs: &[(usize, usize)]) -> HistOp {
        HistOp {
            actor: "retriever 0".into(),
            start,
            end,
            kind: OpKind::Retrieve {
                limit: 4,
                got: Some(msgs.iter().map(|&(s, q)| msg(s, q).1).collect()),
            },
        }
    }

    fn lost(start: u64, end: u64) -> HistOp {
        HistOp {
            actor: "retriever 1".into(),
            start,
            end,
            kind: OpKind::Retrieve {
                limit: 4,
                got: None,
            },
        }
    }

    use SendOutcome::*;

    /// Two senders, batches, overlapping retrievals: a correct history.
    fn good() -> Vec<HistOp> {
        vec![
            send(0, 0, 3, &[(0, 0), (0, 1)], Acked),
            send(1, 1, 4, &[(1, 0)], Acked),
            got(2, 6, &[(0, 0), (1, 0)]),
            send(0, 5, 8, &[(0, 2)], Acked),
            got(7, 10, &[(0, 1)]),
            got(9, 12, &[(0, 2)]),
            got(13, 14, &[]),
        ]
    }

    fn kinds(h: &[HistOp]) -> Vec<ViolationKind> {
        check(h).into_iter().map(|v| v.kind).collect()
    }

    #[test]
    fn a_correct_history_passes() {
        assert_eq!(check(&good()), vec![]);
    }

    #[test]
    fn overlapping_retrievals_may_be_served_in_either_order() {
        let h = vec![
            send(0, 0, 1, &[(0, 0)], Acked),
            send(0, 2, 3, &[(0, 1)], Acked),
            got(4, 9, &[(0, 1)]),
            got(5, 8, &[(0, 0)]),
        ];
        assert_eq!(check(&h), vec![]);
    }

    #[test]
    fn a_duplicate_is_found_with_its_send_and_both_retrievals() {
        let mut h = good();
        h[5] = got(9, 12, &[(0, 2), (0, 1)]);
        let v = check(&h);
        assert_eq!(kinds(&h), vec![ViolationKind::Duplicate], "{v:?}");
        assert_eq!(v[0].ops, vec![0, 4, 5]);
        assert!(
            v[0].what.contains("s0#1 was retrieved 2 times"),
            "{}",
            v[0].what
        );
        let shown = render(&h, &v[0].ops);
        assert!(
            shown.contains("op 5 (retriever 0, t9..t12): retrieve pageSize 4 -> [s0#2, s0#1]"),
            "{shown}"
        );
    }

    #[test]
    fn a_loss_is_found_and_shown_with_the_empty_final_retrieval() {
        let mut h = good();
        h[4] = got(7, 10, &[]);
        let v = check(&h);
        assert_eq!(kinds(&h), vec![ViolationKind::Loss], "{v:?}");
        assert!(
            v[0].what
                .contains("s0#1 was acknowledged but never retrieved"),
            "{}",
            v[0].what
        );
        assert_eq!(v[0].ops, vec![0, 6]);
    }

    #[test]
    fn an_unanswered_retrieval_excuses_at_most_its_page() {
        let mut h = good();
        h[4] = lost(7, 10);
        assert_eq!(check(&h), vec![]);
        // Five acknowledged messages cannot hide behind one unanswered retrieval of four.
        let mut h = vec![
            send(0, 0, 1, &[(0, 0), (0, 1), (0, 2), (0, 3), (0, 4)], Acked),
            lost(2, 3),
        ];
        h.push(got(4, 5, &[]));
        assert_eq!(kinds(&h), vec![ViolationKind::Loss]);
    }

    #[test]
    fn a_reorder_within_one_send_is_found() {
        let mut h = good();
        h[2] = got(2, 6, &[(1, 0)]);
        h[4] = got(7, 10, &[(0, 1), (0, 0)]);
        let v = check(&h);
        assert_eq!(kinds(&h), vec![ViolationKind::Reorder], "{v:?}");
        assert!(
            v[0].what.contains("s0#0 was sent before s0#1"),
            "{}",
            v[0].what
        );
        assert_eq!(v[0].ops, vec![0, 4]);
    }

    #[test]
    fn a_reorder_across_sends_and_retrievals_is_found() {
        let h = vec![
            send(0, 0, 1, &[(0, 0)], Acked),
            send(0, 2, 3, &[(0, 1)], Acked),
            got(4, 5, &[(0, 1)]),
            got(6, 7, &[(0, 0)]),
        ];
        let v = check(&h);
        assert_eq!(kinds(&h), vec![ViolationKind::Reorder], "{v:?}");
        assert_eq!(v[0].ops, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_timed_out_send_orders_nothing_and_may_be_missing() {
        // The first send had no answer: it may land after the second, or not at all.
        let h = vec![
            send(0, 0, 1, &[(0, 0)], Indeterminate),
            send(0, 2, 3, &[(0, 1)], Acked),
            got(4, 5, &[(0, 1)]),
            got(6, 7, &[(0, 0)]),
            got(8, 9, &[]),
        ];
        assert_eq!(check(&h), vec![]);
        let h = vec![send(0, 0, 1, &[(0, 0)], Indeterminate), got(2, 3, &[])];
        assert_eq!(check(&h), vec![]);
        // ... but at most once.
        let h = vec![
            send(0, 0, 1, &[(0, 0)], Indeterminate),
            got(2, 3, &[(0, 0)]),
            got(4, 5, &[(0, 0)]),
        ];
        assert_eq!(kinds(&h), vec![ViolationKind::Duplicate]);
    }

    #[test]
    fn phantoms_are_found_unsent_refused_or_early() {
        let mut h = good();
        let OpKind::Retrieve { got: Some(g), .. } = &mut h[6].kind else {
            unreachable!()
        };
        g.push(wire::b64("never sent"));
        let v = check(&h);
        assert_eq!(kinds(&h), vec![ViolationKind::Phantom], "{v:?}");
        assert!(v[0].what.contains("never sent"), "{}", v[0].what);
        assert_eq!(v[0].ops, vec![6]);

        let h = vec![send(0, 0, 1, &[(0, 0)], Refused(429)), got(2, 3, &[(0, 0)])];
        assert_eq!(kinds(&h), vec![ViolationKind::Phantom]);
        assert!(check(&h)[0].what.contains("refused with 429"));

        let h = vec![got(0, 1, &[(0, 0)]), send(0, 2, 3, &[(0, 0)], Acked)];
        assert_eq!(kinds(&h), vec![ViolationKind::Phantom]);
        assert!(check(&h)[0].what.contains("before it was sent"));
    }

    #[test]
    fn batches_cycle_and_use_every_message() {
        let p = Plan {
            senders: 1,
            per_sender: 8,
            batch: 3,
            retrievers: 1,
            page: 4,
            budget: 1,
            secured: false,
        };
        assert_eq!(p.batches(), vec![1, 2, 3, 1, 1]);
        let p = Plan {
            batch: 1,
            per_sender: 3,
            ..p
        };
        assert_eq!(p.batches(), vec![1, 1, 1]);
    }
}
