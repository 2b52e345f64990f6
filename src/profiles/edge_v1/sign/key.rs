//! RSA private keys: aws-lc-rs for the binding's signature and for the salt lengths the
//! suite's faults use (0, 20, 64); the `rsa` crate only for any other PSS salt length.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{
    KeyPair as _, RsaEncoding, RsaPssSaltLength, RsaSignatureEncoding, RSA_PKCS1_SHA256,
    RSA_PSS_SHA256,
};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use sha2::{Digest, Sha256};

use super::SignError;
use crate::profiles::edge_v1::wire::b64;

/// A signature scheme: the binding's own is `Pss { salt: 32 }` (B-SIG-ALG).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// RSASSA-PSS, SHA-256, MGF1-SHA-256, with this salt length in bytes.
    Pss {
        /// Salt length in bytes.
        salt: usize,
    },
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Pkcs1v15,
}

impl Scheme {
    /// The scheme B-SIG-ALG requires.
    pub const BINDING: Scheme = Scheme::Pss { salt: 32 };
}

/// PSS with SHA-256 and a salt of 0, 20 or 64 bytes: the salt-length faults (B-SIG-ALG).
static PSS_SALT_0: RsaSignatureEncoding =
    RSA_PSS_SHA256.with_pss_salt_length(RsaPssSaltLength::Custom(0));
static PSS_SALT_20: RsaSignatureEncoding =
    RSA_PSS_SHA256.with_pss_salt_length(RsaPssSaltLength::Custom(20));
static PSS_SALT_64: RsaSignatureEncoding =
    RSA_PSS_SHA256.with_pss_salt_length(RsaPssSaltLength::Custom(64));

/// A private RSA key with its public half as SPKI DER. Never printed: `Debug` shows the size
/// and a fingerprint of the public key only.
pub struct Key {
    pair: KeyPair,
    pkcs8: Vec<u8>,
    spki: Vec<u8>,
    /// The same key for the `rsa` crate, parsed on first use of another salt length.
    rsa: OnceLock<Result<rsa::RsaPrivateKey, rsa::pkcs8::Error>>,
    /// Whether aws-lc-rs has signed with the key (its first signature sets up blinding).
    signed: AtomicBool,
}

impl Key {
    /// Loads a PKCS#8 (v1 or v2) DER private RSA key of 2048 to 8192 bits.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Key, SignError> {
        let pair = KeyPair::from_pkcs8(der).map_err(|e| SignError::KeyRejected {
            what: "key".into(),
            reason: e.to_string(),
        })?;
        Self::from_pair(pair, Some(der))
    }

    /// Generates a new key of 2048, 3072 or 4096 bits (aws-lc-rs; ~130 ms for 2048 bits).
    pub fn generate(bits: usize) -> Result<Key, SignError> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            other => return Err(SignError::UnsupportedSize(other)),
        };
        let pair = KeyPair::generate(size).map_err(|e| SignError::Generate(e.to_string()))?;
        Self::from_pair(pair, None)
    }

    fn from_pair(pair: KeyPair, pkcs8: Option<&[u8]>) -> Result<Key, SignError> {
        let crypto = |e: aws_lc_rs::error::Unspecified| SignError::Generate(e.to_string());
        let pkcs8 = match pkcs8 {
            Some(der) => der.to_vec(),
            None => AsDer::<Pkcs8V1Der>::as_der(&pair)
                .map_err(crypto)?
                .as_ref()
                .to_vec(),
        };
        let spki = AsDer::<PublicKeyX509Der>::as_der(pair.public_key())
            .map_err(crypto)?
            .as_ref()
            .to_vec();
        Ok(Key {
            pair,
            pkcs8,
            spki,
            rsa: OnceLock::new(),
            signed: AtomicBool::new(false),
        })
    }

    /// The public key as DER `SubjectPublicKeyInfo` (B-KEY-FMT).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The public key as the binding sends it: base64 of the SPKI DER.
    pub fn spki_base64(&self) -> String {
        b64(&self.spki)
    }

    /// The public key as a bare PKCS#1 `RSAPublicKey` DER (invalid in the binding: B-KEY-PKCS1).
    pub fn pkcs1_public_der(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// Size of the modulus in bits.
    pub fn modulus_bits(&self) -> usize {
        self.pair.public_modulus_len() * 8
    }

    /// The private key as PKCS#8 DER, for writing fixture files only.
    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// Whether the key has made an aws-lc-rs signature (PSS with salt 32, or PKCS#1 v1.5).
    pub fn has_signed(&self) -> bool {
        self.signed.load(Ordering::Relaxed)
    }

    /// Signs with the binding's scheme: RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32.
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        self.sign_with(input, Scheme::BINDING)
    }

    /// Signs with any scheme (other schemes exist to make signatures a server must reject).
    ///
    /// # Panics
    ///
    /// If a PSS salt does not fit the key (more than modulus bytes − 34), which the suite's
    /// own salt lengths (0, 20, 32, 64) never do; see [`Key::try_sign_with`].
    pub fn sign_with(&self, input: &[u8], scheme: Scheme) -> Vec<u8> {
        match self.try_sign_with(input, scheme) {
            Ok(sig) => sig,
            Err(e) => panic!("signing with {scheme:?} failed: {e}"),
        }
    }

    /// Signs with any scheme, reporting a salt that does not fit the key as an error.
    pub fn try_sign_with(&self, input: &[u8], scheme: Scheme) -> Result<Vec<u8>, SignError> {
        let aws = |alg: &'static dyn RsaEncoding| {
            self.signed.store(true, Ordering::Relaxed);
            let mut sig = vec![0; self.pair.public_modulus_len()];
            self.pair
                .sign(alg, &SystemRandom::new(), input, &mut sig)
                .map_err(|e| SignError::Generate(format!("aws-lc-rs signing failed: {e}")))?;
            Ok(sig)
        };
        match scheme {
            Scheme::Pss { salt: 32 } => aws(&RSA_PSS_SHA256),
            Scheme::Pss { salt: 0 } => aws(&PSS_SALT_0),
            Scheme::Pss { salt: 20 } => aws(&PSS_SALT_20),
            Scheme::Pss { salt: 64 } => aws(&PSS_SALT_64),
            Scheme::Pkcs1v15 => aws(&RSA_PKCS1_SHA256),
            Scheme::Pss { salt } => {
                let key = self
                    .rsa
                    .get_or_init(|| rsa::RsaPrivateKey::from_pkcs8_der(&self.pkcs8))
                    .as_ref()
                    .map_err(|e| SignError::KeyRejected {
                        what: "key (rsa crate)".into(),
                        reason: e.to_string(),
                    })?;
                let signer = rsa::pss::SigningKey::<Sha256>::new_with_salt_len(key.clone(), salt);
                let sig = signer
                    .try_sign_with_rng(&mut rsa::rand_core::OsRng, input)
                    .map_err(|e| {
                        SignError::Generate(format!("PSS with a {salt}-byte salt: {e}"))
                    })?;
                Ok(sig.to_vec())
            }
        }
    }

    /// SHA-256 of the SPKI DER, hex: a safe name for the key in logs.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(&self.spki))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("bits", &self.modulus_bits())
            .field("spki_sha256", &&self.fingerprint()[..16])
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;

    /// Verifies with the independent `rsa` crate: PSS, SHA-256, the given salt length.
    pub(crate) fn rsa_verify(spki: &[u8], input: &[u8], sig: &[u8], salt: usize) -> bool {
        let public = rsa::RsaPublicKey::from_public_key_der(spki).unwrap();
        let Ok(sig) = rsa::pss::Signature::try_from(sig) else {
            return false;
        };
        rsa::pss::VerifyingKey::<Sha256>::new_with_salt_len(public, salt)
            .verify(input, &sig)
            .is_ok()
    }

    pub(crate) fn rsa_verify_pkcs1(spki: &[u8], input: &[u8], sig: &[u8]) -> bool {
        let public = rsa::RsaPublicKey::from_public_key_der(spki).unwrap();
        let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig) else {
            return false;
        };
        rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public)
            .verify(input, &sig)
            .is_ok()
    }

    #[test]
    fn signatures_verify_under_the_rsa_crate_and_only_with_their_scheme() {
        let pool = crate::profiles::edge_v1::sign::KeyPool::builtin().unwrap();
        let key = pool.take();
        let input = b"EMSig1\nPOST\n/connection\n{}";
        let sig = key.sign(input);
        assert_eq!(sig.len(), 256);
        assert!(rsa_verify(key.spki_der(), input, &sig, 32));
        assert!(!rsa_verify(
            key.spki_der(),
            b"EMSig1\nPOST\n/connection\n{ }",
            &sig,
            32
        ));
        assert!(!rsa_verify(key.spki_der(), input, &sig, 20));
        // 0, 20 and 64 are signed by aws-lc-rs, 48 by the `rsa` crate.
        for salt in [0, 20, 48, 64] {
            let s = key.sign_with(input, Scheme::Pss { salt });
            assert!(rsa_verify(key.spki_der(), input, &s, salt), "salt {salt}");
            assert!(!rsa_verify(key.spki_der(), input, &s, 32), "salt {salt}");
        }
        let s = key.sign_with(input, Scheme::Pkcs1v15);
        assert!(rsa_verify_pkcs1(key.spki_der(), input, &s));
        assert!(!rsa_verify(key.spki_der(), input, &s, 32));
        assert!(key.try_sign_with(input, Scheme::Pss { salt: 250 }).is_err());
    }

    #[test]
    fn generated_keys_round_trip_through_pkcs8() {
        let k = Key::generate(2048).unwrap();
        assert_eq!(k.modulus_bits(), 2048);
        let again = Key::from_pkcs8_der(k.pkcs8_der()).unwrap();
        assert_eq!(again.spki_der(), k.spki_der());
        let sig = again.sign(b"x");
        assert!(rsa_verify(k.spki_der(), b"x", &sig, 32));
        assert!(matches!(
            Key::generate(1024),
            Err(SignError::UnsupportedSize(1024))
        ));
        assert!(Key::from_pkcs8_der(b"not a key").is_err());
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let pool = crate::profiles::edge_v1::sign::KeyPool::builtin().unwrap();
        let key = pool.take();
        let shown = format!("{key:?}");
        assert!(shown.contains("2048"), "{shown}");
        assert!(!shown.contains(&hex::encode(&key.pkcs8_der()[40..60])));
        assert!(!shown.contains(&b64(key.pkcs8_der())[60..90]));
        assert!(shown.len() < 120, "{shown}");
    }
}
