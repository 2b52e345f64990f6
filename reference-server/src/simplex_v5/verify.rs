//! One RSA verification per request, whatever the outcome (V-TIMING, V-WS-TIMING).
//!
//! Every request that reaches the value checks costs exactly one RSASSA-PSS verification:
//! with the connection's key when the URI is live, with a fixed 2048-bit dummy key when it
//! is not (that one always fails), and over a stand-in signature of the key's length when the
//! request carries none or one of another length. So an unknown URI, a wrong signature and a
//! missing one take the same time (the v5 text: "it can be achieved by verifying a signature
//! even if the connection does not exist").

use aws_lc_rs::digest::Digest;

use crate::edge_v1::keys::{KeyLeniency, PublicKey};

/// The SPKI of the dummy key (RSA-2048, e = 65537). Its private half was thrown away.
const DUMMY_SPKI: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAmzxCzRUGSCYOUkCsH1YcMN7cIvOoJqMq7hR+8Vnha49NVMrKJrxUEnGWF/plnIIc0L77116bo5tJpXNFRh4RN/Hn5npSEXsqBEitQsCwGEJFiOYNxoS85gnqpjuHI2qnKJIk2sfTOarn01P6Q6eI00guuHhV9NEakA3gcdY8hu7+RbynGY9FYQ3sgjuiHNfQaTpmKfyXCLw+jlnvBPqK9SZIgKbCSMpB33p9NuxGVQ2tMmkaaQ48o/ZjJpXgKCfiRDhEC+3eShiguLMNAttDDDmvSYc2eK1VxRp0/CdVedGQwItG9+IvT9bWTdu0Oyu7oy69CsDpG7ZSmjYF0MKO8QIDAQAB";

/// Verifies signatures with equal cost for every failure cause.
pub(crate) struct Verifier {
    dummy: PublicKey,
}

impl Verifier {
    /// A verifier with the dummy key parsed.
    pub(crate) fn new() -> Verifier {
        Verifier {
            // A constant of this file, checked by the unit test below.
            dummy: PublicKey::from_base64(DUMMY_SPKI, KeyLeniency::default())
                .unwrap_or_else(|_| unreachable!("the dummy key is a valid RSA-2048 SPKI")),
        }
    }

    /// Whether `signature` by `key` covers `digest`. With no `key` (the URI does not exist)
    /// the dummy key does the same work and the answer is `false`.
    pub(crate) fn verify(
        &self,
        key: Option<&PublicKey>,
        digest: &Digest,
        signature: Option<&[u8]>,
    ) -> bool {
        let with = key.unwrap_or(&self.dummy);
        let len = with.modulus_len();
        let stand_in;
        let signature = match signature {
            // Not against the dummy key: a signature made for another key may be above its
            // modulus, and aws-lc refuses those before the exponentiation (a faster failure).
            Some(sig) if sig.len() == len && key.is_some() => sig,
            // A value below any modulus of this length: the full verification runs and fails.
            _ => {
                stand_in = stand_in_signature(len);
                &stand_in
            }
        };
        let valid = with.verify(digest, signature);
        valid && key.is_some()
    }

    /// The same work as [`Verifier::verify`] for an unknown URI, skipped (the
    /// `skip-verify-unknown-uri` fault calls nothing).
    pub(crate) fn burn(&self, digest: &Digest, signature: Option<&[u8]>) {
        let _ = self.verify(None, digest, signature);
    }
}

/// `len` bytes: a zero byte, then 0x5a.
fn stand_in_signature(len: usize) -> Vec<u8> {
    let mut sig = vec![0x5a; len];
    if let Some(first) = sig.first_mut() {
        *first = 0;
    }
    sig
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::digest::{digest, SHA256};

    #[test]
    fn dummy_key_is_rsa_2048_and_fails_everything() {
        let v = Verifier::new();
        assert_eq!(v.dummy.modulus_len(), 256);
        let d = digest(&SHA256, b"x");
        assert!(!v.verify(None, &d, None));
        assert!(!v.verify(None, &d, Some(&[1; 256])));
        let key = crate::edge_v1::keys::test_key("rsa2048-a");
        assert!(!v.verify(Some(&key), &d, Some(&[1; 7])));
    }
}
