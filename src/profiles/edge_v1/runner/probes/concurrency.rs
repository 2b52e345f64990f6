//! B-CONCURRENT: concurrent senders and removing retrievers on one connection.
//!
//! The model is sequential, so these requests bypass it: the probe signs and sends them itself
//! and records every operation in an edge-v1 history ([`race::history`]), with invoke and return
//! times from one strictly increasing clock. The history is then judged by the checker that
//! `edgecheck race` uses ([`race::check`], over the engine's queue checker): every
//! acknowledged message retrieved exactly once, each sender's order kept, nothing retrieved
//! that was never sent (or that was refused), sends without an answer at most once.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use url::Url;

use super::common::{arg_u64, plain};
use crate::client::{Client, Exchange, Request, TransportError};
use crate::engine::event::Verdict;
use crate::profiles::edge_v1::case::Step;
use crate::profiles::edge_v1::model::Endpoint;
use crate::profiles::edge_v1::race::{
    self,
    history::{ciphertext, exchange_line, render_op, Action, Cred, Op, Outcome, Used},
};
use crate::profiles::edge_v1::runner::state::{failure, CaseRun, StepFailure};
use crate::profiles::edge_v1::sign::{self, Key};
use crate::profiles::edge_v1::wire::{self, RetrieveResponse};

/// The connection's index in the history (the probe uses one).
const CONN: usize = 0;

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

/// A clock in microseconds whose every reading is later than the one before, so that of two
/// readings the earlier-taken one is always the smaller.
struct Clock {
    start: Instant,
    last: AtomicU64,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        let t = self.start.elapsed().as_micros() as u64;
        let next = |prev: u64| t.max(prev + 1);
        let prev = self
            .last
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |p| Some(next(p)))
            .unwrap_or_else(|p| p);
        next(prev)
    }
}

/// What every task shares.
#[derive(Clone)]
struct Shared {
    client: Client,
    clock: Arc<Clock>,
    cid: String,
}

impl Shared {
    /// Send `req` and record the operation it is, with its times and outcome.
    async fn timed(&self, req: Request, actor: String, used: Used, action: Action) -> Record {
        let invoke = self.clock.now();
        let ex = self.client.execute(req).await;
        let ret = self.clock.now();
        let outcome = Outcome::of(&ex);
        let mut ex = ex;
        if !matches!(action, Action::Retrieve { .. }) {
            // Only retrievals are read further (`retrieve_once`, which trims them after).
            ex.trim_bodies(crate::client::RETAINED_BODY);
        }
        let op = Op {
            actor,
            conn: CONN,
            invoke,
            ret,
            used,
            action,
            exchange: exchange_line(&ex, &outcome),
            outcome,
            problem: None,
        };
        Record {
            op,
            ex,
            problem: None,
        }
    }
}

/// One recorded operation with its exchange, and the rule its answer broke outright, if any
/// (rule, expected, actual).
struct Record {
    op: Op,
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

async fn sender_task(
    sh: Shared,
    url: Url,
    key: Option<Arc<Key>>,
    sender: usize,
    batches: Vec<usize>,
    nonce: String,
    left: Arc<AtomicUsize>,
) -> Vec<Record> {
    let used = Used {
        key: key.as_ref().map(|_| (Cred::Sk, 0)),
        uri: (Cred::Su, 0),
    };
    let mut out = Vec::new();
    let mut seq = 0;
    for size in batches {
        let msgs: Vec<String> = (seq..seq + size)
            .map(|q| ciphertext(&nonce, CONN, sender, q))
            .collect();
        seq += size;
        let list: Vec<Value> = msgs.iter().map(|m| json!({ "msg": m })).collect();
        let body = json!({ "connectionID": sh.cid, "messages": list });
        let req = json_request("POST", &url, &body, key.as_deref());
        let mut rec = sh
            .timed(req, format!("sender {sender}"), used, Action::Send { msgs })
            .await;
        rec.problem = match &rec.ex.response {
            // B-QUOTA: a server may cap the queue; nothing of that send is stored.
            Ok(r) if r.status == 200 || r.status == 429 => None,
            Ok(r) if r.status >= 500 => {
                Some(("B-NO-5XX", "no 5xx".to_string(), r.status.to_string()))
            }
            Ok(r) => Some((
                "S-SEND-200",
                "200 for a correct send".to_string(),
                r.status.to_string(),
            )),
            Err(_) => None,
        };
        out.push(rec);
    }
    left.fetch_sub(1, Ordering::SeqCst);
    out
}

/// One removing retrieval, recorded.
async fn retrieve_once(sh: &Shared, url: &Url, key: &Key, page: usize, actor: &str) -> Record {
    let body = json!({ "connectionID": sh.cid, "pageSize": page });
    let used = Used {
        key: Some((Cred::Rk, 0)),
        uri: (Cred::Ru, 0),
    };
    let unread = Action::Retrieve {
        page,
        keep: false,
        got: None,
    };
    let req = json_request("POST", url, &body, Some(key));
    let mut rec = sh.timed(req, actor.to_string(), used, unread).await;
    let (got, problem) = match &rec.ex.response {
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
    rec.op.action = Action::Retrieve {
        page,
        keep: false,
        got,
    };
    rec.problem = problem;
    rec.ex.trim_bodies(crate::client::RETAINED_BODY);
    rec
}

/// Whether a retrieval came back with an empty page.
fn empty(op: &Op) -> bool {
    matches!(&op.action, Action::Retrieve { got: Some(g), .. } if g.is_empty())
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
        let empty = empty(&rec.op);
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
    run.protocol_step(n, &plain(Endpoint::Create, conn), Endpoint::Create)
        .await?;
    let sk = if plan.secured {
        let mut s = plain(Endpoint::Update, conn);
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
        clock: Arc::new(Clock::new()),
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
        let empty = empty(&rec.op);
        records.push(rec);
        if empty {
            break;
        }
    }
    run.signatures += records
        .iter()
        .filter(|r| matches!(r.op.action, Action::Retrieve { .. }) || plan.secured)
        .count();
    records.sort_by_key(|r| r.op.invoke);
    judge(run, n, records, &nonce)
}

/// Turn a finished run into a verdict, keeping the exchanges that show it last.
fn judge(
    run: &mut CaseRun<'_>,
    n: usize,
    records: Vec<Record>,
    nonce: &str,
) -> Result<(), StepFailure> {
    let (result, shown) = verdict(n, &records, nonce);
    // Keep the exchanges in time order, those that show the verdict last (reports show the end).
    let mut tail = Vec::new();
    for (i, r) in records.into_iter().enumerate() {
        if shown.contains(&i) {
            tail.push(r.ex);
        } else {
            run.record(r.ex);
        }
    }
    for ex in tail {
        run.record(ex);
    }
    result
}

/// The verdict on a run's records (in invoke order), and the records that show it: the first
/// answer that broke a rule outright, else the first violation the history checker finds,
/// else the requests that got no answer.
fn verdict(n: usize, records: &[Record], nonce: &str) -> (Result<(), StepFailure>, Vec<usize>) {
    let history: Vec<Op> = records.iter().map(|r| r.op.clone()).collect();
    let show = |ops: &[usize]| -> String {
        ops.iter()
            .map(|&i| render_op(&history, i, nonce))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if let Some((i, (rule, expected, actual))) = records
        .iter()
        .enumerate()
        .find_map(|(i, r)| r.problem.clone().map(|p| (i, p)))
    {
        let what = show(&[i]);
        let f = failure(
            Verdict::Fail,
            n,
            rule,
            expected,
            format!("{actual} ({what})"),
        );
        return (Err(f), vec![i]);
    }
    let violations = race::check(&history, nonce);
    if let Some(v) = violations.first() {
        let more = match violations.len() {
            1 => String::new(),
            k => format!(" ({} more violations)", k - 1),
        };
        let f = failure(
            Verdict::Fail,
            n,
            &v.rule,
            "every acknowledged message retrieved exactly once, in each sender's order, and nothing else",
            format!("{}{more}; history: {}", v.what, show(&v.ops)),
        );
        return (Err(f), v.ops.clone());
    }
    let unanswered: Vec<usize> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.ex.response.is_err())
        .map(|(i, _)| i)
        .collect();
    let Some(&first) = unanswered.first() else {
        return (Ok(()), Vec::new());
    };
    let e = match &records[first].ex.response {
        Err(e) => e.clone(),
        Ok(_) => TransportError::Other(String::new()),
    };
    let rule = if matches!(e, TransportError::Timeout) {
        "B-NO-5XX"
    } else {
        ""
    };
    let f = failure(
        Verdict::Error,
        n,
        rule,
        "an answer to every request",
        format!(
            "{} of {} requests got none (first: {e}); the history held for the rest",
            unanswered.len(),
            records.len()
        ),
    );
    (Err(f), unanswered)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_clock_never_gives_the_same_reading_twice() {
        let clock = Arc::new(Clock::new());
        let readings: Vec<u64> = std::thread::scope(|s| {
            let hands: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).map(|_| clock.now()).collect::<Vec<_>>()))
                .collect();
            hands.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = readings.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), readings.len());
        assert!(sorted[0] >= 1);
    }

    fn record(op: Op, problem: Option<(&'static str, String, String)>) -> Record {
        let url: Url = "http://127.0.0.1:1/c/x/messages".parse().unwrap();
        Record {
            op,
            ex: Exchange {
                request: Request::new("POST", url),
                response: Ok(crate::client::Response {
                    status: 200,
                    version: "HTTP/1.1".into(),
                    headers: Vec::new(),
                    body: Vec::new(),
                    body_len: 0,
                    truncated: false,
                    body_stop: None,
                }),
                elapsed: Default::default(),
                raw: false,
                insecure: false,
            },
            problem,
        }
    }

    fn op(actor: &str, t: (u64, u64), action: Action) -> Op {
        Op {
            actor: actor.into(),
            conn: CONN,
            invoke: t.0,
            ret: t.1,
            used: Used {
                key: None,
                uri: (Cred::Su, 0),
            },
            action,
            outcome: Outcome::Status { status: 200 },
            problem: None,
            exchange: String::new(),
        }
    }

    fn send(t: (u64, u64), seqs: &[usize]) -> Op {
        let msgs = seqs.iter().map(|&q| ciphertext("n", CONN, 0, q)).collect();
        op("sender 0", t, Action::Send { msgs })
    }

    fn got(t: (u64, u64), seqs: &[usize]) -> Op {
        let got = seqs.iter().map(|&q| ciphertext("n", CONN, 0, q)).collect();
        op(
            "retriever 0",
            t,
            Action::Retrieve {
                page: 4,
                keep: false,
                got: Some(got),
            },
        )
    }

    fn failed(r: (Result<(), StepFailure>, Vec<usize>)) -> (Verdict, String, String, Vec<usize>) {
        let f = r.0.expect_err("a failure");
        (f.verdict, f.failure.rule, f.message, r.1)
    }

    #[test]
    fn a_correct_run_passes() {
        let records = vec![
            record(send((1, 2), &[0, 1]), None),
            record(got((3, 4), &[0, 1]), None),
            record(got((5, 6), &[]), None),
        ];
        let (result, shown) = verdict(3, &records, "n");
        assert!(result.is_ok());
        assert_eq!(shown, Vec::<usize>::new());
    }

    #[test]
    fn a_duplicate_fails_b_concurrent_with_its_history_slice() {
        let records = vec![
            record(send((1, 2), &[0, 1]), None),
            record(got((3, 4), &[0]), None),
            record(got((5, 6), &[0, 1]), None),
            record(got((7, 8), &[]), None),
        ];
        let (verdict, rule, message, shown) = failed(verdict(3, &records, "n"));
        assert_eq!((verdict, rule.as_str()), (Verdict::Fail, "B-CONCURRENT"));
        assert_eq!(shown, vec![0, 1, 2]);
        assert!(
            message.contains("c0.s0#0 was retrieved 2 times (#1, #2); history: #0 0.001ms..0.002ms sender 0 c0: send [c0.s0#0, c0.s0#1]"),
            "{message}"
        );
    }

    #[test]
    fn a_broken_answer_comes_before_the_history() {
        let problem = Some((
            "S-RETR-PAGE",
            "at most 4 messages".to_string(),
            "more".to_string(),
        ));
        let records = vec![
            record(send((1, 2), &[0]), None),
            record(got((3, 4), &[0]), None),
            record(got((5, 6), &[0]), problem),
            record(got((7, 8), &[]), None),
        ];
        let (verdict, rule, message, shown) = failed(verdict(3, &records, "n"));
        assert_eq!((verdict, rule.as_str()), (Verdict::Fail, "S-RETR-PAGE"));
        assert_eq!(shown, vec![2]);
        assert!(
            message.starts_with("step 3: S-RETR-PAGE: expected at most 4 messages, got more (#2 "),
            "{message}"
        );
    }

    #[test]
    fn a_run_with_unanswered_requests_is_an_error_once_the_history_holds() {
        let mut lost = record(
            op(
                "retriever 1",
                (3, 9),
                Action::Retrieve {
                    page: 4,
                    keep: false,
                    got: None,
                },
            ),
            None,
        );
        lost.op.outcome = Outcome::NoAnswer {
            reason: "timeout".into(),
            timeout: true,
        };
        lost.ex.response = Err(TransportError::Timeout);
        let records = vec![
            record(send((1, 2), &[0]), None),
            lost,
            record(got((10, 11), &[]), None),
        ];
        let (verdict, rule, _, shown) = failed(verdict(3, &records, "n"));
        assert_eq!((verdict, rule.as_str()), (Verdict::Error, "B-NO-5XX"));
        assert_eq!(shown, vec![1]);
    }
}
