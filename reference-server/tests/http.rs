//! The HTTP layer: routing, methods, signature headers, Content-Type and JSON, sizes,
//! response headers, the order of checks, raw request-targets, TLS with HTTP/1.1 and HTTP/2.

mod common;

use common::{
    chunked_post, https, new_cid, path_of, plain, plain_with, raw_socket, Key, TestServer,
};
use edge_reference_server::{start, Config, StartError, Tls};
use serde_json::json;

const JSON: (&str, &str) = ("content-type", "application/json");

fn create_body(rk: &Key) -> Vec<u8> {
    serde_json::to_vec(&json!({"connectionID": new_cid(), "recipient": rk.spki})).unwrap()
}

#[tokio::test]
async fn routing_is_literal() {
    let t = plain().await;
    let rk = Key::load("rsa2048-a");
    let conn = t.create(&rk, None).await;
    let id = serde_json::to_vec(&json!({"connectionID": conn.cid})).unwrap();
    let origin = t.ce.trim_end_matches("/connection");
    let token = conn.ru.rsplit('/').next().unwrap();

    // S-GEN-404: everything that is not literally CE, RU, SU or their /messages.
    for url in [
        format!("{origin}/connection/"),
        format!("{origin}/%63onnection"),
        format!("{origin}/Connection"),
        format!("{origin}/%63onnection/{token}/messages"),
        format!("{}/", conn.ru),
        format!("{}/messages/", conn.ru),
        format!("{}/Messages", conn.ru),
        format!("{}/%6Dessages", conn.ru),
        format!("{}x", conn.ru),
        format!("{origin}/connection/{}", token.to_lowercase()),
        format!("{origin}/connection/unknown-token/messages"),
        format!("{origin}/"),
        format!("{origin}/other"),
    ] {
        let r = t.signed_raw("POST", &url, &rk, &[JSON], &id).await;
        assert_eq!(r.status, 404, "{url}");
        let r = t.signed_raw("PUT", &url, &rk, &[JSON], &id).await;
        assert_eq!(r.status, 404, "{url}");
    }
    // A NUL byte, percent-encoded.
    let nul = format!("{}%00/messages", conn.ru);
    assert_eq!(
        t.signed_raw("POST", &nul, &rk, &[JSON], &id).await.status,
        404
    );
    // Dot segments, which a URL library would remove: raw socket.
    let addr = t.server.local_addr();
    let path = format!("/connection/./{token}/messages");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        id.len(),
        String::from_utf8_lossy(&id)
    );
    assert_eq!(raw_socket(addr, request.as_bytes()).await.0, 404);
}

#[tokio::test]
async fn undefined_methods() {
    let t = plain().await;
    let (rk, sk) = (Key::load("rsa2048-a"), Key::load("rsa2048-b"));
    let conn = t.secured(&rk, &sk).await;
    t.send(&conn, &["QQ=="]).await.expect(200);
    let id = serde_json::to_vec(&json!({"connectionID": conn.cid})).unwrap();
    let cases = [
        ("GET", conn.ru.clone(), "PUT, DELETE"),
        ("POST", conn.ru.clone(), "PUT, DELETE"),
        ("PATCH", conn.ru.clone(), "PUT, DELETE"),
        ("GET", format!("{}/messages", conn.ru), "POST, DELETE"),
        ("PUT", format!("{}/messages", conn.ru), "POST, DELETE"),
        ("PUT", format!("{}/messages", conn.su), "POST"),
        ("DELETE", format!("{}/messages", conn.su), "POST"),
        ("GET", conn.su.clone(), "PUT"),
        ("DELETE", conn.su.clone(), "PUT"),
        ("POST", conn.su.clone(), "PUT"),
        ("GET", t.ce.clone(), "POST"),
        ("PUT", t.ce.clone(), "POST"),
        ("OPTIONS", t.ce.clone(), "POST"),
    ];
    for (method, url, allow) in cases {
        let r = t.signed_raw(method, &url, &rk, &[JSON], &id).await;
        assert_eq!(r.status, 405, "{method} {url}");
        assert_eq!(r.headers["allow"], allow, "{method} {url}");
    }
    let r = t.raw("HEAD", &conn.ru, &[], b"").await;
    assert_eq!(r.status, 405);
    // Methods are case-sensitive: `post` is not POST.
    let addr = t.server.local_addr();
    let body = create_body(&rk);
    let request = format!(
        "post /connection HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(&body);
    assert_eq!(raw_socket(addr, &bytes).await.0, 405);
    // Nothing changed.
    assert_eq!(t.drain(&conn, json!({})).await, ["QQ=="]);
}

#[tokio::test]
async fn signature_header_forms() {
    let t = plain().await;
    let (rk, other) = (Key::load("rsa2048-a"), Key::load("rsa2048-c"));
    let conn = t.create(&rk, None).await;
    let url = format!("{}/messages", conn.ru);
    let path = path_of(&url);
    let body =
        serde_json::to_vec(&json!({"connectionID": conn.cid, "keepMessages": true})).unwrap();
    let sig = rk.sign("POST", &path, &body);

    let check = |auth: Vec<String>, status: u16| {
        let t: &TestServer = &t;
        let url = url.clone();
        let body = body.clone();
        async move {
            let mut headers = vec![JSON];
            for a in &auth {
                headers.push(("authorization", a.as_str()));
            }
            let r = t.raw("POST", &url, &headers, &body).await;
            assert_eq!(r.status, status, "Authorization {auth:?}");
        }
    };
    // B-SIG-HDR: scheme case-insensitive, one space, surrounding whitespace ignored.
    for ok in [
        format!("EMSig {sig}"),
        format!("emsig {sig}"),
        format!("EMSIG {sig}"),
        format!("  EMSig {sig}  "),
    ] {
        check(vec![ok], 200).await;
    }
    let unpadded = sig.trim_end_matches('=').to_owned();
    let url_safe = sig.replace('+', "-").replace('/', "_");
    let padded_sig = if unpadded == sig {
        None
    } else {
        Some(unpadded)
    };
    let mut bad = vec![
        format!("EMSig  {sig}"),
        format!("Bearer {sig}"),
        format!("EMSig1 {sig}"),
        sig.clone(),
        format!("EMSig {}", &sig[..sig.len() - 4]),
        format!("EMSig {} {}", &sig[..8], &sig[8..]),
        "EMSig ".to_owned(),
        format!("EMSig {}", rk.sign_salt(20, "POST", &path, &body)),
        format!("EMSig {}", rk.sign_salt(0, "POST", &path, &body)),
        format!("EMSig {}", rk.sign_pkcs1v15("POST", &path, &body)),
        format!("EMSig {}", other.sign("POST", &path, &body)),
        format!("EMSig {}", rk.sign("PUT", &path, &body)),
        format!("EMSig {}", rk.sign("POST", &path_of(&conn.ru), &body)),
        format!("EMSig {}", rk.sign("POST", &path, b"{}")),
        format!("EMSig {}", rk.sign("POST", &format!("{path}?"), &body)),
    ];
    if url_safe != sig {
        bad.push(format!("EMSig {url_safe}"));
    }
    if let Some(unpadded) = padded_sig {
        bad.push(format!("EMSig {unpadded}"));
    }
    for b in bad {
        check(vec![b], 401).await;
    }
    check(vec![], 401).await;
    check(vec![format!("EMSig {sig}"), format!("EMSig {sig}")], 401).await;

    // B-SIG-INPUT: the query, even a bare `?`, is part of the signed path.
    for query in ["?", "?x=1", "?a=%20&b"] {
        let with_query = format!("{url}{query}");
        assert_eq!(
            path_of(&with_query),
            format!("{path}{query}"),
            "the client keeps the query"
        );
        let r = t.signed_raw("POST", &with_query, &rk, &[JSON], &body).await;
        assert_eq!(r.status, 200, "{query}");
        let auth = format!("EMSig {sig}");
        let r = t
            .raw(
                "POST",
                &with_query,
                &[JSON, ("authorization", &auth)],
                &body,
            )
            .await;
        assert_eq!(r.status, 401, "{query} signed without the query");
    }
}

#[tokio::test]
async fn content_type_and_strict_json() {
    let t = plain().await;
    let rk = Key::load("rsa2048-a");
    let post = |headers: Vec<(&'static str, &'static str)>, body: Vec<u8>| {
        let t: &TestServer = &t;
        let rk = rk.clone();
        async move {
            t.signed_raw("POST", &t.ce, &rk, &headers, &body)
                .await
                .status
        }
    };
    // S-HDR-JSON: parameters and case allowed.
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/json;charset=ISO-8859-1",
    ] {
        assert_eq!(
            post(vec![("content-type", ct)], create_body(&rk)).await,
            201,
            "{ct}"
        );
    }
    // B-CT-400.
    assert_eq!(post(vec![], create_body(&rk)).await, 400);
    for ct in [
        "text/plain",
        "application/jsonx",
        "application/x-json",
        "json",
        "application/json, text/plain",
    ] {
        assert_eq!(
            post(vec![("content-type", ct)], create_body(&rk)).await,
            400,
            "{ct}"
        );
    }
    assert_eq!(post(vec![JSON, JSON], create_body(&rk)).await, 400);
    let valid = String::from_utf8(create_body(&rk)).unwrap();
    assert_eq!(
        post(vec![JSON], format!("{valid} \r\n\t").into_bytes()).await,
        201
    );
    for body in [
        format!("{valid}x"),
        format!("{valid}{{}}"),
        format!("[{valid}]"),
        "\"string\"".to_owned(),
        valid.replacen('{', "{\"connectionID\":\"abcdefgh\",", 1),
        valid.replacen('}', ",\"extra\":1}", 1),
        valid.replacen('}', ",\"sender\":null}", 1),
        valid.replacen('}', ",\"disabled\":\"true\"}", 1),
        String::new(),
    ] {
        assert_eq!(
            post(vec![JSON], body.clone().into_bytes()).await,
            400,
            "{body}"
        );
    }
    // B-NO-5XX: deep nesting and pageSize 0 are plain 400s.
    for depth in [33, 65, 10_000] {
        let deep = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let body = valid.replacen('}', &format!(",\"x\":{deep}}}"), 1);
        assert_eq!(
            post(vec![JSON], body.into_bytes()).await,
            400,
            "depth {depth}"
        );
    }
    let conn = t.create(&rk, None).await;
    let zero = serde_json::to_vec(&json!({"connectionID": conn.cid, "pageSize": 0})).unwrap();
    let url = format!("{}/messages", conn.ru);
    t.signed_raw("POST", &url, &rk, &[JSON], &zero)
        .await
        .expect(400);
    t.signed_raw("DELETE", &url, &rk, &[JSON], &zero)
        .await
        .expect(400);
    let mut not_utf8 = valid.clone().into_bytes();
    let at = not_utf8.len() - 2;
    not_utf8.insert(at, 0xff);
    assert_eq!(post(vec![JSON], not_utf8).await, 400);
    let fresh = String::from_utf8(create_body(&rk)).unwrap();
    assert_eq!(
        post(
            vec![JSON],
            fresh.replacen('}', ",\"disabled\":false}", 1).into_bytes()
        )
        .await,
        201
    );
}

#[tokio::test]
async fn body_size_limit() {
    let t = plain_with(|c| c.body_limit = 4096).await;
    let rk = Key::load("rsa2048-a");
    let conn = t.create(&rk, None).await;
    let url = format!("{}/messages", conn.su);
    let body_of = |chars: usize| {
        serde_json::to_vec(
            &json!({"connectionID": conn.cid, "messages": [{"msg": "A".repeat(chars)}]}),
        )
        .unwrap()
    };
    let fits = body_of(4000);
    assert!(fits.len() <= 4096);
    t.raw("POST", &url, &[JSON], &fits).await.expect(200);
    let over = body_of(4100);
    // B-SIZE: decided from Content-Length.
    t.raw("POST", &url, &[JSON], &over).await.expect(413);
    // And from a chunked body, while counting.
    let addr = t.server.local_addr();
    let path = path_of(&url);
    let request = chunked_post(addr, &path, &over);
    assert_eq!(raw_socket(addr, &request).await.0, 413);
    // A chunked body within the limit is fine.
    let mut small = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        fits.len()
    )
    .into_bytes();
    small.extend_from_slice(&fits);
    small.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(raw_socket(addr, &small).await.0, 200);
    // Only the fitting messages were stored.
    assert_eq!(t.drain(&conn, json!({})).await.len(), 2);
}

#[tokio::test]
async fn oversized_body_at_the_default_limit() {
    let t = plain().await;
    let rk = Key::load("rsa2048-a");
    let conn = t.create(&rk, None).await;
    let url = format!("{}/messages", conn.su);
    let huge = serde_json::to_vec(
        &json!({"connectionID": conn.cid, "messages": [{"msg": "A".repeat(2 << 20)}]}),
    )
    .unwrap();
    // The client sees the 413 even though the server does not read the body.
    t.raw("POST", &url, &[JSON], &huge).await.expect(413);
    t.send(&conn, &["QQ=="]).await.expect(200);
}

#[tokio::test]
async fn response_headers() {
    let t = plain().await;
    let (rk, sk) = (Key::load("rsa2048-a"), Key::load("rsa2048-b"));
    let conn = t.secured(&rk, &sk).await;
    let id = json!({"connectionID": conn.cid});
    let responses = vec![
        t.call(
            "POST",
            &t.ce,
            Some(&rk),
            &json!({"connectionID": new_cid(), "recipient": rk.spki}),
        )
        .await,
        t.send(&conn, &["QQ=="]).await,
        t.retrieve(&conn, json!({"keepMessages": true})).await,
        t.call(
            "PUT",
            &conn.ru,
            Some(&rk),
            &json!({"connectionID": conn.cid, "newSenderURI": true}),
        )
        .await,
        t.call("DELETE", &format!("{}/messages", conn.ru), Some(&rk), &id)
            .await,
        t.call("PUT", &conn.ru, None, &id).await,
        t.call("PUT", &format!("{}/nope", t.ce), Some(&rk), &id)
            .await,
        t.raw("GET", &conn.ru, &[], b"").await,
        t.raw("POST", &t.ce, &[], b"{}").await,
        t.call("DELETE", &conn.ru, Some(&rk), &id).await,
    ];
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201, 200, 200, 200, 200, 401, 404, 405, 400, 200]);
    for r in &responses {
        // B-CACHE, B-NO-COOKIE.
        assert_eq!(r.headers["cache-control"], "no-store", "{}", r.status);
        assert!(r.headers.get("set-cookie").is_none());
        if r.body.is_empty() {
            continue;
        }
        assert_eq!(r.headers["content-type"], "application/json");
        let v = r.json();
        if r.status >= 400 {
            // B-ERR-BODY.
            assert!(v["error"].is_string(), "{v}");
        }
    }
}

#[tokio::test]
async fn order_of_checks() {
    let t = plain_with(|c| {
        c.body_limit = 2048;
        c.queue_cap = Some(1);
    })
    .await;
    let (rk, sk, other) = (
        Key::load("rsa2048-a"),
        Key::load("rsa2048-b"),
        Key::load("rsa2048-c"),
    );
    let conn = t.secured(&rk, &sk).await;
    let open = t.create(&rk, None).await;
    let unknown = format!("{}/unknown", t.ce);
    let bad_json = b"{not json".to_vec();

    // 1. route before everything.
    t.raw("POST", &unknown, &[], &bad_json).await.expect(404);
    t.raw("GET", &conn.ru, &[], &bad_json).await.expect(405);
    // 2. size before Content-Type; Content-Type before JSON and signature.
    t.raw("POST", &t.ce, &[], &vec![b' '; 4096])
        .await
        .expect(413);
    t.raw("POST", &t.ce, &[("content-type", "text/plain")], &bad_json)
        .await
        .expect(400);
    // PUT SU: prohibited properties (401) after JSON (400), before the schema.
    t.raw("PUT", &conn.su, &[JSON], b"{\"disabled\":true")
        .await
        .expect(400);
    let prohibited = json!({"disabled": true, "unknown": 1});
    t.call("PUT", &conn.su, None, &prohibited).await.expect(401);
    // Schema (400) before connection (404) before signature (401).
    t.call(
        "PUT",
        &conn.ru,
        None,
        &json!({"connectionID": new_cid(), "x": 1}),
    )
    .await
    .expect(400);
    t.call("PUT", &conn.ru, None, &json!({"connectionID": new_cid()}))
        .await
        .expect(404);
    t.call("PUT", &open.su, None, &json!({"connectionID": new_cid()}))
        .await
        .expect(404);
    t.call(
        "PUT",
        &open.su,
        None,
        &json!({"connectionID": open.cid, "x": 1}),
    )
    .await
    .expect(400);
    // Signature (401) before state (400, 403, 429).
    let retr = json!({"connectionID": conn.cid, "fromMessageID": "unknown"});
    t.call(
        "POST",
        &format!("{}/messages", conn.ru),
        Some(&other),
        &retr,
    )
    .await
    .expect(401);
    t.call("POST", &format!("{}/messages", conn.ru), Some(&rk), &retr)
        .await
        .expect(400);
    t.call(
        "PUT",
        &open.ru,
        Some(&other),
        &json!({"connectionID": open.cid}),
    )
    .await
    .expect(401);
    t.call(
        "PUT",
        &open.ru,
        Some(&rk),
        &json!({"connectionID": open.cid}),
    )
    .await
    .expect(400);
    t.send(&conn, &["QQ=="]).await.expect(200);
    t.call(
        "PUT",
        &conn.ru,
        Some(&rk),
        &json!({"connectionID": conn.cid, "disabled": true}),
    )
    .await
    .expect(200);
    let send = json!({"connectionID": conn.cid, "messages": [{"msg": "QQ=="}]});
    t.call("POST", &format!("{}/messages", conn.su), None, &send)
        .await
        .expect(401);
    // 403 before 429: the queue is full and the connection disabled.
    t.send(&conn, &["QQ=="]).await.expect(403);
    // 409 only after a valid signature.
    let dup = json!({"connectionID": conn.cid, "recipient": rk.spki});
    t.call("POST", &t.ce, Some(&other), &dup).await.expect(401);
    t.call("POST", &t.ce, Some(&rk), &dup).await.expect(409);
}

#[tokio::test]
async fn absolute_form_request_target() {
    let t = plain().await;
    let rk = Key::load("rsa2048-a");
    let addr = t.server.local_addr();
    let body = create_body(&rk);
    // The signature covers the path only, without scheme and authority.
    let sig = rk.sign("POST", "/connection", &body);
    let mut request = format!(
        "POST http://{addr}/connection HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAuthorization: EMSig {sig}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let (status, text) = raw_socket(addr, &request).await;
    assert_eq!(status, 201, "{text}");
    // URIs come from the configuration, not from Host.
    let body = create_body(&rk);
    let sig = rk.sign("POST", "/connection", &body);
    let mut request = format!(
        "POST /connection HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\nAuthorization: EMSig {sig}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let (status, text) = raw_socket(addr, &request).await;
    assert_eq!(status, 201);
    assert!(
        !text.contains("evil.example") && text.contains(&t.ce),
        "{text}"
    );
}

#[tokio::test]
async fn https_serves_http2_and_http1() {
    let t = https().await;
    assert!(t.ce.starts_with("https://127.0.0.1:"));
    let (rk, sk) = (Key::load("rsa2048-a"), Key::load("rsa2048-b"));
    let conn = t.secured(&rk, &sk).await;
    let r = t.send(&conn, &["QQ=="]).await;
    assert_eq!(r.version, reqwest::Version::HTTP_2);
    r.expect(200);
    // HTTP/1.1 over the same TLS listener.
    let pem = t.server.certificate_pem().unwrap();
    let h1 = reqwest::Client::builder()
        .http1_only()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let body = serde_json::to_vec(&json!({"connectionID": conn.cid})).unwrap();
    let url = format!("{}/messages", conn.ru);
    let r = h1
        .post(&url)
        .header("content-type", "application/json")
        .header(
            "authorization",
            format!("EMSig {}", rk.sign("POST", &path_of(&url), &body)),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(common::msgs(&v), ["QQ=="]);
    // A client that does not trust the certificate is refused.
    let untrusting = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .unwrap();
    assert!(untrusting.post(&t.ce).send().await.is_err());
    t.server.shutdown().await;
}

#[tokio::test]
async fn base_path_and_public_url() {
    let t = plain_with(|c| {
        c.base_path = "/edge/v1".into();
        c.public_url = Some("https://edge.example".into());
    })
    .await;
    assert_eq!(t.ce, "https://edge.example/edge/v1");
    let rk = Key::load("rsa2048-a");
    let local = format!("http://{}", t.server.local_addr());
    let ce = format!("{local}/edge/v1");
    let body = json!({"connectionID": new_cid(), "recipient": rk.spki});
    let v = t.call("POST", &ce, Some(&rk), &body).await.json();
    let ru = v["recipientURI"].as_str().unwrap();
    assert!(ru.starts_with("https://edge.example/edge/v1/"), "{ru}");
    // The same path on the local address serves it.
    let local_ru = ru.replace("https://edge.example", &local);
    let r = t
        .call(
            "POST",
            &format!("{local_ru}/messages"),
            Some(&rk),
            &json!({"connectionID": body["connectionID"]}),
        )
        .await;
    r.expect(200);
    t.call("POST", &format!("{local}/connection"), Some(&rk), &body)
        .await
        .expect(404);
}

#[tokio::test]
async fn startup_errors_say_what_to_fix() {
    let base = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        ..Config::default()
    };
    for (config, expect) in [
        (
            Config {
                base_path: "connection/".into(),
                ..base.clone()
            },
            "base path",
        ),
        (
            Config {
                public_url: Some("example.com".into()),
                ..base.clone()
            },
            "public URL",
        ),
        (
            Config {
                page_size: 0,
                ..base.clone()
            },
            "page size",
        ),
        (
            Config {
                queue_cap: Some(0),
                ..base.clone()
            },
            "queue cap",
        ),
    ] {
        let e = start(config).await.unwrap_err();
        assert!(matches!(e, StartError::Config(_)));
        assert!(e.to_string().contains(expect), "{e}");
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = Config {
        tls: Tls::Files {
            cert: dir.path().join("none.pem"),
            key: dir.path().join("none.key"),
        },
        ..base.clone()
    };
    let e = start(missing).await.unwrap_err();
    assert!(
        matches!(e, StartError::Tls(_)) && e.to_string().contains("none.pem"),
        "{e}"
    );
    let unwritable = Config {
        tls: Tls::SelfSigned {
            write_to: Some(dir.path().join("no/such/dir/cert.pem")),
        },
        ..base.clone()
    };
    assert!(matches!(
        start(unwritable).await.unwrap_err(),
        StartError::Certificate { .. }
    ));
    let running = start(base.clone()).await.unwrap();
    let taken = Config {
        listen: running.local_addr(),
        ..base
    };
    let e = start(taken).await.unwrap_err();
    assert!(
        matches!(e, StartError::Bind { .. }) && e.to_string().contains("port 0"),
        "{e}"
    );
}

#[tokio::test]
async fn tls_from_files_and_written_certificate() {
    let dir = tempfile::tempdir().unwrap();
    // A self-signed certificate written to disk works as the Files configuration.
    let cert_path = dir.path().join("cert.pem");
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    std::fs::write(&cert_path, made.cert.pem()).unwrap();
    let key_path = dir.path().join("key.pem");
    std::fs::write(&key_path, made.signing_key.serialize_pem()).unwrap();
    let server = start(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Files {
            cert: cert_path.clone(),
            key: key_path,
        },
        ..Config::default()
    })
    .await
    .unwrap();
    assert!(server.certificate_pem().is_none());
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(made.cert.pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let r = client.get(server.create_url()).send().await.unwrap();
    assert_eq!(r.status(), 405);
    server.shutdown().await;

    let written = dir.path().join("self.pem");
    let server = start(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::SelfSigned {
            write_to: Some(written.clone()),
        },
        ..Config::default()
    })
    .await
    .unwrap();
    let pem = std::fs::read_to_string(&written).unwrap();
    assert_eq!(Some(pem.clone()), server.certificate_pem());
    assert_eq!(server.certificate_path(), Some(written.as_path()));
    // The certificate is valid for localhost as well as the IPs.
    let url = server.create_url().replace("127.0.0.1", "localhost");
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    assert_eq!(client.get(url).send().await.unwrap().status(), 405);
    server.shutdown().await;
}
