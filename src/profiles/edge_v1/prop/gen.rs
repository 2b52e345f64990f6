//! Abstract operations and their proptest strategy.
//!
//! An abstract operation names no state: it is interpreted against the state at the time it
//! runs ([`super::interpret`]). So any subsequence of a sequence is still a sequence, which is
//! what lets proptest shrink it by dropping operations.

use proptest::prelude::*;

/// A fault mixed into a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// Sign with a retired key of the right party.
    OldKey,
    /// Sign with a key nobody set.
    WrongKey,
    /// Sign with the other party's key.
    OtherPartyKey,
    /// Send to an older URI version (below 128: the first one; else another old one).
    OldUri(u8),
    /// `fromMessageID` the server never issued.
    UnknownMessageId,
    /// A body fault (index into the body fault recipes).
    Body(u8),
    /// A prohibited property on PUT SU.
    Prohibited,
    /// A well-formed `connectionID` of no connection here.
    CidMismatch,
    /// A method the endpoint does not define.
    Method,
    /// A path with an extra segment.
    UnknownPath,
    /// A signature fault (index into the signature faults).
    Signature(u8),
}

/// What an operation does, before interpretation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Create (or re-create a deleted ID).
    Create {
        /// Give SK at create (alternative flow).
        alt: bool,
        /// Create disabled.
        disabled: bool,
    },
    /// PUT RU with a combination of changes (bit 0 recipient key, 1 sender key, 2 new RU,
    /// 3 new SU, 4 disable, 5 enable).
    Update(u8),
    /// PUT SU (bit 0 new sender key, bit 1 new SU).
    SenderUpdate(u8),
    /// Send 1 to 4 messages.
    Send(u8),
    /// Retrieve (page size 1..=6 or none, from the n-th queued message or none, keep).
    Retrieve {
        /// pageSize.
        page: Option<u8>,
        /// fromMessageID index.
        from: Option<u8>,
        /// keepMessages.
        keep: bool,
    },
    /// Delete messages.
    DeleteMessages {
        /// pageSize.
        page: Option<u8>,
        /// fromMessageID index.
        from: Option<u8>,
    },
    /// Delete the connection.
    Delete,
    /// A request with one fault, on a chosen endpoint (index into the endpoints).
    Fault(FaultKind, u8),
}

/// One abstract operation on connection slot `slot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AbstractOp {
    /// Which connection (0 most often: long lifecycles on few connections).
    pub slot: u8,
    /// What to do.
    pub kind: Kind,
}

fn fault_kind() -> impl Strategy<Value = FaultKind> {
    prop_oneof![
        3 => Just(FaultKind::OldKey),
        1 => Just(FaultKind::WrongKey),
        1 => Just(FaultKind::OtherPartyKey),
        5 => any::<u8>().prop_map(FaultKind::OldUri),
        1 => Just(FaultKind::UnknownMessageId),
        2 => (0u8..BODY_FAULTS).prop_map(FaultKind::Body),
        1 => Just(FaultKind::Prohibited),
        1 => Just(FaultKind::CidMismatch),
        1 => Just(FaultKind::Method),
        1 => Just(FaultKind::UnknownPath),
        1 => (0u8..SIG_FAULTS).prop_map(FaultKind::Signature),
    ]
}

/// Number of body fault recipes.
pub const BODY_FAULTS: u8 = 9;
/// Number of signature faults used.
pub const SIG_FAULTS: u8 = 6;

fn page() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![2 => Just(None), 3 => (1u8..=6).prop_map(Some)]
}

fn from() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![3 => Just(None), 1 => (0u8..8).prop_map(Some)]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => (any::<bool>(), prop::bool::weighted(0.15)).prop_map(|(alt, disabled)| Kind::Create { alt, disabled }),
        5 => (1u8..64).prop_map(Kind::Update),
        3 => (1u8..4).prop_map(Kind::SenderUpdate),
        8 => (1u8..=4).prop_map(Kind::Send),
        6 => (page(), from(), any::<bool>()).prop_map(|(page, from, keep)| Kind::Retrieve { page, from, keep }),
        2 => (page(), from()).prop_map(|(page, from)| Kind::DeleteMessages { page, from }),
        1 => Just(Kind::Delete),
        6 => (fault_kind(), 0u8..7).prop_map(|(f, e)| Kind::Fault(f, e)),
    ]
}

/// One operation.
pub fn op() -> impl Strategy<Value = AbstractOp> {
    let slot = prop_oneof![6 => Just(0u8), 3 => Just(1u8), 1 => Just(2u8)];
    (slot, kind()).prop_map(|(slot, kind)| AbstractOp { slot, kind })
}

/// A sequence of up to `max` operations.
pub fn sequence(max: usize) -> impl Strategy<Value = Vec<AbstractOp>> {
    prop::collection::vec(op(), 1..=max.max(1))
}
