//! Why a step could not be built: the case names something the run does not have.

use serde_json::Value;

use crate::profiles::edge_v1::model::ModelError;
use crate::profiles::edge_v1::wire::WireError;

/// A step that cannot be sent as written (a case error, not a server fault).
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The step names a connection no earlier step created.
    #[error("connection `{0}` was never created in this case; add a create step first")]
    UnknownConnection(String),
    /// The step needs a message id the server has not returned yet.
    #[error("the id of message `{0}` is not known yet; retrieve it with keepMessages first")]
    UnknownMessageId(String),
    /// A base64url key reference whose value has the same form in base64.
    #[error(
        "key `{0}` has no `+` or `/` in base64, so its base64url form is the same; use another key"
    )]
    SameInBase64url(String),
    /// A key reference with an encoding other than `base64url`.
    #[error("unknown key encoding {0}; the only one is \"base64url\"")]
    UnknownKeyEncoding(Value),
    /// An object with a `$` member that is no known reference.
    #[error("unknown reference {0}")]
    UnknownReference(Value),
    /// `rawBodyBase64` does not decode.
    #[error("rawBodyBase64 is not base64: {0}")]
    RawBodyBase64(WireError),
    /// A `setPath` key that is not a JSON pointer.
    #[error("`{0}` is not a JSON pointer")]
    NotPointer(String),
    /// A `setPath` pointer past the end of an array.
    #[error("`{0}`: no such array index")]
    NoSuchIndex(String),
    /// A `setPath` pointer into nothing.
    #[error("`{0}`: no such place in the body")]
    NoSuchPlace(String),
    /// The body could not be written as JSON.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A `via` of the other party's URIs.
    #[error("via {via} does not fit {endpoint}")]
    ViaMismatch {
        /// The `via` value.
        via: String,
        /// The endpoint's name.
        endpoint: &'static str,
    },
    /// A `via` version the connection never had.
    #[error("connection `{conn}` never had {which}@{index}")]
    NoSuchUri {
        /// The connection.
        conn: String,
        /// `ru` or `su`.
        which: &'static str,
        /// The version asked for.
        index: usize,
    },
    /// The model cannot predict the step.
    #[error(transparent)]
    Model(#[from] ModelError),
}
