//! The requirement catalogue: complete, consistent with the binding, and its validation can fail.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use edgecheck::catalogue::requirements::{
    binding_rule_ids, normalize, validate_json, Level, Origin, Problem, Requirement, Requirements,
    Testable,
};
use edgecheck::profiles::edge_v1::{catalogue as builtin, BINDING_MD, REQUIREMENTS_JSON};
use serde_json::{json, Value};

/// A file of the shared project tree next to the checkout, when it is there.
fn shared(relative: &str) -> Option<(PathBuf, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(relative);
    std::fs::read_to_string(&path).ok().map(|text| (path, text))
}

fn report(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  [{}] {p}\n", p.kind()))
        .collect()
}

#[test]
fn builtin_catalogue_validates_against_the_binding() {
    let problems = builtin().validate(BINDING_MD);
    assert!(problems.is_empty(), "problems:\n{}", report(&problems));
    let problems = validate_json(REQUIREMENTS_JSON, BINDING_MD);
    assert!(problems.is_empty(), "problems:\n{}", report(&problems));
}

#[test]
fn binding_rule_ids_equal_catalogue_ids() {
    let binding = binding_rule_ids(BINDING_MD);
    let catalogue: BTreeSet<String> = builtin().ids().into_iter().map(str::to_owned).collect();
    assert_eq!(binding, catalogue);
    assert_eq!(
        builtin().len(),
        catalogue.len(),
        "duplicate IDs in the catalogue"
    );
    for id in [
        "B-MID-RANDOM",
        "B-CREATE-ONLY",
        "B-RUPD-BODY",
        "S-SUPD-OLDKEY",
        "S-SUPD-OLDURI",
        "B-ORDER",
        "B-B64-PADBITS",
        "S-PRIV-1",
        "S-PRIV-5",
    ] {
        assert!(binding.contains(id), "{id} not extracted from binding.md");
    }
    assert!(!binding.contains("S-PRIV-1..5"));
    assert!(!binding.contains("S-PRIV-6"));
}

#[test]
fn lookups_by_id_and_area() {
    let reqs = builtin();
    assert_eq!(reqs.profile(), "edge-v1");
    let padbits = reqs.get("B-B64-PADBITS").expect("B-B64-PADBITS");
    assert_eq!(padbits.level, Level::NoLevel);
    assert_eq!(padbits.testable, Testable::No);
    let create = reqs.get("S-CREATE-201").expect("S-CREATE-201");
    assert_eq!(
        (create.level, create.origin, create.area.as_str()),
        (Level::Must, Origin::Source, "create")
    );
    assert!(create.text.contains("Success → 201"));
    let priv3 = reqs.get("S-PRIV-3").expect("S-PRIV-3");
    assert_eq!(priv3.level, Level::MustNot);
    assert!(priv3
        .testable_note
        .as_deref()
        .is_some_and(|n| n.contains("S-PRIV-NOHIST-KEYS")));
    assert!(reqs.get("S-PRIV-1..5").is_none());
    assert!(reqs.get("s-create-201").is_none());
    assert!(reqs.in_area("privacy").all(|r| r.area == "privacy"));
    assert_eq!(
        reqs.in_area("privacy")
            .filter(|r| r.id.starts_with("S-PRIV-"))
            .count(),
        10
    );
}

#[test]
fn entries_round_trip_through_serde() {
    let json = serde_json::to_string(builtin().all()).expect("serialise");
    let back: Vec<Requirement> = serde_json::from_str(&json).expect("parse back");
    assert_eq!(back.as_slice(), builtin().all());
}

/// The embedded catalogue as a JSON value, to break on purpose.
fn catalogue_value() -> Value {
    serde_json::from_str(REQUIREMENTS_JSON).expect("catalogue is JSON")
}

fn entry_mut<'a>(cat: &'a mut Value, id: &str) -> &'a mut Value {
    cat["requirements"]
        .as_array_mut()
        .expect("requirements array")
        .iter_mut()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("{id} in catalogue"))
}

fn has(problems: &[Problem], kind: &str, id: &str) -> bool {
    problems.iter().any(|p| {
        p.kind() == kind
            && match p {
                Problem::InconsistentAmbiguity { ambiguity, .. } => ambiguity == id,
                Problem::InvalidEntry { id: Some(i), .. } => i == id,
                Problem::DuplicateId { id: i }
                | Problem::UnknownLevel { id: i, .. }
                | Problem::OriginMismatch { id: i, .. }
                | Problem::LevelMismatch { id: i, .. }
                | Problem::UnknownSection { id: i, .. }
                | Problem::TextNotInBinding { id: i, .. }
                | Problem::MissingEntry { id: i }
                | Problem::NotInBinding { id: i }
                | Problem::MissingTestableNote { id: i }
                | Problem::MissingSource { id: i }
                | Problem::EmptyField { id: i, .. }
                | Problem::BadAmbiguity { id: i, .. } => i == id,
                _ => false,
            }
    })
}

#[test]
fn a_broken_catalogue_yields_every_kind_of_problem() {
    let mut cat = catalogue_value();
    let list = cat["requirements"].as_array_mut().unwrap();
    // Duplicate ID.
    let dup = list.iter().find(|e| e["id"] == "B-CACHE").unwrap().clone();
    list.push(dup);
    // Entry for a rule the binding does not define.
    let mut extra = list.iter().find(|e| e["id"] == "B-QUOTA").unwrap().clone();
    extra["id"] = json!("B-NOT-A-RULE");
    list.push(extra);
    // Rule of the binding without an entry.
    list.retain(|e| e["id"] != "B-ISOLATION");

    entry_mut(&mut cat, "B-ENC-B64")["level"] = json!("MUSTN'T");
    entry_mut(&mut cat, "S-CREATE-201")["origin"] = json!("binding");
    entry_mut(&mut cat, "B-NO-COOKIE")["level"] = json!("MUST");
    let text = entry_mut(&mut cat, "S-DEL-200")["text"]
        .as_str()
        .unwrap()
        .to_owned();
    entry_mut(&mut cat, "S-DEL-200")["text"] = json!(format!("{text} And a body."));
    entry_mut(&mut cat, "S-DEL-AFTER")["section"] = json!("9. Nowhere");
    entry_mut(&mut cat, "B-CONCURRENT")
        .as_object_mut()
        .unwrap()
        .remove("testableNote");
    entry_mut(&mut cat, "S-EP-MSG")
        .as_object_mut()
        .unwrap()
        .remove("source");
    entry_mut(&mut cat, "S-GEN-404")["ambiguities"][0]["id"] = json!("A99");
    entry_mut(&mut cat, "S-RUPD-OLDURI")["ambiguities"][0]["question"] = json!("Reworded.");
    entry_mut(&mut cat, "S-DELM-200")
        .as_object_mut()
        .unwrap()
        .remove("area");
    entry_mut(&mut cat, "S-SEND-BODY")["text"] = json!("  ");

    let problems = validate_json(&cat.to_string(), BINDING_MD);
    let expected = [
        ("duplicate-id", "B-CACHE"),
        ("not-in-binding", "B-NOT-A-RULE"),
        ("missing-entry", "B-ISOLATION"),
        ("unknown-level", "B-ENC-B64"),
        ("origin-mismatch", "S-CREATE-201"),
        ("level-mismatch", "B-NO-COOKIE"),
        ("text-not-in-binding", "S-DEL-200"),
        ("unknown-section", "S-DEL-AFTER"),
        ("missing-testable-note", "B-CONCURRENT"),
        ("missing-source", "S-EP-MSG"),
        ("bad-ambiguity", "S-GEN-404"),
        ("inconsistent-ambiguity", "A6"),
        ("invalid-entry", "S-DELM-200"),
        ("empty-field", "S-SEND-BODY"),
    ];
    for (kind, id) in expected {
        assert!(
            has(&problems, kind, id),
            "expected {kind} for {id}; got:\n{}",
            report(&problems)
        );
    }
    // Nothing beyond the faults made: one problem per fault.
    assert_eq!(problems.len(), expected.len(), "{}", report(&problems));
    // An entry with an unknown level is reported once, not again as invalid.
    assert!(!has(&problems, "invalid-entry", "B-ENC-B64"));
    // No entry is lost: the unparseable ones still count as present.
    assert!(!has(&problems, "missing-entry", "B-ENC-B64"));
    assert!(!has(&problems, "missing-entry", "S-DELM-200"));
}

#[test]
fn typed_validation_finds_duplicates_and_foreign_ids() {
    let mut entries = builtin().all().to_vec();
    entries.push(builtin().get("S-RETR-200").unwrap().clone());
    let mut stray = builtin().get("B-SIZE").unwrap().clone();
    stray.id = "S-SIZE".into();
    entries.push(stray);
    let problems = Requirements::from_entries("edge-v1", entries).validate(BINDING_MD);
    assert!(
        has(&problems, "duplicate-id", "S-RETR-200"),
        "{}",
        report(&problems)
    );
    assert!(
        has(&problems, "not-in-binding", "S-SIZE"),
        "{}",
        report(&problems)
    );
    assert!(
        has(&problems, "origin-mismatch", "S-SIZE"),
        "{}",
        report(&problems)
    );
    assert!(
        has(&problems, "missing-source", "S-SIZE"),
        "{}",
        report(&problems)
    );
}

#[test]
fn a_changed_binding_is_noticed() {
    let reworded = BINDING_MD.replace("Success → 201", "Success → 200");
    let problems = builtin().validate(&reworded);
    assert!(has(&problems, "text-not-in-binding", "S-CREATE-201"));
    let new_rule = format!("{BINDING_MD}\n- **B-NEW-RULE** (MUST). Something new.\n");
    let problems = builtin().validate(&new_rule);
    assert!(has(&problems, "missing-entry", "B-NEW-RULE"));
    let relevelled = BINDING_MD.replace("**B-CACHE** (SHOULD)", "**B-CACHE** (MUST)");
    let problems = builtin().validate(&relevelled);
    assert!(has(&problems, "level-mismatch", "B-CACHE"));
}

#[test]
fn malformed_catalogues_are_reported_not_panicked_on() {
    for bad in [
        "",
        "not json",
        "[]",
        "{\"requirements\": 3}",
        "{\"profile\": \"x\"}",
    ] {
        let problems = validate_json(bad, BINDING_MD);
        assert!(
            matches!(problems.as_slice(), [Problem::Malformed { .. }]),
            "{bad:?}: {}",
            report(&problems)
        );
        assert!(Requirements::from_json(bad).is_err());
    }
    let err = Requirements::from_json("{}").unwrap_err().to_string();
    assert!(
        err.contains("requirements.json") && err.contains("docs/requirements.md"),
        "{err}"
    );
}

#[test]
fn text_normalisation_drops_markdown_only() {
    assert_eq!(
        normalize("- **B-X** (MUST). A `RU`\n  *with*  padding\n\n```\ncode\n```"),
        "B-X (MUST). A RU with padding code"
    );
    assert_eq!(normalize("a - b\n-not a bullet"), "a - b -not a bullet");
}

#[test]
fn shipped_binding_equals_the_shared_spec() {
    match shared("spec/binding.md") {
        Some((path, text)) => assert!(
            text == BINDING_MD,
            "conformance/edge-v1/binding.md differs from {}; copy it again",
            path.display()
        ),
        None => eprintln!(
            "note: ../shared/spec/binding.md not found next to the checkout; comparison skipped"
        ),
    }
}

#[test]
fn source_quotes_are_exact() {
    let total: usize = builtin().all().iter().map(|r| r.source.len()).sum();
    assert!(total > 0);
    // Without the documents every quote is missing: the check can fail.
    assert_eq!(builtin().check_sources("", "").len(), total);
    match (
        shared("seeds/000_41bc656468999cc7.txt"),
        shared("research/protocol-history.md"),
    ) {
        (Some((_, implementation)), Some((_, generic))) => {
            let problems = builtin().check_sources(&implementation, &generic);
            assert!(problems.is_empty(), "problems:\n{}", report(&problems));
        }
        _ => eprintln!(
            "note: ../shared/seeds or ../shared/research not found next to the checkout; \
             source quotes not compared"
        ),
    }
}
