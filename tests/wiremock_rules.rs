//! Each check is shown to catch the violation it names: a wiremock server that breaks exactly
//! one rule makes the named check fail (or warn, for SHOULD rules), while the same check passes
//! against the same server with nothing broken.

mod support;

use std::sync::Arc;
use std::time::Duration;

use edgecheck::client::{Client, ClientOptions};
use edgecheck::engine::{CheckResult, Verdict};
use edgecheck::profiles::edge_v1::cases;
use edgecheck::profiles::edge_v1::sign::KeyPool;
use edgecheck::profiles::edge_v1::{runner, Context};
use support::fake::{Break, Fake};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer};

/// (what breaks, the check that must catch it, the rule it must name, the verdict).
const TABLE: &[(Break, &str, &str, Verdict)] = &[
    (
        Break::Create200,
        "create/created",
        "S-CREATE-201",
        Verdict::Fail,
    ),
    (
        Break::CreateExtraProperty,
        "create/only-uris",
        "B-CREATE-ONLY",
        Verdict::Warn,
    ),
    (
        Break::NoCacheControl,
        "http/no-store-create",
        "B-CACHE",
        Verdict::Warn,
    ),
    (
        Break::SetsCookie,
        "http/no-cookies",
        "B-NO-COOKIE",
        Verdict::Warn,
    ),
    (
        Break::AcceptAnySignature,
        "signatures/create-unsigned",
        "S-CREATE-SIGN",
        Verdict::Fail,
    ),
    (
        Break::AcceptPkcs1v15,
        "signatures/pkcs1v15",
        "B-SIG-ALG",
        Verdict::Fail,
    ),
    (
        Break::AcceptUnknownProperty,
        "body/create-unknown-property",
        "S-GEN-400",
        Verdict::Fail,
    ),
    (
        Break::IgnoreContentType,
        "body/create-text-plain",
        "B-CT-400",
        Verdict::Fail,
    ),
    (
        Break::AcceptDuplicateMembers,
        "body/duplicate-connection-id",
        "B-JSON-DUP",
        Verdict::Warn,
    ),
    (
        Break::AcceptPkcs1Key,
        "body/create-recipient-pkcs1",
        "B-KEY-PKCS1",
        Verdict::Fail,
    ),
    (
        Break::LaxConnectionId,
        "body/create-connection-id-7-chars",
        "B-CID-FMT",
        Verdict::Fail,
    ),
    (
        Break::UnknownPath200,
        "routing/ce-x",
        "S-GEN-404",
        Verdict::Fail,
    ),
    (
        Break::GetRu200,
        "routing/method-ru-get",
        "B-METHOD",
        Verdict::Fail,
    ),
    (
        Break::DuplicateCreate201,
        "create/duplicate-id-409",
        "S-CREATE-409",
        Verdict::Fail,
    ),
    (
        Break::DeleteReturnsBody,
        "delete/ok-empty-body",
        "S-DEL-200",
        Verdict::Fail,
    ),
    (
        Break::OpenSendChecksAuthorization,
        "send/open-ignores-authorization",
        "S-G-OPEN",
        Verdict::Fail,
    ),
    (
        Break::Send201,
        "send/ok-empty-body",
        "S-SEND-200",
        Verdict::Fail,
    ),
    (
        Break::Lifo,
        "retrieve/fifo-one-page",
        "S-RETR-200",
        Verdict::Fail,
    ),
    (
        Break::TsWithOffset,
        "retrieve/timestamps-rfc3339",
        "B-TS-FMT",
        Verdict::Fail,
    ),
    (
        Break::NextAlways,
        "retrieve/empty-connection",
        "S-RETR-NEXT",
        Verdict::Fail,
    ),
    (
        Break::DeletedCountWrong,
        "delete-messages/counts-follow-the-queue",
        "S-DELM-200",
        Verdict::Fail,
    ),
    (
        Break::RetrieveNeverRemoves,
        "retrieve/remove-by-default",
        "S-RETR-REMOVE",
        Verdict::Fail,
    ),
    (
        Break::FirstUpdateWithoutSender,
        "update/first-without-sender-400",
        "S-RUPD-FIRST",
        Verdict::Fail,
    ),
    (
        Break::ProhibitedIgnored,
        "body/sender-update-prohibited-disabled-false",
        "S-SUPD-PROHIB",
        Verdict::Fail,
    ),
    (
        Break::UriContainsCid,
        "privacy/uri-privacy",
        "S-URI-GEN",
        Verdict::Fail,
    ),
    (
        Break::CounterMessageIds,
        "retrieve/message-ids-not-a-counter",
        "B-MID-RANDOM",
        Verdict::Warn,
    ),
    (
        Break::CrashOnNonObject,
        "body/create-json-array",
        "B-NO-5XX",
        Verdict::Fail,
    ),
    (
        Break::CidMismatchIgnored,
        "routing/other-connection-id-retrieve",
        "S-CID-404",
        Verdict::Fail,
    ),
    (
        Break::UnknownFromEmpty,
        "retrieve/from-unknown-id-400",
        "S-RETR-400",
        Verdict::Fail,
    ),
    (
        Break::OldRuAlive,
        "uri-invalidation/old-ru-dead-on-every-endpoint",
        "S-RUPD-OLDURI",
        Verdict::Fail,
    ),
    (
        Break::NoProofOfPossession,
        "signatures/new-rk-missing",
        "B-SIG-NEWKEY",
        Verdict::Fail,
    ),
];

async fn check(breaks: &[Break], id: &str) -> Option<CheckResult> {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(Fake::new(breaks))
        .mount(&server)
        .await;
    let client = Client::new(&ClientOptions {
        timeout: Duration::from_secs(10),
        body_cap: 1 << 20,
        body_limit: edgecheck::client::DEFAULT_BODY_LIMIT,
        ca_cert_pem: None,
        insecure: false,
        origins: Default::default(),
        http: Default::default(),
    })
    .unwrap();
    let ctx = Arc::new(Context {
        client,
        pool: KeyPool::builtin().unwrap(),
        servers: vec![format!("{}/connection", server.uri()).parse().unwrap()],
        page_size: Some(10),
        allow_http: true,
        origins: Default::default(),
        idle_wait: None,
    });
    let files = cases::builtin().unwrap();
    let (area, case) = files
        .iter()
        .flat_map(|f| f.cases.iter().map(move |c| (&f.area, c)))
        .find(|(_, c)| c.id == id)?;
    Some(runner::run_case(&ctx, case, area).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_check_catches_the_rule_it_names() {
    let mut problems = Vec::new();
    for (brk, id, rule, verdict) in TABLE {
        let Some(clean) = check(&[], id).await else {
            problems.push(format!("{id}: no such case in the catalogue"));
            continue;
        };
        if clean.verdict != Verdict::Pass {
            problems.push(format!(
                "{id}: does not pass against the conforming fake: {}",
                clean.message
            ));
            continue;
        }
        let broken = check(&[*brk], id).await.expect("case exists");
        let named = broken
            .failure
            .as_ref()
            .map(|f| f.rule.as_str())
            .unwrap_or_default();
        if broken.verdict != *verdict || named != *rule {
            problems.push(format!(
                "{id} against {brk:?}: expected {verdict:?} naming {rule}, got {:?} naming {named:?}: {}",
                broken.verdict, broken.message
            ));
        }
    }
    let rules: std::collections::BTreeSet<&str> = TABLE.iter().map(|t| t.2).collect();
    assert!(rules.len() >= 25, "only {} distinct rules", rules.len());
    assert!(
        problems.is_empty(),
        "{} of {} rows wrong:\n{}",
        problems.len(),
        TABLE.len(),
        problems.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_fails_https_unless_waived() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(Fake::new(&[]))
        .mount(&server)
        .await;
    let files = cases::builtin().unwrap();
    let case = files
        .iter()
        .flat_map(|f| &f.cases)
        .find(|c| c.id == "http/https")
        .unwrap();
    for (allow, want) in [(false, Verdict::Fail), (true, Verdict::Waived)] {
        let ctx = Context {
            client: Client::new(&ClientOptions {
                timeout: Duration::from_secs(5),
                body_cap: 1 << 16,
                body_limit: edgecheck::client::DEFAULT_BODY_LIMIT,
                ca_cert_pem: None,
                insecure: false,
                origins: Default::default(),
                http: Default::default(),
            })
            .unwrap(),
            pool: KeyPool::builtin().unwrap(),
            servers: vec![format!("{}/connection", server.uri()).parse().unwrap()],
            page_size: Some(10),
            allow_http: allow,
            origins: Default::default(),
            idle_wait: None,
        };
        let r = runner::run_case(&ctx, case, "http").await;
        assert_eq!(r.verdict, want, "allow_http={allow}: {}", r.message);
    }
}
