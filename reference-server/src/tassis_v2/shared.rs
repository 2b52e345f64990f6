//! What every connection of one server shares: the store, the settings, and the server's
//! life (running, stopping, or crashed by a fault).

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use rand::RngCore as _;
use tokio::sync::watch;

use crate::tassis_v2::faults::{Fault, Faults};
use crate::tassis_v2::store::Store;
use crate::tassis_v2::xeddsa;

/// Nonces remembered for `replay-accepted`.
const REMEMBERED_NONCES: usize = 10_000;

/// The server's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    /// Serving.
    Running,
    /// Shutting down: connections are closed with 1001.
    Stopping,
    /// Crashed by a fault: connections are dropped without a close frame, nothing is served
    /// again.
    Crashed,
}

/// Settings the connections need.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub max_attachment_size: i64,
    pub prekeys_low: u32,
    pub prekeys_request: u32,
    pub prekeys_interval: Duration,
    /// With exactly one trailing slash.
    pub upload_base: String,
    pub idle_timeout: Duration,
}

/// State shared by the connections of one server.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Store,
    pub settings: Settings,
    pub faults: Faults,
    pub life: watch::Sender<Life>,
    /// `nonce-counter`.
    nonce_counter: AtomicU64,
    /// `replay-accepted`: nonces of earlier connections.
    issued: Mutex<(VecDeque<Bytes>, HashSet<Bytes>)>,
}

impl Shared {
    pub(crate) fn new(settings: Settings, faults: Faults, life: watch::Sender<Life>) -> Shared {
        Shared {
            store: Store::new(faults),
            settings,
            faults,
            life,
            nonce_counter: AtomicU64::new(0),
            issued: Mutex::default(),
        }
    }

    /// Whether `fault` is on.
    pub(crate) fn on(&self, fault: Fault) -> bool {
        self.faults.on(fault)
    }

    /// Simulates the whole server dying: it stops accepting, drops every connection and never
    /// serves again (the process lives on).
    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    pub(crate) fn crash(&self) {
        self.life.send_replace(Life::Crashed);
    }

    /// A fresh login nonce: 32 bytes from the thread's CSPRNG (TB-NONCE).
    pub(crate) fn new_nonce(&self) -> Bytes {
        let nonce = if self.on(Fault::NonceCounter) {
            let n = self.nonce_counter.fetch_add(1, Ordering::Relaxed) + 1;
            let mut bytes = [0u8; 32];
            bytes[24..].copy_from_slice(&n.to_be_bytes());
            Bytes::copy_from_slice(&bytes)
        } else {
            let mut bytes = vec![0u8; if self.on(Fault::ShortNonce) { 8 } else { 32 }];
            rand::rng().fill_bytes(&mut bytes);
            Bytes::from(bytes)
        };
        if self.on(Fault::ReplayAccepted) {
            let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
            let (order, set) = &mut *issued;
            order.push_back(nonce.clone());
            set.insert(nonce.clone());
            if order.len() > REMEMBERED_NONCES {
                if let Some(old) = order.pop_front() {
                    set.remove(&old);
                }
            }
        }
        nonce
    }

    /// Whether a nonce was issued to any connection (`replay-accepted`).
    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    pub(crate) fn was_issued(&self, nonce: &[u8]) -> bool {
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued.1.contains(nonce)
    }

    /// The verifier's leniencies for the faults that are on.
    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    pub(crate) fn lax(&self) -> xeddsa::Lax {
        xeddsa::Lax {
            degenerate_keys: self.on(Fault::DegenerateKeyForgery),
            non_canonical_reduced: self.on(Fault::NonCanonicalUReduced),
            malleable_s: self.on(Fault::MalleableS),
            sign_bit_ignored: self.on(Fault::SignBitIgnored),
        }
    }
}
