//! Every fault of the `faults` feature changes behaviour: a probe that a correct server
//! passes fails on a server with that one fault.
//!
//! ```text
//! cargo test -p edge-reference-server --features faults --test faults
//! ```
#![cfg(feature = "faults")]

mod common;
mod h2_common;

use std::collections::HashSet;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{
    chunked_post, ec_spki, msgs, new_cid, path_of, plain_with, raw_socket, Conn, Key, Resp,
    TestServer,
};
use edge_reference_server::faults::Fault;
use serde_json::{json, Value};
use sha2::Digest as _;

const JSON: (&str, &str) = ("content-type", "application/json");
const PAGE_SIZE: usize = 3;
const QUEUE_CAP: usize = 6;

async fn server(faults: Vec<Fault>) -> TestServer {
    plain_with(|c| {
        c.page_size = PAGE_SIZE;
        c.queue_cap = Some(QUEUE_CAP);
        c.body_limit = 4096;
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
const IDLE_HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

struct Keys {
    a: Arc<Key>,
    b: Arc<Key>,
    c: Arc<Key>,
    d: Arc<Key>,
}

fn keys() -> Keys {
    Keys {
        a: Key::load("rsa2048-a"),
        b: Key::load("rsa2048-b"),
        c: Key::load("rsa2048-c"),
        d: Key::load("rsa2048-d"),
    }
}

fn messages_url(base: &str) -> String {
    format!("{base}/messages")
}

/// A retrieval of `conn`'s messages with a custom Authorization value and body.
async fn retrieve_with_auth(t: &TestServer, conn: &Conn, auth: &[&str], body: &Value) -> Resp {
    let bytes = serde_json::to_vec(body).unwrap();
    let mut headers = vec![JSON];
    for a in auth {
        headers.push(("authorization", *a));
    }
    t.raw("POST", &messages_url(&conn.ru), &headers, &bytes)
        .await
}

/// A request signed by `key` over the exact bytes; `None` if the connection was dropped.
async fn try_signed(
    t: &TestServer,
    method: &str,
    url: &str,
    key: &Key,
    body: &[u8],
) -> Option<u16> {
    let auth = format!("EMSig {}", key.sign(method, &path_of(url), body));
    t.try_raw(method, url, &[JSON, ("authorization", &auth)], body)
        .await
        .ok()
        .map(|r| r.status)
}

/// The ids of a kept retrieval.
async fn ids(t: &TestServer, conn: &Conn, extra: Value) -> Vec<String> {
    let mut body = json!({"keepMessages": true});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let v = t.retrieve(conn, body).await.json();
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `PUT RU` replacing RK by `new`, with the proof of possession.
async fn rotate_rk(t: &TestServer, conn: &Conn, old: &Key, new: &Key) -> u16 {
    let body = json!({"connectionID": conn.cid, "recipient": new.spki});
    let bytes = serde_json::to_vec(&body).unwrap();
    let proof = new.sign("PUT", &path_of(&conn.ru), &bytes);
    t.call_with(
        "PUT",
        &conn.ru,
        Some(old),
        &body,
        &[("em-new-key-signature", &proof)],
    )
    .await
    .status
}

/// `PUT SU` with `body`, signed by `sk`, with a proof by `new` if given.
async fn sender_update(
    t: &TestServer,
    su: &str,
    sk: &Key,
    body: &Value,
    new: Option<&Key>,
) -> Resp {
    let bytes = serde_json::to_vec(body).unwrap();
    match new {
        Some(new) => {
            let proof = new.sign("PUT", &path_of(su), &bytes);
            t.call_with(
                "PUT",
                su,
                Some(sk),
                body,
                &[("em-new-key-signature", &proof)],
            )
            .await
        }
        None => t.call("PUT", su, Some(sk), body).await,
    }
}

/// Whether the server behaves as the binding requires in the one respect `fault` breaks.
async fn conforms(t: &TestServer, fault: Fault) -> bool {
    let k = keys();
    let id = |c: &Conn| json!({"connectionID": c.cid});
    match fault {
        Fault::UrisOtherOrigin | Fault::UrisUserinfo => {
            // Both URIs start with CE's origin (scheme://host:port/) and carry no userinfo.
            let conn = t.create(&k.a, None).await;
            let origin = &t.ce[..t.ce.find("/connection").unwrap_or(t.ce.len())];
            [&conn.ru, &conn.su]
                .iter()
                .all(|u| u.starts_with(&format!("{origin}/")) && !u.contains('@'))
        }
        Fault::CreateNoSigCheck => {
            let body = json!({"connectionID": new_cid(), "recipient": k.a.spki});
            t.call("POST", &t.ce, None, &body).await.status == 401
        }
        Fault::AcceptPkcs1v15 | Fault::AcceptAnySalt => {
            let conn = t.create(&k.a, None).await;
            let body = id(&conn);
            let bytes = serde_json::to_vec(&body).unwrap();
            let path = path_of(&messages_url(&conn.ru));
            let sig = if fault == Fault::AcceptPkcs1v15 {
                k.a.sign_pkcs1v15("POST", &path, &bytes)
            } else {
                k.a.sign_salt(20, "POST", &path, &bytes)
            };
            retrieve_with_auth(t, &conn, &[&format!("EMSig {sig}")], &body)
                .await
                .status
                == 401
        }
        Fault::SenderPkcs1v15Accepted => {
            let conn = t.secured(&k.a, &k.b).await;
            let body = json!({"connectionID": conn.cid, "messages": [{"msg": "QQ=="}]});
            let bytes = serde_json::to_vec(&body).unwrap();
            let url = messages_url(&conn.su);
            let sig = k.b.sign_pkcs1v15("POST", &path_of(&url), &bytes);
            let auth = format!("EMSig {sig}");
            t.raw("POST", &url, &[JSON, ("authorization", &auth)], &bytes)
                .await
                .status
                == 401
        }
        Fault::SigBase64Lax => {
            let conn = t.create(&k.a, None).await;
            let body = id(&conn);
            let bytes = serde_json::to_vec(&body).unwrap();
            let sig = k.a.sign("POST", &path_of(&messages_url(&conn.ru)), &bytes);
            // A 2048-bit signature always ends in `==`, so this token differs from `sig`.
            let url_safe = sig.replace('+', "-").replace('/', "_");
            let auth = format!("EMSig {}", url_safe.trim_end_matches('='));
            retrieve_with_auth(t, &conn, &[&auth], &body).await.status == 401
        }
        Fault::SigIgnoresPath | Fault::SigIgnoresMethod | Fault::SigIgnoresBody => {
            let conn = t.create(&k.a, None).await;
            let body = id(&conn);
            let bytes = serde_json::to_vec(&body).unwrap();
            let path = path_of(&messages_url(&conn.ru));
            let sig = match fault {
                Fault::SigIgnoresPath => k.a.sign("POST", &path_of(&conn.ru), &bytes),
                Fault::SigIgnoresMethod => k.a.sign("PUT", &path, &bytes),
                _ => k.a.sign("POST", &path, b""),
            };
            retrieve_with_auth(t, &conn, &[&format!("EMSig {sig}")], &body)
                .await
                .status
                == 401
        }
        Fault::SigIgnoresQuery => {
            let conn = t.create(&k.a, None).await;
            let bytes = serde_json::to_vec(&id(&conn)).unwrap();
            let url = messages_url(&conn.ru);
            let sig = format!("EMSig {}", k.a.sign("POST", &path_of(&url), &bytes));
            let with_query = format!("{url}?x=1");
            t.raw(
                "POST",
                &with_query,
                &[JSON, ("authorization", &sig)],
                &bytes,
            )
            .await
            .status
                == 401
        }
        Fault::AuthAnyScheme | Fault::AuthFirstOfMany => {
            let conn = t.create(&k.a, None).await;
            let body = id(&conn);
            let bytes = serde_json::to_vec(&body).unwrap();
            let sig = k.a.sign("POST", &path_of(&messages_url(&conn.ru)), &bytes);
            let auth = if fault == Fault::AuthAnyScheme {
                vec![format!("Bearer {sig}")]
            } else {
                vec![format!("EMSig {sig}"), "EMSig AAAA".to_owned()]
            };
            let auth: Vec<&str> = auth.iter().map(String::as_str).collect();
            retrieve_with_auth(t, &conn, &auth, &body).await.status == 401
        }
        Fault::NewkeySigOptional | Fault::NewkeySigUnchecked => {
            let conn = t.secured(&k.a, &k.b).await;
            let body = json!({"connectionID": conn.cid, "recipient": k.c.spki});
            let bytes = serde_json::to_vec(&body).unwrap();
            let wrong = k.d.sign("PUT", &path_of(&conn.ru), &bytes);
            let extra: Vec<(&str, &str)> = if fault == Fault::NewkeySigUnchecked {
                vec![("em-new-key-signature", &wrong)]
            } else {
                vec![]
            };
            t.call_with("PUT", &conn.ru, Some(&k.a), &body, &extra)
                .await
                .status
                == 401
        }
        Fault::SenderNewkeySigOptional => {
            let conn = t.secured(&k.a, &k.b).await;
            let body = json!({"connectionID": conn.cid, "sender": k.c.spki});
            sender_update(t, &conn.su, &k.b, &body, None).await.status == 401
        }
        Fault::OpenSendVerifies => {
            let mut conn = t.create(&k.a, None).await;
            conn.sk = Some(k.c.clone());
            t.send(&conn, &["QQ=="]).await.status == 200
        }
        Fault::UnsignedSendAfterSecure => {
            let mut conn = t.secured(&k.a, &k.b).await;
            conn.sk = None;
            t.send(&conn, &["QQ=="]).await.status == 401
        }
        Fault::SkAcceptedOnRu => {
            let mut conn = t.secured(&k.a, &k.b).await;
            conn.rk = k.b.clone();
            t.retrieve(&conn, json!({})).await.status == 401
        }
        Fault::RkAcceptedOnSu => {
            let mut conn = t.secured(&k.a, &k.b).await;
            conn.sk = Some(k.a.clone());
            t.send(&conn, &["QQ=="]).await.status == 401
        }
        Fault::OldRkAlive => {
            let conn = t.secured(&k.a, &k.b).await;
            assert_eq!(rotate_rk(t, &conn, &k.a, &k.c).await, 200);
            t.retrieve(&conn, json!({})).await.status == 401
        }
        Fault::SecondRkRotationRevivesFirst => {
            let mut conn = t.secured(&k.a, &k.b).await;
            assert_eq!(rotate_rk(t, &conn, &k.a, &k.c).await, 200);
            assert_eq!(rotate_rk(t, &conn, &k.c, &k.d).await, 200);
            conn.rk = k.a.clone();
            t.retrieve(&conn, json!({})).await.status == 401
        }
        Fault::OldSkAliveRecipientChange => {
            let conn = t.secured(&k.a, &k.b).await;
            let body = json!({"connectionID": conn.cid, "sender": k.c.spki});
            t.call("PUT", &conn.ru, Some(&k.a), &body).await.expect(200);
            t.send(&conn, &["QQ=="]).await.status == 401
        }
        Fault::OldSkAliveSenderChange => {
            let conn = t.secured(&k.a, &k.b).await;
            let body = json!({"connectionID": conn.cid, "sender": k.c.spki});
            sender_update(t, &conn.su, &k.b, &body, Some(&k.c))
                .await
                .expect(200);
            t.send(&conn, &["QQ=="]).await.status == 401
        }
        Fault::OldRuAlive => {
            let conn = t.secured(&k.a, &k.b).await;
            let body = json!({"connectionID": conn.cid, "newRecipientURI": true});
            t.call("PUT", &conn.ru, Some(&k.a), &body).await.expect(200);
            t.retrieve(&conn, json!({})).await.status == 404
        }
        Fault::OldSuAliveRecipientChange => {
            let conn = t.secured(&k.a, &k.b).await;
            let body = json!({"connectionID": conn.cid, "newSenderURI": true});
            t.call("PUT", &conn.ru, Some(&k.a), &body).await.expect(200);
            t.send(&conn, &["QQ=="]).await.status == 404
        }
        Fault::OldSuAliveSenderChange | Fault::ThirdSuRotationRevivesFirst => {
            let conn = t.secured(&k.a, &k.b).await;
            let rotations = if fault == Fault::OldSuAliveSenderChange {
                1
            } else {
                3
            };
            let mut su = conn.su.clone();
            for _ in 0..rotations {
                let body = json!({"connectionID": conn.cid, "newSenderURI": true});
                let v = sender_update(t, &su, &k.b, &body, None).await.json();
                su = v["senderURI"].as_str().unwrap().to_owned();
            }
            t.send(&conn, &["QQ=="]).await.status == 404
        }
        Fault::ThirdRuRotationRevivesFirst => {
            let conn = t.secured(&k.a, &k.b).await;
            let mut ru = conn.ru.clone();
            for _ in 0..3 {
                let body = json!({"connectionID": conn.cid, "newRecipientURI": true});
                let v = t.call("PUT", &ru, Some(&k.a), &body).await.json();
                ru = v["recipientURI"].as_str().unwrap().to_owned();
            }
            t.retrieve(&conn, json!({})).await.status == 404
        }
        Fault::RupdEmptyBody => {
            let conn = t.secured(&k.a, &k.b).await;
            let body = json!({"connectionID": conn.cid, "disabled": false});
            let r = t.call("PUT", &conn.ru, Some(&k.a), &body).await;
            r.status == 200 && !r.body.is_empty() && r.json() == json!({})
        }
        Fault::SupdUriNotReturned | Fault::Supd204 => {
            let conn = t.secured(&k.a, &k.b).await;
            let rotate = fault == Fault::SupdUriNotReturned;
            let body = json!({"connectionID": conn.cid, "newSenderURI": rotate});
            let r = sender_update(t, &conn.su, &k.b, &body, None).await;
            r.status == 200 && (!rotate || r.json()["senderURI"].is_string())
        }
        Fault::CreateSenderIgnored => {
            let mut conn = t.create(&k.a, Some(&k.b)).await;
            conn.sk = None;
            t.send(&conn, &["QQ=="]).await.status == 401
        }
        Fault::DisabledCheckedFirst => {
            let mut conn = t.secured(&k.a, &k.b).await;
            let body = json!({"connectionID": conn.cid, "disabled": true});
            t.call("PUT", &conn.ru, Some(&k.a), &body).await.expect(200);
            conn.sk = None;
            t.send(&conn, &["QQ=="]).await.status == 401
        }
        Fault::SenderDeletesMessages => {
            let conn = t.create(&k.a, None).await;
            t.send(&conn, &["QQ=="]).await.expect(200);
            let status = t
                .call("DELETE", &messages_url(&conn.su), None, &id(&conn))
                .await
                .status;
            [404, 405].contains(&status) && t.drain(&conn, json!({})).await.len() == 1
        }
        Fault::MessagesSegmentAnyCase | Fault::MessagesSegmentDecoded => {
            let conn = t.create(&k.a, None).await;
            let segment = if fault == Fault::MessagesSegmentAnyCase {
                "Messages"
            } else {
                "%6Dessages"
            };
            let url = format!("{}/{segment}", conn.ru);
            t.call("POST", &url, Some(&k.a), &id(&conn)).await.status == 404
        }
        Fault::ContentTypeParamsRefused | Fault::ContentTypeCaseSensitive => {
            let conn = t.create(&k.a, None).await;
            let content_type = if fault == Fault::ContentTypeParamsRefused {
                "application/json; charset=utf-8"
            } else {
                "Application/JSON"
            };
            let bytes = serde_json::to_vec(&id(&conn)).unwrap();
            t.signed_raw(
                "POST",
                &messages_url(&conn.ru),
                &k.a,
                &[("content-type", content_type)],
                &bytes,
            )
            .await
            .status
                == 200
        }
        Fault::KeyAlgorithmUnchecked | Fault::KeyBase64Lax => {
            let sender = if fault == Fault::KeyAlgorithmUnchecked {
                ec_spki()
            } else {
                let url_safe = k.b.spki.replace('+', "-").replace('/', "_");
                url_safe.trim_end_matches('=').to_owned()
            };
            assert_ne!(sender, k.b.spki);
            let body = json!({"connectionID": new_cid(), "recipient": k.a.spki, "sender": sender});
            t.call("POST", &t.ce, Some(&k.a), &body).await.status == 400
        }
        Fault::RupdFirstNotEnforced => {
            let conn = t.create(&k.a, None).await;
            t.call("PUT", &conn.ru, Some(&k.a), &id(&conn)).await.status == 400
        }
        Fault::RupdUrisAlwaysReturned => {
            let conn = t.secured(&k.a, &k.b).await;
            t.call("PUT", &conn.ru, Some(&k.a), &id(&conn)).await.json() == json!({})
        }
        Fault::RupdUriNotReturned => {
            let conn = t.secured(&k.a, &k.b).await;
            let body = json!({"connectionID": conn.cid, "newSenderURI": true});
            t.call("PUT", &conn.ru, Some(&k.a), &body).await.json()["senderURI"].is_string()
        }
        Fault::RupdNotAtomic => {
            let conn = t.secured(&k.a, &k.b).await;
            let body =
                json!({"connectionID": conn.cid, "recipient": k.c.spki, "newRecipientURI": true});
            t.call("PUT", &conn.ru, Some(&k.a), &body).await.expect(401);
            t.retrieve(&conn, json!({})).await.status == 200
        }
        Fault::SupdProhibitedIgnored | Fault::SupdProhibited400 => {
            let conn = t.secured(&k.a, &k.b).await;
            let body = json!({"connectionID": conn.cid, "disabled": false});
            sender_update(t, &conn.su, &k.b, &body, None).await.status == 401
        }
        Fault::SupdWithoutSkOk => {
            let conn = t.create(&k.a, None).await;
            t.call("PUT", &conn.su, None, &id(&conn)).await.status == 401
        }
        Fault::UnknownPropertyAccepted => {
            let conn = t.create(&k.a, None).await;
            t.retrieve(&conn, json!({"extra": 1})).await.status == 400
        }
        Fault::MessageExtraPropertyAccepted
        | Fault::EmptyMessagesAccepted
        | Fault::MsgNotBase64Accepted => {
            let conn = t.create(&k.a, None).await;
            let messages = match fault {
                Fault::MessageExtraPropertyAccepted => json!([{"msg": "QQ==", "ts": 1}]),
                Fault::EmptyMessagesAccepted => json!([]),
                _ => json!([{"msg": "not base64!"}]),
            };
            let body = json!({"connectionID": conn.cid, "messages": messages});
            t.call("POST", &messages_url(&conn.su), None, &body)
                .await
                .status
                == 400
        }
        Fault::NullAsAbsent => {
            let conn = t.create(&k.a, None).await;
            t.retrieve(&conn, json!({"keepMessages": null}))
                .await
                .status
                == 400
        }
        Fault::ContentTypeIgnored
        | Fault::TrailingBytesAccepted
        | Fault::DuplicateMembersAccepted => {
            let conn = t.create(&k.a, None).await;
            let valid = serde_json::to_string(&id(&conn)).unwrap();
            let (content_type, body) = match fault {
                Fault::ContentTypeIgnored => ("text/plain", valid),
                Fault::TrailingBytesAccepted => ("application/json", format!("{valid} x")),
                _ => (
                    "application/json",
                    valid.replacen('}', &format!(",\"connectionID\":\"{}\"}}", conn.cid), 1),
                ),
            };
            let url = messages_url(&conn.ru);
            let r = t
                .signed_raw(
                    "POST",
                    &url,
                    &k.a,
                    &[("content-type", content_type)],
                    body.as_bytes(),
                )
                .await;
            r.status == 400
        }
        Fault::Pkcs1KeyAccepted | Fault::SmallKeyAccepted => {
            let (signer, recipient) = if fault == Fault::Pkcs1KeyAccepted {
                (k.a.clone(), k.a.pkcs1_public())
            } else {
                let small = Key::load("rsa1024");
                let spki = small.spki.clone();
                (small, spki)
            };
            let body = json!({"connectionID": new_cid(), "recipient": recipient});
            t.call("POST", &t.ce, Some(&signer), &body).await.status == 400
        }
        Fault::CidFormatLax => {
            let body = json!({"connectionID": "abcd", "recipient": k.a.spki});
            t.call("POST", &t.ce, Some(&k.a), &body).await.status == 400
        }
        Fault::CidMismatchIgnored => {
            let conn = t.create(&k.a, None).await;
            let body = json!({"connectionID": new_cid()});
            t.call("POST", &messages_url(&conn.ru), Some(&k.a), &body)
                .await
                .status
                == 404
        }
        Fault::TrailingSlashAlias => {
            let conn = t.create(&k.a, None).await;
            let url = format!("{}/", messages_url(&conn.ru));
            t.call("POST", &url, Some(&k.a), &id(&conn)).await.status == 404
        }
        Fault::GetRu200 => {
            let conn = t.create(&k.a, None).await;
            [404, 405].contains(&t.raw("GET", &conn.ru, &[], b"").await.status)
        }
        Fault::DeletedUrisRouted => {
            let conn = t.create(&k.a, None).await;
            t.call("DELETE", &conn.ru, Some(&k.a), &id(&conn))
                .await
                .expect(200);
            t.raw("GET", &conn.ru, &[], b"").await.status == 404
        }
        Fault::Oversize500 => {
            let conn = t.create(&k.a, None).await;
            let body = json!({"connectionID": conn.cid, "messages": [{"msg": "A".repeat(8192)}]});
            t.call("POST", &messages_url(&conn.su), None, &body)
                .await
                .status
                == 413
        }
        Fault::OneConnectionAtATime => {
            // A first connection holds a create with half its body; a second one is answered.
            use tokio::io::AsyncWriteExt as _;
            let addr = t.server.local_addr();
            let mut held = tokio::net::TcpStream::connect(addr).await.unwrap();
            let head = format!(
                "POST {} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"recipient\":",
                path_of(&t.ce)
            );
            held.write_all(head.as_bytes()).await.unwrap();
            // Time for the server to read the head, so that the held connection counts busy
            // (a connection still waiting for its head may be evicted after 100 ms).
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let second = b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            let answered =
                tokio::time::timeout(std::time::Duration::from_secs(2), raw_socket(addr, second))
                    .await
                    .is_ok();
            drop(held);
            answered
        }
        Fault::H2StreamClosedAtIdle => h2_held_stream_answered(t).await,
        Fault::IdleCloseStalls => {
            // A connection sits idle past the head deadline; a new one is then answered.
            let addr = t.server.local_addr();
            let idle = tokio::net::TcpStream::connect(addr).await.unwrap();
            tokio::time::sleep(IDLE_HEAD_TIMEOUT + std::time::Duration::from_millis(500)).await;
            let request = b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            let answered =
                tokio::time::timeout(std::time::Duration::from_secs(3), raw_socket(addr, request))
                    .await
                    .is_ok();
            drop(idle);
            answered
        }
        Fault::LimitAfterBody => {
            // An unsigned send padded to exactly the 4096-byte limit is within it: stored.
            let conn = t.create(&k.a, None).await;
            let body = json!({"connectionID": conn.cid, "messages": [{"msg": "QQ=="}]});
            let mut body = serde_json::to_vec(&body).unwrap();
            body.resize(4096, b' ');
            let headers = [("content-type", "application/json")];
            t.raw("POST", &messages_url(&conn.su), &headers, &body)
                .await
                .status
                == 200
        }
        Fault::ChunkedBodyUncounted => {
            // The body of `oversize-500`'s probe, in chunks: counted, so refused the same way.
            let conn = t.create(&k.a, None).await;
            let body = json!({"connectionID": conn.cid, "messages": [{"msg": "A".repeat(8192)}]});
            let body = serde_json::to_vec(&body).unwrap();
            let addr = t.server.local_addr();
            let request = chunked_post(addr, &path_of(&messages_url(&conn.su)), &body);
            raw_socket(addr, &request).await.0 == 413
        }
        Fault::PageSizeZeroPanics => {
            let conn = t.create(&k.a, None).await;
            let body =
                serde_json::to_vec(&json!({"connectionID": conn.cid, "pageSize": 0})).unwrap();
            try_signed(t, "POST", &messages_url(&conn.ru), &k.a, &body).await == Some(400)
        }
        Fault::DeepJsonPanics => {
            let conn = t.create(&k.a, None).await;
            let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
            let body = format!("{{\"connectionID\":\"{}\",\"x\":{deep}}}", conn.cid);
            try_signed(t, "POST", &messages_url(&conn.ru), &k.a, body.as_bytes()).await == Some(400)
        }
        Fault::LargePageSizePanics => {
            // pageSize 2,000,000 and 2^31−1 are valid: one message comes back.
            let conn = t.create(&k.a, None).await;
            t.send(&conn, &["QQ=="]).await.expect(200);
            let mut ok = true;
            for n in [2_000_000u64, 2_147_483_647] {
                let body = json!({"connectionID": conn.cid, "pageSize": n, "keepMessages": true});
                let body = serde_json::to_vec(&body).unwrap();
                ok &=
                    try_signed(t, "POST", &messages_url(&conn.ru), &k.a, &body).await == Some(200);
            }
            ok
        }
        Fault::LargestSend500 => {
            // 16 messages is a legal send; over the queue cap it gets 429, never 5xx.
            let conn = t.create(&k.a, None).await;
            let status = t.send(&conn, &["QQ=="; 16]).await.status;
            status == 200 || status == 429
        }
        Fault::NulPathPanics => {
            let conn = t.create(&k.a, None).await;
            let url = format!("{}%00/messages", conn.ru);
            let body = serde_json::to_vec(&id(&conn)).unwrap();
            try_signed(t, "POST", &url, &k.a, &body).await == Some(404)
        }
        Fault::PageSizeIgnored | Fault::PageSizeMax => {
            let conn = t.create(&k.a, None).await;
            t.send(&conn, &["QQ==", "QQ==", "QQ==", "QQ==", "QQ=="])
                .await
                .expect(200);
            if fault == Fault::PageSizeIgnored {
                ids(t, &conn, json!({})).await.len() == PAGE_SIZE
            } else {
                ids(t, &conn, json!({"pageSize": 1})).await.len() == 1
            }
        }
        Fault::NextAlwaysPresent | Fault::NextMissingWhenOneLeft | Fault::NextNamesLastReturned => {
            let conn = t.create(&k.a, None).await;
            let count = if fault == Fault::NextAlwaysPresent {
                1
            } else {
                4
            };
            let all: Vec<&str> = vec!["QQ=="; count];
            t.send(&conn, &all).await.expect(200);
            let v = t
                .retrieve(&conn, json!({"keepMessages": true}))
                .await
                .json();
            let returned: Vec<&str> = v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap())
                .collect();
            match (fault, v.get("nextMessageID").and_then(Value::as_str)) {
                (Fault::NextAlwaysPresent, next) => next.is_none(),
                (_, Some(next)) => !returned.contains(&next),
                (_, None) => false,
            }
        }
        Fault::FromExclusive => {
            let conn = t.create(&k.a, None).await;
            t.send(&conn, &["QQ==", "QUI=", "QUJD"]).await.expect(200);
            let all = ids(t, &conn, json!({})).await;
            ids(t, &conn, json!({"fromMessageID": all[1]}))
                .await
                .first()
                == Some(&all[1])
        }
        Fault::FromUnknownEmpty | Fault::FromOtherConnectionAccepted => {
            let conn = t.create(&k.a, None).await;
            t.send(&conn, &["QQ=="]).await.expect(200);
            let from = if fault == Fault::FromUnknownEmpty {
                "unknown".to_owned()
            } else {
                let other = t.create(&k.b, None).await;
                t.send(&other, &["QQ=="]).await.expect(200);
                ids(t, &other, json!({})).await.remove(0)
            };
            t.retrieve(&conn, json!({"fromMessageID": from}))
                .await
                .status
                == 400
        }
        Fault::KeepStillRemoves | Fault::RetrieveNeverRemoves => {
            let conn = t.create(&k.a, None).await;
            t.send(&conn, &["QQ=="]).await.expect(200);
            let keep = fault == Fault::KeepStillRemoves;
            t.drain(&conn, json!({"keepMessages": keep})).await;
            t.drain(&conn, json!({"keepMessages": true})).await.len() == usize::from(keep)
        }
        Fault::KeepTracksCount => {
            let conn = t.create(&k.a, None).await;
            t.send(&conn, &["QQ=="]).await.expect(200);
            let first = t
                .retrieve(&conn, json!({"keepMessages": true}))
                .await
                .json();
            let second = t
                .retrieve(&conn, json!({"keepMessages": true}))
                .await
                .json();
            first == second
        }
        Fault::KeepAfterDeleteMessagesResurrects => {
            let conn = t.create(&k.a, None).await;
            t.send(&conn, &["QQ==", "QUI="]).await.expect(200);
            t.call("DELETE", &messages_url(&conn.ru), Some(&k.a), &id(&conn))
                .await
                .expect(200);
            t.drain(&conn, json!({"keepMessages": true}))
                .await
                .is_empty()
        }
        Fault::FifoReversed | Fault::MsgAltered | Fault::TsOffset => {
            let conn = t.create(&k.a, None).await;
            t.send(&conn, &["QQ==", "QUI="]).await.expect(200);
            let v = t.retrieve(&conn, json!({})).await.json();
            let ts_ok = v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["ts"].as_str().unwrap().ends_with('Z'));
            msgs(&v) == ["QQ==", "QUI="] && ts_ok
        }
        Fault::DelmCountRequested | Fault::DelmCappedByPageSize | Fault::DelmUnknownFromOk => {
            let conn = t.create(&k.a, None).await;
            t.send(&conn, &["QQ==", "QQ==", "QQ==", "QQ==", "QQ=="])
                .await
                .expect(200);
            let url = messages_url(&conn.ru);
            let (body, expect) = match fault {
                Fault::DelmCountRequested => (
                    json!({"connectionID": conn.cid, "pageSize": 9}),
                    json!({"deleted": 5}),
                ),
                Fault::DelmCappedByPageSize => (id(&conn), json!({"deleted": 5})),
                _ => (
                    json!({"connectionID": conn.cid, "fromMessageID": "unknown"}),
                    Value::Null,
                ),
            };
            let r = t.call("DELETE", &url, Some(&k.a), &body).await;
            if expect.is_null() {
                r.status == 400
            } else {
                r.status == 200 && r.json() == expect
            }
        }
        Fault::CreateDisabledIgnored | Fault::Disabled401 => {
            let cid = new_cid();
            let body = json!({"connectionID": cid, "recipient": k.a.spki, "sender": k.b.spki, "disabled": true});
            let v = t.call("POST", &t.ce, Some(&k.a), &body).await.json();
            let conn = Conn {
                cid,
                rk: k.a.clone(),
                sk: Some(k.b.clone()),
                ru: v["recipientURI"].as_str().unwrap().into(),
                su: v["senderURI"].as_str().unwrap().into(),
            };
            t.send(&conn, &["QQ=="]).await.status == 403
        }
        Fault::DisableUpdateIgnored => {
            let conn = t.secured(&k.a, &k.b).await;
            let body = json!({"connectionID": conn.cid, "disabled": true});
            t.call("PUT", &conn.ru, Some(&k.a), &body).await.expect(200);
            t.send(&conn, &["QQ=="]).await.status == 403
        }
        Fault::DisabledBlocksRetrieve => {
            let conn = t.secured(&k.a, &k.b).await;
            let body = json!({"connectionID": conn.cid, "disabled": true});
            t.call("PUT", &conn.ru, Some(&k.a), &body).await.expect(200);
            t.retrieve(&conn, json!({})).await.status == 200
        }
        Fault::SendNotAtomic => {
            let conn = t.create(&k.a, None).await;
            let body =
                json!({"connectionID": conn.cid, "messages": [{"msg": "QQ=="}, {"msg": "*"}]});
            t.call("POST", &messages_url(&conn.su), None, &body)
                .await
                .expect(400);
            t.drain(&conn, json!({})).await.is_empty()
        }
        Fault::DeletedCidRemembered | Fault::DeleteKeepsMessages => {
            let conn = t.create(&k.a, None).await;
            t.send(&conn, &["QQ=="]).await.expect(200);
            t.call("DELETE", &conn.ru, Some(&k.a), &id(&conn))
                .await
                .expect(200);
            let body = json!({"connectionID": conn.cid, "recipient": k.a.spki});
            let r = t.call("POST", &t.ce, Some(&k.a), &body).await;
            if r.status != 201 {
                return false;
            }
            let again = Conn {
                ru: r.json()["recipientURI"].as_str().unwrap().into(),
                ..conn
            };
            t.drain(&again, json!({})).await.is_empty()
        }
        Fault::UriContainsCid
        | Fault::UriCounter
        | Fault::UriContainsKeyHash
        | Fault::RuEqualsSu
        | Fault::SuContainsKeySha1 => {
            let first = t.create(&k.a, None).await;
            let second = t.create(&k.a, None).await;
            let hash: String = sha2::Sha256::digest(STANDARD.decode(&k.a.spki).unwrap())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let token = |uri: &str| uri.rsplit('/').next().unwrap().to_owned();
            // Two connections with the same RK: URIs derived from the key share a prefix.
            let common_prefix = |a: &str, b: &str| {
                token(a)
                    .chars()
                    .zip(token(b).chars())
                    .take_while(|(a, b)| a == b)
                    .count()
            };
            first.ru != first.su
                && !first.ru.contains(&first.cid)
                && !first.su.contains(&first.cid)
                && !first.ru.contains(&hash)
                && common_prefix(&first.ru, &second.ru) < 8
                && common_prefix(&first.su, &second.su) < 8
        }
        Fault::MessageIdCounter | Fault::MessageIdReused => {
            let conn = t.create(&k.a, None).await;
            t.send(&conn, &["QQ=="]).await.expect(200);
            let first = ids(t, &conn, json!({})).await.remove(0);
            t.drain(&conn, json!({})).await;
            t.send(&conn, &["QQ=="]).await.expect(200);
            let second = ids(t, &conn, json!({})).await.remove(0);
            let numbers = first.parse::<u64>().is_ok() && second.parse::<u64>().is_ok();
            first != second && !numbers
        }
        Fault::DeletedSuAlive => {
            let conn = t.create(&k.a, None).await;
            t.call("DELETE", &conn.ru, Some(&k.a), &id(&conn))
                .await
                .expect(200);
            t.send(&conn, &["QQ=="]).await.status == 404
        }
        Fault::Create409Overwrites => {
            let conn = t.create(&k.a, None).await;
            let body = json!({"connectionID": conn.cid, "recipient": k.b.spki});
            t.call("POST", &t.ce, Some(&k.b), &body).await.status == 409
        }
        Fault::CreateReturns200 | Fault::CreateExtraProperties => {
            let body = json!({"connectionID": new_cid(), "recipient": k.a.spki});
            let r = t.call("POST", &t.ce, Some(&k.a), &body).await;
            let keys: HashSet<String> = r.json().as_object().unwrap().keys().cloned().collect();
            r.status == 201
                && keys == HashSet::from(["recipientURI".to_owned(), "senderURI".to_owned()])
        }
        Fault::NoCacheControl | Fault::SetsCookie => {
            let conn = t.create(&k.a, None).await;
            let r = t.retrieve(&conn, json!({})).await;
            r.headers
                .get("cache-control")
                .is_some_and(|v| v == "no-store")
                && r.headers.get("set-cookie").is_none()
        }
        Fault::SendReturnsBody => {
            let conn = t.create(&k.a, None).await;
            t.send(&conn, &["QQ=="]).await.body.is_empty()
        }
        Fault::DeleteReturnsBody => {
            let conn = t.create(&k.a, None).await;
            t.call("DELETE", &conn.ru, Some(&k.a), &id(&conn))
                .await
                .body
                .is_empty()
        }
        Fault::DeleteMessagesCrossesConnections => {
            let (a, b) = (t.create(&k.a, None).await, t.create(&k.b, None).await);
            t.send(&a, &["QQ=="]).await.expect(200);
            t.send(&b, &["QQ=="]).await.expect(200);
            t.call("DELETE", &messages_url(&a.ru), Some(&k.a), &id(&a))
                .await
                .expect(200);
            t.drain(&b, json!({})).await.len() == 1
        }
        Fault::QuotaPartial => {
            let conn = t.create(&k.a, None).await;
            t.send(&conn, &["QQ==", "QQ==", "QQ==", "QQ==", "QQ=="])
                .await
                .expect(200);
            t.send(&conn, &["QUI=", "QUI="]).await.expect(429);
            t.drain(&conn, json!({"pageSize": 10})).await.len()
                + t.drain(&conn, json!({})).await.len()
                == 5
        }
        Fault::QuotaLargeSendBypasses => {
            // A send of 17 into a queue the cap already refuses a send of 1 to is refused.
            let conn = t.create(&k.a, None).await;
            t.send(&conn, &["QQ=="; 6]).await.expect(200);
            t.send(&conn, &["QUI="]).await.expect(429);
            let refused = t.send(&conn, &["QUJD"; 17]).await.status != 200;
            let stored = t.drain(&conn, json!({"pageSize": 10})).await.len()
                + t.drain(&conn, json!({})).await.len();
            refused && stored == 6
        }
        Fault::RetrieveNotAtomic => {
            // Two pre-signed retrievals at once, ten times (the fault's window is 20 ms, and
            // every probe runs at once on two cores): never a message twice.
            for _ in 0..10 {
                let conn = t.create(&k.a, None).await;
                t.send(&conn, &["QQ==", "QUI=", "QUJD"]).await.expect(200);
                let bytes = serde_json::to_vec(&id(&conn)).unwrap();
                let url = messages_url(&conn.ru);
                let auth = format!("EMSig {}", k.a.sign("POST", &path_of(&url), &bytes));
                let headers = [JSON, ("authorization", auth.as_str())];
                let (x, y) = tokio::join!(
                    t.raw("POST", &url, &headers, &bytes),
                    t.raw("POST", &url, &headers, &bytes)
                );
                if msgs(&x.json()).len() + msgs(&y.json()).len() != 3 {
                    return false;
                }
            }
            true
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_breaks_its_probe_and_a_clean_server_passes_it() {
    let clean = Arc::new(server(Vec::new()).await);
    let mut tasks = tokio::task::JoinSet::new();
    for &fault in Fault::ALL {
        let clean = clean.clone();
        tasks.spawn(async move {
            let mut problems = Vec::new();
            if !conforms(&clean, fault).await {
                problems.push(format!("{fault}: a correct server fails its probe"));
            }
            let faulty = server(vec![fault]).await;
            if conforms(&faulty, fault).await {
                problems.push(format!(
                    "{fault} ({}): the fault changes nothing the probe sees",
                    fault.rule()
                ));
            }
            faulty.server.shutdown().await;
            problems
        });
    }
    let mut problems = Vec::new();
    while let Some(result) = tasks.join_next().await {
        problems.extend(result.expect("probe task"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn faults_are_named_and_parsed() {
    assert_eq!("accept-any-salt".parse::<Fault>(), Ok(Fault::AcceptAnySalt));
    assert_eq!(Fault::Oversize500.name(), "oversize-500");
    assert_eq!(Fault::Oversize500.rule(), "B-SIZE");
    let e = "nope".parse::<Fault>().unwrap_err();
    assert!(e.to_string().contains("Fault::ALL"), "{e}");
}

/// `h2-stream-closed-at-idle`: over HTTP/2 (prior knowledge), a create is held with half its
/// body while a second request runs on another stream and ends; after the head deadline the
/// first body is completed and must be answered.
async fn h2_held_stream_answered(t: &TestServer) -> bool {
    let hold = IDLE_HEAD_TIMEOUT + std::time::Duration::from_millis(1500);
    let (second, first) =
        h2_common::held_stream(t.server.local_addr(), &path_of(&t.ce), hold).await;
    assert_eq!(second, 400, "an unsigned create");
    first == Some(400)
}
