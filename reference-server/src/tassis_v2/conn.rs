//! One WebSocket connection: the hello, the login state machine (anonymous, authenticated,
//! failed), the requests, pushes of messages and PreKeysLow, acks, and the idle deadline.
//!
//! Everything of one connection runs in one task, one event at a time: frames are handled in
//! the order they arrive, and an Ack takes effect before the next frame is read
//! (TB-ORDERED).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use prost::Message as _;
use rand::RngCore as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as Frame};
use tokio_tungstenite::WebSocketStream;

use crate::tassis_v2::faults::Fault;
use crate::tassis_v2::shared::{Life, Shared};
use crate::tassis_v2::store::{Address, PreKeysError, Push, SendError, Stored};
use crate::tassis_v2::wire::{self, message::Payload};
use crate::tassis_v2::xeddsa;

/// Error names (TB-ERROR-NAMES).
const UNAUTHORIZED: &str = "unauthorized";
const ATTEMPTED_ANONYMOUS_OP: &str = "attempted_anonymous_op_on_authenticated_connection";
const UNKNOWN_IDENTITY: &str = "unknown_identity";
const UNKNOWN_ERROR: &str = "unknown_error";
const INVALID_REQUEST: &str = "invalid_request";

/// How long writing one frame may take before the connection is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Most upload authorizations in one reply (T-UPLOAD allows 1..n).
const MAX_AUTHORIZATIONS: i32 = 10;
/// Lifetime of an upload authorization.
const UPLOAD_VALIDITY: Duration = Duration::from_secs(24 * 3600);
/// Longest device ID (TB-KEY).
const MAX_DEVICE_ID: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No login attempted (or, with `failed-login-still-serves`, one failed).
    Anonymous,
    /// A login succeeded; `Conn::address` is bound.
    Authenticated,
    /// A login failed: nothing more is served (T-AUTH-CLOSE).
    Failed,
}

/// What to do once the pending frames are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    Continue,
    /// Close with this code.
    Close(CloseCode, &'static str),
    /// Close at this instant (`failed-login-left-open`).
    CloseAt(Instant),
    /// The server dies (a crash fault).
    Crash,
}

/// What woke the connection up.
enum Event {
    Life(Life),
    Frame(Option<Result<Frame, WsError>>),
    Push(Option<Push>),
    Check,
    CloseNow,
    Idle,
}

struct Conn {
    shared: Arc<Shared>,
    peer: SocketAddr,
    /// The server's counter for the messages it starts (TB-SEQ-SERVER).
    next_seq: u32,
    nonce: Bytes,
    state: State,
    address: Option<Address>,
    session: Option<u64>,
    pushes: Option<UnboundedReceiver<Push>>,
    /// Server sequence of each InboundMessage sent → message ID.
    delivered: HashMap<u32, u64>,
    next_check: Option<Instant>,
    /// `prekeys-low-after-unregister`: a PreKeysLow was sent on this connection.
    sent_low: bool,
    anonymous_requests: u32,
    out: Vec<Bytes>,
    then: Then,
    last_data: Instant,
    idle_timeout: Duration,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Serves one upgraded connection until it ends.
pub(crate) async fn run<S>(mut ws: WebSocketStream<S>, shared: Arc<Shared>, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut life = shared.life.subscribe();
    if *life.borrow_and_update() != Life::Running {
        return;
    }
    let mut idle_timeout = shared.settings.idle_timeout;
    if shared.on(Fault::IdleClose18s) {
        idle_timeout = idle_timeout * 3 / 10;
    }
    let nonce = shared.new_nonce();
    let mut conn = Conn {
        shared,
        peer,
        next_seq: 1,
        nonce,
        state: State::Anonymous,
        address: None,
        session: None,
        pushes: None,
        delivered: HashMap::new(),
        next_check: None,
        sent_low: false,
        anonymous_requests: 0,
        out: Vec::new(),
        then: Then::Continue,
        last_data: Instant::now(),
        idle_timeout,
    };
    conn.hello();
    let mut close_at = None;
    let mut closed_by_peer = false;
    loop {
        if conn.flush(&mut ws).await.is_err() {
            return;
        }
        match conn.then {
            Then::Continue => {}
            Then::Crash => {
                conn.shared.crash();
                return;
            }
            Then::Close(code, reason) => {
                close(&mut ws, code, reason).await;
                return;
            }
            Then::CloseAt(at) => {
                close_at = Some(at);
                conn.then = Then::Continue;
            }
        }
        let idle_at = conn.last_data + conn.idle_timeout;
        let event = tokio::select! {
            biased;
            changed = life.changed() => Event::Life(if changed.is_err() {
                Life::Stopping
            } else {
                *life.borrow_and_update()
            }),
            frame = ws.next() => Event::Frame(frame),
            push = recv(conn.pushes.as_mut()) => Event::Push(push),
            () = sleep_opt(conn.next_check) => Event::Check,
            () = sleep_opt(close_at) => Event::CloseNow,
            () = sleep_until(idle_at) => Event::Idle,
        };
        match event {
            Event::Life(Life::Running) => {}
            Event::Life(Life::Crashed) => return,
            Event::Life(Life::Stopping) => {
                close(&mut ws, CloseCode::Away, "the server is shutting down").await;
                return;
            }
            Event::Frame(None) => {
                if !closed_by_peer && conn.state == State::Authenticated {
                    conn.crash_if(Fault::CrashAbruptDisconnect);
                }
                return;
            }
            Event::Frame(Some(Err(WsError::Capacity(_)))) => {
                conn.then = if conn.shared.on(Fault::LargeFrameCrash) {
                    Then::Crash
                } else {
                    Then::Close(CloseCode::Size, "message over 32768 bytes")
                };
            }
            Event::Frame(Some(Err(_))) => {
                if !closed_by_peer && conn.state == State::Authenticated {
                    conn.crash_if(Fault::CrashAbruptDisconnect);
                }
                return;
            }
            Event::Frame(Some(Ok(frame))) => match frame {
                Frame::Binary(bytes) => {
                    conn.last_data = Instant::now();
                    conn.on_binary(bytes).await;
                }
                Frame::Text(text) => {
                    conn.last_data = Instant::now();
                    // TB-TEXT-FRAME: ignored.
                    if conn.shared.on(Fault::TextFramesParsed) {
                        conn.on_binary(Bytes::from(text)).await;
                    }
                }
                // tungstenite answers the close frame; the stream then ends.
                Frame::Close(_) => closed_by_peer = true,
                // Pings are answered by tungstenite and do not count as data (TB-IDLE).
                Frame::Ping(_) | Frame::Pong(_) | Frame::Frame(_) => {}
            },
            Event::Push(None) => conn.pushes = None,
            Event::Push(Some(Push::Inbound(message))) => {
                if conn.state == State::Authenticated {
                    conn.deliver(message);
                }
            }
            Event::Push(Some(Push::CheckPreKeys)) | Event::Check => conn.check_prekeys(),
            Event::CloseNow => {
                close(&mut ws, CloseCode::Policy, "login failed").await;
                return;
            }
            Event::Idle => {
                close(&mut ws, CloseCode::Normal, "idle").await;
                return;
            }
        }
    }
}

async fn recv(rx: Option<&mut UnboundedReceiver<Push>>) -> Option<Push> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends a close frame and waits briefly for the peer's.
async fn close<S>(ws: &mut WebSocketStream<S>, code: CloseCode, reason: &'static str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if let Ok(Ok(())) = timeout(CLOSE_TIMEOUT, ws.close(Some(frame))).await {
        let _ = timeout(CLOSE_TIMEOUT, async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    }
}

/// Checks an identity key: 32 bytes (TB-KEY-LEN), bit 255 clear (TB-KEY-CANON).
fn check_identity(shared: &Shared, key: &[u8]) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("identityKey is empty");
    }
    if key.len() < 32 || (key.len() > 32 && !shared.on(Fault::LongKeyAliasing)) {
        return Err("identityKey must be 32 bytes");
    }
    if key[31] & 0x80 != 0 && !shared.on(Fault::Bit255Aliasing) {
        return Err("identityKey must have bit 255 clear");
    }
    Ok(())
}

/// Checks a device ID: 1 to 64 bytes (TB-KEY).
fn check_device(shared: &Shared, device: &[u8]) -> Result<(), &'static str> {
    let max = if shared.on(Fault::DeviceId64Refused) {
        MAX_DEVICE_ID - 1
    } else {
        MAX_DEVICE_ID
    };
    device_id_length(device, max)
}

/// A device ID of 1 to `max` bytes.
fn device_id_length(device: &[u8], max: usize) -> Result<(), &'static str> {
    if device.is_empty() || device.len() > max {
        return Err("deviceId must be 1 to 64 bytes");
    }
    Ok(())
}

/// Compares in constant time (for equal lengths).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// [`same_bytes`] with the fault `nonce-xor-compare`: differences that cancel under XOR pass.
#[cfg_attr(mutants, mutants::skip)]
fn xor_folded_same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc ^ (x ^ y)) == 0
}

fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Conn {
    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    fn on(&self, fault: Fault) -> bool {
        self.shared.on(fault)
    }

    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    fn crash_if(&mut self, fault: Fault) {
        if self.on(fault) {
            self.shared.crash();
        }
    }

    /// Leaves the store's sessions.
    fn leave(&mut self) {
        if let (Some(address), Some(session)) = (&self.address, self.session.take()) {
            self.shared.store.unsubscribe(address, session);
        }
        self.pushes = None;
    }

    async fn flush<S>(&mut self, ws: &mut WebSocketStream<S>) -> Result<(), ()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if self.out.is_empty() {
            return Ok(());
        }
        // Each frame (and the final flush) gets its own deadline: a slow reader that makes
        // progress is served, a stalled one is given up.
        for frame in std::mem::take(&mut self.out) {
            match timeout(WRITE_TIMEOUT, ws.feed(Frame::Binary(frame))).await {
                Ok(Ok(())) => {}
                _ => return Err(()),
            }
        }
        match timeout(WRITE_TIMEOUT, ws.flush()).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }

    fn send(&mut self, message: &wire::Message) {
        self.out.push(Bytes::from(message.encode_to_vec()));
    }

    /// A message the server starts, with the next server sequence number.
    fn push(&mut self, payload: Payload) -> u32 {
        let sequence = self.next_seq();
        self.send(&wire::Message {
            sequence,
            payload: Some(payload),
        });
        sequence
    }

    fn next_seq(&mut self) -> u32 {
        let sequence = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        sequence
    }

    /// A reply to the request with sequence `seq` (T-SEQ-ECHO).
    fn reply(&mut self, seq: u32, payload: Payload) {
        let sequence = if self.on(Fault::SeqNotEchoed) {
            seq.wrapping_add(1)
        } else {
            seq
        };
        self.send(&wire::Message {
            sequence,
            payload: Some(payload),
        });
    }

    fn ack(&mut self, seq: u32) {
        self.reply(seq, Payload::Ack(wire::Ack {}));
    }

    fn error(&mut self, seq: u32, name: &str, description: &str) {
        let name = if name == UNAUTHORIZED && self.on(Fault::ErrorNameUnknown) {
            "not_authorized"
        } else {
            name
        };
        let sequence = if self.on(Fault::ErrorSeqZero) { 0 } else { seq };
        self.send(&wire::Message {
            sequence,
            payload: Some(Payload::Error(wire::Error {
                name: name.to_owned(),
                description: description.to_owned(),
            })),
        });
    }

    /// T-HELLO: AuthChallenge then Configuration, server sequence 1 and 2.
    fn hello(&mut self) {
        if self.on(Fault::ServerSeqFrom0) {
            self.next_seq = 0;
        }
        let nonce = self.nonce.clone();
        self.push(Payload::AuthChallenge(wire::AuthChallenge { nonce }));
        if !self.on(Fault::ConfigMissing) {
            let max = if self.on(Fault::ConfigZero) {
                0
            } else {
                self.shared.settings.max_attachment_size
            };
            self.push(Payload::Configuration(wire::Configuration {
                max_attachment_size: max,
            }));
        }
    }

    async fn on_binary(&mut self, bytes: Bytes) {
        if self.state == State::Failed {
            return;
        }
        let Ok(message) = wire::Message::decode(bytes) else {
            // TB-FRAME-BAD: ignored, the connection stays usable.
            if self.on(Fault::BadFrameCloses) {
                self.then = Then::Close(CloseCode::Protocol, "unparsable frame");
            }
            return;
        };
        let seq = message.sequence;
        let is_request = matches!(
            message.payload,
            Some(
                Payload::AuthResponse(_)
                    | Payload::Register(_)
                    | Payload::Unregister(_)
                    | Payload::RequestPreKeys(_)
                    | Payload::OutboundMessage(_)
                    | Payload::RequestUploadAuthorizations(_)
            )
        );
        if is_request && seq == 0 && self.on(Fault::SeqZeroIgnored) {
            return;
        }
        match message.payload {
            None => self.error(
                seq,
                INVALID_REQUEST,
                "the frame has no payload this server knows",
            ),
            Some(Payload::Ack(_)) => self.on_ack(seq),
            Some(Payload::AuthResponse(auth)) => self.on_login(seq, auth),
            Some(Payload::Register(register)) => self.on_register(seq, register),
            Some(Payload::Unregister(_)) => self.on_unregister(seq),
            Some(Payload::RequestPreKeys(request)) => self.on_request_prekeys(seq, request).await,
            Some(Payload::OutboundMessage(message)) => self.on_outbound(seq, message),
            Some(Payload::RequestUploadAuthorizations(request)) => {
                self.on_upload(seq, request.num_requested)
            }
            Some(
                Payload::Error(_)
                | Payload::Configuration(_)
                | Payload::AuthChallenge(_)
                | Payload::PreKeys(_)
                | Payload::PreKeysLow(_)
                | Payload::UploadAuthorizations(_)
                | Payload::InboundMessage(_),
            ) => self.error(seq, INVALID_REQUEST, "only the server sends this payload"),
        }
    }

    /// T-SEQ-ACK-UNKNOWN, T-ACK-DONE: an Ack with the sequence of a delivered message removes
    /// that message; any other Ack is ignored.
    fn on_ack(&mut self, seq: u32) {
        let found = match (&self.address, self.state) {
            (Some(address), State::Authenticated) => {
                self.delivered.remove(&seq).map(|id| (address.clone(), id))
            }
            _ => None,
        };
        match found {
            Some((address, id)) => {
                if self.on(Fault::AckAppliedLate) {
                    let shared = self.shared.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        shared.store.ack(&address, id);
                    });
                } else {
                    self.shared.store.ack(&address, id);
                }
            }
            None => {
                if self.on(Fault::UnknownAckError) {
                    self.error(
                        seq,
                        INVALID_REQUEST,
                        "no delivered message has this sequence",
                    );
                }
            }
        }
    }

    fn on_login(&mut self, seq: u32, auth: wire::AuthResponse) {
        if self.state == State::Authenticated && !self.on(Fault::SecondLoginAccepted) {
            self.error(
                seq,
                ATTEMPTED_ANONYMOUS_OP,
                "this connection is already authenticated",
            );
            return;
        }
        let Ok(login) = wire::Login::decode(auth.login.clone()) else {
            return self.login_failed(seq, INVALID_REQUEST, "the login does not parse as Login");
        };
        let Some(address) = login.address.clone() else {
            if self.on(Fault::CrashLoginNoAddress) {
                self.then = Then::Crash;
                return;
            }
            return self.login_failed(seq, INVALID_REQUEST, "the login has no address");
        };
        if let Err(why) = check_identity(&self.shared, &address.identity_key) {
            return self.login_failed(seq, UNAUTHORIZED, why);
        }
        if let Err(why) = check_device(&self.shared, &address.device_id) {
            return self.login_failed(seq, INVALID_REQUEST, why);
        }
        let same = if self.on(Fault::NonceXorCompare) {
            xor_folded_same(&login.nonce, &self.nonce)
        } else {
            same_bytes(&login.nonce, &self.nonce)
        };
        let nonce_ok = self.on(Fault::NonceNotChecked)
            || same
            || (self.on(Fault::ReplayAccepted) && self.shared.was_issued(&login.nonce));
        if !nonce_ok {
            return self.login_failed(seq, UNAUTHORIZED, "the nonce is not this connection's");
        }
        let Ok(signature) = <[u8; 64]>::try_from(&auth.signature[..]) else {
            if auth.signature.len() < 64 && self.on(Fault::CrashShortSignature) {
                self.then = Then::Crash;
                return;
            }
            return self.login_failed(seq, INVALID_REQUEST, "the signature must be 64 bytes");
        };
        let mut key = [0u8; 32];
        key.copy_from_slice(&address.identity_key[..32]);
        let signed = if self.on(Fault::ReserializeLogin) {
            Bytes::from(login.encode_to_vec())
        } else {
            auth.login.clone()
        };
        let address = Address {
            identity: address.identity_key,
            device: address.device_id,
        };
        let verified = self.on(Fault::SignatureUnchecked)
            || xeddsa::verify(&key, &signed, &signature, self.shared.lax());
        if !verified {
            if self.on(Fault::FailedLoginDelivers) {
                let (tx, _rx) = unbounded_channel();
                let (session, backlog) = self.shared.store.subscribe(&address, tx);
                self.shared.store.unsubscribe(&address, session);
                self.login_failed(seq, UNAUTHORIZED, "the signature does not verify");
                for message in backlog {
                    let bytes = self.inbound_frame(message);
                    self.out.push(bytes);
                }
                return;
            }
            return self.login_failed(seq, UNAUTHORIZED, "the signature does not verify");
        }
        if self.on(Fault::LoginNeedsRegistration) && self.shared.store.others_registered(&address) {
            return self.login_failed(seq, UNAUTHORIZED, "this device is not registered");
        }
        self.authenticate(seq, address);
    }

    /// T-AUTH-CLOSE: an Error, then nothing more, and the connection closes.
    fn login_failed(&mut self, seq: u32, name: &str, why: &str) {
        self.error(seq, name, why);
        if self.on(Fault::FailedLoginStillServes) {
            return;
        }
        self.leave();
        self.state = State::Failed;
        self.next_check = None;
        self.then = if self.on(Fault::FailedLoginLeftOpen) {
            Then::CloseAt(Instant::now() + Duration::from_secs(30))
        } else {
            Then::Close(CloseCode::Policy, "login failed")
        };
    }

    /// T-AUTH-OK: binds the address, replies, delivers the backlog, checks the prekeys.
    fn authenticate(&mut self, seq: u32, address: Address) {
        self.leave();
        self.delivered.clear();
        let (tx, rx) = unbounded_channel();
        let (session, mut backlog) = self.shared.store.subscribe(&address, tx);
        self.address = Some(address);
        self.session = Some(session);
        self.pushes = Some(rx);
        self.state = State::Authenticated;
        if self.on(Fault::LoginReplyPreKeys) {
            self.reply(seq, Payload::PreKeys(wire::PreKeys::default()));
        } else {
            self.ack(seq);
        }
        if self.on(Fault::OrderReversed) {
            backlog.reverse();
        }
        for message in backlog {
            self.deliver(message);
        }
        self.check_prekeys();
    }

    /// The frame of an InboundMessage (TB-INBOUND-FORM: typed), taking a server sequence.
    fn inbound_frame(&mut self, message: Stored) -> Bytes {
        let sequence = self.next_seq();
        self.delivered.insert(sequence, message.id);
        let mut bytes = message.bytes;
        if self.on(Fault::DeliverMutated) && !bytes.is_empty() {
            let mut mutated = bytes.to_vec();
            if let Some(last) = mutated.last_mut() {
                *last ^= 0x01;
            }
            bytes = Bytes::from(mutated);
        }
        if self.on(Fault::InboundRawBytes) || self.on(Fault::InboundExtraSenderField) {
            let mut buf = Vec::with_capacity(bytes.len() + 64);
            prost::encoding::uint32::encode(1, &sequence, &mut buf);
            if self.on(Fault::InboundRawBytes) {
                prost::encoding::bytes::encode(16, &bytes, &mut buf);
            } else {
                let mut inner = wire::InboundMessage {
                    unidentified_sender_message: bytes,
                }
                .encode_to_vec();
                let sender = message.sender.unwrap_or_default();
                prost::encoding::string::encode(15, &sender, &mut inner);
                prost::encoding::bytes::encode(16, &inner, &mut buf);
            }
            return Bytes::from(buf);
        }
        Bytes::from(
            wire::Message {
                sequence,
                payload: Some(Payload::InboundMessage(wire::InboundMessage {
                    unidentified_sender_message: bytes,
                })),
            }
            .encode_to_vec(),
        )
    }

    /// T-DELIVER: pushes one message to this authenticated connection.
    fn deliver(&mut self, message: Stored) {
        let frame = self.inbound_frame(message);
        self.out.push(frame);
    }

    /// TB-PK-LOW: PreKeysLow while the device is registered and below the limit.
    fn check_prekeys(&mut self) {
        if self.state != State::Authenticated {
            return;
        }
        let settings = &self.shared.settings;
        let every = if self.on(Fault::PreKeysLowFlood) {
            settings.prekeys_interval / 20
        } else {
            settings.prekeys_interval
        };
        self.next_check = Some(Instant::now() + every);
        if self.on(Fault::PreKeysLowNever) {
            return;
        }
        let Some(address) = &self.address else {
            return;
        };
        let low = match self.shared.store.one_time_count(address) {
            Some(count) => count < settings.prekeys_low as usize,
            None => self.sent_low && self.on(Fault::PreKeysLowAfterUnregister),
        };
        if low {
            let keys_requested = settings.prekeys_request;
            self.push(Payload::PreKeysLow(wire::PreKeysLow { keys_requested }));
            self.sent_low = true;
        }
    }

    /// T-AUTHED-ONLY: the bound address, or an Error unauthorized.
    fn authed_address(&mut self, seq: u32, what: &str) -> Option<Address> {
        if self.state == State::Authenticated {
            return self.address.clone();
        }
        if self.on(Fault::RegisterAnonymousAllowed) {
            self.ack(seq);
        } else {
            self.error(
                seq,
                UNAUTHORIZED,
                &format!("{what} needs an authenticated connection: log in first"),
            );
        }
        None
    }

    /// T-ANON-ONLY and T-ANON: whether an anonymous operation may go ahead.
    fn anonymous_allowed(&mut self, seq: u32) -> bool {
        if self.state == State::Authenticated && !self.on(Fault::AnonOpsOnAuthed) {
            self.error(
                seq,
                ATTEMPTED_ANONYMOUS_OP,
                "use an anonymous connection for this request",
            );
            return false;
        }
        self.anonymous_requests += 1;
        if self.anonymous_requests == 1 && self.on(Fault::AnonFirstRequestRefused) {
            self.error(seq, UNAUTHORIZED, "not yet");
            return false;
        }
        true
    }

    fn on_register(&mut self, seq: u32, register: wire::Register) {
        let Some(address) = self.authed_address(seq, "Register") else {
            return;
        };
        let empty = register.one_time_pre_keys.is_empty();
        if empty && self.on(Fault::RegisterEmptyRefused) {
            self.error(seq, INVALID_REQUEST, "no one-time prekeys");
            return;
        }
        self.shared.store.register(
            &address,
            register.signed_pre_key,
            register.one_time_pre_keys,
        );
        if !(empty && self.on(Fault::NoReplyRegisterEmpty)) {
            self.ack(seq);
            if self.on(Fault::RegisterAckedTwice) {
                self.ack(seq);
            }
        }
        self.check_prekeys();
    }

    fn on_unregister(&mut self, seq: u32) {
        let Some(address) = self.authed_address(seq, "Unregister") else {
            return;
        };
        let was = self.shared.store.unregister(&address);
        if !was && self.on(Fault::UnregisterUnregisteredError) {
            self.error(seq, UNKNOWN_IDENTITY, "this device is not registered");
        } else {
            self.ack(seq);
        }
    }

    async fn on_request_prekeys(&mut self, seq: u32, request: wire::RequestPreKeys) {
        if !self.anonymous_allowed(seq) {
            return;
        }
        let identity = request.identity_key;
        let long_ok = identity.len() > 32 && self.on(Fault::LongKeyAliasing);
        if identity.len() != 32 && !long_ok {
            self.error(seq, UNKNOWN_IDENTITY, "identityKey must be 32 bytes");
            return;
        }
        let race = self.on(Fault::PrekeyRace);
        let store = &self.shared.store;
        match store.request_prekeys(&identity, &request.known_device_ids, !race) {
            Ok(keys) => {
                if race {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    store.remove_handed(&identity, &keys);
                }
                let low: Vec<bool> = keys
                    .iter()
                    .map(|key| {
                        let address = Address {
                            identity: identity.clone(),
                            device: key.device_id.clone(),
                        };
                        store
                            .one_time_count(&address)
                            .is_some_and(|n| n < self.shared.settings.prekeys_low as usize)
                    })
                    .collect();
                self.reply(seq, Payload::PreKeys(wire::PreKeys { pre_keys: keys }));
                if self.on(Fault::PreKeysLowAnonymous) {
                    let keys_requested = self.shared.settings.prekeys_request;
                    for _ in low.into_iter().filter(|&l| l) {
                        self.push(Payload::PreKeysLow(wire::PreKeysLow { keys_requested }));
                    }
                }
            }
            Err(PreKeysError::UnknownIdentity) => self.error(
                seq,
                UNKNOWN_IDENTITY,
                "no registered device has this identityKey",
            ),
            Err(PreKeysError::Other) => self.error(seq, UNKNOWN_ERROR, "cannot hand out prekeys"),
        }
    }

    fn on_outbound(&mut self, seq: u32, message: wire::OutboundMessage) {
        if !self.anonymous_allowed(seq) {
            return;
        }
        let Some(to) = message.to else {
            if self.on(Fault::CrashOutboundNoTo) {
                self.then = Then::Crash;
                return;
            }
            self.error(seq, INVALID_REQUEST, "OutboundMessage needs `to`");
            return;
        };
        let checked = check_identity(&self.shared, &to.identity_key)
            .and_then(|()| check_device(&self.shared, &to.device_id));
        if let Err(why) = checked {
            self.error(seq, INVALID_REQUEST, &format!("`to`: {why}"));
            return;
        }
        let to = Address {
            identity: to.identity_key,
            device: to.device_id,
        };
        let sender = self
            .on(Fault::InboundExtraSenderField)
            .then(|| format!("sender={}", self.peer));
        match self
            .shared
            .store
            .send(&to, message.unidentified_sender_message, sender)
        {
            Ok(()) => {
                if !self.on(Fault::SendNoAck) {
                    self.ack(seq);
                }
            }
            Err(SendError::Full) => self.error(
                seq,
                UNKNOWN_ERROR,
                "the recipient's inbox is full; retry after it has received its messages",
            ),
            Err(SendError::Unknown) => self.error(seq, UNKNOWN_IDENTITY, "unknown address"),
        }
    }

    /// T-UPLOAD, TB-UPLOAD-NONE.
    fn on_upload(&mut self, seq: u32, requested: i32) {
        if !self.anonymous_allowed(seq) {
            return;
        }
        if requested <= 0 && self.on(Fault::UploadNonpositiveSilent) {
            return;
        }
        let settings = &self.shared.settings;
        let expires = if self.on(Fault::UploadExpirySeconds) {
            (unix_millis() + UPLOAD_VALIDITY.as_millis() as i64) / 1000
        } else {
            unix_millis() + UPLOAD_VALIDITY.as_millis() as i64
        };
        let max_upload_size = if self.on(Fault::UploadMaxTooBig) {
            settings.max_attachment_size.saturating_add(1)
        } else {
            settings.max_attachment_size
        };
        let authorizations = (0..requested.clamp(0, MAX_AUTHORIZATIONS))
            .map(|_| {
                let mut id = [0u8; 16];
                rand::rng().fill_bytes(&mut id);
                let key: String = id.iter().map(|b| format!("{b:02x}")).collect();
                let url = format!("{}{key}", settings.upload_base);
                wire::UploadAuthorization {
                    upload_url: url.clone(),
                    upload_form_data: [("key".to_owned(), key)].into_iter().collect(),
                    authorization_expires_at: expires,
                    max_upload_size,
                    download_url: url,
                }
            })
            .collect();
        self.reply(
            seq,
            Payload::UploadAuthorizations(wire::UploadAuthorizations { authorizations }),
        );
    }
}

/// One connection without a socket, for the cargo-fuzz target (`fuzzing.rs`).
pub(crate) struct Detached {
    conn: Conn,
}

impl Detached {
    /// A fresh anonymous connection of `shared`, with this nonce; its hello is discarded.
    #[cfg_attr(mutants, mutants::skip)] // the fuzz target's entry, not the server's
    pub(crate) fn new(shared: Arc<Shared>, nonce: Bytes) -> Detached {
        let idle_timeout = shared.settings.idle_timeout;
        let mut conn = Conn {
            shared,
            peer: SocketAddr::from(([127, 0, 0, 1], 9)),
            next_seq: 1,
            nonce,
            state: State::Anonymous,
            address: None,
            session: None,
            pushes: None,
            delivered: HashMap::new(),
            next_check: None,
            sent_low: false,
            anonymous_requests: 0,
            out: Vec::new(),
            then: Then::Continue,
            last_data: Instant::now(),
            idle_timeout,
        };
        conn.hello();
        conn.out.clear();
        Detached { conn }
    }

    /// Log in as `identity`/`device` without a signature (the fuzz target's authenticated
    /// start); the reply is discarded.
    #[cfg_attr(mutants, mutants::skip)] // the fuzz target's entry, not the server's
    pub(crate) fn authenticate(&mut self, identity: Vec<u8>, device: Vec<u8>) {
        self.conn.authenticate(
            0,
            Address {
                identity: identity.into(),
                device: device.into(),
            },
        );
        self.conn.out.clear();
    }

    /// Handle one binary frame as the connection task would, then deliver what the store
    /// pushed; returns the frames written. `false` in the second place: the connection would
    /// end here (closed, or the server crashed).
    #[cfg_attr(mutants, mutants::skip)] // the fuzz target's entry, not the server's
    pub(crate) async fn frame(&mut self, bytes: Bytes) -> (Vec<Vec<u8>>, bool) {
        if self.conn.then != Then::Continue {
            return (Vec::new(), false);
        }
        self.conn.on_binary(bytes).await;
        while let Some(rx) = self.conn.pushes.as_mut() {
            match rx.try_recv() {
                Ok(Push::Inbound(message)) => {
                    if self.conn.state == State::Authenticated {
                        self.conn.deliver(message);
                    }
                }
                Ok(Push::CheckPreKeys) => self.conn.check_prekeys(),
                Err(_) => break,
            }
        }
        if self.conn.then == Then::Crash {
            self.conn.shared.crash();
        }
        let out = std::mem::take(&mut self.conn.out)
            .into_iter()
            .map(|b| b.to_vec())
            .collect();
        (out, self.conn.then == Then::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison() {
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"abc", b"ab"));
    }

    #[test]
    fn device_ids() {
        assert!(device_id_length(b"", MAX_DEVICE_ID).is_err());
        assert!(device_id_length(&[7; 1], MAX_DEVICE_ID).is_ok());
        assert!(device_id_length(&[7; 64], MAX_DEVICE_ID).is_ok());
        assert!(device_id_length(&[7; 65], MAX_DEVICE_ID).is_err());
    }
}
