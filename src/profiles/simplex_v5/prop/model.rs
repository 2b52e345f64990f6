//! The model of the spec: what a conforming server holds after each operation.
//!
//! Connections with their keys and messages in receive order, every message with its size
//! and whether its ID is known to the client yet (a request can only name an ID it has
//! seen), and the WebSocket sessions with their subscriptions. The model is deterministic:
//! where the server may choose (a repeated secure with the same key), the case accepts both
//! answers and the model keeps what both have in common.

use std::collections::BTreeSet;

/// Connections of a sequence, at most.
pub const MAX_CONNS: usize = 3;
/// WebSocket sessions open at once, at most.
pub const MAX_SESSIONS: usize = 2;

/// A connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    /// Its name in the case (`c0`).
    pub name: String,
    /// The name of `SK`, once set.
    pub sk: Option<String>,
    /// Deleted (V-DEL).
    pub deleted: bool,
    /// Its live messages in receive order (indices into [`Model::messages`]).
    pub msgs: Vec<usize>,
}

/// A message sent and accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its name in the case (`m0`).
    pub name: String,
    /// Its connection.
    pub conn: usize,
    /// Larger than LARGE_MESSAGE.
    pub large: bool,
    /// Deleted (V-DELM, V-DEL).
    pub deleted: bool,
    /// The client has seen its ID (in a page, a `nextMessageID` or a push).
    pub id_known: bool,
    /// A REST retrieval returned it (later ones must return it unchanged: V-RETR-KEEP).
    pub retrieved: bool,
}

/// A WebSocket session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Session {
    /// Its name in the case (`w0`).
    pub name: String,
    /// Connections it is subscribed to.
    pub subs: BTreeSet<usize>,
    /// Connections it unsubscribed from (nothing more may come: V-WS-UNSUB).
    pub unsubscribed: BTreeSet<usize>,
    /// Connections it was subscribed to when they were deleted over REST (VB-WS-END).
    pub ended: BTreeSet<usize>,
}

/// The server's state as the spec says it is.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Connections in creation order.
    pub conns: Vec<Conn>,
    /// Every message accepted, in acceptance order.
    pub messages: Vec<Message>,
    /// Open sessions, oldest first.
    pub sessions: Vec<Session>,
    /// The server's PAGE_SIZE.
    pub page_size: usize,
}

impl Model {
    /// An empty server with this PAGE_SIZE.
    pub fn new(page_size: usize) -> Model {
        Model {
            page_size: page_size.max(1),
            ..Model::default()
        }
    }

    /// A new connection; its index.
    pub fn create(&mut self) -> usize {
        let i = self.conns.len();
        self.conns.push(Conn {
            name: format!("c{i}"),
            sk: None,
            deleted: false,
            msgs: Vec::new(),
        });
        i
    }

    /// A send accepted: appended after all earlier messages (V-SEND). Its index.
    pub fn send(&mut self, conn: usize, large: bool) -> usize {
        let i = self.messages.len();
        self.messages.push(Message {
            name: format!("m{i}"),
            conn,
            large,
            deleted: false,
            id_known: false,
            retrieved: false,
        });
        self.conns[conn].msgs.push(i);
        i
    }

    /// The messages a page from position `start` of `conn` returns, and the one its
    /// `nextMessageID` names (V-RETR).
    pub fn page(&self, conn: usize, start: usize) -> (Vec<usize>, Option<usize>) {
        let all = &self.conns[conn].msgs;
        let start = start.min(all.len());
        let end = (start + self.page_size).min(all.len());
        (all[start..end].to_vec(), all.get(end).copied())
    }

    /// A page was returned: its IDs and the next one are known, its messages retrieved.
    pub fn retrieved(&mut self, page: &[usize], next: Option<usize>) {
        for &m in page {
            self.messages[m].id_known = true;
            self.messages[m].retrieved = true;
        }
        if let Some(n) = next {
            self.messages[n].id_known = true;
        }
    }

    /// A message deleted (REST or WebSocket).
    pub fn delete_message(&mut self, m: usize) {
        self.messages[m].deleted = true;
        let c = self.messages[m].conn;
        self.conns[c].msgs.retain(|&x| x != m);
    }

    /// A connection deleted: its messages gone, its subscriptions ended (VB-WS-END).
    pub fn delete(&mut self, conn: usize) {
        self.conns[conn].deleted = true;
        for m in std::mem::take(&mut self.conns[conn].msgs) {
            self.messages[m].deleted = true;
        }
        for s in &mut self.sessions {
            if s.subs.remove(&conn) {
                s.ended.insert(conn);
            }
            s.unsubscribed.remove(&conn);
        }
    }

    /// Messages of `conn` whose IDs the client knows, live or deleted.
    pub fn known_of(&self, conn: usize, deleted: bool) -> Vec<usize> {
        (0..self.messages.len())
            .filter(|&m| {
                let x = &self.messages[m];
                x.conn == conn && x.id_known && x.deleted == deleted
            })
            .collect()
    }

    /// Live messages of other connections whose IDs the client knows.
    pub fn known_foreign(&self, conn: usize) -> Vec<usize> {
        (0..self.messages.len())
            .filter(|&m| {
                let x = &self.messages[m];
                x.conn != conn && x.id_known && !x.deleted
            })
            .collect()
    }

    /// Deleted messages of any connection whose IDs the client knows.
    pub fn known_deleted(&self) -> Vec<usize> {
        (0..self.messages.len())
            .filter(|&m| self.messages[m].id_known && self.messages[m].deleted)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_learn_ids_and_deletes_end_subscriptions() {
        let mut m = Model::new(2);
        let c = m.create();
        let ids: Vec<usize> = (0..3).map(|_| m.send(c, false)).collect();
        let (page, next) = m.page(c, 0);
        assert_eq!((page.clone(), next), (vec![ids[0], ids[1]], Some(ids[2])));
        m.retrieved(&page, next);
        assert!(m.messages[ids[2]].id_known && !m.messages[ids[2]].retrieved);
        m.delete_message(ids[0]);
        assert_eq!(m.page(c, 0).0, vec![ids[1], ids[2]]);
        m.sessions.push(Session {
            name: "w0".into(),
            subs: [c].into(),
            ..Session::default()
        });
        m.delete(c);
        assert!(m.sessions[0].subs.is_empty());
        assert_eq!(m.known_deleted().len(), 3);
    }
}
