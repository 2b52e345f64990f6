//! What a round recorded: every request and push of both scenarios, with times on one clock
//! (microseconds since the round began).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Event {
    /// The owner's Register of one-time keys (same signed key: an append).
    Register {
        /// Keys registered, by name.
        keys: Vec<String>,
        /// Invoked.
        invoke: u64,
        /// Answered (or given up).
        ret: u64,
        /// `ack`, `error NAME`, or `none` (no answer within the timeout).
        answer: String,
    },
    /// An anonymous RequestPreKeys for the owner's identity.
    Request {
        /// The requesting connection.
        actor: String,
        /// Invoked.
        invoke: u64,
        /// Answered (or given up).
        ret: u64,
        /// The one-time key of the device's entry: `Some("")` an empty entry, `None` no usable
        /// answer.
        got: Option<String>,
        /// `preKeys`, `error NAME`, or `none`.
        answer: String,
    },
    /// An anonymous OutboundMessage to the receivers' address.
    Send {
        /// The sending connection.
        actor: String,
        /// The message's bytes (text).
        token: String,
        /// Invoked.
        invoke: u64,
        /// Answered (or given up).
        ret: u64,
        /// `ack`, `error NAME`, or `none`.
        answer: String,
    },
    /// A session's login.
    Login {
        /// The session.
        session: usize,
        /// Invoked.
        invoke: u64,
        /// Answered.
        ret: u64,
    },
    /// An InboundMessage pushed to a session.
    Deliver {
        /// The session.
        session: usize,
        /// The message's bytes (text).
        token: String,
        /// When it was read.
        at: u64,
    },
    /// An Ack of a delivered message.
    Ack {
        /// The session.
        session: usize,
        /// The message acknowledged.
        token: String,
        /// When it was sent.
        at: u64,
        /// When a later request on the same connection was answered (TB-ORDERED: the ack
        /// had taken effect by then); `None` when nothing confirmed it.
        confirmed: Option<u64>,
    },
    /// The end of a session.
    Drop {
        /// The session.
        session: usize,
        /// When.
        at: u64,
        /// Without a close frame.
        abrupt: bool,
    },
    /// The last session heard nothing new from `invoke` to `ret` after acknowledging all it
    /// got (confirmed): the address's inbox is empty.
    Quiet {
        /// The session.
        session: usize,
        /// The last frame read.
        invoke: u64,
        /// The end of the silence.
        ret: u64,
    },
}

impl Event {
    /// The event's (invoke, return) times.
    pub fn span(&self) -> (u64, u64) {
        match self {
            Event::Register { invoke, ret, .. }
            | Event::Request { invoke, ret, .. }
            | Event::Send { invoke, ret, .. }
            | Event::Login { invoke, ret, .. }
            | Event::Quiet { invoke, ret, .. } => (*invoke, *ret),
            Event::Deliver { at, .. } | Event::Drop { at, .. } => (*at, *at),
            Event::Ack { at, confirmed, .. } => (*at, confirmed.unwrap_or(*at)),
        }
    }

    /// One line for reports.
    pub fn describe(&self) -> String {
        match self {
            Event::Register { keys, answer, .. } => {
                format!("owner registers {} → {answer}", list(keys))
            }
            Event::Request {
                actor, got, answer, ..
            } => match got {
                Some(k) if k.is_empty() => format!("{actor} requests prekeys → empty entry"),
                Some(k) => format!("{actor} requests prekeys → {k}"),
                None => format!("{actor} requests prekeys → {answer}"),
            },
            Event::Send {
                actor,
                token,
                answer,
                ..
            } => format!("{actor} sends {token} → {answer}"),
            Event::Login { session, .. } => format!("session {session} logs in"),
            Event::Deliver { session, token, .. } => format!("session {session} receives {token}"),
            Event::Ack {
                session,
                token,
                confirmed,
                ..
            } => format!(
                "session {session} acks {token}{}",
                if confirmed.is_some() {
                    " (confirmed)"
                } else {
                    " (unconfirmed)"
                }
            ),
            Event::Drop {
                session, abrupt, ..
            } => format!(
                "session {session} disconnects{}",
                if *abrupt { " abruptly" } else { "" }
            ),
            Event::Quiet { session, .. } => {
                format!("session {session} acked all it got and hears nothing more")
            }
        }
    }
}

fn list(keys: &[String]) -> String {
    match keys {
        [] => "no keys".into(),
        [one] => one.clone(),
        [first, .., last] => format!("{} keys {first}…{last}", keys.len()),
    }
}

/// The history of one scenario of a round.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    /// `prekeys` or `messages`.
    pub scenario: &'static str,
    /// The round's seed.
    pub seed: u64,
    /// The events, in the order they were recorded.
    pub events: Vec<Event>,
}

/// The operations `ops` of `h`, one line each: index, times in ms, what happened.
pub fn render(h: &[Event], ops: &[usize]) -> String {
    let mut out = String::new();
    for &i in ops {
        let Some(e) = h.get(i) else { continue };
        let (a, b) = e.span();
        out.push_str(&format!(
            "#{i:<5} {:>9.3}–{:<9.3} ms  {}\n",
            a as f64 / 1000.0,
            b as f64 / 1000.0,
            e.describe()
        ));
    }
    out
}

/// A history being recorded by concurrent actors, on one clock.
#[derive(Clone)]
pub(crate) struct Recorder {
    start: Instant,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Recorder {
    pub(crate) fn new() -> Recorder {
        Recorder {
            start: Instant::now(),
            events: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Microseconds since the round began.
    pub(crate) fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Record `e`; returns its index.
    pub(crate) fn push(&self, e: Event) -> usize {
        let mut v = self.events.lock().unwrap_or_else(|p| p.into_inner());
        v.push(e);
        v.len() - 1
    }

    /// Mark the acks at `indices` confirmed at `at`.
    pub(crate) fn confirm(&self, indices: &[usize], at: u64) {
        let mut v = self.events.lock().unwrap_or_else(|p| p.into_inner());
        for &i in indices {
            if let Some(Event::Ack { confirmed, .. }) = v.get_mut(i) {
                *confirmed = Some(at);
            }
        }
    }

    /// The events recorded.
    pub(crate) fn take(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
