//! The checker of edge-v1 histories, shared by `edgecheck race` and the scripted
//! concurrency probe (`scenarios/concurrent-*`).
//!
//! The queue guarantees come from the protocol-neutral checker ([`crate::engine::history`]),
//! with connections as queues and ciphertexts as tokens:
//!
//! - every acknowledged message is retrieved exactly once by removing retrievals
//!   (B-CONCURRENT), and nothing appears that was never sent, was refused, was sent to
//!   another connection (B-ISOLATION), or was retrieved before its send began;
//! - each sender's order is kept: two of its messages are ordered when they share a send
//!   (array order) or the first send was acknowledged before the second began; a retrieval
//!   comes strictly before another when it returned before the other was invoked;
//! - a request with no answer (timeout, closed connection, 5xx) is indeterminate: its
//!   messages may appear at most once, and a removing retrieval without an answer may have
//!   removed up to its `pageSize` messages.
//!
//! This module adds what is edge-v1's own:
//!
//! - no 5xx (B-NO-5XX), and the problems the recorder found in answers themselves;
//! - once a rotation has returned, no request invoked later with the old key or URI succeeds
//!   (S-RUPD-OLDKEY, S-SUPD-OLDKEY, S-RUPD-OLDURI, S-SUPD-OLDURI);
//! - a send invoked after a disable returned, and finished before any enable began, is
//!   refused (B-SEND-DISABLED);
//! - a correct request is refused only when a concurrent or earlier rotation, disable or
//!   quota explains it.
//!
//! Each violation comes with the smallest set of operations that shows it.

use std::collections::BTreeSet;

use super::history::{Action, Cred, Names, Op, Outcome};
use crate::engine::history::{self as queues, Kind};

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

/// Every violation in `h`: problems with answers, then the queue checker's (phantoms,
/// duplicates, reorders, losses), then replaced credentials, disabled sends and refusals.
/// `nonce` is the history's ciphertext prefix (for labels only).
pub fn check(h: &[Op], nonce: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    answers(h, &mut out);
    let ops: Vec<queues::Op> = h.iter().map(Op::queue_op).collect();
    out.extend(
        queues::check(&ops, &Names { nonce })
            .into_iter()
            .map(|v| Violation {
                rule: queue_rule(v.kind).to_string(),
                what: v.what,
                ops: v.ops,
            }),
    );
    stale_credentials(h, &mut out);
    disabled_sends(h, &mut out);
    refusals(h, &mut out);
    out
}

/// The rule of the binding that a kind of queue violation breaks.
pub fn queue_rule(kind: Kind) -> &'static str {
    match kind {
        Kind::CrossQueue => "B-ISOLATION",
        Kind::Phantom | Kind::Duplicate | Kind::Reorder | Kind::Loss => "B-CONCURRENT",
    }
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

    #[test]
    fn operations_are_seen_by_the_queue_checker_as_done_refused_or_unknown() {
        use crate::engine::history::{Action as Q, Effect};
        let effect = |o: Outcome| send(0, (0, 1), &[0], o).queue_op().effect;
        assert_eq!(effect(ok(200)), Effect::Done);
        assert_eq!(effect(ok(429)), Effect::Refused("429".into()));
        assert_eq!(effect(ok(503)), Effect::Unknown);
        assert_eq!(effect(lost()), Effect::Unknown);
        let mut u = update((0, 10), &[(Cred::Rk, 0)], None, ok(200));
        u.conn = 2;
        let q = u.queue_op();
        assert_eq!((q.action, q.queue, q.invoke, q.ret), (Q::Other, 2, 0, 10));
        assert_eq!(queue_rule(Kind::CrossQueue), "B-ISOLATION");
        assert_eq!(queue_rule(Kind::Loss), "B-CONCURRENT");
    }

    #[test]
    fn a_send_with_a_5xx_may_have_stored_its_messages_once() {
        let h = vec![
            send(0, (0, 1), &[0], ok(503)),
            got((2, 3), &[(0, 0)]),
            got((4, 5), &[]),
        ];
        assert_eq!(rules(&h), vec!["B-NO-5XX"]);
        let h = vec![
            send(0, (0, 1), &[0], ok(503)),
            got((2, 3), &[(0, 0)]),
            got((4, 5), &[(0, 0)]),
            got((6, 7), &[]),
        ];
        assert_eq!(rules(&h), vec!["B-NO-5XX", "B-CONCURRENT"]);
    }
}
