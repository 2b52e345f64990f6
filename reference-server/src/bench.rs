//! Support for the throughput benchmark (`benches/throughput.rs`).

use crate::edge_v1::config::Config;
use crate::edge_v1::server::{start_with, Server, StartError};

/// Starts a server that also answers POST `<base path>/echo` with the request body, after the
/// same body reading, Content-Type check and strict JSON parsing as the real endpoints, but
/// without signature, store or schema. Returns the server and the echo URL.
pub async fn start_with_echo(config: Config) -> Result<(Server, String), StartError> {
    let server = start_with(config, true).await?;
    let echo = format!("{}/echo", server.create_url().trim_end_matches('/'));
    Ok((server, echo))
}
