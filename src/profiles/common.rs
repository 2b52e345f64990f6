//! What the profiles share: key material that must not show in URIs, and the varying part
//! of server-chosen strings that must not be a visible counter; the origins a run may
//! contact; the run and the verdicts of a kill matrix.

/// Encodings of key material (and of a connection ID, where the protocol has one) that must
/// not appear inside URIs: the key's DER and its SHA-1 and SHA-256 hashes, in hex, base64
/// and base64url (S-URI-GEN, V-URI).
pub fn key_material(spki: &[u8], cid: Option<&str>) -> Vec<(String, String)> {
    use base64::Engine as _;
    use sha1::Digest as _;
    let mut out: Vec<(String, String)> = cid
        .map(|c| ("connectionID".to_string(), c.to_string()))
        .into_iter()
        .collect();
    let sha1 = sha1::Sha1::digest(spki).to_vec();
    let sha256 = sha2::Sha256::digest(spki).to_vec();
    for (what, bytes) in [
        ("key", spki.to_vec()),
        ("SHA-1 of key", sha1),
        ("SHA-256 of key", sha256),
    ] {
        let std = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let url = std.replace('+', "-").replace('/', "_");
        out.push((format!("{what} (hex)"), hex::encode(&bytes)));
        out.push((
            format!("{what} (base64)"),
            std.trim_end_matches('=').to_string(),
        ));
        out.push((
            format!("{what} (base64url)"),
            url.trim_end_matches('=').to_string(),
        ));
    }
    out
}

/// Whether `uri` contains any 16-character window of `material` (case-insensitive for hex).
pub fn contains_window(uri: &str, material: &str) -> bool {
    const W: usize = 16;
    let lower = uri.to_ascii_lowercase();
    let m = material.as_bytes();
    if m.len() < W {
        return uri.contains(material);
    }
    m.windows(W).step_by(4).any(|w| {
        let w = std::str::from_utf8(w).unwrap_or_default();
        uri.contains(w)
            || lower.contains(&w.to_ascii_lowercase()) && w.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The part of each string that differs from all others: strip the longest common prefix and
/// suffix.
pub fn varying_parts(all: &[String]) -> Vec<String> {
    if all.len() < 2 {
        return all.to_vec();
    }
    let first = all[0].as_bytes();
    let mut pre = first.len();
    let mut suf = first.len();
    for s in &all[1..] {
        let b = s.as_bytes();
        pre = pre.min(first.iter().zip(b).take_while(|(a, b)| a == b).count());
        suf = suf.min(
            first
                .iter()
                .rev()
                .zip(b.iter().rev())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    all.iter()
        .map(|s| {
            let end = s.len().saturating_sub(suf).max(pre);
            s.get(pre..end).unwrap_or_default().to_string()
        })
        .collect()
}

/// Whether consecutive values look like a counter: as numbers (decimal, hex or base64url
/// read as a big-endian integer) they differ by less than 2^16.
pub fn looks_like_counter(parts: &[String]) -> bool {
    fn value(s: &str) -> Option<u128> {
        if s.is_empty() || s.len() > 21 {
            return None;
        }
        if let Ok(v) = s.parse::<u128>() {
            return Some(v);
        }
        if let Ok(v) = u128::from_str_radix(s, 16) {
            return Some(v);
        }
        const ALPHA: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        s.chars().try_fold(0u128, |acc, c| {
            ALPHA
                .find(c)
                .map(|d| acc.wrapping_mul(64).wrapping_add(d as u128))
        })
    }
    let vals: Vec<Option<u128>> = parts.iter().map(|p| value(p)).collect();
    let close = vals
        .windows(2)
        .filter(|w| matches!((w[0], w[1]), (Some(a), Some(b)) if a.abs_diff(b) < (1 << 16)))
        .count();
    parts.len() > 2 && close * 2 >= parts.len() - 1
}

/// The origins a run may contact: those of the servers under test and of `--allow-origin`.
pub fn origin_policy(
    servers: &[url::Url],
    extra: &[String],
) -> Result<crate::client::origin::OriginPolicy, crate::profiles::ProfileError> {
    use crate::client::origin::{Origin, OriginPolicy};
    use crate::profiles::ProfileError;
    let mut origins: Vec<Origin> = servers.iter().filter_map(Origin::of).collect();
    for s in extra {
        let o = url::Url::parse(s)
            .ok()
            .as_ref()
            .and_then(Origin::of)
            .ok_or_else(|| {
                ProfileError::Usage(format!(
                    "--allow-origin {s}: give an origin as a URL, e.g. https://host:8443"
                ))
            })?;
        origins.push(o);
    }
    Ok(OriginPolicy::only(origins))
}

/// A warning that comes from a timing measurement, not from a rule seen broken.
fn is_timing_warning(r: &crate::engine::CheckResult) -> bool {
    r.verdict == crate::engine::Verdict::Warn && r.timing.is_some()
}

/// What the checks said of one server (the kill matrices of the profiles).
#[derive(Debug, Clone)]
pub struct Verdicts {
    /// Every result, in plan order.
    pub results: Vec<crate::engine::CheckResult>,
}

impl Verdicts {
    /// Checks that failed or warned.
    pub fn failed(&self) -> Vec<&crate::engine::CheckResult> {
        self.results
            .iter()
            .filter(|r| {
                matches!(
                    r.verdict,
                    crate::engine::Verdict::Fail | crate::engine::Verdict::Warn
                )
            })
            .collect()
    }

    /// Every rule some check saw broken (`failure.rule` and `failure.also`). Timing warnings
    /// are left out: a statistical measurement blames nothing by itself (see
    /// [`Verdicts::kills`]).
    pub fn blamed(&self) -> std::collections::BTreeSet<String> {
        self.failed()
            .iter()
            .filter(|r| !is_timing_warning(r))
            .filter_map(|r| r.failure.as_ref())
            .flat_map(|f| std::iter::once(f.rule.clone()).chain(f.also.iter().cloned()))
            .filter(|r| !r.is_empty())
            .collect()
    }

    /// Whether a check linked to `rule` saw `rule` broken: the fault is killed. A timing
    /// warning counts only for the timing rule it judges (`attach_timing`'s rule): it
    /// catches a timing fault, never another.
    pub fn kills(&self, rule: &str) -> bool {
        self.failed().iter().any(|r| {
            (!is_timing_warning(r) || r.failure.as_ref().is_some_and(|f| f.rule == rule))
                && r.requirements.iter().any(|q| q == rule)
                && r.failure
                    .as_ref()
                    .is_some_and(|f| f.rule == rule || f.also.iter().any(|a| a == rule))
        })
    }
}

/// The error of `edgecheck selftest --profile PROFILE` in a build without the faults of the
/// reference server: it says how to build one.
pub fn selftest_unavailable(profile: &str) -> crate::profiles::ProfileError {
    crate::profiles::ProfileError::Usage(format!(
        "selftest needs a build with the faults of the reference server (the `selftest` \
         feature): cargo run --release --features selftest -- selftest --profile {profile}"
    ))
}

/// Runs the checks among `checks` linked to rule `linked_to` (all when `None`) in `session`,
/// `jobs` at a time: one server's run of a kill matrix.
pub async fn run_linked(
    session: std::sync::Arc<dyn crate::engine::Session>,
    checks: &[crate::engine::CheckInfo],
    linked_to: Option<&str>,
    jobs: usize,
) -> Verdicts {
    let checks = checks
        .iter()
        .filter(|c| linked_to.is_none_or(|r| c.requirements.iter().any(|q| q == r)))
        .cloned()
        .collect();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let run = crate::engine::run_plan(
        session,
        &crate::engine::Plan { checks },
        crate::engine::RunSettings::new(jobs),
        tx,
    )
    .await;
    Verdicts {
        results: run.results,
    }
}

/// `edgecheck selftest` for a profile whose reference server has a fault list: `--list`,
/// `--only` globs over names and rules, the fault-free baseline (a check that did not pass,
/// skip or get waived counts as a survivor), then one server per fault, printing whether a
/// check linked to the fault's rule saw it broken and what the reports blamed. `faults` are
/// (fault, name, rule); `run(fault, linked)` runs the checks (those linked to `linked`, or
/// all) against a fresh server with that fault (none for the baseline).
pub async fn kill_matrix<F, Fut>(
    opts: &crate::profiles::SelftestOptions,
    mut faults: Vec<(F, &'static str, &'static str)>,
    run: impl Fn(Option<F>, Option<&'static str>) -> Fut,
) -> Result<crate::profiles::Outcome, crate::profiles::ProfileError>
where
    F: Copy,
    Fut: std::future::Future<Output = Result<Verdicts, crate::profiles::ProfileError>>,
{
    use crate::engine::Verdict;
    use crate::profiles::{Outcome, ProfileError};
    if opts.list {
        for (_, name, rule) in &faults {
            println!("{name:<36} {rule}");
        }
        println!("{} faults", faults.len());
        return Ok(Outcome::Clean);
    }
    if !opts.only.is_empty() {
        let ms: Vec<globset::GlobMatcher> = opts
            .only
            .iter()
            .map(|p| globset::Glob::new(p).map(|g| g.compile_matcher()))
            .collect::<Result<_, _>>()
            .map_err(|e| ProfileError::Usage(format!("bad --only pattern: {e}")))?;
        faults.retain(|(_, name, rule)| ms.iter().any(|m| m.is_match(name) || m.is_match(rule)));
    }
    let mut survivors = 0;
    if !opts.no_baseline {
        let v = run(None, None).await?;
        let bad: Vec<String> = v
            .results
            .iter()
            .filter(|r| !matches!(r.verdict, Verdict::Pass | Verdict::Skip | Verdict::Waived))
            .map(|r| format!("{} {}: {}", r.id, r.verdict.as_str(), r.message))
            .collect();
        println!(
            "fault-free server: {} checks, {} not passed",
            v.results.len(),
            bad.len()
        );
        for b in &bad {
            println!("  {b}");
        }
        survivors += bad.len();
    }
    for (fault, name, rule) in faults {
        let linked = if opts.full { None } else { Some(rule) };
        let v = run(Some(fault), linked).await?;
        let killed = v.kills(rule);
        let blamed: Vec<String> = v.blamed().into_iter().collect();
        println!(
            "{name:<36} {rule:<22} {}  blamed: {}",
            if killed { "killed " } else { "SURVIVED" },
            blamed.join(", ")
        );
        if !killed {
            survivors += 1;
        }
    }
    Ok(if survivors == 0 {
        Outcome::Clean
    } else {
        Outcome::Found(Vec::new())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::ProfileError;

    #[test]
    fn a_build_without_faults_says_how_to_run_the_selftest_of_the_profile() {
        match selftest_unavailable("tassis-v2") {
            ProfileError::Usage(m) => assert!(
                m.ends_with("--features selftest -- selftest --profile tassis-v2"),
                "{m}"
            ),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }
}
