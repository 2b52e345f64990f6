//! Errors of the `wire` module.

/// What is wrong with bytes received from (or about to be given to) a server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The body is not UTF-8.
    #[error("the body is not UTF-8 (invalid byte at offset {0})")]
    NotUtf8(usize),
    /// The body is not JSON at all.
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    /// Non-whitespace bytes follow the JSON value.
    #[error("the body has data after the JSON value: {0}")]
    TrailingData(String),
    /// An object has the same member name twice (B-JSON-DUP).
    #[error("a JSON object has the member {0:?} more than once")]
    DuplicateMember(String),
    /// Arrays and objects nest deeper than [`crate::profiles::edge_v1::wire::MAX_DEPTH`].
    #[error("the JSON nests deeper than {0} levels")]
    TooDeep(usize),
    /// The top-level value is not an object.
    #[error("expected a JSON object, found {0}")]
    NotObject(&'static str),
    /// The JSON is an object but its members are not what the binding requires.
    #[error("at `{at}`: {problem}")]
    Shape {
        /// Where: `recipientURI`, `messages[2]`, ...
        at: String,
        /// What is wrong, in words.
        problem: String,
    },
    /// A string is not standard padded base64 (B-ENC-B64).
    #[error("invalid base64 (RFC 4648 §4, padded, no whitespace): {0}")]
    Base64(String),
    /// A URI returned by the server is longer than the suite follows.
    #[error("a URI of {len} bytes ({head}…) is longer than the suite follows ({} bytes); it is not requested", super::uri::MAX_URI_LEN)]
    UriTooLong {
        /// The first characters of the URI.
        head: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A URI returned by the server cannot be used.
    #[error("unusable URI {uri:?}: {reason}")]
    Uri {
        /// The URI as the server returned it.
        uri: String,
        /// Why it was rejected.
        reason: String,
    },
}

impl WireError {
    pub(crate) fn shape(at: impl Into<String>, problem: impl Into<String>) -> WireError {
        WireError::Shape {
            at: at.into(),
            problem: problem.into(),
        }
    }
}
