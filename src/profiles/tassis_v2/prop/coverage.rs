//! Model-transition coverage: which transitions of the model a run took, and which it never
//! reached.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A transition of the model, as an operation takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transition {
    /// The first session of an address.
    LoginFirst,
    /// A second session of an address while one is open.
    LoginConcurrent,
    /// A login owed stored messages (store-and-forward or redelivery).
    LoginBacklog,
    /// A login of an address with acknowledged messages (which must not come again).
    LoginAfterAcks,
    /// The first registration of a device (or the first after an Unregister).
    RegisterFirst,
    /// Register with the stored signed prekey: keys appended.
    RegisterAppend,
    /// Register with a new signed prekey: the registration replaced.
    RegisterReplace,
    /// Register with no one-time keys.
    RegisterNoKeys,
    /// Unregister of a registered device.
    UnregisterRegistered,
    /// Unregister of a device not registered.
    UnregisterUnknown,
    /// RequestPreKeys of an identity with no registered device.
    PreKeysUnknown,
    /// RequestPreKeys listing every registered device as known.
    PreKeysAllKnown,
    /// RequestPreKeys answered with entries.
    PreKeysHanded,
    /// An entry of a device with no one-time key left.
    PreKeysExhausted,
    /// Entries of a device whose registration was replaced.
    PreKeysAfterReplace,
    /// A send to an address with a live session.
    SendLive,
    /// A send to a known address without a session.
    SendStored,
    /// A send to an address that never registered nor logged in.
    SendNeverSeen,
    /// A session receives live pushes.
    ReceiveLive,
    /// One of several concurrent sessions of an address receives them.
    ReceiveFanout,
    /// The oldest unacknowledged message acknowledged.
    AckOldest,
    /// A later message acknowledged before an earlier one.
    AckOutOfOrder,
    /// A session closed.
    DisconnectSession,
    /// The anonymous connection closed.
    DisconnectAnonymous,
    /// A connection dropped without a close frame.
    DisconnectAbrupt,
    /// Register on the anonymous connection.
    MisuseRegisterAnonymous,
    /// OutboundMessage on a session.
    MisuseSendOnSession,
    /// A second login on a session.
    MisuseSecondLogin,
}

impl Transition {
    /// Every transition.
    pub const ALL: [Transition; 28] = [
        Transition::LoginFirst,
        Transition::LoginConcurrent,
        Transition::LoginBacklog,
        Transition::LoginAfterAcks,
        Transition::RegisterFirst,
        Transition::RegisterAppend,
        Transition::RegisterReplace,
        Transition::RegisterNoKeys,
        Transition::UnregisterRegistered,
        Transition::UnregisterUnknown,
        Transition::PreKeysUnknown,
        Transition::PreKeysAllKnown,
        Transition::PreKeysHanded,
        Transition::PreKeysExhausted,
        Transition::PreKeysAfterReplace,
        Transition::SendLive,
        Transition::SendStored,
        Transition::SendNeverSeen,
        Transition::ReceiveLive,
        Transition::ReceiveFanout,
        Transition::AckOldest,
        Transition::AckOutOfOrder,
        Transition::DisconnectSession,
        Transition::DisconnectAnonymous,
        Transition::DisconnectAbrupt,
        Transition::MisuseRegisterAnonymous,
        Transition::MisuseSendOnSession,
        Transition::MisuseSecondLogin,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Transition::LoginFirst => "login: first session of the address",
            Transition::LoginConcurrent => "login: concurrent session of the address",
            Transition::LoginBacklog => "login: stored messages delivered",
            Transition::LoginAfterAcks => "login: acknowledged messages withheld",
            Transition::RegisterFirst => "register: first registration",
            Transition::RegisterAppend => "register: same signed prekey (append)",
            Transition::RegisterReplace => "register: new signed prekey (replace)",
            Transition::RegisterNoKeys => "register: no one-time keys",
            Transition::UnregisterRegistered => "unregister: registered device",
            Transition::UnregisterUnknown => "unregister: device not registered",
            Transition::PreKeysUnknown => "request-prekeys: unknown identity",
            Transition::PreKeysAllKnown => "request-prekeys: every device known",
            Transition::PreKeysHanded => "request-prekeys: entries handed out",
            Transition::PreKeysExhausted => "request-prekeys: a device out of one-time keys",
            Transition::PreKeysAfterReplace => "request-prekeys: after a replace",
            Transition::SendLive => "send: to a live session",
            Transition::SendStored => "send: to a known address without session",
            Transition::SendNeverSeen => "send: to an address never seen",
            Transition::ReceiveLive => "receive: live pushes",
            Transition::ReceiveFanout => "receive: fan-out to concurrent sessions",
            Transition::AckOldest => "ack: oldest unacknowledged message",
            Transition::AckOutOfOrder => "ack: out of order",
            Transition::DisconnectSession => "disconnect: session",
            Transition::DisconnectAnonymous => "disconnect: anonymous connection",
            Transition::DisconnectAbrupt => "disconnect: abrupt",
            Transition::MisuseRegisterAnonymous => "misuse: register anonymously",
            Transition::MisuseSendOnSession => "misuse: send on a session",
            Transition::MisuseSecondLogin => "misuse: second login",
        }
    }
}

/// Counts of transitions taken.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    seen: BTreeMap<Transition, usize>,
}

impl crate::profiles::generated::Cover<Transition> for Coverage {
    fn cover(&mut self, transitions: &[Transition]) {
        self.add(transitions);
    }
}

impl Coverage {
    /// Record transitions.
    pub fn add(&mut self, ts: &[Transition]) {
        for t in ts {
            *self.seen.entry(*t).or_default() += 1;
        }
    }

    /// How often `t` was taken.
    pub fn count(&self, t: Transition) -> usize {
        self.seen.get(&t).copied().unwrap_or(0)
    }

    /// (taken, total).
    pub fn ratio(&self) -> (usize, usize) {
        (self.seen.len(), Transition::ALL.len())
    }

    /// A human rendering: every transition with its count.
    pub fn render(&self) -> String {
        let (hit, total) = self.ratio();
        let mut out = format!("model transitions exercised: {hit} of {total}\n");
        for t in Transition::ALL {
            let n = self.count(t);
            let _ = writeln!(
                out,
                "  {:>6}  {}{}",
                n,
                t.name(),
                if n == 0 { "  (never reached)" } else { "" }
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_counts_and_names_what_was_never_reached() {
        let mut c = Coverage::default();
        assert_eq!(c.ratio(), (0, Transition::ALL.len()));
        c.add(&[
            Transition::LoginFirst,
            Transition::LoginFirst,
            Transition::AckOutOfOrder,
        ]);
        assert_eq!(c.ratio().0, 2);
        assert_eq!(c.count(Transition::LoginFirst), 2);
        let r = c.render();
        assert!(r.contains("ack: out of order"));
        assert!(r.contains("send: to a live session  (never reached)"));
    }
}
