//! `edgecheck.toml` (named option sets for `run`, found from the current directory upward)
//! and `--duration` parsing.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use clap::Parser;
use edgecheck::cli::config::{self, Config, ConfigError};
use edgecheck::cli::{args_with_config, parse_duration, Cli, Command as Sub, LevelArg, RunArgs};

const CONFIG: &str = r#"
[default]
level = "must"
only = ["create", "signatures"]
timeout = 3
baseline = "known.json"

[set.ci]
server = "https://127.0.0.1:8443/connection"
page-size = 50
insecure = true
allow-origin = ["https://a.example", "https://b.example"]

[set.local]
allow-http = true
"#;

/// A directory that is the top of a repository (holds `.git`), with `CONFIG` in it.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join(config::FILE_NAME), CONFIG).unwrap();
    dir
}

fn argv(words: &[&str]) -> Vec<OsString> {
    words.iter().map(OsString::from).collect()
}

/// The `run` options after the file is applied.
fn run_args(words: &[&str], cwd: &Path) -> RunArgs {
    let args = args_with_config(argv(words), cwd).expect("config applies");
    match Cli::try_parse_from(&args).expect("parses").command {
        Some(Sub::Run(a)) => a,
        Some(Sub::Replay(r)) => r.run,
        other => panic!("not a run: {other:?}"),
    }
}

#[test]
fn parses_default_and_sets() {
    let c = Config::parse(CONFIG, Path::new("/x/edgecheck.toml")).unwrap();
    assert_eq!(c.set_names(), ["ci", "local"]);
    let (t, label) = c.resolve(Some("ci")).unwrap();
    assert_eq!(label, "set.ci");
    assert_eq!(t["level"].as_str(), Some("must"), "from [default]");
    assert_eq!(t["page-size"].as_integer(), Some(50));
    let e = c.resolve(Some("nightly")).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("/x/edgecheck.toml")
            && msg.contains("[set.nightly]")
            && msg.contains("ci, local"),
        "{msg}"
    );
}

#[test]
fn the_default_set_applies_without_flags() {
    let dir = repo();
    let a = run_args(&["edgecheck", "run"], dir.path());
    assert_eq!(a.level, LevelArg::Must);
    assert_eq!(a.only, ["create", "signatures"]);
    assert_eq!(a.target.timeout, 3.0);
    assert!(a.target.servers.is_empty() && !a.target.insecure);
    // Relative paths are relative to the file's directory.
    assert_eq!(a.baseline.unwrap(), dir.path().join("known.json"));
    // No subcommand runs, with the file applied too.
    let a = run_args(&["edgecheck"], dir.path());
    assert_eq!(a.level, LevelArg::Must);
}

#[test]
fn a_named_set_goes_over_default_and_flags_go_over_both() {
    let dir = repo();
    let a = run_args(&["edgecheck", "run", "--config-set", "ci"], dir.path());
    assert_eq!(a.target.servers, ["https://127.0.0.1:8443/connection"]);
    assert_eq!(a.target.page_size, Some(50));
    assert!(a.target.insecure);
    assert_eq!(
        a.target.allow_origins,
        ["https://a.example", "https://b.example"]
    );
    assert_eq!(a.level, LevelArg::Must);
    let a = run_args(
        &[
            "edgecheck",
            "run",
            "--config-set",
            "ci",
            "--level",
            "should",
            "--only",
            "retrieve",
            "--page-size",
            "7",
            "--timeout",
            "9",
        ],
        dir.path(),
    );
    assert_eq!(a.level, LevelArg::Should);
    assert_eq!(
        a.only,
        ["retrieve"],
        "a list on the command line replaces the file's"
    );
    assert_eq!(a.target.page_size, Some(7));
    assert_eq!(a.target.timeout, 9.0);
    assert_eq!(a.target.servers, ["https://127.0.0.1:8443/connection"]);
    // replay takes the same options, its files stay positional.
    let a = run_args(
        &["edgecheck", "replay", "case.json", "--config-set", "local"],
        dir.path(),
    );
    assert!(a.target.allow_http);
    // Other commands are left alone.
    let args = argv(&["edgecheck", "cases"]);
    assert_eq!(args_with_config(args.clone(), dir.path()).unwrap(), args);
}

#[test]
fn an_explicit_file_and_an_unknown_set() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "[set.x]\njobs = 3\n").unwrap();
    let path = other.to_str().unwrap();
    let a = run_args(
        &["edgecheck", "run", "--config", path, "--config-set", "x"],
        dir.path(),
    );
    assert_eq!(a.jobs, Some(3));
    let e =
        args_with_config(argv(&["edgecheck", "run", "--config-set", "x"]), dir.path()).unwrap_err();
    assert!(matches!(e, ConfigError::NoFile { .. }), "{e}");
}

#[test]
fn unknown_keys_and_bad_values_name_the_key_and_the_file() {
    let p = Path::new("conf/edgecheck.toml");
    let e = Config::parse("[set.ci]\nservr = \"x\"\n", p).unwrap_err();
    assert!(matches!(&e, ConfigError::UnknownKey { key, .. } if key == "servr"));
    let msg = e.to_string();
    assert!(
        msg.contains("`servr`") && msg.contains("conf/edgecheck.toml") && msg.contains("[set.ci]"),
        "{msg}"
    );
    let e = Config::parse("timeout = 3\n", p).unwrap_err();
    assert!(e.to_string().contains("`timeout`"), "{e}");
    let e = Config::parse("[default]\nconfig-set = \"x\"\n", p).unwrap_err();
    assert!(matches!(e, ConfigError::UnknownKey { .. }), "{e}");
    let e = Config::parse("[default]\ninsecure = \"yes\"\n", p).unwrap_err();
    assert!(e.to_string().contains("true or false"), "{e}");
    let e = Config::parse("[default]\nonly = [true]\n", p).unwrap_err();
    assert!(matches!(e, ConfigError::WrongType { .. }), "{e}");
    assert!(matches!(
        Config::parse("[default\n", p).unwrap_err(),
        ConfigError::Toml { .. }
    ));
    // A value the command line refuses is the file's error.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(
        dir.path().join("edgecheck.toml"),
        "[default]\npage-size = 0\n",
    )
    .unwrap();
    let e = args_with_config(argv(&["edgecheck", "run"]), dir.path()).unwrap_err();
    assert!(matches!(e, ConfigError::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("--page-size"), "{e}");
}

#[test]
fn the_binary_exits_2_on_an_unknown_key_and_reads_the_set_from_the_environment() {
    let dir = repo();
    let sub = dir.path().join("a/b");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(
        dir.path().join("edgecheck.toml"),
        "[set.ci]\nlevl = \"must\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgecheck"))
        .args(["run"])
        .current_dir(&sub)
        .env_remove("EDGECHECK_CONFIG_SET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`levl`") && err.contains("edgecheck.toml"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("edgecheck.toml"),
        "[set.ci]\nlevel = \"must\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgecheck"))
        .args(["run"])
        .current_dir(&sub)
        .env("EDGECHECK_CONFIG_SET", "nightly")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no [set.nightly]") && err.contains("its sets: ci"),
        "{err}"
    );
}

#[test]
fn the_search_goes_upward_and_stops_at_the_repository_top() {
    let dir = repo();
    let deep = dir.path().join("a/b/c");
    std::fs::create_dir_all(&deep).unwrap();
    let found = config::find(&deep).expect("found above");
    assert_eq!(found, dir.path().join("edgecheck.toml"));
    // A nested repository without its own file does not see the outer one.
    let inner = dir.path().join("vendor/inner");
    std::fs::create_dir_all(inner.join("src")).unwrap();
    std::fs::write(inner.join(".git"), "gitdir: elsewhere\n").unwrap();
    assert_eq!(config::find(&inner.join("src")), None);
    // Without a file, a run is left as it was.
    let args = argv(&["edgecheck", "run", "--level", "should"]);
    assert_eq!(args_with_config(args.clone(), &inner).unwrap(), args);
}

#[test]
fn the_documented_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ci/edgecheck.toml");
    let c = Config::read(&path).expect("docs/ci/edgecheck.toml parses");
    assert!(!c.set_names().is_empty());
    for name in c.set_names() {
        let words = [
            "edgecheck",
            "run",
            "--config",
            path.to_str().unwrap(),
            "--config-set",
            name,
        ];
        let args = args_with_config(argv(&words), Path::new("/")).expect(name);
        Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("set {name}: {e}"));
    }
}

#[test]
fn durations_in_human_units() {
    assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
    assert_eq!(parse_duration("10min").unwrap(), Duration::from_secs(600));
    assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
    assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
    assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
    assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
    let e = parse_duration("ten minutes").unwrap_err().to_string();
    assert!(
        e.contains("`ten minutes` is not a duration like 90s, 1m30s"),
        "{e}"
    );
    assert!(parse_duration("0s")
        .unwrap_err()
        .to_string()
        .contains("longer than zero"));
    assert!(parse_duration("200days").is_err());
    // And through the command line.
    let cli = Cli::try_parse_from(["edgecheck", "fuzz", "--duration", "1m30s"]).unwrap();
    match cli.command {
        Some(Sub::Fuzz(f)) => assert_eq!(f.duration, Duration::from_secs(90)),
        other => panic!("{other:?}"),
    }
    let e = Cli::try_parse_from(["edgecheck", "prop", "--duration", "soon"]).unwrap_err();
    assert!(e.to_string().contains("not a duration like"), "{e}");
}
