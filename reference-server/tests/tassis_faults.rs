//! Every tassis-v2 fault changes behaviour: a probe that the correct server passes fails on a
//! server with that one fault. A probe fails by panicking.
//!
//! ```text
//! cargo test -p edge-reference-server --features faults --test tassis_faults
//! ```
#![cfg(feature = "faults")]

mod tassis_common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity as _;
use edge_reference_server::tassis_v2::faults::Fault;
use edge_reference_server::tassis_v2::wire::{self, message::Payload};
use edge_reference_server::tassis_v2::TassisServer;
use prost::Message as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha512};
use tassis_common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message as Frame;

/// PreKeysLow interval of the probe servers.
const D: Duration = Duration::from_millis(100);
/// Idle timeout of the probe servers (`idle-close-18s` closes after three tenths of it).
const IDLE: Duration = Duration::from_millis(1800);
const SHORT: Duration = Duration::from_millis(300);

async fn probe_server(faults: Vec<Fault>) -> TassisServer {
    server_with(|c| {
        c.prekeys_interval = D;
        c.idle_timeout = IDLE;
        c.faults = faults;
    })
    .await
}

fn is_ack(p: &Payload) -> bool {
    matches!(p, Payload::Ack(_))
}

fn prekeys(p: Payload) -> Vec<wire::PreKey> {
    match p {
        Payload::PreKeys(p) => p.pre_keys,
        other => panic!("expected PreKeys, got {other:?}"),
    }
}

fn upload(n: i32) -> Payload {
    Payload::RequestUploadAuthorizations(wire::RequestUploadAuthorizations { num_requested: n })
}

fn unregister() -> Payload {
    Payload::Unregister(wire::Unregister {})
}

async fn logged_in(server: &TassisServer, id: &Identity, device: &str) -> Client {
    let mut c = Client::connect(server).await;
    c.login_ok(id, device).await;
    c
}

/// Sends an AuthResponse; its reply (panics without one).
async fn try_login(c: &mut Client, login: Bytes, signature: Vec<u8>) -> Payload {
    c.request(Payload::AuthResponse(wire::AuthResponse {
        login,
        signature: signature.into(),
    }))
    .await
}

fn assert_refused(p: &Payload) {
    assert!(
        ["unauthorized", "invalid_request"].contains(&error_name(p)),
        "login not refused: {p:?}"
    );
}

async fn assert_alive(server: &TassisServer) {
    assert!(alive(server).await, "the server no longer serves");
    assert!(!server.crashed());
}

async fn http_status(server: &TassisServer, request: &str) -> u16 {
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0; 512];
    let n = tokio::time::timeout(REPLY, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    text.split(' ').nth(1).unwrap().parse().unwrap()
}

/// Reads the hello frames, however many arrive.
async fn hello(server: &TassisServer) -> (Client, Vec<wire::Message>) {
    let mut c = Client::connect_raw(&server.url()).await;
    let mut got = Vec::new();
    while let Ok(m) = c.read(SHORT).await {
        got.push(m);
    }
    (c, got)
}

/// A random nonce r and its point R = [r]B, encoded.
fn random_r() -> (Scalar, [u8; 32]) {
    let mut wide = [0; 64];
    rand::rng().fill_bytes(&mut wide);
    let r = Scalar::from_bytes_mod_order_wide(&wide);
    (r, (B * r).compress().to_bytes())
}

/// Ed25519's k = SHA-512(R ‖ A ‖ M) mod L.
fn challenge(big_r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(big_r);
    h.update(a);
    h.update(message);
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

/// A signature R ‖ s with R = [r]B, s = r, made without a private key, that verifies under
/// the Edwards key `a` whenever [k]A is the identity (A of small order).
fn forge(a: [u8; 32], message: &[u8]) -> Vec<u8> {
    let point = CompressedEdwardsY(a).decompress().unwrap();
    loop {
        let (r, big_r) = random_r();
        if (point * challenge(&big_r, &a, message)).is_identity() {
            let mut sig = big_r.to_vec();
            sig.extend_from_slice(r.as_bytes());
            return sig;
        }
    }
}

/// An Ed25519 signature by the private scalar 1, whose public key is the base point B
/// (u = 9, sign bit 0): anyone can make it.
fn sign_with_scalar_one(message: &[u8]) -> Vec<u8> {
    let (r, big_r) = random_r();
    let k = challenge(&big_r, &B.compress().to_bytes(), message);
    let mut sig = big_r.to_vec();
    sig.extend_from_slice((r + k).as_bytes());
    sig
}

/// s + L in the signature's second half.
fn malleate(mut sig: Vec<u8>) -> Vec<u8> {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum =
            u16::from(sig[32 + i] & if i == 31 { 0x7f } else { 0xff }) + u16::from(L[i]) + carry;
        sig[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    sig
}

/// The whole typed InboundMessage frame, byte for byte.
async fn assert_typed_inbound(c: &mut Client, bytes: &[u8]) {
    let raw = c.read_raw(REPLY).await.expect("an InboundMessage");
    let sequence = wire::Message::decode(raw.clone())
        .map(|m| m.sequence)
        .unwrap_or(3);
    let typed = wire::Message {
        sequence,
        payload: Some(Payload::InboundMessage(wire::InboundMessage {
            unidentified_sender_message: Bytes::copy_from_slice(bytes),
        })),
    }
    .encode_to_vec();
    assert_eq!(
        raw.as_ref(),
        &typed[..],
        "not the typed InboundMessage with only the bytes"
    );
}

/// Waits for a PreKeysLow (skipping other pushes).
async fn expect_low(c: &mut Client, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let m = c.push(left).await.expect("a PreKeysLow");
        if matches!(m.payload, Some(Payload::PreKeysLow(_))) {
            return;
        }
    }
}

async fn expect_no_low(c: &mut Client, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.push(left).await {
            Ok(m) => assert!(
                !matches!(m.payload, Some(Payload::PreKeysLow(_))),
                "unexpected PreKeysLow"
            ),
            Err(_) => return,
        }
    }
}

/// The PreKeysLow pushes that come within `wait`.
async fn count_low(c: &mut Client, wait: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + wait;
    let mut n = 0;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.push(left).await {
            Ok(m) => n += usize::from(matches!(m.payload, Some(Payload::PreKeysLow(_)))),
            Err(_) => return n,
        }
    }
}

/// Logs in as the identity key `key` (device "d") with the signature `sign` makes over the
/// login, and requires the refusal.
async fn assert_key_refused(server: &TassisServer, key: &[u8], sign: impl Fn(&[u8]) -> Vec<u8>) {
    let mut c = Client::connect(server).await;
    let address = wire::Address {
        identity_key: Bytes::copy_from_slice(key),
        device_id: "d".into(),
    };
    let login = login_bytes(address, &c.nonce);
    let sig = sign(&login);
    assert_refused(&try_login(&mut c, login, sig).await);
}

/// The probe for `fault`: passes on the correct server, panics on one with the fault.
async fn probe(fault: Fault, server: Arc<TassisServer>) {
    let server = &*server;
    let id = Identity::new();
    match fault {
        Fault::CrashOutboundNoTo => {
            let mut c = Client::connect(server).await;
            let r = c
                .request(Payload::OutboundMessage(wire::OutboundMessage {
                    to: None,
                    unidentified_sender_message: "m".into(),
                }))
                .await;
            assert_eq!(error_name(&r), "invalid_request");
            assert_alive(server).await;
        }
        Fault::CrashShortSignature => {
            let mut c = Client::connect(server).await;
            let login = login_bytes(id.address("d"), &c.nonce);
            assert_refused(&try_login(&mut c, login, vec![1; 10]).await);
            assert_alive(server).await;
        }
        Fault::CrashLoginNoAddress => {
            let mut c = Client::connect(server).await;
            let login = Bytes::from(
                wire::Login {
                    address: None,
                    nonce: c.nonce.clone(),
                }
                .encode_to_vec(),
            );
            let sig = id.sign(&login);
            assert_refused(&try_login(&mut c, login, sig).await);
            assert_alive(server).await;
        }
        Fault::CumulativeAck => {
            let mut s = Client::connect(server).await;
            for m in ["m1", "m2"] {
                assert!(is_ack(&s.send_message(id.address("r"), m.as_bytes()).await));
            }
            let mut r = logged_in(server, &id, "r").await;
            let _m1 = r.inbound(REPLY).await.unwrap();
            let m2 = r.inbound(REPLY).await.unwrap();
            r.ack(m2.0).await;
            r.register("spk", &["a", "b", "c"]).await;
            let mut r2 = logged_in(server, &id, "r").await;
            assert_eq!(r2.inbound(REPLY).await.unwrap().1, "m1");
        }
        Fault::AckRemovesNewest => {
            let mut s = Client::connect(server).await;
            for m in ["m1", "m2", "m3"] {
                assert!(is_ack(&s.send_message(id.address("r"), m.as_bytes()).await));
            }
            let mut r = logged_in(server, &id, "r").await;
            let m1 = r.inbound(REPLY).await.unwrap();
            r.inbound(REPLY).await.unwrap();
            r.inbound(REPLY).await.unwrap();
            r.ack(m1.0).await;
            r.register("spk", &["a", "b", "c"]).await;
            let mut r2 = logged_in(server, &id, "r").await;
            assert_eq!(r2.inbound(REPLY).await.unwrap().1, "m2");
            assert_eq!(r2.inbound(REPLY).await.unwrap().1, "m3");
        }
        Fault::UnsubscribeDropsAll => {
            let a = logged_in(server, &id, "a").await;
            let mut b = logged_in(server, &id, "a").await;
            a.close().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut s = Client::connect(server).await;
            assert!(is_ack(&s.send_message(id.address("a"), b"m").await));
            assert_eq!(b.inbound(REPLY).await.unwrap().1, "m");
        }
        Fault::UnregisterOneMemberSet => {
            let mut a = logged_in(server, &id, "a").await;
            a.register("spk", &["k"]).await;
            let mut b = logged_in(server, &id, "b").await;
            assert!(is_ack(&b.request(unregister()).await));
            let mut anon = Client::connect(server).await;
            assert_eq!(prekeys(anon.prekeys(&id.key, &[]).await).len(), 1);
        }
        Fault::UploadNonpositiveSilent => {
            let mut c = Client::connect(server).await;
            c.request(upload(0)).await;
        }
        Fault::LongKeyAliasing => {
            let mut key = id.key.to_vec();
            key.push(0);
            assert_key_refused(server, &key, |login| id.sign(login)).await;
        }
        Fault::Bit255Aliasing => {
            let mut key = id.key.to_vec();
            key[31] |= 0x80;
            assert_key_refused(server, &key, |login| id.sign(login)).await;
        }
        Fault::DegenerateKeyForgery => {
            let mut p_minus_1 = [0xffu8; 32];
            p_minus_1[0] = 0xec;
            p_minus_1[31] = 0x7f;
            // Go's map sends u = p - 1 to y = 0, a point of order 4.
            assert_key_refused(server, &p_minus_1, |login| forge([0; 32], login)).await;
        }
        Fault::NonCanonicalUReduced => {
            // u = p + 9 reduces to 9, the base point.
            let mut p_plus_9 = [0xffu8; 32];
            p_plus_9[0] = 0xf6;
            p_plus_9[31] = 0x7f;
            assert_key_refused(server, &p_plus_9, sign_with_scalar_one).await;
        }
        Fault::Upgrade500 => {
            let status = http_status(server, "GET /api HTTP/1.1\r\nHost: x\r\n\r\n").await;
            assert!((400..500).contains(&status), "{status}");
        }
        Fault::TextFramesParsed => {
            let mut c = Client::connect(server).await;
            let text = wire::Message {
                sequence: 3,
                payload: Some(upload(1)),
            }
            .encode_to_vec();
            let text = String::from_utf8(text).expect("ASCII protobuf");
            c.send_frame(Frame::Text(text.into())).await;
            if let Ok(m) = c.read(SHORT).await {
                assert!(
                    matches!(m.payload, Some(Payload::Error(_))),
                    "a text frame was served: {m:?}"
                );
            }
        }
        Fault::Frame32kRefused => {
            let mut c = Client::connect(server).await;
            let mut size = 32_768 - 60;
            let frame = loop {
                let m = wire::Message {
                    sequence: 40,
                    payload: Some(Payload::OutboundMessage(wire::OutboundMessage {
                        to: Some(id.address("d")),
                        unidentified_sender_message: vec![1u8; size].into(),
                    })),
                }
                .encode_to_vec();
                if m.len() == 32_768 {
                    break m;
                }
                size += 32_768 - m.len();
            };
            c.send_raw(frame).await;
            let r = c
                .reply(REPLY)
                .await
                .expect("an answer to a 32 768-byte frame");
            assert!(is_ack(r.payload.as_ref().unwrap()));
        }
        Fault::LargeFrameCrash => {
            let mut c = Client::connect(server).await;
            c.send_raw(vec![0; 40_000]).await;
            let _ = c.read(REPLY).await;
            assert_alive(server).await;
        }
        Fault::BadFrameCloses => {
            let mut c = Client::connect(server).await;
            c.send_raw(vec![0xff; 8]).await;
            c.request(upload(1)).await;
        }
        Fault::IdleClose18s => {
            let mut c = Client::connect(server).await;
            tokio::time::sleep(IDLE / 2).await;
            c.request(upload(1)).await;
        }
        Fault::CrashAbruptDisconnect => {
            let c = logged_in(server, &id, "d").await;
            drop(c);
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_alive(server).await;
        }
        Fault::SeqNotEchoed => {
            let mut c = Client::connect(server).await;
            c.request(upload(1)).await;
        }
        Fault::ErrorSeqZero => {
            let mut c = Client::connect(server).await;
            let r = c.request(unregister()).await;
            assert_eq!(error_name(&r), "unauthorized");
        }
        Fault::RegisterAckedTwice => {
            let mut c = logged_in(server, &id, "d").await;
            assert!(is_ack(&c.register("spk", &["1", "2", "3", "4"]).await));
            assert!(c.reply(SHORT).await.is_err(), "a second reply");
        }
        Fault::NoReplyRegisterEmpty => {
            let mut c = logged_in(server, &id, "d").await;
            assert!(is_ack(&c.register("spk", &[]).await));
        }
        Fault::ServerSeqFrom0 => {
            let (_, hello) = hello(server).await;
            let seqs: Vec<u32> = hello.iter().map(|m| m.sequence).collect();
            assert_eq!(seqs, [1, 2]);
        }
        Fault::SeqZeroIgnored => {
            let mut c = Client::connect(server).await;
            c.send(0, upload(1)).await;
            assert_eq!(c.reply(REPLY).await.expect("a reply").sequence, 0);
        }
        Fault::UnknownAckError => {
            let mut c = Client::connect(server).await;
            c.ack(9999).await;
            c.request(upload(1)).await;
        }
        Fault::ConfigMissing => {
            let (_, hello) = hello(server).await;
            assert_eq!(hello.len(), 2);
            assert!(hello
                .iter()
                .any(|m| matches!(m.payload, Some(Payload::Configuration(_)))));
        }
        Fault::NonceCounter => {
            let a = Client::connect(server).await;
            let b = Client::connect(server).await;
            assert_ne!(a.nonce[..24], b.nonce[..24], "nonces look like a counter");
        }
        Fault::ShortNonce => {
            let (_, hello) = hello(server).await;
            assert!(
                matches!(&hello[0].payload, Some(Payload::AuthChallenge(a)) if a.nonce.len() >= 16)
            );
        }
        Fault::ConfigZero => {
            let (_, hello) = hello(server).await;
            assert!(hello.iter().any(|m| matches!(m.payload, Some(Payload::Configuration(c)) if c.max_attachment_size > 0)));
        }
        Fault::LoginReplyPreKeys => {
            logged_in(server, &id, "d").await;
        }
        Fault::SignatureUnchecked => {
            let mut c = Client::connect(server).await;
            let login = login_bytes(id.address("d"), &c.nonce);
            let mut sig = vec![0u8; 64];
            rand::rng().fill_bytes(&mut sig[..40]);
            assert_refused(&try_login(&mut c, login, sig).await);
        }
        Fault::NonceNotChecked => {
            let mut c = Client::connect(server).await;
            let login = login_bytes(id.address("d"), &Bytes::from(vec![0u8; 32]));
            let sig = id.sign(&login);
            assert_refused(&try_login(&mut c, login, sig).await);
        }
        Fault::NonceXorCompare => {
            let mut c = Client::connect(server).await;
            let mut near = c.nonce.to_vec();
            let last = near.len() - 1;
            near[0] ^= 0x01;
            near[last] ^= 0x01;
            let login = login_bytes(id.address("d"), &Bytes::from(near));
            let sig = id.sign(&login);
            assert_refused(&try_login(&mut c, login, sig).await);
        }
        Fault::ReplayAccepted => {
            let mut first = Client::connect(server).await;
            let login = login_bytes(id.address("d"), &first.nonce);
            let sig = id.sign(&login);
            assert!(is_ack(
                &try_login(&mut first, login.clone(), sig.clone()).await
            ));
            let mut c = Client::connect(server).await;
            assert_refused(&try_login(&mut c, login, sig).await);
        }
        Fault::SignBitIgnored => {
            let id = Identity::with_sign_bit(1);
            logged_in(server, &id, "d").await;
        }
        Fault::MalleableS => {
            let mut c = Client::connect(server).await;
            let login = login_bytes(id.address("d"), &c.nonce);
            let sig = malleate(id.sign_spec(&login));
            assert_refused(&try_login(&mut c, login, sig).await);
        }
        Fault::ReserializeLogin => {
            let mut c = Client::connect(server).await;
            // The nonce field first: valid protobuf, not prost's canonical order.
            let mut login = Vec::new();
            prost::encoding::bytes::encode(2, &c.nonce, &mut login);
            prost::encoding::message::encode(1, &id.address("d"), &mut login);
            let sig = id.sign(&login);
            assert!(is_ack(&try_login(&mut c, login.into(), sig).await));
        }
        Fault::FailedLoginStillServes => {
            let mut c = Client::connect(server).await;
            let login = login_bytes(id.address("d"), &c.nonce);
            assert_refused(&try_login(&mut c, login, vec![0; 64]).await);
            c.send(5, upload(1)).await;
            assert!(c.read(SHORT).await.is_err(), "served after a failed login");
        }
        Fault::FailedLoginDelivers => {
            let mut s = Client::connect(server).await;
            assert!(is_ack(&s.send_message(id.address("d"), b"secret").await));
            let mut c = Client::connect(server).await;
            let login = login_bytes(id.address("d"), &c.nonce);
            assert_refused(&try_login(&mut c, login, vec![0; 64]).await);
            assert!(
                c.inbound(SHORT).await.is_err(),
                "a message of the claimed address"
            );
        }
        Fault::FailedLoginLeftOpen => {
            let mut c = Client::connect(server).await;
            let login = login_bytes(id.address("d"), &c.nonce);
            assert_refused(&try_login(&mut c, login, vec![0; 64]).await);
            // Data frames keep the idle deadline away while waiting for the close.
            let mut closed = false;
            for _ in 0..10 {
                c.ack(60_000).await;
                if let Err(Ended::Closed(_)) = c.read(SHORT).await {
                    closed = true;
                    break;
                }
            }
            assert!(closed, "not closed within 3 s of a failed login");
        }
        Fault::SecondLoginAccepted => {
            let mut c = logged_in(server, &id, "d").await;
            let other = Identity::new();
            let r = c.login(&other, "e").await;
            assert_eq!(
                error_name(&r),
                "attempted_anonymous_op_on_authenticated_connection"
            );
        }
        Fault::DeviceId64Refused => {
            logged_in(server, &id, &"d".repeat(64)).await;
        }
        Fault::LoginNeedsRegistration => {
            let mut a = logged_in(server, &id, "a").await;
            a.register("spk", &["k"]).await;
            logged_in(server, &id, "b").await;
        }
        Fault::AnonFirstRequestRefused => {
            let mut c = Client::connect(server).await;
            assert!(matches!(
                c.request(upload(1)).await,
                Payload::UploadAuthorizations(_)
            ));
        }
        Fault::ErrorNameUnknown => {
            let mut c = Client::connect(server).await;
            assert_eq!(error_name(&c.register("spk", &[]).await), "unauthorized");
        }
        Fault::RegisterEmptyRefused => {
            let mut c = logged_in(server, &id, "d").await;
            assert!(is_ack(&c.register("spk", &[]).await));
        }
        Fault::RegisterAlwaysReplace => {
            let mut c = logged_in(server, &id, "d").await;
            c.register("spk", &["k1"]).await;
            c.register("spk", &["k2"]).await;
            let mut anon = Client::connect(server).await;
            for _ in 0..2 {
                assert_ne!(
                    prekeys(anon.prekeys(&id.key, &[]).await)[0].one_time_pre_key,
                    ""
                );
            }
        }
        Fault::RegisterAlwaysAppend => {
            let mut c = logged_in(server, &id, "d").await;
            c.register("spk1", &["k1"]).await;
            c.register("spk2", &["k2"]).await;
            let mut anon = Client::connect(server).await;
            assert_eq!(
                prekeys(anon.prekeys(&id.key, &[]).await)[0].one_time_pre_key,
                "k2"
            );
            assert_eq!(
                prekeys(anon.prekeys(&id.key, &[]).await)[0].one_time_pre_key,
                ""
            );
        }
        Fault::UnregisterKeepsKeys => {
            let mut c = logged_in(server, &id, "d").await;
            c.register("spk", &["k"]).await;
            assert!(is_ack(&c.request(unregister()).await));
            let mut anon = Client::connect(server).await;
            assert_eq!(
                error_name(&anon.prekeys(&id.key, &[]).await),
                "unknown_identity"
            );
        }
        Fault::UnregisterUnregisteredError => {
            let mut c = logged_in(server, &id, "d").await;
            assert!(is_ack(&c.request(unregister()).await));
        }
        Fault::UnregisterDropsInbox => {
            let mut s = Client::connect(server).await;
            assert!(is_ack(&s.send_message(id.address("d"), b"kept").await));
            let mut c = logged_in(server, &id, "d").await;
            assert_eq!(c.inbound(REPLY).await.unwrap().1, "kept");
            assert!(is_ack(&c.request(unregister()).await));
            let mut c2 = logged_in(server, &id, "d").await;
            assert_eq!(c2.inbound(REPLY).await.unwrap().1, "kept");
        }
        Fault::RegisterAnonymousAllowed => {
            let mut c = Client::connect(server).await;
            assert_eq!(error_name(&c.register("spk", &["k"]).await), "unauthorized");
        }
        Fault::AnonOpsOnAuthed => {
            let mut c = logged_in(server, &id, "d").await;
            assert_eq!(
                error_name(&c.request(upload(1)).await),
                "attempted_anonymous_op_on_authenticated_connection"
            );
        }
        Fault::KnownDevicesIgnored => {
            let mut c = logged_in(server, &id, "a").await;
            c.register("spk", &["k"]).await;
            let mut anon = Client::connect(server).await;
            match anon.prekeys(&id.key, &["a"]).await {
                Payload::PreKeys(p) => assert!(p.pre_keys.is_empty()),
                other => assert_eq!(error_name(&other), "unknown_identity"),
            }
        }
        Fault::PrekeyHandedTwice => {
            let mut c = logged_in(server, &id, "a").await;
            c.register("spk", &["k1", "k2"]).await;
            let mut anon = Client::connect(server).await;
            let first = prekeys(anon.prekeys(&id.key, &[]).await)[0]
                .one_time_pre_key
                .clone();
            let second = prekeys(anon.prekeys(&id.key, &[]).await)[0]
                .one_time_pre_key
                .clone();
            assert_ne!(first, second);
        }
        Fault::PrekeyRace => {
            let mut c = logged_in(server, &id, "a").await;
            c.register("spk", &["k1", "k2"]).await;
            let mut x = Client::connect(server).await;
            let mut y = Client::connect(server).await;
            let (kx, ky) = tokio::join!(x.prekeys(&id.key, &[]), y.prekeys(&id.key, &[]));
            assert_ne!(
                prekeys(kx)[0].one_time_pre_key,
                prekeys(ky)[0].one_time_pre_key
            );
        }
        Fault::OtpkWithheld => {
            let mut c = logged_in(server, &id, "a").await;
            c.register("spk", &["k1"]).await;
            let mut anon = Client::connect(server).await;
            assert_eq!(
                prekeys(anon.prekeys(&id.key, &[]).await)[0].one_time_pre_key,
                "k1"
            );
        }
        Fault::ExhaustedError => {
            let mut c = logged_in(server, &id, "a").await;
            c.register("spk", &[]).await;
            let mut anon = Client::connect(server).await;
            assert_eq!(
                prekeys(anon.prekeys(&id.key, &[]).await)[0].one_time_pre_key,
                ""
            );
        }
        Fault::UnknownIdentityEmptyList => {
            let mut anon = Client::connect(server).await;
            assert_eq!(
                error_name(&anon.prekeys(&id.key, &[]).await),
                "unknown_identity"
            );
        }
        Fault::AllKnownOtherError => {
            let mut c = logged_in(server, &id, "a").await;
            c.register("spk", &["k"]).await;
            let mut anon = Client::connect(server).await;
            match anon.prekeys(&id.key, &["a"]).await {
                Payload::PreKeys(p) => assert!(p.pre_keys.is_empty()),
                other => assert_eq!(error_name(&other), "unknown_identity"),
            }
        }
        Fault::PreKeysLowNever => {
            let mut c = logged_in(server, &id, "a").await;
            c.register("spk", &[]).await;
            expect_low(&mut c, 4 * D).await;
        }
        Fault::PreKeysLowAfterUnregister => {
            let mut c = logged_in(server, &id, "a").await;
            c.register("spk", &[]).await;
            expect_low(&mut c, 4 * D).await;
            assert!(is_ack(&c.request(unregister()).await));
            c.pushes.clear();
            expect_no_low(&mut c, 3 * D).await;
        }
        Fault::PreKeysLowFlood => {
            let mut c = logged_in(server, &id, "a").await;
            c.register("spk", &[]).await;
            expect_low(&mut c, 4 * D).await;
            let n = count_low(&mut c, 4 * D).await;
            assert!(n <= 6, "{n} PreKeysLow in four intervals");
        }
        Fault::PreKeysLowAnonymous => {
            let mut c = logged_in(server, &id, "a").await;
            c.register("spk", &["k"]).await;
            let mut anon = Client::connect(server).await;
            prekeys(anon.prekeys(&id.key, &[]).await);
            expect_no_low(&mut anon, 3 * D).await;
        }
        Fault::SendNoAck => {
            let mut s = Client::connect(server).await;
            assert!(is_ack(&s.send_message(id.address("d"), b"m").await));
        }
        Fault::SendUnknownRefused => {
            let mut s = Client::connect(server).await;
            assert!(is_ack(
                &s.send_message(Identity::new().address("x"), b"m").await
            ));
        }
        Fault::DeliverToAllDevices => {
            let mut a = logged_in(server, &id, "a").await;
            let mut b = logged_in(server, &id, "b").await;
            let mut s = Client::connect(server).await;
            assert!(is_ack(&s.send_message(id.address("a"), b"m").await));
            assert_eq!(a.inbound(REPLY).await.unwrap().1, "m");
            assert!(
                b.inbound(SHORT).await.is_err(),
                "delivered to another device"
            );
        }
        Fault::DeliverMutated => {
            let mut a = logged_in(server, &id, "a").await;
            let mut s = Client::connect(server).await;
            s.send_message(id.address("a"), b"abc").await;
            assert_eq!(a.inbound(REPLY).await.unwrap().1, "abc");
        }
        Fault::NoStoreForward => {
            let mut s = Client::connect(server).await;
            s.send_message(id.address("a"), b"offline").await;
            let mut a = logged_in(server, &id, "a").await;
            assert_eq!(a.inbound(REPLY).await.unwrap().1, "offline");
        }
        Fault::OrderReversed => {
            let mut s = Client::connect(server).await;
            for m in ["m1", "m2", "m3"] {
                s.send_message(id.address("a"), m.as_bytes()).await;
            }
            let mut a = logged_in(server, &id, "a").await;
            for m in ["m1", "m2", "m3"] {
                assert_eq!(a.inbound(REPLY).await.unwrap().1, m);
            }
        }
        Fault::AckedRedelivered => {
            let mut s = Client::connect(server).await;
            s.send_message(id.address("a"), b"m").await;
            let mut a = logged_in(server, &id, "a").await;
            let (seq, _) = a.inbound(REPLY).await.unwrap();
            a.ack(seq).await;
            a.register("spk", &["1", "2", "3"]).await;
            let mut a2 = logged_in(server, &id, "a").await;
            assert!(
                a2.inbound(SHORT).await.is_err(),
                "an acknowledged message came again"
            );
        }
        Fault::AckAppliedLate => {
            let mut s = Client::connect(server).await;
            s.send_message(id.address("a"), b"m").await;
            let mut a = logged_in(server, &id, "a").await;
            let (seq, _) = a.inbound(REPLY).await.unwrap();
            a.ack(seq).await;
            a.register("spk", &["1", "2", "3"]).await;
            let mut a2 = logged_in(server, &id, "a").await;
            assert!(
                a2.inbound(Duration::from_millis(100)).await.is_err(),
                "the ack was not applied before the barrier's reply"
            );
        }
        Fault::CompetingConsumers => {
            let mut a = logged_in(server, &id, "a").await;
            let mut b = logged_in(server, &id, "a").await;
            let mut s = Client::connect(server).await;
            for m in ["m1", "m2"] {
                s.send_message(id.address("a"), m.as_bytes()).await;
            }
            for c in [&mut a, &mut b] {
                for m in ["m1", "m2"] {
                    assert_eq!(c.inbound(REPLY).await.unwrap().1, m);
                }
            }
        }
        Fault::InboundExtraSenderField | Fault::InboundRawBytes => {
            let mut a = logged_in(server, &id, "a").await;
            a.register("spk", &["1", "2", "3"]).await;
            let mut s = Client::connect(server).await;
            s.send_message(id.address("a"), b"sealed").await;
            assert_typed_inbound(&mut a, b"sealed").await;
        }
        Fault::UploadExpirySeconds | Fault::UploadMaxTooBig => {
            let mut c = Client::connect(server).await;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64;
            let Payload::UploadAuthorizations(u) = c.request(upload(2)).await else {
                panic!("no UploadAuthorizations")
            };
            for a in u.authorizations {
                assert!(a.authorization_expires_at > now + 60_000);
                assert!(a.authorization_expires_at < now + 7 * 86_400_000);
                assert!(a.max_upload_size > 0 && a.max_upload_size <= 5_000_000);
            }
        }
    }
}

/// Runs `probe(fault)` against a fresh server with `faults`; whether it passed.
async fn passes(fault: Fault, faults: Vec<Fault>) -> bool {
    let server = Arc::new(probe_server(faults).await);
    let ok = tokio::spawn(probe(fault, server.clone())).await.is_ok();
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_caught_by_its_probe() {
    let limit = Arc::new(Semaphore::new(6));
    let mut tasks = Vec::new();
    for &fault in Fault::ALL {
        let limit = limit.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.unwrap();
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
async fn crash_faults_stop_the_whole_server() {
    for fault in [
        Fault::CrashOutboundNoTo,
        Fault::CrashShortSignature,
        Fault::CrashLoginNoAddress,
    ] {
        let server = probe_server(vec![fault]).await;
        let id = Identity::new();
        let mut bystander = logged_in(&server, &id, "b").await;
        let mut c = Client::connect(&server).await;
        match fault {
            Fault::CrashOutboundNoTo => {
                c.send(
                    1,
                    Payload::OutboundMessage(wire::OutboundMessage {
                        to: None,
                        unidentified_sender_message: "m".into(),
                    }),
                )
                .await;
            }
            Fault::CrashShortSignature => {
                let login = login_bytes(id.address("d"), &c.nonce);
                c.send(
                    1,
                    Payload::AuthResponse(wire::AuthResponse {
                        login,
                        signature: vec![0; 63].into(),
                    }),
                )
                .await;
            }
            _ => {
                let login = Bytes::from(
                    wire::Login {
                        address: None,
                        nonce: c.nonce.clone(),
                    }
                    .encode_to_vec(),
                );
                c.send(
                    1,
                    Payload::AuthResponse(wire::AuthResponse {
                        login,
                        signature: vec![0; 64].into(),
                    }),
                )
                .await;
            }
        }
        // The crashing connection and every other one drop without a reply or close frame.
        assert_eq!(
            c.read(REPLY).await.unwrap_err(),
            Ended::Closed(None),
            "{fault}"
        );
        assert_eq!(
            bystander.read(REPLY).await.unwrap_err(),
            Ended::Closed(None),
            "{fault}"
        );
        assert!(server.crashed(), "{fault}");
        // New connections are refused.
        assert!(
            TcpStream::connect(server.local_addr()).await.is_err(),
            "{fault}"
        );
        server.shutdown().await;
    }
}
