//! The executable model of a conforming edge-v1 server.
//!
//! Pure and synchronous: given a state and an abstract request, [`Model::predict`] returns the
//! responses the binding allows (each resting on a rule ID) and [`Model::commit`] moves the state
//! on once the server's answer is known. Scripted cases, `prop`, `fuzz` and the differential
//! fuzz target all use this one model. Names (connections, keys, messages) are symbolic: the
//! model never sees bytes, URIs or server-chosen ids.

mod state;

pub use state::{Conn, Phase};

use std::collections::{BTreeMap, BTreeSet};

/// Name of a connection in a case (`c`, `c2`, ...).
pub type ConnName = String;
/// Name of a key in a case (`rk1`, `sk`, ...).
pub type KeyName = String;
/// Name of a message in a case (`m1`, ...).
pub type MsgName = String;

/// The endpoints of the binding (section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Endpoint {
    /// POST CE.
    Create,
    /// PUT RU.
    Update,
    /// DELETE RU.
    Delete,
    /// POST RU/messages.
    Retrieve,
    /// DELETE RU/messages.
    DeleteMessages,
    /// PUT SU.
    SenderUpdate,
    /// POST SU/messages.
    Send,
}

impl Endpoint {
    /// All endpoints, in the binding's order.
    pub const ALL: [Endpoint; 7] = [
        Endpoint::Create,
        Endpoint::Update,
        Endpoint::Delete,
        Endpoint::Retrieve,
        Endpoint::DeleteMessages,
        Endpoint::SenderUpdate,
        Endpoint::Send,
    ];

    /// Whether the endpoint is addressed through the recipient URI.
    pub fn is_recipient(self) -> bool {
        matches!(
            self,
            Endpoint::Update | Endpoint::Delete | Endpoint::Retrieve | Endpoint::DeleteMessages
        )
    }

    /// Whether the endpoint is addressed through the sender URI.
    pub fn is_sender(self) -> bool {
        matches!(self, Endpoint::SenderUpdate | Endpoint::Send)
    }

    /// The HTTP method of the endpoint.
    pub fn method(self) -> &'static str {
        match self {
            Endpoint::Create | Endpoint::Retrieve | Endpoint::Send => "POST",
            Endpoint::Update | Endpoint::SenderUpdate => "PUT",
            Endpoint::Delete | Endpoint::DeleteMessages => "DELETE",
        }
    }

    /// Whether the path ends in `/messages`.
    pub fn is_messages(self) -> bool {
        matches!(
            self,
            Endpoint::Retrieve | Endpoint::DeleteMessages | Endpoint::Send
        )
    }

    /// The endpoint a short name stands for.
    pub fn from_name(name: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Short name used in case files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Create => "create",
            Endpoint::Update => "update",
            Endpoint::Delete => "delete",
            Endpoint::Retrieve => "retrieve",
            Endpoint::DeleteMessages => "deleteMessages",
            Endpoint::SenderUpdate => "senderUpdate",
            Endpoint::Send => "send",
        }
    }
}

/// How a request is authorised, as far as the model cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No header.
    None,
    /// A valid signature by the named key.
    Key(KeyName),
    /// A header that cannot verify with any key (malformed, wrong algorithm, wrong input...).
    Bad,
}

/// Which version of a connection's URI a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Via {
    /// The current URI.
    #[default]
    Current,
    /// The n-th URI the connection had (0 = the one from create).
    Version(usize),
}

/// A deliberate fault in a request, classified by the step of section 3.1 that must catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Fault {
    /// An unknown path (3.1 step 1): 404.
    UnknownPath,
    /// A method the endpoint does not define (step 1): 404 or 405.
    Method,
    /// A body over the server's limit (step 2): 413 (or 400).
    Oversized,
    /// Content-Type, UTF-8, JSON, object or schema wrong (step 2): 400.
    Body,
    /// A prohibited property on PUT SU (step 2): 401.
    Prohibited,
    /// A well-formed `connectionID` of another connection (step 3): 404.
    CidMismatch,
}

/// Protocol parameters of a request (symbolic).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// Create: the connection ID to use (a name; same name = same ID).
    pub cid: Option<String>,
    /// Create, update: the recipient key.
    pub recipient: Option<KeyName>,
    /// Create, update, sender update: the sender key.
    pub sender: Option<KeyName>,
    /// Create, update: `disabled`.
    pub disabled: Option<bool>,
    /// Update: `newRecipientURI`.
    pub new_recipient_uri: Option<bool>,
    /// Update, sender update: `newSenderURI`.
    pub new_sender_uri: Option<bool>,
    /// Retrieve, delete messages: `pageSize`.
    pub page_size: Option<u64>,
    /// Retrieve, delete messages: `fromMessageID` (a message name, or a name the connection
    /// never had, which stands for an unknown id).
    pub from: Option<MsgName>,
    /// Retrieve: `keepMessages`.
    pub keep: Option<bool>,
    /// Send: the messages, in order.
    pub messages: Vec<MsgName>,
}

/// An abstract request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The connection addressed (for create: the connection being made).
    pub conn: ConnName,
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Which URI version.
    pub via: Via,
    /// The `Authorization` header.
    pub auth: Auth,
    /// The `EM-New-Key-Signature` header.
    pub new_key_auth: Auth,
    /// The parameters.
    pub params: Params,
    /// A deliberate fault, if any.
    pub fault: Option<Fault>,
}

impl Request {
    /// A clean request to `endpoint` of `conn` with no authorisation yet.
    pub fn new(conn: impl Into<ConnName>, endpoint: Endpoint) -> Request {
        Request {
            conn: conn.into(),
            endpoint,
            via: Via::Current,
            auth: Auth::None,
            new_key_auth: Auth::None,
            params: Params::default(),
            fault: None,
        }
    }
}

/// What a successful request does, as predicted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The request must be rejected and must change nothing.
    Rejected,
    /// 201 with `recipientURI` and `senderURI`.
    Created,
    /// 200; the body returns exactly these URIs.
    Updated {
        /// `recipientURI` must be returned.
        recipient_uri: bool,
        /// `senderURI` must be returned.
        sender_uri: bool,
    },
    /// 200 with an empty body.
    Deleted,
    /// 200 with messages.
    Retrieved(Selection),
    /// 200 with `{"deleted": n}`.
    DeletedMessages(Selection),
    /// 200 with an empty body.
    Sent,
}

/// The messages a retrieval or deletion selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Candidate messages in order from the start position (those that may be returned).
    pub candidates: Vec<MsgName>,
    /// The smallest number the server may return (PAGE_SIZE unknown makes it a range).
    pub min: usize,
    /// The largest number the server may return.
    pub max: usize,
    /// Whether the selected messages are removed.
    pub removes: bool,
}

impl Selection {
    /// The exact count, when the range is a single number.
    pub fn exact(&self) -> Option<usize> {
        (self.min == self.max).then_some(self.max)
    }
}

/// The responses the binding allows for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    /// Allowed statuses (MUST).
    pub statuses: BTreeSet<u16>,
    /// The rule the prediction rests on.
    pub rule: &'static str,
    /// A narrower set a SHOULD rule prefers, with that rule.
    pub preferred: Option<(BTreeSet<u16>, &'static str)>,
    /// What success means.
    pub outcome: Outcome,
}

impl Prediction {
    fn reject(statuses: &[u16], rule: &'static str) -> Prediction {
        Prediction {
            statuses: statuses.iter().copied().collect(),
            rule,
            preferred: None,
            outcome: Outcome::Rejected,
        }
    }

    fn ok(status: u16, rule: &'static str, outcome: Outcome) -> Prediction {
        Prediction {
            statuses: [status].into_iter().collect(),
            rule,
            preferred: None,
            outcome,
        }
    }

    /// The same refusal with a second fault of a later step of §3.1, which `later` refuses:
    /// any 4xx `later` allows is allowed too, and this prediction's statuses, the earlier
    /// step's, are preferred (B-ORDER). A `later` that does not refuse changes nothing.
    pub fn with_later_fault(mut self, later: &Prediction) -> Prediction {
        if later.outcome != Outcome::Rejected {
            return self;
        }
        let first = self.statuses.clone();
        self.statuses
            .extend(later.statuses.iter().filter(|s| (400..500).contains(*s)));
        if self.statuses != first {
            self.preferred = Some((first, "B-ORDER"));
        }
        self
    }

    /// Whether a status is allowed.
    pub fn allows(&self, status: u16) -> bool {
        self.statuses.contains(&status)
    }
}

/// What the server answered, as far as the model needs it to move on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Observed {
    /// The status.
    pub status: u16,
    /// For retrievals and deletions: how many messages came back (or were deleted).
    pub count: Option<usize>,
}

/// Errors in using the model (a case that names something it never made).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The connection was never created in this case.
    #[error("connection `{0}` was never created in this case; add a create step first")]
    UnknownConnection(String),
    /// A URI version the connection never had.
    #[error("connection `{0}` never had URI version {1}")]
    UnknownVersion(String, usize),
}

/// The model's state: every connection a case or sequence made.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// The server's PAGE_SIZE, when known.
    pub page_size: Option<usize>,
    conns: BTreeMap<ConnName, Conn>,
    /// Connection-ID names of live connections, with the connection that holds each.
    live_cids: BTreeMap<String, ConnName>,
    /// Every message name ever sent, with its connection (for `fromMessageID` of another one).
    sent: BTreeMap<MsgName, ConnName>,
    /// Messages still queued when their connection was deleted (gone with it, S-DEL-PERM).
    gone: BTreeSet<MsgName>,
}

impl Model {
    /// A model of a server with the given PAGE_SIZE (None: unknown).
    pub fn new(page_size: Option<usize>) -> Model {
        Model {
            page_size,
            ..Model::default()
        }
    }

    /// A connection's state.
    pub fn conn(&self, name: &str) -> Option<&Conn> {
        self.conns.get(name)
    }

    /// All connections.
    pub fn conns(&self) -> impl Iterator<Item = (&ConnName, &Conn)> {
        self.conns.iter()
    }

    /// The connection-ID name a create of `conn` with `params` uses.
    pub fn cid_name(conn: &str, params: &Params) -> String {
        params.cid.clone().unwrap_or_else(|| conn.to_string())
    }

    /// The responses the binding allows for `req` in the current state.
    pub fn predict(&self, req: &Request) -> Result<Prediction, ModelError> {
        if req.endpoint == Endpoint::Create {
            return Ok(self.predict_create(req));
        }
        let conn = self
            .conns
            .get(&req.conn)
            .ok_or_else(|| ModelError::UnknownConnection(req.conn.clone()))?;
        // 3.1 step 1: route.
        if req.fault == Some(Fault::UnknownPath) {
            return Ok(Prediction::reject(&[404], "S-GEN-404"));
        }
        let version = match req.via {
            Via::Current => None,
            Via::Version(v) => Some(v),
        };
        let current = if req.endpoint.is_recipient() {
            conn.ru_version
        } else {
            conn.su_version
        };
        if let Some(v) = version {
            if v > current {
                return Err(ModelError::UnknownVersion(req.conn.clone(), v));
            }
        }
        if !conn.live {
            return Ok(Prediction::reject(&[404], "S-DEL-AFTER"));
        }
        if version.is_some_and(|v| v != current) {
            let rule = if req.endpoint.is_recipient() {
                "S-RUPD-OLDURI"
            } else if conn.su_changed_by_sender {
                "S-SUPD-OLDURI"
            } else {
                "S-RUPD-OLDURI"
            };
            return Ok(Prediction::reject(&[404], rule));
        }
        if req.fault == Some(Fault::Method) {
            return Ok(Prediction::reject(&[404, 405], "B-METHOD"));
        }
        // Step 2: body.
        if req.endpoint == Endpoint::Send && req.params.messages.is_empty() && req.fault.is_none() {
            return Ok(Prediction::reject(&[400], "S-SEND-BODY"));
        }
        match req.fault {
            Some(Fault::Oversized) => return Ok(Prediction::reject(&[413, 400], "B-SIZE")),
            Some(Fault::Body) => return Ok(Prediction::reject(&[400], "S-GEN-400")),
            Some(Fault::Prohibited) if req.endpoint == Endpoint::SenderUpdate => {
                return Ok(Prediction::reject(&[401], "S-SUPD-PROHIB"))
            }
            Some(Fault::Prohibited) => return Ok(Prediction::reject(&[400], "S-GEN-400")),
            _ => {}
        }
        // Step 3: connection ID.
        if req.fault == Some(Fault::CidMismatch) {
            return Ok(Prediction::reject(&[404], "S-CID-404"));
        }
        // Step 4: signatures, with the state's refusal as a second fault.
        if let Some(p) = self.check_auth(conn, req) {
            return Ok(p.with_later_fault(&self.predict_state(conn, req)));
        }
        // Step 5: state.
        Ok(self.predict_state(conn, req))
    }

    fn predict_create(&self, req: &Request) -> Prediction {
        match req.fault {
            Some(Fault::UnknownPath) => return Prediction::reject(&[404], "S-GEN-404"),
            Some(Fault::Method) => return Prediction::reject(&[404, 405], "B-METHOD"),
            Some(Fault::Oversized) => return Prediction::reject(&[413, 400], "B-SIZE"),
            Some(Fault::Body) | Some(Fault::Prohibited) | Some(Fault::CidMismatch) => {
                return Prediction::reject(&[400], "S-GEN-400")
            }
            None => {}
        }
        let rk = req.params.recipient.as_deref().unwrap_or_default();
        let cid = Model::cid_name(&req.conn, &req.params);
        let taken = self.live_cids.contains_key(&cid);
        let in_use = Prediction::reject(&[409], "S-CREATE-409");
        if req.auth != Auth::Key(rk.to_string()) {
            let p = Prediction::reject(&[401], "S-CREATE-SIGN");
            return if taken {
                p.with_later_fault(&in_use)
            } else {
                p
            };
        }
        if taken {
            return in_use;
        }
        if let Some(existing) = self.conns.get(&req.conn) {
            if existing.live {
                // The case reuses a live connection's name: a different ID, but the runner would
                // lose track of the first connection.
                return Prediction::reject(&[409], "S-CREATE-409");
            }
        }
        Prediction::ok(201, "S-CREATE-201", Outcome::Created)
    }

    fn check_auth(&self, conn: &Conn, req: &Request) -> Option<Prediction> {
        let holds = |key: &Option<KeyName>| match (&req.auth, key) {
            (Auth::Key(k), Some(cur)) => k == cur,
            _ => false,
        };
        let other_party = holds;
        let retired = |retired: &BTreeSet<KeyName>| match &req.auth {
            Auth::Key(k) => retired.contains(k),
            _ => false,
        };
        if req.endpoint.is_recipient() {
            if !holds(&Some(conn.rk.clone())) {
                let rule = if other_party(&conn.sk) {
                    "S-G-KEYS"
                } else if retired(&conn.retired_rk) {
                    "S-RUPD-OLDKEY"
                } else {
                    "B-SIG-HDR"
                };
                return Some(Prediction::reject(&[401], rule));
            }
            if req.endpoint == Endpoint::Update {
                if let Some(new_rk) = &req.params.recipient {
                    if req.new_key_auth != Auth::Key(new_rk.clone()) {
                        return Some(Prediction::reject(&[401], "B-SIG-NEWKEY"));
                    }
                }
            }
            return None;
        }
        match req.endpoint {
            Endpoint::SenderUpdate => {
                if conn.sk.is_none() {
                    return Some(Prediction::reject(&[401], "S-SUPD-KEY"));
                }
                if !holds(&conn.sk) {
                    let rule = if other_party(&Some(conn.rk.clone())) {
                        "S-G-KEYS"
                    } else if retired(&conn.retired_sk) {
                        conn.sk_rule()
                    } else {
                        "B-SIG-HDR"
                    };
                    return Some(Prediction::reject(&[401], rule));
                }
                if let Some(new_sk) = &req.params.sender {
                    if req.new_key_auth != Auth::Key(new_sk.clone()) {
                        return Some(Prediction::reject(&[401], "B-SIG-NEWKEY"));
                    }
                }
                None
            }
            Endpoint::Send => {
                if conn.sk.is_none() || holds(&conn.sk) {
                    return None;
                }
                let rule = if other_party(&Some(conn.rk.clone())) {
                    "S-G-KEYS"
                } else if retired(&conn.retired_sk) {
                    conn.sk_rule()
                } else {
                    "S-G-SIGNED-ONLY"
                };
                Some(Prediction::reject(&[401], rule))
            }
            _ => None,
        }
    }

    fn predict_state(&self, conn: &Conn, req: &Request) -> Prediction {
        let p = &req.params;
        match req.endpoint {
            Endpoint::Create => unreachable!("create is predicted separately"),
            Endpoint::Update => {
                if conn.sk.is_none() && p.sender.is_none() {
                    return Prediction::reject(&[400], "S-RUPD-FIRST");
                }
                Prediction::ok(
                    200,
                    "S-RUPD-200",
                    Outcome::Updated {
                        recipient_uri: p.new_recipient_uri == Some(true),
                        sender_uri: p.new_sender_uri == Some(true),
                    },
                )
            }
            Endpoint::SenderUpdate => Prediction::ok(
                200,
                "S-SUPD-200",
                Outcome::Updated {
                    recipient_uri: false,
                    sender_uri: p.new_sender_uri == Some(true),
                },
            ),
            Endpoint::Delete => Prediction::ok(200, "S-DEL-200", Outcome::Deleted),
            Endpoint::Retrieve | Endpoint::DeleteMessages => {
                let start = match &p.from {
                    None => 0,
                    Some(m) => match conn.queue.iter().position(|q| q == m) {
                        Some(i) => i,
                        None => {
                            let rule = if req.endpoint == Endpoint::Retrieve {
                                if conn.removed.contains(m) {
                                    "S-PRIV-NOHIST-MSG"
                                } else {
                                    "S-RETR-400"
                                }
                            } else {
                                "S-DELM-400"
                            };
                            return Prediction::reject(&[400], rule);
                        }
                    },
                };
                let candidates: Vec<MsgName> = conn.queue.iter().skip(start).cloned().collect();
                let avail = candidates.len();
                let requested = p.page_size.map(|n| n.min(usize::MAX as u64) as usize);
                let (min, max) = if req.endpoint == Endpoint::Retrieve {
                    let cap = match (requested, self.page_size) {
                        (Some(r), Some(ps)) => Some(r.min(ps)),
                        (None, Some(ps)) => Some(ps),
                        (Some(r), None) => {
                            // PAGE_SIZE unknown but ≥ 1: anything from 1 to r.
                            return Prediction::ok(
                                200,
                                "S-RETR-PAGE",
                                Outcome::Retrieved(Selection {
                                    min: avail.min(1),
                                    max: avail.min(r),
                                    candidates,
                                    removes: p.keep != Some(true),
                                }),
                            );
                        }
                        (None, None) => None,
                    };
                    match cap {
                        Some(c) => (avail.min(c), avail.min(c)),
                        None => (avail.min(1), avail),
                    }
                } else {
                    let n = requested.map_or(avail, |r| r.min(avail));
                    (n, n)
                };
                let sel = Selection {
                    candidates,
                    min,
                    max,
                    removes: req.endpoint == Endpoint::DeleteMessages || p.keep != Some(true),
                };
                if req.endpoint == Endpoint::Retrieve {
                    Prediction::ok(200, "S-RETR-200", Outcome::Retrieved(sel))
                } else {
                    Prediction::ok(200, "S-DELM-SEL", Outcome::DeletedMessages(sel))
                }
            }
            Endpoint::Send => {
                if conn.disabled {
                    let mut p =
                        Prediction::reject(&(400..500).collect::<Vec<_>>(), conn.disabled_rule());
                    p.preferred = Some(([403].into_iter().collect(), "B-SEND-DISABLED"));
                    return p;
                }
                Prediction::ok(200, "S-SEND-200", Outcome::Sent)
            }
        }
    }

    /// Move the state on after the server answered `observed` to `req`, predicted as `pred`.
    ///
    /// A non-2xx answer changes nothing. A 2xx answer applies the predicted outcome; for
    /// retrievals and deletions `observed.count` says how many messages were selected.
    pub fn commit(&mut self, req: &Request, pred: &Prediction, observed: Observed) {
        if !(200..300).contains(&observed.status) {
            return;
        }
        let p = &req.params;
        match (&pred.outcome, req.endpoint) {
            (Outcome::Created, _) => {
                let cid = Model::cid_name(&req.conn, p);
                let conn = Conn::new(
                    cid.clone(),
                    p.recipient.clone().unwrap_or_default(),
                    p.sender.clone(),
                    p.disabled == Some(true),
                );
                self.live_cids.insert(cid, req.conn.clone());
                self.conns.insert(req.conn.clone(), conn);
            }
            (Outcome::Rejected, _) => {}
            (Outcome::Updated { .. }, Endpoint::Update) => {
                if let Some(conn) = self.conns.get_mut(&req.conn) {
                    conn.apply_update(p);
                }
            }
            (Outcome::Updated { .. }, _) => {
                if let Some(conn) = self.conns.get_mut(&req.conn) {
                    conn.apply_sender_update(p);
                }
            }
            (Outcome::Deleted, _) => {
                if let Some(conn) = self.conns.get_mut(&req.conn) {
                    conn.live = false;
                    let gone: Vec<MsgName> = conn.queue.drain(..).collect();
                    self.gone.extend(gone.iter().cloned());
                    conn.removed.extend(gone);
                    self.live_cids.remove(&conn.cid);
                }
            }
            (Outcome::Retrieved(sel), _) | (Outcome::DeletedMessages(sel), _) => {
                let n = observed.count.unwrap_or(sel.max).min(sel.candidates.len());
                if sel.removes {
                    if let Some(conn) = self.conns.get_mut(&req.conn) {
                        for m in &sel.candidates[..n] {
                            conn.queue.retain(|q| q != m);
                            conn.removed.insert(m.clone());
                        }
                    }
                }
                if req.endpoint == Endpoint::Retrieve && self.page_size.is_none() {
                    // A short page without pageSize reveals PAGE_SIZE.
                    if p.page_size.is_none() && n < sel.candidates.len() && n > 0 {
                        self.page_size = Some(n);
                    }
                }
            }
            (Outcome::Sent, _) => {
                if let Some(conn) = self.conns.get_mut(&req.conn) {
                    conn.queue.extend(p.messages.iter().cloned());
                }
                for m in &p.messages {
                    self.sent.insert(m.clone(), req.conn.clone());
                }
            }
        }
    }

    /// Whether message `msg` was queued on its connection when that connection was deleted.
    pub fn gone_with_connection(&self, msg: &str) -> bool {
        self.gone.contains(msg)
    }

    /// The connection that a message name was sent to, if any.
    pub fn message_conn(&self, msg: &str) -> Option<&ConnName> {
        self.sent.get(msg)
    }
}

#[cfg(test)]
mod tests;
