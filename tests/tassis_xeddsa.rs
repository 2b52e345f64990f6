//! The tassis-v2 XEdDSA vectors (`fixtures/tassis-v2/xeddsa-vectors.json`) against three
//! implementations: the suite's signer and TB-SIG verifier, an independent verifier
//! (ed25519-dalek's `verify_strict` on curve25519-dalek's Montgomery-to-Edwards map), and the
//! pure-Python `interop/xeddsa.py`. python3 must be installed; `EDGECHECK_SKIP_PYTHON=1`
//! skips the Python tests (saying so on standard error).
//!
//! `EDGECHECK_WRITE_VECTORS=1 cargo test --test tassis_xeddsa` rewrites the vectors file from
//! `keys::generate_vectors()` (after a deliberate change of the generator).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::{Signature, VerifyingKey};
use edgecheck::profiles::tassis_v2::keys::{
    self, fixture_pool, fixture_vectors, Convention, SignatureVector,
};
use edgecheck::profiles::tassis_v2::xeddsa::{self, IdentityKey};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn vectors_path() -> PathBuf {
    root().join("fixtures/tassis-v2").join(keys::VECTORS_FILE)
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("the vectors file holds hex")
}

/// TB-SIG's encoding checks written out here, then ed25519-dalek on curve25519-dalek's map:
/// true when the signature is accepted.
fn independent_accepts(key: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(u) = <[u8; 32]>::try_from(key) else {
        return false;
    };
    // Bit 255 set, or u ≥ p = 2^255 - 19 (7f ff .. ff ed, big-endian).
    if u[31] & 0x80 != 0 || (u[31] == 0x7f && u[1..31].iter().all(|&b| b == 0xff) && u[0] >= 0xed) {
        return false;
    }
    let Ok(mut sig) = <[u8; 64]>::try_from(sig) else {
        return false;
    };
    let Some(a) = MontgomeryPoint(u).to_edwards(sig[63] >> 7) else {
        return false;
    };
    sig[63] &= 0x7f;
    // verify_strict refuses small-order keys and s ≥ L, and checks cofactorless.
    VerifyingKey::from(a)
        .verify_strict(msg, &Signature::from_bytes(&sig))
        .is_ok()
}

/// The verdict each vector must have, written down apart from the generator.
fn expected_verdict(name: &str) -> &'static str {
    match name {
        "xeddsa-sign0"
        | "xeddsa-sign1"
        | "libsignal-sign0"
        | "libsignal-sign1"
        | "libsignal-empty-message"
        | "xeddsa-long-message" => "valid",
        "libsignal-sign1-sign-bit-dropped"
        | "xeddsa-sign1-sign-bit-set"
        | "wrong-message"
        | "signed-address-and-nonce"
        | "other-key"
        | "flipped-s-bit" => "mismatch",
        "xeddsa-malleated" | "libsignal-sign1-malleated" => "s-non-canonical",
        "key-bit-255-set" => "key-high-bit",
        "key-33-bytes" | "key-31-bytes" => "key-length",
        "signature-63-bytes" | "signature-65-bytes" => "signature-length",
        "key-on-twist" => "key-not-on-curve",
        "forged-u=p" => "key-non-canonical",
        n if n.starts_with("forged-") => "key-small-order",
        other => panic!("vector {other} has no expected verdict here; add it"),
    }
}

#[test]
fn vectors_file_is_current() {
    let generated = keys::vectors_json(&keys::generate_vectors());
    if std::env::var_os("EDGECHECK_WRITE_VECTORS").is_some() {
        std::fs::write(vectors_path(), &generated).expect("write the vectors file");
    }
    let committed = std::fs::read_to_string(vectors_path()).expect("read the vectors file");
    assert!(
        committed == generated,
        "fixtures/tassis-v2/xeddsa-vectors.json differs from keys::generate_vectors(); \
         if the generator changed on purpose, run \
         EDGECHECK_WRITE_VECTORS=1 cargo test --test tassis_xeddsa"
    );
}

#[test]
fn every_vector_agrees_with_signer_verifier_and_independent_verifier() {
    let file = fixture_vectors();
    let z: [u8; 64] = unhex(&file.z).try_into().expect("z is 64 bytes");
    assert!(file.vectors.len() >= 20);
    let mut seen_sign_bits = [false; 2];
    for v in &file.vectors {
        let key = unhex(&v.identity_key);
        let msg = unhex(&v.message);
        let sig = unhex(&v.signature);
        let signed = unhex(&v.signed);
        assert_eq!(v.verdict, expected_verdict(&v.name), "{}", v.name);

        // The suite's signer gives the same bytes.
        match v.convention {
            Convention::Forged => {
                let u: [u8; 32] = key.clone().try_into().expect("forged keys are 32 bytes");
                let forged = xeddsa::forge_degenerate(&u, &msg).expect("a degenerate key");
                assert_eq!(forged.to_vec(), sig, "{}: re-forging", v.name);
                assert!(v.secret.is_none());
            }
            c => {
                let secret: [u8; 32] = unhex(v.secret.as_deref().expect("a secret"))
                    .try_into()
                    .expect("32-byte secret");
                let k = IdentityKey::from_secret(secret);
                assert_eq!(Some(k.edwards_sign_bit()), v.edwards_sign_bit, "{}", v.name);
                seen_sign_bits[usize::from(k.edwards_sign_bit())] = true;
                let made = if c == Convention::Xeddsa {
                    k.sign_xeddsa(&signed, z)
                } else {
                    k.sign_libsignal(&signed, z)
                };
                assert_eq!(v.alteration.apply(&made), sig, "{}: re-signing", v.name);
            }
        }

        // The suite's verifier gives the verdict.
        let ours = SignatureVector::verdict_of(&xeddsa::verify(&key, &msg, &sig));
        assert_eq!(ours, v.verdict, "{}: suite verifier", v.name);

        // The independent verifier agrees on accept / refuse.
        assert_eq!(
            independent_accepts(&key, &msg, &sig),
            v.verdict == "valid",
            "{}: independent verifier",
            v.name
        );
        // Bit 255 is an alias: the signature itself is good for the key without it.
        if v.verdict == "key-high-bit" {
            let mut alias = key.clone();
            alias[31] &= 0x7f;
            assert!(independent_accepts(&alias, &msg, &sig), "{}", v.name);
        }
    }
    assert_eq!(seen_sign_bits, [true, true], "keys of both sign bits");
}

#[test]
fn pool_keys_sign_in_both_conventions() {
    let pool = fixture_pool();
    assert_eq!(pool.len(), 64);
    for (i, k) in pool.iter().enumerate() {
        let msg = keys::login_bytes(&k.public(), format!("dev-{i}").as_bytes(), &[i as u8; 32]);
        let z = [i as u8; 64];
        for sig in [k.sign_xeddsa(&msg, z), k.sign_libsignal(&msg, z)] {
            assert_eq!(xeddsa::verify(&k.public(), &msg, &sig), Ok(()), "key {i}");
            assert!(independent_accepts(&k.public(), &msg, &sig), "key {i}");
        }
        // The stored public key is X25519's: the Montgomery form of a·B.
        let mont = MontgomeryPoint::mul_base_clamped(k.secret());
        assert_eq!(mont.to_bytes(), k.public(), "key {i}");
    }
}

/// Runs `python3 interop/xeddsa.py FILE` (bounded to 60 s); None when python3 is absent
/// and EDGECHECK_SKIP_PYTHON=1.
fn run_python(vectors: &Path) -> Option<(bool, String, String)> {
    let spawned = Command::new("python3")
        .arg(root().join("interop/xeddsa.py"))
        .arg(vectors)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) if std::env::var("EDGECHECK_SKIP_PYTHON").as_deref() == Ok("1") => {
            eprintln!("skipped: python3 cannot run ({e}) and EDGECHECK_SKIP_PYTHON=1");
            return None;
        }
        Err(e) => panic!(
            "python3 cannot run ({e}); install Python 3 or set EDGECHECK_SKIP_PYTHON=1 to skip \
             the interop check"
        ),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait on python3").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("interop/xeddsa.py ran for more than 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("python3 output");
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn python_implementation_agrees_with_every_vector() {
    let Some((ok, stdout, stderr)) = run_python(&vectors_path()) else {
        return;
    };
    assert!(ok, "interop/xeddsa.py failed:\n{stdout}{stderr}");
    let n = fixture_vectors().vectors.len();
    assert!(
        stdout.contains(&format!("all {n} vectors agree")),
        "unexpected summary: {stdout}"
    );
}

#[test]
fn python_check_fails_on_a_flipped_signature_bit() {
    let text = std::fs::read_to_string(vectors_path()).expect("read the vectors file");
    let mut file: keys::VectorFile = serde_json::from_str(&text).expect("parse the vectors");
    let v = &mut file.vectors[0];
    assert_eq!(v.verdict, "valid");
    let mut sig = unhex(&v.signature);
    sig[10] ^= 0x04;
    v.signature = hex::encode(sig);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flipped.json");
    std::fs::write(&path, keys::vectors_json(&file)).expect("write");
    let Some((ok, stdout, stderr)) = run_python(&path) else {
        return;
    };
    assert!(!ok, "a flipped bit went unnoticed:\n{stdout}");
    assert!(stderr.contains(&file.vectors[0].name), "{stderr}");
}

#[test]
fn the_reference_server_agrees_with_every_vector() {
    let file = fixture_vectors();
    for v in &file.vectors {
        let accepted = edge_reference_server::tassis_v2::accepts_login_signature(
            &unhex(&v.identity_key),
            &unhex(&v.message),
            &unhex(&v.signature),
        );
        assert_eq!(
            accepted,
            v.verdict == "valid",
            "{}: the reference server {} it (expected {})",
            v.name,
            if accepted { "accepts" } else { "refuses" },
            v.verdict
        );
    }
}
