//! The built-in case files of `tassis-v2` (`conformance/tassis-v2/cases/`), and case files
//! given to `replay`: loading and validation.

use std::path::Path;

use super::case::{CaseFile, Msg, Step};
use super::runner::{probes, values::Values};

macro_rules! builtin_files {
    ($($name:literal),* $(,)?) => {
        /// The built-in case files: (stem, JSON).
        const BUILTIN: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../../conformance/tassis-v2/cases/", $name, ".json")))),*
        ];
    };
}

builtin_files!(
    "transport",
    "sequence",
    "login",
    "authenticated-ops",
    "key-distribution",
    "message-transport",
    "attachments",
);

pub use crate::profiles::case_files::CaseFileError;

/// The document that describes the format of the case files.
const DOC: &str = "docs/tassis-v2.md";

/// The built-in case files.
pub fn builtin() -> Result<Vec<CaseFile>, CaseFileError> {
    crate::profiles::case_files::builtin(BUILTIN, "conformance/tassis-v2/cases", DOC)
}

/// Case files from disk.
pub fn read(paths: &[impl AsRef<Path>]) -> Result<Vec<CaseFile>, CaseFileError> {
    crate::profiles::case_files::read(paths, DOC)
}

fn exprs(step: &Step) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    match step {
        Step::Login { device, .. } => out.push(device),
        Step::Ack { bytes, .. } => out.push(bytes),
        Step::ExpectOrder { order, .. } => out.extend(order.iter().map(String::as_str)),
        Step::ExpectPush { bytes, .. } | Step::ExpectNoPush { bytes, .. } => {
            out.extend(bytes.as_deref())
        }
        Step::Expect { pre_keys, .. } => {
            for p in pre_keys.iter().flatten() {
                out.push(&p.device);
                out.push(&p.signed_pre_key);
                out.extend(p.one_time_pre_key_in.iter().map(String::as_str));
            }
        }
        Step::Send { msg, .. } => match msg {
            Msg::Register {
                signed_pre_key,
                one_time_pre_keys,
            } => {
                out.push(signed_pre_key);
                out.extend(
                    one_time_pre_keys
                        .iter()
                        .map(String::as_str)
                        .filter(|k| !k.starts_with('@')),
                );
            }
            Msg::RequestPreKeys {
                identity_key,
                known_device_ids,
            } => {
                out.push(identity_key);
                out.extend(known_device_ids.iter().map(String::as_str));
            }
            Msg::OutboundMessage {
                to,
                unidentified_sender_message,
            } => {
                out.push(unidentified_sender_message);
                if let Some(a) = to {
                    out.push(&a.identity_key);
                    out.push(&a.device_id);
                }
            }
            _ => {}
        },
        _ => {}
    }
    out
}

fn rules(step: &Step) -> Option<&str> {
    match step {
        Step::Expect { rule, .. }
        | Step::ExpectPush { rule, .. }
        | Step::ExpectNoPush { rule, .. }
        | Step::ExpectSilence { rule, .. }
        | Step::ExpectOrder { rule, .. }
        | Step::ExpectClosed { rule, .. } => Some(rule),
        _ => None,
    }
}

/// Everything wrong with a set of case files: duplicate IDs, IDs outside their area, unknown
/// rules, bad byte expressions, unknown probes, connections used before they are opened.
pub fn validate(files: &[CaseFile], known_rule: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
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
            let mut open: Vec<&str> = Vec::new();
            for (i, s) in c.steps.iter().enumerate() {
                let n = i + 1;
                for e in exprs(s) {
                    if let Err(err) = Values::check(e) {
                        problems.push(format!("{} step {n}: {err}", c.id));
                    }
                }
                if let Some(r) = rules(s) {
                    if !known_rule(r) {
                        problems.push(format!("{} step {n}: unknown rule {r}", c.id));
                    }
                }
                if let Step::Probe { name } = s {
                    if !probes::NAMES.contains(&name.as_str()) {
                        problems.push(format!("{} step {n}: unknown probe {name}", c.id));
                    }
                }
                let conn = match s {
                    Step::Connect { conn } => {
                        open.push(conn);
                        None
                    }
                    Step::Login { conn, from, .. } => {
                        if let Some(f) = from {
                            if !open.contains(&f.as_str()) {
                                problems.push(format!("{} step {n}: `{f}` is not open", c.id));
                            }
                        }
                        Some(conn)
                    }
                    Step::ReplayLogin { conn, .. }
                    | Step::Send { conn, .. }
                    | Step::SendRaw { conn, .. }
                    | Step::Ack { conn, .. }
                    | Step::Expect { conn, .. }
                    | Step::ExpectPush { conn, .. }
                    | Step::ExpectNoPush { conn, .. }
                    | Step::ExpectSilence { conn, .. }
                    | Step::ExpectOrder { conn, .. }
                    | Step::ExpectClosed { conn, .. } => Some(conn),
                    Step::Disconnect { conn, .. } => {
                        let was = open.contains(&conn.as_str());
                        open.retain(|o| *o != conn);
                        if !was {
                            problems.push(format!("{} step {n}: `{conn}` is not open", c.id));
                        }
                        None
                    }
                    Step::Sleep { .. } | Step::Probe { .. } => None,
                };
                if let Some(conn) = conn {
                    if !open.contains(&conn.as_str()) {
                        problems.push(format!(
                            "{} step {n}: connection `{conn}` is used before a connect step",
                            c.id
                        ));
                    }
                }
            }
        }
    }
    problems
}
