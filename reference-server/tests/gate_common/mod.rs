//! What the gates of the mutation run share (`docs/mutants.md`): the suite's binary, named by
//! `EDGECHECK_BIN`, run as an outside program against a server of this crate; it passes only
//! when it exits 0 and no check failed, warned or erred.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A full `edgecheck run` takes a few seconds (tassis-v2 about 33); this only bounds a hung
/// mutant.
pub const RUN_LIMIT: Duration = Duration::from_secs(300);

/// The runtime the gate's servers run on: two workers, as on the CI machine.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The suite's binary, named by `EDGECHECK_BIN`.
pub fn suite_binary() -> PathBuf {
    let bin = std::env::var_os("EDGECHECK_BIN").expect(
        "set EDGECHECK_BIN to a built edgecheck binary \
         (cargo build --release --locked -p edgecheck; target/release/edgecheck)",
    );
    let bin = PathBuf::from(bin);
    assert!(
        bin.is_file(),
        "EDGECHECK_BIN={} is not a file",
        bin.display()
    );
    bin
}

/// The checks of a results file (docs/results-schema.md) whose verdict is `fail`, `warn` or
/// `error`, as `verdict id: message`.
pub fn not_passing(results: &str) -> Vec<String> {
    let results: serde_json::Value = serde_json::from_str(results).expect("results are JSON");
    let checks = results["checks"].as_array().expect("results have checks");
    assert!(!checks.is_empty(), "no check ran");
    checks
        .iter()
        .filter(|c| matches!(c["verdict"].as_str(), Some("fail" | "warn" | "error")))
        .map(|c| format!("{} {}: {}", c["verdict"], c["id"], c["message"]))
        .collect()
}

/// Runs the suite command `run` with `--json`, with output in files under `dir`: `Err`
/// with the reason unless it exits 0 and every check passed or was skipped.
pub fn run_suite(mut run: Command, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).unwrap();
    // Output goes to files: a pipe could fill up while the run is being waited for.
    let results_path = dir.join("results.json");
    let stdout_path = dir.join("stdout");
    let stderr_path = dir.join("stderr");
    let mut child = run
        .arg("--json")
        .arg(&results_path)
        .stdout(Stdio::from(std::fs::File::create(&stdout_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&stderr_path).unwrap()))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", run.get_program()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            return Err(format!("edgecheck did not finish within {RUN_LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = || {
        let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        format!("{}{}", read(&stdout_path), read(&stderr_path))
    };
    if !status.success() {
        return Err(format!("edgecheck exited with {status}:\n{}", output()));
    }
    let results = std::fs::read_to_string(&results_path).expect("edgecheck wrote its results");
    let problems = not_passing(&results);
    if !problems.is_empty() {
        return Err(format!(
            "checks that did not pass:\n{}",
            problems.join("\n")
        ));
    }
    Ok(())
}

/// Leaves a failed server's runtime and servers running until the process exits: a mutant
/// may spin on a worker thread holding a lock, and dropping the runtime would wait for it
/// forever, turning a caught mutant into a timeout.
pub fn abandon<S>(rt: tokio::runtime::Runtime, servers: S) {
    std::mem::forget(servers);
    std::mem::forget(rt);
}
