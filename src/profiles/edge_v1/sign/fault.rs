//! Deliberately broken signatures (`sigFault` in case files).

use serde::{Deserialize, Serialize};

use super::{signing_input, Key, Scheme};
use crate::profiles::edge_v1::wire::b64;

/// One deliberate fault in a signature token; every one must be rejected (B-SIG-ALG,
/// B-SIG-INPUT, B-SIG-HDR, B-ENC-B64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SigFault {
    /// RSASSA-PKCS1-v1_5 with SHA-256 instead of PSS.
    Pkcs1v15,
    /// PSS with a 20-byte salt.
    Salt20,
    /// PSS with no salt.
    Salt0,
    /// PSS with a 64-byte salt.
    Salt64,
    /// The correct signature without its last byte.
    Truncated,
    /// The correct signature with one bit flipped.
    Bitflip,
    /// An empty token.
    Empty,
    /// The correct token with characters outside every base64 alphabet.
    NotBase64,
    /// The correct signature in the URL-safe alphabet (always contains `-` or `_`).
    Base64url,
    /// The correct token without its `=` padding.
    NoPadding,
    /// Signs another path (`…/messages` added, or removed).
    WrongPath,
    /// Signs another method.
    WrongMethod,
    /// Signs the body with one trailing space added.
    WrongBody,
    /// Signs with the other key.
    OtherKey,
    /// Signs an empty body (`{}` when the body is already empty).
    EmptyBody,
    /// Signs the path without its query (with `?x=1` added when there is none).
    DropQuery,
}

impl SigFault {
    /// Every fault, in the order of `docs/case-format.md`.
    pub const ALL: [SigFault; 16] = [
        SigFault::Pkcs1v15,
        SigFault::Salt20,
        SigFault::Salt0,
        SigFault::Salt64,
        SigFault::Truncated,
        SigFault::Bitflip,
        SigFault::Empty,
        SigFault::NotBase64,
        SigFault::Base64url,
        SigFault::NoPadding,
        SigFault::WrongPath,
        SigFault::WrongMethod,
        SigFault::WrongBody,
        SigFault::OtherKey,
        SigFault::EmptyBody,
        SigFault::DropQuery,
    ];
}

/// The base64 signature token for a request, or the broken token `fault` asks for.
///
/// `other` is used by [`SigFault::OtherKey`] only and must differ from `key`.
/// [`SigFault::NoPadding`] needs a padded token: signatures of 2048- and 4096-bit keys
/// always are (256 and 512 bytes are not multiples of 3), but a 3072-bit signature (384
/// bytes) never is, so for such keys the last byte is dropped first, which leaves a
/// padded token to strip.
pub fn signature_token(
    key: &Key,
    other: &Key,
    method: &str,
    path: &str,
    body: &[u8],
    fault: Option<SigFault>,
) -> String {
    let input = || signing_input(method, path, body);
    let Some(fault) = fault else {
        return b64(key.sign(&input()));
    };
    match fault {
        SigFault::Pkcs1v15 => b64(key.sign_with(&input(), Scheme::Pkcs1v15)),
        SigFault::Salt20 => b64(key.sign_with(&input(), Scheme::Pss { salt: 20 })),
        SigFault::Salt0 => b64(key.sign_with(&input(), Scheme::Pss { salt: 0 })),
        SigFault::Salt64 => b64(key.sign_with(&input(), Scheme::Pss { salt: 64 })),
        SigFault::Truncated => {
            let mut sig = key.sign(&input());
            sig.pop();
            b64(sig)
        }
        SigFault::Bitflip => {
            let mut sig = key.sign(&input());
            let mid = sig.len() / 2;
            sig[mid] ^= 0x10;
            b64(sig)
        }
        SigFault::Empty => String::new(),
        SigFault::NotBase64 => {
            let token = b64(key.sign(&input()));
            format!("!*{}", &token[2..])
        }
        SigFault::Base64url => {
            // PSS is randomised, so a fresh signature is a fresh chance; a 344-character
            // token lacks both `+` and `/` with probability about 2^-15.
            let mut token = b64(key.sign(&input()));
            for _ in 0..64 {
                if token.contains(['+', '/']) {
                    break;
                }
                token = b64(key.sign(&input()));
            }
            token.replace('+', "-").replace('/', "_")
        }
        SigFault::NoPadding => {
            let mut sig = key.sign(&input());
            if sig.len().is_multiple_of(3) {
                sig.pop();
            }
            b64(sig).trim_end_matches('=').to_owned()
        }
        SigFault::WrongPath => {
            let wrong = match path.strip_suffix("/messages") {
                Some(stripped) => stripped.to_owned(),
                None => format!("{path}/messages"),
            };
            b64(key.sign(&signing_input(method, &wrong, body)))
        }
        SigFault::WrongMethod => {
            let wrong = if method == "POST" { "PUT" } else { "POST" };
            b64(key.sign(&signing_input(wrong, path, body)))
        }
        SigFault::WrongBody => {
            let mut wrong = body.to_vec();
            wrong.push(b' ');
            b64(key.sign(&signing_input(method, path, &wrong)))
        }
        SigFault::OtherKey => b64(other.sign(&input())),
        SigFault::EmptyBody => {
            let empty: &[u8] = if body.is_empty() { b"{}" } else { b"" };
            b64(key.sign(&signing_input(method, path, empty)))
        }
        SigFault::DropQuery => {
            let wrong = match path.split_once('?') {
                Some((bare, _)) => bare.to_owned(),
                None => format!("{path}?x=1"),
            };
            b64(key.sign(&signing_input(method, &wrong, body)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::edge_v1::sign::key::tests::rsa_verify;
    use crate::profiles::edge_v1::sign::KeyPool;
    use crate::profiles::edge_v1::wire::unb64;

    #[test]
    fn serde_names_match_the_case_format() {
        let names: Vec<String> = SigFault::ALL
            .iter()
            .map(|f| {
                serde_json::to_value(f)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            names,
            [
                "pkcs1v15",
                "salt20",
                "salt0",
                "salt64",
                "truncated",
                "bitflip",
                "empty",
                "notBase64",
                "base64url",
                "noPadding",
                "wrongPath",
                "wrongMethod",
                "wrongBody",
                "otherKey",
                "emptyBody",
                "dropQuery"
            ]
        );
        let f: SigFault = serde_json::from_str("\"wrongPath\"").unwrap();
        assert_eq!(f, SigFault::WrongPath);
        assert!(serde_json::from_str::<SigFault>("\"WrongPath\"").is_err());
    }

    /// The correct token verifies; every fault is either not valid base64 or does not verify
    /// for the request, under an independent verifier.
    #[test]
    fn every_fault_is_rejected_by_an_independent_verifier() {
        let pool = KeyPool::builtin().unwrap();
        let (key, other) = (pool.take(), pool.take());
        let (method, path, body) = ("PUT", "/r/abc", br#"{"connectionID":"x"}"#.as_slice());
        let input = signing_input(method, path, body);
        let good = signature_token(&key, &other, method, path, body, None);
        assert!(rsa_verify(
            key.spki_der(),
            &input,
            &unb64(&good).unwrap(),
            32
        ));
        for fault in SigFault::ALL {
            let token = signature_token(&key, &other, method, path, body, Some(fault));
            assert_ne!(token, good, "{fault:?}");
            match unb64(&token) {
                Err(_) => assert!(
                    matches!(
                        fault,
                        SigFault::NotBase64 | SigFault::Base64url | SigFault::NoPadding
                    ),
                    "{fault:?} produced invalid base64"
                ),
                Ok(sig) => assert!(
                    !rsa_verify(key.spki_der(), &input, &sig, 32),
                    "{fault:?} verified"
                ),
            }
        }
    }

    #[test]
    fn encoding_faults_keep_the_signature_recognisable() {
        let pool = KeyPool::builtin().unwrap();
        let (key, other) = (pool.take(), pool.take());
        let input = signing_input("POST", "/r/messages", b"{}");
        let tok = |f| signature_token(&key, &other, "POST", "/r/messages", b"{}", Some(f));
        for _ in 0..20 {
            let url = tok(SigFault::Base64url);
            assert!(url.contains(['-', '_']), "{url}");
            let std = url.replace('-', "+").replace('_', "/");
            assert!(rsa_verify(
                key.spki_der(),
                &input,
                &unb64(&std).unwrap(),
                32
            ));
        }
        let nopad = tok(SigFault::NoPadding);
        assert!(!nopad.contains('='));
        assert!(rsa_verify(
            key.spki_der(),
            &input,
            &unb64(&format!("{nopad}==")).unwrap(),
            32
        ));
        // The other-key and wrong-input faults are valid signatures of something else.
        let wrong_path = unb64(&tok(SigFault::WrongPath)).unwrap();
        assert!(rsa_verify(
            key.spki_der(),
            &signing_input("POST", "/r", b"{}"),
            &wrong_path,
            32
        ));
        let other_sig = unb64(&tok(SigFault::OtherKey)).unwrap();
        assert!(rsa_verify(other.spki_der(), &input, &other_sig, 32));
        let empty = unb64(&tok(SigFault::EmptyBody)).unwrap();
        assert!(rsa_verify(
            key.spki_der(),
            &signing_input("POST", "/r/messages", b""),
            &empty,
            32
        ));
        let with_query = |f| signature_token(&key, &other, "POST", "/r?a=b", b"", Some(f));
        let bare = unb64(&with_query(SigFault::DropQuery)).unwrap();
        assert!(rsa_verify(
            key.spki_der(),
            &signing_input("POST", "/r", b""),
            &bare,
            32
        ));
        let empty_object = unb64(&with_query(SigFault::EmptyBody)).unwrap();
        assert!(rsa_verify(
            key.spki_der(),
            &signing_input("POST", "/r?a=b", b"{}"),
            &empty_object,
            32
        ));
    }

    #[test]
    fn no_padding_on_a_3072_bit_key_still_strips_padding() {
        let pool = KeyPool::builtin().unwrap();
        let key = pool.take_sized(3072).unwrap();
        let other = pool.take();
        let t = signature_token(&key, &other, "POST", "/c", b"{}", Some(SigFault::NoPadding));
        assert!(!t.contains('=') && unb64(&t).is_err());
        let good = signature_token(&key, &other, "POST", "/c", b"{}", None);
        assert!(!good.contains('='), "384-byte signatures have no padding");
    }
}
