//! `--summary` (the short Markdown for a pull-request comment), `report --compare` (servers
//! side by side) and the baseline lines of the terminal summary, on fixed results.

mod report_fixture;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use edgecheck::catalogue::requirements::{Level as RuleLevel, Requirements};
use edgecheck::engine::{CheckResult, Failure, Verdict};
use edgecheck::profiles::edge_v1::{self, case::Level};
use edgecheck::report::baseline::Baseline;
use edgecheck::report::summary::{self, WrittenReport, MAX_SUMMARY_BYTES};
use edgecheck::report::{compare, json, terminal, Results};

/// Server text that would break Markdown, a terminal or a page if shown raw.
const HOSTILE: &str =
    "got <script>alert(1)</script> | col [link](https://evil) \u{1b}[2J \u{202e}x";

fn level_of(l: RuleLevel) -> Level {
    match l {
        RuleLevel::Must => Level::Must,
        RuleLevel::Should => Level::Should,
        _ => Level::May,
    }
}

/// `per_rule` failing checks for each rule of `catalogue`, each with a long hostile actual
/// value.
fn many_failures(catalogue: &Requirements, per_rule: usize) -> Results {
    let checks: Vec<CheckResult> = catalogue
        .all()
        .iter()
        .flat_map(|r| (0..per_rule).map(move |k| (r, k)))
        .enumerate()
        .map(|(i, (r, _))| CheckResult {
            id: format!("area{}/check-{i}", i % 7),
            title: format!("check {i}"),
            area: format!("area{}", i % 7),
            requirements: vec![r.id.clone()],
            level: level_of(r.level),
            verdict: Verdict::Fail,
            message: format!("step 1: {}", r.id),
            failure: Some(Failure {
                also: Vec::new(),
                step: 1,
                rule: r.id.clone(),
                expected: "status 200".into(),
                actual: format!("{HOSTILE} {}", "x".repeat(5000)),
            }),
            exchanges: Vec::new(),
            requests: 1,
            signatures: 1,
            duration: Duration::from_millis(3),
            timing: None,
            more_timing: Vec::new(),
        })
        .collect();
    Results::new(
        catalogue,
        format!("https://127.0.0.1:8443/connection?{}", "t".repeat(10_000)),
        report_fixture::STARTED.into(),
        10,
        BTreeMap::new(),
        &checks,
    )
}

/// A catalogue of 600 rules (copies of edge-v1's first rule): a profile with more failing
/// rules than a summary can list.
fn big_catalogue() -> Requirements {
    let first = edge_v1::catalogue().all()[0].clone();
    let entries = (0..600)
        .map(|i| {
            let mut r = first.clone();
            r.id = format!("S-BIG-{i}");
            r
        })
        .collect();
    Requirements::from_entries(edge_v1::catalogue().profile(), entries)
}

fn reports() -> Vec<WrittenReport> {
    vec![
        WrittenReport {
            kind: "HTML report".into(),
            name: "out/report.html".into(),
        },
        WrittenReport {
            kind: "JUnit XML".into(),
            name: "out/junit.xml".into(),
        },
    ]
}

#[test]
fn a_run_with_more_than_100_failures_stays_under_60000_characters() {
    // Every rule of edge-v1 fails, twice over: more than 100 failing checks.
    let results = many_failures(edge_v1::catalogue(), 2);
    assert!(results.summary.fail >= 100, "{}", results.summary.fail);
    let text = summary::render(&results, &reports());
    assert!(
        text.chars().count() < 60_000,
        "{} characters",
        text.chars().count()
    );
    let listed = text.lines().filter(|l| l.starts_with("| `")).count();
    let failing = summary::failing_rules(&results).len();
    assert_eq!(listed, failing, "every failing rule fits");
    assert!(
        text.contains("(+1 more)"),
        "the second check of a rule is counted"
    );
}

#[test]
fn a_list_too_long_ends_with_and_n_more() {
    let big = big_catalogue();
    let results = many_failures(&big, 1);
    let failing = summary::failing_rules(&results).len();
    assert_eq!(failing, 600);
    let text = summary::render(&results, &reports());
    assert!(
        text.chars().count() < 60_000 && text.len() < MAX_SUMMARY_BYTES,
        "{} bytes",
        text.len()
    );
    // The list is cut, says how many were left out, and those shown plus those left out are
    // every failing rule.
    let shown = text.lines().filter(|l| l.starts_with("| `")).count();
    let more = text
        .lines()
        .find_map(|l| l.strip_prefix("…and "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .expect("an …and N more line");
    assert!(shown > 50, "only {shown} shown");
    assert_eq!(shown + more, failing);
    // The summary is filled: little room is left unused.
    assert!(
        text.len() > MAX_SUMMARY_BYTES - 1500,
        "{} bytes",
        text.len()
    );
    // The reports are named even when the list is cut.
    assert!(text.contains("`out/report.html`") && text.contains("`out/junit.xml`"));
    assert!(text.starts_with("## ❌ edgecheck: failed"));
}

#[test]
fn server_text_is_escaped_like_the_markdown_report() {
    let text = summary::render(&many_failures(edge_v1::catalogue(), 1), &[]);
    assert!(!text.contains("<script>"), "raw tag");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}'),
        "raw control"
    );
    assert!(text.contains("&lt;script&gt;"));
    assert!(text.contains("\\| col \\[link\\](https://evil)"));
    assert!(text.contains("\\\\x1b\\[2J") || text.contains("\\x1b"));
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        // rule, level, verdict, seen by, actual: 6 unescaped separators.
        let bars = line.len() - line.replace('|', "").len() - line.matches("\\|").count();
        assert_eq!(bars, 6, "{line}");
        assert!(line.len() < 1200, "a line is too long: {}", line.len());
    }
}

#[test]
fn the_fixture_summary_lists_rules_with_their_checks() {
    let results = report_fixture::results();
    let text = summary::render(&results, &reports());
    let line = text
        .lines()
        .find(|l| l.starts_with("| `S-CREATE-409`"))
        .expect("a line for S-CREATE-409");
    assert!(line.contains("MUST") && line.contains("fail"), "{line}");
    assert!(line.contains("`create/duplicate-id-409`"), "{line}");
    assert!(line.contains("status 201"), "{line}");
    let warn = text
        .lines()
        .find(|l| l.starts_with("| `B-CREATE-ONLY`"))
        .expect("the warning rule");
    assert!(
        warn.contains("warn") && warn.contains("also `id`"),
        "{warn}"
    );
    assert!(text.contains("| MUST |") && text.contains("| **all** |"));
    assert!(!text.contains("…and"), "nothing is cut here");
    // Fails come before warnings.
    let fail_at = text.find("| `S-CREATE-409`").unwrap();
    let warn_at = text.find("| `B-CREATE-ONLY`").unwrap();
    assert!(fail_at < warn_at);
}

#[test]
fn a_passing_run_has_no_failing_rules_section() {
    let results = report_fixture::passing(&["create/created"]);
    let text = summary::render(&results, &[]);
    assert!(text.starts_with("## ✅ edgecheck: passed"), "{text}");
    assert!(!text.contains("Failing rules"));
}

/// The fixture with its failing check passing: another server.
fn other_server() -> Results {
    let mut checks = report_fixture::check_results();
    for c in &mut checks {
        if c.id == "create/duplicate-id-409" {
            c.verdict = Verdict::Pass;
            c.failure = None;
            c.exchanges.clear();
        }
    }
    let mut r = Results::new(
        edge_v1::catalogue(),
        "https://other.example/connection".into(),
        report_fixture::STARTED.into(),
        99,
        BTreeMap::new(),
        &checks,
    );
    r.edgecheck = "[version]".into();
    r
}

#[test]
fn compare_puts_two_servers_side_by_side() {
    let runs = vec![
        ("a.json".to_string(), report_fixture::results()),
        ("b.json".to_string(), other_server()),
    ];
    let c = compare::build(&runs, edge_v1::catalogue()).expect("same profile");
    assert_eq!(c.columns.len(), 2);
    assert_eq!(c.rows.len(), edge_v1::catalogue().len());
    let row = c.rows.iter().find(|r| r.rule == "S-CREATE-409").unwrap();
    assert!(row.differs());
    let a = row.cells[0].as_ref().unwrap();
    let b = row.cells[1].as_ref().unwrap();
    assert_eq!(a.verdict, "fail");
    assert_eq!(a.failing, vec![("create/duplicate-id-409", "fail")]);
    assert_eq!(b.verdict, "pass");
    assert!(b.failing.is_empty());
    let same = c.rows.iter().find(|r| r.rule == "B-CREATE-ONLY").unwrap();
    assert!(!same.differs());
    let differing: Vec<&str> = c
        .rows
        .iter()
        .filter(|r| r.differs())
        .map(|r| r.rule)
        .collect();
    assert_eq!(differing, ["S-CREATE-409"]);

    let md = compare::markdown(&c);
    let line = md
        .lines()
        .find(|l| l.starts_with("| `S-CREATE-409` ≠"))
        .expect("a marked row");
    assert!(
        line.contains("❌ fail<br>create/duplicate-id-409 (fail)"),
        "{line}"
    );
    assert!(line.ends_with("| ✅ pass |"), "{line}");
    assert!(md.contains("https://other.example/connection"));
    let html = compare::html(&c);
    assert!(html.contains("<tr class=\"differs\"><td><code>S-CREATE-409</code> ≠</td>"));
    assert!(html.contains(
        "<td class=\"fail\">❌ fail<small><code>create/duplicate-id-409</code> (fail)</small></td>"
    ));
}

#[test]
fn compare_refuses_results_of_different_profiles() {
    let mut other = other_server();
    other.profile = "edge-v2".into();
    let runs = vec![
        ("a.json".to_string(), report_fixture::results()),
        ("b.json".to_string(), other),
    ];
    let e = compare::build(&runs, edge_v1::catalogue()).unwrap_err();
    assert!(matches!(e, compare::CompareError::Profiles { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("b.json") && msg.contains("edge-v2") && msg.contains("edge-v1"),
        "{msg}"
    );
}

#[test]
fn compare_through_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    json::write(&report_fixture::results(), &a).unwrap();
    json::write(&other_server(), &b).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_edgecheck"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&[
        "report",
        "--compare",
        "a.json",
        "b.json",
        "--report",
        "cmp.html",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let html = std::fs::read_to_string(dir.path().join("cmp.html")).unwrap();
    assert!(html.contains("S-CREATE-409"));
    let out = run(&["report", "--compare", "a.json", "b.json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("| `S-CREATE-409` ≠"));

    let mut other = other_server();
    other.profile = "edge-v2".into();
    json::write(&other, &b).unwrap();
    let out = run(&[
        "report",
        "--compare",
        "a.json",
        "b.json",
        "--report",
        "x.md",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("only results of one profile can be compared"),
        "{err}"
    );
    assert!(!dir.path().join("x.md").exists());
}

#[test]
fn summary_through_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    json::write(&report_fixture::results(), &dir.path().join("r.json")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgecheck"))
        .args([
            "report",
            "r.json",
            "-q",
            "--junit",
            "j.xml",
            "--summary",
            "s.md",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = std::fs::read_to_string(dir.path().join("s.md")).unwrap();
    assert!(text.contains("| `S-CREATE-409`"), "{text}");
    assert!(text.contains("- JUnit XML: `j.xml`"), "{text}");
}

#[test]
fn the_terminal_lists_every_baseline_entry_with_state_and_reason() {
    let mut results = report_fixture::results();
    let b = Baseline::parse(
        r#"{"schema":"edgecheck.baseline/1","entries":[
            {"id":"create/duplicate-id-409","reason":"issue 12: 409 not implemented"},
            {"id":"create/created","reason":"flaky once"},
            {"id":"S-QUOTA-429","reason":"no quota yet"}]}"#,
        "known.json",
    )
    .unwrap();
    b.apply(&mut results, "known.json");
    let text = terminal::render(&results, edge_v1::catalogue());
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("baseline known.json (3 entries"))
        .expect("a baseline block");
    assert_eq!(
        lines[at + 1].trim(),
        "known    create/duplicate-id-409 — issue 12: 409 not implemented"
    );
    assert_eq!(lines[at + 2].trim(), "stale    create/created — flaky once");
    assert!(
        lines[at + 3]
            .trim()
            .starts_with("not-run  S-QUOTA-429 — no quota yet"),
        "{}",
        lines[at + 3]
    );
}
