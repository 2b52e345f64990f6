//! Interpretation: each abstract operation becomes case steps of the profile's own format
//! (what it sends and what the model says must come back), and the steps run with the
//! profile's own runner, which judges pages, messages and pushes against its copy of the
//! state. The steps are the case file a finding is written as, so `edgecheck replay` checks
//! exactly what the generated run checked.

use serde_json::json;

use super::coverage::Transition;
use super::gen::{Op, Pick, SendSig};
use super::model::{Model, Session, MAX_CONNS, MAX_SESSIONS};
use crate::profiles::simplex_v5::case::Expect;
use crate::profiles::simplex_v5::case::{
    Case, ExpectNoPush, ExpectPushes, Level, Rest, Sign, Step, WsConnect, WsRequest, WsSign,
};
use crate::profiles::simplex_v5::catalogue;
use crate::profiles::simplex_v5::runner::{self, Ending, Env};

/// How long a session waits for a push it must not get after unsubscribe, in ms.
pub const NO_PUSH_MS: u64 = 100;

/// One operation's part of a sequence.
pub type Span = crate::profiles::sequence::Span<Transition>;

/// A sequence interpreted into the steps of a case.
pub type Plan = crate::profiles::sequence::Plan<Step, Transition>;

/// What the server is known to be configured with.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// PAGE_SIZE.
    pub page_size: usize,
    /// LARGE_MESSAGE is known (large sends are generated only then).
    pub large: bool,
    /// How long a push may take, in ms.
    pub push_ms: u64,
}

/// Turns operations into steps, keeping the model.
struct Interpreter {
    model: Model,
    limits: Limits,
    steps: Vec<Step>,
    refused: usize,
    keys: usize,
    opened: usize,
}

fn rest(conn: &str) -> Rest {
    Rest {
        conn: Some(conn.to_string()),
        ..Rest::default()
    }
}

fn expect(status: &[u16], rule: &str) -> Option<Expect> {
    Some(Expect {
        status: status.to_vec(),
        rule: Some(rule.to_string()),
        also: Vec::new(),
        if_accepted: None,
    })
}

fn pick_of(list: &[usize], pick: u8) -> Option<usize> {
    (!list.is_empty()).then(|| list[pick as usize % list.len()])
}

impl Interpreter {
    fn conn(&self, i: u8) -> Option<usize> {
        let n = self.model.conns.len();
        (n > 0).then(|| i as usize % n)
    }

    fn session(&self, i: u8) -> Option<usize> {
        let n = self.model.sessions.len();
        (n > 0).then(|| i as usize % n)
    }

    fn fresh_key(&mut self) -> String {
        self.keys += 1;
        format!("k{}", self.keys)
    }

    fn name(&self, c: usize) -> String {
        self.model.conns[c].name.clone()
    }

    fn msg(&self, m: usize) -> String {
        self.model.messages[m].name.clone()
    }

    /// The rule a successful retrieval of `msgs` checks: V-RETR-KEEP once any of them was
    /// retrieved before.
    fn retr_rule(&self, msgs: &[usize]) -> &'static str {
        if msgs.iter().any(|&m| self.model.messages[m].retrieved) {
            "V-RETR-KEEP"
        } else {
            "V-RETR"
        }
    }

    /// A request for a message ID of `c` that is not valid there, as a suffix or a named
    /// message: (the step's `msg`, the step's `suffix`, the transition taken).
    fn bad_id(&self, c: usize, from: Pick, pick: u8) -> (Option<String>, Option<String>, Pick) {
        let list = match from {
            Pick::Foreign => self.model.known_foreign(c),
            Pick::Deleted => self.model.known_deleted(),
            _ => Vec::new(),
        };
        match pick_of(&list, pick) {
            Some(m) => (Some(self.msg(m)), None, from),
            None => (
                None,
                Some("/messages/${random-id}".to_string()),
                Pick::Unknown,
            ),
        }
    }

    fn op(&mut self, op: &Op) -> Vec<Transition> {
        let mut t = Vec::new();
        match *op {
            Op::Create => {
                if self.model.conns.len() >= MAX_CONNS {
                    return t;
                }
                let c = self.model.create();
                let mut r = rest(&self.name(c));
                r.expect = expect(&[201], "V-CREATE");
                self.steps.push(Step::Create(r));
                t.push(Transition::Create);
            }
            Op::Secure { conn, same } => {
                let Some(c) = self.conn(conn) else { return t };
                let name = self.name(c);
                let mut r = rest(&name);
                let (status, rule, tr): (&[u16], _, _) = match &self.model.conns[c] {
                    x if x.deleted => (&[401], "V-DEL-AFTER", Transition::SecureDead),
                    x if x.sk.is_none() => (&[200], "V-SECURE", Transition::SecureFirst),
                    x if same => {
                        r.sender = x.sk.clone();
                        (&[200, 401], "VB-SECURE-SAME", Transition::SecureSame)
                    }
                    _ => {
                        r.sender = Some(format!("{name}.{}", self.fresh_key()));
                        (&[401], "V-SECURE", Transition::SecureOther)
                    }
                };
                if tr == Transition::SecureFirst {
                    self.model.conns[c].sk = Some(format!("{name}.sk"));
                }
                r.expect = expect(status, rule);
                self.steps.push(Step::Secure(r));
                t.push(tr);
            }
            Op::Send {
                conn,
                count,
                size,
                sig,
            } => {
                let Some(c) = self.conn(conn) else { return t };
                let name = self.name(c);
                for _ in 0..count.max(1) {
                    let mut r = rest(&name);
                    let large = size == 2 && self.limits.large;
                    r.bytes = match size {
                        1 => Some(json!(300)),
                        2 if large => Some(json!("large+1")),
                        _ => None,
                    };
                    r.sign = match sig {
                        SendSig::Proper => None,
                        SendSig::Unsigned => Some("none".to_string()),
                        SendSig::WrongKey => Some(self.fresh_key()),
                        SendSig::Recipient => Some("rk".to_string()),
                    }
                    .map(|key| Sign {
                        key: Some(key),
                        ..Sign::default()
                    });
                    let x = &self.model.conns[c];
                    let secured = x.sk.is_some();
                    let (status, rule, tr): (&[u16], _, _) = if x.deleted {
                        (&[401], "V-DEL-AFTER", Transition::SendDead)
                    } else {
                        match (sig, secured) {
                            (SendSig::Proper, false) => {
                                (&[200], "V-SEND", Transition::SendOpenUnsigned)
                            }
                            (SendSig::Unsigned, false) => {
                                (&[200], "V-SEND-OPEN", Transition::SendOpenUnsigned)
                            }
                            (_, false) => (&[200], "V-SEND-OPEN", Transition::SendOpenSigned),
                            (SendSig::Proper, true) => (&[200], "V-SEND", Transition::SendSigned),
                            (SendSig::Unsigned, true) => {
                                (&[401], "V-SEND-OPEN", Transition::SendUnsigned)
                            }
                            (_, true) => (&[401], "V-SEND-OPEN", Transition::SendWrongKey),
                        }
                    };
                    r.expect = expect(status, rule);
                    t.push(tr);
                    if status != [200] {
                        self.refused += 1;
                        r.msg = Some(format!("r{}", self.refused));
                        self.steps.push(Step::Send(r));
                        continue;
                    }
                    if large {
                        t.push(Transition::SendLarge);
                    }
                    let m = self.model.send(c, large);
                    r.msg = Some(self.msg(m));
                    self.steps.push(Step::Send(r));
                    let subscribed: Vec<String> = self
                        .model
                        .sessions
                        .iter()
                        .filter(|s| s.subs.contains(&c))
                        .map(|s| s.name.clone())
                        .collect();
                    for s in subscribed {
                        self.steps.push(Step::ExpectPushes(ExpectPushes {
                            session: s,
                            conn: Some(name.clone()),
                            msgs: vec![self.msg(m)],
                            within_ms: Some(self.limits.push_ms),
                            rule: "V-WS-ORDER".into(),
                        }));
                        self.model.messages[m].id_known = true;
                        t.push(Transition::SendPushed);
                    }
                }
                // Nothing of this connection for sessions that unsubscribed from it.
                let quiet: Vec<String> = self
                    .model
                    .sessions
                    .iter()
                    .filter(|s| s.unsubscribed.contains(&c))
                    .map(|s| s.name.clone())
                    .collect();
                if !self.model.conns[c].deleted {
                    for s in quiet {
                        self.steps.push(Step::ExpectNoPush(ExpectNoPush {
                            session: s,
                            conn: Some(name.clone()),
                            within_ms: NO_PUSH_MS,
                            rule: "V-WS-UNSUB".into(),
                        }));
                        t.push(Transition::SendNotPushed);
                    }
                }
            }
            Op::Retrieve { conn, from, pick } => {
                let Some(c) = self.conn(conn) else { return t };
                let mut r = rest(&self.name(c));
                if self.model.conns[c].deleted {
                    r.expect = expect(&[401], "V-DEL-AFTER");
                    self.steps.push(Step::Retrieve(r));
                    t.push(Transition::RetrieveDead);
                    return t;
                }
                let own = self.model.known_of(c, false);
                let start = match (from, pick_of(&own, pick)) {
                    (None, _) | (Some(Pick::Own), None) => Some(0),
                    (Some(Pick::Own), Some(m)) => {
                        r.from = Some(self.msg(m));
                        t.push(Transition::RetrieveFrom);
                        self.model.conns[c].msgs.iter().position(|&x| x == m)
                    }
                    (Some(bad), _) => {
                        let (msg, _, how) = self.bad_id(c, bad, pick);
                        r.query = Some(match msg {
                            Some(m) => format!("fromMessageId=${{id:{m}}}"),
                            None => "fromMessageId=${random-id}".to_string(),
                        });
                        r.expect = expect(&[401], "V-RETR-401");
                        t.push(match how {
                            Pick::Foreign => Transition::RetrieveForeign,
                            Pick::Deleted => Transition::RetrieveDeleted,
                            _ => Transition::RetrieveUnknown,
                        });
                        None
                    }
                };
                if let Some(start) = start {
                    let (page, next) = self.model.page(c, start);
                    r.expect = expect(&[200], self.retr_rule(&page));
                    t.push(if page.is_empty() {
                        Transition::RetrieveEmpty
                    } else if self.retr_rule(&page) == "V-RETR-KEEP" {
                        Transition::RetrieveAgain
                    } else {
                        Transition::RetrieveFirst
                    });
                    if next.is_some() {
                        t.push(Transition::RetrievePaged);
                    }
                    self.model.retrieved(&page, next);
                }
                self.steps.push(Step::Retrieve(r));
            }
            Op::Get { conn, from, pick } => {
                let Some(c) = self.conn(conn) else { return t };
                let mut r = rest(&self.name(c));
                if self.model.conns[c].deleted {
                    let gone = self.model.known_of(c, true);
                    match pick_of(&gone, pick) {
                        Some(m) => r.msg = Some(self.msg(m)),
                        None => r.suffix = Some("/messages/${random-id}".into()),
                    }
                    r.expect = expect(&[401], "V-DEL-AFTER");
                    t.push(Transition::GetDead);
                } else if from == Pick::Own {
                    let Some(m) = pick_of(&self.model.known_of(c, false), pick) else {
                        return t;
                    };
                    r.msg = Some(self.msg(m));
                    r.expect = expect(&[200], self.retr_rule(&[m]));
                    t.push(Transition::GetOwn);
                    if self.model.messages[m].large {
                        t.push(Transition::GetLarge);
                    }
                    self.model.messages[m].retrieved = true;
                } else {
                    let (msg, suffix, how) = self.bad_id(c, from, pick);
                    r.msg = msg;
                    r.suffix = suffix;
                    r.expect = expect(&[401], "V-RETR-401");
                    t.push(match how {
                        Pick::Foreign => Transition::GetForeign,
                        Pick::Deleted => Transition::GetDeleted,
                        _ => Transition::GetUnknown,
                    });
                }
                self.steps.push(Step::Get(r));
            }
            Op::DeleteMessage { conn, from, pick } => {
                let Some(c) = self.conn(conn) else { return t };
                let mut r = rest(&self.name(c));
                if self.model.conns[c].deleted {
                    let gone = self.model.known_of(c, true);
                    match pick_of(&gone, pick) {
                        Some(m) => r.msg = Some(self.msg(m)),
                        None => r.suffix = Some("/messages/${random-id}".into()),
                    }
                    r.expect = expect(&[401], "V-DEL-AFTER");
                    t.push(Transition::DeleteMessageDead);
                } else if from == Pick::Own {
                    let Some(m) = pick_of(&self.model.known_of(c, false), pick) else {
                        return t;
                    };
                    r.msg = Some(self.msg(m));
                    r.expect = expect(&[200], "V-DELM");
                    self.model.delete_message(m);
                    t.push(Transition::DeleteMessageOwn);
                } else {
                    // A deleted message of this connection is a second delete (V-DELM).
                    let again = pick_of(&self.model.known_of(c, true), pick);
                    let (msg, suffix, how) = match (from, again) {
                        (Pick::Deleted, Some(m)) => (Some(self.msg(m)), None, Pick::Deleted),
                        _ => self.bad_id(c, from, pick),
                    };
                    let same_conn = again.is_some() && how == Pick::Deleted;
                    r.msg = msg;
                    r.suffix = suffix;
                    r.expect = expect(&[401], if same_conn { "V-DELM" } else { "V-RETR-401" });
                    t.push(if how == Pick::Deleted {
                        Transition::DeleteMessageAgain
                    } else {
                        Transition::DeleteMessageForeign
                    });
                }
                self.steps.push(Step::DeleteMessage(r));
            }
            Op::Delete { conn } => {
                let Some(c) = self.conn(conn) else { return t };
                let mut r = rest(&self.name(c));
                if self.model.conns[c].deleted {
                    r.expect = expect(&[401], "V-DEL-AFTER");
                    t.push(Transition::DeleteDead);
                } else {
                    r.expect = expect(&[200], "V-DEL");
                    self.model.delete(c);
                    t.push(Transition::Delete);
                }
                self.steps.push(Step::Delete(r));
            }
            Op::WsOpen => {
                if self.model.sessions.len() >= MAX_SESSIONS {
                    return t;
                }
                let name = format!("w{}", self.opened);
                self.opened += 1;
                self.steps.push(Step::WsConnect(WsConnect {
                    session: name.clone(),
                    headers: Vec::new(),
                    refused: Vec::new(),
                    rule: None,
                }));
                self.model.sessions.push(Session {
                    name,
                    ..Session::default()
                });
                t.push(Transition::WsOpen);
            }
            Op::Subscribe { session, conn, bad } => {
                let (Some(s), Some(c)) = (self.session(session), self.conn(conn)) else {
                    return t;
                };
                let name = self.name(c);
                let mut r = WsRequest {
                    session: self.model.sessions[s].name.clone(),
                    conn: Some(name.clone()),
                    ..WsRequest::default()
                };
                let subscribed = self.model.sessions[s].subs.contains(&c);
                if self.model.conns[c].deleted {
                    r.ok = false;
                    r.rule = Some("V-DEL-AFTER".into());
                    t.push(Transition::SubscribeDead);
                } else if bad {
                    r.ok = false;
                    r.rule = Some("V-WS-SUB".into());
                    r.sign = Some(WsSign {
                        key: Some(self.fresh_key()),
                        ..WsSign::default()
                    });
                    t.push(Transition::SubscribeBad);
                } else if subscribed {
                    r.ok = true;
                    r.rule = Some("V-WS-SUB".into());
                    t.push(Transition::SubscribeAgain);
                } else {
                    r.ok = true;
                    r.rule = Some("V-WS-SUB".into());
                    if self.model.sessions.iter().any(|x| x.subs.contains(&c)) {
                        t.push(Transition::SubscribeShared);
                    }
                    let backlog = self.model.conns[c].msgs.clone();
                    let sess = &mut self.model.sessions[s];
                    sess.subs.insert(c);
                    sess.unsubscribed.remove(&c);
                    sess.ended.remove(&c);
                    let session_name = sess.name.clone();
                    self.steps.push(Step::Subscribe(r));
                    if backlog.is_empty() {
                        t.push(Transition::SubscribeEmpty);
                    } else {
                        t.push(Transition::SubscribeBacklog);
                        let rule = if backlog.len() > 1 {
                            "V-WS-ORDER"
                        } else {
                            "VB-WS-BACKLOG"
                        };
                        self.steps.push(Step::ExpectPushes(ExpectPushes {
                            session: session_name,
                            conn: Some(name),
                            msgs: backlog.iter().map(|&m| self.msg(m)).collect(),
                            within_ms: Some(self.limits.push_ms),
                            rule: rule.into(),
                        }));
                        for m in backlog {
                            self.model.messages[m].id_known = true;
                        }
                    }
                    return t;
                }
                self.steps.push(Step::Subscribe(r));
            }
            Op::Unsubscribe { session, conn } => {
                let (Some(s), Some(c)) = (self.session(session), self.conn(conn)) else {
                    return t;
                };
                let sess = &mut self.model.sessions[s];
                let mut r = WsRequest {
                    session: sess.name.clone(),
                    conn: Some(self.model.conns[c].name.clone()),
                    ..WsRequest::default()
                };
                if sess.subs.remove(&c) {
                    sess.unsubscribed.insert(c);
                    r.ok = true;
                    r.rule = Some("V-WS-UNSUB".into());
                    t.push(Transition::UnsubscribeOk);
                } else if sess.ended.remove(&c) {
                    r.ok = false;
                    r.rule = Some("VB-WS-END".into());
                    t.push(Transition::UnsubscribeEnded);
                } else {
                    r.ok = false;
                    r.rule = Some("V-WS-UNSUB".into());
                    t.push(Transition::UnsubscribeNot);
                }
                self.steps.push(Step::Unsubscribe(r));
            }
            Op::WsDelete {
                session,
                conn,
                pick,
            } => {
                let (Some(s), Some(c)) = (self.session(session), self.conn(conn)) else {
                    return t;
                };
                let mut known = self.model.known_of(c, false);
                known.extend(self.model.known_of(c, true));
                let Some(m) = pick_of(&known, pick) else {
                    return t;
                };
                let subscribed = self.model.sessions[s].subs.contains(&c);
                let live = !self.model.messages[m].deleted;
                let ok = subscribed && live;
                let r = WsRequest {
                    session: self.model.sessions[s].name.clone(),
                    conn: Some(self.name(c)),
                    msg: Some(self.msg(m)),
                    ok,
                    rule: Some(if live { "V-WS-DEL" } else { "V-DELM" }.into()),
                    ..WsRequest::default()
                };
                t.push(if ok {
                    self.model.delete_message(m);
                    Transition::WsDeleteOk
                } else if !live {
                    Transition::WsDeleteGone
                } else {
                    Transition::WsDeleteNotSubscribed
                });
                self.steps.push(Step::WsDelete(r));
            }
        }
        t
    }
}

/// Interpret a sequence against a server with these limits.
pub fn plan(ops: &[Op], limits: Limits) -> Plan {
    let mut it = Interpreter {
        model: Model::new(limits.page_size),
        limits,
        steps: Vec::new(),
        refused: 0,
        keys: 0,
        opened: 0,
    };
    let mut spans = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let start = it.steps.len();
        let transitions = it.op(op);
        if it.steps.len() > start {
            spans.push(Span {
                op: i,
                steps: start..it.steps.len(),
                transitions,
            });
        }
    }
    Plan {
        steps: it.steps,
        spans,
    }
}

/// The case of a plan (its rule and title are set when it becomes a finding). Besides the
/// pages (V-RETR), it checks the SHOULD rules of every response's headers (VB-RESP-CT,
/// B-CACHE, B-NO-COOKIE): a miss is a warning, and the search for a MUST failure goes on.
pub fn case_of(plan: &Plan) -> Case {
    Case {
        id: "prop/sequence".into(),
        title: "generated sequence".into(),
        requirements: ["V-RETR", "VB-RESP-CT", "B-CACHE", "B-NO-COOKIE"]
            .map(String::from)
            .to_vec(),
        level: Level::Must,
        hostile: false,
        needs: vec![],
        steps: plan.steps.clone(),
    }
}

/// How one sequence went.
#[derive(Debug, Clone)]
pub struct Exec {
    /// How the case ended.
    pub ending: Ending,
    /// HTTP requests and WebSocket messages sent.
    pub requests: usize,
    /// Transitions of the operations that completed.
    pub transitions: Vec<Transition>,
}

/// Run a plan against the server.
pub async fn execute(env: &Env, plan: &Plan) -> Exec {
    let mut case = case_of(plan);
    let mut run = runner::run_case(env, &case).await;
    let mut requests = run.requests;
    // A SHOULD rule missed ends the run where it was seen: run the sequence again without
    // checking it, so that a MUST failure later in the sequence is not hidden; the warning
    // stands only if nothing else breaks.
    let mut warning = None;
    while let Ending::Broken { broken, .. } = &run.ending {
        let rule = broken.rule.clone();
        if !catalogue().warns(&rule) || !case.requirements.contains(&rule) {
            break;
        }
        case.requirements.retain(|r| *r != rule);
        let again = runner::run_case(env, &case).await;
        requests += again.requests;
        let first = std::mem::replace(&mut run, again);
        warning.get_or_insert(first);
    }
    if let (Ending::Pass, Some(w)) = (&run.ending, warning) {
        run = w;
    }
    let done = match &run.ending {
        Ending::Broken { step, .. } => step - 1,
        _ => plan.steps.len(),
    };
    let transitions = plan
        .spans
        .iter()
        .filter(|s| s.steps.end <= done)
        .flat_map(|s| s.transitions.iter().copied())
        .collect();
    Exec {
        ending: run.ending,
        requests,
        transitions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::simplex_v5::case::CaseFile;

    const LIMITS: Limits = Limits {
        page_size: 3,
        large: true,
        push_ms: 1000,
    };

    #[test]
    fn a_second_retrieval_checks_that_the_first_removed_nothing() {
        let ops = [
            Op::Create,
            Op::Send {
                conn: 0,
                count: 1,
                size: 0,
                sig: SendSig::Proper,
            },
            Op::Retrieve {
                conn: 0,
                from: None,
                pick: 0,
            },
            Op::Retrieve {
                conn: 0,
                from: None,
                pick: 0,
            },
        ];
        let p = plan(&ops, LIMITS);
        assert_eq!(p.effective_ops(), 4);
        let rules: Vec<String> = p
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Retrieve(r) => r.expect.as_ref().and_then(|e| e.rule.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(rules, vec!["V-RETR", "V-RETR-KEEP"]);
    }

    #[test]
    fn every_generated_plan_is_a_valid_case() {
        use proptest::strategy::{Strategy, ValueTree};
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        for _ in 0..300 {
            let ops = super::super::gen::sequence(30)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            let p = plan(&ops, LIMITS);
            if p.steps.is_empty() {
                continue;
            }
            let mut case = case_of(&p);
            case.id = "prop/x".into();
            let file = CaseFile {
                area: "prop".into(),
                title: "t".into(),
                cases: vec![case],
            };
            let problems = crate::profiles::simplex_v5::cases::validate(&[file], &|r| {
                crate::profiles::simplex_v5::catalogue().contains(r)
            });
            assert!(problems.is_empty(), "{problems:?} for {ops:?}");
        }
    }
}
