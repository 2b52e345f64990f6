//! Abstract operations and their proptest strategies.
//!
//! An operation names no state: connections, sessions and messages are picked by index
//! modulo what exists when it runs. So every subsequence of a sequence is still a sequence,
//! which lets proptest shrink by dropping operations; an operation with nothing to act on
//! does nothing.

use proptest::prelude::*;

/// Which message ID a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pick {
    /// A live message of the connection (retrieve: no `fromMessageId` at all when none).
    Own,
    /// A live message of another connection (V-RETR-401).
    Foreign,
    /// A deleted message (V-RETR-401, V-DELM).
    Deleted,
    /// An ID no server gave out.
    Unknown,
}

/// How a send is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendSig {
    /// As a client does: with `SK` once set, unsigned before.
    Proper,
    /// Without `Authorization`.
    Unsigned,
    /// With a key that is neither `RK` nor `SK`.
    WrongKey,
    /// With `RK`.
    Recipient,
}

/// What one operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Create a connection (at most [`super::model::MAX_CONNS`]).
    Create,
    /// Secure a connection with its first key, the same key again, or another key.
    Secure {
        /// Connection index.
        conn: u8,
        /// Once secured: the same key again (else a different one).
        same: bool,
    },
    /// Send 1 to 3 messages to a connection.
    Send {
        /// Connection index.
        conn: u8,
        /// How many.
        count: u8,
        /// 0: 24 bytes, 1: 300 bytes, 2: LARGE_MESSAGE + 1 bytes.
        size: u8,
        /// How the sends are signed.
        sig: SendSig,
    },
    /// Retrieve a page, from the start or from a message.
    Retrieve {
        /// Connection index.
        conn: u8,
        /// `None`: no `fromMessageId`.
        from: Option<Pick>,
        /// Which message.
        pick: u8,
    },
    /// Retrieve one message.
    Get {
        /// Connection index.
        conn: u8,
        /// Which kind of ID.
        from: Pick,
        /// Which message.
        pick: u8,
    },
    /// Delete one message over REST.
    DeleteMessage {
        /// Connection index.
        conn: u8,
        /// Which kind of ID.
        from: Pick,
        /// Which message.
        pick: u8,
    },
    /// Delete a connection.
    Delete {
        /// Connection index.
        conn: u8,
    },
    /// Open a WebSocket session (at most [`super::model::MAX_SESSIONS`]).
    WsOpen,
    /// Subscribe a session to a connection.
    Subscribe {
        /// Session index.
        session: u8,
        /// Connection index.
        conn: u8,
        /// With a signature by another key (`ok: false`).
        bad: bool,
    },
    /// Unsubscribe a session from a connection.
    Unsubscribe {
        /// Session index.
        session: u8,
        /// Connection index.
        conn: u8,
    },
    /// `delete_message` on a session.
    WsDelete {
        /// Session index.
        session: u8,
        /// Connection index.
        conn: u8,
        /// Which message of the connection (live or deleted).
        pick: u8,
    },
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        6 => Just(Pick::Own),
        2 => Just(Pick::Foreign),
        2 => Just(Pick::Deleted),
        1 => Just(Pick::Unknown),
    ]
}

fn sig() -> impl Strategy<Value = SendSig> {
    prop_oneof![
        8 => Just(SendSig::Proper),
        1 => Just(SendSig::Unsigned),
        1 => Just(SendSig::WrongKey),
        1 => Just(SendSig::Recipient),
    ]
}

/// One operation.
pub fn op() -> impl Strategy<Value = Op> {
    let conn = 0u8..4;
    prop_oneof![
        3 => Just(Op::Create),
        3 => (conn.clone(), prop::bool::weighted(0.3)).prop_map(|(conn, same)| Op::Secure { conn, same }),
        8 => (conn.clone(), 1u8..=3, prop_oneof![6 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8)], sig())
            .prop_map(|(conn, count, size, sig)| Op::Send { conn, count, size, sig }),
        6 => (conn.clone(), prop_oneof![2 => Just(None), 3 => pick().prop_map(Some)], any::<u8>())
            .prop_map(|(conn, from, pick)| Op::Retrieve { conn, from, pick }),
        3 => (conn.clone(), pick(), any::<u8>()).prop_map(|(conn, from, pick)| Op::Get { conn, from, pick }),
        3 => (conn.clone(), pick(), any::<u8>())
            .prop_map(|(conn, from, pick)| Op::DeleteMessage { conn, from, pick }),
        1 => conn.clone().prop_map(|conn| Op::Delete { conn }),
        2 => Just(Op::WsOpen),
        3 => (0u8..2, conn.clone(), prop::bool::weighted(0.15))
            .prop_map(|(session, conn, bad)| Op::Subscribe { session, conn, bad }),
        1 => (0u8..2, conn.clone()).prop_map(|(session, conn)| Op::Unsubscribe { session, conn }),
        2 => (0u8..2, conn, any::<u8>())
            .prop_map(|(session, conn, pick)| Op::WsDelete { session, conn, pick }),
    ]
}

/// A sequence of 1 to `max` operations.
pub fn sequence(max: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..=max.max(1))
}
