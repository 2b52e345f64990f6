//! simplex-v5 WebSocket API: hello, signed subscribe, backlog and live pushes, unsubscribe,
//! delete_message, invalid messages and their pointers, limits, and the end of
//! subscriptions on REST delete.

mod simplex_common;

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use simplex_common::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message as Frame;

/// Asserts a push of `msg` (base64) for `ru`; returns the message object.
#[track_caller]
fn is_push(v: &Value, ru: &str, msg: &str) -> Value {
    assert_eq!(v["type"], "message", "{v}");
    assert_eq!(v["recipientURI"], ru, "{v}");
    assert_eq!(v["message"]["msg"], msg, "{v}");
    assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
    v["message"].clone()
}

#[tokio::test]
async fn hello_subscribe_backlog_then_live() {
    let t = plain_with(|c| c.large_message = 8).await;
    let rk = Key::load("rsa2048-a");
    let conn = t.create(&rk).await;
    t.send(&conn, &b64(1, 3)).await.ok();
    t.send(&conn, &b64(2, 9)).await.ok();
    let mut ws = Ws::open(&t.ws).await;
    assert!(STANDARD.decode(&ws.nonce).unwrap().len() >= 16);
    let other = Ws::open(&t.ws).await;
    assert_ne!(ws.nonce, other.nonce);

    let reply = ws.subscribe("s1", &conn.ru, &rk).await;
    assert_eq!(
        reply,
        json!({"id": "s1", "type": "subscribe", "recipientURI": conn.ru, "ok": true})
    );
    let first = is_push(&ws.recv().await, &conn.ru, &b64(1, 3));
    assert_eq!(first["size"], 3);
    let large = ws.recv().await;
    assert_eq!(large["message"]["size"], 9);
    assert!(large["message"].get("msg").is_none(), "{large}");
    ws.quiet().await;
    t.send(&conn, &b64(3, 2)).await.ok();
    is_push(&ws.recv().await, &conn.ru, &b64(3, 2));
    // A repeated subscribe answers again and re-sends nothing.
    let again = ws.subscribe("s2", &conn.ru, &rk).await;
    assert_eq!(again["ok"], true);
    ws.quiet().await;
    // The page matches what was pushed.
    let page = t.page(&conn).await;
    assert_eq!(page["messages"][0], first);
}

#[tokio::test]
async fn failed_subscribes_look_alike() {
    let t = plain().await;
    let rk = Key::load("rsa2048-a");
    let conn = t.create(&rk).await;
    t.send(&conn, "AA==").await.ok();
    let mut ws = Ws::open(&t.ws).await;
    let unknown = format!("{}/nope", t.ce);
    let r1 = ws.subscribe("a", &unknown, &rk).await;
    let r2 = ws.subscribe("b", &conn.ru, &Key::load("rsa2048-b")).await;
    assert_eq!(
        r1,
        json!({"id": "a", "type": "subscribe", "recipientURI": unknown, "ok": false})
    );
    assert_eq!(
        r2,
        json!({"id": "b", "type": "subscribe", "recipientURI": conn.ru, "ok": false})
    );
    // Signed for another session: refused here.
    let other = Ws::open(&t.ws).await;
    let captured = other.subscribe_request("c", &conn.ru, &rk);
    ws.send(&captured).await;
    assert_eq!(ws.recv().await["ok"], false);
    // The URI must be exact.
    let upper = conn.ru.replace("http://", "HTTP://");
    assert_eq!(ws.subscribe("d", &upper, &rk).await["ok"], false);
    assert_eq!(
        ws.subscribe("e", &format!("{}/", conn.ru), &rk).await["ok"],
        false
    );
    assert_eq!(ws.subscribe("f", &conn.su, &rk).await["ok"], false);
    ws.quiet().await;
    // A failed subscribe leaves an existing subscription in place.
    assert_eq!(ws.subscribe("g", &conn.ru, &rk).await["ok"], true);
    ws.recv().await;
    assert_eq!(
        ws.subscribe("h", &conn.ru, &Key::load("rsa2048-b")).await["ok"],
        false
    );
    t.send(&conn, "AQ==").await.ok();
    is_push(&ws.recv().await, &conn.ru, "AQ==");
}

#[tokio::test]
async fn unsubscribe_and_delete_message() {
    let t = plain().await;
    let rk = Key::load("rsa2048-a");
    let conn = t.create(&rk).await;
    t.send(&conn, "AA==").await.ok();
    let mut ws = Ws::open(&t.ws).await;
    let id = t.ids(&conn).await[0].clone();
    let del = |rid: &str, mid: &str| json!({"id": rid, "type": "delete_message", "recipientURI": conn.ru, "messageId": mid});
    // Not subscribed: no delete.
    ws.send(&del("d1", &id)).await;
    assert_eq!(
        ws.recv().await,
        json!({"id": "d1", "type": "delete_message", "recipientURI": conn.ru, "messageId": id, "ok": false})
    );
    assert_eq!(t.ids(&conn).await.len(), 1);
    ws.subscribe("s", &conn.ru, &rk).await;
    ws.recv().await;
    ws.send(&del("d2", &id)).await;
    assert_eq!(ws.recv().await["ok"], true);
    assert!(t.ids(&conn).await.is_empty());
    ws.send(&del("d3", &id)).await;
    assert_eq!(ws.recv().await["ok"], false);
    ws.send(&del("d4", "unknown")).await;
    assert_eq!(ws.recv().await["ok"], false);
    t.get(&conn, &format!("{}/{id}", conn.messages()))
        .await
        .unauthorized();

    let unsub = |rid: &str| json!({"id": rid, "type": "unsubscribe", "recipientURI": conn.ru});
    ws.send(&unsub("u1")).await;
    assert_eq!(
        ws.recv().await,
        json!({"id": "u1", "type": "unsubscribe", "recipientURI": conn.ru, "ok": true})
    );
    t.send(&conn, "AQ==").await.ok();
    ws.quiet().await;
    ws.send(&unsub("u2")).await;
    assert_eq!(ws.recv().await["ok"], false);
    // Subscribing again pushes the backlog again.
    ws.subscribe("s2", &conn.ru, &rk).await;
    is_push(&ws.recv().await, &conn.ru, "AQ==");
}

#[tokio::test]
async fn live_pushes_keep_the_receive_order() {
    let t = plain().await;
    let rk = Key::load("rsa2048-a");
    let conn = t.create(&rk).await;
    let mut ws = Ws::open(&t.ws).await;
    ws.subscribe("s", &conn.ru, &rk).await;
    for i in 0..20u8 {
        t.send(&conn, &b64(i, 1)).await.ok();
    }
    let mut seen = Vec::new();
    for _ in 0..20 {
        let m = ws.recv().await;
        seen.push(m["message"]["msg"].as_str().unwrap().to_owned());
    }
    let expected: Vec<String> = (0..20u8).map(|i| b64(i, 1)).collect();
    assert_eq!(seen, expected);
    ws.quiet().await;
}

#[tokio::test]
async fn rest_delete_ends_subscriptions() {
    let t = plain().await;
    let rk = Key::load("rsa2048-a");
    let conn = t.create(&rk).await;
    let mut a = Ws::open(&t.ws).await;
    let mut b = Ws::open(&t.ws).await;
    a.subscribe("s", &conn.ru, &rk).await;
    b.subscribe("s", &conn.ru, &rk).await;
    t.send(&conn, "AA==").await.ok();
    is_push(&a.recv().await, &conn.ru, "AA==");
    is_push(&b.recv().await, &conn.ru, "AA==");
    t.delete(&conn, &conn.ru.clone()).await.ok();
    a.send(&json!({"id": "u", "type": "unsubscribe", "recipientURI": conn.ru}))
        .await;
    assert_eq!(a.recv().await["ok"], false);
    b.quiet().await;
}

#[tokio::test]
async fn invalid_messages_keep_the_session() {
    let t = plain().await;
    let mut ws = Ws::open(&t.ws).await;
    for (text, id, error) in [
        ("not json", Value::Null, ""),
        ("[1]", Value::Null, ""),
        (r#"{"id":"1","type":"nope"}"#, json!("1"), "/type"),
        (r#"{"id":5,"type":"unsubscribe"}"#, Value::Null, "/id"),
        (
            r#"{"id":"2","type":"unsubscribe"}"#,
            json!("2"),
            "/recipientURI",
        ),
        (
            r#"{"id":"3","type":"subscribe","recipientURI":"x","auth":"!"}"#,
            json!("3"),
            "/auth",
        ),
        (
            r#"{"id":"4","type":"delete_message","recipientURI":"x","messageId":""}"#,
            json!("4"),
            "/messageId",
        ),
        (
            r#"{"id":"5","type":"unsubscribe","recipientURI":"x","z":1,"a":2}"#,
            json!("5"),
            "/z",
        ),
        (
            r#"{"id":"6","type":"unsubscribe","recipientURI":"x","recipientURI":"y"}"#,
            json!("6"),
            "",
        ),
        (r#"{"id":"7","type":"hello"}"#, json!("7"), "/type"),
    ] {
        ws.send_text(text).await;
        assert_eq!(
            ws.recv().await,
            json!({"id": id, "type": "invalid", "error": error}),
            "{text}"
        );
    }
    ws.stream.send_binary_for_test(b"{}").await;
    assert_eq!(
        ws.recv().await,
        json!({"id": null, "type": "invalid", "error": ""})
    );
    // Over MAX_WEBSOCKET_MESSAGE: invalid; far over it: closed with 1009. Never a crash.
    let big = format!(
        r#"{{"id":"x","type":"unsubscribe","recipientURI":"{}"}}"#,
        "a".repeat(70_000)
    );
    ws.send_text(&big).await;
    assert_eq!(
        ws.recv().await,
        json!({"id": null, "type": "invalid", "error": ""})
    );
    ws.send_text(&"a".repeat(200_000)).await;
    match ws.next_frame(REPLY).await {
        Some(Frame::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected a close with 1009, got {other:?}"),
    }
    // The server lives on.
    let mut again = Ws::open(&t.ws).await;
    again
        .send(&json!({"id": "u", "type": "unsubscribe", "recipientURI": "x"}))
        .await;
    assert_eq!(again.recv().await["ok"], false);
}

#[tokio::test]
async fn handshake_rules() {
    let t = plain().await;
    let mut request = t.ws.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", "a=b".parse().unwrap());
    let host =
        t.ws.strip_prefix("ws://")
            .unwrap()
            .split('/')
            .next()
            .unwrap();
    let tcp = tokio::net::TcpStream::connect(host).await.unwrap();
    match tokio_tungstenite::client_async(request, tcp).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400)
        }
        other => panic!("expected 400, got {:?}", other.map(|_| ())),
    }
    let r = t.raw("GET", &t.ce, &[], b"").await;
    assert_eq!(r.status, 426);
}

#[tokio::test]
async fn concurrent_senders_no_duplicates_in_order() {
    let t = Arc::new(plain().await);
    let rk = Key::load("rsa2048-a");
    let conn = Arc::new(t.create(&rk).await);
    for i in 0..15u8 {
        t.send(&conn, &b64(i, 2)).await.ok();
    }
    let sender = {
        let (t, conn) = (t.clone(), conn.clone());
        tokio::spawn(async move {
            for i in 15..40u8 {
                t.send(&conn, &b64(i, 2)).await.ok();
            }
        })
    };
    let mut ws = Ws::open(&t.ws).await;
    ws.subscribe("s", &conn.ru, &rk).await;
    sender.await.unwrap();
    let mut seen = Vec::new();
    while let Some(Frame::Text(text)) = ws.next_frame(QUIET).await {
        let v: Value = serde_json::from_str(&text).unwrap();
        seen.push(v["message"]["msg"].as_str().unwrap().to_owned());
    }
    let expected: Vec<String> = (0..40u8).map(|i| b64(i, 2)).collect();
    assert_eq!(seen, expected);
}
