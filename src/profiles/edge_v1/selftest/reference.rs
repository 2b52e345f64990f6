//! The reference server's fault-injection harness as a set of [`Servers`] (feature
//! `selftest`, which turns on the server's `faults` feature).

use edge_reference_server::faults::Fault;
use edge_reference_server::{Config, Server, StartError, Tls};
use url::Url;

use super::matrix::{is_idle_fault, FaultSpec, Servers, Target, IDLE_HEAD_TIMEOUT, IDLE_WAIT};
use crate::profiles::edge_v1::target::EMBEDDED_PAGE_SIZE;

/// Messages a matrix server queues per connection. B-QUOTA (MAY) is only observable on a
/// server with a cap; no other check queues this many messages on one connection.
pub const QUEUE_CAP: usize = 100;

/// Every fault of the harness, with its name and rule.
pub fn reference_faults() -> Vec<(Fault, FaultSpec)> {
    Fault::ALL
        .iter()
        .map(|f| {
            (
                *f,
                FaultSpec {
                    name: f.name().to_owned(),
                    rule: f.rule().to_owned(),
                    description: f.description().to_owned(),
                },
            )
        })
        .collect()
}

/// Why a reference server of the matrix could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceServerError {
    /// The server did not start.
    #[error("cannot start the reference server: {0}")]
    Start(#[source] StartError),
    /// The server's create URL cannot be parsed.
    #[error("the reference server's create URL: {0}")]
    CreateUrl(#[source] url::ParseError),
}

/// In-process reference servers on 127.0.0.1 (plain HTTP, PAGE_SIZE
/// [`EMBEDDED_PAGE_SIZE`], queues capped at [`QUEUE_CAP`]), each with one fault of `faults`.
#[derive(Debug, Clone)]
pub struct ReferenceServers {
    /// The faults, indexed as the matrix's fault list.
    pub faults: Vec<Fault>,
}

impl Servers for ReferenceServers {
    type Running = Server;
    type Error = ReferenceServerError;

    async fn start(&self, fault: Option<usize>) -> Result<(Target, Server), ReferenceServerError> {
        let faults = fault.map(|i| vec![self.faults[i]]).unwrap_or_default();
        // Idle connections matter only to these faults: the others keep the usual deadline.
        let idle = faults.iter().any(|f| is_idle_fault(f.name()));
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            page_size: EMBEDDED_PAGE_SIZE,
            queue_cap: Some(QUEUE_CAP),
            tls: Tls::Plain,
            faults: faults.clone(),
            head_timeout: if idle {
                IDLE_HEAD_TIMEOUT
            } else {
                Config::default().head_timeout
            },
            ..Config::default()
        };
        let server = edge_reference_server::start(config)
            .await
            .map_err(ReferenceServerError::Start)?;
        let ce = Url::parse(&server.create_url()).map_err(ReferenceServerError::CreateUrl)?;
        Ok((
            Target {
                ce,
                page_size: Some(EMBEDDED_PAGE_SIZE),
                idle_wait: idle.then_some(IDLE_WAIT),
            },
            server,
        ))
    }

    async fn stop(&self, running: Server) {
        running.shutdown().await;
    }
}
