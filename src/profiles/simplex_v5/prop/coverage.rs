//! Model-transition coverage: which transitions of the model a run took, and which it never
//! reached.

use std::collections::BTreeMap;
use std::fmt::Write as _;

macro_rules! transitions {
    ($( $variant:ident = $name:literal, )*) => {
        /// A transition of the model, as an operation takes it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Transition {
            $(
                #[doc = $name]
                $variant,
            )*
        }

        impl Transition {
            /// Every transition.
            pub const ALL: &'static [Transition] = &[$(Transition::$variant),*];

            /// Its name in reports.
            pub fn name(self) -> &'static str {
                match self { $(Transition::$variant => $name,)* }
            }
        }
    };
}

transitions! {
    Create = "create: a connection",
    SecureFirst = "secure: first key",
    SecureSame = "secure: the same key again (200 or 401)",
    SecureOther = "secure: another key refused",
    SecureDead = "secure: deleted connection",
    SendOpenUnsigned = "send: unsigned before secure",
    SendOpenSigned = "send: signed by any key before secure",
    SendSigned = "send: signed with SK",
    SendWrongKey = "send: wrong key after secure refused",
    SendUnsigned = "send: unsigned after secure refused",
    SendLarge = "send: a message over LARGE_MESSAGE",
    SendDead = "send: deleted connection",
    SendPushed = "send: pushed to a subscription",
    SendNotPushed = "send: nothing pushed after unsubscribe",
    RetrieveEmpty = "retrieve: empty connection",
    RetrieveFirst = "retrieve: messages never retrieved before",
    RetrieveAgain = "retrieve: messages retrieved before (unchanged)",
    RetrievePaged = "retrieve: a page with nextMessageID",
    RetrieveFrom = "retrieve: from a message of the connection",
    RetrieveForeign = "retrieve: fromMessageId of another connection",
    RetrieveDeleted = "retrieve: fromMessageId of a deleted message",
    RetrieveUnknown = "retrieve: fromMessageId never given out",
    RetrieveDead = "retrieve: deleted connection",
    GetOwn = "get: a message of the connection",
    GetLarge = "get: a large message (with msg)",
    GetForeign = "get: a message of another connection",
    GetDeleted = "get: a deleted message",
    GetUnknown = "get: an ID never given out",
    GetDead = "get: deleted connection",
    DeleteMessageOwn = "delete one: a message of the connection",
    DeleteMessageAgain = "delete one: a deleted message",
    DeleteMessageForeign = "delete one: a message of another connection",
    DeleteMessageDead = "delete one: deleted connection",
    Delete = "delete: a connection",
    DeleteDead = "delete: a deleted connection",
    WsOpen = "ws: session opened",
    SubscribeBacklog = "subscribe: backlog pushed",
    SubscribeEmpty = "subscribe: empty connection",
    SubscribeAgain = "subscribe: again in the same session",
    SubscribeBad = "subscribe: bad signature refused",
    SubscribeDead = "subscribe: deleted connection refused",
    SubscribeShared = "subscribe: a second session on a connection",
    UnsubscribeOk = "unsubscribe: subscribed",
    UnsubscribeNot = "unsubscribe: not subscribed",
    UnsubscribeEnded = "unsubscribe: after REST delete of the connection",
    WsDeleteOk = "delete_message: subscribed, message live",
    WsDeleteGone = "delete_message: message already deleted",
    WsDeleteNotSubscribed = "delete_message: not subscribed",
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
        for &t in Transition::ALL {
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
        c.add(&[Transition::Create, Transition::Create, Transition::GetOwn]);
        assert_eq!(c.ratio(), (2, Transition::ALL.len()));
        assert_eq!(c.count(Transition::Create), 2);
        assert!(c.render().contains("delete: a connection  (never reached)"));
    }
}
