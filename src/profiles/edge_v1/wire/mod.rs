//! The binding's encodings and JSON shapes: base64 (B-ENC-B64), strict JSON parsing of server
//! responses (B-JSON-DUP), typed response views, RFC 3339 `Z` timestamps (B-TS-FMT), URI
//! resolution against `CE`, and connection IDs (B-CID-FMT).

mod b64;
mod cid;
mod error;
mod json;
mod responses;
mod ts;
mod uri;

pub use b64::{b64, is_b64, unb64};
pub use cid::{connection_id, connection_id_of_len, is_connection_id};
pub use error::WireError;
pub use json::{parse_object_strict, parse_value_strict, MAX_DEPTH};
pub use responses::{
    CreateResponse, DeleteMessagesResponse, FormatProblem, Message, RetrieveResponse,
    UpdateResponse,
};
pub use ts::is_rfc3339_utc_z;
pub use uri::{resolve_uri, MAX_URI_LEN};

/// A JSON object as parsed from a response (member order preserved).
pub type Map = serde_json::Map<String, serde_json::Value>;
