//! Every registered profile is complete: its binding's rule IDs are its catalogue's IDs, its
//! catalogue is consistent with the binding, every testable rule has a check, and every check
//! names known rules. Runs for each profile of the registry, so a new profile is checked the
//! moment it is registered.

use std::collections::BTreeSet;

use edgecheck::catalogue::requirements::{binding_rule_ids, Testable};
use edgecheck::profiles::{self, Capability};

#[test]
fn the_registry_has_unique_names_and_a_default() {
    let names: Vec<&str> = profiles::all().iter().map(|p| p.name()).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(
        names.len(),
        unique.len(),
        "duplicate profile names: {names:?}"
    );
    assert_eq!(profiles::default_profile().name(), names[0]);
    for n in &names {
        assert_eq!(profiles::find(n).expect("registered").name(), *n);
    }
    let err = profiles::find("no-such-profile")
        .err()
        .expect("unknown name");
    assert!(err.to_string().contains(names[0]), "{err}");
}

#[test]
fn every_profile_binding_ids_equal_its_catalogue_ids() {
    for p in profiles::all() {
        let binding = binding_rule_ids(p.binding());
        let catalogue: BTreeSet<String> = p
            .catalogue()
            .ids()
            .into_iter()
            .map(str::to_string)
            .collect();
        assert!(
            !binding.is_empty(),
            "{}: the binding has no rule IDs",
            p.name()
        );
        assert_eq!(
            binding,
            catalogue,
            "{}: rule IDs of the binding and of the catalogue differ",
            p.name()
        );
        assert_eq!(p.catalogue().profile(), p.name());
        let problems = p.catalogue().validate(p.binding());
        assert!(
            problems.is_empty(),
            "{}: catalogue problems: {problems:?}",
            p.name()
        );
    }
}

/// Testable rules whose checks are being built elsewhere: `(profile, rule, what will check
/// it)`. Remove an entry when its check lands; an entry whose rule has a check fails.
const PENDING: &[(&str, &str, &str)] = &[];

#[test]
fn every_testable_rule_of_every_profile_has_a_check() {
    for p in profiles::all() {
        assert!(p.capabilities().contains(&Capability::Run), "{}", p.name());
        let suite = p.suite(None).expect("built-in checks load");
        let checks = suite.checks();
        assert!(!checks.is_empty(), "{}: no checks", p.name());
        let covered: BTreeSet<&str> = checks
            .iter()
            .flat_map(|c| c.requirements.iter().map(String::as_str))
            .collect();
        let missing: Vec<&str> = p
            .catalogue()
            .all()
            .iter()
            .filter(|r| r.testable != Testable::No && !covered.contains(r.id.as_str()))
            .map(|r| r.id.as_str())
            .filter(|id| {
                // A rule checked elsewhere counts only while that test exists.
                !p.checked_elsewhere().iter().any(|(rule, file)| {
                    rule == id
                        && std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                            .join(file)
                            .exists()
                })
            })
            .collect();
        let pending: Vec<&str> = PENDING
            .iter()
            .filter(|(profile, _, _)| *profile == p.name())
            .map(|(_, rule, _)| *rule)
            .collect();
        for rule in &pending {
            assert!(
                p.catalogue().contains(rule),
                "{}: pending rule {rule} is not in the catalogue",
                p.name()
            );
            let elsewhere = p.checked_elsewhere().iter().any(|(r, file)| {
                r == rule
                    && std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join(file)
                        .exists()
            });
            assert!(
                !covered.contains(rule) && !elsewhere,
                "{}: {rule} is checked now; remove it from PENDING",
                p.name()
            );
        }
        let missing: Vec<&str> = missing
            .into_iter()
            .filter(|id| !pending.contains(id))
            .collect();
        assert!(
            missing.is_empty(),
            "{}: testable rules without a check: {missing:?}",
            p.name()
        );
        let unknown: Vec<&str> = covered
            .iter()
            .copied()
            .filter(|r| !p.catalogue().contains(r))
            .collect();
        assert!(
            unknown.is_empty(),
            "{}: unknown rules {unknown:?}",
            p.name()
        );
        for (i, c) in checks.iter().enumerate() {
            assert_eq!(c.index, i, "{}: {} is out of place", p.name(), c.id);
            assert!(
                c.id.starts_with(&format!("{}/", c.area)),
                "{}: {} is not in its area",
                p.name(),
                c.id
            );
        }
    }
}

#[test]
fn invalid_case_files_are_a_usage_error_naming_every_problem_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(
        &path,
        r#"{"area":"x","title":"t","cases":[{"id":"x/a","title":"a","requirements":["NO-SUCH-RULE"],"level":"MUST","steps":[]}]}"#,
    )
    .unwrap();
    for p in profiles::all() {
        let err = p
            .suite(Some(std::slice::from_ref(&path)))
            .err()
            .unwrap_or_else(|| panic!("{}: an invalid case file loaded", p.name()));
        let profiles::ProfileError::Usage(message) = &err else {
            panic!("{}: not a usage error: {err:?}", p.name());
        };
        assert!(
            message.starts_with("2 problems in the cases: ")
                && message.contains("NO-SUCH-RULE")
                && message.contains("; ")
                && !message.contains('\n'),
            "{}: {message}",
            p.name()
        );
    }
}
