//! Writes the fixture keys of the tests to `tests/keys/` (PKCS#8 PEM).
//!
//! The committed files are its output; run it again only to replace them:
//!
//! ```text
//! cargo run --release -p edge-reference-server --example gen_test_keys
//! ```
//!
//! Tests never generate RSA keys themselves (slow, especially in debug builds).

use std::path::Path;

use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys");
    std::fs::create_dir_all(&dir)?;
    let rsa_keys = [
        ("rsa2048-a", 2048),
        ("rsa2048-b", 2048),
        ("rsa2048-c", 2048),
        ("rsa2048-d", 2048),
        ("rsa2048-e", 2048),
        ("rsa2048-f", 2048),
        ("rsa3072", 3072),
        ("rsa4096", 4096),
        ("rsa1024", 1024),
    ];
    let mut rng = rand_core::OsRng;
    for (name, bits) in rsa_keys {
        let key = rsa::RsaPrivateKey::new(&mut rng, bits)?;
        let pem = key.to_pkcs8_pem(LineEnding::LF)?;
        std::fs::write(dir.join(format!("{name}.pem")), pem.as_bytes())?;
        println!("wrote {name}.pem");
    }
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    std::fs::write(dir.join("ec-p256.pem"), ec.serialize_pem())?;
    println!("wrote ec-p256.pem");
    Ok(())
}
