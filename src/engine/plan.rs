//! Which checks run: selection by case ID, rule ID, area or glob, and by level.

use globset::{Glob, GlobMatcher};

use crate::profiles::edge_v1::case::{Case, CaseFile, Level};

/// One case with the area it comes from.
#[derive(Debug, Clone)]
pub struct PlannedCase {
    /// The case file's area.
    pub area: String,
    /// The case.
    pub case: Case,
}

/// The ordered list of checks to run.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Cases in catalogue order.
    pub cases: Vec<PlannedCase>,
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

fn matcher(p: &str) -> Result<GlobMatcher, String> {
    Glob::new(p)
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("bad pattern `{p}`: {e}"))
}

/// Whether `pattern` selects the case: its ID, one of its rule IDs, or its area, as a glob.
fn selects(m: &GlobMatcher, pattern: &str, area: &str, case: &Case) -> bool {
    m.is_match(&case.id)
        || m.is_match(area)
        || case.requirements.iter().any(|r| m.is_match(r))
        || (!pattern.contains(['*', '?', '[']) && case.id.starts_with(&format!("{pattern}/")))
}

impl Plan {
    /// Build a plan from case files and a selection.
    pub fn build(files: &[CaseFile], sel: &Selection) -> Result<Plan, String> {
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
        let mut cases = Vec::new();
        for f in files {
            for c in &f.cases {
                let level_ok = match sel.level {
                    LevelFilter::All => true,
                    LevelFilter::Should => c.level != Level::May,
                    LevelFilter::Must => c.level == Level::Must,
                };
                let in_only =
                    only.is_empty() || only.iter().any(|(m, p)| selects(m, p, &f.area, c));
                let in_skip = skip.iter().any(|(m, p)| selects(m, p, &f.area, c));
                if level_ok && in_only && !in_skip {
                    cases.push(PlannedCase {
                        area: f.area.clone(),
                        case: c.clone(),
                    });
                }
            }
        }
        Ok(Plan { cases })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<CaseFile> {
        serde_json::from_str(
            r#"[{"area":"create","title":"t","cases":[
                {"id":"create/ok","title":"t","requirements":["S-CREATE-201"],"level":"MUST","steps":[{"op":"create"}]},
                {"id":"create/only","title":"t","requirements":["B-CREATE-ONLY"],"level":"SHOULD","steps":[{"op":"create"}]}]},
               {"area":"send","title":"t","cases":[
                {"id":"send/ok","title":"t","requirements":["S-SEND-200"],"level":"MUST","steps":[{"op":"create"}]}]}]"#,
        )
        .unwrap()
    }

    fn ids(p: &Plan) -> Vec<&str> {
        p.cases.iter().map(|c| c.case.id.as_str()).collect()
    }

    #[test]
    fn selects_by_id_rule_area_glob_and_level() {
        let f = files();
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
