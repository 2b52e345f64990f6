//! Histories of concurrent operations on message queues, and the checker of the delivery
//! guarantees they must show.
//!
//! A history is what concurrent actors did to some queues: sends of message tokens,
//! retrievals that observed tokens (and removed them, or kept them), and operations that
//! move no token. Each operation carries its invocation and response times, taken from one
//! clock, and what its answer says about its effect: done, refused, or unknown. The checker
//! ([`check`]) finds, for every queue:
//!
//! - phantoms: a token retrieved that was never sent, whose send was refused, or that was
//!   retrieved before its send began; and a token retrieved from another queue than the one
//!   it was sent to;
//! - duplicates: a token removed more than once (a send without an answer may have stored
//!   its tokens, but at most once);
//! - reorders: of two tokens of one sender (same actor, same queue) that are ordered, the
//!   later removed strictly before the earlier;
//! - losses: acknowledged tokens never removed, once a last removing retrieval of the queue
//!   came back empty, beyond what removing retrievals without an answer may have taken.
//!
//! Each violation comes with the smallest set of operations that shows it.
//!
//! Why here and not in a profile: none of this depends on how a protocol signs, addresses or
//! encodes its requests, only on queues, tokens and answers that did or did not take effect.
//! So the checker lives in the protocol-neutral engine, and a profile adapts its own
//! recorded history to [`Op`]s (keeping the indices, so that violations point into its
//! history), names tokens and queues for reports ([`Naming`]), maps [`Kind`]s to its rule
//! IDs and adds the checks that are its own (for edge-v1: replaced credentials, disabled
//! connections, refusals; see `profiles::edge_v1::race::check`). Both `edgecheck race` and
//! the scripted concurrency probe of edge-v1 are checked this way.

mod check;
#[cfg(test)]
mod tests;

pub use check::check;

/// One operation of a history, as the queue checker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// Who made it. Two sends are of one sender when they share actor and queue.
    pub actor: String,
    /// The queue it went to.
    pub queue: usize,
    /// When it was invoked (just before the request left), on the history's clock.
    pub invoke: u64,
    /// When its answer, or the absence of one, was known, on the same clock.
    pub ret: u64,
    /// What it was.
    pub action: Action,
    /// What its answer says about its effect.
    pub effect: Effect,
}

/// What an operation did to its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A send of these tokens, to be stored in this order.
    Send {
        /// The tokens (unique within a history).
        tokens: Vec<String>,
    },
    /// A retrieval of at most `page` tokens.
    Retrieve {
        /// The most tokens it may return (and so remove).
        page: usize,
        /// It kept what it returned (nothing may be removed).
        keep: bool,
        /// The tokens returned, in order; `None` when no usable answer came back.
        got: Option<Vec<String>>,
    },
    /// An operation that moves no token (a key rotation, a disable): kept so that indices
    /// stay those of the protocol's history.
    Other,
}

/// What an answer says about the operation's effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Acknowledged: it took effect.
    Done,
    /// Refused: it changed nothing. The text says how (a status, an error code).
    Refused(String),
    /// No usable answer (a timeout, a server error): it may or may not have taken effect.
    Unknown,
}

/// How a protocol shows tokens and queues in violation messages.
pub trait Naming {
    /// A token, as reports show it.
    fn token(&self, token: &str) -> String;

    /// A queue, as reports show it (`q0` unless the protocol says otherwise).
    fn queue(&self, queue: usize) -> String {
        format!("q{queue}")
    }
}

/// The kinds of violation the checker finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A token retrieved that was never sent, whose send was refused, or that came out
    /// before its send began.
    Phantom,
    /// A token retrieved from another queue than the one it was sent to.
    CrossQueue,
    /// A token removed more than once.
    Duplicate,
    /// A sender's later token removed strictly before its earlier one.
    Reorder,
    /// An acknowledged token never removed.
    Loss,
}

/// One violation, with the operations that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which kind.
    pub kind: Kind,
    /// What happened, in one line.
    pub what: String,
    /// Indices of the operations that show it, in history order.
    pub ops: Vec<usize>,
}
