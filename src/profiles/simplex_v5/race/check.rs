//! The checks of a `simplex-v5` race history.
//!
//! Pushes are checked with the engine's shared queue checker: every subscription is a queue
//! that receives a copy of every send, each push is a removing retrieval of one token from
//! its subscription's queue, and the end of a session's observation (after a quiet period)
//! an empty retrieval. So a message pushed twice in a subscription is a duplicate, a push of
//! no accepted send a phantom, a later send of one sender pushed before an earlier one a
//! reorder, and an accepted send never pushed a loss. On top of that: each subscription's
//! pushes follow the receive order a final REST walk shows (V-WS-ORDER), every page seen
//! during the run is a window of that order (V-RETR), and concurrent secures have exactly
//! one winner whose key alone may send afterwards (V-SECURE).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::churn::{sender_and_number, Ask, DELETER, UNSUBSCRIBER};
use super::{Event, History, What};
use crate::engine::history::{self, Action, Effect, Kind, Naming};

/// A rule seen broken in a history, with the events that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: &'static str,
    /// What happened, in one line.
    pub what: String,
    /// Indices of the events that show it, in history order.
    pub events: Vec<usize>,
}

fn violation(
    rule: &'static str,
    what: String,
    events: impl IntoIterator<Item = usize>,
) -> Violation {
    let set: BTreeSet<usize> = events.into_iter().collect();
    Violation {
        rule,
        what,
        events: set.into_iter().collect(),
    }
}

struct Names {
    sessions: Vec<String>,
}

impl Naming for Names {
    fn token(&self, token: &str) -> String {
        match token.split_once('@') {
            Some((t, k)) => {
                let s = k
                    .parse::<usize>()
                    .ok()
                    .and_then(|k| self.sessions.get(k))
                    .map_or(k, String::as_str);
                format!("message {t} (session {s})")
            }
            None => format!("message {token}"),
        }
    }

    fn queue(&self, queue: usize) -> String {
        format!(
            "the subscription of {}",
            self.sessions.get(queue).map_or("?", String::as_str)
        )
    }
}

/// The queue checker's words for pushes: "pushed" for "retrieved", without its own operation
/// indices (the events printed are the history's).
fn pushed(what: &str) -> String {
    let mut text = what
        .replace("never retrieved", "never pushed")
        .replace("was retrieved", "was pushed")
        .replace("retrieved after", "pushed after")
        .replace("retrieved from", "pushed in")
        .replace("retrievals without an answer", "reads without an answer");
    while let Some(start) = text.find(" (#") {
        let end = text[start..]
            .find(')')
            .map_or(text.len(), |e| start + e + 1);
        text.replace_range(start..end, "");
    }
    text
}

fn effect(status: Option<u16>) -> Effect {
    match status {
        Some(200) => Effect::Done,
        Some(s) => Effect::Refused(s.to_string()),
        None => Effect::Unknown,
    }
}

/// The pushes of every subscription, with the shared checker and against `order` (the
/// receive order of the final walk, as tokens).
pub fn pushes(h: &History, order: &[String]) -> Vec<Violation> {
    let ev = &h.events;
    let sessions: Vec<String> = {
        let mut s: Vec<String> = ev
            .iter()
            .filter_map(|e| match &e.what {
                What::Subscribe {
                    session,
                    ok: Some(true),
                } => Some(session.clone()),
                _ => None,
            })
            .collect();
        s.dedup();
        s
    };
    let mut ops = Vec::new();
    let mut back: Vec<usize> = Vec::new();
    for (k, sess) in sessions.iter().enumerate() {
        for (i, e) in ev.iter().enumerate() {
            let action = match &e.what {
                What::Send { token, status } => {
                    ops.push(history::Op {
                        actor: e.actor.clone(),
                        queue: k,
                        invoke: e.invoke,
                        ret: e.ret,
                        action: Action::Send {
                            tokens: vec![format!("{token}@{k}")],
                        },
                        effect: effect(*status),
                    });
                    back.push(i);
                    continue;
                }
                What::Push { session, token, id } if session == sess => Action::Retrieve {
                    page: 1,
                    keep: false,
                    got: Some(vec![format!(
                        "{}@{k}",
                        token.clone().unwrap_or_else(|| format!("with ID {id}"))
                    )]),
                },
                What::Quiet { session } if session == sess => Action::Retrieve {
                    page: 1,
                    keep: false,
                    got: Some(Vec::new()),
                },
                _ => continue,
            };
            ops.push(history::Op {
                actor: e.actor.clone(),
                queue: k,
                invoke: e.invoke,
                ret: e.ret,
                action,
                effect: Effect::Done,
            });
            back.push(i);
        }
    }
    let names = Names {
        sessions: sessions.clone(),
    };
    let mut out: Vec<Violation> = history::check(&ops, &names)
        .into_iter()
        .map(|v| {
            let rule = match v.kind {
                Kind::Duplicate | Kind::Reorder => "V-WS-ORDER",
                Kind::Phantom | Kind::CrossQueue | Kind::Loss => "VB-WS-BACKLOG",
            };
            violation(rule, pushed(&v.what), v.ops.iter().map(|&o| back[o]))
        })
        .collect();
    // Receive order: each subscription's pushes (first pushes only) in the final order.
    let pos: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let sends: HashMap<&str, usize> = ev
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.what {
            What::Send { token, .. } => Some((token.as_str(), i)),
            _ => None,
        })
        .collect();
    for sess in &sessions {
        let mut last: Option<(usize, usize, &str)> = None;
        let mut seen = BTreeSet::new();
        for (i, e) in ev.iter().enumerate() {
            let What::Push {
                session,
                token: Some(t),
                ..
            } = &e.what
            else {
                continue;
            };
            if session != sess || !seen.insert(t.as_str()) {
                continue;
            }
            let Some(&p) = pos.get(t.as_str()) else {
                continue;
            };
            if let Some((lp, li, lt)) = last {
                if p < lp {
                    let mut evs = vec![li, i];
                    evs.extend(sends.get(lt).copied());
                    evs.extend(sends.get(t.as_str()).copied());
                    out.push(violation(
                        "V-WS-ORDER",
                        format!(
                            "session {sess} was pushed {t} after {lt}, but {t} comes first in \
                             receive order (the final retrieval)"
                        ),
                        evs,
                    ));
                    break;
                }
            }
            last = Some((p, i, t.as_str()));
        }
    }
    out
}

/// The final walk: every accepted send exactly once, nothing refused or never sent.
pub fn final_order(h: &History, order: &[String], walk: &[usize]) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut sends: HashMap<&str, (usize, Option<u16>)> = HashMap::new();
    for (i, e) in h.events.iter().enumerate() {
        if let What::Send { token, status } = &e.what {
            sends.insert(token, (i, *status));
        }
    }
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for t in order {
        *count.entry(t.as_str()).or_default() += 1;
    }
    for (t, n) in &count {
        match sends.get(t) {
            None => out.push(violation(
                "V-RETR",
                format!("the final retrieval returned {t}, which was never sent"),
                walk.iter().copied(),
            )),
            Some((i, Some(s))) if *s != 200 => out.push(violation(
                "V-SEND-OPEN",
                format!("{t} was stored although its send was refused with {s}"),
                walk.iter().copied().chain([*i]),
            )),
            Some((i, _)) if *n > 1 => out.push(violation(
                "V-SEND",
                format!("{t} was stored {n} times"),
                walk.iter().copied().chain([*i]),
            )),
            _ => {}
        }
    }
    for (t, (i, status)) in &sends {
        if *status == Some(200) && !count.contains_key(t) {
            out.push(violation(
                "V-SEND",
                format!("{t} was accepted (200) but the final retrieval does not have it"),
                walk.iter().copied().chain([*i]),
            ));
        }
    }
    out.sort_by_key(|v| v.events.clone());
    out
}

/// Pages seen during the run: windows of the receive order, as long as PAGE_SIZE allows,
/// `nextMessageID` the ID of the message after the page.
pub fn pages(h: &History, order: &[String], ids: &[String], page_size: usize) -> Vec<Violation> {
    let mut out = Vec::new();
    let pos_of_id: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let acked: Vec<(usize, u64, &str)> = h
        .events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.what {
            What::Send {
                token,
                status: Some(200),
            } => Some((i, e.ret, token.as_str())),
            _ => None,
        })
        .collect();
    for (i, e) in h.events.iter().enumerate() {
        let What::Page {
            from,
            tokens,
            next,
            status: Some(200),
            final_walk: false,
            ..
        } = &e.what
        else {
            continue;
        };
        let start = match from {
            None => 0,
            Some(f) => match pos_of_id.get(f.as_str()) {
                Some(&p) => p,
                None => continue,
            },
        };
        let end = (start + tokens.len()).min(order.len());
        if tokens.len() > page_size || order[start..end] != tokens[..] {
            out.push(violation(
                "V-RETR",
                format!(
                    "a page from {} returned {:?}; receive order (the final retrieval) has {:?} \
                     there (PAGE_SIZE {page_size})",
                    from.as_deref().unwrap_or("the start"),
                    tokens,
                    &order[start..(start + page_size).min(order.len())]
                ),
                [i],
            ));
            continue;
        }
        match next {
            Some(n) => {
                let want = ids.get(end).map(String::as_str);
                if tokens.len() < page_size || want != Some(n.as_str()) {
                    out.push(violation(
                        "V-RETR",
                        format!(
                            "a page of {} messages named nextMessageID {n}; expected {}",
                            tokens.len(),
                            match want {
                                Some(w) if tokens.len() == page_size => w.to_string(),
                                _ => "none (a short page is the last)".into(),
                            }
                        ),
                        [i],
                    ));
                }
            }
            None => {
                // A last page: every send acknowledged before it began, and after its start
                // in receive order, is in it.
                let missing = acked.iter().find(|(_, ret, t)| {
                    *ret < e.invoke && order.iter().position(|x| x == t).is_some_and(|p| p >= end)
                });
                if let Some((si, _, t)) = missing {
                    out.push(violation(
                        "V-RETR",
                        format!(
                            "a page without nextMessageID left out {t}, acknowledged before the \
                             retrieval began"
                        ),
                        [*si, i],
                    ));
                }
            }
        }
    }
    out
}

/// Concurrent secures of one connection: exactly one 200; afterwards only the winner's key
/// may send.
pub fn secures(h: &History) -> Vec<Violation> {
    let mut out = Vec::new();
    let secures: Vec<(usize, &str, Option<u16>)> = h
        .events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.what {
            What::Secure { key, status } => Some((i, key.as_str(), *status)),
            _ => None,
        })
        .collect();
    if secures.is_empty() {
        return out;
    }
    let won: Vec<&(usize, &str, Option<u16>)> =
        secures.iter().filter(|s| s.2 == Some(200)).collect();
    let answered = secures.iter().all(|s| s.2.is_some());
    if won.len() > 1 {
        out.push(violation(
            "V-SECURE",
            format!(
                "{} concurrent secures with different keys all got 200 ({}): SK was set more \
                 than once",
                won.len(),
                won.iter().map(|s| s.1).collect::<Vec<_>>().join(", ")
            ),
            won.iter().map(|s| s.0),
        ));
    } else if won.is_empty() && answered {
        out.push(violation(
            "V-SECURE",
            "none of the concurrent secures got 200".into(),
            secures.iter().map(|s| s.0),
        ));
    } else if let Some(s) = secures
        .iter()
        .find(|s| s.2.is_some_and(|x| x != 200 && x != 401))
    {
        out.push(violation(
            "V-401",
            format!("a losing secure got {} instead of 401", s.2.unwrap_or(0)),
            [s.0],
        ));
    }
    let winner = won.first().map(|s| s.1);
    for (i, e) in h.events.iter().enumerate() {
        let What::Probe { key, status } = &e.what else {
            continue;
        };
        let should = winner == Some(key.as_str());
        let ok = *status == Some(200);
        if status.is_some() && ok != should && won.len() == 1 {
            let w = won[0].0;
            out.push(violation(
                "V-SECURE",
                if should {
                    format!("a send signed with the winning key {key} got {status:?}")
                } else {
                    format!("a send signed with the losing key {key} was accepted: SK changed")
                },
                [w, i],
            ));
        }
    }
    out
}

/// The place of a churn push or reply in its session's stream.
fn churn_frame(e: &Event) -> Option<(&str, usize)> {
    match &e.what {
        What::ChurnPush { session, frame, .. } | What::ChurnReply { session, frame, .. } => {
            Some((session.as_str(), *frame))
        }
        _ => None,
    }
}

/// The churn part ([`super::churn`]). In each session's stream: nothing pushed after an
/// unsubscribe answered `ok: true` until a subscribe is answered again (V-WS-UNSUB), no
/// message twice or out of its sender's order in one subscription and none after its
/// deletion was answered (V-WS-ORDER), every subscribe answered `ok: true` (V-WS-SUB), an
/// unsubscribe of a subscription too (V-WS-UNSUB), and a `delete_message` of a message
/// pushed and not deleted before (V-WS-DEL). Across sessions: no push of a message after
/// the reply to a request sent once its deletion had been answered `ok: true` (V-WS-ORDER).
/// At the end: the deleter was pushed every accepted message, the unsubscriber's last
/// subscription every one never deleted (VB-WS-BACKLOG), and the walk lists exactly the
/// accepted messages not deleted (V-WS-DEL, V-SEND).
pub fn churn(h: &History) -> Vec<Violation> {
    let ev = &h.events;
    let mut out = Vec::new();
    let mut sends: BTreeMap<&str, (usize, Option<u16>)> = BTreeMap::new();
    // Deletions answered ok true, by token: (reply event, when it was read).
    let mut deleted: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    let mut asked_to_delete: BTreeSet<&str> = BTreeSet::new();
    for (i, e) in ev.iter().enumerate() {
        match &e.what {
            What::ChurnSend { token, status } => {
                sends.insert(token, (i, *status));
            }
            What::ChurnReply {
                ask: Ask::Delete { token: Some(t), .. },
                ok,
                ..
            } => {
                asked_to_delete.insert(t);
                if *ok == Some(true) {
                    deleted.entry(t).or_insert((i, e.ret));
                }
            }
            _ => {}
        }
    }
    let accepted = |t: &str| sends.get(t).is_some_and(|(_, s)| *s == Some(200));
    // Per session, the subscription open at the end: its subscribe reply and what it was
    // pushed (the deleter never unsubscribes: all it was pushed).
    let mut last_subscription: BTreeMap<&str, (usize, BTreeSet<&str>)> = BTreeMap::new();
    for name in [UNSUBSCRIBER, DELETER] {
        let mut stream: Vec<(usize, usize)> = ev
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                churn_frame(e)
                    .filter(|(s, _)| *s == name)
                    .map(|(_, f)| (f, i))
            })
            .collect();
        stream.sort_unstable();
        // The subscribe reply that opened the current subscription; the unsubscribe reply
        // that closed the last one.
        let mut open: Option<usize> = None;
        let mut closed: Option<usize> = None;
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        let mut last_of: HashMap<usize, (usize, usize)> = HashMap::new();
        // The latest-sent request answered so far: (when it was sent, its reply).
        let mut latest: Option<(u64, usize)> = None;
        // One V-WS-UNSUB for each unsubscribe: the first push after it.
        let mut unsub_reported = false;
        for &(frame, i) in &stream {
            let e = &ev[i];
            match &e.what {
                What::ChurnReply { ask, ok, .. } => {
                    if latest.is_none_or(|(t, _)| e.invoke > t) {
                        latest = Some((e.invoke, i));
                    }
                    match (ask, ok) {
                        (Ask::Subscribe, Some(true)) => {
                            open = Some(i);
                            closed = None;
                            seen.clear();
                            last_of.clear();
                        }
                        (Ask::Subscribe, Some(false)) => out.push(violation(
                            "V-WS-SUB",
                            format!("{name}: a subscribe signed with RK for this session answered ok false"),
                            [i],
                        )),
                        (Ask::Unsubscribe, Some(true)) if open.is_some() => {
                            open = None;
                            closed = Some(i);
                            unsub_reported = false;
                        }
                        (Ask::Unsubscribe, Some(false)) => {
                            if let Some(o) = open {
                                out.push(violation(
                                    "V-WS-UNSUB",
                                    format!("{name}: unsubscribe answered ok false although the session was subscribed"),
                                    [o, i],
                                ));
                            }
                        }
                        (Ask::Delete { token, id }, Some(false)) if name == DELETER && open.is_some() => {
                            let t = token.as_deref().unwrap_or("?");
                            let mut evs = vec![i];
                            evs.extend(seen.get(t).copied());
                            out.push(violation(
                                "V-WS-DEL",
                                format!(
                                    "{name}: delete_message of {t} (ID {id}), pushed in this subscription \
                                     and deleted by no one before, answered ok false"
                                ),
                                evs,
                            ));
                        }
                        _ => {}
                    }
                }
                What::ChurnPush { token, id, .. } => {
                    let shown = token
                        .clone()
                        .unwrap_or_else(|| format!("the message with ID {id}"));
                    if let Some(u) = closed {
                        if std::mem::replace(&mut unsub_reported, true) {
                            continue;
                        }
                        out.push(violation(
                            "V-WS-UNSUB",
                            format!("{name} was pushed {shown} after unsubscribe answered ok true, before it subscribed again"),
                            [u, i],
                        ));
                        continue;
                    }
                    let Some(o) = open else {
                        out.push(violation(
                            "V-WS-SUB",
                            format!("{name} was pushed {shown} before its subscribe was answered"),
                            [i],
                        ));
                        continue;
                    };
                    let Some(t) = token.as_deref().filter(|t| accepted(t)) else {
                        out.push(violation(
                            "VB-WS-BACKLOG",
                            format!("{name} was pushed {shown}, which no accepted send of the connection carried"),
                            [o, i],
                        ));
                        continue;
                    };
                    if let Some(&p) = seen.get(t) {
                        out.push(violation(
                            "V-WS-ORDER",
                            format!("{name} was pushed {t} twice in one subscription"),
                            [o, p, i],
                        ));
                    } else {
                        seen.insert(t, i);
                    }
                    if let Some((j, n)) = sender_and_number(t) {
                        if let Some(&(m, p)) = last_of.get(&j) {
                            if n < m {
                                out.push(violation(
                                    "V-WS-ORDER",
                                    format!("{name} was pushed {t} after a later send of the same sender in one subscription"),
                                    [p, i],
                                ));
                            }
                        }
                        if last_of.get(&j).is_none_or(|&(m, _)| n > m) {
                            last_of.insert(j, (n, i));
                        }
                    }
                    if let Some(&(d, at)) = deleted.get(t) {
                        let same = churn_frame(&ev[d]).is_some_and(|(s, f)| s == name && f < frame);
                        let after = latest.filter(|&(sent, _)| sent > at);
                        if same {
                            out.push(violation(
                                "V-WS-ORDER",
                                format!("{name} was pushed {t} after its delete_message answered ok true"),
                                [d, i],
                            ));
                        } else if let Some((_, q)) = after {
                            out.push(violation(
                                "V-WS-ORDER",
                                format!(
                                    "{name} was pushed {t} after the reply to a request it sent once \
                                     the deletion of {t} had been answered ok true"
                                ),
                                [d, q, i],
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(o) = open {
            last_subscription.insert(name, (o, seen.into_keys().collect()));
        }
    }
    for (t, &(i, status)) in &sends {
        if status != Some(200) {
            continue;
        }
        if let Some(&(o, _)) = last_subscription
            .get(DELETER)
            .filter(|(_, got)| !got.contains(t))
        {
            out.push(violation(
                "VB-WS-BACKLOG",
                format!(
                    "{t} was accepted (200) but never pushed to {DELETER}, subscribed all along"
                ),
                [o, i],
            ));
        }
        if let Some((o, got)) = last_subscription.get(UNSUBSCRIBER) {
            if !asked_to_delete.contains(t) && !got.contains(t) {
                out.push(violation(
                    "VB-WS-BACKLOG",
                    format!("{t}, accepted (200) and never deleted, was not pushed in the last subscription of {UNSUBSCRIBER}"),
                    [*o, i],
                ));
            }
        }
    }
    for (w, e) in ev.iter().enumerate() {
        let What::ChurnWalk {
            tokens,
            status: Some(200),
        } = &e.what
        else {
            continue;
        };
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for t in tokens {
            *count.entry(t.as_str()).or_default() += 1;
        }
        for (t, n) in &count {
            if let Some(&(d, _)) = deleted.get(t) {
                out.push(violation(
                    "V-WS-DEL",
                    format!(
                        "the walk after the round lists {t}, whose delete_message answered ok true"
                    ),
                    [d, w],
                ));
            } else if !accepted(t) {
                let mut evs = vec![w];
                evs.extend(sends.get(t).map(|(i, _)| *i));
                out.push(violation(
                    "V-SEND",
                    format!("the walk after the round lists {t}, which no accepted send carried"),
                    evs,
                ));
            } else if *n > 1 {
                out.push(violation(
                    "V-SEND",
                    format!("{t} was stored {n} times"),
                    [w],
                ));
            }
        }
        for (t, &(i, status)) in &sends {
            if status == Some(200) && !deleted.contains_key(t) && !count.contains_key(t) {
                out.push(violation(
                    "V-SEND",
                    format!("{t} was accepted (200) and never deleted, but the walk after the round does not have it"),
                    [i, w],
                ));
            }
        }
    }
    out
}

/// Every violation of a round.
pub fn all(h: &History, page_size: usize) -> Vec<Violation> {
    let walk: Vec<usize> = h
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            matches!(
                e.what,
                What::Page {
                    final_walk: true,
                    ..
                }
            )
        })
        .map(|(i, _)| i)
        .collect();
    let mut order = Vec::new();
    let mut ids = Vec::new();
    for &i in &walk {
        if let What::Page {
            tokens, ids: page, ..
        } = &h.events[i].what
        {
            order.extend(tokens.iter().cloned());
            ids.extend(page.iter().cloned());
        }
    }
    let mut out = final_order(h, &order, &walk);
    out.extend(pushes(h, &order));
    out.extend(pages(h, &order, &ids, page_size));
    out.extend(churn(h));
    out.extend(secures(h));
    out
}

/// The events of a violation, one line each.
pub fn slice(h: &History, v: &Violation) -> String {
    v.events
        .iter()
        .filter_map(|&i| h.events.get(i).map(|e| format!("  #{i} {}", line(e))))
        .collect::<Vec<_>>()
        .join("\n")
}

/// An event in one line.
pub fn line(e: &Event) -> String {
    let when = if e.invoke == e.ret {
        format!("at {} µs", e.invoke)
    } else {
        format!("{}–{} µs", e.invoke, e.ret)
    };
    let status = |s: &Option<u16>| s.map_or("no answer".to_string(), |s| s.to_string());
    let what = match &e.what {
        What::Send { token, status: s } => format!("send {token} → {}", status(s)),
        What::Subscribe { session, ok } => format!("subscribe {session} → ok {ok:?}"),
        What::Push { session, token, id } => format!(
            "push to {session}: {} (ID {id})",
            token.as_deref().unwrap_or("an unknown message")
        ),
        What::Quiet { session } => format!("{session}: no more pushes (quiet)"),
        What::Page {
            from,
            tokens,
            next,
            status: s,
            final_walk,
            ..
        } => format!(
            "{}retrieve from {} → {} {tokens:?}, nextMessageID {next:?}",
            if *final_walk { "final " } else { "" },
            from.as_deref().unwrap_or("the start"),
            status(s)
        ),
        What::Secure { key, status: s } => format!("secure with {key} → {}", status(s)),
        What::Probe { key, status: s } => format!("send signed with {key} → {}", status(s)),
        What::ChurnSend { token, status: s } => format!("send {token} → {}", status(s)),
        What::ChurnReply {
            session,
            ask,
            ok,
            frame,
        } => {
            let asked = match ask {
                Ask::Subscribe => "subscribe".to_string(),
                Ask::Unsubscribe => "unsubscribe".to_string(),
                Ask::Delete { token, id } => format!(
                    "delete_message {} (ID {id})",
                    token.as_deref().unwrap_or("?")
                ),
            };
            format!("{session}: {asked} → ok {ok:?} (frame {frame})")
        }
        What::ChurnPush {
            session,
            token,
            id,
            frame,
        } => format!(
            "push to {session}: {} (ID {id}, frame {frame})",
            token.as_deref().unwrap_or("an unknown message")
        ),
        What::ChurnWalk { tokens, status: s } => {
            format!("walk of the churn connection → {} {tokens:?}", status(s))
        }
    };
    format!("{} {when}: {what}", e.actor)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Churn events: `(actor, what, invoke, ret)`.
    fn history(events: Vec<(&str, What, u64, u64)>) -> History {
        History {
            round: 1,
            seed: 1,
            events: events
                .into_iter()
                .map(|(actor, what, invoke, ret)| Event {
                    actor: actor.into(),
                    what,
                    invoke,
                    ret,
                })
                .collect(),
        }
    }

    fn send(token: &str, at: u64) -> (&'static str, What, u64, u64) {
        let what = What::ChurnSend {
            token: token.into(),
            status: Some(200),
        };
        ("c0", what, at, at + 1)
    }

    fn reply(
        session: &'static str,
        ask: Ask,
        ok: bool,
        frame: usize,
        sent: u64,
        read: u64,
    ) -> (&'static str, What, u64, u64) {
        let what = What::ChurnReply {
            session: session.into(),
            ask,
            ok: Some(ok),
            frame,
        };
        (session, what, sent, read)
    }

    fn push(
        session: &'static str,
        token: &str,
        frame: usize,
        at: u64,
    ) -> (&'static str, What, u64, u64) {
        let what = What::ChurnPush {
            session: session.into(),
            token: Some(token.into()),
            id: format!("id-{token}"),
            frame,
        };
        (session, what, at, at)
    }

    fn delete(token: &str) -> Ask {
        Ask::Delete {
            token: Some(token.into()),
            id: format!("id-{token}"),
        }
    }

    fn walk(tokens: &[&str], at: u64) -> (&'static str, What, u64, u64) {
        let what = What::ChurnWalk {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            status: Some(200),
        };
        ("final", what, at, at + 1)
    }

    /// u0 subscribes, unsubscribes and subscribes again; d0 deletes c0-000 after u0's second
    /// subscribe was sent, so its backlog may still hold it.
    fn clean(deleted_at: u64) -> Vec<(&'static str, What, u64, u64)> {
        vec![
            reply("u0", Ask::Subscribe, true, 1, 1, 2),
            reply("d0", Ask::Subscribe, true, 1, 1, 2),
            send("c0-000", 10),
            send("c0-001", 20),
            push("u0", "c0-000", 2, 12),
            push("d0", "c0-000", 2, 12),
            reply("u0", Ask::Unsubscribe, true, 3, 13, 14),
            reply("u0", Ask::Subscribe, true, 4, 15, 16),
            reply("d0", delete("c0-000"), true, 3, 13, deleted_at),
            push("u0", "c0-000", 5, 17),
            push("u0", "c0-001", 6, 22),
            push("d0", "c0-001", 4, 22),
            walk(&["c0-001"], 30),
        ]
    }

    fn rules(events: Vec<(&str, What, u64, u64)>) -> Vec<&'static str> {
        churn(&history(events))
            .into_iter()
            .map(|v| v.rule)
            .collect()
    }

    #[test]
    fn a_clean_churn_passes() {
        assert_eq!(rules(clean(16)), Vec::<&str>::new());
    }

    #[test]
    fn a_push_after_a_deletion_answered_elsewhere_is_found() {
        // The deletion was answered before u0 sent its second subscribe, whose backlog
        // still pushed c0-000.
        let v = churn(&history(clean(14)));
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].rule, "V-WS-ORDER");
        assert_eq!(v[0].events.len(), 3, "{v:?}");
    }

    #[test]
    fn a_push_after_unsubscribe_is_found_once() {
        let mut e = clean(16);
        e.retain(|(_, w, _, _)| {
            !matches!(
                w,
                What::ChurnReply {
                    ask: Ask::Subscribe,
                    frame: 4,
                    ..
                }
            )
        });
        // Now u0 never subscribed again: both later pushes come while unsubscribed.
        let r = rules(e);
        assert_eq!(r.iter().filter(|r| **r == "V-WS-UNSUB").count(), 1, "{r:?}");
    }

    #[test]
    fn a_message_pushed_twice_in_one_subscription_is_found() {
        let mut e = clean(16);
        e.push(push("d0", "c0-001", 5, 23));
        assert_eq!(rules(e), vec!["V-WS-ORDER"]);
    }

    #[test]
    fn a_deleted_message_still_listed_is_found() {
        let mut e = clean(16);
        e.pop();
        e.push(walk(&["c0-000", "c0-001"], 30));
        assert_eq!(rules(e), vec!["V-WS-DEL"]);
    }

    #[test]
    fn a_refused_deletion_of_a_pushed_message_is_found() {
        let mut e = clean(16);
        for x in e.iter_mut() {
            if let What::ChurnReply {
                ask: Ask::Delete { .. },
                ok,
                ..
            } = &mut x.1
            {
                *ok = Some(false);
            }
        }
        // c0-000 was then never deleted: the walk must list it too.
        let r = rules(e);
        assert!(r.contains(&"V-WS-DEL"), "{r:?}");
        assert!(r.contains(&"V-SEND"), "{r:?}");
    }

    #[test]
    fn a_message_never_deleted_missing_from_the_last_subscription_is_found() {
        let mut e = clean(16);
        e.retain(|(s, w, _, _)| !(*s == "u0" && matches!(w, What::ChurnPush { frame: 6, .. })));
        assert_eq!(rules(e), vec!["VB-WS-BACKLOG"]);
    }

    #[test]
    fn a_refused_subscribe_is_found() {
        let mut e = clean(16);
        e[7] = reply("u0", Ask::Subscribe, false, 4, 15, 16);
        assert!(rules(e).contains(&"V-WS-SUB"));
    }

    #[test]
    fn a_push_before_the_subscribe_is_answered_is_found() {
        let mut e = clean(16);
        e.push(push("d0", "c0-001", 0, 3));
        assert!(rules(e).contains(&"V-WS-SUB"));
    }

    #[test]
    fn a_push_of_nothing_sent_is_found() {
        let mut e = clean(16);
        e.push(push("d0", "c9-000", 5, 23));
        assert_eq!(rules(e), vec!["VB-WS-BACKLOG"]);
    }

    #[test]
    fn a_sender_out_of_order_in_one_subscription_is_found() {
        let mut e = clean(16);
        // d0 is pushed c0-001 before c0-000.
        e[5] = push("d0", "c0-000", 4, 12);
        e[11] = push("d0", "c0-001", 2, 22);
        assert!(rules(e).contains(&"V-WS-ORDER"));
    }

    #[test]
    fn a_refused_unsubscribe_of_a_subscription_is_found() {
        let mut e = clean(16);
        e[6] = reply("u0", Ask::Unsubscribe, false, 3, 13, 14);
        assert!(rules(e).contains(&"V-WS-UNSUB"));
    }

    #[test]
    fn a_push_after_its_own_deletion_is_found() {
        let mut e = clean(16);
        e.push(push("d0", "c0-000", 5, 23));
        assert!(rules(e).contains(&"V-WS-ORDER"));
    }

    #[test]
    fn a_message_the_deleter_was_never_pushed_is_found() {
        let mut e = clean(16);
        e.remove(11);
        assert_eq!(rules(e), vec!["VB-WS-BACKLOG"]);
    }

    #[test]
    fn a_walk_with_a_message_never_sent_or_stored_twice_is_found() {
        let mut e = clean(16);
        e.pop();
        e.push(walk(&["c0-001", "c0-001", "c9-000"], 30));
        assert_eq!(rules(e), vec!["V-SEND", "V-SEND"]);
    }
}
