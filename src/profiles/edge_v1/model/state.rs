//! The state the model keeps per connection.

use std::collections::BTreeSet;

use super::{KeyName, MsgName, Params};

/// Coarse phase of a connection, for transition coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Live, no sender key: sends are open (S-G-OPEN).
    Open,
    /// Live with a sender key.
    Secured,
    /// Live and disabled (with or without a sender key).
    Disabled,
    /// Deleted.
    Deleted,
}

/// One connection as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    /// The name of its connection ID.
    pub cid: String,
    /// False once deleted.
    pub live: bool,
    /// Current recipient key.
    pub rk: KeyName,
    /// Current sender key, once set.
    pub sk: Option<KeyName>,
    /// Recipient keys replaced so far.
    pub retired_rk: BTreeSet<KeyName>,
    /// Sender keys replaced so far.
    pub retired_sk: BTreeSet<KeyName>,
    /// Index of the current recipient URI (0 = from create).
    pub ru_version: usize,
    /// Index of the current sender URI.
    pub su_version: usize,
    /// Whether the last SU change came from the sender's PUT.
    pub su_changed_by_sender: bool,
    /// Whether the last SK change came from the sender's PUT.
    pub sk_changed_by_sender: bool,
    /// Sends refused.
    pub disabled: bool,
    /// Disabled by the create request, no update having set `disabled` since (S-CREATE-DIS).
    pub disabled_by_create: bool,
    /// Queued messages in receive order.
    pub queue: Vec<MsgName>,
    /// Messages removed (retrieved without keep, deleted, or gone with the connection).
    pub removed: BTreeSet<MsgName>,
}

impl Conn {
    /// A connection just created.
    pub fn new(cid: String, rk: KeyName, sk: Option<KeyName>, disabled: bool) -> Conn {
        Conn {
            cid,
            live: true,
            rk,
            sk,
            retired_rk: BTreeSet::new(),
            retired_sk: BTreeSet::new(),
            ru_version: 0,
            su_version: 0,
            su_changed_by_sender: false,
            sk_changed_by_sender: false,
            disabled,
            disabled_by_create: disabled,
            queue: Vec::new(),
            removed: BTreeSet::new(),
        }
    }

    /// The coarse phase.
    pub fn phase(&self) -> Phase {
        if !self.live {
            Phase::Deleted
        } else if self.disabled {
            Phase::Disabled
        } else if self.sk.is_some() {
            Phase::Secured
        } else {
            Phase::Open
        }
    }

    /// The rule that refuses sends while the connection is disabled: the create's (S-CREATE-DIS)
    /// until an update sets `disabled`, then B-SEND-DISABLED.
    pub fn disabled_rule(&self) -> &'static str {
        if self.disabled_by_create {
            "S-CREATE-DIS"
        } else {
            "B-SEND-DISABLED"
        }
    }

    /// The rule that forbids the retired sender keys, by who replaced the last one.
    pub fn sk_rule(&self) -> &'static str {
        if self.sk_changed_by_sender {
            "S-SUPD-OLDKEY"
        } else {
            "S-RUPD-OLDKEY"
        }
    }

    pub(super) fn apply_update(&mut self, p: &Params) {
        if let Some(rk) = &p.recipient {
            if *rk != self.rk {
                self.retired_rk
                    .insert(std::mem::replace(&mut self.rk, rk.clone()));
            }
        }
        if let Some(sk) = &p.sender {
            self.replace_sk(sk, false);
        }
        if p.new_recipient_uri == Some(true) {
            self.ru_version += 1;
        }
        if p.new_sender_uri == Some(true) {
            self.su_version += 1;
            self.su_changed_by_sender = false;
        }
        if let Some(d) = p.disabled {
            self.disabled = d;
            self.disabled_by_create = false;
        }
    }

    pub(super) fn apply_sender_update(&mut self, p: &Params) {
        if let Some(sk) = &p.sender {
            self.replace_sk(sk, true);
        }
        if p.new_sender_uri == Some(true) {
            self.su_version += 1;
            self.su_changed_by_sender = true;
        }
    }

    fn replace_sk(&mut self, sk: &KeyName, by_sender: bool) {
        if let Some(old) = self.sk.replace(sk.clone()) {
            if old != *sk {
                self.retired_sk.insert(old);
                self.sk_changed_by_sender = by_sender;
            }
        }
        // A retired key given again is current again, not retired.
        self.retired_sk.remove(sk);
    }
}
