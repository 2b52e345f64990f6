//! The queue checker: phantoms, duplicates, reorders and losses in a history.
//!
//! Two tokens of one sender are ordered when they share a send (array order) or the first
//! send was acknowledged before the second began. A retrieval comes strictly before another
//! when it returned before the other was invoked, or when both are one retrieval and it
//! returned the first token earlier in its list; overlapping retrievals may have been served
//! in either order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Action, Effect, Kind, Naming, Op, Violation};

fn violation(kind: Kind, what: String, ops: impl IntoIterator<Item = usize>) -> Violation {
    let ops: BTreeSet<usize> = ops.into_iter().collect();
    Violation {
        kind,
        what,
        ops: ops.into_iter().collect(),
    }
}

/// A sent token: its send, place in it, queue and sender.
#[derive(Debug, Clone, Copy)]
struct Sent<'a> {
    op: usize,
    pos: usize,
    queue: usize,
    actor: &'a str,
}

/// Where each sent token was removed: (retrieval, position in what it returned).
type Seen<'a> = HashMap<&'a str, Vec<(usize, usize)>>;

/// Every violation in `h`: phantoms (in history order), then duplicates, reorders and
/// losses (in send order).
pub fn check(h: &[Op], names: &dyn Naming) -> Vec<Violation> {
    let mut sent: HashMap<&str, Sent<'_>> = HashMap::new();
    for (i, op) in h.iter().enumerate() {
        if let Action::Send { tokens } = &op.action {
            for (pos, t) in tokens.iter().enumerate() {
                sent.entry(t.as_str()).or_insert(Sent {
                    op: i,
                    pos,
                    queue: op.queue,
                    actor: &op.actor,
                });
            }
        }
    }
    let mut out = Vec::new();
    let seen = retrievals(h, &sent, names, &mut out);
    let mut order: Vec<(&str, Sent<'_>)> = sent.into_iter().collect();
    order.sort_by_key(|(_, s)| (s.op, s.pos));
    let delivered = Delivered {
        h,
        names,
        order,
        seen,
    };
    delivered.duplicates(&mut out);
    delivered.reorders(&mut out);
    delivered.losses(&mut out);
    out
}

/// Phantoms and tokens from another queue; returns where each sent token was removed.
fn retrievals<'a>(
    h: &'a [Op],
    sent: &HashMap<&str, Sent<'_>>,
    names: &dyn Naming,
    out: &mut Vec<Violation>,
) -> Seen<'a> {
    let mut seen: Seen<'a> = HashMap::new();
    for (i, op) in h.iter().enumerate() {
        let Action::Retrieve {
            keep,
            got: Some(got),
            ..
        } = &op.action
        else {
            continue;
        };
        for (pos, t) in got.iter().enumerate() {
            let name = names.token(t);
            let Some(s) = sent.get(t.as_str()) else {
                out.push(violation(
                    Kind::Phantom,
                    format!(
                        "{name} was retrieved from {} but never sent",
                        names.queue(op.queue)
                    ),
                    [i],
                ));
                continue;
            };
            let send = &h[s.op];
            if s.queue != op.queue {
                out.push(violation(
                    Kind::CrossQueue,
                    format!(
                        "{name} was sent to {} but retrieved from {}",
                        names.queue(s.queue),
                        names.queue(op.queue)
                    ),
                    [s.op, i],
                ));
            } else if let Effect::Refused(how) = &send.effect {
                out.push(violation(
                    Kind::Phantom,
                    format!("{name} was retrieved although its send was refused with {how}"),
                    [s.op, i],
                ));
            } else if op.ret < send.invoke {
                out.push(violation(
                    Kind::Phantom,
                    format!("{name} was retrieved before its send began"),
                    [s.op, i],
                ));
            } else if !keep {
                seen.entry(t.as_str()).or_default().push((i, pos));
            }
        }
    }
    seen
}

/// What the checks after the retrievals share: every sent token in send order, and where
/// each was removed.
struct Delivered<'a> {
    h: &'a [Op],
    names: &'a dyn Naming,
    order: Vec<(&'a str, Sent<'a>)>,
    seen: Seen<'a>,
}

impl Delivered<'_> {
    /// Tokens removed more than once.
    fn duplicates(&self, out: &mut Vec<Violation>) {
        let (h, names, seen) = (self.h, self.names, &self.seen);
        for &(t, s) in &self.order {
            let Some(places) = seen.get(t) else { continue };
            if places.len() > 1 {
                let list: Vec<String> = places.iter().map(|(r, _)| format!("#{r}")).collect();
                let how = if h[s.op].effect == Effect::Done {
                    ""
                } else {
                    " (its send had no answer, so at most once)"
                };
                out.push(violation(
                    Kind::Duplicate,
                    format!(
                        "{} was retrieved {} times ({}){how}",
                        names.token(t),
                        places.len(),
                        list.join(", ")
                    ),
                    [s.op, places[0].0, places[1].0],
                ));
            }
        }
    }

    /// The first reorder of each sender.
    fn reorders(&self, out: &mut Vec<Violation>) {
        let (h, names, seen) = (self.h, self.names, &self.seen);
        let mut by_sender: BTreeMap<(usize, &str), Vec<(&str, Sent<'_>)>> = BTreeMap::new();
        for &(t, s) in &self.order {
            by_sender
                .entry((s.queue, s.actor))
                .or_default()
                .push((t, s));
        }
        'senders: for list in by_sender.values() {
            for (k, &(a, sa)) in list.iter().enumerate() {
                let Some(&(ra, qa)) = seen.get(a).and_then(|v| v.first()) else {
                    continue;
                };
                for &(b, sb) in &list[k + 1..] {
                    let ordered = (sa.op == sb.op && sa.pos < sb.pos)
                        || (h[sa.op].effect == Effect::Done && h[sa.op].ret < h[sb.op].invoke);
                    if !ordered {
                        continue;
                    }
                    let Some(&(rb, qb)) = seen.get(b).and_then(|v| v.first()) else {
                        continue;
                    };
                    let b_first = (ra == rb && qb < qa) || h[rb].ret < h[ra].invoke;
                    if b_first {
                        out.push(violation(
                            Kind::Reorder,
                            format!(
                                "{} was sent before {} but retrieved after it",
                                names.token(a),
                                names.token(b)
                            ),
                            [sa.op, sb.op, ra, rb],
                        ));
                        continue 'senders;
                    }
                }
            }
        }
    }

    /// Acknowledged tokens never removed, per queue, on queues whose last removing retrieval
    /// came back empty; removing retrievals without an answer excuse up to their `page`.
    fn losses(&self, out: &mut Vec<Violation>) {
        let (h, names, seen) = (self.h, self.names, &self.seen);
        let queues: BTreeSet<usize> = h.iter().map(|op| op.queue).collect();
        for queue in queues {
            let drained = h.iter().rposition(|op| {
                op.queue == queue && matches!(&op.action, Action::Retrieve { keep: false, .. })
            });
            let Some(last) = drained else { continue };
            let empty =
                matches!(&h[last].action, Action::Retrieve { got: Some(g), .. } if g.is_empty());
            if !empty {
                continue;
            }
            let allowance: usize = h
                .iter()
                .filter(|op| op.queue == queue)
                .map(|op| match &op.action {
                    Action::Retrieve {
                        keep: false,
                        page,
                        got: None,
                    } => *page,
                    _ => 0,
                })
                .sum();
            let lost: Vec<(&str, Sent<'_>)> = self
                .order
                .iter()
                .copied()
                .filter(|(t, s)| {
                    s.queue == queue && h[s.op].effect == Effect::Done && !seen.contains_key(t)
                })
                .collect();
            if lost.len() > allowance {
                let (t, s) = lost[0];
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
                    Kind::Loss,
                    format!(
                        "{} was acknowledged but never retrieved{more}{excuse}",
                        names.token(t)
                    ),
                    [s.op, last],
                ));
            }
        }
    }
}
