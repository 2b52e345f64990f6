//! What a fuzz campaign of `tassis-v2` or `simplex-v5` did and found, and how it ends.

use std::path::PathBuf;
use std::time::Duration;

/// What a campaign did (`C`, the profile's counts) and found (`F`, its findings).
#[derive(Debug)]
pub struct Report<C, F> {
    /// What was sent and checked.
    pub counts: C,
    /// Sessions run.
    pub sessions: usize,
    /// Canary checks run.
    pub canary_checks: usize,
    /// Restarts of the embedded server.
    pub restarts: usize,
    /// Distinct findings, in the order found.
    pub findings: Vec<F>,
    /// Problems of the suite's side (never blamed on the server).
    pub errors: Vec<String>,
    /// The `--server` stopped serving (and could not be restarted).
    pub target_gone: bool,
    /// Wall time.
    pub elapsed: Duration,
}

impl<C: Default, F> Default for Report<C, F> {
    fn default() -> Self {
        Report {
            counts: C::default(),
            sessions: 0,
            canary_checks: 0,
            restarts: 0,
            findings: Vec::new(),
            errors: Vec::new(),
            target_gone: false,
            elapsed: Duration::ZERO,
        }
    }
}

/// One distinct finding of a campaign, first seen as the observation `R`.
#[derive(Debug, Clone)]
pub struct Finding<R> {
    /// The first observation (its steps minimized where the profile does so).
    pub raw: R,
    /// Its deduplication key: the rule and the input's kind or shape.
    pub key: String,
    /// How often it was seen.
    pub count: usize,
    /// Re-runs of its case that showed it again.
    pub reproduced: usize,
    /// Re-runs of its case (0 when it could not be re-run, e.g. a `--server` that stopped
    /// serving).
    pub tries: usize,
    /// Where its case file was written.
    pub path: Option<PathBuf>,
    /// How long into the campaign it was first seen.
    pub after: Duration,
}

/// A file-name slug of a finding's key (`v-ws-json-ws-binary-unsubscribe`): lower-case
/// letters and digits, one `-` for each run of anything else, at most 80 characters.
pub fn slug(key: &str) -> String {
    let mut s = String::new();
    for c in key.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').chars().take(80).collect()
}

/// The most errors a report keeps.
const MAX_ERRORS: usize = 100;

impl<C, F> Report<C, F> {
    /// Keep a problem of the suite's side (the first hundred).
    pub fn note_error(&mut self, e: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(e);
        }
    }

    /// `n` things over the wall time: how many a second.
    pub fn per_second(&self, n: usize) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The end of the campaign: its first errors printed, then its outcome. Findings come
    /// first; a target that stopped answering, or a campaign that sent no `unit` (`sent` is
    /// 0), cannot be judged.
    pub fn outcome(
        &self,
        sent: usize,
        unit: &str,
    ) -> Result<crate::profiles::Outcome, crate::profiles::ProfileError> {
        use crate::profiles::{Outcome, ProfileError};
        for e in self.errors.iter().take(5) {
            eprintln!("edgecheck: fuzz: {e}");
        }
        if !self.findings.is_empty() {
            return Ok(Outcome::Found);
        }
        if self.target_gone {
            return Err(ProfileError::Unreachable(
                "the target stopped answering during fuzz; see the messages above".into(),
            ));
        }
        if sent == 0 {
            return Err(ProfileError::Internal(format!(
                "fuzz sent no {unit}{}",
                self.errors
                    .first()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )));
        }
        println!("no finding");
        Ok(Outcome::Clean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(
            slug("TB-ALIVE authResponse/short-signature"),
            "tb-alive-authresponse-short-signature"
        );
        assert_eq!(
            slug("V-WS-JSON ws/binary/unsubscribe"),
            "v-ws-json-ws-binary-unsubscribe"
        );
        assert_eq!(slug(&"x".repeat(200)).len(), 80);
    }

    #[test]
    fn the_outcome_is_a_finding_first_and_never_clean_without_input_or_target() {
        use crate::profiles::{Outcome, ProfileError};
        let mut r: Report<usize, ()> = Report::default();
        assert!(matches!(
            r.outcome(0, "frame"),
            Err(ProfileError::Internal(m)) if m == "fuzz sent no frame"
        ));
        assert!(matches!(r.outcome(3, "frame"), Ok(Outcome::Clean)));
        r.target_gone = true;
        assert!(matches!(
            r.outcome(3, "frame"),
            Err(ProfileError::Unreachable(_))
        ));
        r.findings.push(());
        assert!(matches!(r.outcome(3, "frame"), Ok(Outcome::Found)));
    }

    #[test]
    fn a_report_keeps_the_first_hundred_errors_and_counts_per_second() {
        let mut r: Report<usize, ()> = Report {
            elapsed: Duration::from_secs(4),
            ..Report::default()
        };
        for i in 0..150 {
            r.note_error(format!("e{i}"));
        }
        assert_eq!(r.errors.len(), MAX_ERRORS);
        assert_eq!(r.errors.last().map(String::as_str), Some("e99"));
        assert_eq!(r.per_second(10), 2.5);
    }
}
