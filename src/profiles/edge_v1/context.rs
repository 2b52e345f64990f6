//! What every check shares: the client, the key pool and the target.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::client::origin::OriginPolicy;
use crate::client::Client;
use crate::profiles::edge_v1::sign::KeyPool;

/// Shared, read-only state of a run.
pub struct Context {
    /// The HTTP client (timeouts and body caps inside).
    pub client: Client,
    /// Keys.
    pub pool: Arc<KeyPool>,
    /// Create endpoints of the servers under test (the first is the main one).
    pub servers: Vec<Url>,
    /// The servers' PAGE_SIZE, when known.
    pub page_size: Option<usize>,
    /// `--allow-http` was given.
    pub allow_http: bool,
    /// The origins the run may contact (the servers' and `--allow-origin`).
    pub origins: OriginPolicy,
    /// `--idle-wait`: how long a connection is held idle before others are checked.
    pub idle_wait: Option<Duration>,
}

impl Context {
    /// The main create endpoint.
    pub fn ce(&self) -> &Url {
        &self.servers[0]
    }

    /// The same context with `pool` in place of its key pool.
    pub fn with_pool(&self, pool: Arc<KeyPool>) -> Context {
        Context {
            client: self.client.clone(),
            pool,
            servers: self.servers.clone(),
            page_size: self.page_size,
            allow_http: self.allow_http,
            origins: self.origins.clone(),
            idle_wait: self.idle_wait,
        }
    }
}
