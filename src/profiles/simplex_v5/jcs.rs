//! The signed bytes of a WebSocket request (VB-WS-SIG): `"EMSig1" LF "WS" LF NONCE LF`, then
//! the request without `auth` in the JSON Canonicalization Scheme (RFC 8785), done by
//! `serde_json_canonicalizer`.

use serde_json::Value;

/// The first line of every signed input (as B-SIG-INPUT's).
pub const DOMAIN: &[u8] = b"EMSig1\nWS\n";

/// RFC 8785 serialisation of a JSON value: members sorted by UTF-16 code units, no
/// whitespace, ECMAScript number formatting, minimal string escapes.
pub fn canonical(v: &Value) -> String {
    // Serialising a `Value` cannot fail: its keys are strings and its numbers finite.
    serde_json_canonicalizer::to_string(v).unwrap_or_default()
}

/// The request without its `auth` member.
pub fn without_auth(request: &Value) -> Value {
    let mut v = request.clone();
    if let Value::Object(m) = &mut v {
        m.remove("auth");
    }
    v
}

/// The bytes a subscribe's `auth` signs: the domain lines, the session's nonce exactly as
/// the hello carried it, a line feed, and the canonical request without `auth`.
pub fn signing_input(nonce: &str, request: &Value) -> Vec<u8> {
    with_body(nonce, canonical(&without_auth(request)).as_bytes())
}

/// The domain lines and nonce followed by `body` (for deliberately wrong bodies).
pub fn with_body(nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(DOMAIN.len() + nonce.len() + 1 + body.len());
    out.extend_from_slice(DOMAIN);
    out.extend_from_slice(nonce.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8785 §3.2.2: the sample input and its canonical form.
    #[test]
    fn rfc8785_section_3_2_2_sample() {
        let input = r#"{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;
        let v: Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            canonical(&v),
            "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\
             \"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"
        );
    }

    /// RFC 8785 §3.2.3: members sorted by UTF-16 code units, not by code points or bytes.
    #[test]
    fn rfc8785_section_3_2_3_sorting() {
        let input = r#"{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"#;
        let v: Value = serde_json::from_str(input).unwrap();
        let keys: Vec<String> = {
            let c = canonical(&v);
            let back: serde_json::Map<String, Value> = serde_json::from_str(&c).unwrap();
            back.keys().cloned().collect()
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
        assert!(canonical(&v).starts_with("{\"\\r\":\"Carriage Return\",\"1\":\"One\","));
    }

    /// RFC 8785 Appendix B: IEEE 754 doubles and their JSON form.
    #[test]
    fn rfc8785_appendix_b_numbers() {
        let vectors: [(u64, &str); 24] = [
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, expected) in vectors {
            let v = serde_json::json!([f64::from_bits(bits)]);
            assert_eq!(canonical(&v), format!("[{expected}]"), "{bits:016x}");
        }
    }

    /// What the suite relies on for subscribes: members sorted, no whitespace, and the
    /// characters some encoders escape (`<`, `>`, `&`, U+2028) written as themselves.
    #[test]
    fn subscribe_inputs() {
        let req = serde_json::json!({
            "type": "subscribe",
            "recipientURI": "https://h/c/x",
            "id": "a<b>&c\u{2028}",
            "auth": "QQ==",
        });
        assert_eq!(
            String::from_utf8(signing_input("Tm9uY2U=", &req)).unwrap(),
            "EMSig1\nWS\nTm9uY2U=\n{\"id\":\"a<b>&c\u{2028}\",\"recipientURI\":\"https://h/c/x\",\
             \"type\":\"subscribe\"}"
        );
    }
}
