//! One test per rule family of the six endpoints, over real HTTP on 127.0.0.1.

mod common;

use std::collections::HashSet;

use common::{msgs, new_cid, path_of, plain, plain_with, Key};
use serde_json::json;

#[tokio::test]
async fn create_connection() {
    let t = plain().await;
    let (rk, sk) = (Key::load("rsa2048-a"), Key::load("rsa2048-b"));

    // S-CREATE-201, B-CREATE-ONLY.
    let cid = new_cid();
    let body = json!({"connectionID": cid, "recipient": rk.spki});
    let r = t.call("POST", &t.ce, Some(&rk), &body).await;
    r.expect(201);
    let v = r.json();
    let keys: HashSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(["recipientURI", "senderURI"]));

    // S-CREATE-409: a duplicate leaves the first connection as it was.
    let other = json!({"connectionID": cid, "recipient": sk.spki});
    t.call("POST", &t.ce, Some(&sk), &other).await.expect(409);
    let ru = v["recipientURI"].as_str().unwrap();
    let retr = json!({"connectionID": cid});
    let url = format!("{ru}/messages");
    t.call("POST", &url, Some(&rk), &retr).await.expect(200);
    t.call("POST", &url, Some(&sk), &retr).await.expect(401);

    // S-CREATE-SIGN: signed with the RK in the body, nothing else.
    let fresh = json!({"connectionID": new_cid(), "recipient": rk.spki});
    t.call("POST", &t.ce, None, &fresh).await.expect(401);
    t.call("POST", &t.ce, Some(&sk), &fresh).await.expect(401);

    // Keys accepted and refused (B-KEY-SIZE, B-KEY-PKCS1, B-KEY-FMT).
    for name in ["rsa3072", "rsa4096"] {
        let key = Key::load(name);
        let body = json!({"connectionID": new_cid(), "recipient": key.spki});
        t.call("POST", &t.ce, Some(&key), &body).await.expect(201);
    }
    let small = Key::load("rsa1024");
    let body = json!({"connectionID": new_cid(), "recipient": small.spki});
    t.call("POST", &t.ce, Some(&small), &body).await.expect(400);
    let body = json!({"connectionID": new_cid(), "recipient": rk.spki, "sender": small.spki});
    t.call("POST", &t.ce, Some(&rk), &body).await.expect(400);
    let bare = json!({"connectionID": new_cid(), "recipient": rk.pkcs1_public()});
    t.call("POST", &t.ce, Some(&rk), &bare).await.expect(400);
    let ec = json!({"connectionID": new_cid(), "recipient": common::ec_spki()});
    t.call("POST", &t.ce, Some(&rk), &ec).await.expect(400);
    let wrapped = format!("{}\n{}", &rk.spki[..64], &rk.spki[64..]);
    let url_safe = format!("{}-_", &rk.spki[..rk.spki.len() - 4]);
    for bad in [
        "",
        "AAAA",
        "not base64",
        wrapped.as_str(),
        url_safe.as_str(),
    ] {
        let body = json!({"connectionID": new_cid(), "recipient": bad});
        t.call("POST", &t.ce, Some(&rk), &body).await.expect(400);
    }

    // B-CID-FMT.
    for bad in ["short", "has space here", "plus+plus+plus", &"a".repeat(65)] {
        let body = json!({"connectionID": bad, "recipient": rk.spki});
        t.call("POST", &t.ce, Some(&rk), &body).await.expect(400);
    }
    for ok in ["abcdefgh", &"Z_-9".repeat(16)] {
        let body = json!({"connectionID": ok, "recipient": rk.spki});
        t.call("POST", &t.ce, Some(&rk), &body).await.expect(201);
    }
}

#[tokio::test]
async fn uris_are_random_and_carry_nothing() {
    let t = plain().await;
    let rk = Key::load("rsa2048-a");
    let mut seen = HashSet::new();
    for _ in 0..20 {
        let cid = new_cid();
        let body = json!({"connectionID": cid, "recipient": rk.spki});
        let v = t.call("POST", &t.ce, Some(&rk), &body).await.json();
        let (ru, su) = (
            v["recipientURI"].as_str().unwrap(),
            v["senderURI"].as_str().unwrap(),
        );
        assert_ne!(ru, su);
        for uri in [ru, su] {
            assert!(uri.starts_with(&format!("{}/", t.ce)), "{uri}");
            let token = uri.rsplit('/').next().unwrap();
            assert_eq!(token.len(), 22, "{uri}");
            assert!(!uri.contains(&cid));
            assert!(!rk.spki.contains(token));
            assert!(seen.insert(token.to_owned()), "repeated URI {uri}");
        }
    }
}

#[tokio::test]
async fn open_connection_then_secured() {
    let t = plain().await;
    let (rk, sk, other) = (
        Key::load("rsa2048-a"),
        Key::load("rsa2048-b"),
        Key::load("rsa2048-c"),
    );
    let mut conn = t.create(&rk, None).await;
    let send_url = format!("{}/messages", conn.su);
    let body = json!({"connectionID": conn.cid, "messages": [{"msg": "QQ=="}]});

    // S-G-OPEN: unsigned, malformed, repeated or non-verifying Authorization all accepted.
    t.call("POST", &send_url, None, &body).await.expect(200);
    t.call("POST", &send_url, Some(&other), &body)
        .await
        .expect(200);
    let headers = [
        ("content-type", "application/json"),
        ("authorization", "garbage"),
    ];
    t.raw("POST", &send_url, &headers, body.to_string().as_bytes())
        .await
        .expect(200);
    let two = [
        ("content-type", "application/json"),
        ("authorization", "EMSig QQ=="),
        ("authorization", "EMSig QQ=="),
    ];
    t.raw("POST", &send_url, &two, body.to_string().as_bytes())
        .await
        .expect(200);

    // S-RUPD-FIRST: the first update must carry sender, whatever else it asks.
    let first = json!({"connectionID": conn.cid, "newSenderURI": true});
    t.call("PUT", &conn.ru, Some(&rk), &first).await.expect(400);
    let secure = json!({"connectionID": conn.cid, "sender": sk.spki});
    let r = t.call("PUT", &conn.ru, Some(&rk), &secure).await;
    r.expect(200);
    assert_eq!(r.json(), json!({}));
    conn.sk = Some(sk.clone());

    // S-G-SIGNED-ONLY: unsigned or wrongly signed sends → 401 and nothing stored.
    t.call("POST", &send_url, None, &body).await.expect(401);
    t.call("POST", &send_url, Some(&other), &body)
        .await
        .expect(401);
    // S-G-KEYS: RK does not authorise the sender's endpoints, nor SK the recipient's.
    t.call("POST", &send_url, Some(&rk), &body)
        .await
        .expect(401);
    t.call(
        "POST",
        &format!("{}/messages", conn.ru),
        Some(&sk),
        &json!({"connectionID": conn.cid}),
    )
    .await
    .expect(401);
    t.call(
        "PUT",
        &conn.su,
        Some(&rk),
        &json!({"connectionID": conn.cid}),
    )
    .await
    .expect(401);
    t.send(&conn, &["QUJD"]).await.expect(200);
    assert_eq!(
        t.drain(&conn, json!({})).await,
        ["QQ==", "QQ==", "QQ==", "QQ==", "QUJD"]
    );

    // S-CREATE-ALT: created with sender, secured at once.
    let alt = t.create(&rk, Some(&sk)).await;
    let alt_body = json!({"connectionID": alt.cid, "messages": [{"msg": "QQ=="}]});
    t.call("POST", &format!("{}/messages", alt.su), None, &alt_body)
        .await
        .expect(401);
    t.send(&alt, &["QQ=="]).await.expect(200);
}

#[tokio::test]
async fn recipient_update_rotates_keys_and_uris() {
    let t = plain().await;
    let (rk, rk2, rk3) = (
        Key::load("rsa2048-a"),
        Key::load("rsa2048-c"),
        Key::load("rsa2048-d"),
    );
    let (sk, sk2) = (Key::load("rsa2048-b"), Key::load("rsa2048-e"));
    let mut conn = t.secured(&rk, &sk).await;
    t.send(&conn, &["AAAA"]).await.expect(200);

    // S-RUPD-200: URIs returned iff asked for; `false` changes nothing.
    let none = json!({"connectionID": conn.cid, "newRecipientURI": false, "newSenderURI": false});
    assert_eq!(
        t.call("PUT", &conn.ru, Some(&rk), &none).await.json(),
        json!({})
    );
    let both = json!({"connectionID": conn.cid, "newRecipientURI": true, "newSenderURI": true});
    let v = t.call("PUT", &conn.ru, Some(&rk), &both).await.json();
    let keys: HashSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(["recipientURI", "senderURI"]));
    let (old_ru, old_su) = (conn.ru.clone(), conn.su.clone());
    conn.ru = v["recipientURI"].as_str().unwrap().to_owned();
    conn.su = v["senderURI"].as_str().unwrap().to_owned();
    // S-RUPD-OLDURI: old URIs and their /messages are 404; new ones work at once.
    let id = json!({"connectionID": conn.cid});
    t.call("PUT", &old_ru, Some(&rk), &id).await.expect(404);
    t.call("POST", &format!("{old_ru}/messages"), Some(&rk), &id)
        .await
        .expect(404);
    t.call("PUT", &old_su, Some(&sk), &id).await.expect(404);
    let old_send = json!({"connectionID": conn.cid, "messages": [{"msg": "QQ=="}]});
    t.call("POST", &format!("{old_su}/messages"), Some(&sk), &old_send)
        .await
        .expect(404);
    t.send(&conn, &["BBBB"]).await.expect(200);
    let only_ru = json!({"connectionID": conn.cid, "newRecipientURI": true});
    let v = t.call("PUT", &conn.ru, Some(&rk), &only_ru).await.json();
    assert!(v.get("senderURI").is_none() && v["recipientURI"].is_string());
    conn.ru = v["recipientURI"].as_str().unwrap().to_owned();

    // B-SIG-NEWKEY: a new RK needs a proof of possession, or nothing changes (B-RUPD-ATOMIC).
    let rotate = json!({"connectionID": conn.cid, "recipient": rk2.spki, "newRecipientURI": true, "disabled": true});
    t.call("PUT", &conn.ru, Some(&rk), &rotate)
        .await
        .expect(401);
    let bytes = serde_json::to_vec(&rotate).unwrap();
    let wrong = rk3.sign("PUT", &path_of(&conn.ru), &bytes);
    t.call_with(
        "PUT",
        &conn.ru,
        Some(&rk),
        &rotate,
        &[("em-new-key-signature", &wrong)],
    )
    .await
    .expect(401);
    let twice = rk2.sign("PUT", &path_of(&conn.ru), &bytes);
    t.call_with(
        "PUT",
        &conn.ru,
        Some(&rk),
        &rotate,
        &[
            ("em-new-key-signature", &twice),
            ("em-new-key-signature", &twice),
        ],
    )
    .await
    .expect(401);
    // Still the old state: same RU, RK valid, not disabled.
    t.send(&conn, &["CCCC"]).await.expect(200);
    t.call("PUT", &conn.ru, Some(&rk), &none).await.expect(200);

    let proof = rk2.sign("PUT", &path_of(&conn.ru), &bytes);
    let r = t
        .call_with(
            "PUT",
            &conn.ru,
            Some(&rk),
            &rotate,
            &[("em-new-key-signature", &proof)],
        )
        .await;
    r.expect(200);
    let rotated_from = conn.ru.clone();
    conn.ru = r.json()["recipientURI"].as_str().unwrap().to_owned();
    conn.rk = rk2.clone();
    t.call("PUT", &rotated_from, Some(&rk2), &none)
        .await
        .expect(404);
    // S-RUPD-OLDKEY: the old RK is refused everywhere, the new one works.
    t.call("PUT", &conn.ru, Some(&rk), &none).await.expect(401);
    t.call("POST", &format!("{}/messages", conn.ru), Some(&rk), &id)
        .await
        .expect(401);
    t.call("DELETE", &format!("{}/messages", conn.ru), Some(&rk), &id)
        .await
        .expect(401);
    t.call("DELETE", &conn.ru, Some(&rk), &id).await.expect(401);
    // Disabled now (B-SEND-DISABLED): 403, retrieval keeps working.
    t.send(&conn, &["DDDD"]).await.expect(403);
    // B-DURABLE-ROTATION: everything queued survived the rotations.
    assert_eq!(
        t.drain(&conn, json!({"keepMessages": true})).await,
        ["AAAA", "BBBB", "CCCC"]
    );

    // Replacing SK through PUT RU needs no second signature; the old SK is dead.
    let enable = json!({"connectionID": conn.cid, "sender": sk2.spki, "disabled": false});
    t.call("PUT", &conn.ru, Some(&rk2), &enable)
        .await
        .expect(200);
    t.send(&conn, &["EEEE"]).await.expect(401);
    conn.sk = Some(sk2.clone());
    t.send(&conn, &["EEEE"]).await.expect(200);

    // Key proof is needed even when the key is unchanged; the old RK stays dead afterwards.
    let same = json!({"connectionID": conn.cid, "recipient": rk2.spki});
    t.call("PUT", &conn.ru, Some(&rk2), &same).await.expect(401);
    let back = json!({"connectionID": conn.cid, "recipient": rk3.spki});
    let bytes = serde_json::to_vec(&back).unwrap();
    let proof = rk3.sign("PUT", &path_of(&conn.ru), &bytes);
    t.call_with(
        "PUT",
        &conn.ru,
        Some(&rk2),
        &back,
        &[("em-new-key-signature", &proof)],
    )
    .await
    .expect(200);
    for old in [&rk, &rk2] {
        t.call("PUT", &conn.ru, Some(old), &none).await.expect(401);
    }
    t.call("PUT", &conn.ru, Some(&rk3), &none).await.expect(200);
}

#[tokio::test]
async fn sender_update() {
    let t = plain().await;
    let (rk, sk, sk2, sk3) = (
        Key::load("rsa2048-a"),
        Key::load("rsa2048-b"),
        Key::load("rsa2048-c"),
        Key::load("rsa2048-d"),
    );
    // S-SUPD-KEY: no SK yet → 401.
    let open = t.create(&rk, None).await;
    let id = json!({"connectionID": open.cid});
    t.call("PUT", &open.su, Some(&sk), &id).await.expect(401);
    t.call("PUT", &open.su, None, &id).await.expect(401);

    let mut conn = t.secured(&rk, &sk).await;
    let id = json!({"connectionID": conn.cid});
    // S-SUPD-PROHIB: any prohibited property, any value → 401; nothing changes.
    for (name, value) in [
        ("recipient", json!(sk2.spki)),
        ("newRecipientURI", json!(false)),
        ("disabled", json!(null)),
        ("disabled", json!(false)),
    ] {
        let mut body = json!({"connectionID": conn.cid, "newSenderURI": true});
        body[name] = value;
        t.call("PUT", &conn.su, Some(&sk), &body).await.expect(401);
    }
    t.call("PUT", &conn.su, Some(&sk), &id).await.expect(200);
    assert_eq!(
        t.call("PUT", &conn.su, Some(&sk), &id).await.json(),
        json!({})
    );

    // S-SUPD-200 with a new SU; the old one is 404 at once.
    let v = t
        .call(
            "PUT",
            &conn.su,
            Some(&sk),
            &json!({"connectionID": conn.cid, "newSenderURI": true}),
        )
        .await
        .json();
    assert_eq!(v.as_object().unwrap().len(), 1);
    let old_su = std::mem::replace(&mut conn.su, v["senderURI"].as_str().unwrap().to_owned());
    t.call("PUT", &old_su, Some(&sk), &id).await.expect(404);
    t.send(&conn, &["QQ=="]).await.expect(200);
    // S-PRIV-NOHIST-KEYS: across several rotations no earlier SU comes back.
    let mut retired = vec![old_su];
    for _ in 0..3 {
        let v = t
            .call(
                "PUT",
                &conn.su,
                Some(&sk),
                &json!({"connectionID": conn.cid, "newSenderURI": true}),
            )
            .await
            .json();
        retired.push(std::mem::replace(
            &mut conn.su,
            v["senderURI"].as_str().unwrap().to_owned(),
        ));
        for old in &retired {
            t.call("PUT", old, Some(&sk), &id).await.expect(404);
        }
    }

    // B-SIG-NEWKEY on PUT SU.
    let rotate = json!({"connectionID": conn.cid, "sender": sk2.spki});
    t.call("PUT", &conn.su, Some(&sk), &rotate)
        .await
        .expect(401);
    let bytes = serde_json::to_vec(&rotate).unwrap();
    let bad = sk3.sign("PUT", &path_of(&conn.su), &bytes);
    t.call_with(
        "PUT",
        &conn.su,
        Some(&sk),
        &rotate,
        &[("em-new-key-signature", &bad)],
    )
    .await
    .expect(401);
    let proof = sk2.sign("PUT", &path_of(&conn.su), &bytes);
    t.call_with(
        "PUT",
        &conn.su,
        Some(&sk),
        &rotate,
        &[("em-new-key-signature", &proof)],
    )
    .await
    .expect(200);
    // S-SUPD-OLDKEY.
    t.send(&conn, &["QUJD"]).await.expect(401);
    t.call("PUT", &conn.su, Some(&sk), &id).await.expect(401);
    conn.sk = Some(sk2.clone());
    t.send(&conn, &["QUJD"]).await.expect(200);
    // The header is ignored where no proof is needed.
    t.call_with(
        "PUT",
        &conn.su,
        Some(&sk2),
        &id,
        &[("em-new-key-signature", "garbage")],
    )
    .await
    .expect(200);
    assert_eq!(t.drain(&conn, json!({})).await, ["QQ==", "QUJD"]);
}

#[tokio::test]
async fn retrieve_pages_in_fifo_order() {
    let t = plain_with(|c| c.page_size = 3).await;
    let (rk, sk) = (Key::load("rsa2048-a"), Key::load("rsa2048-b"));
    let conn = t.secured(&rk, &sk).await;

    // Empty connection.
    let r = t.retrieve(&conn, json!({})).await;
    assert_eq!(r.expect(200).json(), json!({"messages": []}));

    let sent = [
        "QQ==",
        "QUI=",
        "QUJD",
        "QUJDRA==",
        "QUJDREU=",
        "QUJDREVG",
        "QUJDREVGRw==",
    ];
    t.send(&conn, &sent[..2]).await.expect(200);
    t.send(&conn, &sent[2..]).await.expect(200);

    // S-RETR-PAGE: min(pageSize, PAGE_SIZE, available).
    let v = t
        .retrieve(&conn, json!({"keepMessages": true}))
        .await
        .json();
    assert_eq!(msgs(&v), sent[..3]);
    let v2 = t
        .retrieve(&conn, json!({"keepMessages": true, "pageSize": 100}))
        .await
        .json();
    assert_eq!(msgs(&v2), sent[..3]);
    let one = t
        .retrieve(&conn, json!({"keepMessages": true, "pageSize": 1}))
        .await
        .json();
    assert_eq!(msgs(&one), sent[..1]);

    // S-RETR-200: exactly {id, ts, msg}; S-RETR-NOTRACK: identical on every retrieval.
    assert_eq!(v["messages"], v2["messages"]);
    // B-MID-FMT, B-MID-RANDOM: unique, and not a counter.
    let ids: Vec<&str> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
    assert!(
        ids.iter()
            .all(|id| id.len() >= 16 && id.parse::<u128>().is_err()),
        "{ids:?}"
    );
    for m in v["messages"].as_array().unwrap() {
        let keys: HashSet<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, HashSet::from(["id", "ts", "msg"]));
        let ts = m["ts"].as_str().unwrap();
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && &ts[10..11] == "T",
            "{ts}"
        );
    }

    // S-RETR-NEXT: present iff more remain, naming the first of them.
    let next = v["nextMessageID"].as_str().unwrap();
    let v3 = t
        .retrieve(&conn, json!({"keepMessages": true, "fromMessageID": next}))
        .await
        .json();
    assert_eq!(msgs(&v3), sent[3..6]);
    assert_eq!(v3["messages"][0]["id"], next);
    let last = v3["nextMessageID"].as_str().unwrap();
    let v4 = t
        .retrieve(&conn, json!({"keepMessages": true, "fromMessageID": last}))
        .await
        .json();
    assert_eq!(msgs(&v4), sent[6..]);
    assert!(v4.get("nextMessageID").is_none());
    // Exactly PAGE_SIZE left: no nextMessageID.
    let from4 = v3["messages"][1]["id"].as_str().unwrap();
    let v5 = t
        .retrieve(&conn, json!({"keepMessages": true, "fromMessageID": from4}))
        .await
        .json();
    assert_eq!(msgs(&v5), sent[4..7]);
    assert!(v5.get("nextMessageID").is_none());

    // S-RETR-400: unknown ids, "" and ids of another connection.
    let other = t.secured(&Key::load("rsa2048-c"), &sk).await;
    t.send(&other, &["QQ=="]).await.expect(200);
    let foreign = t
        .retrieve(&other, json!({"keepMessages": true}))
        .await
        .json()["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for bad in ["", "nope", foreign.as_str()] {
        t.retrieve(&conn, json!({"fromMessageID": bad}))
            .await
            .expect(400);
    }

    // S-RETR-REMOVE and S-PRIV-NOHIST-MSG: removed messages and their ids are gone.
    let first = t.retrieve(&conn, json!({"pageSize": 2})).await.json();
    assert_eq!(msgs(&first), sent[..2]);
    let gone = first["messages"][0]["id"].as_str().unwrap();
    t.retrieve(&conn, json!({"fromMessageID": gone}))
        .await
        .expect(400);
    assert_eq!(t.drain(&conn, json!({})).await, sent[2..5]);
    assert_eq!(t.drain(&conn, json!({})).await, sent[5..]);
    assert!(t.drain(&conn, json!({})).await.is_empty());
    // B-ISOLATION: the other connection was not touched.
    assert_eq!(t.drain(&other, json!({})).await, ["QQ=="]);
}

#[tokio::test]
async fn delete_messages() {
    let t = plain_with(|c| c.page_size = 2).await;
    let (rk, sk) = (Key::load("rsa2048-a"), Key::load("rsa2048-b"));
    let conn = t.secured(&rk, &sk).await;
    let url = format!("{}/messages", conn.ru);
    t.send(&conn, &["AAAA", "BBBB", "CCCC", "DDDD", "EEEE", "FFFF"])
        .await
        .expect(200);
    let v = t
        .retrieve(&conn, json!({"keepMessages": true}))
        .await
        .json();
    let second = v["messages"][1]["id"].as_str().unwrap();

    // S-DELM-SEL and S-DELM-200.
    let r = t
        .call(
            "DELETE",
            &url,
            Some(&rk),
            &json!({"connectionID": conn.cid, "fromMessageID": second, "pageSize": 2}),
        )
        .await;
    assert_eq!(r.expect(200).json(), json!({"deleted": 2}));
    // S-DELM-400: unknown (now deleted) id → 400, nothing deleted.
    t.call(
        "DELETE",
        &url,
        Some(&rk),
        &json!({"connectionID": conn.cid, "fromMessageID": second}),
    )
    .await
    .expect(400);
    let r = t
        .call(
            "DELETE",
            &url,
            Some(&rk),
            &json!({"connectionID": conn.cid, "pageSize": 1}),
        )
        .await;
    assert_eq!(r.json(), json!({"deleted": 1}));
    // S-PRIV-NOHIST-MSG: deleted messages do not come back, even to a keeping retrieval.
    assert_eq!(
        t.drain(&conn, json!({"keepMessages": true})).await,
        ["DDDD", "EEEE"]
    );
    // Without pageSize: everything, not capped by PAGE_SIZE (2); other connections untouched.
    let other = t.secured(&Key::load("rsa2048-c"), &sk).await;
    t.send(&other, &["QQ=="]).await.expect(200);
    let all = json!({"connectionID": conn.cid});
    let r = t.call("DELETE", &url, Some(&rk), &all).await;
    assert_eq!(r.json(), json!({"deleted": 3}));
    assert_eq!(t.drain(&other, json!({})).await, ["QQ=="]);
    let r = t.call("DELETE", &url, Some(&rk), &all).await;
    assert_eq!(r.json(), json!({"deleted": 0}));
    // The count is what was removed, not what was asked for.
    t.send(&conn, &["AAAA"]).await.expect(200);
    let five = json!({"connectionID": conn.cid, "pageSize": 5});
    let r = t.call("DELETE", &url, Some(&rk), &five).await;
    assert_eq!(r.json(), json!({"deleted": 1}));
    assert!(t.drain(&conn, json!({})).await.is_empty());
}

#[tokio::test]
async fn delete_connection_forgets_everything() {
    let t = plain().await;
    let (rk, sk) = (Key::load("rsa2048-a"), Key::load("rsa2048-b"));
    let conn = t.secured(&rk, &sk).await;
    t.send(&conn, &["QQ=="]).await.expect(200);
    let id = json!({"connectionID": conn.cid});
    // S-CID-404: another connection's ID at this URI.
    t.call(
        "DELETE",
        &conn.ru,
        Some(&rk),
        &json!({"connectionID": new_cid()}),
    )
    .await
    .expect(404);
    t.call("DELETE", &conn.ru, Some(&sk), &id).await.expect(401);

    // S-DEL-200: empty body.
    let r = t.call("DELETE", &conn.ru, Some(&rk), &id).await;
    assert!(r.expect(200).body.is_empty());
    // S-DEL-AFTER.
    t.call("DELETE", &conn.ru, Some(&rk), &id).await.expect(404);
    t.call("PUT", &conn.ru, Some(&rk), &id).await.expect(404);
    t.call("PUT", &conn.su, Some(&sk), &id).await.expect(404);
    t.call("POST", &format!("{}/messages", conn.ru), Some(&rk), &id)
        .await
        .expect(404);
    t.send(&conn, &["QQ=="]).await.expect(404);

    // S-PRIV-NOHIST-CONN and S-DEL-PERM: the ID can be used again, with nothing from before.
    let body = json!({"connectionID": conn.cid, "recipient": rk.spki});
    let v = t.call("POST", &t.ce, Some(&rk), &body).await;
    let v = v.expect(201).json();
    assert_ne!(v["recipientURI"].as_str().unwrap(), conn.ru);
    let url = format!("{}/messages", v["recipientURI"].as_str().unwrap());
    let page = t.call("POST", &url, Some(&rk), &id).await.json();
    assert_eq!(page, json!({"messages": []}));
}

#[tokio::test]
async fn send_is_atomic_and_exact() {
    let t = plain().await;
    let (rk, sk) = (Key::load("rsa2048-a"), Key::load("rsa2048-b"));
    let conn = t.secured(&rk, &sk).await;
    let url = format!("{}/messages", conn.su);

    // S-SEND-200: empty body.
    let r = t.send(&conn, &["QQ=="]).await;
    assert!(r.expect(200).body.is_empty());
    // B-SEND-ATOMIC and S-SEND-BODY: one bad message and nothing is stored.
    for messages in [
        json!([{"msg": "QUJD"}, {"msg": "not base64"}]),
        json!([{"msg": "QUJD"}, {"msg": "QUJD", "id": "x"}]),
        json!([{"msg": "QUJD"}, "QUJD"]),
        json!([]),
        json!([{"msg": "QUJD"}, {"msg": ""}]),
    ] {
        let body = json!({"connectionID": conn.cid, "messages": messages});
        t.call("POST", &url, Some(&sk), &body).await.expect(400);
    }
    // B-MSG-FMT: stored and returned character for character; B-SIZE: 16 × 16384 chars.
    let big = "QUJD".repeat(4096);
    let many: Vec<&str> = std::iter::repeat_n(big.as_str(), 16).collect();
    t.send(&conn, &many).await.expect(200);
    let got = t.drain(&conn, json!({})).await;
    assert_eq!(got.len(), 17);
    assert_eq!(got[0], "QQ==");
    assert!(got[1..].iter().all(|m| *m == big));
}

#[tokio::test]
async fn disabled_connections() {
    let t = plain().await;
    let (rk, sk) = (Key::load("rsa2048-a"), Key::load("rsa2048-b"));
    // S-CREATE-DIS.
    let cid = new_cid();
    let body =
        json!({"connectionID": cid, "recipient": rk.spki, "sender": sk.spki, "disabled": true});
    let v = t.call("POST", &t.ce, Some(&rk), &body).await.json();
    let conn = common::Conn {
        cid: cid.clone(),
        rk: rk.clone(),
        sk: Some(sk.clone()),
        ru: v["recipientURI"].as_str().unwrap().to_owned(),
        su: v["senderURI"].as_str().unwrap().to_owned(),
    };
    t.send(&conn, &["QQ=="]).await.expect(403);
    // Signature checks come first: unsigned → 401.
    let send = json!({"connectionID": cid, "messages": [{"msg": "QQ=="}]});
    t.call("POST", &format!("{}/messages", conn.su), None, &send)
        .await
        .expect(401);
    // Both parties' updates and retrieval keep working while disabled.
    t.call("PUT", &conn.su, Some(&sk), &json!({"connectionID": cid}))
        .await
        .expect(200);
    t.retrieve(&conn, json!({})).await.expect(200);
    t.call(
        "PUT",
        &conn.ru,
        Some(&rk),
        &json!({"connectionID": cid, "disabled": false}),
    )
    .await
    .expect(200);
    t.send(&conn, &["QQ=="]).await.expect(200);
    t.call(
        "PUT",
        &conn.ru,
        Some(&rk),
        &json!({"connectionID": cid, "disabled": true}),
    )
    .await
    .expect(200);
    t.send(&conn, &["QUJD"]).await.expect(403);
    assert_eq!(t.drain(&conn, json!({})).await, ["QQ=="]);
}

#[tokio::test]
async fn queue_cap() {
    let t = plain_with(|c| c.queue_cap = Some(3)).await;
    let conn = t
        .secured(&Key::load("rsa2048-a"), &Key::load("rsa2048-b"))
        .await;
    t.send(&conn, &["AAAA", "BBBB"]).await.expect(200);
    // B-QUOTA: over the cap → 429 and nothing of that send is stored.
    t.send(&conn, &["CCCC", "DDDD"]).await.expect(429);
    t.send(&conn, &["CCCC"]).await.expect(200);
    t.send(&conn, &["DDDD"]).await.expect(429);
    assert_eq!(t.drain(&conn, json!({})).await, ["AAAA", "BBBB", "CCCC"]);
    t.send(&conn, &["DDDD"]).await.expect(200);
}

#[tokio::test]
async fn connection_id_must_match_the_uri() {
    let t = plain().await;
    let (rk, sk) = (Key::load("rsa2048-a"), Key::load("rsa2048-b"));
    let a = t.secured(&rk, &sk).await;
    let b = t.secured(&rk, &sk).await;
    // S-CID-404 on every endpoint, even with a valid signature.
    let wrong = json!({"connectionID": b.cid});
    t.call("PUT", &a.ru, Some(&rk), &wrong).await.expect(404);
    t.call("POST", &format!("{}/messages", a.ru), Some(&rk), &wrong)
        .await
        .expect(404);
    t.call("DELETE", &format!("{}/messages", a.ru), Some(&rk), &wrong)
        .await
        .expect(404);
    t.call("PUT", &a.su, Some(&sk), &wrong).await.expect(404);
    let send = json!({"connectionID": b.cid, "messages": [{"msg": "QQ=="}]});
    t.call("POST", &format!("{}/messages", a.su), Some(&sk), &send)
        .await
        .expect(404);
    t.call("DELETE", &a.ru, Some(&rk), &wrong).await.expect(404);
    assert!(t.drain(&a, json!({})).await.is_empty());
    assert!(t.drain(&b, json!({})).await.is_empty());
    // A malformed ID is a schema error (400), before the connection check.
    t.call("PUT", &a.ru, Some(&rk), &json!({"connectionID": "bad"}))
        .await
        .expect(400);
}
