//! The in-memory store: connections, their keys and URIs, and their message queues.
//!
//! One mutex guards everything, so every operation is atomic (B-SEND-ATOMIC,
//! B-RUPD-ATOMIC, B-CONCURRENT). Signatures are verified outside the lock against a
//! snapshot of the keys; the operation then re-checks, under the lock, that the keys have not
//! changed since (a [`Proof::Ticket`]), or verifies again while holding it
//! ([`Proof::Verify`]). Nothing is kept once removed (S-PRIV-*): no history of connections,
//! keys, URIs or messages.
//!
//! Fault injection (`faults` feature) keeps what a correct server forgets in [`Ghosts`];
//! without the feature those branches compile away and the ghosts stay empty.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::edge_v1::clock;
use crate::edge_v1::encoding::{base64url, random_id};
use crate::edge_v1::faults::{Fault, Faults};
use crate::edge_v1::keys::PublicKey;

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
    /// Replaced recipient keys still accepted (only under fault injection; else empty).
    pub old_rks: Vec<Arc<PublicKey>>,
    /// Replaced sender keys still accepted (only under fault injection; else empty).
    pub old_sks: Vec<Arc<PublicKey>>,
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
    /// Kept retrievals so far; counted only under the `keep-tracks-count` fault, else 0.
    pub retrieved: u32,
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
    ghosts: Ghosts,
}

/// What fault injection remembers of a connection; always empty in a correct server.
#[derive(Default)]
struct Ghosts {
    /// Tokens routed to the connection besides `ru` and `su`.
    extra_tokens: Vec<String>,
    first_rk: Option<Arc<PublicKey>>,
    rk_rotations: u32,
    first_su: Option<String>,
    su_rotations: u32,
    first_ru: Option<String>,
    ru_rotations: u32,
    /// Messages deleted by the last DELETE RU/messages.
    resurrect: Vec<Message>,
    /// Per-connection message counter (`message-id-reused`).
    next_local_id: u64,
    /// Deleted, but its SU still takes sends (`deleted-su-alive`).
    zombie: bool,
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
    /// Server-wide state of fault injection; always empty in a correct server.
    ghosts: ServerGhosts,
}

/// What fault injection remembers server-wide.
#[derive(Default)]
struct ServerGhosts {
    deleted_ids: HashSet<String>,
    graveyard: HashMap<String, Vec<Message>>,
    /// Tokens that are both RU and SU (`ru-equals-su`).
    shared: HashSet<String>,
    /// RU and SU tokens of deleted connections (`deleted-uris-routed`).
    deleted_routes: HashMap<String, Party>,
    message_counter: u64,
}

impl State {
    fn next_number(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A fresh URI token: 128 random bits, or what a URI fault makes of it.
    fn fresh_token(&mut self, faults: Faults, cid: &str, rk: &PublicKey, party: Party) -> String {
        loop {
            let token = if faults.on(Fault::UriCounter) {
                format!("{:022}", self.next_number())
            } else if faults.on(Fault::UriContainsCid) {
                format!("{cid}-{}", random_id())
            } else if faults.on(Fault::UriContainsKeyHash) && party == Party::Recipient {
                let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, rk.der());
                let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                format!("{hex}{}", random_id())
            } else if faults.on(Fault::SuContainsKeySha1) && party == Party::Sender {
                let hash = aws_lc_rs::digest::digest(
                    &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                    rk.der(),
                );
                format!("{}{}", base64url(hash.as_ref()), random_id())
            } else {
                random_id()
            };
            if !self.routes.contains_key(&token) {
                return token;
            }
        }
    }

    /// The connection `token` addresses as `party`, if its `connectionID` is `cid`.
    fn connection(
        &mut self,
        faults: Faults,
        token: &str,
        cid: &str,
        party: Party,
    ) -> Result<(u64, &mut Connection), Refusal> {
        let &(serial, route_party) = self.routes.get(token).ok_or(Refusal::NotFound)?;
        let party_ok = route_party == party || self.ghosts.shared.contains(token);
        let conn = self
            .connections
            .get_mut(&serial)
            .filter(|c| party_ok && (c.id == cid || faults.on(Fault::CidMismatchIgnored)))
            .ok_or(Refusal::NotFound)?;
        if conn.ghosts.zombie && party == Party::Recipient {
            return Err(Refusal::NotFound);
        }
        Ok((serial, conn))
    }

    /// Replaces the `party` URI of connection `serial` with a fresh one; the old one is gone
    /// (unless `keep_old`, a fault).
    fn rotate(&mut self, faults: Faults, serial: u64, party: Party, keep_old: bool) -> String {
        let Some(conn) = self.connections.get(&serial) else {
            return String::new();
        };
        let (cid, rk) = (conn.id.clone(), conn.keys.rk.clone());
        let token = self.fresh_token(faults, &cid, &rk, party);
        let shared = faults.on(Fault::RuEqualsSu);
        let Some(conn) = self.connections.get_mut(&serial) else {
            return token;
        };
        let old = match party {
            Party::Recipient => std::mem::replace(&mut conn.ru, token.clone()),
            Party::Sender => std::mem::replace(&mut conn.su, token.clone()),
        };
        if shared {
            // RU and SU stay one URI.
            conn.ru = token.clone();
            conn.su = token.clone();
            self.ghosts.shared.remove(&old);
            self.ghosts.shared.insert(token.clone());
        }
        if keep_old {
            conn.ghosts.extra_tokens.push(old);
        } else {
            self.routes.remove(&old);
        }
        if party == Party::Recipient && faults.on(Fault::ThirdRuRotationRevivesFirst) {
            conn.ghosts.ru_rotations += 1;
            if conn.ghosts.ru_rotations == 3 {
                if let Some(first) = conn.ghosts.first_ru.clone() {
                    conn.ghosts.extra_tokens.push(first.clone());
                    self.routes.insert(first, (serial, Party::Recipient));
                }
            }
        }
        if party == Party::Sender && faults.on(Fault::ThirdSuRotationRevivesFirst) {
            conn.ghosts.su_rotations += 1;
            if conn.ghosts.su_rotations == 3 {
                if let Some(first) = conn.ghosts.first_su.clone() {
                    conn.ghosts.extra_tokens.push(first.clone());
                    self.routes.insert(first, (serial, Party::Sender));
                }
            }
        }
        let route_party = if shared { Party::Recipient } else { party };
        self.routes.insert(token.clone(), (serial, route_party));
        token
    }

    /// Removes connection `serial` and every URI routed to it.
    fn remove_connection(&mut self, serial: u64) -> Option<Connection> {
        let conn = self.connections.remove(&serial)?;
        for token in [&conn.ru, &conn.su]
            .into_iter()
            .chain(&conn.ghosts.extra_tokens)
        {
            if self.routes.get(token).is_some_and(|&(s, _)| s == serial) {
                self.routes.remove(token);
            }
            self.ghosts.shared.remove(token);
        }
        if self.by_id.get(&conn.id) == Some(&serial) {
            self.by_id.remove(&conn.id);
        }
        Some(conn)
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
    faults: Faults,
}

impl Store {
    /// An empty store.
    pub(crate) fn new(limits: Limits, faults: Faults) -> Store {
        Store {
            state: Mutex::new(State::default()),
            limits,
            faults,
        }
    }

    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    fn fault(&self, fault: Fault) -> bool {
        self.faults.on(fault)
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

    /// The party a deleted connection's `token` named (`deleted-uris-routed`).
    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    pub(crate) fn deleted_party(&self, token: &str) -> Option<Party> {
        if !self.fault(Fault::DeletedUrisRouted) {
            return None;
        }
        self.lock().ghosts.deleted_routes.get(token).copied()
    }

    /// Whether `token` is both RU and SU (`ru-equals-su`).
    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    pub(crate) fn is_shared(&self, token: &str) -> bool {
        self.fault(Fault::RuEqualsSu) && self.lock().ghosts.shared.contains(token)
    }

    /// The current `RU` and `SU` tokens of the connection `token` belongs to.
    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    pub(crate) fn tokens_of(&self, token: &str) -> Option<(String, String)> {
        let state = self.lock();
        let &(serial, _) = state.routes.get(token)?;
        let conn = state.connections.get(&serial)?;
        Some((conn.ru.clone(), conn.su.clone()))
    }

    /// Whether the connection `token` addresses as the sender (with `connectionID` `cid`) is
    /// disabled (`disabled-checked-first` only).
    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    pub(crate) fn is_disabled(&self, token: &str, cid: &str) -> bool {
        let mut state = self.lock();
        state
            .connection(self.faults, token, cid, Party::Sender)
            .is_ok_and(|(_, conn)| conn.disabled)
    }

    /// A snapshot of the keys of the connection `token` addresses as `party`.
    pub(crate) fn keys(
        &self,
        token: &str,
        cid: &str,
        party: Party,
    ) -> Result<(Keys, Ticket), Refusal> {
        let mut state = self.lock();
        let (_, conn) = state.connection(self.faults, token, cid, party)?;
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
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some(&live) = state.by_id.get(cid) {
            if !self.fault(Fault::Create409Overwrites) {
                return Err(Refusal::Conflict);
            }
            state.remove_connection(live);
        }
        if self.fault(Fault::DeletedCidRemembered) && state.ghosts.deleted_ids.contains(cid) {
            return Err(Refusal::Conflict);
        }
        let serial = state.next_number();
        let version = state.next_number();
        let ru = state.fresh_token(self.faults, cid, &rk, Party::Recipient);
        let su = if self.fault(Fault::RuEqualsSu) {
            state.ghosts.shared.insert(ru.clone());
            ru.clone()
        } else {
            state.fresh_token(self.faults, cid, &rk, Party::Sender)
        };
        state.routes.insert(su.clone(), (serial, Party::Sender));
        state.routes.insert(ru.clone(), (serial, Party::Recipient));
        state.by_id.insert(cid.to_owned(), serial);
        let mut conn = Connection {
            id: cid.to_owned(),
            version,
            keys: Keys {
                rk: rk.clone(),
                sk,
                old_rks: Vec::new(),
                old_sks: Vec::new(),
            },
            ru: ru.clone(),
            su: su.clone(),
            disabled: disabled && !self.fault(Fault::CreateDisabledIgnored),
            queue: BTreeMap::new(),
            seq_of: HashMap::new(),
            next_seq: 1,
            last_ts: 0,
            ghosts: Ghosts::default(),
        };
        if self.fault(Fault::SecondRkRotationRevivesFirst) {
            conn.ghosts.first_rk = Some(rk);
        }
        if self.fault(Fault::ThirdSuRotationRevivesFirst) {
            conn.ghosts.first_su = Some(su.clone());
        }
        if self.fault(Fault::ThirdRuRotationRevivesFirst) {
            conn.ghosts.first_ru = Some(ru.clone());
        }
        if self.fault(Fault::DeleteKeepsMessages) {
            for message in state.ghosts.graveyard.remove(cid).unwrap_or_default() {
                conn.seq_of.insert(message.id.clone(), conn.next_seq);
                conn.queue.insert(conn.next_seq, message);
                conn.next_seq += 1;
            }
        }
        state.connections.insert(serial, conn);
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
        let (serial, conn) = state.connection(self.faults, token, cid, Party::Recipient)?;
        conn.check(proof)?;
        if conn.keys.sk.is_none()
            && change.sender.is_none()
            && !self.fault(Fault::RupdFirstNotEnforced)
        {
            return Err(Refusal::SenderRequired);
        }
        if let Some(rk) = change.recipient {
            let old = std::mem::replace(&mut conn.keys.rk, rk);
            if self.fault(Fault::OldRkAlive) {
                conn.keys.old_rks.push(old);
            }
            if self.fault(Fault::SecondRkRotationRevivesFirst) {
                conn.ghosts.rk_rotations += 1;
                if conn.ghosts.rk_rotations == 2 {
                    conn.keys.old_rks.extend(conn.ghosts.first_rk.clone());
                }
            }
        }
        if let Some(sk) = change.sender {
            let old = conn.keys.sk.replace(sk);
            if self.fault(Fault::OldSkAliveRecipientChange) {
                conn.keys.old_sks.extend(old);
            }
        }
        if let Some(version) = new_version {
            conn.version = version;
        }
        if let Some(disabled) = change.disabled {
            if !self.fault(Fault::DisableUpdateIgnored) {
                conn.disabled = disabled;
            }
        }
        let mut tokens = NewTokens::default();
        if self.fault(Fault::RuEqualsSu) && (change.new_recipient_uri || change.new_sender_uri) {
            // One URI for both parties: rotate it once.
            let shared = state.rotate(self.faults, serial, Party::Recipient, false);
            tokens.recipient = change.new_recipient_uri.then(|| shared.clone());
            tokens.sender = change.new_sender_uri.then_some(shared);
        } else {
            if change.new_recipient_uri {
                let keep = self.fault(Fault::OldRuAlive);
                tokens.recipient = Some(state.rotate(self.faults, serial, Party::Recipient, keep));
            }
            if change.new_sender_uri {
                let keep = self.fault(Fault::OldSuAliveRecipientChange);
                let su = state.rotate(self.faults, serial, Party::Sender, keep);
                if !self.fault(Fault::RupdUriNotReturned) {
                    tokens.sender = Some(su);
                }
            }
        }
        if self.fault(Fault::RupdUrisAlwaysReturned) {
            if let Some(conn) = state.connections.get(&serial) {
                tokens.recipient = Some(conn.ru.clone());
                tokens.sender = Some(conn.su.clone());
            }
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
        let (serial, conn) = state.connection(self.faults, token, cid, Party::Sender)?;
        if conn.keys.sk.is_none() && !self.fault(Fault::SupdWithoutSkOk) {
            return Err(Refusal::NoSenderKey);
        }
        conn.check(proof)?;
        if let (Some(sk), Some(version)) = (sender, new_version) {
            let old = conn.keys.sk.replace(sk);
            if self.fault(Fault::OldSkAliveSenderChange) {
                conn.keys.old_sks.extend(old);
            }
            conn.version = version;
        }
        let keep = self.fault(Fault::OldSuAliveSenderChange);
        Ok(new_sender_uri.then(|| state.rotate(self.faults, serial, Party::Sender, keep)))
    }

    /// DELETE `RU`: forgets the connection, its URIs and its messages.
    pub(crate) fn delete(&self, token: &str, cid: &str, proof: Proof<'_>) -> Result<(), Refusal> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let (serial, conn) = state.connection(self.faults, token, cid, Party::Recipient)?;
        conn.check(proof)?;
        if self.fault(Fault::DeletedSuAlive) {
            conn.ghosts.zombie = true;
            conn.queue.clear();
            conn.seq_of.clear();
            let (ru, id) = (conn.ru.clone(), conn.id.clone());
            state.routes.remove(&ru);
            state.by_id.remove(&id);
            return Ok(());
        }
        if let Some(conn) = state.remove_connection(serial) {
            if self.fault(Fault::DeletedUrisRouted) {
                let routes = &mut state.ghosts.deleted_routes;
                routes.insert(conn.ru.clone(), Party::Recipient);
                routes.insert(conn.su.clone(), Party::Sender);
            }
            if self.fault(Fault::DeletedCidRemembered) {
                state.ghosts.deleted_ids.insert(conn.id.clone());
            }
            if self.fault(Fault::DeleteKeepsMessages) {
                let messages = conn.queue.into_values().collect();
                state.ghosts.graveyard.insert(conn.id, messages);
            }
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
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut counter = state.ghosts.message_counter;
        let (_, conn) = state.connection(self.faults, token, cid, Party::Sender)?;
        conn.check(proof)?;
        conn.ghosts.resurrect.clear();
        if conn.disabled {
            if self.fault(Fault::Disabled401) {
                return Err(Refusal::Unauthorized("the connection is disabled".into()));
            }
            return Err(Refusal::Disabled);
        }
        let mut over_cap = false;
        let bypass = self.fault(Fault::QuotaLargeSendBypasses) && messages.len() > 16;
        if let (Some(cap), false) = (self.limits.queue_cap, bypass) {
            if conn.queue.len().saturating_add(messages.len()) > cap {
                if !self.fault(Fault::QuotaPartial) {
                    return Err(Refusal::QueueFull);
                }
                messages.truncate(cap.saturating_sub(conn.queue.len()));
                over_cap = true;
            }
        }
        let now = clock::now_millis().max(conn.last_ts);
        conn.last_ts = now;
        let mut ts = clock::format_millis(now);
        if self.fault(Fault::TsOffset) {
            ts = ts.replace('Z', "+00:00");
        }
        if conn.queue.is_empty() {
            conn.ghosts.next_local_id = 1;
        }
        for msg in messages.drain(..) {
            let id = if self.fault(Fault::MessageIdCounter) {
                counter += 1;
                counter.to_string()
            } else if self.fault(Fault::MessageIdReused) {
                conn.ghosts.next_local_id += 1;
                (conn.ghosts.next_local_id - 1).to_string()
            } else {
                random_id()
            };
            let seq = conn.next_seq;
            conn.next_seq += 1;
            conn.seq_of.insert(id.clone(), seq);
            conn.queue.insert(
                seq,
                Message {
                    id,
                    ts: ts.clone(),
                    msg,
                    retrieved: 0,
                },
            );
        }
        state.ghosts.message_counter = counter;
        if over_cap {
            return Err(Refusal::QueueFull);
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
        let remove = (!keep || self.fault(Fault::KeepStillRemoves))
            && !self.fault(Fault::RetrieveNeverRemoves);
        let mut guard = self.lock();
        let state = &mut *guard;
        let other_has = |id: &str| {
            state
                .connections
                .values()
                .any(|c| c.seq_of.contains_key(id))
        };
        let from_elsewhere =
            from.is_some_and(|id| self.fault(Fault::FromOtherConnectionAccepted) && other_has(id));
        let (_, conn) = state.connection(self.faults, token, cid, Party::Recipient)?;
        conn.check(proof)?;
        if conn.disabled && self.fault(Fault::DisabledBlocksRetrieve) {
            return Err(Refusal::Disabled);
        }
        let resurrected = std::mem::take(&mut conn.ghosts.resurrect);
        let start = match from.map(|id| conn.seq_of.get(id).copied()) {
            None => None,
            Some(Some(seq)) if self.fault(Fault::FromExclusive) => Some(seq + 1),
            Some(Some(seq)) => Some(seq),
            Some(None) if from_elsewhere => None,
            Some(None) if self.fault(Fault::FromUnknownEmpty) => return Ok(Page::default()),
            Some(None) => return Err(Refusal::UnknownFrom),
        };
        let limit = self.page_limit(page_size);
        let (selected, after, one_left) = {
            // Receive order from `start` (newest first under `fifo-reversed`).
            let order: Box<dyn Iterator<Item = u64>> =
                match (self.fault(Fault::FifoReversed), start) {
                    (false, start) => {
                        Box::new(conn.queue.range(start.unwrap_or(0)..).map(|(&s, _)| s))
                    }
                    (true, Some(start)) => {
                        Box::new(conn.queue.range(..=start).rev().map(|(&s, _)| s))
                    }
                    (true, None) => Box::new(conn.queue.keys().rev().copied()),
                };
            let mut order = order.peekable();
            let selected: Vec<u64> = order.by_ref().take(limit).collect();
            let next = order.next();
            let one_left = next.is_some() && order.next().is_none();
            (selected, next, one_left)
        };
        let id_of = |seq: &u64| conn.queue.get(seq).map(|m| m.id.clone());
        let last_returned = selected.last().and_then(id_of);
        let mut next = after.as_ref().and_then(id_of);
        if next.is_none() && self.fault(Fault::NextAlwaysPresent) {
            next = Some(last_returned.clone().unwrap_or_default());
        }
        if one_left && self.fault(Fault::NextMissingWhenOneLeft) {
            next = None;
        }
        if next.is_some() && self.fault(Fault::NextNamesLastReturned) {
            next = last_returned;
        }
        let mut messages: Vec<Message> = Vec::with_capacity(selected.len());
        if keep && self.fault(Fault::KeepAfterDeleteMessagesResurrects) {
            messages.extend(resurrected);
        }
        if remove && self.fault(Fault::RetrieveNotAtomic) {
            // Read now, remove later in a second critical section.
            messages.extend(selected.iter().filter_map(|s| conn.queue.get(s).cloned()));
            drop(guard);
            std::thread::sleep(Duration::from_millis(20));
            let mut state = self.lock();
            if let Ok((_, conn)) = state.connection(self.faults, token, cid, Party::Recipient) {
                for seq in selected {
                    conn.remove(seq);
                }
            }
            return Ok(self.altered(Page { messages, next }));
        }
        for seq in selected {
            let message = if remove {
                conn.remove(seq)
            } else {
                let kept = conn.queue.get_mut(&seq);
                kept.map(|m| {
                    if self.fault(Fault::KeepTracksCount) {
                        m.retrieved += 1;
                    }
                    m.clone()
                })
            };
            messages.extend(message);
        }
        Ok(self.altered(Page { messages, next }))
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
        let mut guard = self.lock();
        let state = &mut *guard;
        let (serial, conn) = state.connection(self.faults, token, cid, Party::Recipient)?;
        conn.check(proof)?;
        let start = match from.map(|id| conn.seq_of.get(id).copied()) {
            None => 0,
            Some(Some(seq)) => seq,
            Some(None) if self.fault(Fault::DelmUnknownFromOk) => return Ok(0),
            Some(None) => return Err(Refusal::UnknownFrom),
        };
        let mut limit = count.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        if self.fault(Fault::DelmCappedByPageSize) {
            limit = limit.min(self.limits.page_size);
        }
        let selected: Vec<u64> = conn
            .queue
            .range(start..)
            .take(limit)
            .map(|(&s, _)| s)
            .collect();
        let removed: Vec<Message> = selected
            .into_iter()
            .filter_map(|s| conn.remove(s))
            .collect();
        let deleted = removed.len();
        if self.fault(Fault::KeepAfterDeleteMessagesResurrects) {
            conn.ghosts.resurrect = removed;
        }
        if count.is_none() && self.fault(Fault::DeleteMessagesCrossesConnections) {
            for (_, other) in state.connections.iter_mut().filter(|(&s, _)| s != serial) {
                other.queue.clear();
                other.seq_of.clear();
            }
        }
        match count {
            Some(n) if self.fault(Fault::DelmCountRequested) => {
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
            _ => Ok(deleted),
        }
    }

    /// min(`requested`, `PAGE_SIZE`).
    fn page_limit(&self, requested: Option<u64>) -> usize {
        let page = self.limits.page_size;
        let requested = requested.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        if self.fault(Fault::PageSizeIgnored) {
            return usize::MAX;
        }
        if self.fault(Fault::PageSizeMax) {
            return requested.unwrap_or(page).max(page);
        }
        requested.unwrap_or(usize::MAX).min(page)
    }

    /// The page as returned, with `msg-altered` applied.
    fn altered(&self, mut page: Page) -> Page {
        if self.fault(Fault::MsgAltered) {
            for m in &mut page.messages {
                m.msg = m.msg.trim_end_matches('=').to_owned();
            }
        }
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge_v1::faults::Faults;
    use crate::edge_v1::keys::test_key;

    const CID: &str = "connection-1";

    fn store(page_size: usize, queue_cap: Option<usize>) -> Store {
        Store::new(
            Limits {
                page_size,
                queue_cap,
            },
            Faults::default(),
        )
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
