//! The frame handler in-process, for the cargo-fuzz target `tassis_frame` (`fuzz/`): no
//! socket, no listener, one connection's state machine fed bytes directly.
//!
//! Hidden from the documentation: not an API for anything but fuzzing.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;

use crate::tassis_v2::config::TassisConfig;
use crate::tassis_v2::conn::Detached;
use crate::tassis_v2::faults::Faults;
use crate::tassis_v2::shared::{Life, Settings, Shared};

/// The nonce of every [`FuzzState`]'s connection, so that a seed can carry a valid login.
pub const FUZZ_NONCE: [u8; 32] = [0x4e; 32];

/// A connection of a fresh in-memory server, and a runtime to drive it.
pub struct FuzzState {
    shared: Arc<Shared>,
    conn: Detached,
    rt: tokio::runtime::Runtime,
    open: bool,
}

impl FuzzState {
    /// A fresh server (default settings; with the `faults` feature, the faults named in
    /// `faults`) and one anonymous connection whose nonce is [`FUZZ_NONCE`].
    #[cfg(feature = "faults")]
    pub fn with_faults(faults: &[crate::tassis_v2::faults::Fault]) -> FuzzState {
        FuzzState::build(Faults::of(faults))
    }

    /// A fresh server with default settings and one anonymous connection whose nonce is
    /// [`FUZZ_NONCE`].
    pub fn new() -> FuzzState {
        FuzzState::build(Faults::default())
    }

    fn build(faults: Faults) -> FuzzState {
        let config = TassisConfig::default();
        let settings = Settings {
            max_attachment_size: config.max_attachment_size,
            prekeys_low: config.prekeys_low,
            prekeys_request: config.prekeys_request,
            prekeys_interval: config.prekeys_interval,
            upload_base: config.upload_base(),
            idle_timeout: config.idle_timeout,
        };
        let (life, _) = watch::channel(Life::Running);
        let shared = Arc::new(Shared::new(settings, faults, life));
        let conn = Detached::new(shared.clone(), Bytes::from_static(&FUZZ_NONCE));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("a current-thread runtime: {e}"));
        FuzzState {
            shared,
            conn,
            rt,
            open: true,
        }
    }

    /// Log the connection in as this identity and device, without a signature.
    pub fn authenticate(&mut self, identity: &[u8], device: &[u8]) {
        self.conn.authenticate(identity.to_vec(), device.to_vec());
    }

    /// Whether a crash fault has stopped the server.
    pub fn crashed(&self) -> bool {
        *self.shared.life.borrow() == Life::Crashed
    }

    /// Whether the connection is still open (not closed after a failed login, not crashed).
    pub fn open(&self) -> bool {
        self.open && !self.crashed()
    }
}

impl Default for FuzzState {
    fn default() -> Self {
        FuzzState::new()
    }
}

/// Feed one binary frame to the connection; the frames it writes back. Frames after the
/// connection ended get nothing. Never panics, never touches the network.
pub fn handle_frame_for_fuzzing(state: &mut FuzzState, bytes: &[u8]) -> Vec<Vec<u8>> {
    if !state.open() {
        return Vec::new();
    }
    let frame = Bytes::copy_from_slice(bytes);
    let (out, open) = state.rt.block_on(state.conn.frame(frame));
    state.open = open;
    out
}
