//! End to end through the built binary: a run against the embedded server writes JUnit, HTML
//! and JSON; `report` re-renders and merges; `baseline` writes a baseline and the gate enforces
//! it; a server that breaks one rule gets a matrix that names exactly that rule.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn edgecheck(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgecheck"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("edgecheck runs")
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json(dir: &Path, name: &str) -> serde_json::Value {
    serde_json::from_str(&read(dir, name)).expect("results are JSON")
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Every base64 line of the fixture private keys.
fn private_key_lines() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys");
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixtures/keys") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        let mut inside = false;
        for l in text.lines() {
            if l.starts_with("-----BEGIN") {
                inside = l.contains("PRIVATE");
            } else if l.starts_with("-----END") {
                inside = false;
            } else if inside && l.len() >= 40 {
                lines.push(l.to_string());
            }
        }
    }
    assert!(lines.len() > 1000, "fixture private keys not found");
    lines
}

#[test]
fn run_writes_every_output_and_report_renders_them_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = edgecheck(
        &[
            "run", "--quiet", "--only", "create", "--junit", "out.xml", "--report", "out.html",
            "--json", "out.json",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let results = json(d, "out.json");
    let checks = ids(&results);
    assert!(!checks.is_empty() && checks.iter().all(|c| c.starts_with("create/")));

    let xml = read(d, "out.xml");
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("JUnit parses");
    assert_eq!(report.tests, checks.len(), "one testcase per check");
    assert_eq!((report.failures, report.errors), (0, 0));
    if let Ok(v) = Command::new("xmllint")
        .args([
            "--noout",
            "--schema",
            concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/junit/junit.xsd"),
        ])
        .arg(d.join("out.xml"))
        .output()
    {
        assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    }

    let html = read(d, "out.html");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("Requirement matrix"));
    assert!(html.contains("id=\"rule-S-CREATE-201\""));
    assert!(html.contains("Ambiguity register"));

    // Re-rendering runs nothing and gives the same verdict.
    let o = edgecheck(
        &[
            "report",
            "out.json",
            "--report",
            "out.md",
            "--junit",
            "again.xml",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let md = read(d, "out.md");
    assert!(md.contains("## Requirement matrix") && md.contains("| `S-CREATE-201` |"));
    assert_eq!(
        quick_junit::Report::deserialize_from_str(&read(d, "again.xml"))
            .unwrap()
            .tests,
        checks.len()
    );

    // No fixture private key appears anywhere.
    let outputs = [
        xml,
        html,
        md,
        read(d, "out.json"),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    ];
    for line in private_key_lines() {
        for text in &outputs {
            assert!(
                !text.contains(&line),
                "a private key line appears in an output"
            );
        }
    }

    // Baselines: a generated one is empty for a green run; a stale and an expired entry fail
    // the gate with a message that says what to do.
    let o = edgecheck(&["baseline", "--from", "out.json"], d);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let b: serde_json::Value = serde_json::from_slice(&o.stdout).expect("baseline is JSON");
    assert_eq!(b["entries"].as_array().unwrap().len(), 0);
    std::fs::write(
        d.join("stale.json"),
        format!(r#"{{"schema":"edgecheck.baseline/1","entries":[{{"id":"{}","reason":"was broken"}}]}}"#, checks[0]),
    )
    .unwrap();
    let o = edgecheck(
        &[
            "report",
            "out.json",
            "--baseline",
            "stale.json",
            "--json",
            "gated.json",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("stale baseline entry"),
        "{}",
        show(&o)
    );
    assert_eq!(
        json(d, "gated.json")["baseline"]["entries"][0]["state"],
        "stale"
    );
    std::fs::write(
        d.join("expired.json"),
        r#"{"schema":"edgecheck.baseline/1","entries":[{"id":"S-CREATE-409","reason":"r","expires":"2000-01-01"}]}"#,
    )
    .unwrap();
    let o = edgecheck(&["report", "out.json", "--baseline", "expired.json"], d);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("expired baseline entry"));

    // Bad input: a clear error, exit 2, nothing run.
    for (args, want) in [
        (
            vec!["report", "out.json", "--report", "out.pdf"],
            "use .md or .html",
        ),
        (vec!["report", "missing.json"], "cannot read"),
        (
            vec!["run", "--only", "create", "--baseline", "missing.json"],
            "cannot read baseline",
        ),
        (vec!["run", "--shard", "3/2"], "not a shard"),
        (
            vec!["baseline", "--from", "out.json", "--expires", "soon"],
            "YYYY-MM-DD",
        ),
    ] {
        let o = edgecheck(&args, d);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", show(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(want),
            "{args:?}: {}",
            show(&o)
        );
    }
}

#[test]
fn shards_run_separately_merge_into_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = edgecheck(
        &["run", "--quiet", "--only", "create", "--json", "all.json"],
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    for i in 1..=2 {
        let (shard, out) = (format!("{i}/2"), format!("s{i}.json"));
        let o = edgecheck(
            &[
                "run", "--quiet", "--only", "create", "--shard", &shard, "--json", &out,
            ],
            d,
        );
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        assert_eq!(json(d, &out)["shard"], shard.as_str());
    }
    let (a, b) = (ids(&json(d, "s1.json")), ids(&json(d, "s2.json")));
    assert!(a.iter().all(|x| !b.contains(x)), "the shards overlap");
    let o = edgecheck(
        &[
            "report",
            "-q",
            "--merge",
            "s1.json",
            "s2.json",
            "--json",
            "merged.json",
            "--report",
            "merged.md",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let merged = json(d, "merged.json");
    assert_eq!(
        ids(&merged),
        ids(&json(d, "all.json")),
        "merged shards differ from the whole run"
    );
    assert_eq!(merged["merged"].as_array().unwrap().len(), 2);
    // A missing shard is refused.
    let o = edgecheck(&["report", "--merge", "s1.json"], d);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("2/2 missing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_breaking_one_rule_gets_a_matrix_naming_exactly_that_rule() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    // A create endpoint that answers 200 instead of 201 (S-CREATE-201), otherwise correct.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connection"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .insert_header("cache-control", "no-store")
                .set_body_string(
                    r#"{"recipientURI":"/connection/Zr8cVb2KxQmW7pTn4yHs1A","senderURI":"/connection/Jd5fLq9RtXe2uWk8mBc3Pg"}"#,
                ),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let ce = format!("{}/connection", server.uri());
    let o = tokio::task::spawn_blocking(move || {
        let o = edgecheck(
            &[
                "run",
                "--quiet",
                "--server",
                &ce,
                "--allow-http",
                "--only",
                "create/created",
                "--json",
                "out.json",
                "--report",
                "out.md",
            ],
            &d,
        );
        (o, d)
    })
    .await
    .unwrap();
    let (o, d) = o;
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let results = json(&d, "out.json");
    let failing: Vec<&str> = results["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == "fail")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["S-CREATE-201"], "{}", show(&o));
    let md = read(&d, "out.md");
    let row = md
        .lines()
        .find(|l| l.starts_with("| `S-CREATE-201` |"))
        .expect("matrix row");
    assert!(row.contains("❌ fail"), "{row}");
    let failing_rows = md
        .lines()
        .filter(|l| l.starts_with("| `") && l.contains("❌ fail"))
        .count();
    assert_eq!(failing_rows, 1, "the matrix names other rules as failing");
}

#[test]
fn colour_follows_the_flag_and_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let run = |color: &str, no_color: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_edgecheck"));
        c.args(["run", "--only", "scenarios/two-servers", "--json"])
            .arg(&json)
            .args(["--color", color]);
        match no_color {
            Some(v) => c.env("NO_COLOR", v),
            None => c.env_remove("NO_COLOR"),
        };
        let out = c.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        run("always", Some("1")).contains("\x1b[36mSKIP"),
        "--color always colours"
    );
    assert!(
        !run("never", None).contains('\x1b'),
        "--color never does not"
    );
    // auto: stdout is a pipe here, so no colour, with or without NO_COLOR.
    assert!(!run("auto", None).contains('\x1b'));
}
