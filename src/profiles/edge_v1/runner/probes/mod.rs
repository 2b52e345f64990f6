//! Built-in checks written in code (`"op": "probe"`): properties over many requests that a
//! list of steps cannot express (URI privacy, oversized bodies, the transport, ...).
//!
//! Probes build on [`CaseRun::protocol_step`], so every request they make is checked against
//! the model like any scripted step.

mod common;
mod concurrency;
mod scenarios;

use std::collections::BTreeSet;

use serde_json::Value;

use crate::client::origin::{judge_uri, UriOrigin};
use crate::client::{Exchange, Request as HttpRequest, Response};
use crate::engine::event::Verdict;
use crate::profiles::common::{contains_window, key_material, looks_like_counter, varying_parts};
use crate::profiles::edge_v1::case::Step;
use crate::profiles::edge_v1::model::Endpoint;
use crate::profiles::edge_v1::runner::state::{failure, CaseRun, StepFailure};
use crate::profiles::edge_v1::wire;
use crate::profiles::edge_v1::Context;
use crate::profiles::http_limits::{self, Judged};
use common::{arg_u64, plain};

/// Names of all probes, for validation of case files.
pub const PROBES: &[&str] = &[
    "https",
    "uri-origin",
    "quota",
    "uri-privacy",
    "message-id-privacy",
    "oversized-body",
    "chunked-body",
    "body-at-limit",
    "second-connection",
    "after-idle",
    "h2-stream-after-idle",
    "alice-bob",
    "duplex",
    "two-servers",
    "alternative-flow",
    "concurrent",
];

/// About how long a probe takes, in requests of a scripted step (about a millisecond each on
/// the embedded server): the probes that wait or send many requests weigh most, so that the
/// engine starts them first ([`Session::cost`](crate::engine::Session::cost)).
pub fn cost(name: &str, ctx: &Context) -> u64 {
    match name {
        "after-idle" | "h2-stream-after-idle" => ctx.idle_wait.map_or(0, |d| d.as_millis() as u64),
        // Waits for an early answer at least 250 ms.
        "body-at-limit" => 250,
        "chunked-body" => 150,
        "duplex" => 60,
        "uri-privacy" | "concurrent" | "quota" => 40,
        "alice-bob" => 25,
        "alternative-flow" | "second-connection" | "message-id-privacy" => 10,
        _ => 2,
    }
}

/// Run the probe of step `n`.
pub async fn run(run: &mut CaseRun<'_>, n: usize, step: &Step) -> Result<(), StepFailure> {
    match step.probe.as_deref().unwrap_or_default() {
        "https" => https(run, n),
        "uri-origin" => uri_origin(run, n, step),
        "uri-privacy" => uri_privacy(run, n, step).await,
        "message-id-privacy" => message_id_privacy(run, n, step).await,
        "oversized-body" => oversized_body(run, n).await,
        "chunked-body" => chunked_body(run, n).await,
        "body-at-limit" => body_at_limit(run, n).await,
        "second-connection" => second_connection(run, n).await,
        "after-idle" => after_idle(run, n).await,
        "h2-stream-after-idle" => h2_stream_after_idle(run, n).await,
        "quota" => quota(run, n, step).await,
        "alice-bob" => scenarios::alice_bob(run, n).await,
        "duplex" => scenarios::duplex(run, n, 0).await,
        "two-servers" => scenarios::two_servers(run, n).await,
        "alternative-flow" => scenarios::alternative_flow(run, n).await,
        "concurrent" => concurrency::concurrent(run, n, step).await,
        other => Err(failure(
            Verdict::Error,
            n,
            "",
            format!("a known probe ({})", PROBES.join(", ")),
            format!("`{other}`"),
        )),
    }
}

/// B-URI-ORIGIN: the URIs of connection `step.conn` are on the create endpoint's origin;
/// waived for an origin the user allowed. (A URI on any other origin already failed the
/// step that returned it, and was never requested.)
fn uri_origin(run: &mut CaseRun<'_>, n: usize, step: &Step) -> Result<(), StepFailure> {
    let Some(live) = run.connection(&step.conn) else {
        return Err(failure(
            Verdict::Error,
            n,
            "",
            format!("a connection `{}` created before this probe", step.conn),
            "none",
        ));
    };
    let ce = run.ctx.ce().clone();
    let mut allowed = Vec::new();
    for u in live.ru.iter().chain(&live.su) {
        match judge_uri(&ce, u, &run.ctx.origins, run.ctx.allow_http) {
            Ok(UriOrigin::Same) => {}
            Ok(UriOrigin::Allowed(o)) => allowed.push(o.to_string()),
            Err(e) => {
                return Err(failure(
                    Verdict::Fail,
                    n,
                    "B-URI-ORIGIN",
                    format!("URIs on the origin of {ce}"),
                    e.to_string(),
                ))
            }
        }
    }
    if !allowed.is_empty() {
        allowed.dedup();
        run.waived = Some(format!(
            "URIs on {}: waived by --allow-origin",
            allowed.join(", ")
        ));
    }
    Ok(())
}

/// S-GEN-HTTPS: the target is served over HTTPS (waived by `--allow-http`).
fn https(run: &mut CaseRun<'_>, n: usize) -> Result<(), StepFailure> {
    for ce in &run.ctx.servers {
        if ce.scheme() != "https" {
            if run.ctx.allow_http {
                run.waived = Some(format!("{ce} is plain HTTP; waived by --allow-http"));
            } else {
                return Err(failure(
                    Verdict::Fail,
                    n,
                    "S-GEN-HTTPS",
                    "an https:// create endpoint",
                    format!("{ce} (pass --allow-http to waive this rule for local testing)"),
                ));
            }
        }
    }
    Ok(())
}

/// S-URI-GEN / S-PRIV-URI: URIs carry no ID, key or key hash, are distinct, not counters, and
/// carry enough varying material.
async fn uri_privacy(run: &mut CaseRun<'_>, n: usize, step: &Step) -> Result<(), StepFailure> {
    let count = arg_u64(step, "creations", 12).clamp(3, 200) as usize;
    let mut rus = Vec::new();
    let mut sus = Vec::new();
    for i in 0..count {
        let conn = format!("privacy{i}");
        run.protocol_step(n, &plain(Endpoint::Create, &conn), Endpoint::Create)
            .await?;
        let live = run.conns[&conn].clone();
        let key = run.key(&format!("{conn}.rk"));
        let (ru, su) = (live.ru[0].to_string(), live.su[0].to_string());
        for (what, m) in key_material(key.spki_der(), Some(&live.cid)) {
            for (name, uri) in [("recipientURI", &ru), ("senderURI", &su)] {
                if contains_window(uri, &m) {
                    return Err(failure(
                        Verdict::Fail,
                        n,
                        "S-URI-GEN",
                        format!("no {what} in {name}"),
                        uri.clone(),
                    ));
                }
            }
        }
        rus.push(ru);
        sus.push(su);
    }
    let all: Vec<String> = rus.iter().chain(&sus).cloned().collect();
    let distinct: BTreeSet<&String> = all.iter().collect();
    if distinct.len() != all.len() {
        return Err(failure(
            Verdict::Fail,
            n,
            "S-URI-GEN",
            format!("{} distinct URIs", all.len()),
            format!("{} distinct", distinct.len()),
        ));
    }
    for (name, list) in [("recipientURI", &rus), ("senderURI", &sus)] {
        let parts = varying_parts(list);
        if looks_like_counter(&parts) {
            return Err(failure(
                Verdict::Fail,
                n,
                "S-URI-GEN",
                format!("{name}s without a visible counter"),
                format!("{parts:?}"),
            ));
        }
        if let Some(short) = parts.iter().find(|p| {
            let b64 = p
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .count();
            let hex = p.chars().filter(|c| c.is_ascii_hexdigit()).count();
            b64 < 11 && hex < 16
        }) {
            return Err(failure(
                Verdict::Fail,
                n,
                "S-URI-GEN",
                format!(
                    "at least 11 base64url or 16 hex characters of varying material in each {name}"
                ),
                format!("`{short}`"),
            ));
        }
    }
    Ok(())
}

/// B-MID-RANDOM: message ids are not a visible server-wide counter.
async fn message_id_privacy(
    run: &mut CaseRun<'_>,
    n: usize,
    step: &Step,
) -> Result<(), StepFailure> {
    let count = arg_u64(step, "messages", 8).clamp(3, 64) as usize;
    let conn = "midprivacy";
    run.protocol_step(n, &plain(Endpoint::Create, conn), Endpoint::Create)
        .await?;
    let names: Vec<String> = (0..count).map(|i| format!("mid{i}")).collect();
    for name in &names {
        let mut s = plain(Endpoint::Send, conn);
        s.messages = Some(vec![name.clone()]);
        run.protocol_step(n, &s, Endpoint::Send).await?;
    }
    // Learn every id with keeping retrievals, page by page (PAGE_SIZE may be small).
    let mut from: Option<String> = None;
    for _ in 0..count {
        let mut r = plain(Endpoint::Retrieve, conn);
        r.page_size = Some(count as u64);
        r.keep_messages = Some(true);
        r.from_message = from.clone();
        run.protocol_step(n, &r, Endpoint::Retrieve).await?;
        // Continue from the first message whose id came only as nextMessageID.
        let known = names
            .iter()
            .take_while(|m| run.msg_ids.contains_key(*m))
            .count();
        if known == count {
            break;
        }
        from = Some(names[known.saturating_sub(1)].clone());
    }
    let ids: Vec<String> = names
        .iter()
        .filter_map(|m| run.msg_ids.get(m).cloned())
        .collect();
    let parts = varying_parts(&ids);
    if ids.len() == count && looks_like_counter(&parts) {
        return Err(failure(
            run.level_verdict(),
            n,
            "B-MID-RANDOM",
            "ids that are not a visible counter",
            format!("{ids:?}"),
        ));
    }
    Ok(())
}

/// B-SIZE: a body declared far larger than any limit is refused with 413 (or 400) without
/// the server reading it all; never 5xx, never a hang.
async fn oversized_body(run: &mut CaseRun<'_>, n: usize) -> Result<(), StepFailure> {
    let ce = run.ctx.ce().clone();
    let declared: u64 = 1 << 30;
    let sent = vec![b' '; 64 * 1024];
    let req = HttpRequest {
        method: "POST".into(),
        url: ce,
        target: None,
        headers: vec![
            ("Content-Type".into(), b"application/json".to_vec()),
            ("Content-Length".into(), declared.to_string().into_bytes()),
        ],
        body: sent,
    };
    let ex = run.ctx.client.execute(req).await;
    let res = match &ex.response {
        Ok(r) if r.status == 413 || r.status == 400 => Ok(()),
        Ok(r) => Err(failure(
            Verdict::Fail,
            n,
            "B-SIZE",
            "413 (or 400) for a 1 GiB declared body",
            r.status.to_string(),
        )),
        Err(e) => {
            let e = e.clone();
            run.exchanges.push(ex);
            let [witness] = creates(run, n, ["oversize-witness"])?;
            let (seen, witness) =
                http_limits::unanswered_oversize(&run.ctx.client, &e, witness).await;
            return judged(run, n, (seen, vec![witness]));
        }
    };
    run.exchanges.push(ex);
    res
}

/// B-SIZE's counting path ([`http_limits::chunked_body`]) on a signed create whose valid JSON
/// is followed by whitespace up to [`http_limits::CHUNKED_BODY`] bytes.
async fn chunked_body(run: &mut CaseRun<'_>, n: usize) -> Result<(), StepFailure> {
    let mut step = plain(Endpoint::Create, "chunked");
    step.append_body = Some(http_limits::padding());
    let req = run
        .http_request(&step, Endpoint::Create)
        .map_err(|e| StepFailure::setup(n, &e))?;
    let seen = http_limits::chunked_body(&run.ctx.client, req).await;
    judged(run, n, seen)
}

/// B-SIZE decided from `Content-Length` ([`http_limits::body_at_limit`]) on a signed create
/// whose valid JSON is followed by whitespace up to exactly [`http_limits::LIMIT_BODY`] bytes.
async fn body_at_limit(run: &mut CaseRun<'_>, n: usize) -> Result<(), StepFailure> {
    let mut step = plain(Endpoint::Create, "at-limit");
    // The JSON alone, unsigned, to size the padding; the keys it binds are the request's.
    let json = run
        .body_bytes(&step, Endpoint::Create)
        .map_err(|e| StepFailure::setup(n, &e))?
        .len();
    step.append_body = Some(" ".repeat(http_limits::LIMIT_BODY.saturating_sub(json)));
    let req = run
        .http_request(&step, Endpoint::Create)
        .map_err(|e| StepFailure::setup(n, &e))?;
    debug_assert_eq!(req.body.len(), http_limits::LIMIT_BODY);
    let seen = http_limits::body_at_limit(&run.ctx.client, req).await;
    judged(run, n, seen)
}

/// B-NO-5XX across connections ([`http_limits::second_connection`]), with two signed creates.
async fn second_connection(run: &mut CaseRun<'_>, n: usize) -> Result<(), StepFailure> {
    let [first, second] = creates(run, n, ["held", "second"])?;
    let seen = http_limits::second_connection(&run.ctx.client, first, second).await;
    judged(run, n, seen)
}

/// B-NO-5XX past the server's idle timeout ([`http_limits::after_idle`]), with a signed
/// create, when `--idle-wait` is given.
async fn after_idle(run: &mut CaseRun<'_>, n: usize) -> Result<(), StepFailure> {
    let Some(idle) = idle_wait(run) else {
        return Ok(());
    };
    let [req, witness] = creates(run, n, ["after-idle", "idle-witness"])?;
    let seen = http_limits::after_idle(&run.ctx.client, idle, req, witness).await;
    judged(run, n, seen)
}

/// B-NO-5XX for a held HTTP/2 stream past the server's idle timeout
/// ([`http_limits::h2_stream_after_idle`]), with three signed creates (the third a witness),
/// when `--idle-wait` is given.
async fn h2_stream_after_idle(run: &mut CaseRun<'_>, n: usize) -> Result<(), StepFailure> {
    let Some(idle) = idle_wait(run) else {
        return Ok(());
    };
    let requests = creates(run, n, ["h2-held", "h2-second", "h2-witness"])?;
    let seen = http_limits::h2_stream_after_idle(&run.ctx.client, idle, requests).await;
    judged(run, n, seen)
}

/// Signed creates of new connections, named `names` in the logs.
fn creates<const N: usize>(
    run: &mut CaseRun<'_>,
    n: usize,
    names: [&str; N],
) -> Result<[HttpRequest; N], StepFailure> {
    let made = names.map(|name| {
        run.http_request(&plain(Endpoint::Create, name), Endpoint::Create)
            .map_err(|e| StepFailure::setup(n, &e))
    });
    let mut out = Vec::with_capacity(N);
    for r in made {
        out.push(r?);
    }
    Ok(out
        .try_into()
        .unwrap_or_else(|_| unreachable!("N requests made")))
}

/// `--idle-wait`, or `None` with the check marked skipped.
fn idle_wait(run: &mut CaseRun<'_>) -> Option<std::time::Duration> {
    if run.ctx.idle_wait.is_none() {
        run.skipped = Some(http_limits::IDLE_WAIT_NEEDED.into());
    }
    run.ctx.idle_wait
}

/// A shared transport check's outcome as this probe's: its exchanges kept, a skip noted.
fn judged(
    run: &mut CaseRun<'_>,
    n: usize,
    (seen, exchanges): (Judged, Vec<Exchange>),
) -> Result<(), StepFailure> {
    run.exchanges.extend(exchanges);
    match seen {
        Judged::Pass => Ok(()),
        Judged::Skip(why) => {
            run.skipped = Some(why);
            Ok(())
        }
        Judged::Broken {
            rule,
            expected,
            actual,
        } => Err(failure(Verdict::Fail, n, rule, expected, actual)),
        Judged::NotJudged(why) => Err(failure(Verdict::Error, n, "", "an answer", why)),
    }
}

/// B-QUOTA: a server may cap the messages queued per connection; over the cap a send gets 429
/// and nothing of it is stored. Batches of 16 fill the queue; after the first 429 a send of
/// 17 must be refused too (the queue did not shrink, so it is over the same cap), and the
/// drained queue must hold exactly the accepted sends. The queue is then filled again, one
/// message first: whatever the cap, one of the two fills meets it with a batch that would
/// partly fit (B-SEND-ATOMIC: none of it may be stored). Without a cap up to the bound, the
/// rule is not exercised (skip).
async fn quota(run: &mut CaseRun<'_>, n: usize, step: &Step) -> Result<(), StepFailure> {
    let bound = arg_u64(step, "messages", 512).clamp(16, 100_000) as usize;
    let conn = "quota";
    run.protocol_step(n, &plain(Endpoint::Create, conn), Endpoint::Create)
        .await?;
    let Some(sent) = fill(run, n, conn, 16, bound, "q").await? else {
        run.skipped = Some(format!(
            "no queue cap observed up to {bound} messages; B-QUOTA not exercised"
        ));
        return Ok(());
    };
    larger_send_refused(run, n, conn, sent).await?;
    stored_exactly(run, n, conn, sent).await?;
    // The cap lies in sent..sent+16: a second fill offset by one ends below it.
    if let Some(sent) = fill(run, n, conn, 1, sent + 33, "r").await? {
        stored_exactly(run, n, conn, sent).await?;
    }
    Ok(())
}

/// Sends `first` messages, then batches of 16, to `conn` until a send gets 429; returns how
/// many were accepted then, or `None` when `bound` was reached first.
async fn fill(
    run: &mut CaseRun<'_>,
    n: usize,
    conn: &str,
    first: usize,
    bound: usize,
    tag: &str,
) -> Result<Option<usize>, StepFailure> {
    let mut sent = 0;
    let mut batch_no = 0;
    while sent < bound {
        let size = if batch_no == 0 { first } else { 16 };
        batch_no += 1;
        let names: Vec<String> = (0..size).map(|i| format!("{tag}{batch_no}-{i}")).collect();
        let mut s = plain(Endpoint::Send, conn);
        s.messages = Some(names);
        let before = run.exchanges.len();
        match run.protocol_step(n, &s, Endpoint::Send).await {
            Ok(()) => sent += size,
            Err(f) if status_at(run, before) != Some(429) => return Err(f),
            Err(_) => return Ok(Some(sent)),
        }
    }
    Ok(None)
}

/// Drains `conn` and requires exactly the `sent` accepted messages: the refused sends stored
/// nothing (B-QUOTA).
async fn stored_exactly(
    run: &mut CaseRun<'_>,
    n: usize,
    conn: &str,
    sent: usize,
) -> Result<(), StepFailure> {
    let stored = drain(run, n, conn, sent + 33).await?;
    if stored != sent {
        return Err(failure(
            Verdict::Fail,
            n,
            "B-QUOTA",
            format!("{sent} messages stored (the refused sends stored nothing)"),
            format!("{stored}"),
        ));
    }
    Ok(())
}

/// The status of exchange `i` of the run, if it got a response.
fn status_at(run: &CaseRun<'_>, i: usize) -> Option<u16> {
    response_at(run, i).map(|r| r.status)
}

/// The response of exchange `i` of the run, if it got one.
fn response_at<'r>(run: &'r CaseRun<'_>, i: usize) -> Option<&'r Response> {
    run.exchanges.get(i).and_then(|e| e.response.as_ref().ok())
}

/// Right after a 429 for 16 messages at `sent` queued, with nothing retrieved since: a send
/// of 17 must be refused too (429, or 400/413 from a server that takes at most 16 per send).
async fn larger_send_refused(
    run: &mut CaseRun<'_>,
    n: usize,
    conn: &str,
    sent: usize,
) -> Result<(), StepFailure> {
    let mut larger = plain(Endpoint::Send, conn);
    larger.messages = Some((0..17).map(|i| format!("q-larger-{i}")).collect());
    let before = run.exchanges.len();
    match run.protocol_step(n, &larger, Endpoint::Send).await {
        Ok(()) => Err(failure(
            Verdict::Fail,
            n,
            "B-QUOTA",
            format!(
                "429 for a send of 17 messages right after a send of 16 was refused with 429 \
                 at {sent} queued, nothing retrieved in between"
            ),
            "the send of 17 was accepted",
        )),
        Err(_) if matches!(status_at(run, before), Some(429 | 400 | 413)) => Ok(()),
        Err(f) => Err(f),
    }
}

/// Retrieves `conn`'s queue until it is empty and returns how many messages came. A server
/// whose retrievals never empty the queue cannot hold the suite: past `limit` the count
/// already decides. The model does not know what a faulty refusal stored, so the count
/// decides, whatever the model says of a page.
async fn drain(
    run: &mut CaseRun<'_>,
    n: usize,
    conn: &str,
    limit: usize,
) -> Result<usize, StepFailure> {
    let mut stored = 0usize;
    loop {
        let mut r = plain(Endpoint::Retrieve, conn);
        r.page_size = Some(1000);
        let before = run.exchanges.len();
        let step = run.protocol_step(n, &r, Endpoint::Retrieve).await;
        let got = response_at(run, before)
            .filter(|r| r.status == 200)
            .and_then(|r| wire::parse_object_strict(&r.body).ok())
            .and_then(|o| o.get("messages").and_then(Value::as_array).map(Vec::len));
        let got = match (got, step) {
            (Some(got), _) => got,
            (None, Err(f)) => return Err(f),
            (None, Ok(())) => 0,
        };
        stored += got;
        if got == 0 || stored > limit {
            return Ok(stored);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_seen_and_random_ids_are_not() {
        let counter: Vec<String> = (100..110).map(|i| format!("/c/{i}")).collect();
        assert!(looks_like_counter(&varying_parts(&counter)));
        let hex: Vec<String> = (0x1000..0x100a).map(|i| format!("m{i:x}")).collect();
        assert!(looks_like_counter(&varying_parts(&hex)));
        let random: Vec<String> = (0..10).map(|_| wire::connection_id()).collect();
        assert!(!looks_like_counter(&varying_parts(&random)));
    }

    #[test]
    fn key_windows_are_found_in_any_encoding() {
        let spki: Vec<u8> = (0..=255u8).collect();
        for (_, m) in key_material(&spki, Some("cidcidcidcid")) {
            let uri = format!(
                "https://x/connection/zz{}zz",
                &m[m.len().saturating_sub(20)..]
            );
            assert!(contains_window(&uri, &m), "{m}");
        }
        assert!(!contains_window(
            "https://x/connection/abcdefghijklmnopqrstuv",
            &hex::encode(&spki)
        ));
    }

    #[test]
    fn varying_parts_strip_common_prefix_and_suffix() {
        let v = vec!["/a/XYZ1/m".to_string(), "/a/QRS2/m".into()];
        assert_eq!(varying_parts(&v), ["XYZ1", "QRS2"]);
    }
}
