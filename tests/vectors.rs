//! Signature test vectors (`fixtures/vectors/signatures.json`): keys, signing inputs and
//! signatures of create requests, valid and invalid (B-SIG-ALG, B-SIG-INPUT, B-SIG-HDR).
//!
//! Each vector is checked three ways: the suite's signer builds the same signing input and
//! its fault generator makes the same kind of broken signature; an independent verifier
//! (aws-lc-rs used directly, not through the suite) accepts exactly the valid ones; and the
//! reference server answers each vector, sent byte for byte, with the status it names.
//!
//! Regenerate the file (new keys and signatures; the checks must still pass):
//! `EDGECHECK_WRITE_VECTORS=1 cargo test --test vectors write_vectors -- --ignored`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PSS_2048_8192_SHA256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use edgecheck::client::{Client, ClientOptions, Request};
use edgecheck::profiles::edge_v1::sign::{signature_token, signing_input, Key, Scheme, SigFault};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The vector file.
fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/vectors/signatures.json")
}

/// The whole file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VectorFile {
    description: String,
    profile: String,
    algorithm: String,
    keys: BTreeMap<String, VectorKey>,
    vectors: Vec<Vector>,
}

/// A test key: private (PKCS#8) and public (SPKI) DER, base64.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VectorKey {
    bits: usize,
    spki: String,
    pkcs8: String,
}

/// One signed create request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Vector {
    id: String,
    description: String,
    /// Whether a conforming server accepts the request.
    valid: bool,
    /// The status a conforming server answers (201 or 401).
    expect_status: u16,
    /// The key in the body (`recipient`), which must sign a create.
    key: String,
    /// The key that made the signature (another key for `other-key`).
    signed_by: String,
    /// The method and request-target the request is sent with.
    method: String,
    request_target: String,
    /// The exact body.
    body: String,
    /// The bytes the signature was made over (valid vectors: the request's B-SIG-INPUT).
    signing_input: String,
    /// SHA-256 of `signing_input`, hex.
    signing_input_sha256: String,
    /// The signature as it appears in the header (possibly badly encoded).
    signature: String,
    /// The whole `Authorization` value.
    authorization: String,
    /// The suite's `sigFault` name producing this kind of signature, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fault: Option<SigFault>,
}

fn load() -> VectorFile {
    let text = std::fs::read_to_string(vectors_path())
        .expect("fixtures/vectors/signatures.json exists (see the module docs to regenerate)");
    serde_json::from_str(&text).expect("the vector file parses")
}

fn unb64(s: &str) -> Vec<u8> {
    STANDARD.decode(s).expect("standard base64")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Independent check of B-SIG-ALG: RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32, by aws-lc-rs.
fn verifies(spki: &[u8], input: &[u8], token: &str) -> bool {
    // The token must be one standard padded base64 value (B-ENC-B64) before it is a signature.
    let Ok(sig) = STANDARD.decode(token) else {
        return false;
    };
    if sig.is_empty() {
        return false;
    }
    UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, spki)
        .verify(input, &sig)
        .is_ok()
}

#[test]
fn the_file_covers_the_required_kinds() {
    let file = load();
    assert_eq!(file.profile, "edge-v1");
    let ids: Vec<&str> = file.vectors.iter().map(|v| v.id.as_str()).collect();
    for needed in [
        "valid-2048",
        "valid-3072",
        "valid-4096",
        "pss-salt-20",
        "pss-salt-0",
        "pss-salt-64",
        "pkcs1-v1_5",
        "truncated",
        "wrong-path-line",
        "wrong-method-line",
        "wrong-body",
        "other-key",
    ] {
        assert!(ids.contains(&needed), "vector {needed} missing: {ids:?}");
    }
    assert!(file.vectors.iter().any(|v| v.valid) && file.vectors.iter().any(|v| !v.valid));
    let mut seen = std::collections::HashSet::new();
    for v in &file.vectors {
        assert!(seen.insert(&v.id), "duplicate vector id {}", v.id);
        assert!(file.keys.contains_key(&v.key), "{}: unknown key", v.id);
        assert!(
            file.keys.contains_key(&v.signed_by),
            "{}: unknown key",
            v.id
        );
        assert_eq!(v.expect_status, if v.valid { 201 } else { 401 }, "{}", v.id);
    }
}

#[test]
fn keys_load_in_the_suite_and_match_their_spki() {
    for (name, k) in load().keys {
        let key = Key::from_pkcs8_der(&unb64(&k.pkcs8)).expect("PKCS#8 loads");
        assert_eq!(key.spki_der(), unb64(&k.spki).as_slice(), "{name}");
        assert_eq!(key.modulus_bits(), k.bits, "{name}");
        assert_eq!(key.spki_base64(), k.spki, "{name}");
    }
}

#[test]
fn signing_inputs_match_the_suites_signer() {
    let file = load();
    for v in &file.vectors {
        assert_eq!(
            sha256_hex(v.signing_input.as_bytes()),
            v.signing_input_sha256,
            "{}",
            v.id
        );
        let built = signing_input(&v.method, &v.request_target, v.body.as_bytes());
        // Valid vectors sign exactly the request; the input-changing faults sign something else.
        let same = built == v.signing_input.as_bytes();
        let changes_input = matches!(
            v.fault,
            Some(SigFault::WrongPath | SigFault::WrongMethod | SigFault::WrongBody)
        );
        assert_eq!(same, !changes_input, "{}: signing input", v.id);
        let body: serde_json::Value = serde_json::from_str(&v.body).expect("JSON body");
        assert_eq!(
            body["recipient"].as_str(),
            Some(file.keys[&v.key].spki.as_str()),
            "{}: the body carries the key",
            v.id
        );
        assert_eq!(
            v.authorization,
            format!("EMSig {}", v.signature),
            "{}",
            v.id
        );
    }
}

#[test]
fn an_independent_verifier_accepts_exactly_the_valid_vectors() {
    let file = load();
    for v in &file.vectors {
        let spki = unb64(&file.keys[&v.key].spki);
        let input = signing_input(&v.method, &v.request_target, v.body.as_bytes());
        assert_eq!(verifies(&spki, &input, &v.signature), v.valid, "{}", v.id);
        // The invalid ones are each broken in one way: the signature verifies for what it
        // was actually made over, with the key that actually made it, when decodable.
        if matches!(
            v.fault,
            Some(
                SigFault::WrongPath
                    | SigFault::WrongMethod
                    | SigFault::WrongBody
                    | SigFault::OtherKey
            )
        ) {
            let signer = unb64(&file.keys[&v.signed_by].spki);
            assert!(
                verifies(&signer, v.signing_input.as_bytes(), &v.signature),
                "{}: a well-made signature over the other input",
                v.id
            );
        }
    }
}

#[test]
fn the_suites_signer_makes_signatures_that_verify_like_the_valid_vectors() {
    let file = load();
    for v in file.vectors.iter().filter(|v| v.valid) {
        let k = &file.keys[&v.key];
        let key = Key::from_pkcs8_der(&unb64(&k.pkcs8)).unwrap();
        let input = signing_input(&v.method, &v.request_target, v.body.as_bytes());
        let token = STANDARD.encode(key.sign(&input));
        assert!(verifies(&unb64(&k.spki), &input, &token), "{}", v.id);
        assert_eq!(token.len(), v.signature.len(), "{}: same size", v.id);
    }
}

#[test]
fn the_suites_fault_generator_breaks_signatures_the_same_way() {
    let file = load();
    let other = Key::from_pkcs8_der(&unb64(&file.keys["rsa2048-other"].pkcs8)).unwrap();
    for v in &file.vectors {
        let Some(fault) = v.fault else { continue };
        let k = &file.keys[&v.key];
        let key = Key::from_pkcs8_der(&unb64(&k.pkcs8)).unwrap();
        let token = signature_token(
            &key,
            &other,
            &v.method,
            &v.request_target,
            v.body.as_bytes(),
            Some(fault),
        );
        let input = signing_input(&v.method, &v.request_target, v.body.as_bytes());
        assert!(
            !verifies(&unb64(&k.spki), &input, &token),
            "{}: the suite's {fault:?} must not verify",
            v.id
        );
        // Same shape: decoded length (or the same decoding failure) as the vector's.
        assert_eq!(
            STANDARD.decode(&token).map(|s| s.len()).ok(),
            STANDARD.decode(&v.signature).map(|s| s.len()).ok(),
            "{}: {fault:?}",
            v.id
        );
    }
}

/// The status the reference server (with `faults`) answers to each vector, by vector id.
fn server_statuses(
    file: &VectorFile,
    faults: Vec<edge_reference_server::faults::Fault>,
) -> BTreeMap<String, u16> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = edge_reference_server::start(edge_reference_server::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: edge_reference_server::Tls::Plain,
            faults,
            ..edge_reference_server::Config::default()
        })
        .await
        .expect("the reference server starts");
        let ce = url::Url::parse(&server.create_url()).unwrap();
        assert_eq!(
            ce.path(),
            "/connection",
            "vectors are made for CE /connection"
        );
        let client = Client::new(&ClientOptions {
            timeout: Duration::from_secs(10),
            ..ClientOptions::default()
        })
        .unwrap();
        let mut out = BTreeMap::new();
        for v in &file.vectors {
            let mut req = Request::new(&v.method, ce.clone())
                .header("Content-Type", "application/json")
                .header("Authorization", v.authorization.as_bytes())
                .body(v.body.as_bytes());
            req.target = Some(v.request_target.clone());
            let ex = client.execute(req).await;
            let status = ex.response.as_ref().map(|r| r.status).unwrap_or_else(|e| {
                panic!("{}: no response: {e}", v.id);
            });
            out.insert(v.id.clone(), status);
        }
        server.shutdown().await;
        out
    })
}

#[test]
fn the_reference_server_answers_each_vector_with_its_status() {
    let file = load();
    let statuses = server_statuses(&file, Vec::new());
    for v in &file.vectors {
        assert_eq!(
            statuses[&v.id], v.expect_status,
            "{}: {}",
            v.id, v.description
        );
    }
}

#[test]
fn the_vectors_catch_a_lenient_verifier() {
    use edge_reference_server::faults::Fault;
    let file = load();
    for (fault, accepted) in [
        (
            Fault::AcceptAnySalt,
            &["pss-salt-0", "pss-salt-20", "pss-salt-64"][..],
        ),
        (Fault::AcceptPkcs1v15, &["pkcs1-v1_5"]),
        (Fault::SigIgnoresMethod, &["wrong-method-line"]),
        (
            Fault::CreateNoSigCheck,
            &["truncated", "bitflip", "other-key", "wrong-body"],
        ),
    ] {
        let statuses = server_statuses(&file, vec![fault]);
        for id in accepted {
            assert_eq!(statuses[*id], 201, "{fault}: vector {id} is accepted");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Generator.

struct GenKey {
    name: &'static str,
    bits: usize,
    key: Key,
    pkcs8: Vec<u8>,
}

fn gen_key(name: &'static str, size: KeySize, bits: usize) -> GenKey {
    let pair = KeyPair::generate(size).expect("RSA key generation");
    let pkcs8 = AsDer::<Pkcs8V1Der>::as_der(&pair)
        .expect("PKCS#8")
        .as_ref()
        .to_vec();
    let key = Key::from_pkcs8_der(&pkcs8).expect("the suite loads the key");
    GenKey {
        name,
        bits,
        key,
        pkcs8,
    }
}

/// One vector, signed by `signer` over `input` with `scheme`, then `encode`d into a token.
#[allow(clippy::too_many_arguments)]
fn make(
    id: &str,
    description: &str,
    key: &GenKey,
    signer: &GenKey,
    target: &str,
    signed_over: (&str, &str, &str),
    scheme: Scheme,
    mangle: impl Fn(Vec<u8>) -> String,
    fault: Option<SigFault>,
    valid: bool,
) -> Vector {
    let cid = &sha256_hex(id.as_bytes())[..22];
    let body = format!(
        r#"{{"connectionID":"{cid}","recipient":"{}"}}"#,
        key.key.spki_base64()
    );
    let (method, path, extra) = signed_over;
    let signed_body = format!("{body}{extra}");
    let input = signing_input(method, path, signed_body.as_bytes());
    let signature = mangle(signer.key.sign_with(&input, scheme));
    Vector {
        id: id.into(),
        description: description.into(),
        valid,
        expect_status: if valid { 201 } else { 401 },
        key: key.name.into(),
        signed_by: signer.name.into(),
        method: "POST".into(),
        request_target: target.into(),
        body,
        signing_input: String::from_utf8(input.clone()).expect("UTF-8 input"),
        signing_input_sha256: sha256_hex(&input),
        authorization: format!("EMSig {signature}"),
        signature,
        fault,
    }
}

#[test]
#[ignore = "writes fixtures/vectors/signatures.json; run with EDGECHECK_WRITE_VECTORS=1"]
fn write_vectors() {
    if std::env::var_os("EDGECHECK_WRITE_VECTORS").is_none() {
        panic!("set EDGECHECK_WRITE_VECTORS=1 to overwrite fixtures/vectors/signatures.json");
    }
    let k2 = gen_key("rsa2048", KeySize::Rsa2048, 2048);
    let k3 = gen_key("rsa3072", KeySize::Rsa3072, 3072);
    let k4 = gen_key("rsa4096", KeySize::Rsa4096, 4096);
    let ko = gen_key("rsa2048-other", KeySize::Rsa2048, 2048);
    let b64 = |s: Vec<u8>| STANDARD.encode(s);
    let pss = Scheme::BINDING;
    let ce = ("POST", "/connection", "");
    let mut v = vec![
        make(
            "valid-2048",
            "RSA-2048 key, RSASSA-PSS SHA-256 salt 32 over the exact request",
            &k2,
            &k2,
            "/connection",
            ce,
            pss,
            b64,
            None,
            true,
        ),
        make(
            "valid-3072",
            "RSA-3072 key, the binding's signature",
            &k3,
            &k3,
            "/connection",
            ce,
            pss,
            b64,
            None,
            true,
        ),
        make(
            "valid-4096",
            "RSA-4096 key, the binding's signature",
            &k4,
            &k4,
            "/connection",
            ce,
            pss,
            b64,
            None,
            true,
        ),
        make(
            "valid-bare-query",
            "A bare trailing `?` is part of PATH, signed and sent",
            &k2,
            &k2,
            "/connection?",
            ("POST", "/connection?", ""),
            pss,
            b64,
            None,
            true,
        ),
        make(
            "pss-salt-20",
            "PSS with a 20-byte salt (B-SIG-ALG requires 32)",
            &k2,
            &k2,
            "/connection",
            ce,
            Scheme::Pss { salt: 20 },
            b64,
            Some(SigFault::Salt20),
            false,
        ),
        make(
            "pss-salt-0",
            "PSS without salt",
            &k2,
            &k2,
            "/connection",
            ce,
            Scheme::Pss { salt: 0 },
            b64,
            Some(SigFault::Salt0),
            false,
        ),
        make(
            "pss-salt-64",
            "PSS with a 64-byte salt",
            &k2,
            &k2,
            "/connection",
            ce,
            Scheme::Pss { salt: 64 },
            b64,
            Some(SigFault::Salt64),
            false,
        ),
        make(
            "pkcs1-v1_5",
            "RSASSA-PKCS1-v1_5 with SHA-256 instead of PSS",
            &k2,
            &k2,
            "/connection",
            ce,
            Scheme::Pkcs1v15,
            b64,
            Some(SigFault::Pkcs1v15),
            false,
        ),
        make(
            "truncated",
            "The valid signature without its last byte",
            &k2,
            &k2,
            "/connection",
            ce,
            pss,
            |mut s: Vec<u8>| {
                s.pop();
                STANDARD.encode(s)
            },
            Some(SigFault::Truncated),
            false,
        ),
        make(
            "bitflip",
            "The valid signature with one bit flipped",
            &k2,
            &k2,
            "/connection",
            ce,
            pss,
            |mut s: Vec<u8>| {
                let m = s.len() / 2;
                s[m] ^= 0x10;
                STANDARD.encode(s)
            },
            Some(SigFault::Bitflip),
            false,
        ),
        make(
            "wrong-path-line",
            "Signed over PATH /connection/messages, sent to /connection",
            &k2,
            &k2,
            "/connection",
            ("POST", "/connection/messages", ""),
            pss,
            b64,
            Some(SigFault::WrongPath),
            false,
        ),
        make(
            "wrong-method-line",
            "Signed over METHOD PUT, sent as POST",
            &k2,
            &k2,
            "/connection",
            ("PUT", "/connection", ""),
            pss,
            b64,
            Some(SigFault::WrongMethod),
            false,
        ),
        make(
            "wrong-body",
            "Signed over the body with a trailing space, sent without it",
            &k2,
            &k2,
            "/connection",
            ("POST", "/connection", " "),
            pss,
            b64,
            Some(SigFault::WrongBody),
            false,
        ),
        make(
            "other-key",
            "A valid signature by another key than the body's recipient",
            &k2,
            &ko,
            "/connection",
            ce,
            pss,
            b64,
            Some(SigFault::OtherKey),
            false,
        ),
        make(
            "token-no-padding",
            "The valid signature, base64 without its `=` padding (B-ENC-B64)",
            &k2,
            &k2,
            "/connection",
            ce,
            pss,
            |s: Vec<u8>| STANDARD.encode(s).trim_end_matches('=').to_owned(),
            Some(SigFault::NoPadding),
            false,
        ),
    ];
    // base64url needs a signature whose standard encoding has `+` or `/` (PSS is randomised).
    let url = loop {
        let cand = make(
            "token-base64url",
            "The valid signature in the URL-safe alphabet (B-ENC-B64)",
            &k2,
            &k2,
            "/connection",
            ce,
            pss,
            |s: Vec<u8>| STANDARD.encode(s).replace('+', "-").replace('/', "_"),
            Some(SigFault::Base64url),
            false,
        );
        if cand.signature.contains(['-', '_']) {
            break cand;
        }
    };
    v.push(url);
    let keys = [&k2, &k3, &k4, &ko]
        .into_iter()
        .map(|k| {
            (
                k.name.to_owned(),
                VectorKey {
                    bits: k.bits,
                    spki: k.key.spki_base64(),
                    pkcs8: STANDARD.encode(&k.pkcs8),
                },
            )
        })
        .collect();
    let file = VectorFile {
        description: "Signature test vectors of the edge-v1 binding: create requests (POST CE at /connection), \
                      each with the exact body, request-target, signing input (B-SIG-INPUT) and Authorization value. \
                      Valid vectors get 201 from a fresh conforming server; invalid ones 401. Test keys only."
            .into(),
        profile: "edge-v1".into(),
        algorithm: "RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32 (WebCrypto {name: \"RSA-PSS\", saltLength: 32})".into(),
        keys,
        vectors: v,
    };
    let text = serde_json::to_string_pretty(&file).unwrap() + "\n";
    std::fs::create_dir_all(vectors_path().parent().unwrap()).unwrap();
    std::fs::write(vectors_path(), text).unwrap();
}
