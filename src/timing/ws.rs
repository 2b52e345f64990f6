//! A ready-made probe for WebSocket request types: one prepared text message per class, sent
//! on one open connection, timed until the next text message (the reply) is read.

use std::time::{Duration, Instant};

use super::probe::{BoxFuture, ClassName, ProbeError, Sample, TimingProbe};
use crate::client::ws::{Incoming, WsConn};

/// Names the outcome of a reply (`ok:false`, `invalid`, ...), from its text.
pub type Classify = Box<dyn Fn(&str) -> String + Send + Sync>;

/// Times prepared WebSocket requests on one connection, one message per class, each reply
/// expected to have one outcome.
///
/// The connection must carry nothing else while it is measured (no subscription that pushes):
/// the first text message after a request is taken as its reply.
pub struct WsProbe {
    conn: WsConn,
    within: Duration,
    classify: Classify,
    expect: String,
    names: Vec<ClassName>,
    messages: Vec<String>,
}

impl std::fmt::Debug for WsProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsProbe")
            .field("classes", &self.names)
            .field("expect", &self.expect)
            .finish_non_exhaustive()
    }
}

impl WsProbe {
    /// A probe with no classes yet over an open connection: a reply must come `within` this
    /// time, and `classify` must name it `expect`.
    pub fn new(
        conn: WsConn,
        within: Duration,
        expect: impl Into<String>,
        classify: Classify,
    ) -> WsProbe {
        WsProbe {
            conn,
            within,
            classify,
            expect: expect.into(),
            names: Vec::new(),
            messages: Vec::new(),
        }
    }

    /// Adds a class and its message (builder style).
    pub fn class(mut self, name: impl Into<ClassName>, message: impl Into<String>) -> WsProbe {
        self.names.push(name.into());
        self.messages.push(message.into());
        self
    }

    /// The connection back, once measuring is over.
    pub fn into_conn(self) -> WsConn {
        self.conn
    }
}

impl TimingProbe for WsProbe {
    fn classes(&self) -> &[ClassName] {
        &self.names
    }

    fn sample(&mut self, class: usize) -> BoxFuture<'_, Result<Sample, ProbeError>> {
        let message = self.messages[class].clone();
        Box::pin(async move {
            let start = Instant::now();
            if let Err(e) = self.conn.send_text(message).await {
                return Err(ProbeError::Transport(e.to_string()));
            }
            let unexpected = |outcome: String| ProbeError::Unexpected {
                outcome,
                expected: self.expect.clone(),
            };
            match self.conn.recv(self.within).await {
                Ok(Some(Incoming::Text(t))) => {
                    let elapsed = start.elapsed();
                    let outcome = (self.classify)(&t);
                    if outcome == self.expect {
                        Ok(Sample { elapsed, outcome })
                    } else {
                        Err(unexpected(outcome))
                    }
                }
                Ok(Some(Incoming::Binary(_))) => Err(unexpected("a binary message".into())),
                Ok(Some(Incoming::Closed { code, reason })) => Err(ProbeError::Transport(format!(
                    "the server closed the connection ({code:?} {reason:?})"
                ))),
                Ok(Some(Incoming::Gone { detail, .. })) => Err(ProbeError::Transport(detail)),
                Ok(None) => Err(ProbeError::Transport(format!(
                    "no reply within {:?}",
                    self.within
                ))),
                Err(e) => Err(ProbeError::Transport(e.to_string())),
            }
        })
    }
}
