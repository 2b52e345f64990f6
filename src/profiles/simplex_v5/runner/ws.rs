//! WebSocket steps: open a session and read its hello, send typed and raw requests, and judge
//! replies and pushes against the model.

use std::time::Duration;

use rand::RngCore;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::judge::{self, is_message_id, Seen};
use super::session::{Pushed, Read};
use super::{random_id, Broken, Ctx, Session, Stop};
use crate::client::ws::WsError;
use crate::profiles::edge_v1::sign::{Key, Scheme, SigFault};
use crate::profiles::edge_v1::wire::{b64, unb64};
use crate::profiles::simplex_v5::case::{
    ExpectNoPush, ExpectPushes, Form, WsConnect, WsExpect, WsRequest, WsSend,
};
use crate::profiles::simplex_v5::jcs;

/// Pushes wait this long unless the step says otherwise.
const PUSH_WAIT: Duration = Duration::from_millis(3000);

/// Signature faults that apply to a WebSocket `auth` (the others concern HTTP requests).
pub const WS_FAULTS: [SigFault; 11] = [
    SigFault::Pkcs1v15,
    SigFault::Salt20,
    SigFault::Salt0,
    SigFault::Salt64,
    SigFault::Truncated,
    SigFault::Bitflip,
    SigFault::Empty,
    SigFault::NotBase64,
    SigFault::Base64url,
    SigFault::NoPadding,
    SigFault::OtherKey,
];

/// The typed WebSocket requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Subscribe,
    Unsubscribe,
    Delete,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Subscribe => "subscribe",
            Kind::Unsubscribe => "unsubscribe",
            Kind::Delete => "delete_message",
        }
    }

    fn rule(self) -> &'static str {
        match self {
            Kind::Subscribe => "V-WS-SUB",
            Kind::Unsubscribe => "V-WS-UNSUB",
            Kind::Delete => "V-WS-DEL",
        }
    }
}

fn session<'a>(ctx: &'a mut Ctx<'_>, name: &str) -> Result<&'a mut Session, Stop> {
    ctx.sessions.get_mut(name).ok_or_else(|| {
        Stop::Error(format!(
            "session `{name}` is not open; add a ws-connect step first"
        ))
    })
}

/// `ws-connect`: open a session on `CE` (V-WS-URI) and read its hello (VB-WS-HELLO), or see
/// the handshake refused.
pub(crate) async fn connect(ctx: &mut Ctx<'_>, s: &WsConnect) -> Result<(), Stop> {
    let headers: Vec<(String, String)> = s
        .headers
        .iter()
        .map(|[k, v]| (k.clone(), v.clone()))
        .collect();
    ctx.requests += 1;
    let got = ctx.env.ws.connect_with(&ctx.env.ws_url, &headers).await;
    if !s.refused.is_empty() {
        let rule = s.rule.as_deref().unwrap_or("V-400");
        let want = format!(
            "the upgrade refused with {}",
            s.refused
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        );
        return match got {
            Err(WsError::Handshake {
                status: Some(st), ..
            }) if s.refused.contains(&st) => Ok(()),
            Err(WsError::Handshake { status, detail }) => {
                if status.is_some_and(|st| st >= 500) {
                    return Err(Broken::new("B-NO-5XX", "no 5xx", detail).into());
                }
                Err(Broken::new(rule, want, detail).into())
            }
            Err(e) if e.is_transport() => Err(Stop::Error(format!(
                "cannot open a WebSocket: {e}; not a verdict on the server"
            ))),
            Err(e) => Err(Broken::new(rule, want, e.to_string()).into()),
            Ok(mut ws) => {
                ws.close().await;
                Err(Broken::new(rule, want, "the upgrade succeeded (101)").into())
            }
        };
    }
    let rule = s.rule.as_deref().unwrap_or("VB-WS-HELLO");
    let ws = match got {
        Ok(ws) => ws,
        Err(e) if e.is_transport() => {
            return Err(Stop::Error(format!(
                "cannot open a WebSocket to {}: {e}; not a verdict on the server",
                ctx.env.ws_url
            )))
        }
        Err(e) => {
            return Err(Broken::new(
                "V-WS-URI",
                format!("a WebSocket session at {}", ctx.env.ws_url),
                e.to_string(),
            )
            .into())
        }
    };
    let mut sess = Session::new(ws);
    let deadline = Instant::now() + ctx.env.reply_timeout;
    let hello = loop {
        if let Some(v) = sess.replies.pop_front() {
            break v;
        }
        if let Some(p) = sess.pushes.pop_front() {
            break p.value;
        }
        match sess.read(deadline).await {
            Ok(Read::Got) => {}
            Ok(Read::Nothing) => {
                sess.close().await;
                return Err(
                    Broken::new(rule, "a hello first", "nothing within the timeout").into(),
                );
            }
            Ok(Read::Ended(_, why)) => {
                return Err(Broken::new(rule, "a hello first", why).into());
            }
            Err(e) => {
                sess.close().await;
                return Err(e);
            }
        }
    };
    let nonce = hello
        .get("nonce")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let members_ok = hello.as_object().is_some_and(|o| o.len() == 2)
        && hello.get("type").and_then(Value::as_str) == Some("hello");
    let bytes = unb64(nonce).map(|b| b.len()).unwrap_or(0);
    if !members_ok || bytes < 16 {
        sess.close().await;
        return Err(Broken::new(
            "VB-WS-HELLO",
            "{\"type\": \"hello\", \"nonce\": base64 of at least 16 bytes} first",
            hello.to_string(),
        )
        .into());
    }
    if ctx.nonces.iter().any(|n| n == nonce) {
        sess.close().await;
        return Err(Broken::new(
            "VB-WS-HELLO",
            "a fresh nonce in every session",
            format!("the nonce {nonce} of an earlier session"),
        )
        .into());
    }
    sess.nonce = nonce.to_string();
    ctx.nonces.push(nonce.to_string());
    if let Some(mut old) = ctx.sessions.insert(s.session.clone(), sess) {
        old.close().await;
    }
    Ok(())
}

/// The signature token of a WebSocket request: correct, or broken as `fault` says.
fn ws_token(key: &Key, other: &Key, input: &[u8], fault: Option<SigFault>) -> Result<String, Stop> {
    let Some(fault) = fault else {
        return Ok(b64(key.sign(input)));
    };
    Ok(match fault {
        SigFault::Pkcs1v15 => b64(key.sign_with(input, Scheme::Pkcs1v15)),
        SigFault::Salt20 => b64(key.sign_with(input, Scheme::Pss { salt: 20 })),
        SigFault::Salt0 => b64(key.sign_with(input, Scheme::Pss { salt: 0 })),
        SigFault::Salt64 => b64(key.sign_with(input, Scheme::Pss { salt: 64 })),
        SigFault::Truncated => {
            let mut s = key.sign(input);
            s.pop();
            b64(s)
        }
        SigFault::Bitflip => {
            let mut s = key.sign(input);
            let mid = s.len() / 2;
            s[mid] ^= 0x10;
            b64(s)
        }
        SigFault::Empty => String::new(),
        SigFault::NotBase64 => {
            let t = b64(key.sign(input));
            format!("!*{}", &t[2..])
        }
        SigFault::Base64url => {
            let mut t = b64(key.sign(input));
            for _ in 0..64 {
                if t.contains(['+', '/']) {
                    break;
                }
                t = b64(key.sign(input));
            }
            t.replace('+', "-").replace('/', "_")
        }
        SigFault::NoPadding => {
            let mut s = key.sign(input);
            if s.len().is_multiple_of(3) {
                s.pop();
            }
            b64(s).trim_end_matches('=').to_string()
        }
        SigFault::OtherKey => b64(other.sign(input)),
        other => {
            return Err(Stop::Error(format!(
                "the signature fault {other:?} concerns HTTP requests; fix the case"
            )))
        }
    })
}

/// The request written as `form` says.
fn write(form: Form, members: &[(&str, Value)]) -> String {
    match form {
        Form::Canonical => {
            let mut m = Map::new();
            let mut auth = None;
            for (k, v) in members {
                if *k == "auth" {
                    auth = Some(v.clone());
                } else {
                    m.insert((*k).to_string(), v.clone());
                }
            }
            let c = jcs::canonical(&Value::Object(m));
            match auth {
                Some(a) => format!(
                    "{},\"auth\":{}}}",
                    &c[..c.len() - 1],
                    serde_json::to_string(&a).unwrap_or_default()
                ),
                None => c,
            }
        }
        Form::Reversed => {
            let mut m = Map::new();
            for (k, v) in members.iter().rev() {
                m.insert((*k).to_string(), v.clone());
            }
            serde_json::to_string(&Value::Object(m)).unwrap_or_default()
        }
        Form::Spaced => {
            let mut m = Map::new();
            for (k, v) in members {
                m.insert((*k).to_string(), v.clone());
            }
            serde_json::to_string_pretty(&Value::Object(m)).unwrap_or_default()
        }
    }
}

/// The `recipientURI` a request names.
fn recipient_uri(ctx: &mut Ctx<'_>, r: &WsRequest, conn: &str) -> Result<String, Stop> {
    let c = ctx.conn(conn)?.clone();
    Ok(match r.uri.as_deref() {
        None | Some("exact") => c.ru_text,
        Some("trailing-slash") => format!("{}/", c.ru_text),
        Some("upper") => {
            let (head, last) = c.ru_text.rsplit_once('/').unwrap_or(("", &c.ru_text));
            let swapped: String = last
                .chars()
                .map(|ch| {
                    if ch.is_ascii_lowercase() {
                        ch.to_ascii_uppercase()
                    } else {
                        ch.to_ascii_lowercase()
                    }
                })
                .collect();
            format!("{head}/{swapped}")
        }
        Some("path") => {
            if c.ru_text.starts_with('/') {
                c.ru.to_string()
            } else {
                c.ru.path().to_string()
            }
        }
        Some("made-up") => {
            let (head, last) = c.ru_text.rsplit_once('/').unwrap_or(("", &c.ru_text));
            format!("{head}/{}", random_id(last.len().max(22)))
        }
        Some(other) => ctx.expand(other, conn)?,
    })
}

/// `subscribe`, `unsubscribe`, `delete_message`: send, then judge the reply.
pub(crate) async fn request(ctx: &mut Ctx<'_>, kind: Kind, r: &WsRequest) -> Result<(), Stop> {
    let conn = r.conn.clone().unwrap_or_else(|| "c".into());
    let id = match &r.id {
        Some(i) => ctx.expand(i, &conn)?,
        None => ctx.fresh_id(kind.name()),
    };
    let uri = recipient_uri(ctx, r, &conn)?;
    let mut members: Vec<(&str, Value)> = vec![
        ("id", json!(id)),
        ("type", json!(kind.name())),
        ("recipientURI", json!(uri)),
    ];
    let mut message_id = None;
    if kind == Kind::Delete {
        let m = r
            .msg
            .clone()
            .ok_or_else(|| Stop::Error("a ws-delete step needs `msg`; fix the case".into()))?;
        let mid = if m.contains("${") {
            ctx.expand(&m, &conn)?
        } else {
            ctx.msg_id(&m)?
        };
        members.push(("messageId", json!(mid)));
        message_id = Some(mid);
    }
    let form = r.form.unwrap_or_default();
    if kind == Kind::Subscribe {
        let auth = subscribe_auth(ctx, r, &conn, &members, form)?;
        ctx.auths.insert(id.clone(), auth.clone());
        members.push(("auth", json!(auth)));
    }
    let text = write(form, &members);
    ctx.requests += 1;
    session(ctx, &r.session)?.send_text(text).await;
    for name in &r.also_send {
        let step = crate::profiles::simplex_v5::case::Rest {
            conn: Some(conn.clone()),
            msg: Some(name.clone()),
            ..Default::default()
        };
        super::rest::run(ctx, super::rest::Op::Send, &step).await?;
    }

    // The reply, with pushes of this connection before it checked (V-WS-SUB).
    let ru_text = ctx.conn(&conn)?.ru_text.clone();
    let base = kind.rule();
    let rule = r.rule.clone().unwrap_or_else(|| base.to_string());
    let was_subscribed = session(ctx, &r.session)?.subs.contains_key(&conn);
    let deadline = Instant::now() + ctx.env.reply_timeout;
    let sname = r.session.clone();
    let reply = loop {
        let s = session(ctx, &sname)?;
        if kind == Kind::Subscribe && !was_subscribed && s.pushes.iter().any(|p| p.uri == ru_text) {
            let early = s
                .pushes
                .iter()
                .find(|p| p.uri == ru_text)
                .map(|p| p.value.to_string());
            return Err(Stop::Broken(
                Broken::new(
                    "V-WS-SUB",
                    "the subscribe reply before any push of the subscription",
                    format!("a push first: {}", early.unwrap_or_default()),
                ),
                Some(sname),
            ));
        }
        if let Some(pos) = s
            .replies
            .iter()
            .position(|v| v.get("id").and_then(Value::as_str) == Some(id.as_str()))
        {
            break s.replies.remove(pos).unwrap_or_default();
        }
        match s.read(deadline).await? {
            Read::Got => {}
            Read::Nothing => {
                return Err(Stop::Broken(
                    Broken::new(
                        &rule,
                        format!("a {} reply", kind.name()),
                        "none within the timeout",
                    ),
                    Some(sname),
                ))
            }
            Read::Ended(_, why) => {
                return Err(Stop::Broken(
                    Broken::new(&rule, format!("a {} reply", kind.name()), why),
                    Some(sname),
                ))
            }
        }
    };

    // Its members.
    let mut want: Vec<&str> = vec!["id", "type", "recipientURI", "ok"];
    if kind == Kind::Delete {
        want.push("messageId");
    }
    let o = reply.as_object().cloned().unwrap_or_default();
    let wrong = |what: String| -> Stop {
        Stop::Broken(
            Broken::new(base, what, reply.to_string()),
            Some(sname.clone()),
        )
    };
    if reply.get("type").and_then(Value::as_str) != Some(kind.name()) {
        let b = Broken::new(&rule, format!("a {} reply", kind.name()), reply.to_string());
        return Err(Stop::Broken(b, Some(sname)));
    }
    if o.len() != want.len() || want.iter().any(|k| !o.contains_key(*k)) {
        return Err(wrong(format!("a reply of exactly {}", want.join(", "))));
    }
    if reply["recipientURI"].as_str() != Some(uri.as_str()) {
        return Err(wrong(format!("recipientURI {uri:?} as sent")));
    }
    if let Some(mid) = &message_id {
        if reply["messageId"].as_str() != Some(mid.as_str()) {
            return Err(wrong(format!("messageId {mid:?} as sent")));
        }
    }
    let Some(ok) = reply["ok"].as_bool() else {
        return Err(wrong("a boolean ok".into()));
    };
    if ok != r.ok {
        return Err(Stop::Broken(
            Broken::new(&rule, format!("ok: {}", r.ok), reply.to_string()),
            Some(sname),
        ));
    }
    if ok {
        match kind {
            Kind::Subscribe => {
                let backlog = ctx.conn(&conn)?.msgs.clone();
                session(ctx, &sname)?
                    .subs
                    .entry(conn)
                    .or_insert_with(|| super::session::Sub {
                        pushed: Vec::new(),
                        backlog,
                    });
            }
            Kind::Unsubscribe => {
                session(ctx, &sname)?.subs.remove(&conn);
            }
            Kind::Delete => {
                if let Some(name) = r.msg.clone().filter(|m| !m.contains("${")) {
                    if let Some(m) = ctx.msgs.get_mut(&name) {
                        m.deleted = true;
                        let owner = m.conn.clone();
                        if let Some(c) = ctx.conns.get_mut(&owner) {
                            c.msgs.retain(|x| *x != name);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The `auth` of a subscribe, as the step's signing options say.
fn subscribe_auth(
    ctx: &mut Ctx<'_>,
    r: &WsRequest,
    conn: &str,
    members: &[(&str, Value)],
    form: Form,
) -> Result<String, Stop> {
    let spec = r.sign.clone().unwrap_or_default();
    if let Some(a) = &spec.auth {
        return ctx.expand(a, conn);
    }
    if let Some(earlier) = &spec.replay {
        return ctx.auths.get(earlier).cloned().ok_or_else(|| {
            Stop::Error(format!(
                "no subscribe with ID {earlier} earlier; fix the case"
            ))
        });
    }
    let key_name = match spec.key.as_deref() {
        None | Some("rk") => ctx.conn(conn)?.rk.clone(),
        Some("sk") => ctx
            .conn(conn)?
            .sk
            .clone()
            .unwrap_or_else(|| format!("{conn}.sk")),
        Some(name) => name.to_string(),
    };
    let nonce = match spec.nonce.as_deref() {
        None => session(ctx, &r.session)?.nonce.clone(),
        Some("random") => {
            let mut b = [0u8; 16];
            rand::rng().fill_bytes(&mut b);
            b64(b)
        }
        Some(other) => ctx
            .sessions
            .get(other)
            .map(|s| s.nonce.clone())
            .ok_or_else(|| Stop::Error(format!("no session `{other}`; fix the case")))?,
    };
    let mut obj = Map::new();
    for (k, v) in members {
        obj.insert((*k).to_string(), v.clone());
    }
    let obj = Value::Object(obj);
    let input = match spec.over.as_deref() {
        None | Some("jcs") => jcs::signing_input(&nonce, &obj),
        Some("wire") => jcs::with_body(&nonce, write(form, members).as_bytes()),
        Some("serde") => jcs::with_body(
            &nonce,
            serde_json::to_string(&obj).unwrap_or_default().as_bytes(),
        ),
        Some("no-domain") => jcs::canonical(&obj).into_bytes(),
        Some(other) => {
            return Err(Stop::Error(format!(
                "sign over {other:?}: use jcs, wire, serde or no-domain; fix the case"
            )))
        }
    };
    let key = ctx.key(&key_name);
    let other = ctx.key("other");
    ctx.signatures += 1;
    ws_token(&key, &other, &input, spec.fault)
}

/// The size a padded message must have.
fn pad_size(ctx: &Ctx<'_>, v: &Value) -> Result<usize, Stop> {
    if let Some(n) = v.as_u64() {
        return Ok(n as usize);
    }
    match v.as_str() {
        Some("max") => Ok(ctx.env.max_ws),
        Some("max+1") => Ok(ctx.env.max_ws + 1),
        _ => Err(Stop::Error(format!(
            "pad {v}: give a number, \"max\" or \"max+1\"; fix the case"
        ))),
    }
}

/// `ws-send`: any message.
pub(crate) async fn send(ctx: &mut Ctx<'_>, s: &WsSend) -> Result<(), Stop> {
    let conn = s.conn.clone().unwrap_or_else(|| "c".into());
    let bytes: Vec<u8> = if let Some(j) = &s.json {
        serde_json::to_vec(&ctx.expand_value(j, &conn)?).map_err(|e| Stop::Error(e.to_string()))?
    } else if let Some(t) = &s.text {
        ctx.expand(t, &conn)?.into_bytes()
    } else if let Some(h) = &s.hex {
        hex::decode(h).map_err(|e| Stop::Error(format!("hex: {e}; fix the case")))?
    } else if let Some(p) = &s.pad {
        let size = pad_size(ctx, p)?;
        let ru = serde_json::to_string(&ctx.conn(&conn)?.ru_text).unwrap_or_default();
        let head = "{\"id\":\"";
        let tail = format!("\",\"type\":\"unsubscribe\",\"recipientURI\":{ru}}}");
        let fill = size.saturating_sub(head.len() + tail.len()).max(1);
        format!("{head}{}{tail}", "p".repeat(fill)).into_bytes()
    } else {
        return Err(Stop::Error(
            "a ws-send step needs json, text, hex or pad; fix the case".into(),
        ));
    };
    ctx.requests += 1;
    let sess = session(ctx, &s.session)?;
    if s.binary {
        sess.send_binary(bytes).await;
    } else if s.partial {
        sess.send_partial(bytes).await;
    } else if s.fragmented {
        sess.send_fragmented(bytes).await;
    } else {
        sess.send_text(String::from_utf8_lossy(&bytes).into_owned())
            .await;
    }
    Ok(())
}

/// Whether `got` is `want`, where the string `${any}` in `want` matches any value and
/// `${pointer}` any RFC 6901 pointer (`""` or a string starting with `/`).
fn matches(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::String(w), _) if w == "${any}" => true,
        (Value::String(w), Value::String(g)) if w == "${pointer}" => {
            g.is_empty() || g.starts_with('/')
        }
        (Value::Object(w), Value::Object(g)) => {
            w.len() == g.len()
                && w.iter()
                    .all(|(k, v)| g.get(k).is_some_and(|x| matches(v, x)))
        }
        (Value::Array(w), Value::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(a, b)| matches(a, b))
        }
        _ => want == got,
    }
}

/// `ws-expect`: the next reply equals the expected object (or the session closes with an
/// allowed code).
pub(crate) async fn expect(ctx: &mut Ctx<'_>, s: &WsExpect) -> Result<(), Stop> {
    let conn = s.conn.clone().unwrap_or_else(|| "c".into());
    let want = ctx.expand_value(&s.reply, &conn)?;
    let deadline = Instant::now() + ctx.env.reply_timeout;
    let broken = |rule: &str, actual: String| {
        let mut b = Broken::new(rule, want.to_string(), actual);
        for a in s.also.iter().filter(|a| *a != rule) {
            b = b.and(a);
        }
        Stop::Broken(b, Some(s.session.clone()))
    };
    let sess = session(ctx, &s.session)?;
    loop {
        if let Some(got) = sess.replies.pop_front() {
            return if matches(&want, &got) {
                Ok(())
            } else {
                let rule = wrong_ok_rule(&want, &got).unwrap_or(&s.rule);
                Err(broken(rule, got.to_string()))
            };
        }
        match sess.read(deadline).await? {
            Read::Got => {}
            Read::Nothing => return Err(broken(&s.rule, "no reply within the timeout".into())),
            Read::Ended(code, why) => {
                return match code {
                    Some(c) if s.or_close.contains(&c) => Ok(()),
                    _ => Err(broken(&s.rule, why)),
                }
            }
        }
    }
}

/// The rule of a request's own answer when `got` answers the expected request type and
/// differs from `want` only in `ok` (missing or other): the server took the request for
/// what it is and answered it wrongly, whatever the step's rule (say, that a fragmented
/// message is reassembled).
fn wrong_ok_rule(want: &Value, got: &Value) -> Option<&'static str> {
    let rule = match want.get("type")?.as_str()? {
        "subscribe" => "V-WS-SUB",
        "unsubscribe" => "V-WS-UNSUB",
        "delete_message" => "V-WS-DEL",
        _ => return None,
    };
    let (w, g) = (want.as_object()?, got.as_object()?);
    if g.get("type") != w.get("type") || g.get("ok") == w.get("ok") || !w.contains_key("ok") {
        return None;
    }
    let rest_matches = w
        .iter()
        .filter(|(k, _)| *k != "ok")
        .all(|(k, v)| g.get(k).is_some_and(|x| matches(v, x)))
        && g.keys().all(|k| k == "ok" || w.contains_key(k));
    rest_matches.then_some(rule)
}

/// Which message of the model a push carries: by its ID, else by its bytes.
fn identify(ctx: &Ctx<'_>, conn: &str, p: &Pushed) -> Option<String> {
    let m = p.value.get("message")?;
    if let Some(id) = m.get("id").and_then(Value::as_str) {
        if let Some((n, _)) = ctx.msgs.iter().find(|(_, x)| x.id.as_deref() == Some(id)) {
            return Some(n.clone());
        }
    }
    if let Some(text) = m.get("msg").and_then(Value::as_str) {
        return ctx
            .msgs
            .iter()
            .find(|(_, x)| x.conn == conn && x.b64 == text)
            .map(|(n, _)| n.clone());
    }
    // A large message without msg whose ID the suite has not seen yet: the earliest such
    // message of the connection with that size.
    let size = m.get("size").and_then(Value::as_u64)?;
    let c = ctx.conns.get(conn)?;
    c.msgs
        .iter()
        .find(|n| {
            ctx.msgs
                .get(*n)
                .is_some_and(|x| x.id.is_none() && x.bytes.len() as u64 == size)
        })
        .cloned()
}

/// `expect-pushes`: the next pushes for the connection carry exactly these messages, in
/// order, in the push format (VB-WS-BACKLOG), each judged as in a page.
pub(crate) async fn expect_pushes(ctx: &mut Ctx<'_>, s: &ExpectPushes) -> Result<(), Stop> {
    let conn = s.conn.clone().unwrap_or_else(|| "c".into());
    let ru_text = ctx.conn(&conn)?.ru_text.clone();
    let wait = s.within_ms.map_or(PUSH_WAIT, Duration::from_millis);
    let deadline = Instant::now() + wait;
    let sname = s.session.clone();
    let with_session = |b: Broken| Stop::Broken(b, Some(sname.clone()));
    for name in &s.msgs {
        // A message missing from the pushes breaks VB-WS-BACKLOG when it was there before
        // the subscription, the step's rule otherwise.
        let missing_rule = if ctx
            .sessions
            .get(&sname)
            .and_then(|x| x.subs.get(&conn))
            .is_some_and(|sub| sub.backlog.contains(name))
        {
            "VB-WS-BACKLOG".to_string()
        } else {
            s.rule.clone()
        };
        let pushed = loop {
            let sess = session(ctx, &sname)?;
            if let Some(pos) = sess.pushes.iter().position(|p| p.uri == ru_text) {
                break sess.pushes.remove(pos).unwrap_or_else(|| unreachable!());
            }
            match sess.read(deadline).await? {
                Read::Got => {}
                Read::Nothing => {
                    return Err(with_session(Broken::new(
                        &missing_rule,
                        format!("a push of `{name}`"),
                        format!("none within {} ms", wait.as_millis()),
                    )))
                }
                Read::Ended(_, why) => {
                    return Err(with_session(Broken::new(
                        &missing_rule,
                        format!("a push of `{name}`"),
                        why,
                    )))
                }
            }
        };
        let o = pushed.value.as_object().cloned().unwrap_or_default();
        if o.len() != 3 || !o.contains_key("message") {
            return Err(with_session(Broken::new(
                "VB-WS-BACKLOG",
                "a push of exactly type, recipientURI and message",
                pushed.value.to_string(),
            )));
        }
        let got = identify(ctx, &conn, &pushed);
        if got.as_deref() != Some(name.as_str()) {
            let again = got.as_ref().is_some_and(|g| {
                ctx.sessions
                    .get(&sname)
                    .and_then(|x| x.subs.get(&conn))
                    .is_some_and(|sub| sub.pushed.contains(g))
                    || ctx.msgs.get(g).is_some_and(|m| m.deleted)
            });
            // Another message where this one was due: out of order if this one still comes,
            // missing if it never does.
            let mut rule = s.rule.clone();
            if got.is_some() && !again {
                let sess = session(ctx, &sname)?;
                sess.drain(deadline.saturating_duration_since(Instant::now()))
                    .await?;
                let later: Vec<Pushed> = sess
                    .pushes
                    .iter()
                    .filter(|p| p.uri == ru_text)
                    .cloned()
                    .collect();
                let comes = later
                    .iter()
                    .any(|p| identify(ctx, &conn, p).as_deref() == Some(name.as_str()));
                rule = if comes {
                    "V-WS-ORDER".to_string()
                } else {
                    missing_rule.clone()
                };
            }
            let what = match &got {
                Some(g) => {
                    let again = ctx
                        .sessions
                        .get(&sname)
                        .and_then(|x| x.subs.get(&conn))
                        .is_some_and(|sub| sub.pushed.contains(g));
                    let deleted = ctx.msgs.get(g).is_some_and(|m| m.deleted);
                    format!(
                        "a push of `{g}`{}{}",
                        if again {
                            " (pushed before in this subscription)"
                        } else {
                            ""
                        },
                        if deleted { " (deleted)" } else { "" }
                    )
                }
                None => format!("a push of no message the suite sent: {}", pushed.value),
            };
            return Err(with_session(Broken::new(
                &rule,
                format!("a push of `{name}`"),
                what,
            )));
        }
        if let Some(m) = ctx.msgs.get(name) {
            if m.deleted {
                return Err(with_session(Broken::new(
                    &s.rule,
                    format!("no push of `{name}`, which was deleted"),
                    pushed.value.to_string(),
                )));
            }
        }
        let message = pushed.value["message"].clone();
        if let Some(id) = message.get("id").and_then(Value::as_str) {
            if !is_message_id(id) {
                return Err(with_session(Broken::new(
                    "VB-MID",
                    "a valid message ID",
                    id,
                )));
            }
        }
        judge::message(ctx, &message, name, Seen::Push, &s.rule).map_err(|e| match e {
            Stop::Broken(b, None) => Stop::Broken(b, Some(sname.clone())),
            other => other,
        })?;
        if let Some(sub) = ctx
            .sessions
            .get_mut(&sname)
            .and_then(|x| x.subs.get_mut(&conn))
        {
            sub.pushed.push(name.clone());
        }
    }
    Ok(())
}

/// `expect-no-push`: nothing pushed (for the connection, or at all) within the time.
pub(crate) async fn expect_no_push(ctx: &mut Ctx<'_>, s: &ExpectNoPush) -> Result<(), Stop> {
    let uri = match &s.conn {
        Some(c) => Some(ctx.conn(c)?.ru_text.clone()),
        None => None,
    };
    let sname = s.session.clone();
    let sess = session(ctx, &sname)?;
    sess.drain(Duration::from_millis(s.within_ms)).await?;
    let found = sess
        .pushes
        .iter()
        .find(|p| uri.as_ref().is_none_or(|u| p.uri == *u))
        .map(|p| p.value.to_string());
    if let Some(p) = found {
        return Err(Stop::Broken(
            Broken::new(&s.rule, "no push", p),
            Some(sname),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::wrong_ok_rule;
    use serde_json::json;

    fn want() -> serde_json::Value {
        json!({"id": "${any}", "type": "subscribe", "recipientURI": "${any}", "ok": false})
    }

    #[test]
    fn a_wrong_or_missing_ok_breaks_the_request_types_rule() {
        let no_ok = json!({"id": "f1", "type": "subscribe", "recipientURI": "u"});
        assert_eq!(wrong_ok_rule(&want(), &no_ok), Some("V-WS-SUB"));
        let ok = json!({"id": "f1", "type": "subscribe", "recipientURI": "u", "ok": true});
        assert_eq!(wrong_ok_rule(&want(), &ok), Some("V-WS-SUB"));
        let mut del = want();
        del["type"] = json!("delete_message");
        let got = json!({"id": "f1", "type": "delete_message", "recipientURI": "u"});
        assert_eq!(wrong_ok_rule(&del, &got), Some("V-WS-DEL"));
    }

    #[test]
    fn any_other_difference_keeps_the_steps_rule() {
        for got in [
            json!({"id": "f1", "type": "invalid", "error": ""}),
            json!({"id": "f1", "type": "subscribe", "recipientURI": "u", "ok": false, "x": 1}),
        ] {
            assert_eq!(wrong_ok_rule(&want(), &got), None, "{got}");
        }
        let mut exact = want();
        exact["id"] = json!("f1");
        let got = json!({"id": "f2", "type": "subscribe", "recipientURI": "u"});
        assert_eq!(wrong_ok_rule(&exact, &got), None, "another id");
        let invalid = json!({"id": "${any}", "type": "invalid", "error": ""});
        let got = json!({"id": "f1", "type": "subscribe", "recipientURI": "u"});
        assert_eq!(wrong_ok_rule(&invalid, &got), None);
    }
}
