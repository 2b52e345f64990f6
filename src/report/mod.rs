//! Reporters: consumers of the engine's results. None of them runs checks.
//!
//! [`Results`] is the machine-readable form (`--json`, schema in `docs/results-schema.md`);
//! every other output is rendered from it, so `edgecheck report RESULTS.json` can re-render a
//! saved run without running anything.
//!
//! - [`json`], [`junit`], [`markdown`], [`html`], [`terminal`]: the outputs;
//! - [`view`]: what the compliance reports show, shared by Markdown and HTML;
//! - [`baseline`] and [`gate`]: expected failures and the exit code of a run;
//! - [`merge`]: one result from the results of several shards;
//! - [`summary`]: a short Markdown summary for a pull-request comment (`--summary`);
//! - [`compare`]: several servers' results side by side (`report --compare`);
//! - [`redact`]: how keys and signatures appear in outputs;
//! - [`escape`] and [`reproduce`]: server text and `curl` lines made safe to display;
//! - [`timing`]: the plot and summary line of a timing measurement.

pub mod baseline;
pub mod compare;
pub mod error;
pub mod escape;
pub mod gate;
pub mod generated;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod reproduce;
pub mod summary;
pub mod terminal;
pub mod timing;
pub mod view;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalogue::requirements::{self, Requirements};
use crate::client::{redact, Exchange, TransportError};
use crate::engine::CheckResult;
use crate::timing::TimingReport;

/// Version tag of the results format.
pub const SCHEMA: &str = "edgecheck.results/1";

/// Counts per verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Checks run (all verdicts).
    pub total: usize,
    /// Passed.
    pub pass: usize,
    /// Failed a MUST.
    pub fail: usize,
    /// Failed a SHOULD or MAY.
    pub warn: usize,
    /// Skipped (capability absent).
    pub skip: usize,
    /// Waived by the user.
    pub waived: usize,
    /// Suite or network error.
    pub error: usize,
}

impl Summary {
    /// Count verdicts.
    pub fn of<'a>(verdicts: impl IntoIterator<Item = &'a str>) -> Summary {
        let mut s = Summary::default();
        for v in verdicts {
            s.total += 1;
            match v {
                "pass" => s.pass += 1,
                "fail" => s.fail += 1,
                "warn" => s.warn += 1,
                "skip" => s.skip += 1,
                "waived" => s.waived += 1,
                _ => s.error += 1,
            }
        }
        s
    }

    /// The non-zero counts, in verdict order: `3 pass, 1 fail`.
    pub fn counts(&self) -> String {
        [
            ("pass", self.pass),
            ("fail", self.fail),
            ("warn", self.warn),
            ("skip", self.skip),
            ("waived", self.waived),
            ("error", self.error),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(v, n)| format!("{n} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// Whether a verdict is one a report points at (`fail`, `warn`, `error`).
pub fn needs_attention(verdict: &str) -> bool {
    matches!(verdict, "fail" | "warn" | "error")
}

/// Checks listed in a matrix cell up to this many; more are counted, with the ones that
/// need attention listed.
pub(crate) const INLINE_CHECKS: usize = 4;

/// A request or response as recorded in results (bodies as text when UTF-8, else base64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedExchange {
    /// Method.
    pub method: String,
    /// Full URL.
    pub url: String,
    /// Request target as sent (path and query).
    pub target: String,
    /// Request header fields (signatures shortened).
    pub request_headers: Vec<(String, String)>,
    /// Request body (text, or `base64:` + base64).
    pub request_body: String,
    /// Response status, when there was a response.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<u16>,
    /// Response header fields.
    #[serde(default)]
    pub response_headers: Vec<(String, String)>,
    /// Response body.
    #[serde(default)]
    pub response_body: String,
    /// Transport error instead of a response.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// Milliseconds.
    pub elapsed_ms: u64,
    /// A curl command reproducing the request (signature to be recomputed).
    pub curl: String,
}

/// Bodies are kept up to this many bytes.
const BODY_LIMIT: usize = 4096;

/// A body as text (keys shortened, cut at [`BODY_LIMIT`] on a character boundary), or
/// `base64:` + the first [`BODY_LIMIT`] bytes when it is not UTF-8.
fn body_text(b: &[u8]) -> String {
    let more = |shown: usize| {
        if b.len() > shown {
            format!("…({} bytes in all)", b.len())
        } else {
            String::new()
        }
    };
    match std::str::from_utf8(b) {
        Ok(t) => {
            let t = redact::body_text(t);
            let mut cut = t.len().min(BODY_LIMIT);
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            let tail = if cut < t.len() {
                format!("…({} bytes in all)", b.len())
            } else {
                String::new()
            };
            format!("{}{tail}", &t[..cut])
        }
        Err(_) => {
            let cut = &b[..b.len().min(BODY_LIMIT)];
            format!(
                "base64:{}{}",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, cut),
                more(cut.len())
            )
        }
    }
}

impl RecordedExchange {
    /// Record an exchange.
    pub fn from_exchange(ex: &Exchange) -> RecordedExchange {
        let req = &ex.request;
        let (status, response_headers, response_body, error) = match &ex.response {
            Ok(r) => (Some(r.status), r.headers.clone(), body_text(&r.body), None),
            Err(e) => (None, Vec::new(), String::new(), Some(describe_error(e))),
        };
        RecordedExchange {
            method: req.method.clone(),
            url: req.url.to_string(),
            target: req.request_target(),
            request_headers: req
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        redact::header_text(k, &String::from_utf8_lossy(v)),
                    )
                })
                .collect(),
            request_body: body_text(&req.body),
            status,
            response_headers,
            response_body,
            error,
            elapsed_ms: ex.elapsed.as_millis() as u64,
            curl: crate::client::curl(ex),
        }
    }
}

fn describe_error(e: &TransportError) -> String {
    e.to_string()
}

/// Failure details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// Step number.
    pub step: usize,
    /// Rule.
    pub rule: String,
    /// Expected.
    pub expected: String,
    /// Actual.
    pub actual: String,
}

/// One check in results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckRecord {
    /// Case ID.
    pub id: String,
    /// Title.
    pub title: String,
    /// Area.
    pub area: String,
    /// Rule IDs.
    pub requirements: Vec<String>,
    /// MUST / SHOULD / MAY.
    pub level: String,
    /// Verdict.
    pub verdict: String,
    /// Message.
    pub message: String,
    /// Failure details.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failure: Option<FailureRecord>,
    /// Requests made.
    pub requests: usize,
    /// Signatures made.
    pub signatures: usize,
    /// Milliseconds.
    pub duration_ms: u64,
    /// Exchanges of a check that did not pass (the last ones, up to 20).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub exchanges: Vec<RecordedExchange>,
    /// The baseline entry (check or rule ID) that lists this failure as expected.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub baseline: Option<String>,
    /// The timing measurement of a timing check: distributions and pairwise differences.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timing: Option<TimingReport>,
    /// The measurements of the further endpoints of a check that measures several, after
    /// the one in `timing`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub more_timing: Vec<TimingReport>,
}

impl CheckRecord {
    /// Record a check result.
    pub fn from_result(r: &CheckResult) -> CheckRecord {
        let skip = r.exchanges.len().saturating_sub(20);
        CheckRecord {
            id: r.id.clone(),
            title: r.title.clone(),
            area: r.area.clone(),
            requirements: r.requirements.clone(),
            level: r.level.as_str().into(),
            verdict: r.verdict.as_str().into(),
            message: r.message.clone(),
            failure: r.failure.as_ref().map(|f| FailureRecord {
                step: f.step,
                rule: f.rule.clone(),
                expected: f.expected.clone(),
                actual: f.actual.clone(),
            }),
            requests: r.requests,
            signatures: r.signatures,
            duration_ms: r.duration.as_millis() as u64,
            exchanges: r
                .exchanges
                .iter()
                .skip(skip)
                .map(RecordedExchange::from_exchange)
                .collect(),
            baseline: None,
            timing: r.timing.as_deref().cloned(),
            more_timing: r.more_timing.clone(),
        }
    }

    /// Every timing measurement of this check, in the order they were made.
    pub fn timings(&self) -> impl Iterator<Item = &TimingReport> {
        self.timing.iter().chain(&self.more_timing)
    }
}

/// One requirement in results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequirementRecord {
    /// Rule ID.
    pub id: String,
    /// Level.
    pub level: String,
    /// `source` or `binding`.
    pub origin: String,
    /// What its checks observed: `fail`/`warn` only when a check was seen to break this
    /// rule, `blocked` when its checks stopped on another rule first, else the worst verdict
    /// of its checks; `untested` or `not testable` without checks.
    pub verdict: String,
    /// Checks covering it (those linked to it, and any that was seen to break it).
    pub checks: Vec<String>,
    /// For `blocked`: the rules whose failures kept its checks from judging it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<String>,
}

/// The whole machine-readable result of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Results {
    /// Format version (`edgecheck.results/1`).
    pub schema: String,
    /// edgecheck version.
    pub edgecheck: String,
    /// The profile the checks belong to (from the catalogue).
    pub profile: String,
    /// Target description.
    pub target: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Options of the run, as given.
    pub options: BTreeMap<String, serde_json::Value>,
    /// Seed of generated checks, when the run had any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub seed: Option<u64>,
    /// `i/n` when the run was one shard of a split plan (`--shard`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shard: Option<String>,
    /// The runs this result was merged from (`edgecheck report --merge`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub merged: Vec<merge::MergedRun>,
    /// The baseline of expected failures applied, with the state of each entry.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub baseline: Option<baseline::BaselineRecord>,
    /// Counts per verdict.
    pub summary: Summary,
    /// Every check.
    pub checks: Vec<CheckRecord>,
    /// Every requirement of the catalogue.
    pub requirements: Vec<RequirementRecord>,
}

impl Results {
    /// Assemble results from check results and the requirement catalogue.
    pub fn new(
        catalogue: &Requirements,
        target: String,
        started_at: String,
        duration_ms: u64,
        options: BTreeMap<String, serde_json::Value>,
        results: &[CheckResult],
    ) -> Results {
        let checks: Vec<CheckRecord> = results.iter().map(CheckRecord::from_result).collect();
        Results::from_checks(catalogue, target, started_at, duration_ms, options, checks)
    }

    /// Assemble results from recorded checks: the summary and the requirement verdicts are
    /// computed from them.
    pub fn from_checks(
        catalogue: &Requirements,
        target: String,
        started_at: String,
        duration_ms: u64,
        options: BTreeMap<String, serde_json::Value>,
        checks: Vec<CheckRecord>,
    ) -> Results {
        let summary = Summary::of(checks.iter().map(|c| c.verdict.as_str()));
        let requirements = requirement_records(catalogue, &checks);
        Results {
            schema: SCHEMA.into(),
            edgecheck: env!("CARGO_PKG_VERSION").into(),
            profile: catalogue.profile().into(),
            target,
            started_at,
            duration_ms,
            options,
            seed: None,
            shard: None,
            merged: Vec::new(),
            baseline: None,
            summary,
            checks,
            requirements,
        }
    }

    /// Whether any required (MUST) check failed, expected failures of a baseline included.
    pub fn failed(&self) -> bool {
        self.summary.fail > 0
    }

    /// The check with this ID.
    pub fn check(&self, id: &str) -> Option<&CheckRecord> {
        self.checks.iter().find(|c| c.id == id)
    }
}

/// What one check says about one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Observation<'a> {
    /// The check's verdict applies to the rule (it passed, was skipped, ... or failed on it).
    Verdict(&'a str),
    /// The check stopped on another rule before it could judge this one.
    Blocked(&'a str),
}

/// The rule a failing (or warning) check was seen to break, when it names one.
pub fn broken_rule(c: &CheckRecord) -> Option<&str> {
    if !matches!(c.verdict.as_str(), "fail" | "warn") {
        return None;
    }
    c.failure
        .as_ref()
        .map(|f| f.rule.as_str())
        .filter(|r| !r.is_empty())
}

/// Rank of a check or rule verdict: pass < skip < waived < blocked < warn < error < fail
/// (`blocked` is a rule's only; unknown names rank as error: they cannot be counted for or
/// against the server).
pub fn verdict_rank(verdict: &str) -> usize {
    match verdict {
        "pass" => 0,
        "skip" => 1,
        "waived" => 2,
        "blocked" => 3,
        "warn" => 4,
        "fail" => 6,
        _ => 5,
    }
}

/// Per-requirement verdicts from what was observed: a rule is `fail` (or `warn`) only when
/// some check was seen to break it (`failure.rule`), whether or not the check is linked to
/// it; the other rules linked to that check are `blocked` by it (inconclusive, with the rule
/// that blocked them); otherwise the worst verdict of the checks naming the rule.
pub fn requirement_records(
    catalogue: &Requirements,
    checks: &[CheckRecord],
) -> Vec<RequirementRecord> {
    let mut by_rule: BTreeMap<&str, Vec<(&CheckRecord, Observation)>> = BTreeMap::new();
    for c in checks {
        let broken = broken_rule(c);
        for id in &c.requirements {
            let seen = match broken {
                Some(b) if b != id => Observation::Blocked(b),
                _ => Observation::Verdict(c.verdict.as_str()),
            };
            by_rule.entry(id.as_str()).or_default().push((c, seen));
        }
        if let Some(b) = broken.filter(|b| !c.requirements.iter().any(|r| r == b)) {
            by_rule
                .entry(b)
                .or_default()
                .push((c, Observation::Verdict(c.verdict.as_str())));
        }
    }
    catalogue
        .all()
        .iter()
        .map(|req| {
            let seen = by_rule.get(req.id.as_str()).cloned().unwrap_or_default();
            let worst = seen
                .iter()
                .map(|(_, o)| match o {
                    Observation::Verdict(v) => *v,
                    Observation::Blocked(_) => "blocked",
                })
                .max_by_key(|v| verdict_rank(v));
            let verdict = match worst {
                Some(v) => v.to_string(),
                None if req.testable == requirements::Testable::No => "not testable".into(),
                None => "untested".into(),
            };
            let mut blocked_by: Vec<String> = Vec::new();
            if verdict == "blocked" {
                for (_, o) in &seen {
                    if let Observation::Blocked(b) = o {
                        if !blocked_by.iter().any(|x| x == b) {
                            blocked_by.push(b.to_string());
                        }
                    }
                }
            }
            RequirementRecord {
                id: req.id.clone(),
                level: req.level.as_str().into(),
                origin: origin_str(req.origin).into(),
                verdict,
                checks: seen.iter().map(|(c, _)| c.id.clone()).collect(),
                blocked_by,
            }
        })
        .collect()
}

/// `source` or `binding`.
pub fn origin_str(o: requirements::Origin) -> &'static str {
    match o {
        requirements::Origin::Source => "source",
        requirements::Origin::Binding => "binding",
    }
}

/// `yes`, `partially` or `no`.
pub fn testable_str(t: requirements::Testable) -> &'static str {
    match t {
        requirements::Testable::Yes => "yes",
        requirements::Testable::Partially => "partially",
        requirements::Testable::No => "no",
    }
}
