//! The embedded reference server of `simplex-v5`, started when no `--server` is given.

use crate::profiles::ProfileError;

/// The embedded server and the configuration a client cannot discover.
pub struct Embedded {
    /// Its PAGE_SIZE.
    pub page_size: usize,
    /// Its LARGE_MESSAGE.
    pub large_message: usize,
    /// Its MAX_WEBSOCKET_MESSAGE.
    pub max_ws: usize,
}

impl Embedded {
    /// Start it on 127.0.0.1 with a self-signed certificate trusted in memory.
    pub async fn start() -> Result<Embedded, ProfileError> {
        Err(ProfileError::Unreachable(
            "this build has no embedded simplex-v5 reference server; give --server".into(),
        ))
    }

    /// The create endpoint.
    pub fn create_url(&self) -> String {
        String::new()
    }

    /// The certificate to trust (PEM).
    pub fn certificate_pem(&self) -> Option<String> {
        None
    }

    /// Stop it.
    pub async fn shutdown(self) {}
}
