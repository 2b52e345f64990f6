//! Request syntax (V-400, V-HDR-JSON, VB-MID): the query, the bodies of create, secure and
//! send, and message IDs. Every violation is a 400 with a short text.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::edge_v1::encoding::is_valid_msg;
use crate::edge_v1::json::{self, Strictness};
use crate::edge_v1::keys::{KeyLeniency, PublicKey};

/// Longest message ID (VB-MID).
const MAX_MID: usize = 64;

/// Whether `id` is a valid message ID: `[A-Za-z0-9_-]{1,64}` (VB-MID).
pub(crate) fn is_valid_mid(id: &str) -> bool {
    (1..=MAX_MID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Why a query is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueryError {
    /// A parameter other than `fromMessageId`, a repeated one, or a bare `?`.
    Syntax(&'static str),
    /// `fromMessageId` is not a valid message ID.
    BadId,
}

/// The `fromMessageId` of a retrieval's query (`None` without a query). `lax` ignores other
/// parameters (the `extra-query-accepted` fault).
pub(crate) fn from_message_id(query: Option<&str>, lax: bool) -> Result<Option<&str>, QueryError> {
    let Some(query) = query else {
        return Ok(None);
    };
    let mut from = None;
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "fromMessageId" {
            if lax {
                continue;
            }
            return Err(QueryError::Syntax(
                "the only query parameter is fromMessageId",
            ));
        }
        if from.is_some() {
            return Err(QueryError::Syntax("fromMessageId is repeated"));
        }
        if !is_valid_mid(value) {
            return Err(QueryError::BadId);
        }
        from = Some(value);
    }
    if from.is_none() && !lax {
        return Err(QueryError::Syntax(
            "the only query parameter is fromMessageId",
        ));
    }
    Ok(from)
}

/// A JSON body: one strict object (B-CT-400, B-JSON-DUP).
pub(crate) fn object(body: &[u8]) -> Result<Map<String, Value>, String> {
    json::parse_object(body, Strictness::default()).map_err(|e| e.to_string())
}

/// Takes the one property `name` (a string) out of `map`; anything else in it is an unknown
/// property unless `extra_ok`.
fn only_string(mut map: Map<String, Value>, name: &str, extra_ok: bool) -> Result<String, String> {
    let value = map.remove(name);
    if let Some(other) = map.keys().next().filter(|_| !extra_ok) {
        return Err(format!("unknown property {other:?}"));
    }
    match value {
        None => Err(format!("{name} is required")),
        Some(Value::String(text)) => Ok(text),
        Some(Value::Null) => Err(format!("{name} must not be null")),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

/// A key property (B-KEY-FMT, B-KEY-SIZE, B-KEY-PKCS1).
fn key(map: Map<String, Value>, name: &str) -> Result<Arc<PublicKey>, String> {
    let text = only_string(map, name, false)?;
    PublicKey::from_base64(&text, KeyLeniency::default())
        .map(Arc::new)
        .map_err(|e| format!("{name} {e}"))
}

/// Create: exactly `{"recipient": key}` (V-CREATE).
pub(crate) fn create(map: Map<String, Value>) -> Result<Arc<PublicKey>, String> {
    key(map, "recipient")
}

/// Secure: exactly `{"sender": key}` (V-SECURE).
pub(crate) fn secure(map: Map<String, Value>) -> Result<Arc<PublicKey>, String> {
    key(map, "sender")
}

/// Send: exactly `{"msg": base64}` (V-SEND, B-MSG-FMT); returns `msg` and its decoded size.
pub(crate) fn send(map: Map<String, Value>, extra_ok: bool) -> Result<(String, usize), String> {
    let msg = only_string(map, "msg", extra_ok)?;
    if !is_valid_msg(&msg) {
        return Err("msg must be non-empty standard base64 with padding".into());
    }
    let padding = msg.bytes().rev().take_while(|&b| b == b'=').count();
    let size = msg.len() / 4 * 3 - padding;
    Ok((msg, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> Map<String, Value> {
        object(text.as_bytes()).unwrap()
    }

    #[test]
    fn message_ids() {
        assert!(is_valid_mid("a"));
        assert!(is_valid_mid(&"a-_Z9".repeat(12)));
        assert!(!is_valid_mid(""));
        assert!(!is_valid_mid(&"a".repeat(65)));
        for bad in ["a.b", "a+b", "a/b", "a%41", "é", "a b", "a=b"] {
            assert!(!is_valid_mid(bad), "{bad}");
        }
    }

    #[test]
    fn queries() {
        assert_eq!(from_message_id(None, false), Ok(None));
        assert_eq!(
            from_message_id(Some("fromMessageId=abc"), false),
            Ok(Some("abc"))
        );
        for bad in [
            "",
            "x=1",
            "fromMessageId=abc&x=1",
            "fromMessageId=a&fromMessageId=b",
            "frommessageid=abc",
        ] {
            assert!(
                matches!(
                    from_message_id(Some(bad), false),
                    Err(QueryError::Syntax(_))
                ),
                "{bad:?}"
            );
        }
        for bad in [
            "fromMessageId=",
            "fromMessageId",
            "fromMessageId=a%41",
            "fromMessageId=a.b",
        ] {
            assert_eq!(
                from_message_id(Some(bad), false),
                Err(QueryError::BadId),
                "{bad:?}"
            );
        }
        assert_eq!(
            from_message_id(Some("fromMessageId=abc&x=1"), true),
            Ok(Some("abc"))
        );
    }

    #[test]
    fn send_bodies() {
        assert_eq!(
            send(map(r#"{"msg":"aGk="}"#), false),
            Ok(("aGk=".into(), 2))
        );
        assert_eq!(send(map(r#"{"msg":"AAAA"}"#), false).unwrap().1, 3);
        assert_eq!(send(map(r#"{"msg":"AA=="}"#), false).unwrap().1, 1);
        for bad in [
            r#"{}"#,
            r#"{"msg":null}"#,
            r#"{"msg":1}"#,
            r#"{"msg":""}"#,
            r#"{"msg":"aGk"}"#,
            r#"{"msg":"aGk=","ts":"x"}"#,
        ] {
            assert!(send(map(bad), false).is_err(), "{bad}");
        }
        assert!(send(map(r#"{"msg":"aGk=","ts":"x"}"#), true).is_ok());
    }

    #[test]
    fn key_bodies() {
        assert!(create(map(r#"{"recipient":"aGk="}"#)).is_err());
        assert!(create(map(r#"{"recipient":null}"#)).is_err());
        assert!(secure(map(r#"{"recipient":"x"}"#)).is_err());
    }
}
