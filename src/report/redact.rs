//! What outputs may show of keys and signatures: signatures and public keys are shortened to
//! their first characters and length (`<sig:dGhpcyBp…(344 chars)>`, `<key:MIIBIjAN…(392
//! chars)>`); private keys never reach a request, so they cannot reach an output.

/// Values shorter than this are shown whole (an empty or tiny token is itself the point).
const SHORTEN_FROM: usize = 16;

/// Body properties that carry public keys (SPKI, base64).
const KEY_PROPERTIES: [&str; 2] = ["recipient", "sender"];

/// `<kind:head…(N chars)>`.
fn short(kind: &str, value: &str) -> String {
    let head: String = value.chars().take(8).collect();
    format!("<{kind}:{head}…({} chars)>", value.chars().count())
}

/// A request header value with its signature shortened (`Authorization`,
/// `EM-New-Key-Signature`); other fields unchanged.
pub fn header(name: &str, value: &str) -> String {
    if name.eq_ignore_ascii_case("authorization") {
        if let Some((scheme, token)) = value.split_once(' ') {
            if token.len() >= SHORTEN_FROM {
                return format!("{scheme} {}", short("sig", token));
            }
        }
    } else if name.eq_ignore_ascii_case(crate::profiles::edge_v1::sign::NEW_KEY_HEADER)
        && value.len() >= SHORTEN_FROM
    {
        return short("sig", value);
    }
    value.to_string()
}

/// A body with the public keys of a JSON object (`recipient`, `sender`) shortened, every
/// other byte as sent. Bodies that are not JSON objects are returned unchanged.
pub fn body(text: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) else {
        return text.to_string();
    };
    let mut out = text.to_string();
    for name in KEY_PROPERTIES {
        if let Some(serde_json::Value::String(key)) = map.get(name) {
            // The literal as serialised; keys are base64, so no escapes can differ.
            let literal = format!("\"{key}\"");
            if key.len() >= SHORTEN_FROM && out.contains(&literal) {
                out = out.replace(&literal, &format!("\"{}\"", short("key", key)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_keys_are_shortened() {
        let sig = "A".repeat(344);
        assert_eq!(
            header("Authorization", &format!("EMSig {sig}")),
            "EMSig <sig:AAAAAAAA…(344 chars)>"
        );
        assert_eq!(header("Authorization", "EMSig short"), "EMSig short");
        assert_eq!(header("Content-Type", &sig), sig);
        let key = format!("MIIBIjAN{}", "B".repeat(384));
        let b = body(&format!(r#"{{"recipient":"{key}","connectionID":"x"}}"#));
        assert_eq!(
            b,
            r#"{"recipient":"<key:MIIBIjAN…(392 chars)>","connectionID":"x"}"#
        );
        assert_eq!(body("not json"), "not json");
    }
}
