//! The raw path: the exact bytes of [`Request::raw_bytes`] over a tokio socket (and
//! tokio-rustls for `https`), HTTP/1.1 with `Connection: close`, the response parsed with
//! httparse. Used for requests an HTTP library would normalise or refuse to send.

use std::io;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::body::{Body, BodyStop, Sink};
use super::{check_header_value, Limits, Request, Response, TransportError};

/// Largest response head accepted (status line and header fields).
pub(super) const HEAD_CAP: usize = 64 * 1024;
/// Most header fields accepted in one response head.
const MAX_HEADERS: usize = 256;
/// Longest chunk-size line accepted in a chunked body.
const CHUNK_LINE_CAP: usize = 4096;

/// A byte stream to a server: TCP, or TLS over TCP.
pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Sends `r` over a fresh connection and reads the response (body kept up to `limits.cap`,
/// counted up to `limits.limit`, read until `limits.deadline` at most). The caller bounds the
/// whole call with its timeout.
pub(super) async fn send(
    tls: &TlsConnector,
    r: &Request,
    limits: Limits,
) -> Result<Response, TransportError> {
    let stream = connect(tls, r).await?;
    if r.body.len() <= BODY_COPIED {
        finish(stream, r, &[&r.raw_bytes()], limits).await
    } else {
        finish(stream, r, &[&r.raw_head(0), &r.body], limits).await
    }
}

/// Bodies up to this size are copied behind the head and written with it; larger ones (up to
/// many MiB) are written after it, uncopied.
const BODY_COPIED: usize = 64 * 1024;

/// A fresh connection to the origin of `r`'s URL: TCP, and TLS for `https`.
pub(super) async fn connect(
    tls: &TlsConnector,
    r: &Request,
) -> Result<Box<dyn Io>, TransportError> {
    let (tcp, tls_name) = tcp(&r.url).await?;
    Ok(match tls_name {
        Some(name) => Box::new(
            tls.connect(name, tcp)
                .await
                .map_err(|e| TransportError::Tls(e.to_string()))?,
        ),
        None => Box::new(tcp),
    })
}

/// A TCP connection to the origin of `url`, with the server name to ask TLS for when the
/// scheme is `https`.
pub(super) async fn tcp(
    url: &url::Url,
) -> Result<(TcpStream, Option<ServerName<'static>>), TransportError> {
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        other => {
            return Err(TransportError::Other(format!(
                "unsupported URL scheme {other:?}; use http or https"
            )))
        }
    };
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_owned(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        None => return Err(TransportError::Other("the URL has no host".into())),
    };
    let port = url
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| TransportError::Connect(format!("{host}:{port}: {e}")))?;
    // Small requests are written in one go; no need to wait for ACKs.
    let _ = tcp.set_nodelay(true);
    if !https {
        return Ok((tcp, None));
    }
    let name = ServerName::try_from(host.clone())
        .map_err(|e| TransportError::Tls(format!("server name {host:?}: {e}")))?;
    Ok((tcp, Some(name)))
}

/// Writes `bytes` (the first part of `r`'s raw bytes) and leaves the connection open.
pub(super) async fn start(stream: &mut Box<dyn Io>, bytes: &[u8]) -> Result<(), TransportError> {
    stream.write_all(bytes).await.map_err(|e| {
        TransportError::Closed(format!("sending the first part of the request failed: {e}"))
    })?;
    stream
        .flush()
        .await
        .map_err(|e| TransportError::Closed(format!("sending the request failed: {e}")))
}

/// Writes `rest` (the rest of `r`'s raw bytes, in parts) on `stream` and reads the response.
pub(super) async fn finish(
    mut stream: Box<dyn Io>,
    r: &Request,
    rest: &[&[u8]],
    limits: Limits,
) -> Result<Response, TransportError> {
    // A server may answer (413, say) and close before reading the whole body: on a write
    // error, still try to read what it sent.
    let mut write_error = None;
    for part in rest {
        if let Err(e) = stream.write_all(part).await {
            write_error = Some(e);
            break;
        }
    }
    if write_error.is_none() {
        write_error = stream.flush().await.err();
    }
    match (read_after(stream, Vec::new(), r, limits).await, write_error) {
        (Err(TransportError::Closed(m)), Some(w)) => Err(TransportError::Closed(format!(
            "{m} (sending the request failed too: {w})"
        ))),
        (result, _) => result,
    }
}

/// The first bytes the server sent on `stream` within `wait`, before the request was
/// complete: `None` when it sent nothing, empty at end of stream. A read that times out
/// has consumed nothing.
pub(super) async fn read_early(
    stream: &mut Box<dyn Io>,
    wait: std::time::Duration,
) -> Result<Option<Vec<u8>>, TransportError> {
    let mut chunk = [0u8; 16 * 1024];
    match tokio::time::timeout(wait, stream.read(&mut chunk)).await {
        Err(_) => Ok(None),
        Ok(Ok(n)) => Ok(Some(chunk[..n].to_vec())),
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Some(Vec::new())),
        Ok(Err(e)) => Err(closed_by(e)),
    }
}

/// Reads the response to `r` whose first bytes, `first`, were read already (none: empty).
pub(super) async fn read_after(
    stream: Box<dyn Io>,
    first: Vec<u8>,
    r: &Request,
    limits: Limits,
) -> Result<Response, TransportError> {
    let mut reader = Reader {
        io: stream,
        buf: first,
        deadline: limits.deadline,
    };
    read_response(&mut reader, r.method.eq_ignore_ascii_case("HEAD"), limits).await
}

/// A stream and the bytes read from it but not consumed yet.
struct Reader {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    deadline: tokio::time::Instant,
}

impl Reader {
    /// Reads more bytes into `buf`; `Ok(0)` at end of stream. A TLS peer that closes without
    /// `close_notify` counts as end of stream (many servers do). `Err(Timeout)` at the
    /// deadline.
    async fn fill(&mut self) -> Result<usize, TransportError> {
        let mut chunk = [0u8; 16 * 1024];
        let read = tokio::time::timeout_at(self.deadline, self.io.read(&mut chunk)).await;
        match read.map_err(|_| TransportError::Timeout)? {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            Err(e) => Err(closed_by(e)),
        }
    }
}

fn closed_by(e: io::Error) -> TransportError {
    TransportError::Closed(format!("reading the response failed: {e}"))
}

async fn read_response(
    reader: &mut Reader,
    head_request: bool,
    limits: Limits,
) -> Result<Response, TransportError> {
    loop {
        let Head {
            len,
            status,
            version,
            headers,
        } = read_head(reader).await?;
        reader.buf.drain(..len);
        // Interim responses (100 Continue, 103 Early Hints) precede the real one.
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let mut response = Response {
            status,
            version,
            headers,
            body: Vec::new(),
            body_len: 0,
            truncated: false,
            body_stop: None,
        };
        if head_request || status == 101 || status == 204 || status == 304 {
            return Ok(response);
        }
        let chunked = response
            .header_all("transfer-encoding")
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|c| !c.is_empty())
            .is_some_and(|c| c.eq_ignore_ascii_case("chunked"));
        let has_te = response.header("transfer-encoding").is_some();
        let sink = Sink::new(limits.cap, limits.limit);
        let body = if chunked {
            read_chunked(reader, sink).await?
        } else if has_te {
            read_to_close(reader, sink).await?
        } else if let Some(len) = content_length(&response)? {
            read_exact_len(reader, len, sink, status).await?
        } else {
            read_to_close(reader, sink).await?
        };
        response.body = body.bytes;
        response.body_len = body.len;
        response.truncated = body.truncated;
        response.body_stop = body.stop;
        return Ok(response);
    }
}

/// A parsed response head.
struct Head {
    len: usize,
    status: u16,
    version: String,
    headers: Vec<(String, String)>,
}

/// Reads and parses one response head.
async fn read_head(reader: &mut Reader) -> Result<Head, TransportError> {
    loop {
        let mut fields = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut fields);
        match parsed.parse(&reader.buf) {
            Ok(httparse::Status::Complete(n)) => {
                let status = parsed.code.unwrap_or(0);
                let version = format!("HTTP/1.{}", parsed.version.unwrap_or(1));
                let headers = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        check_header_value(h.name, h.value)?;
                        Ok((
                            h.name.to_owned(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        ))
                    })
                    .collect::<Result<_, TransportError>>()?;
                return Ok(Head {
                    len: n,
                    status,
                    version,
                    headers,
                });
            }
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => return Err(TransportError::TooLarge),
            Err(e) => {
                return Err(TransportError::Other(format!(
                    "malformed response head ({e}): {:?}",
                    String::from_utf8_lossy(&reader.buf[..reader.buf.len().min(120)])
                )))
            }
        }
        if reader.buf.len() > HEAD_CAP {
            return Err(TransportError::TooLarge);
        }
        if reader.fill().await? == 0 {
            return Err(TransportError::Closed(if reader.buf.is_empty() {
                "the server closed the connection without sending anything".into()
            } else {
                format!(
                    "the server closed the connection after {} bytes of the response head",
                    reader.buf.len()
                )
            }));
        }
    }
}

fn content_length(r: &Response) -> Result<Option<u64>, TransportError> {
    let mut found: Option<u64> = None;
    for v in r
        .header_all("content-length")
        .into_iter()
        .flat_map(|v| v.split(','))
    {
        let v = v.trim();
        let n = v
            .parse::<u64>()
            .ok()
            .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| TransportError::Other(format!("invalid Content-Length {v:?}")))?;
        if found.is_some_and(|f| f != n) {
            return Err(TransportError::Other(
                "conflicting Content-Length values".into(),
            ));
        }
        found = Some(n);
    }
    Ok(found)
}

/// Moves up to `want` buffered bytes into the body; returns how many were consumed.
fn take(body: &mut Sink, buf: &mut Vec<u8>, want: u64) -> u64 {
    let n = buf.len().min(usize::try_from(want).unwrap_or(usize::MAX));
    let used = body.push(&buf[..n]);
    buf.drain(..used);
    used as u64
}

/// Reads more bytes for a body: `Ok(None)` when reading must stop at the deadline (the body
/// is marked), `Ok(Some(0))` at end of stream.
async fn fill_body(reader: &mut Reader, body: &mut Sink) -> Result<Option<usize>, TransportError> {
    match reader.fill().await {
        Ok(n) => Ok(Some(n)),
        Err(TransportError::Timeout) => {
            body.stop(BodyStop::Timeout);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

async fn read_exact_len(
    reader: &mut Reader,
    len: u64,
    mut body: Sink,
    status: u16,
) -> Result<Body, TransportError> {
    let mut remaining = len;
    loop {
        remaining -= take(&mut body, &mut reader.buf, remaining);
        if remaining > 0 && body.at_limit() {
            body.stop(BodyStop::Limit);
        }
        if remaining == 0 || body.stopped() {
            return Ok(body.done());
        }
        match fill_body(reader, &mut body).await? {
            None => return Ok(body.done()),
            Some(0) => {
                return Err(TransportError::Closed(format!(
                    "status {status}: the connection closed after {} of {len} body bytes",
                    len - remaining
                )))
            }
            Some(_) => {}
        }
    }
}

async fn read_to_close(reader: &mut Reader, mut body: Sink) -> Result<Body, TransportError> {
    loop {
        take(&mut body, &mut reader.buf, u64::MAX);
        if body.stopped() {
            return Ok(body.done());
        }
        match fill_body(reader, &mut body).await? {
            None | Some(0) => return Ok(body.done()),
            Some(_) => {}
        }
    }
}

async fn read_chunked(reader: &mut Reader, mut body: Sink) -> Result<Body, TransportError> {
    loop {
        // The chunk-size line (httparse also skips chunk extensions).
        let size = loop {
            match httparse::parse_chunk_size(&reader.buf) {
                Ok(httparse::Status::Complete((used, size))) => {
                    reader.buf.drain(..used);
                    break size;
                }
                Ok(httparse::Status::Partial) => {
                    if reader.buf.len() > CHUNK_LINE_CAP {
                        return Err(TransportError::Other("chunk-size line too long".into()));
                    }
                    match fill_body(reader, &mut body).await? {
                        None => return Ok(body.done()),
                        Some(0) => {
                            return Err(TransportError::Closed(format!(
                                "the connection closed inside a chunked body after {} bytes",
                                body.len()
                            )))
                        }
                        Some(_) => {}
                    }
                }
                Err(_) => {
                    return Err(TransportError::Other(format!(
                        "malformed chunk size in the body after {} bytes",
                        body.len()
                    )))
                }
            }
        };
        if size == 0 {
            // Trailer fields are not read: the connection closes anyway.
            return Ok(body.done());
        }
        let mut remaining = size;
        loop {
            remaining -= take(&mut body, &mut reader.buf, remaining);
            if remaining > 0 && body.at_limit() {
                body.stop(BodyStop::Limit);
            }
            if body.stopped() {
                return Ok(body.done());
            }
            if remaining == 0 {
                break;
            }
            match fill_body(reader, &mut body).await? {
                None => return Ok(body.done()),
                Some(0) => {
                    return Err(TransportError::Closed(format!(
                        "the connection closed inside a chunk after {} body bytes",
                        body.len()
                    )))
                }
                Some(_) => {}
            }
        }
        // The CRLF after the chunk data.
        while reader.buf.len() < 2 {
            match fill_body(reader, &mut body).await? {
                None => return Ok(body.done()),
                Some(0) => {
                    return Err(TransportError::Closed(
                        "the connection closed after a chunk".into(),
                    ))
                }
                Some(_) => {}
            }
        }
        if &reader.buf[..2] != b"\r\n" {
            return Err(TransportError::Other(
                "chunk data not followed by CRLF".into(),
            ));
        }
        reader.buf.drain(..2);
        if body.at_limit() {
            // The limit falls on a chunk boundary: more chunks may follow; stop here.
            body.stop(BodyStop::Limit);
            return Ok(body.done());
        }
    }
}
