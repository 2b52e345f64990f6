//! One result from the results of several runs, typically the shards of a CI matrix
//! (`edgecheck report --merge a.json b.json …`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::error::MergeError;
use super::Results;
use crate::catalogue::requirements::Requirements;

/// A run that went into a merged result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergedRun {
    /// Where its results were read from.
    pub source: String,
    /// Its shard (`i/n`), when it was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Its target.
    pub target: String,
    /// When it started.
    pub started_at: String,
    /// Its number of checks.
    pub checks: usize,
}

fn parse_shard(s: &str) -> Option<(usize, usize)> {
    let (i, n) = s.split_once('/')?;
    Some((i.parse().ok()?, n.parse().ok()?))
}

/// Merge runs (`(source, results)`) into one result. Checks are put in catalogue order
/// (`order` gives each known check ID its position) and requirement verdicts are recomputed.
///
/// Fails when a check appears in two runs, when the runs differ in profile, or when shards
/// of an `n`-way split are missing (unless `partial`). Baselines of the parts are dropped:
/// apply one to the merged result.
pub fn merge(
    catalogue: &Requirements,
    parts: Vec<(String, Results)>,
    order: &dyn Fn(&str) -> Option<usize>,
    partial: bool,
) -> Result<Results, MergeError> {
    let Some((_, first)) = parts.first() else {
        return Err(MergeError::Empty);
    };
    let profile = first.profile.clone();
    let mut options = first.options.clone();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut checks = Vec::new();
    let mut targets: Vec<String> = Vec::new();
    let mut merged = Vec::new();
    let mut shards: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    let mut started = first.started_at.clone();
    let mut duration = 0;
    let mut seed = first.seed;
    for (source, r) in &parts {
        if r.profile != profile {
            return Err(MergeError::Profile {
                source_file: source.clone(),
                found: r.profile.clone(),
                expected: profile,
            });
        }
        if r.seed != seed {
            seed = None;
        }
        if let Some((i, n)) = r.shard.as_deref().and_then(parse_shard) {
            if !shards.entry(n).or_default().insert(i) {
                return Err(MergeError::ShardTwice {
                    source_file: source.clone(),
                    i,
                    n,
                });
            }
        }
        for c in &r.checks {
            if let Some(other) = seen.insert(c.id.clone(), source.clone()) {
                return Err(MergeError::Overlap {
                    check: c.id.clone(),
                    first: other,
                    second: source.clone(),
                });
            }
            let mut c = c.clone();
            c.baseline = None;
            checks.push(c);
        }
        if !targets.contains(&r.target) {
            targets.push(r.target.clone());
        }
        // RFC 3339 UTC times of one format order as text.
        if r.started_at < started {
            started = r.started_at.clone();
        }
        duration = duration.max(r.duration_ms);
        merged.push(MergedRun {
            source: source.clone(),
            shard: r.shard.clone(),
            target: r.target.clone(),
            started_at: r.started_at.clone(),
            checks: r.checks.len(),
        });
    }
    if shards.len() > 1 {
        return Err(MergeError::SplitSizes {
            sizes: shards
                .keys()
                .map(|n| format!("n = {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if let Some((n, have)) = shards.iter().next() {
        let missing: Vec<String> = (1..=*n)
            .filter(|i| !have.contains(i))
            .map(|i| format!("{i}/{n}"))
            .collect();
        if !missing.is_empty() && !partial {
            return Err(MergeError::Missing {
                missing: missing.join(", "),
            });
        }
    }
    let at = |id: &str| order(id).unwrap_or(usize::MAX);
    // A stable sort keeps unknown checks (replayed files) in the order they came.
    checks.sort_by_key(|c| at(&c.id));
    options.remove("shard");
    let mut out = Results::from_checks(
        catalogue,
        targets.join("; "),
        started,
        duration,
        options,
        checks,
    );
    out.profile = profile;
    out.seed = seed;
    out.merged = merged;
    Ok(out)
}
