//! Blocking HTTP/1.1 over a loopback socket, for the in-process harnesses: exact request
//! bytes out, one response in, parsed with httparse, with a read timeout and size caps.
//!
//! The suite's async client does the same over the network; the harnesses run inside a
//! libFuzzer loop, where a blocking socket is simpler and keeps every execution on one
//! thread. Responses are parsed here only as far as the harness needs (status, headers, a
//! body framed by `Content-Length`, chunks or the end of the connection).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// Largest response head accepted.
const HEAD_CAP: usize = 64 * 1024;
/// Largest response body kept.
pub const BODY_CAP: usize = 1 << 20;

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Header fields, values decoded lossily.
    pub headers: Vec<(String, String)>,
    /// Body (at most [`BODY_CAP`] bytes).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why there is no usable response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoResponse {
    /// The server closed the connection before a complete response.
    Closed(String),
    /// Nothing complete within the timeout.
    Timeout,
    /// The bytes are not an HTTP response.
    Malformed(String),
    /// The connection could not be made or written.
    Io(String),
}

impl std::fmt::Display for NoResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoResponse::Closed(m) => {
                write!(f, "the connection closed without a complete response ({m})")
            }
            NoResponse::Timeout => f.write_str("no complete response within the timeout"),
            NoResponse::Malformed(m) => write!(f, "malformed response: {m}"),
            NoResponse::Io(m) => write!(f, "cannot talk to the server: {m}"),
        }
    }
}

/// Send `request` over a fresh connection and read one response. With `half_close`, the
/// write side is shut after the request (for requests whose framing promises more bytes
/// than they carry, so that the server sees the end instead of waiting).
pub fn exchange(
    addr: SocketAddr,
    request: &[u8],
    timeout: Duration,
    half_close: bool,
) -> Result<RawResponse, NoResponse> {
    let mut s =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| NoResponse::Io(e.to_string()))?;
    let _ = s.set_nodelay(true);
    s.set_read_timeout(Some(timeout))
        .map_err(|e| NoResponse::Io(e.to_string()))?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| NoResponse::Io(e.to_string()))?;
    // A server may answer and close before reading everything: still read its answer.
    let wrote = s.write_all(request).and_then(|()| s.flush());
    if half_close {
        let _ = s.shutdown(Shutdown::Write);
    }
    match (read_response(&mut s), wrote) {
        (Err(NoResponse::Closed(m)), Err(w)) => {
            Err(NoResponse::Closed(format!("{m}; writing failed too: {w}")))
        }
        (r, _) => r,
    }
}

fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, NoResponse> {
    let mut chunk = [0u8; 16 * 1024];
    match s.read(&mut chunk) {
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(n)
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Err(NoResponse::Timeout)
        }
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
            ) =>
        {
            Ok(0)
        }
        Err(e) => Err(NoResponse::Io(e.to_string())),
    }
}

/// Read one response (after any 1xx) from `s`.
pub fn read_response(s: &mut TcpStream) -> Result<RawResponse, NoResponse> {
    let mut buf = Vec::new();
    loop {
        let (used, status, headers) = loop {
            let mut fields = [httparse::EMPTY_HEADER; 128];
            let mut r = httparse::Response::new(&mut fields);
            match r.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let headers = r
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect::<Vec<_>>();
                    break (n, r.code.unwrap_or(0), headers);
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(NoResponse::Malformed(format!("{e}"))),
            }
            if buf.len() > HEAD_CAP {
                return Err(NoResponse::Malformed("response head over 64 KiB".into()));
            }
            if fill(s, &mut buf)? == 0 {
                return Err(NoResponse::Closed(format!(
                    "{} bytes of a response head",
                    buf.len()
                )));
            }
        };
        buf.drain(..used);
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let mut resp = RawResponse {
            status,
            headers,
            body: Vec::new(),
        };
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = match resp.header("content-length") {
            Some(v) => Some(
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| NoResponse::Malformed(format!("Content-Length {v:?}")))?,
            ),
            None => None,
        };
        if status == 204 || status == 304 {
            return Ok(resp);
        }
        resp.body = if chunked {
            read_chunked(s, buf)?
        } else if let Some(n) = length {
            while buf.len() < n.min(BODY_CAP) {
                if fill(s, &mut buf)? == 0 {
                    return Err(NoResponse::Closed(format!(
                        "{} of {n} body bytes",
                        buf.len()
                    )));
                }
            }
            buf.truncate(n.min(BODY_CAP));
            buf
        } else {
            while buf.len() < BODY_CAP && fill(s, &mut buf)? > 0 {}
            buf.truncate(BODY_CAP);
            buf
        };
        return Ok(resp);
    }
}

fn read_chunked(s: &mut TcpStream, mut buf: Vec<u8>) -> Result<Vec<u8>, NoResponse> {
    let mut body = Vec::new();
    loop {
        let size = loop {
            match httparse::parse_chunk_size(&buf) {
                Ok(httparse::Status::Complete((used, size))) => {
                    buf.drain(..used);
                    break usize::try_from(size).unwrap_or(usize::MAX);
                }
                Ok(httparse::Status::Partial) if buf.len() < 4096 => {
                    if fill(s, &mut buf)? == 0 {
                        return Err(NoResponse::Closed("inside a chunked body".into()));
                    }
                }
                _ => return Err(NoResponse::Malformed("bad chunk size".into())),
            }
        };
        if size == 0 {
            return Ok(body);
        }
        if body.len().saturating_add(size) > BODY_CAP {
            return Err(NoResponse::Malformed("chunked body over the cap".into()));
        }
        while buf.len() < size + 2 {
            if fill(s, &mut buf)? == 0 {
                return Err(NoResponse::Closed("inside a chunk".into()));
            }
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}
