//! Findings: deduplicated by root cause (rule + frame kind), re-run for a reproduction rate,
//! and written as replayable case files (`edgecheck replay --profile tassis-v2 FILE`).

use std::path::{Path, PathBuf};

use super::session::Raw;
use crate::engine::Level;
pub use crate::profiles::campaign::slug;
use crate::profiles::tassis_v2::case::{Case, CaseFile, Step};
use crate::profiles::tassis_v2::runner::{self, Ending, Env};

/// One distinct finding.
pub type Finding = crate::profiles::campaign::Finding<Raw>;

/// The deduplication key of an observation: rule and frame kind.
pub fn key(raw: &Raw) -> String {
    format!("{} {}", raw.rule, raw.kind)
}

/// The case of an observation with these steps: hostile, so replay checks TB-ALIVE.
pub fn case(raw: &Raw, steps: Vec<Step>) -> Case {
    let mut requirements = vec![raw.rule.clone()];
    for r in &raw.also {
        if !requirements.contains(r) {
            requirements.push(r.clone());
        }
    }
    requirements.retain(|r| crate::profiles::tassis_v2::catalogue().contains(r));
    if requirements.is_empty() {
        requirements.push("TB-ALIVE".into());
    }
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

/// Whether running `steps` shows the observation again: for a crash, the server stops
/// serving; otherwise a step sees the same rule broken.
pub async fn shows(env: &Env, raw: &Raw, steps: &[Step]) -> bool {
    let c = case(raw, steps.to_vec());
    let run = runner::run_case(env, &c).await;
    if raw.crashed {
        return runner::alive(env).await.is_err();
    }
    matches!(&run.ending, Ending::Broken { broken, .. } if broken.rule == raw.rule)
}

/// Write the finding's case file into `dir` (created if missing).
pub fn write(dir: &Path, f: &Finding) -> Result<PathBuf, String> {
    let c = case(&f.raw, f.raw.steps.clone());
    let file = CaseFile {
        area: "fuzz".into(),
        title: format!(
            "found by edgecheck fuzz: {} (reproduced {}/{})",
            f.key, f.reproduced, f.tries
        ),
        cases: vec![c],
    };
    crate::engine::generate::write_finding_file(dir, &format!("{}.json", slug(&f.key)), &file)
}
