//! REST steps: build the request (URI, suffix, query, body, headers, signature), send it,
//! and judge the answer against the step's expectation and the model.

use rand::RngCore;
use serde_json::{json, Value};
use url::Url;

use super::judge::{self, Seen};
use super::{random_id, Broken, Conn, Ctx, Msg, Stop};
use crate::client::origin::judge_uri;
use crate::client::{Request, Response, TransportError};
use crate::profiles::edge_v1::sign::{self, signature_token, AUTH_SCHEME};
use crate::profiles::edge_v1::wire::{self, b64};
use crate::profiles::simplex_v5::case::Rest;

/// The REST operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    Secure,
    Send,
    Retrieve,
    Get,
    DeleteMessage,
    Delete,
    Request,
}

impl Op {
    fn method(self) -> &'static str {
        match self {
            Op::Create | Op::Send => "POST",
            Op::Secure => "PUT",
            Op::Retrieve | Op::Get | Op::Request => "GET",
            Op::DeleteMessage | Op::Delete => "DELETE",
        }
    }

    fn uri(self) -> &'static str {
        match self {
            Op::Create => "ce",
            Op::Send => "su",
            _ => "ru",
        }
    }

    fn success(self) -> u16 {
        match self {
            Op::Create => 201,
            _ => 200,
        }
    }

    /// The rule a wrong answer to this op breaks when the step names none.
    fn rule(self) -> &'static str {
        match self {
            Op::Create => "V-CREATE",
            Op::Secure => "V-SECURE",
            Op::Send => "V-SEND",
            Op::Retrieve | Op::Get => "V-RETR",
            Op::DeleteMessage => "V-DELM",
            Op::Delete => "V-DEL",
            Op::Request => "VB-ROUTE",
        }
    }

    /// Whether success answers `"OK"` (V-OK-BODY).
    fn answers_ok(self) -> bool {
        matches!(self, Op::Secure | Op::Send | Op::DeleteMessage | Op::Delete)
    }
}

/// The size of a message a send step makes.
fn message_size(ctx: &Ctx<'_>, bytes: Option<&Value>) -> Result<usize, Stop> {
    let bad = |v: &Value| {
        Stop::Error(format!(
            "bytes {v}: give a number, \"large\", \"large+1\" or \"max\"; fix the case"
        ))
    };
    let Some(v) = bytes else {
        return Ok(24);
    };
    if let Some(n) = v.as_u64() {
        return usize::try_from(n).map_err(|_| bad(v));
    }
    let large = || {
        ctx.env.large_message.ok_or_else(|| {
            Stop::Skip("needs the server's LARGE_MESSAGE: give --large-message N".into())
        })
    };
    match v.as_str() {
        Some("large") => large(),
        Some("large+1") => Ok(large()? + 1),
        // 16,384 base64 characters (B-SIZE): 12,288 bytes.
        Some("max") => Ok(12_288),
        _ => Err(bad(v)),
    }
}

/// The URL of a step before suffix and query.
fn base_url(ctx: &Ctx<'_>, which: &str, conn: &str) -> Result<Url, Stop> {
    match which {
        "ce" => Ok(ctx.env.ce.clone()),
        "ru" => Ok(ctx.conn(conn)?.ru.clone()),
        "su" => Ok(ctx.conn(conn)?.su.clone()),
        "made-up" | "made-up-su" => {
            let mut u = match (ctx.conns.get(conn), which) {
                (Some(c), "made-up") => c.ru.clone(),
                (Some(c), _) => c.su.clone(),
                (None, _) => {
                    let mut u = ctx.env.ce.clone();
                    let p = format!("{}/x", u.path().trim_end_matches('/'));
                    u.set_path(&p);
                    u
                }
            };
            let path = u.path().to_string();
            let (head, last) = path.rsplit_once('/').unwrap_or(("", &path));
            let p = format!("{head}/{}", random_id(last.len().max(22)));
            u.set_path(&p);
            Ok(u)
        }
        other => Err(Stop::Error(format!(
            "uri {other:?}: use ce, ru, su, made-up or made-up-su; fix the case"
        ))),
    }
}

/// Run one REST step.
pub(crate) async fn run(ctx: &mut Ctx<'_>, op: Op, r: &Rest) -> Result<(), Stop> {
    let (req, conn, sent) = build(ctx, op, r)?;
    ctx.requests += 1;
    let ex = ctx.env.http.execute(req).await;
    let result = judge_exchange(ctx, op, r, &conn, sent, &ex.response);
    ctx.keep(ex);
    result
}

/// A step's request, its connection's name, and the message it sends (name and bytes).
pub(crate) type Built = (Request, String, Option<(String, Vec<u8>)>);

/// The request of step `r` (signed as it says), with its connection and message, which is
/// registered already.
pub(crate) fn build(ctx: &mut Ctx<'_>, op: Op, r: &Rest) -> Result<Built, Stop> {
    let conn = r.conn.clone().unwrap_or_else(|| "c".into());
    // The connection's keys (create makes RK of the asked size).
    let rk_name = format!("{conn}.rk");
    if op == Op::Create && !ctx.keys.contains_key(&rk_name) {
        let bits = r.bits.unwrap_or(2048);
        let key = ctx
            .env
            .pool
            .take_sized(bits)
            .map_err(|e| Stop::Error(format!("{e}; fix the case")))?;
        ctx.keys.insert(rk_name.clone(), key);
    }
    // A sender key of another size.
    if let (Op::Secure, Some(bits)) = (op, r.bits) {
        let name = r.sender.clone().unwrap_or_else(|| format!("{conn}.sk"));
        if !ctx.keys.contains_key(&name) {
            let key = ctx
                .env
                .pool
                .take_sized(bits)
                .map_err(|e| Stop::Error(format!("{e}; fix the case")))?;
            ctx.keys.insert(name, key);
        }
    }
    // A new message of a send.
    let mut sent: Option<(String, Vec<u8>)> = None;
    if op == Op::Send {
        let name = r
            .msg
            .clone()
            .ok_or_else(|| Stop::Error("a send step needs `msg`; fix the case".into()))?;
        let size = message_size(ctx, r.bytes.as_ref())?;
        let mut bytes = vec![0u8; size];
        rand::rng().fill_bytes(&mut bytes);
        let b = b64(&bytes);
        // Registered now so that `${msg:NAME}` works in the step's own body.
        ctx.msgs.entry(name.clone()).or_insert(Msg {
            conn: conn.clone(),
            bytes: bytes.clone(),
            b64: b,
            id: None,
            ts: None,
            deleted: false,
            retrieved: false,
        });
        sent = Some((name, bytes));
    }

    // URL.
    let which = r.uri.clone().unwrap_or_else(|| op.uri().to_string());
    let mut url = base_url(ctx, &which, &conn)?;
    let suffix = match (&r.suffix, op) {
        (Some(s), _) => ctx.expand(s, &conn)?,
        (None, Op::Retrieve | Op::Send) => "/messages".into(),
        (None, Op::Get | Op::DeleteMessage) => {
            let name = r.msg.clone().ok_or_else(|| {
                Stop::Error("get and delete-message steps need `msg`; fix the case".into())
            })?;
            format!("/messages/{}", ctx.msg_id(&name)?)
        }
        (None, _) => String::new(),
    };
    if !suffix.is_empty() {
        let p = format!("{}{suffix}", url.path());
        url.set_path(&p);
    }
    let query = match (&r.query, &r.from) {
        (Some(q), _) => Some(ctx.expand(q, &conn)?),
        (None, Some(from)) if op == Op::Retrieve => {
            Some(format!("fromMessageId={}", ctx.msg_id(from)?))
        }
        _ => None,
    };
    if let Some(q) = &query {
        url.set_query(Some(q));
    }

    // Body.
    let body: Vec<u8> = if let Some(b) = &r.body {
        serde_json::to_vec(&ctx.expand_value(b, &conn)?).map_err(|e| Stop::Error(e.to_string()))?
    } else if let Some(t) = &r.raw {
        ctx.expand(t, &conn)?.into_bytes()
    } else if let Some(h) = &r.raw_hex {
        hex::decode(h).map_err(|e| Stop::Error(format!("rawHex: {e}; fix the case")))?
    } else {
        match op {
            Op::Create => serde_json::to_vec(&json!({"recipient": ctx.expand("${rk}", &conn)?})),
            Op::Secure => {
                let sender = r.sender.clone().unwrap_or_else(|| format!("{conn}.sk"));
                let spki = b64(ctx.key(&sender).spki_der());
                serde_json::to_vec(&json!({ "sender": spki }))
            }
            Op::Send => serde_json::to_vec(&json!({"msg": ctx.msgs[&sent.as_ref().map(|s| s.0.clone()).unwrap_or_default()].b64})),
            _ => Ok(Vec::new()),
        }
        .map_err(|e| Stop::Error(e.to_string()))?
    };

    // Request.
    let method = r.method.clone().unwrap_or_else(|| op.method().to_string());
    let mut req = Request::new(&method, url.clone());
    if let Some(t) = &r.target {
        let t = ctx.expand(t, &conn)?;
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        req.target = Some(t.replace("{path}", &path));
    }
    match &r.content_type {
        None if !body.is_empty() => req
            .headers
            .push(("Content-Type".into(), b"application/json".to_vec())),
        None | Some(None) => {}
        Some(Some(list)) => {
            for v in list {
                req.headers
                    .push(("Content-Type".into(), v.clone().into_bytes()));
            }
        }
    }
    for [k, v] in &r.headers {
        let v = ctx.expand(v, &conn)?;
        req.headers.push((k.clone(), v.into_bytes()));
    }
    req.body = body;
    sign_request(ctx, op, r, &conn, &which, &mut req)?;
    Ok((req, conn, sent))
}

/// The default signing key of a step: `rk` on `RU`, `SK` (when set) on `SU`, none on `CE`
/// except for create.
fn default_key(ctx: &Ctx<'_>, op: Op, which: &str, conn: &str) -> Option<String> {
    match (op, which) {
        (Op::Create, _) => Some(format!("{conn}.rk")),
        (_, "ru" | "made-up") => ctx
            .conns
            .get(conn)
            .map(|c| c.rk.clone())
            .or_else(|| Some(format!("{conn}.rk"))),
        (_, "su" | "made-up-su") => ctx.conns.get(conn).and_then(|c| c.sk.clone()),
        _ => None,
    }
}

fn sign_request(
    ctx: &mut Ctx<'_>,
    op: Op,
    r: &Rest,
    conn: &str,
    which: &str,
    req: &mut Request,
) -> Result<(), Stop> {
    let spec = r.sign.clone().unwrap_or_default();
    let key_name = match spec.key.as_deref() {
        None => default_key(ctx, op, which, conn),
        Some("none") => None,
        Some("rk") => Some(
            ctx.conns
                .get(conn)
                .map(|c| c.rk.clone())
                .unwrap_or_else(|| format!("{conn}.rk")),
        ),
        Some("sk") => Some(
            ctx.conns
                .get(conn)
                .and_then(|c| c.sk.clone())
                .unwrap_or_else(|| format!("{conn}.sk")),
        ),
        Some(name) => Some(name.to_string()),
    };
    let Some(key_name) = key_name else {
        return Ok(());
    };
    let key = ctx.key(&key_name);
    let other = ctx.key("other");
    let target = req.request_target();
    let token = signature_token(&key, &other, &req.method, &target, &req.body, spec.fault);
    ctx.signatures += 1;
    let scheme = spec.scheme.as_deref().unwrap_or(AUTH_SCHEME);
    let value = sign::authorization(&token).replacen(AUTH_SCHEME, scheme, 1);
    req.headers
        .push(("Authorization".into(), value.clone().into_bytes()));
    if spec.twice {
        req.headers
            .push(("Authorization".into(), value.into_bytes()));
    }
    Ok(())
}

/// The body of a response in a few words.
pub(crate) fn body_text(resp: &Response) -> String {
    let t = String::from_utf8_lossy(&resp.body);
    let t: String = t.chars().take(200).collect();
    if t.is_empty() {
        "an empty body".into()
    } else {
        format!("body {t}")
    }
}

/// The response, or why there is none: a connection closed without an answer is the
/// server's fault (B-NO-5XX); a timeout or a refused connection cannot be told from the
/// network's and is an error.
pub(crate) fn response(got: &Result<Response, TransportError>) -> Result<&Response, Stop> {
    match got {
        Ok(r) => Ok(r),
        Err(TransportError::Closed(e)) => Err(Broken::new(
            "B-NO-5XX",
            "a response",
            format!("the connection closed without one: {e}"),
        )
        .into()),
        Err(e) => Err(Stop::Error(format!(
            "no response: {e}; not a verdict on the server"
        ))),
    }
}

fn judge_exchange(
    ctx: &mut Ctx<'_>,
    op: Op,
    r: &Rest,
    conn: &str,
    sent: Option<(String, Vec<u8>)>,
    got: &Result<Response, TransportError>,
) -> Result<(), Stop> {
    let resp = response(got)?;
    let status = resp.status;
    let expect = r.expect.clone().unwrap_or_default();
    let rule = expect.rule.clone().unwrap_or_else(|| op.rule().to_string());
    let with_also = |mut b: Broken| {
        for a in &expect.also {
            b = b.and(a);
        }
        b
    };
    if status >= 500 {
        return Err(Broken::new(
            "B-NO-5XX",
            "no 5xx",
            format!("{status} with {}", body_text(resp)),
        )
        .into());
    }
    judge::common_headers(ctx, resp)?;
    let allowed: Vec<u16> = if expect.status.is_empty() {
        vec![op.success()]
    } else {
        expect.status.clone()
    };
    if !allowed.contains(&status) {
        let words: Vec<String> = allowed.iter().map(u16::to_string).collect();
        let accepted =
            (200..300).contains(&status) && !allowed.iter().any(|s| (200..300).contains(s));
        let rule = match (&expect.if_accepted, accepted) {
            (Some(r), true) => r.clone(),
            _ => rule,
        };
        let b = Broken::new(
            &rule,
            format!("status {}", words.join(" or ")),
            format!("{status} with {}", body_text(resp)),
        );
        return Err(with_also(b).into());
    }
    if status == 401 {
        judge::string_body(ctx, resp, "Unauthorized", "V-401-BODY")?;
        if op == Op::Send {
            // Nothing stored: the message never enters the model.
            if let Some((name, _)) = &sent {
                ctx.msgs.remove(name);
            }
        }
        return Ok(());
    }
    if status != op.success() || op == Op::Request {
        if op == Op::Send {
            if let Some((name, _)) = &sent {
                ctx.msgs.remove(name);
            }
        }
        return Ok(());
    }
    if op.answers_ok() {
        judge::string_body(ctx, resp, "OK", "V-OK-BODY")?;
    }
    match op {
        Op::Create => created(ctx, conn, resp),
        Op::Secure => {
            let sender = r.sender.clone().unwrap_or_else(|| format!("{conn}.sk"));
            if let Some(c) = ctx.conns.get_mut(conn) {
                if c.sk.is_none() {
                    c.sk = Some(sender);
                }
            }
            Ok(())
        }
        Op::Send => {
            if let Some((name, _)) = sent {
                if let Some(c) = ctx.conns.get_mut(conn) {
                    c.msgs.push(name);
                }
            }
            Ok(())
        }
        Op::Retrieve => {
            judge::cache(ctx, resp)?;
            judge::page(ctx, conn, r.from.as_deref(), resp, &rule)
        }
        Op::Get => {
            judge::cache(ctx, resp)?;
            let name = r.msg.clone().unwrap_or_default();
            let o = judge::object(resp, &rule)?;
            judge::message(ctx, &Value::Object(o), &name, Seen::Single, &rule)
        }
        Op::DeleteMessage => {
            let name = r.msg.clone().unwrap_or_default();
            if let Some(m) = ctx.msgs.get_mut(&name) {
                m.deleted = true;
                let owner = m.conn.clone();
                if let Some(c) = ctx.conns.get_mut(&owner) {
                    c.msgs.retain(|x| *x != name);
                }
            }
            Ok(())
        }
        Op::Delete => {
            if let Some(c) = ctx.conns.get_mut(conn) {
                c.deleted = true;
                for m in std::mem::take(&mut c.msgs) {
                    if let Some(m) = ctx.msgs.get_mut(&m) {
                        m.deleted = true;
                    }
                }
            }
            Ok(())
        }
        Op::Request => Ok(()),
    }
}

/// A create's 201: exactly `recipientURI` and `senderURI`, on the origin of `CE`, distinct;
/// the connection enters the model.
fn created(ctx: &mut Ctx<'_>, conn: &str, resp: &Response) -> Result<(), Stop> {
    judge::cache(ctx, resp)?;
    let o = judge::object(resp, "V-CREATE")?;
    let extra: Vec<&String> = o
        .keys()
        .filter(|k| *k != "recipientURI" && *k != "senderURI")
        .collect();
    if !extra.is_empty() {
        return Err(Broken::new(
            "V-CREATE",
            "exactly recipientURI and senderURI",
            format!("also {extra:?}"),
        )
        .into());
    }
    let text = |name: &str| -> Result<String, Stop> {
        o.get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                Broken::new(
                    "V-CREATE",
                    format!("a string `{name}`"),
                    format!("{:?}", o.get(name)),
                )
                .into()
            })
    };
    let (ru_text, su_text) = (text("recipientURI")?, text("senderURI")?);
    if ru_text == su_text {
        return Err(Broken::new("V-URI", "RU ≠ SU", format!("both {ru_text}")).into());
    }
    let resolve = |name: &str, s: &str| -> Result<Url, Stop> {
        let u = wire::resolve_uri(&ctx.env.ce, s).map_err(|e| {
            Stop::from(Broken::new(
                "V-CREATE",
                format!("`{name}` an absolute URL or path"),
                format!("{:?} ({e})", s.chars().take(200).collect::<String>()),
            ))
        })?;
        judge_uri(&ctx.env.ce, &u, &ctx.env.origins, ctx.env.allow_http).map_err(|e| {
            Stop::from(Broken::new(
                "B-URI-ORIGIN",
                format!("`{name}` on the origin of the create endpoint"),
                e.to_string(),
            ))
        })?;
        Ok(u)
    };
    let ru = resolve("recipientURI", &ru_text)?;
    let su = resolve("senderURI", &su_text)?;
    ctx.conns.insert(
        conn.to_string(),
        Conn {
            rk: format!("{conn}.rk"),
            sk: None,
            ru_text,
            su_text,
            ru,
            su,
            deleted: false,
            msgs: Vec::new(),
        },
    );
    Ok(())
}
