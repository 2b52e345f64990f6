//! `edgecheck fuzz --profile simplex-v5`: sessions of hostile REST requests and WebSocket
//! messages against one server, each judged as it comes (no 5xx, no hang, answers of the
//! right shape, no session dropped without a close frame), a liveness check after every
//! hostile input (the [`pulse`]: a retrieve on the session's own connection, and a fresh
//! create + send + retrieve when that fails), a canary connection whose messages must
//! survive unchanged, and findings deduplicated by rule and input shape, re-run for a
//! reproduction rate and written as case files that `edgecheck replay --profile simplex-v5
//! FILE` runs.
//!
//! Each worker runs one session at a time against a server of its own, so a server that
//! stops serving is blamed on the input just sent: against the embedded server, one worker
//! per core (`--jobs`), each with its own embedded server, restarted after a crash; against
//! `--server`, one worker, and a server that stops serving ends the campaign.

pub mod finding;
pub mod mutate;

use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;

pub use finding::{Finding, Raw};

use super::case::{Case, ExpectPushes, Level, Rest, Step, WsConnect, WsRequest};
use super::runner::{self, Ending, Env, Stepper};
use super::{open_target, Opened};
use crate::engine::{cores, runtime};
use crate::profiles::campaign::{Claim, Job, Opens, Shared, Tally, PROGRESS};
use crate::profiles::case_files::print_replay;
use crate::profiles::{FuzzOptions, Outcome, ProfileError, TargetOptions};

/// Counts of a campaign.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// HTTP requests and WebSocket messages sent (liveness and canary included).
    pub requests: usize,
    /// Hostile inputs sent.
    pub hostile: usize,
    /// Of those, WebSocket messages.
    pub ws: usize,
    /// Liveness checks run.
    pub alive_checks: usize,
}

/// What a campaign did and found.
pub type FuzzReport = crate::profiles::campaign::Report<Counts, Finding>;

impl FuzzReport {
    /// Requests and messages per second.
    pub fn rate(&self) -> f64 {
        self.per_second(self.counts.requests)
    }

    /// Hostile inputs per second.
    pub fn hostile_rate(&self) -> f64 {
        self.per_second(self.counts.hostile)
    }
}

/// `edgecheck fuzz --profile simplex-v5`.
pub fn fuzz(target: &TargetOptions, opts: &FuzzOptions) -> Result<Outcome, ProfileError> {
    if opts.write_corpus.is_some() {
        return Err(ProfileError::Usage(
            "--write-corpus grows the corpora of edge-v1's cargo-fuzz targets; simplex-v5 has none"
                .into(),
        ));
    }
    let rt = runtime(cores());
    let report = rt.block_on(campaign(target, opts))?;
    println!(
        "{} requests and messages in {:.1} s ({:.0}/s), {} hostile inputs ({} WebSocket, \
         {:.0}/s), {} worker(s), {} sessions, {} liveness checks, {} canary checks, \
         {} restart(s), {} finding(s)",
        report.counts.requests,
        report.elapsed.as_secs_f64(),
        report.rate(),
        report.counts.hostile,
        report.counts.ws,
        report.hostile_rate(),
        report.workers,
        report.sessions,
        report.counts.alive_checks,
        report.canary_checks,
        report.restarts,
        report.findings.len()
    );
    let flags = target.flags();
    for f in &report.findings {
        println!();
        println!("FINDING {}: {}", f.raw.rule, f.raw.message);
        let rate = if f.raw.steps.is_empty() {
            "not re-run (seen on the canary)".to_string()
        } else if f.tries == 0 {
            "not re-run (the server stopped serving and cannot be restarted)".to_string()
        } else {
            format!("reproduced {}/{}", f.reproduced, f.tries)
        };
        println!(
            "  input {} · seen {} time(s) · first after {:.1} s · {rate}",
            f.raw.shape,
            f.count,
            f.after.as_secs_f64()
        );
        if let Some(p) = &f.path {
            print_replay(p, super::NAME, &flags);
        }
    }
    report.outcome(report.counts.hostile, "input", |f| {
        crate::profiles::Finding::new(&f.raw.rule, &f.raw.message).with_file(f.path.as_deref())
    })
}

/// A case of no rule of its own, for running steps.
fn scratch(id: &str) -> Case {
    Case {
        id: id.into(),
        title: id.into(),
        requirements: Vec::new(),
        level: Level::Must,
        hostile: true,
        needs: Vec::new(),
        steps: Vec::new(),
    }
}

/// Liveness: a fresh create + send + retrieve works. `Err` says why not.
pub async fn alive(env: &Env) -> Result<(), String> {
    let mut c = scratch("fuzz/alive");
    let conn = Some("alive".to_string());
    c.steps = vec![
        Step::Create(Rest {
            conn: conn.clone(),
            ..Rest::default()
        }),
        Step::Send(Rest {
            conn: conn.clone(),
            msg: Some("a1".into()),
            ..Rest::default()
        }),
        Step::Retrieve(Rest {
            conn,
            ..Rest::default()
        }),
    ];
    c.requirements = vec!["B-NO-5XX".into()];
    match runner::run_case(env, &c).await.ending {
        Ending::Pass | Ending::Skip(_) | Ending::Waived(_) => Ok(()),
        Ending::Broken { broken, .. } => Err(format!(
            "{}: expected {}, got {}",
            broken.rule, broken.expected, broken.actual
        )),
        Ending::Error(e) => Err(e),
    }
}

/// The connection a session keeps for its [`pulse`]; the inputs name only [`mutate::CONN`].
const PULSE: &str = "pulse";

/// The steps of the pulse connection: its create (after the prelude), then a retrieve after
/// every input.
fn pulse_steps() -> (Step, Step) {
    let rest = Rest {
        conn: Some(PULSE.into()),
        ..Rest::default()
    };
    (Step::Create(rest.clone()), Step::Retrieve(rest))
}

/// How the liveness check after an input ended.
#[derive(Debug, PartialEq)]
enum Pulse {
    /// The server answered the pulse.
    Alive,
    /// The pulse failed (why), but a fresh connection worked: the server serves.
    OnlyItsConnection(String),
    /// The pulse failed and so did [`alive`] (why): the server stopped serving.
    Stopped(String),
}

/// The liveness check after an input: `retrieve` (of [`pulse_steps`]) on the session's pulse
/// connection, one signature where [`alive`] needs a new key and three. Only when the pulse
/// fails does `alive` decide, so the server is blamed exactly when it was before.
async fn pulse(env: &Env, st: &mut Stepper<'_>, retrieve: &Step) -> Pulse {
    let why = match st.step(retrieve).await {
        Ok(()) => return Pulse::Alive,
        Err(Ending::Broken { broken, .. }) => format!(
            "{}: expected {}, got {}",
            broken.rule, broken.expected, broken.actual
        ),
        Err(Ending::Error(e)) => e,
        Err(other) => format!("{other:?}"),
    };
    match alive(env).await {
        Ok(()) => Pulse::OnlyItsConnection(why),
        Err(stopped) => Pulse::Stopped(stopped),
    }
}

/// The canary: a connection with messages and a session subscribed to it, opened at the
/// start, checked every `--canary-every`: its messages must come back unchanged over REST,
/// and a new message must be pushed to its session. Runs in its own task; `check` asks it.
struct Canary {
    ask: tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<Result<(), Raw>>>,
}

/// Why the canary could not be opened.
enum Unopened {
    /// A step of its setup saw a rule broken: a finding (seen on the canary).
    Broken(Raw),
    /// It could not be set up for another reason (a transport problem).
    Failed(String),
}

impl Canary {
    /// Open the canary on `env`.
    async fn open(env: Env) -> Result<Canary, Unopened> {
        let (ask, mut asks) =
            tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<Result<(), Raw>>>(1);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let case = scratch("fuzz/canary");
            let mut st = Stepper::new(&env, &case);
            let conn = Some("k".to_string());
            let setup = [
                Step::Create(Rest {
                    conn: conn.clone(),
                    ..Rest::default()
                }),
                Step::Send(Rest {
                    conn: conn.clone(),
                    msg: Some("k0".into()),
                    ..Rest::default()
                }),
                Step::WsConnect(WsConnect {
                    session: "ks".into(),
                    headers: Vec::new(),
                    refused: Vec::new(),
                    rule: None,
                }),
                Step::Subscribe(WsRequest {
                    session: "ks".into(),
                    conn: conn.clone(),
                    ok: true,
                    ..WsRequest::default()
                }),
                Step::ExpectPushes(ExpectPushes {
                    session: "ks".into(),
                    conn: conn.clone(),
                    msgs: vec!["k0".into()],
                    within_ms: None,
                    rule: "VB-WS-BACKLOG".into(),
                }),
            ];
            for s in &setup {
                if let Err(e) = st.step(s).await {
                    let why = match e {
                        Ending::Broken { broken, .. } => Unopened::Broken(Raw {
                            rule: broken.rule.clone(),
                            shape: "canary".into(),
                            message: format!(
                                "{}: setting up the canary connection: expected {}, got {}",
                                broken.rule, broken.expected, broken.actual
                            ),
                            steps: Vec::new(),
                            crashed: false,
                        }),
                        Ending::Error(e) => {
                            Unopened::Failed(format!("the canary could not be set up: {e}"))
                        }
                        other => {
                            Unopened::Failed(format!("the canary could not be set up: {other:?}"))
                        }
                    };
                    let _ = ready_tx.send(Err(why));
                    st.close().await;
                    return;
                }
            }
            let _ = ready_tx.send(Ok(()));
            let mut n = 0;
            while let Some(reply) = asks.recv().await {
                n += 1;
                let name = format!("k{n}");
                let steps = vec![
                    // A data message of the client, so that an idle timeout never ends the
                    // session: an unsubscribe of an unknown URI (ok false).
                    Step::Unsubscribe(WsRequest {
                        session: "ks".into(),
                        conn: conn.clone(),
                        uri: Some("made-up".into()),
                        ok: false,
                        rule: Some("V-WS-UNSUB".into()),
                        ..WsRequest::default()
                    }),
                    Step::Retrieve(Rest {
                        conn: conn.clone(),
                        ..Rest::default()
                    }),
                    Step::Send(Rest {
                        conn: conn.clone(),
                        msg: Some(name.clone()),
                        ..Rest::default()
                    }),
                    Step::ExpectPushes(ExpectPushes {
                        session: "ks".into(),
                        conn: conn.clone(),
                        msgs: vec![name],
                        within_ms: None,
                        rule: "V-WS-ORDER".into(),
                    }),
                ];
                let mut got = Ok(());
                for s in &steps {
                    match st.step(s).await {
                        Ok(()) => {}
                        Err(Ending::Broken { broken, .. }) => {
                            got = Err(Raw {
                                rule: broken.rule.clone(),
                                shape: "canary".into(),
                                message: format!(
                                    "{}: the canary connection: expected {}, got {}",
                                    broken.rule, broken.expected, broken.actual
                                ),
                                steps: Vec::new(),
                                crashed: false,
                            });
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let failed = got.is_err();
                let _ = reply.send(got);
                if failed {
                    break;
                }
            }
            st.close().await;
        });
        match ready_rx.await {
            Ok(Ok(())) => Ok(Canary { ask }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Unopened::Failed("the canary task ended".into())),
        }
    }

    /// Check the canary; `None` when it cannot be asked any more.
    async fn check(&self) -> Option<Result<(), Raw>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.ask.send(tx).await.ok()?;
        rx.await.ok()
    }
}

impl Opens for Opened {
    type Env = Env;

    async fn open(opts: &TargetOptions) -> Result<Opened, ProfileError> {
        open_target(opts).await
    }

    fn env(&self) -> &Env {
        &self.env
    }

    fn describe(&self) -> String {
        Opened::describe(self)
    }

    async fn close(self) {
        Opened::close(self).await
    }
}

/// The server a worker fuzzes.
type Target = crate::profiles::campaign::Target<Opened>;

/// How one session ended.
enum End {
    Done,
    Found(Raw),
    Error(String),
}

/// One session: a connection and a WebSocket session, then `len` hostile inputs, each
/// judged as it comes and followed by a liveness check.
async fn session(
    env: &Env,
    rng: &mut StdRng,
    len: usize,
    deadline: Option<Instant>,
    counts: &mut Counts,
) -> End {
    let case = scratch("fuzz/session");
    let mut st = Stepper::new(env, &case);
    let mut end = End::Done;
    let (create_pulse, retrieve_pulse) = pulse_steps();
    for s in mutate::prelude().into_iter().chain([create_pulse]) {
        if let Err(e) = st.step(&s).await {
            st.close().await;
            return End::Error(format!("cannot open a fuzz session: {e:?}"));
        }
    }
    let mut sent = st.requests();
    'inputs: for _ in 0..len {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let input = mutate::input(rng, env.max_ws);
        counts.hostile += 1;
        if input.ws {
            counts.ws += 1;
        }
        for s in &input.steps {
            match st.step(s).await {
                Ok(()) => {}
                Err(Ending::Broken { broken, .. }) => {
                    end = End::Found(Raw {
                        rule: broken.rule.clone(),
                        shape: input.shape.clone(),
                        message: format!(
                            "{}: {}: expected {}, got {}",
                            broken.rule, input.shape, broken.expected, broken.actual
                        ),
                        steps: input.steps.clone(),
                        crashed: false,
                    });
                    break 'inputs;
                }
                Err(Ending::Error(e)) => {
                    end = End::Error(format!("{}: {e}", input.shape));
                    break 'inputs;
                }
                Err(_) => break,
            }
        }
        counts.alive_checks += 1;
        let checked = pulse(env, &mut st, &retrieve_pulse).await;
        counts.requests += st.requests() - sent;
        sent = st.requests();
        if checked != Pulse::Alive {
            counts.requests += 3;
        }
        match checked {
            Pulse::Alive => {}
            Pulse::OnlyItsConnection(why) => {
                // The server serves; the session's own connection failed. Not blamed: a new
                // session starts with a new one.
                end = End::Error(format!(
                    "after {}, the session's connection {PULSE} failed ({why}) while a fresh \
                     one worked",
                    input.shape
                ));
                break;
            }
            Pulse::Stopped(why) => {
                end = End::Found(Raw {
                    rule: "B-NO-5XX".into(),
                    shape: input.shape.clone(),
                    message: format!(
                        "B-NO-5XX: the server stopped serving after {}: {why}",
                        input.shape
                    ),
                    steps: input.steps.clone(),
                    crashed: true,
                });
                break;
            }
        }
    }
    counts.requests += st.requests() - sent;
    st.close().await;
    end
}

impl Tally for Counts {
    fn add(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.hostile += other.hostile;
        self.ws += other.ws;
        self.alive_checks += other.alive_checks;
    }
}

/// Run a campaign against the target of `target_opts`: against the embedded server (no
/// `--server`) one worker per core or `--jobs`, each with a server of its own; against
/// `--server` one worker.
pub async fn campaign(
    target_opts: &TargetOptions,
    opts: &FuzzOptions,
) -> Result<FuzzReport, ProfileError> {
    crate::profiles::campaign::run(target_opts, opts, worker).await
}

/// One worker: sessions one after another against its own target.
async fn worker(job: Job) -> Result<FuzzReport, ProfileError> {
    let (opts, shared) = (&job.opts, &*job.shared);
    let mut t = Target::open(&job.target).await?;
    let describe = t.describe();
    let start = Instant::now();
    let deadline = opts.duration.map(|d| start + d);
    if job.speaks() {
        eprintln!(
            "edgecheck fuzz · seed {} · {} · --http {} · {describe}{}",
            opts.seed,
            opts.duration
                .map_or_else(|| "no time limit".into(), |d| format!("{} s", d.as_secs())),
            job.target.http.name(),
            job.workers_note()
        );
    }
    let mut rng = StdRng::seed_from_u64(job.seed());
    let mut report = FuzzReport::default();
    // Without a canary (its setup saw a rule broken, a finding, or failed), the sessions
    // still run and are judged.
    let mut canary = None;
    let mut unopened = None;
    match t.env() {
        Some(env) => match Canary::open(env).await {
            Ok(c) => canary = Some(c),
            Err(Unopened::Broken(raw)) => unopened = Some(raw),
            Err(Unopened::Failed(e)) => return Err(ProfileError::Unreachable(e)),
        },
        None => return Err(ProfileError::Internal("no target".into())),
    }
    // `false` when the campaign cannot go on (`record`).
    let going = match unopened {
        Some(raw) => {
            report.note_error(
                "the canary connection could not be set up (see its finding); fuzzing goes \
                 on without it"
                    .into(),
            );
            record(&mut t, &mut report, raw, opts, start, shared).await
        }
        None => true,
    };
    let mut next_canary = start + opts.canary_every;
    let mut last_progress = start;
    loop {
        if !going || job.done(deadline) {
            break;
        }
        let Some(env) = t.env() else { break };
        let now = Instant::now();
        if job.speaks() && opts.progress && now.duration_since(last_progress) >= PROGRESS {
            last_progress = now;
            eprintln!(
                "  {:.0} s: {} requests, {} finding(s)",
                now.duration_since(start).as_secs_f64(),
                shared.sent(),
                shared.distinct()
            );
        }
        let before = report.counts.requests;
        let end = session(
            &env,
            &mut rng,
            opts.session_len.max(1),
            deadline,
            &mut report.counts,
        )
        .await;
        report.sessions += 1;
        let mut raw = match end {
            End::Done => None,
            End::Found(raw) => Some(raw),
            End::Error(e) => match alive(&env).await {
                Ok(()) => {
                    report.note_error(e);
                    None
                }
                Err(why) => Some(Raw {
                    rule: "B-NO-5XX".into(),
                    shape: "unknown (between sessions)".into(),
                    message: format!("B-NO-5XX: the server stopped serving: {why}"),
                    steps: Vec::new(),
                    crashed: true,
                }),
            },
        };
        if let Some(c) = canary
            .as_ref()
            .filter(|_| raw.is_none() && Instant::now() >= next_canary)
        {
            next_canary = Instant::now() + opts.canary_every;
            report.canary_checks += 1;
            report.counts.requests += 3;
            match c.check().await {
                Some(Ok(())) => {}
                Some(Err(r)) => raw = Some(r),
                None => report.note_error("the canary could not be checked".into()),
            }
        }
        shared.count_sent(report.counts.requests - before);
        let Some(raw) = raw else { continue };
        let was_canary = raw.shape == "canary";
        let crashed = raw.crashed;
        if !record(&mut t, &mut report, raw, opts, start, shared).await {
            break;
        }
        if crashed || was_canary {
            // A fresh canary on the (restarted) server.
            let Some(env) = t.env() else { break };
            canary = match Canary::open(env).await {
                Ok(c) => Some(c),
                Err(Unopened::Broken(raw)) => {
                    report.note_error(format!(
                        "the canary could not be opened again: {}",
                        raw.message
                    ));
                    None
                }
                Err(Unopened::Failed(e)) => {
                    report.note_error(e);
                    break;
                }
            };
        }
    }
    report.elapsed = start.elapsed();
    report.restarts = t.restarts;
    drop(canary);
    t.close().await;
    Ok(report)
}

/// Count or add an observation, re-run it for its reproduction rate, restart the embedded
/// server after a crash. `false`: the campaign cannot go on.
async fn record(
    t: &mut Target,
    report: &mut FuzzReport,
    raw: Raw,
    opts: &FuzzOptions,
    start: Instant,
    shared: &Shared,
) -> bool {
    let key = finding::key(&raw);
    if let Some(f) = report.findings.iter_mut().find(|f| f.key == key) {
        f.count += 1;
        if raw.crashed {
            return t.restart(report).await;
        }
        return true;
    }
    match shared.claim(&key, opts.max_findings) {
        Claim::New => {}
        Claim::Known => {
            // Another worker found it first and re-runs and writes it.
            *report.seen_elsewhere.entry(key).or_default() += 1;
            return !raw.crashed || t.restart(report).await;
        }
        // The campaign holds --max-findings findings and is ending.
        Claim::Beyond => return false,
    }
    let mut f = Finding {
        key,
        count: 1,
        reproduced: 0,
        tries: 0,
        path: None,
        after: start.elapsed(),
        raw,
    };
    let mut go_on = true;
    if f.raw.crashed && !t.embedded() {
        report.target_gone = true;
        go_on = false;
    } else if !f.raw.steps.is_empty() {
        for _ in 0..opts.repro {
            if f.raw.crashed && !t.restart(report).await {
                break;
            }
            let Some(env) = t.env() else { break };
            f.tries += 1;
            if finding::shows(&env, &f.raw).await {
                f.reproduced += 1;
            }
        }
        if f.raw.crashed {
            go_on = t.restart(report).await;
        }
    } else if f.raw.crashed {
        go_on = t.restart(report).await;
    }
    if !f.raw.steps.is_empty() {
        match finding::write(&opts.findings, &f) {
            Ok(p) => f.path = Some(p),
            Err(e) => report.note_error(e),
        }
    }
    report.findings.push(f);
    go_on
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pulse_blames_the_server_only_when_a_fresh_connection_fails_too() {
        let target = TargetOptions {
            timeout: crate::profiles::DEFAULT_TIMEOUT,
            max_body: crate::profiles::DEFAULT_MAX_BODY,
            ..TargetOptions::default()
        };
        let opened = open_target(&target)
            .await
            .expect("the embedded server starts");
        let env = opened.env.clone();
        let case = scratch("test/pulse");
        let mut st = Stepper::new(&env, &case);
        let (create, retrieve) = pulse_steps();
        for s in mutate::prelude().into_iter().chain([create]) {
            st.step(&s).await.expect("the session opens");
        }
        assert_eq!(pulse(&env, &mut st, &retrieve).await, Pulse::Alive);

        // Its connection deleted, the pulse fails, but a fresh connection works.
        let delete = Step::Delete(Rest {
            conn: Some(PULSE.into()),
            ..Rest::default()
        });
        st.step(&delete)
            .await
            .expect("the pulse connection is deleted");
        let only = pulse(&env, &mut st, &retrieve).await;
        assert!(matches!(only, Pulse::OnlyItsConnection(_)), "{only:?}");

        // The server gone, the fresh connection fails too.
        opened.close().await;
        let stopped = pulse(&env, &mut st, &retrieve).await;
        assert!(matches!(stopped, Pulse::Stopped(_)), "{stopped:?}");
    }
}
