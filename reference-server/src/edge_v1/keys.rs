//! Public keys (B-KEY-FMT, B-KEY-SIZE, B-KEY-PKCS1) and signature verification (B-SIG-ALG).
//!
//! aws-lc-rs verifies RSASSA-PSS with SHA-256, MGF1-SHA-256 and a salt of exactly 32 bytes
//! (`RSA_PSS_SALTLEN_DIGEST`); the unit tests below prove it refuses other salt lengths.
//! aws-lc-rs also accepts a bare PKCS#1 `RSAPublicKey`, which the binding refuses, so the
//! SPKI wrapper, its algorithm and the modulus size are checked first with the `spki` and
//! `pkcs1` DER decoders. The key is parsed once, when it is stored.

use std::fmt;

use aws_lc_rs::digest::Digest;
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PSS_2048_8192_SHA256};
use pkcs1::der::Decode as _;
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

use crate::edge_v1::encoding::{decode_b64, decode_b64_lax};

/// Smallest modulus accepted (B-KEY-SIZE).
pub(crate) const MIN_BITS: usize = 2048;
/// Largest modulus accepted (the range aws-lc-rs verifies; B-KEY-SIZE allows up to 16384).
pub(crate) const MAX_BITS: usize = 8192;

/// `rsaEncryption` (1.2.840.113549.1.1.1), the algorithm WebCrypto exports RSA keys with.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Why a key was refused (→ 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// Not standard padded base64.
    NotBase64,
    /// Not a DER `SubjectPublicKeyInfo` (a bare PKCS#1 key included).
    NotSpki,
    /// An SPKI for another algorithm than `rsaEncryption`.
    NotRsa,
    /// A modulus outside 2048..=8192 bits.
    Size(usize),
    /// Refused by aws-lc-rs (e.g. a bad exponent).
    Invalid,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotBase64 => f.write_str("is not standard base64 with padding"),
            KeyError::NotSpki => f.write_str("is not a DER SubjectPublicKeyInfo"),
            KeyError::NotRsa => f.write_str("is not an RSA key (rsaEncryption)"),
            KeyError::Size(bits) => write!(
                f,
                "has a {bits}-bit modulus; use {MIN_BITS} to {MAX_BITS} bits"
            ),
            KeyError::Invalid => f.write_str("is not a usable RSA public key"),
        }
    }
}

/// Which keys [`PublicKey::from_der`] accepts beyond the binding (for fault injection).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeyLeniency {
    /// Accept a bare PKCS#1 `RSAPublicKey` (breaks B-KEY-PKCS1).
    pub pkcs1: bool,
    /// Accept moduli from 1024 bits (breaks B-KEY-SIZE).
    pub small: bool,
    /// Accept an SPKI of any algorithm, as a key that verifies nothing (breaks B-KEY-FMT).
    pub any_algorithm: bool,
    /// Decode the base64 leniently (breaks B-ENC-B64).
    pub lax_base64: bool,
}

/// An RSA public key, checked and parsed once.
pub(crate) struct PublicKey {
    der: Box<[u8]>,
    verifier: Verifier,
}

enum Verifier {
    AwsLc(ParsedPublicKey),
    /// A key of another algorithm than RSA, accepted only by the `key-algorithm-unchecked`
    /// fault: nothing verifies with it.
    Foreign,
    #[cfg(feature = "faults")]
    Small(crate::edge_v1::faults::SmallKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("der_len", &self.der.len())
            .finish()
    }
}

impl PublicKey {
    /// Parses the base64 of a DER SPKI.
    pub(crate) fn from_base64(text: &str, leniency: KeyLeniency) -> Result<PublicKey, KeyError> {
        let der = if leniency.lax_base64 {
            decode_b64_lax(text)
        } else {
            decode_b64(text)
        };
        let der = der.ok_or(KeyError::NotBase64)?;
        PublicKey::from_der(&der, leniency)
    }

    /// Parses a DER SPKI of an RSA key with a 2048..=8192-bit modulus.
    pub(crate) fn from_der(der: &[u8], leniency: KeyLeniency) -> Result<PublicKey, KeyError> {
        let bits = match spki_modulus_bits(der) {
            Ok(bits) => bits,
            Err(KeyError::NotSpki) if leniency.pkcs1 => pkcs1_modulus_bits(der)?,
            Err(KeyError::NotRsa) if leniency.any_algorithm => {
                return Ok(PublicKey {
                    der: der.into(),
                    verifier: Verifier::Foreign,
                })
            }
            Err(e) => return Err(e),
        };
        let min = if leniency.small { 1024 } else { MIN_BITS };
        if !(min..=MAX_BITS).contains(&bits) {
            return Err(KeyError::Size(bits));
        }
        #[cfg(feature = "faults")]
        if bits < MIN_BITS {
            let small = crate::edge_v1::faults::SmallKey::from_der(der).ok_or(KeyError::Invalid)?;
            return Ok(PublicKey {
                der: der.into(),
                verifier: Verifier::Small(small),
            });
        }
        let parsed =
            ParsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, der).map_err(|_| KeyError::Invalid)?;
        Ok(PublicKey {
            der: der.into(),
            verifier: Verifier::AwsLc(parsed),
        })
    }

    /// The DER bytes the key was parsed from.
    pub(crate) fn der(&self) -> &[u8] {
        &self.der
    }

    /// The modulus length in bytes (the length of every signature this key makes); 0 for a
    /// key that is not RSA.
    pub(crate) fn modulus_len(&self) -> usize {
        spki_modulus_bits(&self.der)
            .or_else(|_| pkcs1_modulus_bits(&self.der))
            .map_or(0, |bits| bits.div_ceil(8))
    }

    /// Whether `signature` is an RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) signature of the
    /// message whose SHA-256 is `digest`.
    pub(crate) fn verify(&self, digest: &Digest, signature: &[u8]) -> bool {
        match &self.verifier {
            Verifier::AwsLc(key) => key.verify_digest_sig(digest, signature).is_ok(),
            Verifier::Foreign => false,
            #[cfg(feature = "faults")]
            Verifier::Small(key) => key.verify(digest, signature),
        }
    }
}

/// The modulus size of a DER SPKI with the `rsaEncryption` algorithm.
fn spki_modulus_bits(der: &[u8]) -> Result<usize, KeyError> {
    let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(|_| KeyError::NotSpki)?;
    if spki.algorithm.oid != RSA_ENCRYPTION {
        return Err(KeyError::NotRsa);
    }
    // rsaEncryption parameters are NULL (RFC 8017 A.1); absent is tolerated.
    if spki.algorithm.parameters.is_some_and(|p| !p.is_null()) {
        return Err(KeyError::NotRsa);
    }
    let key = spki
        .subject_public_key
        .as_bytes()
        .ok_or(KeyError::NotSpki)?;
    pkcs1_modulus_bits(key).map_err(|_| KeyError::NotSpki)
}

/// The modulus size of a DER PKCS#1 `RSAPublicKey`.
fn pkcs1_modulus_bits(der: &[u8]) -> Result<usize, KeyError> {
    let key = pkcs1::RsaPublicKey::from_der(der).map_err(|_| KeyError::NotSpki)?;
    let modulus = key.modulus.as_bytes();
    let first = *modulus.first().ok_or(KeyError::Invalid)?;
    Ok(modulus.len() * 8 - first.leading_zeros() as usize)
}

/// A fixture key of `tests/keys/` as the server would store it.
#[cfg(test)]
pub(crate) fn test_key(name: &str) -> PublicKey {
    use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
    let path = format!("{}/tests/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"));
    let pem = std::fs::read_to_string(&path).expect("fixture key (see tests/keys/README.md)");
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).expect("PKCS#8 PEM");
    let der = private.to_public_key().to_public_key_der().expect("SPKI");
    PublicKey::from_der(der.as_bytes(), KeyLeniency::default()).expect("valid fixture key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::digest::{digest, SHA256};
    use base64::Engine as _;
    use rsa::pkcs1::EncodeRsaPublicKey as _;
    use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
    use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};

    fn fixture(name: &str) -> rsa::RsaPrivateKey {
        let path = format!("{}/tests/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"));
        let pem = std::fs::read_to_string(&path).expect("fixture key (see tests/keys/README.md)");
        rsa::RsaPrivateKey::from_pkcs8_pem(&pem).expect("PKCS#8 PEM")
    }

    fn spki(key: &rsa::RsaPrivateKey) -> Vec<u8> {
        key.to_public_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec()
    }

    fn sign_pss(key: &rsa::RsaPrivateKey, salt: usize, message: &[u8]) -> Vec<u8> {
        let signer = rsa::pss::SigningKey::<sha2::Sha256>::new_with_salt_len(key.clone(), salt);
        signer
            .sign_with_rng(&mut rand_core::OsRng, message)
            .to_vec()
    }

    #[test]
    fn accepts_rsa_spki_of_2048_3072_4096_bits() {
        for (name, bits) in [("rsa2048-a", 2048), ("rsa3072", 3072), ("rsa4096", 4096)] {
            let der = spki(&fixture(name));
            assert_eq!(spki_modulus_bits(&der), Ok(bits), "{name}");
            assert!(
                PublicKey::from_der(&der, KeyLeniency::default()).is_ok(),
                "{name}"
            );
        }
    }

    #[test]
    fn refuses_small_pkcs1_ec_and_garbage() {
        let strict = KeyLeniency::default();
        let small = spki(&fixture("rsa1024"));
        assert_eq!(
            PublicKey::from_der(&small, strict).unwrap_err(),
            KeyError::Size(1024)
        );

        let bare = fixture("rsa2048-a")
            .to_public_key()
            .to_pkcs1_der()
            .unwrap()
            .as_bytes()
            .to_vec();
        assert_eq!(
            PublicKey::from_der(&bare, strict).unwrap_err(),
            KeyError::NotSpki
        );
        // aws-lc-rs alone would take the bare key: the SPKI check is what refuses it.
        assert!(ParsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, &bare).is_ok());

        let ec_pem = std::fs::read_to_string(format!(
            "{}/tests/keys/ec-p256.pem",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let ec = rcgen::KeyPair::from_pem(&ec_pem).unwrap();
        assert_eq!(
            PublicKey::from_der(&rcgen::PublicKeyData::subject_public_key_info(&ec), strict)
                .unwrap_err(),
            KeyError::NotRsa
        );

        for garbage in [&b""[..], b"\x30\x00", b"hello"] {
            assert_eq!(
                PublicKey::from_der(garbage, strict).unwrap_err(),
                KeyError::NotSpki
            );
        }
        let mut trailing = spki(&fixture("rsa2048-a"));
        trailing.push(0);
        assert_eq!(
            PublicKey::from_der(&trailing, strict).unwrap_err(),
            KeyError::NotSpki
        );
        assert_eq!(
            PublicKey::from_base64("not base64!", strict).unwrap_err(),
            KeyError::NotBase64
        );
    }

    #[test]
    fn leniency_admits_pkcs1_and_small_keys() {
        let bare = fixture("rsa2048-a")
            .to_public_key()
            .to_pkcs1_der()
            .unwrap()
            .as_bytes()
            .to_vec();
        let pkcs1 = KeyLeniency {
            pkcs1: true,
            ..KeyLeniency::default()
        };
        assert!(PublicKey::from_der(&bare, pkcs1).is_ok());
        let small_key = fixture("rsa1024");
        let lax = KeyLeniency {
            small: true,
            ..KeyLeniency::default()
        };
        let small = PublicKey::from_der(&spki(&small_key), lax).unwrap();
        let message = b"EMSig1\nPOST\n/connection\n{}";
        assert_eq!(
            small.verify(
                &digest(&SHA256, message),
                &sign_pss(&small_key, 32, message)
            ),
            cfg!(feature = "faults"),
            "1024-bit keys verify only through the fault-injection verifier"
        );
    }

    #[test]
    fn leniency_admits_other_algorithms_and_lax_base64() {
        let ec_pem = std::fs::read_to_string(format!(
            "{}/tests/keys/ec-p256.pem",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let ec = rcgen::PublicKeyData::subject_public_key_info(
            &rcgen::KeyPair::from_pem(&ec_pem).unwrap(),
        );
        let any = KeyLeniency {
            any_algorithm: true,
            ..KeyLeniency::default()
        };
        let foreign = PublicKey::from_der(&ec, any).unwrap();
        let message = b"EMSig1\nPOST\n/connection\n{}";
        assert!(!foreign.verify(&digest(&SHA256, message), &[0; 64]));
        assert_eq!(
            PublicKey::from_der(b"hello", any).unwrap_err(),
            KeyError::NotSpki
        );

        let key = fixture("rsa2048-a");
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(spki(&key));
        assert!(
            url.contains(['-', '_']),
            "the fixture's base64 differs in base64url"
        );
        let strict = KeyLeniency::default();
        assert_eq!(
            PublicKey::from_base64(&url, strict).unwrap_err(),
            KeyError::NotBase64
        );
        let lax = KeyLeniency {
            lax_base64: true,
            ..KeyLeniency::default()
        };
        let public = PublicKey::from_base64(&url, lax).unwrap();
        assert!(public.verify(&digest(&SHA256, message), &sign_pss(&key, 32, message)));
    }

    #[test]
    fn verifies_pss_salt_32_only() {
        let key = fixture("rsa2048-a");
        let public = PublicKey::from_der(&spki(&key), KeyLeniency::default()).unwrap();
        let message = b"EMSig1\nPOST\n/connection\n{}";
        let hashed = digest(&SHA256, message);

        assert!(public.verify(&hashed, &sign_pss(&key, 32, message)));
        // aws-lc-rs enforces the salt length: salt 20, 0 and 64 fail, so no extra check is needed.
        for salt in [0, 20, 64] {
            assert!(
                !public.verify(&hashed, &sign_pss(&key, salt, message)),
                "salt {salt}"
            );
        }
        let pkcs1v15 = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
        let v15 = rsa::signature::Signer::sign(&pkcs1v15, message).to_vec();
        assert!(!public.verify(&hashed, &v15));

        let mut flipped = sign_pss(&key, 32, message);
        flipped[10] ^= 1;
        assert!(!public.verify(&hashed, &flipped));
        assert!(!public.verify(&digest(&SHA256, b"other"), &sign_pss(&key, 32, message)));
        assert!(!public.verify(&hashed, &[]));
        let other = fixture("rsa2048-b");
        assert!(!public.verify(&hashed, &sign_pss(&other, 32, message)));
    }
}
