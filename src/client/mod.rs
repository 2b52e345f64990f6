//! Sends one HTTP request and returns the whole exchange. Every request has a timeout and
//! every response body a size cap. Requests an HTTP library would normalise or refuse (a
//! literal request-target, a lying `Content-Length`, bytes no header type accepts) go over
//! a raw socket instead. [`curl`] renders any exchange as a command that reproduces it.

mod curl;
mod error;
mod http;
pub mod origin;
mod raw;
pub mod redact;
mod request;
pub mod shell;
mod tls;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use curl::curl;
pub use error::{ClientError, TransportError};
pub use request::Request;

/// Transport settings, shared by every request of a [`Client`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Limit for one whole exchange: connect, send, and read the response.
    pub timeout: Duration,
    /// Largest response body kept; the rest is not read (`Response::truncated`).
    pub body_cap: usize,
    /// Extra trusted root certificates (PEM), in addition to the system's.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// Accept any server certificate.
    pub insecure: bool,
    /// The origins requests may go to (empty: any).
    pub origins: origin::OriginPolicy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(10),
            body_cap: 1 << 20,
            ca_cert_pem: None,
            insecure: false,
            origins: origin::OriginPolicy::any(),
        }
    }
}

/// A response as received (the body possibly cut at the cap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Protocol of the response: `HTTP/1.1`, `HTTP/2`, ...
    pub version: String,
    /// Header fields in order, repeated fields kept (values decoded lossily as UTF-8).
    pub headers: Vec<(String, String)>,
    /// Body bytes, at most `body_cap`.
    pub body: Vec<u8>,
    /// More body bytes were there but were not read.
    pub truncated: bool,
}

impl Response {
    /// The values of every field named `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of the first field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The request exactly as sent.
    pub request: Request,
    /// The response, or why there is none.
    pub response: Result<Response, TransportError>,
    /// Time from the start of the request to the end of the response.
    pub elapsed: Duration,
    /// The request went over the raw socket path (HTTP/1.1, `Connection: close`).
    pub raw: bool,
    /// Certificates were not checked (`ClientOptions::insecure`).
    pub insecure: bool,
}

/// An HTTP client for the suite: reqwest (HTTP/1.1 and HTTP/2, rustls) for ordinary
/// requests, a raw tokio socket for the rest; no proxies, redirects, cookies or
/// decompression.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    raw_tls: tokio_rustls::TlsConnector,
    options: Arc<ClientOptions>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client; fails on an unreadable CA certificate or a TLS setup error.
    pub fn new(o: &ClientOptions) -> Result<Client, ClientError> {
        if o.timeout.is_zero() {
            return Err(ClientError::Options(
                "the timeout must be greater than zero".into(),
            ));
        }
        let roots = match &o.ca_cert_pem {
            Some(pem) => tls::parse_ca_pem(pem)?,
            None => Vec::new(),
        };
        Ok(Client {
            http: http::build(o, &roots)?,
            raw_tls: tokio_rustls::TlsConnector::from(tls::raw_config(o, &roots)?),
            options: Arc::new(o.clone()),
        })
    }

    /// The options this client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Sends `r` and returns the exchange; never panics, never takes much longer than the
    /// timeout.
    pub async fn execute(&self, r: Request) -> Exchange {
        let start = Instant::now();
        let raw = r.needs_raw();
        if let Err(e) = self.options.origins.check(&r.url) {
            return Exchange {
                request: r,
                response: Err(TransportError::Refused(e.to_string())),
                elapsed: start.elapsed(),
                raw,
                insecure: self.options.insecure,
            };
        }
        let cap = self.options.body_cap;
        let send = async {
            if raw {
                raw::send(&self.raw_tls, &r, cap).await
            } else {
                http::send(&self.http, &r, cap).await
            }
        };
        let response = tokio::time::timeout(self.options.timeout, send)
            .await
            .unwrap_or(Err(TransportError::Timeout));
        Exchange {
            request: r,
            response,
            elapsed: start.elapsed(),
            raw,
            insecure: self.options.insecure,
        }
    }
}
