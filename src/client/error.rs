//! Errors of the `client` module.

/// The client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The CA certificate file is not usable.
    #[error("the CA certificate is not usable: {0}; pass a PEM file with at least one CERTIFICATE block")]
    Ca(String),
    /// TLS or HTTP client setup failed.
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    /// An option is out of range.
    #[error("invalid client option: {0}")]
    Options(String),
}

/// Why an exchange has no (complete) response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No complete response within the timeout.
    #[error(
        "no complete response within the timeout (raise --timeout if the server is just slow)"
    )]
    Timeout,
    /// The TCP connection could not be made.
    #[error("cannot connect: {0} (is the server running at this address?)")]
    Connect(String),
    /// The TLS handshake failed (certificate, protocol, ...).
    #[error(
        "TLS handshake failed: {0} (for a private CA pass --ca-cert, or --insecure to skip checks)"
    )]
    Tls(String),
    /// The connection closed before a complete response arrived.
    #[error("the connection closed without a complete response: {0}")]
    Closed(String),
    /// The response head is larger than the client accepts.
    #[error("the response head is too large to accept")]
    TooLarge,
    /// A response header value is longer than the suite accepts.
    #[error("the response header `{name}` is {len} bytes long, over the suite's limit of {} bytes for a header value (not a verdict on the server: the suite does not judge such responses)", super::HEADER_VALUE_CAP)]
    HeaderTooLarge {
        /// The field name (at most 64 characters).
        name: String,
        /// The value's length in bytes.
        len: usize,
    },
    /// Not sent: the URL is on an origin the run may not contact (see `client::origin`).
    #[error("not sent: {0}")]
    Refused(String),
    /// Anything else (malformed response, unsupported URL, ...).
    #[error("{0}")]
    Other(String),
}
