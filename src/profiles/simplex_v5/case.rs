//! The case-file format of `simplex-v5` (`docs/simplex-v5.md`, "Case files"): serde types.
//!
//! A case is a list of steps over named connections (REST) and named WebSocket sessions.
//! The runner keeps a model of every connection (its keys, URIs and messages in receive
//! order) and judges every answer against it, so most steps need no spelled-out expectation:
//! a `retrieve` knows which page must come back, a push which message it must carry.
//!
//! Strings of bodies, queries, suffixes, headers and WebSocket requests may hold
//! placeholders, expanded by the runner: `${rk}` / `${sk}` (the SPKI base64 of the
//! connection's keys; `${rk-url}` in the base64url alphabet, `${rk-nl}` with a line break),
//! `${key:NAME}`, `${special:rsa1024}` (a key of the pool's special kinds), `${msg:NAME}`
//! (the base64 of a message's bytes), `${id:NAME}` (the ID the server gave a message),
//! `${ru}` / `${su}` (the URIs exactly as create returned them; `${ru:CONN}` for another
//! connection), `${rupath}` / `${supath}` (their paths), `${nonce:SESSION}`, `${random-id}`
//! (a fresh valid message ID no server has given out), and in `ws-expect` replies `${any}`
//! (any value).

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::engine::Level;
pub use crate::profiles::edge_v1::sign::SigFault;

/// A file of cases for one area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaseFile {
    /// The area (`create`, `websocket`, ...).
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
    /// The server's PAGE_SIZE (`--page-size`; the embedded server's is known).
    PageSize,
    /// The server's LARGE_MESSAGE (`--large-message`; the embedded server's is known).
    LargeMessage,
    /// An `https://` target.
    Tls,
}

/// One check: steps against fresh connections, keys and sessions.
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
    /// The case sends something hostile: afterwards the suite checks that the server still
    /// answers (B-NO-5XX), and the case runs alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hostile: bool,
    /// What the case needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<Need>,
    /// The steps.
    pub steps: Vec<Step>,
}

/// One step (`"op"` in case files).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Step {
    /// POST `CE` `{"recipient": RK}`, self-signed; success records the connection.
    Create(Rest),
    /// PUT `RU` `{"sender": SK}`, signed with `RK`; success sets `SK` in the model.
    Secure(Rest),
    /// POST `SU/messages` `{"msg": …}`, signed with `SK` once set; success appends the
    /// message to the model.
    Send(Rest),
    /// GET `RU/messages[?fromMessageId=ID]`; the page is judged against the model.
    Retrieve(Rest),
    /// GET `RU/messages/ID`; the message is judged against the model.
    Get(Rest),
    /// DELETE `RU/messages/ID`; success removes the message from the model.
    DeleteMessage(Rest),
    /// DELETE `RU`; success marks the connection deleted.
    Delete(Rest),
    /// Any request: method, URI and suffix as written, nothing recorded.
    Request(Rest),
    /// Open a WebSocket session on `CE` and read its hello.
    WsConnect(WsConnect),
    /// Send `subscribe` and judge the reply.
    Subscribe(WsRequest),
    /// Send `unsubscribe` and judge the reply.
    Unsubscribe(WsRequest),
    /// Send `delete_message` and judge the reply.
    WsDelete(WsRequest),
    /// Send any WebSocket message.
    WsSend(WsSend),
    /// The next reply (a message that is no push) equals this object.
    WsExpect(WsExpect),
    /// The next pushes for a connection carry exactly these messages, in this order.
    ExpectPushes(ExpectPushes),
    /// No push (for a connection, or at all) within the time.
    ExpectNoPush(ExpectNoPush),
    /// Close a session.
    WsClose(WsClose),
    /// Wait.
    Sleep(Sleep),
    /// A check written in code.
    Probe(Probe),
}

/// A REST step: every field is optional; the op gives the defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rest {
    /// The connection (default `c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<String>,
    /// create: the size of `RK`; secure: the size of the new `SK` (2048, 3072 or 4096 bits;
    /// default 2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits: Option<usize>,
    /// secure: the name of the key that becomes `SK` (default `<conn>.sk`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// send: the message's name; get, delete-message: the message whose ID is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    /// send: the message's size in bytes: a number, `large` (LARGE_MESSAGE), `large+1`, or
    /// `max` (16,384 base64 characters); default 24.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Value>,
    /// retrieve: the message whose ID goes in `fromMessageId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The URI the request goes to: `ce`, `ru`, `su` (of `conn`), or `made-up` (the
    /// connection's `RU` with its last segment replaced by random characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The path after the URI, replacing the op's own (`/messages`, `/messages/ID`);
    /// placeholders allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// The query, without `?` (an empty string sends a bare `?`); placeholders allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// A literal request-target; `{path}` is the path the step would use (raw socket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The method (default: the op's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The JSON body instead of the op's; string values may hold placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The body as literal text (placeholders allowed), instead of JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// The body as hex bytes (for bodies that are not UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_hex: Option<String>,
    /// `Content-Type` fields: absent: `application/json` when there is a body; `null`: none;
    /// a list: these fields in order.
    #[serde(
        default,
        deserialize_with = "some_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub content_type: Option<Option<Vec<String>>>,
    /// More header fields, `[name, value]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<[String; 2]>,
    /// How the request is signed (default: as the op needs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<Sign>,
    /// What must come back (default: the op's success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
}

/// `null` as `Some(None)`, absent as `None`.
fn some_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// How a REST request is signed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sign {
    /// `rk`, `sk`, `none`, or the name of a key (a fresh key per name and case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A deliberate fault of the signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<SigFault>,
    /// The scheme name (default `EMSig`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Send the `Authorization` field twice.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub twice: bool,
}

/// What a REST step must get.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expect {
    /// Allowed statuses (default: the op's success status).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<u16>,
    /// The rule a different answer breaks (default: the op's rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// More rules the same answer breaks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
    /// The rule broken instead when a request that must fail succeeds (a 2xx): the refusal
    /// is one rule's point, its status another's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_accepted: Option<String>,
}

/// `ws-connect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WsConnect {
    /// The session's name.
    pub session: String,
    /// More handshake header fields, `[name, value]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<[String; 2]>,
    /// The handshake must be refused with one of these HTTP statuses instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<u16>,
    /// The rule a wrong answer breaks (default VB-WS-HELLO, or V-400 when refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// A typed WebSocket request: `subscribe`, `unsubscribe`, `delete_message`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WsRequest {
    /// The session.
    pub session: String,
    /// The connection (default `c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<String>,
    /// The request ID (default: a fresh one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `recipientURI`: `exact` (default), `trailing-slash`, `upper`, `path` (only the path of
    /// an absolute URI, or the absolute form of a path), `made-up`, or a literal string with
    /// placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// delete_message: the message (its ID from the model), or a literal ID with `{…}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    /// subscribe: how `auth` is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<WsSign>,
    /// How the request is written on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<Form>,
    /// subscribe: messages sent over REST right after the request is written, before its
    /// reply is read (arrivals while the backlog is pushed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_send: Vec<String>,
    /// Whether `ok` must be true (default) or false.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub ok: bool,
    /// The rule a wrong reply breaks (default: the request's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// How a WebSocket request is serialised on the wire (its signature is over RFC 8785 unless
/// [`WsSign::over`] says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Form {
    /// RFC 8785 members and `auth` last.
    #[default]
    Canonical,
    /// Members in reverse order, `auth` first.
    Reversed,
    /// Indented with spaces and newlines.
    Spaced,
}

/// How a subscribe's `auth` is made.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WsSign {
    /// `rk` (default), `sk`, or the name of a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A deliberate fault of the signature (encoding and algorithm faults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<SigFault>,
    /// Whose nonce is signed: another session's name, or `random`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// What is signed instead of RFC 8785: `wire` (the request as sent, without `auth`),
    /// `serde` (serde_json's compact output in the order written), `no-domain` (RFC 8785
    /// without the `EMSig1`/`WS` lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over: Option<String>,
    /// Send the `auth` of this earlier subscribe (by request ID) instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// A literal `auth` value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
}

/// `ws-send`: exactly one of `json`, `text`, `hex`, or `pad`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WsSend {
    /// The session.
    pub session: String,
    /// The connection whose placeholders (`{ru}`) apply (default `c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<String>,
    /// A JSON value, serialised compactly in the order written (placeholders in strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// Literal text (placeholders allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Bytes in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
    /// An `unsubscribe` of `{ru}` whose `id` is padded to make the message this many bytes:
    /// a number, `max` (MAX_WEBSOCKET_MESSAGE) or `max+1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad: Option<Value>,
    /// Send as a binary message instead of text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub binary: bool,
    /// Send in three fragments.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fragmented: bool,
    /// Send only the first of three fragments: the message stays unfinished (a `ws-close`
    /// next closes the session mid-message).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// `ws-expect`: the next reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WsExpect {
    /// The session.
    pub session: String,
    /// The connection whose placeholders apply (default `c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<String>,
    /// The reply, exactly (placeholders in strings).
    pub reply: Value,
    /// Instead of the reply, the server may close the session with one of these codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub or_close: Vec<u16>,
    /// The rule a different reply breaks.
    pub rule: String,
    /// More rules the same reply breaks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
}

/// `expect-pushes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectPushes {
    /// The session.
    pub session: String,
    /// The connection (default `c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<String>,
    /// The messages, in order.
    pub msgs: Vec<String>,
    /// Bound in milliseconds (default 3 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_ms: Option<u64>,
    /// The rule a missing or different push breaks.
    pub rule: String,
}

/// `expect-no-push`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectNoPush {
    /// The session.
    pub session: String,
    /// Only pushes for this connection count (absent: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<String>,
    /// Milliseconds to wait.
    pub within_ms: u64,
    /// The rule a push breaks.
    pub rule: String,
}

/// `ws-close`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WsClose {
    /// The session.
    pub session: String,
}

/// `sleep`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sleep {
    /// Milliseconds.
    pub ms: u64,
}

/// `probe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probe {
    /// Its name.
    pub name: String,
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
