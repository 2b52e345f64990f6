//! Fixed check results for the report tests: every verdict, failures with exchanges that
//! carry signatures and public keys, and no volatile field (times, ports and durations are
//! constants; the version is replaced by `[version]`).

#![allow(dead_code)] // each test file uses a part of the fixture

use edgecheck::profiles::edge_v1;
use std::collections::BTreeMap;
use std::time::Duration;

use edgecheck::client::{Exchange, Request, Response, TransportError};
use edgecheck::engine::{CheckResult, Failure, Verdict};
use edgecheck::profiles::edge_v1::case::Level;
use edgecheck::report::Results;

/// A public key as a client sends it (SPKI, base64): long enough to be shortened.
pub const PUBLIC_KEY: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxPUBLICKEYFIXTUREONLYxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxIDAQAB";

/// A signature token (base64 of 256 bytes).
pub const SIGNATURE: &str = "c2lnbmF0dXJlLWJ5dGVzLXRoYXQtYXJlLWxvbmctZW5vdWdoLXRvLWJlLXNob3J0ZW5lZC1pbi1ldmVyeS1vdXRwdXQtb2YtdGhlLXN1aXRlLXNvLXRoYXQtbm8tcmVwb3J0LWNhcnJpZXMtYS1mdWxsLXNpZ25hdHVyZS10b2tlbi1vci1hLWZ1bGwta2V5LWluLWEtdHJhbnNjcmlwdC1vci1hLWN1cmwtbGluZS1vZi1hLWZhaWx1cmUtcmVwb3J0LWZvci1hbnktY2hlY2s=";

/// Start time of the fixture run.
pub const STARTED: &str = "2026-03-01T09:30:00Z";

fn url(path: &str) -> url::Url {
    url::Url::parse(&format!("https://127.0.0.1:8443{path}")).expect("fixture URL")
}

fn create_request() -> Request {
    let mut r = Request::new("POST", url("/connection"));
    r.headers = vec![
        ("Content-Type".into(), b"application/json".to_vec()),
        (
            "Authorization".into(),
            format!("EMSig {SIGNATURE}").into_bytes(),
        ),
    ];
    r.body = format!(
        r#"{{"connectionID":"AAAAAAAAAAAAAAAAAAAAAA","recipient":"{PUBLIC_KEY}","disabled":false}}"#
    )
    .into_bytes();
    r
}

fn response(status: u16, body: &str) -> Response {
    Response {
        status,
        version: "HTTP/1.1".into(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), "no-store".into()),
        ],
        body: body.as_bytes().to_vec(),
        body_len: body.len() as u64,
        truncated: false,
        body_stop: None,
    }
}

fn exchange(request: Request, response: Result<Response, TransportError>) -> Exchange {
    Exchange {
        request,
        response,
        elapsed: Duration::from_millis(12),
        raw: false,
        insecure: false,
    }
}

fn check(
    id: &str,
    title: &str,
    requirements: &[&str],
    level: Level,
    verdict: Verdict,
) -> CheckResult {
    CheckResult {
        id: id.into(),
        title: title.into(),
        area: id.split('/').next().unwrap_or_default().into(),
        requirements: requirements.iter().map(|s| s.to_string()).collect(),
        level,
        verdict,
        message: String::new(),
        failure: None,
        exchanges: Vec::new(),
        requests: 1,
        signatures: 1,
        duration: Duration::from_millis(40),
        timing: None,
        more_timing: Vec::new(),
    }
}

/// Check results covering every verdict.
pub fn check_results() -> Vec<CheckResult> {
    let pass = check(
        "create/created",
        "A self-signed create returns 201 with recipientURI and senderURI",
        &["S-CREATE-201"],
        Level::Must,
        Verdict::Pass,
    );
    let mut fail = check(
        "create/duplicate-id-409",
        "A connectionID used by a live connection gets 409",
        &["S-CREATE-409"],
        Level::Must,
        Verdict::Fail,
    );
    fail.message = "step 2: S-CREATE-409: expected status 409, got 201".into();
    fail.failure = Some(Failure {
        also: Vec::new(),
        step: 2,
        rule: "S-CREATE-409".into(),
        expected: "status 409".into(),
        actual: "status 201, body {\"recipientURI\":\"…\",\"senderURI\":\"…\"}".into(),
    });
    fail.requests = 2;
    fail.signatures = 2;
    fail.exchanges = vec![
        exchange(
            create_request(),
            Ok(response(
                201,
                r#"{"recipientURI":"/connection/r1","senderURI":"/connection/s1"}"#,
            )),
        ),
        exchange(
            create_request(),
            Ok(response(
                201,
                r#"{"recipientURI":"/connection/r2","senderURI":"/connection/s2"}"#,
            )),
        ),
    ];
    let mut warn = check(
        "create/only-uris",
        "The create response carries no other properties",
        &["B-CREATE-ONLY"],
        Level::Should,
        Verdict::Warn,
    );
    warn.message = "step 1: B-CREATE-ONLY: unexpected property `id`".into();
    warn.failure = Some(Failure {
        also: Vec::new(),
        step: 1,
        rule: "B-CREATE-ONLY".into(),
        expected: "exactly recipientURI and senderURI".into(),
        actual: "also `id`".into(),
    });
    warn.exchanges = vec![exchange(
        create_request(),
        Ok(response(
            201,
            r#"{"recipientURI":"/connection/r3","senderURI":"/connection/s3","id":7}"#,
        )),
    )];
    let mut skip = check(
        "retrieve/paging",
        "Retrieval pages by PAGE_SIZE",
        &["S-RETR-PAGE"],
        Level::Must,
        Verdict::Skip,
    );
    skip.message = "needs pageSize: PAGE_SIZE is unknown; pass --page-size N".into();
    skip.requests = 0;
    skip.signatures = 0;
    let mut waived = check(
        "http/https-only",
        "The server is reached over HTTPS",
        &["S-GEN-HTTPS"],
        Level::Must,
        Verdict::Waived,
    );
    waived.message = "waived by --allow-http".into();
    let mut error = check(
        "signatures/wrong-path",
        "A signature over another path gets 401 & nothing changes",
        &["B-SIG-INPUT", "S-G-SIGNED-ONLY"],
        Level::Must,
        Verdict::Error,
    );
    error.message = "step 1: no complete response within the timeout".into();
    error.exchanges = vec![exchange(create_request(), Err(TransportError::Timeout))];
    vec![pass, fail, warn, skip, waived, error]
}

/// The fixture as results, with the version redacted.
pub fn results() -> Results {
    let mut options = BTreeMap::new();
    options.insert("jobs".into(), serde_json::json!(2));
    options.insert("level".into(), serde_json::json!("all"));
    options.insert("only".into(), serde_json::json!([]));
    let mut r = Results::new(
        edge_v1::catalogue(),
        "https://127.0.0.1:8443/connection".into(),
        STARTED.into(),
        1234,
        options,
        &check_results(),
    );
    r.edgecheck = "[version]".into();
    r
}

/// Results with only passing checks of the given IDs (for gate and merge tests).
pub fn passing(ids: &[&str]) -> Results {
    let checks: Vec<CheckResult> = ids
        .iter()
        .map(|id| check(id, "t", &["S-CREATE-201"], Level::Must, Verdict::Pass))
        .collect();
    let mut r = Results::new(
        edge_v1::catalogue(),
        "https://127.0.0.1:8443/connection".into(),
        STARTED.into(),
        10,
        BTreeMap::new(),
        &checks,
    );
    r.edgecheck = "[version]".into();
    r
}
