//! The few exchanges the race actors need, each bounded by the reply timeout.

use std::time::Instant;

use rand::RngCore;

use crate::profiles::tassis_v2::keys;
use crate::profiles::tassis_v2::runner::{Conn, Env, Frame, Read};
use crate::profiles::tassis_v2::wire::{self, Payload};
use crate::profiles::tassis_v2::xeddsa::IdentityKey;

/// Why a round could not be run to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundError {
    /// The server could not be reached, or dropped connections needed to go on.
    Unreachable(String),
    /// The server broke a rule outside the history (a frame, a login): the rule and what
    /// happened.
    Broken {
        /// The rule.
        rule: String,
        /// What happened.
        message: String,
    },
}

fn read_error(r: Read, doing: &str) -> RoundError {
    match r {
        Read::Broken(b) => RoundError::Broken {
            rule: b.rule,
            message: format!("{doing}: expected {}, got {}", b.expected, b.actual),
        },
        Read::Ended(e) => RoundError::Unreachable(format!("{doing}: {}", e.what)),
    }
}

/// Open a connection and read its hello.
pub(crate) async fn connect(env: &Env) -> Result<Conn, RoundError> {
    let ws = env.client.connect(&env.url).await.map_err(|e| {
        RoundError::Unreachable(format!("cannot open a WebSocket to {}: {e}", env.url))
    })?;
    let mut c = Conn::new(ws);
    c.hello(env.reply_timeout)
        .await
        .map_err(|r| read_error(r, "reading the hello"))?;
    Ok(c)
}

/// Log `key` in as `device` with sequence 1; the pushes read meanwhile go to `push`.
pub(crate) async fn login(
    env: &Env,
    c: &mut Conn,
    key: &IdentityKey,
    device: &[u8],
    push: &mut (dyn FnMut(&Frame) + Send),
) -> Result<(), RoundError> {
    let login = keys::login_bytes(&key.public(), device, &c.nonce);
    let mut random = [0u8; 64];
    rand::rng().fill_bytes(&mut random);
    let signature = key.sign_xeddsa(&login, random).to_vec();
    let frame = wire::encode(
        1,
        Payload::AuthResponse(wire::AuthResponse { login, signature }),
    );
    match request(env, c, 1, frame, "login", push).await? {
        Some(Payload::Ack(_)) => Ok(()),
        other => Err(RoundError::Broken {
            rule: "T-AUTH-OK".into(),
            message: format!(
                "a correct login got {} instead of Ack",
                other.map_or("no reply".into(), |p| describe(&Some(p)))
            ),
        }),
    }
}

/// Send `frame` (sequence `seq`) and read until its reply or the timeout (`None`); pushes
/// read meanwhile go to `push`. A connection that ends is `None` too.
pub(crate) async fn request(
    env: &Env,
    c: &mut Conn,
    seq: u32,
    frame: Vec<u8>,
    what: &str,
    push: &mut (dyn FnMut(&Frame) + Send),
) -> Result<Option<Payload>, RoundError> {
    if c.send(frame, what.to_string()).await.is_err() {
        return Ok(None);
    }
    let deadline = Instant::now() + env.reply_timeout;
    loop {
        match c.next(deadline).await {
            Ok(Some(f)) if matches!(f.payload, Some(Payload::InboundMessage(_))) => push(&f),
            Ok(Some(f)) if f.seq == seq && !is_push(&f.payload) => return Ok(f.payload),
            Ok(Some(_)) => {}
            Ok(None) | Err(Read::Ended(_)) => return Ok(None),
            Err(r) => return Err(read_error(r, what)),
        }
    }
}

fn is_push(p: &Option<Payload>) -> bool {
    matches!(
        p,
        Some(Payload::PreKeysLow(_))
            | Some(Payload::AuthChallenge(_))
            | Some(Payload::Configuration(_))
    )
}

/// A reply in a few words (`ack`, `error NAME`, `preKeys`, `none`).
pub(crate) fn describe(p: &Option<Payload>) -> String {
    match p {
        None => "none".into(),
        Some(Payload::Ack(_)) => "ack".into(),
        Some(Payload::Error(e)) => format!("error {}", e.name),
        Some(p) => p.name().to_string(),
    }
}

/// Close `c` (abruptly: without a close frame), waiting at most 300 ms for the server's
/// close frame: the race judges histories, not closing handshakes.
pub(crate) async fn close(c: &mut Conn, abrupt: bool) {
    let _ = tokio::time::timeout(std::time::Duration::from_millis(300), c.disconnect(abrupt)).await;
}
