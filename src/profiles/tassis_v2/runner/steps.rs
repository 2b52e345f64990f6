//! The step vocabulary: what each step sends and what it expects.

use std::time::{Duration, Instant};

use super::conn::{describe, Conn, Frame, Push, Read};
use super::{login, probes, Broken, Ctx, Stop};
use crate::profiles::tassis_v2::case::{
    Framing, Msg, PreKeyExpect, PushKind, RawFrame, ReplyKind, Step,
};
use crate::profiles::tassis_v2::wire::{self, Payload};

/// The error names of TB-ERROR-NAMES.
pub const ERROR_NAMES: [&str; 5] = [
    "unauthorized",
    "attempted_anonymous_op_on_authenticated_connection",
    "unknown_identity",
    "unknown_error",
    "invalid_request",
];

/// Default bound of a push (T-DELIVER: 3 s).
const PUSH_WITHIN: Duration = Duration::from_millis(3000);

/// The sequence number of the frames a case cannot choose (raw frames).
pub const RAW_SEQ: u32 = 77;

fn read_stop(conn: &str, r: Read) -> Stop {
    match r {
        Read::Broken(b) => Stop::Broken(b, Some(conn.to_string())),
        Read::Ended(e) => Stop::Broken(
            Broken::new("", "the connection open", e.what),
            Some(conn.to_string()),
        ),
    }
}

/// Fill in the rule a step names for an ended connection (a `read_stop` with no rule).
fn blame(stop: Stop, rule: &str) -> Stop {
    match stop {
        Stop::Broken(mut b, c) if b.rule.is_empty() => {
            b.rule = rule.to_string();
            Stop::Broken(b, c)
        }
        s => s,
    }
}

/// Run one step.
pub(crate) async fn run(ctx: &mut Ctx<'_>, step: &Step) -> Result<(), Stop> {
    match step {
        Step::Connect { conn } => connect(ctx, conn).await,
        Step::Login {
            conn,
            key,
            device,
            seq,
            corrupt,
            style,
            from,
        } => {
            let device = ctx
                .values
                .eval(device)
                .map_err(|e| Stop::Error(e.to_string()))?;
            let other_nonce = match from {
                Some(f) => Some(ctx.conn(f)?.nonce.clone()),
                None => None,
            };
            let k = ctx.values.key(key).clone();
            let other = ctx.values.key("~other").clone();
            let c = ctx.conn(conn)?;
            let frame = login::build(
                &k,
                &device,
                &c.nonce,
                *seq,
                *corrupt,
                *style,
                Some(&other),
                other_nonce.as_deref(),
            );
            c.login_frame = Some(frame.clone());
            c.awaiting.insert(*seq);
            let what = format!("seq {seq} authResponse ({corrupt:?})");
            c.send(frame, what)
                .await
                .map_err(|e| Stop::Broken(Broken::new("", "", e.what), Some(conn.clone())))
                .map_err(|s| blame(s, "T-AUTH-OK"))?;
            ctx.logins += 1;
            Ok(())
        }
        Step::ReplayLogin { conn, from, seq } => {
            let frame = ctx.conn(from)?.login_frame.clone().ok_or_else(|| {
                Stop::Error(format!(
                    "no login was sent on `{from}` to replay; fix the case"
                ))
            })?;
            // Same bytes, this step's sequence number.
            let mut msg: wire::Message = prost::Message::decode(frame.as_slice())
                .map_err(|e| Stop::Error(format!("replayed login: {e}")))?;
            msg.sequence = *seq;
            let c = ctx.conn(conn)?;
            c.awaiting.insert(*seq);
            c.send(
                prost::Message::encode_to_vec(&msg),
                format!("seq {seq} replayed authResponse"),
            )
            .await
            .map_err(|e| {
                blame(
                    Stop::Broken(Broken::new("", "", e.what), Some(conn.clone())),
                    "T-AUTH-FAIL",
                )
            })?;
            ctx.logins += 1;
            Ok(())
        }
        Step::Send { conn, seq, msg } => send(ctx, conn, *seq, msg).await,
        Step::SendRaw {
            conn,
            frame: RawFrame::Bytes,
            bytes,
            framing,
        } => send_bytes(ctx, conn, bytes.as_deref(), *framing).await,
        Step::SendRaw { conn, frame, .. } => send_raw(ctx, conn, *frame).await,
        Step::Ack { conn, bytes } => {
            let want = ctx
                .values
                .eval(bytes)
                .map_err(|e| Stop::Error(e.to_string()))?;
            let c = ctx.conn(conn)?;
            let seq = c
                .pushes
                .iter()
                .rev()
                .find_map(|p| match p {
                    Push::Inbound { seq, bytes, .. } if *bytes == want => Some(*seq),
                    _ => None,
                })
                .ok_or_else(|| {
                    Stop::Error(format!(
                        "no inbound message with `{bytes}` arrived on `{conn}` to acknowledge; \
                         put an expect-push before the ack"
                    ))
                })?;
            c.unanswered_ok.insert(seq);
            c.send(
                wire::encode(seq, Payload::Ack(wire::Ack {})),
                format!("seq {seq} ack"),
            )
            .await
            .map_err(|e| {
                blame(
                    Stop::Broken(Broken::new("", "", e.what), Some(conn.clone())),
                    "T-ACK-DONE",
                )
            })?;
            Ok(())
        }
        Step::Expect {
            conn,
            seq,
            reply,
            error,
            pre_keys,
            uploads_at_most,
            rule,
        } => {
            if *reply == ReplyKind::Refusal {
                return refusal(ctx, conn, *seq, rule).await;
            }
            let frame = reply_to(ctx, conn, *seq, rule).await?;
            judge_reply(
                ctx,
                conn,
                *seq,
                &frame,
                *reply,
                error,
                pre_keys.as_deref(),
                *uploads_at_most,
                rule,
            )
            .map_err(|b| Stop::Broken(b, Some(conn.clone())))
        }
        Step::ExpectPush {
            conn,
            push,
            bytes,
            within_ms,
            rule,
        } => {
            let default = match (push, ctx.env.prekeys_low) {
                (PushKind::PreKeysLow, Some((_, d))) => d * 2 + Duration::from_millis(500),
                _ => PUSH_WITHIN,
            };
            let within = within_ms.map_or(default, Duration::from_millis);
            expect_push(ctx, conn, *push, bytes.as_deref(), within, rule).await
        }
        Step::ExpectNoPush {
            conn,
            push,
            bytes,
            within_ms,
            within_intervals,
            at_most,
            rule,
        } => {
            let within = match within_intervals {
                Some(n) => intervals(ctx, *n)?,
                None => Duration::from_millis(*within_ms),
            };
            expect_no_push(ctx, conn, *push, bytes.as_deref(), within, *at_most, rule).await
        }
        Step::ExpectOrder { conn, order, rule } => expect_order(ctx, conn, order, rule),
        Step::ExpectSilence {
            conn,
            within_ms,
            rule,
        } => {
            let deadline = Instant::now() + Duration::from_millis(*within_ms);
            let c = ctx.conn(conn)?;
            match c.next(deadline).await {
                Ok(None) | Err(Read::Ended(_)) => Ok(()),
                Ok(Some(f)) if c.answered.contains(&f.seq) && !c.unanswered_ok.contains(&f.seq) => {
                    Err(Stop::Broken(
                        Broken::new(
                            "T-SEQ-REPLY",
                            format!("exactly one reply to sequence {}", f.seq),
                            format!("a second reply: {}", describe(&f.payload)),
                        ),
                        Some(conn.clone()),
                    ))
                }
                Ok(Some(f)) => Err(Stop::Broken(
                    Broken::new(
                        rule,
                        "no frame",
                        format!("seq {} {}", f.seq, describe(&f.payload)),
                    ),
                    Some(conn.clone()),
                )),
                Err(Read::Broken(b)) => Err(Stop::Broken(b, Some(conn.clone()))),
            }
        }
        Step::ExpectClosed {
            conn,
            within_ms,
            rule,
        } => {
            let deadline = Instant::now() + Duration::from_millis(*within_ms);
            let c = ctx.conn(conn)?;
            loop {
                match c.next(deadline).await {
                    Err(Read::Ended(_)) => return Ok(()),
                    Ok(Some(_)) | Err(Read::Broken(_)) => {}
                    Ok(None) => {
                        return Err(Stop::Broken(
                            Broken::new(
                                rule,
                                format!("the connection closed within {within_ms} ms"),
                                "still open",
                            ),
                            Some(conn.clone()),
                        ))
                    }
                }
            }
        }
        Step::Disconnect { conn, abrupt } => {
            let c = ctx.conn(conn)?;
            c.disconnect(*abrupt).await;
            if let Some(c) = ctx.conns.remove(conn) {
                ctx.absorb(&c);
            }
            ctx.seen.remove(conn);
            Ok(())
        }
        Step::Sleep { ms, intervals: n } => {
            let d = match n {
                Some(n) => intervals(ctx, *n)?,
                None => Duration::from_millis(*ms),
            };
            tokio::time::sleep(d).await;
            Ok(())
        }
        Step::Probe { name } => probes::run(ctx, name).await,
    }
}

/// `n` PreKeysLow intervals (skips the case when the interval is not known).
fn intervals(ctx: &Ctx<'_>, n: f64) -> Result<Duration, Stop> {
    match ctx.env.prekeys_low {
        Some((_, d)) => Ok(d.mul_f64(n.clamp(0.0, 100.0))),
        None => Err(Stop::Skip(
            "needs the server's PreKeysLow interval: give --prekeys-low LIMIT and \
             --prekeys-interval DURATION"
                .into(),
        )),
    }
}

/// Open a connection and read its hello.
pub(crate) async fn connect(ctx: &mut Ctx<'_>, name: &str) -> Result<(), Stop> {
    let mut c = open(ctx).await?;
    if let Err(r) = c.hello(ctx.env.reply_timeout).await {
        let stop = blame(read_stop(name, r), "T-HELLO");
        ctx.conns.insert(name.to_string(), c);
        return Err(stop);
    }
    if let Some(old) = ctx.conns.insert(name.to_string(), c) {
        ctx.absorb(&old);
    }
    ctx.seen.remove(name);
    Ok(())
}

/// Open a connection without reading anything.
pub(crate) async fn open(ctx: &Ctx<'_>) -> Result<Conn, Stop> {
    ctx.env
        .client
        .connect(&ctx.env.url)
        .await
        .map(Conn::new)
        .map_err(|e| {
            Stop::Error(format!(
                "could not open a WebSocket to {}: {e}",
                ctx.env.url
            ))
        })
}

fn payload_of(ctx: &mut Ctx<'_>, msg: &Msg) -> Result<Option<Payload>, Stop> {
    let limit = ctx.env.prekeys_low.map(|(l, _)| l as usize);
    let mut ev = |e: &str| ctx.values.eval(e).map_err(|e| Stop::Error(e.to_string()));
    Ok(Some(match msg {
        Msg::Ack {} => Payload::Ack(wire::Ack {}),
        Msg::Register {
            signed_pre_key,
            one_time_pre_keys,
        } => {
            let spk = ev(signed_pre_key)?;
            let mut keys = Vec::new();
            for k in one_time_pre_keys {
                // `@below-limit` / `@limit`: LIMIT − 1 / LIMIT fresh keys (TB-PK-LOW).
                let n = match k.as_str() {
                    "@below-limit" => Some(limit.map(|l| l.saturating_sub(1))),
                    "@limit" => Some(limit),
                    _ => None,
                };
                match n {
                    Some(Some(n)) => {
                        for i in 0..n {
                            keys.push(ev(&format!("${}{i}", &k[1..]))?);
                        }
                    }
                    Some(None) => {
                        return Err(Stop::Skip(
                            "needs the server's PreKeysLow limit: give --prekeys-low LIMIT".into(),
                        ))
                    }
                    None => keys.push(ev(k)?),
                }
            }
            Payload::Register(wire::Register {
                signed_pre_key: spk,
                one_time_pre_keys: keys,
            })
        }
        Msg::Unregister {} => Payload::Unregister(wire::Unregister {}),
        Msg::RequestPreKeys {
            identity_key,
            known_device_ids,
        } => {
            let identity_key = ev(identity_key)?;
            let mut known = Vec::new();
            for k in known_device_ids {
                known.push(ev(k)?);
            }
            Payload::RequestPreKeys(wire::RequestPreKeys {
                identity_key,
                known_device_ids: known,
            })
        }
        Msg::OutboundMessage {
            to,
            unidentified_sender_message,
        } => {
            let to = match to {
                Some(a) => Some(wire::Address {
                    identity_key: ev(&a.identity_key)?,
                    device_id: ev(&a.device_id)?,
                }),
                None => None,
            };
            Payload::OutboundMessage(wire::OutboundMessage {
                to,
                unidentified_sender_message: ev(unidentified_sender_message)?,
            })
        }
        Msg::RequestUploadAuthorizations { num_requested } => {
            Payload::RequestUploadAuthorizations(wire::RequestUploadAuthorizations {
                num_requested: *num_requested,
            })
        }
        Msg::ServerOnly { payload } => server_only(payload).ok_or_else(|| {
            Stop::Error(format!("`{payload}` is not a server payload; fix the case"))
        })?,
        Msg::NoPayload {} => return Ok(None),
    }))
}

fn server_only(name: &str) -> Option<Payload> {
    Some(match name {
        "error" => Payload::Error(wire::Error {
            name: "unknown_error".into(),
            description: String::new(),
        }),
        "configuration" => Payload::Configuration(wire::Configuration {
            max_attachment_size: 1,
        }),
        "authChallenge" => Payload::AuthChallenge(wire::AuthChallenge { nonce: vec![1; 32] }),
        "preKeys" => Payload::PreKeys(wire::PreKeys { pre_keys: vec![] }),
        "preKeysLow" => Payload::PreKeysLow(wire::PreKeysLow { keys_requested: 1 }),
        "uploadAuthorizations" => Payload::UploadAuthorizations(wire::UploadAuthorizations {
            authorizations: vec![],
        }),
        "inboundMessage" => Payload::InboundMessage(wire::InboundMessage {
            unidentified_sender_message: vec![1; 8],
        }),
        _ => return None,
    })
}

async fn send(ctx: &mut Ctx<'_>, conn: &str, seq: u32, msg: &Msg) -> Result<(), Stop> {
    let payload = payload_of(ctx, msg)?;
    let expects_reply = matches!(
        payload,
        Some(
            Payload::Register(_)
                | Payload::Unregister(_)
                | Payload::RequestPreKeys(_)
                | Payload::OutboundMessage(_)
                | Payload::RequestUploadAuthorizations(_)
        )
    );
    let what = format!("seq {seq} {}", describe(&payload));
    let sent = match &payload {
        Some(Payload::OutboundMessage(m)) => Some(m.unidentified_sender_message.clone()),
        _ => None,
    };
    let bytes = prost::Message::encode_to_vec(&wire::Message {
        sequence: seq,
        payload,
    });
    let c = ctx.conn(conn)?;
    if expects_reply {
        c.awaiting.insert(seq);
    } else {
        c.unanswered_ok.insert(seq);
    }
    c.send(bytes, what).await.map_err(|e| {
        Stop::Broken(
            Broken::new("TB-ALIVE", "the connection open", e.what),
            Some(conn.to_string()),
        )
    })?;
    if let Some(p) = sent {
        // Every connection of the case may receive it.
        for c in ctx.conns.values_mut() {
            c.sent_payloads.push(p.clone());
        }
    }
    Ok(())
}

async fn send_raw(ctx: &mut Ctx<'_>, conn: &str, frame: RawFrame) -> Result<(), Stop> {
    let register = wire::encode(
        RAW_SEQ,
        Payload::Register(wire::Register {
            signed_pre_key: vec![9; 32],
            one_time_pre_keys: vec![],
        }),
    );
    let to = wire::Address {
        identity_key: ctx.values.key("~raw").public().to_vec(),
        device_id: b"raw".to_vec(),
    };
    let c = ctx.conn(conn)?;
    // Errors to frames without a readable sequence carry 0.
    c.unanswered_ok.insert(0);
    if !matches!(frame, RawFrame::Max | RawFrame::Oversized) {
        c.unanswered_ok.insert(RAW_SEQ);
    }
    let r = match frame {
        RawFrame::Garbage => {
            c.send(vec![0xff, 0xff, 0xff, 0x0f, 0x42], "garbage".into())
                .await
        }
        RawFrame::Empty => c.send(Vec::new(), "an empty binary frame".into()).await,
        RawFrame::Truncated => {
            let mut b = register;
            b.truncate(b.len() / 2);
            c.send(b, "a truncated Register".into()).await
        }
        RawFrame::TextRegister => {
            // The bytes of a Register as a text frame (they are valid UTF-8 only by chance:
            // use a printable signed prekey).
            let b = wire::encode(
                RAW_SEQ,
                Payload::Register(wire::Register {
                    signed_pre_key: b"text-frame-prekey-0123456789abcd".to_vec(),
                    one_time_pre_keys: vec![],
                }),
            );
            let text = String::from_utf8(b).unwrap_or_else(|_| "register".into());
            c.send_text(text).await
        }
        RawFrame::Text => c.send_text("hello, server".into()).await,
        // Handled by `send_bytes`.
        RawFrame::Bytes => Ok(()),
        RawFrame::Max | RawFrame::Oversized => {
            let total = if frame == RawFrame::Max {
                32_768
            } else {
                1 << 20
            };
            let bytes = padded_outbound(to, total);
            c.awaiting.insert(RAW_SEQ);
            c.send(
                bytes,
                format!("seq {RAW_SEQ} outboundMessage of {total} bytes"),
            )
            .await
        }
    };
    r.map_err(|e| {
        Stop::Broken(
            Broken::new("TB-ALIVE", "the connection open", e.what),
            Some(conn.to_string()),
        )
    })
}

/// `send-raw` with `frame: "bytes"`: exactly these bytes, framed as `framing` says. Replies
/// to them are not judged (their sequence numbers are not known to the case).
async fn send_bytes(
    ctx: &mut Ctx<'_>,
    conn: &str,
    bytes: Option<&str>,
    framing: Framing,
) -> Result<(), Stop> {
    let expr = bytes.ok_or_else(|| {
        Stop::Error("`frame: \"bytes\"` needs `bytes` (e.g. \"hex:0801\"); fix the case".into())
    })?;
    let b = ctx
        .values
        .eval(expr)
        .map_err(|e| Stop::Error(e.to_string()))?;
    let c = ctx.conn(conn)?;
    c.send_framed(b, framing).await;
    Ok(())
}

/// An OutboundMessage frame of exactly `total` bytes.
pub fn padded_outbound(to: wire::Address, total: usize) -> Vec<u8> {
    let mut body = vec![0x42u8; total];
    loop {
        let frame = wire::encode(
            RAW_SEQ,
            Payload::OutboundMessage(wire::OutboundMessage {
                to: Some(to.clone()),
                unidentified_sender_message: body.clone(),
            }),
        );
        match frame.len().cmp(&total) {
            std::cmp::Ordering::Equal => return frame,
            std::cmp::Ordering::Greater => {
                let over = frame.len() - total;
                body.truncate(body.len().saturating_sub(over));
            }
            std::cmp::Ordering::Less => body.push(0x42),
        }
    }
}

/// Read frames until the reply to `seq` comes.
pub(crate) async fn reply_to(
    ctx: &mut Ctx<'_>,
    conn: &str,
    seq: u32,
    rule: &str,
) -> Result<Frame, Stop> {
    let timeout = ctx.env.reply_timeout;
    let c = ctx.conn(conn)?;
    if let Some(f) = c.replies.remove(&seq) {
        c.awaiting.remove(&seq);
        c.answered.insert(seq);
        return Ok(f);
    }
    let deadline = Instant::now() + timeout;
    loop {
        let f = match c.next(deadline).await {
            Ok(Some(f)) => f,
            Ok(None) => {
                return Err(Stop::Broken(
                    Broken::new(
                        rule,
                        format!("a reply with sequence {seq}"),
                        format!("nothing within {} ms", timeout.as_millis()),
                    )
                    .and("T-SEQ-REPLY"),
                    Some(conn.to_string()),
                ))
            }
            Err(r) => return Err(blame(read_stop(conn, r), rule)),
        };
        match &f.payload {
            Some(Payload::InboundMessage(_))
            | Some(Payload::PreKeysLow(_))
            | Some(Payload::AuthChallenge(_))
            | Some(Payload::Configuration(_)) => continue,
            _ => {}
        }
        if f.seq == seq {
            c.awaiting.remove(&seq);
            c.answered.insert(seq);
            return Ok(f);
        }
        if c.awaiting.contains(&f.seq) {
            c.replies.insert(f.seq, f);
            continue;
        }
        if c.unanswered_ok.contains(&f.seq) {
            continue;
        }
        if c.answered.contains(&f.seq) {
            return Err(Stop::Broken(
                Broken::new(
                    "T-SEQ-REPLY",
                    format!("exactly one reply to sequence {}", f.seq),
                    format!("a second reply: {}", describe(&f.payload)),
                ),
                Some(conn.to_string()),
            ));
        }
        return Err(Stop::Broken(
            Broken::new(
                "T-SEQ-ECHO",
                format!("the reply to sequence {seq} carrying {seq}"),
                format!("{} with sequence {}", describe(&f.payload), f.seq),
            ),
            Some(conn.to_string()),
        ));
    }
}

/// The answer to an oversized frame: any reply, an Error, or a close frame.
async fn refusal(ctx: &mut Ctx<'_>, conn: &str, seq: u32, rule: &str) -> Result<(), Stop> {
    let deadline = Instant::now() + ctx.env.reply_timeout;
    let c = ctx.conn(conn)?;
    let broken = |actual: String| {
        Stop::Broken(
            Broken::new(
                rule,
                "a reply, an Error, or a close frame (code 1009)",
                actual,
            ),
            Some(conn.to_string()),
        )
    };
    loop {
        match c.next(deadline).await {
            Ok(Some(f)) if f.seq == seq || matches!(f.payload, Some(Payload::Error(_))) => {
                return Ok(())
            }
            Ok(Some(_)) => {}
            Err(Read::Ended(e)) if e.code.is_some() => return Ok(()),
            Err(Read::Ended(e)) => {
                // A close that reaches us while our own oversized send is still being written
                // turns into a reset: only a server that no longer serves broke the rule.
                if super::alive(ctx.env).await.is_ok() {
                    return Ok(());
                }
                return Err(broken(e.what));
            }
            Err(Read::Broken(b)) => return Err(Stop::Broken(b, Some(conn.to_string()))),
            Ok(None) => return Err(broken("nothing within the timeout".into())),
        }
    }
}

fn allowed_error(allowed: &[String], name: &str) -> bool {
    allowed.iter().any(|a| a == name)
        || (name == "unknown_error" && allowed.iter().any(|a| a == "invalid_request"))
}

#[allow(clippy::too_many_arguments)]
fn judge_reply(
    ctx: &mut Ctx<'_>,
    conn: &str,
    seq: u32,
    f: &Frame,
    want: ReplyKind,
    errors: &[String],
    pre_keys: Option<&[PreKeyExpect]>,
    uploads_at_most: Option<usize>,
    rule: &str,
) -> Result<(), Broken> {
    let got = describe(&f.payload);
    let wrong = |expected: String| Broken::new(rule, expected, got.clone());
    if let Some(Payload::Error(e)) = &f.payload {
        if !ERROR_NAMES.contains(&e.name.as_str()) {
            return Err(Broken::new(
                "TB-ERROR-NAMES",
                format!("an error name of the binding ({})", ERROR_NAMES.join(", ")),
                format!("error `{}`", e.name.escape_debug()),
            ));
        }
    }
    // An operation refused as unauthorized on a connection that never tried to log in:
    // anonymous clients may use it at once (T-ANON), whatever the step's rule.
    if let Some(Payload::Error(e)) = &f.payload {
        let anonymous = ctx.conns.get(conn).is_some_and(|c| c.login_frame.is_none());
        let success = matches!(
            want,
            ReplyKind::Ack | ReplyKind::PreKeys | ReplyKind::UploadAuthorizations
        );
        if anonymous && success && e.name == "unauthorized" && rule != "T-ANON" {
            return Err(Broken::new(
                "T-ANON",
                "an anonymous connection served at once",
                got.clone(),
            )
            .and(rule));
        }
    }
    match (want, &f.payload) {
        (ReplyKind::Login, Some(Payload::Ack(_))) => Ok(()),
        (ReplyKind::Login, Some(Payload::Error(_))) => {
            Err(wrong(format!("ack (sequence {seq}): a successful login")))
        }
        // A later revision's ChatNumber (field 19) passes (TB-LOGIN-REPLY).
        (ReplyKind::Login, None)
            if super::scan::fields(&f.raw).is_some_and(|fs| fs.iter().any(|x| x.number == 19)) =>
        {
            Ok(())
        }
        (ReplyKind::Login, _) => Err(Broken::new(
            "TB-LOGIN-REPLY",
            format!("ack (sequence {seq})"),
            got.clone(),
        )),
        (ReplyKind::Ack, Some(Payload::Ack(_))) => Ok(()),
        (ReplyKind::Ack, _) => Err(wrong(format!("ack (sequence {seq})"))),
        (ReplyKind::Error, Some(Payload::Error(e))) if allowed_error(errors, &e.name) => Ok(()),
        (ReplyKind::Error, _) => Err(wrong(format!("error {}", errors.join(" or ")))),
        (ReplyKind::NoPreKeys, Some(Payload::PreKeys(p))) if p.pre_keys.is_empty() => Ok(()),
        (ReplyKind::NoPreKeys, Some(Payload::Error(e))) if e.name == "unknown_identity" => Ok(()),
        (ReplyKind::NoPreKeys, _) => Err(wrong(
            "preKeys with no entries, or error unknown_identity".into(),
        )),
        (ReplyKind::NoUploads, Some(Payload::UploadAuthorizations(u)))
            if u.authorizations.is_empty() =>
        {
            Ok(())
        }
        (ReplyKind::NoUploads, Some(Payload::Error(_))) => Ok(()),
        (ReplyKind::NoUploads, _) => Err(wrong("an empty uploadAuthorizations or an error".into())),
        (ReplyKind::PreKeys, Some(Payload::PreKeys(p))) => match pre_keys {
            Some(exp) => judge_pre_keys(ctx, &p.pre_keys, exp, rule),
            None => Ok(()),
        },
        (ReplyKind::PreKeys, _) => Err(wrong("preKeys".into())),
        (ReplyKind::UploadAuthorizations, Some(Payload::UploadAuthorizations(u))) => {
            let max = ctx
                .conns
                .get(conn)
                .map_or(0, |c| c.config.max_attachment_size);
            judge_uploads(
                &u.authorizations,
                uploads_at_most.unwrap_or(usize::MAX),
                max,
            )
        }
        (ReplyKind::UploadAuthorizations, _) => Err(wrong("uploadAuthorizations".into())),
        // Judged without a reply frame, by `refusal`, before a reply is awaited.
        (ReplyKind::Refusal, _) => unreachable!("a refusal is judged by `refusal`"),
    }
}

fn judge_pre_keys(
    ctx: &mut Ctx<'_>,
    got: &[wire::PreKey],
    exp: &[PreKeyExpect],
    rule: &str,
) -> Result<(), Broken> {
    let mut want = Vec::new();
    for e in exp {
        let dev = ctx.values.eval(&e.device).unwrap_or_default();
        let spk = ctx.values.eval(&e.signed_pre_key).unwrap_or_default();
        let otpks: Vec<Vec<u8>> = e
            .one_time_pre_key_in
            .iter()
            .map(|k| ctx.values.eval(k).unwrap_or_default())
            .collect();
        want.push((e, dev, spk, otpks));
    }
    let name = |b: &[u8], v: &super::values::Values| {
        v.name_of(b).unwrap_or_else(|| {
            if b.is_empty() {
                "empty".into()
            } else {
                format!("{} unknown bytes", b.len())
            }
        })
    };
    let got_devs: Vec<String> = got
        .iter()
        .map(|p| String::from_utf8_lossy(&p.device_id).into_owned())
        .collect();
    let want_devs: Vec<String> = want
        .iter()
        .map(|w| String::from_utf8_lossy(&w.1).into_owned())
        .collect();
    let mut g = got_devs.clone();
    g.sort();
    let mut w = want_devs.clone();
    w.sort();
    if g != w {
        return Err(Broken::new(
            rule,
            format!("one entry for each of the devices [{}]", w.join(", ")),
            format!("entries for [{}]", g.join(", ")),
        ));
    }
    for p in got {
        let Some((_, _, spk, otpks)) = want.iter().find(|w| w.1 == p.device_id) else {
            continue;
        };
        let dev = String::from_utf8_lossy(&p.device_id).into_owned();
        if p.signed_pre_key != *spk {
            return Err(Broken::new(
                rule,
                format!("device {dev}: signedPreKey {}", name(spk, &ctx.values)),
                format!("signedPreKey {}", name(&p.signed_pre_key, &ctx.values)),
            ));
        }
        if !p.one_time_pre_key.is_empty() {
            if ctx.handed_out.contains(&p.one_time_pre_key) {
                return Err(Broken::new(
                    "T-PK-ONCE",
                    "each one-time prekey handed out at most once",
                    format!(
                        "device {dev}: {} again",
                        name(&p.one_time_pre_key, &ctx.values)
                    ),
                ));
            }
            ctx.handed_out.push(p.one_time_pre_key.clone());
        }
        match (otpks.is_empty(), p.one_time_pre_key.is_empty()) {
            (true, true) => {}
            (true, false) => {
                return Err(Broken::new(
                    rule,
                    format!("device {dev}: an empty oneTimePreKey (none left)"),
                    name(&p.one_time_pre_key, &ctx.values),
                ))
            }
            (false, true) => {
                return Err(Broken::new(
                    rule,
                    format!("device {dev}: one of its one-time prekeys"),
                    "an empty oneTimePreKey",
                ))
            }
            (false, false) if !otpks.contains(&p.one_time_pre_key) => {
                let names: Vec<String> = otpks.iter().map(|k| name(k, &ctx.values)).collect();
                return Err(Broken::new(
                    rule,
                    format!("device {dev}: one of {}", names.join(", ")),
                    name(&p.one_time_pre_key, &ctx.values),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn judge_uploads(
    auths: &[wire::UploadAuthorization],
    at_most: usize,
    max_attachment: i64,
) -> Result<(), Broken> {
    let rule = "T-UPLOAD";
    if auths.is_empty() || auths.len() > at_most {
        return Err(Broken::new(
            rule,
            format!("1 to {at_most} authorizations"),
            format!("{}", auths.len()),
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    for (i, a) in auths.iter().enumerate() {
        for (what, u) in [
            ("uploadURL", &a.upload_url),
            ("downloadURL", &a.download_url),
        ] {
            if url::Url::parse(u).is_err() {
                return Err(Broken::new(
                    rule,
                    format!("authorization {i}: an absolute {what}"),
                    format!("{:?}", clip(u)),
                ));
            }
        }
        let lo = now + 60_000 - 5_000;
        let hi = now + 7 * 86_400_000 + 5_000;
        if a.authorization_expires_at < lo || a.authorization_expires_at > hi {
            return Err(Broken::new(
                rule,
                format!("authorization {i}: authorizationExpiresAt 1 minute to 7 days ahead, in unix ms (now {now})"),
                a.authorization_expires_at.to_string(),
            ));
        }
        if a.max_upload_size <= 0 || a.max_upload_size > max_attachment {
            return Err(Broken::new(
                rule,
                format!(
                    "authorization {i}: maxUploadSize in 1..={max_attachment} (maxAttachmentSize)"
                ),
                a.max_upload_size.to_string(),
            ));
        }
    }
    Ok(())
}

fn clip(s: &str) -> String {
    s.chars().take(100).collect()
}

fn inbound_matches(p: &Push, want: Option<&[u8]>) -> bool {
    matches!(p, Push::Inbound { bytes, .. } if want.is_none_or(|w| w == bytes.as_slice()))
}

/// Whether `p` is the push a step looks for: of `kind`, and for inbound messages with the
/// bytes `want` (any when `None`).
fn push_matches(p: &Push, kind: PushKind, want: Option<&[u8]>) -> bool {
    match kind {
        PushKind::Inbound => inbound_matches(p, want),
        PushKind::PreKeysLow => matches!(p, Push::PreKeysLow { .. }),
    }
}

/// The bytes of an optional byte expression.
fn eval_opt(ctx: &mut Ctx<'_>, bytes: Option<&str>) -> Result<Option<Vec<u8>>, Stop> {
    bytes
        .map(|b| ctx.values.eval(b).map_err(|e| Stop::Error(e.to_string())))
        .transpose()
}

async fn expect_push(
    ctx: &mut Ctx<'_>,
    conn: &str,
    kind: PushKind,
    bytes: Option<&str>,
    within: Duration,
    rule: &str,
) -> Result<(), Stop> {
    let want = eval_opt(ctx, bytes)?;
    let from = ctx.seen.get(conn).copied().unwrap_or(0);
    let deadline = Instant::now() + within;
    let c = ctx.conn(conn)?;
    let hit = |c: &Conn| {
        c.pushes_since(0)
            .iter()
            .enumerate()
            .skip(if kind == PushKind::PreKeysLow {
                from
            } else {
                0
            })
            .find_map(|(i, p)| push_matches(p, kind, want.as_deref()).then_some(i))
    };
    loop {
        if let Some(i) = hit(c) {
            if let Push::PreKeysLow { keys_requested, .. } = &c.pushes[i] {
                if *keys_requested == 0 {
                    return Err(Stop::Broken(
                        Broken::new(
                            "TB-PK-LOW",
                            "PreKeysLow with keysRequested > 0",
                            "keysRequested 0",
                        ),
                        Some(conn.to_string()),
                    ));
                }
            }
            let n = c.pushes.len();
            ctx.seen.insert(conn.to_string(), n);
            return Ok(());
        }
        match c.next(deadline).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                let what = match (kind, &bytes) {
                    (PushKind::Inbound, Some(b)) => format!("an inboundMessage with {b}"),
                    (PushKind::Inbound, None) => "an inboundMessage".into(),
                    (PushKind::PreKeysLow, _) => "a preKeysLow".into(),
                };
                return Err(Stop::Broken(
                    Broken::new(
                        rule,
                        format!("{what} within {} ms", within.as_millis()),
                        "none came",
                    ),
                    Some(conn.to_string()),
                ));
            }
            Err(r) => return Err(blame(read_stop(conn, r), rule)),
        }
    }
}

/// The messages of `order` that came on `conn` came in that order (first arrivals).
fn expect_order(ctx: &mut Ctx<'_>, conn: &str, order: &[String], rule: &str) -> Result<(), Stop> {
    let want = order
        .iter()
        .map(|b| ctx.values.eval(b).map_err(|e| Stop::Error(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let c = ctx.conn(conn)?;
    let first = |w: &[u8]| c.pushes.iter().position(|p| inbound_matches(p, Some(w)));
    let mut last: Option<(usize, &str)> = None;
    for (name, w) in order.iter().zip(&want) {
        let Some(at) = first(w) else { continue };
        if let Some((before, earlier)) = last {
            if at < before {
                return Err(Stop::Broken(
                    Broken::new(
                        rule,
                        format!("inbound messages in the order {}", order.join(", ")),
                        format!("{name} came before {earlier}"),
                    ),
                    Some(conn.to_string()),
                ));
            }
        }
        last = Some((at, name));
    }
    Ok(())
}

/// No more than `at_most` pushes of `kind` (inbound ones with `bytes`, when given) within
/// the time.
async fn expect_no_push(
    ctx: &mut Ctx<'_>,
    conn: &str,
    kind: PushKind,
    bytes: Option<&str>,
    within: Duration,
    at_most: usize,
    rule: &str,
) -> Result<(), Stop> {
    let want = eval_opt(ctx, bytes)?;
    let c = ctx.conn(conn)?;
    // A message named by its bytes must not have come at all on this connection; other
    // pushes count from this step on.
    let from = if kind == PushKind::Inbound && want.is_some() {
        0
    } else {
        c.pushes.len()
    };
    let deadline = Instant::now() + within;
    loop {
        let beyond = c
            .pushes_since(from)
            .iter()
            .filter(|p| push_matches(p, kind, want.as_deref()))
            .nth(at_most);
        if let Some(p) = beyond {
            let what = match p {
                Push::Inbound { seq, .. } => format!(
                    "an inboundMessage (seq {seq}){}",
                    bytes.map_or(String::new(), |b| format!(" with {b}"))
                ),
                Push::PreKeysLow { .. } => "a preKeysLow".into(),
            };
            let (expected, actual) = if at_most == 0 {
                (
                    format!("no such push within {} ms", within.as_millis()),
                    what,
                )
            } else {
                (
                    format!(
                        "at most {at_most} such pushes within {} ms",
                        within.as_millis()
                    ),
                    format!("{} of them, the last {what}", at_most + 1),
                )
            };
            return Err(Stop::Broken(
                Broken::new(rule, expected, actual),
                Some(conn.to_string()),
            ));
        }
        match c.next(deadline).await {
            Ok(Some(_)) => {}
            Ok(None) | Err(Read::Ended(_)) => return Ok(()),
            Err(Read::Broken(b)) => return Err(Stop::Broken(b, Some(conn.to_string()))),
        }
    }
}
