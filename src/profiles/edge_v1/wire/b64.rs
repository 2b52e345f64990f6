//! Standard padded base64 (RFC 4648 §4), as B-ENC-B64 requires.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

use super::WireError;

/// Standard alphabet, padding written and required. Non-zero padding bits (`QR==`) are
/// accepted: B-B64-PADBITS leaves them to implementations, so the suite must not judge them.
const STRICT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// Encodes bytes as standard base64 with padding.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    STRICT.encode(bytes)
}

/// Decodes standard padded base64; whitespace, the URL alphabet and missing padding are errors.
pub fn unb64(text: &str) -> Result<Vec<u8>, WireError> {
    STRICT
        .decode(text)
        .map_err(|e| WireError::Base64(e.to_string()))
}

/// Whether `text` is valid standard padded base64 (the empty string is).
pub fn is_b64(text: &str) -> bool {
    unb64(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_pads() {
        assert_eq!(b64(b"A"), "QQ==");
        assert_eq!(b64(b"AB"), "QUI=");
        assert_eq!(b64([0xfb, 0xff]), "+/8=");
        assert_eq!(unb64("+/8=").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(unb64("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn rejects_everything_but_standard_padded() {
        for bad in [
            "QQ", "QQ=", "-_8=", "QQ==\n", " QQ==", "QU I=", "QQ===", "Q", "QQ==QQ==",
        ] {
            assert!(unb64(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn padding_bits_are_not_judged() {
        // B-B64-PADBITS: implementation-defined, so the suite accepts both.
        assert_eq!(unb64("QR==").unwrap(), unb64("QQ==").unwrap());
    }
}
