//! The WebSocket API on `CE` (spec §5): not served yet; upgrades get 426 from the REST side.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response};
use tokio::sync::{oneshot, watch};

use crate::simplex_v5::rest::{App, Body};

/// The WebSocket sessions of one server.
pub(crate) struct Sessions {
    app: Arc<App>,
}

impl Sessions {
    pub(crate) fn new(
        app: Arc<App>,
        _max_message: usize,
        _idle_timeout: Duration,
        _life: watch::Receiver<bool>,
    ) -> Sessions {
        Sessions { app }
    }

    /// The REST side.
    pub(crate) fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Runs one session.
    pub(crate) async fn run(&self, _upgrade: OnUpgrade) {}
}

/// Whether `request` asks for a WebSocket on `CE`.
pub(crate) fn is_upgrade(_request: &Request<Incoming>) -> bool {
    false
}

/// The refusal of an upgrade request, if it is refused.
pub(crate) fn refuse(_app: &App, _request: &Request<Incoming>) -> Option<Response<Body>> {
    None
}

/// Accepts the upgrade.
pub(crate) fn accept(
    _request: Request<Incoming>,
    _tx: oneshot::Sender<OnUpgrade>,
) -> Response<Body> {
    crate::simplex_v5::rest::error(hyper::StatusCode::UPGRADE_REQUIRED, "")
}
