//! Every output format rendered from fixed results, pinned by snapshots; the JUnit output
//! validated against a JUnit schema; keys and signatures never shown whole.

mod report_fixture;

use edgecheck::profiles::edge_v1;
use std::process::Command;

use edgecheck::report::baseline::Baseline;
use edgecheck::report::{html, junit, markdown, terminal, Results};
use report_fixture::{results, PUBLIC_KEY, SIGNATURE};

fn with_baseline() -> Results {
    let mut r = results();
    let b = Baseline::parse(
        r#"{"schema":"edgecheck.baseline/1","entries":[
            {"id":"create/duplicate-id-409","reason":"the store reuses IDs; fix planned","expires":"2026-06-30"},
            {"id":"S-CREATE-201","reason":"stale on purpose"},
            {"id":"B-CREATE-ONLY","reason":"expired on purpose","expires":"2026-01-31"}
        ]}"#,
        "known.json",
    )
    .expect("fixture baseline parses");
    b.apply(&mut r, "known.json");
    r
}

#[test]
fn terminal_summary() {
    insta::assert_snapshot!(
        "terminal",
        terminal::render(&results(), edge_v1::catalogue())
    );
    insta::assert_snapshot!(
        "terminal_baseline",
        terminal::render(&with_baseline(), edge_v1::catalogue())
    );
}

#[test]
fn json_results() {
    let text = serde_json::to_string_pretty(&results()).expect("results serialise");
    insta::assert_snapshot!("json", text);
    // The schema round-trips: what `--json` writes, `edgecheck report` reads.
    let back: Results = serde_json::from_str(&text).expect("results deserialise");
    assert_eq!(back, results());
    let with = with_baseline();
    let back: Results =
        serde_json::from_str(&serde_json::to_string(&with).unwrap()).expect("with baseline");
    assert_eq!(back, with);
}

#[test]
fn junit_xml() {
    insta::assert_snapshot!(
        "junit",
        junit::render(&results(), edge_v1::catalogue()).expect("junit renders")
    );
    insta::assert_snapshot!(
        "junit_baseline",
        junit::render(&with_baseline(), edge_v1::catalogue()).expect("junit renders")
    );
}

#[test]
fn markdown_report() {
    insta::assert_snapshot!(
        "markdown",
        markdown::render(&results(), edge_v1::catalogue())
    );
}

#[test]
fn html_report() {
    insta::assert_snapshot!("html", html::render(&with_baseline(), edge_v1::catalogue()));
}

#[test]
fn html_is_self_contained() {
    let page = html::render(&results(), edge_v1::catalogue());
    for fetch in [
        "<link",
        "src=\"http",
        "src='http",
        "url(http",
        "@import",
        "<iframe",
        "<img",
    ] {
        assert!(
            !page.contains(fetch),
            "the HTML report fetches something: {fetch}"
        );
    }
    assert!(page.contains("@media print"), "no print styles");
    assert!(page.contains("<details"), "transcripts are not collapsible");
    // Readable without JavaScript: the matrix is in the markup, not built by the script.
    assert!(page.contains("id=\"rule-S-CREATE-409\""));
    assert!(page.contains("<span class=\"badge v-fail\">fail</span>"));
}

#[test]
fn keys_and_signatures_are_never_shown_whole() {
    let r = with_baseline();
    let outputs = [
        ("terminal", terminal::render(&r, edge_v1::catalogue())),
        ("json", serde_json::to_string(&r).unwrap()),
        ("junit", junit::render(&r, edge_v1::catalogue()).unwrap()),
        ("markdown", markdown::render(&r, edge_v1::catalogue())),
        ("html", html::render(&r, edge_v1::catalogue())),
    ];
    for (name, text) in &outputs {
        assert!(
            !text.contains(PUBLIC_KEY),
            "{name} shows a whole public key"
        );
        assert!(!text.contains(SIGNATURE), "{name} shows a whole signature");
        assert!(!text.contains("PRIVATE KEY"), "{name} shows a private key");
    }
    // Where transcripts are shown, the shortened forms say what was there.
    for (name, text) in &outputs[1..] {
        assert!(
            text.contains("<sig:") || text.contains("&lt;sig:"),
            "{name}: no <sig:…>"
        );
        assert!(
            text.contains("<key:MIIBIjAN") || text.contains("&lt;key:MIIBIjAN"),
            "{name}: no <key:…>"
        );
    }
    // The curl lines say the signature must be recomputed.
    let md = markdown::render(&r, edge_v1::catalogue());
    assert!(
        md.contains("Re-sign before sending"),
        "curl lines do not say where the signature goes"
    );
}

#[test]
fn junit_verdict_mapping() {
    let xml = junit::render(&results(), edge_v1::catalogue()).unwrap();
    let report =
        quick_junit::Report::deserialize_from_str(&xml).expect("quick-junit reads it back");
    let find = |name: &str| {
        report
            .test_suites
            .iter()
            .flat_map(|s| s.test_cases.iter())
            .find(|c| c.name.as_str() == name)
            .unwrap_or_else(|| panic!("no testcase {name}"))
    };
    use quick_junit::{NonSuccessKind, TestCaseStatus};
    assert!(matches!(
        find("create/created").status,
        TestCaseStatus::Success { .. }
    ));
    assert!(matches!(
        find("create/duplicate-id-409").status,
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Failure,
            ..
        }
    ));
    assert!(matches!(
        find("signatures/wrong-path").status,
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Error,
            ..
        }
    ));
    assert!(matches!(
        find("retrieve/paging").status,
        TestCaseStatus::Skipped { .. }
    ));
    assert!(matches!(
        find("http/https-only").status,
        TestCaseStatus::Skipped { .. }
    ));
    // A SHOULD not met passes, with the warning in system-out.
    let warn = find("create/only-uris");
    assert!(matches!(warn.status, TestCaseStatus::Success { .. }));
    assert!(warn
        .system_out
        .as_deref()
        .unwrap_or_default()
        .contains("WARNING"));
    // classname = area, name = check ID, rules and level in properties.
    let fail = find("create/duplicate-id-409");
    assert_eq!(fail.classname.as_deref(), Some("create"));
    let props: Vec<(&str, &str)> = fail
        .properties
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str()))
        .collect();
    assert!(props.contains(&("requirement", "S-CREATE-409")));
    assert!(props.contains(&("level", "MUST")));
    // The failure carries the quoted requirement, expected versus actual and a curl line.
    let TestCaseStatus::NonSuccess {
        message,
        description,
        ty,
        ..
    } = &fail.status
    else {
        unreachable!()
    };
    assert_eq!(ty.as_deref(), Some("S-CREATE-409"));
    assert!(message.as_deref().unwrap().contains("expected status 409"));
    let d = description.as_deref().unwrap();
    assert!(d.contains("requirement: \"S-CREATE-409"), "{d}");
    assert!(d.contains("actual: status 201"));
    assert!(d.contains("curl") && d.contains("--data-binary"), "{d}");
}

/// Validate with `xmllint --schema` against the JUnit schema in fixtures/junit/; when xmllint
/// is absent, fall back to quick-junit's strict parser with structural checks, and say so.
fn validate_junit(xml: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    let xsd = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/junit/junit.xsd");
    match Command::new("xmllint")
        .args(["--noout", "--schema", xsd])
        .arg(&file)
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        Err(_) => {
            eprintln!(
                "xmllint not found (Debian: apt-get install libxml2-utils): validating with \
                 quick-junit's strict parser and structural checks instead of the XSD"
            );
            strict_parse(xml)
        }
    }
}

fn strict_parse(xml: &str) -> Result<(), String> {
    let report = quick_junit::Report::deserialize_from_str(xml).map_err(|e| e.to_string())?;
    let mut tests = 0;
    let (mut failures, mut errors) = (0, 0);
    for s in &report.test_suites {
        if s.tests != s.test_cases.len() {
            return Err(format!(
                "suite {} counts {} tests, has {}",
                s.name.as_str(),
                s.tests,
                s.test_cases.len()
            ));
        }
        tests += s.tests;
        failures += s.failures;
        errors += s.errors;
        for c in &s.test_cases {
            if c.name.is_empty() || c.classname.is_none() {
                return Err(format!(
                    "testcase without name or classname in {}",
                    s.name.as_str()
                ));
            }
        }
    }
    if (tests, failures, errors) != (report.tests, report.failures, report.errors) {
        return Err("testsuites counts differ from the sum of its suites".into());
    }
    Ok(())
}

#[test]
fn junit_validates_against_the_schema() {
    for r in [results(), with_baseline()] {
        let xml = junit::render(&r, edge_v1::catalogue()).unwrap();
        validate_junit(&xml)
            .unwrap_or_else(|e| panic!("JUnit output does not validate: {e}\n{xml}"));
        strict_parse(&xml).expect("strict parse");
    }
    // The validation can fail: a testcase without its required classname is rejected.
    let xml = junit::render(&results(), edge_v1::catalogue()).unwrap();
    let broken = xml.replacen(" classname=\"create\"", "", 1);
    assert!(
        validate_junit(&broken).is_err(),
        "a broken document validated"
    );
}

#[test]
fn hostile_response_text_still_gives_valid_xml_and_escaped_html() {
    let mut r = results();
    let c = r
        .checks
        .iter_mut()
        .find(|c| c.verdict == "fail")
        .expect("a failing check");
    let f = c.failure.as_mut().unwrap();
    f.actual = "body \u{0}\u{1b}[31m\u{FFFE}\u{FFFF}]]><!-- & \"".into();
    c.exchanges[0].response_body = "\u{FFFF}\u{7}</pre><script>x</script>".into();
    let xml = junit::render(&r, edge_v1::catalogue()).unwrap();
    validate_junit(&xml).unwrap_or_else(|e| panic!("{e}"));
    let page = html::render(&r, edge_v1::catalogue());
    assert!(
        !page.contains("<script>x</script>"),
        "response text is not escaped in HTML"
    );
    assert!(page.contains("&lt;/pre&gt;&lt;script&gt;x&lt;/script&gt;"));
}
