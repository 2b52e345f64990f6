//! One session: a connection, logged in or not, and a run of valid and hostile frames. After
//! each hostile frame the server must still serve a fresh connection (TB-ALIVE); every frame
//! the server sends must keep the frame invariants of the runner's [`Conn`].

use std::time::{Duration, Instant};

use rand::Rng;

use super::gen::{self, Who};
use super::mutate;
use crate::profiles::tassis_v2::case::{Corrupt, Framing, RawFrame, ReplyKind, Step, Style};
use crate::profiles::tassis_v2::runner::{self, login, Broken, Conn, Env, Read};
use crate::profiles::tassis_v2::wire::{self, Payload};
use crate::profiles::tassis_v2::xeddsa::IdentityKey;

/// The connection's name in case files.
const CONN: &str = "a";
/// The key's name in case files.
const KEY: &str = "fuzz";
/// The sequence number of the oversized frame (as the `oversized` raw frame has it).
const RAW_SEQ: u32 = 77;
/// The device of the session's login.
const DEVICE: &[u8] = b"fuzz";

/// Something the session saw broken.
#[derive(Debug, Clone)]
pub struct Raw {
    /// The rule.
    pub rule: String,
    /// Other rules the same observation breaks.
    pub also: Vec<String>,
    /// The kind of the frame that caused it (deduplication).
    pub kind: String,
    /// What happened, in one line.
    pub message: String,
    /// The steps that reproduce it: connect, login if any, the frames since the server was
    /// last seen alive.
    pub steps: Vec<Step>,
    /// How many of `steps` set the connection up (connect, login); the rest are frames.
    pub prefix: usize,
    /// The server stopped serving.
    pub crashed: bool,
}

/// How a session ended.
pub enum End {
    /// Its frames are sent (or the server closed the connection, as it may).
    Done,
    /// A finding.
    Found(Raw),
    /// A problem of the suite's side (the server is not blamed).
    Error(String),
}

/// What a session counts.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// Frames sent (valid and hostile, logins included).
    pub frames: usize,
    /// Hostile frames sent.
    pub hostile: usize,
    /// Liveness checks run.
    pub alive_checks: usize,
}

struct Session<'e> {
    env: &'e Env,
    conn: Conn,
    who: Who,
    key: IdentityKey,
    seq: u32,
    prefix: Vec<Step>,
    window: Vec<Step>,
    last_kind: String,
    last_mutation: String,
}

/// Run one session of at most `len` frames, stopping early at `deadline`.
pub async fn run(
    env: &Env,
    rng: &mut impl Rng,
    len: usize,
    deadline: Option<Instant>,
    counts: &mut Counts,
) -> End {
    let ws = match env.client.connect(&env.url).await {
        Ok(ws) => ws,
        Err(e) => {
            // A server that no longer accepts connections: that is a finding of the frames
            // before (the caller judges with a liveness check).
            return End::Error(format!("cannot open a WebSocket to {}: {e}", env.url));
        }
    };
    let mut conn = Conn::new(ws);
    if let Err(r) = conn.hello(env.reply_timeout).await {
        return match r {
            Read::Broken(b) => End::Found(Raw {
                rule: b.rule.clone(),
                also: b.also.clone(),
                kind: "hello".into(),
                message: format!("{}: expected {}; got {}", b.rule, b.expected, b.actual),
                steps: vec![Step::Connect { conn: CONN.into() }],
                prefix: 1,
                crashed: false,
            }),
            Read::Ended(e) => End::Error(format!("a new connection ended at once: {}", e.what)),
        };
    }
    let key = IdentityKey::generate();
    let mut s = Session {
        env,
        conn,
        who: Who {
            identity: key.public(),
            device: DEVICE.to_vec(),
            authed: false,
        },
        key,
        seq: 1,
        prefix: vec![Step::Connect { conn: CONN.into() }],
        window: Vec::new(),
        last_kind: String::new(),
        last_mutation: String::new(),
    };
    if rng.random_bool(0.5) {
        if let Some(end) = s.login(counts).await {
            return end;
        }
    }
    for _ in 0..len {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let hostile = s.act(rng, counts).await;
        if let Some(end) = s.drain().await {
            return end;
        }
        if hostile {
            counts.hostile += 1;
            if let Some(end) = s.alive(counts).await {
                return end;
            }
        }
        if s.conn.ended.is_some() {
            break;
        }
    }
    if !s.window.is_empty() {
        if let Some(end) = s.alive(counts).await {
            return end;
        }
    }
    s.conn.disconnect(false).await;
    End::Done
}

impl Session<'_> {
    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// A correct login, waiting for its answer (any answer: the scripted checks judge it).
    async fn login(&mut self, counts: &mut Counts) -> Option<End> {
        let frame = login::correct(&self.key, DEVICE, &self.conn.nonce, 1);
        self.conn.awaiting.insert(1);
        let _ = self.conn.send(frame, "seq 1 authResponse".into()).await;
        counts.frames += 1;
        self.prefix.push(Step::Login {
            conn: CONN.into(),
            key: KEY.into(),
            device: "text:fuzz".into(),
            seq: 1,
            corrupt: Corrupt::None,
            style: Style::Xeddsa,
            from: None,
        });
        self.prefix.push(Step::Expect {
            conn: CONN.into(),
            seq: 1,
            reply: ReplyKind::Login,
            error: Vec::new(),
            pre_keys: None,
            uploads_at_most: None,
            rule: "T-AUTH-OK".into(),
        });
        let until = Instant::now() + self.env.reply_timeout;
        loop {
            match self.conn.next(until).await {
                Ok(Some(f)) if f.seq == 1 => {
                    self.who.authed = matches!(f.payload, Some(Payload::Ack(_)));
                    return None;
                }
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(Read::Broken(b)) => return Some(self.broken(b, "authResponse")),
                Err(Read::Ended(_)) => return None,
            }
        }
    }

    /// Send one frame (valid or hostile); returns whether it was hostile.
    async fn act(&mut self, rng: &mut impl Rng, counts: &mut Counts) -> bool {
        counts.frames += 1;
        let roll = rng.random_range(0..100);
        if roll < 30 {
            let seq = self.next_seq();
            let p = gen::payload(rng, &self.who, false);
            let bytes = wire::encode(seq, p);
            self.bytes(bytes, Framing::Binary, "valid").await;
            return false;
        }
        if roll < 72 {
            let seq = self.next_seq();
            let base = if !self.who.authed && rng.random_bool(0.2) {
                login::correct(&self.key, DEVICE, &self.conn.nonce, seq)
            } else {
                wire::encode(seq, gen::payload(rng, &self.who, true))
            };
            let (bytes, name) = mutate::mutate(&base, rng);
            self.bytes(bytes, Framing::Binary, &name).await;
            return true;
        }
        if roll < 90 {
            self.semantic(rng).await;
            return true;
        }
        self.transport(rng).await;
        true
    }

    /// Send bytes and note the step that repeats them.
    async fn bytes(&mut self, bytes: Vec<u8>, framing: Framing, mutation: &str) {
        self.last_kind = gen::kind(&bytes);
        if framing != Framing::Binary {
            self.last_kind = format!("{framing:?} frame of {}", self.last_kind);
        }
        self.last_mutation = mutation.to_string();
        self.window.push(Step::SendRaw {
            conn: CONN.into(),
            frame: RawFrame::Bytes,
            bytes: Some(format!("hex:{}", hex::encode(&bytes))),
            framing,
        });
        self.conn.send_framed(bytes, framing).await;
    }

    /// The hostile frames the binding names: a missing `to` or address, short signatures
    /// with the connection's nonce, extreme sequences, huge repeated fields, spoiled logins.
    async fn semantic(&mut self, rng: &mut impl Rng) {
        let seq = self.next_seq();
        match rng.random_range(0..6) {
            0 => {
                let bytes = wire::encode(
                    seq,
                    Payload::OutboundMessage(wire::OutboundMessage {
                        to: None,
                        unidentified_sender_message: vec![0x5a; rng.random_range(0..64)],
                    }),
                );
                self.bytes(bytes, Framing::Binary, "missing-to").await;
            }
            1 | 2 if !self.who.authed => {
                let corrupt = [
                    Corrupt::ShortSignature,
                    Corrupt::NoAddress,
                    Corrupt::LongSignature,
                    Corrupt::NoSignature,
                    Corrupt::ShortKey,
                    Corrupt::LongKey,
                    Corrupt::EmptyDevice,
                    Corrupt::LongDevice,
                    Corrupt::Unparsable,
                    Corrupt::Bit255,
                    Corrupt::WrongNonce,
                    Corrupt::Malleated,
                ][rng.random_range(0..12)];
                let frame = login::build(
                    &self.key,
                    DEVICE,
                    &self.conn.nonce,
                    seq,
                    corrupt,
                    Style::Xeddsa,
                    None,
                    None,
                );
                self.last_kind = gen::kind(&frame);
                self.last_mutation = format!("login {corrupt:?}");
                self.window.push(Step::Login {
                    conn: CONN.into(),
                    key: KEY.into(),
                    device: "text:fuzz".into(),
                    seq,
                    corrupt,
                    style: Style::Xeddsa,
                    from: None,
                });
                let _ = self
                    .conn
                    .send(frame, format!("seq {seq} authResponse ({corrupt:?})"))
                    .await;
            }
            3 => {
                let extreme = [0u32, u32::MAX, u32::MAX - 1, 1 << 31][rng.random_range(0..4)];
                let bytes = wire::encode(extreme, gen::payload(rng, &self.who, true));
                self.bytes(bytes, Framing::Binary, "sequence-extreme").await;
            }
            4 => {
                let n = rng.random_range(5_000..9_000);
                let p = if rng.random_bool(0.5) {
                    Payload::Register(wire::Register {
                        signed_pre_key: vec![1; 32],
                        one_time_pre_keys: vec![vec![2]; n],
                    })
                } else {
                    Payload::RequestPreKeys(wire::RequestPreKeys {
                        identity_key: self.who.identity.to_vec(),
                        known_device_ids: vec![vec![3]; n],
                    })
                };
                self.bytes(wire::encode(seq, p), Framing::Binary, "huge-repeated")
                    .await;
            }
            _ => {
                // An address of the wrong length in a send or a prekey request.
                let len = [0usize, 1, 31, 33, 64, 1000][rng.random_range(0..6)];
                let mut key = vec![0x21; len];
                rng.fill_bytes(&mut key);
                let p = if rng.random_bool(0.5) {
                    Payload::OutboundMessage(wire::OutboundMessage {
                        to: Some(wire::Address {
                            identity_key: key,
                            device_id: vec![0x64; rng.random_range(0..70)],
                        }),
                        unidentified_sender_message: vec![1; 8],
                    })
                } else {
                    Payload::RequestPreKeys(wire::RequestPreKeys {
                        identity_key: key,
                        known_device_ids: Vec::new(),
                    })
                };
                self.bytes(wire::encode(seq, p), Framing::Binary, "address-length")
                    .await;
            }
        }
    }

    /// WebSocket-level mutations: text frames, fragments, oversized frames, a close in the
    /// middle of a message, an abrupt disconnect.
    async fn transport(&mut self, rng: &mut impl Rng) {
        let seq = self.next_seq();
        let frame = wire::encode(seq, gen::payload(rng, &self.who, false));
        match rng.random_range(0..6) {
            0 => self.bytes(frame, Framing::Text, "text-frame").await,
            1 => self.bytes(frame, Framing::Fragments, "fragments").await,
            2 => {
                self.bytes(frame, Framing::UnfinishedClose, "close-mid-message")
                    .await
            }
            3 => {
                self.bytes(frame, Framing::UnfinishedAbort, "abort-mid-message")
                    .await
            }
            4 => {
                self.last_kind = "oversized frame".into();
                self.last_mutation = "oversized".into();
                self.window.push(Step::SendRaw {
                    conn: CONN.into(),
                    frame: RawFrame::Oversized,
                    bytes: None,
                    framing: Framing::Binary,
                });
                let big = wire::encode(
                    RAW_SEQ,
                    Payload::OutboundMessage(wire::OutboundMessage {
                        to: Some(wire::Address {
                            identity_key: self.who.identity.to_vec(),
                            device_id: b"raw".to_vec(),
                        }),
                        unidentified_sender_message: vec![0x42; 1 << 20],
                    }),
                );
                self.conn.awaiting.insert(RAW_SEQ);
                let _ = self.conn.send(big, "an oversized frame".into()).await;
            }
            _ => {
                self.last_kind = "abrupt disconnect".into();
                self.last_mutation = "abrupt-disconnect".into();
                self.window.push(Step::Disconnect {
                    conn: CONN.into(),
                    abrupt: true,
                });
                self.conn.disconnect(true).await;
            }
        }
    }

    /// Read what the server has sent so far, without waiting, checking the frame
    /// invariants.
    async fn drain(&mut self) -> Option<End> {
        let until = Instant::now();
        loop {
            match self.conn.next(until).await {
                Ok(Some(_)) => {}
                Ok(None) | Err(Read::Ended(_)) => return None,
                Err(Read::Broken(b)) => {
                    let kind = self.last_kind.clone();
                    return Some(self.broken(b, &kind));
                }
            }
        }
    }

    fn steps(&self) -> Vec<Step> {
        let mut s = self.prefix.clone();
        s.extend(self.window.iter().cloned());
        s
    }

    /// A frame invariant seen broken: the steps, then a drain that reads (and checks) every
    /// frame for half a second.
    fn broken(&mut self, b: Broken, kind: &str) -> End {
        let mut steps = self.steps();
        if self.conn.ended.is_none() {
            steps.push(Step::ExpectNoPush {
                conn: CONN.into(),
                push: crate::profiles::tassis_v2::case::PushKind::Inbound,
                bytes: Some("$never".into()),
                within_ms: 500,
                within_intervals: None,
                at_most: 0,
                rule: b.rule.clone(),
            });
        }
        End::Found(Raw {
            message: format!(
                "{}: expected {}; got {} (after {})",
                b.rule, b.expected, b.actual, self.last_mutation
            ),
            rule: b.rule,
            also: b.also,
            kind: kind.to_string(),
            steps,
            prefix: self.prefix.len(),
            crashed: false,
        })
    }

    /// Lets the server process the frames already sent before liveness is checked: a request
    /// after them on the same connection, whose reply (frames are processed in order,
    /// TB-ORDERED) or the connection's end shows they were handled; at most 200 ms on a
    /// connection that is no longer served. Without it a crash could happen just after a
    /// liveness check and be blamed on a later frame.
    async fn barrier(&mut self) {
        const BARRIER_SEQ: u32 = 0x7fff_fff0;
        if self.conn.ended.is_some() {
            return;
        }
        self.conn.unanswered_ok.insert(BARRIER_SEQ);
        let request = wire::encode(
            BARRIER_SEQ,
            Payload::RequestUploadAuthorizations(wire::RequestUploadAuthorizations {
                num_requested: 1,
            }),
        );
        let _ = self.conn.send(request, "barrier".into()).await;
        let until = Instant::now() + Duration::from_millis(200);
        loop {
            match self.conn.next(until).await {
                Ok(Some(f)) if f.seq != BARRIER_SEQ => {}
                Err(Read::Broken(_)) => {}
                _ => break,
            }
        }
    }

    /// TB-ALIVE after hostile frames (checked twice before the server is blamed): the window
    /// is cleared when the server still serves.
    async fn alive(&mut self, counts: &mut Counts) -> Option<End> {
        counts.alive_checks += 1;
        self.barrier().await;
        let mut verdict = runner::alive(self.env).await;
        if verdict.is_err() {
            // Once more after a pause: a server that is only slow (a loaded machine) is not
            // blamed; one that stopped serving fails again.
            tokio::time::sleep(Duration::from_millis(300)).await;
            verdict = runner::alive(self.env).await;
        }
        match verdict {
            Ok(()) => {
                self.window.clear();
                None
            }
            Err(why) => Some(End::Found(Raw {
                rule: "TB-ALIVE".into(),
                also: Vec::new(),
                kind: self.last_kind.clone(),
                message: format!(
                    "TB-ALIVE: the server stopped serving after a {} frame ({}): {why}",
                    self.last_kind, self.last_mutation
                ),
                steps: self.steps(),
                prefix: self.prefix.len(),
                crashed: true,
            })),
        }
    }
}
