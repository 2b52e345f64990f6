//! A ready-made probe for HTTP endpoints: one prepared request per class, sent again for
//! every sample over the client's keep-alive connection.

use super::probe::{BoxFuture, ClassName, ProbeError, Sample, TimingProbe};
use crate::client::{Client, Request};

/// Times prepared HTTP requests, one per class, each expected to be answered with one status.
///
/// Requests go through [`Client::execute`] (reqwest, which keeps the connection open between
/// requests); the time is the exchange's `elapsed`, which starts after the request was built.
/// Requests that need the raw path (which opens a connection per request) are refused, since
/// the handshake would enter the measurement.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    client: Client,
    expect: u16,
    names: Vec<ClassName>,
    requests: Vec<Request>,
}

impl HttpProbe {
    /// A probe with no classes yet, over `client`, that expects every request to be answered
    /// with `expect` (401 for the failure classes of a signed protocol).
    pub fn new(client: Client, expect: u16) -> HttpProbe {
        HttpProbe {
            client,
            expect,
            names: Vec::new(),
            requests: Vec::new(),
        }
    }

    /// Adds a class and its request; an error when the request would need a connection of
    /// its own (see [`Request::needs_raw`]).
    pub fn class(mut self, name: impl Into<ClassName>, request: Request) -> Result<Self, String> {
        let name = name.into();
        if request.needs_raw() {
            return Err(format!(
                "the request of class {name:?} cannot be timed: it needs a connection of its \
                 own (a literal target, a library-owned header or a large body)"
            ));
        }
        self.names.push(name);
        self.requests.push(request);
        Ok(self)
    }
}

impl TimingProbe for HttpProbe {
    fn classes(&self) -> &[ClassName] {
        &self.names
    }

    fn sample(&mut self, class: usize) -> BoxFuture<'_, Result<Sample, ProbeError>> {
        // Copied before the clock starts (`execute` starts it).
        let request = self.requests[class].clone();
        Box::pin(async move {
            let ex = self.client.execute(request).await;
            match ex.response {
                Err(e) => Err(ProbeError::Transport(e.to_string())),
                Ok(r) if r.status != self.expect => Err(ProbeError::Unexpected {
                    outcome: r.status.to_string(),
                    expected: self.expect.to_string(),
                }),
                Ok(r) => Ok(Sample {
                    elapsed: ex.elapsed,
                    outcome: r.status.to_string(),
                }),
            }
        })
    }
}
