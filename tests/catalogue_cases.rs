//! The case catalogue is valid and complete: every case parses and names known rules, and every
//! rule a client can test has at least one case.

use edgecheck::profiles::edge_v1;
use std::collections::BTreeSet;

use edgecheck::catalogue::requirements;
use edgecheck::profiles::edge_v1::cases;

#[test]
fn every_case_file_is_valid() {
    let files = cases::builtin().expect("case files parse");
    let reqs = edge_v1::catalogue();
    let problems = cases::validate(&files, &|r| reqs.contains(r));
    assert!(
        problems.is_empty(),
        "invalid cases:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_case_file_on_disk_is_compiled_in() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/edge-v1/cases");
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
        .expect("conformance/edge-v1/cases exists")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(str::to_string)
        })
        .collect();
    let built_in: BTreeSet<String> = cases::CASE_FILES
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(
        on_disk, built_in,
        "add new case files to CASE_FILES in src/catalogue/cases.rs"
    );
}

/// Rules checked by tests of the reference server rather than by cases, with the test file.
const COVERED_BY_SERVER_TESTS: &[(&str, &str)] =
    &[("S-PRIV-QUIET", "reference-server/tests/process.rs")];

#[test]
fn every_testable_rule_has_a_case() {
    let files = cases::builtin().expect("case files parse");
    let covered: BTreeSet<&str> = files
        .iter()
        .flat_map(|f| &f.cases)
        .flat_map(|c| c.requirements.iter().map(String::as_str))
        .collect();
    let missing: Vec<&str> = edge_v1::catalogue()
        .all()
        .iter()
        .filter(|r| r.testable != requirements::Testable::No)
        .map(|r| r.id.as_str())
        .filter(|id| !covered.contains(id))
        .filter(|id| {
            COVERED_BY_SERVER_TESTS.iter().all(|(rule, file)| {
                rule != id
                    || !std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join(file)
                        .exists()
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "testable rules without a case: {missing:?}"
    );
}

#[test]
fn validation_catches_a_case_without_rules_and_a_duplicate() {
    let mut files = cases::builtin().expect("case files parse");
    let mut dup = files[0].cases[0].clone();
    dup.requirements = vec!["S-NO-SUCH-RULE".into()];
    files[0].cases.push(dup);
    let reqs = edge_v1::catalogue();
    let problems = cases::validate(&files, &|r| reqs.contains(r));
    assert!(
        problems.iter().any(|p| p.contains("duplicate case ID")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("unknown rule ID S-NO-SUCH-RULE")),
        "{problems:?}"
    );
}

// ---- simplex-v5 ----

mod simplex {
    use std::collections::BTreeSet;

    use edgecheck::profiles::simplex_v5::case::Step;
    use edgecheck::profiles::simplex_v5::{cases, catalogue};

    #[test]
    fn every_case_file_is_valid_and_compiled_in() {
        let files = cases::builtin().expect("case files parse");
        let problems = cases::validate(&files, &|r| catalogue().contains(r));
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/simplex-v5/cases");
        let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
            .expect("conformance/simplex-v5/cases exists")
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".json")
                    .map(str::to_string)
            })
            .collect();
        let built_in: BTreeSet<String> = cases::builtin_names()
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            on_disk, built_in,
            "add new case files to builtin_files! in cases.rs"
        );
        for f in &files {
            assert!(
                built_in.contains(&f.area),
                "{}: a file's area is its name",
                f.area
            );
        }
    }

    #[test]
    fn every_testable_rule_has_a_positive_and_a_negative_check() {
        // A check is negative for a rule when one of its steps expects a refusal (a 4xx, a
        // refused handshake, ok: false, an invalid reply, or no push), positive when one
        // expects success; a probe is both. PROPERTIES are judged on every answer of their
        // kind (a size, a timestamp, a header): their negative side is a server that answers
        // otherwise, which the kill matrix (tests/simplex_kill_matrix.rs) provides. PENDING
        // rules are checked elsewhere (tests/profiles.rs).
        const PROPERTIES: &[&str] = &[
            "V-RETR-SIZE",
            "V-RETR-LARGE",
            "V-RETR-KEEP",
            "V-WS-URI",
            "B-TS-FMT",
            "B-URI-ORIGIN",
            "S-GEN-HTTPS",
            "B-CACHE",
        ];
        const PENDING: &[&str] = &["V-TIMING", "V-WS-TIMING", "S-PRIV-QUIET"];
        let files = cases::builtin().expect("case files parse");
        let mut positive: BTreeSet<&str> = BTreeSet::new();
        let mut negative: BTreeSet<&str> = BTreeSet::new();
        for c in files.iter().flat_map(|f| &f.cases) {
            let mut refusal = false;
            let mut success = false;
            for s in &c.steps {
                match s {
                    Step::Create(r)
                    | Step::Secure(r)
                    | Step::Send(r)
                    | Step::Retrieve(r)
                    | Step::Get(r)
                    | Step::DeleteMessage(r)
                    | Step::Delete(r)
                    | Step::Request(r) => {
                        let st = r
                            .expect
                            .as_ref()
                            .map(|e| e.status.clone())
                            .unwrap_or_default();
                        if st.iter().any(|s| *s >= 400) {
                            refusal = true;
                        }
                        if st.is_empty() || st.iter().any(|s| *s < 300) {
                            success = true;
                        }
                    }
                    Step::Subscribe(r) | Step::Unsubscribe(r) | Step::WsDelete(r) => {
                        if r.ok {
                            success = true;
                        } else {
                            refusal = true;
                        }
                    }
                    Step::WsConnect(w) => {
                        if w.refused.is_empty() {
                            success = true;
                        } else {
                            refusal = true;
                        }
                    }
                    Step::WsExpect(_) | Step::ExpectNoPush(_) => refusal = true,
                    Step::Probe(_) => {
                        refusal = true;
                        success = true;
                    }
                    Step::ExpectPushes(_) => success = true,
                    _ => {}
                }
            }
            for r in &c.requirements {
                if success {
                    positive.insert(r);
                }
                if refusal {
                    negative.insert(r);
                }
            }
        }
        let mut missing = Vec::new();
        for r in catalogue().all() {
            if r.testable == edgecheck::catalogue::requirements::Testable::No
                || PENDING.contains(&r.id.as_str())
            {
                continue;
            }
            if !positive.contains(r.id.as_str()) {
                missing.push(format!("{}: no positive check", r.id));
            }
            if !negative.contains(r.id.as_str()) && !PROPERTIES.contains(&r.id.as_str()) {
                missing.push(format!("{}: no negative check", r.id));
            }
        }
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }

    #[test]
    fn validation_finds_what_a_runner_could_not_run() {
        let mut files = cases::builtin().expect("case files parse");
        let c = &mut files[0].cases[0];
        c.steps
            .push(serde_json::from_value(serde_json::json!({"op": "send", "msg": "m1"})).unwrap());
        c.steps
            .push(serde_json::from_value(serde_json::json!({"op": "send", "msg": "m1"})).unwrap());
        c.steps.push(
            serde_json::from_value(serde_json::json!({"op": "unsubscribe", "session": "nope"}))
                .unwrap(),
        );
        c.steps.push(
            serde_json::from_value(serde_json::json!({"op": "probe", "name": "no-such-probe"}))
                .unwrap(),
        );
        c.steps.push(
            serde_json::from_value(serde_json::json!({"op": "request", "method": "GET"})).unwrap(),
        );
        c.steps.push(
            serde_json::from_value(serde_json::json!({"op": "ws-connect", "session": "s"}))
                .unwrap(),
        );
        c.steps.push(
            serde_json::from_value(serde_json::json!(
                {"op": "subscribe", "session": "s", "sign": {"fault": "wrongPath"}}
            ))
            .unwrap(),
        );
        c.steps.push(
            serde_json::from_value(serde_json::json!(
                {"op": "retrieve", "expect": {"rule": "X-NOPE"}}
            ))
            .unwrap(),
        );
        let id = c.id.clone();
        let copy = files[0].cases[0].clone();
        files[0].cases.push(copy);
        let problems = cases::validate(&files, &|r| catalogue().contains(r));
        let text = problems.join("\n");
        for needle in [
            "is sent twice",
            "session `nope` is used before a ws-connect step",
            "unknown probe no-such-probe",
            "a request needs `expect`",
            "concerns HTTP requests",
            "unknown rule X-NOPE",
            "the ID is used twice",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        assert!(text.contains(&id));
        // Unknown members of a step are refused when the file is read.
        let bad = serde_json::from_value::<Step>(serde_json::json!({"op": "send", "mgs": "m1"}));
        assert!(bad.is_err());
    }
}
