//! Connections, their keys and messages, and the WebSocket subscriptions to them, in memory
//! under one lock.
//!
//! Signatures are verified outside the lock, against keys read from a [`Lookup`]; an
//! operation that depends on the keys it was authorised with (a send) checks under the lock
//! that they are still the same, and the caller starts over if not. Nothing is kept once
//! removed: a deleted connection's tokens and keys, and a deleted message, are dropped
//! (V-DEL, V-DELM).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc::UnboundedSender;

use crate::edge_v1::clock;
use crate::edge_v1::encoding::random_id;
use crate::edge_v1::keys::PublicKey;
use crate::simplex_v5::faults::{Fault, Faults};

/// A connection's number inside the server (never shown to clients).
pub(crate) type ConnId = u64;
/// A WebSocket session's number inside the server.
pub(crate) type SessionId = u64;

/// Which party a URI token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// `RU`.
    Recipient,
    /// `SU`.
    Sender,
}

/// One stored message.
#[derive(Debug)]
pub(crate) struct Message {
    /// Position in the connection's receive order (server-wide increasing).
    pub seq: u64,
    /// The message ID (VB-MID: 22 characters of base64url, 128 random bits).
    pub id: String,
    /// Receive time, RFC 3339 UTC (B-TS-FMT).
    pub ts: String,
    /// Bytes of the decoded `msg` (V-RETR-SIZE).
    pub size: usize,
    /// The base64 `msg` exactly as sent (B-MSG-FMT).
    pub msg: String,
}

/// What a URI token names, with the keys of its connection at the time of the lookup.
#[derive(Clone)]
pub(crate) struct Lookup {
    /// The connection.
    pub conn: ConnId,
    /// The token's party.
    pub role: Role,
    /// `RK`.
    pub rk: Arc<PublicKey>,
    /// `SK`, once set.
    pub sk: Option<Arc<PublicKey>>,
}

/// A page of a retrieval.
#[derive(Debug)]
pub(crate) struct Page {
    /// The messages, in receive order.
    pub messages: Vec<Arc<Message>>,
    /// The ID of the first message after the page, if any.
    pub next: Option<String>,
}

/// Why a store operation did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The connection or message does not exist, or the state forbids it (→ 401).
    Unauthorized,
    /// The keys changed since the lookup the request was authorised with: start over.
    Stale,
}

/// A new message for a subscribed session.
#[derive(Debug, Clone)]
pub(crate) struct Push {
    /// The connection it arrived on.
    pub conn: ConnId,
    /// The subscription it is for (a session's subscriptions to one connection are numbered).
    pub generation: u64,
    /// The message.
    pub message: Arc<Message>,
}

struct Subscriber {
    generation: u64,
    tx: UnboundedSender<Push>,
}

struct Connection {
    ru: String,
    su: String,
    rk: Arc<PublicKey>,
    sk: Option<Arc<PublicKey>>,
    messages: BTreeMap<u64, Arc<Message>>,
    ids: HashMap<String, u64>,
    subscribers: HashMap<SessionId, Subscriber>,
    last_ts: i64,
}

impl Connection {
    fn remove(&mut self, id: &str) -> Option<Arc<Message>> {
        let seq = self.ids.remove(id)?;
        self.messages.remove(&seq)
    }
}

#[derive(Default)]
struct State {
    tokens: HashMap<String, (ConnId, Role)>,
    conns: HashMap<ConnId, Connection>,
    next_conn: ConnId,
    next_seq: u64,
    next_generation: u64,
}

impl State {
    fn fresh_token(&self, faults: Faults, rk: &PublicKey, role: Role) -> String {
        loop {
            let token = if faults.on(Fault::UriKeyHash) && role == Role::Recipient {
                let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, rk.der());
                let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                format!("{hex}{}", random_id())
            } else {
                random_id()
            };
            if !self.tokens.contains_key(&token) {
                return token;
            }
        }
    }
}

/// The server's connections.
pub(crate) struct Store {
    state: Mutex<State>,
    faults: Faults,
}

impl Store {
    /// An empty store.
    pub(crate) fn new(faults: Faults) -> Store {
        Store {
            state: Mutex::default(),
            faults,
        }
    }

    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    fn fault(&self, fault: Fault) -> bool {
        self.faults.on(fault)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic never happens while the lock is held; recover the data anyway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live connection `token` names, with its keys.
    pub(crate) fn lookup(&self, token: &str) -> Option<Lookup> {
        let state = self.lock();
        let &(conn, role) = state.tokens.get(token)?;
        let c = state.conns.get(&conn)?;
        Some(Lookup {
            conn,
            role,
            rk: c.rk.clone(),
            sk: c.sk.clone(),
        })
    }

    /// [`Store::lookup`] with the token compared case-insensitively (`uri-case-insensitive`
    /// only: it scans every token).
    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    pub(crate) fn lookup_ignore_case(&self, token: &str) -> Option<Lookup> {
        let exact = {
            let state = self.lock();
            state
                .tokens
                .keys()
                .find(|t| t.eq_ignore_ascii_case(token))
                .cloned()
        };
        self.lookup(&exact?)
    }

    /// The recipient token of a live connection.
    pub(crate) fn recipient_token(&self, conn: ConnId) -> Option<String> {
        self.lock().conns.get(&conn).map(|c| c.ru.clone())
    }

    /// Creates a connection with `rk`; returns its `RU` and `SU` tokens.
    pub(crate) fn create(&self, rk: Arc<PublicKey>) -> (String, String) {
        let mut state = self.lock();
        let ru = state.fresh_token(self.faults, &rk, Role::Recipient);
        let su = loop {
            let su = state.fresh_token(self.faults, &rk, Role::Sender);
            if su != ru {
                break su;
            }
        };
        let conn = state.next_conn;
        state.next_conn += 1;
        state.tokens.insert(ru.clone(), (conn, Role::Recipient));
        state.tokens.insert(su.clone(), (conn, Role::Sender));
        state.conns.insert(
            conn,
            Connection {
                ru: ru.clone(),
                su: su.clone(),
                rk,
                sk: None,
                messages: BTreeMap::new(),
                ids: HashMap::new(),
                subscribers: HashMap::new(),
                last_ts: 0,
            },
        );
        (ru, su)
    }

    /// Sets `SK` once (V-SECURE).
    pub(crate) fn secure(&self, conn: ConnId, sk: Arc<PublicKey>) -> Result<(), Refusal> {
        let mut state = self.lock();
        let c = state.conns.get_mut(&conn).ok_or(Refusal::Unauthorized)?;
        if c.sk.is_some() && !self.fault(Fault::SecondSecureReplaces) {
            return Err(Refusal::Unauthorized);
        }
        c.sk = Some(sk);
        Ok(())
    }

    /// Deletes a connection, its messages and its subscriptions (V-DEL, VB-WS-END).
    pub(crate) fn delete(&self, conn: ConnId) -> Result<(), Refusal> {
        let mut state = self.lock();
        if self.fault(Fault::DeleteLeavesUris) {
            let c = state.conns.get_mut(&conn).ok_or(Refusal::Unauthorized)?;
            c.messages.clear();
            c.ids.clear();
            return Ok(());
        }
        let c = state.conns.remove(&conn).ok_or(Refusal::Unauthorized)?;
        state.tokens.remove(&c.ru);
        state.tokens.remove(&c.su);
        Ok(())
    }

    /// Appends a message, if `SK` is still `sk` (the key the send was authorised with).
    pub(crate) fn send(
        &self,
        conn: ConnId,
        sk: Option<&Arc<PublicKey>>,
        msg: String,
        size: usize,
    ) -> Result<(), Refusal> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let c = state.conns.get_mut(&conn).ok_or(Refusal::Unauthorized)?;
        let same = match (&c.sk, sk) {
            (None, None) => true,
            (Some(now), Some(then)) => Arc::ptr_eq(now, then),
            _ => false,
        };
        if !same {
            return Err(Refusal::Stale);
        }
        state.next_seq += 1;
        let seq = state.next_seq;
        let ts = clock::now_millis().max(c.last_ts);
        c.last_ts = ts;
        let message = Arc::new(Message {
            seq,
            id: loop {
                let id = random_id();
                if !c.ids.contains_key(&id) {
                    break id;
                }
            },
            ts: clock::format_millis(ts),
            size,
            msg,
        });
        c.ids.insert(message.id.clone(), seq);
        c.messages.insert(seq, message.clone());
        // Under the lock, so every subscriber sees the messages in receive order.
        c.subscribers.retain(|_, s| {
            s.tx.send(Push {
                conn,
                generation: s.generation,
                message: message.clone(),
            })
            .is_ok()
        });
        Ok(())
    }

    /// Up to `page_size` messages from `from` (inclusive) or the earliest (V-RETR).
    pub(crate) fn page(
        &self,
        conn: ConnId,
        from: Option<&str>,
        page_size: usize,
    ) -> Result<Page, Refusal> {
        let mut state = self.lock();
        let foreign_ok = self.fault(Fault::ForeignMessageIdAccepted);
        let from_seq = match from {
            None => 0,
            Some(id) => {
                let c = state.conns.get(&conn).ok_or(Refusal::Unauthorized)?;
                match c.ids.get(id) {
                    Some(&seq) => seq,
                    None if foreign_ok
                        && state.conns.values().any(|other| other.ids.contains_key(id)) =>
                    {
                        0
                    }
                    None => return Err(Refusal::Unauthorized),
                }
            }
        };
        let c = state.conns.get_mut(&conn).ok_or(Refusal::Unauthorized)?;
        let size = if self.fault(Fault::PageSizePlusOne) {
            page_size + 1
        } else {
            page_size
        };
        let mut rest = c.messages.range(from_seq..).map(|(_, m)| m.clone());
        let messages: Vec<Arc<Message>> = rest.by_ref().take(size).collect();
        let mut next = rest.next().map(|m| m.id.clone());
        if next.is_some() && self.fault(Fault::NextIdLastReturned) {
            next = messages.last().map(|m| m.id.clone());
        }
        if self.fault(Fault::RetrievalDeletes) {
            for m in &messages {
                c.remove(&m.id);
            }
        }
        Ok(Page { messages, next })
    }

    /// One message of the connection.
    pub(crate) fn message(&self, conn: ConnId, id: &str) -> Option<Arc<Message>> {
        let state = self.lock();
        let c = state.conns.get(&conn)?;
        c.ids.get(id).and_then(|seq| c.messages.get(seq)).cloned()
    }

    /// Removes one message (V-DELM).
    pub(crate) fn delete_message(&self, conn: ConnId, id: &str) -> Result<(), Refusal> {
        let mut state = self.lock();
        let c = state.conns.get_mut(&conn).ok_or(Refusal::Unauthorized)?;
        c.remove(id).map(|_| ()).ok_or(Refusal::Unauthorized)
    }

    /// Whether the message is still in the connection.
    pub(crate) fn has_message(&self, conn: ConnId, seq: u64) -> bool {
        let state = self.lock();
        state
            .conns
            .get(&conn)
            .is_some_and(|c| c.messages.contains_key(&seq))
    }

    /// Subscribes `session` to `conn` (again, if it was): new messages go to `tx`. Returns
    /// the subscription's generation and the messages already there (the backlog), in
    /// receive order; both are taken under the lock, so no message is in both or in neither.
    pub(crate) fn subscribe(
        &self,
        conn: ConnId,
        session: SessionId,
        tx: &UnboundedSender<Push>,
    ) -> Option<(u64, Vec<Arc<Message>>)> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let c = state.conns.get_mut(&conn)?;
        let generation = match c.subscribers.get(&session) {
            Some(existing) => existing.generation,
            None => {
                state.next_generation += 1;
                c.subscribers.insert(
                    session,
                    Subscriber {
                        generation: state.next_generation,
                        tx: tx.clone(),
                    },
                );
                state.next_generation
            }
        };
        Some((generation, c.messages.values().cloned().collect()))
    }

    /// The messages of `conn` after `seq`, at most `n` (for the `double-push` fault, which
    /// reads its backlog piecewise).
    pub(crate) fn messages_after(&self, conn: ConnId, seq: u64, n: usize) -> Vec<Arc<Message>> {
        let state = self.lock();
        state.conns.get(&conn).map_or_else(Vec::new, |c| {
            c.messages
                .range(seq + 1..)
                .take(n)
                .map(|(_, m)| m.clone())
                .collect()
        })
    }

    /// Ends `session`'s subscription to `conn`; whether there was one.
    pub(crate) fn unsubscribe(&self, conn: ConnId, session: SessionId) -> bool {
        let mut state = self.lock();
        state
            .conns
            .get_mut(&conn)
            .is_some_and(|c| c.subscribers.remove(&session).is_some())
    }

    /// The generation of `session`'s subscription to `conn`, if it has one.
    pub(crate) fn subscription(&self, conn: ConnId, session: SessionId) -> Option<u64> {
        let state = self.lock();
        state
            .conns
            .get(&conn)
            .and_then(|c| c.subscribers.get(&session))
            .map(|s| s.generation)
    }

    /// Ends every subscription of `session` (it closed).
    pub(crate) fn leave(&self, session: SessionId, conns: impl IntoIterator<Item = ConnId>) {
        let mut state = self.lock();
        for conn in conns {
            if let Some(c) = state.conns.get_mut(&conn) {
                c.subscribers.remove(&session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Arc<PublicKey> {
        Arc::new(crate::edge_v1::keys::test_key("rsa2048-a"))
    }

    fn send(s: &Store, conn: ConnId, text: &str) {
        s.send(conn, None, text.to_owned(), text.len()).unwrap();
    }

    #[test]
    fn pages_keep_messages_and_name_the_next() {
        let s = Store::new(Faults::default());
        let (ru, su) = s.create(key());
        assert_ne!(ru, su);
        let conn = s.lookup(&ru).unwrap().conn;
        assert_eq!(s.lookup(&su).unwrap().role, Role::Sender);
        for i in 0..5 {
            send(&s, conn, &format!("m{i}"));
        }
        let page = s.page(conn, None, 2).unwrap();
        assert_eq!(page.messages.len(), 2);
        let next = page.next.clone().unwrap();
        let again = s.page(conn, None, 2).unwrap();
        assert_eq!(again.messages[0].id, page.messages[0].id);
        let second = s.page(conn, Some(&next), 2).unwrap();
        assert_eq!(second.messages[0].id, next);
        let last = s.page(conn, second.next.as_deref(), 2).unwrap();
        assert_eq!((last.messages.len(), last.next), (1, None));
        assert_eq!(
            s.page(conn, Some("nope"), 2).unwrap_err(),
            Refusal::Unauthorized
        );
    }

    #[test]
    fn delete_message_once_and_connection_forgets() {
        let s = Store::new(Faults::default());
        let (ru, su) = s.create(key());
        let conn = s.lookup(&ru).unwrap().conn;
        send(&s, conn, "a");
        let id = s.page(conn, None, 10).unwrap().messages[0].id.clone();
        assert!(s.delete_message(conn, &id).is_ok());
        assert!(s.delete_message(conn, &id).is_err());
        assert!(s.message(conn, &id).is_none());
        s.delete(conn).unwrap();
        assert!(s.lookup(&ru).is_none() && s.lookup(&su).is_none());
    }

    #[test]
    fn secure_once_and_sends_check_the_key() {
        let s = Store::new(Faults::default());
        let (ru, _) = s.create(key());
        let conn = s.lookup(&ru).unwrap().conn;
        let sk = key();
        s.secure(conn, sk.clone()).unwrap();
        assert_eq!(s.secure(conn, key()), Err(Refusal::Unauthorized));
        assert_eq!(
            s.send(conn, None, "a".into(), 1),
            Err(Refusal::Stale),
            "authorised before SK was set"
        );
        assert!(s.send(conn, Some(&sk), "a".into(), 1).is_ok());
    }

    #[test]
    fn subscriptions_get_backlog_then_pushes() {
        let s = Store::new(Faults::default());
        let (ru, _) = s.create(key());
        let conn = s.lookup(&ru).unwrap().conn;
        send(&s, conn, "old");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (generation, backlog) = s.subscribe(conn, 7, &tx).unwrap();
        assert_eq!(backlog.len(), 1);
        send(&s, conn, "new");
        let push = rx.try_recv().unwrap();
        assert_eq!(
            (push.generation, push.message.msg.as_str()),
            (generation, "new")
        );
        assert_eq!(s.subscribe(conn, 7, &tx).unwrap().0, generation);
        assert!(s.unsubscribe(conn, 7));
        assert!(!s.unsubscribe(conn, 7));
        s.subscribe(conn, 7, &tx).unwrap();
        s.delete(conn).unwrap();
        assert_eq!(s.subscription(conn, 7), None);
    }
}
