//! Interpretation: each abstract operation becomes case steps (what it sends and what the
//! model says must come back), and the steps run against the server with the profile's own
//! runner, whose frame invariants hold on every read. The steps are the case file a finding
//! is written as, so `edgecheck replay` checks exactly what the generated run checked.

use std::collections::BTreeSet;

use super::coverage::Transition;
use super::gen::Op;
use super::model::{Addr, Model, PreKeysReply, DEVICES, IDENTITIES, MAX_SESSIONS};
use crate::profiles::tassis_v2::case::{
    AddressExpr, Case, Corrupt, Level, Msg, PreKeyExpect, PushKind, ReplyKind, Step, Style,
};
use crate::profiles::tassis_v2::runner::{self, Ending, Env};

/// The error of an anonymous operation on an authenticated connection.
const ANON_OP: &str = "attempted_anonymous_op_on_authenticated_connection";

/// How long a new session waits for an acknowledged message it must not get, in ms (the
/// messages it is owed come first, so the wait is short).
pub const NO_PUSH_MS: u64 = 200;

/// One operation's part of a sequence.
pub type Span = crate::profiles::sequence::Span<Transition>;

/// A sequence interpreted into the steps of a case.
pub type Plan = crate::profiles::sequence::Plan<Step, Transition>;

/// Turns operations into steps, keeping the model.
struct Interpreter {
    model: Model,
    steps: Vec<Step>,
    push_ms: u64,
    conns: usize,
    values: usize,
    logged_in: BTreeSet<Addr>,
}

fn key(id: usize) -> String {
    format!("id{id}")
}

fn device(d: usize) -> String {
    format!("text:d{d}")
}

fn expect(conn: &str, seq: u32, reply: ReplyKind, error: &[&str], rule: &str) -> Step {
    Step::Expect {
        conn: conn.to_string(),
        seq,
        reply,
        error: error.iter().map(|e| e.to_string()).collect(),
        pre_keys: None,
        uploads_at_most: None,
        rule: rule.to_string(),
    }
}

impl Interpreter {
    fn fresh(&mut self, prefix: &str) -> String {
        self.values += 1;
        format!("${prefix}{}", self.values)
    }

    fn anonymous(&mut self) -> (String, u32) {
        if self.model.anonymous.is_none() {
            self.conns += 1;
            let conn = format!("anon{}", self.conns);
            self.steps.push(Step::Connect { conn: conn.clone() });
            self.model.anonymous = Some(super::model::Anonymous { conn, seq: 1 });
        }
        let a = self.model.anonymous.as_mut().expect("opened");
        let seq = a.seq;
        a.seq += 1;
        (a.conn.clone(), seq)
    }

    fn session(&self, i: u8) -> Option<usize> {
        let n = self.model.sessions.len();
        (n > 0).then(|| i as usize % n)
    }

    fn next_seq(&mut self, s: usize) -> (String, u32) {
        let sess = &mut self.model.sessions[s];
        let seq = sess.seq;
        sess.seq += 1;
        (sess.conn.clone(), seq)
    }

    fn push(&mut self, conn: &str, bytes: &str, rule: &str) {
        self.steps.push(Step::ExpectPush {
            conn: conn.to_string(),
            push: PushKind::Inbound,
            bytes: Some(bytes.to_string()),
            within_ms: Some(self.push_ms),
            rule: rule.to_string(),
        });
    }

    fn no_push(&mut self, conn: &str, bytes: &str, within_ms: u64, rule: &str) {
        self.steps.push(Step::ExpectNoPush {
            conn: conn.to_string(),
            push: PushKind::Inbound,
            bytes: Some(bytes.to_string()),
            within_ms,
            within_intervals: None,
            at_most: 0,
            rule: rule.to_string(),
        });
    }

    /// The messages session `s` received came in the order of their sends (T-ORDER).
    fn order(&mut self, s: usize) {
        let sess = &self.model.sessions[s];
        let mut received = sess.received.clone();
        received.sort_unstable();
        received.dedup();
        self.steps.push(Step::ExpectOrder {
            conn: sess.conn.clone(),
            order: received
                .iter()
                .map(|&m| self.model.messages[m].name.clone())
                .collect(),
            rule: "T-ORDER".into(),
        });
    }

    /// A Register on session `s`: the stored signed prekey (append) unless `new_signed` or
    /// none is stored (replace, or first).
    fn register(&mut self, s: usize, new_signed: bool, keys: u8) -> Vec<Transition> {
        let mut t = Vec::new();
        let addr = self.model.sessions[s].addr;
        let old = self
            .model
            .registrations
            .get(&addr)
            .map(|r| r.signed.clone());
        let signed = match (&old, new_signed) {
            (Some(o), false) => {
                t.push(Transition::RegisterAppend);
                o.clone()
            }
            (Some(_), true) => {
                t.push(Transition::RegisterReplace);
                self.fresh("spk")
            }
            (None, _) => {
                t.push(Transition::RegisterFirst);
                self.fresh("spk")
            }
        };
        if keys == 0 {
            t.push(Transition::RegisterNoKeys);
        }
        let keys: Vec<String> = (0..keys).map(|_| self.fresh("k")).collect();
        let (conn, seq) = self.next_seq(s);
        self.steps.push(Step::Send {
            conn: conn.clone(),
            seq,
            msg: Msg::Register {
                signed_pre_key: signed.clone(),
                one_time_pre_keys: keys.clone(),
            },
        });
        self.steps
            .push(expect(&conn, seq, ReplyKind::Ack, &[], "T-REG-ACK"));
        self.model.register(addr, signed, keys);
        t
    }

    /// Append the steps of `op`; the transitions it takes (empty: it did nothing).
    fn op(&mut self, op: &Op) -> Vec<Transition> {
        let mut t = Vec::new();
        match *op {
            Op::Login { id, dev, register } => {
                if self.model.sessions.len() >= MAX_SESSIONS {
                    return t;
                }
                let addr = (id as usize % IDENTITIES, dev as usize % DEVICES);
                self.conns += 1;
                let conn = format!("s{}", self.conns);
                t.push(if self.model.sessions_of(addr) > 0 {
                    Transition::LoginConcurrent
                } else {
                    Transition::LoginFirst
                });
                self.steps.push(Step::Connect { conn: conn.clone() });
                self.steps.push(Step::Login {
                    conn: conn.clone(),
                    key: key(addr.0),
                    device: device(addr.1),
                    seq: 1,
                    corrupt: Corrupt::None,
                    // Both signature conventions verify (TB-SIG).
                    style: if self.conns.is_multiple_of(2) {
                        Style::Libsignal
                    } else {
                        Style::Xeddsa
                    },
                    from: None,
                });
                self.steps
                    .push(expect(&conn, 1, ReplyKind::Login, &[], "T-AUTH-OK"));
                self.logged_in.insert(addr);
                let acked = self.model.acked(addr);
                self.model.login(conn.clone(), addr);
                let s = self.model.sessions.len() - 1;
                let owed = self.model.sessions[s].owed.clone();
                if !owed.is_empty() {
                    t.push(Transition::LoginBacklog);
                }
                for &m in &owed {
                    let msg = &self.model.messages[m];
                    let rule = if msg.delivered {
                        "T-REDELIVER"
                    } else {
                        "T-STORE-FORWARD"
                    };
                    let name = msg.name.clone();
                    self.push(&conn, &name, rule);
                }
                self.model.receive(s);
                if owed.len() > 1 {
                    self.order(s);
                }
                if !acked.is_empty() {
                    t.push(Transition::LoginAfterAcks);
                }
                for (i, &m) in acked.iter().enumerate() {
                    let name = self.model.messages[m].name.clone();
                    let within = if i == 0 { NO_PUSH_MS } else { 0 };
                    self.no_push(&conn, &name, within, "T-ACK-DONE");
                }
                if register > 0 {
                    t.extend(self.register(s, false, register - 1));
                }
            }
            Op::Register {
                session,
                new_signed,
                keys,
            } => {
                let Some(s) = self.session(session) else {
                    return t;
                };
                t = self.register(s, new_signed, keys);
            }
            Op::Unregister { session } => {
                let Some(s) = self.session(session) else {
                    return t;
                };
                let addr = self.model.sessions[s].addr;
                t.push(if self.model.registrations.contains_key(&addr) {
                    Transition::UnregisterRegistered
                } else {
                    Transition::UnregisterUnknown
                });
                let (conn, seq) = self.next_seq(s);
                self.steps.push(Step::Send {
                    conn: conn.clone(),
                    seq,
                    msg: Msg::Unregister {},
                });
                self.steps
                    .push(expect(&conn, seq, ReplyKind::Ack, &[], "T-UNREG"));
                self.model.unregister(addr);
            }
            Op::RequestPreKeys { id, known } => {
                let registered: BTreeSet<usize> =
                    self.model.registrations.keys().map(|a| a.0).collect();
                let id = match registered.iter().nth(id as usize % registered.len().max(1)) {
                    Some(&r) if (id as usize) < IDENTITIES - 1 => r,
                    _ => id as usize % IDENTITIES,
                };
                let mut known_devices: Vec<usize> =
                    (0..DEVICES).filter(|d| known & (1 << d) != 0).collect();
                let mut known_exprs: Vec<String> =
                    known_devices.iter().map(|&d| device(d)).collect();
                if known & (1 << DEVICES) != 0 {
                    // A device that never existed: ignored (T-PK-DEVICES).
                    known_exprs.push("text:never".into());
                }
                let (conn, seq) = self.anonymous();
                self.steps.push(Step::Send {
                    conn: conn.clone(),
                    seq,
                    msg: Msg::RequestPreKeys {
                        identity_key: format!("key:{}", key(id)),
                        known_device_ids: known_exprs,
                    },
                });
                let unregistered = self.model.unregistered.iter().any(|a| a.0 == id);
                let replaced = self
                    .model
                    .registrations
                    .iter()
                    .any(|(a, r)| a.0 == id && !known_devices.contains(&a.1) && r.replaced);
                let appended = self
                    .model
                    .registrations
                    .iter()
                    .any(|(a, r)| a.0 == id && !known_devices.contains(&a.1) && r.appended);
                match self.model.request_pre_keys(id, &known_devices) {
                    PreKeysReply::UnknownIdentity => {
                        t.push(Transition::PreKeysUnknown);
                        let rule = if unregistered {
                            "T-UNREG"
                        } else {
                            "T-PK-UNKNOWN"
                        };
                        self.steps.push(expect(
                            &conn,
                            seq,
                            ReplyKind::Error,
                            &["unknown_identity"],
                            rule,
                        ));
                    }
                    PreKeysReply::NoneLeft => {
                        t.push(Transition::PreKeysAllKnown);
                        self.steps.push(expect(
                            &conn,
                            seq,
                            ReplyKind::NoPreKeys,
                            &[],
                            "TB-PK-ALL-KNOWN",
                        ));
                    }
                    PreKeysReply::Entries(entries) => {
                        t.push(Transition::PreKeysHanded);
                        let exhausted = entries.iter().any(|e| e.2.is_empty());
                        if exhausted {
                            t.push(Transition::PreKeysExhausted);
                        }
                        if replaced {
                            t.push(Transition::PreKeysAfterReplace);
                        }
                        known_devices.clear();
                        let rule = if replaced {
                            "T-REG-REPLACE"
                        } else if appended {
                            "T-REG-APPEND"
                        } else if unregistered {
                            "T-UNREG-OTHERS"
                        } else if known != 0 {
                            "T-PK-DEVICES"
                        } else if exhausted {
                            "T-PK-EMPTY"
                        } else {
                            "T-PK-AVAILABLE"
                        };
                        let mut step = expect(&conn, seq, ReplyKind::PreKeys, &[], rule);
                        if let Step::Expect { pre_keys, .. } = &mut step {
                            *pre_keys = Some(
                                entries
                                    .into_iter()
                                    .map(|(d, signed, keys)| PreKeyExpect {
                                        device: device(d),
                                        signed_pre_key: signed,
                                        one_time_pre_key_in: keys,
                                    })
                                    .collect(),
                            );
                        }
                        self.steps.push(step);
                    }
                }
            }
            Op::Send {
                known,
                id,
                dev,
                count,
            } => {
                let pick = id as usize * DEVICES + dev as usize;
                let addr = match self
                    .logged_in
                    .iter()
                    .nth(pick % self.logged_in.len().max(1))
                {
                    Some(&a) if known => a,
                    _ => (id as usize % IDENTITIES, dev as usize % DEVICES),
                };
                t.push(if self.model.sessions_of(addr) > 0 {
                    Transition::SendLive
                } else if self.logged_in.contains(&addr)
                    || self.model.registrations.contains_key(&addr)
                {
                    Transition::SendStored
                } else {
                    Transition::SendNeverSeen
                });
                let mut sent = Vec::new();
                for _ in 0..count.clamp(1, 3) {
                    let name = self.fresh("m");
                    let (conn, seq) = self.anonymous();
                    self.steps.push(Step::Send {
                        conn: conn.clone(),
                        seq,
                        msg: Msg::OutboundMessage {
                            to: Some(AddressExpr {
                                identity_key: format!("key:{}", key(addr.0)),
                                device_id: device(addr.1),
                            }),
                            unidentified_sender_message: name.clone(),
                        },
                    });
                    sent.push((conn, seq, name));
                }
                // Sends are pipelined; each is stored once acknowledged (T-ORDER counts
                // from the acks, which come in order on one connection: TB-ORDERED).
                for (conn, seq, name) in sent {
                    self.steps
                        .push(expect(&conn, seq, ReplyKind::Ack, &[], "T-SEND-ACK"));
                    self.model.send(name, addr);
                }
            }
            Op::Receive { session } => {
                let Some(s) = self.session(session) else {
                    return t;
                };
                if self.model.sessions[s].owed.is_empty() {
                    return t;
                }
                let addr = self.model.sessions[s].addr;
                let conn = self.model.sessions[s].conn.clone();
                let fanout = self.model.sessions_of(addr) > 1;
                t.push(if fanout {
                    Transition::ReceiveFanout
                } else {
                    Transition::ReceiveLive
                });
                for m in self.model.receive(s) {
                    let name = self.model.messages[m].name.clone();
                    self.push(&conn, &name, if fanout { "T-FANOUT" } else { "T-DELIVER" });
                }
                if self.model.sessions[s].received.len() > 1 {
                    self.order(s);
                }
                // Messages of the identity's other devices never come here (T-DELIVER).
                let others: Vec<String> = self
                    .model
                    .messages
                    .iter()
                    .filter(|m| m.to.0 == addr.0 && m.to != addr)
                    .map(|m| m.name.clone())
                    .collect();
                for name in others.iter().rev().take(2) {
                    self.no_push(&conn, name, 0, "T-DELIVER");
                }
            }
            Op::Ack { session, pick } => {
                let Some(s) = self.session(session) else {
                    return t;
                };
                let ackable = self.model.ackable(s);
                if ackable.is_empty() {
                    return t;
                }
                let m = ackable[pick as usize % ackable.len()];
                let addr = self.model.sessions[s].addr;
                t.push(if self.model.unacked(addr).first() == Some(&m) {
                    Transition::AckOldest
                } else {
                    Transition::AckOutOfOrder
                });
                let name = self.model.messages[m].name.clone();
                let (conn, seq) = self.next_seq(s);
                self.steps.push(Step::Ack {
                    conn: conn.clone(),
                    bytes: name,
                });
                // A request after the ack: its reply means the ack took effect (TB-ORDERED).
                self.steps.push(Step::Send {
                    conn: conn.clone(),
                    seq,
                    msg: Msg::RequestUploadAuthorizations { num_requested: 1 },
                });
                self.steps.push(expect(
                    &conn,
                    seq,
                    ReplyKind::Error,
                    &[ANON_OP],
                    "T-ANON-ONLY",
                ));
                self.model.ack(s, m);
            }
            Op::Disconnect { conn, abrupt } => {
                let sessions = self.model.sessions.len();
                let total = sessions + usize::from(self.model.anonymous.is_some());
                if total == 0 {
                    return t;
                }
                let i = conn as usize % total;
                let name = if i < sessions {
                    t.push(Transition::DisconnectSession);
                    self.model.sessions.remove(i).conn
                } else {
                    t.push(Transition::DisconnectAnonymous);
                    self.model.anonymous.take().expect("counted").conn
                };
                if abrupt {
                    t.push(Transition::DisconnectAbrupt);
                }
                self.steps.push(Step::Disconnect { conn: name, abrupt });
            }
            Op::Misuse { session, kind } => match kind % 3 {
                0 => {
                    t.push(Transition::MisuseRegisterAnonymous);
                    let spk = self.fresh("spk");
                    let (conn, seq) = self.anonymous();
                    self.steps.push(Step::Send {
                        conn: conn.clone(),
                        seq,
                        msg: Msg::Register {
                            signed_pre_key: spk,
                            one_time_pre_keys: vec![],
                        },
                    });
                    self.steps.push(expect(
                        &conn,
                        seq,
                        ReplyKind::Error,
                        &["unauthorized"],
                        "T-AUTHED-ONLY",
                    ));
                }
                kind => {
                    let Some(s) = self.session(session) else {
                        return t;
                    };
                    let addr = self.model.sessions[s].addr;
                    let (conn, seq) = self.next_seq(s);
                    if kind == 1 {
                        t.push(Transition::MisuseSendOnSession);
                        let name = self.fresh("m");
                        self.steps.push(Step::Send {
                            conn: conn.clone(),
                            seq,
                            msg: Msg::OutboundMessage {
                                to: Some(AddressExpr {
                                    identity_key: format!("key:{}", key(addr.0)),
                                    device_id: device(addr.1),
                                }),
                                unidentified_sender_message: name,
                            },
                        });
                        self.steps.push(expect(
                            &conn,
                            seq,
                            ReplyKind::Error,
                            &[ANON_OP],
                            "T-ANON-ONLY",
                        ));
                    } else {
                        t.push(Transition::MisuseSecondLogin);
                        self.steps.push(Step::Login {
                            conn: conn.clone(),
                            key: key(addr.0),
                            device: device(addr.1),
                            seq,
                            corrupt: Corrupt::None,
                            style: Style::Xeddsa,
                            from: None,
                        });
                        self.steps.push(expect(
                            &conn,
                            seq,
                            ReplyKind::Error,
                            &[ANON_OP],
                            "T-AUTH-ONCE",
                        ));
                    }
                }
            },
        }
        t
    }
}

/// Interpret a sequence; `push_ms` bounds every push the model expects.
pub fn plan(ops: &[Op], push_ms: u64) -> Plan {
    let mut it = Interpreter {
        model: Model::default(),
        steps: Vec::new(),
        push_ms,
        conns: 0,
        values: 0,
        logged_in: BTreeSet::new(),
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

/// The case of a plan (its rule and title are set when it becomes a finding).
pub fn case_of(plan: &Plan) -> Case {
    Case {
        id: "prop/sequence".into(),
        title: "generated sequence".into(),
        requirements: vec!["T-DELIVER".into()],
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
    /// Logins sent.
    pub logins: usize,
    /// Frames sent.
    pub frames: usize,
    /// Transitions of the operations that completed.
    pub transitions: Vec<Transition>,
}

/// Run a plan against the server.
pub async fn execute(env: &Env, plan: &Plan) -> Exec {
    let run = runner::run_case(env, &case_of(plan)).await;
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
        logins: run.logins,
        frames: run.frames_out,
        transitions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::tassis_v2::case::CaseFile;

    #[test]
    fn the_lost_message_sequence_expects_the_earlier_message_again() {
        let ops = [
            Op::Send {
                known: false,
                id: 0,
                dev: 0,
                count: 2,
            },
            Op::Login {
                id: 0,
                dev: 0,
                register: 0,
            },
            Op::Ack {
                session: 0,
                pick: 1,
            },
            Op::Disconnect {
                conn: 0,
                abrupt: false,
            },
            Op::Login {
                id: 0,
                dev: 0,
                register: 0,
            },
        ];
        let p = plan(&ops, 1000);
        assert_eq!(p.effective_ops(), 5);
        let last = p.steps.iter().rev().find_map(|s| match s {
            Step::ExpectPush { bytes, rule, .. } => Some((bytes.clone(), rule.clone())),
            _ => None,
        });
        assert_eq!(last, Some((Some("$m1".into()), "T-REDELIVER".into())));
        assert!(p.steps.iter().any(|s| matches!(
            s,
            Step::ExpectNoPush { bytes: Some(b), rule, .. } if b == "$m2" && rule == "T-ACK-DONE"
        )));
    }

    #[test]
    fn every_generated_plan_is_a_valid_case() {
        use proptest::strategy::{Strategy, ValueTree};
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        for _ in 0..200 {
            let ops = super::super::gen::sequence(30)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            let p = plan(&ops, 1000);
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
            let problems = crate::profiles::tassis_v2::cases::validate(&[file], &|r| {
                crate::profiles::tassis_v2::catalogue().contains(r)
            });
            assert!(problems.is_empty(), "{problems:?} for {ops:?}");
        }
    }
}
