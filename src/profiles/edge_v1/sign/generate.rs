//! Writing a key pool to disk (the generator behind `fixtures/keys/`, see `docs/keys.md`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use rsa::pkcs8::der::pem::LineEnding;
use rsa::pkcs8::EncodePrivateKey;

use super::pool::files;
use super::{Key, SignError};

/// How many keys of each kind to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolCounts {
    /// 2048-bit RSA keys (`rsa2048.pem`), handed out by `KeyPool::take`.
    pub rsa2048: usize,
    /// 3072-bit RSA keys (`rsa3072.pem`).
    pub rsa3072: usize,
    /// 4096-bit RSA keys (`rsa4096.pem`).
    pub rsa4096: usize,
    /// 1024-bit RSA keys (`rsa1024.pem`), made with the `rsa` crate.
    pub rsa1024: usize,
    /// P-256 EC keys (`ec-p256.pem`).
    pub ec_p256: usize,
}

impl Default for PoolCounts {
    /// The counts of the committed `fixtures/keys/`.
    fn default() -> Self {
        PoolCounts {
            rsa2048: 2048,
            rsa3072: 4,
            rsa4096: 4,
            rsa1024: 2,
            ec_p256: 1,
        }
    }
}

/// Generates a key pool and writes it to `dir` as PKCS#8 PEM files, plus one more 2048-bit
/// key in `rsa2048-pkcs1.pem` (the source of the `pkcs1` special key). RSA keys of 2048 bits
/// and more come from aws-lc-rs on two threads, 1024-bit keys from the `rsa` crate (aws-lc-rs
/// refuses to make them), EC keys from aws-lc-rs.
///
/// Creates `dir` if needed; refuses to overwrite existing files. Returns the files written.
pub fn write_fixture_pool(dir: &Path, counts: PoolCounts) -> Result<Vec<PathBuf>, SignError> {
    for (name, n) in [
        ("rsa2048", counts.rsa2048),
        ("rsa3072", counts.rsa3072),
        ("rsa4096", counts.rsa4096),
        ("rsa1024", counts.rsa1024),
        ("ec-p256", counts.ec_p256),
    ] {
        if n == 0 {
            return Err(SignError::Generate(format!(
                "the pool needs at least one {name} key"
            )));
        }
    }
    let names = [
        files::RSA2048,
        files::RSA3072,
        files::RSA4096,
        files::RSA1024,
        files::EC_P256,
        files::PKCS1,
    ];
    let paths: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    if let Some(p) = paths.iter().find(|p| p.exists()) {
        return Err(SignError::Exists(p.clone()));
    }
    std::fs::create_dir_all(dir).map_err(|source| SignError::Io {
        path: dir.into(),
        source,
    })?;

    let pem_of = |ders: Vec<Vec<u8>>| -> Result<String, SignError> {
        let mut out = String::new();
        for der in ders {
            let pem = rsa::pkcs8::der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &der)
                .map_err(|e| SignError::Generate(format!("PEM encoding: {e}")))?;
            out.push_str(&pem);
        }
        Ok(out)
    };
    let rsa_pem = |n, bits| {
        let keys = generate_parallel(n, bits)?;
        pem_of(keys.iter().map(|k| k.pkcs8_der().to_vec()).collect())
    };
    let texts = [
        rsa_pem(counts.rsa2048, 2048)?,
        rsa_pem(counts.rsa3072, 3072)?,
        rsa_pem(counts.rsa4096, 4096)?,
        pem_of(rsa1024(counts.rsa1024)?)?,
        pem_of(ec_p256(counts.ec_p256)?)?,
        rsa_pem(1, 2048)?,
    ];
    for (path, text) in paths.iter().zip(texts) {
        write_new(path, text.as_bytes())?;
    }
    Ok(paths)
}

/// Writes through a temporary file and a rename, so a failure leaves no half-written file.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), SignError> {
    let io = |source| SignError::Io {
        path: path.into(),
        source,
    };
    let tmp = path.with_extension("pem.tmp");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Generates `n` RSA keys of `bits` bits with aws-lc-rs on two threads.
pub(crate) fn generate_parallel(n: usize, bits: usize) -> Result<Vec<Key>, SignError> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Key>>> = Mutex::new((0..n).map(|_| None).collect());
    let first_error: Mutex<Option<SignError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || lock(&first_error).is_some() {
                    break;
                }
                match Key::generate(bits) {
                    Ok(k) => lock(&out)[i] = Some(k),
                    Err(e) => {
                        lock(&first_error).get_or_insert(e);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = lock(&first_error).take() {
        return Err(e);
    }
    let keys = std::mem::take(&mut *lock(&out));
    keys.into_iter()
        .map(|k| k.ok_or_else(|| SignError::Generate("a key generation thread stopped".into())))
        .collect()
}

/// Locks a mutex, ignoring poisoning (the data are plain values, valid after any panic).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn rsa1024(n: usize) -> Result<Vec<Vec<u8>>, SignError> {
    let mut rng = rsa::rand_core::OsRng;
    (0..n)
        .map(|_| {
            let key = rsa::RsaPrivateKey::new(&mut rng, 1024)
                .map_err(|e| SignError::Generate(format!("1024-bit RSA: {e}")))?;
            let der = key
                .to_pkcs8_der()
                .map_err(|e| SignError::Generate(format!("1024-bit RSA: {e}")))?;
            Ok(der.as_bytes().to_vec())
        })
        .collect()
}

fn ec_p256(n: usize) -> Result<Vec<Vec<u8>>, SignError> {
    (0..n)
        .map(|_| {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .map(|doc| doc.as_ref().to_vec())
                .map_err(|e| SignError::Generate(format!("P-256: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::edge_v1::sign::{KeyPool, SpecialKey};

    #[test]
    fn writes_a_pool_that_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let counts = PoolCounts {
            rsa2048: 3,
            rsa3072: 1,
            rsa4096: 1,
            rsa1024: 1,
            ec_p256: 1,
        };
        let written = write_fixture_pool(dir.path(), counts).unwrap();
        assert_eq!(written.len(), 6);
        let pool = KeyPool::load_dir(dir.path()).unwrap();
        assert_eq!(pool.len(), 3);
        assert_eq!(pool.take_sized(4096).unwrap().modulus_bits(), 4096);
        assert_eq!(pool.special(SpecialKey::EcP256).len(), 91);
        // Nothing is overwritten.
        assert!(matches!(
            write_fixture_pool(dir.path(), counts),
            Err(SignError::Exists(_))
        ));
        let zero = PoolCounts {
            ec_p256: 0,
            ..counts
        };
        assert!(write_fixture_pool(&dir.path().join("new"), zero).is_err());
    }
}
