//! The in-memory state shared by all connections: registered devices and their prekeys,
//! inboxes (one per address), and the authenticated sessions that messages are pushed to.
//!
//! One mutex guards everything, so each operation is atomic: a one-time prekey is handed out
//! at most once however many requesters race (T-PK-ONCE), and a login's backlog and its
//! subscription to new messages are taken together (no message is lost or doubled between
//! them).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedSender;

use crate::tassis_v2::faults::{Fault, Faults};
use crate::tassis_v2::wire;

/// Most messages stored per address (TB-RETENTION allows a cap of at least 1 000).
const MAX_INBOX: usize = 10_000;
/// Most message bytes stored in all.
const MAX_STORED_BYTES: usize = 512 << 20;
/// Most one-time prekeys kept per device; the oldest go first.
const MAX_ONE_TIME: usize = 10_000;

/// An address: identity key and device ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Address {
    /// The identity key, as sent.
    pub identity: Bytes,
    /// The device ID, as sent.
    pub device: Bytes,
}

/// What a session is told by others.
#[derive(Debug)]
pub(crate) enum Push {
    /// A new message for the session's address.
    Inbound(Stored),
    /// The device's one-time prekeys were taken: check whether to send PreKeysLow.
    CheckPreKeys,
}

/// A stored message.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    /// Server-wide message ID, increasing.
    pub id: u64,
    /// The opaque bytes.
    pub bytes: Bytes,
    /// Where it came from; kept only for the `inbound-extra-sender-field` fault.
    pub sender: Option<String>,
}

/// Why RequestPreKeys has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PreKeysError {
    /// No registered device (`unknown_identity`).
    UnknownIdentity,
    /// A fault's error (`unknown_error`).
    Other,
}

/// Why a send was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The address's inbox or the server's storage is full.
    Full,
    /// The address is unknown (only with `send-unknown-refused`).
    Unknown,
}

#[derive(Debug, Default)]
struct Registration {
    signed: Bytes,
    /// Oldest first; handed out from the end (most recent first, as tassis).
    one_time: Vec<Bytes>,
    /// `prekey-handed-twice`: the last key has been handed out once already.
    handed_once: bool,
}

#[derive(Debug)]
struct Session {
    id: u64,
    tx: UnboundedSender<Push>,
}

#[derive(Debug, Default)]
struct Inner {
    devices: HashMap<Bytes, BTreeMap<Bytes, Registration>>,
    inboxes: HashMap<Address, VecDeque<Stored>>,
    sessions: HashMap<Address, Vec<Session>>,
    stored_bytes: usize,
    next_message: u64,
    next_session: u64,
    /// Addresses that logged in or registered (only for `send-unknown-refused`).
    seen: HashSet<Address>,
    /// `competing-consumers`: whose turn it is.
    turn: usize,
}

/// The server's state.
#[derive(Debug, Default)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
    faults: Faults,
}

impl Store {
    pub(crate) fn new(faults: Faults) -> Store {
        Store {
            inner: Mutex::default(),
            faults,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the maps half-updated in a way that matters more
        // than stopping to serve.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    fn on(&self, fault: Fault) -> bool {
        self.faults.on(fault)
    }

    /// Stores a registration: same signed prekey appends, another replaces (T-REG-*).
    pub(crate) fn register(&self, address: &Address, signed: Bytes, one_time: Vec<Bytes>) {
        let mut inner = self.lock();
        inner.seen.insert(address.clone());
        let devices = inner.devices.entry(address.identity.clone()).or_default();
        let registration = devices.entry(address.device.clone()).or_default();
        let append = if self.on(Fault::RegisterAlwaysReplace) {
            false
        } else {
            self.on(Fault::RegisterAlwaysAppend) || registration.signed == signed
        };
        if !append {
            registration.one_time.clear();
        }
        registration.signed = signed;
        if !one_time.is_empty() {
            registration.handed_once = false;
        }
        registration.one_time.extend(one_time);
        let excess = registration.one_time.len().saturating_sub(MAX_ONE_TIME);
        registration.one_time.drain(..excess);
    }

    /// Removes a device's registration; whether it was registered. Other devices and the
    /// inbox are untouched (T-UNREG-OTHERS, TB-UNREG-INBOX).
    pub(crate) fn unregister(&self, address: &Address) -> bool {
        let mut inner = self.lock();
        if self.on(Fault::UnregisterDropsInbox) {
            if let Some(inbox) = inner.inboxes.remove(address) {
                inner.stored_bytes -= inbox.iter().map(|m| m.bytes.len()).sum::<usize>();
            }
        }
        let Some(devices) = inner.devices.get_mut(&address.identity) else {
            return false;
        };
        let was = devices.contains_key(&address.device);
        if self.on(Fault::UnregisterKeepsKeys) {
            return was;
        }
        if self.on(Fault::UnregisterOneMemberSet) && devices.len() == 1 {
            devices.clear();
        } else {
            devices.remove(&address.device);
        }
        if devices.is_empty() {
            inner.devices.remove(&address.identity);
        }
        was
    }

    /// How many one-time prekeys the device holds; `None` if it is not registered.
    pub(crate) fn one_time_count(&self, address: &Address) -> Option<usize> {
        let inner = self.lock();
        inner
            .devices
            .get(&address.identity)?
            .get(&address.device)
            .map(|r| r.one_time.len())
    }

    /// Whether the identity has registered devices, none of them `address`'s device
    /// (`login-needs-registration`).
    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    pub(crate) fn others_registered(&self, address: &Address) -> bool {
        let inner = self.lock();
        inner
            .devices
            .get(&address.identity)
            .is_some_and(|d| !d.is_empty() && !d.contains_key(&address.device))
    }

    /// One entry per registered device of `identity` not in `known`, each with one one-time
    /// prekey taken (removed unless `take` is false), or an empty one when none is left. The
    /// devices' sessions are told to check their prekeys.
    pub(crate) fn request_prekeys(
        &self,
        identity: &Bytes,
        known: &[Bytes],
        take: bool,
    ) -> Result<Vec<wire::PreKey>, PreKeysError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let Some(devices) = inner.devices.get_mut(identity).filter(|d| !d.is_empty()) else {
            return if self.on(Fault::UnknownIdentityEmptyList) {
                Ok(Vec::new())
            } else {
                Err(PreKeysError::UnknownIdentity)
            };
        };
        let ignore_known = self.on(Fault::KnownDevicesIgnored);
        let wanted = |device: &Bytes| ignore_known || !known.contains(device);
        if self.on(Fault::ExhaustedError)
            && devices
                .iter()
                .any(|(device, r)| wanted(device) && r.one_time.is_empty())
        {
            return Err(PreKeysError::Other);
        }
        let mut keys = Vec::new();
        for (device, registration) in devices.iter_mut().filter(|(d, _)| wanted(d)) {
            let one_time = if self.on(Fault::OtpkWithheld) && registration.one_time.len() == 1 {
                Bytes::new()
            } else if !take {
                registration.one_time.last().cloned().unwrap_or_default()
            } else if self.on(Fault::PrekeyHandedTwice) && !registration.handed_once {
                registration.handed_once = !registration.one_time.is_empty();
                registration.one_time.last().cloned().unwrap_or_default()
            } else {
                registration.handed_once = false;
                registration.one_time.pop().unwrap_or_default()
            };
            keys.push(wire::PreKey {
                device_id: device.clone(),
                signed_pre_key: registration.signed.clone(),
                one_time_pre_key: one_time,
            });
        }
        if keys.is_empty() && self.on(Fault::AllKnownOtherError) {
            return Err(PreKeysError::Other);
        }
        for key in &keys {
            let address = Address {
                identity: identity.clone(),
                device: key.device_id.clone(),
            };
            for session in inner.sessions.get(&address).into_iter().flatten() {
                let _ = session.tx.send(Push::CheckPreKeys);
            }
        }
        Ok(keys)
    }

    /// Removes the one-time prekeys handed out by a `request_prekeys(.., take: false)`
    /// (`prekey-race`), if they are still there.
    pub(crate) fn remove_handed(&self, identity: &Bytes, keys: &[wire::PreKey]) {
        let mut inner = self.lock();
        let Some(devices) = inner.devices.get_mut(identity) else {
            return;
        };
        for key in keys.iter().filter(|k| !k.one_time_pre_key.is_empty()) {
            if let Some(registration) = devices.get_mut(&key.device_id) {
                if let Some(i) = registration
                    .one_time
                    .iter()
                    .rposition(|k| *k == key.one_time_pre_key)
                {
                    registration.one_time.remove(i);
                }
            }
        }
    }

    /// Stores a message for `to` and pushes it to the address's sessions (T-SEND-ANY,
    /// T-DELIVER, T-FANOUT).
    pub(crate) fn send(
        &self,
        to: &Address,
        bytes: Bytes,
        sender: Option<String>,
    ) -> Result<(), SendError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        if self.on(Fault::SendUnknownRefused)
            && !inner.seen.contains(to)
            && !inner
                .devices
                .get(&to.identity)
                .is_some_and(|d| d.contains_key(&to.device))
        {
            return Err(SendError::Unknown);
        }
        let online = inner.sessions.get(to).is_some_and(|s| !s.is_empty());
        if self.on(Fault::NoStoreForward) && !online {
            return Ok(());
        }
        let inbox_len = inner.inboxes.get(to).map_or(0, VecDeque::len);
        if inbox_len >= MAX_INBOX || inner.stored_bytes + bytes.len() > MAX_STORED_BYTES {
            return Err(SendError::Full);
        }
        inner.next_message += 1;
        let message = Stored {
            id: inner.next_message,
            bytes,
            sender,
        };
        inner.stored_bytes += message.bytes.len();
        inner
            .inboxes
            .entry(to.clone())
            .or_default()
            .push_back(message.clone());
        if let Some(sessions) = inner.sessions.get(to).filter(|s| !s.is_empty()) {
            if self.on(Fault::CompetingConsumers) {
                inner.turn = inner.turn.wrapping_add(1);
                let session = &sessions[inner.turn % sessions.len()];
                let _ = session.tx.send(Push::Inbound(message.clone()));
            } else {
                for session in sessions {
                    let _ = session.tx.send(Push::Inbound(message.clone()));
                }
            }
        }
        if self.on(Fault::DeliverToAllDevices) {
            for (address, sessions) in &inner.sessions {
                if address.identity == to.identity && address.device != to.device {
                    for session in sessions {
                        let _ = session.tx.send(Push::Inbound(message.clone()));
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds a session of `address` that is pushed new messages; returns its ID and the stored
    /// messages, oldest first, taken atomically with the subscription.
    pub(crate) fn subscribe(
        &self,
        address: &Address,
        tx: UnboundedSender<Push>,
    ) -> (u64, Vec<Stored>) {
        let mut inner = self.lock();
        inner.seen.insert(address.clone());
        inner.next_session += 1;
        let id = inner.next_session;
        inner
            .sessions
            .entry(address.clone())
            .or_default()
            .push(Session { id, tx });
        let backlog = inner
            .inboxes
            .get(address)
            .map(|inbox| inbox.iter().cloned().collect())
            .unwrap_or_default();
        (id, backlog)
    }

    /// Removes a session.
    pub(crate) fn unsubscribe(&self, address: &Address, id: u64) {
        let mut inner = self.lock();
        let all = self.on(Fault::UnsubscribeDropsAll);
        if let Some(sessions) = inner.sessions.get_mut(address) {
            sessions.retain(|s| s.id != id && !all);
            if sessions.is_empty() {
                inner.sessions.remove(address);
            }
        }
    }

    /// Removes the acknowledged message `id` from the address's inbox (T-ACK-DONE), and only
    /// that one (T-REDELIVER).
    pub(crate) fn ack(&self, address: &Address, id: u64) {
        if self.on(Fault::AckedRedelivered) {
            return;
        }
        let mut inner = self.lock();
        let Some(inbox) = inner.inboxes.get_mut(address) else {
            return;
        };
        let mut freed = 0;
        if self.on(Fault::CumulativeAck) {
            while inbox.front().is_some_and(|m| m.id <= id) {
                freed += inbox.pop_front().map_or(0, |m| m.bytes.len());
            }
        } else if self.on(Fault::AckRemovesNewest) {
            if inbox.iter().any(|m| m.id == id) {
                freed += inbox.pop_back().map_or(0, |m| m.bytes.len());
            }
        } else if let Ok(i) = inbox.binary_search_by_key(&id, |m| m.id) {
            freed += inbox.remove(i).map_or(0, |m| m.bytes.len());
        }
        if inbox.is_empty() {
            inner.inboxes.remove(address);
        }
        inner.stored_bytes -= freed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc::unbounded_channel;

    fn addr(identity: u8, device: &str) -> Address {
        Address {
            identity: Bytes::from(vec![identity; 32]),
            device: Bytes::from(device.to_owned()),
        }
    }

    fn keys(list: &[&str]) -> Vec<Bytes> {
        list.iter().map(|k| Bytes::from(k.to_string())).collect()
    }

    #[test]
    fn register_appends_or_replaces_and_keys_go_once() {
        let store = Store::default();
        let a = addr(1, "a");
        store.register(&a, "spk".into(), keys(&["1", "2"]));
        store.register(&a, "spk".into(), keys(&["3"]));
        assert_eq!(store.one_time_count(&a), Some(3));
        let got: Vec<Bytes> = (0..4)
            .map(|_| {
                store.request_prekeys(&a.identity, &[], true).unwrap()[0]
                    .one_time_pre_key
                    .clone()
            })
            .collect();
        assert_eq!(got, keys(&["3", "2", "1", ""]));
        store.register(&a, "spk".into(), keys(&["4"]));
        store.register(&a, "spk2".into(), keys(&["5"]));
        let entry = &store.request_prekeys(&a.identity, &[], true).unwrap()[0];
        assert_eq!(entry.one_time_pre_key, "5");
        assert_eq!(entry.signed_pre_key, "spk2");
        assert_eq!(store.one_time_count(&a), Some(0));
    }

    #[test]
    fn devices_known_and_unregistered() {
        let store = Store::default();
        let (a, b) = (addr(1, "a"), addr(1, "b"));
        assert_eq!(
            store.request_prekeys(&a.identity, &[], true),
            Err(PreKeysError::UnknownIdentity)
        );
        store.register(&a, "sa".into(), vec![]);
        store.register(&b, "sb".into(), vec![]);
        let all = store.request_prekeys(&a.identity, &[], true).unwrap();
        assert_eq!(all.len(), 2);
        let some = store
            .request_prekeys(&a.identity, &[a.device.clone(), "x".into()], true)
            .unwrap();
        assert_eq!(some.len(), 1);
        assert_eq!(some[0].device_id, b.device);
        let none = store
            .request_prekeys(&a.identity, &[a.device.clone(), b.device.clone()], true)
            .unwrap();
        assert!(none.is_empty());
        // Unregistering another (never registered) device changes nothing.
        assert!(!store.unregister(&addr(1, "c")));
        assert_eq!(
            store.request_prekeys(&a.identity, &[], true).unwrap().len(),
            2
        );
        assert!(store.unregister(&a));
        assert!(store.unregister(&b));
        assert_eq!(
            store.request_prekeys(&a.identity, &[], true),
            Err(PreKeysError::UnknownIdentity)
        );
    }

    #[test]
    fn inbox_acks_per_message_and_fans_out() {
        let store = Store::default();
        let a = addr(1, "a");
        for m in ["m1", "m2", "m3"] {
            store.send(&a, m.into(), None).unwrap();
        }
        let (tx, mut rx) = unbounded_channel();
        let (session, backlog) = store.subscribe(&a, tx);
        assert_eq!(backlog.len(), 3);
        store.ack(&a, backlog[1].id);
        let (tx2, mut rx2) = unbounded_channel();
        let (_, again) = store.subscribe(&a, tx2);
        let again: Vec<Bytes> = again.into_iter().map(|m| m.bytes).collect();
        assert_eq!(again, keys(&["m1", "m3"]));
        store.send(&a, "m4".into(), None).unwrap();
        assert!(matches!(rx.try_recv(), Ok(Push::Inbound(m)) if m.bytes == "m4"));
        assert!(matches!(rx2.try_recv(), Ok(Push::Inbound(m)) if m.bytes == "m4"));
        store.unsubscribe(&a, session);
        assert_eq!(store.lock().sessions[&a].len(), 1);
        // Unregistering keeps the inbox.
        store.unregister(&a);
        assert_eq!(store.lock().inboxes[&a].len(), 3);
    }
}
