//! Abstract operations and their proptest strategies.
//!
//! An operation names no state: sessions are picked by index modulo the sessions open when
//! it runs, acks by index modulo the messages that may be acknowledged. So every subsequence
//! of a sequence is still a sequence, which lets proptest shrink by dropping operations; an
//! operation with nothing to act on does nothing.

use proptest::prelude::*;

use super::model::{DEVICES, IDENTITIES};

/// What one operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// A new authenticated session of (identity, device): connect, login, receive the
    /// stored messages; then, as clients do, register `register` − 1 one-time keys (0: no
    /// Register) with the stored signed prekey, or a new one if none is stored.
    Login {
        /// Identity index.
        id: u8,
        /// Device index.
        dev: u8,
        /// 0: no Register; n: a Register of n − 1 one-time keys.
        register: u8,
    },
    /// Register on a session: the same or a new signed prekey, 0 to 3 one-time keys.
    Register {
        /// Session index.
        session: u8,
        /// A new signed prekey (replace) instead of the stored one (append).
        new_signed: bool,
        /// One-time keys.
        keys: u8,
    },
    /// Unregister on a session.
    Unregister {
        /// Session index.
        session: u8,
    },
    /// RequestPreKeys on the anonymous connection, with some devices listed as known
    /// (bit i: device i; bit 3: a device that never existed).
    RequestPreKeys {
        /// Identity index: below [`IDENTITIES`] − 1 it picks among the identities with a
        /// registered device, if any; the last one is taken as it is.
        id: u8,
        /// Known-device bits.
        known: u8,
    },
    /// Send 1 to 3 messages to an address from the anonymous connection.
    Send {
        /// Pick among the addresses that logged in so far (if any) instead of (id, dev).
        known: bool,
        /// Identity index.
        id: u8,
        /// Device index.
        dev: u8,
        /// How many.
        count: u8,
    },
    /// Wait for the pushes a session is owed.
    Receive {
        /// Session index.
        session: u8,
    },
    /// Acknowledge one of the messages a session received (any order).
    Ack {
        /// Session index.
        session: u8,
        /// Which message.
        pick: u8,
    },
    /// Close a session or the anonymous connection (index past the sessions).
    Disconnect {
        /// Connection index.
        conn: u8,
        /// Without a close frame.
        abrupt: bool,
    },
    /// A request on the wrong kind of connection: 0 Register on the anonymous connection,
    /// 1 OutboundMessage on a session, 2 a second login on a session.
    Misuse {
        /// Session index.
        session: u8,
        /// Which misuse.
        kind: u8,
    },
}

fn id() -> impl Strategy<Value = u8> {
    // Mostly two identities; the third one now and then.
    prop_oneof![4 => 0u8..2, 1 => Just(IDENTITIES as u8 - 1)]
}

fn dev() -> impl Strategy<Value = u8> {
    prop_oneof![4 => 0u8..2, 1 => Just(DEVICES as u8 - 1)]
}

/// One operation.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (id(), dev(), prop_oneof![1 => Just(0u8), 1 => 1u8..=4])
            .prop_map(|(id, dev, register)| Op::Login { id, dev, register }),
        4 => (0u8..4, prop::bool::weighted(0.3), 0u8..=3)
            .prop_map(|(session, new_signed, keys)| Op::Register { session, new_signed, keys }),
        1 => (0u8..4).prop_map(|session| Op::Unregister { session }),
        5 => (id(), prop_oneof![3 => Just(0u8), 1 => 0u8..16])
            .prop_map(|(id, known)| Op::RequestPreKeys { id, known }),
        6 => (prop::bool::weighted(0.7), id(), dev(), 1u8..=3)
            .prop_map(|(known, id, dev, count)| Op::Send { known, id, dev, count }),
        4 => (0u8..4).prop_map(|session| Op::Receive { session }),
        5 => (0u8..4, any::<u8>()).prop_map(|(session, pick)| Op::Ack { session, pick }),
        2 => (0u8..5, prop::bool::weighted(0.2))
            .prop_map(|(conn, abrupt)| Op::Disconnect { conn, abrupt }),
        1 => (0u8..4, 0u8..3).prop_map(|(session, kind)| Op::Misuse { session, kind }),
    ]
}

/// A sequence of 1 to `max` operations.
pub fn sequence(max: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..=max.max(1))
}
