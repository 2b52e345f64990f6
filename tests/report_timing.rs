//! A check that carries a timing measurement, in every output: the JSON results hold the
//! numbers, the HTML report plots them with their tables, the Markdown report and the
//! terminal give one line. Results without timing render as before (the snapshots of
//! report_outputs.rs).

mod report_fixture;

use std::collections::BTreeMap;
use std::time::Duration;

use edgecheck::engine::{CheckInfo, CheckResult, Level};
use edgecheck::profiles::edge_v1;
use edgecheck::report::{html, markdown, terminal, Results};
use edgecheck::timing::sampler::Measurement;
use edgecheck::timing::{TimingConfig, TimingReport, TimingVerdict};

/// A measurement of three causes with fixed, loopback-like times (µs): `unknown URI` is
/// `shift` µs faster than the other two.
fn measurement(shift: u64) -> Measurement {
    let times = |offset: u64, minus: u64| -> Vec<u64> {
        (0..300u64)
            .map(|i| {
                // A spread of 50 µs, and one request in 33 preempted for 1.5 ms.
                let preempted = if (i + offset).is_multiple_of(33) {
                    1500
                } else {
                    0
                };
                (240 + (i * 37 + offset) % 50 + preempted - minus) * 1000
            })
            .collect()
    };
    let names = ["unknown URI", "wrong signature", "unsigned <padded>"];
    Measurement {
        names: names.iter().map(|s| s.to_string()).collect(),
        samples: vec![times(0, shift), times(11, 0), times(23, 0)],
        outcomes: vec![BTreeMap::from([("401".to_string(), 300)]); 3],
        unexpected: vec![
            BTreeMap::new(),
            BTreeMap::from([("400".to_string(), 1)]),
            BTreeMap::new(),
        ],
        sent: 1054,
        rounds: 301,
        error_rounds: 1,
        stop: None,
        wall: Duration::from_millis(812),
    }
}

fn timed(id: &str, endpoint: &str, shift: u64) -> CheckResult {
    let config = TimingConfig {
        samples: 300,
        resamples: 2000,
        ..TimingConfig::default()
    };
    let info = CheckInfo {
        id: id.into(),
        title: format!("{endpoint} answers every failure in the same time"),
        area: "timing".into(),
        requirements: vec!["V-TIMING".into()],
        level: Level::Should,
        index: 0,
    };
    let mut r = CheckResult::new(&info);
    r.attach_timing(
        TimingReport::new(endpoint, &measurement(shift), &config),
        "V-TIMING",
    );
    r
}

fn results() -> Results {
    let mut checks = report_fixture::check_results();
    checks.push(timed("timing/secure", "secure", 50));
    checks.push(timed("timing/retrieve", "retrieve", 0));
    let mut r = Results::new(
        edge_v1::catalogue(),
        "https://127.0.0.1:8443/connection".into(),
        report_fixture::STARTED.into(),
        1234,
        BTreeMap::new(),
        &checks,
    );
    r.edgecheck = "[version]".into();
    r
}

/// The text from the first line starting with `start` up to (not including) the first line
/// after it starting with `end`.
fn section<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).expect("section start");
    let rest = &text[from..];
    let to = rest[1..].find(end).map_or(rest.len(), |i| i + 1);
    &rest[..to]
}

#[test]
fn the_fixture_warns_on_one_endpoint_only() {
    let r = results();
    let secure = r.check("timing/secure").unwrap();
    assert_eq!(secure.verdict, "warn");
    assert_eq!(secure.failure.as_ref().unwrap().rule, "V-TIMING");
    let t = secure.timing.as_ref().unwrap();
    assert_eq!(t.verdict, TimingVerdict::Warn);
    let retrieve = r.check("timing/retrieve").unwrap();
    assert_eq!(retrieve.verdict, "pass");
    assert_eq!(retrieve.requests, 1054);
}

#[test]
fn json_carries_the_numbers_and_reads_back() {
    let r = results();
    let text = serde_json::to_string_pretty(&r).unwrap();
    let back: Results = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let checks = value["checks"].as_array().unwrap();
    let secure = checks.iter().find(|c| c["id"] == "timing/secure").unwrap();
    insta::assert_json_snapshot!("timing_json", secure["timing"]);
    // Checks without timing carry no `timing` member.
    assert!(checks[0].get("timing").is_none());
}

#[test]
fn html_plots_each_endpoint_with_its_tables() {
    let page = html::render(&results(), edge_v1::catalogue());
    assert!(page.contains("<a href=\"#timing\">Timing</a>"));
    assert!(page.contains(
        "<dt>timing</dt><dd><a href=\"#timing-timing-secure\">distributions and every pair"
    ));
    assert_eq!(page.matches("<svg ").count(), 2);
    assert!(!page.contains("<padded>"), "class names are escaped");
    insta::assert_snapshot!(
        "timing_html",
        section(&page, "<section id=\"timing\">", "<section id=")
    );
}

#[test]
fn markdown_and_terminal_give_one_line_each() {
    let md = markdown::render(&results(), edge_v1::catalogue());
    insta::assert_snapshot!("timing_markdown", section(&md, "## Timing", "## "));
    let term = terminal::render(&results(), edge_v1::catalogue());
    let lines: Vec<&str> = term.lines().filter(|l| l.contains("timing/")).collect();
    insta::assert_snapshot!("timing_terminal", lines.join("\n"));
}
