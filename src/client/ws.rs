//! A WebSocket client for a hostile server (tassis-v2 speaks over one WebSocket per
//! connection): it never hangs and never panics. Connecting and upgrading run under
//! `connect_timeout`, every send under `frame_timeout`, every receive under the caller's
//! bound; a message from the server larger than `max_message` is refused from its frame
//! header, before any of it is buffered; a connection delivers at most `max_messages`.
//!
//! The socket is opened here (TCP, and tokio-rustls for `wss://` with the suite's trust
//! settings: system roots plus `--ca-cert`, or `--insecure`, ALPN `http/1.1` only) and
//! handed to tokio-tungstenite for the upgrade and the framing. Messages are sent exactly as
//! given: one unfragmented, uncompressed frame, whatever the size; [`WsConn::send_frame`]
//! sends any single frame (fragments, reserved bits and opcodes) for hostile-frame checks.
//!
//! A [`WsError`] says whether the suite could not reach or trust the server
//! ([`WsError::is_transport`]) or the server misbehaved; the first is never a conformance
//! verdict.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode;
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as TError, Message};
use tokio_tungstenite::WebSocketStream;
use url::Url;

use super::{origin::OriginPolicy, tls, ClientError, ClientOptions};

/// How long a close frame's reply may take to send.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(1);

/// Largest response head [`WsClient::plain_get`] reads.
const PLAIN_HEAD_CAP: usize = 64 * 1024;

/// The bounds of every connection of a [`WsClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsLimits {
    /// Bound of one send (and of the polite close).
    pub frame_timeout: Duration,
    /// Bound of TCP connect, TLS handshake and upgrade together (and of a whole
    /// [`WsClient::plain_get`]).
    pub connect_timeout: Duration,
    /// Largest message (after reassembly of fragments) and frame read from the server.
    pub max_message: usize,
    /// Most messages (data and control) read on one connection.
    pub max_messages: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            frame_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            max_message: 1 << 20,
            max_messages: 100_000,
        }
    }
}

impl WsLimits {
    /// The default limits with both timeouts set to the suite's `--timeout`.
    pub fn with_timeout(timeout: Duration) -> WsLimits {
        WsLimits {
            frame_timeout: timeout,
            connect_timeout: timeout,
            ..WsLimits::default()
        }
    }
}

/// Why a WebSocket operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// The URL is not a usable `ws://` or `wss://` URL.
    #[error(
        "{url} is not a usable WebSocket URL: {reason}; give ws://HOST[:PORT]/PATH or wss://…"
    )]
    Url {
        /// The URL (at most 200 characters).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The origin policy forbids the URL.
    #[error("not sent: {0}")]
    Origin(String),
    /// The TCP connection could not be made.
    #[error("cannot connect to {addr}: {detail} (is the server running at this address?)")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The system's reason.
        detail: String,
    },
    /// The TLS handshake failed: mostly an untrusted certificate.
    #[error(
        "TLS handshake with {host} failed: {detail} (for a private CA pass --ca-cert, or \
         --insecure to skip certificate checks)"
    )]
    Tls {
        /// The server name.
        host: String,
        /// rustls' reason.
        detail: String,
    },
    /// The server did not complete the WebSocket upgrade.
    #[error("the WebSocket upgrade failed{}: {detail}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Handshake {
        /// The status code the server answered, when it answered one.
        status: Option<u16>,
        /// What went wrong.
        detail: String,
    },
    /// Nothing happened within the bound.
    #[error("{what}: no progress within {after:?} (raise --timeout if the server is just slow)")]
    Timeout {
        /// What was being done.
        what: &'static str,
        /// The bound.
        after: Duration,
    },
    /// The connection is over (closed by either side, or broken).
    #[error("the connection is closed: {0}")]
    Closed(String),
    /// The server announced a message over `max_message`; it was not read.
    #[error(
        "the server sent a message of {size} bytes, over the suite's limit of {max} bytes; \
         it was refused from its header and the connection dropped"
    )]
    TooBig {
        /// The announced size (as far as known).
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The server sent more than `max_messages` messages on the connection.
    #[error(
        "the server sent more than {max} messages on one connection; the suite stopped reading"
    )]
    TooMany {
        /// The limit.
        max: usize,
    },
    /// Anything else the WebSocket layer refused.
    #[error("WebSocket error: {0}")]
    Protocol(String),
}

impl WsError {
    /// Whether the suite could not reach, or was not allowed to reach, or could not trust the
    /// server: a problem of the run's setup, never a verdict on the server. (A refused
    /// connection may still mean a server that went down: callers decide with context.)
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            WsError::Url { .. }
                | WsError::Origin(_)
                | WsError::Connect { .. }
                | WsError::Tls { .. }
        )
    }
}

/// How a connection ended without a close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoneCause {
    /// TCP closed or reset (possibly in the middle of a frame).
    Disconnected,
    /// The server broke the WebSocket protocol (masked or reserved frames, bad UTF-8, …);
    /// the client dropped the connection.
    ProtocolViolation,
}

/// What [`WsConn::recv`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A binary message.
    Binary(Vec<u8>),
    /// A text message.
    Text(String),
    /// A close frame (the reply close frame was sent); the connection is over.
    Closed {
        /// Its status code, if it had one.
        code: Option<u16>,
        /// Its reason text.
        reason: String,
    },
    /// The connection ended without a close frame; it is over.
    Gone {
        /// Why.
        cause: GoneCause,
        /// Details for the report.
        detail: String,
    },
}

/// One frame exactly as [`WsConn::send_frame`] sends it (masked, as a client must).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// FIN bit.
    pub fin: bool,
    /// RSV1, RSV2, RSV3.
    pub rsv: [bool; 3],
    /// Opcode (4 bits; 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong, others
    /// reserved).
    pub opcode: u8,
    /// Payload.
    pub payload: Vec<u8>,
}

/// Opens WebSocket connections with the suite's trust settings and origin policy. Cheap to
/// clone; build once per run.
#[derive(Clone)]
pub struct WsClient {
    tls: TlsConnector,
    origins: OriginPolicy,
    limits: WsLimits,
}

impl std::fmt::Debug for WsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsClient")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Scheme, host and port of a WebSocket URL.
struct Target {
    tls: bool,
    host: String,
    port: u16,
}

impl Target {
    fn of(url: &Url) -> Result<Target, WsError> {
        let bad = |reason: &str| WsError::Url {
            url: url.as_str().chars().take(200).collect(),
            reason: reason.into(),
        };
        let tls = match url.scheme() {
            "wss" => true,
            "ws" => false,
            _ => return Err(bad("the scheme is neither ws nor wss")),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err(bad("there is no host")),
        };
        let port = url
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        Ok(Target { tls, host, port })
    }
}

impl WsClient {
    /// A client with the trust settings and origin policy of `opts` (its `timeout` and
    /// body limits are not used: `limits` bounds everything).
    pub fn new(opts: &ClientOptions, limits: WsLimits) -> Result<WsClient, ClientError> {
        if limits.frame_timeout.is_zero() || limits.connect_timeout.is_zero() {
            return Err(ClientError::Options(
                "WebSocket timeouts must be greater than zero".into(),
            ));
        }
        if limits.max_message == 0 || limits.max_messages == 0 {
            return Err(ClientError::Options(
                "WebSocket message limits must be greater than zero".into(),
            ));
        }
        let roots = match &opts.ca_cert_pem {
            Some(pem) => tls::parse_ca_pem(pem)?,
            None => Vec::new(),
        };
        Ok(WsClient {
            tls: TlsConnector::from(tls::raw_config(opts, &roots)?),
            origins: opts.origins.clone(),
            limits,
        })
    }

    /// The limits of this client's connections.
    pub fn limits(&self) -> WsLimits {
        self.limits
    }

    /// Checks the origin and opens TCP (and TLS for `wss`) to the URL's host.
    async fn open(&self, url: &Url) -> Result<(Io, Target), WsError> {
        self.origins
            .check(url)
            .map_err(|e| WsError::Origin(e.to_string()))?;
        let target = Target::of(url)?;
        let addr = format!("{}:{}", target.host, target.port);
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| WsError::Connect {
                addr,
                detail: e.to_string(),
            })?;
        // Frames are written whole; no need to wait for ACKs.
        let _ = tcp.set_nodelay(true);
        if !target.tls {
            return Ok((Io::Plain(tcp), target));
        }
        let tls_err = |detail: String| WsError::Tls {
            host: target.host.clone(),
            detail,
        };
        let name = ServerName::try_from(target.host.clone())
            .map_err(|e| tls_err(format!("not a valid server name: {e}")))?;
        let stream = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| tls_err(e.to_string()))?;
        Ok((Io::Tls(Box::new(stream)), target))
    }

    /// Connects to a `ws://` or `wss://` URL and completes the upgrade, all within
    /// `connect_timeout`.
    pub async fn connect(&self, url: &Url) -> Result<WsConn, WsError> {
        self.connect_with(url, &[]).await
    }

    /// As [`WsClient::connect`], with more header fields on the upgrade request (a `Cookie`
    /// the server must refuse, say). A name or value HTTP cannot carry is an error of the
    /// caller ([`WsError::Url`]).
    pub async fn connect_with(
        &self,
        url: &Url,
        headers: &[(String, String)],
    ) -> Result<WsConn, WsError> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
        let after = self.limits.connect_timeout;
        let config = WebSocketConfig::default()
            .max_message_size(Some(self.limits.max_message))
            .max_frame_size(Some(self.limits.max_message));
        let bad = |reason: String| WsError::Url {
            url: url.as_str().chars().take(200).collect(),
            reason,
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| bad(e.to_string()))?;
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| bad(format!("header name {name:?}: {e}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| bad(format!("header value {value:?}: {e}")))?;
            request.headers_mut().append(name, value);
        }
        let connect = async {
            let (io, _) = self.open(url).await?;
            let (ws, _response) =
                tokio_tungstenite::client_async_with_config(request, io, Some(config))
                    .await
                    .map_err(|e| handshake_error(e, url))?;
            Ok(WsConn {
                ws,
                limits: self.limits,
                frames: 0,
                bytes: 0,
                ended: None,
            })
        };
        tokio::time::timeout(after, connect)
            .await
            .unwrap_or(Err(WsError::Timeout {
                what: "connecting and upgrading to WebSocket",
                after,
            }))
    }

    /// A plain HTTP/1.1 GET of the WebSocket URL (as `http`/`https`) without an upgrade
    /// (TB-WS-UPGRADE): the status code of the answer. Only the response head is read (at
    /// most 64 KiB); the body is discarded. Bounded by `connect_timeout`.
    pub async fn plain_get(&self, url: &Url) -> Result<u16, WsError> {
        let after = self.limits.connect_timeout;
        let get = async {
            let (mut io, target) = self.open(url).await?;
            let mut host = url.host_str().unwrap_or(&target.host).to_string();
            if let Some(port) = url.port() {
                host = format!("{host}:{port}");
            }
            let path = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_string(),
            };
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: edgecheck\r\n\
                 Accept: */*\r\nConnection: close\r\n\r\n"
            );
            io.write_all(request.as_bytes())
                .await
                .map_err(|e| WsError::Closed(format!("sending the GET failed: {e}")))?;
            read_status(&mut io).await
        };
        tokio::time::timeout(after, get)
            .await
            .unwrap_or(Err(WsError::Timeout {
                what: "a plain GET of the WebSocket URL",
                after,
            }))
    }
}

/// Reads a response head (skipping interim 1xx answers other than 101) and returns its
/// status.
async fn read_status(io: &mut Io) -> Result<u16, WsError> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = response.code.unwrap_or(0);
                if (100..200).contains(&status) && status != 101 {
                    buf.drain(..len);
                    continue;
                }
                return Ok(status);
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err(WsError::Protocol(format!("not an HTTP response: {e}"))),
        }
        if buf.len() > PLAIN_HEAD_CAP {
            return Err(WsError::Protocol(format!(
                "the response head is over {PLAIN_HEAD_CAP} bytes"
            )));
        }
        match io.read(&mut chunk).await {
            Ok(0) => {
                return Err(WsError::Closed(
                    "the server closed the connection before a complete response head".into(),
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(WsError::Closed(format!("reading the response failed: {e}"))),
        }
    }
}

/// The error of a failed upgrade.
fn handshake_error(e: TError, url: &Url) -> WsError {
    let failed = |status, detail: String| WsError::Handshake { status, detail };
    match e {
        TError::Http(response) => {
            let status = response.status().as_u16();
            failed(
                Some(status),
                format!("the server answered {status} instead of 101 Switching Protocols"),
            )
        }
        TError::HttpFormat(e) => failed(None, format!("the answer is not HTTP: {e}")),
        TError::AttackAttempt => failed(
            None,
            "the answer's head is over 64 KiB or came in too many small pieces".into(),
        ),
        TError::Protocol(p) => failed(None, format!("the upgrade answer is invalid: {p}")),
        TError::Io(e) => failed(
            None,
            format!("the connection failed during the upgrade: {e}"),
        ),
        TError::Url(e) => WsError::Url {
            url: url.as_str().chars().take(200).collect(),
            reason: e.to_string(),
        },
        other => failed(None, other.to_string()),
    }
}

/// One upgraded connection. Dropping it drops the socket (like [`WsConn::abort`]).
pub struct WsConn {
    ws: WebSocketStream<Io>,
    limits: WsLimits,
    frames: usize,
    bytes: u64,
    /// Why the connection is over, once it is (reported once as an [`Incoming`], then as
    /// [`WsError::Closed`]).
    ended: Option<String>,
}

impl std::fmt::Debug for WsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConn")
            .field("frames", &self.frames)
            .field("bytes", &self.bytes)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl WsConn {
    fn open(&self) -> Result<(), WsError> {
        match &self.ended {
            Some(why) => Err(WsError::Closed(why.clone())),
            None => Ok(()),
        }
    }

    fn end(&mut self, why: impl Into<String>) {
        if self.ended.is_none() {
            self.ended = Some(why.into());
        }
    }

    /// Sends a message under `frame_timeout`; a failed or timed-out send ends the connection.
    async fn send_message(&mut self, m: Message) -> Result<(), WsError> {
        self.open()?;
        let after = self.limits.frame_timeout;
        match tokio::time::timeout(after, self.ws.send(m)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                let err = match e {
                    TError::ConnectionClosed | TError::AlreadyClosed => {
                        WsError::Closed("the connection was already closed".into())
                    }
                    TError::Io(e) => WsError::Closed(format!("sending failed: {e}")),
                    other => WsError::Protocol(other.to_string()),
                };
                self.end(err.to_string());
                Err(err)
            }
            Err(_) => {
                self.end("a send timed out (the server stopped reading)");
                Err(WsError::Timeout {
                    what: "sending a message (the server does not read)",
                    after,
                })
            }
        }
    }

    /// Sends exactly these bytes as one binary message: one unfragmented, uncompressed frame
    /// of any size (no limit applies to what the suite sends).
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<(), WsError> {
        self.send_message(Message::Binary(bytes.into())).await
    }

    /// Sends one text message (one frame).
    pub async fn send_text(&mut self, s: String) -> Result<(), WsError> {
        self.send_message(Message::Text(s.into())).await
    }

    /// Sends one frame exactly as described (masked with a random key, as clients must):
    /// fragments, reserved bits or opcodes, oversized control frames. The WebSocket layer
    /// does not check it.
    pub async fn send_frame(&mut self, frame: RawFrame) -> Result<(), WsError> {
        let header = FrameHeader {
            is_final: frame.fin,
            rsv1: frame.rsv[0],
            rsv2: frame.rsv[1],
            rsv3: frame.rsv[2],
            opcode: OpCode::from(frame.opcode & 0x0f),
            mask: None,
        };
        let raw = Frame::from_payload(header, frame.payload.into());
        self.send_message(Message::Frame(raw)).await
    }

    /// The next message within `within`: `Ok(None)` when none came (the connection stays
    /// usable). Pings are answered and skipped. A close frame or the end of the connection
    /// is reported once as [`Incoming::Closed`] or [`Incoming::Gone`], then every call
    /// returns [`WsError::Closed`]. Errors ([`WsError::TooBig`], [`WsError::TooMany`]) end
    /// the connection too.
    pub async fn recv(&mut self, within: Duration) -> Result<Option<Incoming>, WsError> {
        self.open()?;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Cancel-safe: a partly read frame stays buffered in the stream. With no time
            // left, only what has arrived is read: a timer would wait for its next tick.
            let next = if within.is_zero() {
                match self.ws.next().now_or_never() {
                    None => return Ok(None),
                    Some(next) => next,
                }
            } else {
                match tokio::time::timeout_at(deadline, self.ws.next()).await {
                    Err(_) => return Ok(None),
                    Ok(next) => next,
                }
            };
            let message = match next {
                None => {
                    self.end("the connection ended");
                    return Ok(Some(Incoming::Gone {
                        cause: GoneCause::Disconnected,
                        detail: "the connection ended".into(),
                    }));
                }
                Some(Err(e)) => return self.failed(e),
                Some(Ok(m)) => m,
            };
            self.frames += 1;
            if self.frames > self.limits.max_messages {
                let max = self.limits.max_messages;
                self.end(format!("over {max} messages"));
                return Err(WsError::TooMany { max });
            }
            match message {
                Message::Binary(b) => {
                    self.bytes += b.len() as u64;
                    return Ok(Some(Incoming::Binary(b.to_vec())));
                }
                Message::Text(t) => {
                    self.bytes += t.len() as u64;
                    return Ok(Some(Incoming::Text(t.as_str().to_owned())));
                }
                Message::Close(frame) => {
                    self.end("closed by the server");
                    // The reply close frame is queued; send it now, briefly (a courtesy).
                    let courtesy = self.limits.frame_timeout.min(CLOSE_REPLY_WAIT);
                    let _ = tokio::time::timeout(courtesy, self.ws.flush()).await;
                    let (code, reason) = match frame {
                        Some(f) => (Some(u16::from(f.code)), f.reason.as_str().to_owned()),
                        None => (None, String::new()),
                    };
                    return Ok(Some(Incoming::Closed { code, reason }));
                }
                // The pong is queued by the WebSocket layer and sent with the next read or
                // write.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            }
        }
    }

    /// Turns a read error into what `recv` returns; the connection is over either way.
    fn failed(&mut self, e: TError) -> Result<Option<Incoming>, WsError> {
        let gone = |cause, detail: String| Ok(Some(Incoming::Gone { cause, detail }));
        let result = match e {
            TError::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
                Err(WsError::TooBig {
                    size,
                    max: max_size,
                })
            }
            TError::ConnectionClosed => gone(
                GoneCause::Disconnected,
                "the connection closed after the close handshake".into(),
            ),
            TError::AlreadyClosed => Err(WsError::Closed("the connection was closed".into())),
            TError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => gone(
                GoneCause::Disconnected,
                "the server closed the TCP connection without a close frame".into(),
            ),
            TError::Io(e) => gone(
                GoneCause::Disconnected,
                format!("the connection broke: {e}"),
            ),
            TError::Protocol(p) => gone(GoneCause::ProtocolViolation, p.to_string()),
            TError::Utf8(detail) => gone(
                GoneCause::ProtocolViolation,
                format!("a text message is not UTF-8: {detail}"),
            ),
            other => gone(GoneCause::ProtocolViolation, other.to_string()),
        };
        let why = match &result {
            Err(e) => e.to_string(),
            Ok(Some(Incoming::Gone { detail, .. })) => detail.clone(),
            Ok(_) => "the connection ended".into(),
        };
        self.end(why);
        result
    }

    /// Closes politely: a close frame (1000), then waits up to `frame_timeout` for the
    /// server's close (messages in between are dropped), then drops the socket.
    pub async fn close(&mut self) {
        if self.ended.is_some() {
            return;
        }
        self.end("closed by the suite");
        let ws = &mut self.ws;
        let _ = tokio::time::timeout(self.limits.frame_timeout, async {
            if ws.close(None).await.is_err() {
                return;
            }
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    }

    /// Drops the connection without a close frame (a FIN, no TLS close_notify): an abrupt
    /// client disconnect.
    pub fn abort(self) {
        drop(self);
    }

    /// Drops the connection with a TCP reset (SO_LINGER 0), without a close frame.
    pub fn reset(self) {
        let tcp = match self.ws.get_ref() {
            Io::Plain(s) => s,
            Io::Tls(s) => s.get_ref().0,
        };
        let _ = tcp.set_zero_linger();
        drop(self);
    }

    /// Messages read so far (data and control frames; fragments count once per message).
    pub fn frames_received(&self) -> usize {
        self.frames
    }

    /// Payload bytes of the data messages read so far.
    pub fn bytes_received(&self) -> u64 {
        self.bytes
    }

    /// Why the connection is over, once it is.
    pub fn ended(&self) -> Option<&str> {
        self.ended.as_deref()
    }
}

/// The socket under a connection: TCP, or TLS over TCP.
enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(limits: WsLimits) -> Result<WsClient, ClientError> {
        WsClient::new(&ClientOptions::default(), limits)
    }

    #[test]
    fn limits_must_be_positive() {
        assert!(client(WsLimits::default()).is_ok());
        for bad in [
            WsLimits {
                frame_timeout: Duration::ZERO,
                ..WsLimits::default()
            },
            WsLimits {
                connect_timeout: Duration::ZERO,
                ..WsLimits::default()
            },
            WsLimits {
                max_message: 0,
                ..WsLimits::default()
            },
            WsLimits {
                max_messages: 0,
                ..WsLimits::default()
            },
        ] {
            assert!(matches!(client(bad), Err(ClientError::Options(_))));
        }
        let bad_ca = ClientOptions {
            ca_cert_pem: Some(b"not a pem".to_vec()),
            ..ClientOptions::default()
        };
        assert!(matches!(
            WsClient::new(&bad_ca, WsLimits::default()),
            Err(ClientError::Ca(_))
        ));
        assert_eq!(
            WsLimits::with_timeout(Duration::from_secs(3)).connect_timeout,
            Duration::from_secs(3)
        );
    }

    #[test]
    fn targets_of_urls() {
        let t = Target::of(&Url::parse("wss://example.org/api").unwrap()).unwrap();
        assert!(t.tls && t.host == "example.org" && t.port == 443);
        let t = Target::of(&Url::parse("ws://[::1]:8080/api").unwrap()).unwrap();
        assert!(!t.tls && t.host == "::1" && t.port == 8080);
        let e = Target::of(&Url::parse("https://example.org/").unwrap())
            .err()
            .unwrap();
        assert!(matches!(e, WsError::Url { .. }) && e.is_transport());
    }

    #[test]
    fn handshake_errors_keep_the_status() {
        let u = Url::parse("ws://example.org/api").unwrap();
        let response = tokio_tungstenite::tungstenite::http::Response::builder()
            .status(426)
            .body(None)
            .unwrap();
        assert_eq!(
            handshake_error(TError::Http(Box::new(response)), &u),
            WsError::Handshake {
                status: Some(426),
                detail: "the server answered 426 instead of 101 Switching Protocols".into()
            }
        );
        let e = handshake_error(TError::AttackAttempt, &u);
        assert!(matches!(e, WsError::Handshake { status: None, .. }));
        assert!(!e.is_transport());
        assert!(e.to_string().contains("upgrade failed"));
    }

    #[tokio::test]
    async fn urls_and_origins_are_checked_before_connecting() {
        let opts = ClientOptions {
            origins: OriginPolicy::only([super::super::origin::Origin {
                scheme: "ws".into(),
                host: "allowed.invalid".into(),
                port: 80,
            }]),
            ..ClientOptions::default()
        };
        let c = WsClient::new(&opts, WsLimits::default()).unwrap();
        let elsewhere = Url::parse("ws://127.0.0.1:9/api").unwrap();
        let e = c.connect(&elsewhere).await.unwrap_err();
        assert!(matches!(e, WsError::Origin(_)) && e.is_transport(), "{e}");
        assert!(matches!(
            c.plain_get(&elsewhere).await,
            Err(WsError::Origin(_))
        ));
        let userinfo = Url::parse("ws://u:p@allowed.invalid/api").unwrap();
        assert!(matches!(
            c.connect(&userinfo).await,
            Err(WsError::Origin(_))
        ));
    }
}
