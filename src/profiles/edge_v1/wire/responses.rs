//! Typed views of the binding's response bodies. Parsing checks shapes and JSON types and
//! names what is wrong; value formats (ids, timestamps, base64) are reported separately by
//! `format_problems`, each under its own rule, so one bad value does not hide the rest.

use serde_json::Value;

use super::json::kind;
use super::{is_b64, is_rfc3339_utc_z, parse_object_strict, Map, WireError};

/// Body of a successful create (S-CREATE-201).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateResponse {
    /// `recipientURI`, as returned.
    pub recipient_uri: String,
    /// `senderURI`, as returned.
    pub sender_uri: String,
    /// Names of any other members (B-CREATE-ONLY: there should be none).
    pub extra: Vec<String>,
}

/// Body of a successful PUT `RU` or PUT `SU` (S-RUPD-200, S-SUPD-200).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateResponse {
    /// `recipientURI`, when present.
    pub recipient_uri: Option<String>,
    /// `senderURI`, when present.
    pub sender_uri: Option<String>,
    /// Names of any other members.
    pub extra: Vec<String>,
    /// The body had zero bytes (allowed; B-RUPD-BODY prefers `{}`).
    pub empty: bool,
}

/// One message of a retrieval: exactly `{id, ts, msg}` (S-RETR-200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The server's message id.
    pub id: String,
    /// Receive timestamp.
    pub ts: String,
    /// The ciphertext, as returned.
    pub msg: String,
}

/// Body of a successful retrieval (S-RETR-200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrieveResponse {
    /// The messages, in the order returned.
    pub messages: Vec<Message>,
    /// `nextMessageID`, when present.
    pub next_message_id: Option<String>,
    /// Names of any other top-level members.
    pub extra: Vec<String>,
}

/// Body of a successful delete-messages (S-DELM-200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteMessagesResponse {
    /// `deleted`, the number of messages removed.
    pub deleted: u64,
    /// Names of any other members.
    pub extra: Vec<String>,
}

/// A value with the right JSON type but the wrong format, with the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatProblem {
    /// Rule ID of the binding (`B-TS-FMT`, ...).
    pub rule: &'static str,
    /// Where: `messages[1].ts`.
    pub at: String,
    /// What is wrong.
    pub detail: String,
}

impl CreateResponse {
    /// Parses a create response body.
    pub fn from_body(body: &[u8]) -> Result<Self, WireError> {
        Self::from_map(&parse_object_strict(body)?)
    }

    /// Reads a create response from an already parsed object.
    pub fn from_map(m: &Map) -> Result<Self, WireError> {
        Ok(CreateResponse {
            recipient_uri: required_string(m, "recipientURI")?,
            sender_uri: required_string(m, "senderURI")?,
            extra: extra_names(m, &["recipientURI", "senderURI"]),
        })
    }
}

impl UpdateResponse {
    /// Parses an update response body: empty, or a JSON object.
    pub fn from_body(body: &[u8]) -> Result<Self, WireError> {
        if body.is_empty() {
            return Ok(UpdateResponse {
                empty: true,
                ..UpdateResponse::default()
            });
        }
        Self::from_map(&parse_object_strict(body)?)
    }

    /// Reads an update response from an already parsed object.
    pub fn from_map(m: &Map) -> Result<Self, WireError> {
        Ok(UpdateResponse {
            recipient_uri: optional_string(m, "recipientURI", "recipientURI")?,
            sender_uri: optional_string(m, "senderURI", "senderURI")?,
            extra: extra_names(m, &["recipientURI", "senderURI"]),
            empty: false,
        })
    }
}

impl Message {
    const MEMBERS: [&'static str; 3] = ["id", "ts", "msg"];

    fn from_value(v: &Value, at: &str) -> Result<Self, WireError> {
        let Value::Object(m) = v else {
            return Err(WireError::shape(
                at,
                format!("a message must be an object, found {}", kind(v)),
            ));
        };
        let missing: Vec<&str> = Self::MEMBERS
            .into_iter()
            .filter(|k| !m.contains_key(*k))
            .collect();
        let extra = extra_names(m, &Self::MEMBERS);
        if !missing.is_empty() || !extra.is_empty() {
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!("missing {}", quoted(&missing)));
            }
            if !extra.is_empty() {
                parts.push(format!("unexpected {}", quoted(&extra)));
            }
            return Err(WireError::shape(
                at,
                format!(
                    "{} (a message is exactly {{id, ts, msg}})",
                    parts.join("; ")
                ),
            ));
        }
        let field = |name: &str| -> Result<String, WireError> {
            match &m[name] {
                Value::String(s) => Ok(s.clone()),
                other => Err(WireError::shape(
                    format!("{at}.{name}"),
                    format!("must be a string, found {}", kind(other)),
                )),
            }
        };
        Ok(Message {
            id: field("id")?,
            ts: field("ts")?,
            msg: field("msg")?,
        })
    }

    /// Format problems of this message's values; `at` names it in the report (`messages[0]`).
    pub fn format_problems(&self, at: &str) -> Vec<FormatProblem> {
        let mut out = Vec::new();
        let mut add = |rule, field: &str, detail: String| {
            out.push(FormatProblem {
                rule,
                at: format!("{at}.{field}"),
                detail,
            })
        };
        if self.id.is_empty() {
            add("B-MID-FMT", "id", "the message id is empty".into());
        }
        if !is_rfc3339_utc_z(&self.ts) {
            add(
                "B-TS-FMT",
                "ts",
                format!(
                    "{:?} is not an RFC 3339 UTC timestamp ending in Z",
                    shorten(&self.ts)
                ),
            );
        }
        if self.msg.is_empty() || !is_b64(&self.msg) {
            add(
                "B-MSG-FMT",
                "msg",
                format!(
                    "{:?} is not non-empty standard padded base64",
                    shorten(&self.msg)
                ),
            );
        }
        out
    }
}

impl RetrieveResponse {
    /// Parses a retrieval response body.
    pub fn from_body(body: &[u8]) -> Result<Self, WireError> {
        Self::from_map(&parse_object_strict(body)?)
    }

    /// Reads a retrieval response from an already parsed object.
    pub fn from_map(m: &Map) -> Result<Self, WireError> {
        let list = match m.get("messages") {
            None => return Err(WireError::shape("messages", "missing member")),
            Some(Value::Array(list)) => list,
            Some(other) => {
                return Err(WireError::shape(
                    "messages",
                    format!("must be an array, found {}", kind(other)),
                ))
            }
        };
        let messages = list
            .iter()
            .enumerate()
            .map(|(i, v)| Message::from_value(v, &format!("messages[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RetrieveResponse {
            messages,
            next_message_id: optional_string(m, "nextMessageID", "nextMessageID")?,
            extra: extra_names(m, &["messages", "nextMessageID"]),
        })
    }

    /// Format problems of every message's values (B-MID-FMT, B-TS-FMT, B-MSG-FMT).
    pub fn format_problems(&self) -> Vec<FormatProblem> {
        self.messages
            .iter()
            .enumerate()
            .flat_map(|(i, m)| m.format_problems(&format!("messages[{i}]")))
            .collect()
    }
}

impl DeleteMessagesResponse {
    /// Parses a delete-messages response body.
    pub fn from_body(body: &[u8]) -> Result<Self, WireError> {
        Self::from_map(&parse_object_strict(body)?)
    }

    /// Reads a delete-messages response from an already parsed object.
    pub fn from_map(m: &Map) -> Result<Self, WireError> {
        let deleted = match m.get("deleted") {
            None => return Err(WireError::shape("deleted", "missing member")),
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or_default(),
            Some(other) => {
                return Err(WireError::shape(
                    "deleted",
                    format!("must be a non-negative integer, found {other}"),
                ))
            }
        };
        Ok(DeleteMessagesResponse {
            deleted,
            extra: extra_names(m, &["deleted"]),
        })
    }
}

fn required_string(m: &Map, name: &str) -> Result<String, WireError> {
    optional_string(m, name, name)?.ok_or_else(|| WireError::shape(name, "missing member"))
}

/// The member as a string; `null` and other types are errors (`null` is never valid).
fn optional_string(m: &Map, name: &str, at: &str) -> Result<Option<String>, WireError> {
    match m.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(WireError::shape(
            at,
            format!("must be a string, found {}", kind(other)),
        )),
    }
}

fn extra_names(m: &Map, known: &[&str]) -> Vec<String> {
    m.keys()
        .filter(|k| !known.contains(&k.as_str()))
        .cloned()
        .collect()
}

fn quoted<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| format!("{:?}", shorten(n.as_ref())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Keeps hostile values from flooding a report.
fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}…({} chars)", &s[..cut], s.chars().count()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_response() {
        let r = CreateResponse::from_body(br#"{"recipientURI":"/r/abc","senderURI":"/s/def"}"#)
            .unwrap();
        assert_eq!(r.recipient_uri, "/r/abc");
        assert_eq!(r.sender_uri, "/s/def");
        assert!(r.extra.is_empty());
        let r = CreateResponse::from_body(
            br#"{"recipientURI":"/r","senderURI":"/s","id":1,"key":"x"}"#,
        )
        .unwrap();
        assert_eq!(r.extra, ["id", "key"]);
        let e = CreateResponse::from_body(br#"{"recipientURI":"/r"}"#).unwrap_err();
        assert_eq!(e.to_string(), "at `senderURI`: missing member");
        let e =
            CreateResponse::from_body(br#"{"recipientURI":null,"senderURI":"/s"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "at `recipientURI`: must be a string, found null"
        );
        assert_eq!(
            CreateResponse::from_body(
                br#"{"recipientURI":"/a","recipientURI":"/b","senderURI":"/s"}"#
            ),
            Err(WireError::DuplicateMember("recipientURI".into()))
        );
    }

    #[test]
    fn update_response() {
        let r = UpdateResponse::from_body(b"").unwrap();
        assert!(r.empty && r.recipient_uri.is_none() && r.sender_uri.is_none());
        let r = UpdateResponse::from_body(b"{}").unwrap();
        assert!(!r.empty && r.recipient_uri.is_none());
        let r = UpdateResponse::from_body(br#"{"senderURI":"/s2"}"#).unwrap();
        assert_eq!(r.sender_uri.as_deref(), Some("/s2"));
        assert!(r.recipient_uri.is_none());
        assert!(UpdateResponse::from_body(b" ").is_err());
        assert!(UpdateResponse::from_body(br#"{"senderURI":5}"#).is_err());
    }

    #[test]
    fn retrieve_response_and_exact_messages() {
        let r = RetrieveResponse::from_body(
            br#"{"messages":[{"id":"a","ts":"2020-01-21T21:01:48.123Z","msg":"QQ=="}],"nextMessageID":"b"}"#,
        )
        .unwrap();
        assert_eq!(r.messages.len(), 1);
        assert_eq!(r.messages[0].id, "a");
        assert_eq!(r.next_message_id.as_deref(), Some("b"));
        assert!(r.format_problems().is_empty());

        let e = RetrieveResponse::from_body(
            br#"{"messages":[{"id":"a","ts":"2020-01-21T21:01:48Z","msg":"QQ=="},{"id":"b","msg":"QQ==","read":true}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"at `messages[1]`: missing "ts"; unexpected "read" (a message is exactly {id, ts, msg})"#
        );
        let e = RetrieveResponse::from_body(br#"{"messages":[{"id":1,"ts":"x","msg":"y"}]}"#)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "at `messages[0].id`: must be a string, found a number"
        );
        let e = RetrieveResponse::from_body(br#"{"messages":{}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "at `messages`: must be an array, found an object"
        );
        let e =
            RetrieveResponse::from_body(br#"{"messages":[],"nextMessageID":null}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "at `nextMessageID`: must be a string, found null"
        );
        assert!(RetrieveResponse::from_body(br#"{"nextMessageID":"a"}"#).is_err());
    }

    #[test]
    fn format_problems_name_their_rules() {
        let r = RetrieveResponse::from_body(
            br#"{"messages":[{"id":"","ts":"2020-01-21T21:01:48+00:00","msg":"QQ"}]}"#,
        )
        .unwrap();
        let rules: Vec<_> = r.format_problems().iter().map(|p| p.rule).collect();
        assert_eq!(rules, ["B-MID-FMT", "B-TS-FMT", "B-MSG-FMT"]);
        assert_eq!(r.format_problems()[1].at, "messages[0].ts");
    }

    #[test]
    fn delete_messages_response() {
        assert_eq!(
            DeleteMessagesResponse::from_body(br#"{"deleted":3}"#)
                .unwrap()
                .deleted,
            3
        );
        for bad in [
            &br#"{"deleted":-1}"#[..],
            br#"{"deleted":1.0}"#,
            br#"{"deleted":"3"}"#,
            br#"{}"#,
        ] {
            assert!(DeleteMessagesResponse::from_body(bad).is_err());
        }
    }

    #[test]
    fn long_hostile_names_are_shortened() {
        let name = "x".repeat(10_000);
        let body = format!(r#"{{"messages":[{{"id":"a","ts":"t","msg":"m","{name}":1}}]}}"#);
        let e = RetrieveResponse::from_body(body.as_bytes()).unwrap_err();
        assert!(e.to_string().len() < 300, "{e}");
    }
}
