//! One connection of a check: its hello, the frames read so far, and the invariants every
//! server frame must keep (T-FRAME, TB-SEQ-SERVER, T-OPAQUE).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use prost::Message as _;

use super::scan::{self, InboundForm};
use super::Broken;
use crate::client::ws::{Incoming, RawFrame, WsConn};
use crate::profiles::tassis_v2::case::Framing;
use crate::profiles::tassis_v2::wire::{self, Configuration, Payload};

/// Frames kept for a failure's transcript.
const TRANSCRIPT: usize = 16;

/// A frame the server sent, decoded.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Its sequence number.
    pub seq: u32,
    /// Its payload (`None`: no payload).
    pub payload: Option<Payload>,
    /// The bytes as received.
    pub raw: Vec<u8>,
}

/// A push the server started.
#[derive(Debug, Clone)]
pub enum Push {
    /// An inbound message: its bytes and the form it came in.
    Inbound {
        /// The frame's sequence number (what an Ack carries).
        seq: u32,
        /// The opaque bytes.
        bytes: Vec<u8>,
        /// Field 16 held an `InboundMessage` (not the bytes themselves).
        typed: bool,
    },
    /// `PreKeysLow`.
    PreKeysLow {
        /// `keysRequested`.
        keys_requested: u32,
        /// When it was read.
        at: Instant,
    },
}

/// What ended a connection.
#[derive(Debug, Clone)]
pub struct Ended {
    /// The close code, if the server sent a close frame.
    pub code: Option<u16>,
    /// Said for messages.
    pub what: String,
}

/// A connection of a check.
pub struct Conn {
    ws: Option<WsConn>,
    /// The challenge's nonce.
    pub nonce: Vec<u8>,
    /// The Configuration.
    pub config: Configuration,
    /// Pushes in arrival order; `consumed` counts those a step has looked at already.
    pub pushes: Vec<Push>,
    /// Replies read while waiting for another one, by sequence number.
    pub replies: BTreeMap<u32, Frame>,
    /// Sequence numbers of requests sent and not yet answered.
    pub awaiting: HashSet<u32>,
    /// Sequence numbers of frames sent that expect no reply (acks).
    pub unanswered_ok: HashSet<u32>,
    /// Sequence numbers of requests answered already (a second reply breaks T-SEQ-REPLY).
    pub answered: HashSet<u32>,
    /// Check the invariants of every frame (off for the liveness check, which must not
    /// judge anything).
    pub strict: bool,
    /// The AuthResponse bytes sent, for replays.
    pub login_frame: Option<Vec<u8>>,
    /// Bytes the suite sent in OutboundMessages (to recognise the raw inbound form).
    pub sent_payloads: Vec<Vec<u8>>,
    next_server_seq: u32,
    /// Why the connection ended, once it has.
    pub ended: Option<Ended>,
    transcript: Vec<String>,
    /// Frames read.
    pub frames_in: usize,
    /// Frames sent.
    pub frames_out: usize,
}

impl Conn {
    /// A connection opened, before its hello is read.
    pub fn new(ws: WsConn) -> Conn {
        Conn {
            ws: Some(ws),
            nonce: Vec::new(),
            config: Configuration::default(),
            pushes: Vec::new(),
            replies: BTreeMap::new(),
            awaiting: HashSet::new(),
            unanswered_ok: HashSet::new(),
            answered: HashSet::new(),
            strict: true,
            login_frame: None,
            sent_payloads: Vec::new(),
            next_server_seq: 1,
            ended: None,
            transcript: Vec::new(),
            frames_in: 0,
            frames_out: 0,
        }
    }

    fn note(&mut self, line: String) {
        if self.transcript.len() == TRANSCRIPT {
            self.transcript.remove(0);
        }
        self.transcript.push(line);
    }

    /// The last frames both ways, one line each.
    pub fn transcript(&self) -> String {
        self.transcript.join("; ")
    }

    /// Send a binary frame. A connection the server has closed takes the frame silently:
    /// the steps that read judge what the closing means.
    pub async fn send(&mut self, bytes: Vec<u8>, what: String) -> Result<(), Ended> {
        self.note(format!("→ {what}"));
        self.frames_out += 1;
        if let Some(ws) = self.ws.as_mut() {
            if let Err(e) = ws.send_binary(bytes).await {
                // What the server did (a close frame, a reset) shows on the next read.
                self.note(format!("  (not sent: {e})"));
            }
        }
        Ok(())
    }

    /// Send a text frame (as [`Conn::send`]).
    pub async fn send_text(&mut self, text: String) -> Result<(), Ended> {
        self.note(format!("→ text frame of {} bytes", text.len()));
        self.frames_out += 1;
        if let Some(ws) = self.ws.as_mut() {
            if let Err(e) = ws.send_text(text).await {
                // What the server did (a close frame, a reset) shows on the next read.
                self.note(format!("  (not sent: {e})"));
            }
        }
        Ok(())
    }

    /// Send `bytes` framed as `framing` says (`send-raw` with `frame: "bytes"`): one binary
    /// or text frame, three fragments, or a first fragment followed by a close frame or by
    /// dropping the connection. Failures to send show on the next read, as for [`Conn::send`].
    pub async fn send_framed(&mut self, bytes: Vec<u8>, framing: Framing) {
        self.note(format!("→ {} bytes ({framing:?})", bytes.len()));
        self.frames_out += 1;
        let Some(ws) = self.ws.as_mut() else {
            return;
        };
        let frame = |fin: bool, opcode: u8, payload: Vec<u8>| RawFrame {
            fin,
            rsv: [false; 3],
            opcode,
            payload,
        };
        let third = bytes.len() / 3;
        let r = match framing {
            Framing::Binary => ws.send_binary(bytes).await,
            Framing::Text => ws.send_frame(frame(true, 1, bytes)).await,
            Framing::Fragments => {
                let (a, rest) = bytes.split_at(third);
                let (b, c) = rest.split_at(third);
                let mut r = ws.send_frame(frame(false, 2, a.to_vec())).await;
                if r.is_ok() {
                    r = ws.send_frame(frame(false, 0, b.to_vec())).await;
                }
                if r.is_ok() {
                    r = ws.send_frame(frame(true, 0, c.to_vec())).await;
                }
                r
            }
            Framing::UnfinishedClose | Framing::UnfinishedAbort => {
                let first = bytes[..third.max(1).min(bytes.len())].to_vec();
                let r = ws.send_frame(frame(false, 2, first)).await;
                if framing == Framing::UnfinishedClose {
                    // A close frame (1000) in the middle of a fragmented message.
                    let _ = ws.send_frame(frame(true, 8, vec![0x03, 0xe8])).await;
                    // Give the server a moment to read it before the connection goes.
                    let _ = ws.recv(Duration::from_millis(50)).await;
                }
                self.disconnect(true).await;
                r
            }
        };
        if let Err(e) = r {
            self.note(format!("  (not sent: {e})"));
        }
    }

    /// Close politely, or drop the TCP connection.
    pub async fn disconnect(&mut self, abrupt: bool) {
        if let Some(mut ws) = self.ws.take() {
            if abrupt {
                ws.abort();
            } else {
                ws.close().await;
            }
        }
        self.ended.get_or_insert(Ended {
            code: None,
            what: "closed by the suite".into(),
        });
    }

    /// Read the next frame until `deadline`: `Ok(None)` when none came, `Err` when the
    /// connection ended or a frame broke an invariant.
    pub async fn next(&mut self, deadline: Instant) -> Result<Option<Frame>, Read> {
        if let Some(e) = &self.ended {
            return Err(Read::Ended(e.clone()));
        }
        let Some(ws) = self.ws.as_mut() else {
            return Err(Read::Ended(Ended {
                code: None,
                what: "closed by the suite".into(),
            }));
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let incoming = match ws.recv(left).await {
            Ok(None) => return Ok(None),
            Ok(Some(i)) => i,
            Err(e) => {
                let ended = Ended {
                    code: None,
                    what: format!("the connection failed: {e}"),
                };
                self.ended = Some(ended.clone());
                return Err(Read::Ended(ended));
            }
        };
        self.frames_in += 1;
        let raw = match incoming {
            Incoming::Binary(b) => b,
            Incoming::Text(t) if self.strict => {
                self.note(format!("← text frame of {} bytes", t.len()));
                return Err(Read::Broken(Broken::new(
                    "T-FRAME",
                    "binary frames only",
                    format!("a text frame: {}", clip(&t)),
                )));
            }
            Incoming::Text(t) => t.into_bytes(),
            Incoming::Closed { code, reason } => {
                let what = match code {
                    Some(c) => format!("the server closed the connection (code {c} {reason})"),
                    None => "the server closed the connection".to_string(),
                };
                self.note(format!(
                    "← close {}",
                    code.map_or(String::new(), |c| c.to_string())
                ));
                let ended = Ended { code, what };
                self.ended = Some(ended.clone());
                self.ws = None;
                return Err(Read::Ended(ended));
            }
            Incoming::Gone { detail: why, .. } => {
                self.note("← connection dropped".into());
                let ended = Ended {
                    code: None,
                    what: format!("the connection dropped without a close frame ({why})"),
                };
                self.ended = Some(ended.clone());
                self.ws = None;
                return Err(Read::Ended(ended));
            }
        };
        // The raw inbound form does not decode as InboundMessage: look at field 16 itself.
        if scan::fields(&raw).is_some_and(|f| f.iter().any(|f| f.number == 16)) {
            if let Some((form, extra)) = scan::inbound(&raw, &self.sent_payloads) {
                if !extra.is_empty() && self.strict {
                    return Err(Read::Broken(Broken::new(
                        "T-OPAQUE",
                        "an InboundMessage carries only the opaque bytes",
                        format!("it also carries {}", extra.join(", ")),
                    )));
                }
                let (bytes, typed) = match form {
                    InboundForm::Typed(b) => (b, true),
                    InboundForm::Raw(b) => (b, false),
                };
                let frame = Frame {
                    seq: scan::sequence(&raw),
                    payload: Some(Payload::InboundMessage(wire::InboundMessage {
                        unidentified_sender_message: bytes.clone(),
                    })),
                    raw,
                };
                self.check_server_seq(&frame)?;
                self.note(format!(
                    "← seq {} inboundMessage ({} bytes)",
                    frame.seq,
                    bytes.len()
                ));
                self.pushes.push(Push::Inbound {
                    seq: frame.seq,
                    bytes,
                    typed,
                });
                return Ok(Some(frame));
            }
        }
        let msg = match wire::Message::decode(raw.as_slice()) {
            Ok(m) => m,
            Err(_) if !self.strict => {
                return Ok(Some(Frame {
                    seq: 0,
                    payload: None,
                    raw,
                }))
            }
            Err(e) => {
                self.note(format!("← {} bytes that do not parse", raw.len()));
                return Err(Read::Broken(Broken::new(
                    "T-FRAME",
                    "one serialized Message per binary frame",
                    format!("{} bytes that do not parse: {e}", raw.len()),
                )));
            }
        };
        let frame = Frame {
            seq: msg.sequence,
            payload: msg.payload,
            raw,
        };
        self.note(format!("← seq {} {}", frame.seq, describe(&frame.payload)));
        match &frame.payload {
            Some(Payload::PreKeysLow(p)) => {
                self.check_server_seq(&frame)?;
                self.pushes.push(Push::PreKeysLow {
                    keys_requested: p.keys_requested,
                    at: Instant::now(),
                });
            }
            Some(Payload::AuthChallenge(_)) | Some(Payload::Configuration(_)) => {
                self.check_server_seq(&frame)?;
            }
            _ => {}
        }
        Ok(Some(frame))
    }

    fn check_server_seq(&mut self, frame: &Frame) -> Result<(), Read> {
        let want = self.next_server_seq;
        self.next_server_seq = frame.seq.wrapping_add(1);
        if frame.seq != want && self.strict {
            return Err(Read::Broken(Broken::new(
                "TB-SEQ-SERVER",
                format!(
                    "the server's own counter: {} with sequence {want}",
                    describe(&frame.payload)
                ),
                format!("sequence {}", frame.seq),
            )));
        }
        Ok(())
    }

    /// Read the hello: one AuthChallenge and one Configuration, in either order (T-HELLO).
    pub async fn hello(&mut self, within: Duration) -> Result<(), Read> {
        let deadline = Instant::now() + within;
        let (mut challenge, mut config) = (None, None);
        while challenge.is_none() || config.is_none() {
            let frame = match self.next(deadline).await? {
                Some(f) => f,
                None => {
                    return Err(Read::Broken(Broken::new(
                        "T-HELLO",
                        "an AuthChallenge and a Configuration right after the upgrade",
                        format!(
                            "{} within {} ms",
                            match (&challenge, &config) {
                                (None, None) => "neither",
                                (Some(_), None) => "no Configuration",
                                _ => "no AuthChallenge",
                            },
                            within.as_millis()
                        ),
                    )))
                }
            };
            match frame.payload {
                Some(Payload::AuthChallenge(c)) if challenge.is_none() => challenge = Some(c),
                Some(Payload::Configuration(c)) if config.is_none() => config = Some(c),
                other => {
                    return Err(Read::Broken(Broken::new(
                        "T-HELLO",
                        "one AuthChallenge and one Configuration before anything else",
                        format!("{} first", describe(&other)),
                    )))
                }
            }
        }
        self.nonce = challenge.map(|c| c.nonce).unwrap_or_default();
        self.config = config.unwrap_or_default();
        if self.config.max_attachment_size <= 0 {
            return Err(Read::Broken(Broken::new(
                "T-CONFIG",
                "Configuration.maxAttachmentSize > 0",
                self.config.max_attachment_size.to_string(),
            )));
        }
        Ok(())
    }

    /// Pushes that arrived after the first `from`, that no step has looked at.
    pub fn pushes_since(&self, from: usize) -> &[Push] {
        &self.pushes[from.min(self.pushes.len())..]
    }
}

/// Why a read did not give a frame.
#[derive(Debug)]
pub enum Read {
    /// The connection ended.
    Ended(Ended),
    /// A frame broke an invariant.
    Broken(Broken),
}

/// A payload in a few words.
pub fn describe(p: &Option<Payload>) -> String {
    match p {
        None => "a frame without payload".into(),
        Some(Payload::Error(e)) => format!("error {}", e.name),
        Some(p) => p.name().to_string(),
    }
}

fn clip(s: &str) -> String {
    let mut t: String = s.chars().take(80).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t.escape_debug().to_string()
}
