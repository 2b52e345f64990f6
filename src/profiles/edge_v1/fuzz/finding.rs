//! Findings: deduplicated by rule and request shape, shortened, re-run K times for a
//! reproduction rate, and written as case files that `edgecheck replay` runs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::session::Raw;
use crate::engine::{CheckResult, Verdict};
use crate::profiles::edge_v1::case::{
    file_stem, write_case, write_file, Case, Level, Step, WriteError,
};
use crate::profiles::edge_v1::runner::run_case;
use crate::profiles::edge_v1::Context;

/// A deduplicated finding.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The first occurrence.
    pub raw: Raw,
    /// Occurrences in the campaign.
    pub count: usize,
    /// Endpoints it was seen on.
    pub endpoints: BTreeSet<String>,
    /// The case written (shortest that reproduced, else the whole session).
    pub case: Option<Case>,
    /// Runs of the case that showed the same failure.
    pub reproduced: usize,
    /// Runs of the case.
    pub tries: usize,
    /// Where the case file was written.
    pub path: Option<PathBuf>,
    /// Recent requests of the campaign (for canary findings, whose cause is elsewhere).
    pub context: Vec<String>,
}

/// The deduplication key: the rule, the mutation family (`json/deep`, `header/long`, ...)
/// of each fault, and how the answer failed.
pub fn key(raw: &Raw) -> String {
    let family: Vec<String> = raw
        .shape
        .split(" + ")
        .map(|s| {
            let parts: Vec<&str> = s.split('/').collect();
            match parts.as_slice() {
                [e, "clean"] => format!("{e}/clean"),
                [_, a, b, ..] => format!("{a}/{b}"),
                _ => s.to_string(),
            }
        })
        .collect();
    let answer = match raw.answer.as_str() {
        s if s.len() == 3 && s.starts_with('2') => "2xx",
        s => s,
    };
    format!("{} {} {}", raw.rule, family.join("+"), answer)
}

/// The endpoint a shape starts with.
pub fn endpoint(shape: &str) -> String {
    shape.split('/').next().unwrap_or_default().to_string()
}

fn fnv(text: &str) -> u32 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    }) as u32
}

/// The case for `steps` of a finding.
pub fn case(raw: &Raw, steps: Vec<Step>, needs_page_size: bool) -> Case {
    let text = serde_json::to_string(&steps).unwrap_or_default();
    // Transport errors name the URL (a server-chosen URI): say what happened instead.
    let what = match raw.answer.as_str() {
        "closed" => "the connection closed without a response".to_string(),
        "timeout" => "no response within the timeout".into(),
        "malformed" => "a malformed response".into(),
        "unreachable" => "the server stopped accepting connections".into(),
        "tls" => "the TLS connection failed".into(),
        _ => {
            let m = raw
                .message
                .strip_prefix(&format!("{}: ", raw.shape))
                .unwrap_or(&raw.message);
            let mut m: String = m.chars().take(300).collect();
            if m.len() < raw.message.len() && m.chars().count() == 300 {
                m.push('…');
            }
            m
        }
    };
    Case {
        id: format!("fuzz/{}-{:08x}", raw.rule.to_ascii_lowercase(), fnv(&text)),
        title: format!("Fuzzed request {} breaks {}: {what}", raw.shape, raw.rule),
        requirements: vec![raw.rule.clone()],
        level: raw.level,
        needs: if needs_page_size {
            vec![crate::profiles::edge_v1::case::Need::PageSize]
        } else {
            Vec::new()
        },
        seed: Some(raw.seed),
        origin: Some("fuzz".into()),
        steps,
    }
}

/// Whether a run of a finding's case showed the same failure at its last step.
pub fn same_failure(raw: &Raw, case: &Case, r: &CheckResult) -> bool {
    let Some(f) = &r.failure else { return false };
    if f.step != case.steps.len() {
        return false;
    }
    match r.verdict {
        Verdict::Fail | Verdict::Warn => f.rule == raw.rule,
        Verdict::Error => raw.rule == "B-NO-5XX" && (f.rule == "B-NO-5XX" || f.rule.is_empty()),
        _ => false,
    }
}

/// Shorten and re-run a finding: first without the mutated requests that were refused
/// (they changed nothing), else the whole session; `tries` runs of the chosen case.
pub async fn confirm(ctx: &Context, f: &mut Finding, tries: usize) {
    let raw = &f.raw;
    let needs = ctx.page_size.is_some();
    let last = raw.steps.len().saturating_sub(1);
    let short: Vec<Step> = raw
        .steps
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == last || !raw.refused_mutation.get(*i).copied().unwrap_or(false))
        .map(|(_, s)| s.clone())
        .collect();
    let full = raw.steps.clone();
    let mut candidates = vec![case(raw, short.clone(), needs)];
    if short.len() != full.len() {
        candidates.push(case(raw, full, needs));
    }
    if tries == 0 || raw.unreachable {
        f.case = candidates.pop();
        return;
    }
    let mut chosen = None;
    let mut runs = 0;
    for c in &candidates {
        runs += 1;
        let r = run_case(ctx, c, "fuzz").await;
        if same_failure(raw, c, &r) {
            chosen = Some(c.clone());
            break;
        }
    }
    let Some(c) = chosen else {
        f.case = candidates.pop();
        f.reproduced = 0;
        f.tries = runs;
        return;
    };
    let mut reproduced = 1;
    for _ in 1..tries {
        let r = run_case(ctx, &c, "fuzz").await;
        if same_failure(raw, &c, &r) {
            reproduced += 1;
        }
    }
    f.case = Some(c);
    f.reproduced = reproduced;
    f.tries = tries.max(1);
}

/// Why a finding's files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FindingError {
    /// The finding has no case yet ([`confirm`] makes it).
    #[error("the finding has no case")]
    NoCase,
    /// A file cannot be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Write a finding's case file (and, when there is one, the log of recent requests);
/// returns the case file's path.
pub fn write(dir: &Path, f: &Finding) -> Result<PathBuf, FindingError> {
    let Some(case) = &f.case else {
        return Err(FindingError::NoCase);
    };
    let mut case = case.clone();
    case.title = format!("{} [reproduced {}/{}]", case.title, f.reproduced, f.tries);
    let path = write_case(dir, "fuzz", &case)?;
    if !f.context.is_empty() {
        let log = dir.join(format!("{}.log", file_stem(&case)));
        write_file(&log, f.context.join("\n") + "\n")?;
    }
    Ok(path)
}

/// The level a finding counts at for the exit code (MUST findings fail the run).
pub fn is_must(f: &Finding) -> bool {
    f.raw.level == Level::Must
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(rule: &str, shape: &str, answer: &str) -> Raw {
        Raw {
            rule: rule.into(),
            level: Level::Must,
            message: "m".into(),
            shape: shape.into(),
            answer: answer.into(),
            steps: Vec::new(),
            refused_mutation: Vec::new(),
            seed: 1,
            unreachable: false,
        }
    }

    #[test]
    fn keys_group_by_rule_family_and_answer() {
        let a = key(&raw("B-NO-5XX", "send/json/deep/array/1000", "closed"));
        let b = key(&raw(
            "B-NO-5XX",
            "retrieve/json/deep/object/100000",
            "closed",
        ));
        assert_eq!(a, b);
        assert_ne!(a, key(&raw("B-NO-5XX", "send/json/deep/array/1000", "5xx")));
        assert_ne!(
            a,
            key(&raw("S-GEN-400", "send/json/deep/array/1000", "closed"))
        );
        assert_ne!(
            a,
            key(&raw("B-NO-5XX", "send/json/type/messages/1", "closed"))
        );
        assert_eq!(
            key(&raw("S-GEN-400", "send/json/type/a/1", "200")),
            key(&raw("S-GEN-400", "update/json/type/b/2", "201"))
        );
        assert_eq!(
            key(&raw("S-RETR-200", "retrieve/clean", "200")),
            "S-RETR-200 retrieve/clean 2xx"
        );
        assert_eq!(
            key(&raw(
                "B-ORDER",
                "send/json/unknown/\"x\" + send/sig/Bitflip",
                "401"
            )),
            "B-ORDER json/unknown+sig/Bitflip 401"
        );
    }

    #[test]
    fn case_ids_are_stable_and_name_the_rule() {
        let r = raw("B-NO-5XX", "send/json/deep/array/1000", "closed");
        let s = vec![Step::default()];
        let a = case(&r, s.clone(), true);
        let b = case(&r, s, true);
        assert_eq!(a.id, b.id);
        assert!(a.id.starts_with("fuzz/b-no-5xx-"), "{}", a.id);
        assert_eq!(a.origin.as_deref(), Some("fuzz"));
        assert_eq!(
            a.needs,
            vec![crate::profiles::edge_v1::case::Need::PageSize]
        );
    }
}
