//! Every simplex-v5 fault changes behaviour: a probe that the correct server passes fails on
//! a server with that one fault. A probe fails by panicking.
//!
//! ```text
//! cargo test -p edge-reference-server --features faults --test simplex_faults
//! ```
#![cfg(feature = "faults")]

mod h2_common;
mod simplex_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_reference_server::simplex_v5::faults::Fault;
use serde_json::{json, Value};
use simplex_common::*;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message as Frame;

async fn probe_server(faults: Vec<Fault>) -> TestServer {
    plain_with(|c| {
        if faults.contains(&Fault::IdleCloseStalls) || faults.contains(&Fault::H2StreamClosedAtIdle)
        {
            // Their probes idle a connection (or a stream) past the head deadline.
            c.head_timeout = IDLE_HEAD_TIMEOUT;
        }
        c.faults = faults;
    })
    .await
}

/// The head deadline of the servers with `idle-close-stalls` and `h2-stream-closed-at-idle`.
const IDLE_HEAD_TIMEOUT: Duration = Duration::from_secs(1);

/// A connection with one message; returns it and the message's ID.
async fn with_message(t: &TestServer) -> (Conn, String) {
    let conn = t.create(&Key::load("rsa2048-a")).await;
    t.send(&conn, "aGVsbG8=").await.ok();
    let id = t.ids(&conn).await[0].clone();
    (conn, id)
}

/// The median of `samples`.
fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The median time of one failing RSA-2048 PSS verification in this build on this machine:
/// the work the server does for every refused request, and the time the timing fault saves.
fn verify_cost() -> Duration {
    use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PSS_2048_8192_SHA256};
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(&Key::load("rsa2048-a").spki)
        .unwrap();
    let info = spki::SubjectPublicKeyInfoRef::try_from(der.as_slice()).unwrap();
    let key = UnparsedPublicKey::new(
        &RSA_PSS_2048_8192_SHA256,
        info.subject_public_key.raw_bytes(),
    );
    let mut signature = vec![0x5a; 256];
    signature[0] = 0;
    let times = (0..101)
        .map(|_| {
            let start = Instant::now();
            assert!(key.verify(b"message", &signature).is_err());
            start.elapsed()
        })
        .collect();
    median(times)
}

/// The status line's code of the answer to `request`, written on a connection of its own, or
/// `None` when none comes within `within`.
async fn raw_status(addr: std::net::SocketAddr, request: &[u8], within: Duration) -> Option<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        // The server may answer and close before reading it all.
        let _ = stream.write_all(request).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer)
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
    };
    tokio::time::timeout(within, exchange).await.ok().flatten()
}

/// All pushes until the session is quiet.
async fn drain(ws: &mut Ws) -> Vec<String> {
    let mut seen = Vec::new();
    while let Some(Frame::Text(text)) = ws.next_frame(QUIET).await {
        let v: Value = serde_json::from_str(&text).unwrap();
        if v["type"] == "message" {
            seen.push(v["message"]["msg"].as_str().unwrap().to_owned());
        }
    }
    seen
}

fn unsubscribe(id: &str, uri: &str) -> Value {
    json!({"id": id, "type": "unsubscribe", "recipientURI": uri})
}

async fn probe(fault: Fault, t: Arc<TestServer>) {
    let rk = Key::load("rsa2048-a");
    let other = Key::load("rsa2048-b");
    let dead = format!("{}/nope", t.ce);
    match fault {
        Fault::UnknownUri404 => {
            t.signed("GET", &format!("{dead}/messages"), Some(&rk), b"")
                .await
                .unauthorized();
        }
        Fault::WrongSignature403 => {
            let (conn, _) = with_message(&t).await;
            t.signed("GET", &conn.messages(), Some(&other), b"")
                .await
                .unauthorized();
        }
        Fault::UnauthorizedBodyObject | Fault::NoContentType => {
            t.signed("DELETE", &dead, Some(&rk), b"")
                .await
                .unauthorized();
            let conn = t.create(&rk).await;
            t.send(&conn, "AA==").await.ok();
        }
        Fault::OkBodyMissing => {
            let conn = t.create(&rk).await;
            t.send(&conn, "AA==").await.ok();
        }
        Fault::NoCacheControl => {
            let r = t
                .call("POST", &t.ce, Some(&rk), &json!({"recipient": rk.spki}))
                .await;
            r.expect(201);
            assert_eq!(r.headers["cache-control"], "no-store");
        }
        Fault::LiveUriWrongMethod405 => {
            let conn = t.create(&rk).await;
            t.signed("GET", &conn.su, Some(&rk), b"")
                .await
                .unauthorized();
        }
        Fault::OtherRoleServed => {
            let conn = t.create(&rk).await;
            t.signed("GET", &format!("{}/messages", conn.su), Some(&rk), b"")
                .await
                .unauthorized();
        }
        Fault::OptionsServed => {
            let conn = t.create(&rk).await;
            t.raw("OPTIONS", &conn.ru, &[], b"").await.unauthorized();
        }
        Fault::UnauthorizedBeforeBadRequest => {
            t.call("PUT", &dead, Some(&rk), &json!({}))
                .await
                .expect(400);
        }
        Fault::CookieAccepted => {
            let (conn, _) = with_message(&t).await;
            let sig = format!("EMSig {}", rk.sign("GET", &path_of(&conn.messages()), b""));
            t.raw(
                "GET",
                &conn.messages(),
                &[("authorization", &sig), ("cookie", "session=1")],
                b"",
            )
            .await
            .expect(400);
        }
        Fault::ExtraQueryAccepted => {
            let (conn, id) = with_message(&t).await;
            t.get(
                &conn,
                &format!("{}?fromMessageId={id}&pageSize=1", conn.messages()),
            )
            .await
            .expect(400);
        }
        Fault::GetBodyAccepted => {
            let (conn, _) = with_message(&t).await;
            t.signed("GET", &conn.messages(), Some(&rk), b"{}")
                .await
                .expect(400);
        }
        Fault::BadMessageId401 => {
            let (conn, _) = with_message(&t).await;
            t.get(&conn, &format!("{}/a.b", conn.messages()))
                .await
                .expect(400);
        }
        Fault::CreateBadSignatureAccepted => {
            t.call("POST", &t.ce, None, &json!({"recipient": rk.spki}))
                .await
                .unauthorized();
            t.call("POST", &t.ce, Some(&other), &json!({"recipient": rk.spki}))
                .await
                .unauthorized();
        }
        Fault::UriKeyHash => {
            use base64::Engine as _;
            use sha2::Digest as _;
            let der = base64::engine::general_purpose::STANDARD
                .decode(&rk.spki)
                .unwrap();
            let hex: String = sha2::Sha256::digest(&der)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let conn = t.create(&rk).await;
            for uri in [&conn.ru, &conn.su] {
                assert!(!uri.contains(&hex[..16]), "{uri} holds the key's hash");
            }
        }
        Fault::SecondSecureReplaces => {
            let mut conn = t.create(&rk).await;
            t.secure(&mut conn, &other).await;
            let third = Key::load("rsa2048-c");
            t.call("PUT", &conn.ru, Some(&rk), &json!({"sender": third.spki}))
                .await
                .unauthorized();
            t.send(&conn, "AA==").await.ok();
        }
        Fault::DeleteLeavesUris => {
            let (conn, _) = with_message(&t).await;
            t.delete(&conn, &conn.ru.clone()).await.ok();
            t.get(&conn, &conn.messages()).await.unauthorized();
            t.send(&conn, "AA==").await.unauthorized();
        }
        Fault::PageSizePlusOne | Fault::NextIdLastReturned => {
            let conn = t.create(&rk).await;
            for i in 0..11u8 {
                t.send(&conn, &b64(i, 1)).await.ok();
            }
            let page = t.page(&conn).await;
            assert_eq!(ids(&page).len(), 10);
            let next = page["nextMessageID"].as_str().unwrap();
            let rest = t
                .get(&conn, &format!("{}?fromMessageId={next}", conn.messages()))
                .await;
            rest.expect(200);
            let rest = rest.json();
            assert_eq!(rest["messages"][0]["msg"], b64(10, 1));
            assert_eq!(ids(&rest).len(), 1);
        }
        Fault::SizeBase64Length => {
            let (conn, _) = with_message(&t).await;
            assert_eq!(t.page(&conn).await["messages"][0]["size"], 5);
        }
        Fault::LargeMsgIncluded => {
            let conn = t.create(&rk).await;
            t.send(&conn, &b64(7, 4097)).await.ok();
            let page = t.page(&conn).await;
            assert!(page["messages"][0].get("msg").is_none());
        }
        Fault::RetrievalDeletes => {
            let (conn, id) = with_message(&t).await;
            assert_eq!(t.ids(&conn).await, vec![id.clone()]);
            assert_eq!(t.ids(&conn).await, vec![id]);
        }
        Fault::ForeignMessageIdAccepted => {
            let (conn, _) = with_message(&t).await;
            let (_, foreign) = with_message(&t).await;
            t.get(
                &conn,
                &format!("{}?fromMessageId={foreign}", conn.messages()),
            )
            .await
            .unauthorized();
        }
        Fault::DeleteMessageTwiceOk => {
            let (conn, id) = with_message(&t).await;
            let url = format!("{}/{id}", conn.messages());
            t.delete(&conn, &url).await.ok();
            t.delete(&conn, &url).await.unauthorized();
        }
        Fault::IdleCloseStalls => {
            // A connection sits idle past the head deadline and closes; a new one is then
            // answered.
            let addr = t.server.local_addr();
            let idle = tokio::net::TcpStream::connect(addr).await.unwrap();
            tokio::time::sleep(IDLE_HEAD_TIMEOUT + Duration::from_millis(500)).await;
            drop(idle);
            tokio::time::sleep(Duration::from_millis(100)).await;
            let request = b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            let status = raw_status(addr, request, Duration::from_secs(3)).await;
            assert!(status.is_some(), "no answer after an idle connection");
        }
        Fault::H2StreamClosedAtIdle => h2_held_stream_answered(&t).await,
        Fault::ChunkedBodyUncounted => {
            // A send twice the body limit, in chunks: counted, so refused.
            let conn = t.create(&rk).await;
            let addr = t.server.local_addr();
            let mut body = br#"{"msg":"AA=="}"#.to_vec();
            body.resize(2 << 20, b' ');
            let mut request = format!(
                "POST {}/messages HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                path_of(&conn.su)
            )
            .into_bytes();
            for chunk in body.chunks(64 * 1024) {
                request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                request.extend_from_slice(chunk);
                request.extend_from_slice(b"\r\n");
            }
            request.extend_from_slice(b"0\r\n\r\n");
            let status = raw_status(addr, &request, Duration::from_secs(20)).await;
            assert_eq!(status, Some(413));
        }
        Fault::SendExtraPropertyAccepted => {
            let conn = t.create(&rk).await;
            t.call(
                "POST",
                &format!("{}/messages", conn.su),
                None,
                &json!({"msg": "AA==", "ts": "1"}),
            )
            .await
            .expect(400);
        }
        Fault::UnsignedSendAfterSecure => {
            let mut conn = t.create(&rk).await;
            t.secure(&mut conn, &other).await;
            t.call(
                "POST",
                &format!("{}/messages", conn.su),
                None,
                &json!({"msg": "AA=="}),
            )
            .await
            .unauthorized();
        }
        Fault::SkipVerifyUnknownUri => {
            // Failures on an unknown URI take as long as failures on a live one with a wrong
            // signature: both verify an RSA-2048 signature (15 to 40 µs, by CPU), interleaved.
            // The bound is half of one verification, measured here: the fault saves a whole one.
            let bound = verify_cost() / 2;
            let (conn, _) = with_message(&t).await;
            let unknown = format!("{dead}/messages");
            let auth = format!("EMSig {}", other.sign("GET", "/x", b""));
            let mut times = (Vec::new(), Vec::new());
            for round in 0..330 {
                for (i, url) in [&unknown, &conn.messages()].into_iter().enumerate() {
                    let start = Instant::now();
                    t.raw("GET", url, &[("authorization", &auth)], b"")
                        .await
                        .unauthorized();
                    if round >= 40 {
                        [&mut times.0, &mut times.1][i].push(start.elapsed());
                    }
                }
            }
            let (unknown, wrong) = (median(times.0), median(times.1));
            assert!(
                wrong.saturating_sub(unknown) < bound,
                "unknown URI {unknown:?}, wrong signature {wrong:?}, bound {bound:?}"
            );
        }
        Fault::NoHello => {
            let mut ws = Ws::open_raw(&t.ws).await;
            let Some(Frame::Text(hello)) = ws.next_frame(QUIET).await else {
                panic!("no hello");
            };
            assert!(hello.contains(r#""type":"hello""#), "{hello}");
        }
        Fault::NonceUnsigned => {
            let conn = t.create(&rk).await;
            let first = Ws::open(&t.ws).await;
            let captured = first.subscribe_request("s", &conn.ru, &rk);
            drop(first);
            let mut second = Ws::open(&t.ws).await;
            second.send(&captured).await;
            assert_eq!(second.recv().await["ok"], false);
        }
        Fault::SubBadSignatureNoOk => {
            let conn = t.create(&rk).await;
            let mut ws = Ws::open(&t.ws).await;
            let reply = ws.subscribe("s", &conn.ru, &other).await;
            assert_eq!(
                reply,
                json!({"id": "s", "type": "subscribe", "recipientURI": conn.ru, "ok": false})
            );
        }
        Fault::BacklogNotPushed | Fault::BacklogReversed => {
            let conn = t.create(&rk).await;
            t.send(&conn, "AA==").await.ok();
            t.send(&conn, "AQ==").await.ok();
            let mut ws = Ws::open(&t.ws).await;
            assert_eq!(ws.subscribe("s", &conn.ru, &rk).await["ok"], true);
            assert_eq!(drain(&mut ws).await, ["AA==", "AQ=="]);
        }
        Fault::DoublePush => {
            // A backlog of 15 (pushed over about 1.5 s by the faulty server) and 10 more
            // messages sent while it is being pushed.
            let conn = Arc::new(t.create(&rk).await);
            for i in 0..15u8 {
                t.send(&conn, &b64(i, 1)).await.ok();
            }
            let mut ws = Ws::open(&t.ws).await;
            let request = ws.subscribe_request("s", &conn.ru, &rk);
            ws.send(&request).await;
            let sender = {
                let (t, conn) = (t.clone(), conn.clone());
                tokio::spawn(async move {
                    for i in 15..25u8 {
                        t.send(&conn, &b64(i, 1)).await.ok();
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                })
            };
            sender.await.unwrap();
            let expected: Vec<String> = (0..25u8).map(|i| b64(i, 1)).collect();
            assert_eq!(drain(&mut ws).await, expected);
        }
        Fault::PushAfterUnsubscribe => {
            let conn = t.create(&rk).await;
            let mut ws = Ws::open(&t.ws).await;
            ws.subscribe("s", &conn.ru, &rk).await;
            ws.send(&unsubscribe("u", &conn.ru)).await;
            assert_eq!(ws.recv().await["ok"], true);
            t.send(&conn, "AA==").await.ok();
            ws.quiet().await;
        }
        Fault::DeleteWithoutSubscription => {
            let (conn, id) = with_message(&t).await;
            let mut ws = Ws::open(&t.ws).await;
            ws.send(&json!({"id": "d", "type": "delete_message", "recipientURI": conn.ru, "messageId": id}))
                .await;
            assert_eq!(ws.recv().await["ok"], false);
            assert_eq!(t.ids(&conn).await, vec![id]);
        }
        Fault::InvalidExtraFirst => {
            let mut ws = Ws::open(&t.ws).await;
            ws.send_text(r#"{"id":"1","type":"unsubscribe","x":1}"#)
                .await;
            assert_eq!(ws.recv().await["error"], "/recipientURI");
        }
        Fault::IdEchoedNonString => {
            let mut ws = Ws::open(&t.ws).await;
            ws.send_text(r#"{"id":5,"type":"nope"}"#).await;
            assert_eq!(
                ws.recv().await,
                json!({"id": null, "type": "invalid", "error": "/type"})
            );
        }
        Fault::RestDeleteKeepsSubscriptions => {
            let conn = t.create(&rk).await;
            let mut ws = Ws::open(&t.ws).await;
            ws.subscribe("s", &conn.ru, &rk).await;
            t.delete(&conn, &conn.ru.clone()).await.ok();
            ws.send(&unsubscribe("u", &conn.ru)).await;
            assert_eq!(ws.recv().await["ok"], false);
        }
        Fault::PingServed => {
            let mut ws = Ws::open(&t.ws).await;
            ws.send_text(r#"{"id":"1","type":"ping"}"#).await;
            assert_eq!(
                ws.recv().await,
                json!({"id": "1", "type": "invalid", "error": "/type"})
            );
        }
        Fault::UriCaseInsensitive => {
            let conn = t.create(&rk).await;
            let (head, token) = conn.ru.rsplit_once('/').unwrap();
            let flipped: String = token
                .chars()
                .map(|c| {
                    if c.is_ascii_lowercase() {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            assert_ne!(flipped, token);
            let mut ws = Ws::open(&t.ws).await;
            let reply = ws.subscribe("s", &format!("{head}/{flipped}"), &rk).await;
            assert_eq!(reply["ok"], false);
        }
        Fault::BinaryFrameCrash => {
            let mut ws = Ws::open(&t.ws).await;
            ws.stream.send_binary_for_test(b"{}").await;
            assert_eq!(ws.recv().await["type"], "invalid");
        }
        Fault::LargeMessageCrash => {
            let mut ws = Ws::open(&t.ws).await;
            ws.send_text(&format!("\"{}\"", "a".repeat(70_000))).await;
            assert_eq!(ws.recv().await["type"], "invalid");
        }
    }
}

/// Runs `probe(fault)` against a fresh server with `faults`; whether it passed.
/// On one HTTP/2 connection, a create held half sent outlives the head deadline while
/// another stream is answered, and is answered once complete, as the other one was.
async fn h2_held_stream_answered(t: &TestServer) {
    let hold = IDLE_HEAD_TIMEOUT + Duration::from_millis(1500);
    let (second, first) =
        h2_common::held_stream(t.server.local_addr(), &path_of(&t.ce), hold).await;
    assert!(second < 500, "{second}");
    assert_eq!(first, Some(second), "the held stream");
}

async fn passes(fault: Fault, faults: Vec<Fault>) -> bool {
    let t = Arc::new(probe_server(faults).await);
    tokio::spawn(probe(fault, t)).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_caught_by_its_probe() {
    let limit = Arc::new(Semaphore::new(8));
    let mut tasks = Vec::new();
    for &fault in Fault::ALL {
        let limit = limit.clone();
        tasks.push(tokio::spawn(async move {
            // The timing probe runs alone.
            let permits = if fault == Fault::SkipVerifyUnknownUri {
                8
            } else {
                1
            };
            let _permit = limit.acquire_many(permits).await.unwrap();
            let correct = passes(fault, Vec::new()).await;
            let faulty = passes(fault, vec![fault]).await;
            (fault, correct, faulty)
        }));
    }
    let mut wrong = Vec::new();
    for task in tasks {
        let (fault, correct, faulty) = task.await.unwrap();
        if !correct {
            wrong.push(format!("{fault}: the correct server fails the probe"));
        }
        if faulty {
            wrong.push(format!("{fault}: the probe passes with the fault on"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn cookie_on_the_handshake_is_accepted_only_by_the_fault() {
    for (faults, status) in [(vec![], Some(400)), (vec![Fault::CookieAccepted], None)] {
        let t = probe_server(faults).await;
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
        let got = match tokio_tungstenite::client_async(request, tcp).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Some(r.status().as_u16()),
            Ok(_) => None,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(got, status);
    }
}

#[tokio::test]
async fn crash_faults_drop_one_session_only() {
    for fault in [Fault::BinaryFrameCrash, Fault::LargeMessageCrash] {
        let t = probe_server(vec![fault]).await;
        let mut bystander = Ws::open(&t.ws).await;
        let mut ws = Ws::open(&t.ws).await;
        if fault == Fault::BinaryFrameCrash {
            ws.stream.send_binary_for_test(b"{}").await;
        } else {
            ws.send_text(&"a".repeat(70_000)).await;
        }
        // Dropped without a close frame.
        match ws.stream.next_frame_for_test().await {
            None => {}
            Some(other) => panic!("{fault}: expected the connection to drop, got {other:?}"),
        }
        bystander.send(&unsubscribe("u", "x")).await;
        assert_eq!(bystander.recv().await["ok"], false, "{fault}");
        t.create(&Key::load("rsa2048-a")).await;
    }
}
