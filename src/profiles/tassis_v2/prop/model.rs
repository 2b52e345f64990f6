//! The model of the spec: what a conforming server holds after each operation.
//!
//! Identities and devices are indices (the interpreter names their fresh keys); values are
//! names of the case's byte expressions. The model is deterministic: where the server may
//! choose (which one-time key it hands out), the model keeps what every choice has in common
//! (how many keys are left, and the set they come from), and the case's own checks catch a
//! key handed out twice (T-PK-ONCE).

use std::collections::BTreeMap;

/// Identities of a sequence.
pub const IDENTITIES: usize = 3;
/// Devices per identity.
pub const DEVICES: usize = 3;
/// Sessions open at once, at most.
pub const MAX_SESSIONS: usize = 4;

/// An address: (identity, device).
pub type Addr = (usize, usize);

/// A device's registration (T-REG-APPEND, T-REG-REPLACE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The signed prekey's name.
    pub signed: String,
    /// The one-time keys of this registration (appended ones included).
    pub keys: Vec<String>,
    /// How many of them are still stored.
    pub left: usize,
    /// Keys were appended to it.
    pub appended: bool,
    /// It replaced an earlier one (whose keys are discarded).
    pub replaced: bool,
}

/// A message sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its bytes' name.
    pub name: String,
    /// Its address.
    pub to: Addr,
    /// Acknowledged (T-ACK-DONE: never delivered to a new session again).
    pub acked: bool,
    /// Some session has received it (a later delivery is a redelivery).
    pub delivered: bool,
}

/// An authenticated session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Its connection name.
    pub conn: String,
    /// Its address.
    pub addr: Addr,
    /// Next request sequence.
    pub seq: u32,
    /// Messages owed to it, not yet seen (indices into [`Model::messages`], in send order).
    pub owed: Vec<usize>,
    /// Messages it has received.
    pub received: Vec<usize>,
}

/// The anonymous connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anonymous {
    /// Its connection name.
    pub conn: String,
    /// Next request sequence.
    pub seq: u32,
}

/// The server's state as the spec says it is.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Registrations by address.
    pub registrations: BTreeMap<Addr, Registration>,
    /// Addresses that unregistered since their last registration.
    pub unregistered: Vec<Addr>,
    /// Every message sent, in the order the server acknowledged the sends.
    pub messages: Vec<Message>,
    /// Sessions open, oldest first.
    pub sessions: Vec<Session>,
    /// The anonymous connection, when open.
    pub anonymous: Option<Anonymous>,
}

/// What a RequestPreKeys must get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreKeysReply {
    /// No device of the identity is registered (T-PK-UNKNOWN).
    UnknownIdentity,
    /// Every registered device is known (TB-PK-ALL-KNOWN).
    NoneLeft,
    /// One entry per device: (device, signed prekey, the keys it may carry; empty: none).
    Entries(Vec<(usize, String, Vec<String>)>),
}

impl Model {
    /// Messages of `addr` not acknowledged, in order.
    pub fn unacked(&self, addr: Addr) -> Vec<usize> {
        (0..self.messages.len())
            .filter(|&i| self.messages[i].to == addr && !self.messages[i].acked)
            .collect()
    }

    /// Messages of `addr` acknowledged.
    pub fn acked(&self, addr: Addr) -> Vec<usize> {
        (0..self.messages.len())
            .filter(|&i| self.messages[i].to == addr && self.messages[i].acked)
            .collect()
    }

    /// Sessions of `addr`.
    pub fn sessions_of(&self, addr: Addr) -> usize {
        self.sessions.iter().filter(|s| s.addr == addr).count()
    }

    /// A login: the new session is owed every unacknowledged message (T-STORE-FORWARD,
    /// T-REDELIVER).
    pub fn login(&mut self, conn: String, addr: Addr) -> &Session {
        let owed = self.unacked(addr);
        self.sessions.push(Session {
            conn,
            addr,
            seq: 2,
            owed,
            received: Vec::new(),
        });
        self.sessions.last().expect("just pushed")
    }

    /// A Register: append when the signed prekey is the stored one, else replace.
    pub fn register(&mut self, addr: Addr, signed: String, keys: Vec<String>) {
        self.unregistered.retain(|a| *a != addr);
        match self.registrations.get_mut(&addr) {
            Some(r) if r.signed == signed => {
                r.left += keys.len();
                r.keys.extend(keys);
                r.appended = true;
            }
            old => {
                let replaced = old.is_some();
                self.registrations.insert(
                    addr,
                    Registration {
                        signed,
                        left: keys.len(),
                        keys,
                        appended: false,
                        replaced,
                    },
                );
            }
        }
    }

    /// An Unregister: key material only (TB-UNREG-INBOX); other devices untouched.
    pub fn unregister(&mut self, addr: Addr) {
        if self.registrations.remove(&addr).is_some() {
            self.unregistered.push(addr);
        }
    }

    /// A RequestPreKeys: the reply due, and the keys it consumes.
    pub fn request_pre_keys(&mut self, id: usize, known: &[usize]) -> PreKeysReply {
        let devices: Vec<usize> = self
            .registrations
            .keys()
            .filter(|a| a.0 == id)
            .map(|a| a.1)
            .collect();
        if devices.is_empty() {
            return PreKeysReply::UnknownIdentity;
        }
        let mut entries = Vec::new();
        for d in devices.into_iter().filter(|d| !known.contains(d)) {
            let r = self.registrations.get_mut(&(id, d)).expect("listed");
            let keys = if r.left > 0 {
                r.left -= 1;
                r.keys.clone()
            } else {
                Vec::new()
            };
            entries.push((d, r.signed.clone(), keys));
        }
        if entries.is_empty() {
            PreKeysReply::NoneLeft
        } else {
            PreKeysReply::Entries(entries)
        }
    }

    /// A send acknowledged: stored, and owed to every live session of its address
    /// (T-DELIVER, T-FANOUT). Returns its index.
    pub fn send(&mut self, name: String, to: Addr) -> usize {
        let i = self.messages.len();
        self.messages.push(Message {
            name,
            to,
            acked: false,
            delivered: false,
        });
        for s in self.sessions.iter_mut().filter(|s| s.addr == to) {
            s.owed.push(i);
        }
        i
    }

    /// Session `s` has seen what it was owed.
    pub fn receive(&mut self, s: usize) -> Vec<usize> {
        let owed = std::mem::take(&mut self.sessions[s].owed);
        for &m in &owed {
            self.messages[m].delivered = true;
        }
        self.sessions[s].received.extend(owed.iter().copied());
        owed
    }

    /// Messages session `s` may acknowledge: received, not acknowledged.
    pub fn ackable(&self, s: usize) -> Vec<usize> {
        self.sessions[s]
            .received
            .iter()
            .copied()
            .filter(|&m| !self.messages[m].acked)
            .collect()
    }

    /// Session `s` acknowledges message `m`. Other sessions of the address that were owed it
    /// may or may not still get it (the ack and their delivery race): they are owed it no
    /// more.
    pub fn ack(&mut self, s: usize, m: usize) {
        self.messages[m].acked = true;
        let addr = self.sessions[s].addr;
        for o in self.sessions.iter_mut().filter(|o| o.addr == addr) {
            o.owed.retain(|&x| x != m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acking_a_later_message_keeps_the_earlier_one_owed_to_the_next_session() {
        let mut m = Model::default();
        let a = (0, 0);
        m.send("$m1".into(), a);
        m.send("$m2".into(), a);
        m.login("s1".into(), a);
        assert_eq!(m.receive(0), vec![0, 1]);
        m.ack(0, 1);
        m.sessions.clear();
        let s = m.login("s2".into(), a).clone();
        assert_eq!(s.owed, vec![0]);
        assert_eq!(m.acked(a), vec![1]);
    }

    #[test]
    fn registrations_append_replace_and_run_out() {
        let mut m = Model::default();
        let a = (1, 0);
        assert_eq!(m.request_pre_keys(1, &[]), PreKeysReply::UnknownIdentity);
        m.register(a, "$s1".into(), vec!["$k1".into()]);
        m.register(a, "$s1".into(), vec!["$k2".into()]);
        assert_eq!(m.registrations[&a].left, 2);
        assert!(m.registrations[&a].appended);
        m.register(a, "$s2".into(), vec!["$k3".into()]);
        let r = &m.registrations[&a];
        assert!(r.replaced && r.keys == vec!["$k3".to_string()]);
        assert_eq!(
            m.request_pre_keys(1, &[]),
            PreKeysReply::Entries(vec![(0, "$s2".into(), vec!["$k3".into()])])
        );
        assert_eq!(
            m.request_pre_keys(1, &[]),
            PreKeysReply::Entries(vec![(0, "$s2".into(), vec![])])
        );
        assert_eq!(m.request_pre_keys(1, &[0]), PreKeysReply::NoneLeft);
        m.unregister(a);
        assert_eq!(m.request_pre_keys(1, &[]), PreKeysReply::UnknownIdentity);
    }
}
