//! Turns an abstract operation into a concrete case step, given the state so far.

use serde_json::{json, Map, Value};

use super::gen::{AbstractOp, FaultKind, Kind};
use crate::profiles::edge_v1::case::{Op, Step};
use crate::profiles::edge_v1::model::{Conn, Endpoint, Fault};
use crate::profiles::edge_v1::runner::CaseRun;
use crate::profiles::edge_v1::sign::SigFault;
use crate::profiles::edge_v1::wire;

const SIG_FAULTS: [SigFault; 6] = [
    SigFault::Pkcs1v15,
    SigFault::Salt20,
    SigFault::Truncated,
    SigFault::Bitflip,
    SigFault::WrongPath,
    SigFault::WrongBody,
];

/// The endpoints a fault goes to: every one of an existing connection (all but create).
fn fault_endpoint(choice: u8) -> Endpoint {
    let existing = &Endpoint::ALL[1..];
    existing[choice as usize % existing.len()]
}

/// Hands out fresh key and message names.
#[derive(Debug, Default)]
pub struct Interpreter {
    keys: usize,
    msgs: usize,
    strangers: usize,
}

impl Interpreter {
    fn key(&mut self, conn: &str) -> String {
        self.keys += 1;
        format!("{conn}k{}", self.keys)
    }

    fn msg(&mut self) -> String {
        self.msgs += 1;
        format!("m{}", self.msgs)
    }

    fn base(&self, op: Op, conn: &str) -> Step {
        Step {
            op: Some(op),
            conn: conn.to_string(),
            ..Step::default()
        }
    }

    /// A `fromMessageID` choice: the n-th queued message whose id is known.
    fn from(run: &CaseRun<'_>, c: &Conn, idx: Option<u8>) -> Option<String> {
        let idx = idx? as usize;
        let known: Vec<&String> = c
            .queue
            .iter()
            .filter(|m| run.message_id(m).is_some())
            .collect();
        (!known.is_empty()).then(|| known[idx % known.len()].clone())
    }

    /// The step for `op` in the state of `run`.
    pub fn step(&mut self, op: &AbstractOp, run: &CaseRun<'_>) -> Step {
        let conn = format!("p{}", op.slot);
        let Some(c) = run.model().conn(&conn).cloned() else {
            let (alt, disabled) = match op.kind {
                Kind::Create { alt, disabled } => (alt, disabled),
                _ => (false, false),
            };
            return self.create(&conn, alt, disabled, false);
        };
        if !c.live {
            if let Kind::Create { alt, disabled } = op.kind {
                return self.create(&conn, alt, disabled, true);
            }
        }
        match op.kind {
            Kind::Create { .. } => {
                // A live ID used again: 409 and nothing changes.
                let mut s = self.base(Op::Call(Endpoint::Create), &format!("{conn}dup"));
                s.cid = Some(conn.clone());
                s.recipient = Some(self.key(&conn));
                s
            }
            Kind::Update(bits) => self.update(&conn, &c, bits),
            Kind::SenderUpdate(bits) => {
                if c.sk.is_none() {
                    return self.update(&conn, &c, 0b10 | (bits & 0b10) << 2);
                }
                let mut s = self.base(Op::Call(Endpoint::SenderUpdate), &conn);
                if bits & 1 != 0 {
                    s.sender = Some(self.key(&conn));
                }
                if bits & 2 != 0 {
                    s.new_sender_uri = Some(true);
                }
                s
            }
            Kind::Send(n) => {
                let mut s = self.base(Op::Call(Endpoint::Send), &conn);
                s.messages = Some((0..n.clamp(1, 16)).map(|_| self.msg()).collect());
                s
            }
            Kind::Retrieve { page, from, keep } => {
                let mut s = self.base(Op::Call(Endpoint::Retrieve), &conn);
                s.page_size = page.map(u64::from);
                s.from_message = Self::from(run, &c, from);
                s.keep_messages = keep.then_some(true);
                s
            }
            Kind::DeleteMessages { page, from } => {
                let mut s = self.base(Op::Call(Endpoint::DeleteMessages), &conn);
                s.page_size = page.map(u64::from);
                s.from_message = Self::from(run, &c, from);
                s
            }
            Kind::Delete => self.base(Op::Call(Endpoint::Delete), &conn),
            Kind::Fault(f, e) => self.fault(&conn, &c, f, fault_endpoint(e)),
        }
    }

    fn create(&mut self, conn: &str, alt: bool, disabled: bool, again: bool) -> Step {
        let mut s = self.base(Op::Call(Endpoint::Create), conn);
        s.recipient = Some(self.key(conn));
        if alt {
            s.sender = Some(self.key(conn));
        }
        if disabled {
            s.disabled = Some(true);
        }
        if again {
            s.cid = Some(conn.to_string());
        }
        s
    }

    fn update(&mut self, conn: &str, c: &Conn, bits: u8) -> Step {
        let mut s = self.base(Op::Call(Endpoint::Update), conn);
        // Without SK the first update must carry `sender`; leave it out only for the rare
        // "disable and enable" combination, which then checks S-RUPD-FIRST.
        let first_without_sender =
            c.sk.is_none() && bits & 0b11_0000 == 0b11_0000 && bits & 0b10 == 0;
        if bits & 1 != 0 {
            s.recipient = Some(self.key(conn));
        }
        if bits & 2 != 0 || (c.sk.is_none() && !first_without_sender) {
            s.sender = Some(self.key(conn));
        }
        if bits & 4 != 0 {
            s.new_recipient_uri = Some(true);
        }
        if bits & 8 != 0 {
            s.new_sender_uri = Some(true);
        }
        if bits & 16 != 0 {
            s.disabled = Some(true);
        } else if bits & 32 != 0 {
            s.disabled = Some(false);
        }
        s
    }

    fn fault(&mut self, conn: &str, c: &Conn, f: FaultKind, e: Endpoint) -> Step {
        let mut s = self.base(Op::Call(e), conn);
        if e == Endpoint::Send {
            s.messages = Some(vec![self.msg()]);
        }
        let recipient_side = e.is_recipient();
        match f {
            FaultKind::OldKey => {
                let retired = if recipient_side {
                    &c.retired_rk
                } else {
                    &c.retired_sk
                };
                match retired.iter().next() {
                    Some(k) => s.sign_with = Some(Some(k.clone())),
                    None => return self.fault(conn, c, FaultKind::WrongKey, e),
                }
            }
            FaultKind::WrongKey => {
                self.strangers += 1;
                s.sign_with = Some(Some(format!("stranger{}", self.strangers)));
            }
            FaultKind::OtherPartyKey => {
                let other = if recipient_side {
                    c.sk.clone()
                } else {
                    Some(c.rk.clone())
                };
                match other {
                    Some(k) => s.sign_with = Some(Some(k)),
                    None => return self.fault(conn, c, FaultKind::WrongKey, e),
                }
            }
            FaultKind::OldUri(choice) => {
                let (version, which) = if recipient_side {
                    (c.ru_version, "ru")
                } else {
                    (c.su_version, "su")
                };
                if version == 0 {
                    return self.fault(conn, c, FaultKind::Method, e);
                }
                let v = if choice < 128 {
                    0
                } else {
                    choice as usize % version
                };
                s.via = Some(format!("{which}@{v}"));
            }
            FaultKind::UnknownMessageId => {
                let mut r = self.base(
                    if e == Endpoint::DeleteMessages {
                        Op::Call(Endpoint::DeleteMessages)
                    } else {
                        Op::Call(Endpoint::Retrieve)
                    },
                    conn,
                );
                self.msgs += 1;
                r.from_message = Some(format!("unknown{}", self.msgs));
                return r;
            }
            FaultKind::Body(i) => {
                s.fault = Some(Fault::Body);
                match i {
                    0 => s.set = Some(obj(json!({"unexpected": 1}))),
                    1 => s.omit = Some(vec!["connectionID".into()]),
                    2 => s.set = Some(obj(json!({"connectionID": null}))),
                    3 => {
                        s.content_type = Some(Some(crate::profiles::edge_v1::case::OneOrMany::One(
                            "text/plain".into(),
                        )))
                    }
                    4 => s.append_body = Some("x".into()),
                    5 => s.body = Some(json!([])),
                    6 => s.set = Some(obj(json!({"connectionID": 12345}))),
                    7 => s.raw_body = Some("{".into()),
                    _ if e == Endpoint::Send => {
                        s.set_path = Some(obj(json!({"/messages/0/extra": 1})));
                    }
                    _ => s.set = Some(obj(json!({"connectionID": ""}))),
                }
            }
            FaultKind::Prohibited => {
                let mut p = self.base(Op::Call(Endpoint::SenderUpdate), conn);
                let prop = ["disabled", "recipient", "newRecipientURI"][self.msgs % 3];
                let v = if prop == "recipient" {
                    Value::String(wire::b64(b"not a key"))
                } else {
                    Value::Bool(false)
                };
                let mut m = Map::new();
                m.insert(prop.into(), v);
                p.set = Some(m);
                p.fault = Some(Fault::Prohibited);
                return p;
            }
            FaultKind::CidMismatch => {
                s.set = Some(obj(json!({"connectionID": wire::connection_id()})));
                s.fault = Some(Fault::CidMismatch);
            }
            FaultKind::Method => {
                s.method = Some(["PATCH", "GET", "OPTIONS"][self.keys % 3].into());
                if e == Endpoint::Send {
                    s.method = Some("PUT".into());
                }
                s.fault = Some(Fault::Method);
            }
            FaultKind::UnknownPath => {
                s.path_suffix = Some("/x".into());
                s.fault = Some(Fault::UnknownPath);
            }
            FaultKind::Signature(i) => {
                s.sig_fault = Some(SIG_FAULTS[i as usize % SIG_FAULTS.len()]);
            }
        }
        s
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
