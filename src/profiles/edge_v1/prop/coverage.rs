//! Model-transition coverage: which (connection phase, operation, outcome) transitions a run
//! exercised, and which it never reached.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::profiles::edge_v1::model::{Endpoint, Phase};

/// The phase of the addressed connection before the request (`None`: not created yet).
pub type From = Option<Phase>;

/// One transition as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Transition {
    /// Phase before.
    pub from: From,
    /// Operation.
    pub endpoint: Endpoint,
    /// Whether the request carried a deliberate fault.
    pub faulty: bool,
    /// Whether the server accepted it (2xx).
    pub accepted: bool,
}

impl Transition {
    /// A transition from an observed status (`None`: no response).
    pub fn new(from: From, endpoint: Endpoint, faulty: bool, status: Option<u16>) -> Transition {
        Transition {
            from,
            endpoint,
            faulty,
            accepted: status.is_some_and(|s| (200..300).contains(&s)),
        }
    }
}

/// Counts of transitions seen.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    seen: BTreeMap<Transition, usize>,
}

fn phase_name(p: From) -> &'static str {
    match p {
        None => "absent",
        Some(Phase::Open) => "open",
        Some(Phase::Secured) => "secured",
        Some(Phase::Disabled) => "disabled",
        Some(Phase::Deleted) => "deleted",
    }
}

impl Coverage {
    /// Record transitions.
    pub fn add(&mut self, ts: &[Transition]) {
        for t in ts {
            *self.seen.entry(*t).or_default() += 1;
        }
    }

    /// The transitions a conforming server can take: every live phase with every endpoint,
    /// clean (accepted or rejected by state) and faulty (rejected); deleted connections only
    /// reject; creation from nothing or after deletion.
    pub fn universe() -> Vec<Transition> {
        let mut all = Vec::new();
        for from in [
            Some(Phase::Open),
            Some(Phase::Secured),
            Some(Phase::Disabled),
        ] {
            for e in Endpoint::ALL.into_iter().filter(|e| *e != Endpoint::Create) {
                for (faulty, accepted) in [(false, true), (true, false)] {
                    // Sends to a disabled connection are never accepted; the sender cannot
                    // update a connection without SK.
                    let impossible = accepted
                        && ((from == Some(Phase::Disabled) && e == Endpoint::Send)
                            || (from == Some(Phase::Open) && e == Endpoint::SenderUpdate));
                    if !impossible {
                        all.push(Transition {
                            from,
                            endpoint: e,
                            faulty,
                            accepted,
                        });
                    }
                }
            }
        }
        for e in Endpoint::ALL.into_iter().filter(|e| *e != Endpoint::Create) {
            all.push(Transition {
                from: Some(Phase::Deleted),
                endpoint: e,
                faulty: false,
                accepted: false,
            });
        }
        for from in [None, Some(Phase::Deleted)] {
            all.push(Transition {
                from,
                endpoint: Endpoint::Create,
                faulty: false,
                accepted: true,
            });
        }
        all
    }

    /// (exercised, total) over the universe.
    pub fn ratio(&self) -> (usize, usize) {
        let u = Self::universe();
        let hit = u.iter().filter(|t| self.seen.contains_key(t)).count();
        (hit, u.len())
    }

    /// Transitions of the universe never reached.
    pub fn missing(&self) -> Vec<Transition> {
        Self::universe()
            .into_iter()
            .filter(|t| !self.seen.contains_key(t))
            .collect()
    }

    /// A human rendering.
    pub fn render(&self) -> String {
        let (hit, total) = self.ratio();
        let mut out = format!("model transitions exercised: {hit} of {total}\n");
        for t in self.missing() {
            let _ = writeln!(
                out,
                "  never reached: {} --{}{}--> {}",
                phase_name(t.from),
                t.endpoint.name(),
                if t.faulty { " (fault)" } else { "" },
                if t.accepted { "accepted" } else { "rejected" }
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_counts_only_universe_transitions() {
        let mut c = Coverage::default();
        let (_, total) = c.ratio();
        assert_eq!(c.ratio().0, 0);
        c.add(&[Transition::new(None, Endpoint::Create, false, Some(201))]);
        c.add(&[Transition::new(
            Some(Phase::Open),
            Endpoint::Send,
            false,
            Some(200),
        )]);
        c.add(&[Transition::new(
            Some(Phase::Open),
            Endpoint::Send,
            false,
            Some(200),
        )]);
        assert_eq!(c.ratio(), (2, total));
        assert_eq!(c.missing().len(), total - 2);
        assert!(c
            .render()
            .contains("never reached: open --retrieve--> accepted"));
    }
}
