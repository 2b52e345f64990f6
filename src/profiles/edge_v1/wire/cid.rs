//! Connection IDs (B-CID-FMT).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// A fresh connection ID: 128 random bits as 22 base64url characters (B-CID-FMT).
pub fn connection_id() -> String {
    let bits: [u8; 16] = rand::random();
    URL_SAFE_NO_PAD.encode(bits)
}

/// A fresh random string of `len` base64url characters (a `connectionID` when `len` is 8
/// to 64; B-CID-FMT).
pub fn connection_id_of_len(len: usize) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..len)
        .map(|_| char::from(ALPHABET[rand::random_range(0..64)]))
        .collect()
}

/// Whether `s` is a valid `connectionID`: 8 to 64 characters of `[A-Za-z0-9_-]` (B-CID-FMT).
pub fn is_connection_id(s: &str) -> bool {
    (8..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_22_base64url_chars_and_distinct() {
        let ids: HashSet<String> = (0..1000).map(|_| connection_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 22);
            assert!(is_connection_id(id), "{id}");
        }
    }

    #[test]
    fn ids_of_the_legal_lengths_are_valid() {
        for n in [8, 22, 64] {
            let id = connection_id_of_len(n);
            assert_eq!(id.len(), n);
            assert!(is_connection_id(&id), "{id}");
        }
        assert_ne!(connection_id_of_len(64), connection_id_of_len(64));
    }

    #[test]
    fn format_check() {
        assert!(is_connection_id("abcdEF09"));
        assert!(is_connection_id(&"_-".repeat(32)));
        assert!(!is_connection_id("abcdEF0"));
        assert!(!is_connection_id(&"a".repeat(65)));
        assert!(!is_connection_id("abcd+EF09"));
        assert!(!is_connection_id("abcd=EF09"));
        assert!(!is_connection_id("abcdéEF09"));
    }
}
