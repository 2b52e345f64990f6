//! The key pool: PKCS#8 keys compiled into the binary from `fixtures/keys/` (generating a
//! 2048-bit key costs ~130 ms, far more than a request), handed out without reuse while they
//! last. See `docs/keys.md`.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivatePkcs8KeyDer;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::generate::generate_parallel;
use super::{Key, SignError};

/// File names of the pool, in `fixtures/keys/` and in directories written by
/// [`super::write_fixture_pool`].
pub(crate) mod files {
    pub const RSA2048: &str = "rsa2048.pem";
    pub const RSA3072: &str = "rsa3072.pem";
    pub const RSA4096: &str = "rsa4096.pem";
    pub const RSA1024: &str = "rsa1024.pem";
    pub const EC_P256: &str = "ec-p256.pem";
    pub const PKCS1: &str = "rsa2048-pkcs1.pem";
}

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

/// Keys that are not ordinary 2048-bit pool keys, used as key *values* in request bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpecialKey {
    /// SPKI of a 1024-bit RSA key (too small: B-KEY-SIZE).
    #[serde(rename = "rsa1024")]
    Rsa1024,
    /// SPKI of a 2047-bit RSA key (one bit short: B-KEY-SIZE). Built in, never read from a
    /// key directory: it is only ever a value, it never signs.
    #[serde(rename = "rsa2047")]
    Rsa2047,
    /// SPKI of a 3072-bit RSA key (must be accepted).
    #[serde(rename = "rsa3072")]
    Rsa3072,
    /// SPKI of a 4096-bit RSA key (must be accepted).
    #[serde(rename = "rsa4096")]
    Rsa4096,
    /// SPKI of a P-256 EC key (not RSA: B-KEY-SIZE).
    #[serde(rename = "ec-p256")]
    EcP256,
    /// Bare PKCS#1 `RSAPublicKey` of a 2048-bit key (B-KEY-PKCS1).
    #[serde(rename = "pkcs1")]
    Pkcs1,
    /// 64 fixed random-looking bytes, not DER at all.
    #[serde(rename = "garbage")]
    Garbage,
}

impl SpecialKey {
    /// Every special key.
    pub const ALL: [SpecialKey; 7] = [
        SpecialKey::Rsa1024,
        SpecialKey::Rsa2047,
        SpecialKey::Rsa3072,
        SpecialKey::Rsa4096,
        SpecialKey::EcP256,
        SpecialKey::Pkcs1,
        SpecialKey::Garbage,
    ];

    /// The name used in case files.
    pub fn name(self) -> &'static str {
        match self {
            SpecialKey::Rsa1024 => "rsa1024",
            SpecialKey::Rsa2047 => "rsa2047",
            SpecialKey::Rsa3072 => "rsa3072",
            SpecialKey::Rsa4096 => "rsa4096",
            SpecialKey::EcP256 => "ec-p256",
            SpecialKey::Pkcs1 => "pkcs1",
            SpecialKey::Garbage => "garbage",
        }
    }
}

impl fmt::Display for SpecialKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no [`SpecialKey`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown special key {0:?}; expected one of {names}", names = special_key_names())]
pub struct UnknownSpecialKey(pub String);

/// The names of every special key, comma-separated.
fn special_key_names() -> String {
    let names: Vec<_> = SpecialKey::ALL.iter().map(|k| k.name()).collect();
    names.join(", ")
}

impl FromStr for SpecialKey {
    type Err = UnknownSpecialKey;

    fn from_str(s: &str) -> Result<Self, UnknownSpecialKey> {
        SpecialKey::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownSpecialKey(s.to_string()))
    }
}

/// Pool of RSA keys. 2048-bit keys go out without reuse until the pool is exhausted, then
/// round again (counted by [`KeyPool::reused`]); 3072- and 4096-bit keys go round-robin.
pub struct KeyPool {
    rsa2048: Lazy2048,
    next2048: AtomicUsize,
    rsa3072: Vec<Arc<Key>>,
    next3072: AtomicUsize,
    rsa4096: Vec<Arc<Key>>,
    next4096: AtomicUsize,
    reused: AtomicUsize,
    specials: Arc<Specials>,
}

/// What a run cost the pool: each parsed key was validated once, and each key's first
/// signature set up its blinding (both cost more than a signature; see `docs/keys.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUsage {
    /// 2048-bit keys parsed so far.
    pub parsed: usize,
    /// Of those, keys that have signed.
    pub signed: usize,
}

/// PEM text and the byte range of each key in it; each key is parsed on first use.
struct Lazy2048 {
    file: String,
    text: Cow<'static, str>,
    blocks: Vec<Range<usize>>,
    keys: Vec<OnceLock<Arc<Key>>>,
}

struct Specials {
    rsa1024: Vec<u8>,
    rsa2047: Vec<u8>,
    rsa3072: Vec<u8>,
    rsa4096: Vec<u8>,
    ec_p256: Vec<u8>,
    pkcs1: Vec<u8>,
    garbage: Vec<u8>,
}

/// The PEM files of a pool.
struct Texts {
    origin: String,
    rsa2048: Cow<'static, [u8]>,
    rsa3072: Cow<'static, [u8]>,
    rsa4096: Cow<'static, [u8]>,
    rsa1024: Cow<'static, [u8]>,
    ec_p256: Cow<'static, [u8]>,
    pkcs1: Cow<'static, [u8]>,
}

impl Texts {
    fn builtin() -> Texts {
        Texts {
            origin: "fixtures/keys (built in)".into(),
            rsa2048: Cow::Borrowed(include_bytes!("../../../../fixtures/keys/rsa2048.pem")),
            rsa3072: Cow::Borrowed(include_bytes!("../../../../fixtures/keys/rsa3072.pem")),
            rsa4096: Cow::Borrowed(include_bytes!("../../../../fixtures/keys/rsa4096.pem")),
            rsa1024: Cow::Borrowed(include_bytes!("../../../../fixtures/keys/rsa1024.pem")),
            ec_p256: Cow::Borrowed(include_bytes!("../../../../fixtures/keys/ec-p256.pem")),
            pkcs1: Cow::Borrowed(include_bytes!(
                "../../../../fixtures/keys/rsa2048-pkcs1.pem"
            )),
        }
    }

    fn read(dir: &Path) -> Result<Texts, SignError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path)
                .map(Cow::Owned)
                .map_err(|source| SignError::Io { path, source })
        };
        Ok(Texts {
            origin: dir.display().to_string(),
            rsa2048: read(files::RSA2048)?,
            rsa3072: read(files::RSA3072)?,
            rsa4096: read(files::RSA4096)?,
            rsa1024: read(files::RSA1024)?,
            ec_p256: read(files::EC_P256)?,
            pkcs1: read(files::PKCS1)?,
        })
    }
}

impl KeyPool {
    /// The pool compiled into the binary, shared by the whole process (so keys are not
    /// reused across callers either). Keys are parsed when first taken.
    pub fn builtin() -> Result<Arc<KeyPool>, SignError> {
        static POOL: OnceLock<Result<Arc<KeyPool>, Arc<SignError>>> = OnceLock::new();
        POOL.get_or_init(|| KeyPool::unshared_builtin().map(Arc::new).map_err(Arc::new))
            .clone()
            .map_err(SignError::BuiltinPool)
    }

    /// A new, unshared pool over the built-in keys.
    pub(crate) fn unshared_builtin() -> Result<KeyPool, SignError> {
        KeyPool::from_texts(Texts::builtin(), false)
    }

    /// Loads a pool written by [`super::write_fixture_pool`], parsing and checking every key.
    pub fn load_dir(dir: &Path) -> Result<KeyPool, SignError> {
        KeyPool::from_texts(Texts::read(dir)?, true)
    }

    /// A pool of `n` freshly generated 2048-bit keys (two threads; about 70 ms per key on
    /// two cores), with the built-in 3072/4096-bit and special keys.
    pub fn with_fresh(n: usize) -> Result<Arc<KeyPool>, SignError> {
        if n == 0 {
            return Err(SignError::Generate(
                "a fresh pool needs at least one key".into(),
            ));
        }
        let base = KeyPool::builtin()?;
        let keys = generate_parallel(n, 2048)?;
        let keys = keys.into_iter().map(Arc::new).collect();
        Ok(Arc::new(base.with_rsa2048("fresh keys".into(), keys)))
    }

    /// A pool of these parsed 2048-bit keys, sharing this pool's other sizes and specials.
    fn with_rsa2048(&self, file: String, keys: Vec<Arc<Key>>) -> KeyPool {
        KeyPool {
            rsa2048: Lazy2048 {
                file,
                text: Cow::Borrowed(""),
                blocks: vec![0..0; keys.len()],
                keys: keys.into_iter().map(OnceLock::from).collect(),
            },
            next2048: AtomicUsize::new(0),
            rsa3072: self.rsa3072.clone(),
            next3072: AtomicUsize::new(0),
            rsa4096: self.rsa4096.clone(),
            next4096: AtomicUsize::new(0),
            reused: AtomicUsize::new(0),
            specials: self.specials.clone(),
        }
    }

    /// A pool that cycles over `n` 2048-bit keys taken from this one, each parsed and with
    /// its blinding set up (one throw-away signature) on every core before it is returned.
    /// For commands that sign thousands of times a second (`prop`, `fuzz`): a fresh key's
    /// parse and first signature cost about two signatures, a warm key's nothing. Hand-outs
    /// after the first `n` count as reuse; 3072/4096-bit and special keys are shared.
    pub fn working_set(&self, n: usize) -> Arc<KeyPool> {
        let n = n.clamp(1, self.len());
        let keys: Vec<Arc<Key>> = (0..n).map(|_| self.take()).collect();
        let next = AtomicUsize::new(0);
        let threads = std::thread::available_parallelism().map_or(2, |c| c.get());
        std::thread::scope(|s| {
            for _ in 0..threads.min(n) {
                s.spawn(|| {
                    while let Some(key) = keys.get(next.fetch_add(1, Ordering::Relaxed)) {
                        key.sign(b"edgecheck key warm-up");
                    }
                });
            }
        });
        let file = format!("{} (working set of {n})", self.rsa2048.file);
        Arc::new(self.with_rsa2048(file, keys))
    }

    fn from_texts(t: Texts, eager: bool) -> Result<KeyPool, SignError> {
        let what = |file: &str| format!("{}/{file}", t.origin);
        let rsa2048 = Lazy2048::new(what(files::RSA2048), t.rsa2048)?;
        if eager {
            for i in 0..rsa2048.len() {
                rsa2048.get(i)?;
            }
        }
        let rsa3072 = rsa_keys(&what(files::RSA3072), &t.rsa3072, 3072)?;
        let rsa4096 = rsa_keys(&what(files::RSA4096), &t.rsa4096, 4096)?;
        let pkcs1 = rsa_keys(&what(files::PKCS1), &t.pkcs1, 2048)?;
        let specials = Specials {
            rsa1024: short_rsa_spki(&what(files::RSA1024), &t.rsa1024, 1024)?,
            rsa2047: short_rsa_spki(
                "fixtures/keys/rsa2047.pem (built in)",
                include_bytes!("../../../../fixtures/keys/rsa2047.pem"),
                2047,
            )?,
            rsa3072: rsa3072[0].spki_der().to_vec(),
            rsa4096: rsa4096[0].spki_der().to_vec(),
            ec_p256: ec_spki(&what(files::EC_P256), &t.ec_p256)?,
            pkcs1: pkcs1[0].pkcs1_public_der().to_vec(),
            garbage: garbage(),
        };
        Ok(KeyPool {
            rsa2048,
            next2048: AtomicUsize::new(0),
            rsa3072,
            next3072: AtomicUsize::new(0),
            rsa4096,
            next4096: AtomicUsize::new(0),
            reused: AtomicUsize::new(0),
            specials: Arc::new(specials),
        })
    }

    /// The next 2048-bit key; after the last one, the pool starts again from the first.
    ///
    /// # Panics
    ///
    /// If a built-in key does not parse, which the test suite rules out for every key
    /// (pools from [`KeyPool::load_dir`] and [`KeyPool::with_fresh`] are checked up front).
    pub fn take(&self) -> Arc<Key> {
        let i = self.next2048.fetch_add(1, Ordering::Relaxed);
        if i >= self.rsa2048.len() {
            self.reused.fetch_add(1, Ordering::Relaxed);
        }
        match self.rsa2048.get(i % self.rsa2048.len()) {
            Ok(key) => key,
            Err(e) => panic!("{e}"),
        }
    }

    /// A key of `bits` bits: 2048 as [`KeyPool::take`]; 3072 and 4096 round-robin over the
    /// few fixture keys of those sizes (every hand-out after the first round counts as reuse).
    pub fn take_sized(&self, bits: usize) -> Result<Arc<Key>, SignError> {
        let (set, next) = match bits {
            2048 => return Ok(self.take()),
            3072 => (&self.rsa3072, &self.next3072),
            4096 => (&self.rsa4096, &self.next4096),
            other => return Err(SignError::UnsupportedSize(other)),
        };
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= set.len() {
            self.reused.fetch_add(1, Ordering::Relaxed);
        }
        Ok(set[i % set.len()].clone())
    }

    /// The DER bytes of a special key (SPKI for the RSA and EC kinds).
    pub fn special(&self, kind: SpecialKey) -> Vec<u8> {
        let s = &self.specials;
        match kind {
            SpecialKey::Rsa1024 => &s.rsa1024,
            SpecialKey::Rsa2047 => &s.rsa2047,
            SpecialKey::Rsa3072 => &s.rsa3072,
            SpecialKey::Rsa4096 => &s.rsa4096,
            SpecialKey::EcP256 => &s.ec_p256,
            SpecialKey::Pkcs1 => &s.pkcs1,
            SpecialKey::Garbage => &s.garbage,
        }
        .clone()
    }

    /// Number of 2048-bit keys in the pool.
    pub fn len(&self) -> usize {
        self.rsa2048.len()
    }

    /// Whether the pool has no 2048-bit keys (never true: construction requires one).
    pub fn is_empty(&self) -> bool {
        self.rsa2048.len() == 0
    }

    /// How many 2048-bit keys have been parsed, and how many of them have signed.
    pub fn usage(&self) -> KeyUsage {
        let parsed: Vec<&Arc<Key>> = self.rsa2048.keys.iter().filter_map(OnceLock::get).collect();
        KeyUsage {
            parsed: parsed.len(),
            signed: parsed.iter().filter(|k| k.has_signed()).count(),
        }
    }

    /// How many keys were handed out again after their size's pool was exhausted.
    pub fn reused(&self) -> usize {
        self.reused.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for KeyPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPool")
            .field("source", &self.rsa2048.file)
            .field("rsa2048", &self.rsa2048.len())
            .field("rsa3072", &self.rsa3072.len())
            .field("rsa4096", &self.rsa4096.len())
            .field("taken", &self.next2048.load(Ordering::Relaxed))
            .field("reused", &self.reused())
            .finish()
    }
}

impl Lazy2048 {
    fn new(file: String, text: Cow<'static, [u8]>) -> Result<Lazy2048, SignError> {
        let text = match text {
            Cow::Borrowed(b) => Cow::Borrowed(std::str::from_utf8(b).map_err(|_| not_pem(&file))?),
            Cow::Owned(b) => Cow::Owned(String::from_utf8(b).map_err(|_| not_pem(&file))?),
        };
        let blocks = pem_blocks(&text);
        if blocks.is_empty() {
            return Err(SignError::Pem {
                what: file,
                reason: "no PRIVATE KEY blocks".into(),
            });
        }
        let keys = blocks.iter().map(|_| OnceLock::new()).collect();
        Ok(Lazy2048 {
            file,
            text,
            blocks,
            keys,
        })
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn get(&self, i: usize) -> Result<Arc<Key>, SignError> {
        if let Some(k) = self.keys[i].get() {
            return Ok(k.clone());
        }
        let what = format!("{} key #{i}", self.file);
        let key = parse_rsa(&what, self.text[self.blocks[i].clone()].as_bytes(), 2048)?;
        Ok(self.keys[i].get_or_init(|| Arc::new(key)).clone())
    }
}

/// Byte ranges of the `PRIVATE KEY` blocks. Only the markers are searched here, so that
/// start-up does not decode thousands of keys; each block goes through the PEM parser
/// (rustls-pki-types) when its key is first taken.
fn pem_blocks(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(start) = text[from..].find(PEM_BEGIN).map(|i| from + i) {
        let Some(end) = text[start..]
            .find(PEM_END)
            .map(|i| start + i + PEM_END.len())
        else {
            break;
        };
        out.push(start..end);
        from = end;
    }
    out
}

fn pkcs8_ders(what: &str, text: &[u8]) -> Result<Vec<Vec<u8>>, SignError> {
    let ders = PrivatePkcs8KeyDer::pem_slice_iter(text)
        .map(|r| r.map(|k| k.secret_pkcs8_der().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SignError::Pem {
            what: what.into(),
            reason: e.to_string(),
        })?;
    if ders.is_empty() {
        return Err(SignError::Pem {
            what: what.into(),
            reason: "no PRIVATE KEY blocks".into(),
        });
    }
    Ok(ders)
}

fn parse_rsa(what: &str, pem: &[u8], bits: usize) -> Result<Key, SignError> {
    let der = pkcs8_ders(what, pem)?.swap_remove(0);
    let key = Key::from_pkcs8_der(&der).map_err(|e| match e {
        SignError::KeyRejected { reason, .. } => SignError::KeyRejected {
            what: what.into(),
            reason,
        },
        other => other,
    })?;
    check_bits(what, key.modulus_bits(), bits)?;
    Ok(key)
}

fn rsa_keys(what: &str, text: &[u8], bits: usize) -> Result<Vec<Arc<Key>>, SignError> {
    pkcs8_ders(what, text)?
        .iter()
        .enumerate()
        .map(|(i, der)| {
            let what = format!("{what} key #{i}");
            let key = Key::from_pkcs8_der(der).map_err(|e| SignError::KeyRejected {
                what: what.clone(),
                reason: e.to_string(),
            })?;
            check_bits(&what, key.modulus_bits(), bits)?;
            Ok(Arc::new(key))
        })
        .collect()
}

fn check_bits(what: &str, got: usize, want: usize) -> Result<(), SignError> {
    if got == want {
        return Ok(());
    }
    Err(SignError::KeyRejected {
        what: what.into(),
        reason: format!("a {got}-bit key where {want} bits are expected"),
    })
}

/// aws-lc-rs refuses keys under 2048 bits, so keys of `bits` < 2048 are read with the `rsa`
/// crate.
fn short_rsa_spki(what: &str, text: &[u8], bits: usize) -> Result<Vec<u8>, SignError> {
    let der = pkcs8_ders(what, text)?.swap_remove(0);
    let rejected = |reason: String| SignError::KeyRejected {
        what: what.into(),
        reason,
    };
    let key = rsa::RsaPrivateKey::from_pkcs8_der(&der).map_err(|e| rejected(e.to_string()))?;
    check_bits(what, key.n().bits(), bits)?;
    let spki = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| rejected(e.to_string()))?;
    Ok(spki.as_bytes().to_vec())
}

fn ec_spki(what: &str, text: &[u8]) -> Result<Vec<u8>, SignError> {
    let der = pkcs8_ders(what, text)?.swap_remove(0);
    let rejected = |reason: String| SignError::KeyRejected {
        what: what.into(),
        reason,
    };
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der)
        .map_err(|e| rejected(e.to_string()))?;
    let spki = AsDer::<PublicKeyX509Der>::as_der(pair.public_key())
        .map_err(|e| rejected(e.to_string()))?;
    Ok(spki.as_ref().to_vec())
}

/// 64 fixed bytes that look random (two SHA-256 outputs of fixed labels) and are not DER.
fn garbage() -> Vec<u8> {
    let mut out = Sha256::digest(b"edgecheck garbage key 1").to_vec();
    out.extend_from_slice(&Sha256::digest(b"edgecheck garbage key 2"));
    out
}

fn not_pem(file: &str) -> SignError {
    SignError::Pem {
        what: file.into(),
        reason: "not a PEM text file".into(),
    }
}

#[cfg(test)]
mod tests;
