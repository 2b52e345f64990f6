//! The tassis-v2 identity keys the suite logs in with, and the XEdDSA signature vectors.
//!
//! - `fixtures/tassis-v2/identity-keys.json`: a pool of X25519 identity keys, both Edwards
//!   sign bits equally represented (alternating), compiled in ([`fixture_pool`]). A fresh
//!   pool is written by
//!   `edgecheck keygen --profile tassis-v2 --out fixtures/tassis-v2 --count 64`
//!   ([`write_fixture_pool`]).
//! - `fixtures/tassis-v2/xeddsa-vectors.json`: deterministic signature vectors (fixed Z),
//!   valid and refused, with the refusal cause TB-SIG gives ([`fixture_vectors`],
//!   [`generate_vectors`]). `fixtures/tassis-v2/README.md` documents both formats.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use super::xeddsa::{self, IdentityKey, DEGENERATE_KEYS};

/// The pool's file name (in `fixtures/tassis-v2/` or the `keygen` output directory).
pub const POOL_FILE: &str = "identity-keys.json";
/// The vectors' file name in `fixtures/tassis-v2/`.
pub const VECTORS_FILE: &str = "xeddsa-vectors.json";
/// The `format` field of a pool file.
pub const POOL_FORMAT: &str = "edgecheck tassis-v2 identity keys v1";
/// The `format` field of a vectors file.
pub const VECTORS_FORMAT: &str = "edgecheck tassis-v2 xeddsa vectors v1";

const BUILTIN_POOL: &str = include_str!("../../../fixtures/tassis-v2/identity-keys.json");
const BUILTIN_VECTORS: &str = include_str!("../../../fixtures/tassis-v2/xeddsa-vectors.json");

/// Why a pool or vector file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The file does not hold what it should.
    #[error("{what}: {reason}; regenerate it with `edgecheck keygen --profile tassis-v2`")]
    Invalid {
        /// Which file or entry.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// Refusing to overwrite an existing file.
    #[error("{0} already exists; delete the old pool or choose another directory")]
    Exists(PathBuf),
    /// Too few keys asked for.
    #[error("a pool needs at least 2 keys (one of each Edwards sign bit), not {0}; pass a larger --count")]
    Count(usize),
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A pool file: `{"format": POOL_FORMAT, "keys": [PoolEntry, ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolFile {
    /// Always [`POOL_FORMAT`].
    pub format: String,
    /// The keys, sign bits alternating 0, 1, 0, ...
    pub keys: Vec<PoolEntry>,
}

/// One key of a pool file, all hex lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolEntry {
    /// The clamped X25519 private key (32 bytes).
    pub secret: String,
    /// The identity key u (32 bytes), as sent on the wire.
    pub public: String,
    /// The sign bit of the Edwards public key A = a·B (0 or 1).
    pub edwards_sign_bit: u8,
}

impl PoolEntry {
    /// The entry of `key`.
    pub fn of(key: &IdentityKey) -> PoolEntry {
        PoolEntry {
            secret: hex::encode(key.secret()),
            public: hex::encode(key.public()),
            edwards_sign_bit: key.edwards_sign_bit(),
        }
    }
}

/// Parses a pool file and checks every entry (the public key and sign bit must follow from
/// the secret, the secret must be clamped).
pub fn parse_pool(text: &str, what: &str) -> Result<Vec<IdentityKey>, KeysError> {
    let invalid = |reason: String| KeysError::Invalid {
        what: what.to_string(),
        reason,
    };
    let file: PoolFile = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    if file.format != POOL_FORMAT {
        return Err(invalid(format!(
            "format {:?}, expected {POOL_FORMAT:?}",
            file.format
        )));
    }
    let mut keys = Vec::with_capacity(file.keys.len());
    for (i, e) in file.keys.iter().enumerate() {
        let bad = |reason: &str| invalid(format!("key {i}: {reason}"));
        let secret: [u8; 32] = hex::decode(&e.secret)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("secret is not 32 bytes of hex"))?;
        let key = IdentityKey::from_secret(secret);
        if key.secret() != secret {
            return Err(bad("secret is not clamped"));
        }
        if PoolEntry::of(&key) != *e {
            return Err(bad(
                "public key or sign bit does not follow from the secret",
            ));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// The pool compiled in from `fixtures/tassis-v2/identity-keys.json` (parsed once).
///
/// # Panics
/// When the compiled-in file is broken: a defect of the build, caught by the tests.
pub fn fixture_pool() -> &'static [IdentityKey] {
    static POOL: OnceLock<Vec<IdentityKey>> = OnceLock::new();
    POOL.get_or_init(|| {
        parse_pool(
            BUILTIN_POOL,
            "built-in fixtures/tassis-v2/identity-keys.json",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    })
}

/// `count` fresh keys, Edwards sign bits alternating 0, 1, 0, ... (so any prefix of two or
/// more keys has both).
pub fn generate_pool(count: usize) -> Vec<IdentityKey> {
    let mut by_bit: [Vec<IdentityKey>; 2] = [Vec::new(), Vec::new()];
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let want = usize::from(out.len() % 2 == 1);
        if let Some(k) = by_bit[want].pop() {
            out.push(k);
            continue;
        }
        let k = IdentityKey::generate();
        by_bit[usize::from(k.edwards_sign_bit())].push(k);
    }
    out
}

/// The pool file's JSON text for `keys`.
pub fn pool_json(keys: &[IdentityKey]) -> String {
    let file = PoolFile {
        format: POOL_FORMAT.into(),
        keys: keys.iter().map(PoolEntry::of).collect(),
    };
    let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes a fresh pool of `count` keys to `out/identity-keys.json`, the generator behind
/// `edgecheck keygen --profile tassis-v2 --out DIR --count N`. Creates `out` if needed,
/// refuses to overwrite. Returns the files written.
pub fn write_fixture_pool(out: &Path, count: usize) -> Result<Vec<PathBuf>, KeysError> {
    if count < 2 {
        return Err(KeysError::Count(count));
    }
    let path = out.join(POOL_FILE);
    if path.exists() {
        return Err(KeysError::Exists(path));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KeysError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, pool_json(&generate_pool(count))).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(vec![path])
}

/// How the signature of a vector was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Convention {
    /// [`IdentityKey::sign_xeddsa`] with the file's Z.
    Xeddsa,
    /// [`IdentityKey::sign_libsignal`] with the file's Z.
    Libsignal,
    /// [`xeddsa::forge_degenerate`] for the vector's identity key: no secret.
    Forged,
}

/// What was done to the signature after signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Alteration {
    /// Nothing.
    None,
    /// s replaced by s + L, sign bit kept ([`xeddsa::malleate`]).
    Malleated,
    /// Bit 0 of byte 32 (the low bit of s) flipped.
    FlipLowBitOfS,
    /// Bit 7 of byte 63 (the carried sign bit) flipped.
    FlipSignBit,
    /// The last byte removed (63 bytes).
    Truncated,
    /// A zero byte appended (65 bytes).
    Extended,
}

impl Alteration {
    /// Applies the alteration to a 64-byte signature.
    pub fn apply(self, sig: &[u8; 64]) -> Vec<u8> {
        let mut out = sig.to_vec();
        match self {
            Alteration::None => {}
            Alteration::Malleated => out = xeddsa::malleate(sig).to_vec(),
            Alteration::FlipLowBitOfS => out[32] ^= 1,
            Alteration::FlipSignBit => out[63] ^= 0x80,
            Alteration::Truncated => {
                out.pop();
            }
            Alteration::Extended => out.push(0),
        }
        out
    }
}

/// A vectors file: `{"format", "description", "z", "vectors": [SignatureVector, ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VectorFile {
    /// Always [`VECTORS_FORMAT`].
    pub format: String,
    /// What the file is and how to check a verifier against it.
    pub description: String,
    /// The 64 random bytes Z every signature of the file was made with (hex).
    pub z: String,
    /// The vectors.
    pub vectors: Vec<SignatureVector>,
}

/// One vector; byte strings are lowercase hex. To check a signer: sign `signed` with
/// `secret` and `z` by `convention`, apply `alteration`, compare with `signature`. To check
/// a verifier: verify (`identity_key`, `message`, `signature`) and compare with `verdict`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureVector {
    /// Unique name.
    pub name: String,
    /// What the vector shows.
    pub comment: String,
    /// The signer's clamped X25519 private key; `None` for forgeries.
    pub secret: Option<String>,
    /// The sign bit of the signer's Edwards public key; `None` for forgeries.
    pub edwards_sign_bit: Option<u8>,
    /// How the signature was made.
    pub convention: Convention,
    /// The bytes the signer signed (the forger: `message`).
    pub signed: String,
    /// What was done to the signature afterwards.
    pub alteration: Alteration,
    /// The identity key handed to the verifier (any length).
    pub identity_key: String,
    /// The message handed to the verifier.
    pub message: String,
    /// The signature handed to the verifier (any length).
    pub signature: String,
    /// `valid`, or the refusal cause ([`xeddsa::VerifyError::cause`]).
    pub verdict: String,
}

impl SignatureVector {
    /// The verdict of [`xeddsa::verify`] on this vector, in the file's words.
    pub fn verdict_of(result: &Result<(), xeddsa::VerifyError>) -> &'static str {
        match result {
            Ok(()) => "valid",
            Err(e) => e.cause(),
        }
    }
}

/// The vectors compiled in from `fixtures/tassis-v2/xeddsa-vectors.json`.
///
/// # Panics
/// When the compiled-in file is broken: a defect of the build, caught by the tests.
pub fn fixture_vectors() -> &'static VectorFile {
    static VECTORS: OnceLock<VectorFile> = OnceLock::new();
    VECTORS.get_or_init(|| {
        serde_json::from_str(BUILTIN_VECTORS)
            .unwrap_or_else(|e| panic!("built-in fixtures/tassis-v2/xeddsa-vectors.json: {e}"))
    })
}

/// The fixed Z of the vectors: SHA-512 of a label.
pub fn vectors_z() -> [u8; 64] {
    Sha512::digest(b"edgecheck tassis-v2 xeddsa vectors Z").into()
}

/// A deterministic key with the given Edwards sign bit, the `skip`-th one found.
fn vector_key(sign_bit: u8, skip: usize) -> IdentityKey {
    (0u32..)
        .map(|i| {
            let seed = Sha256::digest(format!("edgecheck tassis-v2 vector key {i}"));
            IdentityKey::from_secret(seed.into())
        })
        .filter(|k| k.edwards_sign_bit() == sign_bit)
        .nth(skip)
        .unwrap_or_else(|| IdentityKey::from_secret([0; 32]))
}

/// A length-delimited protobuf field (tag byte, one-byte length: `bytes` under 128 bytes).
fn pb_field(tag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![tag, bytes.len() as u8];
    out.extend_from_slice(bytes);
    out
}

/// The serialized `Address{identityKey, deviceId}` (each under 128 bytes).
pub fn address_bytes(identity_key: &[u8], device_id: &[u8]) -> Vec<u8> {
    [pb_field(0x0a, identity_key), pb_field(0x12, device_id)].concat()
}

/// The serialized `Login{address{identityKey, deviceId}, nonce}` (each under 128 bytes,
/// the address too).
pub fn login_bytes(identity_key: &[u8], device_id: &[u8], nonce: &[u8]) -> Vec<u8> {
    let address = address_bytes(identity_key, device_id);
    [pb_field(0x0a, &address), pb_field(0x12, nonce)].concat()
}

/// The vectors of `fixtures/tassis-v2/xeddsa-vectors.json`, generated (deterministic: fixed
/// keys and Z; a test compares the file with this).
pub fn generate_vectors() -> VectorFile {
    let z = vectors_z();
    let k0 = vector_key(0, 0);
    let k1 = vector_key(1, 0);
    let other = vector_key(0, 1);
    let nonce: [u8; 32] = Sha256::digest(b"edgecheck tassis-v2 vector nonce").into();
    let login = |k: &IdentityKey| login_bytes(&k.public(), b"device-1", &nonce);
    let mut vectors = Vec::new();

    struct Spec {
        name: &'static str,
        comment: &'static str,
        key: IdentityKey,
        convention: Convention,
        signed: Vec<u8>,
        alteration: Alteration,
        identity_key: Vec<u8>,
        message: Vec<u8>,
    }
    let mut signed_vector = |s: Spec| {
        let sig = match s.convention {
            Convention::Libsignal => s.key.sign_libsignal(&s.signed, z),
            _ => s.key.sign_xeddsa(&s.signed, z),
        };
        let signature = s.alteration.apply(&sig);
        let verdict =
            SignatureVector::verdict_of(&xeddsa::verify(&s.identity_key, &s.message, &signature));
        vectors.push(SignatureVector {
            name: s.name.into(),
            comment: s.comment.into(),
            secret: Some(hex::encode(s.key.secret())),
            edwards_sign_bit: Some(s.key.edwards_sign_bit()),
            convention: s.convention,
            signed: hex::encode(&s.signed),
            alteration: s.alteration,
            identity_key: hex::encode(&s.identity_key),
            message: hex::encode(&s.message),
            signature: hex::encode(signature),
            verdict: verdict.into(),
        });
    };
    let plain = |name, comment, key: &IdentityKey, convention, message: Vec<u8>| Spec {
        name,
        comment,
        key: key.clone(),
        convention,
        signed: message.clone(),
        alteration: Alteration::None,
        identity_key: key.public().to_vec(),
        message,
    };
    let with = |base: Spec, name: &'static str, comment: &'static str| Spec {
        name,
        comment,
        ..base
    };

    use Convention::{Libsignal, Xeddsa};
    signed_vector(plain(
        "xeddsa-sign0",
        "XEdDSA signature of a login, signer's Edwards sign bit 0",
        &k0,
        Xeddsa,
        login(&k0),
    ));
    signed_vector(plain(
        "xeddsa-sign1",
        "XEdDSA signature of a login, sign bit 1: the scalar was negated, signature[63] carries 0",
        &k1,
        Xeddsa,
        login(&k1),
    ));
    signed_vector(plain(
        "libsignal-sign0",
        "libsignal calculateSignature, sign bit 0",
        &k0,
        Libsignal,
        login(&k0),
    ));
    signed_vector(plain(
        "libsignal-sign1",
        "libsignal calculateSignature, sign bit 1 carried in signature[63] & 0x80",
        &k1,
        Libsignal,
        login(&k1),
    ));
    signed_vector(plain(
        "libsignal-empty-message",
        "an empty message, sign bit 1",
        &k1,
        Libsignal,
        Vec::new(),
    ));
    signed_vector(plain(
        "xeddsa-long-message",
        "a 1000-byte message",
        &k0,
        Xeddsa,
        (0..1000u32).map(|i| (i * 7 % 251) as u8).collect(),
    ));
    signed_vector(Spec {
        alteration: Alteration::FlipSignBit,
        ..with(
            plain("", "", &k1, Libsignal, login(&k1)),
            "libsignal-sign1-sign-bit-dropped",
            "sign bit 1 cleared from signature[63]: the verifier builds -A",
        )
    });
    signed_vector(Spec {
        alteration: Alteration::FlipSignBit,
        ..with(
            plain("", "", &k1, Xeddsa, login(&k1)),
            "xeddsa-sign1-sign-bit-set",
            "an XEdDSA signature with the sign bit set afterwards",
        )
    });
    let mut other_login = login(&k0);
    if let Some(last) = other_login.last_mut() {
        *last ^= 1;
    }
    signed_vector(Spec {
        message: other_login,
        ..with(
            plain("", "", &k0, Xeddsa, login(&k0)),
            "wrong-message",
            "verified over a login whose last nonce byte differs",
        )
    });
    let address_and_nonce = [address_bytes(&k0.public(), b"device-1"), nonce.to_vec()].concat();
    signed_vector(Spec {
        signed: address_and_nonce,
        ..with(
            plain("", "", &k0, Libsignal, login(&k0)),
            "signed-address-and-nonce",
            "signed over serialized Address followed by the raw nonce, verified over the Login",
        )
    });
    signed_vector(Spec {
        identity_key: k0.public().to_vec(),
        ..with(
            plain("", "", &other, Xeddsa, login(&k0)),
            "other-key",
            "signed by another key than the identity key",
        )
    });
    signed_vector(Spec {
        alteration: Alteration::Malleated,
        ..with(
            plain("", "", &k0, Xeddsa, login(&k0)),
            "xeddsa-malleated",
            "s + L: the same signature modulo L, refused as RFC 8032 does",
        )
    });
    signed_vector(Spec {
        alteration: Alteration::Malleated,
        ..with(
            plain("", "", &k1, Libsignal, login(&k1)),
            "libsignal-sign1-malleated",
            "s + L with the sign bit kept",
        )
    });
    signed_vector(Spec {
        alteration: Alteration::FlipLowBitOfS,
        ..with(
            plain("", "", &k1, Libsignal, login(&k1)),
            "flipped-s-bit",
            "the low bit of s flipped",
        )
    });
    let mut high = k0.public();
    high[31] |= 0x80;
    signed_vector(Spec {
        identity_key: high.to_vec(),
        ..with(
            plain("", "", &k0, Xeddsa, login(&k0)),
            "key-bit-255-set",
            "a valid signature, identity key with bit 255 set (TB-KEY-CANON: an alias of the key)",
        )
    });
    signed_vector(Spec {
        identity_key: [&k0.public()[..], &[0u8]].concat(),
        ..with(
            plain("", "", &k0, Xeddsa, login(&k0)),
            "key-33-bytes",
            "the identity key followed by a zero byte (TB-KEY-LEN)",
        )
    });
    signed_vector(Spec {
        identity_key: k0.public()[..31].to_vec(),
        ..with(
            plain("", "", &k0, Xeddsa, login(&k0)),
            "key-31-bytes",
            "the identity key without its last byte (TB-KEY-LEN)",
        )
    });
    signed_vector(Spec {
        alteration: Alteration::Truncated,
        ..with(
            plain("", "", &k0, Xeddsa, login(&k0)),
            "signature-63-bytes",
            "the signature without its last byte",
        )
    });
    signed_vector(Spec {
        alteration: Alteration::Extended,
        ..with(
            plain("", "", &k0, Xeddsa, login(&k0)),
            "signature-65-bytes",
            "the signature followed by a zero byte",
        )
    });
    let mut twist = [0u8; 32];
    twist[0] = 2;
    signed_vector(Spec {
        identity_key: twist.to_vec(),
        ..with(
            plain("", "", &k0, Xeddsa, login(&k0)),
            "key-on-twist",
            "u = 2 lies on the twist: y = 1/3 is no point of Ed25519",
        )
    });

    for key in DEGENERATE_KEYS {
        let message = login_bytes(&key.u, b"device-1", &nonce);
        let Some(sig) = xeddsa::forge_degenerate(&key.u, &message) else {
            continue;
        };
        let verdict = SignatureVector::verdict_of(&xeddsa::verify(&key.u, &message, &sig));
        vectors.push(SignatureVector {
            name: format!("forged-{}", key.name),
            comment: format!(
                "no private key: R = [r]B, s = r with [k]A = 0 for the degenerate key {}; \
                 accepted by verifiers without TB-SIG's small-order and canonical-u checks",
                key.name
            ),
            secret: None,
            edwards_sign_bit: None,
            convention: Convention::Forged,
            signed: hex::encode(&message),
            alteration: Alteration::None,
            identity_key: hex::encode(key.u),
            message: hex::encode(&message),
            signature: hex::encode(sig),
            verdict: verdict.into(),
        });
    }

    VectorFile {
        format: VECTORS_FORMAT.into(),
        description: "XEdDSA login signatures of the tassis-v2 binding (TB-KEY, TB-SIG). \
            Signer check: sign `signed` with `secret` and `z` by `convention`, apply \
            `alteration`, compare with `signature`. Verifier check: verify (`identity_key`, \
            `message`, `signature`) and compare with `verdict`: `valid` or the refusal cause. \
            See fixtures/tassis-v2/README.md."
            .into(),
        z: hex::encode(z),
        vectors,
    }
}

/// The vectors file's JSON text.
pub fn vectors_json(file: &VectorFile) -> String {
    let mut text = serde_json::to_string_pretty(file).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_pool_loads_with_both_sign_bits() {
        let pool = fixture_pool();
        assert_eq!(pool.len(), 64);
        let ones = pool.iter().filter(|k| k.edwards_sign_bit() == 1).count();
        assert_eq!(ones, 32);
        for (i, k) in pool.iter().enumerate() {
            assert_eq!(usize::from(k.edwards_sign_bit()), i % 2);
        }
    }

    #[test]
    fn pool_round_trips_and_broken_files_are_refused() {
        let keys = generate_pool(6);
        let text = pool_json(&keys);
        assert_eq!(parse_pool(&text, "t").unwrap(), keys);
        let broken = text.replacen(&hex::encode(keys[2].public()), &"00".repeat(32), 1);
        let err = parse_pool(&broken, "t").unwrap_err().to_string();
        assert!(err.contains("key 2") && err.contains("keygen"), "{err}");
        assert!(parse_pool("{}", "t").is_err());
        assert!(parse_pool(&text.replace(POOL_FORMAT, "other"), "t").is_err());
    }

    #[test]
    fn write_fixture_pool_writes_once() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_fixture_pool(dir.path(), 4).unwrap();
        assert_eq!(written, vec![dir.path().join(POOL_FILE)]);
        let text = std::fs::read_to_string(&written[0]).unwrap();
        assert_eq!(parse_pool(&text, "t").unwrap().len(), 4);
        assert!(matches!(
            write_fixture_pool(dir.path(), 4),
            Err(KeysError::Exists(_))
        ));
        assert!(matches!(
            write_fixture_pool(&dir.path().join("x"), 1),
            Err(KeysError::Count(1))
        ));
    }

    #[test]
    fn builtin_vectors_are_the_generated_ones() {
        assert_eq!(fixture_vectors(), &generate_vectors());
    }

    #[test]
    fn login_bytes_are_protobuf() {
        let b = login_bytes(&[1; 32], b"d", &[2; 32]);
        assert_eq!(&b[..4], &[0x0a, 37, 0x0a, 32]);
        assert_eq!(b.len(), 2 + 37 + 2 + 32);
    }
}
