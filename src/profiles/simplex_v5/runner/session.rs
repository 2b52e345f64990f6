//! One WebSocket session of a case: its hello nonce, the replies and pushes read so far, its
//! subscriptions, and the invariant every server message must keep (V-WS-JSON).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::{Broken, Stop};
use crate::client::ws::{Incoming, RawFrame, WsConn};
use crate::profiles::edge_v1::wire;

/// Messages kept for a failure's transcript.
const TRANSCRIPT: usize = 16;

/// What a read got.
#[derive(Debug)]
pub(crate) enum Read {
    /// A message was read (queued as reply or push).
    Got,
    /// Nothing within the time.
    Nothing,
    /// The session is over: the close code (if the server sent a close frame) and why.
    Ended(Option<u16>, String),
}

/// A push read and not yet looked at: the `recipientURI` it names and the whole object.
#[derive(Debug, Clone)]
pub(crate) struct Pushed {
    /// Its `recipientURI` (empty when it has none).
    pub uri: String,
    /// The whole push.
    pub value: Value,
}

/// A subscription of the session, by connection name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sub {
    /// The messages pushed in it so far.
    pub pushed: Vec<String>,
    /// The messages the connection held when the subscription began (its backlog).
    pub backlog: Vec<String>,
}

/// A WebSocket session of a case.
pub struct Session {
    ws: Option<WsConn>,
    /// The hello's nonce exactly as sent.
    pub nonce: String,
    /// Replies (messages other than pushes) read and not yet looked at, in order.
    pub(crate) replies: VecDeque<Value>,
    /// Pushes read and not yet looked at, in order.
    pub(crate) pushes: VecDeque<Pushed>,
    /// Subscriptions, by connection name.
    pub(crate) subs: HashMap<String, Sub>,
    /// Why the session ended, once it has.
    pub(crate) ended: Option<(Option<u16>, String)>,
    transcript: VecDeque<String>,
}

fn short(s: &str) -> String {
    if s.len() > 160 {
        let mut end = 160;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…({} bytes)", &s[..end], s.len())
    } else {
        s.to_string()
    }
}

impl Session {
    /// A session opened, before its hello is read.
    pub(crate) fn new(ws: WsConn) -> Session {
        Session {
            ws: Some(ws),
            nonce: String::new(),
            replies: VecDeque::new(),
            pushes: VecDeque::new(),
            subs: HashMap::new(),
            ended: None,
            transcript: VecDeque::new(),
        }
    }

    fn note(&mut self, line: String) {
        if self.transcript.len() == TRANSCRIPT {
            self.transcript.pop_front();
        }
        self.transcript.push_back(line);
    }

    /// The last messages both ways, one line each.
    pub fn transcript(&self) -> String {
        self.transcript
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Send a text message. A session the server has closed takes it silently: the steps
    /// that read judge what the closing means.
    pub(crate) async fn send_text(&mut self, text: String) {
        self.note(format!("→ {}", short(&text)));
        if let Some(ws) = self.ws.as_mut() {
            if let Err(e) = ws.send_text(text).await {
                self.note(format!("  (not sent: {e})"));
            }
        }
    }

    /// Send a binary message (as [`Session::send_text`]).
    pub(crate) async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.note(format!("→ binary message of {} bytes", bytes.len()));
        if let Some(ws) = self.ws.as_mut() {
            if let Err(e) = ws.send_binary(bytes).await {
                self.note(format!("  (not sent: {e})"));
            }
        }
    }

    /// Send a text message in three fragments.
    pub(crate) async fn send_fragmented(&mut self, bytes: Vec<u8>) {
        self.note(format!("→ {} bytes in three fragments", bytes.len()));
        let Some(ws) = self.ws.as_mut() else {
            return;
        };
        let third = bytes.len() / 3;
        let (a, rest) = bytes.split_at(third);
        let (b, c) = rest.split_at(third);
        let frame = |fin: bool, opcode: u8, payload: &[u8]| RawFrame {
            fin,
            rsv: [false; 3],
            opcode,
            payload: payload.to_vec(),
        };
        let mut r = ws.send_frame(frame(false, 1, a)).await;
        if r.is_ok() {
            r = ws.send_frame(frame(false, 0, b)).await;
        }
        if r.is_ok() {
            r = ws.send_frame(frame(true, 0, c)).await;
        }
        if let Err(e) = r {
            self.note(format!("  (not sent: {e})"));
        }
    }

    /// Send the first of three fragments of a text message and nothing more.
    pub(crate) async fn send_partial(&mut self, bytes: Vec<u8>) {
        self.note(format!(
            "→ the first fragment of {} bytes, unfinished",
            bytes.len()
        ));
        let Some(ws) = self.ws.as_mut() else {
            return;
        };
        let third = (bytes.len() / 3).max(1).min(bytes.len());
        let frame = RawFrame {
            fin: false,
            rsv: [false; 3],
            opcode: 1,
            payload: bytes[..third].to_vec(),
        };
        if let Err(e) = ws.send_frame(frame).await {
            self.note(format!("  (not sent: {e})"));
        }
    }

    /// Read one message before `deadline`; replies and pushes are queued. A message that is
    /// not text holding one JSON object breaks V-WS-JSON.
    pub(crate) async fn read(&mut self, deadline: Instant) -> Result<Read, Stop> {
        if let Some((code, why)) = &self.ended {
            return Ok(Read::Ended(*code, why.clone()));
        }
        let Some(ws) = self.ws.as_mut() else {
            return Ok(Read::Ended(None, "closed by the suite".into()));
        };
        let within = deadline.saturating_duration_since(Instant::now());
        let got = match ws.recv(within).await {
            Ok(None) => return Ok(Read::Nothing),
            Ok(Some(m)) => m,
            Err(e) => {
                // Too big or too many: the server's doing, but the session is over.
                let why = e.to_string();
                self.note(format!("← {why}"));
                self.ended = Some((None, why.clone()));
                return Ok(Read::Ended(None, why));
            }
        };
        match got {
            Incoming::Text(t) => {
                self.note(format!("← {}", short(&t)));
                let v = wire::parse_value_strict(&t).map_err(|e| {
                    Stop::Broken(
                        Broken::new(
                            "V-WS-JSON",
                            "a text message holding one JSON object",
                            format!("{} ({e})", short(&t)),
                        ),
                        None,
                    )
                })?;
                if !v.is_object() {
                    return Err(Broken::new(
                        "V-WS-JSON",
                        "a text message holding one JSON object",
                        short(&t),
                    )
                    .into());
                }
                if v.get("type").and_then(Value::as_str) == Some("message") {
                    let uri = v
                        .get("recipientURI")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    self.pushes.push_back(Pushed { uri, value: v });
                } else {
                    self.replies.push_back(v);
                }
                Ok(Read::Got)
            }
            Incoming::Binary(b) => {
                self.note(format!("← binary message of {} bytes", b.len()));
                Err(Broken::new(
                    "V-WS-JSON",
                    "text messages only",
                    format!("a binary message of {} bytes", b.len()),
                )
                .into())
            }
            Incoming::Closed { code, reason } => {
                let why = format!(
                    "closed by the server{}{}",
                    code.map(|c| format!(" with {c}")).unwrap_or_default(),
                    if reason.is_empty() {
                        String::new()
                    } else {
                        format!(" ({reason})")
                    }
                );
                self.note(format!("← {why}"));
                self.ended = Some((code, why.clone()));
                Ok(Read::Ended(code, why))
            }
            Incoming::Gone { detail, .. } => {
                self.note(format!("← {detail}"));
                self.ended = Some((None, detail.clone()));
                Ok(Read::Ended(None, detail))
            }
        }
    }

    /// Read for `within` (or until the session ends), queueing everything.
    pub(crate) async fn drain(&mut self, within: Duration) -> Result<(), Stop> {
        let deadline = Instant::now() + within;
        loop {
            match self.read(deadline).await? {
                Read::Got => {}
                Read::Nothing | Read::Ended(..) => return Ok(()),
            }
        }
    }

    /// Close politely and forget the connection.
    pub(crate) async fn close(&mut self) {
        if let Some(mut ws) = self.ws.take() {
            ws.close().await;
        }
    }
}
