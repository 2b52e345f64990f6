//! `edgecheck race --profile tassis-v2` against in-process reference servers: it finds the
//! concurrency faults (prekey-race: T-PK-ONCE; cumulative-ack and competing-consumers in
//! the messages scenario) and nothing on the fault-free server.

use std::time::{Duration, Instant};

use edge_reference_server::tassis_v2::{faults::Fault, start, TassisConfig};
use edge_reference_server::Tls;
use edgecheck::profiles::tassis_v2::race::{campaign, Plan, Report};
use edgecheck::profiles::tassis_v2::{open_target, EMBEDDED_PREKEYS};
use edgecheck::profiles::{Outcome, RaceOptions, TargetOptions, DEFAULT_MAX_BODY, DEFAULT_TIMEOUT};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn options(rounds: usize, duration: Option<Duration>, seed: u64) -> RaceOptions {
    RaceOptions {
        senders: 4,
        receivers: 2,
        ops: 25,
        connections: 1,
        rotations: 6,
        page: 3,
        rounds,
        duration,
        seed,
        history: None,
    }
}

fn target(url: String) -> TargetOptions {
    TargetOptions {
        servers: vec![url],
        allow_http: true,
        timeout: DEFAULT_TIMEOUT,
        max_body: DEFAULT_MAX_BODY,
        ..TargetOptions::default()
    }
}

/// A campaign against a fresh reference server with `fault`.
fn against(fault: Option<Fault>, opts: &RaceOptions) -> Report {
    let rt = runtime();
    rt.block_on(async {
        let server = start(TassisConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Tls::Plain,
            prekeys_low: EMBEDDED_PREKEYS.0,
            prekeys_interval: EMBEDDED_PREKEYS.1,
            faults: fault.into_iter().collect(),
            ..TassisConfig::default()
        })
        .await
        .expect("the reference server starts");
        let opened = open_target(&target(server.url()))
            .await
            .expect("the target opens");
        let report = campaign(
            &opened.env,
            Plan::of(opts),
            opts.seed,
            opts.rounds,
            opts.duration,
        )
        .await;
        opened.close().await;
        server.shutdown().await;
        report
    })
}

fn rules(r: &Report) -> Vec<&'static str> {
    r.failed
        .iter()
        .flat_map(|f| f.violations.iter().map(|v| v.rule))
        .collect()
}

fn finds(fault: Fault, want: &[&str]) {
    let t = Instant::now();
    let r = against(Some(fault), &options(3, None, 7));
    assert!(r.error.is_none(), "{fault}: {:?}", r.error);
    let got = rules(&r);
    assert!(
        got.iter().any(|g| want.contains(g)),
        "{fault}: wanted one of {want:?}, found {got:?} in {} rounds",
        r.rounds
    );
    let f = r.failed.as_ref().unwrap();
    for v in &f.violations {
        assert!(!v.events.is_empty() && v.events.len() <= 12, "{v:?}");
    }
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
}

#[test]
fn finds_prekey_race() {
    finds(Fault::PrekeyRace, &["T-PK-ONCE"]);
}

#[test]
fn finds_prekey_handed_twice() {
    finds(Fault::PrekeyHandedTwice, &["T-PK-ONCE"]);
}

#[test]
fn finds_cumulative_ack() {
    finds(Fault::CumulativeAck, &["T-REDELIVER"]);
}

#[test]
fn finds_competing_consumers() {
    finds(Fault::CompetingConsumers, &["T-FANOUT", "T-ORDER"]);
}

#[test]
fn finds_order_reversed() {
    finds(Fault::OrderReversed, &["T-ORDER"]);
}

#[test]
fn finds_acked_redelivered() {
    finds(Fault::AckedRedelivered, &["T-ACK-DONE"]);
}

#[test]
fn finds_nothing_on_the_correct_server() {
    let t = Instant::now();
    let r = against(None, &options(3, None, 11));
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(
        r.failed.is_none(),
        "{:?}",
        r.failed.as_ref().map(|f| &f.violations)
    );
    assert_eq!(r.rounds, 3);
    assert!(r.sends > 0 && r.requests > 0 && r.deliveries > 0);
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
}

/// The command itself, with `--history`.
#[test]
fn the_command_writes_its_history() {
    let rt = runtime();
    let server = rt
        .block_on(start(TassisConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Tls::Plain,
            ..TassisConfig::default()
        }))
        .unwrap();
    let dir = std::env::temp_dir().join(format!("tassis-race-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("history.json");
    let mut opts = options(1, None, 3);
    opts.history = Some(path.clone());
    let outcome = edgecheck::profiles::tassis_v2::race::race(&target(server.url()), &opts).unwrap();
    rt.block_on(server.shutdown());
    assert!(matches!(outcome, Outcome::Clean));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"scenario\": \"messages\"") && text.contains("\"op\": \"deliver\""));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two minutes against the correct server (`cargo test --test tassis_race -- --ignored`).
#[test]
#[ignore]
fn two_minutes_clean() {
    let r = against(None, &options(1, Some(Duration::from_secs(120)), 1));
    println!(
        "{} rounds, {} events, {} prekey requests, {} sends, {} deliveries, {} sessions in {:.1} s",
        r.rounds,
        r.events,
        r.requests,
        r.sends,
        r.deliveries,
        r.sessions,
        r.elapsed.as_secs_f64()
    );
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(
        r.failed.is_none(),
        "{:?}",
        r.failed.as_ref().map(|f| &f.violations)
    );
}
