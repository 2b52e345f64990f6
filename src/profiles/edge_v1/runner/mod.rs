//! Runs one case: builds each step's request from the symbolic state, applies its overrides,
//! signs, sends, and checks the answer against the step's expectations or the model.

mod expect;
pub mod probes;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};
use url::Url;

use super::context::Context;
use crate::client::{Exchange, Request as HttpRequest};
use crate::engine::event::{CheckResult, Failure, Verdict};
use crate::profiles::edge_v1::case::{parse_via, Case, Level, Need, Op, Step};
use crate::profiles::edge_v1::model::{self, Auth, Endpoint, Model, Observed, Params, Via};
use crate::profiles::edge_v1::sign::{self, Key, SigFault, SpecialKey};
use crate::profiles::edge_v1::wire;
use expect::StepOutcome;

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

/// The state of one case while it runs.
pub struct CaseRun<'a> {
    /// Shared state.
    pub ctx: &'a Context,
    /// The model of the server for this case.
    pub model: Model,
    /// Keys bound to names.
    pub keys: HashMap<String, Arc<Key>>,
    /// Connections bound to names.
    pub conns: HashMap<String, Live>,
    /// Ciphertexts bound to message names.
    pub msgs: HashMap<String, String>,
    /// Server ids learned for message names.
    pub msg_ids: HashMap<String, String>,
    /// Timestamps first seen for message names (kept messages must not change).
    pub msg_ts: HashMap<String, String>,
    /// Every exchange so far.
    pub exchanges: Vec<Exchange>,
    /// Signatures made.
    pub signatures: usize,
    /// The case level (for explicit expectations).
    pub level: Level,
    /// The case's rules.
    pub rules: Vec<String>,
    /// A SHOULD-level deviation noticed on the way (reported if nothing fails).
    pub warning: Option<StepFailure>,
    /// A waiver noticed on the way.
    pub waived: Option<String>,
    /// A probe found the capability it checks absent (verdict skip, with the reason).
    pub skipped: Option<String>,
}

const VALUE_ONLY_KEYS: [&str; 4] = ["rsa1024", "ec-p256", "pkcs1", "garbage"];

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
        }
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

    fn live(&self, conn: &str) -> Result<&Live, String> {
        self.conns.get(conn).ok_or_else(|| {
            format!("connection `{conn}` was never created in this case; add a create step first")
        })
    }

    /// Resolve `{"$key": ..}` (with an optional `"encoding": "base64url"`), `{"$cid": ..}`, `{"$msgId": ..}`, `{"$msg": ..}`, `{"$repeat": ..}`.
    pub fn resolve(&mut self, v: &Value) -> Result<Value, String> {
        match v {
            Value::Object(o) if o.len() <= 2 && o.keys().any(|k| k.starts_with('$')) => {
                if let Some(Value::String(k)) = o.get("$key") {
                    let value = self.key_value(k);
                    return match o.get("encoding") {
                        None => Ok(Value::String(value)),
                        Some(Value::String(e)) if e == "base64url" => {
                            if !value.contains(['+', '/']) {
                                return Err(format!(
                                    "key `{k}` has no `+` or `/` in base64, so its base64url form is the same; use another key"
                                ));
                            }
                            Ok(Value::String(
                                value
                                    .replace('+', "-")
                                    .replace('/', "_")
                                    .trim_end_matches('=')
                                    .to_owned(),
                            ))
                        }
                        Some(other) => Err(format!(
                            "unknown key encoding {other}; the only one is \"base64url\""
                        )),
                    };
                }
                if let Some(Value::String(c)) = o.get("$cid") {
                    return Ok(Value::String(self.live(c)?.cid.clone()));
                }
                if let Some(Value::String(m)) = o.get("$msgId") {
                    return self.msg_ids.get(m).cloned().map(Value::String).ok_or_else(|| {
                        format!("the id of message `{m}` is not known yet; retrieve it with keepMessages first")
                    });
                }
                if let Some(Value::String(m)) = o.get("$msg") {
                    return Ok(Value::String(self.msg(m)));
                }
                if let Some(Value::String(s)) = o.get("$repeat") {
                    let n = o.get("times").and_then(Value::as_u64).unwrap_or(1) as usize;
                    return Ok(Value::String(s.repeat(n.min(64 << 20))));
                }
                Err(format!("unknown reference {v}"))
            }
            Value::Object(o) => {
                let mut out = Map::new();
                for (k, x) in o {
                    out.insert(k.clone(), self.resolve(x)?);
                }
                Ok(Value::Object(out))
            }
            Value::Array(a) => a
                .iter()
                .map(|x| self.resolve(x))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    /// Replace `{cid:NAME}` (a connection's ID) and `{key:NAME}` (a key's base64 SPKI) in a raw
    /// body text.
    fn fill_template(&mut self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let tail = &rest[start..];
            let end = tail
                .bytes()
                .take(256)
                .position(|b| b == b'}')
                .map(|e| e + 1);
            let token = end.map(|e| &tail[1..e - 1]);
            match token.and_then(|t| t.split_once(':')) {
                Some(("cid", name)) => out.push_str(&self.live(name)?.cid.clone()),
                Some(("key", name)) => out.push_str(&self.key_value(name)),
                _ => {
                    out.push('{');
                    rest = &tail[1..];
                    continue;
                }
            }
            rest = &tail[end.unwrap_or(tail.len())..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The abstract parameters of a step.
    fn params(step: &Step, endpoint: Endpoint) -> Params {
        let recipient = match (&step.recipient, endpoint) {
            (None, Endpoint::Create) => Some(format!("{}.rk", step.conn)),
            (r, _) => r.clone(),
        };
        Params {
            cid: step.cid.clone(),
            recipient,
            sender: step.sender.clone(),
            disabled: step.disabled,
            new_recipient_uri: step.new_recipient_uri,
            new_sender_uri: step.new_sender_uri,
            page_size: step.page_size,
            from: step.from_message.clone(),
            keep: step.keep_messages,
            messages: step.messages.clone().unwrap_or_default(),
        }
    }

    /// Build the canonical JSON body of a step (before overrides).
    fn canonical_body(
        &mut self,
        step: &Step,
        endpoint: Endpoint,
    ) -> Result<Map<String, Value>, String> {
        let mut b = Map::new();
        let cid = if endpoint == Endpoint::Create {
            match &step.cid {
                Some(other) => self.live(other)?.cid.clone(),
                None => wire::connection_id(),
            }
        } else {
            self.live(&step.conn)?.cid.clone()
        };
        b.insert("connectionID".into(), Value::String(cid));
        if endpoint == Endpoint::Create {
            let rk = step
                .recipient
                .clone()
                .unwrap_or_else(|| format!("{}.rk", step.conn));
            b.insert("recipient".into(), Value::String(self.key_value(&rk)));
        } else if let Some(rk) = &step.recipient {
            b.insert("recipient".into(), Value::String(self.key_value(rk)));
        }
        if let Some(sk) = &step.sender {
            b.insert("sender".into(), Value::String(self.key_value(sk)));
        }
        if let Some(v) = step.new_recipient_uri {
            b.insert("newRecipientURI".into(), Value::Bool(v));
        }
        if let Some(v) = step.new_sender_uri {
            b.insert("newSenderURI".into(), Value::Bool(v));
        }
        if let Some(v) = step.disabled {
            b.insert("disabled".into(), Value::Bool(v));
        }
        if let Some(n) = step.page_size {
            b.insert("pageSize".into(), Value::from(n));
        }
        if let Some(m) = &step.from_message {
            // A name starting with `unknown` stands for an id the server never issued.
            if m.starts_with("unknown") {
                let id = self
                    .msg_ids
                    .entry(m.clone())
                    .or_insert_with(wire::connection_id);
                b.insert("fromMessageID".into(), Value::String(id.clone()));
            }
            let id = self.msg_ids.get(m).cloned().ok_or_else(|| {
                format!(
                    "the id of message `{m}` is not known yet; retrieve it with keepMessages first"
                )
            })?;
            b.insert("fromMessageID".into(), Value::String(id));
        }
        if let Some(k) = step.keep_messages {
            b.insert("keepMessages".into(), Value::Bool(k));
        }
        if let Some(ms) = &step.messages {
            let arr = ms
                .iter()
                .map(|m| {
                    let mut o = Map::new();
                    o.insert("msg".into(), Value::String(self.msg(m)));
                    Value::Object(o)
                })
                .collect();
            b.insert("messages".into(), Value::Array(arr));
        }
        Ok(b)
    }

    /// The final body bytes after the step's body overrides.
    fn body_bytes(&mut self, step: &Step, endpoint: Endpoint) -> Result<Vec<u8>, String> {
        if let Some(t) = &step.raw_body {
            return Ok(self.fill_template(t)?.into_bytes());
        }
        if let Some(b) = &step.raw_body_base64 {
            return wire::unb64(b).map_err(|e| format!("rawBodyBase64 is not base64: {e}"));
        }
        let mut body = match &step.body {
            Some(v) => self.resolve(v)?,
            None => Value::Object(self.canonical_body(step, endpoint)?),
        };
        if let Some(set) = &step.set {
            let set = self.resolve(&Value::Object(set.clone()))?;
            if let (Value::Object(b), Value::Object(s)) = (&mut body, set) {
                for (k, v) in s {
                    b.insert(k, v);
                }
            }
        }
        if let Some(paths) = &step.set_path {
            for (ptr, v) in paths.clone() {
                let v = self.resolve(&v)?;
                set_pointer(&mut body, &ptr, v)?;
            }
        }
        for name in step.omit.iter().flatten() {
            let ptr = if name.starts_with('/') {
                name.clone()
            } else {
                format!("/{name}")
            };
            remove_pointer(&mut body, &ptr);
        }
        // Remember what was really sent as each named message.
        if let (Some(names), Some(Value::Array(arr))) = (&step.messages, body.get("messages")) {
            for (name, m) in names.iter().zip(arr) {
                if let Some(Value::String(s)) = m.get("msg") {
                    self.msgs.insert(name.clone(), s.clone());
                }
            }
        }
        let mut bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        if let Some(tail) = &step.append_body {
            bytes.extend_from_slice(tail.as_bytes());
        }
        Ok(bytes)
    }

    /// The URL a step goes to (before `path` overrides).
    fn url(&self, step: &Step, endpoint: Endpoint) -> Result<Url, String> {
        let mut url = if endpoint == Endpoint::Create {
            let server = self.conns.get(&step.conn).map_or(0, |l| l.server);
            self.ctx.servers[server.min(self.ctx.servers.len() - 1)].clone()
        } else {
            let live = self.live(&step.conn)?;
            let (list, which) = if endpoint.is_recipient() {
                (&live.ru, "ru")
            } else {
                (&live.su, "su")
            };
            let idx = match step.via.as_deref().and_then(parse_via) {
                Some((is_ru, n)) => {
                    if is_ru != endpoint.is_recipient() {
                        return Err(format!(
                            "via {} does not fit {}",
                            step.via.as_deref().unwrap_or(""),
                            endpoint.name()
                        ));
                    }
                    n
                }
                None => list.len() - 1,
            };
            list.get(idx)
                .cloned()
                .ok_or_else(|| format!("connection `{}` never had {which}@{idx}", step.conn))?
        };
        if endpoint.is_messages() {
            let p = format!("{}/messages", url.path());
            url.set_path(&p);
        }
        if let Some(sfx) = &step.path_suffix {
            let p = format!("{}{sfx}", url.path());
            url.set_path(&p);
        }
        Ok(url)
    }

    /// The key that signs by default, by the binding's table.
    fn default_signer(&self, step: &Step, endpoint: Endpoint) -> Option<String> {
        match endpoint {
            Endpoint::Create => Some(
                step.recipient
                    .clone()
                    .unwrap_or_else(|| format!("{}.rk", step.conn)),
            ),
            e if e.is_recipient() => self.model.conn(&step.conn).map(|c| c.rk.clone()),
            _ => self.model.conn(&step.conn).and_then(|c| c.sk.clone()),
        }
    }

    /// Run one protocol step. `Ok(())` when its expectations held.
    pub async fn protocol_step(
        &mut self,
        n: usize,
        step: &Step,
        endpoint: Endpoint,
    ) -> Result<(), StepFailure> {
        let setup = |m: String| StepFailure {
            verdict: Verdict::Error,
            message: format!("step {n}: {m}"),
            failure: Failure {
                step: n,
                rule: String::new(),
                expected: String::new(),
                actual: m,
            },
        };
        let body = self.body_bytes(step, endpoint).map_err(setup)?;
        let url = self.url(step, endpoint).map_err(setup)?;
        let method = step
            .method
            .clone()
            .unwrap_or_else(|| endpoint.method().to_string());
        let target = step.path.as_ref().map(|p| p.replace("{path}", url.path()));
        let mut req = HttpRequest {
            method: method.clone(),
            url,
            target,
            headers: Vec::new(),
            body,
        };
        match &step.content_type {
            None => req
                .headers
                .push(("Content-Type".into(), b"application/json".to_vec())),
            Some(None) => {}
            Some(Some(v)) => {
                for ct in v.values() {
                    req.headers.push(("Content-Type".into(), ct.into_bytes()));
                }
            }
        }
        for (k, v) in step.headers.iter().flatten() {
            req.headers.push((k.clone(), v.clone().into_bytes()));
        }
        let path = req.request_target();

        // Authorization.
        let signer = match &step.sign_with {
            Some(s) => s.clone(),
            None => self.default_signer(step, endpoint),
        };
        let signed = SignedHeader {
            name: "Authorization",
            signer,
            fault: step.sig_fault,
            literals: step.authorization.as_deref(),
            scheme: true,
        };
        let auth = self.add_signature(&mut req, signed, &method, &path);

        // EM-New-Key-Signature: by default made with the key the request replaces.
        let new_key = match endpoint {
            Endpoint::Update => step.recipient.clone(),
            Endpoint::SenderUpdate => step.sender.clone(),
            _ => None,
        };
        let signed = SignedHeader {
            name: "EM-New-Key-Signature",
            signer: step.new_key_sig_with.clone().unwrap_or(new_key),
            fault: step.new_key_sig_fault,
            literals: step.new_key_signature.as_deref(),
            scheme: false,
        };
        let new_key_auth = self.add_signature(&mut req, signed, &method, &path);

        // The model's view.
        let via = match step.via.as_deref().and_then(parse_via) {
            Some((_, v)) => Via::Version(v),
            None => Via::Current,
        };
        let mreq = model::Request {
            conn: step.conn.clone(),
            endpoint,
            via,
            auth,
            new_key_auth,
            params: Self::params(step, endpoint),
            fault: step.fault,
        };
        let pred = self
            .model
            .predict(&mreq)
            .map_err(|e| setup(e.to_string()))?;

        let ex = self.ctx.client.execute(req).await;
        let result = expect::check(self, n, step, endpoint, &pred, &ex);
        self.exchanges.push(ex);
        match result {
            Ok(StepOutcome { status, count }) => {
                self.model.commit(&mreq, &pred, Observed { status, count });
                Ok(())
            }
            Err(f) => Err(f),
        }
    }

    /// Add a signature header to `req` and say what the model sees in it.
    fn add_signature(
        &mut self,
        req: &mut HttpRequest,
        h: SignedHeader<'_>,
        method: &str,
        path: &str,
    ) -> Auth {
        let Some(name) = h.signer else {
            for v in h.literals.into_iter().flatten() {
                req.headers.push((h.name.into(), v.clone().into_bytes()));
            }
            return if h.literals.is_some() {
                Auth::Bad
            } else {
                Auth::None
            };
        };
        let key = if VALUE_ONLY_KEYS.contains(&name.as_str()) {
            self.key(&format!("{name}.signer"))
        } else {
            self.key(&name)
        };
        let other = match h.fault {
            Some(SigFault::OtherKey) => self.key("$other"),
            _ => key.clone(),
        };
        let token = sign::signature_token(&key, &other, method, path, &req.body, h.fault);
        self.signatures += 1;
        let values: Vec<String> = match h.literals {
            Some(lits) => lits.iter().map(|l| l.replace("{sig}", &token)).collect(),
            None if h.scheme => vec![sign::authorization(&token)],
            None => vec![token],
        };
        for v in values {
            req.headers.push((h.name.into(), v.into_bytes()));
        }
        // A literal that is still one well-formed field with the right token (such as a
        // lower-case scheme) is a valid signature for the model.
        let literal_ok = h.literals.is_none_or(|lits| {
            lits.len() == 1
                && if h.scheme {
                    lits[0].split_once(' ').is_some_and(|(scheme, t)| {
                        scheme.eq_ignore_ascii_case(sign::AUTH_SCHEME) && t == "{sig}"
                    })
                } else {
                    lits[0] == "{sig}"
                }
        });
        if h.fault.is_none() && literal_ok {
            Auth::Key(name)
        } else {
            Auth::Bad
        }
    }

    /// Record the URIs of a new connection.
    pub fn created(&mut self, step: &Step, cid: String, ru: Url, su: Url) {
        let server = self.conns.get(&step.conn).map_or(0, |l| l.server);
        self.conns.insert(
            step.conn.clone(),
            Live {
                cid,
                ru: vec![ru],
                su: vec![su],
                server,
            },
        );
    }
}

/// One signature header of a step: who signs, with which fault, or which literal values.
struct SignedHeader<'s> {
    name: &'static str,
    signer: Option<String>,
    fault: Option<SigFault>,
    literals: Option<&'s [String]>,
    /// `Authorization` carries the `EMSig` scheme; `EM-New-Key-Signature` is a bare token.
    scheme: bool,
}

/// Set the value at a JSON pointer, creating the last member if needed.
fn set_pointer(root: &mut Value, ptr: &str, v: Value) -> Result<(), String> {
    let (parent, last) = ptr
        .rsplit_once('/')
        .ok_or_else(|| format!("`{ptr}` is not a JSON pointer"))?;
    let last = last.replace("~1", "/").replace("~0", "~");
    let target = if parent.is_empty() {
        Some(root)
    } else {
        root.pointer_mut(parent)
    };
    match target {
        Some(Value::Object(o)) => {
            o.insert(last, v);
            Ok(())
        }
        Some(Value::Array(a)) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => {
                a[i] = v;
                Ok(())
            }
            Ok(i) if i == a.len() => {
                a.push(v);
                Ok(())
            }
            _ => Err(format!("`{ptr}`: no such array index")),
        },
        _ => Err(format!("`{ptr}`: no such place in the body")),
    }
}

fn remove_pointer(root: &mut Value, ptr: &str) {
    if let Some((parent, last)) = ptr.rsplit_once('/') {
        let target = if parent.is_empty() {
            Some(root)
        } else {
            root.pointer_mut(parent)
        };
        match target {
            Some(Value::Object(o)) => {
                o.remove(last);
            }
            Some(Value::Array(a)) => {
                if let Ok(i) = last.parse::<usize>() {
                    if i < a.len() {
                        a.remove(i);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Run a whole case and produce its result.
pub async fn run_case(ctx: &Context, case: &Case, area: &str) -> CheckResult {
    let started = Instant::now();
    let mut run = CaseRun::new(ctx, case);
    let mut result = CheckResult {
        id: case.id.clone(),
        title: case.title.clone(),
        area: area.to_string(),
        requirements: case.requirements.clone(),
        level: case.level,
        verdict: Verdict::Pass,
        message: String::new(),
        failure: None,
        exchanges: Vec::new(),
        requests: 0,
        signatures: 0,
        duration: Default::default(),
    };
    if let Some(reason) = unmet_need(ctx, case) {
        result.verdict = Verdict::Skip;
        result.message = reason;
        return result;
    }
    let mut outcome: Result<(), StepFailure> = Ok(());
    for (i, step) in case.steps.iter().enumerate() {
        let n = i + 1;
        let op = step.op.unwrap_or(Op::Probe);
        outcome = match op.endpoint() {
            Some(e) => run.protocol_step(n, step, e).await,
            None => probes::run(&mut run, n, step).await,
        };
        if outcome.is_err() {
            break;
        }
    }
    match outcome {
        Ok(()) => {
            if let Some(w) = run.warning.take() {
                result.verdict = w.verdict;
                result.message = w.message;
                result.failure = Some(w.failure);
            } else if let Some(reason) = run.waived.take() {
                result.verdict = Verdict::Waived;
                result.message = reason;
            } else if let Some(reason) = run.skipped.take() {
                result.verdict = Verdict::Skip;
                result.message = reason;
            }
        }
        Err(f) => {
            result.verdict = f.verdict;
            result.message = f.message;
            result.failure = Some(f.failure);
        }
    }
    result.requests = run.exchanges.len();
    result.signatures = run.signatures;
    if result.verdict != Verdict::Pass {
        result.exchanges = std::mem::take(&mut run.exchanges);
    }
    result.duration = started.elapsed();
    result
}

fn unmet_need(ctx: &Context, case: &Case) -> Option<String> {
    for need in &case.needs {
        match need {
            Need::PageSize if ctx.page_size.is_none() => {
                return Some("the server's PAGE_SIZE is unknown; give --page-size N".into())
            }
            Need::TwoServers if ctx.servers.len() < 2 => {
                return Some("needs two servers; give --server twice".into())
            }
            Need::Tls if ctx.ce().scheme() != "https" => {
                return Some("needs an https:// target".into())
            }
            _ => {}
        }
    }
    None
}

/// The verdict for a failed explicit expectation of a case at `level`.
pub fn level_verdict(level: Level) -> Verdict {
    match level {
        Level::Must => Verdict::Fail,
        Level::Should | Level::May => Verdict::Warn,
    }
}
