//! The CI examples in docs/ci/ are valid YAML, have the shape their CI system needs (start a
//! server, run edgecheck, upload JUnit and HTML reports even on failure, gate on the exit
//! code), and every `edgecheck` command in them is accepted by the command line.

use clap::Parser;
use edgecheck::cli::Cli;
use serde_yaml_ng::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/docs/ci/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path} is not valid YAML: {e}"))
}

/// Split a shell command line into words: whitespace separates, double quotes group. The
/// examples use nothing else, and a test that met more would fail on it, not misread it.
fn words(line: &str) -> Vec<String> {
    assert!(
        !line.contains('\''),
        "single quotes are not handled: {line}"
    );
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for ch in line.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    assert!(!quoted, "unbalanced quotes: {line}");
    if any {
        out.push(cur);
    }
    out
}

/// Every `edgecheck …` command in a script, continuation lines joined, variables given
/// example values.
fn edgecheck_commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("edgecheck "))
        .map(|l| {
            let l = l
                .replace("${{ matrix.shard }}", "2")
                .replace("$SHARDS", "3")
                .replace("$CI_NODE_INDEX", "2")
                .replace("$CI_NODE_TOTAL", "3")
                .replace("$SERVER", "https://127.0.0.1:8443/connection")
                .replace("$PAGE_SIZE", "50");
            assert!(!l.contains('$'), "unknown variable in {l}");
            words(&l)
        })
        .collect()
}

fn check_commands(scripts: &[String]) -> Vec<Vec<String>> {
    let cmds: Vec<Vec<String>> = scripts.iter().flat_map(|s| edgecheck_commands(s)).collect();
    for c in &cmds {
        if let Err(e) = Cli::try_parse_from(c) {
            panic!("`{}` is not accepted: {e}", c.join(" "));
        }
    }
    cmds
}

fn has(cmd: &[String], flag: &str) -> bool {
    cmd.iter().any(|w| w == flag)
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

#[test]
fn github_actions_example() {
    let y = load("github-actions.yml");
    let jobs = &y["jobs"];
    let run_job = &jobs["conformance"];
    let shards = run_job["strategy"]["matrix"]["shard"]
        .as_sequence()
        .expect("a shard matrix");
    assert_eq!(
        shards.len().to_string(),
        str_of(&y["env"]["SHARDS"]),
        "matrix size and SHARDS differ"
    );
    let steps = run_job["steps"].as_sequence().expect("steps");
    let scripts: Vec<String> = steps.iter().map(|s| str_of(&s["run"])).collect();
    assert!(
        scripts.iter().any(|s| s.contains("edge-server")),
        "no server is started"
    );
    let cmds = check_commands(&scripts);
    let run = cmds
        .iter()
        .find(|c| c[1] == "run")
        .expect("an edgecheck run");
    for flag in ["--junit", "--report", "--json", "--shard", "--server"] {
        assert!(has(run, flag), "edgecheck run lacks {flag}");
    }
    // Reports are uploaded even when the run failed; the run step itself gates (no
    // continue-on-error).
    let upload = steps
        .iter()
        .find(|s| str_of(&s["uses"]).starts_with("actions/upload-artifact"))
        .expect("an upload step");
    assert_eq!(str_of(&upload["if"]), "always()");
    let paths = str_of(&upload["with"]["path"]);
    assert!(paths.contains("junit-") && paths.contains("report-") && paths.contains(".html"));
    assert!(
        steps.iter().all(|s| s["continue-on-error"].is_null()),
        "the gate is bypassed"
    );
    // The merge job runs after every shard, even failed ones, and merges them.
    let merge_job = &jobs["report"];
    assert_eq!(str_of(&merge_job["needs"]), "conformance");
    assert_eq!(str_of(&merge_job["if"]), "always()");
    let merge_scripts: Vec<String> = merge_job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|s| str_of(&s["run"]))
        .collect();
    let merged = check_commands(&merge_scripts);
    assert!(
        merged.iter().any(|c| c[1] == "report" && has(c, "--merge")),
        "no merge"
    );
}

#[test]
fn gitlab_ci_example() {
    let y = load("gitlab-ci.yml");
    let job = &y["conformance"];
    assert_eq!(job["parallel"].as_u64(), Some(3));
    let script: Vec<String> = job["script"]
        .as_sequence()
        .expect("a script")
        .iter()
        .map(str_of)
        .collect();
    assert!(
        script.iter().any(|s| s.contains("edge-server")),
        "no server is started"
    );
    let cmds = check_commands(&script);
    let run = cmds
        .iter()
        .find(|c| c[1] == "run")
        .expect("an edgecheck run");
    for flag in ["--junit", "--report", "--json", "--shard", "--server"] {
        assert!(has(run, flag), "edgecheck run lacks {flag}");
    }
    let shard = run.iter().skip_while(|w| *w != "--shard").nth(1).unwrap();
    assert_eq!(
        shard, "2/3",
        "the shard comes from CI_NODE_INDEX/CI_NODE_TOTAL"
    );
    let artifacts = &job["artifacts"];
    assert_eq!(str_of(&artifacts["when"]), "always");
    assert_eq!(str_of(&artifacts["reports"]["junit"]), "junit-*.xml");
    assert!(job["allow_failure"].is_null(), "the gate is bypassed");
    let report = &y["report"];
    assert_eq!(str_of(&report["when"]), "always");
    let merge_script: Vec<String> = report["script"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    let merged = check_commands(&merge_script);
    assert!(
        merged.iter().any(|c| c[1] == "report" && has(c, "--merge")),
        "no merge"
    );
}

#[test]
fn a_wrong_flag_in_an_example_would_be_caught() {
    let cmds = edgecheck_commands("edgecheck run --junitt out.xml");
    assert!(Cli::try_parse_from(&cmds[0]).is_err());
    assert_eq!(
        words(r#"edgecheck run --shard "2/3" --report  "a b.html""#),
        ["edgecheck", "run", "--shard", "2/3", "--report", "a b.html"]
    );
}
