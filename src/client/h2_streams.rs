//! HTTP/2 streams in an order the caller chooses, on a connection of their own (the `h2`
//! crate): ALPN `h2` over TLS, prior knowledge over plain TCP. For transport checks that need
//! one stream held half sent while another runs, which an HTTP library does not arrange.

use std::time::Instant;

use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use super::body::{BodyStop, Sink};
use super::{raw, tls, Client, Exchange, Limits, Request, Response, TransportError, GRACE};

/// Header fields HTTP/2 forbids (RFC 9113, section 8.2.2) or carries as pseudo-headers.
const NOT_IN_H2: [&str; 6] = [
    "connection",
    "host",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// Why no HTTP/2 connection was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum H2Unavailable {
    /// The server does not offer HTTP/2 (ALPN chose another protocol, or none).
    NotSpoken(String),
    /// The connection failed (refused origin, connect, TLS, timeout).
    Failed(TransportError),
}

/// An HTTP/2 connection; dropping it closes it.
pub struct H2Connection {
    send: h2::client::SendRequest<Bytes>,
    driver: JoinHandle<()>,
}

impl std::fmt::Debug for H2Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Connection").finish_non_exhaustive()
    }
}

impl Drop for H2Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// A request whose head and part of its body went on a stream; see
/// [`H2Connection::send_part`].
pub struct H2Partial {
    stream: h2::SendStream<Bytes>,
    response: h2::client::ResponseFuture,
    request: Request,
    /// The body bytes not sent yet.
    rest: Bytes,
    start: Instant,
}

impl std::fmt::Debug for H2Partial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Partial")
            .field("request", &self.request)
            .field("unsent", &self.rest.len())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Opens an HTTP/2 connection of its own to the origin of `url`, within the timeout.
    /// Over plain TCP the server's support shows only in its answers.
    pub async fn h2_connect(&self, url: &url::Url) -> Result<H2Connection, H2Unavailable> {
        let open = async {
            self.options
                .origins
                .check(url)
                .map_err(|e| H2Unavailable::Failed(TransportError::Refused(e.to_string())))?;
            let (tcp, name) = raw::tcp(url).await.map_err(H2Unavailable::Failed)?;
            let Some(name) = name else {
                return handshake(tcp).await.map_err(H2Unavailable::Failed);
            };
            let roots = match &self.options.ca_cert_pem {
                Some(pem) => tls::parse_ca_pem(pem),
                None => Ok(Vec::new()),
            };
            let config = roots
                .and_then(|roots| tls::config(&self.options, &roots, b"h2"))
                .map_err(|e| H2Unavailable::Failed(TransportError::Tls(e.to_string())))?;
            let stream = TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| H2Unavailable::Failed(TransportError::Tls(e.to_string())))?;
            match stream.get_ref().1.alpn_protocol() {
                Some(b"h2") => handshake(stream).await.map_err(H2Unavailable::Failed),
                Some(other) => Err(H2Unavailable::NotSpoken(format!(
                    "ALPN chose {:?}",
                    String::from_utf8_lossy(other)
                ))),
                None => Err(H2Unavailable::NotSpoken(
                    "the TLS handshake chose no protocol by ALPN".into(),
                )),
            }
        };
        tokio::time::timeout(self.options.timeout, open)
            .await
            .unwrap_or(Err(H2Unavailable::Failed(TransportError::Timeout)))
    }
}

/// The HTTP/2 preface and settings on `io`, and a task that drives the connection.
async fn handshake<T>(io: T) -> Result<H2Connection, TransportError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // A hostile server gets no pushed streams and no header block over the raw path's cap.
    let (send, connection) = h2::client::Builder::new()
        .enable_push(false)
        .max_header_list_size(raw::HEAD_CAP as u32)
        .handshake(io)
        .await
        .map_err(transport)?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(H2Connection { send, driver })
}

/// An `h2` error as the client's: anything the server or the network ended is `Closed`.
fn transport(e: h2::Error) -> TransportError {
    if e.is_go_away() || e.is_reset() || e.is_io() || e.is_remote() {
        TransportError::Closed(format!("HTTP/2: {e}"))
    } else {
        TransportError::Other(format!("HTTP/2: {e}"))
    }
}

/// The head of `r` as an HTTP/2 request: `:authority` from the URL, and no field HTTP/2
/// forbids.
fn head(r: &Request) -> Result<http::Request<()>, TransportError> {
    let bad = |e: http::Error| TransportError::Other(format!("cannot send over HTTP/2: {e}"));
    let mut builder = http::Request::builder()
        .method(r.method.as_str())
        .uri(r.url.as_str())
        .version(http::Version::HTTP_2);
    for (name, value) in &r.headers {
        if NOT_IN_H2.iter().any(|n| name.eq_ignore_ascii_case(n)) {
            continue;
        }
        builder = builder.header(name.to_ascii_lowercase(), value.as_slice());
    }
    builder.body(()).map_err(bad)
}

impl H2Connection {
    /// Opens a stream for `r` and sends its head and the first `sent` bytes of its body; the
    /// rest goes with [`H2Partial::finish`]. A failure comes back as the exchange.
    pub async fn send_part(
        &mut self,
        client: &Client,
        r: Request,
        sent: usize,
    ) -> Result<H2Partial, Exchange> {
        let start = Instant::now();
        let open = async {
            let head = head(&r)?;
            let mut ready = self.send.clone().ready().await.map_err(transport)?;
            let (response, mut stream) = ready.send_request(head, false).map_err(transport)?;
            let body = Bytes::copy_from_slice(&r.body);
            let sent = sent.min(body.len());
            if sent > 0 {
                stream
                    .send_data(body.slice(..sent), false)
                    .map_err(transport)?;
            }
            Ok((response, stream, body.slice(sent..)))
        };
        let opened = tokio::time::timeout(client.options.timeout, open)
            .await
            .unwrap_or(Err(TransportError::Timeout));
        match opened {
            Ok((response, stream, rest)) => Ok(H2Partial {
                stream,
                response,
                request: r,
                rest,
                start,
            }),
            Err(e) => Err(client.exchange(r, Err(e), start, false)),
        }
    }

    /// Sends `r` whole on a new stream and reads the response, within the timeout.
    pub async fn execute(&mut self, client: &Client, r: Request) -> Exchange {
        match self.send_part(client, r, 0).await {
            Ok(partial) => partial.finish(client).await,
            Err(ex) => ex,
        }
    }
}

impl H2Partial {
    /// Sends the rest of the body, ends the stream and reads the response, within `client`'s
    /// timeout from now; the exchange's time counts from [`H2Connection::send_part`].
    pub async fn finish(mut self, client: &Client) -> Exchange {
        let limits = client.limits(tokio::time::Instant::now());
        let rest = std::mem::take(&mut self.rest);
        // Sending fails on a stream the server has answered, reset or closed: what it did
        // shows in the response, which is read either way.
        let _ = self.stream.send_data(rest, true);
        let response =
            tokio::time::timeout_at(limits.deadline + GRACE, read(self.response, limits))
                .await
                .unwrap_or(Err(TransportError::Timeout));
        client.liveness.record(&response);
        client.exchange(self.request, response, self.start, false)
    }
}

/// The response of a stream: its head, and its body kept up to `limits.cap` and read up to
/// `limits.limit` bytes.
async fn read(
    response: h2::client::ResponseFuture,
    limits: Limits,
) -> Result<Response, TransportError> {
    let response = response.await.map_err(transport)?;
    let status = response.status().as_u16();
    let mut headers = Vec::with_capacity(response.headers().len());
    for (name, value) in response.headers() {
        super::check_header_value(name.as_str(), value.as_bytes())?;
        headers.push((
            name.as_str().to_owned(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        ));
    }
    let mut stream = response.into_body();
    let mut body = Sink::new(limits.cap, limits.limit);
    while let Some(chunk) = stream.data().await {
        let chunk = chunk.map_err(transport)?;
        let _ = stream.flow_control().release_capacity(chunk.len());
        body.push(&chunk);
        if body.stopped() || body.at_limit() {
            if !body.stopped() {
                body.stop(BodyStop::Limit);
            }
            break;
        }
    }
    let body = body.done();
    Ok(Response {
        status,
        version: "HTTP/2".into(),
        headers,
        body: body.bytes,
        body_len: body.len,
        truncated: body.truncated,
        body_stop: body.stop,
    })
}
