//! `edgecheck race` against the reference server: the correct server shows no violation;
//! servers with a concurrency, rotation or disable fault are caught, and the violation comes
//! with the few operations that show it.

mod support;

use std::time::Duration;

use edgecheck::client::{Client, ClientOptions};
use edgecheck::profiles::edge_v1::race::{self, history::Action, Env, RaceOptions, Shape};
use edgecheck::profiles::edge_v1::sign::KeyPool;
use support::reference::server;

fn env(server: &edge_reference_server::Server) -> Env {
    Env {
        client: Client::new(&ClientOptions {
            timeout: Duration::from_secs(10),
            ..ClientOptions::default()
        })
        .unwrap(),
        pool: KeyPool::builtin().unwrap(),
        ce: server.create_url().parse().unwrap(),
    }
}

fn options(rounds: usize, rotations: usize) -> RaceOptions {
    RaceOptions {
        shape: Shape {
            senders: 4,
            retrievers: 3,
            ops: 20,
            connections: 1,
            rotations,
            page: 3,
        },
        seed: 7,
        rounds,
        duration: None,
    }
}

/// Run a campaign against a server with `fault` and return the first violation's rule, what
/// it says and its rendered slice.
fn first_violation(fault: &str, opts: RaceOptions) -> (String, String, String, usize) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bad = rt.block_on(server(&[fault]));
    let report = rt.block_on(race::campaign(&env(&bad), &opts));
    assert!(report.error.is_none(), "{fault}: {:?}", report.error);
    let f = report
        .failed
        .unwrap_or_else(|| panic!("{fault}: no violation in {} rounds", report.rounds));
    let v = &f.violations[0];
    let shown = race::render(&f.round.history, &v.ops, &f.round.nonce);
    (v.rule.clone(), v.what.clone(), shown, v.ops.len())
}

#[test]
fn the_correct_server_shows_no_violation_under_rotations_and_disables() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let good = rt.block_on(server(&[]));
    let mut opts = options(4, 10);
    opts.shape.connections = 2;
    let report = rt.block_on(race::campaign(&env(&good), &opts));
    assert!(report.error.is_none(), "{:?}", report.error);
    if let Some(f) = &report.failed {
        let v = &f.violations[0];
        panic!(
            "{}: {}\n{}",
            v.rule,
            v.what,
            race::render(&f.round.history, &v.ops, &f.round.nonce)
        );
    }
    assert_eq!(report.rounds, 4);
    assert!(report.sends >= 4 * 4 * 20, "{report:?}");
    // The history really had rotations, and requests refused with replaced credentials.
    let h = &report.last.as_ref().unwrap().history;
    let updates = h
        .iter()
        .filter(|op| matches!(op.action, Action::Update { .. }) && op.outcome.succeeded())
        .count();
    assert!(updates >= 10, "only {updates} successful updates");
    assert!(h
        .iter()
        .any(|op| op.actor == "prober" && op.outcome.refused()));
}

#[test]
fn a_non_atomic_retrieve_is_found_as_a_duplicate_with_its_history_slice() {
    let (rule, what, shown, ops) = first_violation("retrieve-not-atomic", options(10, 0));
    assert_eq!(rule, "B-CONCURRENT", "{what}\n{shown}");
    // Two retrievals overlap on two cores; on more, all three retrievers may.
    let times = (2..=3)
        .find(|n| what.contains(&format!("retrieved {n} times")))
        .unwrap_or_else(|| panic!("{what}\n{shown}"));
    // The send and the retrievals that returned the message, nothing else.
    assert_eq!(ops, times + 1, "{shown}");
    assert_eq!(shown.matches("retrieve pageSize").count(), times, "{shown}");
    assert_eq!(shown.matches(": send [").count(), 1, "{shown}");
}

#[test]
fn an_old_recipient_key_alive_after_rotation_is_found() {
    let (rule, what, shown, ops) = first_violation("old-rk-alive", options(10, 12));
    assert_eq!(rule, "S-RUPD-OLDKEY", "{what}\n{shown}");
    assert_eq!(ops, 2, "{shown}");
    assert!(shown.contains("replace RK"), "{shown}");
}

#[test]
fn a_disable_that_is_ignored_is_found() {
    let (rule, what, shown, _) = first_violation("disable-update-ignored", options(10, 12));
    assert_eq!(rule, "B-SEND-DISABLED", "{what}\n{shown}");
    assert!(shown.contains("disable"), "{shown}");
}
