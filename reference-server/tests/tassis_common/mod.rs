//! A small tassis-v2 client for the tests: WebSocket (tokio-tungstenite), protobuf frames,
//! and a test-local XEdDSA signer. Independent of the server's connection code.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
use curve25519_dalek::scalar::Scalar;
use edge_reference_server::tassis_v2::wire::{self, message::Payload};
use edge_reference_server::tassis_v2::{start, TassisConfig, TassisServer};
use edge_reference_server::Tls;
use futures_util::{SinkExt as _, StreamExt as _};
use prost::Message as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha512};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::WebSocketStream;

/// How long a test waits for a reply.
pub const REPLY: Duration = Duration::from_secs(3);

/// A plain `ws://` server on a free port, with short PreKeysLow intervals.
pub async fn server_with(change: impl FnOnce(&mut TassisConfig)) -> TassisServer {
    let mut config = TassisConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        prekeys_interval: Duration::from_millis(100),
        ..TassisConfig::default()
    };
    change(&mut config);
    start(config).await.expect("server starts")
}

pub async fn server() -> TassisServer {
    server_with(|_| {}).await
}

fn random_scalar() -> Scalar {
    let mut wide = [0; 64];
    rand::rng().fill_bytes(&mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// An identity: an XEdDSA key pair made by the test.
pub struct Identity {
    a: Scalar,
    /// The 32-byte X25519 public key.
    pub key: Bytes,
}

impl Identity {
    pub fn new() -> Identity {
        let a = random_scalar();
        Identity {
            a,
            key: Bytes::copy_from_slice((B * a).to_montgomery().as_bytes()),
        }
    }

    /// One whose Edwards sign bit is `bit`.
    pub fn with_sign_bit(bit: u8) -> Identity {
        loop {
            let id = Identity::new();
            if id.sign_bit() == bit {
                return id;
            }
        }
    }

    pub fn sign_bit(&self) -> u8 {
        (B * self.a).compress().to_bytes()[31] >> 7
    }

    fn sign_with(a: Scalar, message: &[u8]) -> ([u8; 64], u8) {
        let big_a = (B * a).compress().to_bytes();
        let r = random_scalar();
        let big_r = (B * r).compress().to_bytes();
        let mut h = Sha512::new();
        h.update(big_r);
        h.update(big_a);
        h.update(message);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let s = r + k * a;
        let mut sig = [0; 64];
        sig[..32].copy_from_slice(&big_r);
        sig[32..].copy_from_slice(s.as_bytes());
        (sig, big_a[31] >> 7)
    }

    /// libsignal's calculateSignature: the Edwards sign bit in sig[63].
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let (mut sig, sign) = Self::sign_with(self.a, message);
        sig[63] |= sign << 7;
        sig.to_vec()
    }

    /// The XEdDSA specification: scalar negated when needed, sign bit 0.
    pub fn sign_spec(&self, message: &[u8]) -> Vec<u8> {
        let a = if self.sign_bit() == 1 {
            -self.a
        } else {
            self.a
        };
        Self::sign_with(a, message).0.to_vec()
    }

    pub fn address(&self, device: &str) -> wire::Address {
        wire::Address {
            identity_key: self.key.clone(),
            device_id: Bytes::from(device.to_owned()),
        }
    }
}

pub fn login_bytes(address: wire::Address, nonce: &Bytes) -> Bytes {
    Bytes::from(
        wire::Login {
            address: Some(address),
            nonce: nonce.clone(),
        }
        .encode_to_vec(),
    )
}

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One connection.
pub struct Client {
    ws: WebSocketStream<Box<dyn Io>>,
    /// The AuthChallenge's nonce.
    pub nonce: Bytes,
    /// The hello: AuthChallenge and Configuration, as received.
    pub hello: Vec<wire::Message>,
    /// Pushes received while waiting for replies.
    pub pushes: VecDeque<wire::Message>,
    next: u32,
}

/// Why a read ended without a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Timeout,
    Closed(Option<u16>),
}

impl Client {
    /// Connects, reads the hello.
    pub async fn connect(server: &TassisServer) -> Client {
        Self::connect_url(&server.url()).await
    }

    pub async fn connect_url(url: &str) -> Client {
        let mut client = Self::connect_raw(url).await;
        for _ in 0..2 {
            let m = client.read(REPLY).await.expect("hello");
            if let Some(Payload::AuthChallenge(c)) = &m.payload {
                client.nonce = c.nonce.clone();
            }
            client.hello.push(m);
        }
        client
    }

    /// Connects without reading anything.
    pub async fn connect_raw(url: &str) -> Client {
        let rest = url.strip_prefix("ws://").expect("ws:// URL");
        let host = rest.split('/').next().unwrap();
        let tcp = TcpStream::connect(host).await.expect("connects");
        Self::over(Box::new(tcp), url).await
    }

    pub async fn over(io: Box<dyn Io>, url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::client_async(url, io)
            .await
            .expect("WebSocket handshake");
        Client {
            ws,
            nonce: Bytes::new(),
            hello: Vec::new(),
            pushes: VecDeque::new(),
            next: 100,
        }
    }

    pub async fn send_frame(&mut self, frame: Frame) {
        let _ = self.ws.send(frame).await;
    }

    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        self.send_frame(Frame::Binary(bytes.into())).await;
    }

    pub async fn send(&mut self, sequence: u32, payload: Payload) {
        let m = wire::Message {
            sequence,
            payload: Some(payload),
        };
        self.send_raw(m.encode_to_vec()).await;
    }

    /// The next message (push or reply).
    pub async fn read(&mut self, wait: Duration) -> Result<wire::Message, Ended> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Err(Ended::Timeout),
                Ok(None) | Ok(Some(Err(_))) => return Err(Ended::Closed(None)),
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                Frame::Binary(b) => return Ok(wire::Message::decode(b).expect("a Message")),
                Frame::Close(c) => return Err(Ended::Closed(c.map(|c| u16::from(c.code)))),
                Frame::Text(_) => panic!("the server sent a text frame"),
                _ => {}
            }
        }
    }

    /// The next binary frame as sent.
    pub async fn read_raw(&mut self, wait: Duration) -> Result<Bytes, Ended> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Err(Ended::Timeout),
                Ok(None) | Ok(Some(Err(_))) => return Err(Ended::Closed(None)),
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                Frame::Binary(b) => return Ok(b),
                Frame::Close(c) => return Err(Ended::Closed(c.map(|c| u16::from(c.code)))),
                _ => {}
            }
        }
    }

    /// The next reply (anything but InboundMessage and PreKeysLow), keeping pushes aside.
    pub async fn reply(&mut self, wait: Duration) -> Result<wire::Message, Ended> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self.read(left).await?;
            match m.payload {
                Some(Payload::InboundMessage(_) | Payload::PreKeysLow(_)) => {
                    self.pushes.push_back(m)
                }
                _ => return Ok(m),
            }
        }
    }

    /// The next push, from those kept aside first.
    pub async fn push(&mut self, wait: Duration) -> Result<wire::Message, Ended> {
        if let Some(m) = self.pushes.pop_front() {
            return Ok(m);
        }
        self.read(wait).await
    }

    /// The next InboundMessage's sequence and bytes, skipping PreKeysLow.
    pub async fn inbound(&mut self, wait: Duration) -> Result<(u32, Bytes), Ended> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(i) = self
                .pushes
                .iter()
                .position(|m| matches!(m.payload, Some(Payload::InboundMessage(_))))
            {
                let m = self.pushes.remove(i).unwrap();
                let Some(Payload::InboundMessage(im)) = m.payload else {
                    unreachable!()
                };
                return Ok((m.sequence, im.unidentified_sender_message));
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self.read(left).await?;
            self.pushes.push_back(m);
        }
    }

    /// Sends a request with a fresh sequence number; returns its reply (checking the echo).
    pub async fn request(&mut self, payload: Payload) -> Payload {
        self.next += 1;
        let seq = self.next;
        self.send(seq, payload).await;
        let reply = self.reply(REPLY).await.expect("a reply");
        assert_eq!(
            reply.sequence, seq,
            "the reply echoes the request's sequence"
        );
        reply.payload.expect("a payload")
    }

    /// Logs in (libsignal-style signature); returns the reply.
    pub async fn login(&mut self, id: &Identity, device: &str) -> Payload {
        let login = login_bytes(id.address(device), &self.nonce);
        let signature = Bytes::from(id.sign(&login));
        self.request(Payload::AuthResponse(wire::AuthResponse {
            login,
            signature,
        }))
        .await
    }

    pub async fn login_ok(&mut self, id: &Identity, device: &str) {
        let reply = self.login(id, device).await;
        assert!(matches!(reply, Payload::Ack(_)), "login refused: {reply:?}");
    }

    pub async fn register(&mut self, spk: &str, keys: &[&str]) -> Payload {
        self.request(Payload::Register(wire::Register {
            signed_pre_key: Bytes::from(spk.to_owned()),
            one_time_pre_keys: keys.iter().map(|k| Bytes::from(k.to_string())).collect(),
        }))
        .await
    }

    pub async fn prekeys(&mut self, id: &Bytes, known: &[&str]) -> Payload {
        self.request(Payload::RequestPreKeys(wire::RequestPreKeys {
            identity_key: id.clone(),
            known_device_ids: known.iter().map(|k| Bytes::from(k.to_string())).collect(),
        }))
        .await
    }

    pub async fn send_message(&mut self, to: wire::Address, bytes: &[u8]) -> Payload {
        self.request(Payload::OutboundMessage(wire::OutboundMessage {
            to: Some(to),
            unidentified_sender_message: Bytes::copy_from_slice(bytes),
        }))
        .await
    }

    /// Acks a delivered message, then sends a barrier request so the ack has taken effect.
    pub async fn ack(&mut self, seq: u32) {
        self.send(seq, Payload::Ack(wire::Ack {})).await;
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

pub fn error_name(p: &Payload) -> &str {
    match p {
        Payload::Error(e) => &e.name,
        _ => "",
    }
}

/// A login over a fresh connection works: the server is alive.
pub async fn alive(server: &TassisServer) -> bool {
    let url = server.url();
    let attempt = async {
        let rest = url.strip_prefix("ws://")?;
        let host = rest.split('/').next()?;
        let tcp = TcpStream::connect(host).await.ok()?;
        let (ws, _) = tokio_tungstenite::client_async(url.as_str(), Box::new(tcp) as Box<dyn Io>)
            .await
            .ok()?;
        let mut client = Client {
            ws,
            nonce: Bytes::new(),
            hello: Vec::new(),
            pushes: VecDeque::new(),
            next: 1,
        };
        for _ in 0..2 {
            let m = client.read(REPLY).await.ok()?;
            if let Some(Payload::AuthChallenge(c)) = m.payload {
                client.nonce = c.nonce;
            }
        }
        let id = Identity::new();
        let login = login_bytes(id.address("alive"), &client.nonce);
        let signature = Bytes::from(id.sign(&login));
        client
            .send(
                7,
                Payload::AuthResponse(wire::AuthResponse { login, signature }),
            )
            .await;
        let reply = client.reply(REPLY).await.ok()?;
        Some(reply.sequence == 7 && matches!(reply.payload, Some(Payload::Ack(_))))
    };
    tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}
