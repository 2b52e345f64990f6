//! `race --profile simplex-v5` finds a message pushed twice when the backlog of a new
//! subscription overlaps live sends (`double-push`), a backlog pushed newest first, a second
//! secure that replaces the key (`second-secure-replaces`), pushes after an unsubscribe
//! answered ok true and a subscription that does not push the backlog again (both in the
//! churn part), within a few rounds; on the correct server it finds nothing.

use std::time::{Duration, Instant};

use edge_reference_server::simplex_v5::faults::Fault;
use edge_reference_server::simplex_v5::{start, SimplexConfig, SimplexServer};
use edge_reference_server::Tls;
use edgecheck::profiles::simplex_v5::open_target;
use edgecheck::profiles::simplex_v5::race::{self, check, RaceReport, Shape};
use edgecheck::profiles::{TargetOptions, DEFAULT_MAX_BODY, DEFAULT_TIMEOUT};

const PAGE_SIZE: usize = 4;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn server(fault: Option<Fault>) -> SimplexServer {
    start(SimplexConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        page_size: PAGE_SIZE,
        faults: fault.into_iter().collect(),
        ..SimplexConfig::default()
    })
    .await
    .expect("the reference server starts")
}

const SHAPE: Shape = Shape {
    senders: 3,
    messages: 8,
    sessions: 2,
    secures: 3,
    page_size: PAGE_SIZE,
};

fn campaign(fault: Option<Fault>, rounds: usize, duration: Option<Duration>) -> RaceReport {
    let started = Instant::now();
    let rt = runtime();
    let srv = rt.block_on(server(fault));
    let opts = TargetOptions {
        servers: vec![srv.create_url()],
        allow_http: true,
        timeout: DEFAULT_TIMEOUT,
        max_body: DEFAULT_MAX_BODY,
        page_size: Some(PAGE_SIZE as u64),
        ..TargetOptions::default()
    };
    let opened = rt.block_on(open_target(&opts)).expect("the target opens");
    let report = rt.block_on(race::campaign(&opened.env, SHAPE, 1, rounds, duration));
    rt.block_on(opened.close());
    rt.block_on(srv.shutdown());
    eprintln!(
        "{}: {} rounds, {} events ({} sends, {} pushes, {} pages) in {:.1} s",
        fault.map_or("correct server".to_string(), |f| f.to_string()),
        report.rounds,
        report.events,
        report.sends,
        report.pushes,
        report.pages,
        started.elapsed().as_secs_f64()
    );
    assert!(report.error.is_none(), "{:?}", report.error);
    report
}

fn finds(fault: Fault, rule: &str) {
    let report = campaign(Some(fault), 3, None);
    let f = report
        .failed
        .unwrap_or_else(|| panic!("{fault}: nothing found in {} rounds", report.rounds));
    for v in &f.violations {
        eprintln!("{}: {}\n{}", v.rule, v.what, check::slice(&f.history, v));
    }
    let v = f
        .violations
        .iter()
        .find(|v| v.rule == rule)
        .unwrap_or_else(|| panic!("{fault}: no {rule} among {:?}", f.violations));
    assert!(!v.events.is_empty() && v.events.len() <= 6, "{v:?}");
}

#[test]
fn finds_a_message_pushed_twice() {
    finds(Fault::DoublePush, "V-WS-ORDER");
}

#[test]
fn finds_a_second_secure_that_replaces_the_key() {
    finds(Fault::SecondSecureReplaces, "V-SECURE");
}

#[test]
fn finds_a_backlog_pushed_in_reverse() {
    finds(Fault::BacklogReversed, "V-WS-ORDER");
}

#[test]
fn finds_a_push_after_unsubscribe() {
    finds(Fault::PushAfterUnsubscribe, "V-WS-UNSUB");
}

#[test]
fn finds_a_backlog_not_pushed_again() {
    finds(Fault::BacklogNotPushed, "VB-WS-BACKLOG");
}

#[test]
fn the_correct_server_gives_no_violation() {
    let report = campaign(None, 3, None);
    if let Some(f) = &report.failed {
        for v in &f.violations {
            eprintln!("{}: {}\n{}", v.rule, v.what, check::slice(&f.history, v));
        }
        panic!("violations on the correct server");
    }
    assert!(report.pushes >= 3 * 2 * 29, "only {} pushes", report.pushes);
}

/// Two minutes against the correct server:
/// `cargo test --release --test simplex_race -- --ignored --nocapture`.
#[test]
#[ignore]
fn the_correct_server_gives_no_violation_in_two_minutes() {
    let report = campaign(None, 1, Some(Duration::from_secs(120)));
    assert!(
        report.failed.is_none(),
        "{:?}",
        report.failed.map(|f| f.violations)
    );
}
