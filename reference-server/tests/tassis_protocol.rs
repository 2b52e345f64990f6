//! The tassis-v2 reference server over real WebSockets: hello, logins, keys, messages,
//! attachments, sequence numbers, frames, HTTP and timing rules.
//!
//! ```text
//! cargo test -p edge-reference-server --test tassis_protocol
//! ```

mod tassis_common;

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use edge_reference_server::tassis_v2::wire::{self, message::Payload};
use edge_reference_server::tassis_v2::{start, TassisConfig};
use edge_reference_server::Tls;
use prost::Message as _;
use tassis_common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Frame;

const SHORT: Duration = Duration::from_millis(300);

fn prekeys(p: Payload) -> Vec<wire::PreKey> {
    match p {
        Payload::PreKeys(p) => p.pre_keys,
        other => panic!("expected PreKeys, got {other:?}"),
    }
}

fn is_ack(p: &Payload) -> bool {
    matches!(p, Payload::Ack(_))
}

#[tokio::test]
async fn hello_and_logins_with_both_signature_styles() {
    let server = server().await;
    let mut c = Client::connect(&server).await;
    assert_eq!(c.hello[0].sequence, 1);
    assert!(matches!(&c.hello[0].payload, Some(Payload::AuthChallenge(a)) if a.nonce.len() == 32));
    assert_eq!(c.hello[1].sequence, 2);
    assert!(matches!(
        c.hello[1].payload,
        Some(Payload::Configuration(wire::Configuration {
            max_attachment_size: 5_000_000
        }))
    ));
    let id = Identity::with_sign_bit(1);
    c.login_ok(&id, "phone").await;
    // A second login on the same connection.
    let again = c.login(&id, "phone").await;
    assert_eq!(
        error_name(&again),
        "attempted_anonymous_op_on_authenticated_connection"
    );
    // Still authenticated: Register works.
    assert!(is_ack(&c.register("spk", &["a", "b", "c"]).await));

    for bit in [0, 1] {
        let id = Identity::with_sign_bit(bit);
        let mut c = Client::connect(&server).await;
        let login = login_bytes(id.address("d"), &c.nonce);
        let signature = Bytes::from(id.sign_spec(&login));
        let reply = c
            .request(Payload::AuthResponse(wire::AuthResponse {
                login,
                signature,
            }))
            .await;
        assert!(
            is_ack(&reply),
            "spec-style signature, sign bit {bit}: {reply:?}"
        );
        let mut c = Client::connect(&server).await;
        c.login_ok(&id, "any-device-id").await;
    }
}

#[tokio::test]
async fn nonces_are_fresh() {
    let server = server().await;
    let mut seen = HashSet::new();
    for _ in 0..20 {
        let c = Client::connect(&server).await;
        assert_eq!(c.nonce.len(), 32);
        assert!(seen.insert(c.nonce.clone()));
    }
}

/// Sends an AuthResponse; expects an Error of one of `names` with the request's sequence,
/// then nothing but the close.
async fn refused(c: &mut Client, login: Bytes, signature: Vec<u8>, names: &[&str]) {
    c.send(
        9,
        Payload::AuthResponse(wire::AuthResponse {
            login,
            signature: signature.into(),
        }),
    )
    .await;
    let reply = c.read(REPLY).await.expect("an Error");
    assert_eq!(reply.sequence, 9);
    let name = error_name(reply.payload.as_ref().unwrap()).to_owned();
    assert!(names.contains(&name.as_str()), "{name:?}");
    // Nothing more is served, and the connection closes soon.
    c.send(
        10,
        Payload::RequestUploadAuthorizations(wire::RequestUploadAuthorizations {
            num_requested: 1,
        }),
    )
    .await;
    let started = std::time::Instant::now();
    let end = c.read(Duration::from_secs(3)).await;
    assert!(matches!(end, Err(Ended::Closed(_))), "{end:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn failed_logins_are_refused_and_closed() {
    let server = server().await;
    let id = Identity::new();
    let other = Identity::new();
    let unauthorized = &["unauthorized"][..];
    let malformed = &["unauthorized", "invalid_request"][..];

    // Signed by another key.
    let mut c = Client::connect(&server).await;
    let login = login_bytes(id.address("d"), &c.nonce);
    refused(&mut c, login.clone(), other.sign(&login), unauthorized).await;
    // Signed over other bytes (address ‖ nonce).
    let mut c = Client::connect(&server).await;
    let login = login_bytes(id.address("d"), &c.nonce);
    let mut other_bytes = id.key.to_vec();
    other_bytes.extend_from_slice(b"d");
    other_bytes.extend_from_slice(&c.nonce);
    refused(&mut c, login, id.sign(&other_bytes), unauthorized).await;
    // The nonce of another connection, and a replay of a whole AuthResponse.
    let mut first = Client::connect(&server).await;
    let captured = login_bytes(id.address("d"), &first.nonce);
    let captured_sig = id.sign(&captured);
    let mut c = Client::connect(&server).await;
    refused(&mut c, captured.clone(), captured_sig.clone(), unauthorized).await;
    first.login_ok(&id, "d").await;
    let mut c = Client::connect(&server).await;
    refused(&mut c, captured, captured_sig, unauthorized).await;

    // Malformed: a login that does not parse, one without address, short and long signatures.
    let mut c = Client::connect(&server).await;
    refused(
        &mut c,
        Bytes::from_static(&[0xff, 0xff]),
        vec![0; 64],
        malformed,
    )
    .await;
    let mut c = Client::connect(&server).await;
    let no_address = Bytes::from(
        wire::Login {
            address: None,
            nonce: c.nonce.clone(),
        }
        .encode_to_vec(),
    );
    refused(&mut c, no_address.clone(), id.sign(&no_address), malformed).await;
    for len in [0, 63, 65] {
        let mut c = Client::connect(&server).await;
        let login = login_bytes(id.address("d"), &c.nonce);
        let mut sig = id.sign(&login);
        sig.resize(len, 0);
        refused(&mut c, login, sig, malformed).await;
    }
    // Keys of the wrong length or with bit 255 set; device IDs empty or too long.
    let mut long = id.key.to_vec();
    long.push(0);
    let mut bit255 = id.key.to_vec();
    bit255[31] |= 0x80;
    for (key, device) in [
        (long, "d".to_owned()),
        (id.key[..31].to_vec(), "d".to_owned()),
        (bit255, "d".to_owned()),
        (id.key.to_vec(), String::new()),
        (id.key.to_vec(), "x".repeat(65)),
    ] {
        let mut c = Client::connect(&server).await;
        let address = wire::Address {
            identity_key: key.into(),
            device_id: device.into(),
        };
        let login = login_bytes(address, &c.nonce);
        let sig = id.sign(&login);
        refused(&mut c, login, sig, malformed).await;
    }
    assert!(alive(&server).await);
    // A device ID of 64 bytes is fine.
    let mut c = Client::connect(&server).await;
    c.login_ok(&id, &"x".repeat(64)).await;
}

#[tokio::test]
async fn degenerate_identity_keys_are_refused() {
    let server = server().await;
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let mut p_minus_1 = p;
    p_minus_1[0] = 0xec;
    let mut one = [0u8; 32];
    one[0] = 1;
    for key in [p, p_minus_1, [0; 32], one] {
        let mut c = Client::connect(&server).await;
        let address = wire::Address {
            identity_key: Bytes::copy_from_slice(&key),
            device_id: "d".into(),
        };
        let login = login_bytes(address, &c.nonce);
        // Whatever the signature, these keys never log in.
        refused(
            &mut c,
            login,
            vec![0; 64],
            &["unauthorized", "invalid_request"],
        )
        .await;
    }
}

#[tokio::test]
async fn registration_and_key_distribution() {
    let server = server().await;
    let id = Identity::new();
    let mut a = Client::connect(&server).await;
    a.login_ok(&id, "a").await;
    let mut anon = Client::connect(&server).await;
    assert_eq!(
        error_name(&anon.prekeys(&id.key, &[]).await),
        "unknown_identity"
    );
    assert!(is_ack(&a.register("spk1", &["k1", "k2"]).await));
    assert!(
        is_ack(&a.register("spk1", &["k3"]).await),
        "same signed prekey appends"
    );
    let mut handed = Vec::new();
    for _ in 0..3 {
        let keys = prekeys(anon.prekeys(&id.key, &[]).await);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].device_id, "a");
        assert_eq!(keys[0].signed_pre_key, "spk1");
        handed.push(keys[0].one_time_pre_key.clone());
    }
    handed.sort();
    assert_eq!(handed, ["k1", "k2", "k3"]);
    let keys = prekeys(anon.prekeys(&id.key, &[]).await);
    assert_eq!(
        keys[0].one_time_pre_key, "",
        "exhausted keys: an empty one-time prekey"
    );
    // Another signed prekey replaces the registration.
    assert!(is_ack(&a.register("spk1", &["old"]).await));
    assert!(is_ack(&a.register("spk2", &["new"]).await));
    assert!(
        is_ack(&a.register("spk2", &[]).await),
        "zero one-time keys are acknowledged"
    );
    let keys = prekeys(anon.prekeys(&id.key, &[]).await);
    assert_eq!(
        (
            keys[0].signed_pre_key.as_ref(),
            keys[0].one_time_pre_key.as_ref()
        ),
        (&b"spk2"[..], &b"new"[..])
    );
    assert_eq!(
        prekeys(anon.prekeys(&id.key, &[]).await)[0].one_time_pre_key,
        ""
    );

    // A second device; knownDeviceIds.
    let mut b = Client::connect(&server).await;
    b.login_ok(&id, "b").await;
    assert!(is_ack(&b.register("spkb", &["b1"]).await));
    let mut devices: Vec<Bytes> = prekeys(anon.prekeys(&id.key, &["zzz"]).await)
        .into_iter()
        .map(|k| k.device_id)
        .collect();
    devices.sort();
    assert_eq!(devices, ["a", "b"]);
    let only_b = prekeys(anon.prekeys(&id.key, &["a"]).await);
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].device_id, "b");
    assert!(prekeys(anon.prekeys(&id.key, &["a", "b"]).await).is_empty());

    // Unregistering a device that never registered touches nothing; then a, then b.
    let mut c = Client::connect(&server).await;
    c.login_ok(&id, "c").await;
    assert!(is_ack(
        &c.request(Payload::Unregister(wire::Unregister {})).await
    ));
    assert_eq!(prekeys(anon.prekeys(&id.key, &[]).await).len(), 2);
    assert!(is_ack(
        &a.request(Payload::Unregister(wire::Unregister {})).await
    ));
    let left = prekeys(anon.prekeys(&id.key, &[]).await);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].device_id, "b");
    assert!(is_ack(
        &b.request(Payload::Unregister(wire::Unregister {})).await
    ));
    assert_eq!(
        error_name(&anon.prekeys(&id.key, &[]).await),
        "unknown_identity"
    );
    // Empty and short keys.
    assert_eq!(
        error_name(&anon.prekeys(&Bytes::new(), &[]).await),
        "unknown_identity"
    );
    let short = id.key.slice(..31);
    assert!(["unknown_identity", "invalid_request"]
        .contains(&error_name(&anon.prekeys(&short, &[]).await)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_prekeys_go_once_under_concurrency() {
    let server = server().await;
    let id = Identity::new();
    let mut a = Client::connect(&server).await;
    a.login_ok(&id, "a").await;
    let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    assert!(is_ack(&a.register("spk", &refs).await));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = server.url();
        let key = id.key.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect_url(&url).await;
            let mut got = Vec::new();
            for _ in 0..5 {
                got.push(
                    prekeys(c.prekeys(&key, &[]).await)[0]
                        .one_time_pre_key
                        .clone(),
                );
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(distinct.len(), 40, "every key handed out exactly once");
}

#[tokio::test]
async fn access_rules() {
    let server = server().await;
    let id = Identity::new();
    let mut anon = Client::connect(&server).await;
    assert_eq!(
        error_name(&anon.register("spk", &["k"]).await),
        "unauthorized"
    );
    assert_eq!(
        error_name(&anon.request(Payload::Unregister(wire::Unregister {})).await),
        "unauthorized"
    );
    let mut authed = Client::connect(&server).await;
    authed.login_ok(&id, "a").await;
    let attempted = "attempted_anonymous_op_on_authenticated_connection";
    assert_eq!(error_name(&authed.prekeys(&id.key, &[]).await), attempted);
    assert_eq!(
        error_name(&authed.send_message(id.address("a"), b"m").await),
        attempted
    );
    assert_eq!(
        error_name(
            &authed
                .request(Payload::RequestUploadAuthorizations(
                    wire::RequestUploadAuthorizations { num_requested: 1 }
                ))
                .await
        ),
        attempted
    );
    // Nothing was sent to the address.
    assert!(authed.inbound(SHORT).await.is_err());
}

#[tokio::test]
async fn store_and_forward_with_per_message_acks() {
    let server = server().await;
    let id = Identity::new();
    let mut sender = Client::connect(&server).await;
    for m in ["m1", "m2", "m3"] {
        assert!(is_ack(
            &sender.send_message(id.address("r"), m.as_bytes()).await
        ));
    }
    let mut r = Client::connect(&server).await;
    r.login_ok(&id, "r").await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(r.inbound(REPLY).await.unwrap());
    }
    let bytes: Vec<&[u8]> = got.iter().map(|(_, b)| b.as_ref()).collect();
    assert_eq!(bytes, [b"m1", b"m2", b"m3"]);
    // Server sequence numbers continue after the hello: 3, 4, 5.
    let seqs: Vec<u32> = got.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, [3, 4, 5]);
    // Ack m2 only; a barrier request; a new session gets m1 and m3.
    r.ack(got[1].0).await;
    assert!(is_ack(&r.register("spk", &["k1", "k2", "k3"]).await));
    let mut r2 = Client::connect(&server).await;
    r2.login_ok(&id, "r").await;
    let (s1, b1) = r2.inbound(REPLY).await.unwrap();
    let (s3, b3) = r2.inbound(REPLY).await.unwrap();
    assert_eq!((b1.as_ref(), b3.as_ref()), (&b"m1"[..], &b"m3"[..]));
    assert!(r2.inbound(SHORT).await.is_err());
    // Unknown acks are ignored: no reply, the connection stays.
    r2.ack(9999).await;
    r2.ack(s1).await;
    r2.ack(s3).await;
    assert!(
        is_ack(&r2.register("spk", &[]).await),
        "the next reply is the Register's"
    );
    let mut r3 = Client::connect(&server).await;
    r3.login_ok(&id, "r").await;
    assert!(
        r3.inbound(SHORT).await.is_err(),
        "acknowledged messages are gone"
    );
    // Unregistering keeps the inbox.
    assert!(is_ack(
        &r3.request(Payload::Unregister(wire::Unregister {})).await
    ));
    assert!(is_ack(&sender.send_message(id.address("r"), b"m4").await));
    assert_eq!(r3.inbound(REPLY).await.unwrap().1, "m4");
    drop(r3);
    let mut r4 = Client::connect(&server).await;
    r4.login_ok(&id, "r").await;
    assert_eq!(r4.inbound(REPLY).await.unwrap().1, "m4");
}

#[tokio::test]
async fn live_delivery_fans_out_to_exactly_the_address() {
    let server = server().await;
    let id = Identity::new();
    let mut s1 = Client::connect(&server).await;
    s1.login_ok(&id, "a").await;
    let mut s2 = Client::connect(&server).await;
    s2.login_ok(&id, "a").await;
    let mut other_device = Client::connect(&server).await;
    other_device.login_ok(&id, "b").await;
    let mut sender = Client::connect(&server).await;
    let big = vec![7u8; 20_000];
    for m in [&b"x1"[..], &big, b""] {
        assert!(is_ack(&sender.send_message(id.address("a"), m).await));
    }
    for s in [&mut s1, &mut s2] {
        for m in [&b"x1"[..], &big, b""] {
            assert_eq!(s.inbound(REPLY).await.unwrap().1, m);
        }
        // Only the opaque bytes: nothing else in the InboundMessage.
    }
    assert!(other_device.inbound(SHORT).await.is_err());
    // Sending to any address, and the typed form of field 16.
    assert!(is_ack(
        &sender
            .send_message(Identity::new().address("nobody"), b"x")
            .await
    ));
    assert!(is_ack(
        &sender.send_message(id.address("a"), b"typed").await
    ));
    let m = s1.push(REPLY).await.unwrap();
    let Some(Payload::InboundMessage(im)) = m.payload else {
        panic!("{m:?}")
    };
    assert_eq!(
        im.encode_to_vec(),
        wire::InboundMessage {
            unidentified_sender_message: "typed".into()
        }
        .encode_to_vec()
    );
}

#[tokio::test]
async fn outbound_messages_need_a_well_formed_address() {
    let server = server().await;
    let id = Identity::new();
    let mut c = Client::connect(&server).await;
    let no_to = c
        .request(Payload::OutboundMessage(wire::OutboundMessage {
            to: None,
            unidentified_sender_message: "m".into(),
        }))
        .await;
    assert_eq!(error_name(&no_to), "invalid_request");
    let mut bit255 = id.key.to_vec();
    bit255[31] |= 0x80;
    let mut long = id.key.to_vec();
    long.push(1);
    for (key, device) in [
        (Vec::new(), "d".to_owned()),
        (id.key[..31].to_vec(), "d".to_owned()),
        (long, "d".to_owned()),
        (bit255, "d".to_owned()),
        (id.key.to_vec(), String::new()),
        (id.key.to_vec(), "x".repeat(65)),
    ] {
        let to = wire::Address {
            identity_key: key.into(),
            device_id: device.into(),
        };
        assert_eq!(
            error_name(&c.send_message(to, b"m").await),
            "invalid_request"
        );
    }
    assert!(is_ack(&c.send_message(id.address("d"), b"m").await));
    assert!(alive(&server).await);
}

#[tokio::test]
async fn upload_authorizations() {
    let server = server_with(|c| c.upload_base = "https://files.example/bucket".into()).await;
    let mut c = Client::connect(&server).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let reply = c
        .request(Payload::RequestUploadAuthorizations(
            wire::RequestUploadAuthorizations { num_requested: 3 },
        ))
        .await;
    let Payload::UploadAuthorizations(u) = reply else {
        panic!("{reply:?}")
    };
    assert!((1..=3).contains(&u.authorizations.len()));
    for a in &u.authorizations {
        assert!(
            a.upload_url.starts_with("https://files.example/bucket/"),
            "{}",
            a.upload_url
        );
        assert!(a.download_url.starts_with("https://files.example/bucket/"));
        assert!(a.authorization_expires_at > now + 60_000);
        assert!(a.authorization_expires_at < now + 7 * 24 * 3_600_000);
        assert_eq!(a.max_upload_size, 5_000_000);
    }
    for n in [0, -1, i32::MIN] {
        let reply = c
            .request(Payload::RequestUploadAuthorizations(
                wire::RequestUploadAuthorizations { num_requested: n },
            ))
            .await;
        assert!(matches!(reply, Payload::UploadAuthorizations(u) if u.authorizations.is_empty()));
    }
    let many = c
        .request(Payload::RequestUploadAuthorizations(
            wire::RequestUploadAuthorizations {
                num_requested: i32::MAX,
            },
        ))
        .await;
    assert!(matches!(many, Payload::UploadAuthorizations(u) if !u.authorizations.is_empty()));
}

#[tokio::test]
async fn sequence_numbers_and_odd_frames() {
    let server = server().await;
    let mut c = Client::connect(&server).await;
    let upload = Payload::RequestUploadAuthorizations(wire::RequestUploadAuthorizations {
        num_requested: 1,
    });
    // Sequence 0 and reused numbers are answered.
    for seq in [0, 0, 5, 5] {
        c.send(seq, upload.clone()).await;
        assert_eq!(c.reply(REPLY).await.unwrap().sequence, seq);
    }
    // No payload, and payloads only a server sends: Error invalid_request with the sequence.
    c.send_raw(
        wire::Message {
            sequence: 21,
            payload: None,
        }
        .encode_to_vec(),
    )
    .await;
    let r = c.reply(REPLY).await.unwrap();
    assert_eq!(
        (r.sequence, error_name(r.payload.as_ref().unwrap())),
        (21, "invalid_request")
    );
    for p in [
        Payload::Configuration(wire::Configuration {
            max_attachment_size: 1,
        }),
        Payload::AuthChallenge(wire::AuthChallenge::default()),
        Payload::PreKeys(wire::PreKeys::default()),
        Payload::PreKeysLow(wire::PreKeysLow::default()),
        Payload::InboundMessage(wire::InboundMessage::default()),
        Payload::Error(wire::Error::default()),
        Payload::UploadAuthorizations(wire::UploadAuthorizations::default()),
    ] {
        c.send(22, p).await;
        let r = c.reply(REPLY).await.unwrap();
        assert_eq!(
            (r.sequence, error_name(r.payload.as_ref().unwrap())),
            (22, "invalid_request")
        );
    }
    // An empty frame is a Message without payload (sequence 0).
    c.send_raw(Vec::new()).await;
    let r = c.reply(REPLY).await.unwrap();
    assert_eq!(
        (r.sequence, error_name(r.payload.as_ref().unwrap())),
        (0, "invalid_request")
    );
    // Garbage and text frames are ignored; the connection stays usable.
    c.send_raw(vec![0xff, 0xff, 0xff]).await;
    c.send_frame(Frame::Text("hello".into())).await;
    let text_login = wire::Message {
        sequence: 3,
        payload: Some(upload.clone()),
    }
    .encode_to_vec();
    if let Ok(text) = String::from_utf8(text_login) {
        c.send_frame(Frame::Text(text.into())).await;
    }
    c.send(30, upload.clone()).await;
    assert_eq!(
        c.reply(REPLY).await.unwrap().sequence,
        30,
        "only the binary request is answered"
    );
}

/// An OutboundMessage frame of exactly `size` bytes.
fn frame_of(size: usize, to: wire::Address) -> Vec<u8> {
    let mut body = size;
    loop {
        let m = wire::Message {
            sequence: 40,
            payload: Some(Payload::OutboundMessage(wire::OutboundMessage {
                to: Some(to.clone()),
                unidentified_sender_message: vec![1u8; body].into(),
            })),
        }
        .encode_to_vec();
        match m.len().cmp(&size) {
            std::cmp::Ordering::Equal => return m,
            std::cmp::Ordering::Greater => body -= 1,
            std::cmp::Ordering::Less => panic!("no frame of {size} bytes"),
        }
    }
}

#[tokio::test]
async fn frame_size_limit() {
    let server = server().await;
    let id = Identity::new();
    let mut c = Client::connect(&server).await;
    c.send_raw(frame_of(32_768, id.address("d"))).await;
    let r = c.reply(REPLY).await.unwrap();
    assert!(r.sequence == 40 && is_ack(r.payload.as_ref().unwrap()));
    c.send_raw(frame_of(32_769, id.address("d"))).await;
    assert_eq!(c.read(REPLY).await.unwrap_err(), Ended::Closed(Some(1009)));
    let mut c = Client::connect(&server).await;
    c.send_raw(vec![0; 1 << 20]).await;
    assert!(matches!(c.read(REPLY).await, Err(Ended::Closed(_))));
    assert!(alive(&server).await);
}

#[tokio::test]
async fn prekeys_low_timing() {
    // Interval 100 ms, limit 3, request 4.
    let server = server().await;
    let d = Duration::from_millis(100);
    let id = Identity::new();
    let mut a = Client::connect(&server).await;
    a.login_ok(&id, "a").await;
    // Not registered: nothing.
    assert!(a.push(3 * d).await.is_err());
    assert!(is_ack(&a.register("spk", &["k1"]).await));
    let low = a
        .push(2 * d)
        .await
        .expect("PreKeysLow after a Register below the limit");
    assert!(matches!(
        low.payload,
        Some(Payload::PreKeysLow(wire::PreKeysLow { keys_requested: 4 }))
    ));
    assert!(low.sequence >= 3);
    // It repeats while low; lifting the count to the limit stops it.
    assert!(is_ack(&a.register("spk", &["k2", "k3"]).await));
    tokio::time::sleep(d / 2).await;
    a.pushes.clear();
    while a.read(Duration::from_millis(1)).await.is_ok() {}
    assert!(a.push(3 * d).await.is_err(), "no PreKeysLow at the limit");
    // A RequestPreKeys on an anonymous connection drops it below the limit.
    let mut anon = Client::connect(&server).await;
    prekeys(anon.prekeys(&id.key, &[]).await);
    let low = a
        .push(2 * d)
        .await
        .expect("PreKeysLow after keys were taken");
    assert!(matches!(low.payload, Some(Payload::PreKeysLow(_))));
    assert!(
        anon.push(3 * d).await.is_err(),
        "never on anonymous connections"
    );
    // After Unregister, none.
    assert!(is_ack(
        &a.request(Payload::Unregister(wire::Unregister {})).await
    ));
    a.pushes.clear();
    assert!(a.push(3 * d).await.is_err());
    // At login, for a registered device below the limit.
    let mut b = Client::connect(&server).await;
    b.login_ok(&id, "b").await;
    assert!(is_ack(&b.register("spk", &[]).await));
    let mut b2 = Client::connect(&server).await;
    b2.login_ok(&id, "b").await;
    assert!(matches!(
        b2.push(2 * d).await.unwrap().payload,
        Some(Payload::PreKeysLow(_))
    ));
}

#[tokio::test]
async fn idle_connections_close_and_data_frames_keep_them() {
    let server = server_with(|c| c.idle_timeout = Duration::from_millis(500)).await;
    let mut quiet = Client::connect(&server).await;
    let mut pinging = Client::connect(&server).await;
    let mut busy = Client::connect(&server).await;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(1200) {
        busy.ack(60_000).await;
        pinging.send_frame(Frame::Ping(Bytes::new())).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(matches!(quiet.read(SHORT).await, Err(Ended::Closed(_))));
    let mut pinged_out = false;
    for _ in 0..5 {
        match pinging.read(SHORT).await {
            Err(Ended::Closed(_)) => {
                pinged_out = true;
                break;
            }
            _ => continue,
        }
    }
    assert!(pinged_out, "pings do not keep a connection open");
    let reply = busy
        .request(Payload::RequestUploadAuthorizations(
            wire::RequestUploadAuthorizations { num_requested: 1 },
        ))
        .await;
    assert!(matches!(reply, Payload::UploadAuthorizations(_)));
}

async fn http_status(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0; 1024];
    let n = tokio::time::timeout(REPLY, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    text.lines().next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn http_paths_and_upgrade_required() {
    let server = server().await;
    let addr = server.local_addr();
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(http_status(addr, &get("/api"))
        .await
        .starts_with("HTTP/1.1 426"));
    for path in ["/", "/api/", "/api?x=1", "/other"] {
        assert!(
            http_status(addr, &get(path))
                .await
                .starts_with("HTTP/1.1 404"),
            "{path}"
        );
    }
    let bad_version = "GET /api HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    assert!(http_status(addr, bad_version)
        .await
        .starts_with("HTTP/1.1 426"));
    assert!(alive(&server).await);
}

#[tokio::test]
async fn wss_with_a_self_signed_certificate() {
    let server = start(TassisConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::SelfSigned { write_to: None },
        ..TassisConfig::default()
    })
    .await
    .unwrap();
    let url = server.url();
    assert!(
        url.starts_with("wss://127.0.0.1:") && url.ends_with("/api"),
        "{url}"
    );
    let pem = server.certificate_pem().unwrap();
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject as _;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let mut c = Client::over(Box::new(tls), &url).await;
    for _ in 0..2 {
        let m = c.read(REPLY).await.unwrap();
        if let Some(Payload::AuthChallenge(a)) = m.payload {
            c.nonce = a.nonce;
        }
    }
    c.login_ok(&Identity::new(), "tls").await;
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_sessions_with_1001() {
    let server = server().await;
    let mut c = Client::connect(&server).await;
    let stopping = tokio::spawn(server.shutdown());
    assert_eq!(c.read(REPLY).await.unwrap_err(), Ended::Closed(Some(1001)));
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_backlog_of_a_thousand_arrives_in_order() {
    let server = server().await;
    let id = Identity::new();
    let mut sender = Client::connect(&server).await;
    // Pipelined sends, then their acks.
    for i in 0..1000u32 {
        let m = wire::OutboundMessage {
            to: Some(id.address("r")),
            unidentified_sender_message: Bytes::from(i.to_be_bytes().to_vec()),
        };
        sender.send(i, Payload::OutboundMessage(m)).await;
    }
    for i in 0..1000u32 {
        let r = sender.reply(REPLY).await.unwrap();
        assert_eq!(r.sequence, i);
        assert!(is_ack(r.payload.as_ref().unwrap()));
    }
    let started = std::time::Instant::now();
    let mut r = Client::connect(&server).await;
    r.login_ok(&id, "r").await;
    for i in 0..1000u32 {
        let (_, bytes) = r.inbound(REPLY).await.unwrap();
        assert_eq!(bytes.as_ref(), &i.to_be_bytes());
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}
