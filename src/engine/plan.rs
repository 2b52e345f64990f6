//! Which checks run: selection by check ID, rule ID, area or glob, and by level.
//!
//! The plan knows checks only by their identity ([`CheckInfo`]); what a check does is the
//! profile's business ([`super::Session`]).

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

/// The level of a case: what a failed explicit expectation means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// A failure is `fail`.
    #[serde(rename = "MUST")]
    Must,
    /// A failure is `warn`.
    #[serde(rename = "SHOULD")]
    Should,
    /// A failure is `warn`.
    #[serde(rename = "MAY")]
    May,
}

impl Level {
    /// The name as written in the binding.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }
}

/// What the engine knows of one check: its identity, its rules and its level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInfo {
    /// `<area>/<slug>`.
    pub id: String,
    /// What the check shows, in one line.
    pub title: String,
    /// The area the check belongs to (its case file).
    pub area: String,
    /// Rule IDs the check is linked to.
    pub requirements: Vec<String>,
    /// MUST, SHOULD or MAY.
    pub level: Level,
    /// Position in the profile's list of checks (what the session runs).
    pub index: usize,
}

/// The ordered list of checks to run.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Checks in catalogue order.
    pub checks: Vec<CheckInfo>,
}

/// `--level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LevelFilter {
    /// MUST only.
    Must,
    /// MUST and SHOULD.
    Should,
    /// Everything.
    #[default]
    All,
}

/// A user's selection.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `--only` patterns (any may match).
    pub only: Vec<String>,
    /// `--skip` patterns.
    pub skip: Vec<String>,
    /// `--level`.
    pub level: LevelFilter,
}

/// A selection pattern that is not a valid glob.
#[derive(Debug, thiserror::Error)]
#[error("bad pattern `{pattern}`: {source}; use a check ID, a rule ID, an area or a glob such as 'S-RUPD-*'")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// Why it does not parse.
    #[source]
    pub source: globset::Error,
}

fn matcher(p: &str) -> Result<GlobMatcher, PatternError> {
    Glob::new(p)
        .map(|g| g.compile_matcher())
        .map_err(|source| PatternError {
            pattern: p.to_string(),
            source,
        })
}

/// Whether `pattern` selects the check: its ID, one of its rule IDs, or its area, as a glob.
fn selects(m: &GlobMatcher, pattern: &str, c: &CheckInfo) -> bool {
    m.is_match(&c.id)
        || m.is_match(&c.area)
        || c.requirements.iter().any(|r| m.is_match(r))
        || (!pattern.contains(['*', '?', '[']) && c.id.starts_with(&format!("{pattern}/")))
}

impl Plan {
    /// Build a plan from a profile's checks and a selection.
    pub fn build(checks: &[CheckInfo], sel: &Selection) -> Result<Plan, PatternError> {
        let only: Vec<(GlobMatcher, &String)> = sel
            .only
            .iter()
            .map(|p| matcher(p).map(|m| (m, p)))
            .collect::<Result<_, _>>()?;
        let skip: Vec<(GlobMatcher, &String)> = sel
            .skip
            .iter()
            .map(|p| matcher(p).map(|m| (m, p)))
            .collect::<Result<_, _>>()?;
        let checks = checks
            .iter()
            .filter(|c| {
                let level_ok = match sel.level {
                    LevelFilter::All => true,
                    LevelFilter::Should => c.level != Level::May,
                    LevelFilter::Must => c.level == Level::Must,
                };
                let in_only = only.is_empty() || only.iter().any(|(m, p)| selects(m, p, c));
                let in_skip = skip.iter().any(|(m, p)| selects(m, p, c));
                level_ok && in_only && !in_skip
            })
            .cloned()
            .collect();
        Ok(Plan { checks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks() -> Vec<CheckInfo> {
        let c = |i, id: &str, area: &str, rule: &str, level| CheckInfo {
            id: id.into(),
            title: "t".into(),
            area: area.into(),
            requirements: vec![rule.into()],
            level,
            index: i,
        };
        vec![
            c(0, "create/ok", "create", "S-CREATE-201", Level::Must),
            c(1, "create/only", "create", "B-CREATE-ONLY", Level::Should),
            c(2, "send/ok", "send", "S-SEND-200", Level::Must),
        ]
    }

    fn ids(p: &Plan) -> Vec<&str> {
        p.checks.iter().map(|c| c.id.as_str()).collect()
    }

    #[test]
    fn selects_by_id_rule_area_glob_and_level() {
        let f = checks();
        let sel = |only: &[&str], skip: &[&str], level| Selection {
            only: only.iter().map(|s| s.to_string()).collect(),
            skip: skip.iter().map(|s| s.to_string()).collect(),
            level,
        };
        assert_eq!(
            ids(&Plan::build(&f, &sel(&[], &[], LevelFilter::All)).unwrap()).len(),
            3
        );
        assert_eq!(
            ids(&Plan::build(&f, &sel(&["create"], &[], LevelFilter::All)).unwrap()),
            ["create/ok", "create/only"]
        );
        assert_eq!(
            ids(&Plan::build(&f, &sel(&["S-SEND-*"], &[], LevelFilter::All)).unwrap()),
            ["send/ok"]
        );
        assert_eq!(
            ids(&Plan::build(
                &f,
                &sel(&["create/*"], &["B-CREATE-ONLY"], LevelFilter::All)
            )
            .unwrap()),
            ["create/ok"]
        );
        assert_eq!(
            ids(&Plan::build(&f, &sel(&[], &[], LevelFilter::Must)).unwrap()),
            ["create/ok", "send/ok"]
        );
        assert!(Plan::build(&f, &sel(&["[bad"], &[], LevelFilter::All)).is_err());
    }
}
