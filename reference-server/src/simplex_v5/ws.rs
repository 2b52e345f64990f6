//! The WebSocket API on `CE` (spec §5): the upgrade (V-WS-URI, cookies → 400), the hello
//! with the session nonce (VB-WS-HELLO), and one session's requests, replies and pushes.
//!
//! Everything of one session runs in one task, one event at a time: a reply and the backlog
//! it starts are queued before the next event is looked at, so the subscribe reply comes
//! before any push for it, and the backlog before later messages (VB-WS-BACKLOG). Each
//! subscription remembers the last message it pushed, so nothing is pushed twice in it
//! (V-WS-ORDER), and a push is sent only while its message still exists (none after
//! `delete_message`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use rand::RngCore as _;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::{oneshot, watch};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role as WsRole, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as Frame};
use tokio_tungstenite::WebSocketStream;

use crate::simplex_v5::faults::Fault;
use crate::simplex_v5::rest::{self, App, Body};
use crate::simplex_v5::store::{ConnId, Lookup, Message, Push, Role, SessionId};
use crate::simplex_v5::wsproto::{self, Invalid, Request as WsRequest};

/// Random bytes of a hello nonce (VB-WS-HELLO asks for at least 16).
const NONCE_BYTES: usize = 32;
/// How long the upgraded connection may take to appear after the 101.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long writing one message may take before the session is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Nonces remembered for the `nonce-unsigned` fault.
const REMEMBERED_NONCES: usize = 64;
/// The pause between backlog messages under the `double-push` fault: wide enough that a
/// send right after the subscribe reply lands inside the backlog on a loaded machine.
const DOUBLE_PUSH_PACE: Duration = Duration::from_millis(100);

/// The WebSocket sessions of one server.
pub(crate) struct Sessions {
    app: Arc<App>,
    /// `MAX_WEBSOCKET_MESSAGE`.
    max_message: usize,
    idle_timeout: Duration,
    life: watch::Receiver<bool>,
    next_session: AtomicU64,
    /// `nonce-unsigned`: the nonces of earlier sessions.
    issued: Mutex<VecDeque<String>>,
}

impl Sessions {
    /// The sessions of the server whose REST side is `app`.
    pub(crate) fn new(
        app: Arc<App>,
        max_message: usize,
        idle_timeout: Duration,
        life: watch::Receiver<bool>,
    ) -> Sessions {
        Sessions {
            app,
            max_message,
            idle_timeout,
            life,
            next_session: AtomicU64::new(1),
            issued: Mutex::default(),
        }
    }

    /// The REST side.
    pub(crate) fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The largest message tungstenite reads: twice `MAX_WEBSOCKET_MESSAGE`. Messages between
    /// the two get `invalid`; larger ones close the session with 1009 (VB-WS-LIMIT).
    fn hard_limit(&self) -> usize {
        self.max_message.saturating_mul(2)
    }

    /// Runs one session on an upgraded connection until it ends.
    pub(crate) async fn run(self: &Arc<Self>, upgrade: OnUpgrade) {
        let Ok(Ok(upgraded)) = timeout(UPGRADE_TIMEOUT, upgrade).await else {
            return;
        };
        let limit = self.hard_limit();
        let config = WebSocketConfig::default()
            .max_message_size(Some(limit))
            .max_frame_size(Some(limit))
            .read_buffer_size(16 * 1024)
            .write_buffer_size(16 * 1024)
            .max_write_buffer_size(1 << 20);
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), WsRole::Server, Some(config))
                .await;
        let (tx, rx) = unbounded_channel();
        let mut session = Session {
            sessions: self.clone(),
            app: self.app.clone(),
            id: self.next_session.fetch_add(1, Ordering::Relaxed),
            nonce: String::new(),
            tx,
            subs: HashMap::new(),
            out: Vec::new(),
            pacing: None,
        };
        session.serve(ws, rx).await;
    }

    /// A fresh nonce, remembered for `nonce-unsigned`.
    fn new_nonce(&self) -> String {
        let mut bytes = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let nonce = STANDARD.encode(bytes);
        if self.app.fault(Fault::NonceUnsigned) {
            let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
            issued.push_back(nonce.clone());
            if issued.len() > REMEMBERED_NONCES {
                issued.pop_front();
            }
        }
        nonce
    }

    /// `nonce-unsigned`: the nonces of every remembered session.
    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    fn issued_nonces(&self) -> Vec<String> {
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued.iter().cloned().collect()
    }
}

/// Whether `request` asks for a WebSocket on `CE` (its path without the query).
pub(crate) fn is_upgrade(app: &App, request: &Request<Incoming>) -> bool {
    let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    request.method() == Method::GET
        && path == app.paths.create_path()
        && has_token(request.headers(), header::UPGRADE, "websocket")
}

/// Whether a header field's comma-separated list holds `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// The refusal of an upgrade request: 400 for a cookie (V-400) or a query, 426 for what is
/// not a WebSocket version 13 upgrade over HTTP/1.1, 400 for a bad key.
pub(crate) fn refuse(app: &App, request: &Request<Incoming>) -> Option<Response<Body>> {
    let headers = request.headers();
    if headers.contains_key(header::COOKIE) && !app.fault(Fault::CookieAccepted) {
        return Some(rest::error(
            StatusCode::BAD_REQUEST,
            "cookies are not allowed",
        ));
    }
    if request.uri().query().is_some() {
        return Some(rest::error(
            StatusCode::BAD_REQUEST,
            "no query is allowed here",
        ));
    }
    let upgrade =
        request.version() == Version::HTTP_11 && has_token(headers, header::CONNECTION, "upgrade");
    let version_13 = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    if !upgrade || !version_13 {
        let mut response = rest::error(
            StatusCode::UPGRADE_REQUIRED,
            "open a WebSocket (version 13) over HTTP/1.1",
        );
        let h = response.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return Some(response);
    }
    let key_ok = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .is_some_and(|k| STANDARD.decode(k.as_bytes()).is_ok_and(|d| d.len() == 16));
    if !key_ok {
        return Some(rest::error(
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Key must be 16 bytes in base64",
        ));
    }
    None
}

/// Accepts a checked upgrade: 101, and the connection goes through `tx` once hyper lets go.
pub(crate) fn accept(
    mut request: Request<Incoming>,
    tx: oneshot::Sender<OnUpgrade>,
) -> Response<Body> {
    let accept = request
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|k| derive_accept_key(k.as_bytes()));
    let _ = tx.send(hyper::upgrade::on(&mut request));
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Some(Ok(accept)) = accept.map(|a| HeaderValue::from_str(&a)) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// One subscription of a session.
struct Subscription {
    /// The store's number of this subscription.
    generation: u64,
    /// `seq` of the last message pushed in it.
    last_seq: u64,
    /// The `recipientURI` create returned (pushes carry it).
    uri: String,
    /// New messages are pushed even if the backlog pushed them (`double-push` only).
    no_dedupe: bool,
}

/// `double-push`: a backlog pushed one message at a time, each written before the next.
struct Pacing {
    conn: ConnId,
    /// `seq` of the last message it pushed.
    after: u64,
    /// When the next message is due.
    next: Instant,
}

/// What woke the session up.
enum Event {
    Stop,
    Frame(Option<Result<Frame, WsError>>),
    Push(Option<Push>),
    /// The next message of a paced backlog is due.
    Pace,
    Idle,
}

/// What to do after the pending messages are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    Continue,
    /// Close with this code.
    Close(CloseCode, &'static str),
    /// Drop the connection without a close frame (a crash fault).
    Drop,
}

struct Session {
    sessions: Arc<Sessions>,
    app: Arc<App>,
    id: SessionId,
    nonce: String,
    tx: UnboundedSender<Push>,
    subs: HashMap<ConnId, Subscription>,
    out: Vec<String>,
    /// A paced backlog in progress (`double-push` only); frames and pushes wait for it.
    pacing: Option<Pacing>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.app.store.leave(self.id, self.subs.keys().copied());
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

impl Session {
    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    fn fault(&self, fault: Fault) -> bool {
        self.app.fault(fault)
    }

    async fn serve<S>(&mut self, mut ws: WebSocketStream<S>, mut pushes: UnboundedReceiver<Push>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut life = self.sessions.life.clone();
        if *life.borrow_and_update() {
            return;
        }
        if !self.fault(Fault::NoHello) {
            self.nonce = self.sessions.new_nonce();
            self.queue(&json!({"type": "hello", "nonce": self.nonce}));
        }
        let idle_timeout = self.sessions.idle_timeout;
        let mut last_data = Instant::now();
        loop {
            if self.flush(&mut ws).await.is_err() {
                return;
            }
            let pace_at = self.pacing.as_ref().map(|p| p.next);
            let event = tokio::select! {
                biased;
                changed = life.changed() => {
                    if changed.is_err() || *life.borrow_and_update() {
                        Event::Stop
                    } else {
                        continue;
                    }
                }
                () = sleep_until(pace_at.unwrap_or(last_data)), if pace_at.is_some() => Event::Pace,
                frame = ws.next(), if pace_at.is_none() => Event::Frame(frame),
                push = pushes.recv(), if pace_at.is_none() => Event::Push(push),
                () = sleep_until(last_data + idle_timeout) => Event::Idle,
            };
            let then = match event {
                Event::Stop => Then::Close(CloseCode::Away, "the server is shutting down"),
                Event::Idle => Then::Close(CloseCode::Normal, "idle"),
                Event::Push(None) => Then::Continue,
                Event::Pace => {
                    self.pace();
                    Then::Continue
                }
                Event::Push(Some(push)) => {
                    self.forward(push);
                    Then::Continue
                }
                Event::Frame(None) => return,
                Event::Frame(Some(Err(WsError::Capacity(_)))) => {
                    if self.fault(Fault::LargeMessageCrash) {
                        Then::Drop
                    } else {
                        Then::Close(CloseCode::Size, "message over twice MAX_WEBSOCKET_MESSAGE")
                    }
                }
                Event::Frame(Some(Err(WsError::Utf8(_)))) => {
                    Then::Close(CloseCode::Invalid, "text message is not UTF-8")
                }
                Event::Frame(Some(Err(_))) => return,
                Event::Frame(Some(Ok(frame))) => match frame {
                    Frame::Text(text) => {
                        last_data = Instant::now();
                        self.on_text(text.as_str()).await
                    }
                    Frame::Binary(bytes) => {
                        last_data = Instant::now();
                        self.on_binary(bytes.len())
                    }
                    // tungstenite answers the close frame; the stream then ends.
                    Frame::Close(_) => Then::Continue,
                    // Pings are answered by tungstenite and do not count as data.
                    Frame::Ping(_) | Frame::Pong(_) | Frame::Frame(_) => Then::Continue,
                },
            };
            match then {
                Then::Continue => {}
                Then::Drop => return,
                Then::Close(code, reason) => {
                    if self.flush(&mut ws).await.is_ok() {
                        close(&mut ws, code, reason).await;
                    }
                    return;
                }
            }
        }
    }

    async fn flush<S>(&mut self, ws: &mut WebSocketStream<S>) -> Result<(), ()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if self.out.is_empty() {
            return Ok(());
        }
        // Each message (and the final flush) gets its own deadline: a slow reader that makes
        // progress is served, a stalled one is given up.
        for text in std::mem::take(&mut self.out) {
            match timeout(WRITE_TIMEOUT, ws.feed(Frame::text(text))).await {
                Ok(Ok(())) => {}
                _ => return Err(()),
            }
        }
        match timeout(WRITE_TIMEOUT, ws.flush()).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }

    fn queue(&mut self, value: &Value) {
        self.out.push(value.to_string());
    }

    /// A binary message: `invalid` with `""` (V-WS-JSON).
    fn on_binary(&mut self, len: usize) -> Then {
        if self.fault(Fault::BinaryFrameCrash) {
            return Then::Drop;
        }
        if len > self.sessions.max_message && self.fault(Fault::LargeMessageCrash) {
            return Then::Drop;
        }
        self.queue(&Invalid::whole().reply());
        Then::Continue
    }

    async fn on_text(&mut self, text: &str) -> Then {
        if text.len() > self.sessions.max_message {
            if self.fault(Fault::LargeMessageCrash) {
                return Then::Drop;
            }
            self.queue(&Invalid::whole().reply());
            return Then::Continue;
        }
        match wsproto::parse(text, self.app.faults) {
            Err(invalid) => self.queue(&invalid.reply()),
            Ok(WsRequest::Subscribe { id, uri, auth }) => self.subscribe(&id, &uri, &auth).await,
            Ok(WsRequest::Unsubscribe { id, uri }) => self.unsubscribe(&id, &uri),
            Ok(WsRequest::DeleteMessage {
                id,
                uri,
                message_id,
            }) => self.delete_message(&id, &uri, &message_id),
            Ok(WsRequest::Ping { id }) => self.queue(&json!({"id": id, "type": "pong"})),
        }
        Then::Continue
    }

    /// The live connection whose `RU` is `uri`, compared byte for byte (VB-WS-URI).
    fn resolve(&self, uri: &str) -> Option<Lookup> {
        let app = &self.app;
        let found = if app.fault(Fault::UriCaseInsensitive) {
            let lower = uri.to_ascii_lowercase();
            let origin = app.origin.to_ascii_lowercase();
            let path = lower.strip_prefix(&origin)?;
            let token = app.paths.token_of(path)?;
            app.store.lookup_ignore_case(token)
        } else {
            let path = uri.strip_prefix(&app.origin)?;
            app.store.lookup(app.paths.token_of(path)?)
        };
        found.filter(|f| f.role == Role::Recipient)
    }

    async fn subscribe(&mut self, id: &str, uri: &str, auth: &[u8]) {
        let found = self.resolve(uri);
        let input = wsproto::subscribe_signing_input(&self.nonce, id, uri);
        let key = found.as_ref().map(|f| &*f.rk);
        let verifier = &self.app.verifier;
        let mut ok = if found.is_none() && self.fault(Fault::SkipVerifyUnknownUri) {
            false
        } else {
            verifier.verify(key, &digest(&SHA256, &input), Some(auth))
        };
        if !ok && key.is_some() && self.fault(Fault::NonceUnsigned) {
            ok = self.sessions.issued_nonces().iter().any(|nonce| {
                let input = wsproto::subscribe_signing_input(nonce, id, uri);
                verifier.verify(key, &digest(&SHA256, &input), Some(auth))
            });
        }
        let subscribed = match (&found, ok) {
            (Some(found), true) => self
                .app
                .store
                .subscribe(found.conn, self.id, &self.tx)
                .map(|(generation, backlog)| (found.conn, generation, backlog)),
            _ => None,
        };
        let mut reply =
            json!({"id": id, "type": "subscribe", "recipientURI": uri, "ok": subscribed.is_some()});
        if found.is_some() && !ok && self.fault(Fault::SubBadSignatureNoOk) {
            if let Some(object) = reply.as_object_mut() {
                object.remove("ok");
            }
        }
        self.queue(&reply);
        let Some((conn, generation, backlog)) = subscribed else {
            return;
        };
        let canonical = self
            .app
            .store
            .recipient_token(conn)
            .map_or_else(|| uri.to_owned(), |t| self.app.uri(&t));
        let known = self
            .subs
            .get(&conn)
            .is_some_and(|s| s.generation == generation);
        if !known {
            self.subs.insert(
                conn,
                Subscription {
                    generation,
                    last_seq: 0,
                    uri: canonical,
                    no_dedupe: false,
                },
            );
        }
        if !known && self.fault(Fault::DoublePush) {
            self.start_pacing(conn);
            return;
        }
        if !known && self.fault(Fault::BacklogNotPushed) {
            if let (Some(sub), Some(last)) = (self.subs.get_mut(&conn), backlog.last()) {
                sub.last_seq = last.seq;
            }
            return;
        }
        if self.fault(Fault::BacklogReversed) {
            let last_seq = self.subs.get(&conn).map_or(0, |s| s.last_seq);
            for message in backlog.iter().rev().filter(|m| m.seq > last_seq) {
                self.push_unchecked(conn, message);
            }
            return;
        }
        for message in backlog {
            self.push(conn, &message);
        }
    }

    /// `double-push`: the backlog read from the store one message at a time, slowly, after
    /// the reply is written; live pushes of the same messages are not filtered out.
    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    fn start_pacing(&mut self, conn: ConnId) {
        if let Some(sub) = self.subs.get_mut(&conn) {
            sub.no_dedupe = true;
        }
        self.pacing = Some(Pacing {
            conn,
            after: 0,
            next: Instant::now(),
        });
    }

    /// Pushes the next message of the paced backlog, or ends it.
    fn pace(&mut self) {
        let Some(pacing) = self.pacing.take() else {
            return;
        };
        let next = self.app.store.messages_after(pacing.conn, pacing.after, 1);
        let Some(message) = next.first() else { return };
        self.push(pacing.conn, message);
        self.pacing = Some(Pacing {
            conn: pacing.conn,
            after: message.seq,
            next: Instant::now() + DOUBLE_PUSH_PACE,
        });
    }

    /// Pushes `message` in the subscription to `conn`, unless it was pushed in it already.
    fn push(&mut self, conn: ConnId, message: &Message) {
        let Some(sub) = self.subs.get_mut(&conn) else {
            return;
        };
        if message.seq <= sub.last_seq {
            return;
        }
        self.push_unchecked(conn, message);
    }

    /// Pushes `message` in the subscription to `conn` and notes it as pushed.
    fn push_unchecked(&mut self, conn: ConnId, message: &Message) {
        let Some(sub) = self.subs.get_mut(&conn) else {
            return;
        };
        sub.last_seq = sub.last_seq.max(message.seq);
        let uri = sub.uri.clone();
        let listed = serde_json::to_value(self.app.listed(message, false)).unwrap_or(Value::Null);
        self.queue(&json!({"type": "message", "recipientURI": uri, "message": listed}));
    }

    /// A new message from the store: pushed if its subscription is current and the message
    /// still exists.
    fn forward(&mut self, push: Push) {
        let Some(sub) = self.subs.get(&push.conn) else {
            return;
        };
        if sub.generation != push.generation
            || !self.app.store.has_message(push.conn, push.message.seq)
        {
            return;
        }
        if sub.no_dedupe {
            self.push_unchecked(push.conn, &push.message);
        } else {
            self.push(push.conn, &push.message);
        }
    }

    fn unsubscribe(&mut self, id: &str, uri: &str) {
        let found = self.resolve(uri);
        let ok = match &found {
            Some(found) if self.fault(Fault::PushAfterUnsubscribe) => {
                self.app.store.subscription(found.conn, self.id).is_some()
            }
            Some(found) => {
                let ok = self.app.store.unsubscribe(found.conn, self.id);
                if ok {
                    self.subs.remove(&found.conn);
                }
                ok
            }
            None if self.fault(Fault::RestDeleteKeepsSubscriptions) => {
                let gone = self
                    .subs
                    .iter()
                    .find(|(_, s)| s.uri == uri)
                    .map(|(c, _)| *c);
                gone.and_then(|conn| self.subs.remove(&conn)).is_some()
            }
            None => false,
        };
        self.queue(&json!({"id": id, "type": "unsubscribe", "recipientURI": uri, "ok": ok}));
    }

    fn delete_message(&mut self, id: &str, uri: &str, message_id: &str) {
        let ok = self.resolve(uri).is_some_and(|found| {
            let subscribed = self.app.store.subscription(found.conn, self.id).is_some()
                || self.fault(Fault::DeleteWithoutSubscription);
            subscribed
                && self
                    .app
                    .store
                    .delete_message(found.conn, message_id)
                    .is_ok()
        });
        self.queue(&json!({
            "id": id,
            "type": "delete_message",
            "recipientURI": uri,
            "messageId": message_id,
            "ok": ok,
        }));
    }
}
