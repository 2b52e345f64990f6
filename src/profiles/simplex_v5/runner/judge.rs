//! Judging what the server returned against the model: bodies, pages, messages and pushes.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::rest::body_text;
use super::{Broken, Ctx, Msg, Stop};
use crate::client::Response;
use crate::profiles::edge_v1::wire::{self, is_rfc3339_utc_z};

/// Where a message object was seen: it decides whether `msg` may be left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// In a page (V-RETR): `msg` left out iff larger than LARGE_MESSAGE.
    Page,
    /// From retrieve one: `msg` always there.
    Single,
    /// In a push (VB-WS-BACKLOG): as in a page.
    Push,
}

/// Whether `id` is a valid message ID (VB-MID): 1 to 64 base64url characters.
pub fn is_message_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Header checks of every response, for the SHOULD rules the case checks: no cookies
/// (B-NO-COOKIE), JSON bodies labelled as JSON (VB-RESP-CT).
pub(crate) fn common_headers(ctx: &Ctx<'_>, resp: &Response) -> Result<(), Stop> {
    if ctx.checks("B-NO-COOKIE") {
        if let Some(c) = resp.header("set-cookie") {
            return Err(
                Broken::new("B-NO-COOKIE", "no Set-Cookie", format!("Set-Cookie: {c}")).into(),
            );
        }
    }
    if ctx.checks("VB-RESP-CT")
        && !resp.body.is_empty()
        && wire::parse_value_strict(&String::from_utf8_lossy(&resp.body)).is_ok()
    {
        let ct = resp.header("content-type").unwrap_or_default();
        let media = ct.split(';').next().unwrap_or_default().trim();
        if !media.eq_ignore_ascii_case("application/json") {
            return Err(Broken::new(
                "VB-RESP-CT",
                "Content-Type: application/json on a JSON body",
                if ct.is_empty() {
                    format!("no Content-Type ({} {})", resp.status, body_text(resp))
                } else {
                    format!("Content-Type: {ct} ({})", resp.status)
                },
            )
            .into());
        }
    }
    Ok(())
}

/// B-CACHE (when the case checks it): `Cache-Control: no-store` on responses that carry
/// messages or URIs.
pub(crate) fn cache(ctx: &Ctx<'_>, resp: &Response) -> Result<(), Stop> {
    if !ctx.checks("B-CACHE") {
        return Ok(());
    }
    let values = resp.header_all("cache-control");
    let no_store = values.iter().any(|v| {
        v.split(',')
            .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
    });
    if !no_store {
        return Err(Broken::new(
            "B-CACHE",
            "Cache-Control: no-store",
            if values.is_empty() {
                "no Cache-Control".to_string()
            } else {
                format!("Cache-Control: {}", values.join(", "))
            },
        )
        .into());
    }
    Ok(())
}

/// The body is the JSON string `text` (`"OK"`, `"Unauthorized"`), JSON whitespace allowed.
pub(crate) fn string_body(
    _ctx: &Ctx<'_>,
    resp: &Response,
    text: &str,
    rule: &str,
) -> Result<(), Stop> {
    let ok = std::str::from_utf8(&resp.body)
        .ok()
        .and_then(|t| wire::parse_value_strict(t).ok())
        .is_some_and(|v| v == Value::String(text.into()));
    if !ok {
        return Err(Broken::new(
            rule,
            format!("the JSON string body \"{text}\""),
            format!("{} with {}", resp.status, body_text(resp)),
        )
        .into());
    }
    Ok(())
}

/// The body as a strict JSON object (no duplicate members), or a failure of `rule`.
pub(crate) fn object(resp: &Response, rule: &str) -> Result<Map<String, Value>, Stop> {
    wire::parse_object_strict(&resp.body).map_err(|e| {
        Broken::new(
            rule,
            "a JSON object body",
            format!("{} ({e})", body_text(resp)),
        )
        .into()
    })
}

/// A page (V-RETR): exactly `messages` and maybe `nextMessageID`; the earliest remaining
/// messages from `from`, as many as PAGE_SIZE allows; `nextMessageID` iff more follow.
pub(crate) fn page(
    ctx: &mut Ctx<'_>,
    conn: &str,
    from: Option<&str>,
    resp: &Response,
    rule: &str,
) -> Result<(), Stop> {
    let o = object(resp, rule)?;
    let broken =
        |expected: &str, actual: String| -> Stop { Broken::new(rule, expected, actual).into() };
    if let Some(k) = o.keys().find(|k| *k != "messages" && *k != "nextMessageID") {
        return Err(broken(
            "exactly messages and nextMessageID",
            format!("a member {k:?}"),
        ));
    }
    let Some(Value::Array(list)) = o.get("messages") else {
        return Err(broken(
            "messages, an array",
            format!("{:?}", o.get("messages")),
        ));
    };
    let all = ctx.conn(conn)?.msgs.clone();
    let start = match from {
        Some(f) => all.iter().position(|m| m == f).ok_or_else(|| {
            Stop::Error(format!(
                "message `{f}` is not in connection `{conn}`; the step should expect 401"
            ))
        })?,
        None => 0,
    };
    let remaining = &all[start..];
    let n = list.len();
    let count_ok = match ctx.env.page_size {
        Some(ps) => n == ps.min(remaining.len()),
        None => n <= remaining.len() && (n >= 1 || remaining.is_empty()),
    };
    if !count_ok {
        let want = match ctx.env.page_size {
            Some(ps) => format!(
                "exactly min(PAGE_SIZE {ps}, {} remaining) = {} messages",
                remaining.len(),
                ps.min(remaining.len())
            ),
            None => format!("1 to {} messages", remaining.len()),
        };
        // Fewer messages than the page must hold, one of those an earlier retrieval
        // returned and nothing deleted since: retrieval removed it (V-RETR-KEEP).
        let window = match ctx.env.page_size {
            Some(ps) => ps.min(remaining.len()),
            None => remaining.len().min(1),
        };
        let returned: Vec<&str> = list
            .iter()
            .filter_map(|m| m.get("id").and_then(Value::as_str))
            .collect();
        let vanished = vanished(&remaining[..window], &returned, &ctx.msgs);
        if let Some(name) = vanished.filter(|_| n < window) {
            return Err(Broken::new(
                "V-RETR-KEEP",
                format!("{want}, `{name}` among them (an earlier retrieval returned it)"),
                format!("{n}, without `{name}`: {}", body_text(resp)),
            )
            .and(rule)
            .into());
        }
        return Err(broken(&want, format!("{n}: {}", body_text(resp))));
    }
    for (m, name) in list.iter().zip(remaining) {
        message(ctx, m, name, Seen::Page, rule)?;
    }
    let next = o.get("nextMessageID");
    match (remaining.get(n), next) {
        (None, None) => {}
        (None, Some(v)) => {
            return Err(broken(
                "no nextMessageID after the last message",
                format!("nextMessageID {v}"),
            ))
        }
        (Some(following), v) => {
            let Some(id) = v.and_then(Value::as_str) else {
                return Err(broken(
                    &format!("nextMessageID, the ID of `{following}`"),
                    format!("{v:?}"),
                ));
            };
            if let Some((other, _)) = ctx
                .msgs
                .iter()
                .find(|(n, m)| n.as_str() != following && m.id.as_deref() == Some(id))
            {
                return Err(broken(
                    &format!("nextMessageID, the ID of `{following}`"),
                    format!("the ID of `{other}`"),
                ));
            }
            learn_id(ctx, following, id, rule)?;
        }
    }
    Ok(())
}

/// The first of `expected` (messages a page must hold) that an earlier retrieval returned
/// and that is not among the `returned` IDs.
fn vanished<'a>(
    expected: &'a [String],
    returned: &[&str],
    msgs: &HashMap<String, Msg>,
) -> Option<&'a String> {
    expected.iter().find(|name| {
        msgs.get(*name).is_some_and(|m| {
            m.retrieved && m.id.as_deref().is_some_and(|id| !returned.contains(&id))
        })
    })
}

/// Record (or compare) the ID the server gave message `name`.
fn learn_id(ctx: &mut Ctx<'_>, name: &str, id: &str, rule: &str) -> Result<(), Stop> {
    if !is_message_id(id) {
        return Err(Broken::new(
            "VB-MID",
            "a message ID of 1 to 64 characters of [A-Za-z0-9_-]",
            format!("{:?}", id.chars().take(80).collect::<String>()),
        )
        .into());
    }
    let known = ctx.msg(name)?.id.clone();
    match known {
        Some(k) if k == id => Ok(()),
        Some(k) => Err(Broken::new(
            rule,
            format!("message `{name}` with its ID {k}"),
            format!("ID {id}"),
        )
        .and("V-RETR-KEEP")
        .into()),
        None => {
            if let Some((other, _)) = ctx
                .msgs
                .iter()
                .find(|(n, m)| *n != name && m.id.as_deref() == Some(id))
            {
                return Err(Broken::new(
                    "B-MID-FMT",
                    "IDs unique among the server's messages",
                    format!("`{name}` got the ID {id} of `{other}`"),
                )
                .into());
            }
            if let Some(m) = ctx.msgs.get_mut(name) {
                m.id = Some(id.to_string());
            }
            Ok(())
        }
    }
}

/// One message object against the model's message `name`: exactly `id`, `ts`, `size` and
/// maybe `msg`; the ID and `ts` as seen before (V-RETR-KEEP); `size` the bytes sent
/// (V-RETR-SIZE); `msg` the base64 sent (B-MSG-FMT), left out iff large (V-RETR-LARGE).
pub(crate) fn message(
    ctx: &mut Ctx<'_>,
    m: &Value,
    name: &str,
    seen: Seen,
    rule: &str,
) -> Result<(), Stop> {
    let Some(o) = m.as_object() else {
        return Err(Broken::new(rule, "a message object", format!("{m}")).into());
    };
    if let Some(k) = o
        .keys()
        .find(|k| !["id", "ts", "size", "msg"].contains(&k.as_str()))
    {
        return Err(Broken::new(
            rule,
            "a message of exactly id, ts, size and msg",
            format!("a member {k:?} in {m}"),
        )
        .and("V-RETR-KEEP")
        .into());
    }
    let id = o
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Stop::from(Broken::new(rule, "a string id", format!("in {m}"))))?;
    learn_id(ctx, name, id, rule)?;
    if matches!(seen, Seen::Page | Seen::Single) {
        if let Some(msg) = ctx.msgs.get_mut(name) {
            msg.retrieved = true;
        }
    }
    let ts = o
        .get("ts")
        .and_then(Value::as_str)
        .ok_or_else(|| Stop::from(Broken::new(rule, "a string ts", format!("in {m}"))))?;
    if !is_rfc3339_utc_z(ts) {
        return Err(Broken::new("B-TS-FMT", "an RFC 3339 UTC timestamp with Z", ts).into());
    }
    let (owner, known_ts, bytes, b64) = {
        let msg = ctx.msg(name)?;
        (
            msg.conn.clone(),
            msg.ts.clone(),
            msg.bytes.len(),
            msg.b64.clone(),
        )
    };
    match known_ts {
        Some(k) if k != ts => {
            return Err(Broken::new(
                "V-RETR-KEEP",
                format!("`{name}` with the ts {k} seen before"),
                format!("ts {ts}"),
            )
            .into())
        }
        Some(_) => {}
        None => {
            // ts never decreases in receive order (B-TS-FMT).
            let order = ctx.conn(&owner).map(|c| c.msgs.clone()).unwrap_or_default();
            let pos = order.iter().position(|x| x == name);
            if let Some(p) = pos {
                let earlier = order[..p]
                    .iter()
                    .rev()
                    .find_map(|x| ctx.msgs.get(x).and_then(|m| m.ts.clone()));
                let later = order[p + 1..]
                    .iter()
                    .find_map(|x| ctx.msgs.get(x).and_then(|m| m.ts.clone()));
                let t =
                    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
                        .ok();
                let parse = |s: &String| {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .ok()
                };
                if let (Some(t), Some(e)) = (t, earlier.as_ref().and_then(parse)) {
                    if t < e {
                        return Err(Broken::new(
                            "B-TS-FMT",
                            format!(
                                "`{name}`'s ts not before the earlier message's {}",
                                earlier.unwrap_or_default()
                            ),
                            ts,
                        )
                        .into());
                    }
                }
                if let (Some(t), Some(l)) = (t, later.as_ref().and_then(parse)) {
                    if t > l {
                        return Err(Broken::new(
                            "B-TS-FMT",
                            format!(
                                "`{name}`'s ts not after the later message's {}",
                                later.unwrap_or_default()
                            ),
                            ts,
                        )
                        .into());
                    }
                }
            }
            if let Some(msg) = ctx.msgs.get_mut(name) {
                msg.ts = Some(ts.to_string());
            }
        }
    }
    let size = o.get("size").and_then(Value::as_u64);
    if size != Some(bytes as u64) {
        return Err(Broken::new(
            "V-RETR-SIZE",
            format!("size {bytes} (the bytes of `{name}`)"),
            format!("{:?}", o.get("size")),
        )
        .into());
    }
    let large_rule = if seen == Seen::Push {
        "VB-WS-BACKLOG"
    } else {
        "V-RETR-LARGE"
    };
    match (o.get("msg"), seen) {
        (None, Seen::Single) => {
            return Err(Broken::new(
                "V-RETR-LARGE",
                "msg always in retrieve one",
                format!("no msg in {m}"),
            )
            .into())
        }
        (None, _) => {
            if let Some(large) = ctx.env.large_message {
                if bytes <= large {
                    return Err(Broken::new(
                        "V-RETR-LARGE",
                        format!("msg of `{name}` ({bytes} bytes, LARGE_MESSAGE {large})"),
                        format!("no msg in {m}"),
                    )
                    .and(large_rule)
                    .into());
                }
            }
        }
        (Some(v), _) => {
            if let (Some(large), Seen::Page | Seen::Push) = (ctx.env.large_message, seen) {
                if bytes > large {
                    return Err(Broken::new(
                        "V-RETR-LARGE",
                        format!("no msg for `{name}` ({bytes} bytes > LARGE_MESSAGE {large})"),
                        "msg present",
                    )
                    .and(large_rule)
                    .into());
                }
            }
            if v.as_str() != Some(b64.as_str()) {
                let got = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                return Err(Broken::new(
                    "B-MSG-FMT",
                    format!("msg of `{name}` exactly as sent ({} chars)", b64.len()),
                    format!(
                        "{} chars: {}",
                        got.len(),
                        got.chars().take(40).collect::<String>()
                    ),
                )
                .into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_message_the_page_must_hold_and_a_retrieval_returned_has_vanished() {
        let msg = |id: &str, retrieved: bool| Msg {
            conn: "c".into(),
            bytes: Vec::new(),
            b64: String::new(),
            id: Some(id.into()),
            ts: None,
            deleted: false,
            retrieved,
        };
        let msgs: HashMap<String, Msg> = [
            ("m1".to_string(), msg("I1", true)),
            ("m2".to_string(), msg("I2", false)),
            ("m3".to_string(), msg("I3", true)),
        ]
        .into();
        let names = ["m1", "m2", "m3"].map(String::from);
        assert_eq!(vanished(&names, &["I2", "I3"], &msgs), Some(&names[0]));
        // Never retrieved: a short page, not a removal.
        assert_eq!(vanished(&names[1..2], &[], &msgs), None);
        // Outside the page's window: not expected in this page.
        assert_eq!(vanished(&names[..2], &["I1"], &msgs), None);
    }

    #[test]
    fn message_ids() {
        assert!(is_message_id("a"));
        assert!(is_message_id(&"A_-9".repeat(16)));
        assert!(!is_message_id(""));
        assert!(!is_message_id(&"a".repeat(65)));
        assert!(!is_message_id("a+b"));
        assert!(!is_message_id("a/b"));
        assert!(!is_message_id("a=b"));
        assert!(!is_message_id("é"));
    }
}
