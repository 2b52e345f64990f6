//! The case-file format of `tassis-v2` (`docs/tassis-v2.md`, "Case files"): serde types.
//!
//! A case is a list of steps over named WebSocket connections. Byte values are written as
//! expressions (the runner's `values` module): `$name` is 32 fresh random
//! bytes of this run, `key:alice` the public identity key of a fresh key named `alice`,
//! `text:d1` literal UTF-8, `hex:00ff` literal bytes, `""` nothing.

use serde::{Deserialize, Serialize};

pub use crate::engine::Level;

/// A file of cases for one area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaseFile {
    /// The area (`login`, `key-distribution`, ...).
    pub area: String,
    /// A human title for the area.
    pub title: String,
    /// The cases.
    pub cases: Vec<Case>,
}

/// What a case needs from the target or the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Need {
    /// `--prekeys-low` and `--prekeys-interval` (the embedded server's are known).
    PrekeysLow,
    /// A `wss://` target.
    Tls,
}

/// One check: steps against fresh connections and fresh identity keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Case {
    /// `<area>/<slug>`.
    pub id: String,
    /// What the case shows, in one line.
    pub title: String,
    /// Rule IDs the case checks.
    pub requirements: Vec<String>,
    /// MUST, SHOULD or MAY.
    pub level: Level,
    /// The case sends something hostile: afterwards the suite checks TB-ALIVE.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hostile: bool,
    /// What the case needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<Need>,
    /// The steps.
    pub steps: Vec<Step>,
}

/// How a login is spoiled (the default: a correct login).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Corrupt {
    /// None: a correct login.
    #[default]
    None,
    /// One bit of the signature flipped.
    WrongSignature,
    /// Signed by another key than the one named in the login.
    OtherKey,
    /// A random nonce instead of the connection's.
    WrongNonce,
    /// The connection's nonce with the same bit flipped in its first and last bytes: a
    /// comparison that folds the differences with XOR instead of OR sees none.
    NearNonce,
    /// The nonce of another connection (`from`).
    OtherConnectionNonce,
    /// The Login's fields in reverse order, signed over those exact bytes (must succeed).
    Reordered,
    /// Fields in reverse order sent, but the signature made over the canonical encoding.
    SignedCanonicalSentReordered,
    /// The signature made over Address‖nonce instead of the serialized Login.
    SignedAddressNonce,
    /// A 63-byte signature.
    ShortSignature,
    /// A 65-byte signature.
    LongSignature,
    /// No signature at all.
    NoSignature,
    /// `s + L` instead of `s`: a malleated signature.
    Malleated,
    /// The identity key with bit 255 set, signed by the same private key.
    Bit255,
    /// The identity key followed by one more byte, signed by the same private key.
    LongKey,
    /// The first 31 bytes of the identity key.
    ShortKey,
    /// An empty deviceId.
    EmptyDevice,
    /// A 65-byte deviceId.
    LongDevice,
    /// A Login without address.
    NoAddress,
    /// `login` bytes that are not a Login.
    Unparsable,
    /// Identity key u = p, signed without any private key (small-order point).
    ForgedP,
    /// Identity key u = p − 1, signed without any private key (small-order point).
    #[serde(rename = "forged-p-minus-1")]
    ForgedPMinus1,
    /// Identity key u = 0 (small-order point), forged.
    ForgedZero,
    /// Identity key u = p + 9 (the base point, not reduced), signed with the private scalar 1.
    #[serde(rename = "forged-p-plus-9")]
    ForgedPPlus9,
}

/// The signature convention of a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Style {
    /// The XEdDSA specification: sign bit 0.
    #[default]
    Xeddsa,
    /// libsignal's calculateSignature: the Edwards sign bit in `signature[63]`.
    Libsignal,
}

/// A frame a client sends, in JSON: one payload with byte expressions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Msg {
    /// `Ack` (as a keep-alive or for an unknown sequence).
    Ack {},
    /// `Register`.
    #[serde(rename_all = "camelCase")]
    Register {
        /// Signed prekey.
        signed_pre_key: String,
        /// One-time prekeys.
        #[serde(default)]
        one_time_pre_keys: Vec<String>,
    },
    /// `Unregister`.
    Unregister {},
    /// `RequestPreKeys`.
    #[serde(rename_all = "camelCase")]
    RequestPreKeys {
        /// Whose keys.
        identity_key: String,
        /// Devices to leave out.
        #[serde(default)]
        known_device_ids: Vec<String>,
    },
    /// `OutboundMessage`.
    #[serde(rename_all = "camelCase")]
    OutboundMessage {
        /// Recipient (absent: no `to` field).
        #[serde(default)]
        to: Option<AddressExpr>,
        /// The sealed-sender bytes.
        unidentified_sender_message: String,
    },
    /// `RequestUploadAuthorizations`.
    #[serde(rename_all = "camelCase")]
    RequestUploadAuthorizations {
        /// How many.
        num_requested: i32,
    },
    /// A payload only a server may send (`preKeys`, `error`, `inboundMessage`, ...).
    ServerOnly {
        /// The payload's field name.
        payload: String,
    },
    /// A `Message` with no payload.
    NoPayload {},
}

/// An address in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddressExpr {
    /// Identity key expression.
    pub identity_key: String,
    /// Device ID expression.
    pub device_id: String,
}

/// A frame that is not a well-formed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawFrame {
    /// Bytes that do not parse as `Message`.
    Garbage,
    /// A binary message of 0 bytes.
    Empty,
    /// A well-formed Register sent as a text frame.
    TextRegister,
    /// A text frame of plain text.
    Text,
    /// A binary `Message` of exactly 32 768 bytes (a valid OutboundMessage).
    Max,
    /// A binary message of 1 MiB.
    Oversized,
    /// A frame cut in the middle of a field.
    Truncated,
    /// Exactly the bytes of `bytes` (a byte expression, e.g. `hex:0802…`), sent as
    /// `framing` says (what `edgecheck fuzz` writes).
    Bytes,
}

/// How the bytes of a `send-raw` step with `frame: "bytes"` go on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    /// One binary frame.
    #[default]
    Binary,
    /// One text frame (the bytes as they are, UTF-8 or not).
    Text,
    /// A binary message in three fragments (binary, continuation, final continuation).
    Fragments,
    /// The first fragment of a binary message, then a close frame before the rest.
    UnfinishedClose,
    /// The first fragment of a binary message, then the TCP connection dropped.
    UnfinishedAbort,
}

impl Framing {
    /// Whether this is the default (left out of case files).
    pub fn is_binary(&self) -> bool {
        *self == Framing::Binary
    }
}

/// What reply a request expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReplyKind {
    /// `Ack`.
    Ack,
    /// `Error` (its names in `error`).
    Error,
    /// `PreKeys`.
    PreKeys,
    /// `UploadAuthorizations`.
    UploadAuthorizations,
    /// The reply to a login that must succeed: `Ack` (a later revision's `ChatNumber`
    /// passes with a note); an `Error` breaks the step's rule, anything else TB-LOGIN-REPLY.
    Login,
    /// `PreKeys` with no entries, or `Error unknown_identity` (TB-PK-ALL-KNOWN).
    NoPreKeys,
    /// An empty `UploadAuthorizations` or an `Error` (TB-UPLOAD-NONE).
    NoUploads,
    /// A frame over the server's limit: accepted (`Ack`), refused with an `Error`, or the
    /// connection closed with a close frame (1009); dropped without one breaks the rule.
    Refusal,
}

/// What one returned device entry must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreKeyExpect {
    /// The device ID expression.
    pub device: String,
    /// The signed prekey expected.
    pub signed_pre_key: String,
    /// One of these one-time keys (empty list: `oneTimePreKey` must be empty).
    pub one_time_pre_key_in: Vec<String>,
}

/// The push a step waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PushKind {
    /// `InboundMessage`.
    Inbound,
    /// `PreKeysLow`.
    PreKeysLow,
}

/// One step (`"op"` in case files).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    /// Open a connection and read its hello (T-HELLO).
    #[serde(rename_all = "camelCase")]
    Connect {
        /// Connection name.
        conn: String,
    },
    /// Send an AuthResponse.
    #[serde(rename_all = "camelCase")]
    Login {
        /// Connection name.
        conn: String,
        /// Key name (a fresh key per name and check).
        key: String,
        /// Device ID expression.
        device: String,
        /// Sequence number.
        seq: u32,
        /// How the login is spoiled.
        #[serde(default)]
        corrupt: Corrupt,
        /// Signature convention.
        #[serde(default)]
        style: Style,
        /// The connection whose nonce `other-connection-nonce` uses.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
    },
    /// Send, on `conn`, the exact AuthResponse sent earlier on `from`.
    #[serde(rename_all = "camelCase")]
    ReplayLogin {
        /// Connection name.
        conn: String,
        /// Where the login was first sent.
        from: String,
        /// Sequence number.
        seq: u32,
    },
    /// Send a typed request.
    #[serde(rename_all = "camelCase")]
    Send {
        /// Connection name.
        conn: String,
        /// Sequence number.
        seq: u32,
        /// What.
        msg: Msg,
    },
    /// Send a raw frame.
    #[serde(rename_all = "camelCase")]
    SendRaw {
        /// Connection name.
        conn: String,
        /// Which frame.
        frame: RawFrame,
        /// The bytes of `frame: "bytes"` (a byte expression).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bytes: Option<String>,
        /// How `frame: "bytes"` is framed (default: one binary frame).
        #[serde(default, skip_serializing_if = "Framing::is_binary")]
        framing: Framing,
    },
    /// Acknowledge the InboundMessage that carried these bytes on this connection.
    #[serde(rename_all = "camelCase")]
    Ack {
        /// Connection name.
        conn: String,
        /// The message's bytes expression.
        bytes: String,
    },
    /// Wait for the reply to a request.
    #[serde(rename_all = "camelCase")]
    Expect {
        /// Connection name.
        conn: String,
        /// The request's sequence number.
        seq: u32,
        /// The reply's kind.
        reply: ReplyKind,
        /// Allowed error names (for `error`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        error: Vec<String>,
        /// The entries of a `preKeys` reply, in any order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pre_keys: Option<Vec<PreKeyExpect>>,
        /// Upload authorizations: at most this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uploads_at_most: Option<usize>,
        /// The rule a wrong reply breaks.
        rule: String,
    },
    /// Wait for a push.
    #[serde(rename_all = "camelCase")]
    ExpectPush {
        /// Connection name.
        conn: String,
        /// Which push.
        push: PushKind,
        /// The inbound message's bytes expression.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bytes: Option<String>,
        /// Bound in milliseconds (default 3 000; for PreKeysLow 2 × the interval + 500 ms).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        within_ms: Option<u64>,
        /// The rule a missing push breaks.
        rule: String,
    },
    /// No such push within the time.
    #[serde(rename_all = "camelCase")]
    ExpectNoPush {
        /// Connection name.
        conn: String,
        /// Which push.
        push: PushKind,
        /// Only inbound messages with these bytes count (absent: any).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bytes: Option<String>,
        /// Milliseconds to wait.
        #[serde(default)]
        within_ms: u64,
        /// Or: this many PreKeysLow intervals (`--prekeys-interval`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        within_intervals: Option<f64>,
        /// This many such pushes are allowed in that time; one more breaks the rule.
        #[serde(default, skip_serializing_if = "is_zero")]
        at_most: usize,
        /// The rule such a push breaks.
        rule: String,
    },
    /// The inbound messages with these bytes that came on this connection came in this
    /// order (each counted at its first arrival; ones not come yet are not judged).
    #[serde(rename_all = "camelCase")]
    ExpectOrder {
        /// Connection name.
        conn: String,
        /// The messages' bytes expressions, in the order they must come.
        order: Vec<String>,
        /// The rule another order breaks.
        rule: String,
    },
    /// No frame at all within the time (the connection may close).
    #[serde(rename_all = "camelCase")]
    ExpectSilence {
        /// Connection name.
        conn: String,
        /// Milliseconds to wait.
        within_ms: u64,
        /// The rule a frame breaks.
        rule: String,
    },
    /// The server closes the connection within the time.
    #[serde(rename_all = "camelCase")]
    ExpectClosed {
        /// Connection name.
        conn: String,
        /// Milliseconds to wait.
        within_ms: u64,
        /// The rule an open connection breaks.
        rule: String,
    },
    /// Close the connection (abrupt: drop TCP without a close frame).
    #[serde(rename_all = "camelCase")]
    Disconnect {
        /// Connection name.
        conn: String,
        /// No close frame.
        #[serde(default)]
        abrupt: bool,
    },
    /// Wait.
    #[serde(rename_all = "camelCase")]
    Sleep {
        /// Milliseconds.
        #[serde(default)]
        ms: u64,
        /// Or: this many PreKeysLow intervals (`--prekeys-interval`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        intervals: Option<f64>,
    },
    /// A check written in code.
    #[serde(rename_all = "camelCase")]
    Probe {
        /// Its name.
        name: String,
    },
}

impl Step {
    /// How long this step waits on a correct server, in milliseconds (`interval`: the
    /// PreKeysLow interval, when known): the waits for the absence of something in full,
    /// a push that should come as a few milliseconds, a probe as [`probes::wait_ms`] says.
    ///
    /// [`probes::wait_ms`]: crate::profiles::tassis_v2::runner::probes::wait_ms
    pub fn wait_ms(&self, interval: Option<std::time::Duration>) -> u64 {
        let intervals = |n: f64| interval.map_or(0, |i| (i.as_millis() as f64 * n) as u64);
        match self {
            Step::ExpectNoPush {
                within_ms,
                within_intervals,
                ..
            } => within_intervals.map_or(*within_ms, intervals),
            Step::ExpectSilence { within_ms, .. } => *within_ms,
            Step::Sleep { ms, intervals: n } => n.map_or(*ms, intervals),
            Step::Probe { name } => crate::profiles::tassis_v2::runner::probes::wait_ms(name),
            _ => 1,
        }
    }
}

impl crate::profiles::case_files::ScriptedCase for Case {
    fn head(&self) -> crate::profiles::case_files::CaseHead<'_> {
        crate::profiles::case_files::CaseHead {
            id: &self.id,
            title: &self.title,
            requirements: &self.requirements,
            level: self.level,
        }
    }
}

/// Whether a count is zero (its field is then left out of a written case).
fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn steps_wait_what_they_ask_for() {
        let no_push = |within_ms, within_intervals| Step::ExpectNoPush {
            conn: "a".into(),
            push: PushKind::PreKeysLow,
            bytes: None,
            within_ms,
            within_intervals,
            at_most: 0,
            rule: "TB-PK-LOW".into(),
        };
        let interval = Some(Duration::from_millis(200));
        assert_eq!(no_push(700, None).wait_ms(interval), 700);
        assert_eq!(no_push(0, Some(2.5)).wait_ms(interval), 500);
        assert_eq!(no_push(0, Some(2.5)).wait_ms(None), 0);
        let idle = Step::Probe {
            name: "idle".into(),
        };
        assert_eq!(idle.wait_ms(None), 31_000);
    }

    #[test]
    fn the_idle_check_is_the_longest_wait_of_the_suite() {
        let cases: Vec<Case> = crate::profiles::tassis_v2::cases::builtin()
            .expect("the built-in cases load")
            .into_iter()
            .flat_map(|f| f.cases)
            .collect();
        let cost = |c: &Case| -> u64 {
            c.steps
                .iter()
                .map(|s| s.wait_ms(Some(Duration::from_millis(200))))
                .sum()
        };
        let longest = cases.iter().max_by_key(|c| cost(c)).expect("cases");
        assert_eq!(longest.id, "transport/idle-with-data-frames");
        let others = cases.iter().filter(|c| c.id != longest.id).map(cost).max();
        assert!(others.unwrap_or(0) < 10_000, "{others:?}");
    }
}
