//! The CI gate: baseline semantics (listed failure, stale entry, expired entry, rule
//! entries), the exit outcome, and merging shard results.

mod report_fixture;

use edgecheck::profiles::edge_v1;
use edgecheck::report::baseline::{Baseline, EntryState};
use edgecheck::report::gate::{evaluate, Outcome};
use edgecheck::report::merge::merge;
use edgecheck::report::{junit, requirement_records, CheckRecord, FailureRecord, Results};
use report_fixture::{passing, results};
use std::collections::BTreeMap;

fn baseline(entries: &str) -> Baseline {
    Baseline::parse(
        &format!(r#"{{"schema":"edgecheck.baseline/1","entries":[{entries}]}}"#),
        "known.json",
    )
    .expect("test baseline parses")
}

fn applied(entries: &str) -> Results {
    let mut r = results();
    baseline(entries).apply(&mut r, "known.json");
    r
}

fn state(r: &Results, id: &str) -> EntryState {
    r.baseline
        .as_ref()
        .and_then(|b| b.entry(id))
        .unwrap_or_else(|| panic!("no entry {id}"))
        .state
}

#[test]
fn without_a_baseline_a_failure_fails_the_run() {
    let g = evaluate(&results());
    assert_eq!(g.outcome, Outcome::Fail);
    assert!(
        g.lines[0].contains("create/duplicate-id-409"),
        "{:?}",
        g.lines
    );
}

#[test]
fn a_listed_failure_does_not_fail_the_run_but_is_still_shown() {
    let r = applied(r#"{"id":"create/duplicate-id-409","reason":"known bug"}"#);
    assert_eq!(state(&r, "create/duplicate-id-409"), EntryState::Known);
    let c = r.check("create/duplicate-id-409").unwrap();
    assert_eq!(c.verdict, "fail", "the verdict stays what the server did");
    assert_eq!(c.baseline.as_deref(), Some("create/duplicate-id-409"));
    let g = evaluate(&r);
    // The fixture also has an error verdict: with the failure excused, that is what remains.
    assert_eq!(g.outcome, Outcome::Errors, "{:?}", g.lines);
    assert!(g.lines.iter().any(|l| l.contains("expected failure")));
    // Shown in JUnit as an expected failure, with the reason.
    let xml = junit::render(&r, edge_v1::catalogue()).unwrap();
    assert!(xml.contains("expected failure (baseline entry `create/duplicate-id-409`: known bug)"));
}

#[test]
fn a_rule_entry_lists_the_checks_of_that_rule() {
    let r = applied(r#"{"id":"S-CREATE-409","reason":"known bug"}"#);
    assert_eq!(state(&r, "S-CREATE-409"), EntryState::Known);
    assert_eq!(
        r.check("create/duplicate-id-409")
            .unwrap()
            .baseline
            .as_deref(),
        Some("S-CREATE-409")
    );
    assert_ne!(evaluate(&r).outcome, Outcome::Fail);
    // Another rule's entry excuses nothing.
    let r = applied(r#"{"id":"S-CREATE-DIS","reason":"unrelated"}"#);
    assert_eq!(evaluate(&r).outcome, Outcome::Fail);
    assert_eq!(state(&r, "S-CREATE-DIS"), EntryState::NotRun);
}

#[test]
fn a_listed_check_that_now_passes_is_a_stale_entry() {
    let r = applied(
        r#"{"id":"create/duplicate-id-409","reason":"known"},{"id":"create/created","reason":"was broken"}"#,
    );
    assert_eq!(state(&r, "create/created"), EntryState::Stale);
    let g = evaluate(&r);
    assert_eq!(g.outcome, Outcome::Fail);
    let line = g
        .lines
        .iter()
        .find(|l| l.contains("stale"))
        .expect("a stale line");
    assert!(
        line.contains("create/created") && line.contains("remove the entry from known.json"),
        "{line}"
    );
    // A rule entry whose checks all pass is stale too.
    let r = applied(r#"{"id":"S-CREATE-201","reason":"was broken"}"#);
    assert_eq!(state(&r, "S-CREATE-201"), EntryState::Stale);
}

#[test]
fn an_expired_entry_fails_the_run_and_excuses_nothing() {
    // The fixture run started on 2026-03-01.
    let r = applied(r#"{"id":"create/duplicate-id-409","reason":"known","expires":"2026-02-28"}"#);
    assert_eq!(state(&r, "create/duplicate-id-409"), EntryState::Expired);
    assert_eq!(r.check("create/duplicate-id-409").unwrap().baseline, None);
    let g = evaluate(&r);
    assert_eq!(g.outcome, Outcome::Fail);
    assert!(g
        .lines
        .iter()
        .any(|l| l.contains("expired baseline entry") && l.contains("extend `expires`")));
    // The expiry day itself still excuses.
    let r = applied(r#"{"id":"create/duplicate-id-409","reason":"known","expires":"2026-03-01"}"#);
    assert_eq!(state(&r, "create/duplicate-id-409"), EntryState::Known);
    // An expired entry fails the run even when what it lists passes now or did not run.
    let r = applied(
        r#"{"id":"create/duplicate-id-409","reason":"k"},{"id":"delete/x","reason":"k","expires":"2020-01-01"}"#,
    );
    assert_eq!(state(&r, "delete/x"), EntryState::Expired);
    assert_eq!(evaluate(&r).outcome, Outcome::Fail);
}

#[test]
fn a_clean_run_passes_and_an_empty_one_does_not() {
    assert_eq!(
        evaluate(&passing(&["create/created"])).outcome,
        Outcome::Pass
    );
    assert_eq!(evaluate(&passing(&[])).outcome, Outcome::NothingRan);
}

#[test]
fn bad_baselines_are_rejected_with_a_clear_error() {
    let bad = [
        (
            r#"{"schema":"edgecheck.baseline/1","entries":[{"id":"create/x","reason":""}]}"#,
            "`reason` is empty",
        ),
        (
            r#"{"schema":"edgecheck.baseline/1","entries":[{"id":"create/x","reason":"r","expires":"31.12.2026"}]}"#,
            "YYYY-MM-DD",
        ),
        (
            r#"{"schema":"edgecheck.baseline/1","entries":[{"id":"create/x","reason":"r"},{"id":"create/x","reason":"r"}]}"#,
            "listed twice",
        ),
        (
            r#"{"schema":"edgecheck.baseline/1","entries":[{"id":"nonsense","reason":"r"}]}"#,
            "neither a check ID",
        ),
        (
            r#"{"schema":"edgecheck.baseline/9","entries":[]}"#,
            "schema",
        ),
        (
            r#"{"schema":"edgecheck.baseline/1","entries":[{"id":"create/x","why":"r"}]}"#,
            "not a baseline file",
        ),
        ("not json", "not a baseline file"),
    ];
    for (text, want) in bad {
        let e = Baseline::parse(text, "known.json")
            .expect_err(text)
            .to_string();
        assert!(
            e.contains(want) && e.starts_with("known.json"),
            "{text}: {e}"
        );
    }
    let b = baseline(r#"{"id":"S-NOPE-1","reason":"r"},{"id":"create/nope","reason":"r"}"#);
    let e = b
        .check_ids(edge_v1::catalogue(), &|id| id == "create/created")
        .unwrap_err()
        .to_string();
    assert!(e.contains("S-NOPE-1") && e.contains("create/nope"), "{e}");
}

#[test]
fn a_baseline_written_from_results_excuses_exactly_their_failures() {
    let r = results();
    let b = Baseline::from_results(&r, Some("2026-12-31"), None);
    let ids: Vec<&str> = b.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["create/duplicate-id-409", "create/only-uris"]);
    assert!(b
        .entries
        .iter()
        .all(|e| !e.reason.is_empty() && e.expires.as_deref() == Some("2026-12-31")));
    // It parses back, and applied to the same run leaves only the error.
    let b = Baseline::parse(&b.to_json(), "generated").expect("generated baseline parses");
    let mut r = results();
    b.apply(&mut r, "generated");
    assert_eq!(evaluate(&r).outcome, Outcome::Errors);
}

fn order(id: &str) -> Option<usize> {
    ["a/1", "a/2", "b/1", "b/2", "c/1"]
        .iter()
        .position(|x| *x == id)
}

fn shard(ids: &[&str], s: &str) -> Results {
    let mut r = passing(ids);
    r.shard = Some(s.into());
    r
}

#[test]
fn merging_shards_gives_the_whole_run_in_catalogue_order() {
    let mut a = shard(&["b/2", "a/1"], "1/2");
    a.started_at = "2026-03-01T09:31:00Z".into();
    let b = shard(&["c/1", "a/2", "b/1"], "2/2");
    let m = merge(
        edge_v1::catalogue(),
        vec![("a.json".into(), a), ("b.json".into(), b)],
        &order,
        false,
    )
    .unwrap();
    let ids: Vec<&str> = m.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["a/1", "a/2", "b/1", "b/2", "c/1"]);
    assert_eq!(m.summary.total, 5);
    assert_eq!(m.summary.pass, 5);
    assert_eq!(m.started_at, "2026-03-01T09:30:00Z", "the earliest start");
    assert_eq!(m.merged.len(), 2);
    assert_eq!(m.shard, None);
    let rule = m
        .requirements
        .iter()
        .find(|r| r.id == "S-CREATE-201")
        .unwrap();
    assert_eq!(
        rule.checks.len(),
        5,
        "rule verdicts are recomputed over every shard"
    );
    assert_eq!(rule.verdict, "pass");
}

#[test]
fn merging_refuses_overlap_missing_shards_and_mixed_splits() {
    let e = merge(
        edge_v1::catalogue(),
        vec![
            ("a.json".into(), shard(&["a/1"], "1/2")),
            ("b.json".into(), shard(&["a/1"], "2/2")),
        ],
        &order,
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("`a/1` is in both a.json and b.json"), "{e}");
    let e = merge(
        edge_v1::catalogue(),
        vec![("a.json".into(), shard(&["a/1"], "1/3"))],
        &order,
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("2/3, 3/3 missing") && e.contains("--partial"),
        "{e}"
    );
    assert!(merge(
        edge_v1::catalogue(),
        vec![("a.json".into(), shard(&["a/1"], "1/3"))],
        &order,
        true
    )
    .is_ok());
    let e = merge(
        edge_v1::catalogue(),
        vec![
            ("a.json".into(), shard(&["a/1"], "1/2")),
            ("b.json".into(), shard(&["a/2"], "2/3")),
        ],
        &order,
        true,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("different sizes"), "{e}");
    let e = merge(
        edge_v1::catalogue(),
        vec![
            ("a.json".into(), shard(&["a/1"], "1/2")),
            ("b.json".into(), shard(&["a/2"], "1/2")),
        ],
        &order,
        true,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("given twice"), "{e}");
    assert!(merge(edge_v1::catalogue(), Vec::new(), &order, false).is_err());
}

#[test]
fn a_failure_in_one_shard_fails_the_merged_run_and_stale_is_judged_over_all() {
    let a = shard(&["a/1"], "1/2");
    let mut b = results();
    b.shard = Some("2/2".into());
    let mut m = merge(
        edge_v1::catalogue(),
        vec![("a.json".into(), a), ("b.json".into(), b)],
        &|_| None,
        false,
    )
    .unwrap();
    assert_eq!(evaluate(&m).outcome, Outcome::Fail);
    baseline(r#"{"id":"create/duplicate-id-409","reason":"k"},{"id":"a/1","reason":"was broken"}"#)
        .apply(&mut m, "known.json");
    assert_eq!(state(&m, "a/1"), EntryState::Stale);
    assert_eq!(state(&m, "create/duplicate-id-409"), EntryState::Known);
}

/// A check record with a verdict and, when failing, the rule it was seen to break.
fn check(id: &str, rules: &[&str], verdict: &str, broken: Option<&str>) -> CheckRecord {
    CheckRecord {
        id: id.into(),
        title: id.into(),
        area: id.split('/').next().unwrap().into(),
        requirements: rules.iter().map(|r| r.to_string()).collect(),
        level: "MUST".into(),
        verdict: verdict.into(),
        message: String::new(),
        failure: broken.map(|rule| FailureRecord {
            step: 1,
            rule: rule.into(),
            expected: "x".into(),
            actual: "y".into(),
        }),
        requests: 1,
        signatures: 1,
        duration_ms: 1,
        exchanges: Vec::new(),
        baseline: None,
        timing: None,
        more_timing: Vec::new(),
    }
}

fn verdicts(checks: &[CheckRecord]) -> BTreeMap<String, (String, Vec<String>)> {
    requirement_records(edge_v1::catalogue(), checks)
        .into_iter()
        .filter(|r| r.verdict != "untested" && r.verdict != "not testable")
        .map(|r| (r.id, (r.verdict, r.blocked_by)))
        .collect()
}

#[test]
fn a_rule_fails_only_when_a_check_was_seen_to_break_it() {
    let v = verdicts(&[
        // Linked to three rules, seen to break one that it is not even linked to.
        check(
            "retrieve/page-max",
            &["S-GEN-400", "S-RETR-PAGE", "S-RETR-NEXT"],
            "fail",
            Some("B-NO-5XX"),
        ),
        // Linked to two rules, broke the first.
        check(
            "create/x",
            &["S-CREATE-201", "S-URI-GEN"],
            "fail",
            Some("S-CREATE-201"),
        ),
        // Another check of S-URI-GEN passed: the rule is still only partly judged.
        check("create/y", &["S-URI-GEN"], "pass", None),
        check("send/ok", &["S-SEND-200"], "pass", None),
    ]);
    let get = |id: &str| v.get(id).cloned().unwrap_or_default();
    assert_eq!(get("B-NO-5XX").0, "fail");
    assert_eq!(get("S-CREATE-201").0, "fail");
    for blocked in ["S-GEN-400", "S-RETR-PAGE", "S-RETR-NEXT"] {
        assert_eq!(get(blocked), ("blocked".into(), vec!["B-NO-5XX".into()]));
    }
    assert_eq!(
        get("S-URI-GEN"),
        ("blocked".into(), vec!["S-CREATE-201".into()])
    );
    assert_eq!(get("S-SEND-200").0, "pass");
    let failing: Vec<&String> = v
        .iter()
        .filter(|(_, x)| x.0 == "fail")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(failing, ["B-NO-5XX", "S-CREATE-201"]);
}

#[test]
fn a_failure_without_a_named_rule_fails_every_linked_rule() {
    let v = verdicts(&[check(
        "create/x",
        &["S-CREATE-201", "S-URI-GEN"],
        "fail",
        None,
    )]);
    assert_eq!(v["S-CREATE-201"].0, "fail");
    assert_eq!(v["S-URI-GEN"].0, "fail");
}
