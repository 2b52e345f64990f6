use std::collections::HashSet;

use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;

use super::*;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys")
}

#[test]
fn builtin_hands_out_every_key_once_then_wraps() {
    let pool = KeyPool::unshared_builtin().unwrap();
    assert_eq!(
        pool.len(),
        crate::profiles::edge_v1::sign::PoolCounts::default().rsa2048
    );
    let mut seen = HashSet::new();
    let mut first = None;
    for _ in 0..pool.len() {
        let k = pool.take();
        assert_eq!(k.modulus_bits(), 2048);
        first.get_or_insert_with(|| k.spki_der().to_vec());
        assert!(
            seen.insert(k.spki_der().to_vec()),
            "a key was handed out twice"
        );
    }
    assert_eq!(pool.reused(), 0);
    assert_eq!(pool.take().spki_der(), first.unwrap().as_slice());
    assert_eq!(pool.reused(), 1);
}

#[test]
fn working_set_is_warm_distinct_and_cycles() {
    let base = KeyPool::unshared_builtin().unwrap();
    let set = base.working_set(5);
    assert_eq!(set.len(), 5);
    assert_eq!(
        base.usage(),
        KeyUsage {
            parsed: 5,
            signed: 5
        }
    );
    assert_eq!(
        set.usage(),
        KeyUsage {
            parsed: 5,
            signed: 5
        }
    );
    let spkis: Vec<Vec<u8>> = (0..7).map(|_| set.take().spki_der().to_vec()).collect();
    assert_eq!(spkis[..5].iter().collect::<HashSet<_>>().len(), 5);
    assert_eq!(spkis[0], spkis[5]);
    assert_eq!(set.reused(), 2);
    // The base pool's next key is not one of the set's.
    assert!(!spkis.contains(&base.take().spki_der().to_vec()));
    assert_eq!(base.working_set(0).len(), 1);
}

#[test]
fn small_pool_wraps_around_and_counts_reuse() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        files::RSA3072,
        files::RSA4096,
        files::RSA1024,
        files::EC_P256,
        files::PKCS1,
    ] {
        std::fs::copy(fixtures().join(name), dir.path().join(name)).unwrap();
    }
    let all = std::fs::read_to_string(fixtures().join(files::RSA2048)).unwrap();
    let three: String = pem_blocks(&all)
        .into_iter()
        .take(3)
        .map(|r| format!("{}\n", &all[r]))
        .collect();
    std::fs::write(dir.path().join(files::RSA2048), three).unwrap();

    let pool = KeyPool::load_dir(dir.path()).unwrap();
    assert_eq!(pool.len(), 3);
    let spkis: Vec<Vec<u8>> = (0..7).map(|_| pool.take().spki_der().to_vec()).collect();
    assert_eq!(spkis[0], spkis[3]);
    assert_eq!(spkis[1], spkis[4]);
    assert_eq!(spkis[0], spkis[6]);
    assert_eq!(spkis[..3].iter().collect::<HashSet<_>>().len(), 3);
    assert_eq!(pool.reused(), 4);

    let sized: Vec<_> = (0..5)
        .map(|_| pool.take_sized(3072).unwrap().spki_der().to_vec())
        .collect();
    assert_eq!(sized.iter().collect::<HashSet<_>>().len(), 4);
    assert_eq!(sized[0], sized[4]);
    assert_eq!(pool.reused(), 5);
    assert!(matches!(
        pool.take_sized(1024),
        Err(SignError::UnsupportedSize(1024))
    ));
}

#[test]
fn load_dir_reports_missing_and_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let e = KeyPool::load_dir(dir.path()).unwrap_err();
    assert!(e.to_string().contains("rsa2048.pem"), "{e}");

    for name in [
        files::RSA2048,
        files::RSA3072,
        files::RSA4096,
        files::RSA1024,
        files::EC_P256,
        files::PKCS1,
    ] {
        std::fs::copy(fixtures().join(name), dir.path().join(name)).unwrap();
    }
    // A 4096-bit key where 3072 bits are expected.
    std::fs::copy(
        fixtures().join(files::RSA4096),
        dir.path().join(files::RSA3072),
    )
    .unwrap();
    let e = KeyPool::load_dir(dir.path()).unwrap_err();
    assert!(e.to_string().contains("4096-bit key where 3072"), "{e}");

    std::fs::write(
        dir.path().join(files::RSA3072),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let e = KeyPool::load_dir(dir.path()).unwrap_err();
    assert!(e.to_string().contains("rsa3072.pem key #0"), "{e}");
}

#[test]
fn special_keys_are_what_they_claim() {
    let pool = KeyPool::builtin().unwrap();

    let rsa1024 = rsa::RsaPublicKey::from_public_key_der(&pool.special(SpecialKey::Rsa1024))
        .expect("rsa1024 is an RSA SPKI");
    assert_eq!(rsa1024.n().bits(), 1024);
    for (kind, bits) in [
        (SpecialKey::Rsa2047, 2047),
        (SpecialKey::Rsa3072, 3072),
        (SpecialKey::Rsa4096, 4096),
    ] {
        let k = rsa::RsaPublicKey::from_public_key_der(&pool.special(kind)).unwrap();
        assert_eq!(k.n().bits(), bits);
    }

    let pkcs1 = pool.special(SpecialKey::Pkcs1);
    let k = rsa::RsaPublicKey::from_pkcs1_der(&pkcs1).expect("pkcs1 is an RSAPublicKey");
    assert_eq!(k.n().bits(), 2048);
    assert!(rsa::RsaPublicKey::from_public_key_der(&pkcs1).is_err());

    let ec = pool.special(SpecialKey::EcP256);
    let spki = rsa::pkcs8::SubjectPublicKeyInfoRef::try_from(ec.as_slice()).unwrap();
    assert_eq!(
        spki.algorithm.oid.to_string(),
        "1.2.840.10045.2.1",
        "id-ecPublicKey"
    );
    assert_eq!(
        spki.algorithm.parameters_oid().unwrap().to_string(),
        "1.2.840.10045.3.1.7",
        "prime256v1"
    );
    assert!(rsa::RsaPublicKey::from_public_key_der(&ec).is_err());

    let garbage = pool.special(SpecialKey::Garbage);
    assert_eq!(garbage.len(), 64);
    assert_eq!(garbage, pool.special(SpecialKey::Garbage));
    assert!(rsa::pkcs8::SubjectPublicKeyInfoRef::try_from(garbage.as_slice()).is_err());
    assert!(rsa::RsaPublicKey::from_pkcs1_der(&garbage).is_err());

    let all: HashSet<Vec<u8>> = SpecialKey::ALL.iter().map(|k| pool.special(*k)).collect();
    assert_eq!(all.len(), SpecialKey::ALL.len());
}

#[test]
fn special_key_names() {
    for k in SpecialKey::ALL {
        assert_eq!(k.name().parse::<SpecialKey>(), Ok(k));
        assert_eq!(
            serde_json::to_value(k).unwrap(),
            serde_json::Value::String(k.name().into())
        );
    }
    assert_eq!("ec-p256".parse(), Ok(SpecialKey::EcP256));
    let e = "rsa512".parse::<SpecialKey>().unwrap_err();
    assert!(e.to_string().contains("rsa1024, rsa2047, rsa3072"), "{e}");
}

#[test]
fn fresh_pool_generates_distinct_keys() {
    let pool = KeyPool::with_fresh(2).unwrap();
    let (a, b) = (pool.take(), pool.take());
    assert_ne!(a.spki_der(), b.spki_der());
    assert_eq!(a.modulus_bits(), 2048);
    let builtin = KeyPool::builtin().unwrap();
    assert_eq!(
        pool.special(SpecialKey::Rsa1024),
        builtin.special(SpecialKey::Rsa1024)
    );
    assert!(KeyPool::with_fresh(0).is_err());
}
