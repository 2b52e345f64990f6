//! A request to send, exactly as it goes on the wire.

use url::Url;

/// Bodies of this size and more go over the raw path (see [`Request::needs_raw`]).
pub const RAW_BODY_MIN: usize = 1024 * 1024;

/// Header fields the HTTP library writes itself: a request that sets any of them goes over
/// the raw path so that the given values are the ones sent.
const LIBRARY_OWNED: [&str; 8] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
];

/// One HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method, sent as given (`POST`, or anything for negative tests).
    pub method: String,
    /// Where to send it. The request-target comes from this URL unless `target` is set.
    pub url: Url,
    /// A literal request-target (`/%63onnection`, `/connection/./x`), sent byte for byte over
    /// the raw path to the scheme, host and port of `url`.
    pub target: Option<String>,
    /// Header fields in order; repeated names are sent as repeated fields.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: &str, url: Url) -> Request {
        Request {
            method: method.to_owned(),
            url,
            target: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header field (builder style).
    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Request {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Sets the body (builder style).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// The request-target put on the request line, which the signature covers
    /// (B-SIG-INPUT): `target` when set, else the path and query of `url` (a bare
    /// trailing `?` kept), exactly as the HTTP library sends them.
    pub fn request_target(&self) -> String {
        if let Some(t) = &self.target {
            return t.clone();
        }
        match self.url.query() {
            Some(q) => format!("{}?{q}", self.url.path()),
            None => self.url.path().to_owned(),
        }
    }

    /// The `Host` value for `url`: host, and port when not the scheme's default.
    pub fn host_header(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        }
    }

    /// Whether the request must go over the raw path: a literal target, a header the HTTP
    /// library owns (`Host`, `Content-Length`, `Transfer-Encoding`, `Connection`, ...), a
    /// method, header name or value the library cannot represent, `CONNECT` (which the
    /// library would send as a tunnel request), or a body of `RAW_BODY_MIN` (1 MiB) bytes or more
    /// (a server may answer 413 and close before reading it; the raw path still reads that
    /// answer, where the library reports only the failed write).
    pub fn needs_raw(&self) -> bool {
        self.target.is_some()
            || self.body.len() >= RAW_BODY_MIN
            || self.method.eq_ignore_ascii_case("CONNECT")
            || reqwest::Method::from_bytes(self.method.as_bytes()).is_err()
            || self.headers.iter().any(|(name, value)| {
                LIBRARY_OWNED.iter().any(|o| name.eq_ignore_ascii_case(o))
                    || reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                    || reqwest::header::HeaderValue::from_bytes(value).is_err()
            })
    }

    /// The exact bytes the raw path writes: request line, `Host` (unless given),
    /// the header fields as given, `Content-Length` (unless `Content-Length` or
    /// `Transfer-Encoding` is given), `Connection: close` (unless `Connection` is given),
    /// a blank line, and the body.
    pub fn raw_bytes(&self) -> Vec<u8> {
        let mut out = self.raw_head(self.body.len());
        out.extend_from_slice(&self.body);
        out
    }

    /// [`Request::raw_bytes`] without the body, with room for `extra` more bytes.
    pub fn raw_head(&self, extra: usize) -> Vec<u8> {
        let has = |n: &str| self.headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
        let mut out = Vec::with_capacity(256 + extra);
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.request_target().as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if !has("host") {
            out.extend_from_slice(format!("Host: {}\r\n", self.host_header()).as_bytes());
        }
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if !has("content-length") && !has("transfer-encoding") {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        if !has("connection") {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// `body` in HTTP/1.1 chunked coding (RFC 9112 §7.1): chunks of `size` bytes (the last one
/// shorter), then the last chunk of size 0 and no trailers. Goes with a `Transfer-Encoding:
/// chunked` header, which sends the request over the raw path.
pub fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let size = size.max(1);
    let mut out = Vec::with_capacity(body.len() + body.len() / size * 12 + 16);
    for chunk in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_coding_frames_every_chunk_and_ends_with_the_last() {
        assert_eq!(
            chunked(b"hello world", 4),
            b"4\r\nhell\r\n4\r\no wo\r\n3\r\nrld\r\n0\r\n\r\n"
        );
        assert_eq!(chunked(b"", 4), b"0\r\n\r\n");
        assert_eq!(chunked(&[b'x'; 26], 26)[..4], *b"1a\r\n");
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn request_target_comes_from_the_url_or_the_literal() {
        let r = Request::new("POST", url("https://h:8443/r/a%2Fb?x=1"));
        assert_eq!(r.request_target(), "/r/a%2Fb?x=1");
        assert_eq!(
            Request::new("POST", url("http://h/c?")).request_target(),
            "/c?"
        );
        assert_eq!(
            Request::new("POST", url("http://h/c#frag")).request_target(),
            "/c"
        );
        let mut r = Request::new("POST", url("http://h/connection"));
        r.target = Some("/connection/./x".into());
        assert_eq!(r.request_target(), "/connection/./x");
    }

    #[test]
    fn raw_bytes_are_exact() {
        let r = Request::new("PUT", url("http://127.0.0.1:8080/r/x"))
            .header("Content-Type", "application/json")
            .header("Authorization", "EMSig a")
            .header("Authorization", "EMSig b")
            .body("{}");
        assert_eq!(
            String::from_utf8(r.raw_bytes()).unwrap(),
            "PUT /r/x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n\
             Authorization: EMSig a\r\nAuthorization: EMSig b\r\nContent-Length: 2\r\n\
             Connection: close\r\n\r\n{}"
        );
        let lying = Request::new("POST", url("https://h/c"))
            .header("content-length", "5")
            .header("Host", "other")
            .body("{}");
        assert_eq!(
            String::from_utf8(lying.raw_bytes()).unwrap(),
            "POST /c HTTP/1.1\r\ncontent-length: 5\r\nHost: other\r\nConnection: close\r\n\r\n{}"
        );
    }

    #[test]
    fn raw_is_chosen_only_when_needed() {
        let base = Request::new("POST", url("http://h/c"))
            .header("Content-Type", "application/json")
            .header("X-Many", "1")
            .header("X-Many", "2");
        assert!(!base.needs_raw());
        assert!(base.clone().header("Content-Length", "9").needs_raw());
        assert!(base
            .clone()
            .header("Transfer-Encoding", "chunked")
            .needs_raw());
        assert!(base.clone().header("X-Bad", b"a\r\nb".to_vec()).needs_raw());
        assert!(base.clone().header("Bad Name", "x").needs_raw());
        for method in ["PO ST", "CONNECT", ""] {
            let mut m = base.clone();
            m.method = method.into();
            assert!(m.needs_raw(), "{method:?}");
        }
        let mut m = base.clone();
        m.method = "PATCH".into();
        assert!(!m.needs_raw());
        let mut t = base;
        t.target = Some("/%63".into());
        assert!(t.needs_raw());
    }
}
