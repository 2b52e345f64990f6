//! The URIs a create or an update returns: present as asked, usable, new, and nothing else.

use serde_json::{Map, Value};
use url::Url;

use super::fail::{body_text, extra_members, fail, object};
use crate::client::origin::{judge_uri, UriOriginError};
use crate::client::Response;
use crate::engine::event::Verdict;
use crate::profiles::edge_v1::case::{Expect, Step};
use crate::profiles::edge_v1::model::Endpoint;
use crate::profiles::edge_v1::runner::state::{CaseRun, StepFailure};
use crate::profiles::edge_v1::wire;

const URIS: [&str; 2] = ["recipientURI", "senderURI"];

/// The URI member `name` of `o`, resolved against the create endpoint.
fn uri(
    run: &CaseRun<'_>,
    n: usize,
    rule: &str,
    o: &Map<String, Value>,
    name: &str,
) -> Result<Url, StepFailure> {
    let s = o.get(name).and_then(Value::as_str).ok_or_else(|| {
        fail(
            Verdict::Fail,
            n,
            rule,
            format!("a string `{name}`"),
            format!("{:?}", o.get(name)),
        )
    })?;
    let url = wire::resolve_uri(run.ctx.ce(), s).map_err(|e| match e {
        // The binding sets no length; the suite does not follow such a URI (an error).
        wire::WireError::UriTooLong { .. } => {
            let mut f = fail(
                Verdict::Error,
                n,
                rule,
                format!("`{name}` at most {} bytes long", wire::MAX_URI_LEN),
                e.to_string(),
            );
            f.message = format!("step {n}: `{name}`: {e}; not a verdict on the server");
            f
        }
        e => fail(
            Verdict::Fail,
            n,
            rule,
            format!("`{name}` an absolute URL or path"),
            format!("{:?} ({e})", s.chars().take(200).collect::<String>()),
        ),
    })?;
    on_allowed_origin(run, n, name, &url)?;
    Ok(url)
}

/// A URI the suite may follow: on the create endpoint's origin (or one `--allow-origin`
/// lists), without userinfo, and not a cleartext downgrade (B-URI-ORIGIN, S-GEN-HTTPS).
/// A URI that is not is never requested.
fn on_allowed_origin(
    run: &CaseRun<'_>,
    n: usize,
    name: &str,
    url: &Url,
) -> Result<(), StepFailure> {
    let ce = run.ctx.ce();
    match judge_uri(ce, url, &run.ctx.origins, run.ctx.allow_http) {
        Ok(_) => Ok(()),
        Err(e) => {
            let rule = match e {
                UriOriginError::Downgrade { .. } => "S-GEN-HTTPS",
                UriOriginError::Origin(_) => "B-URI-ORIGIN",
            };
            Err(fail(
                Verdict::Fail,
                n,
                rule,
                format!("`{name}` on the origin of {ce}, without userinfo"),
                format!("{e}; it was not requested"),
            ))
        }
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

/// A create answered: two distinct URIs (and only them when asked); the connection is live.
pub(super) fn check_created(
    run: &mut CaseRun<'_>,
    n: usize,
    step: &Step,
    exp: &Expect,
    resp: &Response,
    sent: &[u8],
) -> Result<(), StepFailure> {
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
    let extra = extra_members(&o, &URIS);
    if exp.no_extra && !extra.is_empty() {
        return Err(fail(
            run.level_verdict(),
            n,
            "B-CREATE-ONLY",
            "only recipientURI and senderURI".into(),
            format!("also {extra:?}"),
        ));
    }
    run.created(&step.conn, sent_cid(sent), ru, su);
    Ok(())
}

/// An update answered: each URI present exactly when the model expects a new one, and new.
pub(super) fn check_updated(
    run: &mut CaseRun<'_>,
    n: usize,
    step: &Step,
    endpoint: Endpoint,
    resp: &Response,
    wants: [bool; 2],
) -> Result<(), StepFailure> {
    let exp = step.expect.clone().unwrap_or_default();
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
    for (want, name) in wants.into_iter().zip(URIS) {
        if want != o.contains_key(name) {
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
            record_new_uri(run, n, &step.conn, name, u)?;
        }
    }
    check_update_members(run, n, rule, &exp, &o, resp)
}

/// Add a URI returned by an update to the connection's history; an old one again fails.
fn record_new_uri(
    run: &mut CaseRun<'_>,
    n: usize,
    conn: &str,
    name: &str,
    u: Url,
) -> Result<(), StepFailure> {
    let live = run.conns.get_mut(conn).expect("updated connection is live");
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
    Ok(())
}

/// The members of an update's answer the step asks for explicitly (`noExtra`, `returns`).
fn check_update_members(
    run: &CaseRun<'_>,
    n: usize,
    rule: &str,
    exp: &Expect,
    o: &Map<String, Value>,
    resp: &Response,
) -> Result<(), StepFailure> {
    let verdict = run.level_verdict();
    if exp.no_extra {
        let extra = extra_members(o, &URIS);
        if !extra.is_empty() {
            return Err(fail(
                verdict,
                n,
                rule,
                "no properties besides the URIs requested".into(),
                format!("also {extra:?}"),
            ));
        }
    }
    if let Some(r) = &exp.returns {
        for name in URIS {
            if r.iter().any(|x| x == name) != o.contains_key(name) {
                return Err(fail(
                    verdict,
                    n,
                    rule,
                    format!("returns {r:?}"),
                    body_text(resp),
                ));
            }
        }
    }
    Ok(())
}
