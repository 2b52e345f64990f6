//! The case-file format (`docs/case-format.md`): serde types and validation.
//!
//! Scripted cases, generated findings and replays share this one format.

mod write;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::profiles::edge_v1::model::Endpoint;
use crate::profiles::edge_v1::sign::SigFault;

/// A file of cases for one area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaseFile {
    /// The area (`create`, `signatures`, ...).
    pub area: String,
    /// A human title for the area.
    pub title: String,
    /// The cases.
    pub cases: Vec<Case>,
}

pub use crate::engine::Level;
pub use write::{file_stem, write_case, write_file, WriteError};

/// A capability a case needs from the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Need {
    /// PAGE_SIZE known (`--page-size` or the embedded server).
    PageSize,
    /// Two servers (`--server` given twice).
    TwoServers,
    /// An `https://` target.
    Tls,
}

/// One check: a sequence of steps against a fresh set of connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Case {
    /// `<area>/<slug>`.
    pub id: String,
    /// What the case shows, in one line.
    pub title: String,
    /// Rule IDs the case checks.
    pub requirements: Vec<String>,
    /// MUST, SHOULD or MAY.
    pub level: Level,
    /// Capabilities needed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<Need>,
    /// The seed of the generating run, for found cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Who made the case (`prop`, `fuzz`), for found cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The steps.
    pub steps: Vec<Step>,
}

/// What a step does (`"op"` in case files: an endpoint's name, or `probe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// A request to one endpoint of the binding.
    Call(Endpoint),
    /// A built-in check written in code.
    Probe,
}

impl Op {
    /// The endpoint of a protocol operation (None for probes).
    pub fn endpoint(self) -> Option<Endpoint> {
        match self {
            Op::Call(e) => Some(e),
            Op::Probe => None,
        }
    }

    /// The name in case files.
    pub fn name(self) -> &'static str {
        match self {
            Op::Call(e) => e.name(),
            Op::Probe => "probe",
        }
    }
}

impl From<Endpoint> for Op {
    fn from(e: Endpoint) -> Op {
        Op::Call(e)
    }
}

impl Serialize for Op {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Op, D::Error> {
        let name = String::deserialize(d)?;
        if name == "probe" {
            return Ok(Op::Probe);
        }
        Endpoint::from_name(&name).map(Op::Call).ok_or_else(|| {
            let known: Vec<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
            serde::de::Error::custom(format!(
                "unknown op `{name}`, expected `probe` or one of `{}`",
                known.join("`, `")
            ))
        })
    }
}

/// One or several header values (`contentType`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One field.
    One(String),
    /// Several fields.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values as a list.
    pub fn values(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// Deserialize a field whose `null` differs from its absence.
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn default_conn() -> String {
    "c".to_string()
}

fn is_default_conn(c: &str) -> bool {
    c == "c"
}

/// One protocol operation with its overrides and expectations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    /// The operation.
    pub op: Option<Op>,
    /// The connection (default `c`).
    #[serde(default = "default_conn", skip_serializing_if = "is_default_conn")]
    pub conn: String,
    /// A short note shown in reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,

    // Protocol parameters.
    /// Create: reuse the `connectionID` of this connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// Create, update: the recipient key name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// Create, update, sender update: the sender key name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// Create, update: `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Update: `newRecipientURI`.
    #[serde(
        default,
        rename = "newRecipientURI",
        skip_serializing_if = "Option::is_none"
    )]
    pub new_recipient_uri: Option<bool>,
    /// Update, sender update: `newSenderURI`.
    #[serde(
        default,
        rename = "newSenderURI",
        skip_serializing_if = "Option::is_none"
    )]
    pub new_sender_uri: Option<bool>,
    /// Retrieve, delete messages: `pageSize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u64>,
    /// Retrieve, delete messages: the message whose id goes in `fromMessageID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_message: Option<String>,
    /// Retrieve: `keepMessages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_messages: Option<bool>,
    /// Send: message names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<String>>,
    /// Probe: its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// Probe: its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,

    // Authorisation overrides.
    /// Key to sign with; `null` for no header.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub sign_with: Option<Option<String>>,
    /// A signature fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig_fault: Option<SigFault>,
    /// Literal `Authorization` values (`{sig}` replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Vec<String>>,
    /// Key for `EM-New-Key-Signature`; `null` omits it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub new_key_sig_with: Option<Option<String>>,
    /// A fault in `EM-New-Key-Signature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_key_sig_fault: Option<SigFault>,
    /// Literal `EM-New-Key-Signature` values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_key_signature: Option<Vec<String>>,

    // Body overrides.
    /// Top-level properties to set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Map<String, Value>>,
    /// JSON pointer → value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_path: Option<Map<String, Value>>,
    /// Properties (names or pointers) to remove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omit: Option<Vec<String>>,
    /// Replace the whole body with this JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The exact body text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_body: Option<String>,
    /// The exact body bytes, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_body_base64: Option<String>,
    /// Text appended after the serialised JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append_body: Option<String>,

    // Request overrides.
    /// Content-Type: a value, `null` for none, or several.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub content_type: Option<Option<OneOrMany>>,
    /// Extra header fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<(String, String)>>,
    /// Another HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// URI version: `ru@N` or `su@N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Appended to the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_suffix: Option<String>,
    /// The literal request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,

    /// The class of the deliberate fault (3.1 order), for the model: `unknownPath`, `method`,
    /// `oversized`, `body`, `prohibited`, `cidMismatch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<crate::profiles::edge_v1::model::Fault>,

    /// What must come back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
}

/// Expectations of a step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expect {
    /// Allowed statuses (default: the model's prediction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<u16>>,
    /// Message names, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<String>>,
    /// `nextMessageID`: a message name, or `null` for absent.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub next: Option<Option<String>>,
    /// The exact `deleted` count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<u64>,
    /// URI properties an update must return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returns: Option<Vec<String>>,
    /// `Cache-Control: no-store` required.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_store: bool,
    /// No `Set-Cookie` allowed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_cookie: bool,
    /// Body empty or a JSON object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_or_object: bool,
    /// Body empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_body: bool,
    /// Body must be a JSON object (e.g. `{}` for B-RUPD-BODY).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub json_object: bool,
    /// No properties beyond those the binding names (B-CREATE-ONLY).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_extra: bool,
}

impl Step {
    /// Whether the step changes the request in a way the model cannot interpret by itself
    /// (body, headers, method, path or literal header values): such a step must state
    /// `expect.status` or classify itself with `fault`.
    pub fn needs_explicit_status(&self) -> bool {
        let opaque = self.authorization.is_some()
            || self.new_key_signature.is_some()
            || self.set.is_some()
            || self.set_path.is_some()
            || self.omit.is_some()
            || self.body.is_some()
            || self.raw_body.is_some()
            || self.raw_body_base64.is_some()
            || self.append_body.is_some()
            || self.content_type.is_some()
            || self.headers.is_some()
            || self.method.is_some()
            || self.path_suffix.is_some()
            || self.path.is_some();
        opaque && self.fault.is_none()
    }
}

/// Parse a `via` value: `ru@N` / `su@N`.
pub fn parse_via(via: &str) -> Option<(bool, usize)> {
    let (which, n) = via.split_once('@')?;
    let n = n.parse().ok()?;
    match which {
        "ru" => Some((true, n)),
        "su" => Some((false, n)),
        _ => None,
    }
}

/// Problems a case file can have, found before anything runs.
pub fn validate(case: &Case, known_rules: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut problems = Vec::new();
    let mut say = |m: String| problems.push(format!("{}: {m}", case.id));
    if !case.id.contains('/') {
        say("id must be <area>/<slug>".into());
    }
    if case.requirements.is_empty() {
        say("names no requirement".into());
    }
    for r in &case.requirements {
        if !known_rules(r) {
            say(format!("unknown rule ID {r}"));
        }
    }
    if case.steps.is_empty() {
        say("has no steps".into());
    }
    for (i, s) in case.steps.iter().enumerate() {
        let n = i + 1;
        match s.op {
            None => say(format!("step {n} has no op")),
            Some(Op::Probe) if s.probe.is_none() => say(format!("step {n}: probe without name")),
            Some(op) if op != Op::Probe && s.probe.is_some() => {
                say(format!("step {n}: `probe` only goes with op probe"))
            }
            _ => {}
        }
        if s.needs_explicit_status() && s.expect.as_ref().and_then(|e| e.status.as_ref()).is_none()
        {
            say(format!(
                "step {n} changes the request, so it must state expect.status (or a fault class)"
            ));
        }
        if let Some(v) = &s.via {
            if parse_via(v).is_none() {
                say(format!("step {n}: via must be ru@N or su@N, not {v}"));
            }
        }
        if s.raw_body.is_some() as u8 + s.raw_body_base64.is_some() as u8 + s.body.is_some() as u8
            > 1
        {
            say(format!(
                "step {n}: body, rawBody and rawBodyBase64 exclude each other"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_differs_from_absent() {
        let s: Step = serde_json::from_str(r#"{"op":"send","signWith":null}"#).unwrap();
        assert_eq!(s.sign_with, Some(None));
        let s: Step = serde_json::from_str(r#"{"op":"send"}"#).unwrap();
        assert_eq!(s.sign_with, None);
        assert_eq!(s.conn, "c");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e = serde_json::from_str::<Step>(r#"{"op":"send","sighWith":"k"}"#).unwrap_err();
        assert!(e.to_string().contains("sighWith"), "{e}");
    }

    #[test]
    fn validation_finds_problems() {
        let case: Case = serde_json::from_str(
            r#"{"id":"x","title":"t","requirements":["S-NOPE"],"level":"MUST",
                "steps":[{"op":"send","set":{"x":1}},{"op":"retrieve","via":"xu@1"}]}"#,
        )
        .unwrap();
        let p = validate(&case, &|r| r.starts_with("S-CREATE"));
        assert_eq!(p.len(), 4, "{p:?}");
    }

    #[test]
    fn round_trips() {
        let text = r#"{"id":"a/b","title":"t","requirements":["S-CREATE-201"],"level":"SHOULD",
            "steps":[{"op":"create","conn":"x","recipient":"rk","contentType":null,
            "expect":{"status":[400],"next":null}}]}"#;
        let case: Case = serde_json::from_str(text).unwrap();
        let back: Case = serde_json::from_str(&serde_json::to_string(&case).unwrap()).unwrap();
        assert_eq!(case, back);
    }
}
