//! The audit of what a fuzzer blames on each fault of a reference server: a short campaign
//! per fault, its findings' rules against the fault's own, each finding under another rule
//! printed with its message. `FUZZ_BLAME_SECS` sets the seconds per fault (default 4),
//! `FUZZ_BLAME_ONLY` a comma-separated list of faults.

/// Run `campaign(fault, secs)` (the rule and message of each finding, or why the campaign
/// could not run) for every fault of `faults` and print the table.
pub fn blame_audit<F: Copy>(
    faults: &[F],
    name: fn(F) -> &'static str,
    rule: fn(F) -> &'static str,
    mut campaign: impl FnMut(F, u64) -> Result<Vec<(String, String)>, String>,
) {
    let secs: u64 = std::env::var("FUZZ_BLAME_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let only: Vec<String> = std::env::var("FUZZ_BLAME_ONLY")
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let (mut own, mut other) = (0, 0);
    for &fault in faults {
        let (name, rule) = (name(fault), rule(fault));
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let found = match campaign(fault, secs) {
            Ok(found) => found,
            Err(e) => {
                println!("{name:<36} {rule:<14} campaign error: {e}");
                continue;
            }
        };
        let found_own = found.iter().any(|(r, _)| r == rule);
        let others: Vec<&(String, String)> = found.iter().filter(|(r, _)| r != rule).collect();
        own += usize::from(found_own);
        other += usize::from(!others.is_empty());
        println!(
            "{name:<36} {rule:<14} {}",
            if found_own { "own" } else { "-" }
        );
        for (r, message) in others {
            println!("    {r}: {message}");
        }
    }
    println!("{own} faults found under their own rule; {other} blamed other rules too");
}
