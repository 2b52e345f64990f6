//! The checks of a round's history: the engine's queue checker where its model fits
//! ([`crate::engine::history`]), and what is this profile's own.
//!
//! Prekeys: the device is a queue, each Register a send of its keys by the owner, each
//! RequestPreKeys a removing retrieval of at most one key (an empty entry: an empty
//! retrieval). Duplicates break T-PK-ONCE, phantoms (keys never registered, or handed out
//! before their Register began) too; keys left although the last request got an empty
//! entry break T-PK-AVAILABLE. Which key goes first is the server's choice (TB-PK-ORDER), so
//! reorders are not judged. During the round, an empty entry while more keys had been
//! registered than any number of requests could have taken breaks T-PK-AVAILABLE too.
//!
//! Messages: the address is a queue, each OutboundMessage a send. A message leaves the
//! queue when a session acknowledges it: the first confirmed Ack is its removal, an Ack
//! that nothing confirmed may or may not have removed it (it excuses one loss), and the
//! last session's silence after acknowledging everything is the empty retrieval that
//! proves the inbox empty. Deliveries are kept retrievals (they observe, remove nothing).
//! So phantoms break T-DELIVER and acknowledged sends never acknowledged by anyone break
//! T-REDELIVER (a message delivered, not acknowledged and then gone: what cumulative acks
//! do). The engine's order check sees one consumer; here every session sees every
//! message (T-FANOUT), so order is checked per session: each session is its own queue of
//! the same sends, its deliveries the removals, and a reorder breaks T-ORDER. Own checks:
//! a session that logged in after an Ack of a message was confirmed and still got it
//! breaks T-ACK-DONE; a session that got a sender's later message but not an earlier one
//! sent after its login breaks T-FANOUT.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::history::Event;
use crate::engine::history::{self, Action, Effect, Kind, Naming, Op};

/// A rule broken, with the events that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: &'static str,
    /// What happened, in one line.
    pub what: String,
    /// Indices of the events that show it, in history order.
    pub events: Vec<usize>,
}

struct Names(&'static str);

impl Naming for Names {
    fn token(&self, token: &str) -> String {
        token.to_string()
    }

    fn queue(&self, _queue: usize) -> String {
        self.0.to_string()
    }
}

fn effect(answer: &str, done: &str) -> Effect {
    match answer {
        a if a == done => Effect::Done,
        "none" => Effect::Unknown,
        other => Effect::Refused(other.to_string()),
    }
}

fn other(e: &Event, actor: &str) -> Op {
    let (invoke, ret) = e.span();
    Op {
        actor: actor.to_string(),
        queue: 0,
        invoke,
        ret,
        action: Action::Other,
        effect: Effect::Done,
    }
}

fn retrieve(
    invoke: u64,
    ret: u64,
    actor: &str,
    queue: usize,
    keep: bool,
    got: Option<Vec<String>>,
) -> Op {
    Op {
        actor: actor.to_string(),
        queue,
        invoke,
        ret,
        action: Action::Retrieve { page: 1, keep, got },
        effect: Effect::Done,
    }
}

/// Every violation in a prekeys history.
pub fn prekeys(h: &[Event]) -> Vec<Violation> {
    let ops: Vec<Op> = h
        .iter()
        .map(|e| match e {
            Event::Register {
                keys,
                invoke,
                ret,
                answer,
            } => Op {
                actor: "owner".into(),
                queue: 0,
                invoke: *invoke,
                ret: *ret,
                action: Action::Send {
                    tokens: keys.clone(),
                },
                effect: effect(answer, "ack"),
            },
            Event::Request {
                actor,
                invoke,
                ret,
                got,
                ..
            } => {
                let got = got.as_ref().map(|k| {
                    if k.is_empty() {
                        vec![]
                    } else {
                        vec![k.clone()]
                    }
                });
                let mut op = retrieve(*invoke, *ret, actor, 0, false, got.clone());
                if got.is_none() {
                    op.effect = Effect::Unknown;
                }
                op
            }
            e => other(e, "-"),
        })
        .collect();
    let mut out: Vec<Violation> = history::check(&ops, &Names("the device"))
        .into_iter()
        .filter_map(|v| {
            let rule = match v.kind {
                Kind::Phantom | Kind::CrossQueue | Kind::Duplicate => "T-PK-ONCE",
                Kind::Loss => "T-PK-AVAILABLE",
                Kind::Reorder => return None,
            };
            Some(Violation {
                rule,
                what: v.what,
                events: v.ops,
            })
        })
        .collect();
    out.extend(empty_while_left(h));
    out
}

/// The first empty entry while keys were certainly left: more keys registered (acknowledged
/// before the request began) than requests that may have taken one before it returned.
fn empty_while_left(h: &[Event]) -> Option<Violation> {
    for (i, e) in h.iter().enumerate() {
        let Event::Request {
            invoke,
            ret,
            got: Some(k),
            ..
        } = e
        else {
            continue;
        };
        if !k.is_empty() {
            continue;
        }
        let mut registers = Vec::new();
        let mut registered = 0;
        let mut taken = 0;
        for (j, o) in h.iter().enumerate() {
            match o {
                Event::Register {
                    keys,
                    ret: r,
                    answer,
                    ..
                } if answer == "ack" && r < invoke => {
                    registered += keys.len();
                    registers.push(j);
                }
                Event::Request {
                    invoke: qi,
                    got: qg,
                    ..
                } if j != i && qi < ret && qg.as_ref().is_none_or(|k| !k.is_empty()) => {
                    taken += 1;
                }
                _ => {}
            }
        }
        if registered > taken {
            registers.push(i);
            return Some(Violation {
                rule: "T-PK-AVAILABLE",
                what: format!(
                    "an empty entry although {registered} keys were registered before the request \
                     and at most {taken} requests could have taken one"
                ),
                events: registers,
            });
        }
    }
    None
}

/// Every violation in a messages history.
pub fn messages(h: &[Event]) -> Vec<Violation> {
    let mut out = Vec::new();
    // The first confirmed ack of each message, and whether any ack of it was confirmed.
    let mut first_confirmed: HashMap<&str, (u64, usize)> = HashMap::new();
    for (i, e) in h.iter().enumerate() {
        if let Event::Ack {
            token,
            confirmed: Some(c),
            ..
        } = e
        {
            let slot = first_confirmed.entry(token.as_str()).or_insert((*c, i));
            if *c < slot.0 {
                *slot = (*c, i);
            }
        }
    }
    let mut unconfirmed_seen: HashSet<&str> = HashSet::new();
    let ops: Vec<Op> = h
        .iter()
        .enumerate()
        .map(|(i, e)| match e {
            Event::Send {
                actor,
                token,
                invoke,
                ret,
                answer,
            } => Op {
                actor: actor.clone(),
                queue: 0,
                invoke: *invoke,
                ret: *ret,
                action: Action::Send {
                    tokens: vec![token.clone()],
                },
                effect: effect(answer, "ack"),
            },
            Event::Deliver { session, token, at } => retrieve(
                *at,
                *at,
                &format!("session {session}"),
                0,
                true,
                Some(vec![token.clone()]),
            ),
            Event::Ack {
                session,
                token,
                at,
                confirmed,
            } => {
                let actor = format!("session {session}");
                match (first_confirmed.get(token.as_str()), confirmed) {
                    (Some(&(_, first)), Some(c)) if first == i => {
                        retrieve(*at, *c, &actor, 0, false, Some(vec![token.clone()]))
                    }
                    (None, _) if unconfirmed_seen.insert(token.as_str()) => {
                        let mut op = retrieve(*at, *at, &actor, 0, false, None);
                        op.effect = Effect::Unknown;
                        op
                    }
                    _ => other(e, &actor),
                }
            }
            Event::Quiet {
                session,
                invoke,
                ret,
            } => retrieve(
                *invoke,
                *ret,
                &format!("session {session}"),
                0,
                false,
                Some(vec![]),
            ),
            e => other(e, "-"),
        })
        .collect();
    for v in history::check(&ops, &Names("the address")) {
        let rule = match v.kind {
            Kind::Phantom | Kind::CrossQueue => "T-DELIVER",
            Kind::Duplicate => "T-ACK-DONE",
            Kind::Loss => "T-REDELIVER",
            Kind::Reorder => continue,
        };
        out.push(Violation {
            rule,
            what: v.what,
            events: v.ops,
        });
    }
    out.extend(per_session_order(h));
    out.extend(acked_redelivered(h, &first_confirmed));
    out.extend(fanout(h));
    out
}

/// T-ORDER: the engine's reorder check with one queue per session, holding every send.
fn per_session_order(h: &[Event]) -> Vec<Violation> {
    let sessions: Vec<usize> = h
        .iter()
        .filter_map(|e| match e {
            Event::Login { session, .. } => Some(*session),
            _ => None,
        })
        .collect();
    let mut ops = Vec::new();
    let mut back = Vec::new();
    for (i, e) in h.iter().enumerate() {
        match e {
            Event::Send {
                actor,
                token,
                invoke,
                ret,
                answer,
            } => {
                for &s in &sessions {
                    ops.push(Op {
                        actor: actor.clone(),
                        queue: s,
                        invoke: *invoke,
                        ret: *ret,
                        action: Action::Send {
                            tokens: vec![format!("{token}@{s}")],
                        },
                        effect: effect(answer, "ack"),
                    });
                    back.push(i);
                }
            }
            Event::Deliver { session, token, at } => {
                ops.push(retrieve(
                    *at,
                    *at,
                    &format!("session {session}"),
                    *session,
                    false,
                    Some(vec![format!("{token}@{session}")]),
                ));
                back.push(i);
            }
            _ => {}
        }
    }
    struct PerSession;
    impl Naming for PerSession {
        fn token(&self, token: &str) -> String {
            token.split('@').next().unwrap_or(token).to_string()
        }
        fn queue(&self, queue: usize) -> String {
            format!("session {queue}")
        }
    }
    history::check(&ops, &PerSession)
        .into_iter()
        .filter(|v| v.kind == Kind::Reorder)
        .map(|v| {
            let mut events: Vec<usize> = v.ops.iter().map(|&o| back[o]).collect();
            events.sort_unstable();
            events.dedup();
            Violation {
                rule: "T-ORDER",
                what: format!("{} (within one session)", v.what),
                events,
            }
        })
        .collect()
}

/// Logins of each session: (event index, invoke, return).
fn logins(h: &[Event]) -> HashMap<usize, (usize, u64, u64)> {
    h.iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Event::Login {
                session,
                invoke,
                ret,
            } => Some((*session, (i, *invoke, *ret))),
            _ => None,
        })
        .collect()
}

/// T-ACK-DONE: a message delivered to a session that logged in after an Ack of it had been
/// confirmed.
fn acked_redelivered(h: &[Event], first: &HashMap<&str, (u64, usize)>) -> Option<Violation> {
    let logins = logins(h);
    for (i, e) in h.iter().enumerate() {
        let Event::Deliver { session, token, .. } = e else {
            continue;
        };
        let (Some(&(confirmed, ack)), Some(&(login, invoke, _))) =
            (first.get(token.as_str()), logins.get(session))
        else {
            continue;
        };
        if confirmed < invoke {
            let mut events = vec![ack, login, i];
            events.sort_unstable();
            return Some(Violation {
                rule: "T-ACK-DONE",
                what: format!(
                    "{token} was delivered again to session {session}, which logged in after an \
                     Ack of it had taken effect"
                ),
                events,
            });
        }
    }
    None
}

/// T-FANOUT: a session got a sender's message but not an earlier one of the same sender
/// that was sent after the session had logged in.
fn fanout(h: &[Event]) -> Option<Violation> {
    let logins = logins(h);
    let mut by_sender: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in h.iter().enumerate() {
        if let Event::Send {
            actor,
            token: _,
            answer,
            ..
        } = e
        {
            if answer == "ack" {
                by_sender.entry(actor.as_str()).or_default().push(i);
            }
        }
    }
    let mut got: BTreeMap<usize, HashMap<&str, usize>> = BTreeMap::new();
    for (i, e) in h.iter().enumerate() {
        if let Event::Deliver { session, token, .. } = e {
            got.entry(*session)
                .or_default()
                .entry(token.as_str())
                .or_insert(i);
        }
    }
    let span = |i: usize| h[i].span();
    let token = |i: usize| match &h[i] {
        Event::Send { token, .. } => token.as_str(),
        _ => "",
    };
    for (session, seen) in &got {
        let Some(&(login, _, logged_in)) = logins.get(session) else {
            continue;
        };
        for list in by_sender.values() {
            for (k, &a) in list.iter().enumerate() {
                let (a_invoke, a_ret) = span(a);
                if a_invoke <= logged_in || seen.contains_key(token(a)) {
                    continue;
                }
                let later = list[k + 1..]
                    .iter()
                    .find(|&&b| span(b).0 > a_ret && seen.contains_key(token(b)));
                if let Some(&b) = later {
                    let mut events = vec![login, a, b, seen[token(b)]];
                    events.sort_unstable();
                    return Some(Violation {
                        rule: "T-FANOUT",
                        what: format!(
                            "session {session} received {} but not {}, sent before it and after \
                             the session logged in",
                            token(b),
                            token(a)
                        ),
                        events,
                    });
                }
            }
        }
    }
    None
}
