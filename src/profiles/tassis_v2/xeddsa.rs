//! XEdDSA identity keys and signatures of the tassis-v2 login (binding TB-KEY, TB-SIG).
//!
//! An identity key is an X25519 key pair: a clamped private scalar and the Montgomery u of
//! its public point (32 bytes, little-endian, no 0x05 prefix). A login is signed with
//! XEdDSA, an Ed25519 signature made with that same scalar; the verifier maps u to the
//! Edwards y = (u − 1)/(u + 1), takes the sign bit of x from `signature[63] & 0x80` and
//! checks an ordinary Ed25519 signature (RFC 8032, cofactorless, `s` < L).
//!
//! The group and scalar arithmetic is curve25519-dalek's: audited, constant-time where it
//! handles secrets. XEdDSA itself is a few dozen lines on top of it. A ready-made `xeddsa`
//! crate is not used because the suite must build what no honest signer makes (malleated
//! `s`, forged signatures for degenerate keys, both sign-bit conventions) and must control
//! each step of the verification to name why a signature is refused.
//!
//! Two signing conventions exist and both verify under TB-SIG:
//! - [`IdentityKey::sign_xeddsa`]: the XEdDSA specification (Signal, "The XEdDSA and VXEdDSA
//!   Signature Schemes", §2.3): when the Edwards public key's sign bit is 1 the scalar is
//!   negated, so the signature always carries sign bit 0.
//! - [`IdentityKey::sign_libsignal`]: libsignal's `calculateSignature`: no negation; the
//!   real sign bit is carried in the top bit of `signature[63]`.
//!
//! The field arithmetic below (modulo p = 2²⁵⁵ − 19) only ever sees public values (u and y),
//! so it is neither constant-time nor fast, just short and checked against
//! curve25519-dalek's own map in the tests.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::{clamp_integer, Scalar};
use curve25519_dalek::traits::IsIdentity;
use sha2::{Digest, Sha512};

/// Why a signature does not verify under TB-SIG. Each variant is one cause, in the order
/// the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The identity key is not 32 bytes (TB-KEY-LEN).
    #[error("the identity key is {len} bytes long; TB-KEY requires exactly 32")]
    KeyLength {
        /// Its length.
        len: usize,
    },
    /// Bit 255 of the identity key is set (TB-KEY-CANON): the same private key would own two
    /// identities.
    #[error("bit 255 of the identity key is set; TB-KEY-CANON refuses such keys")]
    KeyHighBit,
    /// u ≥ p: not a canonical field element.
    #[error("the identity key's u is not below 2^255 - 19 (a non-canonical encoding)")]
    KeyNonCanonical,
    /// The key's point has small order: anyone can forge signatures for it.
    #[error("the identity key is the small-order point {name}; anyone can forge its signatures")]
    KeySmallOrder {
        /// Which degenerate key (see [`DEGENERATE_KEYS`]).
        name: &'static str,
    },
    /// y = (u − 1)/(u + 1) with the signature's sign bit is not a point of Ed25519 (u lies on
    /// the twist).
    #[error("the identity key does not map to a point of Ed25519 (u is on the twist)")]
    KeyNotOnCurve,
    /// The signature is not 64 bytes.
    #[error("the signature is {len} bytes long; TB-SIG requires exactly 64")]
    SignatureLength {
        /// Its length.
        len: usize,
    },
    /// `s` ≥ L (a malleated signature; RFC 8032 refuses it).
    #[error("the signature's s is not below the group order L (malleated)")]
    ScalarNonCanonical,
    /// The Ed25519 equation [s]B = R + [k]A does not hold.
    #[error("the signature does not verify for this key and message")]
    Mismatch,
}

impl VerifyError {
    /// The short name of the cause, as written in `fixtures/tassis-v2/xeddsa-vectors.json`.
    pub fn cause(&self) -> &'static str {
        match self {
            VerifyError::KeyLength { .. } => "key-length",
            VerifyError::KeyHighBit => "key-high-bit",
            VerifyError::KeyNonCanonical => "key-non-canonical",
            VerifyError::KeySmallOrder { .. } => "key-small-order",
            VerifyError::KeyNotOnCurve => "key-not-on-curve",
            VerifyError::SignatureLength { .. } => "signature-length",
            VerifyError::ScalarNonCanonical => "s-non-canonical",
            VerifyError::Mismatch => "mismatch",
        }
    }

    /// Whether the binding refuses the *key* rather than the signature (TB-KEY-LEN,
    /// TB-KEY-CANON, the small-order and canonical-u rules of TB-SIG).
    pub fn is_key_problem(&self) -> bool {
        matches!(
            self,
            VerifyError::KeyLength { .. }
                | VerifyError::KeyHighBit
                | VerifyError::KeyNonCanonical
                | VerifyError::KeySmallOrder { .. }
                | VerifyError::KeyNotOnCurve
        )
    }
}

/// A named identity key whose point has small order (or whose u is p, which reduces to 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DegenerateKey {
    /// Short name, as in reports and vectors.
    pub name: &'static str,
    /// The 32-byte identity key (u, little-endian).
    pub u: [u8; 32],
}

/// p = 2²⁵⁵ − 19, little-endian: a non-canonical encoding of u = 0.
pub const P_BYTES: [u8; 32] =
    hex32("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
/// p − 1 ≡ −1: maps to y = 0 (with 1/0 taken as 0, as common field code does), order 4.
pub const P_MINUS_1: [u8; 32] =
    hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
/// p + 9, little-endian: a non-canonical encoding of u = 9, the base point, whose private
/// scalar is 1. A verifier that reduces u instead of refusing it accepts anyone's
/// [`sign_as_base_point`] signature for this identity.
pub const P_PLUS_9: [u8; 32] =
    hex32("f6ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
/// u = 0: the point of order 2 (y = −1).
pub const U_ZERO: [u8; 32] = [0; 32];
/// u = 1: maps to y = 0, order 4.
pub const U_ONE: [u8; 32] =
    hex32("0100000000000000000000000000000000000000000000000000000000000000");
/// The first u of order 8.
pub const U_ORDER8_A: [u8; 32] =
    hex32("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");
/// The second u of order 8.
pub const U_ORDER8_B: [u8; 32] =
    hex32("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157");

/// The degenerate identity keys: [`verify`] refuses each (u = p as non-canonical, the others
/// as small-order), a lax verifier accepts a signature from [`forge_degenerate`] for each.
pub const DEGENERATE_KEYS: [DegenerateKey; 6] = [
    DegenerateKey {
        name: "u=0",
        u: U_ZERO,
    },
    DegenerateKey {
        name: "u=1",
        u: U_ONE,
    },
    DegenerateKey {
        name: "u=p-1",
        u: P_MINUS_1,
    },
    DegenerateKey {
        name: "u=p",
        u: P_BYTES,
    },
    DegenerateKey {
        name: "u-order8-a",
        u: U_ORDER8_A,
    },
    DegenerateKey {
        name: "u-order8-b",
        u: U_ORDER8_B,
    },
];

/// The group order L, little-endian.
const L_BYTES: [u8; 32] = hex32("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");

/// The name of `u` when it is one of the small-order keys TB-SIG lists (u = 0, 1, p − 1 and
/// the two u of order 8). `u` = p is not listed: it is refused as non-canonical first.
pub fn small_order_name(u: &[u8; 32]) -> Option<&'static str> {
    DEGENERATE_KEYS
        .iter()
        .find(|k| k.name != "u=p" && &k.u == u)
        .map(|k| k.name)
}

/// An X25519 identity key pair. `Debug` never prints the secret.
#[derive(Clone)]
pub struct IdentityKey {
    /// The clamped private scalar, as bytes.
    secret: [u8; 32],
    /// The same, reduced modulo L.
    scalar: Scalar,
    /// The X25519 public key u.
    public: [u8; 32],
    /// The Edwards public key A = a·B, compressed (its top bit is A's sign bit).
    edwards: [u8; 32],
}

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityKey")
            .field("public", &hex::encode(self.public))
            .field("edwards_sign_bit", &self.edwards_sign_bit())
            .finish_non_exhaustive()
    }
}

impl PartialEq for IdentityKey {
    fn eq(&self, other: &Self) -> bool {
        self.secret == other.secret
    }
}

impl Eq for IdentityKey {}

impl IdentityKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> IdentityKey {
        IdentityKey::from_secret(rand::random::<[u8; 32]>())
    }

    /// A fresh key whose Edwards sign bit is `bit` (0 or 1); two tries on average.
    pub fn generate_with_sign_bit(bit: u8) -> IdentityKey {
        loop {
            let key = IdentityKey::generate();
            if key.edwards_sign_bit() == bit & 1 {
                return key;
            }
        }
    }

    /// The key of a 32-byte X25519 private key (clamped here, as X25519 does).
    pub fn from_secret(secret: [u8; 32]) -> IdentityKey {
        let secret = clamp_integer(secret);
        let point = EdwardsPoint::mul_base_clamped(secret);
        IdentityKey {
            secret,
            scalar: Scalar::from_bytes_mod_order(secret),
            public: point.to_montgomery().to_bytes(),
            edwards: point.compress().to_bytes(),
        }
    }

    /// The clamped private scalar (what a fixture file stores).
    pub fn secret(&self) -> [u8; 32] {
        self.secret
    }

    /// The identity key as sent on the wire: u, 32 bytes little-endian.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// The compressed Edwards public key A = a·B.
    pub fn edwards_public(&self) -> [u8; 32] {
        self.edwards
    }

    /// The sign bit of A's x coordinate (0 or 1).
    pub fn edwards_sign_bit(&self) -> u8 {
        self.edwards[31] >> 7
    }

    /// Signs per the XEdDSA specification with the 64 random bytes `random` (Z): a is
    /// negated when A's sign bit is 1, so the signature always carries sign bit 0;
    /// r = hash1(a ‖ M ‖ Z) mod L, R = rB, h = SHA-512(R ‖ A ‖ M) mod L, s = r + h·a.
    pub fn sign_xeddsa(&self, msg: &[u8], random: [u8; 64]) -> [u8; 64] {
        let (a, a_enc) = if self.edwards_sign_bit() == 1 {
            let mut enc = self.edwards;
            enc[31] &= 0x7f;
            (-self.scalar, enc)
        } else {
            (self.scalar, self.edwards)
        };
        let r = hash1(&a.to_bytes(), msg, &random);
        let sig = ed25519_sign(&a, &a_enc, &r, msg);
        debug_assert_eq!(sig[63] & 0x80, 0);
        sig
    }

    /// Signs as libsignal's `calculateSignature` does: no negation, r = hash1(k ‖ M ‖ Z) with
    /// the clamped private key k, and A's real sign bit carried in `signature[63] & 0x80`.
    pub fn sign_libsignal(&self, msg: &[u8], random: [u8; 64]) -> [u8; 64] {
        let r = hash1(&self.secret, msg, &random);
        let mut sig = ed25519_sign(&self.scalar, &self.edwards, &r, msg);
        sig[63] &= 0x7f;
        sig[63] |= self.edwards[31] & 0x80;
        sig
    }
}

/// hash1(X ‖ M ‖ Z) of XEdDSA: SHA-512 of the 32 bytes 2²⁵⁶ − 2 (little-endian: FE FF … FF),
/// then the inputs, reduced modulo L.
fn hash1(x: &[u8; 32], msg: &[u8], random: &[u8; 64]) -> Scalar {
    let mut prefix = [0xffu8; 32];
    prefix[0] = 0xfe;
    let digest = Sha512::new()
        .chain_update(prefix)
        .chain_update(x)
        .chain_update(msg)
        .chain_update(random)
        .finalize();
    Scalar::from_bytes_mod_order_wide(&digest.into())
}

/// SHA-512(R ‖ A ‖ M) mod L.
fn challenge(r_enc: &[u8; 32], a_enc: &[u8; 32], msg: &[u8]) -> Scalar {
    let digest = Sha512::new()
        .chain_update(r_enc)
        .chain_update(a_enc)
        .chain_update(msg)
        .finalize();
    Scalar::from_bytes_mod_order_wide(&digest.into())
}

/// R ‖ s with R = rB and s = r + h·a, h over the encoding `a_enc`.
fn ed25519_sign(a: &Scalar, a_enc: &[u8; 32], r: &Scalar, msg: &[u8]) -> [u8; 64] {
    let r_enc = EdwardsPoint::mul_base(r).compress().to_bytes();
    let h = challenge(&r_enc, a_enc, msg);
    let s = r + h * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r_enc);
    sig[32..].copy_from_slice(&s.to_bytes());
    sig
}

/// Verifies `sig` over `msg` for the identity key `identity_key`, exactly as TB-SIG: the key
/// is 32 bytes with bit 255 clear, u < p and not of small order; A is y = (u − 1)/(u + 1)
/// with the sign bit of `sig[63]`; then Ed25519 (RFC 8032) with `s` < L and the
/// cofactorless equation, comparing encodings of R.
pub fn verify(identity_key: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), VerifyError> {
    let u: [u8; 32] = identity_key
        .try_into()
        .map_err(|_| VerifyError::KeyLength {
            len: identity_key.len(),
        })?;
    if u[31] & 0x80 != 0 {
        return Err(VerifyError::KeyHighBit);
    }
    if !is_canonical(&u, &P_BYTES) {
        return Err(VerifyError::KeyNonCanonical);
    }
    if let Some(name) = small_order_name(&u) {
        return Err(VerifyError::KeySmallOrder { name });
    }
    let sig: [u8; 64] = sig
        .try_into()
        .map_err(|_| VerifyError::SignatureLength { len: sig.len() })?;
    let a_enc = edwards_encoding(&u, sig[63] >> 7);
    let a = CompressedEdwardsY(a_enc)
        .decompress()
        .ok_or(VerifyError::KeyNotOnCurve)?;
    ed25519_verify(&a, &a_enc, msg, &sig, true)
}

/// The Ed25519 check with the sign bit of `sig` already used: clears it, refuses `s` ≥ L
/// (when `strict`; otherwise reduces it), and compares [s]B − [k]A with R byte for byte.
fn ed25519_verify(
    a: &EdwardsPoint,
    a_enc: &[u8; 32],
    msg: &[u8],
    sig: &[u8; 64],
    strict: bool,
) -> Result<(), VerifyError> {
    let mut r_enc = [0u8; 32];
    r_enc.copy_from_slice(&sig[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&sig[32..]);
    s_bytes[31] &= 0x7f;
    let s = if strict {
        Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))
            .ok_or(VerifyError::ScalarNonCanonical)?
    } else {
        Scalar::from_bytes_mod_order(s_bytes)
    };
    let k = challenge(&r_enc, a_enc, msg);
    let expected = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-a, &s);
    if expected.compress().to_bytes() == r_enc {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// The Edwards encoding the verifier computes for `u` (bit 255 ignored): y = (u − 1)/(u + 1)
/// mod p, 1/0 taken as 0, with `sign` (0 or 1) as the top bit.
pub fn edwards_encoding(u: &[u8; 32], sign: u8) -> [u8; 32] {
    let u = Fe::from_bytes(u);
    let y = u.sub(&Fe::ONE).mul(&u.add(&Fe::ONE).invert());
    let mut enc = y.to_bytes();
    enc[31] |= (sign & 1) << 7;
    enc
}

/// A signature for `msg` under the degenerate identity key `u`, made without any private
/// key: R = [r]B and s = r, with r retried until [k]A is the identity (k = SHA-512(R ‖ A ‖
/// M) mod L, A the encoding a verifier computes, sign bit 0). Then [s]B = R + [k]A holds,
/// and a verifier without TB-SIG's small-order and canonical-u checks (Go's, OpenSSL's)
/// accepts the login. Deterministic in (`u`, `msg`). `None` when `u` does not map to a
/// point of small order.
pub fn forge_degenerate(u: &[u8; 32], msg: &[u8]) -> Option<[u8; 64]> {
    let a_enc = edwards_encoding(u, 0);
    let a = CompressedEdwardsY(a_enc).decompress()?;
    if !a.is_small_order() {
        return None;
    }
    // [k]A depends on k mod 8 at most: a few tries suffice; the bound only guards the loop.
    for counter in 0u32..1024 {
        let digest = Sha512::new()
            .chain_update(b"edgecheck tassis-v2 forgery")
            .chain_update(counter.to_le_bytes())
            .chain_update(u)
            .chain_update(msg)
            .finalize();
        let r = Scalar::from_bytes_mod_order_wide(&digest.into());
        let r_enc = EdwardsPoint::mul_base(&r).compress().to_bytes();
        let k = challenge(&r_enc, &a_enc, msg);
        if (k * a).is_identity() {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r_enc);
            sig[32..].copy_from_slice(&r.to_bytes());
            return Some(sig);
        }
    }
    None
}

/// A signature for `msg` made with the private scalar 1, whose public key is the base point
/// B (u = 9, Edwards sign bit 0): anyone can make it. Signed for the identity key
/// [`P_PLUS_9`], it passes a verifier that maps u modulo p (TB-SIG refuses u ≥ p).
/// Deterministic in `msg`.
pub fn sign_as_base_point(msg: &[u8]) -> [u8; 64] {
    let a = Scalar::ONE;
    let a_enc = EdwardsPoint::mul_base(&a).compress().to_bytes();
    let r = hash1(&a.to_bytes(), msg, &[0; 64]);
    ed25519_sign(&a, &a_enc, &r, msg)
}

/// The same signature with s replaced by s + L (the sign bit in `sig[63]` kept). s + L < 2²⁵⁴
/// still fits the 255 bits; RFC 8032 verifiers refuse it, libsignal's accepts it.
pub fn malleate(sig: &[u8; 64]) -> [u8; 64] {
    let mut out = *sig;
    let sign = sig[63] & 0x80;
    out[63] &= 0x7f;
    let mut carry = 0u16;
    for (o, l) in out[32..].iter_mut().zip(L_BYTES) {
        let sum = u16::from(*o) + u16::from(l) + carry;
        *o = sum as u8;
        carry = sum >> 8;
    }
    out[63] |= sign;
    out
}

/// Whether the little-endian `x` is below the little-endian `bound`.
fn is_canonical(x: &[u8; 32], bound: &[u8; 32]) -> bool {
    x.iter().rev().cmp(bound.iter().rev()) == std::cmp::Ordering::Less
}

/// `const` hex of 32 bytes (compile-time constants only).
const fn hex32(s: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lowercase hex digit"),
        }
    }
    let b = s.as_bytes();
    assert!(b.len() == 64, "32 bytes take 64 hex digits");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nibble(b[2 * i]) << 4 | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// An element of GF(2²⁵⁵ − 19) in five 51-bit limbs, for public values only.
#[derive(Debug, Clone, Copy)]
struct Fe([u64; 5]);

const MASK51: u64 = (1 << 51) - 1;

impl Fe {
    const ONE: Fe = Fe([1, 0, 0, 0, 0]);

    /// Loads 255 bits (bit 255 ignored); the value may be ≥ p until `to_bytes`.
    fn from_bytes(b: &[u8; 32]) -> Fe {
        let w = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[8 * i..8 * i + 8]);
            u64::from_le_bytes(x)
        };
        let (w0, w1, w2, w3) = (w(0), w(1), w(2), w(3) & (u64::MAX >> 1));
        Fe([
            w0 & MASK51,
            (w0 >> 51 | w1 << 13) & MASK51,
            (w1 >> 38 | w2 << 26) & MASK51,
            (w2 >> 25 | w3 << 39) & MASK51,
            w3 >> 12,
        ])
    }

    /// Carries limbs back under 2⁵¹ (limb 0 may exceed it slightly).
    fn carry(mut l: [u64; 5]) -> Fe {
        for i in 0..4 {
            l[i + 1] += l[i] >> 51;
            l[i] &= MASK51;
        }
        l[0] += 19 * (l[4] >> 51);
        l[4] &= MASK51;
        Fe(l)
    }

    fn add(&self, o: &Fe) -> Fe {
        let mut l = self.0;
        for (x, y) in l.iter_mut().zip(o.0) {
            *x += y;
        }
        Fe::carry(l)
    }

    /// self − o, computed as self + 4p − o so no limb underflows.
    fn sub(&self, o: &Fe) -> Fe {
        let four_p = [
            4 * (MASK51 - 18),
            4 * MASK51,
            4 * MASK51,
            4 * MASK51,
            4 * MASK51,
        ];
        let mut l = [0u64; 5];
        for i in 0..5 {
            l[i] = self.0[i] + four_p[i] - o.0[i];
        }
        Fe::carry(l)
    }

    fn mul(&self, o: &Fe) -> Fe {
        let a = self.0.map(u128::from);
        let b = o.0.map(u128::from);
        let r = [
            a[0] * b[0] + 19 * (a[1] * b[4] + a[2] * b[3] + a[3] * b[2] + a[4] * b[1]),
            a[0] * b[1] + a[1] * b[0] + 19 * (a[2] * b[4] + a[3] * b[3] + a[4] * b[2]),
            a[0] * b[2] + a[1] * b[1] + a[2] * b[0] + 19 * (a[3] * b[4] + a[4] * b[3]),
            a[0] * b[3] + a[1] * b[2] + a[2] * b[1] + a[3] * b[0] + 19 * (a[4] * b[4]),
            a[0] * b[4] + a[1] * b[3] + a[2] * b[2] + a[3] * b[1] + a[4] * b[0],
        ];
        let mut l = [0u64; 5];
        let mut c: u128 = 0;
        for i in 0..5 {
            let v = r[i] + c;
            l[i] = (v as u64) & MASK51;
            c = v >> 51;
        }
        // c < 2^77: fold it back times 19 over two limbs.
        let folded = u128::from(l[0]) + c * 19;
        l[0] = (folded as u64) & MASK51;
        l[1] += (folded >> 51) as u64;
        Fe::carry(l)
    }

    /// self^(p − 2): the inverse, and 0 for 0.
    fn invert(&self) -> Fe {
        // p − 2 = 2^255 − 21: bits 254..5 set, then 0b01011.
        let mut acc = Fe::ONE;
        for bit in (0..255).rev() {
            acc = acc.mul(&acc);
            let set = bit >= 5 || (0b01011 >> bit) & 1 == 1;
            if set {
                acc = acc.mul(self);
            }
        }
        acc
    }

    /// The canonical little-endian encoding (fully reduced below p).
    fn to_bytes(self) -> [u8; 32] {
        let mut l = Fe::carry(Fe::carry(self.0).0).0;
        // q = 1 exactly when the value is ≥ p.
        let mut q = (l[0] + 19) >> 51;
        for x in &l[1..] {
            q = (x + q) >> 51;
        }
        l[0] += 19 * q;
        for i in 0..4 {
            l[i + 1] += l[i] >> 51;
            l[i] &= MASK51;
        }
        l[4] &= MASK51;
        let words = [
            l[0] | l[1] << 51,
            l[1] >> 13 | l[2] << 38,
            l[2] >> 26 | l[3] << 25,
            l[3] >> 39 | l[4] << 12,
        ];
        let mut out = [0u8; 32];
        for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::montgomery::MontgomeryPoint;

    const Z: [u8; 64] = [7u8; 64];

    /// A key of the wanted Edwards sign bit, found deterministically.
    fn key_with_sign(bit: u8) -> IdentityKey {
        (0u8..=255)
            .map(|i| IdentityKey::from_secret([i; 32]))
            .find(|k| k.edwards_sign_bit() == bit)
            .expect("both sign bits occur among 256 keys")
    }

    /// A Go-like verifier: no canonical-u or small-order check, `s` reduced, inverse of 0
    /// is 0. Proves the forgeries are real.
    fn lax_verify(u: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        let a_enc = edwards_encoding(u, sig[63] >> 7);
        let Some(a) = CompressedEdwardsY(a_enc).decompress() else {
            return false;
        };
        ed25519_verify(&a, &a_enc, msg, sig, false).is_ok()
    }

    #[test]
    fn field_map_agrees_with_curve25519_dalek() {
        for i in 0u8..64 {
            let k = IdentityKey::from_secret([i.wrapping_mul(37).wrapping_add(1); 32]);
            let ours = edwards_encoding(&k.public(), k.edwards_sign_bit());
            let theirs = MontgomeryPoint(k.public())
                .to_edwards(k.edwards_sign_bit())
                .expect("a real public key maps")
                .compress()
                .to_bytes();
            assert_eq!(ours, theirs);
            assert_eq!(ours, k.edwards_public());
        }
        // Non-canonical input reduces; 1/0 is 0.
        assert_eq!(edwards_encoding(&P_BYTES, 0), edwards_encoding(&U_ZERO, 0));
        assert_eq!(edwards_encoding(&P_MINUS_1, 0), [0u8; 32]);
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        assert_eq!(edwards_encoding(&U_ZERO, 0), minus_one);
    }

    #[test]
    fn round_trips_in_both_conventions_and_sign_bits() {
        let msg = b"login bytes";
        for bit in [0u8, 1] {
            let k = key_with_sign(bit);
            assert_eq!(k.edwards_sign_bit(), bit);
            let x = k.sign_xeddsa(msg, Z);
            assert_eq!(x[63] >> 7, 0, "XEdDSA always carries sign bit 0");
            assert_eq!(verify(&k.public(), msg, &x), Ok(()));
            let l = k.sign_libsignal(msg, Z);
            assert_eq!(l[63] >> 7, bit, "libsignal carries the real sign bit");
            assert_eq!(verify(&k.public(), msg, &l), Ok(()));
            if bit == 1 {
                let mut dropped = l;
                dropped[63] &= 0x7f;
                assert_eq!(
                    verify(&k.public(), msg, &dropped),
                    Err(VerifyError::Mismatch)
                );
            }
        }
    }

    #[test]
    fn tampering_fails() {
        let k = key_with_sign(1);
        let sig = k.sign_libsignal(b"message", Z);
        assert_eq!(
            verify(&k.public(), b"messagf", &sig),
            Err(VerifyError::Mismatch)
        );
        for byte in [0usize, 31, 32, 62] {
            let mut bad = sig;
            bad[byte] ^= 1;
            assert!(
                verify(&k.public(), b"message", &bad).is_err(),
                "byte {byte}"
            );
        }
        let other = key_with_sign(0);
        assert_eq!(
            verify(&other.public(), b"message", &sig),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&k.public(), b"message", &sig[..63]),
            Err(VerifyError::SignatureLength { len: 63 })
        );
        let mut long = k.public().to_vec();
        long.push(0);
        assert_eq!(
            verify(&long, b"message", &sig),
            Err(VerifyError::KeyLength { len: 33 })
        );
        let mut high = k.public();
        high[31] |= 0x80;
        assert_eq!(
            verify(&high, b"message", &sig),
            Err(VerifyError::KeyHighBit)
        );
    }

    #[test]
    fn malleated_fails_but_is_the_same_signature_mod_l() {
        for bit in [0u8, 1] {
            let k = key_with_sign(bit);
            let sig = k.sign_libsignal(b"m", Z);
            let bad = malleate(&sig);
            assert_ne!(bad, sig);
            assert_eq!(bad[63] >> 7, sig[63] >> 7);
            assert_eq!(
                verify(&k.public(), b"m", &bad),
                Err(VerifyError::ScalarNonCanonical)
            );
            assert!(lax_verify(&k.public(), b"m", &bad));
        }
    }

    #[test]
    fn forgeries_fool_a_lax_verifier_only() {
        for key in DEGENERATE_KEYS {
            let msg = b"a login nobody signed";
            let sig = forge_degenerate(&key.u, msg).expect("a degenerate key");
            assert!(lax_verify(&key.u, msg, &sig), "{}", key.name);
            let err = verify(&key.u, msg, &sig).expect_err(key.name);
            if key.name == "u=p" {
                assert_eq!(err, VerifyError::KeyNonCanonical);
            } else {
                assert_eq!(err, VerifyError::KeySmallOrder { name: key.name });
            }
            assert!(err.is_key_problem());
        }
        // An ordinary key cannot be forged this way.
        assert_eq!(forge_degenerate(&key_with_sign(0).public(), b"x"), None);
    }

    #[test]
    fn the_non_canonical_base_point_is_forgeable_only_by_a_reducing_verifier() {
        let msg = b"a login signed with the private scalar 1";
        let sig = sign_as_base_point(msg);
        let mut nine = [0u8; 32];
        nine[0] = 9;
        // p + 9 reduces to the base point, whose signatures anyone can make.
        assert_eq!(edwards_encoding(&P_PLUS_9, 0), edwards_encoding(&nine, 0));
        assert!(lax_verify(&P_PLUS_9, msg, &sig));
        assert_eq!(verify(&nine, msg, &sig), Ok(()));
        assert_eq!(
            verify(&P_PLUS_9, msg, &sig),
            Err(VerifyError::KeyNonCanonical)
        );
    }

    #[test]
    fn twist_points_are_refused() {
        // u = 2 lies on the twist.
        let mut u = [0u8; 32];
        u[0] = 2;
        let sig = key_with_sign(0).sign_xeddsa(b"x", Z);
        assert!(MontgomeryPoint(u).to_edwards(0).is_none());
        assert_eq!(verify(&u, b"x", &sig), Err(VerifyError::KeyNotOnCurve));
    }

    #[test]
    fn clamping_and_debug() {
        let k = IdentityKey::from_secret([0xff; 32]);
        assert_eq!(k.secret()[0] & 7, 0);
        assert_eq!(k.secret()[31] & 0xc0, 0x40);
        assert_eq!(IdentityKey::from_secret(k.secret()), k);
        assert!(!format!("{k:?}").contains(&hex::encode(k.secret())));
        assert_ne!(
            IdentityKey::generate().public(),
            IdentityKey::generate().public()
        );
        assert_eq!(small_order_name(&P_BYTES), None);
        assert_eq!(small_order_name(&P_MINUS_1), Some("u=p-1"));
    }
}
