//! Hostile inputs of `simplex-v5`, each written as case steps that send it and judge the
//! answer, so that a finding replays as a case.
//!
//! REST: request bodies, headers, paths, methods and queries, from the hostile values shared
//! with `edge-v1` ([`crate::profiles::fuzzkit`]), plus valid boundary values (the longest
//! `msg`, a one-byte message) that a correct server accepts. Syntax gets 400, value
//! failures 401 with `"Unauthorized"` (the runner checks the body), never a 5xx.
//!
//! WebSocket: requests of the subscription API with wrong types, missing, extra and
//! duplicate members, deep nesting, huge strings, numbers at the extremes, unknown types,
//! non-JSON text, binary messages, fragmented messages, messages up to and past
//! MAX_WEBSOCKET_MESSAGE, and a message left unfinished when the session closes. A message
//! that deserves `invalid` must get one with a pointer; the session must never be dropped
//! without a close frame.

use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Map, Value};

use crate::profiles::fuzzkit::{self, pick, short};
use crate::profiles::simplex_v5::case::{Expect, Rest, Step, WsClose, WsConnect, WsExpect, WsSend};

/// The connection of the hostile inputs.
pub const CONN: &str = "c";
/// The WebSocket session of the hostile inputs.
pub const SESSION: &str = "s";

/// One hostile input: the steps that send and judge it.
#[derive(Debug, Clone)]
pub struct Input {
    /// What was done, for deduplication and reports: `ws/binary/unsubscribe`.
    pub shape: String,
    /// The steps (they name the connection [`CONN`] and the session [`SESSION`]).
    pub steps: Vec<Step>,
    /// Sent over the WebSocket session (else over REST).
    pub ws: bool,
}

/// The steps every input runs after: a connection and a session on it.
pub fn prelude() -> Vec<Step> {
    vec![
        Step::Create(Rest::default()),
        Step::WsConnect(WsConnect {
            session: SESSION.into(),
            headers: Vec::new(),
            refused: Vec::new(),
            rule: None,
        }),
    ]
}

/// A random hostile input; `max_ws` is the server's MAX_WEBSOCKET_MESSAGE.
pub fn input(rng: &mut StdRng, max_ws: usize) -> Input {
    if rng.random_bool(0.6) {
        ws_input(rng, max_ws)
    } else {
        rest_input(rng)
    }
}

// ---------------------------------------------------------------- WebSocket

/// The base requests: each answered with `ok: false` in a session subscribed to nothing.
fn base(rng: &mut StdRng) -> (&'static str, Vec<(String, Value)>) {
    let id = format!("f{}", rng.random_range(0..1_000_000));
    let mut m = vec![
        ("id".to_string(), json!(id)),
        ("type".to_string(), json!("unsubscribe")),
        ("recipientURI".to_string(), json!("${ru}")),
    ];
    match rng.random_range(0..3) {
        0 => ("unsubscribe", m),
        1 => {
            m[1].1 = json!("delete_message");
            m.push(("messageId".into(), json!("${random-id}")));
            ("delete_message", m)
        }
        _ => {
            m[1].1 = json!("subscribe");
            // A well-formed signature that does not verify: ok false.
            m.push(("auth".into(), json!("A".repeat(342) + "==")));
            ("subscribe", m)
        }
    }
}

fn object(members: &[(String, Value)]) -> Value {
    let mut o = Map::new();
    for (k, v) in members {
        o.insert(k.clone(), v.clone());
    }
    Value::Object(o)
}

/// Members as JSON text, in order, duplicates kept.
fn text(members: &[(String, Value)]) -> String {
    let parts: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
        .collect();
    format!("{{{}}}", parts.join(","))
}

fn send(json: Option<Value>, text: Option<String>) -> WsSend {
    WsSend {
        session: SESSION.into(),
        conn: None,
        json,
        text,
        hex: None,
        pad: None,
        binary: false,
        fragmented: false,
        partial: false,
    }
}

fn expect(reply: Value, or_close: &[u16], rule: &str) -> Step {
    Step::WsExpect(WsExpect {
        session: SESSION.into(),
        conn: None,
        reply,
        or_close: or_close.to_vec(),
        rule: rule.into(),
        also: Vec::new(),
    })
}

/// `invalid` with any `id` and a pointer (`""` for `whole`).
fn invalid(whole: bool) -> Value {
    json!({"id": "${any}", "type": "invalid", "error": if whole { "" } else { "${pointer}" }})
}

/// The normal reply of a base request.
fn normal(kind: &str, members: &[(String, Value)]) -> Value {
    let mut r = json!({"id": "${any}", "type": kind, "recipientURI": "${any}", "ok": false});
    if members.iter().any(|(k, _)| k == "messageId") {
        r["messageId"] = json!("${any}");
    }
    r
}

fn reconnect() -> Step {
    Step::WsConnect(WsConnect {
        session: SESSION.into(),
        headers: Vec::new(),
        refused: Vec::new(),
        rule: None,
    })
}

fn ws(shape: String, steps: Vec<Step>) -> Input {
    Input {
        shape,
        steps,
        ws: true,
    }
}

fn ws_input(rng: &mut StdRng, max_ws: usize) -> Input {
    let (kind, mut m) = base(rng);
    let rule = "V-WS-INVALID";
    match rng.random_range(0..16) {
        0 | 1 => {
            let i = rng.random_range(0..m.len());
            let v = pick(rng, &fuzzkit::not_strings()).clone();
            let shape = format!("ws/{kind}/type/{}/{}", m[i].0, short(&v));
            m[i].1 = v;
            ws(
                shape,
                vec![
                    Step::WsSend(send(Some(object(&m)), None)),
                    expect(invalid(false), &[], rule),
                ],
            )
        }
        2 => {
            let i = rng.random_range(0..m.len());
            let name = m.remove(i).0;
            ws(
                format!("ws/{kind}/missing/{name}"),
                vec![
                    Step::WsSend(send(Some(object(&m)), None)),
                    expect(invalid(false), &[], rule),
                ],
            )
        }
        3 => {
            let name = *pick(
                rng,
                &["x", "extra", "Type", "ID", "ok", "auth", "messageId", ""],
            );
            if m.iter().any(|(k, _)| k == name) {
                return ws_input(rng, max_ws);
            }
            m.push((name.into(), json!(1)));
            ws(
                format!("ws/{kind}/extra/{name:?}"),
                vec![
                    Step::WsSend(send(Some(object(&m)), None)),
                    expect(invalid(false), &[], rule),
                ],
            )
        }
        4 => {
            // Duplicate member names, the copy of another type: refused whichever is kept.
            let i = rng.random_range(0..m.len());
            let dup = (m[i].0.clone(), json!(7));
            let name = dup.0.clone();
            m.push(dup);
            ws(
                format!("ws/{kind}/duplicate/{name}"),
                vec![
                    Step::WsSend(send(None, Some(text(&m)))),
                    expect(invalid(false), &[], rule),
                ],
            )
        }
        5 => {
            let depth = *pick(rng, fuzzkit::DEPTHS);
            let (tag, t) = match rng.random_range(0..3) {
                0 => {
                    let mut t = text(&m);
                    t.pop();
                    (
                        "member",
                        format!("{t},\"x\":{}}}", fuzzkit::nested_arrays(depth)),
                    )
                }
                1 => ("array", fuzzkit::nested_arrays(depth)),
                _ => ("object", fuzzkit::nested_objects(depth)),
            };
            if t.len() > max_ws {
                return ws_input(rng, max_ws);
            }
            ws(
                format!("ws/{kind}/deep/{tag}/{depth}"),
                vec![
                    Step::WsSend(send(None, Some(t))),
                    expect(invalid(false), &[], rule),
                ],
            )
        }
        6 => {
            // Huge strings inside the limit: id and recipientURI are echoed, type refused.
            let n = *pick(rng, &[1000usize, 16 * 1024, max_ws / 2]);
            let i = rng.random_range(0..2) * 2;
            let name = m[i].0.clone();
            m[i].1 = json!("x".repeat(n));
            let reply = if name == "type" {
                invalid(false)
            } else {
                normal(kind, &m)
            };
            ws(
                format!("ws/{kind}/long/{name}/{n}"),
                vec![
                    Step::WsSend(send(Some(object(&m)), None)),
                    expect(reply, &[], rule),
                ],
            )
        }
        7 => {
            let v = pick(rng, &fuzzkit::extreme_numbers()).clone();
            let i = rng.random_range(0..m.len());
            let shape = format!("ws/{kind}/number/{}/{v}", m[i].0);
            m[i].1 = v;
            ws(
                shape,
                vec![
                    Step::WsSend(send(Some(object(&m)), None)),
                    expect(invalid(false), &[], rule),
                ],
            )
        }
        8 => {
            let t = *pick(rng, fuzzkit::RAW_NUMBERS);
            let mut body = text(&m);
            body.pop();
            ws(
                format!("ws/{kind}/raw-number/{t}"),
                vec![
                    Step::WsSend(send(None, Some(format!("{body},\"n\":{t}}}")))),
                    expect(invalid(false), &[], rule),
                ],
            )
        }
        9 => {
            let t = *pick(
                rng,
                &["ping", "hello", "message", "", "Subscribe", "invalid"],
            );
            m[1].1 = json!(t);
            ws(
                format!("ws/type/{t:?}"),
                vec![
                    Step::WsSend(send(Some(object(&m)), None)),
                    expect(invalid(false), &[], "V-WS-SCOPE"),
                ],
            )
        }
        10 => {
            let base_text = text(&m);
            let mut all = fuzzkit::not_objects(&base_text);
            all.push("not json at all".into());
            all.push(base_text[..base_text.len() / 2].to_string());
            for t in fuzzkit::TRAILING {
                all.push(format!("{base_text}{t}"));
            }
            let t = pick(rng, &all).clone();
            let tag: String = t.chars().take(10).collect();
            ws(
                format!("ws/not-json/{tag:?}"),
                vec![
                    Step::WsSend(send(None, Some(t))),
                    expect(invalid(false), &[], "V-WS-INVALID"),
                ],
            )
        }
        11 => {
            let mut s = send(Some(object(&m)), None);
            s.binary = true;
            ws(
                format!("ws/binary/{kind}"),
                vec![Step::WsSend(s), expect(invalid(true), &[], "V-WS-JSON")],
            )
        }
        12 => {
            let mut s = send(Some(object(&m)), None);
            s.fragmented = true;
            ws(
                format!("ws/fragmented/{kind}"),
                vec![Step::WsSend(s), expect(normal(kind, &m), &[], "V-WS-JSON")],
            )
        }
        13 | 14 => {
            // Sizes: the limit exactly (a request), past it (invalid "" or 1009), past twice
            // it (a close with 1009 allowed).
            let (tag, pad, reply, close): (&str, Value, Value, &[u16]) =
                match rng.random_range(0..4) {
                    0 => ("max", json!("max"), normal("unsubscribe", &[]), &[]),
                    1 => ("max+1", json!("max+1"), invalid(true), &[1009]),
                    2 => ("max+4096", json!(max_ws + 4096), invalid(true), &[1009]),
                    _ => ("2max+1", json!(2 * max_ws + 1), invalid(true), &[1009]),
                };
            let mut s = send(None, None);
            s.pad = Some(pad);
            let mut steps = vec![Step::WsSend(s)];
            // Past twice the limit the server may close while the message is still being
            // written, and the reset can overtake its close frame: only the next session
            // (and the liveness check) is judged.
            if tag != "2max+1" {
                steps.push(expect(reply, close, "VB-WS-LIMIT"));
            }
            if !close.is_empty() {
                steps.push(reconnect());
            }
            ws(format!("ws/size/{tag}"), steps)
        }
        _ => {
            // The session closes with a message unfinished; the next session is served.
            let mut s = send(Some(object(&m)), None);
            s.partial = true;
            ws(
                format!("ws/close-mid-message/{kind}"),
                vec![
                    Step::WsSend(s),
                    Step::WsClose(WsClose {
                        session: SESSION.into(),
                    }),
                    reconnect(),
                ],
            )
        }
    }
}

// ---------------------------------------------------------------- REST

fn rest(shape: String, step: Step) -> Input {
    Input {
        shape,
        steps: vec![step],
        ws: false,
    }
}

fn expecting(statuses: &[u16], rule: &str) -> Option<Expect> {
    Some(Expect {
        status: statuses.to_vec(),
        rule: Some(rule.into()),
        also: Vec::new(),
        if_accepted: None,
    })
}

/// POST `SU/messages` of `c` with this body, kept out of the model (a send the server may
/// accept carries bytes the model does not know).
fn post(raw: Option<String>) -> Rest {
    Rest {
        method: Some("POST".into()),
        uri: Some("su".into()),
        suffix: Some("/messages".into()),
        raw,
        ..Rest::default()
    }
}

/// A send of `c` whose body is `raw`.
fn send_raw(raw: String, statuses: &[u16], rule: &str) -> Step {
    Step::Request(Rest {
        expect: expecting(statuses, rule),
        ..post(Some(raw))
    })
}

fn rest_input(rng: &mut StdRng) -> Input {
    let good = "{\"msg\":\"QUJD\"}".to_string();
    match rng.random_range(0..12) {
        0 => {
            let v = pick(rng, &fuzzkit::not_strings()).clone();
            let shape = format!("rest/send/type/msg/{}", short(&v));
            rest(
                shape,
                send_raw(json!({ "msg": v }).to_string(), &[400], "V-400"),
            )
        }
        1 => {
            let v = pick(rng, &fuzzkit::extreme_numbers()).clone();
            rest(
                format!("rest/send/number/{v}"),
                send_raw(json!({ "msg": v }).to_string(), &[400], "V-400"),
            )
        }
        2 => {
            let t = *pick(rng, fuzzkit::RAW_NUMBERS);
            rest(
                format!("rest/send/raw-number/{t}"),
                send_raw(format!("{{\"msg\":\"QUJD\",\"n\":{t}}}"), &[400], "V-400"),
            )
        }
        3 => {
            let depth = *pick(rng, fuzzkit::DEPTHS);
            let body = if rng.random_bool(0.5) {
                format!(
                    "{{\"msg\":\"QUJD\",\"x\":{}}}",
                    fuzzkit::nested_arrays(depth)
                )
            } else {
                fuzzkit::nested_objects(depth)
            };
            rest(
                format!("rest/send/deep/{depth}"),
                send_raw(body, &[400, 413], "V-400"),
            )
        }
        4 => {
            let n = *pick(rng, fuzzkit::LONG_STRINGS);
            let (tag, body, st): (&str, String, &[u16]) = match rng.random_range(0..3) {
                0 => (
                    "name",
                    format!("{{\"msg\":\"QUJD\",\"{}\":1}}", "k".repeat(n)),
                    &[400, 413],
                ),
                1 => (
                    "msg",
                    // Valid base64: a server MAY accept more than B-SIZE's minimum.
                    format!("{{\"msg\":\"{}\"}}", "A".repeat(n * 4)),
                    &[200, 400, 413],
                ),
                _ => (
                    "unknown",
                    format!("{{\"msg\":\"QUJD\",\"x\":\"{}\"}}", "a".repeat(n)),
                    &[400, 413],
                ),
            };
            rest(
                format!("rest/send/long/{tag}/{n}"),
                send_raw(body, st, "V-400"),
            )
        }
        5 => {
            let (tag, bytes) = *pick(rng, &fuzzkit::BAD_UTF8);
            let mut out = b"{\"msg\":\"QUJD\",\"x\":\"".to_vec();
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\"}");
            rest(
                format!("rest/send/utf8/{tag}"),
                Step::Request(Rest {
                    raw_hex: Some(hex::encode(out)),
                    expect: expecting(&[400], "V-400"),
                    ..post(None)
                }),
            )
        }
        6 => {
            let mut all = fuzzkit::not_objects(&good);
            for t in fuzzkit::TRAILING {
                all.push(format!("{good}{t}"));
            }
            all.push("{\"msg\":\"QUJD\",\"msg\":\"QUJD\"}".into());
            let b = pick(rng, &all).clone();
            let tag: String = b.chars().take(12).collect();
            rest(
                format!("rest/send/not-object/{tag:?}"),
                send_raw(b, &[400], "V-400"),
            )
        }
        7 => {
            let (tag, ct, st): (String, Option<Vec<String>>, &[u16]) = match rng.random_range(0..4)
            {
                0 => {
                    let v = *pick(rng, fuzzkit::CONTENT_TYPES_VALID);
                    (format!("valid/{v:?}"), Some(vec![v.into()]), &[200, 400])
                }
                1 => ("missing".into(), None, &[400]),
                2 => (
                    "twice".into(),
                    Some(vec!["application/json".into(), "application/json".into()]),
                    &[400],
                ),
                _ => {
                    let v = *pick(rng, fuzzkit::CONTENT_TYPES_INVALID);
                    (format!("invalid/{v:?}"), Some(vec![v.into()]), &[400])
                }
            };
            rest(
                format!("rest/send/ct/{tag}"),
                Step::Request(Rest {
                    content_type: Some(ct),
                    expect: expecting(st, "V-HDR-JSON"),
                    ..post(Some(good))
                }),
            )
        }
        8 => {
            let mut headers = vec![["Connection".to_string(), "close".to_string()]];
            let tag = match rng.random_range(0..3) {
                0 => {
                    let (tag, name, value) = *pick(rng, fuzzkit::ODD_HEADERS);
                    headers.push([name.into(), value.into()]);
                    format!("odd/{tag}")
                }
                1 => {
                    let n = *pick(rng, fuzzkit::HEADER_SIZES);
                    headers.push(["X-Fuzz-Pad".into(), "a".repeat(n)]);
                    format!("long/{n}")
                }
                _ => {
                    let n = *pick(rng, fuzzkit::HEADER_COUNTS);
                    for i in 0..n {
                        headers.push([format!("X-Fuzz-{i}"), "v".into()]);
                    }
                    format!("many/{n}")
                }
            };
            rest(
                format!("rest/send/header/{tag}"),
                Step::Request(Rest {
                    headers,
                    expect: expecting(&[200, 400, 413, 431], "B-NO-5XX"),
                    ..post(Some(good))
                }),
            )
        }
        9 => {
            let s = *pick(rng, fuzzkit::PATH_SUFFIXES);
            let uri = *pick(rng, &["ru", "su"]);
            rest(
                format!("rest/path/{uri}/{s:?}"),
                Step::Request(Rest {
                    uri: Some(uri.into()),
                    suffix: Some(s.into()),
                    expect: expecting(&[400, 401], "VB-ROUTE"),
                    ..Rest::default()
                }),
            )
        }
        10 => {
            // Methods a live RU does not define (PUT and DELETE would change it; HEAD has no
            // body to judge).
            let candidates: Vec<&str> = fuzzkit::METHODS
                .iter()
                .copied()
                .filter(|m| !matches!(*m, "PUT" | "DELETE" | "HEAD"))
                .collect();
            let m = *pick(rng, &candidates);
            rest(
                format!("rest/method/ru/{m}"),
                Step::Request(Rest {
                    uri: Some("ru".into()),
                    method: Some(m.into()),
                    expect: expecting(&[400, 401], "VB-ROUTE"),
                    ..Rest::default()
                }),
            )
        }
        _ => {
            // Queries of retrieval, and the valid boundaries of a send.
            let (tag, step) = match rng.random_range(0..4) {
                0 => {
                    let q = *pick(
                        rng,
                        &[
                            "",
                            "x=1",
                            "fromMessageId=",
                            "fromMessageId=a%20b",
                            "fromMessageId=-1",
                            "fromMessageId=${random-id}",
                            "fromMessageId=${random-id}&fromMessageId=${random-id}",
                            "FROMMESSAGEID=${random-id}",
                        ],
                    );
                    (
                        format!("query/{q:?}"),
                        Step::Request(Rest {
                            suffix: Some("/messages".into()),
                            query: Some(q.into()),
                            expect: expecting(&[400, 401], "V-400"),
                            ..Rest::default()
                        }),
                    )
                }
                1 => {
                    // Longer IDs make a request-target the HTTP client refuses to send.
                    let id = "A".repeat(*pick(rng, &fuzzkit::LONG_STRINGS[..2]));
                    (
                        "query/long-id".to_string(),
                        Step::Request(Rest {
                            suffix: Some("/messages".into()),
                            query: Some(format!("fromMessageId={id}")),
                            expect: expecting(&[400], "VB-MID"),
                            ..Rest::default()
                        }),
                    )
                }
                2 => (
                    "valid/max-msg".to_string(),
                    Step::Send(Rest {
                        msg: Some(format!("v{}", rng.random_range(0..1_000_000))),
                        bytes: Some(json!("max")),
                        ..Rest::default()
                    }),
                ),
                _ => (
                    "valid/one-byte".to_string(),
                    Step::Send(Rest {
                        msg: Some(format!("v{}", rng.random_range(0..1_000_000))),
                        bytes: Some(json!(1)),
                        ..Rest::default()
                    }),
                ),
            };
            rest(format!("rest/{tag}"), step)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn inputs_are_steps_of_the_case_format() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..500 {
            let i = input(&mut rng, 65536);
            assert!(!i.steps.is_empty(), "{}", i.shape);
            let v = serde_json::to_value(&i.steps).unwrap();
            let back: Vec<Step> = serde_json::from_value(v).unwrap();
            assert_eq!(back.len(), i.steps.len());
        }
    }
}
