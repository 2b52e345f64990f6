//! The checker: a recorded history against the binding.
//!
//! - every acknowledged message is retrieved exactly once by removing retrievals
//!   (B-CONCURRENT), and nothing appears that was never sent, was refused, was sent to
//!   another connection (B-ISOLATION), or was retrieved before its send began;
//! - each sender's order is kept: two of its messages are ordered when they share a send
//!   (array order) or the first send was acknowledged before the second began; a retrieval
//!   comes strictly before another when it returned before the other was invoked;
//! - once a rotation has returned, no request invoked later with the old key or URI succeeds
//!   (S-RUPD-OLDKEY, S-SUPD-OLDKEY, S-RUPD-OLDURI, S-SUPD-OLDURI);
//! - a send invoked after a disable returned, and finished before any enable began, is
//!   refused (B-SEND-DISABLED);
//! - a correct request is refused only when a concurrent or earlier rotation, disable or
//!   quota explains it;
//! - a request with no answer (timeout, closed connection, 5xx) is indeterminate: its
//!   messages may appear at most once, and a removing retrieval without an answer may have
//!   removed up to its `pageSize` messages.
//!
//! Each violation comes with the smallest set of operations that shows it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::history::{label, Action, Cred, Op, Outcome};

/// One violation of the binding, with the operations that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule broken.
    pub rule: String,
    /// What happened, in one line.
    pub what: String,
    /// Indices of the operations that show it, in history order.
    pub ops: Vec<usize>,
}

fn violation(rule: &str, what: String, ops: impl IntoIterator<Item = usize>) -> Violation {
    let ops: BTreeSet<usize> = ops.into_iter().collect();
    Violation {
        rule: rule.to_string(),
        what,
        ops: ops.into_iter().collect(),
    }
}

/// A sent message: its send, place in it, connection and sender.
#[derive(Debug, Clone, Copy)]
struct Sent<'a> {
    op: usize,
    pos: usize,
    conn: usize,
    actor: &'a str,
}

/// Every violation in `h`. `nonce` is the round's ciphertext prefix (for labels only).
pub fn check(h: &[Op], nonce: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    answers(h, &mut out);
    let mut sent: HashMap<&str, Sent<'_>> = HashMap::new();
    for (i, op) in h.iter().enumerate() {
        if let Action::Send { msgs } = &op.action {
            for (pos, m) in msgs.iter().enumerate() {
                sent.entry(m.as_str()).or_insert(Sent {
                    op: i,
                    pos,
                    conn: op.conn,
                    actor: &op.actor,
                });
            }
        }
    }
    let seen = retrievals(h, &sent, nonce, &mut out);
    duplicates(h, &sent, &seen, nonce, &mut out);
    reorders(h, &sent, &seen, nonce, &mut out);
    losses(h, &sent, &seen, nonce, &mut out);
    stale_credentials(h, &mut out);
    disabled_sends(h, &mut out);
    refusals(h, &mut out);
    out
}

/// 5xx answers and malformed 2xx answers.
fn answers(h: &[Op], out: &mut Vec<Violation>) {
    for (i, op) in h.iter().enumerate() {
        if let Some(s) = op.outcome.status().filter(|s| *s >= 500) {
            out.push(violation(
                "B-NO-5XX",
                format!("a correct request got {s}"),
                [i],
            ));
        }
        if let Some((rule, what)) = &op.problem {
            out.push(violation(rule, what.clone(), [i]));
        }
    }
}

/// Phantoms; returns where each sent message was retrieved by a removing retrieval.
fn retrievals<'a>(
    h: &'a [Op],
    sent: &HashMap<&str, Sent<'_>>,
    nonce: &str,
    out: &mut Vec<Violation>,
) -> HashMap<&'a str, Vec<(usize, usize)>> {
    let mut seen: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
    for (i, op) in h.iter().enumerate() {
        let Action::Retrieve {
            keep,
            got: Some(got),
            ..
        } = &op.action
        else {
            continue;
        };
        for (pos, m) in got.iter().enumerate() {
            let name = label(nonce, m);
            let Some(s) = sent.get(m.as_str()) else {
                out.push(violation(
                    "B-CONCURRENT",
                    format!("{name} was retrieved from c{} but never sent", op.conn),
                    [i],
                ));
                continue;
            };
            let send = &h[s.op];
            if s.conn != op.conn {
                out.push(violation(
                    "B-ISOLATION",
                    format!(
                        "{name} was sent to c{} but retrieved from c{}",
                        s.conn, op.conn
                    ),
                    [s.op, i],
                ));
            } else if send.outcome.refused() {
                let status = send.outcome.status().unwrap_or_default();
                out.push(violation(
                    "B-CONCURRENT",
                    format!("{name} was retrieved although its send was refused with {status}"),
                    [s.op, i],
                ));
            } else if op.ret < send.invoke {
                out.push(violation(
                    "B-CONCURRENT",
                    format!("{name} was retrieved before its send began"),
                    [s.op, i],
                ));
            } else if !keep {
                seen.entry(m.as_str()).or_default().push((i, pos));
            }
        }
    }
    seen
}

/// Sent messages in send order: (ciphertext, sent).
fn in_send_order<'a>(sent: &HashMap<&'a str, Sent<'a>>) -> Vec<(&'a str, Sent<'a>)> {
    let mut order: Vec<(&str, Sent<'_>)> = sent.iter().map(|(m, s)| (*m, *s)).collect();
    order.sort_by_key(|(_, s)| (s.op, s.pos));
    order
}

fn duplicates(
    h: &[Op],
    sent: &HashMap<&str, Sent<'_>>,
    seen: &HashMap<&str, Vec<(usize, usize)>>,
    nonce: &str,
    out: &mut Vec<Violation>,
) {
    for (m, s) in in_send_order(sent) {
        let Some(places) = seen.get(m) else { continue };
        if places.len() > 1 {
            let list: Vec<String> = places.iter().map(|(r, _)| format!("#{r}")).collect();
            let how = if h[s.op].outcome.succeeded() {
                ""
            } else {
                " (its send had no answer, so at most once)"
            };
            out.push(violation(
                "B-CONCURRENT",
                format!(
                    "{} was retrieved {} times ({}){how}",
                    label(nonce, m),
                    places.len(),
                    list.join(", ")
                ),
                [s.op, places[0].0, places[1].0],
            ));
        }
    }
}

fn reorders(
    h: &[Op],
    sent: &HashMap<&str, Sent<'_>>,
    seen: &HashMap<&str, Vec<(usize, usize)>>,
    nonce: &str,
    out: &mut Vec<Violation>,
) {
    let mut by_sender: BTreeMap<(usize, &str), Vec<(&str, Sent<'_>)>> = BTreeMap::new();
    for (m, s) in in_send_order(sent) {
        by_sender.entry((s.conn, s.actor)).or_default().push((m, s));
    }
    'senders: for list in by_sender.values() {
        for (k, &(a, sa)) in list.iter().enumerate() {
            let Some(&(ra, qa)) = seen.get(a).and_then(|v| v.first()) else {
                continue;
            };
            for &(b, sb) in &list[k + 1..] {
                let ordered = (sa.op == sb.op && sa.pos < sb.pos)
                    || (h[sa.op].outcome.succeeded() && h[sa.op].ret < h[sb.op].invoke);
                if !ordered {
                    continue;
                }
                let Some(&(rb, qb)) = seen.get(b).and_then(|v| v.first()) else {
                    continue;
                };
                let b_first = (ra == rb && qb < qa) || h[rb].ret < h[ra].invoke;
                if b_first {
                    out.push(violation(
                        "B-CONCURRENT",
                        format!(
                            "{} was sent before {} but retrieved after it",
                            label(nonce, a),
                            label(nonce, b)
                        ),
                        [sa.op, sb.op, ra, rb],
                    ));
                    continue 'senders;
                }
            }
        }
    }
}

/// Acknowledged messages never retrieved, per connection, on connections whose final drain
/// came back empty; removing retrievals without an answer excuse up to their `pageSize`.
fn losses(
    h: &[Op],
    sent: &HashMap<&str, Sent<'_>>,
    seen: &HashMap<&str, Vec<(usize, usize)>>,
    nonce: &str,
    out: &mut Vec<Violation>,
) {
    let conns: BTreeSet<usize> = h.iter().map(|op| op.conn).collect();
    for conn in conns {
        let drained = h.iter().rposition(|op| {
            op.conn == conn && matches!(&op.action, Action::Retrieve { keep: false, .. })
        });
        let Some(last) = drained else { continue };
        let empty =
            matches!(&h[last].action, Action::Retrieve { got: Some(g), .. } if g.is_empty());
        if !empty {
            continue;
        }
        let allowance: usize = h
            .iter()
            .filter(|op| op.conn == conn)
            .map(|op| match &op.action {
                Action::Retrieve {
                    keep: false,
                    page,
                    got: None,
                } => *page,
                _ => 0,
            })
            .sum();
        let lost: Vec<(&str, Sent<'_>)> = in_send_order(sent)
            .into_iter()
            .filter(|(m, s)| s.conn == conn && h[s.op].outcome.succeeded() && !seen.contains_key(m))
            .collect();
        if lost.len() > allowance {
            let (m, s) = lost[0];
            let more = if lost.len() > 1 {
                format!(" ({} acknowledged messages in all)", lost.len())
            } else {
                String::new()
            };
            let excuse = if allowance > 0 {
                format!("; retrievals without an answer excuse at most {allowance}")
            } else {
                String::new()
            };
            out.push(violation(
                "B-CONCURRENT",
                format!(
                    "{} was acknowledged but never retrieved{more}{excuse}",
                    label(nonce, m)
                ),
                [s.op, last],
            ));
        }
    }
}

/// The rule that keeps a replaced credential dead.
fn stale_rule(cred: Cred, by_sender: bool) -> &'static str {
    match (cred, by_sender) {
        (Cred::Rk | Cred::Sk, false) => "S-RUPD-OLDKEY",
        (Cred::Sk, true) | (Cred::Rk, true) => "S-SUPD-OLDKEY",
        (Cred::Ru | Cred::Su, false) => "S-RUPD-OLDURI",
        (Cred::Su, true) | (Cred::Ru, true) => "S-SUPD-OLDURI",
    }
}

fn uses(op: &Op, cred: Cred, version: u32) -> bool {
    op.used.key == Some((cred, version)) || op.used.uri == (cred, version)
}

fn stale_credentials(h: &[Op], out: &mut Vec<Violation>) {
    for (u, update) in h.iter().enumerate() {
        let Action::Update {
            retires, by_sender, ..
        } = &update.action
        else {
            continue;
        };
        if !update.outcome.succeeded() {
            continue;
        }
        for &(cred, version) in retires {
            let late = h.iter().enumerate().find(|(r, op)| {
                *r != u
                    && op.conn == update.conn
                    && op.invoke > update.ret
                    && uses(op, cred, version)
                    && op.outcome.succeeded()
            });
            if let Some((r, op)) = late {
                out.push(violation(
                    stale_rule(cred, *by_sender),
                    format!(
                        "{}{version} was replaced (#{u} returned at {} µs), yet #{r} invoked with it at {} µs succeeded",
                        cred.name(),
                        update.ret,
                        op.invoke
                    ),
                    [u, r],
                ));
            }
        }
    }
}

fn switches(op: &Op, to: bool) -> bool {
    matches!(op.action, Action::Update { disabled: Some(d), .. } if d == to)
}

fn disabled_sends(h: &[Op], out: &mut Vec<Violation>) {
    for (d, dis) in h.iter().enumerate() {
        if !switches(dis, true) || !dis.outcome.succeeded() {
            continue;
        }
        let bad = h.iter().enumerate().find(|(_, s)| {
            s.conn == dis.conn
                && matches!(s.action, Action::Send { .. })
                && s.outcome.succeeded()
                && s.invoke > dis.ret
                && !h.iter().any(|e| {
                    e.conn == dis.conn
                        && switches(e, false)
                        && !e.outcome.refused()
                        && e.invoke < s.ret
                        && e.ret > dis.invoke
                })
        });
        if let Some((s, _)) = bad {
            out.push(violation(
                "B-SEND-DISABLED",
                format!("#{s} was accepted although the connection was disabled by #{d} and not enabled since"),
                [d, s],
            ));
        }
    }
}

/// Whether the connection may have been disabled at some time in `[from, to]`.
fn maybe_disabled(h: &[Op], conn: usize, from: u64, to: u64) -> bool {
    h.iter().any(|d| {
        d.conn == conn
            && switches(d, true)
            && !d.outcome.refused()
            && d.invoke < to
            && !h.iter().any(|e| {
                e.conn == conn
                    && switches(e, false)
                    && e.outcome.succeeded()
                    && e.invoke > d.ret
                    && e.ret < from
            })
    })
}

/// Whether an update that replaces `(cred, version)` was invoked before `before`.
fn replaced_by(h: &[Op], conn: usize, cred: Cred, version: u32, before: u64) -> bool {
    h.iter().any(|u| {
        u.conn == conn
            && !u.outcome.refused()
            && u.invoke < before
            && matches!(&u.action, Action::Update { retires, .. } if retires.contains(&(cred, version)))
    })
}

fn refusals(h: &[Op], out: &mut Vec<Violation>) {
    for (i, op) in h.iter().enumerate() {
        let Outcome::Status { status } = op.outcome else {
            continue;
        };
        if !(400..500).contains(&status) {
            continue;
        }
        let is_send = matches!(op.action, Action::Send { .. });
        let explained = match status {
            401 => op
                .used
                .key
                .is_some_and(|(c, v)| replaced_by(h, op.conn, c, v, op.ret)),
            404 => replaced_by(h, op.conn, op.used.uri.0, op.used.uri.1, op.ret),
            403 => is_send && maybe_disabled(h, op.conn, op.invoke, op.ret),
            429 => is_send,
            _ => false,
        };
        if explained {
            continue;
        }
        let rule = match &op.action {
            Action::Send { .. } => "S-SEND-200",
            Action::Retrieve { .. } => "S-RETR-200",
            Action::Update {
                by_sender: false, ..
            } => "S-RUPD-200",
            Action::Update {
                by_sender: true, ..
            } => "S-SUPD-200",
        };
        out.push(violation(
            rule,
            format!("#{i} used the current key and URI but was refused with {status}, and no rotation, disable or quota explains it"),
            [i],
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::history::{ciphertext, Used};
    use super::*;

    const N: &str = "n";

    fn m(sender: usize, seq: usize) -> String {
        ciphertext(N, 0, sender, seq)
    }

    fn used(key: Cred, kv: u32, uri: Cred, uv: u32) -> Used {
        Used {
            key: Some((key, kv)),
            uri: (uri, uv),
        }
    }

    fn ok(status: u16) -> Outcome {
        Outcome::Status { status }
    }

    fn lost() -> Outcome {
        Outcome::NoAnswer {
            reason: "timeout".into(),
            timeout: true,
        }
    }

    fn op(actor: &str, invoke: u64, ret: u64, used: Used, action: Action, outcome: Outcome) -> Op {
        Op {
            actor: actor.into(),
            conn: 0,
            invoke,
            ret,
            used,
            action,
            outcome,
            problem: None,
            exchange: String::new(),
        }
    }

    fn send(sender: usize, t: (u64, u64), msgs: &[usize], outcome: Outcome) -> Op {
        send_v(sender, t, msgs, outcome, 0, 0)
    }

    fn send_v(
        sender: usize,
        t: (u64, u64),
        msgs: &[usize],
        outcome: Outcome,
        sk: u32,
        su: u32,
    ) -> Op {
        op(
            &format!("sender {sender}"),
            t.0,
            t.1,
            used(Cred::Sk, sk, Cred::Su, su),
            Action::Send {
                msgs: msgs.iter().map(|&q| m(sender, q)).collect(),
            },
            outcome,
        )
    }

    fn got(t: (u64, u64), msgs: &[(usize, usize)]) -> Op {
        got_v(t, msgs, 0, 0, false)
    }

    fn got_v(t: (u64, u64), msgs: &[(usize, usize)], rk: u32, ru: u32, keep: bool) -> Op {
        op(
            "retriever 0",
            t.0,
            t.1,
            used(Cred::Rk, rk, Cred::Ru, ru),
            Action::Retrieve {
                page: 4,
                keep,
                got: Some(msgs.iter().map(|&(s, q)| m(s, q)).collect()),
            },
            ok(200),
        )
    }

    fn no_answer_retrieval(t: (u64, u64)) -> Op {
        op(
            "retriever 1",
            t.0,
            t.1,
            used(Cred::Rk, 0, Cred::Ru, 0),
            Action::Retrieve {
                page: 4,
                keep: false,
                got: None,
            },
            lost(),
        )
    }

    fn update(
        t: (u64, u64),
        retires: &[(Cred, u32)],
        disabled: Option<bool>,
        outcome: Outcome,
    ) -> Op {
        op(
            "rotator",
            t.0,
            t.1,
            used(Cred::Rk, 0, Cred::Ru, 0),
            Action::Update {
                retires: retires.to_vec(),
                disabled,
                by_sender: false,
            },
            outcome,
        )
    }

    /// Two senders, a batch, overlapping retrievals, a final empty drain: correct.
    fn good() -> Vec<Op> {
        vec![
            send(0, (0, 30), &[0, 1], ok(200)),
            send(1, (10, 40), &[0], ok(200)),
            got((20, 60), &[(0, 0), (1, 0)]),
            send(0, (50, 80), &[2], ok(200)),
            got((70, 100), &[(0, 1)]),
            got((90, 120), &[(0, 2)]),
            got((130, 140), &[]),
        ]
    }

    fn rules(h: &[Op]) -> Vec<String> {
        check(h, N).into_iter().map(|v| v.rule).collect()
    }

    #[test]
    fn a_correct_history_passes() {
        assert_eq!(check(&good(), N), vec![]);
    }

    #[test]
    fn overlapping_retrievals_may_be_served_in_either_order() {
        let h = vec![
            send(0, (0, 1), &[0], ok(200)),
            send(0, (2, 3), &[1], ok(200)),
            got((4, 9), &[(0, 1)]),
            got((5, 8), &[(0, 0)]),
            got((10, 11), &[]),
        ];
        assert_eq!(check(&h, N), vec![]);
    }

    #[test]
    fn a_duplicate_is_shown_with_its_send_and_both_retrievals() {
        let mut h = good();
        h[5] = got((90, 120), &[(0, 2), (0, 1)]);
        let v = check(&h, N);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].rule, "B-CONCURRENT");
        assert!(
            v[0].what.contains("c0.s0#1 was retrieved 2 times"),
            "{}",
            v[0].what
        );
        assert_eq!(v[0].ops, vec![0, 4, 5]);
        let shown = super::super::history::render(&h, &v[0].ops, N);
        assert!(shown.contains("#5 0.090ms..0.120ms retriever 0 c0: retrieve pageSize 4 from RU0, signed RK0 returned [c0.s0#2, c0.s0#1] -> 200"), "{shown}");
    }

    #[test]
    fn kept_messages_do_not_count_as_duplicates() {
        let mut h = good();
        h.insert(3, got_v((61, 62), &[(0, 1)], 0, 0, true));
        assert_eq!(check(&h, N), vec![]);
    }

    #[test]
    fn a_loss_is_shown_with_the_empty_drain() {
        let mut h = good();
        h[4] = got((70, 100), &[]);
        let v = check(&h, N);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].what
                .contains("c0.s0#1 was acknowledged but never retrieved"),
            "{}",
            v[0].what
        );
        assert_eq!(v[0].ops, vec![0, 6]);
    }

    #[test]
    fn losses_are_not_judged_without_a_final_empty_drain() {
        let mut h = good();
        h[4] = got((70, 100), &[]);
        h.pop();
        h.push(got((130, 140), &[(0, 2)]));
        h[5] = got((90, 120), &[]);
        assert_eq!(rules(&h), Vec::<String>::new());
    }

    #[test]
    fn an_unanswered_retrieval_excuses_at_most_its_page() {
        let mut h = good();
        h[4] = no_answer_retrieval((70, 100));
        assert_eq!(check(&h, N), vec![]);
        let h = vec![
            send(0, (0, 1), &[0, 1, 2, 3, 4], ok(200)),
            no_answer_retrieval((2, 3)),
            got((4, 5), &[]),
        ];
        assert_eq!(rules(&h), vec!["B-CONCURRENT"]);
    }

    #[test]
    fn reorders_within_a_batch_and_across_sends_are_found() {
        let mut h = good();
        h[2] = got((20, 60), &[(1, 0)]);
        h[4] = got((70, 100), &[(0, 1), (0, 0)]);
        let v = check(&h, N);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].what.contains("c0.s0#0 was sent before c0.s0#1"),
            "{}",
            v[0].what
        );
        assert_eq!(v[0].ops, vec![0, 4]);

        let h = vec![
            send(0, (0, 1), &[0], ok(200)),
            send(0, (2, 3), &[1], ok(200)),
            got((4, 5), &[(0, 1)]),
            got((6, 7), &[(0, 0)]),
            got((8, 9), &[]),
        ];
        let v = check(&h, N);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].ops, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_timed_out_send_orders_nothing_and_appears_at_most_once() {
        let h = vec![
            send(0, (0, 1), &[0], lost()),
            send(0, (2, 3), &[1], ok(200)),
            got((4, 5), &[(0, 1)]),
            got((6, 7), &[(0, 0)]),
            got((8, 9), &[]),
        ];
        assert_eq!(check(&h, N), vec![]);
        let h = vec![send(0, (0, 1), &[0], lost()), got((2, 3), &[])];
        assert_eq!(check(&h, N), vec![]);
        let h = vec![
            send(0, (0, 1), &[0], lost()),
            got((2, 3), &[(0, 0)]),
            got((4, 5), &[(0, 0)]),
            got((6, 7), &[]),
        ];
        let v = check(&h, N);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].what.contains("at most once"), "{}", v[0].what);
    }

    #[test]
    fn phantoms_unsent_refused_early_or_from_another_connection() {
        let mut h = good();
        if let Action::Retrieve { got: Some(g), .. } = &mut h[6].action {
            g.push(crate::profiles::edge_v1::wire::b64("never sent"));
        }
        let v = check(&h, N);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].what.contains("never sent"), "{}", v[0].what);
        assert_eq!(v[0].ops, vec![6]);

        let h = vec![
            send(0, (0, 1), &[0], ok(429)),
            got((2, 3), &[(0, 0)]),
            got((4, 5), &[]),
        ];
        let v = check(&h, N);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].what.contains("refused with 429"), "{}", v[0].what);

        let h = vec![
            got((0, 1), &[(0, 0)]),
            send(0, (2, 3), &[0], ok(200)),
            got((4, 5), &[]),
        ];
        let v = check(&h, N);
        assert!(v[0].what.contains("before its send began"), "{v:?}");

        let mut other = send(0, (0, 1), &[0], ok(200));
        other.conn = 1;
        let h = vec![other, got((2, 3), &[(0, 0)])];
        assert_eq!(rules(&h), vec!["B-ISOLATION"]);
    }

    #[test]
    fn an_old_key_that_works_after_its_rotation_returned_is_found() {
        let h = vec![
            update((0, 10), &[(Cred::Sk, 0)], None, ok(200)),
            send_v(0, (5, 15), &[0], ok(200), 0, 0),
            send_v(0, (20, 25), &[1], ok(200), 0, 0),
            got((30, 40), &[(0, 0), (0, 1)]),
            got((50, 60), &[]),
        ];
        let v = check(&h, N);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].rule, "S-RUPD-OLDKEY");
        assert_eq!(v[0].ops, vec![0, 2]);
        // While the rotation is in flight, the old key may still work; afterwards, refused.
        let h = vec![
            update((0, 10), &[(Cred::Sk, 0)], None, ok(200)),
            send_v(0, (5, 15), &[0], ok(200), 0, 0),
            send_v(0, (20, 25), &[1], ok(401), 0, 0),
            got((30, 40), &[(0, 0)]),
            got((50, 60), &[]),
        ];
        assert_eq!(check(&h, N), vec![]);
    }

    #[test]
    fn an_old_uri_that_works_after_its_rotation_returned_is_found() {
        let mut rot = update((0, 10), &[(Cred::Ru, 0)], None, ok(200));
        if let Action::Update { by_sender, .. } = &mut rot.action {
            *by_sender = false;
        }
        let h = vec![
            rot,
            got_v((20, 30), &[], 0, 0, true),
            got_v((40, 50), &[], 0, 1, false),
        ];
        let v = check(&h, N);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].rule, "S-RUPD-OLDURI");
    }

    #[test]
    fn refusals_need_a_cause() {
        // 401 with the current key and no rotation: a violation.
        let h = vec![send(0, (0, 1), &[0], ok(401)), got((2, 3), &[])];
        assert_eq!(rules(&h), vec!["S-SEND-200"]);
        // 401 while the key is being replaced: explained.
        let h = vec![
            update((0, 10), &[(Cred::Sk, 0)], None, ok(200)),
            send(0, (5, 8), &[0], ok(401)),
            got((20, 30), &[]),
        ];
        assert_eq!(check(&h, N), vec![]);
        // 403 without any disable: a violation; during a disable: explained.
        let h = vec![send(0, (0, 1), &[0], ok(403))];
        assert_eq!(rules(&h), vec!["S-SEND-200"]);
        let h = vec![
            update((0, 10), &[], Some(true), ok(200)),
            send(0, (5, 8), &[0], ok(403)),
            update((20, 30), &[], Some(false), ok(200)),
            send(0, (40, 50), &[1], ok(403)),
        ];
        let v = check(&h, N);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].ops, vec![3]);
        // A rotation that itself is refused.
        let h = vec![update((0, 10), &[(Cred::Rk, 0)], None, ok(400))];
        assert_eq!(rules(&h), vec!["S-RUPD-200"]);
    }

    #[test]
    fn a_send_accepted_while_disabled_is_found() {
        let h = vec![
            update((0, 10), &[], Some(true), ok(200)),
            send(0, (20, 30), &[0], ok(200)),
            update((40, 50), &[], Some(false), ok(200)),
            got((60, 70), &[(0, 0)]),
            got((80, 90), &[]),
        ];
        let v = check(&h, N);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].rule, "B-SEND-DISABLED");
        assert_eq!(v[0].ops, vec![0, 1]);
        // Overlapping an enable, it may be accepted.
        let h = vec![
            update((0, 10), &[], Some(true), ok(200)),
            update((20, 50), &[], Some(false), ok(200)),
            send(0, (30, 40), &[0], ok(200)),
            got((60, 70), &[(0, 0)]),
            got((80, 90), &[]),
        ];
        assert_eq!(check(&h, N), vec![]);
    }

    #[test]
    fn five_hundreds_and_malformed_answers_are_reported() {
        let mut h = good();
        h[5].outcome = ok(500);
        h[5].action = Action::Retrieve {
            page: 4,
            keep: false,
            got: None,
        };
        assert_eq!(rules(&h), vec!["B-NO-5XX"]);
        let mut h = good();
        h[2].problem = Some(("S-RETR-PAGE".into(), "5 messages for pageSize 4".into()));
        assert_eq!(rules(&h), vec!["S-RETR-PAGE"]);
    }
}
