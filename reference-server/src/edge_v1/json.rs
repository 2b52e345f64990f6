//! Strict JSON request bodies (S-HDR-JSON, B-CT-400, B-JSON-DUP).
//!
//! serde_json does the parsing; a small visitor builds the value and refuses duplicate
//! member names at any depth and nesting deeper than [`MAX_DEPTH`]. After the value,
//! `Deserializer::end` allows only JSON whitespace (SP, HT, LF, CR).

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Deepest nesting of arrays and objects a request body may have.
pub(crate) const MAX_DEPTH: usize = 64;

/// Why a body is not a strict JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// The bytes are not UTF-8.
    NotUtf8,
    /// Not JSON, a duplicate member, too deep, or bytes after the value.
    Invalid(String),
    /// Valid JSON, but not an object.
    NotObject,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::NotUtf8 => f.write_str("the body is not UTF-8"),
            JsonError::Invalid(why) => write!(f, "the body is not valid JSON: {why}"),
            JsonError::NotObject => f.write_str("the body must be a JSON object"),
        }
    }
}

/// Options of the parser (the defaults are the binding's rules).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Strictness {
    /// Refuse duplicate member names (B-JSON-DUP).
    pub reject_duplicates: bool,
    /// Allow non-whitespace bytes after the value (only for fault injection).
    pub allow_trailing: bool,
    /// Panic when nesting exceeds this depth (only for fault injection).
    pub panic_deeper_than: Option<usize>,
}

impl Default for Strictness {
    fn default() -> Self {
        Strictness {
            reject_duplicates: true,
            allow_trailing: false,
            panic_deeper_than: None,
        }
    }
}

/// Parses `body` as one strict JSON object.
pub(crate) fn parse_object(
    body: &[u8],
    strictness: Strictness,
) -> Result<Map<String, Value>, JsonError> {
    let text = std::str::from_utf8(body).map_err(|_| JsonError::NotUtf8)?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Strict {
        depth: 0,
        strictness,
    }
    .deserialize(&mut deserializer)
    .map_err(|e| JsonError::Invalid(e.to_string()))?;
    if !strictness.allow_trailing {
        deserializer
            .end()
            .map_err(|e| JsonError::Invalid(e.to_string()))?;
    }
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotObject),
    }
}

/// Visitor state: the depth of the value being built.
#[derive(Clone, Copy)]
struct Strict {
    depth: usize,
    strictness: Strictness,
}

impl Strict {
    fn nested<E: de::Error>(self) -> Result<Strict, E> {
        let depth = self.depth + 1;
        if let Some(limit) = self.strictness.panic_deeper_than {
            assert!(depth <= limit, "JSON nesting deeper than {limit}");
        }
        if depth > MAX_DEPTH {
            return Err(E::custom(format_args!(
                "nesting deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(Strict { depth, ..self })
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
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
        let inner = self.nested()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if self.strictness.reject_duplicates && members.contains_key(&name) {
                return Err(de::Error::custom(format_args!(
                    "duplicate member name {name:?}"
                )));
            }
            let value = map.next_value_seed(inner)?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Map<String, Value>, JsonError> {
        parse_object(text.as_bytes(), Strictness::default())
    }

    #[test]
    fn accepts_an_object_with_trailing_json_whitespace() {
        let map = parse(" {\"a\": [1, {\"b\": null}], \"c\": \"d\"} \t\r\n").unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map["c"], "d");
    }

    #[test]
    fn rejects_duplicates_at_any_depth() {
        assert!(matches!(
            parse(r#"{"a":1,"a":1}"#),
            Err(JsonError::Invalid(_))
        ));
        assert!(matches!(
            parse(r#"{"x":[{"a":1,"a":2}]}"#),
            Err(JsonError::Invalid(_))
        ));
        assert!(matches!(
            parse(r#"{"x":{"y":{"a":1,"a":2}}}"#),
            Err(JsonError::Invalid(_))
        ));
        // The same name in different objects is fine.
        assert!(parse(r#"{"a":{"a":1},"b":{"a":2}}"#).is_ok());
    }

    #[test]
    fn duplicates_pass_when_allowed() {
        let lax = Strictness {
            reject_duplicates: false,
            ..Strictness::default()
        };
        assert!(parse_object(br#"{"a":1,"a":2}"#, lax).is_ok());
    }

    #[test]
    fn rejects_non_objects() {
        for text in ["[]", "1", "\"s\"", "null", "true"] {
            assert_eq!(parse(text), Err(JsonError::NotObject), "{text}");
        }
    }

    #[test]
    fn rejects_trailing_bytes_and_non_json_whitespace() {
        for text in ["{} x", "{}{}", "{}\u{0c}", "{}\u{a0}", "{},", "{}\0"] {
            assert!(
                matches!(parse(text), Err(JsonError::Invalid(_))),
                "{text:?}"
            );
        }
        let lax = Strictness {
            allow_trailing: true,
            ..Strictness::default()
        };
        assert!(parse_object(b"{} x", lax).is_ok());
    }

    #[test]
    fn rejects_bad_utf8_and_bad_json() {
        assert_eq!(
            parse_object(b"{\"a\":\"\xff\"}", Strictness::default()),
            Err(JsonError::NotUtf8)
        );
        for text in [
            "",
            "{",
            "{'a':1}",
            "{\"a\":01}",
            "{\"a\":\"\\ud800\"}",
            "\u{feff}{}",
        ] {
            assert!(
                matches!(parse(text), Err(JsonError::Invalid(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn limits_depth() {
        let ok = format!("{}1{}", "{\"a\":".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let deep = format!(
            "{}1{}",
            "{\"a\":".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert!(matches!(parse(&deep), Err(JsonError::Invalid(_))));
        let arrays = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(parse(&arrays), Err(JsonError::Invalid(_))));
    }

    #[test]
    fn keeps_numbers_as_written() {
        let map = parse(r#"{"i":5,"f":5.0,"e":5e0,"n":-1,"big":18446744073709551616}"#).unwrap();
        assert_eq!(map["i"].as_u64(), Some(5));
        assert_eq!(map["f"].as_u64(), None);
        assert_eq!(map["e"].as_u64(), None);
        assert_eq!(map["n"].as_u64(), None);
        assert_eq!(map["big"].as_u64(), None);
    }
}
