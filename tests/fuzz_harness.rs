//! The in-process harnesses of the cargo-fuzz targets: neither the reference server nor the
//! suite crashes on any seed of the corpora (fixtures/corpus), and each harness reports the
//! kind of bug its target exists to find (a panic path, a 2xx for a refused request, a
//! disagreement with the model, hostile answers the suite must survive).

use std::path::{Path, PathBuf};

use edge_reference_server::{faults::Fault, Config};
use edgecheck::engine::Verdict;
use edgecheck::profiles::edge_v1::fuzz::harness::differential::{
    decode_input, DifferentialHarness, OpCode,
};
use edgecheck::profiles::edge_v1::fuzz::harness::response::{ResponseHarness, ResponseInput};
use edgecheck::profiles::edge_v1::fuzz::harness::server::{Outcome, ServerHarness};
use edgecheck::profiles::edge_v1::prop::gen::{AbstractOp, Kind};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; grow it with `edgecheck fuzz --write-corpus fixtures/corpus`",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "{}: only {} seeds",
        dir.display(),
        files.len()
    );
    files
}

fn config(faults: &[&str]) -> Config {
    Config {
        page_size: 10,
        faults: faults
            .iter()
            .map(|f| f.parse::<Fault>().expect("known fault"))
            .collect(),
        ..Config::default()
    }
}

#[test]
fn the_reference_server_survives_every_server_seed() {
    let h = ServerHarness::new(config(&[])).unwrap();
    let mut answered = std::collections::BTreeMap::new();
    for f in corpus("server_request") {
        let input = std::fs::read(&f).unwrap();
        match h.run(&input) {
            Ok(Outcome::Answered(s)) => *answered.entry(s / 100).or_insert(0) += 1,
            Ok(_) => {}
            Err(v) => panic!("{}: {v}", f.display()),
        }
    }
    // The corpus holds both accepted and refused requests.
    assert!(answered.get(&2).copied().unwrap_or(0) >= 20, "{answered:?}");
    assert!(
        answered.get(&4).copied().unwrap_or(0) >= 100,
        "{answered:?}"
    );
}

#[test]
fn the_suite_survives_every_response_seed() {
    let h = ResponseHarness::new().unwrap();
    let mut verdicts = std::collections::BTreeMap::new();
    for f in corpus("suite_response") {
        let input =
            ResponseInput::from_bytes(&std::fs::read(&f).unwrap()).expect("a seed has a step");
        let (v, transcript) = h.run(&input);
        assert!(transcript.contains("curl"), "{}", f.display());
        *verdicts.entry(v).or_insert(0) += 1;
    }
    assert!(verdicts.contains_key(&Verdict::Pass), "{verdicts:?}");
}

#[test]
fn the_model_and_the_server_agree_on_every_differential_seed() {
    let h = DifferentialHarness::new(config(&[])).unwrap();
    let mut steps = 0;
    for f in corpus("differential") {
        let codes = decode_input(&std::fs::read(&f).unwrap());
        steps += h
            .run(&codes)
            .unwrap_or_else(|d| panic!("{}: {d}", f.display()));
    }
    assert!(steps > 200, "{steps} steps");
}

/// A request that reaches a server fault's panic path: the harness sees the connection
/// close without a response (under libFuzzer the panic itself aborts the process).
#[test]
fn the_server_harness_reports_panic_paths() {
    let cases: [(&str, &[u8]); 3] = [
        ("nul-path-panics", b"POST {RU}%00/messages HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{}"),
        (
            "page-size-zero-panics",
            b"POST {RU}/messages HTTP/1.1\r\nContent-Type: application/json\r\nAuthorization: EMSig {SIG}\r\n\r\n{\"connectionID\":\"{CID}\",\"pageSize\":0}",
        ),
        (
            "deep-json-panics",
            b"POST {SU}/messages HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
        ),
    ];
    for (fault, input) in cases {
        let good = ServerHarness::new(config(&[])).unwrap();
        assert!(
            good.run(input).is_ok(),
            "{fault}: the correct server fails the input"
        );
        let bad = ServerHarness::new(config(&[fault])).unwrap();
        let v = bad.run(input).expect_err(fault);
        assert!(v.0.starts_with("B-NO-5XX"), "{fault}: {v}");
    }
}

#[test]
fn the_server_harness_reports_a_2xx_for_a_refused_request() {
    let input = b"POST {RU}/messages HTTP/1.1\r\nContent-Type: application/json\r\nAuthorization: EMSig {SIG}\r\n\r\n{\"connectionID\":\"{CID}\",\"keepMessages\":true,\"color\":\"red\"}";
    let good = ServerHarness::new(config(&[])).unwrap();
    assert_eq!(good.run(input), Ok(Outcome::Answered(400)));
    let bad = ServerHarness::new(config(&["unknown-property-accepted"])).unwrap();
    let v = bad.run(input).expect_err("accepted");
    assert!(v.0.contains("unknown property `color`"), "{v}");
    // A correct request gets its 2xx from both.
    let ok = b"POST {RU}/messages HTTP/1.1\r\nContent-Type: application/json\r\nAuthorization: EMSig {SIG}\r\n\r\n{\"connectionID\":\"{CID}\",\"keepMessages\":true}";
    assert_eq!(bad.run(ok), Ok(Outcome::Answered(200)));
}

#[test]
fn the_differential_harness_reports_a_disagreement() {
    let ops = [
        AbstractOp {
            slot: 0,
            kind: Kind::Create {
                alt: false,
                disabled: false,
            },
        },
        AbstractOp {
            slot: 0,
            kind: Kind::Send(3),
        },
        AbstractOp {
            slot: 0,
            kind: Kind::Retrieve {
                page: None,
                from: None,
                keep: true,
            },
        },
    ];
    let codes: Vec<OpCode> = ops.iter().map(OpCode::encode).collect();
    let good = DifferentialHarness::new(config(&[])).unwrap();
    assert_eq!(good.run(&codes).unwrap(), 3);
    let bad = DifferentialHarness::new(config(&["fifo-reversed"])).unwrap();
    let d = bad.run(&codes).expect_err("reversed order");
    assert!(d.message.contains("S-RETR-200"), "{d}");
    assert_eq!(d.steps.len(), 3);
}

#[test]
fn the_suite_survives_hostile_answers() {
    let h = ResponseHarness::new().unwrap();
    let deep = format!(
        "{{\"messages\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let answers: Vec<Vec<u8>> = vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n{}".to_vec(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{\"mes".to_vec(),
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{deep}", deep.len()).into_bytes(),
        b"HTTP/1.1 99999 Huge\r\n\r\n".to_vec(),
        b"\x00\xff garbage".to_vec(),
        Vec::new(),
        [b"HTTP/1.1 200 OK\r\n".to_vec(), b"X: y\r\n".repeat(10_000), b"\r\n".to_vec()].concat(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{\"messages\":[{\"id\":1,\"ts\":[],\"msg\":{}}]}".to_vec(),
        b"HTTP/1.1 201 Created\r\nContent-Length: 38\r\n\r\n{\"recipientURI\":\"//x\",\"senderURI\":\"\"}".to_vec(),
    ];
    for (i, a) in answers.into_iter().enumerate() {
        for op in 0..8 {
            let (v, transcript) = h.run(&ResponseInput {
                op,
                param: 3,
                response: a.clone(),
            });
            assert!(
                matches!(v, Verdict::Fail | Verdict::Error),
                "answer {i}, step {op}: {v:?}"
            );
            assert!(
                transcript.len() < 4 << 20,
                "answer {i}: transcript of {} bytes",
                transcript.len()
            );
        }
    }
}
