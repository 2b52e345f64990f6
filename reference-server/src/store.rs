//! The in-memory store: connections, their keys and URIs, and their message queues.
//!
//! One mutex guards everything, so every operation is atomic (B-SEND-ATOMIC,
//! B-RUPD-ATOMIC, B-CONCURRENT). Signatures are verified outside the lock against a
//! snapshot of the keys; the operation then re-checks, under the lock, that the keys have not
//! changed since (a [`Proof::Ticket`]), or verifies again while holding it
//! ([`Proof::Verify`]). Nothing is kept once removed (S-PRIV-*): no history of connections,
//! keys, URIs or messages.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::clock;
use crate::encoding::random_id;
use crate::keys::PublicKey;

/// Which party's URI a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Party {
    /// `RU` and `RU/messages`.
    Recipient,
    /// `SU` and `SU/messages`.
    Sender,
}

/// The keys of a connection, as seen by one request.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// The recipient key `RK`.
    pub rk: Arc<PublicKey>,
    /// The sender key `SK`, once set.
    pub sk: Option<Arc<PublicKey>>,
}

/// Identifies the key state a snapshot was taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

/// How an operation knows its request is authorised.
pub(crate) enum Proof<'a> {
    /// Verified against the keys of this snapshot; valid only if they are still current.
    Ticket(Ticket),
    /// Verify now, under the lock, against the current keys.
    Verify(&'a dyn Fn(&Keys) -> Result<(), Refusal>),
}

/// Why an operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Unknown URI, or a `connectionID` that does not match it (404).
    NotFound,
    /// The keys changed since the snapshot: verify again.
    Stale,
    /// The signature does not verify with the required key (401).
    Unauthorized(String),
    /// The `connectionID` is in use (409).
    Conflict,
    /// `fromMessageID` is not a message of this connection (400).
    UnknownFrom,
    /// The first recipient update must set `sender` (400).
    SenderRequired,
    /// A sender update on a connection without `SK` (401).
    NoSenderKey,
    /// Sends are disabled (403).
    Disabled,
    /// The queue cap would be exceeded (429).
    QueueFull,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// Random, unique identifier.
    pub id: String,
    /// Receive time, RFC 3339.
    pub ts: String,
    /// The ciphertext, exactly as sent.
    pub msg: String,
}

/// A page of messages.
#[derive(Debug, Default)]
pub(crate) struct Page {
    /// Messages in receive order.
    pub messages: Vec<Message>,
    /// The id of the first message after them, if any remains.
    pub next: Option<String>,
}

/// What a recipient update changes.
pub(crate) struct RecipientChange {
    /// New `RK`.
    pub recipient: Option<Arc<PublicKey>>,
    /// New `SK`.
    pub sender: Option<Arc<PublicKey>>,
    /// Generate a new `RU`.
    pub new_recipient_uri: bool,
    /// Generate a new `SU`.
    pub new_sender_uri: bool,
    /// Enable or disable sends.
    pub disabled: Option<bool>,
}

/// New URI tokens produced by an update.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct NewTokens {
    /// The new `RU` token, if one was requested.
    pub recipient: Option<String>,
    /// The new `SU` token, if one was requested.
    pub sender: Option<String>,
}

/// Store limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `PAGE_SIZE`: the most messages one retrieval returns.
    pub page_size: usize,
    /// Most messages queued per connection.
    pub queue_cap: Option<usize>,
}

struct Connection {
    id: String,
    /// Changes whenever a key changes; compared with [`Ticket`]s.
    version: u64,
    keys: Keys,
    ru: String,
    su: String,
    disabled: bool,
    /// Messages by receive sequence number.
    queue: BTreeMap<u64, Message>,
    /// Sequence number of each queued message id.
    seq_of: HashMap<String, u64>,
    next_seq: u64,
    last_ts: i64,
}

#[derive(Default)]
struct State {
    /// Live connections by internal serial number.
    connections: HashMap<u64, Connection>,
    /// Serial number of each live `connectionID`.
    by_id: HashMap<String, u64>,
    /// URI token → (serial, party).
    routes: HashMap<String, (u64, Party)>,
    /// Source of serial numbers and key versions (never reused).
    counter: u64,
}

impl State {
    fn next_number(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A random URI token not in use.
    fn fresh_token(&self) -> String {
        loop {
            let token = random_id();
            if !self.routes.contains_key(&token) {
                return token;
            }
        }
    }

    /// The connection `token` addresses as `party`, if its `connectionID` is `cid`.
    fn connection(
        &mut self,
        token: &str,
        cid: &str,
        party: Party,
    ) -> Result<(u64, &mut Connection), Refusal> {
        let &(serial, route_party) = self.routes.get(token).ok_or(Refusal::NotFound)?;
        let conn = self
            .connections
            .get_mut(&serial)
            .filter(|c| route_party == party && c.id == cid)
            .ok_or(Refusal::NotFound)?;
        Ok((serial, conn))
    }
}

impl Connection {
    fn check(&self, proof: Proof<'_>) -> Result<(), Refusal> {
        match proof {
            Proof::Ticket(Ticket(version)) if version == self.version => Ok(()),
            Proof::Ticket(_) => Err(Refusal::Stale),
            Proof::Verify(verify) => verify(&self.keys),
        }
    }

    /// The first sequence number to consider: that of `from`, or the earliest.
    fn start(&self, from: Option<&str>) -> Result<u64, Refusal> {
        match from {
            None => Ok(0),
            Some(id) => self.seq_of.get(id).copied().ok_or(Refusal::UnknownFrom),
        }
    }

    fn remove(&mut self, seq: u64) -> Option<Message> {
        let message = self.queue.remove(&seq)?;
        self.seq_of.remove(&message.id);
        Some(message)
    }
}

/// All connections and messages of one server.
pub(crate) struct Store {
    state: Mutex<State>,
    limits: Limits,
}

impl Store {
    /// An empty store.
    pub(crate) fn new(limits: Limits) -> Store {
        Store {
            state: Mutex::new(State::default()),
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code path panics while holding the lock; if one did, the state is still
        // consistent (every operation checks before it mutates), so keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Which party `token` belongs to, if it is a live URI.
    pub(crate) fn party(&self, token: &str) -> Option<Party> {
        self.lock().routes.get(token).map(|&(_, party)| party)
    }

    /// A snapshot of the keys of the connection `token` addresses as `party`.
    pub(crate) fn keys(
        &self,
        token: &str,
        cid: &str,
        party: Party,
    ) -> Result<(Keys, Ticket), Refusal> {
        let mut state = self.lock();
        let (_, conn) = state.connection(token, cid, party)?;
        Ok((conn.keys.clone(), Ticket(conn.version)))
    }

    /// Creates a connection; returns its `RU` and `SU` tokens.
    pub(crate) fn create(
        &self,
        cid: &str,
        rk: Arc<PublicKey>,
        sk: Option<Arc<PublicKey>>,
        disabled: bool,
    ) -> Result<(String, String), Refusal> {
        let mut state = self.lock();
        if state.by_id.contains_key(cid) {
            return Err(Refusal::Conflict);
        }
        let serial = state.next_number();
        let version = state.next_number();
        let ru = state.fresh_token();
        state.routes.insert(ru.clone(), (serial, Party::Recipient));
        let su = state.fresh_token();
        state.routes.insert(su.clone(), (serial, Party::Sender));
        state.by_id.insert(cid.to_owned(), serial);
        state.connections.insert(
            serial,
            Connection {
                id: cid.to_owned(),
                version,
                keys: Keys { rk, sk },
                ru: ru.clone(),
                su: su.clone(),
                disabled,
                queue: BTreeMap::new(),
                seq_of: HashMap::new(),
                next_seq: 1,
                last_ts: 0,
            },
        );
        Ok((ru, su))
    }

    /// PUT `RU`: applies every change or none.
    pub(crate) fn update_recipient(
        &self,
        token: &str,
        cid: &str,
        proof: Proof<'_>,
        change: RecipientChange,
    ) -> Result<NewTokens, Refusal> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let new_version =
            (change.recipient.is_some() || change.sender.is_some()).then(|| state.next_number());
        let (serial, conn) = state.connection(token, cid, Party::Recipient)?;
        conn.check(proof)?;
        if conn.keys.sk.is_none() && change.sender.is_none() {
            return Err(Refusal::SenderRequired);
        }
        if let Some(rk) = change.recipient {
            conn.keys.rk = rk;
        }
        if let Some(sk) = change.sender {
            conn.keys.sk = Some(sk);
        }
        if let Some(version) = new_version {
            conn.version = version;
        }
        if let Some(disabled) = change.disabled {
            conn.disabled = disabled;
        }
        let mut tokens = NewTokens::default();
        if change.new_recipient_uri {
            tokens.recipient = Some(state.rotate(serial, Party::Recipient));
        }
        if change.new_sender_uri {
            tokens.sender = Some(state.rotate(serial, Party::Sender));
        }
        Ok(tokens)
    }

    /// PUT `SU`: applies every change or none; returns the new `SU` token if requested.
    pub(crate) fn update_sender(
        &self,
        token: &str,
        cid: &str,
        proof: Proof<'_>,
        sender: Option<Arc<PublicKey>>,
        new_sender_uri: bool,
    ) -> Result<Option<String>, Refusal> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let new_version = sender.is_some().then(|| state.next_number());
        let (serial, conn) = state.connection(token, cid, Party::Sender)?;
        if conn.keys.sk.is_none() {
            return Err(Refusal::NoSenderKey);
        }
        conn.check(proof)?;
        if let (Some(sk), Some(version)) = (sender, new_version) {
            conn.keys.sk = Some(sk);
            conn.version = version;
        }
        Ok(new_sender_uri.then(|| state.rotate(serial, Party::Sender)))
    }

    /// DELETE `RU`: forgets the connection, its URIs and its messages.
    pub(crate) fn delete(&self, token: &str, cid: &str, proof: Proof<'_>) -> Result<(), Refusal> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let (serial, conn) = state.connection(token, cid, Party::Recipient)?;
        conn.check(proof)?;
        if let Some(conn) = state.connections.remove(&serial) {
            state.routes.remove(&conn.ru);
            state.routes.remove(&conn.su);
            state.by_id.remove(&conn.id);
        }
        Ok(())
    }

    /// POST `SU/messages`: stores all of `messages` (taking them out of the vector) or none.
    pub(crate) fn send(
        &self,
        token: &str,
        cid: &str,
        proof: Proof<'_>,
        messages: &mut Vec<String>,
    ) -> Result<(), Refusal> {
        let mut state = self.lock();
        let (_, conn) = state.connection(token, cid, Party::Sender)?;
        conn.check(proof)?;
        if conn.disabled {
            return Err(Refusal::Disabled);
        }
        if let Some(cap) = self.limits.queue_cap {
            if conn.queue.len().saturating_add(messages.len()) > cap {
                return Err(Refusal::QueueFull);
            }
        }
        let now = clock::now_millis().max(conn.last_ts);
        conn.last_ts = now;
        let ts = clock::format_millis(now);
        for msg in messages.drain(..) {
            let id = random_id();
            let seq = conn.next_seq;
            conn.next_seq += 1;
            conn.seq_of.insert(id.clone(), seq);
            conn.queue.insert(
                seq,
                Message {
                    id,
                    ts: ts.clone(),
                    msg,
                },
            );
        }
        Ok(())
    }

    /// POST `RU/messages`: returns (and unless `keep`, removes) up to
    /// min(`page_size`, `PAGE_SIZE`) messages from `from` on.
    pub(crate) fn retrieve(
        &self,
        token: &str,
        cid: &str,
        proof: Proof<'_>,
        page_size: Option<u64>,
        from: Option<&str>,
        keep: bool,
    ) -> Result<Page, Refusal> {
        let mut state = self.lock();
        let (_, conn) = state.connection(token, cid, Party::Recipient)?;
        conn.check(proof)?;
        let start = conn.start(from)?;
        let limit = self.page_limit(page_size);
        let mut range = conn.queue.range(start..);
        let selected: Vec<u64> = range.by_ref().take(limit).map(|(&seq, _)| seq).collect();
        let next = range.next().map(|(_, m)| m.id.clone());
        let messages = if keep {
            selected
                .iter()
                .filter_map(|seq| conn.queue.get(seq).cloned())
                .collect()
        } else {
            selected
                .iter()
                .filter_map(|&seq| conn.remove(seq))
                .collect()
        };
        Ok(Page { messages, next })
    }

    /// DELETE `RU/messages`: removes up to `count` messages (all without it) from `from` on;
    /// returns how many were removed.
    pub(crate) fn delete_messages(
        &self,
        token: &str,
        cid: &str,
        proof: Proof<'_>,
        count: Option<u64>,
        from: Option<&str>,
    ) -> Result<usize, Refusal> {
        let mut state = self.lock();
        let (_, conn) = state.connection(token, cid, Party::Recipient)?;
        conn.check(proof)?;
        let start = conn.start(from)?;
        let limit = count.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let selected: Vec<u64> = conn
            .queue
            .range(start..)
            .take(limit)
            .map(|(&seq, _)| seq)
            .collect();
        Ok(selected
            .into_iter()
            .filter_map(|seq| conn.remove(seq))
            .count())
    }

    /// min(`requested`, `PAGE_SIZE`).
    fn page_limit(&self, requested: Option<u64>) -> usize {
        let requested = requested.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        requested.min(self.limits.page_size)
    }
}

impl State {
    /// Replaces the `party` URI of connection `serial` with a fresh one; the old one is gone.
    fn rotate(&mut self, serial: u64, party: Party) -> String {
        let token = self.fresh_token();
        if let Some(conn) = self.connections.get_mut(&serial) {
            let slot = match party {
                Party::Recipient => &mut conn.ru,
                Party::Sender => &mut conn.su,
            };
            let old = std::mem::replace(slot, token.clone());
            self.routes.remove(&old);
            self.routes.insert(token.clone(), (serial, party));
        }
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::test_key;

    const CID: &str = "connection-1";

    fn store(page_size: usize, queue_cap: Option<usize>) -> Store {
        Store::new(Limits {
            page_size,
            queue_cap,
        })
    }

    fn allow(_: &Keys) -> Result<(), Refusal> {
        Ok(())
    }

    const OK: Proof<'static> = Proof::Verify(&allow);

    fn key(name: &str) -> Arc<PublicKey> {
        Arc::new(test_key(name))
    }

    fn send(s: &Store, su: &str, msgs: &[&str]) -> Result<(), Refusal> {
        let mut owned: Vec<String> = msgs.iter().map(|m| (*m).to_owned()).collect();
        s.send(su, CID, OK, &mut owned)
    }

    fn retrieve(s: &Store, ru: &str, size: Option<u64>, from: Option<&str>, keep: bool) -> Page {
        s.retrieve(ru, CID, OK, size, from, keep).unwrap()
    }

    fn texts(page: &Page) -> Vec<&str> {
        page.messages.iter().map(|m| m.msg.as_str()).collect()
    }

    #[test]
    fn create_conflict_delete_recreate() {
        let s = store(50, None);
        let (ru, su) = s.create(CID, key("rsa2048-a"), None, false).unwrap();
        assert_ne!(ru, su);
        assert_eq!(s.party(&ru), Some(Party::Recipient));
        assert_eq!(s.party(&su), Some(Party::Sender));
        assert_eq!(
            s.create(CID, key("rsa2048-b"), None, false),
            Err(Refusal::Conflict)
        );
        send(&s, &su, &["QQ=="]).unwrap();
        // A wrong connectionID or party is not found.
        assert_eq!(s.delete(&ru, "other-cid", OK), Err(Refusal::NotFound));
        assert_eq!(s.delete(&su, CID, OK), Err(Refusal::NotFound));
        s.delete(&ru, CID, OK).unwrap();
        assert_eq!(s.party(&ru), None);
        assert_eq!(s.party(&su), None);
        let (ru2, su2) = s.create(CID, key("rsa2048-a"), None, false).unwrap();
        assert!(ru2 != ru && su2 != su);
        assert!(retrieve(&s, &ru2, None, None, false).messages.is_empty());
    }

    #[test]
    fn fifo_paging_and_next() {
        let s = store(3, None);
        let (ru, su) = s.create(CID, key("rsa2048-a"), None, false).unwrap();
        send(&s, &su, &["AAAA", "BBBB"]).unwrap();
        send(&s, &su, &["CCCC", "DDDD", "EEEE"]).unwrap();

        let page = retrieve(&s, &ru, None, None, true);
        assert_eq!(texts(&page), ["AAAA", "BBBB", "CCCC"]);
        let next = page.next.clone().unwrap();
        // PAGE_SIZE caps a larger pageSize.
        assert_eq!(retrieve(&s, &ru, Some(10), None, true).messages.len(), 3);
        let page2 = retrieve(&s, &ru, Some(1), Some(&next), true);
        assert_eq!(texts(&page2), ["DDDD"]);
        assert_eq!(page2.messages[0].id, next);
        let last = page2.next.clone().unwrap();
        let page3 = retrieve(&s, &ru, Some(5), Some(&last), true);
        assert_eq!(texts(&page3), ["EEEE"]);
        assert_eq!(page3.next, None);

        // Kept messages come back identical.
        let again = retrieve(&s, &ru, None, None, true);
        assert_eq!(again.messages, page.messages);

        // Removal: the first page goes, for good; its ids become unknown.
        let removed = retrieve(&s, &ru, Some(2), None, false);
        assert_eq!(texts(&removed), ["AAAA", "BBBB"]);
        assert_eq!(
            s.retrieve(&ru, CID, OK, None, Some(&removed.messages[0].id), true)
                .unwrap_err(),
            Refusal::UnknownFrom
        );
        assert_eq!(
            texts(&retrieve(&s, &ru, None, None, false)),
            ["CCCC", "DDDD", "EEEE"]
        );
        let empty = retrieve(&s, &ru, None, None, false);
        assert!(empty.messages.is_empty() && empty.next.is_none());
    }

    #[test]
    fn ids_are_unique_and_timestamps_never_decrease() {
        let s = store(1000, None);
        let (ru, su) = s.create(CID, key("rsa2048-a"), None, false).unwrap();
        for _ in 0..20 {
            send(&s, &su, &["QQ==", "QQ=="]).unwrap();
        }
        let page = retrieve(&s, &ru, None, None, false);
        assert_eq!(page.messages.len(), 40);
        let ids: std::collections::HashSet<_> = page.messages.iter().map(|m| &m.id).collect();
        assert_eq!(ids.len(), 40);
        for pair in page.messages.windows(2) {
            assert!(pair[0].ts <= pair[1].ts, "{} > {}", pair[0].ts, pair[1].ts);
        }
        assert!(page
            .messages
            .iter()
            .all(|m| m.ts.len() == 24 && m.ts.ends_with('Z')));
    }

    #[test]
    fn delete_messages_selection() {
        let s = store(2, None);
        let (ru, su) = s.create(CID, key("rsa2048-a"), None, false).unwrap();
        send(&s, &su, &["AAAA", "BBBB", "CCCC", "DDDD", "EEEE"]).unwrap();
        let ids: Vec<String> = retrieve(&s, &ru, None, None, true)
            .messages
            .iter()
            .map(|m| m.id.clone())
            .collect();
        assert_eq!(
            s.delete_messages(&ru, CID, OK, Some(2), Some(&ids[1])),
            Ok(2)
        );
        assert_eq!(
            s.delete_messages(&ru, CID, OK, None, Some(&ids[1])),
            Err(Refusal::UnknownFrom)
        );
        assert_eq!(
            s.delete_messages(&ru, CID, OK, None, Some("")),
            Err(Refusal::UnknownFrom)
        );
        assert_eq!(
            texts(&retrieve(&s, &ru, None, None, true)),
            ["AAAA", "DDDD"]
        );
        // Without pageSize every message goes, PAGE_SIZE (2) notwithstanding.
        send(&s, &su, &["FFFF"]).unwrap();
        assert_eq!(s.delete_messages(&ru, CID, OK, None, None), Ok(4));
        assert_eq!(s.delete_messages(&ru, CID, OK, None, None), Ok(0));
    }

    #[test]
    fn recipient_update_is_all_or_nothing() {
        let s = store(50, None);
        let (ru, su) = s.create(CID, key("rsa2048-a"), None, false).unwrap();
        let change = |sender: Option<Arc<PublicKey>>| RecipientChange {
            recipient: Some(key("rsa2048-c")),
            sender,
            new_recipient_uri: true,
            new_sender_uri: true,
            disabled: Some(true),
        };
        // No SK yet and none given: nothing changes.
        assert_eq!(
            s.update_recipient(&ru, CID, OK, change(None)),
            Err(Refusal::SenderRequired)
        );
        assert_eq!(s.party(&ru), Some(Party::Recipient));
        assert_eq!(s.party(&su), Some(Party::Sender));
        send(&s, &su, &["QQ=="]).unwrap();

        let tokens = s
            .update_recipient(&ru, CID, OK, change(Some(key("rsa2048-b"))))
            .unwrap();
        let (new_ru, new_su) = (tokens.recipient.unwrap(), tokens.sender.unwrap());
        assert_eq!(s.party(&ru), None);
        assert_eq!(s.party(&su), None);
        assert_eq!(s.party(&new_ru), Some(Party::Recipient));
        let (keys, _) = s.keys(&new_ru, CID, Party::Recipient).unwrap();
        assert_eq!(keys.rk.der(), test_key("rsa2048-c").der());
        assert_eq!(keys.sk.unwrap().der(), test_key("rsa2048-b").der());
        // Disabled: sends refused, retrieval works, queued messages survive.
        let mut one = vec!["QQ==".to_owned()];
        assert_eq!(s.send(&new_su, CID, OK, &mut one), Err(Refusal::Disabled));
        assert_eq!(texts(&retrieve(&s, &new_ru, None, None, false)), ["QQ=="]);
    }

    #[test]
    fn sender_update_needs_sk_and_rotates() {
        let s = store(50, None);
        let (ru, su) = s.create(CID, key("rsa2048-a"), None, false).unwrap();
        assert_eq!(
            s.update_sender(&su, CID, OK, None, true),
            Err(Refusal::NoSenderKey)
        );
        assert_eq!(s.party(&su), Some(Party::Sender));
        let only_sender = RecipientChange {
            recipient: None,
            sender: Some(key("rsa2048-b")),
            new_recipient_uri: false,
            new_sender_uri: false,
            disabled: None,
        };
        assert_eq!(
            s.update_recipient(&ru, CID, OK, only_sender),
            Ok(NewTokens::default())
        );
        let new_su = s
            .update_sender(&su, CID, OK, Some(key("rsa2048-c")), true)
            .unwrap()
            .unwrap();
        assert_eq!(s.party(&su), None);
        assert_eq!(s.party(&new_su), Some(Party::Sender));
        assert_eq!(s.update_sender(&new_su, CID, OK, None, false), Ok(None));
        let (keys, _) = s.keys(&new_su, CID, Party::Sender).unwrap();
        assert_eq!(keys.sk.unwrap().der(), test_key("rsa2048-c").der());
    }

    #[test]
    fn tickets_go_stale_when_keys_change() {
        let s = store(50, None);
        let (ru, su) = s
            .create(CID, key("rsa2048-a"), Some(key("rsa2048-b")), false)
            .unwrap();
        let (_, ticket) = s.keys(&ru, CID, Party::Recipient).unwrap();
        let (_, sender_ticket) = s.keys(&su, CID, Party::Sender).unwrap();
        assert_eq!(ticket, sender_ticket);
        s.update_sender(
            &su,
            CID,
            Proof::Ticket(sender_ticket),
            Some(key("rsa2048-c")),
            false,
        )
        .unwrap();
        assert_eq!(
            s.retrieve(&ru, CID, Proof::Ticket(ticket), None, None, false)
                .unwrap_err(),
            Refusal::Stale
        );
        let (_, fresh) = s.keys(&ru, CID, Party::Recipient).unwrap();
        assert!(s
            .retrieve(&ru, CID, Proof::Ticket(fresh), None, None, false)
            .is_ok());
        // A failing verification under the lock is reported as such.
        let deny = |_: &Keys| Err(Refusal::Unauthorized("no".into()));
        assert_eq!(
            s.delete(&ru, CID, Proof::Verify(&deny)),
            Err(Refusal::Unauthorized("no".into()))
        );
        assert_eq!(s.party(&ru), Some(Party::Recipient));
    }

    #[test]
    fn queue_cap_refuses_whole_sends() {
        let s = store(50, Some(3));
        let (ru, su) = s.create(CID, key("rsa2048-a"), None, false).unwrap();
        send(&s, &su, &["AAAA", "BBBB"]).unwrap();
        assert_eq!(send(&s, &su, &["CCCC", "DDDD"]), Err(Refusal::QueueFull));
        send(&s, &su, &["CCCC"]).unwrap();
        assert_eq!(send(&s, &su, &["DDDD"]), Err(Refusal::QueueFull));
        assert_eq!(
            texts(&retrieve(&s, &ru, None, None, false)),
            ["AAAA", "BBBB", "CCCC"]
        );
        send(&s, &su, &["DDDD"]).unwrap();
    }
}
