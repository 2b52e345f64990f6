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
    // The fuzz job gates on findings and uploads its outputs and case files either way.
    let fuzz_steps = jobs["fuzz"]["steps"].as_sequence().expect("a fuzz job");
    let fuzz_scripts: Vec<String> = fuzz_steps.iter().map(|s| str_of(&s["run"])).collect();
    let fuzz = check_commands(&fuzz_scripts)
        .into_iter()
        .find(|c| c[1] == "fuzz")
        .expect("an edgecheck fuzz");
    for flag in ["--junit", "--json", "--findings", "--server", "--duration"] {
        assert!(has(&fuzz, flag), "edgecheck fuzz lacks {flag}");
    }
    let upload = fuzz_steps
        .iter()
        .find(|s| str_of(&s["uses"]).starts_with("actions/upload-artifact"))
        .expect("an upload of the findings");
    assert_eq!(str_of(&upload["if"]), "always()");
    assert!(str_of(&upload["with"]["path"]).contains("findings/"));
    assert!(fuzz_steps.iter().all(|s| s["continue-on-error"].is_null()));
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

/// The GitHub Action (`action.yml`): a composite action that installs edgecheck, runs it with
/// every report and the summary, posts the summary to the job summary and uploads the reports
/// even on failure; and its example workflow (`docs/ci/github-action.yml`) passes only inputs
/// the action declares, with arguments the command line accepts.
#[test]
fn github_action_and_its_example() {
    let path = format!("{}/action.yml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let action: Value = serde_yaml_ng::from_str(&text).expect("action.yml is YAML");
    assert_eq!(str_of(&action["runs"]["using"]), "composite");
    let steps = action["runs"]["steps"].as_sequence().expect("steps");
    assert!(steps
        .iter()
        .all(|s| str_of(&s["shell"]) == "bash" || !s["uses"].is_null()));
    let scripts: Vec<String> = steps.iter().map(|s| str_of(&s["run"])).collect();
    assert!(
        scripts.iter().any(|s| s.contains("rustup")),
        "no Rust install"
    );
    assert!(
        scripts
            .iter()
            .any(|s| s.contains("cargo install --locked --path")),
        "no edgecheck install"
    );
    let example_args = "--ca-cert server.pem --page-size 50 --level must";
    let scripts: Vec<String> = scripts
        .iter()
        .map(|s| {
            s.replace(
                "\"${server_args[@]}\"",
                "--server https://127.0.0.1:8443/connection",
            )
            .replace("$EDGECHECK_ARGS", example_args)
            .replace("$OUT", "out")
        })
        .collect();
    let cmds = check_commands(&scripts);
    let run = cmds
        .iter()
        .find(|c| c[1] == "run")
        .expect("an edgecheck run");
    for flag in ["--junit", "--report", "--json", "--summary", "--server"] {
        assert!(has(run, flag), "edgecheck run lacks {flag}");
    }
    let summary_step = steps
        .iter()
        .find(|s| str_of(&s["run"]).contains("$GITHUB_STEP_SUMMARY"))
        .expect("the summary goes to the job summary");
    assert_eq!(str_of(&summary_step["if"]), "always()");
    assert!(str_of(&summary_step["run"]).contains("summary.md"));
    let upload = steps
        .iter()
        .find(|s| str_of(&s["uses"]).starts_with("actions/upload-artifact"))
        .expect("an upload step");
    assert_eq!(str_of(&upload["if"]), "always()");
    assert!(steps.iter().all(|s| s["continue-on-error"].is_null()));
    let inputs = action["inputs"].as_mapping().expect("inputs");

    let example = load("github-action.yml");
    let steps = example["jobs"]["conformance"]["steps"]
        .as_sequence()
        .expect("steps");
    let used = steps
        .iter()
        .find(|s| str_of(&s["uses"]).ends_with("edgecheck"))
        .expect("a step that uses the action");
    let with = used["with"].as_mapping().expect("inputs given");
    for (k, _) in with {
        assert!(inputs.contains_key(k), "the action has no input {k:?}");
    }
    let args = str_of(&with[&Value::from("args")]);
    let mut words_of_run = vec!["edgecheck".to_string(), "run".to_string()];
    words_of_run.extend(words(&args));
    words_of_run.extend(["--server".into(), str_of(&with[&Value::from("server")])]);
    if let Err(e) = Cli::try_parse_from(&words_of_run) {
        panic!("the example's args are not accepted: {e}");
    }
    let scripts: Vec<String> = steps.iter().map(|s| str_of(&s["run"])).collect();
    assert!(
        scripts.iter().any(|s| s.contains("edge-server")),
        "no server is started"
    );
}
