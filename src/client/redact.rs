//! What outputs may show of keys and signatures, for every output (reports, `curl` lines):
//! signatures and public keys are shortened to their first characters and length
//! (`<sig:dGhpcyBp…(344 chars)>`, `<key:MIIBIjAN…(392 chars)>`). Private keys never reach a
//! request, so they cannot reach an output.

use serde_json::Value;

/// Values shorter than this are shown whole (an empty or tiny token is itself the point).
const SHORTEN_FROM: usize = 16;

/// Header fields whose whole value is a signature.
const SIGNATURE_HEADERS: [&str; 1] = ["em-new-key-signature"];

/// Body properties that carry public keys (SPKI, base64).
const KEY_PROPERTIES: [&str; 2] = ["recipient", "sender"];

/// `<kind:head…(N chars)>`.
fn short(kind: &str, value: &[u8]) -> String {
    let head = String::from_utf8_lossy(&value[..8.min(value.len())]).into_owned();
    format!("<{kind}:{head}…({} chars)>", value.len())
}

/// A request header value with its signature shortened (`Authorization: SCHEME TOKEN`, and
/// the fields whose value is a signature), or `None` when nothing needs shortening.
pub fn header(name: &str, value: &[u8]) -> Option<Vec<u8>> {
    if name.eq_ignore_ascii_case("authorization") {
        let space = value.iter().position(|b| *b == b' ')?;
        let (scheme, token) = value.split_at(space + 1);
        return (token.len() >= SHORTEN_FROM)
            .then(|| [scheme, short("sig", token).as_bytes()].concat());
    }
    let signature = SIGNATURE_HEADERS
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h));
    (signature && value.len() >= SHORTEN_FROM).then(|| short("sig", value).into_bytes())
}

/// A body with the public keys of a JSON object (`recipient`, `sender`) shortened, every
/// other byte as sent; `None` when nothing needs shortening (also for non-JSON bodies).
pub fn body(body: &[u8]) -> Option<String> {
    let (Ok(text), Ok(Value::Object(map))) = (
        std::str::from_utf8(body),
        serde_json::from_slice::<Value>(body),
    ) else {
        return None;
    };
    let mut out = text.to_owned();
    let mut changed = false;
    for name in KEY_PROPERTIES {
        if let Some(Value::String(key)) = map.get(name) {
            // The literal as serialised; keys are base64, so no escapes can differ.
            let literal = format!("\"{key}\"");
            if key.len() >= SHORTEN_FROM && out.contains(&literal) {
                changed = true;
                out = out.replace(&literal, &format!("\"{}\"", short("key", key.as_bytes())));
            }
        }
    }
    changed.then_some(out)
}

/// [`header`] for text: the value shortened, or as it was.
pub fn header_text(name: &str, value: &str) -> String {
    header(name, value.as_bytes()).map_or_else(
        || value.to_string(),
        |v| String::from_utf8_lossy(&v).into_owned(),
    )
}

/// [`body`] for text: the body shortened, or as it was.
pub fn body_text(text: &str) -> String {
    body(text.as_bytes()).unwrap_or_else(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_keys_are_shortened() {
        let sig = "A".repeat(344);
        assert_eq!(
            header_text("Authorization", &format!("EMSig {sig}")),
            "EMSig <sig:AAAAAAAA…(344 chars)>"
        );
        assert_eq!(header_text("Authorization", "EMSig short"), "EMSig short");
        assert_eq!(header_text("Content-Type", &sig), sig);
        assert_eq!(
            header_text("EM-New-Key-Signature", &sig),
            "<sig:AAAAAAAA…(344 chars)>"
        );
        let key = format!("MIIBIjAN{}", "B".repeat(384));
        let b = body_text(&format!(r#"{{"recipient":"{key}","connectionID":"x"}}"#));
        assert_eq!(
            b,
            r#"{"recipient":"<key:MIIBIjAN…(392 chars)>","connectionID":"x"}"#
        );
        assert_eq!(body_text("not json"), "not json");
        assert!(body(b"{\"recipient\":\"short\"}").is_none());
    }
}
