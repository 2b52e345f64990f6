//! Expected failures (`--baseline FILE`): a JSON file of check or rule IDs, each with a reason
//! and an optional expiry date (format in `docs/reports.md`).
//!
//! A listed failure does not fail the run but is still shown. A listed check that now passes
//! is a stale entry, and an entry past its expiry date no longer excuses anything: both fail
//! the run ([`super::gate`]).

use serde::{Deserialize, Serialize};
use time::macros::format_description;
use time::Date;

use super::error::{BaselineError, FileError};
use super::{CheckRecord, Results};

/// Version tag of the baseline format.
pub const SCHEMA: &str = "edgecheck.baseline/1";

/// Largest baseline file read.
pub const MAX_BASELINE_BYTES: u64 = 16 << 20;

/// A baseline file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// `edgecheck.baseline/1`.
    pub schema: String,
    /// The profile the entries belong to; a baseline of another profile is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Expected failures.
    pub entries: Vec<Entry>,
}

/// One expected failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// A check ID (`create/duplicate-id-409`) or a rule ID (`S-CREATE-409`).
    pub id: String,
    /// Why the failure is expected (an issue, a decision); never empty.
    pub reason: String,
    /// Last day (`YYYY-MM-DD`, UTC) the entry excuses a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// What became of a baseline entry in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryState {
    /// It lists checks that failed (or warned): they did not fail the run.
    Known,
    /// What it lists ran and passed: the entry must be removed.
    Stale,
    /// Past its expiry date: it excuses nothing and fails the run.
    Expired,
    /// Nothing it lists was judged in this run (not selected, another shard, skip, error).
    NotRun,
}

impl EntryState {
    /// Kebab-case name, as in results.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Known => "known",
            EntryState::Stale => "stale",
            EntryState::Expired => "expired",
            EntryState::NotRun => "not-run",
        }
    }
}

/// A baseline entry as applied to a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryRecord {
    /// Check or rule ID.
    pub id: String,
    /// Reason given.
    pub reason: String,
    /// Expiry date given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// What became of it.
    pub state: EntryState,
    /// The failing checks it lists (for `known` and `expired`), or the passing ones
    /// (for `stale`).
    pub checks: Vec<String>,
}

/// The baseline applied to a run (`baseline` in results).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BaselineRecord {
    /// The file it was read from.
    pub file: String,
    /// The day expiry dates were judged against: the day the run started (UTC).
    pub date: String,
    /// Every entry, in file order.
    pub entries: Vec<EntryRecord>,
}

impl BaselineRecord {
    /// Entries in one state.
    pub fn in_state(&self, state: EntryState) -> impl Iterator<Item = &EntryRecord> {
        self.entries.iter().filter(move |e| e.state == state)
    }

    /// The entry with this ID.
    pub fn entry(&self, id: &str) -> Option<&EntryRecord> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// One line per entry, in file order: its check or rule ID, its state and its reason
    /// (and the checks it lists, when they are not just the entry itself).
    pub fn entry_lines(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| {
                let mut line = format!("{:<8} {} — {}", e.state.as_str(), e.id, e.reason);
                if let Some(d) = &e.expires {
                    line.push_str(&format!(" (expires {d})"));
                }
                let only_itself = e.checks.len() == 1 && e.checks[0] == e.id;
                if !e.checks.is_empty() && !only_itself {
                    line.push_str(&format!(" [checks: {}]", e.checks.join(", ")));
                }
                line
            })
            .collect()
    }
}

fn parse_date(s: &str) -> Result<Date, time::error::Parse> {
    Date::parse(s, format_description!("[year]-[month]-[day]"))
}

/// Whether `s` is a date `YYYY-MM-DD`.
pub fn valid_date(s: &str) -> bool {
    parse_date(s).is_ok()
}

/// Whether an ID is a rule ID (`S-CREATE-409`, `TB-SIG`): upper-case words joined by `-`;
/// check IDs are `area/slug`.
fn is_rule_id(id: &str) -> bool {
    id.contains('-')
        && id.starts_with(|c: char| c.is_ascii_uppercase())
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
}

impl Baseline {
    /// Parse and check a baseline; `origin` names the file in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Baseline, BaselineError> {
        let b: Baseline =
            serde_json::from_str(text).map_err(|source| BaselineError::NotBaseline {
                origin: origin.to_string(),
                source,
            })?;
        if b.schema != SCHEMA {
            return Err(BaselineError::Schema {
                origin: origin.to_string(),
                found: b.schema,
                expected: SCHEMA,
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, e) in b.entries.iter().enumerate() {
            let at = format!("{origin}: entry {} (`{}`)", i + 1, e.id);
            let entry = |problem: String| BaselineError::Entry {
                at: at.clone(),
                problem,
            };
            if e.id.trim().is_empty() || e.id.trim() != e.id {
                return Err(entry("`id` must be a check or rule ID".into()));
            }
            if !is_rule_id(&e.id) && !e.id.contains('/') {
                return Err(entry(format!(
                    "`{}` is neither a check ID (`area/slug`) nor a rule ID (`S-…`, `B-…`, `TB-…`)",
                    e.id
                )));
            }
            if e.reason.trim().is_empty() {
                return Err(entry(
                    "`reason` is empty; say why the failure is expected".into(),
                ));
            }
            if let Some(d) = &e.expires {
                parse_date(d).map_err(|_| {
                    entry(format!("`expires` must be a date YYYY-MM-DD, not `{d}`"))
                })?;
            }
            if !seen.insert(e.id.as_str()) {
                return Err(entry(format!("`{}` is listed twice", e.id)));
            }
        }
        Ok(b)
    }

    /// Read and check a baseline file.
    pub fn read(path: &std::path::Path) -> Result<Baseline, BaselineError> {
        let read_err = |source| BaselineError::Read {
            path: path.to_path_buf(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read_err)?.len();
        if size > MAX_BASELINE_BYTES {
            return Err(FileError::TooLarge {
                path: path.to_path_buf(),
                size,
                max: MAX_BASELINE_BYTES,
                what: "a baseline",
            }
            .into());
        }
        let text = std::fs::read_to_string(path).map_err(read_err)?;
        Baseline::parse(&text, &path.display().to_string())
    }

    /// A baseline listing every check of `results` that failed or warned, by check ID.
    pub fn from_results(
        results: &Results,
        expires: Option<&str>,
        reason: Option<&str>,
    ) -> Baseline {
        let day = run_date(results);
        let entries = results
            .checks
            .iter()
            .filter(|c| matches!(c.verdict.as_str(), "fail" | "warn"))
            .map(|c| Entry {
                id: c.id.clone(),
                reason: match reason {
                    Some(r) => r.to_string(),
                    None => default_reason(c, &day),
                },
                expires: expires.map(str::to_string),
            })
            .collect();
        Baseline {
            schema: SCHEMA.into(),
            profile: Some(results.profile.clone()),
            entries,
        }
    }

    /// Pretty JSON, newline-terminated.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a baseline always serialises") + "\n"
    }

    /// Refuse a baseline written for another profile than `profile` (the run's).
    pub fn check_profile(&self, profile: &str) -> Result<(), BaselineError> {
        match &self.profile {
            Some(p) if p != profile => Err(BaselineError::Profile {
                baseline: p.clone(),
                results: profile.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Check every ID: rule IDs must be in the catalogue, check IDs must satisfy `known_check`.
    pub fn check_ids(
        &self,
        reqs: &crate::catalogue::requirements::Requirements,
        known_check: &dyn Fn(&str) -> bool,
    ) -> Result<(), BaselineError> {
        let unknown: Vec<&str> = self
            .entries
            .iter()
            .map(|e| e.id.as_str())
            .filter(|id| {
                if is_rule_id(id) {
                    !reqs.contains(id)
                } else {
                    !known_check(id)
                }
            })
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(BaselineError::UnknownIds {
                ids: unknown.into_iter().map(str::to_string).collect(),
            })
        }
    }

    /// Validate the dates against `results`, mark the checks each entry excuses, and record
    /// the state of every entry in `results.baseline`. `file` names the baseline in messages.
    pub fn apply(&self, results: &mut Results, file: &str) {
        let day = run_date(results);
        let today = parse_date(&day).ok();
        for c in &mut results.checks {
            c.baseline = None;
        }
        // Check-ID entries are the most precise: they claim a failing check first.
        let mut order: Vec<&Entry> = self.entries.iter().filter(|e| !is_rule_id(&e.id)).collect();
        order.extend(self.entries.iter().filter(|e| is_rule_id(&e.id)));
        let mut records = Vec::new();
        for e in order {
            let expired = match (&e.expires, today) {
                (Some(d), Some(t)) => parse_date(d).is_ok_and(|d| d < t),
                _ => false,
            };
            let relevant: Vec<usize> = results
                .checks
                .iter()
                .enumerate()
                .filter(|(_, c)| lists(e, c))
                .map(|(i, _)| i)
                .collect();
            let failing: Vec<usize> = relevant
                .iter()
                .copied()
                .filter(|&i| matches!(results.checks[i].verdict.as_str(), "fail" | "warn"))
                .collect();
            let passing: Vec<usize> = relevant
                .iter()
                .copied()
                .filter(|&i| results.checks[i].verdict == "pass")
                .collect();
            let (state, checks) = if expired {
                (EntryState::Expired, failing)
            } else if !failing.is_empty() {
                for &i in &failing {
                    let c = &mut results.checks[i];
                    c.baseline.get_or_insert_with(|| e.id.clone());
                }
                (EntryState::Known, failing)
            } else if !passing.is_empty() {
                (EntryState::Stale, passing)
            } else {
                (EntryState::NotRun, Vec::new())
            };
            records.push(EntryRecord {
                id: e.id.clone(),
                reason: e.reason.clone(),
                expires: e.expires.clone(),
                state,
                checks: checks
                    .into_iter()
                    .map(|i| results.checks[i].id.clone())
                    .collect(),
            });
        }
        // Back to file order.
        records.sort_by_key(|r| self.entries.iter().position(|e| e.id == r.id));
        results.baseline = Some(BaselineRecord {
            file: file.to_string(),
            date: day,
            entries: records,
        });
    }
}

/// Whether entry `e` lists check `c`: by check ID, by one of the check's rules, or by the rule
/// its failure cites.
fn lists(e: &Entry, c: &CheckRecord) -> bool {
    if is_rule_id(&e.id) {
        c.requirements.contains(&e.id) || c.failure.as_ref().is_some_and(|f| f.rule == e.id)
    } else {
        c.id == e.id
    }
}

/// The UTC day the run started (`YYYY-MM-DD`), or today when the start time is unreadable.
fn run_date(results: &Results) -> String {
    let t = time::OffsetDateTime::parse(
        &results.started_at,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let d = t.to_offset(time::UtcOffset::UTC).date();
    d.format(format_description!("[year]-[month]-[day]"))
        .expect("a date always formats")
}

fn default_reason(c: &CheckRecord, day: &str) -> String {
    let what = match &c.failure {
        Some(f) if !f.rule.is_empty() => format!("breaks {}", f.rule),
        _ => c.verdict.clone(),
    };
    let msg: String = c.message.split_whitespace().collect::<Vec<_>>().join(" ");
    let msg: String = msg.chars().take(200).collect();
    format!("{what} as of {day}: {msg} (replace with the reason it is expected)")
}
