//! The wire schema of `tassis-v2` (`conformance/tassis-v2/tassis.proto`) as Rust types.
//!
//! Derived with `prost::Message` by hand, so that building needs no `protoc`;
//! `tests/tassis_wire.rs` compiles the `.proto` in pure Rust and checks that these types
//! encode and decode exactly as it says.

use std::collections::HashMap;

/// One frame: a sequence number and one payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    /// The client's request number, or the server's own counter for pushes.
    #[prost(uint32, tag = "1")]
    pub sequence: u32,
    /// What the frame carries.
    #[prost(
        oneof = "Payload",
        tags = "2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16"
    )]
    pub payload: Option<Payload>,
}

/// The payload of a [`Message`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Payload {
    /// Acknowledgement (both directions).
    #[prost(message, tag = "2")]
    Ack(Ack),
    /// An error reply.
    #[prost(message, tag = "3")]
    Error(Error),
    /// Server configuration, sent at connection start.
    #[prost(message, tag = "4")]
    Configuration(Configuration),
    /// The login challenge, sent at connection start.
    #[prost(message, tag = "5")]
    AuthChallenge(AuthChallenge),
    /// A login.
    #[prost(message, tag = "6")]
    AuthResponse(AuthResponse),
    /// Upload of the device's prekeys.
    #[prost(message, tag = "7")]
    Register(Register),
    /// Removal of the device's registration.
    #[prost(message, tag = "8")]
    Unregister(Unregister),
    /// Request for another identity's prekeys.
    #[prost(message, tag = "9")]
    RequestPreKeys(RequestPreKeys),
    /// Prekeys handed out.
    #[prost(message, tag = "10")]
    PreKeys(PreKeys),
    /// The device is running out of one-time prekeys.
    #[prost(message, tag = "12")]
    PreKeysLow(PreKeysLow),
    /// Request for attachment upload authorizations.
    #[prost(message, tag = "13")]
    RequestUploadAuthorizations(RequestUploadAuthorizations),
    /// Upload authorizations.
    #[prost(message, tag = "14")]
    UploadAuthorizations(UploadAuthorizations),
    /// A sealed-sender message to store and forward.
    #[prost(message, tag = "15")]
    OutboundMessage(OutboundMessage),
    /// A message delivered to its recipient.
    #[prost(message, tag = "16")]
    InboundMessage(InboundMessage),
}

impl Payload {
    /// The payload's field name in the schema (`authResponse`, `preKeys`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Payload::Ack(_) => "ack",
            Payload::Error(_) => "error",
            Payload::Configuration(_) => "configuration",
            Payload::AuthChallenge(_) => "authChallenge",
            Payload::AuthResponse(_) => "authResponse",
            Payload::Register(_) => "register",
            Payload::Unregister(_) => "unregister",
            Payload::RequestPreKeys(_) => "requestPreKeys",
            Payload::PreKeys(_) => "preKeys",
            Payload::PreKeysLow(_) => "preKeysLow",
            Payload::RequestUploadAuthorizations(_) => "requestUploadAuthorizations",
            Payload::UploadAuthorizations(_) => "uploadAuthorizations",
            Payload::OutboundMessage(_) => "outboundMessage",
            Payload::InboundMessage(_) => "inboundMessage",
        }
    }
}

/// Acknowledgement.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Ack {}

/// An error: a name from TB-ERROR-NAMES and free text.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Error {
    /// The error's name (`unauthorized`, ...).
    #[prost(string, tag = "1")]
    pub name: String,
    /// Free text, never compared.
    #[prost(string, tag = "2")]
    pub description: String,
}

/// A device address: identity key and device ID.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Address {
    /// The 32-byte X25519 public key, raw.
    #[prost(bytes = "vec", tag = "1")]
    pub identity_key: Vec<u8>,
    /// 1 to 64 opaque bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub device_id: Vec<u8>,
}

/// Server configuration.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Configuration {
    /// Largest attachment, in bytes.
    #[prost(int64, tag = "1")]
    pub max_attachment_size: i64,
}

/// The login challenge.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AuthChallenge {
    /// The nonce to sign.
    #[prost(bytes = "vec", tag = "1")]
    pub nonce: Vec<u8>,
}

/// What a login signs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Login {
    /// Who logs in.
    #[prost(message, optional, tag = "1")]
    pub address: Option<Address>,
    /// The connection's nonce.
    #[prost(bytes = "vec", tag = "2")]
    pub nonce: Vec<u8>,
}

/// A login: the serialized [`Login`] and its signature.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AuthResponse {
    /// A serialized [`Login`].
    #[prost(bytes = "vec", tag = "1")]
    pub login: Vec<u8>,
    /// 64-byte XEdDSA signature over exactly `login`.
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
}

/// Upload of prekeys.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Register {
    /// The signed prekey.
    #[prost(bytes = "vec", tag = "1")]
    pub signed_pre_key: Vec<u8>,
    /// One-time prekeys.
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub one_time_pre_keys: Vec<Vec<u8>>,
}

/// Removal of a registration.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Unregister {}

/// Request for an identity's prekeys.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestPreKeys {
    /// Whose.
    #[prost(bytes = "vec", tag = "1")]
    pub identity_key: Vec<u8>,
    /// Devices to leave out.
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub known_device_ids: Vec<Vec<u8>>,
}

/// One device's prekeys.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PreKey {
    /// The device.
    #[prost(bytes = "vec", tag = "1")]
    pub device_id: Vec<u8>,
    /// Its signed prekey.
    #[prost(bytes = "vec", tag = "2")]
    pub signed_pre_key: Vec<u8>,
    /// One one-time prekey, empty when none is left.
    #[prost(bytes = "vec", tag = "3")]
    pub one_time_pre_key: Vec<u8>,
}

/// Prekeys handed out.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PreKeys {
    /// One entry per device.
    #[prost(message, repeated, tag = "1")]
    pub pre_keys: Vec<PreKey>,
}

/// The device is low on one-time prekeys.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PreKeysLow {
    /// How many to upload.
    #[prost(uint32, tag = "1")]
    pub keys_requested: u32,
}

/// Request for upload authorizations.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestUploadAuthorizations {
    /// How many.
    #[prost(int32, tag = "1")]
    pub num_requested: i32,
}

/// One upload authorization.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UploadAuthorization {
    /// Where to upload.
    #[prost(string, tag = "1")]
    pub upload_url: String,
    /// Form fields of the upload.
    #[prost(map = "string, string", tag = "2")]
    pub upload_form_data: HashMap<String, String>,
    /// Expiry, unix milliseconds.
    #[prost(int64, tag = "3")]
    pub authorization_expires_at: i64,
    /// Largest upload, in bytes.
    #[prost(int64, tag = "4")]
    pub max_upload_size: i64,
    /// Where the upload can be downloaded.
    #[prost(string, tag = "5")]
    pub download_url: String,
}

/// Upload authorizations.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UploadAuthorizations {
    /// The authorizations.
    #[prost(message, repeated, tag = "1")]
    pub authorizations: Vec<UploadAuthorization>,
}

/// A message to store and forward.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OutboundMessage {
    /// The recipient.
    #[prost(message, optional, tag = "1")]
    pub to: Option<Address>,
    /// The sealed-sender bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub unidentified_sender_message: Vec<u8>,
}

/// A message delivered to its recipient.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InboundMessage {
    /// The sealed-sender bytes, unchanged.
    #[prost(bytes = "vec", tag = "3")]
    pub unidentified_sender_message: Vec<u8>,
}

/// Encode a frame.
pub fn encode(seq: u32, payload: Payload) -> Vec<u8> {
    prost::Message::encode_to_vec(&Message {
        sequence: seq,
        payload: Some(payload),
    })
}
