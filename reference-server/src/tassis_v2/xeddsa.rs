//! XEdDSA verification of login signatures (TB-SIG).
//!
//! The identity key is an X25519 (Montgomery u) public key. The signature is checked as
//! Ed25519 under the Edwards point of u, whose sign bit travels in the top bit of the
//! signature's last byte:
//!
//! 1. u = the identity key with bit 255 cleared; u ≥ p (2²⁵⁵ − 19) is refused;
//! 2. the Edwards point with y = (u − 1)/(u + 1) and the sign bit of `signature[63]` is
//!    decompressed (u = p − 1 and u without a point are refused), and points of small order
//!    (u = 0, 1, p − 1 and the two u of order 8) are refused: anyone could forge logins for
//!    them;
//! 3. that bit is cleared in the signature, and Ed25519 is verified as RFC 8032 says:
//!    `s` ≥ L is refused (ed25519-dalek's `verify` requires a canonical `s`), cofactorless
//!    equation over SHA-512(R ‖ A ‖ message).
//!
//! Signatures made by libsignal's `calculateSignature` (real sign bit in `signature[63]`) and
//! by the XEdDSA specification (negated scalar, so the sign bit is 0) both verify.

use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};

/// p = 2²⁵⁵ − 19, little-endian.
const P: [u8; 32] = {
    let mut p = [0xff; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
};

/// Checks the verifier skips, each only for a fault (all off for the correct server).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Lax {
    /// Keys with u ≥ p and small-order points are used as they come, as Go's verifier does
    /// (`degenerate-key-forgery`).
    pub degenerate_keys: bool,
    /// u ≥ p is reduced modulo p instead of refused; small-order points are still refused
    /// (`non-canonical-u-reduced`).
    pub non_canonical_reduced: bool,
    /// `s` ≥ L is reduced modulo L instead of refused (`malleable-s`).
    pub malleable_s: bool,
    /// The sign bit in `signature[63]` is cleared but not used: the Edwards key always has
    /// sign bit 0 (`sign-bit-ignored`).
    pub sign_bit_ignored: bool,
}

/// Whether `signature` is a valid XEdDSA signature of `message` by `identity_key`.
pub(crate) fn verify(
    identity_key: &[u8; 32],
    message: &[u8],
    signature: &[u8; 64],
    lax: Lax,
) -> bool {
    let mut u = *identity_key;
    u[31] &= 0x7f;
    let mut sig = *signature;
    let sign = if lax.sign_bit_ignored {
        0
    } else {
        sig[63] >> 7
    };
    sig[63] &= 0x7f;
    let key = if lax.degenerate_keys {
        lax_key(&u, sign)
    } else {
        strict_key(&u, sign, lax.non_canonical_reduced)
    };
    let Some(key) = key else {
        return false;
    };
    if lax.malleable_s {
        let mut s = [0; 32];
        s.copy_from_slice(&sig[32..]);
        sig[32..].copy_from_slice(Scalar::from_bytes_mod_order(s).as_bytes());
    }
    key.verify(message, &Signature::from_bytes(&sig)).is_ok()
}

/// The Edwards key of u (bit 255 already cleared), refusing u ≥ p (unless `reduce`, a
/// fault) and small-order points.
fn strict_key(u: &[u8; 32], sign: u8, reduce: bool) -> Option<VerifyingKey> {
    if !less_than_p(u) && !reduce {
        return None;
    }
    let point = MontgomeryPoint(*u).to_edwards(sign)?;
    if point.is_small_order() {
        return None;
    }
    Some(VerifyingKey::from(point))
}

/// The Edwards key as Go's `crypto/ed25519` sees it after the birational map of
/// libmessaging-go: u reduced modulo p, y = (u − 1)/(u + 1) with 1/0 = 0 (so u = p − 1 gives
/// y = 0), any point that decompresses, small order included.
#[cfg_attr(mutants, mutants::skip)] // fault injection only
fn lax_key(u: &[u8; 32], sign: u8) -> Option<VerifyingKey> {
    let mut p_minus_1 = P;
    p_minus_1[0] -= 1;
    let mut y = if *u == p_minus_1 {
        [0; 32]
    } else {
        MontgomeryPoint(*u).to_edwards(0)?.compress().to_bytes()
    };
    y[31] = (y[31] & 0x7f) | (sign << 7);
    VerifyingKey::from_bytes(&y).ok()
}

/// Whether the little-endian 255-bit value `u` (bit 255 clear) is below p.
fn less_than_p(u: &[u8; 32]) -> bool {
    for i in (0..32).rev() {
        if u[i] != P[i] {
            return u[i] < P[i];
        }
    }
    false
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::traits::IsIdentity as _;
    use rand::RngCore as _;
    use sha2::{Digest as _, Sha512};

    fn random_scalar() -> Scalar {
        let mut wide = [0; 64];
        rand::rng().fill_bytes(&mut wide);
        Scalar::from_bytes_mod_order_wide(&wide)
    }

    fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
        let mut h = Sha512::new();
        h.update(r);
        h.update(a);
        h.update(message);
        Scalar::from_bytes_mod_order_wide(&h.finalize().into())
    }

    /// An XEdDSA key pair made in the test: the Edwards scalar and its public u.
    pub(crate) struct TestKey {
        a: Scalar,
        /// The X25519 public key (Montgomery u of `[a]B`).
        pub u: [u8; 32],
    }

    impl TestKey {
        pub(crate) fn random() -> TestKey {
            let a = random_scalar();
            TestKey {
                a,
                u: (B * a).to_montgomery().to_bytes(),
            }
        }

        fn sign_with(a: Scalar, message: &[u8]) -> ([u8; 64], u8) {
            let big_a = (B * a).compress().to_bytes();
            let r = random_scalar();
            let big_r = (B * r).compress().to_bytes();
            let s = r + challenge(&big_r, &big_a, message) * a;
            let mut sig = [0; 64];
            sig[..32].copy_from_slice(&big_r);
            sig[32..].copy_from_slice(s.as_bytes());
            (sig, big_a[31] >> 7)
        }

        /// As libsignal's `calculateSignature`: the Edwards sign bit goes into `sig[63]`.
        pub(crate) fn sign_libsignal(&self, message: &[u8]) -> [u8; 64] {
            let (mut sig, sign) = Self::sign_with(self.a, message);
            sig[63] |= sign << 7;
            sig
        }

        /// As the XEdDSA specification: the scalar is negated when the sign bit is 1, so the
        /// signature's top bit stays 0.
        pub(crate) fn sign_spec(&self, message: &[u8]) -> [u8; 64] {
            let sign = (B * self.a).compress().to_bytes()[31] >> 7;
            let a = if sign == 1 { -self.a } else { self.a };
            let (sig, sign) = Self::sign_with(a, message);
            assert_eq!(sign, 0);
            sig
        }

        /// The sign bit of the Edwards public key.
        pub(crate) fn sign_bit(&self) -> u8 {
            (B * self.a).compress().to_bytes()[31] >> 7
        }
    }

    /// A signature `R ‖ s` with R = [r]B and s = r, made without any private key, that an
    /// Ed25519 verifier accepts under `a` whenever [k]A is the identity.
    fn forge(a: &[u8; 32], message: &[u8]) -> [u8; 64] {
        let point: EdwardsPoint = CompressedEdwardsY(*a).decompress().unwrap();
        loop {
            let r = random_scalar();
            let big_r = (B * r).compress().to_bytes();
            if (point * challenge(&big_r, a, message)).is_identity() {
                let mut sig = [0; 64];
                sig[..32].copy_from_slice(&big_r);
                sig[32..].copy_from_slice(r.as_bytes());
                return sig;
            }
        }
    }

    const STRICT: Lax = Lax {
        degenerate_keys: false,
        non_canonical_reduced: false,
        malleable_s: false,
        sign_bit_ignored: false,
    };

    #[test]
    fn both_signature_styles_verify() {
        // One key of each Edwards sign bit.
        let mut keys: Vec<TestKey> = Vec::new();
        while keys.len() < 2 {
            let key = TestKey::random();
            if keys.iter().all(|k| k.sign_bit() != key.sign_bit()) {
                keys.push(key);
            }
        }
        for key in keys {
            let message = b"login bytes";
            assert!(verify(
                &key.u,
                message,
                &key.sign_libsignal(message),
                STRICT
            ));
            assert!(verify(&key.u, message, &key.sign_spec(message), STRICT));
            assert!(!verify(
                &key.u,
                b"other bytes",
                &key.sign_libsignal(message),
                STRICT
            ));
            let other = TestKey::random();
            assert!(!verify(
                &other.u,
                message,
                &key.sign_libsignal(message),
                STRICT
            ));
        }
    }

    #[test]
    fn sign_bit_matters() {
        let message = b"m";
        let key = loop {
            let key = TestKey::random();
            if key.sign_bit() == 1 {
                break key;
            }
        };
        let sig = key.sign_libsignal(message);
        assert!(verify(&key.u, message, &sig, STRICT));
        let lax = Lax {
            sign_bit_ignored: true,
            ..STRICT
        };
        assert!(!verify(&key.u, message, &sig, lax));
        assert!(verify(&key.u, message, &key.sign_spec(message), lax));
    }

    #[test]
    fn non_canonical_s_is_refused() {
        let key = TestKey::random();
        let message = b"m";
        let sig = key.sign_spec(message);
        // s + L: the same point equation, a malleated signature.
        let l: [u8; 32] = {
            let mut l = [0; 32];
            l.copy_from_slice(&hex32(
                "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010",
            ));
            l
        };
        let mut s_plus_l = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(sig[32 + i]) + u16::from(l[i]) + carry;
            s_plus_l[i] = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        assert_eq!(s_plus_l[31] & 0x80, 0, "s + L stays below 2^255");
        let mut malleated = sig;
        malleated[32..].copy_from_slice(&s_plus_l);
        assert!(!verify(&key.u, message, &malleated, STRICT));
        let lax = Lax {
            malleable_s: true,
            ..STRICT
        };
        assert!(verify(&key.u, message, &malleated, lax));
    }

    #[test]
    fn the_non_canonical_base_point_is_refused_unless_reduced() {
        // u = p + 9 reduces to 9, the base point B, whose private scalar is 1.
        let mut p_plus_9 = P;
        p_plus_9[0] += 9;
        let message = b"a login signed with the private scalar 1";
        let r = random_scalar();
        let big_r = (B * r).compress().to_bytes();
        let k = challenge(&big_r, &B.compress().to_bytes(), message);
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&big_r);
        sig[32..].copy_from_slice((r + k).as_bytes());
        let mut nine = [0u8; 32];
        nine[0] = 9;
        assert!(verify(&nine, message, &sig, STRICT));
        assert!(!verify(&p_plus_9, message, &sig, STRICT));
        let reduce = Lax {
            non_canonical_reduced: true,
            ..STRICT
        };
        assert!(verify(&p_plus_9, message, &sig, reduce));
        // Small-order points stay refused: u = p reduces to 0, y = −1.
        let mut y_minus_1 = P;
        y_minus_1[0] -= 1;
        let forged = forge(&y_minus_1, message);
        assert!(!verify(&P, message, &forged, reduce));
    }

    fn hex32(s: &str) -> Vec<u8> {
        (0..32)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn degenerate_keys_are_refused_and_forgeable_when_lax() {
        let mut p_minus_1 = P;
        p_minus_1[0] -= 1;
        let message = b"forged login";
        // u = p - 1 maps (1/0 = 0) to y = 0, a point of order 4; u = p reduces to 0, y = -1,
        // a point of order 2.
        let y_zero = [0u8; 32];
        let y_minus_1 = p_minus_1;
        for (u, a) in [(p_minus_1, y_zero), (P, y_minus_1)] {
            let sig = forge(&a, message);
            assert!(!verify(&u, message, &sig, STRICT), "{u:?}");
            let lax = Lax {
                degenerate_keys: true,
                ..STRICT
            };
            assert!(verify(&u, message, &sig, lax), "{u:?}");
        }
        // The other small-order u values: 0, 1 and the two of order 8; and values ≥ p.
        let mut order8 = Vec::new();
        for bytes in [
            "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
            "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        ] {
            let mut u = [0; 32];
            u.copy_from_slice(&hex32(bytes));
            // The two u coordinates of points of order 8 (libsodium's blocklist).
            order8.push(u);
        }
        let mut small = vec![[0u8; 32], {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        }];
        small.extend(order8);
        let mut above = P;
        above[0] += 5;
        small.push(above);
        for u in small {
            for sign in [0, 1] {
                assert!(strict_key(&u, sign, false).is_none(), "{u:?}");
            }
        }
    }

    #[test]
    fn comparison_with_p() {
        let mut p_minus_1 = P;
        p_minus_1[0] -= 1;
        assert!(less_than_p(&p_minus_1));
        assert!(!less_than_p(&P));
        assert!(less_than_p(&[0; 32]));
        let mut top = [0u8; 32];
        top[31] = 0x7f;
        assert!(less_than_p(&top));
    }
}
