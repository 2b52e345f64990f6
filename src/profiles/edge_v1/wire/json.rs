//! Strict JSON parsing of server responses.
//!
//! serde_json silently keeps the last of duplicated members; B-JSON-DUP exists because two
//! parsers may read different values from one body, so the suite parses through its own serde
//! visitor that rejects duplicates and bounds nesting depth.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use super::{Map, WireError};

/// Deepest nesting of arrays and objects accepted in a response (the binding needs 3).
pub const MAX_DEPTH: usize = 64;

/// Parses a response body that must be one JSON object: UTF-8, no duplicated member names
/// at any level, at most [`MAX_DEPTH`] levels, nothing but JSON whitespace after the value.
pub fn parse_object_strict(bytes: &[u8]) -> Result<Map, WireError> {
    let text = std::str::from_utf8(bytes).map_err(|e| WireError::NotUtf8(e.valid_up_to()))?;
    match parse_value_strict(text)? {
        Value::Object(map) => Ok(map),
        other => Err(WireError::NotObject(kind(&other))),
    }
}

/// Parses any JSON value with the same strictness as [`parse_object_strict`].
pub fn parse_value_strict(text: &str) -> Result<Value, WireError> {
    let problem = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = Strict {
        depth: 0,
        problem: &problem,
    };
    let value = match seed.deserialize(&mut de) {
        Ok(v) => v,
        Err(e) => {
            return Err(problem
                .into_inner()
                .unwrap_or_else(|| WireError::Json(e.to_string())))
        }
    };
    de.end()
        .map_err(|e| WireError::TrailingData(e.to_string()))?;
    Ok(value)
}

/// The JSON type name of a value, for error messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Seed carrying the nesting depth and a slot for the first structured problem found (serde
/// errors are strings; the slot keeps the typed reason).
#[derive(Clone, Copy)]
struct Strict<'a> {
    depth: usize,
    problem: &'a RefCell<Option<WireError>>,
}

impl Strict<'_> {
    fn fail<E: serde::de::Error>(&self, e: WireError) -> E {
        let msg = e.to_string();
        self.problem.borrow_mut().get_or_insert(e);
        E::custom(msg)
    }

    /// The seed for the members of a container at this depth (the top level is depth 0).
    fn child<E: serde::de::Error>(&self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH {
            return Err(self.fail(WireError::TooDeep(MAX_DEPTH)));
        }
        Ok(Strict {
            depth: self.depth + 1,
            problem: self.problem,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
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

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| self.fail(WireError::Json(format!("number {v} is not finite"))))
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
        let child = self.child()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(child)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let child = self.child()?;
        let mut out = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if out.contains_key(&name) {
                return Err(self.fail(WireError::DuplicateMember(name)));
            }
            let v = map.next_value_seed(child)?;
            out.insert(name, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_objects_in_order() {
        let m = parse_object_strict(br#" {"b": 1, "a": [true, null, "x", -2, 1.5], "c": {}} "#)
            .unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!(m["a"][3], -2);
    }

    #[test]
    fn rejects_duplicates_at_any_level() {
        assert_eq!(
            parse_object_strict(br#"{"a": 1, "a": 1}"#),
            Err(WireError::DuplicateMember("a".into()))
        );
        assert_eq!(
            parse_object_strict(br#"{"m": [{"id": "1", "id": "2"}]}"#),
            Err(WireError::DuplicateMember("id".into()))
        );
        // Escapes decode before comparison: "\u0061" is "a".
        assert_eq!(
            parse_object_strict(br#"{"a": 1, "\u0061": 2}"#),
            Err(WireError::DuplicateMember("a".into()))
        );
    }

    #[test]
    fn rejects_non_objects_trailing_data_and_bad_utf8() {
        assert_eq!(
            parse_object_strict(b"[1]"),
            Err(WireError::NotObject("an array"))
        );
        assert_eq!(
            parse_object_strict(b"null"),
            Err(WireError::NotObject("null"))
        );
        assert!(matches!(
            parse_object_strict(b"{} x"),
            Err(WireError::TrailingData(_))
        ));
        assert!(matches!(
            parse_object_strict(b"{}{}"),
            Err(WireError::TrailingData(_))
        ));
        assert!(parse_object_strict(b"{} \t\r\n").is_ok());
        assert_eq!(
            parse_object_strict(b"{\"a\": \"\xff\"}"),
            Err(WireError::NotUtf8(7))
        );
        assert!(matches!(parse_object_strict(b""), Err(WireError::Json(_))));
        assert!(matches!(
            parse_object_strict(b"{\"a\":}"),
            Err(WireError::Json(_))
        ));
        assert!(matches!(
            parse_object_strict("\u{feff}{}".as_bytes()),
            Err(WireError::Json(_))
        ));
    }

    #[test]
    fn bounds_depth() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(parse_object_strict(format!("{{\"a\":{ok}}}").as_bytes()).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(
            parse_object_strict(format!("{{\"a\":{deep}}}").as_bytes()),
            Err(WireError::TooDeep(MAX_DEPTH))
        );
        // Far deeper than serde_json's own limit: still a clean error, no stack overflow.
        let hostile = "[".repeat(100_000);
        assert_eq!(
            parse_object_strict(format!("{{\"a\":{hostile}").as_bytes()),
            Err(WireError::TooDeep(MAX_DEPTH))
        );
    }
}
