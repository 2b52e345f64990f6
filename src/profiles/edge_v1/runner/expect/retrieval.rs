//! The answers about queued messages: a retrieval's page (count, each message's form, content,
//! id and timestamp, `nextMessageID`) and the count a message deletion reports.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::fail::{body_text, extra_members, fail, object, short};
use crate::client::Response;
use crate::engine::event::Verdict;
use crate::profiles::edge_v1::case::Expect;
use crate::profiles::edge_v1::model::Selection;
use crate::profiles::edge_v1::runner::state::{CaseRun, StepFailure};
use crate::profiles::edge_v1::wire;

/// A message deletion answered: `deleted` within the model's range (and as the step asks).
pub(super) fn check_deleted_messages(
    run: &CaseRun<'_>,
    n: usize,
    sel: &Selection,
    exp: &Expect,
    resp: &Response,
    conn: &str,
) -> Result<usize, StepFailure> {
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
            deleted_rule(run, conn, sel.max, d),
            format!("deleted {}", sel.max),
            format!("deleted {d}"),
        ));
    }
    if let Some(want) = exp.deleted {
        if want as usize != d {
            return Err(fail(
                run.level_verdict(),
                n,
                deleted_rule(run, conn, want as usize, d),
                format!("deleted {want}"),
                format!("deleted {d}"),
            ));
        }
    }
    Ok(d)
}

/// The rule a `deleted` count of `got` where `want` were due breaks: exactly PAGE_SIZE out of more
/// is the selection capped by PAGE_SIZE (S-DELM-SEL: not capped); more than the connection
/// holds after a send to it was refused is that send having stored messages (the refusal's
/// rule); any other count is S-DELM-200 (n the number removed).
fn deleted_rule(run: &CaseRun<'_>, conn: &str, want: usize, got: usize) -> &'static str {
    if run.model.page_size.is_some_and(|ps| got == ps && want > ps) {
        return "S-DELM-SEL";
    }
    match run.refused_sends.get(conn) {
        Some(rule) if got > want => rule,
        _ => "S-DELM-200",
    }
}

/// A retrieval answered: the page the model selects, each message as sent and as known
/// before, and `nextMessageID` naming the first message left. Returns the count.
pub(super) fn check_retrieved(
    run: &mut CaseRun<'_>,
    n: usize,
    sel: &Selection,
    resp: &Response,
    exp: &Expect,
    conn: &str,
) -> Result<usize, StepFailure> {
    let o = object(n, "S-RETR-200", resp)?;
    let msgs = messages(n, &o, resp)?;
    check_count(run, n, sel, msgs, conn)?;
    let mut last_ts: Option<&str> = None;
    for (name, m) in sel.candidates.iter().zip(msgs) {
        let entry = Entry::read(n, m)?;
        check_order(n, last_ts, entry.ts)?;
        last_ts = Some(entry.ts);
        check_content(run, n, conn, name, &entry)?;
        track_ts(run, n, name, entry.ts)?;
        track_id(run, n, name, entry.id)?;
    }
    let count = msgs.len();
    check_expected_messages(run, n, exp, sel, count)?;
    check_next(run, n, o.get("nextMessageID"), sel.candidates.get(count))?;
    check_expected_next(run, n, exp, sel.candidates.get(count))?;
    for name in sel.candidates.iter().take(count) {
        if sel.removes {
            run.kept.remove(name);
        } else {
            run.kept.insert(name.clone());
        }
    }
    Ok(count)
}

/// The `messages` array of a retrieval, with no other member than `nextMessageID` beside it.
fn messages<'o>(
    n: usize,
    o: &'o Map<String, Value>,
    resp: &Response,
) -> Result<&'o Vec<Value>, StepFailure> {
    let extra = extra_members(o, &["messages", "nextMessageID"]);
    if !extra.is_empty() {
        return Err(fail(
            Verdict::Fail,
            n,
            "S-RETR-200",
            "only messages and nextMessageID".into(),
            format!("also {extra:?}"),
        ));
    }
    o.get("messages").and_then(Value::as_array).ok_or_else(|| {
        fail(
            Verdict::Fail,
            n,
            "S-RETR-200",
            "an array `messages`".into(),
            body_text(resp),
        )
    })
}

/// As many messages as the model's selection allows; too many because removed ones came back
/// is history (S-PRIV-NOHIST-MSG), because messages of a deleted connection came back, a
/// connection that was not gone (S-DEL-PERM), or because a refused send stored messages (the
/// rule of that refusal), not paging.
fn check_count(
    run: &CaseRun<'_>,
    n: usize,
    sel: &Selection,
    msgs: &[Value],
    conn: &str,
) -> Result<(), StepFailure> {
    let count = msgs.len();
    if count >= sel.min && count <= sel.max {
        return Ok(());
    }
    let want = if sel.min == sel.max {
        format!("{} messages", sel.max)
    } else {
        format!("{} to {} messages", sel.min, sel.max)
    };
    let back: Vec<&str> = msgs
        .iter()
        .filter_map(|m| m.get("msg").and_then(Value::as_str))
        .map(|got| misplaced_rule(run, conn, got))
        .collect();
    let refused = msgs
        .iter()
        .filter_map(|m| m.get("msg").and_then(Value::as_str))
        .find_map(|got| refused_send_rule(run, got));
    let rule = if let Some(rule) = refused {
        rule
    } else if back.contains(&"S-DEL-PERM") {
        "S-DEL-PERM"
    } else if back.contains(&"S-RETR-REMOVE") {
        "S-PRIV-NOHIST-MSG"
    } else {
        "S-RETR-PAGE"
    };
    Err(fail(
        Verdict::Fail,
        n,
        rule,
        want,
        format!("{count} messages"),
    ))
}

/// One message of a page: exactly `{id, ts, msg}`, a non-empty id, a UTC timestamp.
struct Entry<'m> {
    id: &'m str,
    ts: &'m str,
    msg: &'m str,
}

impl<'m> Entry<'m> {
    /// Read and check the form of message `m` of step `n`'s page.
    fn read(n: usize, m: &'m Value) -> Result<Entry<'m>, StepFailure> {
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
        let msg = obj["msg"].as_str().unwrap_or_default();
        Ok(Entry { id, ts, msg })
    }
}

/// Order two RFC 3339 timestamps (None when either does not parse).
fn ts_cmp(a: &str, b: &str) -> Option<Ordering> {
    use time::format_description::well_known::Rfc3339;
    let a = time::OffsetDateTime::parse(a, &Rfc3339).ok()?;
    let b = time::OffsetDateTime::parse(b, &Rfc3339).ok()?;
    Some(a.cmp(&b))
}

/// Timestamps of a page do not go backwards.
fn check_order(n: usize, prev: Option<&str>, ts: &str) -> Result<(), StepFailure> {
    match prev {
        Some(prev) if ts_cmp(prev, ts) == Some(Ordering::Greater) => Err(fail(
            Verdict::Fail,
            n,
            "B-TS-FMT",
            format!("ts not before {prev}"),
            ts.to_string(),
        )),
        _ => Ok(()),
    }
}

/// The message in place `name` is the one sent as `name`.
fn check_content(
    run: &CaseRun<'_>,
    n: usize,
    conn: &str,
    name: &str,
    entry: &Entry<'_>,
) -> Result<(), StepFailure> {
    let want = run.msgs.get(name).cloned().unwrap_or_default();
    if entry.msg == want {
        return Ok(());
    }
    Err(fail(
        Verdict::Fail,
        n,
        misplaced_rule(run, conn, entry.msg),
        format!("message `{name}` ({})", short(&want)),
        format!("{} (id {})", short(entry.msg), entry.id),
    ))
}

/// A message keeps the timestamp it was first seen with.
fn track_ts(run: &mut CaseRun<'_>, n: usize, name: &str, ts: &str) -> Result<(), StepFailure> {
    match run.msg_ts.get(name) {
        Some(known) if known != ts => Err(fail(
            Verdict::Fail,
            n,
            "S-RETR-NOTRACK",
            format!("message `{name}` with ts {known} as before"),
            format!("ts {ts}"),
        )),
        Some(_) => Ok(()),
        None => {
            run.msg_ts.insert(name.to_string(), ts.to_string());
            Ok(())
        }
    }
}

/// A message keeps its id, and no two messages share one.
fn track_id(run: &mut CaseRun<'_>, n: usize, name: &str, id: &str) -> Result<(), StepFailure> {
    match run.msg_ids.get(name) {
        Some(known) if known != id => Err(fail(
            Verdict::Fail,
            n,
            "S-RETR-NOTRACK",
            format!("message `{name}` with id {known}"),
            format!("id {id}"),
        )),
        Some(_) => Ok(()),
        None => {
            if let Some(other) = holder_of(run, id) {
                return Err(fail(
                    Verdict::Fail,
                    n,
                    "B-MID-FMT",
                    format!("a unique id for `{name}`"),
                    format!("the id of `{other}` ({id})"),
                ));
            }
            run.msg_ids.insert(name.to_string(), id.to_string());
            Ok(())
        }
    }
}

/// The message already known by `id`.
fn holder_of(run: &CaseRun<'_>, id: &str) -> Option<String> {
    run.msg_ids
        .iter()
        .find(|(_, v)| v.as_str() == id)
        .map(|(k, _)| k.clone())
}

/// The page holds the messages the step names, in order (`expect.messages`).
fn check_expected_messages(
    run: &CaseRun<'_>,
    n: usize,
    exp: &Expect,
    sel: &Selection,
    count: usize,
) -> Result<(), StepFailure> {
    let Some(want) = &exp.messages else {
        return Ok(());
    };
    let got: Vec<&String> = sel.candidates.iter().take(count).collect();
    if got
        .iter()
        .map(|s| s.as_str())
        .ne(want.iter().map(String::as_str))
    {
        return Err(fail(
            run.level_verdict(),
            n,
            "S-RETR-200",
            format!("messages {want:?}"),
            format!("{got:?}"),
        ));
    }
    Ok(())
}

/// `nextMessageID` is present exactly when a message remains, and is that message's id.
fn check_next(
    run: &mut CaseRun<'_>,
    n: usize,
    next: Option<&Value>,
    remaining: Option<&String>,
) -> Result<(), StepFailure> {
    let wrong = |expected: String, actual: String| {
        Err(fail(Verdict::Fail, n, "S-RETR-NEXT", expected, actual))
    };
    match (next, remaining) {
        (None, None) => Ok(()),
        (Some(Value::String(id)), Some(name)) => match run.msg_ids.get(name) {
            Some(known) if known != id => wrong(
                format!("nextMessageID {known} (message `{name}`)"),
                id.clone(),
            ),
            Some(_) => Ok(()),
            None => {
                if let Some(other) = holder_of(run, id) {
                    return wrong(
                        format!("the id of `{name}`"),
                        format!("the id of `{other}`"),
                    );
                }
                run.msg_ids.insert(name.clone(), id.clone());
                Ok(())
            }
        },
        (Some(v), None) => wrong("no nextMessageID (nothing remains)".into(), v.to_string()),
        (None, Some(name)) => wrong(format!("nextMessageID of `{name}`"), "none".into()),
        (Some(v), Some(_)) => wrong("a string nextMessageID".into(), v.to_string()),
    }
}

/// The first message left is the one the step names (`expect.next`).
fn check_expected_next(
    run: &CaseRun<'_>,
    n: usize,
    exp: &Expect,
    remaining: Option<&String>,
) -> Result<(), StepFailure> {
    let Some(want) = &exp.next else {
        return Ok(());
    };
    let got = remaining.cloned();
    if *want != got {
        return Err(fail(
            run.level_verdict(),
            n,
            "S-RETR-NEXT",
            format!("next {want:?}"),
            format!("{got:?}"),
        ));
    }
    Ok(())
}

/// The rule a refused send broke when `got` is one of its messages (see
/// `CaseRun::note_refused_send`).
fn refused_send_rule(run: &CaseRun<'_>, got: &str) -> Option<&'static str> {
    let name = run
        .msgs
        .iter()
        .find(|(_, v)| v.as_str() == got)
        .map(|(k, _)| k)?;
    run.refused_msgs.get(name).copied()
}

/// The rule a message in the wrong place breaks: one of a send the server refused (the rule of
/// that refusal), one that was queued on a connection when it was deleted (S-DEL-PERM), one
/// removed before (S-RETR-REMOVE), one of another connection (B-ISOLATION), one of this
/// connection out of order (S-RETR-200), or one never sent as such (B-MSG-FMT: altered).
fn misplaced_rule(run: &CaseRun<'_>, conn: &str, got: &str) -> &'static str {
    if let Some(rule) = refused_send_rule(run, got) {
        return rule;
    }
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
        _ if run.model.gone_with_connection(name) => "S-DEL-PERM",
        _ if removed => "S-RETR-REMOVE",
        Some(other) if other != conn => "B-ISOLATION",
        _ => "S-RETR-200",
    }
}
