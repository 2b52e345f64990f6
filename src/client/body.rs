//! A response body as it is read: the first `cap` bytes are kept, the rest only counted, and
//! reading stops at a hard byte limit or at the exchange's deadline.

/// Why the reading of a body stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyStop {
    /// The body went past `ClientOptions::body_limit`; the rest was not read.
    Limit,
    /// The timeout ran out while the body was still coming.
    Timeout,
}

impl BodyStop {
    /// The reason in words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            BodyStop::Limit => "reading stopped at the suite's byte limit for bodies",
            BodyStop::Timeout => "reading stopped at the timeout with the body still coming",
        }
    }
}

/// A body being read: keeps at most `cap` bytes, counts every byte, stops at `limit`.
#[derive(Debug)]
pub(super) struct Sink {
    bytes: Vec<u8>,
    cap: usize,
    len: u64,
    limit: u64,
    stop: Option<BodyStop>,
}

impl Sink {
    /// A sink keeping `cap` bytes and reading at most `limit` (at least `cap`).
    pub(super) fn new(cap: usize, limit: u64) -> Sink {
        Sink {
            bytes: Vec::new(),
            cap,
            len: 0,
            limit: limit.max(cap as u64),
            stop: None,
        }
    }

    /// Takes `data`: keeps what fits under the cap and counts the rest. Returns how many
    /// bytes of `data` were taken (fewer than `data.len()` only at the limit).
    pub(super) fn push(&mut self, data: &[u8]) -> usize {
        let room = self.limit - self.len;
        let n = data.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let keep = n.min(self.cap - self.bytes.len());
        self.bytes.extend_from_slice(&data[..keep]);
        self.len += n as u64;
        if self.len >= self.limit && n < data.len() {
            self.stop = Some(BodyStop::Limit);
        }
        n
    }

    /// Whether reading must stop (the limit was passed or the timeout ran out).
    pub(super) fn stopped(&self) -> bool {
        self.stop.is_some()
    }

    /// Notes that the limit is reached while more bytes were announced or may come.
    pub(super) fn at_limit(&self) -> bool {
        self.len >= self.limit
    }

    /// Stops reading for `why`.
    pub(super) fn stop(&mut self, why: BodyStop) {
        self.stop = Some(why);
    }

    /// Bytes counted so far.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// The kept bytes, the count, and why reading stopped early, if it did.
    pub(super) fn done(self) -> Body {
        Body {
            truncated: self.stop.is_some() || (self.bytes.len() as u64) < self.len,
            bytes: self.bytes,
            len: self.len,
            stop: self.stop,
        }
    }
}

/// A finished body.
#[derive(Debug)]
pub(super) struct Body {
    pub(super) bytes: Vec<u8>,
    pub(super) len: u64,
    pub(super) truncated: bool,
    pub(super) stop: Option<BodyStop>,
}
