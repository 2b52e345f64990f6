//! Findings: deduplicated by rule and input shape, re-run for a reproduction rate, and
//! written as replayable case files (`edgecheck replay --profile simplex-v5 FILE`).

use std::path::{Path, PathBuf};

use super::mutate;
use crate::engine::Level;
pub use crate::profiles::campaign::slug;
use crate::profiles::simplex_v5::case::{Case, CaseFile, Step};
use crate::profiles::simplex_v5::runner::{self, Ending, Env};

/// One observation of a broken rule.
#[derive(Debug, Clone)]
pub struct Raw {
    /// The rule.
    pub rule: String,
    /// The input's shape (`ws/binary/unsubscribe`), or `canary`.
    pub shape: String,
    /// What was seen, in one line.
    pub message: String,
    /// The input's steps (after [`mutate::prelude`]); empty for the canary.
    pub steps: Vec<Step>,
    /// The server stopped serving.
    pub crashed: bool,
}

/// One distinct finding.
pub type Finding = crate::profiles::campaign::Finding<Raw>;

/// The deduplication key: the rule and the input's shape without its random parts.
pub fn key(raw: &Raw) -> String {
    format!("{} {}", raw.rule, raw.shape)
}

/// The case of an observation: the prelude and the input's steps; hostile, so replay also
/// checks that the server still answers.
pub fn case(raw: &Raw) -> Case {
    let mut requirements = vec![raw.rule.clone()];
    requirements.retain(|r| crate::profiles::simplex_v5::catalogue().contains(r));
    if requirements.is_empty() {
        requirements.push("B-NO-5XX".into());
    }
    let mut steps = mutate::prelude();
    steps.extend(raw.steps.iter().cloned());
    Case {
        id: format!("fuzz/{}", slug(&key(raw))),
        title: raw.message.chars().take(200).collect(),
        requirements,
        level: Level::Must,
        hostile: true,
        needs: Vec::new(),
        steps,
    }
}

/// Whether running the observation's case shows it again: for a crash, the server stops
/// serving; otherwise a step sees the same rule broken.
pub async fn shows(env: &Env, raw: &Raw) -> bool {
    let run = runner::run_case(env, &case(raw)).await;
    if raw.crashed {
        return super::alive(env).await.is_err();
    }
    matches!(&run.ending, Ending::Broken { broken, .. } if broken.rule == raw.rule)
}

/// Write the finding's case file into `dir` (created if missing).
pub fn write(dir: &Path, f: &Finding) -> Result<PathBuf, String> {
    let file = CaseFile {
        area: "fuzz".into(),
        title: format!(
            "found by edgecheck fuzz: {} (reproduced {}/{})",
            f.key, f.reproduced, f.tries
        ),
        cases: vec![case(&f.raw)],
    };
    crate::engine::generate::write_finding_file(dir, &format!("{}.json", slug(&f.key)), &file)
}
