//! The queue checker against hand-made histories: each guarantee holds on a correct
//! history, and each kind of violation is found with exactly the operations that show it.

use super::{check, Action, Effect, Kind, Naming, Op, Violation};

/// Tokens are shown as they are.
struct Plain;

impl Naming for Plain {
    fn token(&self, token: &str) -> String {
        token.to_string()
    }
}

fn token(sender: usize, seq: usize) -> String {
    format!("s{sender}#{seq}")
}

fn op(actor: &str, t: (u64, u64), action: Action, effect: Effect) -> Op {
    Op {
        actor: actor.into(),
        queue: 0,
        invoke: t.0,
        ret: t.1,
        action,
        effect,
    }
}

fn send(sender: usize, t: (u64, u64), seqs: &[usize], effect: Effect) -> Op {
    op(
        &format!("sender {sender}"),
        t,
        Action::Send {
            tokens: seqs.iter().map(|&q| token(sender, q)).collect(),
        },
        effect,
    )
}

fn retrieval(t: (u64, u64), tokens: &[(usize, usize)], keep: bool) -> Op {
    op(
        "retriever 0",
        t,
        Action::Retrieve {
            page: 4,
            keep,
            got: Some(tokens.iter().map(|&(s, q)| token(s, q)).collect()),
        },
        Effect::Done,
    )
}

fn got(t: (u64, u64), tokens: &[(usize, usize)]) -> Op {
    retrieval(t, tokens, false)
}

fn unanswered(t: (u64, u64)) -> Op {
    op(
        "retriever 1",
        t,
        Action::Retrieve {
            page: 4,
            keep: false,
            got: None,
        },
        Effect::Unknown,
    )
}

fn refused(how: &str) -> Effect {
    Effect::Refused(how.into())
}

use Effect::{Done, Unknown};

/// Two senders, a batch, overlapping retrievals, a final empty retrieval: correct.
fn good() -> Vec<Op> {
    vec![
        send(0, (0, 30), &[0, 1], Done),
        send(1, (10, 40), &[0], Done),
        got((20, 60), &[(0, 0), (1, 0)]),
        send(0, (50, 80), &[2], Done),
        got((70, 100), &[(0, 1)]),
        got((90, 120), &[(0, 2)]),
        got((130, 140), &[]),
    ]
}

fn run(h: &[Op]) -> Vec<Violation> {
    check(h, &Plain)
}

fn kinds(h: &[Op]) -> Vec<Kind> {
    run(h).into_iter().map(|v| v.kind).collect()
}

#[test]
fn a_correct_history_passes() {
    assert_eq!(run(&good()), vec![]);
}

#[test]
fn overlapping_retrievals_may_be_served_in_either_order() {
    let h = vec![
        send(0, (0, 1), &[0], Done),
        send(0, (2, 3), &[1], Done),
        got((4, 9), &[(0, 1)]),
        got((5, 8), &[(0, 0)]),
        got((10, 11), &[]),
    ];
    assert_eq!(run(&h), vec![]);
}

#[test]
fn a_duplicate_is_shown_with_its_send_and_both_retrievals() {
    let mut h = good();
    h[5] = got((90, 120), &[(0, 2), (0, 1)]);
    let v = run(&h);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].kind, Kind::Duplicate);
    assert_eq!(v[0].what, "s0#1 was retrieved 2 times (#4, #5)");
    assert_eq!(v[0].ops, vec![0, 4, 5]);
}

#[test]
fn kept_tokens_are_neither_removed_nor_duplicates() {
    let mut h = good();
    h.insert(3, retrieval((61, 62), &[(0, 1)], true));
    assert_eq!(run(&h), vec![]);
    // A kept retrieval does not count as removing: the token is still lost.
    let h = vec![
        send(0, (0, 1), &[0], Done),
        retrieval((2, 3), &[(0, 0)], true),
        got((4, 5), &[]),
    ];
    assert_eq!(kinds(&h), vec![Kind::Loss]);
}

#[test]
fn a_loss_is_shown_with_the_empty_last_retrieval() {
    let mut h = good();
    h[4] = got((70, 100), &[]);
    let v = run(&h);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].kind, Kind::Loss);
    assert_eq!(v[0].what, "s0#1 was acknowledged but never retrieved");
    assert_eq!(v[0].ops, vec![0, 6]);
    // Several lost tokens: the first is named, the others counted.
    let h = vec![
        send(0, (0, 1), &[0, 1, 2], Done),
        got((2, 3), &[(0, 0)]),
        got((4, 5), &[]),
    ];
    let v = run(&h);
    assert_eq!(
        v[0].what,
        "s0#1 was acknowledged but never retrieved (2 acknowledged messages in all)"
    );
}

#[test]
fn losses_are_not_judged_without_a_last_empty_retrieval() {
    let mut h = good();
    h[4] = got((70, 100), &[]);
    h[5] = got((90, 120), &[]);
    h[6] = got((130, 140), &[(0, 2)]);
    assert_eq!(run(&h), vec![]);
    // Nor on a queue that was never retrieved from at all.
    let h = vec![send(0, (0, 1), &[0], Done)];
    assert_eq!(run(&h), vec![]);
}

#[test]
fn an_unanswered_retrieval_excuses_at_most_its_page() {
    let mut h = good();
    h[4] = unanswered((70, 100));
    assert_eq!(run(&h), vec![]);
    // Five acknowledged tokens cannot hide behind one unanswered retrieval of four.
    let h = vec![
        send(0, (0, 1), &[0, 1, 2, 3, 4], Done),
        unanswered((2, 3)),
        got((4, 5), &[]),
    ];
    let v = run(&h);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].kind, Kind::Loss);
    assert!(
        v[0].what
            .ends_with("; retrievals without an answer excuse at most 4"),
        "{}",
        v[0].what
    );
}

#[test]
fn a_reorder_within_one_send_is_found() {
    let mut h = good();
    h[2] = got((20, 60), &[(1, 0)]);
    h[4] = got((70, 100), &[(0, 1), (0, 0)]);
    let v = run(&h);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].kind, Kind::Reorder);
    assert_eq!(
        v[0].what,
        "s0#0 was sent before s0#1 but retrieved after it"
    );
    assert_eq!(v[0].ops, vec![0, 4]);
}

#[test]
fn a_reorder_across_sends_and_retrievals_is_found_once_per_sender() {
    let h = vec![
        send(0, (0, 1), &[0], Done),
        send(0, (2, 3), &[1], Done),
        send(0, (4, 5), &[2], Done),
        got((6, 7), &[(0, 2)]),
        got((8, 9), &[(0, 1)]),
        got((10, 11), &[(0, 0)]),
        got((12, 13), &[]),
    ];
    let v = run(&h);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].kind, Kind::Reorder);
    assert_eq!(v[0].ops, vec![0, 1, 4, 5]);
}

#[test]
fn sends_that_overlap_are_not_ordered() {
    // The second send began before the first was acknowledged: either order is fine.
    let h = vec![
        send(0, (0, 5), &[0], Done),
        send(0, (2, 7), &[1], Done),
        got((8, 9), &[(0, 1)]),
        got((10, 11), &[(0, 0)]),
        got((12, 13), &[]),
    ];
    assert_eq!(run(&h), vec![]);
    // One actor on two queues is two senders: no order between its queues.
    let on_one = |mut op: Op| {
        op.queue = 1;
        op
    };
    let h = vec![
        send(0, (0, 1), &[0], Done),
        on_one(send(0, (2, 3), &[1], Done)),
        on_one(got((4, 5), &[(0, 1)])),
        got((6, 7), &[(0, 0)]),
        got((8, 9), &[]),
        on_one(got((10, 11), &[])),
    ];
    assert_eq!(run(&h), vec![]);
}

#[test]
fn a_send_without_an_answer_orders_nothing_and_appears_at_most_once() {
    let h = vec![
        send(0, (0, 1), &[0], Unknown),
        send(0, (2, 3), &[1], Done),
        got((4, 5), &[(0, 1)]),
        got((6, 7), &[(0, 0)]),
        got((8, 9), &[]),
    ];
    assert_eq!(run(&h), vec![]);
    let h = vec![send(0, (0, 1), &[0], Unknown), got((2, 3), &[])];
    assert_eq!(run(&h), vec![]);
    let h = vec![
        send(0, (0, 1), &[0], Unknown),
        got((2, 3), &[(0, 0)]),
        got((4, 5), &[(0, 0)]),
        got((6, 7), &[]),
    ];
    let v = run(&h);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].kind, Kind::Duplicate);
    assert_eq!(
        v[0].what,
        "s0#0 was retrieved 2 times (#1, #2) (its send had no answer, so at most once)"
    );
}

#[test]
fn phantoms_unsent_refused_or_early() {
    let mut h = good();
    if let Action::Retrieve { got: Some(g), .. } = &mut h[6].action {
        g.push("stranger".into());
    }
    let v = run(&h);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].kind, Kind::Phantom);
    assert_eq!(v[0].what, "stranger was retrieved from q0 but never sent");
    assert_eq!(v[0].ops, vec![6]);

    let h = vec![
        send(0, (0, 1), &[0], refused("429")),
        got((2, 3), &[(0, 0)]),
        got((4, 5), &[]),
    ];
    let v = run(&h);
    assert_eq!(kinds(&h), vec![Kind::Phantom], "{v:?}");
    assert_eq!(
        v[0].what,
        "s0#0 was retrieved although its send was refused with 429"
    );
    assert_eq!(v[0].ops, vec![0, 1]);

    let h = vec![
        got((0, 1), &[(0, 0)]),
        send(0, (2, 3), &[0], Done),
        got((4, 5), &[]),
    ];
    let v = run(&h);
    assert_eq!(v[0].kind, Kind::Phantom, "{v:?}");
    assert_eq!(v[0].what, "s0#0 was retrieved before its send began");
    // It does not count as removed either: the acknowledged token is also lost.
    assert_eq!(kinds(&h), vec![Kind::Phantom, Kind::Loss]);
}

#[test]
fn a_token_from_another_queue_is_found() {
    let mut other = send(0, (0, 1), &[0], Done);
    other.queue = 1;
    let h = vec![other, got((2, 3), &[(0, 0)])];
    let v = run(&h);
    assert_eq!(kinds(&h), vec![Kind::CrossQueue], "{v:?}");
    assert_eq!(v[0].what, "s0#0 was sent to q1 but retrieved from q0");
    assert_eq!(v[0].ops, vec![0, 1]);
}

#[test]
fn losses_are_judged_per_queue_and_other_operations_are_ignored() {
    let mut lost = send(1, (0, 1), &[0], Done);
    lost.queue = 1;
    let mut drain = got((6, 7), &[]);
    drain.queue = 1;
    let h = vec![
        lost,
        op("rotator", (1, 2), Action::Other, Done),
        send(0, (2, 3), &[0], Done),
        got((4, 5), &[(0, 0)]),
        drain,
        got((8, 9), &[]),
    ];
    let v = run(&h);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].kind, Kind::Loss);
    assert_eq!(v[0].ops, vec![0, 4]);
}

#[test]
fn violations_come_phantoms_first_then_duplicates_reorders_and_losses() {
    let h = vec![
        send(0, (0, 1), &[0, 1], Done),
        send(1, (0, 1), &[0], Done),
        got((2, 3), &[(0, 1), (0, 0)]),
        got((4, 5), &[(0, 1), (9, 9)]),
        got((6, 7), &[]),
    ];
    assert_eq!(
        kinds(&h),
        vec![Kind::Phantom, Kind::Duplicate, Kind::Reorder, Kind::Loss]
    );
}

#[test]
fn queues_are_named_by_the_protocol() {
    struct Connections;
    impl Naming for Connections {
        fn token(&self, token: &str) -> String {
            format!("<{token}>")
        }
        fn queue(&self, queue: usize) -> String {
            format!("c{queue}")
        }
    }
    let mut other = send(0, (0, 1), &[0], Done);
    other.queue = 1;
    let h = vec![other, got((2, 3), &[(0, 0)])];
    let v = check(&h, &Connections);
    assert_eq!(v[0].what, "<s0#0> was sent to c1 but retrieved from c0");
}
