//! The ordinary path: reqwest over rustls, HTTP/1.1 or HTTP/2 (ALPN).

use reqwest::header::{HeaderName, HeaderValue};
use rustls::pki_types::CertificateDer;

use super::body::{BodyStop, Sink};
use super::{
    check_header_value, ClientError, ClientOptions, HttpVersion, Limits, Request, Response,
    TransportError,
};

/// A reqwest client of the chosen HTTP version: no proxy, no redirects, no cookies, no
/// decompression (none of those reqwest features is enabled), timeouts on connect and on
/// the whole request.
pub(super) fn build(
    o: &ClientOptions,
    roots: &[CertificateDer<'static>],
) -> Result<reqwest::Client, ClientError> {
    let certs = roots
        .iter()
        .map(|c| reqwest::Certificate::from_der(c.as_ref()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::Ca(e.to_string()))?;
    let builder = match o.http {
        HttpVersion::Auto => reqwest::Client::builder(),
        HttpVersion::Http1 => reqwest::Client::builder().http1_only(),
        HttpVersion::Http2 => reqwest::Client::builder().http2_prior_knowledge(),
    };
    builder
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .connect_timeout(o.timeout)
        .timeout(o.timeout)
        .tls_backend_rustls()
        .tls_certs_merge(certs)
        .tls_danger_accept_invalid_certs(o.insecure)
        .build()
        .map_err(|e| ClientError::Setup(chain(&e)))
}

/// Sends `r` (which must not need the raw path); keeps `limits.cap` body bytes, counts the
/// rest up to `limits.limit`, and stops reading at the limit or at `limits.deadline`.
pub(super) async fn send(
    client: &reqwest::Client,
    r: &Request,
    limits: Limits,
) -> Result<Response, TransportError> {
    let method = reqwest::Method::from_bytes(r.method.as_bytes())
        .map_err(|e| TransportError::Other(format!("method {:?}: {e}", r.method)))?;
    let mut req = client.request(method, r.url.clone()).body(r.body.clone());
    for (name, value) in &r.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| TransportError::Other(format!("header name {name:?}: {e}")))?;
        let value = HeaderValue::from_bytes(value)
            .map_err(|e| TransportError::Other(format!("value of {name}: {e}")))?;
        req = req.header(name, value);
    }
    let mut resp = req.send().await.map_err(classify)?;
    let status = resp.status().as_u16();
    let version = match resp.version() {
        reqwest::Version::HTTP_09 => "HTTP/0.9",
        reqwest::Version::HTTP_10 => "HTTP/1.0",
        reqwest::Version::HTTP_11 => "HTTP/1.1",
        reqwest::Version::HTTP_2 => "HTTP/2",
        reqwest::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
    .to_owned();
    for (n, v) in resp.headers() {
        check_header_value(n.as_str(), v.as_bytes())?;
    }
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Sink::new(limits.cap, limits.limit);
    loop {
        let chunk = match tokio::time::timeout_at(limits.deadline, resp.chunk()).await {
            Err(_) => {
                body.stop(BodyStop::Timeout);
                break;
            }
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => match classify(e) {
                TransportError::Timeout => {
                    body.stop(BodyStop::Timeout);
                    break;
                }
                TransportError::Closed(m) | TransportError::Other(m) => {
                    return Err(TransportError::Closed(format!(
                        "status {status} received, then the body failed after {} bytes: {m}",
                        body.len()
                    )))
                }
                other => return Err(other),
            },
        };
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
        version,
        headers,
        body: body.bytes,
        body_len: body.len,
        truncated: body.truncated,
        body_stop: body.stop,
    })
}

/// Maps a reqwest error to the transport error it stands for, by looking through its
/// sources (reqwest's own predicates do not tell TLS from TCP failures).
fn classify(e: reqwest::Error) -> TransportError {
    let msg = chain(&e);
    if e.is_timeout() {
        return TransportError::Timeout;
    }
    for err in causes(&e) {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return TransportError::Tls(msg);
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_parse_too_large() {
                return TransportError::TooLarge;
            }
            if h.is_incomplete_message() {
                return TransportError::Closed(msg);
            }
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                TimedOut => return TransportError::Timeout,
                ConnectionRefused => return TransportError::Connect(msg),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    return TransportError::Closed(msg)
                }
                _ => {}
            }
        }
    }
    if e.is_connect() {
        TransportError::Connect(msg)
    } else {
        TransportError::Other(msg)
    }
}

/// An error, its sources, and the errors wrapped inside `io::Error`s along the way (whose
/// `source()` skips the wrapped error itself), outermost first.
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        out.push(err);
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    out
}

/// An error and its sources, joined by `: `.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
