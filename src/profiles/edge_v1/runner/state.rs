//! The state of one case while it runs: names bound to keys, connections and messages, the
//! model, the exchanges so far, and how a step that did not pass ended.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use url::Url;

use super::error::StepError;
use crate::client::Exchange;
use crate::engine::event::{Failure, Verdict};
use crate::profiles::edge_v1::case::{Case, Level};
use crate::profiles::edge_v1::context::Context;
use crate::profiles::edge_v1::model::Model;
use crate::profiles::edge_v1::sign::{Key, SpecialKey};
use crate::profiles::edge_v1::wire;

/// A connection as the runner knows it: its real ID and every URI it had.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// The connectionID sent to the server.
    pub cid: String,
    /// Every RU, oldest first.
    pub ru: Vec<Url>,
    /// Every SU, oldest first.
    pub su: Vec<Url>,
    /// Index of the server it lives on.
    pub server: usize,
}

/// How a step ended, when it did not simply pass.
#[derive(Debug)]
pub struct StepFailure {
    /// The verdict it implies.
    pub verdict: Verdict,
    /// Message for reports.
    pub message: String,
    /// Details.
    pub failure: Failure,
}

impl StepFailure {
    /// Step `n` could not be built or predicted (a case error).
    pub fn setup(n: usize, e: &StepError) -> StepFailure {
        let m = e.to_string();
        StepFailure {
            verdict: Verdict::Error,
            message: format!("step {n}: {m}"),
            failure: Failure {
                also: Vec::new(),
                step: n,
                rule: String::new(),
                expected: String::new(),
                actual: m,
            },
        }
    }
}

/// Step `n` broke `rule`: `expected` one thing, got `actual`.
pub fn failure(
    verdict: Verdict,
    n: usize,
    rule: &str,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> StepFailure {
    let (expected, actual) = (expected.into(), actual.into());
    StepFailure {
        verdict,
        message: format!("step {n}: {rule}: expected {expected}, got {actual}"),
        failure: Failure {
            also: Vec::new(),
            step: n,
            rule: rule.into(),
            expected,
            actual,
        },
    }
}

/// The verdict for a failed explicit expectation of a case at `level`.
pub fn level_verdict(level: Level) -> Verdict {
    match level {
        Level::Must => Verdict::Fail,
        Level::Should | Level::May => Verdict::Warn,
    }
}

/// Key names that stand for a fixed value (never a signer of their own).
const VALUE_ONLY_KEYS: [&str; 5] = ["rsa1024", "rsa2047", "ec-p256", "pkcs1", "garbage"];

/// The bindings of a run that a later run can start from.
#[derive(Clone)]
pub struct Snapshot {
    model: Model,
    keys: HashMap<String, Arc<Key>>,
    conns: HashMap<String, Live>,
    msgs: HashMap<String, String>,
    msg_ids: HashMap<String, String>,
}

/// The state of one case while it runs.
pub struct CaseRun<'a> {
    /// Shared state.
    pub(super) ctx: &'a Context,
    /// The model of the server for this case.
    pub(super) model: Model,
    /// Keys bound to names.
    pub(super) keys: HashMap<String, Arc<Key>>,
    /// Connections bound to names.
    pub(super) conns: HashMap<String, Live>,
    /// Ciphertexts bound to message names.
    pub(super) msgs: HashMap<String, String>,
    /// Server ids learned for message names.
    pub(super) msg_ids: HashMap<String, String>,
    /// Timestamps first seen for message names (kept messages must not change).
    pub(super) msg_ts: HashMap<String, String>,
    /// Every exchange so far.
    pub(super) exchanges: Vec<Exchange>,
    /// Signatures made.
    pub(super) signatures: usize,
    /// The case level (for explicit expectations).
    pub(super) level: Level,
    /// The case's rules.
    pub(super) rules: Vec<String>,
    /// A SHOULD-level deviation noticed on the way (reported if nothing fails).
    pub(super) warning: Option<StepFailure>,
    /// A waiver noticed on the way.
    pub(super) waived: Option<String>,
    /// A probe found the capability it checks absent (verdict skip, with the reason).
    pub(super) skipped: Option<String>,
    /// Old URIs the server was seen to refuse (see `expect::old_uri_refusal`): one that works
    /// again later was kept.
    pub(super) refused_uris: HashSet<String>,
    /// Messages of sends the server refused, with the rule that says such a refusal stores
    /// nothing (see `CaseRun::note_refused_send`).
    pub(super) refused_msgs: HashMap<String, &'static str>,
    /// Connections that had a send refused, with that rule (the latest refusal).
    pub(super) refused_sends: HashMap<String, &'static str>,
    /// Connections that had a PUT refused, with what it asked for (`ru`, `su`, `rk`, `sk`,
    /// `disabled`): a refused PUT changes nothing (B-RUPD-ATOMIC).
    pub(super) refused_updates: HashMap<String, BTreeSet<&'static str>>,
    /// Messages whose latest retrieval kept them (`keepMessages: true`).
    pub(super) kept: HashSet<String>,
}

impl<'a> CaseRun<'a> {
    /// A fresh run for `case`.
    pub fn new(ctx: &'a Context, case: &Case) -> CaseRun<'a> {
        CaseRun {
            ctx,
            model: Model::new(ctx.page_size),
            keys: HashMap::new(),
            conns: HashMap::new(),
            msgs: HashMap::new(),
            msg_ids: HashMap::new(),
            msg_ts: HashMap::new(),
            exchanges: Vec::new(),
            signatures: 0,
            level: case.level,
            rules: case.requirements.clone(),
            warning: None,
            waived: None,
            skipped: None,
            refused_uris: HashSet::new(),
            refused_msgs: HashMap::new(),
            refused_sends: HashMap::new(),
            refused_updates: HashMap::new(),
            kept: HashSet::new(),
        }
    }

    /// The shared state of the run.
    pub fn ctx(&self) -> &'a Context {
        self.ctx
    }

    /// The model of the server as this run has driven it.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The connection bound to `name`, once created.
    pub fn connection(&self, name: &str) -> Option<&Live> {
        self.conns.get(name)
    }

    /// Every connection created so far, with its name.
    pub fn connections(&self) -> impl Iterator<Item = (&String, &Live)> {
        self.conns.iter()
    }

    /// The server id learned for message `name`.
    pub fn message_id(&self, name: &str) -> Option<&str> {
        self.msg_ids.get(name).map(String::as_str)
    }

    /// Every exchange so far, oldest first.
    pub fn exchanges(&self) -> &[Exchange] {
        &self.exchanges
    }

    /// Take the exchanges so far, leaving none (each keeps at most
    /// [`RETAINED_BODY`](crate::client::RETAINED_BODY) body bytes).
    pub fn take_exchanges(&mut self) -> Vec<Exchange> {
        let mut all = std::mem::take(&mut self.exchanges);
        for ex in &mut all {
            ex.trim_bodies(crate::client::RETAINED_BODY);
        }
        all
    }

    /// Keep `ex` as the latest exchange. Only the latest keeps its whole body (probes read
    /// it); the earlier ones keep the head of theirs, so a case holds one large body at most.
    pub fn record(&mut self, ex: Exchange) {
        if let Some(last) = self.exchanges.last_mut() {
            last.trim_bodies(crate::client::RETAINED_BODY);
        }
        self.exchanges.push(ex);
    }

    /// Signatures made so far.
    pub fn signatures(&self) -> usize {
        self.signatures
    }

    /// Judge explicit expectations by `rules` (the first is reported) at `level`.
    pub fn judge_by(&mut self, rules: Vec<String>, level: Level) {
        self.rules = rules;
        self.level = level;
    }

    /// The model and the names bound so far.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            model: self.model.clone(),
            keys: self.keys.clone(),
            conns: self.conns.clone(),
            msgs: self.msgs.clone(),
            msg_ids: self.msg_ids.clone(),
        }
    }

    /// Continue from `snapshot`: its model and names replace this run's.
    pub fn restore(&mut self, snapshot: Snapshot) {
        self.model = snapshot.model;
        self.keys = snapshot.keys;
        self.conns = snapshot.conns;
        self.msgs = snapshot.msgs;
        self.msg_ids = snapshot.msg_ids;
    }

    /// The verdict of a failed explicit expectation in this case.
    pub fn level_verdict(&self) -> Verdict {
        level_verdict(self.level)
    }

    /// The key bound to `name`, binding a fresh pool key on first use.
    pub fn key(&mut self, name: &str) -> Arc<Key> {
        if let Some(k) = self.keys.get(name) {
            return k.clone();
        }
        let k = match name {
            "rsa3072" => self
                .ctx
                .pool
                .take_sized(3072)
                .unwrap_or_else(|_| self.ctx.pool.take()),
            "rsa4096" => self
                .ctx
                .pool
                .take_sized(4096)
                .unwrap_or_else(|_| self.ctx.pool.take()),
            _ => self.ctx.pool.take(),
        };
        self.keys.insert(name.to_string(), k.clone());
        k
    }

    /// The key that signs as `name` (a value-only name signs with a pool key of its own).
    pub(super) fn signing_key(&mut self, name: &str) -> Arc<Key> {
        if VALUE_ONLY_KEYS.contains(&name) {
            self.key(&format!("{name}.signer"))
        } else {
            self.key(name)
        }
    }

    /// The base64 value of a key as it goes in a body.
    pub fn key_value(&mut self, name: &str) -> String {
        if VALUE_ONLY_KEYS.contains(&name) {
            let kind: SpecialKey = name.parse().expect("value-only key names are special keys");
            return wire::b64(self.ctx.pool.special(kind));
        }
        self.key(name).spki_base64()
    }

    /// The ciphertext bound to a message name (made on first use).
    pub fn msg(&mut self, name: &str) -> String {
        self.msgs
            .entry(name.to_string())
            .or_insert_with(|| {
                let len = 24 + rand::random::<u8>() as usize % 40;
                let bytes: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
                wire::b64(&bytes)
            })
            .clone()
    }

    /// The connection bound to `conn`, or the case error of naming one never created.
    pub(super) fn live(&self, conn: &str) -> Result<&Live, StepError> {
        self.conns
            .get(conn)
            .ok_or_else(|| StepError::UnknownConnection(conn.to_string()))
    }

    /// The id learned for message `name`, or the case error of needing it too early.
    pub(super) fn known_msg_id(&self, name: &str) -> Result<String, StepError> {
        self.msg_ids
            .get(name)
            .cloned()
            .ok_or_else(|| StepError::UnknownMessageId(name.to_string()))
    }

    /// Record the URIs of a new connection `conn`.
    pub(super) fn created(&mut self, conn: &str, cid: String, ru: Url, su: Url) {
        let server = self.conns.get(conn).map_or(0, |l| l.server);
        self.conns.insert(
            conn.to_string(),
            Live {
                cid,
                ru: vec![ru],
                su: vec![su],
                server,
            },
        );
    }
}
