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
