//! Checks written in code: what a list of steps cannot say (many connections, statistics,
//! long waits).

use std::time::{Duration, Instant};

use super::conn::{Conn, Push, Read};
use super::steps::{open, reply_to};
use super::{login, Broken, Ctx, Stop};
use crate::profiles::tassis_v2::wire::{self, Payload};
use crate::profiles::tassis_v2::xeddsa::IdentityKey;

/// The probes, by name.
pub const NAMES: [&str; 7] = [
    "upgrade",
    "nonces",
    "concurrent-prekeys",
    "backlog",
    "order",
    "idle",
    "inbound-form",
];

/// How long the probe `name` waits on a correct server, in milliseconds: the order in which
/// a run starts its checks (the longest first).
pub fn wait_ms(name: &str) -> u64 {
    match name {
        // 19 + 11 + 1 s of waiting for frames that must not close the connection.
        "idle" => 31_000,
        "backlog" => 1_000,
        "concurrent-prekeys" | "order" => 200,
        _ => 50,
    }
}

/// Run the probe `name`.
pub(crate) async fn run(ctx: &mut Ctx<'_>, name: &str) -> Result<(), Stop> {
    match name {
        "upgrade" => upgrade(ctx).await,
        "nonces" => nonces(ctx).await,
        "concurrent-prekeys" => concurrent_prekeys(ctx).await,
        "backlog" => deliver_many(ctx, 1000, Duration::from_secs(10), "T-DELIVER").await,
        "order" => deliver_many(ctx, 20, Duration::from_secs(3), "T-ORDER").await,
        "idle" => idle(ctx).await,
        "inbound-form" => inbound_form(ctx).await,
        _ => Err(Stop::Error(format!(
            "unknown probe `{name}`; the probes are {}",
            NAMES.join(", ")
        ))),
    }
}

fn broken(b: Broken) -> Stop {
    Stop::Broken(b, None)
}

fn ended(rule: &str, r: Read) -> Stop {
    match r {
        Read::Broken(b) => broken(b),
        Read::Ended(e) => broken(Broken::new(rule, "the connection open", e.what)),
    }
}

/// TB-WS-UPGRADE: a plain GET gets a 4xx.
async fn upgrade(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    match ctx.env.client.plain_get(&ctx.env.url).await {
        Ok(status) if (400..500).contains(&status) => Ok(()),
        Ok(status) => Err(broken(Broken::new(
            "TB-WS-UPGRADE",
            "a 4xx status (tassis: 426) to a GET without upgrade",
            format!("status {status}"),
        ))),
        Err(crate::client::ws::WsError::Timeout { .. }) => Err(broken(Broken::new(
            "TB-WS-UPGRADE",
            "a 4xx status to a GET without upgrade",
            "no answer within the timeout",
        ))),
        Err(e) => Err(Stop::Error(format!("the plain GET failed: {e}"))),
    }
}

/// TB-NONCE: 50 connections, 50 different nonces of at least 16 bytes, no fixed bytes, no
/// counter.
async fn nonces(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    const N: usize = 50;
    let mut nonces: Vec<Vec<u8>> = Vec::with_capacity(N);
    for _ in 0..N / 10 {
        let mut opened = Vec::new();
        for _ in 0..10 {
            opened.push(open(ctx).await?);
        }
        for mut c in opened {
            c.hello(ctx.env.reply_timeout)
                .await
                .map_err(|r| ended("T-HELLO", r))?;
            nonces.push(c.nonce.clone());
            c.disconnect(false).await;
            ctx.absorb(&c);
        }
    }
    let rule = "TB-NONCE";
    if let Some(short) = nonces.iter().find(|n| n.len() < 16) {
        return Err(broken(Broken::new(
            rule,
            "nonces of at least 16 bytes",
            format!("{} bytes", short.len()),
        )));
    }
    for (i, a) in nonces.iter().enumerate() {
        if let Some(j) = nonces[..i].iter().position(|b| b == a) {
            return Err(broken(Broken::new(
                rule,
                "a fresh nonce on every connection",
                format!("connections {j} and {i} got the same nonce"),
            )));
        }
    }
    let len = nonces.iter().map(Vec::len).min().unwrap_or(0);
    let fixed: Vec<usize> = (0..len)
        .filter(|&p| nonces.iter().all(|n| n[p] == nonces[0][p]))
        .collect();
    if !fixed.is_empty() {
        return Err(broken(Broken::new(
            rule,
            "every byte drawn from a CSPRNG",
            format!("byte(s) {fixed:?} are the same in all {N} nonces"),
        )));
    }
    // A counter: consecutive nonces differ by a small amount as big- or little-endian numbers.
    let counts = |le: bool| {
        nonces.windows(2).all(|w| {
            let (a, b) = (&w[0], &w[1]);
            let diff = (0..len).filter(|&p| a[p] != b[p]).collect::<Vec<_>>();
            let span = match (diff.first(), diff.last()) {
                (Some(f), Some(l)) => l - f + 1,
                _ => 0,
            };
            span <= 4
                && (if le {
                    diff.first().is_some_and(|&f| f == 0)
                } else {
                    diff.last().is_some_and(|&l| l == len - 1)
                })
        })
    };
    if counts(true) || counts(false) {
        return Err(broken(Broken::new(
            rule,
            "unpredictable nonces",
            "consecutive nonces differ only in their low bytes: a counter",
        )));
    }
    Ok(())
}

/// Connect, log in and register `keys` one-time keys; the connection stays open.
async fn registered(
    ctx: &mut Ctx<'_>,
    key: &IdentityKey,
    device: &[u8],
    spk: &[u8],
    keys: Vec<Vec<u8>>,
) -> Result<Conn, Stop> {
    let mut c = open(ctx).await?;
    c.hello(ctx.env.reply_timeout)
        .await
        .map_err(|r| ended("T-HELLO", r))?;
    let frame = login::correct(key, device, &c.nonce, 1);
    c.send(frame, "login".into())
        .await
        .map_err(|e| broken(Broken::new("T-AUTH-OK", "", e.what)))?;
    ctx.logins += 1;
    want_reply(ctx, &mut c, 1, "T-AUTH-OK", |p| {
        matches!(p, Some(Payload::Ack(_)))
    })
    .await?;
    let reg = wire::encode(
        2,
        Payload::Register(wire::Register {
            signed_pre_key: spk.to_vec(),
            one_time_pre_keys: keys,
        }),
    );
    c.send(reg, "register".into())
        .await
        .map_err(|e| broken(Broken::new("T-REG-ACK", "", e.what)))?;
    want_reply(ctx, &mut c, 2, "T-REG-ACK", |p| {
        matches!(p, Some(Payload::Ack(_)))
    })
    .await?;
    Ok(c)
}

/// Read until the reply to `seq` (pushes are kept); `ok` judges it.
async fn want_reply(
    ctx: &Ctx<'_>,
    c: &mut Conn,
    seq: u32,
    rule: &str,
    ok: impl Fn(&Option<Payload>) -> bool,
) -> Result<Option<Payload>, Stop> {
    let deadline = Instant::now() + ctx.env.reply_timeout;
    loop {
        match c.next(deadline).await {
            Ok(Some(f))
                if matches!(
                    f.payload,
                    Some(Payload::InboundMessage(_)) | Some(Payload::PreKeysLow(_))
                ) => {}
            Ok(Some(f)) if f.seq == seq => {
                if ok(&f.payload) {
                    return Ok(f.payload);
                }
                return Err(broken(Broken::new(
                    rule,
                    format!("the right reply to sequence {seq}"),
                    super::conn::describe(&f.payload),
                )));
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(broken(
                    Broken::new(
                        rule,
                        format!("a reply to sequence {seq}"),
                        "none within the timeout",
                    )
                    .and("T-SEQ-REPLY"),
                ))
            }
            Err(r) => return Err(ended(rule, r)),
        }
    }
}

/// T-PK-ONCE across concurrent requesters: 16 keys, 24 anonymous requests at once.
async fn concurrent_prekeys(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let key = IdentityKey::generate();
    let keys: Vec<Vec<u8>> = (0..16)
        .map(|i| ctx.values.eval(&format!("$otpk{i}")).unwrap_or_default())
        .collect();
    let spk = ctx.values.eval("$spk").unwrap_or_default();
    let mut owner = registered(ctx, &key, b"d1", &spk, keys.clone()).await?;
    let mut conns = Vec::new();
    for _ in 0..24 {
        let mut c = open(ctx).await?;
        c.hello(ctx.env.reply_timeout)
            .await
            .map_err(|r| ended("T-HELLO", r))?;
        conns.push(c);
    }
    let request = wire::encode(
        5,
        Payload::RequestPreKeys(wire::RequestPreKeys {
            identity_key: key.public().to_vec(),
            known_device_ids: vec![],
        }),
    );
    for c in &mut conns {
        c.send(request.clone(), "requestPreKeys".into())
            .await
            .map_err(|e| broken(Broken::new("T-PK-DEVICES", "", e.what)))?;
    }
    let mut got: Vec<Vec<u8>> = Vec::new();
    for mut c in conns {
        let p = want_reply(ctx, &mut c, 5, "T-PK-DEVICES", |p| {
            matches!(p, Some(Payload::PreKeys(_)))
        })
        .await?;
        if let Some(Payload::PreKeys(p)) = p {
            for k in p.pre_keys {
                if !k.one_time_pre_key.is_empty() {
                    got.push(k.one_time_pre_key);
                }
            }
        }
        c.disconnect(false).await;
        ctx.absorb(&c);
    }
    owner.disconnect(false).await;
    ctx.absorb(&owner);
    let mut seen: Vec<&Vec<u8>> = Vec::new();
    for k in &got {
        if seen.contains(&k) {
            return Err(broken(Broken::new(
                "T-PK-ONCE",
                "each one-time prekey handed out at most once, also to concurrent requesters",
                format!(
                    "{} handed out twice among 24 concurrent requests",
                    ctx.values.name_of(k).unwrap_or_default()
                ),
            )));
        }
        seen.push(k);
    }
    if got.len() < 16 {
        return Err(broken(Broken::new(
            "T-PK-AVAILABLE",
            "16 of 24 concurrent requests each get one of the 16 keys",
            format!("{} got one", got.len()),
        )));
    }
    Ok(())
}

/// Send `n` messages to an address while it is offline, then log in: all arrive within
/// `within`, in order (T-ORDER), unchanged (T-DELIVER).
async fn deliver_many(
    ctx: &mut Ctx<'_>,
    n: usize,
    within: Duration,
    rule: &str,
) -> Result<(), Stop> {
    let key = IdentityKey::generate();
    let mut sender = open(ctx).await?;
    sender
        .hello(ctx.env.reply_timeout)
        .await
        .map_err(|r| ended("T-HELLO", r))?;
    let mut sent = Vec::with_capacity(n);
    // Pipelined in windows of 50: each send's Ack before the next window.
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        for &i in chunk {
            let body = format!("message {i:05} {}", hex::encode(&key.public()[..4])).into_bytes();
            let frame = wire::encode(
                100 + i as u32,
                Payload::OutboundMessage(wire::OutboundMessage {
                    to: Some(wire::Address {
                        identity_key: key.public().to_vec(),
                        device_id: b"d1".to_vec(),
                    }),
                    unidentified_sender_message: body.clone(),
                }),
            );
            sender
                .send(frame, "outboundMessage".into())
                .await
                .map_err(|e| broken(Broken::new("T-SEND-ACK", "", e.what)))?;
            sent.push(body);
        }
        for &i in chunk {
            want_reply(ctx, &mut sender, 100 + i as u32, "T-SEND-ACK", |p| {
                matches!(p, Some(Payload::Ack(_)))
            })
            .await?;
        }
    }
    sender.disconnect(false).await;
    ctx.absorb(&sender);
    let mut c = open(ctx).await?;
    c.hello(ctx.env.reply_timeout)
        .await
        .map_err(|r| ended("T-HELLO", r))?;
    c.sent_payloads = sent.clone();
    let start = Instant::now();
    let frame = login::correct(&key, b"d1", &c.nonce, 1);
    c.send(frame, "login".into())
        .await
        .map_err(|e| broken(Broken::new("T-AUTH-OK", "", e.what)))?;
    ctx.logins += 1;
    let deadline = start + within;
    let received = |c: &Conn| {
        c.pushes
            .iter()
            .filter(|p| matches!(p, Push::Inbound { .. }))
            .count()
    };
    while received(&c) < n {
        match c.next(deadline).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(broken(Broken::new(
                    "T-DELIVER",
                    format!(
                        "{n} stored messages delivered within {} s of login",
                        within.as_secs()
                    ),
                    format!("{} arrived", received(&c)),
                )))
            }
            Err(r) => return Err(ended("T-DELIVER", r)),
        }
    }
    let order: Vec<&Vec<u8>> = c
        .pushes
        .iter()
        .filter_map(|p| match p {
            Push::Inbound { bytes, .. } => Some(bytes),
            _ => None,
        })
        .collect();
    for (i, b) in order.iter().enumerate().take(n) {
        if !sent.contains(b) {
            return Err(broken(Broken::new(
                "T-DELIVER",
                "the bytes sent, unchanged",
                format!("message {i} is bytes never sent"),
            )));
        }
        if **b != sent[i] {
            let _ = rule;
            return Err(broken(Broken::new(
                "T-ORDER",
                format!("message {i} of {n} in the order the sends were acknowledged"),
                format!("{:?} at position {i}", String::from_utf8_lossy(b)),
            )));
        }
    }
    c.disconnect(false).await;
    ctx.absorb(&c);
    Ok(())
}

/// TB-IDLE: data frames up to 19 s apart keep a connection open for 31 s (a server that
/// closes after less than 19 s without data, under the 20 s the rule allows, or despite
/// data, fails).
async fn idle(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut c = open(ctx).await?;
    c.hello(ctx.env.reply_timeout)
        .await
        .map_err(|r| ended("T-HELLO", r))?;
    let start = Instant::now();
    let mut seq = 1_000_000;
    for wait in [19, 11, 1] {
        let until = Instant::now() + Duration::from_secs(wait);
        loop {
            match c.next(until).await {
                Ok(None) => break,
                Ok(Some(_)) => {}
                Err(Read::Ended(e)) => {
                    return Err(broken(Broken::new(
                        "TB-IDLE",
                        "a connection with data frames up to 19 s apart stays open",
                        format!("{} after {} s", e.what, start.elapsed().as_secs()),
                    )))
                }
                Err(Read::Broken(b)) => return Err(broken(b)),
            }
        }
        seq += 1;
        c.unanswered_ok.insert(seq);
        c.send(
            wire::encode(seq, Payload::Ack(wire::Ack {})),
            "keep-alive ack".into(),
        )
        .await
        .map_err(|e| broken(Broken::new("TB-IDLE", "the connection open", e.what)))?;
    }
    c.send(
        wire::encode(
            9,
            Payload::RequestUploadAuthorizations(wire::RequestUploadAuthorizations {
                num_requested: 1,
            }),
        ),
        "requestUploadAuthorizations".into(),
    )
    .await
    .map_err(|e| broken(Broken::new("TB-IDLE", "the connection open", e.what)))?;
    ctx.conns.insert("~idle".into(), c);
    let r = reply_to(ctx, "~idle", 9, "TB-IDLE").await.map(|_| ());
    if let Some(c) = ctx.conns.remove("~idle") {
        ctx.absorb(&c);
    }
    r
}

/// TB-INBOUND-FORM: the inbound message comes typed (field 16 holds an InboundMessage).
async fn inbound_form(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let key = IdentityKey::generate();
    let body = ctx.values.eval("$form").unwrap_or_default();
    let mut rx = open(ctx).await?;
    rx.hello(ctx.env.reply_timeout)
        .await
        .map_err(|r| ended("T-HELLO", r))?;
    rx.sent_payloads.push(body.clone());
    rx.send(login::correct(&key, b"d1", &rx.nonce, 1), "login".into())
        .await
        .map_err(|e| broken(Broken::new("T-AUTH-OK", "", e.what)))?;
    ctx.logins += 1;
    want_reply(ctx, &mut rx, 1, "T-AUTH-OK", |p| {
        matches!(p, Some(Payload::Ack(_)))
    })
    .await?;
    let mut tx = open(ctx).await?;
    tx.hello(ctx.env.reply_timeout)
        .await
        .map_err(|r| ended("T-HELLO", r))?;
    let frame = wire::encode(
        2,
        Payload::OutboundMessage(wire::OutboundMessage {
            to: Some(wire::Address {
                identity_key: key.public().to_vec(),
                device_id: b"d1".to_vec(),
            }),
            unidentified_sender_message: body.clone(),
        }),
    );
    tx.send(frame, "outboundMessage".into())
        .await
        .map_err(|e| broken(Broken::new("T-SEND-ACK", "", e.what)))?;
    want_reply(ctx, &mut tx, 2, "T-SEND-ACK", |p| {
        matches!(p, Some(Payload::Ack(_)))
    })
    .await?;
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if let Some(Push::Inbound { typed, .. }) = rx
            .pushes
            .iter()
            .find(|p| matches!(p, Push::Inbound { bytes, .. } if *bytes == body))
        {
            let typed = *typed;
            rx.disconnect(false).await;
            tx.disconnect(false).await;
            ctx.absorb(&rx);
            ctx.absorb(&tx);
            if !typed {
                return Err(broken(Broken::new(
                    "TB-INBOUND-FORM",
                    "field 16 holding InboundMessage{unidentifiedSenderMessage} (the typed form)",
                    "field 16 holding the bytes themselves (the seed's form, allowed but not recommended)",
                )));
            }
            return Ok(());
        }
        match rx.next(deadline).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(broken(Broken::new(
                    "T-DELIVER",
                    "the message within 3 s",
                    "none came",
                )))
            }
            Err(r) => return Err(ended("T-DELIVER", r)),
        }
    }
}
