//! Checks one response against a step's expectations and the model's prediction, and learns
//! what the server chose (URIs, message ids).

use serde_json::{Map, Value};

use super::{level_verdict, CaseRun, StepFailure};
use crate::client::{Exchange, Response, TransportError};
use crate::engine::event::{Failure, Verdict};
use crate::profiles::edge_v1::case::Step;
use crate::profiles::edge_v1::model::{Endpoint, Outcome, Prediction, Selection};
use crate::profiles::edge_v1::wire;

/// What a passing step tells the model.
#[derive(Debug, Clone, Copy)]
pub struct StepOutcome {
    /// The status.
    pub status: u16,
    /// Messages returned or deleted.
    pub count: Option<usize>,
}

fn fail(verdict: Verdict, n: usize, rule: &str, expected: String, actual: String) -> StepFailure {
    StepFailure {
        verdict,
        message: format!("step {n}: {rule}: expected {expected}, got {actual}"),
        failure: Failure {
            step: n,
            rule: rule.to_string(),
            expected,
            actual,
        },
    }
}

fn header<'r>(resp: &'r Response, name: &'r str) -> impl Iterator<Item = &'r str> + 'r {
    resp.headers
        .iter()
        .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn body_text(resp: &Response) -> String {
    let t = String::from_utf8_lossy(&resp.body);
    let t: String = t.chars().take(200).collect();
    if t.is_empty() {
        "an empty body".into()
    } else {
        format!("body {t}")
    }
}

fn statuses(s: impl IntoIterator<Item = u16>) -> String {
    let v: Vec<String> = s.into_iter().map(|x| x.to_string()).collect();
    if v.len() > 6 {
        format!("a status in {}..{}", v[0], v[v.len() - 1])
    } else {
        format!("status {}", v.join(" or "))
    }
}

/// Check the response of step `n`.
pub fn check(
    run: &mut CaseRun<'_>,
    n: usize,
    step: &Step,
    endpoint: Endpoint,
    pred: &Prediction,
    ex: &Exchange,
) -> Result<StepOutcome, StepFailure> {
    let resp = match &ex.response {
        Ok(r) => r,
        Err(e) => {
            // A connection closed or reset without a response is the server's fault
            // (B-NO-5XX); a timeout or a refused connection cannot be told from the network's.
            let (verdict, rule) = match e {
                TransportError::Closed(_) => (Verdict::Fail, "B-NO-5XX"),
                TransportError::Timeout => (Verdict::Error, "B-NO-5XX"),
                _ => (Verdict::Error, ""),
            };
            return Err(StepFailure {
                verdict,
                message: format!("step {n}: no response: {e}"),
                failure: Failure {
                    step: n,
                    rule: rule.into(),
                    expected: "a response".into(),
                    actual: e.to_string(),
                },
            });
        }
    };
    let status = resp.status;
    if status >= 500 {
        return Err(fail(
            Verdict::Fail,
            n,
            "B-NO-5XX",
            "no 5xx".into(),
            format!("{status} with {}", body_text(resp)),
        ));
    }
    let explicit = step.expect.as_ref().and_then(|e| e.status.clone());
    match &explicit {
        Some(allowed) if !allowed.contains(&status) => {
            let rule = run.rules.first().cloned().unwrap_or_default();
            return Err(fail(
                level_verdict(run.level),
                n,
                &rule,
                statuses(allowed.iter().copied()),
                format!("{status} with {}", body_text(resp)),
            ));
        }
        Some(_) => {}
        None => {
            if !pred.allows(status) {
                return Err(fail(
                    Verdict::Fail,
                    n,
                    pred.rule,
                    statuses(pred.statuses.iter().copied()),
                    format!("{status} with {}", body_text(resp)),
                ));
            }
            if let Some((pref, rule)) = &pred.preferred {
                // Only a SHOULD-level case checks the preferred status.
                if !pref.contains(&status)
                    && run.level != crate::profiles::edge_v1::case::Level::Must
                    && run.rules.iter().any(|r| r == rule)
                    && run.warning.is_none()
                {
                    run.warning = Some(fail(
                        Verdict::Warn,
                        n,
                        rule,
                        statuses(pref.iter().copied()),
                        status.to_string(),
                    ));
                }
            }
        }
    }
    let exp = step.expect.clone().unwrap_or_default();
    let case_verdict = level_verdict(run.level);
    let case_rule = run.rules.first().cloned().unwrap_or_default();
    if exp.no_store
        && !header(resp, "cache-control").any(|v| v.to_ascii_lowercase().contains("no-store"))
    {
        return Err(fail(
            case_verdict,
            n,
            "B-CACHE",
            "Cache-Control: no-store".into(),
            "no such header".into(),
        ));
    }
    if exp.no_cookie {
        if let Some(c) = header(resp, "set-cookie").next() {
            return Err(fail(
                case_verdict,
                n,
                "B-NO-COOKIE",
                "no Set-Cookie".into(),
                format!("Set-Cookie: {c}"),
            ));
        }
    }
    if exp.empty_body && !resp.body.is_empty() {
        return Err(fail(
            case_verdict,
            n,
            &case_rule,
            "an empty body".into(),
            body_text(resp),
        ));
    }
    if exp.json_object && wire::parse_object_strict(&resp.body).is_err() {
        return Err(fail(
            case_verdict,
            n,
            &case_rule,
            "a JSON object body".into(),
            body_text(resp),
        ));
    }
    if !(200..300).contains(&status) {
        return Ok(StepOutcome {
            status,
            count: None,
        });
    }
    if resp.truncated {
        return Err(fail(
            Verdict::Error,
            n,
            "",
            "a body under the size cap".into(),
            "a truncated body".into(),
        ));
    }
    let count = check_success(run, n, step, endpoint, pred, resp, &ex.request.body)?;
    Ok(StepOutcome { status, count })
}

fn object(n: usize, rule: &str, resp: &Response) -> Result<Map<String, Value>, StepFailure> {
    wire::parse_object_strict(&resp.body).map_err(|e| {
        fail(
            Verdict::Fail,
            n,
            rule,
            "a JSON object body".into(),
            format!("{} ({e})", body_text(resp)),
        )
    })
}

fn uri(
    run: &CaseRun<'_>,
    n: usize,
    rule: &str,
    o: &Map<String, Value>,
    name: &str,
) -> Result<url::Url, StepFailure> {
    let s = o.get(name).and_then(Value::as_str).ok_or_else(|| {
        fail(
            Verdict::Fail,
            n,
            rule,
            format!("a string `{name}`"),
            format!("{:?}", o.get(name)),
        )
    })?;
    wire::resolve_uri(run.ctx.ce(), s).map_err(|e| {
        fail(
            Verdict::Fail,
            n,
            rule,
            format!("`{name}` an absolute URL or path"),
            format!("{s:?} ({e})"),
        )
    })
}

fn check_success(
    run: &mut CaseRun<'_>,
    n: usize,
    step: &Step,
    endpoint: Endpoint,
    pred: &Prediction,
    resp: &Response,
    sent: &[u8],
) -> Result<Option<usize>, StepFailure> {
    let exp = &step.expect.clone().unwrap_or_default();
    let case_verdict = level_verdict(run.level);
    match &pred.outcome {
        Outcome::Rejected => Ok(None),
        Outcome::Created => {
            let o = object(n, "S-CREATE-201", resp)?;
            let ru = uri(run, n, "S-CREATE-201", &o, "recipientURI")?;
            let su = uri(run, n, "S-CREATE-201", &o, "senderURI")?;
            if ru == su {
                return Err(fail(
                    Verdict::Fail,
                    n,
                    "S-URI-GEN",
                    "RU ≠ SU".into(),
                    format!("both {ru}"),
                ));
            }
            let extra: Vec<&String> = o
                .keys()
                .filter(|k| *k != "recipientURI" && *k != "senderURI")
                .collect();
            if exp.no_extra && !extra.is_empty() {
                return Err(fail(
                    case_verdict,
                    n,
                    "B-CREATE-ONLY",
                    "only recipientURI and senderURI".into(),
                    format!("also {extra:?}"),
                ));
            }
            let cid = sent_cid(sent);
            run.created(step, cid, ru, su);
            Ok(None)
        }
        Outcome::Updated {
            recipient_uri,
            sender_uri,
        } => {
            let rule = if endpoint == Endpoint::Update {
                "S-RUPD-200"
            } else {
                "S-SUPD-200"
            };
            let o = if resp.body.is_empty() {
                Map::new()
            } else {
                object(n, rule, resp)?
            };
            for (want, name) in [(*recipient_uri, "recipientURI"), (*sender_uri, "senderURI")] {
                let has = o.contains_key(name);
                if want != has {
                    return Err(fail(
                        Verdict::Fail,
                        n,
                        rule,
                        format!("`{name}` {}", if want { "present" } else { "absent" }),
                        body_text(resp),
                    ));
                }
                if want {
                    let u = uri(run, n, rule, &o, name)?;
                    let live = run
                        .conns
                        .get_mut(&step.conn)
                        .expect("updated connection is live");
                    let list = if name == "recipientURI" {
                        &mut live.ru
                    } else {
                        &mut live.su
                    };
                    if list.contains(&u) {
                        return Err(fail(
                            Verdict::Fail,
                            n,
                            "S-PRIV-NOHIST-KEYS",
                            format!("a new `{name}`"),
                            format!("an old one again: {u}"),
                        ));
                    }
                    list.push(u);
                }
            }
            if exp.no_extra {
                let extra: Vec<&String> = o
                    .keys()
                    .filter(|k| *k != "recipientURI" && *k != "senderURI")
                    .collect();
                if !extra.is_empty() {
                    return Err(fail(
                        case_verdict,
                        n,
                        rule,
                        "no properties besides the URIs requested".into(),
                        format!("also {extra:?}"),
                    ));
                }
            }
            if let Some(r) = &exp.returns {
                for name in ["recipientURI", "senderURI"] {
                    if r.iter().any(|x| x == name) != o.contains_key(name) {
                        return Err(fail(
                            case_verdict,
                            n,
                            rule,
                            format!("returns {r:?}"),
                            body_text(resp),
                        ));
                    }
                }
            }
            Ok(None)
        }
        Outcome::Deleted | Outcome::Sent => {
            let rule = if matches!(pred.outcome, Outcome::Deleted) {
                "S-DEL-200"
            } else {
                "S-SEND-200"
            };
            if !resp.body.is_empty() {
                return Err(fail(
                    Verdict::Fail,
                    n,
                    rule,
                    "an empty body".into(),
                    body_text(resp),
                ));
            }
            Ok(None)
        }
        Outcome::DeletedMessages(sel) => {
            let o = object(n, "S-DELM-200", resp)?;
            let d = o.get("deleted").and_then(Value::as_u64).ok_or_else(|| {
                fail(
                    Verdict::Fail,
                    n,
                    "S-DELM-200",
                    "an integer `deleted`".into(),
                    body_text(resp),
                )
            })? as usize;
            if d < sel.min || d > sel.max {
                return Err(fail(
                    Verdict::Fail,
                    n,
                    "S-DELM-200",
                    format!("deleted {}", sel.max),
                    format!("deleted {d}"),
                ));
            }
            if let Some(want) = exp.deleted {
                if want as usize != d {
                    return Err(fail(
                        case_verdict,
                        n,
                        "S-DELM-200",
                        format!("deleted {want}"),
                        format!("deleted {d}"),
                    ));
                }
            }
            Ok(Some(d))
        }
        Outcome::Retrieved(sel) => check_retrieved(run, n, sel, resp, exp, &step.conn).map(Some),
    }
}

/// The `connectionID` a create request carried.
fn sent_cid(sent: &[u8]) -> String {
    serde_json::from_slice::<Value>(sent)
        .ok()
        .and_then(|v| {
            v.get("connectionID")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Order two RFC 3339 timestamps (None when either does not parse).
fn ts_cmp(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    use time::format_description::well_known::Rfc3339;
    let a = time::OffsetDateTime::parse(a, &Rfc3339).ok()?;
    let b = time::OffsetDateTime::parse(b, &Rfc3339).ok()?;
    Some(a.cmp(&b))
}

fn check_retrieved(
    run: &mut CaseRun<'_>,
    n: usize,
    sel: &Selection,
    resp: &Response,
    exp: &crate::profiles::edge_v1::case::Expect,
    conn: &str,
) -> Result<usize, StepFailure> {
    let o = object(n, "S-RETR-200", resp)?;
    let extra: Vec<&String> = o
        .keys()
        .filter(|k| *k != "messages" && *k != "nextMessageID")
        .collect();
    if !extra.is_empty() {
        return Err(fail(
            Verdict::Fail,
            n,
            "S-RETR-200",
            "only messages and nextMessageID".into(),
            format!("also {extra:?}"),
        ));
    }
    let msgs = o.get("messages").and_then(Value::as_array).ok_or_else(|| {
        fail(
            Verdict::Fail,
            n,
            "S-RETR-200",
            "an array `messages`".into(),
            body_text(resp),
        )
    })?;
    let count = msgs.len();
    if count < sel.min || count > sel.max {
        let want = if sel.min == sel.max {
            format!("{} messages", sel.max)
        } else {
            format!("{} to {} messages", sel.min, sel.max)
        };
        // Too many because removed messages came back: that is history, not paging.
        let resurrected = msgs
            .iter()
            .filter_map(|m| m.get("msg").and_then(Value::as_str))
            .any(|got| misplaced_rule(run, conn, got) == "S-RETR-REMOVE");
        let rule = if resurrected {
            "S-PRIV-NOHIST-MSG"
        } else {
            "S-RETR-PAGE"
        };
        return Err(fail(
            Verdict::Fail,
            n,
            rule,
            want,
            format!("{count} messages"),
        ));
    }
    let mut last_ts: Option<String> = None;
    for (i, m) in msgs.iter().enumerate() {
        let name = &sel.candidates[i];
        let obj = m.as_object().ok_or_else(|| {
            fail(
                Verdict::Fail,
                n,
                "S-RETR-200",
                "message objects".into(),
                m.to_string(),
            )
        })?;
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        if keys != ["id", "msg", "ts"] {
            let rule = if keys.len() > 3 {
                "S-RETR-NOTRACK"
            } else {
                "S-RETR-200"
            };
            return Err(fail(
                Verdict::Fail,
                n,
                rule,
                "exactly {id, ts, msg}".into(),
                m.to_string(),
            ));
        }
        let id = obj["id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                fail(
                    Verdict::Fail,
                    n,
                    "B-MID-FMT",
                    "a non-empty string id".into(),
                    obj["id"].to_string(),
                )
            })?;
        let ts = obj["ts"].as_str().unwrap_or_default();
        if !wire::is_rfc3339_utc_z(ts) {
            return Err(fail(
                Verdict::Fail,
                n,
                "B-TS-FMT",
                "an RFC 3339 UTC timestamp ending in Z".into(),
                obj["ts"].to_string(),
            ));
        }
        if let Some(prev) = &last_ts {
            if ts_cmp(prev, ts) == Some(std::cmp::Ordering::Greater) {
                return Err(fail(
                    Verdict::Fail,
                    n,
                    "B-TS-FMT",
                    format!("ts not before {prev}"),
                    ts.to_string(),
                ));
            }
        }
        last_ts = Some(ts.to_string());
        let want_msg = run.msgs.get(name).cloned().unwrap_or_default();
        let got_msg = obj["msg"].as_str().unwrap_or_default();
        if got_msg != want_msg {
            let rule = misplaced_rule(run, conn, got_msg);
            return Err(fail(
                Verdict::Fail,
                n,
                rule,
                format!("message `{name}` ({})", short(&want_msg)),
                format!("{} (id {id})", short(got_msg)),
            ));
        }
        match run.msg_ts.get(name) {
            Some(known) if known != ts => {
                return Err(fail(
                    Verdict::Fail,
                    n,
                    "S-RETR-NOTRACK",
                    format!("message `{name}` with ts {known} as before"),
                    format!("ts {ts}"),
                ));
            }
            Some(_) => {}
            None => {
                run.msg_ts.insert(name.clone(), ts.to_string());
            }
        }
        match run.msg_ids.get(name) {
            Some(known) if known != id => {
                return Err(fail(
                    Verdict::Fail,
                    n,
                    "S-RETR-NOTRACK",
                    format!("message `{name}` with id {known}"),
                    format!("id {id}"),
                ));
            }
            Some(_) => {}
            None => {
                if let Some((other, _)) = run.msg_ids.iter().find(|(_, v)| v.as_str() == id) {
                    return Err(fail(
                        Verdict::Fail,
                        n,
                        "B-MID-FMT",
                        format!("a unique id for `{name}`"),
                        format!("the id of `{other}` ({id})"),
                    ));
                }
                run.msg_ids.insert(name.clone(), id.to_string());
            }
        }
    }
    if let Some(want) = &exp.messages {
        let got: Vec<&String> = sel.candidates.iter().take(count).collect();
        if got
            .iter()
            .map(|s| s.as_str())
            .ne(want.iter().map(String::as_str))
        {
            return Err(fail(
                level_verdict(run.level),
                n,
                "S-RETR-200",
                format!("messages {want:?}"),
                format!("{got:?}"),
            ));
        }
    }
    let next = o.get("nextMessageID");
    let remaining = sel.candidates.get(count);
    match (next, remaining) {
        (None, None) => {}
        (Some(Value::String(id)), Some(name)) => match run.msg_ids.get(name) {
            Some(known) if known != id => {
                return Err(fail(
                    Verdict::Fail,
                    n,
                    "S-RETR-NEXT",
                    format!("nextMessageID {known} (message `{name}`)"),
                    id.clone(),
                ));
            }
            Some(_) => {}
            None => {
                if let Some((other, _)) = run.msg_ids.iter().find(|(_, v)| *v == id) {
                    return Err(fail(
                        Verdict::Fail,
                        n,
                        "S-RETR-NEXT",
                        format!("the id of `{name}`"),
                        format!("the id of `{other}`"),
                    ));
                }
                run.msg_ids.insert(name.clone(), id.clone());
            }
        },
        (Some(v), None) => {
            return Err(fail(
                Verdict::Fail,
                n,
                "S-RETR-NEXT",
                "no nextMessageID (nothing remains)".into(),
                v.to_string(),
            ));
        }
        (None, Some(name)) => {
            return Err(fail(
                Verdict::Fail,
                n,
                "S-RETR-NEXT",
                format!("nextMessageID of `{name}`"),
                "none".into(),
            ));
        }
        (Some(v), Some(_)) => {
            return Err(fail(
                Verdict::Fail,
                n,
                "S-RETR-NEXT",
                "a string nextMessageID".into(),
                v.to_string(),
            ));
        }
    }
    if let Some(want) = &exp.next {
        let got = remaining.cloned();
        if *want != got {
            return Err(fail(
                level_verdict(run.level),
                n,
                "S-RETR-NEXT",
                format!("next {want:?}"),
                format!("{got:?}"),
            ));
        }
    }
    Ok(count)
}

/// The rule a message in the wrong place breaks: one removed before (S-RETR-REMOVE), one of
/// another connection (B-ISOLATION), one of this connection out of order (S-RETR-200), or one
/// never sent as such (B-MSG-FMT: altered).
fn misplaced_rule(run: &CaseRun<'_>, conn: &str, got: &str) -> &'static str {
    let Some(name) = run
        .msgs
        .iter()
        .find(|(_, v)| v.as_str() == got)
        .map(|(k, _)| k)
    else {
        return "B-MSG-FMT";
    };
    let removed = run
        .model
        .conn(conn)
        .is_some_and(|c| c.removed.contains(name));
    match run.model.message_conn(name) {
        _ if removed => "S-RETR-REMOVE",
        Some(other) if other != conn => "B-ISOLATION",
        _ => "S-RETR-200",
    }
}

fn short(s: &str) -> String {
    if s.len() > 24 {
        format!("{}…({} chars)", &s[..16], s.len())
    } else {
        s.to_string()
    }
}
