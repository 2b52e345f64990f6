//! The timing probes (V-TIMING, V-WS-TIMING): every failure class of §4's table, per
//! endpoint, measured by `crate::timing` and carried out of the case as reports.
//!
//! Every request is built, signed and padded before its endpoint is measured, and none of
//! them changes anything on the server (each is refused with 401 or `ok: false`), so one
//! request per class is sent again for every sample. What a class must look like
//! (`docs/timing.md`): a wrong signature is a value of the right length below every 2048-bit
//! modulus, so that no library rejects it before the verification; an unsigned request
//! carries a header of the same size in place of `Authorization`.

use std::time::Duration;

use rand::{Rng, RngCore};
use serde_json::{json, Value};
use url::Url;

use super::rest::{self, Op};
use super::{random_id, Ctx, Stop};
use crate::client::ws::{Incoming, WsConn};
use crate::client::Request;
use crate::profiles::edge_v1::sign::{signing_input, Key, Scheme, AUTH_SCHEME};
use crate::profiles::edge_v1::wire::b64;
use crate::profiles::simplex_v5::case::Rest;
use crate::profiles::simplex_v5::jcs;
use crate::timing::{self, HttpProbe, TimingConfig, TimingProbe, WsProbe};

/// The rule the REST measurements judge.
pub const REST_RULE: &str = "V-TIMING";
/// The rule the WebSocket measurements judge.
pub const WS_RULE: &str = "V-WS-TIMING";

/// The environment variable that sets the samples per class (default 500, as V-TIMING asks).
pub const SAMPLES_VAR: &str = "EDGECHECK_TIMING_SAMPLES";

/// Samples per class: [`SAMPLES_VAR`] when it holds a number of at least 20, else 500.
pub fn samples_from_env() -> usize {
    std::env::var(SAMPLES_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n >= 20)
        .unwrap_or(TimingConfig::default().samples)
}

/// The header in place of `Authorization` on unsigned requests: a name of the same length,
/// and one that HTTP/2's header compression never indexes either (h2, like nghttp2, sends
/// `authorization` and `if-none-match` values in full every time). A padding header that is
/// indexed shrinks to one byte from the second request on, and over HTTP/2 unsigned requests
/// then answered about 80 µs faster in a debug build: a difference of the suite's making.
/// An entity tag that matches nothing changes no answer (RFC 9110 §13.1.2).
const PAD_HEADER: &str = "If-None-Match";

/// The settings of one measurement of this run.
fn config(ctx: &Ctx<'_>) -> TimingConfig {
    TimingConfig {
        samples: ctx.env.timing_samples,
        max_samples: 4 * ctx.env.timing_samples,
        seed: rand::rng().next_u64(),
        ..TimingConfig::default()
    }
}

/// A value of `len` bytes below 2^(8·len − 1), so below every modulus of that length: a
/// well-formed signature that does not verify and that no library rejects early.
fn wrong_signature(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::rng().fill_bytes(&mut v);
    if let Some(first) = v.first_mut() {
        *first = rand::rng().random_range(0x01..0x80);
    }
    v
}

/// `url` with the last segment of its path replaced by random characters of the same length:
/// a URI of the same shape that does not exist.
fn made_up(url: &Url) -> Url {
    let mut u = url.clone();
    let path = u.path().to_string();
    let (head, last) = path.rsplit_once('/').unwrap_or(("", &path));
    u.set_path(&format!("{head}/{}", random_id(last.len().max(22))));
    u
}

/// `url` with `suffix` appended to its path.
fn with_suffix(url: &Url, suffix: &str) -> Url {
    let mut u = url.clone();
    u.set_path(&format!("{}{suffix}", url.path()));
    u
}

/// How one class of a REST endpoint is authorized.
enum Auth<'k> {
    /// A real signature (PSS, the binding's scheme) by this key.
    Valid(&'k Key),
    /// A real PKCS#1 v1.5 signature by this key (create's third class).
    Pkcs1(&'k Key),
    /// A value below the modulus, of a 2048-bit signature's length.
    Wrong,
    /// No signature: a header of the same size instead.
    None,
}

/// One prepared request: `method` on `url` with `body`, authorized as `auth` says.
fn request(ctx: &mut Ctx<'_>, method: &str, url: Url, body: &[u8], auth: Auth<'_>) -> Request {
    let mut req = Request::new(method, url);
    if !body.is_empty() {
        req = req.header("Content-Type", "application/json");
    }
    req.body = body.to_vec();
    let target = req.request_target();
    let input = signing_input(method, &target, body);
    let sig = match auth {
        Auth::Valid(k) => k.sign(&input),
        Auth::Pkcs1(k) => k.sign_with(&input, Scheme::Pkcs1v15),
        Auth::Wrong | Auth::None => wrong_signature(256),
    };
    if matches!(auth, Auth::Valid(_) | Auth::Pkcs1(_)) {
        ctx.signatures += 1;
    }
    let value = format!("{AUTH_SCHEME} {}", b64(&sig));
    match auth {
        // `"` + base64 + `"`, as long as the `Authorization` value: the same characters, so
        // the same size once Huffman-coded as well.
        Auth::None => {
            let tag: String = b64(&sig).chars().take(value.len() - 2).collect();
            req.header(
                PAD_HEADER,
                format!("\"{tag:0<width$}\"", width = value.len() - 2),
            )
        }
        _ => req.header("Authorization", value),
    }
}

fn rest_step(conn: &str) -> Rest {
    Rest {
        conn: Some(conn.to_string()),
        ..Rest::default()
    }
}

/// Measures `probe` as `endpoint` and keeps the report for the check.
async fn measure(ctx: &mut Ctx<'_>, rule: &str, endpoint: &str, probe: &mut dyn TimingProbe) {
    let config = config(ctx);
    let report = timing::measure(endpoint, probe, &config).await;
    ctx.timing.push((rule.to_string(), report));
}

/// `timing-rest` (V-TIMING): create, secure, delete connection, retrieve, retrieve one,
/// delete one and send on a secured connection, every failure class of each.
pub(crate) async fn rest(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    // One connection holding one message, then secured: every endpoint has a live URI, a
    // real message ID and a sender key.
    let conn = "timed";
    rest::run(ctx, Op::Create, &rest_step(conn)).await?;
    let mut send = rest_step(conn);
    send.msg = Some("held".into());
    rest::run(ctx, Op::Send, &send).await?;
    rest::run(ctx, Op::Retrieve, &rest_step(conn)).await?;
    rest::run(ctx, Op::Secure, &rest_step(conn)).await?;
    let c = ctx.conn(conn)?.clone();
    let id = ctx.msg_id("held")?;
    let rk = ctx.key(&c.rk);
    let sk = ctx.key(c.sk.as_deref().unwrap_or("timed.sk"));
    let other = ctx.key("timed.other");
    let fresh = ctx.key("timed.fresh");

    let err = |e: String| Stop::Error(format!("{e}; a bug of the timing probe"));
    let http = ctx.env.http.clone();
    let probe = || HttpProbe::new(http.clone(), 401);
    let mut endpoints: Vec<(&str, HttpProbe)> = Vec::new();

    // create: POST CE with a fresh key in the body.
    let ce = ctx.env.ce.clone();
    let body = serde_json::to_vec(&json!({ "recipient": b64(fresh.spki_der()) }))
        .map_err(|e| err(e.to_string()))?;
    let p = probe()
        .class(
            "bad self-signature",
            request(ctx, "POST", ce.clone(), &body, Auth::Wrong),
        )
        .and_then(|p| {
            p.class(
                "missing signature",
                request(ctx, "POST", ce.clone(), &body, Auth::None),
            )
        })
        .and_then(|p| {
            p.class(
                "PKCS#1 v1.5 signature",
                request(ctx, "POST", ce.clone(), &body, Auth::Pkcs1(&fresh)),
            )
        })
        .map_err(err)?;
    endpoints.push(("create", p));

    // secure: PUT RU with another sender key.
    let body = serde_json::to_vec(&json!({ "sender": b64(other.spki_der()) }))
        .map_err(|e| err(e.to_string()))?;
    let p = probe()
        .class(
            "unknown URI",
            request(ctx, "PUT", made_up(&c.ru), &body, Auth::Valid(&rk)),
        )
        .and_then(|p| {
            p.class(
                "wrong signature",
                request(ctx, "PUT", c.ru.clone(), &body, Auth::Wrong),
            )
        })
        .and_then(|p| {
            p.class(
                "unsigned",
                request(ctx, "PUT", c.ru.clone(), &body, Auth::None),
            )
        })
        .and_then(|p| {
            p.class(
                "already secured",
                request(ctx, "PUT", c.ru.clone(), &body, Auth::Valid(&rk)),
            )
        })
        .map_err(err)?;
    endpoints.push(("secure", p));

    // delete connection: DELETE RU, never with a valid signature.
    let p = probe()
        .class(
            "unknown URI",
            request(ctx, "DELETE", made_up(&c.ru), b"", Auth::Valid(&rk)),
        )
        .and_then(|p| {
            p.class(
                "wrong signature",
                request(ctx, "DELETE", c.ru.clone(), b"", Auth::Wrong),
            )
        })
        .and_then(|p| {
            p.class(
                "unsigned",
                request(ctx, "DELETE", c.ru.clone(), b"", Auth::None),
            )
        })
        .map_err(err)?;
    endpoints.push(("delete connection", p));

    // retrieve: GET RU/messages?fromMessageId=ID. Every class carries the query, the real
    // message's ID but in the class of an unknown one: the server parses the same request
    // in every class, and only the cause of the failure differs.
    let from = |url: Url, id: &str| {
        let mut u = with_suffix(&url, "/messages");
        u.set_query(Some(&format!("fromMessageId={id}")));
        u
    };
    let messages = from(c.ru.clone(), &id);
    let unknown_from = from(c.ru.clone(), &random_id(id.len()));
    let p = probe()
        .class(
            "unknown URI",
            request(ctx, "GET", from(made_up(&c.ru), &id), b"", Auth::Valid(&rk)),
        )
        .and_then(|p| {
            p.class(
                "wrong signature",
                request(ctx, "GET", messages.clone(), b"", Auth::Wrong),
            )
        })
        .and_then(|p| {
            p.class(
                "unsigned",
                request(ctx, "GET", messages.clone(), b"", Auth::None),
            )
        })
        .and_then(|p| {
            p.class(
                "unknown fromMessageId",
                request(ctx, "GET", unknown_from, b"", Auth::Valid(&rk)),
            )
        })
        .map_err(err)?;
    endpoints.push(("retrieve", p));

    // retrieve one and delete one: RU/messages/ID.
    let one = with_suffix(&c.ru, &format!("/messages/{id}"));
    let unknown_one = with_suffix(&c.ru, &format!("/messages/{}", random_id(id.len())));
    let elsewhere = with_suffix(&made_up(&c.ru), &format!("/messages/{id}"));
    for (endpoint, method) in [("retrieve one", "GET"), ("delete one", "DELETE")] {
        let p = probe()
            .class(
                "unknown URI",
                request(ctx, method, elsewhere.clone(), b"", Auth::Valid(&rk)),
            )
            .and_then(|p| {
                p.class(
                    "wrong signature",
                    request(ctx, method, one.clone(), b"", Auth::Wrong),
                )
            })
            .and_then(|p| {
                p.class(
                    "unknown message ID",
                    request(ctx, method, unknown_one.clone(), b"", Auth::Valid(&rk)),
                )
            })
            .map_err(err)?;
        endpoints.push((endpoint, p));
    }

    // send on the secured connection: POST SU/messages.
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let body = serde_json::to_vec(&json!({ "msg": b64(bytes) })).map_err(|e| err(e.to_string()))?;
    let p = probe()
        .class(
            "unknown URI",
            request(
                ctx,
                "POST",
                with_suffix(&made_up(&c.su), "/messages"),
                &body,
                Auth::Valid(&sk),
            ),
        )
        .and_then(|p| {
            p.class(
                "wrong signature",
                request(
                    ctx,
                    "POST",
                    with_suffix(&c.su, "/messages"),
                    &body,
                    Auth::Wrong,
                ),
            )
        })
        .and_then(|p| {
            p.class(
                "unsigned",
                request(
                    ctx,
                    "POST",
                    with_suffix(&c.su, "/messages"),
                    &body,
                    Auth::None,
                ),
            )
        })
        .map_err(err)?;
    endpoints.push(("send (secured connection)", p));

    for (endpoint, mut p) in endpoints {
        measure(ctx, REST_RULE, endpoint, &mut p).await;
    }
    Ok(())
}

/// The outcome of a WebSocket reply, as the probe compares it: `ok:false`, `ok:true`, or
/// the reply's `type`.
fn classify(text: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return "not JSON".into();
    };
    match v.get("ok").and_then(Value::as_bool) {
        Some(ok) => format!("ok:{ok}"),
        None => format!(
            "type:{}",
            v.get("type").and_then(Value::as_str).unwrap_or("none")
        ),
    }
}

/// Reads the next text message of `conn` as JSON within `within`.
async fn next_json(conn: &mut WsConn, within: Duration) -> Result<Value, Stop> {
    match conn.recv(within).await {
        Ok(Some(Incoming::Text(t))) => serde_json::from_str(&t)
            .map_err(|_| Stop::Error(format!("the server sent {t:?}, not JSON; see V-WS-JSON"))),
        Ok(other) => Err(Stop::Error(format!(
            "no text message within {within:?} ({other:?}); the WebSocket checks judge this"
        ))),
        Err(e) => Err(Stop::Error(format!(
            "the WebSocket failed: {e}; not a verdict on the server"
        ))),
    }
}

/// A signed subscribe message of session `nonce` for `uri`, with `auth` a real signature by
/// `key` or, with none, a value below the modulus.
fn subscribe(nonce: &str, uri: &str, key: Option<&Key>) -> String {
    let req = json!({ "id": "t", "type": "subscribe", "recipientURI": uri });
    let auth = match key {
        Some(k) => k.sign(&jcs::signing_input(nonce, &req)),
        None => wrong_signature(256),
    };
    let mut req = req;
    req["auth"] = Value::String(b64(auth));
    req.to_string()
}

/// `timing-ws` (V-WS-TIMING): subscribe, unsubscribe and delete_message, every failure class
/// of each, on one session subscribed only to an empty connection (nothing is pushed while
/// it is measured).
pub(crate) async fn ws(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let held = "timed-ws";
    let empty = "timed-ws-empty";
    rest::run(ctx, Op::Create, &rest_step(held)).await?;
    let mut send = rest_step(held);
    send.msg = Some("held-ws".into());
    rest::run(ctx, Op::Send, &send).await?;
    rest::run(ctx, Op::Retrieve, &rest_step(held)).await?;
    rest::run(ctx, Op::Create, &rest_step(empty)).await?;
    let h = ctx.conn(held)?.clone();
    let e = ctx.conn(empty)?.clone();
    let id = ctx.msg_id("held-ws")?;
    let h_rk = ctx.key(&h.rk);
    let e_rk = ctx.key(&e.rk);
    let made_up_uri = made_up(&h.ru).to_string();
    // The URI strings exactly as create returned them (VB-WS-URI); the made-up one of the
    // same length where create returned an absolute URI.
    let unknown_uri = if h.ru_text.starts_with("http") {
        made_up_uri
    } else {
        let (head, last) = h.ru_text.rsplit_once('/').unwrap_or(("", &h.ru_text));
        format!("{head}/{}", random_id(last.len().max(22)))
    };

    let within = ctx.env.reply_timeout;
    ctx.requests += 1;
    let mut conn = ctx
        .env
        .ws
        .connect(&ctx.env.ws_url)
        .await
        .map_err(|e| Stop::Error(format!("cannot open a WebSocket: {e}; not a verdict")))?;
    let hello = next_json(&mut conn, within).await?;
    let nonce = hello
        .get("nonce")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    // Subscribed to the empty connection: delete_message's "unknown message ID" needs a
    // subscription, and an empty connection pushes nothing.
    ctx.requests += 1;
    ctx.signatures += 1;
    let sub = subscribe(&nonce, &e.ru_text, Some(&e_rk));
    if let Err(err) = conn.send_text(sub).await {
        conn.close().await;
        return Err(Stop::Error(format!("the WebSocket failed: {err}")));
    }
    let reply = next_json(&mut conn, within).await?;
    if reply.get("ok") != Some(&Value::Bool(true)) {
        conn.close().await;
        return Err(Stop::Error(format!(
            "a valid subscribe got {reply}, not ok: true; V-WS-SUB judges this, timing is not \
             measured"
        )));
    }

    ctx.signatures += 1;
    let classes: [(&str, Vec<(&str, String)>); 3] = [
        (
            "WebSocket subscribe",
            vec![
                ("unknown URI", subscribe(&nonce, &unknown_uri, Some(&h_rk))),
                ("wrong signature", subscribe(&nonce, &h.ru_text, None)),
            ],
        ),
        (
            "WebSocket unsubscribe",
            vec![
                (
                    "unknown URI",
                    json!({"id": "t", "type": "unsubscribe", "recipientURI": unknown_uri})
                        .to_string(),
                ),
                (
                    "not subscribed",
                    json!({"id": "t", "type": "unsubscribe", "recipientURI": h.ru_text})
                        .to_string(),
                ),
            ],
        ),
        (
            "WebSocket delete_message",
            vec![
                (
                    "unknown URI",
                    json!({"id": "t", "type": "delete_message", "recipientURI": unknown_uri,
                           "messageId": id})
                    .to_string(),
                ),
                (
                    "not subscribed",
                    json!({"id": "t", "type": "delete_message", "recipientURI": h.ru_text,
                           "messageId": id})
                    .to_string(),
                ),
                (
                    "unknown message ID",
                    json!({"id": "t", "type": "delete_message", "recipientURI": e.ru_text,
                           "messageId": random_id(id.len())})
                    .to_string(),
                ),
            ],
        ),
    ];
    for (endpoint, list) in classes {
        let mut probe = WsProbe::new(conn, within, "ok:false", Box::new(classify));
        for (name, message) in list {
            probe = probe.class(name, message);
        }
        measure(ctx, WS_RULE, endpoint, &mut probe).await;
        conn = probe.into_conn();
    }
    conn.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_signatures_are_below_every_modulus_of_their_length() {
        for _ in 0..100 {
            let s = wrong_signature(256);
            assert_eq!(s.len(), 256);
            assert!((0x01..0x80).contains(&s[0]));
        }
    }

    #[test]
    fn made_up_uris_keep_the_shape() {
        let u = Url::parse("http://h/connection/abcdefghijklmnopqrstuv").unwrap();
        let m = made_up(&u);
        assert_eq!(m.path().len(), u.path().len());
        assert_ne!(m, u);
        assert!(m.path().starts_with("/connection/"));
    }

    #[test]
    fn replies_are_classified_by_ok_or_type() {
        assert_eq!(classify(r#"{"id":"t","ok":false}"#), "ok:false");
        assert_eq!(classify(r#"{"id":"t","ok":true}"#), "ok:true");
        assert_eq!(classify(r#"{"type":"invalid"}"#), "type:invalid");
        assert_eq!(classify("x"), "not JSON");
    }
}
