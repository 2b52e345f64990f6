//! The built-in case files of `simplex-v5` (`conformance/simplex-v5/cases/`), and case files
//! given to `replay`: loading and validation.

use std::collections::BTreeSet;
use std::path::Path;

use super::case::{CaseFile, Step};
use super::runner::probes;

macro_rules! builtin_files {
    ($($name:literal),* $(,)?) => {
        /// The built-in case files: (stem, JSON).
        const BUILTIN: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../../conformance/simplex-v5/cases/", $name, ".json")))),*
        ];
    };
}

builtin_files!(
    "create",
    "secure",
    "delete",
    "retrieval",
    "messages",
    "send",
    "routing",
    "websocket",
    "rest-websocket",
    "timing",
);

pub use crate::profiles::case_files::CaseFileError;

/// The document that describes the format of the case files.
const DOC: &str = "docs/simplex-v5.md";

/// The stems of the built-in case files (`create`, `websocket`, ...).
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(name, _)| *name).collect()
}

/// The built-in case files.
pub fn builtin() -> Result<Vec<CaseFile>, CaseFileError> {
    crate::profiles::case_files::builtin(BUILTIN, "conformance/simplex-v5/cases", DOC)
}

/// Case files from disk.
pub fn read(paths: &[impl AsRef<Path>]) -> Result<Vec<CaseFile>, CaseFileError> {
    crate::profiles::case_files::read(paths, DOC)
}

/// The rules a step names.
fn rules(step: &Step) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    match step {
        Step::Create(r)
        | Step::Secure(r)
        | Step::Send(r)
        | Step::Retrieve(r)
        | Step::Get(r)
        | Step::DeleteMessage(r)
        | Step::Delete(r)
        | Step::Request(r) => {
            if let Some(e) = &r.expect {
                out.extend(e.rule.as_deref());
                out.extend(e.also.iter().map(String::as_str));
            }
        }
        Step::WsConnect(s) => out.extend(s.rule.as_deref()),
        Step::Subscribe(r) | Step::Unsubscribe(r) | Step::WsDelete(r) => {
            out.extend(r.rule.as_deref())
        }
        Step::WsExpect(s) => {
            out.push(&s.rule);
            out.extend(s.also.iter().map(String::as_str));
        }
        Step::ExpectPushes(s) => out.push(&s.rule),
        Step::ExpectNoPush(s) => out.push(&s.rule),
        _ => {}
    }
    out
}

/// The session a WebSocket step uses (other than `ws-connect`).
fn session(step: &Step) -> Option<&str> {
    match step {
        Step::Subscribe(r) | Step::Unsubscribe(r) | Step::WsDelete(r) => Some(&r.session),
        Step::WsSend(s) => Some(&s.session),
        Step::WsExpect(s) => Some(&s.session),
        Step::ExpectPushes(s) => Some(&s.session),
        Step::ExpectNoPush(s) => Some(&s.session),
        _ => None,
    }
}

/// Everything wrong with a set of case files: duplicate IDs, IDs outside their area, unknown
/// rules and probes, sessions used before they are opened, messages sent twice under one
/// name, requests without a method or expectation, signature faults a subscribe cannot have.
pub fn validate(files: &[CaseFile], known_rule: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    for f in files {
        for c in &f.cases {
            if !ids.insert(c.id.as_str()) {
                problems.push(format!("{}: the ID is used twice", c.id));
            }
            if !c.id.starts_with(&format!("{}/", f.area)) {
                problems.push(format!("{}: the ID must start with `{}/`", c.id, f.area));
            }
            if c.requirements.is_empty() {
                problems.push(format!("{}: no requirements", c.id));
            }
            for r in &c.requirements {
                if !known_rule(r) {
                    problems.push(format!("{}: unknown rule {r}", c.id));
                }
            }
            if c.steps.is_empty() {
                problems.push(format!("{}: no steps", c.id));
            }
            let mut open: BTreeSet<&str> = BTreeSet::new();
            let mut sent: BTreeSet<&str> = BTreeSet::new();
            for (i, s) in c.steps.iter().enumerate() {
                let n = i + 1;
                for r in rules(s) {
                    if !known_rule(r) {
                        problems.push(format!("{} step {n}: unknown rule {r}", c.id));
                    }
                }
                match s {
                    Step::WsConnect(w) => {
                        open.insert(&w.session);
                    }
                    Step::WsClose(w) if !open.remove(w.session.as_str()) => {
                        problems.push(format!("{} step {n}: `{}` is not open", c.id, w.session));
                    }
                    Step::Probe(p) if !probes::NAMES.contains(&p.name.as_str()) => {
                        problems.push(format!("{} step {n}: unknown probe {}", c.id, p.name));
                    }
                    Step::Send(r) => match &r.msg {
                        Some(m) if !sent.insert(m) => problems.push(format!(
                            "{} step {n}: message `{m}` is sent twice; name each message once",
                            c.id
                        )),
                        Some(_) => {}
                        None => problems.push(format!("{} step {n}: a send needs `msg`", c.id)),
                    },
                    Step::Request(r) => {
                        if r.method.is_none() {
                            problems.push(format!("{} step {n}: a request needs `method`", c.id));
                        }
                        if r.expect.as_ref().is_none_or(|e| e.status.is_empty()) {
                            problems.push(format!(
                                "{} step {n}: a request needs `expect` with statuses",
                                c.id
                            ));
                        }
                    }
                    Step::Subscribe(r) => {
                        for m in &r.also_send {
                            if !sent.insert(m) {
                                problems.push(format!(
                                    "{} step {n}: message `{m}` is sent twice; name each message once",
                                    c.id
                                ));
                            }
                        }
                        if let Some(f) = r.sign.as_ref().and_then(|s| s.fault) {
                            if !crate::profiles::simplex_v5::runner::WS_FAULTS.contains(&f) {
                                problems.push(format!(
                                    "{} step {n}: the fault {f:?} concerns HTTP requests",
                                    c.id
                                ));
                            }
                        }
                    }
                    _ => {}
                }
                if let Some(name) = session(s) {
                    if !open.contains(name) {
                        problems.push(format!(
                            "{} step {n}: session `{name}` is used before a ws-connect step",
                            c.id
                        ));
                    }
                }
            }
        }
    }
    problems
}
