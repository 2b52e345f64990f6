//! The kill matrix in CI: every fault of the reference server's fault-injection harness is
//! killed by at least one check linked to the rule it breaks, the fault-free server passes
//! every check, and a sample of faults also gets a run of every check.
//!
//! A survivor fails the test with the reason; fix it by adding the missing check, never by
//! loosening this test. The full matrix (every check against every fault) is
//! `cargo run --release --features selftest -- selftest --full --markdown docs/kill-matrix.md`.

use edgecheck::profiles::edge_v1;
use std::collections::BTreeSet;
use std::time::Duration;

use edge_reference_server::faults::Fault;
use edge_reference_server::{Config, Server, Tls};
use edgecheck::profiles::edge_v1::cases;
use edgecheck::profiles::edge_v1::selftest::{
    self, is_idle_fault, FaultSpec, Mode, RunOptions, Servers, Target, IDLE_HEAD_TIMEOUT, IDLE_WAIT,
};
use edgecheck::profiles::edge_v1::sign::KeyPool;
use edgecheck::profiles::edge_v1::target::EMBEDDED_PAGE_SIZE;

/// Faults that get a run of every check in CI (spread over the list).
const FULL_SAMPLE: usize = 3;

/// Messages queued per connection: B-QUOTA (MAY) is observable only on a server with a cap
/// (the same as `edgecheck selftest`'s servers).
const QUEUE_CAP: usize = 100;

/// In-process plain-HTTP reference servers, each with at most one fault.
struct Reference {
    faults: Vec<Fault>,
}

impl Servers for Reference {
    type Running = Server;
    type Error = String;

    async fn start(&self, fault: Option<usize>) -> Result<(Target, Server), String> {
        let faults = fault.map(|i| vec![self.faults[i]]).unwrap_or_default();
        // Idle connections matter only to these faults: the others keep the usual deadline.
        let idle = faults.iter().any(|f| is_idle_fault(f.name()));
        let server = edge_reference_server::start(Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            page_size: EMBEDDED_PAGE_SIZE,
            queue_cap: Some(QUEUE_CAP),
            tls: Tls::Plain,
            faults: faults.clone(),
            head_timeout: if idle {
                IDLE_HEAD_TIMEOUT
            } else {
                Config::default().head_timeout
            },
            ..Config::default()
        })
        .await
        .map_err(|e| format!("cannot start the reference server: {e}"))?;
        let ce = url::Url::parse(&server.create_url()).map_err(|e| e.to_string())?;
        Ok((
            Target {
                ce,
                page_size: Some(EMBEDDED_PAGE_SIZE),
                idle_wait: idle.then_some(IDLE_WAIT),
            },
            server,
        ))
    }

    async fn stop(&self, running: Server) {
        running.shutdown().await;
    }
}

fn spec(f: Fault) -> FaultSpec {
    FaultSpec {
        name: f.name().into(),
        rule: f.rule().into(),
        description: f.description().into(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn run(faults: &[Fault], mode: Mode, baseline: bool) -> selftest::Matrix {
    let files = cases::builtin().expect("the built-in cases load");
    let pool = KeyPool::builtin().expect("the key pool loads");
    let specs: Vec<FaultSpec> = faults.iter().copied().map(spec).collect();
    let servers = Reference {
        faults: faults.to_vec(),
    };
    let options = RunOptions {
        mode,
        jobs: 2,
        timeout: Duration::from_secs(10),
        baseline,
    };
    runtime().block_on(selftest::run_matrix(
        &servers,
        &specs,
        &files,
        pool,
        &options,
        &|_| {},
    ))
}

#[test]
fn the_harness_has_at_least_fifty_faults_each_naming_a_catalogued_rule() {
    let reqs = edge_v1::catalogue();
    assert!(Fault::ALL.len() >= 50, "only {} faults", Fault::ALL.len());
    let mut names = BTreeSet::new();
    for f in Fault::ALL {
        assert!(names.insert(f.name()), "duplicate fault name {}", f.name());
        assert!(
            reqs.get(f.rule()).is_some(),
            "fault {} names {}, which is not in conformance/edge-v1/requirements.json",
            f.name(),
            f.rule()
        );
    }
    // Every rule family of the binding that a client can test has a fault.
    let rules: BTreeSet<&str> = Fault::ALL.iter().map(|f| f.rule()).collect();
    for needed in [
        "B-SIG-ALG",
        "B-SIG-INPUT",
        "B-SIG-HDR",
        "B-SIG-NEWKEY",
        "S-CREATE-SIGN",
        "S-G-OPEN",
        "S-G-SIGNED-ONLY",
        "S-G-KEYS",
        "S-RUPD-OLDKEY",
        "S-SUPD-OLDKEY",
        "S-RUPD-OLDURI",
        "S-SUPD-OLDURI",
        "S-PRIV-NOHIST-KEYS",
        "S-GEN-400",
        "B-CT-400",
        "S-GEN-404",
        "B-METHOD",
        "S-RETR-PAGE",
        "S-RETR-NEXT",
        "S-RETR-REMOVE",
        "S-DELM-200",
        "B-SEND-DISABLED",
        "B-SEND-ATOMIC",
        "B-RUPD-ATOMIC",
        "S-URI-GEN",
        "B-MID-FMT",
        "B-NO-5XX",
        "B-CONCURRENT",
        "B-ENC-B64",
        "B-KEY-FMT",
        "S-CRYPTO-PSS",
        "S-HDR-JSON",
        "S-EP-MSG",
        "S-EP-NOMOD",
        "B-ORDER",
        "S-CREATE-ALT",
        "B-RUPD-BODY",
        "S-SUPD-200",
        "S-RUPD-PERM",
        "S-PRIV-URI",
    ] {
        assert!(rules.contains(needed), "no fault breaks {needed}");
    }
}

#[test]
fn every_fault_is_killed_by_a_check_linked_to_its_rule() {
    let m = run(Fault::ALL, Mode::Linked, false);
    let text = selftest::text(&m);
    println!("{text}");
    assert_eq!(m.rows.len(), Fault::ALL.len());
    let survivors: Vec<String> = m
        .survivors()
        .iter()
        .map(|r| {
            format!(
                "{} ({}): {}",
                r.fault.name,
                r.fault.rule,
                r.survival_reason().unwrap_or_default()
            )
        })
        .collect();
    assert!(
        survivors.is_empty(),
        "{} of {} faults survived:\n{}",
        survivors.len(),
        m.rows.len(),
        survivors.join("\n")
    );
}

#[test]
fn the_fault_free_server_passes_every_check() {
    let m = run(&[], Mode::Full, true);
    let baseline = m.baseline.as_ref().expect("a fault-free run");
    assert_eq!(baseline.setup_error, None);
    assert!(baseline.ran > 0, "no check ran");
    let problems: Vec<String> = m
        .baseline_problems()
        .iter()
        .map(|o| format!("{} {}: {}", o.id, o.verdict.as_str(), o.message))
        .collect();
    assert!(
        problems.is_empty(),
        "checks that did not pass against the fault-free server:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_sample_of_faults_is_killed_in_a_run_of_every_check() {
    let sample: Vec<Fault> = selftest::sample(Fault::ALL, FULL_SAMPLE)
        .into_iter()
        .copied()
        .collect();
    let m = run(&sample, Mode::Full, false);
    println!("{}", selftest::text(&m));
    for r in &m.rows {
        assert!(r.ran > r.linked, "{}: every check ran", r.fault.name);
        assert!(
            r.killed(),
            "{} ({}) survived a full run: {}",
            r.fault.name,
            r.fault.rule,
            r.survival_reason().unwrap_or_default()
        );
    }
}

/// Rules a fault really breaks besides its own, as its consequences show in the reports
/// (reviewed one by one): accepting a bad signature on create also accepts one of the wrong
/// algorithm; an old key or URI that still works keeps history (S-PRIV-NOHIST-KEYS); an
/// update that should have been refused and was applied is not atomic (B-RUPD-ATOMIC); a 500
/// is B-NO-5XX; a retrieval from another connection crosses isolation; a skipped check
/// changes which error wins (B-ORDER); a send or retrieval that the fault makes fail or return
/// the wrong messages breaks that endpoint's own rule. A fault that does what a narrower fault
/// does breaks that fault's rule too: accepting PKCS#1 v1.5 everywhere also accepts it on the
/// sender endpoints (S-CRYPTO-PSS); create accepting any signature also accepts a base64url or
/// unpadded token (B-ENC-B64: → 401 in the Authorization header); accepting unsigned sends once
/// SK is set also accepts them on a connection created with `sender` (S-CREATE-ALT: unsigned
/// sends → 401). Serving DELETE on SU/messages answers a method the binding does not define
/// there with something other than 404 or 405 (B-METHOD).
const ALSO_BREAKS: &[(&str, &[&str])] = &[
    (
        "delete-messages-crosses-connections",
        &[
            "S-DELM-200",
            "S-DELM-400",
            "S-RETR-200",
            "S-RETR-PAGE",
            "S-RETR-NEXT",
        ],
    ),
    (
        "create-no-sig-check",
        &["B-SIG-ALG", "B-SIG-INPUT", "B-SIG-HDR", "B-ENC-B64"],
    ),
    ("accept-pkcs1v15", &["S-CRYPTO-PSS"]),
    ("newkey-sig-optional", &["B-RUPD-ATOMIC"]),
    ("newkey-sig-unchecked", &["B-RUPD-ATOMIC"]),
    (
        "unsigned-send-after-secure",
        &["B-SIG-NEWKEY", "S-G-OPEN", "S-RUPD-OLDKEY", "S-CREATE-ALT"],
    ),
    (
        "old-rk-alive",
        &["B-SIG-NEWKEY", "S-RUPD-OLDURI", "S-PRIV-NOHIST-KEYS"],
    ),
    (
        "old-sk-alive-recipient-change",
        &["S-SUPD-OLDKEY", "S-PRIV-NOHIST-KEYS"],
    ),
    (
        "old-sk-alive-sender-change",
        &["B-SIG-NEWKEY", "S-SUPD-OLDURI", "S-PRIV-NOHIST-KEYS"],
    ),
    ("old-ru-alive", &["S-PRIV-NOHIST-KEYS"]),
    (
        "old-su-alive-recipient-change",
        &["S-SUPD-OLDURI", "S-PRIV-NOHIST-KEYS"],
    ),
    ("old-su-alive-sender-change", &["S-PRIV-NOHIST-KEYS"]),
    (
        "third-su-rotation-revives-first",
        &["S-RUPD-OLDURI", "S-SUPD-OLDURI"],
    ),
    ("second-rk-rotation-revives-first", &["S-RUPD-OLDKEY"]),
    (
        "unknown-property-accepted",
        &["S-EP-NOMOD", "B-NO-5XX", "B-RUPD-ATOMIC"],
    ),
    ("message-extra-property-accepted", &["B-SEND-ATOMIC"]),
    ("sender-deletes-messages", &["B-METHOD"]),
    ("content-type-ignored", &["B-ORDER"]),
    ("cid-format-lax", &["B-NO-5XX"]),
    ("msg-not-base64-accepted", &["B-SEND-ATOMIC"]),
    (
        "cid-mismatch-ignored",
        &["B-ORDER", "B-RUPD-ATOMIC", "B-ISOLATION"],
    ),
    ("oversize-500", &["B-NO-5XX"]),
    ("from-unknown-empty", &["B-NO-5XX", "B-ISOLATION"]),
    ("from-other-connection-accepted", &["B-ISOLATION"]),
    ("delm-unknown-from-ok", &["B-ISOLATION"]),
    ("disable-update-ignored", &["S-SEND-200"]),
    ("deleted-cid-remembered", &["S-CREATE-201"]),
    ("create-sender-ignored", &["S-RUPD-200", "S-SUPD-200"]),
    (
        "retrieve-never-removes",
        &[
            "S-RETR-200",
            "S-RETR-PAGE",
            "S-RETR-NEXT",
            "B-CONCURRENT",
            "S-PRIV-NOHIST-MSG",
        ],
    ),
];

/// Faults whose report blames a related rule in place of the fault's own: the check names the
/// rule of what it observed (a key hash inside a URI is S-URI-GEN as well as S-PRIV-URI; a key of
/// the wrong algorithm refused with 401 for its signature instead of 400; messages of another
/// connection gone show as a short retrieval, S-RETR-PAGE).
const BLAMED_INSTEAD: &[(&str, &[&str])] = &[
    ("su-contains-key-sha1", &["S-URI-GEN"]),
    ("key-algorithm-unchecked", &["B-KEY-SIZE"]),
    (
        "delete-messages-crosses-connections",
        &["S-RETR-PAGE", "S-DELM-200"],
    ),
];

/// Rules a fault's report may blame although the fault does not break them: a set-up step of
/// a check about another rule failed and named that check's rule (which check stops first can
/// vary from run to run). Known and listed so that a new misattribution fails this test.
/// `delete-messages-crosses-connections` empties the connections of the check running beside
/// it at any step: a `fromMessageID` it had kept then vanishes (S-RETR-REMOVE).
const MISATTRIBUTED: &[(&str, &[&str])] = &[(
    "delete-messages-crosses-connections",
    &["S-G-OPEN", "S-CID-404", "S-RETR-400", "S-RETR-REMOVE"],
)];

/// Faults whose report blames their rule and only what they really break, at least (measured:
/// 115 of 118; one fewer allowed below for the fault whose blame varies).
const TRUTHFUL: usize = 113;

#[test]
fn every_fault_report_blames_its_rule_and_what_it_really_breaks() {
    let m = run(Fault::ALL, Mode::Linked, false);
    println!("{}", selftest::blame_summary(&m));
    let listed = |table: &[(&str, &[&str])], fault: &str| -> Vec<String> {
        table
            .iter()
            .filter(|(f, _)| *f == fault)
            .flat_map(|(_, rules)| rules.iter().map(|r| r.to_string()))
            .collect()
    };
    let mut problems = Vec::new();
    let mut truthful = 0;
    for r in &m.rows {
        let also = listed(ALSO_BREAKS, &r.fault.name);
        let instead = listed(BLAMED_INSTEAD, &r.fault.name);
        let wrong = listed(MISATTRIBUTED, &r.fault.name);
        let blamed: Vec<&str> = r.blamed_elsewhere();
        for b in &blamed {
            if ![&also, &instead, &wrong]
                .iter()
                .any(|t| t.iter().any(|a| a == b))
            {
                problems.push(format!(
                    "{} ({}) now also blames {b}",
                    r.fault.name, r.fault.rule
                ));
            }
        }
        let own = r.fail_rules.contains(&r.fault.rule);
        if !own && instead.is_empty() {
            problems.push(format!(
                "{}: its own rule {} is not blamed (and it is not in BLAMED_INSTEAD)",
                r.fault.name, r.fault.rule
            ));
        }
        if own && blamed.iter().all(|b| also.iter().any(|a| a == b)) {
            truthful += 1;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    println!(
        "{truthful} of {} faults' reports blame their rule and only what it really breaks",
        m.rows.len()
    );
    // A new misattribution or a lost own rule fails above, a drop in the figure here.
    assert!(truthful >= TRUTHFUL, "{truthful} of {}", m.rows.len());
}
