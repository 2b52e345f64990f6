//! The messages scenario: anonymous senders send to one address while sessions of that
//! address receive, acknowledge some of what they get, confirm their acks with a barrier
//! request (TB-ORDERED) or not, drop (cleanly or abruptly) and log in again. When the
//! senders are done, a last session takes and acknowledges everything left until it hears
//! nothing more.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::client::{self, RoundError};
use super::history::{Event, Recorder};
use crate::profiles::tassis_v2::runner::{Conn, Env, Frame};
use crate::profiles::tassis_v2::wire::{self, Payload};
use crate::profiles::tassis_v2::xeddsa::IdentityKey;

/// The shape of a messages round.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Concurrent anonymous senders.
    pub senders: usize,
    /// Messages per sender.
    pub messages: usize,
    /// Concurrent receiving sessions of the address (each logs in again after a drop).
    pub receivers: usize,
}

const DEVICE: &[u8] = b"d1";
/// How long the last session must hear nothing before the inbox counts as empty.
const QUIET: Duration = Duration::from_millis(600);
/// The most the last session spends reading.
const DRAIN: Duration = Duration::from_secs(15);

/// Run one round; returns its events.
pub async fn round(env: &Env, shape: Shape, seed: u64) -> Result<Vec<Event>, RoundError> {
    let rec = Recorder::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let key = Arc::new(IdentityKey::from_secret(rng.random()));
    let nonce: u32 = rng.random();
    let stop = Arc::new(AtomicBool::new(false));
    let sessions = Arc::new(AtomicUsize::new(0));
    // The address is seen (and its first session subscribed) before anything is sent.
    let mut receivers = Vec::new();
    for r in 0..shape.receivers {
        let (env, rec, key, stop, sessions) = (
            env.clone(),
            rec.clone(),
            key.clone(),
            stop.clone(),
            sessions.clone(),
        );
        let rng = StdRng::seed_from_u64(seed.wrapping_add(1000 + r as u64));
        receivers.push(tokio::spawn(async move {
            receiver(&env, &rec, &key, &stop, &sessions, rng).await
        }));
    }
    let mut senders = Vec::new();
    for s in 0..shape.senders {
        let (env, rec, to) = (env.clone(), rec.clone(), key.public().to_vec());
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(1 + s as u64));
        let messages = shape.messages;
        senders.push(tokio::spawn(async move {
            let mut c = client::connect(&env).await?;
            let actor = format!("s{s}");
            for n in 0..messages {
                let token = format!("{actor}.m{n}.{nonce:08x}");
                send(&env, &rec, &mut c, &to, &actor, token, 10 + n as u32).await?;
                let pause = rng.random_range(0..4000);
                tokio::time::sleep(Duration::from_micros(pause)).await;
            }
            client::close(&mut c, false).await;
            Ok::<(), RoundError>(())
        }));
    }
    let mut first_error = None;
    for t in senders {
        let r = t
            .await
            .unwrap_or_else(|e| Err(RoundError::Unreachable(format!("a sender stopped: {e}"))));
        if let Err(e) = r {
            first_error.get_or_insert(e);
        }
    }
    stop.store(true, Ordering::SeqCst);
    for t in receivers {
        let r = t
            .await
            .unwrap_or_else(|e| Err(RoundError::Unreachable(format!("a receiver stopped: {e}"))));
        if let Err(e) = r {
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    drain(env, &rec, &key, &sessions).await?;
    Ok(rec.take())
}

async fn send(
    env: &Env,
    rec: &Recorder,
    c: &mut Conn,
    to: &[u8],
    actor: &str,
    token: String,
    seq: u32,
) -> Result<(), RoundError> {
    let frame = wire::encode(
        seq,
        Payload::OutboundMessage(wire::OutboundMessage {
            to: Some(wire::Address {
                identity_key: to.to_vec(),
                device_id: DEVICE.to_vec(),
            }),
            unidentified_sender_message: token.clone().into_bytes(),
        }),
    );
    let invoke = rec.now();
    let reply = client::request(env, c, seq, frame, "outboundMessage", &mut |_| {}).await?;
    rec.push(Event::Send {
        actor: actor.to_string(),
        token,
        invoke,
        ret: rec.now(),
        answer: client::describe(&reply),
    });
    if reply.is_none() && c.ended.is_some() {
        *c = client::connect(env).await?;
    }
    Ok(())
}

/// The bytes of an InboundMessage frame, as text.
fn token_of(f: &Frame) -> Option<String> {
    match &f.payload {
        Some(Payload::InboundMessage(m)) => {
            Some(String::from_utf8_lossy(&m.unidentified_sender_message).into_owned())
        }
        _ => None,
    }
}

/// One session: what it read, and the acks it sent since its last barrier.
struct Session<'a> {
    rec: &'a Recorder,
    id: usize,
    c: Conn,
    unconfirmed: Vec<usize>,
    seq: u32,
    /// Inbound frames read while waiting for a reply, not yet handled.
    early: Vec<Frame>,
    /// Deliveries recorded.
    delivered: usize,
}

impl Session<'_> {
    fn deliver(&mut self, f: &Frame) {
        if let Some(token) = token_of(f) {
            self.delivered += 1;
            self.rec.push(Event::Deliver {
                session: self.id,
                token,
                at: self.rec.now(),
            });
        }
    }

    async fn ack(&mut self, f: &Frame) {
        let Some(token) = token_of(f) else { return };
        self.c.unanswered_ok.insert(f.seq);
        let at = self.rec.now();
        let sent = self
            .c
            .send(
                wire::encode(f.seq, Payload::Ack(wire::Ack {})),
                "ack".into(),
            )
            .await;
        if sent.is_ok() {
            let i = self.rec.push(Event::Ack {
                session: self.id,
                token,
                at,
                confirmed: None,
            });
            self.unconfirmed.push(i);
        }
    }

    /// A request after the acks (any reply will do): once answered, they took effect.
    async fn barrier(&mut self, env: &Env) -> Result<bool, RoundError> {
        self.seq += 1;
        let frame = wire::encode(
            self.seq,
            Payload::RequestUploadAuthorizations(wire::RequestUploadAuthorizations {
                num_requested: 1,
            }),
        );
        let mut early = Vec::new();
        let reply = client::request(env, &mut self.c, self.seq, frame, "barrier", &mut |f| {
            early.push(f.clone())
        })
        .await?;
        for f in &early {
            self.deliver(f);
        }
        self.early.extend(early);
        if reply.is_some() {
            self.rec.confirm(&self.unconfirmed, self.rec.now());
            self.unconfirmed.clear();
        }
        Ok(reply.is_some())
    }

    async fn end(mut self, abrupt: bool) {
        client::close(&mut self.c, abrupt).await;
        self.rec.push(Event::Drop {
            session: self.id,
            at: self.rec.now(),
            abrupt,
        });
    }
}

/// Connect and log in as a new session.
async fn login<'a>(
    env: &Env,
    rec: &'a Recorder,
    key: &IdentityKey,
    sessions: &AtomicUsize,
) -> Result<Session<'a>, RoundError> {
    let id = sessions.fetch_add(1, Ordering::SeqCst);
    let mut c = client::connect(env).await?;
    let invoke = rec.now();
    let mut early = Vec::new();
    client::login(env, &mut c, key, DEVICE, &mut |f| early.push(f.clone())).await?;
    rec.push(Event::Login {
        session: id,
        invoke,
        ret: rec.now(),
    });
    let mut s = Session {
        rec,
        id,
        c,
        unconfirmed: Vec::new(),
        seq: 1,
        early: Vec::new(),
        delivered: 0,
    };
    for f in &early {
        s.deliver(f);
    }
    s.early = early;
    Ok(s)
}

async fn receiver(
    env: &Env,
    rec: &Recorder,
    key: &IdentityKey,
    stop: &AtomicBool,
    sessions: &AtomicUsize,
    mut rng: StdRng,
) -> Result<(), RoundError> {
    while !stop.load(Ordering::SeqCst) {
        let mut s = login(env, rec, key, sessions).await?;
        let life = Duration::from_millis(rng.random_range(20..250));
        let deadline = Instant::now() + life;
        for f in std::mem::take(&mut s.early) {
            if rng.random_bool(0.6) {
                s.ack(&f).await;
            }
        }
        loop {
            match s.c.next(deadline).await {
                Ok(Some(f)) if token_of(&f).is_some() => {
                    s.deliver(&f);
                    if rng.random_bool(0.6) {
                        s.ack(&f).await;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        if rng.random_bool(0.7) {
            s.barrier(env).await?;
        }
        let abrupt = rng.random_bool(0.3);
        s.end(abrupt).await;
    }
    Ok(())
}

/// The last session: acknowledge everything until nothing more comes for [`QUIET`].
async fn drain(
    env: &Env,
    rec: &Recorder,
    key: &IdentityKey,
    sessions: &AtomicUsize,
) -> Result<(), RoundError> {
    let mut s = login(env, rec, key, sessions).await?;
    let until = Instant::now() + DRAIN;
    let mut last = rec.now();
    for f in std::mem::take(&mut s.early) {
        s.ack(&f).await;
    }
    let mut deadline = (Instant::now() + QUIET).min(until);
    loop {
        match s.c.next(deadline).await {
            Ok(Some(f)) if token_of(&f).is_some() => {
                s.deliver(&f);
                s.ack(&f).await;
                last = rec.now();
                deadline = (Instant::now() + QUIET).min(until);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let before = s.delivered;
    let confirmed = s.barrier(env).await?;
    if confirmed && s.delivered == before && Instant::now() < until {
        rec.push(Event::Quiet {
            session: s.id,
            invoke: last,
            ret: rec.now(),
        });
    }
    s.end(false).await;
    Ok(())
}
