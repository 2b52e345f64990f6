//! Value formats of the binding: standard base64 (B-ENC-B64), connection IDs (B-CID-FMT),
//! message bodies (B-MSG-FMT) and random base64url identifiers.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore as _;

/// Decodes standard base64 (RFC 4648 §4) with padding, no whitespace, no line breaks.
///
/// Non-zero padding bits are rejected (B-B64-PADBITS leaves this to implementations).
pub(crate) fn decode_b64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// Decodes base64 the way a lenient library does (for fault injection only): ASCII
/// whitespace is skipped, the base64url alphabet is read as the standard one, and padding is
/// optional.
#[cfg_attr(mutants, mutants::skip)] // fault injection only
pub(crate) fn decode_b64_lax(text: &str) -> Option<Vec<u8>> {
    let standard: String = text
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            other => other,
        })
        .collect();
    STANDARD_NO_PAD.decode(standard.trim_end_matches('=')).ok()
}

/// Whether `text` is a valid `msg`: non-empty standard base64 (B-MSG-FMT).
pub(crate) fn is_valid_msg(text: &str) -> bool {
    // Checking the length arithmetic first lets most malformed values fail without decoding.
    !text.is_empty() && text.len().is_multiple_of(4) && decode_b64(text).is_some()
}

/// Whether `cid` is a valid `connectionID`: 8 to 64 characters of `[A-Za-z0-9_-]` (B-CID-FMT).
pub(crate) fn is_valid_cid(cid: &str) -> bool {
    (8..=64).contains(&cid.len())
        && cid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `bytes` in base64url without padding.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh identifier: 128 bits from the thread-local CSPRNG, as 22 characters of base64url.
///
/// `rand::rng()` is a ChaCha12 generator seeded from the operating system (a CSPRNG).
pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64url(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_must_be_standard_and_padded() {
        assert_eq!(decode_b64("QQ==").as_deref(), Some(&b"A"[..]));
        assert_eq!(decode_b64("").as_deref(), Some(&b""[..]));
        for bad in [
            "QQ", "QQ=", "Q Q==", "QQ==\n", "-_8=", "QQ==QQ==", "Q===", "*",
        ] {
            assert!(decode_b64(bad).is_none(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn msg_is_non_empty_base64() {
        assert!(is_valid_msg("aGVsbG8="));
        assert!(is_valid_msg("AAAA"));
        assert!(!is_valid_msg(""));
        assert!(!is_valid_msg("aGVsbG8"));
        assert!(!is_valid_msg("aGVs bG8="));
        assert!(!is_valid_msg("aGVsbG8_"));
    }

    #[test]
    fn lax_base64_takes_url_alphabet_missing_padding_and_whitespace() {
        for text in ["+/8=", "-_8=", "-_8", "+/8", " +/\n8= ", "+/\r\n8"] {
            assert_eq!(decode_b64_lax(text), Some(vec![0xfb, 0xff]), "{text:?}");
        }
        assert_eq!(decode_b64_lax("*"), None);
    }

    #[test]
    fn cid_format() {
        assert!(is_valid_cid("abcdEFGH"));
        assert!(is_valid_cid(&"a".repeat(64)));
        assert!(is_valid_cid("a-b_c-d_0123"));
        assert!(!is_valid_cid("abcdEFG"));
        assert!(!is_valid_cid(&"a".repeat(65)));
        assert!(!is_valid_cid("abcd+EFGH"));
        assert!(!is_valid_cid("abcd/EFGH"));
        assert!(!is_valid_cid("abcd=EFGH"));
        assert!(!is_valid_cid("abcdéFGH"));
    }

    #[test]
    fn random_ids_are_22_url_safe_chars_and_distinct() {
        let a = random_id();
        let b = random_id();
        assert_eq!(a.len(), 22);
        assert!(is_valid_cid(&a));
        assert_ne!(a, b);
    }
}
