//! HTTP request bodies and their media type, shared by the REST profiles: bounded reading
//! (B-SIZE: refused from `Content-Length` before reading, or while counting the bytes of a
//! chunked body; never buffering more than the limit) and the `Content-Type` check
//! (B-CT-400).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body as _, Incoming};
use hyper::header::{HeaderMap, CONTENT_TYPE};

/// How long a client may take to send a request body.
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Most bytes of an over-limit body read and thrown away before the refusal is sent, so that
/// the client finishes sending and reads the answer instead of meeting a reset connection
/// (RFC 9112 §9.6, lingering close). Bigger bodies are refused without reading them.
const DRAIN_CAP: u64 = 16 * 1024 * 1024;
/// Longest time spent draining an over-limit body.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unread {
    /// Over the limit (413); what arrived was drained.
    TooLarge,
    /// It did not arrive within [`BODY_TIMEOUT`].
    Timeout,
    /// The stream broke.
    Broken,
}

/// Reads the body, refusing more than `limit` bytes from `Content-Length` before reading, or
/// while counting the bytes of a chunked body; never buffers more than `limit`.
pub(crate) async fn read_limited(mut body: Incoming, limit: usize) -> Result<Bytes, Unread> {
    let declared = body.size_hint().lower();
    if declared > limit as u64 {
        if declared <= DRAIN_CAP {
            drain(&mut body).await;
        }
        return Err(Unread::TooLarge);
    }
    let read = async {
        let mut buf = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| Unread::Broken)?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(Unread::TooLarge);
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(Bytes::from(buf))
    };
    match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Err(_) => Err(Unread::Timeout),
        Ok(Err(Unread::TooLarge)) => {
            drain(&mut body).await;
            Err(Unread::TooLarge)
        }
        Ok(result) => result,
    }
}

/// Reads and discards the rest of a body, up to [`DRAIN_CAP`] bytes and [`DRAIN_TIME`].
async fn drain(body: &mut Incoming) {
    let discard = async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                seen += data.len() as u64;
                if seen > DRAIN_CAP {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}

/// How [`check_content_type`] reads the media type beyond the binding (for fault injection).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MediaStrictness {
    /// Refuse any parameter (`; charset=utf-8`).
    pub refuse_parameters: bool,
    /// Compare the media type case-sensitively.
    pub case_sensitive: bool,
}

/// `Content-Type: application/json` (parameters allowed), exactly one field (B-CT-400); the
/// error is a short text for a 400 body.
///
/// One case-insensitive comparison of the media type; a MIME crate would add nothing here.
pub(crate) fn check_content_type(
    headers: &HeaderMap,
    strictness: MediaStrictness,
) -> Result<(), &'static str> {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let wanted = "send Content-Type: application/json";
    let value = values.next().ok_or(wanted)?;
    if values.next().is_some() {
        return Err("send exactly one Content-Type field");
    }
    let media = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim_matches([' ', '\t']));
    if strictness.refuse_parameters && value.as_bytes().contains(&b';') {
        return Err(wanted);
    }
    match media {
        Some("application/json") => Ok(()),
        Some(m) if m.eq_ignore_ascii_case("application/json") && !strictness.case_sensitive => {
            Ok(())
        }
        _ => Err(wanted),
    }
}
