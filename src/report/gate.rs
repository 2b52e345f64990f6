//! The CI gate: what a run's results mean for the exit code.
//!
//! In order: required failures not listed in the baseline, stale and expired baseline entries
//! fail the run; a run where no check was judged (none selected, all skipped) is a usage
//! problem; suite or network errors come next; otherwise the run passed.

use super::baseline::EntryState;
use super::Results;

/// The outcome of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every required check passed (or is a listed expected failure).
    Pass,
    /// Conformance failures, or a stale or expired baseline entry.
    Fail,
    /// No check ran, or every check was skipped.
    NothingRan,
    /// Some checks could not be judged (suite or network errors).
    Errors,
}

/// The gate's verdict with the lines that explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    /// The outcome.
    pub outcome: Outcome,
    /// One line per reason, most important first; each says what to do next.
    pub lines: Vec<String>,
}

/// Judge results (with their baseline, if one was applied).
pub fn evaluate(results: &Results) -> Gate {
    let mut lines = Vec::new();
    let failed: Vec<&str> = results
        .checks
        .iter()
        .filter(|c| c.verdict == "fail" && c.baseline.is_none())
        .map(|c| c.id.as_str())
        .collect();
    if !failed.is_empty() {
        let mut broken: Vec<&str> = results
            .checks
            .iter()
            .filter(|c| c.verdict == "fail" && c.baseline.is_none())
            .filter_map(super::broken_rule)
            .collect();
        broken.sort_unstable();
        broken.dedup();
        lines.push(format!(
            "{} required check(s) failed: {}",
            failed.len(),
            list(&failed)
        ));
        if !broken.is_empty() {
            lines.push(format!(
                "rule(s) seen broken: {} (other rules of those checks are blocked, not failed)",
                list(&broken)
            ));
        }
    }
    let mut gate_fails = !failed.is_empty();
    if let Some(b) = &results.baseline {
        for e in b.in_state(EntryState::Stale) {
            gate_fails = true;
            lines.push(format!(
                "stale baseline entry `{}`: {} now pass(es); remove the entry from {}",
                e.id,
                list(&e.checks.iter().map(String::as_str).collect::<Vec<_>>()),
                b.file
            ));
        }
        for e in b.in_state(EntryState::Expired) {
            gate_fails = true;
            lines.push(format!(
                "expired baseline entry `{}` (expired {}, run on {}): fix the failure, or \
                 extend `expires` in {} with a reason",
                e.id,
                e.expires.as_deref().unwrap_or("?"),
                b.date,
                b.file
            ));
        }
        let known: Vec<&str> = results
            .checks
            .iter()
            .filter(|c| c.baseline.is_some())
            .map(|c| c.id.as_str())
            .collect();
        if !known.is_empty() {
            lines.push(format!(
                "{} expected failure(s) listed in {} did not fail the run: {}",
                known.len(),
                b.file,
                list(&known)
            ));
        }
        let not_run = b.in_state(EntryState::NotRun).count();
        if not_run > 0 {
            lines.push(format!(
                "{not_run} baseline entr(ies) not judged: nothing they list ran in this run"
            ));
        }
    }
    let judged = results.checks.iter().any(|c| c.verdict != "skip");
    let errors = results
        .checks
        .iter()
        .filter(|c| c.verdict == "error")
        .count();
    let outcome = if gate_fails {
        Outcome::Fail
    } else if !judged {
        lines.push(
            "no check was judged (none selected, or all skipped): check --only, --skip, \
             --level, --shard and the target's capabilities"
                .into(),
        );
        Outcome::NothingRan
    } else if errors > 0 {
        lines.push(format!(
            "{errors} check(s) ended in error (the suite or the network failed, not the \
             server): see their messages, then re-run"
        ));
        Outcome::Errors
    } else {
        Outcome::Pass
    };
    Gate { outcome, lines }
}

fn list(ids: &[&str]) -> String {
    const SHOWN: usize = 8;
    if ids.len() <= SHOWN {
        ids.join(", ")
    } else {
        format!(
            "{}, … ({} more)",
            ids[..SHOWN].join(", "),
            ids.len() - SHOWN
        )
    }
}
