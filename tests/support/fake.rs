//! A small edge-v1 server written as a wiremock responder, with one switch per rule it can
//! break. With every switch off it follows the binding closely enough for the checks the
//! wiremock tests run; each switch breaks exactly one rule.
//!
//! It verifies signatures with the `rsa` crate (the suite signs with aws-lc-rs).

use std::sync::Mutex;

use base64::Engine as _;
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::{json, Map, Value};
use wiremock::{Request, Respond, ResponseTemplate};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One way to break the binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Break {
    Create200,
    CreateExtraProperty,
    NoCacheControl,
    SetsCookie,
    AcceptAnySignature,
    AcceptPkcs1v15,
    AcceptUnknownProperty,
    IgnoreContentType,
    AcceptDuplicateMembers,
    AcceptPkcs1Key,
    LaxConnectionId,
    UnknownPath200,
    GetRu200,
    DuplicateCreate201,
    DeleteReturnsBody,
    Send201,
    Lifo,
    TsWithOffset,
    NextAlways,
    DeletedCountWrong,
    RetrieveNeverRemoves,
    FirstUpdateWithoutSender,
    ProhibitedIgnored,
    UriContainsCid,
    CounterMessageIds,
    CrashOnNonObject,
    CidMismatchIgnored,
    UnknownFromEmpty,
    OldRuAlive,
    NoProofOfPossession,
    /// A send to a connection without SK that carries an `Authorization` header is refused
    /// with 401 (S-G-OPEN: such sends are open, whatever the header says).
    OpenSendChecksAuthorization,
}

#[derive(Debug, Clone)]
struct Msg {
    id: String,
    ts: String,
    msg: String,
}

#[derive(Debug)]
struct Conn {
    cid: String,
    rk: RsaPublicKey,
    sk: Option<RsaPublicKey>,
    ru: String,
    su: String,
    old_ru: Vec<String>,
    disabled: bool,
    queue: Vec<Msg>,
}

#[derive(Debug, Default)]
struct State {
    conns: Vec<Conn>,
    counter: u64,
}

/// The fake server.
pub struct Fake {
    breaks: Vec<Break>,
    state: Mutex<State>,
}

type Reply = (u16, Option<Value>);

fn err(status: u16, text: &str) -> Reply {
    (status, Some(json!({ "error": text })))
}

impl Fake {
    /// A fake that breaks the given rules (none: conforming for the checks used).
    pub fn new(breaks: &[Break]) -> Fake {
        Fake {
            breaks: breaks.to_vec(),
            state: Mutex::new(State::default()),
        }
    }

    fn is(&self, b: Break) -> bool {
        self.breaks.contains(&b)
    }

    fn token(&self, st: &mut State, cid: &str) -> String {
        st.counter += 1;
        let random: [u8; 16] = rand::random();
        let t = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
        if self.is(Break::UriContainsCid) {
            format!("{cid}{t}")
        } else {
            t
        }
    }

    fn key(&self, v: &Value) -> Option<RsaPublicKey> {
        let der = B64.decode(v.as_str()?).ok()?;
        let key = RsaPublicKey::from_public_key_der(&der).ok().or_else(|| {
            use rsa::pkcs1::DecodeRsaPublicKey;
            self.is(Break::AcceptPkcs1Key)
                .then(|| RsaPublicKey::from_pkcs1_der(&der).ok())
                .flatten()
        })?;
        use rsa::traits::PublicKeyParts;
        (key.n().bits() >= 2048).then_some(key)
    }

    fn verified(&self, req: &Request, header: &str, key: &RsaPublicKey, body: &[u8]) -> bool {
        if self.is(Break::AcceptAnySignature) {
            return true;
        }
        let values: Vec<&str> = req
            .headers
            .get_all(header)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let [value] = values.as_slice() else {
            return false;
        };
        let token = if header == "authorization" {
            match value.split_once(' ') {
                Some((scheme, t)) if scheme.eq_ignore_ascii_case("EMSig") => t,
                _ => return false,
            }
        } else {
            value
        };
        let Ok(sig) = B64.decode(token.trim()) else {
            return false;
        };
        let path = match req.url.query() {
            Some(q) => format!("{}?{q}", req.url.path()),
            None => req.url.path().to_string(),
        };
        let mut input = format!("EMSig1\n{}\n{path}\n", req.method).into_bytes();
        input.extend_from_slice(body);
        let pss = rsa::pss::VerifyingKey::<sha2::Sha256>::new_with_salt_len(key.clone(), 32);
        let ok = rsa::pss::Signature::try_from(sig.as_slice())
            .is_ok_and(|s| pss.verify(&input, &s).is_ok());
        ok || (self.is(Break::AcceptPkcs1v15)
            && rsa::pkcs1v15::Signature::try_from(sig.as_slice()).is_ok_and(|s| {
                rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key.clone())
                    .verify(&input, &s)
                    .is_ok()
            }))
    }

    fn body(
        &self,
        req: &Request,
        allowed: &[&str],
        prohibited: &[&str],
    ) -> Result<Map<String, Value>, Reply> {
        let cts: Vec<&str> = req
            .headers
            .get_all("content-type")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let ct_ok = cts.len() == 1
            && cts[0]
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json");
        if !ct_ok && !self.is(Break::IgnoreContentType) {
            return Err(err(400, "content type"));
        }
        let parsed = if self.is(Break::AcceptDuplicateMembers) {
            serde_json::from_slice::<Value>(&req.body)
                .map_err(|e| e.to_string())
                .and_then(|v| match v {
                    Value::Object(m) => Ok(m),
                    _ => Err("not an object".into()),
                })
        } else {
            edgecheck::profiles::edge_v1::wire::parse_object_strict(&req.body)
                .map_err(|e| e.to_string())
        };
        let map = match parsed {
            Ok(m) => m,
            Err(_) if self.is(Break::CrashOnNonObject) => return Err((500, None)),
            Err(_) => return Err(err(400, "body")),
        };
        if !self.is(Break::ProhibitedIgnored)
            && map.keys().any(|k| prohibited.contains(&k.as_str()))
        {
            return Err(err(401, "prohibited"));
        }
        if !self.is(Break::AcceptUnknownProperty)
            && map
                .keys()
                .any(|k| !allowed.contains(&k.as_str()) && !prohibited.contains(&k.as_str()))
        {
            return Err(err(400, "unknown property"));
        }
        for (k, v) in map
            .iter()
            .filter(|(k, _)| !prohibited.contains(&k.as_str()))
        {
            let ok = match k.as_str() {
                "connectionID" | "fromMessageID" | "recipient" | "sender" => v.is_string(),
                "pageSize" => v
                    .as_u64()
                    .is_some_and(|n| (1..=i32::MAX as u64).contains(&n)),
                "messages" => v.as_array().is_some_and(|a| !a.is_empty()),
                _ => v.is_boolean(),
            };
            if !ok && !self.is(Break::AcceptUnknownProperty) {
                return Err(err(400, "type"));
            }
        }
        let cid = map
            .get("connectionID")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let cid_ok = (8..=64).contains(&cid.len())
            && cid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !cid_ok && !self.is(Break::LaxConnectionId) {
            return Err(err(400, "connectionID"));
        }
        Ok(map)
    }

    fn handle(&self, req: &Request) -> Reply {
        let path = req.url.path().to_string();
        let method = req.method.as_str().to_string();
        let mut st = self.state.lock().unwrap();
        if path == "/connection" {
            if method != "POST" {
                return err(405, "method");
            }
            let b = match self.body(
                req,
                &["connectionID", "recipient", "sender", "disabled"],
                &[],
            ) {
                Ok(b) => b,
                Err(r) => return r,
            };
            let Some(rk) = b.get("recipient").and_then(|v| self.key(v)) else {
                return err(400, "recipient");
            };
            let sk = match b.get("sender") {
                Some(v) => match self.key(v) {
                    Some(k) => Some(k),
                    None => return err(400, "sender"),
                },
                None => None,
            };
            if !self.verified(req, "authorization", &rk, &req.body) {
                return err(401, "signature");
            }
            let cid = b["connectionID"].as_str().unwrap_or_default().to_string();
            if let Some(i) = st.conns.iter().position(|c| c.cid == cid) {
                if !self.is(Break::DuplicateCreate201) {
                    return err(409, "conflict");
                }
                st.conns.remove(i);
            }
            let ru = format!("/r/{}", self.token(&mut st, &cid));
            let su = format!("/s/{}", self.token(&mut st, &cid));
            let disabled = b.get("disabled").and_then(Value::as_bool).unwrap_or(false);
            st.conns.push(Conn {
                cid,
                rk,
                sk,
                ru: ru.clone(),
                su: su.clone(),
                old_ru: vec![],
                disabled,
                queue: vec![],
            });
            let mut out = json!({ "recipientURI": ru, "senderURI": su });
            if self.is(Break::CreateExtraProperty) {
                out["id"] = json!(1);
            }
            return (if self.is(Break::Create200) { 200 } else { 201 }, Some(out));
        }
        let (base, messages) = match path.strip_suffix("/messages") {
            Some(b) => (b.to_string(), true),
            None => (path.clone(), false),
        };
        let old_ru_hit =
            self.is(Break::OldRuAlive) && st.conns.iter().any(|c| c.old_ru.contains(&base));
        let Some(i) = st
            .conns
            .iter()
            .position(|c| c.ru == base || c.su == base || (old_ru_hit && c.old_ru.contains(&base)))
        else {
            return if self.is(Break::UnknownPath200) {
                (200, Some(json!({})))
            } else {
                err(404, "not found")
            };
        };
        let recipient = st.conns[i].ru == base || st.conns[i].old_ru.contains(&base);
        let endpoint = match (recipient, messages, method.as_str()) {
            (true, false, "PUT") => "update",
            (true, false, "DELETE") => "delete",
            (true, true, "POST") => "retrieve",
            (true, true, "DELETE") => "deleteMessages",
            (false, false, "PUT") => "senderUpdate",
            (false, true, "POST") => "send",
            (true, false, "GET") if self.is(Break::GetRu200) => return (200, Some(json!({}))),
            _ => return err(405, "method"),
        };
        let allowed: &[&str] = match endpoint {
            "update" => &[
                "connectionID",
                "recipient",
                "sender",
                "newRecipientURI",
                "newSenderURI",
                "disabled",
            ],
            "delete" => &["connectionID"],
            "retrieve" => &["connectionID", "pageSize", "fromMessageID", "keepMessages"],
            "deleteMessages" => &["connectionID", "pageSize", "fromMessageID"],
            "senderUpdate" => &["connectionID", "sender", "newSenderURI"],
            _ => &["connectionID", "messages"],
        };
        let prohibited: &[&str] = if endpoint == "senderUpdate" {
            &["recipient", "newRecipientURI", "disabled"]
        } else {
            &[]
        };
        let b = match self.body(req, allowed, prohibited) {
            Ok(b) => b,
            Err(r) => return r,
        };
        if b["connectionID"].as_str() != Some(st.conns[i].cid.as_str())
            && !self.is(Break::CidMismatchIgnored)
        {
            return err(404, "connection");
        }
        let body = req.body.clone();
        let c = &st.conns[i];
        let signer = if recipient {
            Some(c.rk.clone())
        } else {
            c.sk.clone()
        };
        match (&signer, endpoint) {
            (None, "senderUpdate") => return err(401, "no sender key"),
            (None, "send")
                if self.is(Break::OpenSendChecksAuthorization)
                    && req.headers.contains_key("authorization") =>
            {
                return err(401, "no sender key to verify the Authorization field");
            }
            (None, _) => {}
            (Some(k), _) => {
                if !self.verified(req, "authorization", k, &body) {
                    return err(401, "signature");
                }
            }
        }
        let page = |b: &Map<String, Value>| {
            b.get("pageSize")
                .and_then(Value::as_u64)
                .map(|n| n as usize)
        };
        match endpoint {
            "update" | "senderUpdate" => {
                if endpoint == "update"
                    && c.sk.is_none()
                    && !b.contains_key("sender")
                    && !self.is(Break::FirstUpdateWithoutSender)
                {
                    return err(400, "sender required");
                }
                let new_rk = if endpoint == "update" {
                    b.get("recipient")
                } else {
                    None
                };
                let new_sk = b.get("sender");
                let mut keys = (None, None);
                if let Some(v) = new_rk {
                    let Some(k) = self.key(v) else {
                        return err(400, "recipient");
                    };
                    if !self.is(Break::NoProofOfPossession)
                        && !self.verified(req, "em-new-key-signature", &k, &body)
                    {
                        return err(401, "new key signature");
                    }
                    keys.0 = Some(k);
                }
                if let Some(v) = new_sk {
                    let Some(k) = self.key(v) else {
                        return err(400, "sender");
                    };
                    if endpoint == "senderUpdate"
                        && !self.verified(req, "em-new-key-signature", &k, &body)
                    {
                        return err(401, "new key signature");
                    }
                    keys.1 = Some(k);
                }
                let new_ru = endpoint == "update" && b.get("newRecipientURI") == Some(&json!(true));
                let new_su = b.get("newSenderURI") == Some(&json!(true));
                let cid = c.cid.clone();
                let (t1, t2) = (self.token(&mut st, &cid), self.token(&mut st, &cid));
                let c = &mut st.conns[i];
                if let Some(k) = keys.0 {
                    c.rk = k;
                }
                if let Some(k) = keys.1 {
                    c.sk = Some(k);
                }
                if let Some(d) = b.get("disabled").and_then(Value::as_bool) {
                    c.disabled = d;
                }
                let mut out = json!({});
                if new_ru {
                    let old = std::mem::replace(&mut c.ru, format!("/r/{t1}"));
                    c.old_ru.push(old);
                    out["recipientURI"] = json!(c.ru);
                }
                if new_su {
                    c.su = format!("/s/{t2}");
                    out["senderURI"] = json!(c.su);
                }
                (200, Some(out))
            }
            "delete" => {
                st.conns.remove(i);
                (
                    200,
                    self.is(Break::DeleteReturnsBody)
                        .then(|| json!({"ok": true})),
                )
            }
            "send" => {
                if c.disabled {
                    return err(403, "disabled");
                }
                let mut new = Vec::new();
                for m in b["messages"].as_array().cloned().unwrap_or_default() {
                    let ok = m.as_object().is_some_and(|o| {
                        o.len() == 1
                            && o.get("msg")
                                .and_then(Value::as_str)
                                .is_some_and(|s| !s.is_empty() && B64.decode(s).is_ok())
                    });
                    if !ok {
                        return err(400, "message");
                    }
                    st.counter += 1;
                    let id = if self.is(Break::CounterMessageIds) {
                        format!("{}", 1000 + st.counter)
                    } else {
                        format!("m{}", rand::random::<u64>())
                    };
                    let ts = if self.is(Break::TsWithOffset) {
                        "2026-01-01T00:00:00.000+00:00"
                    } else {
                        "2026-01-01T00:00:00.000Z"
                    };
                    new.push(Msg {
                        id,
                        ts: ts.into(),
                        msg: m["msg"].as_str().unwrap_or_default().into(),
                    });
                }
                st.conns[i].queue.extend(new);
                if self.is(Break::Send201) {
                    (201, None)
                } else {
                    (200, None)
                }
            }
            _ => {
                let start = match b.get("fromMessageID").and_then(Value::as_str) {
                    None => 0,
                    Some(id) => match c.queue.iter().position(|m| m.id == id) {
                        Some(p) => p,
                        None if self.is(Break::UnknownFromEmpty) && endpoint == "retrieve" => {
                            return (200, Some(json!({"messages": []})))
                        }
                        None => return err(400, "unknown message"),
                    },
                };
                let avail = c.queue.len() - start;
                if endpoint == "deleteMessages" {
                    let n = page(&b).unwrap_or(avail).min(avail);
                    st.conns[i].queue.drain(start..start + n);
                    let reported = if self.is(Break::DeletedCountWrong) {
                        n + 1
                    } else {
                        n
                    };
                    return (200, Some(json!({ "deleted": reported })));
                }
                let n = page(&b).unwrap_or(10).min(10).min(avail);
                let mut out: Vec<Msg> = c.queue[start..start + n].to_vec();
                let next = c.queue.get(start + n).map(|m| m.id.clone());
                if self.is(Break::Lifo) {
                    out.reverse();
                }
                let keep = b.get("keepMessages") == Some(&json!(true));
                if !keep && !self.is(Break::RetrieveNeverRemoves) {
                    st.conns[i].queue.drain(start..start + n);
                }
                let msgs: Vec<Value> = out
                    .iter()
                    .map(|m| json!({"id": m.id, "ts": m.ts, "msg": m.msg}))
                    .collect();
                let mut body = json!({ "messages": msgs });
                match next {
                    Some(id) => body["nextMessageID"] = json!(id),
                    None if self.is(Break::NextAlways) => body["nextMessageID"] = json!("none"),
                    None => {}
                }
                (200, Some(body))
            }
        }
    }
}

impl Respond for Fake {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let (status, body) = self.handle(req);
        let mut t = ResponseTemplate::new(status);
        if !self.is(Break::NoCacheControl) {
            t = t.insert_header("cache-control", "no-store");
        }
        if self.is(Break::SetsCookie) {
            t = t.insert_header("set-cookie", "session=1");
        }
        if let Some(b) = body {
            t = t.set_body_raw(serde_json::to_vec(&b).unwrap(), "application/json");
        }
        t
    }
}
