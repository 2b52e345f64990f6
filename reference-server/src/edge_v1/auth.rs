//! Request signatures: the signing input (B-SIG-INPUT) and the `Authorization` and
//! `EM-New-Key-Signature` header fields (B-SIG-HDR, B-SIG-NEWKEY).

use std::fmt;

use aws_lc_rs::digest::{Context, Digest, SHA256};
use hyper::header::{HeaderMap, HeaderName, AUTHORIZATION};

use crate::edge_v1::encoding::{decode_b64, decode_b64_lax};

/// The header field carrying the proof of possession of a new key (B-SIG-NEWKEY).
pub(crate) static NEW_KEY_SIGNATURE: HeaderName = HeaderName::from_static("em-new-key-signature");

/// The authorization scheme name (compared case-insensitively).
const SCHEME: &str = "EMSig";

/// SHA-256 of the signed bytes `"EMSig1" LF METHOD LF PATH LF BODY`.
///
/// `path` is the request-target's path and query exactly as received. Hashing the parts in
/// sequence avoids copying the body.
pub(crate) fn signing_digest(method: &str, path: &str, body: &[u8]) -> Digest {
    let mut context = Context::new(&SHA256);
    context.update(b"EMSig1\n");
    context.update(method.as_bytes());
    context.update(b"\n");
    context.update(path.as_bytes());
    context.update(b"\n");
    context.update(body);
    context.finish()
}

/// Why a signature header is unusable (→ 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// No such field.
    Missing,
    /// The field appears more than once.
    Repeated,
    /// Wrong scheme, wrong spacing, or not one standard base64 token.
    Malformed,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderError::Missing => "is missing",
            HeaderError::Repeated => "appears more than once",
            HeaderError::Malformed => "is malformed",
        })
    }
}

/// Options for reading `Authorization` beyond the binding (for fault injection).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HeaderLeniency {
    /// Accept any scheme name.
    pub any_scheme: bool,
    /// Use the first of several fields.
    pub first_of_many: bool,
    /// Accept the base64url alphabet and missing padding in signature tokens.
    pub lax_base64: bool,
}

/// The signature bytes of `Authorization: EMSig <base64>`.
pub(crate) fn authorization(
    headers: &HeaderMap,
    leniency: HeaderLeniency,
) -> Result<Vec<u8>, HeaderError> {
    let value = single_value(headers, &AUTHORIZATION, leniency.first_of_many)?;
    let (scheme, token) = value.split_once(' ').ok_or(HeaderError::Malformed)?;
    if !leniency.any_scheme && !scheme.eq_ignore_ascii_case(SCHEME) {
        return Err(HeaderError::Malformed);
    }
    decode_token(token, leniency.lax_base64)
}

/// Decodes a constant token of an RSA-2048 signature's length and drops it: the work a
/// present `Authorization` costs, done for a request without one, so that an unsigned request
/// fails in the same time as a signed one (simplex-v5's V-TIMING).
pub(crate) fn decode_stand_in() {
    static TOKEN: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("{}==", "A".repeat(342)));
    let _ = std::hint::black_box(decode_token(std::hint::black_box(&TOKEN), false));
}

/// The signature bytes of `EM-New-Key-Signature: <base64>` (only `lax_base64` of the
/// leniency applies).
pub(crate) fn new_key_signature(
    headers: &HeaderMap,
    leniency: HeaderLeniency,
) -> Result<Vec<u8>, HeaderError> {
    let value = single_value(headers, &NEW_KEY_SIGNATURE, false)?;
    decode_token(value, leniency.lax_base64)
}

/// The one value of `name`, without the optional whitespace around it (RFC 9110 §5.5).
fn single_value<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    first_of_many: bool,
) -> Result<&'h str, HeaderError> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(HeaderError::Missing)?;
    if values.next().is_some() && !first_of_many {
        return Err(HeaderError::Repeated);
    }
    let text = value.to_str().map_err(|_| HeaderError::Malformed)?;
    Ok(text.trim_matches([' ', '\t']))
}

/// One non-empty standard base64 token (no inner whitespace); `lax` also takes the base64url
/// alphabet and missing padding.
fn decode_token(token: &str, lax: bool) -> Result<Vec<u8>, HeaderError> {
    let bytes = if lax && !token.contains([' ', '\t']) {
        decode_b64_lax(token)
    } else {
        decode_b64(token)
    };
    match bytes {
        Some(bytes) if !bytes.is_empty() => Ok(bytes),
        _ => Err(HeaderError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append((*name).clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn digest_covers_method_path_and_body_exactly() {
        let expected =
            aws_lc_rs::digest::digest(&SHA256, b"EMSig1\nPUT\n/connection/x?\n{\"a\":1}");
        let got = signing_digest("PUT", "/connection/x?", b"{\"a\":1}");
        assert_eq!(got.as_ref(), expected.as_ref());
        assert_ne!(
            signing_digest("PUT", "/connection/x", b"{\"a\":1}").as_ref(),
            expected.as_ref()
        );
    }

    #[test]
    fn parses_the_authorization_field() {
        let strict = HeaderLeniency::default();
        for ok in ["EMSig QUJD", "emsig QUJD", "EMSIG QUJD", "  EMSig QUJD\t"] {
            let h = headers(&[(&AUTHORIZATION, ok)]);
            assert_eq!(authorization(&h, strict), Ok(b"ABC".to_vec()), "{ok:?}");
        }
        for (bad, why) in [
            ("Bearer QUJD", HeaderError::Malformed),
            ("EMSig  QUJD", HeaderError::Malformed),
            ("EMSig", HeaderError::Malformed),
            ("EMSig QUJ", HeaderError::Malformed),
            ("EMSig QU JD", HeaderError::Malformed),
            ("EMSig QUJD QUJD", HeaderError::Malformed),
            ("EMSig -_8=", HeaderError::Malformed),
            ("EMSigQUJD", HeaderError::Malformed),
            ("QUJD", HeaderError::Malformed),
        ] {
            let h = headers(&[(&AUTHORIZATION, bad)]);
            assert_eq!(authorization(&h, strict), Err(why), "{bad:?}");
        }
        assert_eq!(
            authorization(&HeaderMap::new(), strict),
            Err(HeaderError::Missing)
        );
        let two = headers(&[
            (&AUTHORIZATION, "EMSig QUJD"),
            (&AUTHORIZATION, "EMSig QUJD"),
        ]);
        assert_eq!(authorization(&two, strict), Err(HeaderError::Repeated));
    }

    #[test]
    fn leniency_changes_scheme_and_repetition_rules() {
        let lax = HeaderLeniency {
            any_scheme: true,
            first_of_many: true,
            lax_base64: true,
        };
        let h = headers(&[(&AUTHORIZATION, "Bearer QUJD"), (&AUTHORIZATION, "x")]);
        assert_eq!(authorization(&h, lax), Ok(b"ABC".to_vec()));
        for token in ["-_8", "-_8=", "+/8"] {
            let h = headers(&[(&AUTHORIZATION, &*format!("EMSig {token}"))]);
            assert_eq!(authorization(&h, lax), Ok(vec![0xfb, 0xff]), "{token}");
            let h = headers(&[(&NEW_KEY_SIGNATURE, token)]);
            assert_eq!(new_key_signature(&h, lax), Ok(vec![0xfb, 0xff]), "{token}");
        }
    }

    #[test]
    fn parses_the_new_key_signature_field() {
        let strict = HeaderLeniency::default();
        let h = headers(&[(&NEW_KEY_SIGNATURE, " QUJD ")]);
        assert_eq!(new_key_signature(&h, strict), Ok(b"ABC".to_vec()));
        let h = headers(&[(&NEW_KEY_SIGNATURE, "EMSig QUJD")]);
        assert_eq!(new_key_signature(&h, strict), Err(HeaderError::Malformed));
        let h = headers(&[(&NEW_KEY_SIGNATURE, "QUJD"), (&NEW_KEY_SIGNATURE, "QUJD")]);
        assert_eq!(new_key_signature(&h, strict), Err(HeaderError::Repeated));
        let h = headers(&[(&NEW_KEY_SIGNATURE, "-_8=")]);
        assert_eq!(new_key_signature(&h, strict), Err(HeaderError::Malformed));
        assert_eq!(
            new_key_signature(&HeaderMap::new(), strict),
            Err(HeaderError::Missing)
        );
    }
}
