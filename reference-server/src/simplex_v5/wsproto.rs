//! WebSocket requests and replies (spec §5): strict reading of one JSON object with the
//! pointer of the first incorrect property (V-WS-INVALID, VB-WS-ID), and the signed form of a
//! subscribe (VB-WS-SIG: RFC 8785 canonical JSON after a domain line and the session nonce).

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Map, Number, Value};

use crate::edge_v1::encoding::decode_b64;
use crate::simplex_v5::faults::{Fault, Faults};
use crate::simplex_v5::request::is_valid_mid;

/// A well-formed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// `subscribe`.
    Subscribe {
        id: String,
        uri: String,
        /// The decoded `auth`.
        auth: Vec<u8>,
    },
    /// `unsubscribe`.
    Unsubscribe { id: String, uri: String },
    /// `delete_message`.
    DeleteMessage {
        id: String,
        uri: String,
        message_id: String,
    },
    /// `ping` (only with the `ping-served` fault).
    Ping { id: String },
}

/// A refused message: the reply's `id` and the pointer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Invalid {
    /// The request's `id` when it is a string (VB-WS-ID), else `null`.
    pub id: Value,
    /// RFC 6901 pointer to the first incorrect property; `""` for the whole message.
    pub error: String,
}

impl Invalid {
    /// The `invalid` reply.
    pub(crate) fn reply(&self) -> Value {
        json!({"id": self.id, "type": "invalid", "error": self.error})
    }

    /// A whole-message error with `"id": null`.
    pub(crate) fn whole() -> Invalid {
        Invalid {
            id: Value::Null,
            error: String::new(),
        }
    }
}

/// The top-level members of an object in the order they appear, duplicates kept.
struct Members {
    members: Vec<(String, Value)>,
    /// A member name appeared twice in some object (B-JSON-DUP).
    duplicate: bool,
}

/// Reads `text` as one JSON object; `None` if it is not JSON or not an object.
fn members(text: &str) -> Option<Members> {
    let duplicate = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let members = de::Deserializer::deserialize_any(
        &mut deserializer,
        TopLevel {
            duplicate: &duplicate,
        },
    )
    .ok()?;
    deserializer.end().ok()?;
    Some(Members {
        members,
        duplicate: duplicate.get(),
    })
}

struct TopLevel<'a> {
    duplicate: &'a Cell<bool>,
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = Vec<(String, Value)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members: Vec<(String, Value)> = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.iter().any(|(n, _)| *n == name) {
                self.duplicate.set(true);
            }
            let value = map.next_value_seed(Nested {
                duplicate: self.duplicate,
            })?;
            members.push((name, value));
        }
        Ok(members)
    }
}

/// A nested value; duplicate member names are noted, not refused.
#[derive(Clone, Copy)]
struct Nested<'a> {
    duplicate: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Nested<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Nested<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value_seed(self)?;
            if members.insert(name, value).is_some() {
                self.duplicate.set(true);
            }
        }
        Ok(Value::Object(members))
    }
}

/// RFC 6901: `~` → `~0`, `/` → `~1`.
fn pointer(name: &str) -> String {
    format!("/{}", name.replace('~', "~0").replace('/', "~1"))
}

/// The members a request of `kind` has besides `type`.
fn fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "subscribe" => &["id", "recipientURI", "auth"],
        "unsubscribe" => &["id", "recipientURI"],
        "delete_message" => &["id", "recipientURI", "messageId"],
        _ => &["id"],
    }
}

/// Reads one text message.
pub(crate) fn parse(text: &str, faults: Faults) -> Result<Request, Invalid> {
    let Some(Members { members, duplicate }) = members(text) else {
        return Err(Invalid::whole());
    };
    let get = |name: &str| members.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let id_value = get("id");
    let reply_id = match id_value {
        Some(v @ Value::String(_)) => v.clone(),
        Some(v) if faults.on(Fault::IdEchoedNonString) => v.clone(),
        _ => Value::Null,
    };
    if duplicate {
        let ids = members.iter().filter(|(n, _)| n == "id").count();
        let id = if ids == 1 { reply_id } else { Value::Null };
        return Err(Invalid {
            id,
            error: String::new(),
        });
    }
    let invalid = |name: &str| Invalid {
        id: reply_id.clone(),
        error: pointer(name),
    };
    let string = |name: &str| match get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(invalid(name)),
    };
    let kind = match get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        _ => "",
    };
    let known = matches!(kind, "subscribe" | "unsubscribe" | "delete_message")
        || (kind == "ping" && faults.on(Fault::PingServed));
    let allowed = fields(kind);
    let extra = members
        .iter()
        .find(|(n, _)| n != "type" && !allowed.contains(&n.as_str()));
    if faults.on(Fault::InvalidExtraFirst) {
        if let Some((name, _)) = extra {
            return Err(invalid(name));
        }
    }
    if !known {
        return Err(invalid("type"));
    }
    let id = string("id")?;
    let request = match kind {
        "ping" => Request::Ping { id },
        "subscribe" => {
            let uri = string("recipientURI")?;
            let auth = string("auth")?;
            let auth = decode_b64(&auth).ok_or_else(|| invalid("auth"))?;
            Request::Subscribe { id, uri, auth }
        }
        "unsubscribe" => Request::Unsubscribe {
            id,
            uri: string("recipientURI")?,
        },
        _ => {
            let uri = string("recipientURI")?;
            let message_id = match get("messageId") {
                Some(Value::String(m)) if is_valid_mid(m) => m.clone(),
                _ => return Err(invalid("messageId")),
            };
            Request::DeleteMessage {
                id,
                uri,
                message_id,
            }
        }
    };
    if let Some((name, _)) = extra {
        return Err(invalid(name));
    }
    Ok(request)
}

/// The bytes a subscribe's `auth` signs: `"EMSig1" LF "WS" LF NONCE LF` and the request
/// without `auth` in RFC 8785 canonical form (VB-WS-SIG).
pub(crate) fn subscribe_signing_input(nonce: &str, id: &str, uri: &str) -> Vec<u8> {
    let unsigned = json!({"id": id, "type": "subscribe", "recipientURI": uri});
    let canonical = serde_json_canonicalizer::to_string(&unsigned)
        .unwrap_or_else(|_| unreachable!("an object of strings always serialises"));
    format!("EMSig1\nWS\n{nonce}\n{canonical}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> Invalid {
        parse(text, Faults::default()).unwrap_err()
    }

    fn pointer_of(text: &str) -> String {
        err(text).error
    }

    #[test]
    fn well_formed_requests() {
        assert_eq!(
            parse(
                r#"{"id":"1","type":"subscribe","recipientURI":"u","auth":"QUJD"}"#,
                Faults::default()
            ),
            Ok(Request::Subscribe {
                id: "1".into(),
                uri: "u".into(),
                auth: b"ABC".to_vec()
            })
        );
        assert!(matches!(
            parse(
                r#"{"type":"unsubscribe","recipientURI":"u","id":"x"}"#,
                Faults::default()
            ),
            Ok(Request::Unsubscribe { .. })
        ));
        assert!(matches!(
            parse(
                r#"{"id":"1","type":"delete_message","recipientURI":"u","messageId":"a-_9"}"#,
                Faults::default()
            ),
            Ok(Request::DeleteMessage { .. })
        ));
    }

    #[test]
    fn pointers_in_the_order_of_the_spec() {
        assert_eq!(pointer_of(r#"{"id":"1"}"#), "/type");
        assert_eq!(pointer_of(r#"{"id":"1","type":"ping"}"#), "/type");
        assert_eq!(pointer_of(r#"{"id":"1","type":"message"}"#), "/type");
        assert_eq!(pointer_of(r#"{"id":1,"type":7,"x":1}"#), "/type");
        assert_eq!(pointer_of(r#"{"type":"unsubscribe"}"#), "/id");
        assert_eq!(pointer_of(r#"{"id":"","type":"unsubscribe"}"#), "/id");
        assert_eq!(pointer_of(r#"{"id":null,"type":"unsubscribe"}"#), "/id");
        assert_eq!(
            pointer_of(r#"{"id":"1","type":"unsubscribe","x":1}"#),
            "/recipientURI"
        );
        assert_eq!(
            pointer_of(r#"{"id":"1","type":"unsubscribe","recipientURI":""}"#),
            "/recipientURI"
        );
        assert_eq!(
            pointer_of(r#"{"id":"1","type":"subscribe","recipientURI":"u"}"#),
            "/auth"
        );
        assert_eq!(
            pointer_of(r#"{"id":"1","type":"subscribe","recipientURI":"u","auth":"QUJ"}"#),
            "/auth"
        );
        assert_eq!(
            pointer_of(
                r#"{"id":"1","type":"delete_message","recipientURI":"u","messageId":"a.b"}"#
            ),
            "/messageId"
        );
        assert_eq!(
            pointer_of(r#"{"id":"1","b":1,"type":"unsubscribe","recipientURI":"u","a/~":2}"#),
            "/b"
        );
        assert_eq!(
            pointer_of(r#"{"id":"1","type":"unsubscribe","recipientURI":"u","a/~":2}"#),
            "/a~1~0"
        );
        assert_eq!(
            pointer_of(r#"{"id":"1","type":"unsubscribe","recipientURI":"u","auth":"QUJD"}"#),
            "/auth"
        );
    }

    #[test]
    fn ids_of_replies() {
        assert_eq!(err(r#"{"id":"7","type":"x"}"#).id, json!("7"));
        assert_eq!(err(r#"{"id":7,"type":"x"}"#).id, Value::Null);
        assert_eq!(err(r#"{"id":"","type":"unsubscribe"}"#).id, json!(""));
        for whole in ["[]", "1", "\"s\"", "{", "{} x", "null"] {
            assert_eq!(err(whole), Invalid::whole(), "{whole}");
        }
        let dup = err(r#"{"id":"7","type":"unsubscribe","type":"x"}"#);
        assert_eq!((dup.id, dup.error.as_str()), (json!("7"), ""));
        assert_eq!(err(r#"{"id":"7","id":"8","type":"x"}"#), Invalid::whole());
        let nested = err(r#"{"id":"7","type":"x","y":{"a":1,"a":2}}"#);
        assert_eq!((nested.id, nested.error.as_str()), (json!("7"), ""));
        #[cfg(feature = "faults")]
        {
            let lax = parse(
                r#"{"id":7,"type":"x"}"#,
                Faults::of(&[Fault::IdEchoedNonString]),
            );
            assert_eq!(lax.unwrap_err().id, json!(7));
        }
    }

    #[test]
    fn signing_input_is_jcs_after_the_nonce() {
        let input = subscribe_signing_input("Tk9OQ0U=", "<1>", "https://h/c/\u{2028}&");
        assert_eq!(
            String::from_utf8(input).unwrap(),
            "EMSig1\nWS\nTk9OQ0U=\n{\"id\":\"<1>\",\"recipientURI\":\"https://h/c/\u{2028}&\",\"type\":\"subscribe\"}"
        );
    }

    #[test]
    fn jcs_matches_rfc_8785() {
        // RFC 8785 §3.2.2 (sorting, numbers, string escapes) and §3.2.3 (UTF-16 key order).
        let input = r#"{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}"#;
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            serde_json_canonicalizer::to_string(&value).unwrap(),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
        let sorting = r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#;
        let value: Value = serde_json::from_str(sorting).unwrap();
        let keys: Vec<String> = {
            let text = serde_json_canonicalizer::to_string(&value).unwrap();
            let back: Vec<(String, Value)> = members(&text).unwrap().members;
            back.into_iter().map(|(k, _)| k).collect()
        };
        assert_eq!(
            keys,
            [
                "\r",
                "1",
                "\u{80}",
                "\u{f6}",
                "\u{20ac}",
                "\u{1f600}",
                "\u{fb33}"
            ]
        );
    }
}
