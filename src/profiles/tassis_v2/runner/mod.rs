//! Runs one case of `tassis-v2` against a server: its steps in order, over named
//! connections, with fresh identity keys and values.
//!
//! A step that sees the server break a rule stops the case and names that rule
//! ([`Broken`]); a transport problem of the suite's own side is an error, never a failure.

mod conn;
pub(crate) mod login;
pub mod probes;
pub mod scan;
mod steps;
pub mod values;

use std::collections::HashMap;
use std::time::Duration;

use url::Url;

pub use conn::{Conn, Ended, Frame, Push, Read};

use crate::client::ws::WsClient;
use crate::profiles::tassis_v2::case::{Case, Need};
use values::Values;

pub use crate::profiles::ending::{Broken, Ending};

/// What every case of a run shares: the target and what is known of it.
#[derive(Clone)]
pub struct Env {
    /// The WebSocket URL (`wss://host/api`).
    pub url: Url,
    /// The transport.
    pub client: WsClient,
    /// How long a reply may take (T-SEQ-REPLY).
    pub reply_timeout: Duration,
    /// `--prekeys-low` and `--prekeys-interval`, when known.
    pub prekeys_low: Option<(u32, Duration)>,
}

/// What a case did and how it ended.
#[derive(Debug, Clone)]
pub struct CaseRun {
    /// How it ended.
    pub ending: Ending,
    /// Frames sent.
    pub frames_out: usize,
    /// Frames received.
    pub frames_in: usize,
    /// Logins attempted.
    pub logins: usize,
}

/// Why a step stopped the case.
#[derive(Debug)]
pub(crate) enum Stop {
    /// A rule seen broken (on this connection, if any).
    Broken(Broken, Option<String>),
    /// The suite could not go on.
    Error(String),
    /// A need is missing.
    Skip(String),
}

impl From<Broken> for Stop {
    fn from(b: Broken) -> Stop {
        Stop::Broken(b, None)
    }
}

/// The state of one running case.
pub(crate) struct Ctx<'e> {
    pub env: &'e Env,
    pub conns: HashMap<String, Conn>,
    pub values: Values,
    pub logins: usize,
    /// Pushes of each connection already looked at by a step.
    pub seen: HashMap<String, usize>,
    /// One-time prekeys handed out so far in this case (T-PK-ONCE).
    pub handed_out: Vec<Vec<u8>>,
    frames_out_closed: usize,
    frames_in_closed: usize,
}

impl<'e> Ctx<'e> {
    fn new(env: &'e Env) -> Ctx<'e> {
        Ctx {
            env,
            conns: HashMap::new(),
            values: Values::default(),
            logins: 0,
            seen: HashMap::new(),
            handed_out: Vec::new(),
            frames_out_closed: 0,
            frames_in_closed: 0,
        }
    }

    /// The connection named `name`.
    pub fn conn(&mut self, name: &str) -> Result<&mut Conn, Stop> {
        self.conns.get_mut(name).ok_or_else(|| {
            Stop::Error(format!(
                "the case uses connection `{name}` before a connect step opened it; fix the case"
            ))
        })
    }

    fn counts(&self) -> (usize, usize) {
        let out = self.conns.values().map(|c| c.frames_out).sum::<usize>() + self.frames_out_closed;
        let inn = self.conns.values().map(|c| c.frames_in).sum::<usize>() + self.frames_in_closed;
        (out, inn)
    }

    /// Count a probe's own connection into the totals.
    pub fn absorb(&mut self, c: &Conn) {
        self.frames_out_closed += c.frames_out;
        self.frames_in_closed += c.frames_in;
    }
}

/// The reason of checks that need TLS on a `ws://` target (allowed only with `--allow-http`).
const WAIVED_TLS: &str = "waived by --allow-http: the target is plain ws://, so TLS is not checked";

/// Why a case cannot run against this target, if it cannot.
pub fn missing_need(env: &Env, case: &Case) -> Option<String> {
    for n in &case.needs {
        match n {
            Need::PrekeysLow if env.prekeys_low.is_none() => {
                return Some(
                    "needs the server's PreKeysLow settings: give --prekeys-low LIMIT and \
                     --prekeys-interval DURATION"
                        .into(),
                )
            }
            Need::Tls if env.url.scheme() != "wss" => {
                return Some(WAIVED_TLS.into());
            }
            _ => {}
        }
    }
    None
}

/// Run one case.
pub async fn run_case(env: &Env, case: &Case) -> CaseRun {
    let mut ctx = Ctx::new(env);
    let ending = match missing_need(env, case) {
        Some(why) if why == WAIVED_TLS => Ending::Waived(why),
        Some(why) => Ending::Skip(why),
        None => {
            let mut ending = Ending::Pass;
            for (i, step) in case.steps.iter().enumerate() {
                match steps::run(&mut ctx, step).await {
                    Ok(()) => {}
                    Err(Stop::Broken(broken, conn)) => {
                        let transcript = conn
                            .and_then(|c| ctx.conns.get(&c).map(Conn::transcript))
                            .unwrap_or_default();
                        ending = Ending::Broken {
                            step: i + 1,
                            broken,
                            transcript,
                        };
                        break;
                    }
                    Err(Stop::Error(e)) => {
                        ending = Ending::Error(format!("step {}: {e}", i + 1));
                        break;
                    }
                    Err(Stop::Skip(s)) => {
                        ending = Ending::Skip(s);
                        break;
                    }
                }
            }
            ending
        }
    };
    let (frames_out, frames_in) = ctx.counts();
    let logins = ctx.logins;
    for (_, mut c) in ctx.conns.drain() {
        c.disconnect(false).await;
    }
    CaseRun {
        ending,
        frames_out,
        frames_in,
        logins,
    }
}

/// TB-ALIVE: a fresh connection gets its hello and an answer to a login (any answer: other
/// checks judge the login itself). `Err` says why not.
pub async fn alive(env: &Env) -> Result<(), String> {
    let ws = env
        .client
        .connect(&env.url)
        .await
        .map_err(|e| format!("a fresh connection failed: {e}"))?;
    let mut c = Conn::new(ws);
    c.strict = false;
    let deadline = std::time::Instant::now() + env.reply_timeout;
    let mut nonce = None;
    while nonce.is_none() {
        match c.next(deadline).await {
            Ok(Some(Frame {
                payload: Some(crate::profiles::tassis_v2::wire::Payload::AuthChallenge(ch)),
                ..
            })) => nonce = Some(ch.nonce),
            Ok(Some(_)) => {}
            Ok(None) => return Err("a fresh connection got no AuthChallenge".into()),
            Err(conn::Read::Ended(e)) => return Err(format!("a fresh connection: {}", e.what)),
            Err(conn::Read::Broken(_)) => {}
        }
    }
    c.nonce = nonce.unwrap_or_default();
    let key = crate::profiles::tassis_v2::xeddsa::IdentityKey::generate();
    let frame = login::correct(&key, b"alive", &c.nonce, 1);
    c.send(frame, "authResponse (liveness)".into())
        .await
        .map_err(|e| format!("a fresh connection: {}", e.what))?;
    loop {
        match c.next(deadline).await {
            // Any answer to the login, whatever its sequence (other checks judge it).
            Ok(Some(Frame { payload, .. }))
                if !matches!(
                    payload,
                    Some(crate::profiles::tassis_v2::wire::Payload::InboundMessage(_))
                        | Some(crate::profiles::tassis_v2::wire::Payload::PreKeysLow(_))
                ) =>
            {
                c.disconnect(false).await;
                return Ok(());
            }
            Ok(Some(_)) | Err(conn::Read::Broken(_)) => {}
            Ok(None) => return Err("a fresh connection got no answer to a login".into()),
            Err(conn::Read::Ended(e)) => return Err(format!("a fresh connection: {}", e.what)),
        }
    }
}
