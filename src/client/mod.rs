//! Sends one HTTP request and returns the whole exchange. Every request has a timeout and
//! every response body a size cap. Requests an HTTP library would normalise or refuse (a
//! literal request-target, a lying `Content-Length`, bytes no header type accepts) go over
//! a raw socket instead. [`curl`] renders any exchange as a command that reproduces it.
//!
//! Limits against hostile servers: a body keeps at most `body_cap` bytes, is counted up to
//! `body_limit` and then no longer read; a body still coming at the timeout ends the exchange
//! with what was read ([`BodyStop`]); header values longer than [`HEADER_VALUE_CAP`] end it
//! with [`TransportError::HeaderTooLarge`]. [`Liveness`] counts requests in a row that got no
//! answer at all, for a run's circuit breaker.

mod body;
mod curl;
mod error;
mod h2_streams;
mod http;
pub mod origin;
mod raw;
pub mod redact;
mod request;
pub mod shell;
mod tls;
pub mod ws;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use body::BodyStop;
pub use curl::curl;
pub use error::{ClientError, TransportError};
pub use h2_streams::{H2Connection, H2Partial, H2Unavailable};
pub use request::{chunked, Request};

/// Transport settings, shared by every request of a [`Client`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Limit for one whole exchange: connect, send, and read the response.
    pub timeout: Duration,
    /// Largest response body kept; the rest is only counted (`Response::truncated`).
    pub body_cap: usize,
    /// Most body bytes read (kept or counted) in one response; reading stops there
    /// (`Response::body_stop`). Never less than `body_cap`.
    pub body_limit: u64,
    /// Extra trusted root certificates (PEM), in addition to the system's.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// Accept any server certificate.
    pub insecure: bool,
    /// The origins requests may go to (empty: any).
    pub origins: origin::OriginPolicy,
    /// The HTTP version of the ordinary path (the raw path always speaks HTTP/1.1).
    pub http: HttpVersion,
}

/// The HTTP version the ordinary path speaks (also the values of `--http`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum HttpVersion {
    /// Over TLS, offer HTTP/2 and HTTP/1.1 by ALPN and let the server choose; over plain
    /// TCP, HTTP/1.1.
    #[default]
    Auto,
    /// HTTP/1.1 only, on kept-alive connections (one per request in flight).
    #[value(name = "1.1")]
    Http1,
    /// HTTP/2 only: ALPN `h2` over TLS, prior knowledge over plain TCP.
    #[value(name = "2")]
    Http2,
}

impl HttpVersion {
    /// The name `--http` takes: `auto`, `1.1` or `2`.
    pub fn name(self) -> &'static str {
        match self {
            HttpVersion::Auto => "auto",
            HttpVersion::Http1 => "1.1",
            HttpVersion::Http2 => "2",
        }
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(10),
            body_cap: 1 << 20,
            body_limit: DEFAULT_BODY_LIMIT,
            ca_cert_pem: None,
            insecure: false,
            origins: origin::OriginPolicy::any(),
            http: HttpVersion::Auto,
        }
    }
}

/// Default `ClientOptions::body_limit`: 16 MiB counted per body at most.
pub const DEFAULT_BODY_LIMIT: u64 = 16 << 20;

/// Longest response header value accepted, in bytes.
pub const HEADER_VALUE_CAP: usize = 8 * 1024;

/// Body bytes a retained exchange keeps (see [`Exchange::trim_bodies`]).
pub const RETAINED_BODY: usize = 16 * 1024;

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
    /// Body bytes received, kept or only counted (the true length when `body_stop` is
    /// `None`).
    pub body_len: u64,
    /// `body` holds fewer bytes than the server sent (cut at the cap, or reading stopped).
    pub truncated: bool,
    /// Reading stopped before the body's end, and why.
    pub body_stop: Option<BodyStop>,
}

impl Response {
    /// A complete response: `body_len` is the body's length, nothing is truncated.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Response {
        Response {
            status,
            version: "HTTP/1.1".into(),
            headers,
            body_len: body.len() as u64,
            body,
            truncated: false,
            body_stop: None,
        }
    }

    /// The body's size in words: `N bytes`, `N bytes (M kept)`, or `at least N bytes (…)`.
    pub fn body_size_text(&self) -> String {
        match self.body_stop {
            Some(stop) => format!(
                "at least {} bytes ({}; {} kept)",
                self.body_len,
                stop.describe(),
                self.body.len()
            ),
            None if self.truncated => {
                format!("{} bytes ({} kept)", self.body_len, self.body.len())
            }
            None => format!("{} bytes", self.body_len),
        }
    }

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

impl Exchange {
    /// Keeps at most `cap` bytes of the response body (the head of it), for an exchange kept
    /// after its step was judged; `body_len` still tells the true length.
    pub fn trim_bodies(&mut self, cap: usize) {
        if let Ok(r) = &mut self.response {
            if r.body.len() > cap {
                r.body.truncate(cap);
                r.body.shrink_to_fit();
                r.truncated = true;
            }
        }
    }
}

/// Counts requests in a row (across every clone of a [`Client`]) that got no answer at all:
/// a timeout before the response head, or a failed connect. Any response resets it.
#[derive(Debug, Default)]
pub struct Liveness {
    silent: AtomicUsize,
    gone: std::sync::Mutex<Option<String>>,
}

impl Liveness {
    /// Records the outcome of one exchange.
    pub fn record(&self, response: &Result<Response, TransportError>) {
        match response {
            Ok(_) => self.silent.store(0, Ordering::Relaxed),
            Err(TransportError::Timeout | TransportError::Connect(_)) => {
                self.silent.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {}
        }
    }

    /// The target is known to be gone (it stopped serving): the run stops at once.
    pub fn mark_gone(&self, reason: String) {
        if let Ok(mut g) = self.gone.lock() {
            g.get_or_insert(reason);
        }
        self.silent.store(usize::MAX / 2, Ordering::Relaxed);
    }

    /// Why the target is known to be gone, if it is.
    pub fn gone(&self) -> Option<String> {
        self.gone.lock().ok().and_then(|g| g.clone())
    }

    /// Requests in a row without an answer, up to now.
    pub fn silent_in_a_row(&self) -> usize {
        self.silent.load(Ordering::Relaxed)
    }
}

/// Time left after the deadline for a transport to hand back a partial body.
const GRACE: Duration = Duration::from_millis(250);

/// An HTTP client for the suite: reqwest (HTTP/1.1 and HTTP/2, rustls) for ordinary
/// requests, a raw tokio socket for the rest; no proxies, redirects, cookies or
/// decompression.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    raw_tls: tokio_rustls::TlsConnector,
    options: Arc<ClientOptions>,
    liveness: Arc<Liveness>,
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
            liveness: Arc::new(Liveness::default()),
        })
    }

    /// The options this client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The counter of unanswered requests, shared by every clone of this client.
    pub fn liveness(&self) -> Arc<Liveness> {
        self.liveness.clone()
    }

    /// Sends `r` and returns the exchange; never panics, never takes much longer than the
    /// timeout.
    pub async fn execute(&self, r: Request) -> Exchange {
        let start = Instant::now();
        let raw = r.needs_raw();
        if let Err(e) = self.options.origins.check(&r.url) {
            let refused = Err(TransportError::Refused(e.to_string()));
            return self.exchange(r, refused, start, raw);
        }
        let limits = self.limits(tokio::time::Instant::from_std(start));
        let send = async {
            if raw {
                raw::send(&self.raw_tls, &r, limits).await
            } else {
                http::send(&self.http, &r, limits).await
            }
        };
        // The transports stop reading a body at the deadline and return what they have; the
        // grace lets them do so before the whole exchange is given up.
        let response = tokio::time::timeout_at(limits.deadline + GRACE, send)
            .await
            .unwrap_or(Err(TransportError::Timeout));
        self.liveness.record(&response);
        self.exchange(r, response, start, raw)
    }

    /// The limits of an exchange that started at `start`.
    fn limits(&self, start: tokio::time::Instant) -> Limits {
        Limits {
            cap: self.options.body_cap,
            limit: self.options.body_limit,
            deadline: start + self.options.timeout,
        }
    }

    /// The exchange of `request`, started at `start`.
    fn exchange(
        &self,
        request: Request,
        response: Result<Response, TransportError>,
        start: Instant,
        raw: bool,
    ) -> Exchange {
        Exchange {
            request,
            response,
            elapsed: start.elapsed(),
            raw,
            insecure: self.options.insecure,
        }
    }
}

/// A request sent in part on a connection of its own, held open until [`Partial::finish`]
/// (or dropped); see [`Client::send_part`].
pub struct Partial {
    stream: Box<dyn raw::Io>,
    request: Request,
    /// The bytes of the request not sent yet.
    rest: Vec<u8>,
    start: Instant,
}

impl std::fmt::Debug for Partial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partial")
            .field("request", &self.request)
            .field("unsent", &self.rest.len())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Opens a connection of its own for `r` (the raw path: HTTP/1.1, `Connection: close`)
    /// and sends the first `sent` bytes of [`Request::raw_bytes`]; the rest goes with
    /// [`Partial::finish`]. Takes at most the timeout; a failure comes back as the exchange.
    pub async fn send_part(&self, r: Request, sent: usize) -> Result<Partial, Exchange> {
        let start = Instant::now();
        let mut bytes = r.raw_bytes();
        let rest = bytes.split_off(sent.min(bytes.len()));
        let open = async {
            self.options
                .origins
                .check(&r.url)
                .map_err(|e| TransportError::Refused(e.to_string()))?;
            let mut stream = raw::connect(&self.raw_tls, &r).await?;
            raw::start(&mut stream, &bytes).await?;
            Ok(stream)
        };
        let opened = tokio::time::timeout(self.options.timeout, open)
            .await
            .unwrap_or(Err(TransportError::Timeout));
        match opened {
            Ok(stream) => Ok(Partial {
                stream,
                request: r,
                rest,
                start,
            }),
            Err(e) => Err(self.exchange(r, Err(e), start, true)),
        }
    }
}

impl Partial {
    /// Sends the rest of the request and reads the response, within `client`'s timeout from
    /// now; the exchange's time counts from [`Client::send_part`].
    pub async fn finish(self, client: &Client) -> Exchange {
        let limits = client.limits(tokio::time::Instant::now());
        let response = tokio::time::timeout_at(
            limits.deadline + GRACE,
            raw::finish(self.stream, &self.request, &[&self.rest], limits),
        )
        .await
        .unwrap_or(Err(TransportError::Timeout));
        client.liveness.record(&response);
        client.exchange(self.request, response, self.start, true)
    }

    /// Waits up to `wait` for the server to answer before the rest of the request is sent.
    /// When it starts answering (or closes), the response is read, within `client`'s
    /// timeout, and the rest is never sent; otherwise the held request comes back, to be
    /// finished.
    pub async fn early_answer(
        mut self,
        client: &Client,
        wait: Duration,
    ) -> Result<Exchange, Partial> {
        let response = match raw::read_early(&mut self.stream, wait).await {
            Ok(None) => return Err(self),
            Ok(Some(first)) => {
                let limits = client.limits(tokio::time::Instant::now());
                tokio::time::timeout_at(
                    limits.deadline + GRACE,
                    raw::read_after(self.stream, first, &self.request, limits),
                )
                .await
                .unwrap_or(Err(TransportError::Timeout))
            }
            Err(e) => Err(e),
        };
        client.liveness.record(&response);
        Ok(client.exchange(self.request, response, self.start, true))
    }
}

/// The limits of one exchange, handed to a transport.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Body bytes kept.
    pub(crate) cap: usize,
    /// Body bytes read at most.
    pub(crate) limit: u64,
    /// When reading stops.
    pub(crate) deadline: tokio::time::Instant,
}

/// Whether a response header value is longer than [`HEADER_VALUE_CAP`].
pub(crate) fn check_header_value(name: &str, value: &[u8]) -> Result<(), TransportError> {
    if value.len() > HEADER_VALUE_CAP {
        return Err(TransportError::HeaderTooLarge {
            name: name.chars().take(64).collect(),
            len: value.len(),
        });
    }
    Ok(())
}
