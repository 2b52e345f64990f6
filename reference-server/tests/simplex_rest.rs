//! simplex-v5 REST: the endpoints end to end and every failure path (V-400, V-401,
//! VB-ROUTE, VB-ORDER), over plain HTTP on 127.0.0.1.

mod simplex_common;

use serde_json::json;
use simplex_common::*;

#[tokio::test]
async fn create_secure_send_retrieve_delete() {
    let t = plain_with(|c| c.page_size = 3).await;
    let rk = Key::load("rsa2048-a");
    let sk = Key::load("rsa2048-b");
    let mut conn = t.create(&rk).await;
    assert_ne!(conn.ru, conn.su);
    assert!(conn.ru.starts_with(&format!("{}/", t.ce)));
    // Open sends: unsigned, and signed by anyone.
    t.send(&conn, "aGVsbG8=").await.ok();
    t.call(
        "POST",
        &format!("{}/messages", conn.su),
        Some(&rk),
        &json!({"msg": "AQ=="}),
    )
    .await
    .ok();
    t.secure(&mut conn, &sk).await;
    for i in 0..3u8 {
        t.send(&conn, &b64(i, 3)).await.ok();
    }
    // Unsigned or wrongly signed sends after secure: 401, nothing stored.
    let su_messages = format!("{}/messages", conn.su);
    t.call("POST", &su_messages, None, &json!({"msg": "AA=="}))
        .await
        .unauthorized();
    t.call("POST", &su_messages, Some(&rk), &json!({"msg": "AA=="}))
        .await
        .unauthorized();

    let r = t.get(&conn, &conn.messages()).await;
    r.expect(200);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(r.content_type(), Some("application/json"));
    let page = r.json();
    let first = ids(&page);
    assert_eq!(first.len(), 3);
    let m0 = &page["messages"][0];
    assert_eq!(m0["msg"], "aGVsbG8=");
    assert_eq!(m0["size"], 5);
    assert!(m0["ts"].as_str().unwrap().ends_with('Z'));
    assert_eq!(m0.as_object().unwrap().len(), 4);
    let next = page["nextMessageID"].as_str().unwrap().to_owned();
    // Non-destructive and identical.
    assert_eq!(t.page(&conn).await, page);
    let second = t
        .get(&conn, &format!("{}?fromMessageId={next}", conn.messages()))
        .await;
    second.expect(200);
    let second = second.json();
    assert_eq!(ids(&second)[0], next);
    assert_eq!(ids(&second).len(), 2);
    assert!(second.get("nextMessageID").is_none());

    // Retrieve one, delete one, delete again.
    let one = format!("{}/{}", conn.messages(), first[1]);
    let r = t.get(&conn, &one).await;
    r.expect(200);
    assert_eq!(r.json()["msg"], "AQ==");
    t.delete(&conn, &one).await.ok();
    t.delete(&conn, &one).await.unauthorized();
    t.get(&conn, &one).await.unauthorized();
    t.get(
        &conn,
        &format!("{}?fromMessageId={}", conn.messages(), first[1]),
    )
    .await
    .unauthorized();
    assert_eq!(t.ids(&conn).await.len(), 3);

    // Delete the connection: everything is gone.
    t.delete(&conn, &conn.ru.clone()).await.ok();
    t.get(&conn, &conn.messages()).await.unauthorized();
    t.send(&conn, "AA==").await.unauthorized();
    t.delete(&conn, &conn.ru.clone()).await.unauthorized();
    t.call("PUT", &conn.ru, Some(&rk), &json!({"sender": sk.spki}))
        .await
        .unauthorized();
}

#[tokio::test]
async fn exact_pages_and_large_messages() {
    let t = plain_with(|c| {
        c.page_size = 2;
        c.large_message = 10;
    })
    .await;
    let conn = t.create(&Key::load("rsa2048-a")).await;
    assert_eq!(t.page(&conn).await, json!({"messages": []}));
    t.send(&conn, &b64(1, 10)).await.ok();
    t.send(&conn, &b64(2, 11)).await.ok();
    let page = t.page(&conn).await;
    assert_eq!(ids(&page).len(), 2);
    assert!(page.get("nextMessageID").is_none());
    assert_eq!(page["messages"][0]["msg"], b64(1, 10));
    assert_eq!(page["messages"][1]["size"], 11);
    assert!(page["messages"][1].get("msg").is_none());
    let one = t
        .get(&conn, &format!("{}/{}", conn.messages(), ids(&page)[1]))
        .await;
    one.expect(200);
    assert_eq!(one.json()["msg"], b64(2, 11));
    t.send(&conn, "AA==").await.ok();
    let page = t.page(&conn).await;
    assert_eq!(ids(&page).len(), 2);
    assert!(page["nextMessageID"].is_string());
}

#[tokio::test]
async fn second_secure_and_create_signatures() {
    let t = plain().await;
    let rk = Key::load("rsa2048-a");
    let sk = Key::load("rsa2048-b");
    let mut conn = t.create(&rk).await;
    t.secure(&mut conn, &sk).await;
    let other = Key::load("rsa2048-c");
    t.call("PUT", &conn.ru, Some(&rk), &json!({"sender": other.spki}))
        .await
        .unauthorized();
    t.send(&conn, "AA==").await.ok();
    // Create: unsigned, signed by another key, PKCS#1 v1.5.
    let body = serde_json::to_vec(&json!({"recipient": rk.spki})).unwrap();
    t.signed("POST", &t.ce, None, &body).await.unauthorized();
    t.signed("POST", &t.ce, Some(&other), &body)
        .await
        .unauthorized();
    let v15 = format!("EMSig {}", rk.sign_pkcs1v15("POST", &path_of(&t.ce), &body));
    t.raw(
        "POST",
        &t.ce,
        &[
            ("content-type", "application/json"),
            ("authorization", &v15),
        ],
        &body,
    )
    .await
    .unauthorized();
}

#[tokio::test]
async fn routes_and_methods_all_401() {
    let t = plain().await;
    let rk = Key::load("rsa2048-a");
    let conn = t.create(&rk).await;
    t.send(&conn, "AA==").await.ok();
    let id = t.ids(&conn).await[0].clone();
    let su_messages = format!("{}/messages", conn.su);
    let origin = t.ce.trim_end_matches("/connection").to_owned();
    for (method, url) in [
        ("GET", conn.ru.clone()),
        ("POST", conn.ru.clone()),
        ("PATCH", conn.ru.clone()),
        ("GET", conn.su.clone()),
        ("DELETE", conn.su.clone()),
        ("GET", su_messages.clone()),
        ("DELETE", su_messages.clone()),
        ("DELETE", conn.messages()),
        ("GET", format!("{su_messages}/{id}")),
        ("GET", format!("{}/other", conn.ru)),
        ("GET", format!("{}/", conn.ru)),
        ("GET", format!("{origin}/nothing")),
        ("GET", format!("{}/Messages", conn.ru)),
        ("OPTIONS", conn.ru.clone()),
    ] {
        let r = t.signed(method, &url, Some(&rk), b"").await;
        assert_eq!(r.status, 401, "{method} {url}");
        assert_eq!(r.body, b"\"Unauthorized\"", "{method} {url}");
    }
    // RK-signed send to SU/messages of the right shape goes through (open connection);
    // other role's suffixes, even well-formed, are 401.
    t.call("PUT", &conn.su, Some(&rk), &json!({"sender": rk.spki}))
        .await
        .unauthorized();
    t.call("POST", &conn.messages(), Some(&rk), &json!({"msg": "AA=="}))
        .await
        .unauthorized();
    t.call("POST", &conn.messages(), None, &json!({"msg": "AA=="}))
        .await
        .unauthorized();
    assert_eq!(t.ids(&conn).await.len(), 1);
    for method in ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"] {
        let r = t.raw(method, &t.ce, &[], b"").await;
        assert_eq!(r.status, 405, "{method}");
    }
    let r = t.raw("GET", &t.ce, &[], b"").await;
    assert!([400, 405, 426].contains(&r.status), "{}", r.status);
}

#[tokio::test]
async fn syntax_400_before_401() {
    let t = plain().await;
    let rk = Key::load("rsa2048-a");
    let conn = t.create(&rk).await;
    t.send(&conn, "AA==").await.ok();
    let dead = format!("{}/nope", t.ce);
    let key = |k: &str| json!({ k: rk.spki });
    // Bodies (live and dead URIs alike).
    for ru in [conn.ru.clone(), dead.clone()] {
        for body in [
            json!({}),
            json!({"sender": null}),
            json!({"sender": 1}),
            json!({"sender": "x"}),
            json!({"sender": rk.spki, "x": 1}),
            key("recipient"),
        ] {
            t.call("PUT", &ru, Some(&rk), &body).await.expect(400);
        }
        t.signed("PUT", &ru, Some(&rk), b"").await.expect(400);
        t.signed("PUT", &ru, Some(&rk), b"[]").await.expect(400);
        let sig = format!(
            "EMSig {}",
            rk.sign("PUT", &path_of(&ru), br#"{"sender":"x"}"#)
        );
        t.raw("PUT", &ru, &[("authorization", &sig)], br#"{"sender":"x"}"#)
            .await
            .expect(400);
        // Queries, cookies, bodies on GET and DELETE.
        let m = format!("{ru}/messages");
        for query in [
            "?",
            "?x=1",
            "?fromMessageId=",
            "?fromMessageId=a.b",
            "?fromMessageId=a&fromMessageId=a",
            "?fromMessageId=a&x=1",
        ] {
            t.get(&conn, &format!("{m}{query}")).await.expect(400);
        }
        t.get(&conn, &format!("{ru}?x")).await.expect(400);
        t.delete(&conn, &format!("{ru}?")).await.expect(400);
        let r = t.raw("GET", &m, &[("cookie", "a=b")], b"").await;
        r.expect(400);
        t.signed("GET", &m, Some(&rk), b"{}").await.expect(400);
        t.signed("DELETE", &ru, Some(&rk), b"{}").await.expect(400);
        t.get(&conn, &format!("{m}/a.b")).await.expect(400);
        t.get(&conn, &format!("{m}/{}", "a".repeat(65)))
            .await
            .expect(400);
    }
    // Create and send schemas.
    for body in [
        json!({}),
        json!({"recipient": rk.spki, "sender": rk.spki}),
        json!({"recipient": null}),
        json!({"connectionID": "abcdefgh", "recipient": rk.spki}),
    ] {
        t.call("POST", &t.ce, Some(&rk), &body).await.expect(400);
    }
    let s = format!("{}/messages", conn.su);
    for body in [
        json!({}),
        json!({"msg": ""}),
        json!({"msg": "AA="}),
        json!({"msg": null}),
        json!({"msg": "AA==", "ts": "x"}),
        json!({"messages": [{"msg": "AA=="}]}),
    ] {
        t.call("POST", &s, None, &body).await.expect(400);
    }
    t.raw("POST", &s, &[], br#"{"msg":"AA=="}"#)
        .await
        .expect(400);
    t.raw(
        "POST",
        &s,
        &[("content-type", "text/plain")],
        br#"{"msg":"AA=="}"#,
    )
    .await
    .expect(400);
    t.raw(
        "POST",
        &s,
        &[("content-type", "application/json")],
        br#"{"msg":"AA==","msg":"AA=="}"#,
    )
    .await
    .expect(400);
    // A GET carrying Content-Type is fine (ignored).
    let sig = format!("EMSig {}", rk.sign("GET", &path_of(&conn.messages()), b""));
    t.raw(
        "GET",
        &conn.messages(),
        &[("content-type", "text/plain"), ("authorization", &sig)],
        b"",
    )
    .await
    .expect(200);
    // 413 first.
    let big = vec![b'x'; 1024 * 1024 + 1];
    t.raw(
        "POST",
        &format!("{dead}/messages"),
        &[("cookie", "a")],
        &big,
    )
    .await
    .expect(413);
    assert_eq!(t.ids(&conn).await.len(), 1);
}

#[tokio::test]
async fn value_failures_are_401_unauthorized() {
    let t = plain().await;
    let rk = Key::load("rsa2048-a");
    let other = Key::load("rsa2048-b");
    let conn = t.create(&rk).await;
    let conn2 = t.create(&other).await;
    t.send(&conn, "AA==").await.ok();
    t.send(&conn2, "AQ==").await.ok();
    let foreign = t.ids(&conn2).await[0].clone();
    let m = conn.messages();
    t.signed("GET", &m, Some(&other), b"").await.unauthorized();
    t.signed("GET", &m, None, b"").await.unauthorized();
    t.raw("GET", &m, &[("authorization", "EMSig AAAA")], b"")
        .await
        .unauthorized();
    t.raw("GET", &m, &[("authorization", "Bearer x")], b"")
        .await
        .unauthorized();
    t.get(&conn, &format!("{m}?fromMessageId={foreign}"))
        .await
        .unauthorized();
    t.get(&conn, &format!("{m}/{foreign}")).await.unauthorized();
    t.delete(&conn, &format!("{m}/{foreign}"))
        .await
        .unauthorized();
    t.get(&conn, &format!("{m}/unknownId")).await.unauthorized();
    // The signature covers the query.
    let sig = format!("EMSig {}", rk.sign("GET", &path_of(&m), b""));
    let id = t.ids(&conn).await[0].clone();
    t.raw(
        "GET",
        &format!("{m}?fromMessageId={id}"),
        &[("authorization", &sig)],
        b"",
    )
    .await
    .unauthorized();
    assert_eq!(t.ids(&conn2).await, vec![foreign]);
}

#[tokio::test]
async fn uris_are_random_and_keyless() {
    let t = plain().await;
    let rk = Key::load("rsa2048-a");
    let a = t.create(&rk).await;
    let b = t.create(&rk).await;
    assert_ne!(a.ru, b.ru);
    assert_ne!(a.su, b.su);
    for uri in [&a.ru, &a.su] {
        let token = uri.rsplit('/').next().unwrap();
        assert_eq!(token.len(), 22);
        assert!(!rk.spki.contains(token));
    }
}
