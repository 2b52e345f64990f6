//! The embedded reference server of `simplex-v5`, started when no `--server` is given.

use edge_reference_server::simplex_v5::{start, SimplexConfig, SimplexServer};

use super::profile::{EMBEDDED_LARGE_MESSAGE, EMBEDDED_PAGE_SIZE};
use crate::profiles::ProfileError;

/// The embedded server and the configuration a client cannot discover.
pub struct Embedded {
    server: SimplexServer,
    /// Its PAGE_SIZE.
    pub page_size: usize,
    /// Its LARGE_MESSAGE.
    pub large_message: usize,
    /// Its MAX_WEBSOCKET_MESSAGE.
    pub max_ws: usize,
}

impl Embedded {
    /// Start it on 127.0.0.1 with a self-signed certificate trusted in memory (no file is
    /// written).
    pub async fn start() -> Result<Embedded, ProfileError> {
        let config = SimplexConfig {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            tls: edge_reference_server::Tls::SelfSigned { write_to: None },
            page_size: EMBEDDED_PAGE_SIZE,
            large_message: EMBEDDED_LARGE_MESSAGE,
            ..SimplexConfig::default()
        };
        let (page_size, large_message, max_ws) = (
            config.page_size,
            config.large_message,
            config.max_ws_message,
        );
        let server = start(config).await.map_err(|e| {
            ProfileError::Unreachable(format!("cannot start the embedded reference server: {e}"))
        })?;
        Ok(Embedded {
            server,
            page_size,
            large_message,
            max_ws,
        })
    }

    /// The create endpoint.
    pub fn create_url(&self) -> String {
        self.server.create_url()
    }

    /// The certificate to trust (PEM).
    pub fn certificate_pem(&self) -> Option<String> {
        self.server.certificate_pem()
    }

    /// Stop it.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
