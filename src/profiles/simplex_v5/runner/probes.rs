//! Checks written in code (`"op": "probe"`): properties over many requests that a list of
//! steps cannot express. They build on the REST steps, so every request they make is judged
//! like a scripted one.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use rand::RngCore;
use serde_json::Value;

use super::judge::is_message_id;
use super::rest::{self, body_text, Op};
use super::{Broken, Ctx, Env, Stop};
use crate::client::{Exchange, Request};
use crate::engine::history::{self, Action, Effect, Naming, Op as HOp};
use crate::profiles::common::{contains_window, key_material, looks_like_counter, varying_parts};
use crate::profiles::edge_v1::wire::b64;
use crate::profiles::http_limits::{self, Judged};
use crate::profiles::simplex_v5::case::Rest;

/// Names of all probes, for validation of case files.
pub const NAMES: &[&str] = &[
    "paging",
    "uri-privacy",
    "message-id-privacy",
    "oversized-body",
    "chunked-body",
    "second-connection",
    "after-idle",
    "h2-stream-after-idle",
    "concurrency",
    "timing-rest",
    "timing-ws",
];

/// Run the probe `name`.
pub(crate) async fn run(ctx: &mut Ctx<'_>, name: &str) -> Result<(), Stop> {
    match name {
        "paging" => paging(ctx).await,
        "uri-privacy" => uri_privacy(ctx).await,
        "message-id-privacy" => message_id_privacy(ctx).await,
        "oversized-body" => oversized_body(ctx).await,
        "chunked-body" => chunked_body(ctx).await,
        "second-connection" => second_connection(ctx).await,
        "after-idle" => after_idle(ctx).await,
        "h2-stream-after-idle" => h2_stream_after_idle(ctx).await,
        "concurrency" => concurrency(ctx).await,
        "timing-rest" => super::timing::rest(ctx).await,
        "timing-ws" => super::timing::ws(ctx).await,
        other => Err(Stop::Error(format!("unknown probe {other}; fix the case"))),
    }
}

fn rest_step(conn: &str) -> Rest {
    Rest {
        conn: Some(conn.to_string()),
        ..Rest::default()
    }
}

/// V-RETR with PAGE_SIZE known: PAGE_SIZE + 2 messages come back as a full page with
/// `nextMessageID`, then the last two; a page from the second message is full again.
async fn paging(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let Some(ps) = ctx.env.page_size else {
        return Err(Stop::Skip(
            "needs the server's PAGE_SIZE: give --page-size N".into(),
        ));
    };
    if ps > 500 {
        return Err(Stop::Skip(format!(
            "PAGE_SIZE {ps} needs more than 500 messages; the check is skipped"
        )));
    }
    let conn = "paged";
    rest::run(ctx, Op::Create, &rest_step(conn)).await?;
    let names: Vec<String> = (0..ps + 2).map(|i| format!("p{i}")).collect();
    for n in &names {
        let mut s = rest_step(conn);
        s.msg = Some(n.clone());
        rest::run(ctx, Op::Send, &s).await?;
    }
    for from in [None, Some(ps), Some(1), Some(ps + 1)] {
        let mut r = rest_step(conn);
        r.from = from.map(|i| names[i].clone());
        rest::run(ctx, Op::Retrieve, &r).await?;
    }
    Ok(())
}

/// V-URI: RU ≠ SU, no key or key hash inside, distinct across creations, no visible counter,
/// and enough varying material.
async fn uri_privacy(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    const COUNT: usize = 12;
    let mut rus = Vec::new();
    let mut sus = Vec::new();
    for i in 0..COUNT {
        let conn = format!("privacy{i}");
        rest::run(ctx, Op::Create, &rest_step(&conn)).await?;
        let c = ctx.conn(&conn)?.clone();
        let key = ctx.key(&c.rk);
        for (what, m) in key_material(key.spki_der(), None) {
            for (name, uri) in [("recipientURI", &c.ru_text), ("senderURI", &c.su_text)] {
                if contains_window(uri, &m) {
                    return Err(
                        Broken::new("V-URI", format!("no {what} in {name}"), uri.clone()).into(),
                    );
                }
            }
        }
        rus.push(c.ru_text);
        sus.push(c.su_text);
    }
    let all: Vec<String> = rus.iter().chain(&sus).cloned().collect();
    let distinct: BTreeSet<&String> = all.iter().collect();
    if distinct.len() != all.len() {
        return Err(Broken::new(
            "V-URI",
            format!("{} distinct URIs", all.len()),
            format!("{} distinct", distinct.len()),
        )
        .into());
    }
    for (name, list) in [("recipientURI", &rus), ("senderURI", &sus)] {
        let parts = varying_parts(list);
        if looks_like_counter(&parts) {
            return Err(Broken::new(
                "V-URI",
                format!("{name}s without a visible counter"),
                format!("{parts:?}"),
            )
            .into());
        }
        if let Some(short) = parts.iter().find(|p| {
            let b64 = p
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .count();
            let hex = p.chars().filter(|c| c.is_ascii_hexdigit()).count();
            b64 < 11 && hex < 16
        }) {
            return Err(Broken::new(
                "V-URI",
                format!(
                    "at least 11 base64url or 16 hex characters of varying material in each {name}"
                ),
                format!("`{short}`"),
            )
            .into());
        }
    }
    Ok(())
}

/// B-MID-RANDOM: the IDs of consecutive messages are not a visible counter.
async fn message_id_privacy(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    const COUNT: usize = 8;
    let conn = "midprobe";
    rest::run(ctx, Op::Create, &rest_step(conn)).await?;
    let names: Vec<String> = (0..COUNT).map(|i| format!("mid{i}")).collect();
    for n in &names {
        let mut s = rest_step(conn);
        s.msg = Some(n.clone());
        rest::run(ctx, Op::Send, &s).await?;
    }
    // Page through: each page teaches the IDs of its messages and of the next one.
    let mut from: Option<String> = None;
    for _ in 0..COUNT {
        let mut r = rest_step(conn);
        r.from = from.clone();
        rest::run(ctx, Op::Retrieve, &r).await?;
        match names.iter().find(|m| ctx.msgs[*m].id.is_none()) {
            None => break,
            Some(_) => {
                let known = names
                    .iter()
                    .take_while(|m| ctx.msgs[*m].id.is_some())
                    .count();
                from = Some(names[known.saturating_sub(1)].clone());
            }
        }
    }
    let ids: Vec<String> = names
        .iter()
        .filter_map(|m| ctx.msgs[m].id.clone())
        .collect();
    if ids.len() == COUNT && looks_like_counter(&varying_parts(&ids)) {
        return Err(Broken::new(
            "B-MID-RANDOM",
            "message IDs that are not a visible counter",
            format!("{ids:?}"),
        )
        .into());
    }
    Ok(())
}

/// B-SIZE, VB-ORDER: a body declared far larger than any limit is refused with 413 (or 400)
/// without the server reading it all; never 5xx, never a hang.
async fn oversized_body(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let declared: u64 = 1 << 30;
    let req = Request::new("POST", ctx.env.ce.clone())
        .header("Content-Type", "application/json")
        .header("Content-Length", declared.to_string())
        .body(vec![b' '; 64 * 1024]);
    ctx.requests += 1;
    let ex = ctx.env.http.execute(req).await;
    let result = match &ex.response {
        Ok(r) if r.status == 413 || r.status == 400 => Ok(()),
        Ok(r) if r.status >= 500 => Err(Broken::new(
            "B-NO-5XX",
            "413 or 400, no 5xx",
            format!("{} with {}", r.status, body_text(r)),
        )
        .and("B-SIZE")
        .into()),
        Ok(r) => Err(Broken::new(
            "B-SIZE",
            "413 (or 400) for a body of 1 GiB",
            format!("{} with {}", r.status, body_text(r)),
        )
        .into()),
        Err(e) => {
            let e = e.clone();
            ctx.keep(ex);
            let (witness, _, _) = rest::build(ctx, Op::Create, &rest_step("oversize-witness"))?;
            let (seen, witness) =
                http_limits::unanswered_oversize(&ctx.env.http, &e, witness).await;
            return judged(ctx, (seen, vec![witness]));
        }
    };
    ctx.keep(ex);
    result
}

/// B-SIZE's counting path ([`http_limits::chunked_body`]) on a signed create whose valid JSON
/// is followed by whitespace up to [`http_limits::CHUNKED_BODY`] bytes.
async fn chunked_body(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let mut step = rest_step("chunked");
    step.raw = Some(format!(
        "{{\"recipient\":\"${{rk}}\"}}{}",
        http_limits::padding()
    ));
    let (req, _, _) = rest::build(ctx, Op::Create, &step)?;
    let seen = http_limits::chunked_body(&ctx.env.http, req).await;
    judged(ctx, seen)
}

/// B-NO-5XX across connections ([`http_limits::second_connection`]), with two signed creates.
async fn second_connection(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let (first, _, _) = rest::build(ctx, Op::Create, &rest_step("held"))?;
    let (second, _, _) = rest::build(ctx, Op::Create, &rest_step("second"))?;
    let seen = http_limits::second_connection(&ctx.env.http, first, second).await;
    judged(ctx, seen)
}

/// B-NO-5XX past the server's idle timeout ([`http_limits::after_idle`]), with a signed
/// create and a witness, when `--idle-wait` is given.
async fn after_idle(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let idle = idle_wait(ctx)?;
    let (req, _, _) = rest::build(ctx, Op::Create, &rest_step("after-idle"))?;
    let (witness, _, _) = rest::build(ctx, Op::Create, &rest_step("idle-witness"))?;
    let seen = http_limits::after_idle(&ctx.env.http, idle, req, witness).await;
    judged(ctx, seen)
}

/// B-NO-5XX for a held HTTP/2 stream past the server's idle timeout
/// ([`http_limits::h2_stream_after_idle`]), with three signed creates (the third a witness),
/// when `--idle-wait` is given.
async fn h2_stream_after_idle(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    let idle = idle_wait(ctx)?;
    let (held, _, _) = rest::build(ctx, Op::Create, &rest_step("h2-held"))?;
    let (second, _, _) = rest::build(ctx, Op::Create, &rest_step("h2-second"))?;
    let (witness, _, _) = rest::build(ctx, Op::Create, &rest_step("h2-witness"))?;
    let requests = [held, second, witness];
    let seen = http_limits::h2_stream_after_idle(&ctx.env.http, idle, requests).await;
    judged(ctx, seen)
}

/// `--idle-wait`, or a skip that says how to run the check.
fn idle_wait(ctx: &Ctx<'_>) -> Result<std::time::Duration, Stop> {
    ctx.env
        .idle_wait
        .ok_or_else(|| Stop::Skip(http_limits::IDLE_WAIT_NEEDED.into()))
}

/// A shared transport check's outcome as this probe's, its exchanges kept.
fn judged(ctx: &mut Ctx<'_>, (seen, exchanges): (Judged, Vec<Exchange>)) -> Result<(), Stop> {
    for ex in exchanges {
        ctx.requests += 1;
        ctx.keep(ex);
    }
    match seen {
        Judged::Pass => Ok(()),
        Judged::Skip(why) => Err(Stop::Skip(why)),
        Judged::Broken {
            rule,
            expected,
            actual,
        } => Err(Broken::new(rule, expected, actual).into()),
        Judged::NotJudged(why) => Err(Stop::Error(format!("{why}; not a verdict on the server"))),
    }
}

/// B-CONCURRENT: senders and readers at once on one connection; every acknowledged message
/// is removed exactly once (readers delete what they read), in each sender's order, and
/// nothing appears that was not sent (the shared history checker).
async fn concurrency(ctx: &mut Ctx<'_>) -> Result<(), Stop> {
    const SENDERS: usize = 3;
    const PER_SENDER: usize = 6;
    const READERS: usize = 2;
    let conn = "race";
    rest::run(ctx, Op::Create, &rest_step(conn)).await?;
    let c = ctx.conn(conn)?.clone();
    let rk = ctx.key(&c.rk);
    let env = Arc::new(ctx.env.clone());
    let clock = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..SENDERS {
        let env = env.clone();
        let su = c.su.clone();
        tasks.push(tokio::spawn(async move {
            let mut ops = Vec::new();
            for _ in 0..PER_SENDER {
                let mut bytes = [0u8; 18];
                rand::rng().fill_bytes(&mut bytes);
                let token = b64(bytes);
                let mut url = su.clone();
                url.set_path(&format!("{}/messages", su.path()));
                let body =
                    serde_json::to_vec(&serde_json::json!({ "msg": token })).unwrap_or_default();
                let req = Request::new("POST", url)
                    .header("Content-Type", "application/json")
                    .body(body);
                let invoke = clock.elapsed().as_micros() as u64;
                let ex = env.http.execute(req).await;
                let ret = clock.elapsed().as_micros() as u64;
                let effect = match &ex.response {
                    Ok(r) if r.status == 200 => Effect::Done,
                    Ok(r) if r.status < 500 => Effect::Refused(r.status.to_string()),
                    _ => Effect::Unknown,
                };
                ops.push(HOp {
                    actor: format!("sender{s}"),
                    queue: 0,
                    invoke,
                    ret,
                    action: Action::Send {
                        tokens: vec![token],
                    },
                    effect,
                });
            }
            ops
        }));
    }
    let senders_done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut readers = Vec::new();
    for r in 0..READERS {
        let env = env.clone();
        let ru = c.ru.clone();
        let rk = rk.clone();
        let done = senders_done.clone();
        readers.push(tokio::spawn(async move {
            let mut ops = Vec::new();
            // Read and delete until the senders are done and a page comes back empty.
            for _ in 0..200 {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst) == SENDERS;
                let page = read_page(&env, &ru, &rk, &format!("reader{r}"), &clock, finished).await;
                let (op, items) = page;
                let empty =
                    matches!(&op.action, Action::Retrieve { got: Some(g), .. } if g.is_empty());
                ops.push(op);
                for (id, token) in items {
                    ops.push(
                        delete_one(&env, &ru, &rk, &format!("reader{r}"), &clock, &id, &token)
                            .await,
                    );
                }
                if finished && empty {
                    break;
                }
                if empty {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            }
            ops
        }));
    }
    let mut hist = Vec::new();
    for t in tasks {
        hist.extend(
            t.await
                .map_err(|e| Stop::Error(format!("a sender task failed: {e}")))?,
        );
        senders_done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    for t in readers {
        hist.extend(
            t.await
                .map_err(|e| Stop::Error(format!("a reader task failed: {e}")))?,
        );
    }
    ctx.requests += hist.len();
    ctx.signatures += hist
        .iter()
        .filter(|o| !matches!(o.action, Action::Send { .. }))
        .count();
    hist.sort_by_key(|o| o.invoke);
    if let Some(o) = hist
        .iter()
        .find(|o| matches!(&o.effect, Effect::Refused(s) if s.starts_with('5')))
    {
        return Err(Broken::new("B-NO-5XX", "no 5xx", format!("{:?}", o.effect)).into());
    }
    struct Names;
    impl Naming for Names {
        fn token(&self, t: &str) -> String {
            t.chars().take(12).collect()
        }
    }
    let violations = history::check(&hist, &Names);
    if let Some(v) = violations.first() {
        return Err(Broken::new(
            "B-CONCURRENT",
            "every acknowledged message removed exactly once, in its sender's order",
            format!("{:?}: {}", v.kind, v.what),
        )
        .into());
    }
    Ok(())
}

/// One page read by a reader: the history operation (a removing retrieval when it is the
/// final empty one) and the page's `(id, msg)` pairs.
async fn read_page(
    env: &Env,
    ru: &url::Url,
    rk: &crate::profiles::edge_v1::sign::Key,
    actor: &str,
    clock: &Instant,
    last: bool,
) -> (HOp, Vec<(String, String)>) {
    let mut url = ru.clone();
    url.set_path(&format!("{}/messages", ru.path()));
    let target = url.path().to_string();
    let sig = b64(rk.sign(&crate::profiles::edge_v1::sign::signing_input(
        "GET", &target, b"",
    )));
    let req = Request::new("GET", url).header("Authorization", format!("EMSig {sig}"));
    let invoke = clock.elapsed().as_micros() as u64;
    let ex = env.http.execute(req).await;
    let ret = clock.elapsed().as_micros() as u64;
    let mut items = Vec::new();
    let got = match &ex.response {
        Ok(r) if r.status == 200 => serde_json::from_slice::<Value>(&r.body).ok().and_then(|v| {
            let list = v.get("messages")?.as_array()?.clone();
            let mut tokens = Vec::new();
            for m in list {
                let id = m.get("id")?.as_str()?.to_string();
                let token = m.get("msg")?.as_str()?.to_string();
                if is_message_id(&id) {
                    items.push((id, token.clone()));
                }
                tokens.push(token);
            }
            Some(tokens)
        }),
        _ => None,
    };
    let effect = if got.is_some() {
        Effect::Done
    } else {
        Effect::Unknown
    };
    let empty = got.as_ref().is_some_and(Vec::is_empty);
    let op = HOp {
        actor: actor.to_string(),
        queue: 0,
        invoke,
        ret,
        action: Action::Retrieve {
            page: env.page_size.unwrap_or(1000),
            // Reading removes nothing; only the final empty page stands for "all removed".
            keep: !(last && empty),
            got,
        },
        effect,
    };
    (op, items)
}

/// A reader's delete of one message: a removing retrieval of that token when it succeeded.
async fn delete_one(
    env: &Env,
    ru: &url::Url,
    rk: &crate::profiles::edge_v1::sign::Key,
    actor: &str,
    clock: &Instant,
    id: &str,
    token: &str,
) -> HOp {
    let mut url = ru.clone();
    url.set_path(&format!("{}/messages/{id}", ru.path()));
    let target = url.path().to_string();
    let sig = b64(rk.sign(&crate::profiles::edge_v1::sign::signing_input(
        "DELETE", &target, b"",
    )));
    let req = Request::new("DELETE", url).header("Authorization", format!("EMSig {sig}"));
    let invoke = clock.elapsed().as_micros() as u64;
    let ex = env.http.execute(req).await;
    let ret = clock.elapsed().as_micros() as u64;
    let (action, effect) = match &ex.response {
        Ok(r) if r.status == 200 => (
            Action::Retrieve {
                page: 1,
                keep: false,
                got: Some(vec![token.to_string()]),
            },
            Effect::Done,
        ),
        Ok(r) if r.status < 500 => (Action::Other, Effect::Refused(r.status.to_string())),
        _ => (
            Action::Retrieve {
                page: 1,
                keep: false,
                got: None,
            },
            Effect::Unknown,
        ),
    };
    HOp {
        actor: actor.to_string(),
        queue: 0,
        invoke,
        ret,
        action,
        effect,
    }
}
