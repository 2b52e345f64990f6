//! `prop`, `fuzz` and `race` write `--junit` and `--json` for a CI system: against a server
//! that breaks one rule, each finding is a failing testcase of that rule (with the command
//! that replays it when a case file was written); against the correct server, one passing
//! testcase.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use edge_reference_server::simplex_v5::faults::Fault;
use edge_reference_server::simplex_v5::{start, SimplexConfig, SimplexServer};
use edge_reference_server::tassis_v2::{faults::Fault as TassisFault, TassisConfig};
use edge_reference_server::Tls;
use serde_json::Value;

fn server(rt: &tokio::runtime::Runtime, fault: Option<Fault>) -> SimplexServer {
    rt.block_on(start(SimplexConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        page_size: 4,
        large_message: 4096,
        faults: fault.into_iter().collect(),
        ..SimplexConfig::default()
    }))
    .expect("the reference server starts")
}

/// `edgecheck COMMAND --profile simplex-v5` against the server at `url`, with both outputs
/// in `dir`.
fn edgecheck(command: &str, url: &str, dir: &Path, more: &[&str]) -> Output {
    let mut args = vec![command, "--profile", "simplex-v5", "--server", url];
    args.extend(["--page-size", "4", "--large-message", "4096"]);
    args.extend(more);
    with_outputs(&args, dir)
}

/// `edgecheck ARGS --allow-http` with both outputs in `dir`.
fn with_outputs(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgecheck"))
        .args(args)
        .arg("--allow-http")
        .arg("--junit")
        .arg(dir.join("out.xml"))
        .arg("--json")
        .arg(dir.join("out.json"))
        .arg("--summary")
        .arg(dir.join("out.md"))
        .current_dir(dir)
        .output()
        .expect("edgecheck runs")
}

fn outputs(dir: &Path) -> (quick_junit::Report, Value) {
    let xml = std::fs::read_to_string(dir.join("out.xml")).expect("JUnit written");
    if let Ok(v) = Command::new("xmllint")
        .args([
            "--noout",
            "--schema",
            concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/junit/junit.xsd"),
        ])
        .arg(dir.join("out.xml"))
        .output()
    {
        assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    }
    let junit = quick_junit::Report::deserialize_from_str(&xml).expect("JUnit parses");
    let json: Value =
        serde_json::from_slice(&std::fs::read(dir.join("out.json")).expect("JSON written"))
            .expect("JSON parses");
    let summary = std::fs::read_to_string(dir.join("out.md")).expect("summary written");
    let head = format!(
        "## edgecheck {} · {}: ",
        json["command"].as_str().unwrap(),
        json["profile"].as_str().unwrap()
    );
    assert!(summary.starts_with(&head), "{summary}");
    for f in json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .take(3)
    {
        let rule = f["rule"].as_str().unwrap();
        assert!(
            summary.contains(&format!("| {rule} |")),
            "{rule} not in {summary}"
        );
    }
    (junit, json)
}

/// The rules of the findings of a campaign file.
fn rules(json: &Value) -> Vec<&str> {
    json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn race_violations_are_failing_testcases_of_their_rule() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srv = server(&rt, Some(Fault::PushAfterUnsubscribe));
    let dir = tempfile::tempdir().unwrap();
    let args = ["--rounds", "3", "--senders", "3", "--ops", "8"];
    let o = edgecheck("race", &srv.create_url(), dir.path(), &args);
    rt.block_on(srv.shutdown());
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let (junit, json) = outputs(dir.path());
    assert!(junit.failures >= 1, "{junit:?}");
    assert_eq!(junit.errors, 0);
    let cases = &junit.test_suites[0].test_cases;
    assert!(
        cases
            .iter()
            .any(|c| c.name.as_str().starts_with("V-WS-UNSUB #")),
        "{cases:?}"
    );
    assert_eq!(json["outcome"], "found", "{json}");
    assert_eq!(json["command"], "race");
    let rules = rules(&json);
    assert!(rules.contains(&"V-WS-UNSUB"), "{rules:?}");
}

#[test]
fn a_prop_finding_names_its_case_file_and_how_to_replay_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srv = server(&rt, Some(Fault::SecondSecureReplaces));
    let dir = tempfile::tempdir().unwrap();
    let args = ["--cases", "64", "--findings", "found"];
    let o = edgecheck("prop", &srv.create_url(), dir.path(), &args);
    rt.block_on(srv.shutdown());
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let (junit, json) = outputs(dir.path());
    assert_eq!((junit.failures, junit.errors), (1, 0), "{junit:?}");
    let finding = &json["findings"][0];
    assert_eq!(finding["rule"], "V-SECURE", "{json}");
    let file = finding["file"].as_str().expect("a case file");
    assert!(dir.path().join(file).is_file(), "{file} is not written");
    assert_eq!(
        finding["replay"],
        format!("edgecheck replay --profile simplex-v5 {file}")
    );
    let xml = std::fs::read_to_string(dir.path().join("out.xml")).unwrap();
    assert!(xml.contains(&format!(
        "replay: edgecheck replay --profile simplex-v5 {file}"
    )));
}

#[test]
fn a_clean_fuzz_is_one_passing_testcase() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srv = server(&rt, None);
    let dir = tempfile::tempdir().unwrap();
    let args = ["--duration", "2s", "--seed", "5", "--quiet"];
    let o = edgecheck("fuzz", &srv.create_url(), dir.path(), &args);
    rt.block_on(srv.shutdown());
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let (junit, json) = outputs(dir.path());
    assert_eq!((junit.tests, junit.failures, junit.errors), (1, 0, 0));
    assert_eq!(json["outcome"], "clean");
    assert_eq!(json["seed"], 5);
    assert_eq!(json["findings"], Value::Array(Vec::new()));
}

#[test]
fn a_campaign_that_cannot_reach_its_target_is_an_error_testcase() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srv = server(&rt, None);
    let url = srv.create_url();
    rt.block_on(srv.shutdown());
    let dir = tempfile::tempdir().unwrap();
    let o = edgecheck("race", &url, dir.path(), &[]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let (junit, json) = outputs(dir.path());
    assert_eq!((junit.failures, junit.errors), (0, 1));
    assert_eq!(json["outcome"], "error");
}

#[test]
fn tassis_race_violations_are_failing_testcases_too() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srv = rt
        .block_on(edge_reference_server::tassis_v2::start(TassisConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Tls::Plain,
            prekeys_low: 3,
            prekeys_interval: std::time::Duration::from_millis(200),
            faults: vec![TassisFault::OrderReversed],
            ..TassisConfig::default()
        }))
        .expect("the reference server starts");
    let url = srv.url();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "race",
        "--profile",
        "tassis-v2",
        "--server",
        &url,
        "--rounds",
        "3",
        "--seed",
        "7",
    ];
    let o = with_outputs(&args, dir.path());
    rt.block_on(srv.shutdown());
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let (junit, json) = outputs(dir.path());
    assert!(junit.failures >= 1 && junit.errors == 0, "{junit:?}");
    let rules = rules(&json);
    assert!(rules.contains(&"T-ORDER"), "{rules:?}");
}

#[test]
fn an_edge_v1_prop_finding_names_its_rule_and_case_file() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srv = rt.block_on(support::reference::server(&[
        "third-su-rotation-revives-first",
    ]));
    let url = srv.create_url();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "prop",
        "--server",
        &url,
        "--page-size",
        "10",
        "--cases",
        "256",
        "--jobs",
        "2",
        "--findings",
        "found",
    ];
    let o = with_outputs(&args, dir.path());
    rt.block_on(srv.shutdown());
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let (junit, json) = outputs(dir.path());
    assert_eq!((junit.failures, junit.errors), (1, 0), "{junit:?}");
    let finding = &json["findings"][0];
    let rule = finding["rule"].as_str().unwrap_or_default();
    assert!(
        ["S-SUPD-OLDURI", "S-RUPD-OLDURI", "S-PRIV-NOHIST-KEYS"].contains(&rule),
        "{json}"
    );
    let file = finding["file"].as_str().expect("a case file");
    assert!(dir.path().join(file).is_file(), "{file} is not written");
    assert_eq!(
        finding["replay"],
        format!("edgecheck replay --profile edge-v1 {file}")
    );
}

#[test]
fn an_edge_v1_fuzz_warning_passes_with_its_should_rule() {
    // The fault answers 403 where the order of checks (B-ORDER, a SHOULD) asks for 401.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let srv = rt.block_on(support::reference::server(&["disabled-checked-first"]));
    let url = srv.create_url();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "fuzz",
        "--server",
        &url,
        "--page-size",
        "10",
        "--duration",
        "8s",
        "--seed",
        "1",
        "--findings",
        "found",
    ];
    let o = with_outputs(&args, dir.path());
    rt.block_on(srv.shutdown());
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let (junit, json) = outputs(dir.path());
    assert_eq!((junit.failures, junit.errors), (0, 0), "{junit:?}");
    assert_eq!(json["outcome"], "warned", "{json}");
    let warned: Vec<_> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["level"].as_str().unwrap()))
        .collect();
    assert!(warned.contains(&("B-ORDER", "SHOULD")), "{json:#}");
    let xml = std::fs::read_to_string(dir.path().join("out.xml")).unwrap();
    assert!(xml.contains("WARNING (SHOULD not met)"), "{xml}");
}
