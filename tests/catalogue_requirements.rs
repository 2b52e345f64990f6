//! The requirement catalogues: complete, consistent with their bindings, and their validation
//! can fail. edge-v1 is read through its profile; tassis-v2 straight from `conformance/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use edgecheck::catalogue::requirements::{
    binding_rule_ids, binding_rule_levels, binding_table_rows, conventions, normalize,
    validate_json, AmbiguityRegister, Level, Origin, Problem, Requirement, Requirements,
    SourceDocument, Testable,
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
                | Problem::SourceNotFound { id: i, .. }
                | Problem::SourceDocumentMissing { id: i, .. }
                | Problem::ForeignDocument { id: i, .. }
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

/// Checks a catalogue's quotes against its profile's documents in the shared tree: every
/// quote is found, and with empty texts every quote is reported (the check can fail).
fn assert_quotes_exact(reqs: &Requirements) {
    let total: usize = reqs.all().iter().map(|r| r.source.len()).sum();
    assert!(total > 0, "{}: no source quotes", reqs.profile());
    let documents = conventions(reqs.profile())
        .expect("known profile")
        .documents;
    let empty: Vec<(SourceDocument, &str)> = documents.iter().map(|&d| (d, "")).collect();
    let problems = reqs.check_sources(&empty);
    assert_eq!(problems.len(), total, "{}", report(&problems));
    assert!(problems.iter().all(|p| p.kind() == "source-not-found"));
    // A document not given is named as such.
    let problems = reqs.check_sources(&[]);
    assert_eq!(problems.len(), total);
    assert!(problems
        .iter()
        .all(|p| p.kind() == "source-document-missing"));

    let texts: Vec<(SourceDocument, String)> = documents
        .iter()
        .filter_map(|&d| shared(d.path()).map(|(_, text)| (d, text)))
        .collect();
    if texts.len() < documents.len() {
        eprintln!(
            "note: the source documents of {} are not all under ../shared next to the checkout; \
             source quotes not compared",
            reqs.profile()
        );
        return;
    }
    let texts: Vec<(SourceDocument, &str)> = texts.iter().map(|(d, t)| (*d, t.as_str())).collect();
    let problems = reqs.check_sources(&texts);
    assert!(problems.is_empty(), "problems:\n{}", report(&problems));
}

#[test]
fn source_quotes_are_exact() {
    assert_quotes_exact(builtin());
}

// ---- tassis-v2, read from conformance/ without the profile ----

const TASSIS_JSON: &str = include_str!("../conformance/tassis-v2/requirements.json");
const TASSIS_MD: &str = include_str!("../conformance/tassis-v2/binding.md");

fn tassis() -> Requirements {
    Requirements::from_json(TASSIS_JSON).expect("conformance/tassis-v2/requirements.json loads")
}

#[test]
fn tassis_catalogue_validates_against_its_binding() {
    let reqs = tassis();
    assert_eq!(reqs.profile(), "tassis-v2");
    let problems = reqs.validate(TASSIS_MD);
    assert!(problems.is_empty(), "problems:\n{}", report(&problems));
    let problems = validate_json(TASSIS_JSON, TASSIS_MD);
    assert!(problems.is_empty(), "problems:\n{}", report(&problems));
    // The file names its binding.
    let file: serde_json::Value = serde_json::from_str(TASSIS_JSON).unwrap();
    assert_eq!(file["binding"], "binding.md");
}

#[test]
fn tassis_ids_are_the_bindings_in_binding_order() {
    let binding = binding_rule_ids(TASSIS_MD);
    assert_eq!(binding.len(), 63, "binding.md has 63 rule IDs");
    let reqs = tassis();
    let catalogue: BTreeSet<String> = reqs.ids().into_iter().map(str::to_owned).collect();
    assert_eq!(binding, catalogue);
    assert_eq!(reqs.len(), 63, "duplicate IDs in the catalogue");
    // File order is the order in which the IDs first appear in bold in the binding.
    let mut order: Vec<(usize, &str)> = binding
        .iter()
        .map(|id| {
            (
                TASSIS_MD.find(&format!("**{id}**")).expect("bold ID"),
                id.as_str(),
            )
        })
        .collect();
    order.sort();
    let in_binding: Vec<&str> = order.into_iter().map(|(_, id)| id).collect();
    let in_file: Vec<&str> = reqs.all().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(in_file, in_binding);
    for r in reqs.all() {
        let expected = if r.id.starts_with("TB-") {
            Origin::Binding
        } else {
            Origin::Source
        };
        assert_eq!(r.origin, expected, "{}", r.id);
        assert!(r.text.starts_with(&format!("{} (", r.id)), "{}", r.id);
        assert!(
            !r.section.contains('#') && !r.section.contains('`'),
            "{}",
            r.id
        );
        let kebab = !r.area.is_empty()
            && r.area
                .split('-')
                .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()));
        assert!(kebab, "{}: area {:?} is not kebab-case", r.id, r.area);
    }
}

#[test]
fn tassis_levels_are_the_bindings() {
    let levels = binding_rule_levels(TASSIS_MD);
    let reqs = tassis();
    for r in reqs.all() {
        assert_eq!(Some(&r.level), levels.get(&r.id), "{}", r.id);
    }
    for (id, level) in [
        ("TB-INBOUND-FORM", Level::Must),
        ("TB-PK-LOW", Level::Must),
        ("T-NO-TRACE", Level::Must),
        ("TB-TEXT-FRAME", Level::Should),
        ("TB-AUTH-CLOSE-FAST", Level::Should),
        ("TB-KEY-CANON", Level::Should),
        ("TB-PK-ORDER", Level::May),
        ("TB-LOGIN-RATE", Level::May),
        ("TB-RETENTION", Level::May),
    ] {
        assert_eq!(levels[id], level, "{id} in binding.md");
    }
    assert!(levels.values().all(|l| *l != Level::NoLevel));
}

#[test]
fn tassis_texts_are_the_bindings_words() {
    let reqs = tassis();
    let mut problems = Vec::new();
    for r in reqs.all() {
        let mut changed = r.clone();
        changed.text.push_str(" And more.");
        let one = Requirements::from_entries("tassis-v2", vec![changed]).validate(TASSIS_MD);
        if !has(&one, "text-not-in-binding", &r.id) {
            problems.push(r.id.clone());
        }
    }
    assert!(problems.is_empty(), "texts not checked: {problems:?}");
    let inbound = reqs.get("TB-INBOUND-FORM").unwrap();
    assert!(inbound
        .text
        .starts_with("TB-INBOUND-FORM (MUST one of two forms; SHOULD the typed one). An inbound message is field 16"));
}

#[test]
fn tassis_source_quotes_are_exact() {
    let reqs = tassis();
    assert_quotes_exact(&reqs);
    for r in reqs.all() {
        let documents: BTreeSet<SourceDocument> = r.source.iter().map(|q| q.document).collect();
        assert!(
            documents.iter().all(|d| d.profile() == "tassis-v2"),
            "{}: {documents:?}",
            r.id
        );
        if r.origin == Origin::Source && r.source.is_empty() {
            assert!(
                r.source_note
                    .as_deref()
                    .is_some_and(|n| n.contains("No quote")),
                "{}: a T- rule without quotes says so in sourceNote",
                r.id
            );
        }
    }
    assert!(tassis().get("T-ORDER").unwrap().source.is_empty());
}

#[test]
fn tassis_testability_is_explained() {
    let reqs = tassis();
    let count = |t| reqs.all().iter().filter(|r| r.testable == t).count();
    assert_eq!(
        (
            count(Testable::Yes),
            count(Testable::Partially),
            count(Testable::No)
        ),
        (54, 8, 1)
    );
    for r in reqs.all() {
        assert!(r.testable_note.is_some(), "{}: testableNote", r.id);
    }
    let no_trace = reqs.get("T-NO-TRACE").unwrap();
    assert_eq!(no_trace.testable, Testable::Partially);
    let note = no_trace.testable_note.as_deref().unwrap();
    assert!(
        note.contains("T-OPAQUE") && note.contains("T-ANON-ONLY"),
        "{note}"
    );
    let low = reqs.get("TB-PK-LOW").unwrap();
    assert_eq!(low.testable, Testable::Yes);
    let note = low.testable_note.as_deref().unwrap();
    assert!(
        note.contains("--prekeys-low") && note.contains("--prekeys-interval"),
        "{note}"
    );
    for id in ["TB-RETENTION", "TB-LOGIN-RATE"] {
        assert_eq!(reqs.get(id).unwrap().testable, Testable::Partially, "{id}");
    }
    assert_eq!(reqs.get("TB-PK-ORDER").unwrap().testable, Testable::No);
}

#[test]
fn tassis_decisions_are_the_bindings_table_and_all_used() {
    let Some(AmbiguityRegister::BindingTable { prefix, heading }) =
        conventions("tassis-v2").map(|c| c.ambiguities)
    else {
        panic!("tassis-v2 takes its ambiguities from a binding table");
    };
    let rows = binding_table_rows(TASSIS_MD, heading).expect("decisions table");
    assert_eq!(rows.len(), 15);
    assert_eq!(rows[0][0], "URL");
    assert_eq!(rows[14][2], "may repeat; stops at LIMIT");
    let reqs = tassis();
    let mut used: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for r in reqs.all() {
        for a in &r.ambiguities {
            used.entry(a.id.clone()).or_default().push(&r.id);
            let n = a.number().expect("numbered") as usize;
            let row = &rows[n - 1];
            let question = normalize(&a.question);
            assert!(
                question.starts_with(&format!("{} — {}", row[0], row[1])),
                "{}",
                a.id
            );
            assert!(normalize(&a.binding).starts_with(&row[2]), "{}", a.id);
        }
    }
    let expected: BTreeSet<String> = (1..=15).map(|n| format!("{prefix}{n}")).collect();
    let seen: BTreeSet<String> = used.keys().cloned().collect();
    assert_eq!(seen, expected, "every decision row is used by a rule");
    assert!(used["D4"].contains(&"TB-SIG") && used["D4"].contains(&"TB-KEY"));
    assert!(used["D6"].contains(&"T-AUTH-CLOSE") && used["D6"].contains(&"TB-AUTH-CLOSE-FAST"));
}

#[test]
fn a_broken_tassis_catalogue_is_reported() {
    let mut cat: Value = serde_json::from_str(TASSIS_JSON).unwrap();
    entry_mut(&mut cat, "TB-SIG")["ambiguities"][0]["id"] = json!("D16");
    entry_mut(&mut cat, "TB-PK-ALL-KNOWN")["ambiguities"][0]["binding"] = json!("Reworded.");
    entry_mut(&mut cat, "T-HELLO")["ambiguities"][0]["question"] = json!("Reworded.");
    entry_mut(&mut cat, "T-CONFIG")["source"][0]["document"] = json!("implementation");
    entry_mut(&mut cat, "T-ORDER")
        .as_object_mut()
        .unwrap()
        .remove("sourceNote");
    entry_mut(&mut cat, "TB-KEY")["origin"] = json!("source");
    entry_mut(&mut cat, "TB-PK-LOW")["level"] = json!("SHOULD");
    let problems = validate_json(&cat.to_string(), TASSIS_MD);
    let expected = [
        ("bad-ambiguity", "TB-SIG"),
        ("bad-ambiguity", "TB-PK-ALL-KNOWN"),
        ("bad-ambiguity", "T-HELLO"),
        ("foreign-document", "T-CONFIG"),
        ("missing-source", "T-ORDER"),
        ("origin-mismatch", "TB-KEY"),
        ("level-mismatch", "TB-PK-LOW"),
    ];
    for (kind, id) in expected {
        assert!(
            has(&problems, kind, id),
            "expected {kind} for {id}; got:\n{}",
            report(&problems)
        );
    }
    assert_eq!(problems.len(), expected.len(), "{}", report(&problems));
    let text = report(&problems);
    assert!(text.contains("D1 … D15"), "{text}");
    assert!(text.contains("sourceNote"), "{text}");

    // Without its decisions table the binding cannot number the ambiguities.
    let cut = &TASSIS_MD[..TASSIS_MD.find("## Decisions, in one place").unwrap()];
    let problems = tassis().validate(cut);
    assert!(
        problems
            .iter()
            .any(|p| p.kind() == "missing-decision-table"),
        "{}",
        report(&problems)
    );

    // A profile the catalogue code does not know is named once.
    cat["profile"] = json!("tassis-v9");
    let problems = validate_json(&cat.to_string(), TASSIS_MD);
    assert_eq!(
        problems
            .iter()
            .filter(|p| p.kind() == "unknown-profile")
            .count(),
        1
    );
}

#[test]
fn shipped_tassis_binding_equals_the_shared_spec() {
    match shared("spec/tassis.md") {
        Some((path, text)) => assert!(
            text == TASSIS_MD,
            "conformance/tassis-v2/binding.md differs from {}; copy it again",
            path.display()
        ),
        None => eprintln!(
            "note: ../shared/spec/tassis.md not found next to the checkout; comparison skipped"
        ),
    }
}

#[test]
fn tassis_entries_round_trip_through_serde() {
    let reqs = tassis();
    let json = serde_json::to_string(reqs.all()).expect("serialise");
    let back: Vec<Requirement> = serde_json::from_str(&json).expect("parse back");
    assert_eq!(back.as_slice(), reqs.all());
}

// ---- simplex-v5: its own rules, and those it takes over from edge-v1 ----

mod simplex {
    use std::collections::{BTreeMap, BTreeSet};

    use edgecheck::catalogue::requirements::{
        binding_rule_ids, binding_rule_levels, binding_table_rows, conventions, normalize,
        validate_json, AmbiguityRegister, Level, Origin,
    };
    use edgecheck::profiles::simplex_v5::{
        binding, catalogue, BINDING_MD, REQUIREMENTS_JSON, TAKEN_OVER, TAKEN_OVER_HEADING,
    };

    use super::{assert_quotes_exact, report, shared};

    #[test]
    fn the_catalogue_validates_against_the_binding_with_the_taken_over_rules() {
        let reqs = catalogue();
        assert_eq!(reqs.profile(), "simplex-v5");
        let problems = reqs.validate(binding());
        assert!(problems.is_empty(), "problems:\n{}", report(&problems));
        let problems = validate_json(REQUIREMENTS_JSON, binding());
        assert!(problems.is_empty(), "problems:\n{}", report(&problems));
        // Against the spec alone the taken-over rules have no text to match.
        let problems = reqs.validate(BINDING_MD);
        assert_eq!(
            problems
                .iter()
                .filter(|p| p.kind() == "not-in-binding")
                .count(),
            TAKEN_OVER.len(),
            "{}",
            report(&problems)
        );
    }

    #[test]
    fn the_shipped_binding_equals_the_shared_spec() {
        match shared("spec/simplex-v5.md") {
            Some((path, text)) => assert!(
                text == BINDING_MD,
                "conformance/simplex-v5/binding.md differs from {}; copy it again",
                path.display()
            ),
            None => eprintln!(
                "note: ../shared/spec/simplex-v5.md not found next to the checkout; comparison \
                 skipped"
            ),
        }
    }

    #[test]
    fn ids_are_the_bindings_and_the_taken_over_ones() {
        let own = binding_rule_ids(BINDING_MD);
        assert_eq!(own.len(), 43, "binding.md has 43 V-/VB- rule IDs");
        assert!(own
            .iter()
            .all(|id| id.starts_with("V-") || id.starts_with("VB-")));
        let all = binding_rule_ids(binding());
        let catalogue_ids: BTreeSet<String> =
            catalogue().ids().into_iter().map(str::to_owned).collect();
        assert_eq!(all, catalogue_ids);
        assert_eq!(catalogue().len(), 43 + TAKEN_OVER.len());
        // The taken-over list is the one §1 of the binding gives (S-URI-GEN is only named as
        // what V-URI restates).
        let section = BINDING_MD
            .split("## 1. ")
            .nth(1)
            .and_then(|s| s.split("\n\n").nth(1))
            .expect("§1's first paragraph");
        let named: BTreeSet<String> = section
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.starts_with("B-") || w.starts_with("S-"))
            .filter(|w| *w != "S-URI-GEN")
            .map(str::to_owned)
            .collect();
        let taken: BTreeSet<String> = TAKEN_OVER.iter().map(|s| s.to_string()).collect();
        assert_eq!(named, taken);
    }

    #[test]
    fn taken_over_rules_keep_edge_v1s_text_level_and_origin() {
        let edge = edgecheck::profiles::edge_v1::catalogue();
        for id in TAKEN_OVER {
            let mine = catalogue().get(id).expect("in the catalogue");
            let theirs = edge.get(id).expect("in edge-v1's catalogue");
            assert_eq!(mine.text, theirs.text, "{id}");
            assert_eq!(mine.level, theirs.level, "{id}");
            assert_eq!(mine.origin, theirs.origin, "{id}");
            assert_eq!(mine.section, TAKEN_OVER_HEADING, "{id}");
            assert_eq!(mine.testable, theirs.testable, "{id}");
        }
    }

    #[test]
    fn levels_follow_the_binding() {
        let levels = binding_rule_levels(binding());
        for r in catalogue().all() {
            assert_eq!(Some(&r.level), levels.get(&r.id), "{}", r.id);
            let expected = if r.id.starts_with("VB-") || r.id.starts_with("B-") {
                Origin::Binding
            } else {
                Origin::Source
            };
            assert_eq!(r.origin, expected, "{}", r.id);
        }
        for (id, level) in [
            ("V-TIMING", Level::Must),
            ("V-WS-TIMING", Level::Should),
            ("VB-RESP-CT", Level::Should),
            ("VB-SECURE-SAME", Level::May),
            ("B-B64-PADBITS", Level::NoLevel),
        ] {
            assert_eq!(levels[id], level, "{id}");
        }
    }

    #[test]
    fn source_quotes_are_exact() {
        assert_quotes_exact(catalogue());
        for r in catalogue().all() {
            if r.origin == Origin::Source {
                assert!(
                    !r.source.is_empty() || r.source_note.is_some(),
                    "{}: a source rule without quotes says why",
                    r.id
                );
            }
        }
    }

    #[test]
    fn decisions_are_the_bindings_table_and_all_used() {
        let Some(AmbiguityRegister::BindingTable { prefix, heading }) =
            conventions("simplex-v5").map(|c| c.ambiguities)
        else {
            panic!("simplex-v5 takes its ambiguities from a binding table");
        };
        let rows = binding_table_rows(BINDING_MD, heading).expect("decisions table");
        assert_eq!(rows.len(), 20);
        assert_eq!(rows[0][0], "A1 create signed or anonymous");
        let mut used: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for r in catalogue().all() {
            for a in &r.ambiguities {
                used.entry(a.id.clone()).or_default().push(&r.id);
                let n = a.number().expect("numbered") as usize;
                let row = &rows[n - 1];
                assert!(
                    normalize(&a.question).starts_with(&format!("{} — ", row[0])),
                    "{}",
                    a.id
                );
                assert_eq!(normalize(&a.binding), row[1], "{}", a.id);
            }
        }
        let expected: BTreeSet<String> = (1..=20).map(|n| format!("{prefix}{n}")).collect();
        let seen: BTreeSet<String> = used.keys().cloned().collect();
        assert_eq!(seen, expected, "every decision row is used by a rule");
        assert!(used["D16"].contains(&"B-SIG-INPUT") && used["D16"].contains(&"VB-WS-SIG"));
    }
}
