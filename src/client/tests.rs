//! Client tests against wiremock and tiny tokio servers on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

fn options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(5),
        body_cap: 64 * 1024,
        body_limit: 1 << 20,
        ca_cert_pem: None,
        insecure: false,
        origins: Default::default(),
        http: Default::default(),
    }
}

fn client() -> Client {
    Client::new(&options()).unwrap()
}

fn url(addr: SocketAddr, path: &str) -> Url {
    Url::parse(&format!("http://{addr}{path}")).unwrap()
}

/// Forces the raw path without changing the bytes: the target equals the URL's.
fn raw(mut r: Request) -> Request {
    r.target = Some(r.request_target());
    r
}

/// Runs `execute` with an outer bound far above the client's timeout, so a hang fails the
/// test instead of stalling it.
async fn run(c: &Client, r: Request) -> Exchange {
    tokio::time::timeout(Duration::from_secs(60), c.execute(r))
        .await
        .expect("execute hung past its timeout")
}

/// Reads one request (head, then a body of `Content-Length` bytes, or whatever arrives
/// within a short pause when the length lies).
async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let _ = req.parse(&got[..head_end]);
    let len: usize = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
        .unwrap_or(0);
    while got.len() < head_end + len {
        match tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    got
}

/// A server that answers every connection with `response` and reports each request's bytes.
async fn server(response: Vec<u8>) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    serve(response, None).await
}

async fn serve(
    response: Vec<u8>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let response = Arc::new(response);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (tx, response, tls) = (tx.clone(), response.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(tcp).await {
                            answer(s, &response, &tx).await;
                        }
                    }
                    None => answer(tcp, &response, &tx).await,
                }
            });
        }
    });
    (addr, rx)
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    response: &[u8],
    tx: &mpsc::UnboundedSender<Vec<u8>>,
) {
    let got = read_request(&mut s).await;
    let _ = tx.send(got);
    let _ = s.write_all(response).await;
    let _ = s.shutdown().await;
}

const OK_EMPTY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

#[tokio::test]
async fn wiremock_statuses_bodies_and_repeated_fields() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connection"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_raw(
                    r#"{"recipientURI":"/r/1","senderURI":"/s/1"}"#,
                    "application/json",
                )
                .append_header("Set-Cookie", "a=1")
                .append_header("Set-Cookie", "b=2"),
        )
        .mount(&mock)
        .await;
    let c = client();
    let base = Url::parse(&mock.uri()).unwrap();
    let r = Request::new("POST", base.join("/connection").unwrap())
        .header("Content-Type", "application/json")
        .header("Authorization", "EMSig one")
        .header("Authorization", "EMSig two")
        .body(r#"{"connectionID":"abcdefgh"}"#);
    let ex = run(&c, r).await;
    assert!(!ex.raw);
    let resp = ex.response.unwrap();
    assert_eq!(resp.status, 201);
    assert_eq!(
        resp.body,
        br#"{"recipientURI":"/r/1","senderURI":"/s/1"}"#.to_vec()
    );
    assert!(!resp.truncated);
    assert_eq!(resp.header_all("set-cookie"), ["a=1", "b=2"]);
    assert_eq!(resp.header("content-type"), Some("application/json"));

    let received = mock.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let auth: Vec<_> = received[0]
        .headers
        .get_all("authorization")
        .iter()
        .collect();
    assert_eq!(auth, ["EMSig one", "EMSig two"]);
    assert_eq!(received[0].body, br#"{"connectionID":"abcdefgh"}"#.to_vec());

    // Unmatched: wiremock answers 404; a status is a response, not an error.
    let ex = run(&c, Request::new("DELETE", base.join("/nothing").unwrap())).await;
    let resp = ex.response.unwrap();
    assert_eq!(resp.status, 404);
    assert!(resp.body.is_empty());
}

#[tokio::test]
async fn request_target_is_what_reqwest_puts_on_the_request_line() {
    let (addr, mut rx) = server(OK_EMPTY.to_vec()).await;
    let c = client();
    for p in [
        "/r/a%2Fb?x=1&y=%20",
        "/c?",
        "/r/%C3%BC/messages",
        "/",
        "/r/a|b^c[d]e'!$&()*+,;=:@~?q=|^[]/?",
        "/r/%7e%2E",
    ] {
        let r = Request::new("POST", url(addr, p)).body("{}");
        let target = r.request_target();
        assert_eq!(target, p);
        let ex = run(&c, r).await;
        assert_eq!(ex.response.unwrap().status, 200);
        let got = rx.recv().await.unwrap();
        let line = String::from_utf8_lossy(&got)
            .lines()
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(line, format!("POST {target} HTTP/1.1"));
    }
}

#[tokio::test]
async fn raw_path_sends_the_exact_bytes() {
    let (addr, mut rx) = server(OK_EMPTY.to_vec()).await;
    let c = client();
    let mut literal = Request::new("POST", url(addr, "/connection"))
        .header("Content-Type", "application/json")
        .body("{}");
    for target in [
        "/connection/./x",
        "/%63onnection",
        "/connection/../connection",
    ] {
        literal.target = Some(target.into());
        let ex = run(&c, literal.clone()).await;
        assert!(ex.raw);
        assert_eq!(ex.response.unwrap().status, 200);
        assert_eq!(rx.recv().await.unwrap(), literal.raw_bytes());
    }

    let lying = Request::new("POST", url(addr, "/c"))
        .header("Content-Length", "1")
        .header("X-Bin", b"\x01\xff".to_vec())
        .body("{}");
    assert!(lying.needs_raw());
    let ex = run(&c, lying.clone()).await;
    assert_eq!(ex.response.unwrap().status, 200);
    let sent = rx.recv().await.unwrap();
    assert_eq!(sent, lying.raw_bytes()[..sent.len()].to_vec());
    assert!(sent.starts_with(b"POST /c HTTP/1.1\r\nHost: 127.0.0.1:"));

    // A large body is written after the head, not copied behind it: the bytes are the same.
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let large = Request::new("PUT", url(addr, "/c"))
        .header("Transfer-Encoding", "identity")
        .header("Content-Length", body.len().to_string())
        .body(body);
    assert!(large.needs_raw());
    let ex = run(&c, large.clone()).await;
    assert_eq!(ex.response.unwrap().status, 200);
    assert_eq!(rx.recv().await.unwrap(), large.raw_bytes());
}

#[tokio::test]
async fn raw_path_reads_every_framing() {
    let c = client();
    let cases: [(&[u8], &str, u16, &[u8]); 5] = [
        (b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX: 1\r\nX: 2\r\n\r\nhello", "POST", 201, b"hello"),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nTrailer: x\r\n\r\n",
            "POST",
            200,
            b"hello!",
        ),
        (b"HTTP/1.1 200 OK\r\n\r\nuntil close", "POST", 200, b"until close"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "HEAD", 200, b""),
        (b"HTTP/1.1 204 No Content\r\n\r\n", "DELETE", 204, b""),
    ];
    for (response, m, status, body) in cases {
        let (addr, _rx) = server(response.to_vec()).await;
        let ex = run(&c, raw(Request::new(m, url(addr, "/x")))).await;
        let resp = ex.response.unwrap();
        assert_eq!((resp.status, resp.body.as_slice()), (status, body), "{m}");
        assert!(!resp.truncated);
        if status == 201 {
            assert_eq!(resp.header_all("x"), ["1", "2"]);
        }
    }
}

#[tokio::test]
async fn a_silent_server_times_out_on_both_paths() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let c = Client::new(&ClientOptions {
        timeout: Duration::from_millis(300),
        ..options()
    })
    .unwrap();
    let r = Request::new("POST", url(addr, "/c")).body("{}");
    assert_eq!(
        run(&c, r.clone()).await.response,
        Err(TransportError::Timeout)
    );
    assert_eq!(run(&c, raw(r)).await.response, Err(TransportError::Timeout));
}

#[tokio::test]
async fn refused_and_closed_connections_are_told_apart() {
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let c = client();
    let r = Request::new("POST", url(addr, "/c"));
    for r in [r.clone(), raw(r)] {
        let resp = run(&c, r).await.response;
        assert!(matches!(resp, Err(TransportError::Connect(_))), "{resp:?}");
    }

    let (addr, _rx) = server(Vec::new()).await;
    let r = Request::new("POST", url(addr, "/c")).body("{}");
    for r in [r.clone(), raw(r)] {
        let resp = run(&c, r).await.response;
        assert!(matches!(resp, Err(TransportError::Closed(_))), "{resp:?}");
    }

    let (addr, _rx) = server(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec()).await;
    let resp = run(&c, raw(Request::new("POST", url(addr, "/c"))))
        .await
        .response;
    assert!(
        matches!(&resp, Err(TransportError::Closed(m)) if m.contains("3 of 10")),
        "{resp:?}"
    );
}

#[tokio::test]
async fn malformed_and_oversized_heads_are_errors() {
    let c = client();
    let (addr, _rx) = server(b"SMTP ready\r\n\r\n".to_vec()).await;
    let r = Request::new("POST", url(addr, "/c"));
    for r in [r.clone(), raw(r)] {
        let resp = run(&c, r).await.response;
        assert!(matches!(resp, Err(TransportError::Other(_))), "{resp:?}");
    }

    let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..20_000 {
        huge.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "v".repeat(40)).as_bytes());
    }
    huge.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let (addr, _rx) = server(huge).await;
    let r = Request::new("POST", url(addr, "/c"));
    for r in [r.clone(), raw(r)] {
        let resp = run(&c, r).await.response;
        assert_eq!(resp, Err(TransportError::TooLarge));
    }
}

#[tokio::test]
async fn bodies_are_cut_at_the_cap() {
    const TEN_MIB: usize = 10 << 20;
    let cap = options().body_cap;
    let c = client();
    let mut with_length =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {TEN_MIB}\r\n\r\n").into_bytes();
    with_length.resize(with_length.len() + TEN_MIB, b'a');
    let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..10 {
        chunked.extend_from_slice(b"100000\r\n");
        chunked.resize(chunked.len() + (1 << 20), b'b');
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let mut to_close = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    to_close.resize(to_close.len() + TEN_MIB, b'c');

    for (response, raw_only) in [(with_length, false), (chunked, false), (to_close, true)] {
        let (addr, _rx) = server(response).await;
        let r = Request::new("POST", url(addr, "/big"));
        let paths = if raw_only {
            vec![raw(r)]
        } else {
            vec![r.clone(), raw(r)]
        };
        for r in paths {
            let ex = run(&c, r).await;
            let resp = ex.response.unwrap();
            assert_eq!(resp.body.len(), cap, "raw: {}", ex.raw);
            assert!(resp.truncated);
        }
    }

    // Exactly the cap is not truncated.
    let mut exact = format!("HTTP/1.1 200 OK\r\nContent-Length: {cap}\r\n\r\n").into_bytes();
    exact.resize(exact.len() + cap, b'd');
    let (addr, _rx) = server(exact).await;
    let r = Request::new("POST", url(addr, "/exact"));
    for r in [r.clone(), raw(r)] {
        let resp = run(&c, r).await.response.unwrap();
        assert_eq!(resp.body.len(), cap);
        assert!(!resp.truncated);
    }
}

fn tls_acceptor() -> (tokio_rustls::TlsAcceptor, String) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(signing_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key.into())
    .unwrap();
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        cert.pem(),
    )
}

#[tokio::test]
async fn tls_trusts_the_given_ca_only() {
    let (acceptor, pem) = tls_acceptor();
    let (addr, _rx) = serve(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        Some(acceptor),
    )
    .await;
    let target = Url::parse(&format!("https://localhost:{}/c", addr.port())).unwrap();
    let r = Request::new("POST", target).body("{}");

    let trusting = Client::new(&ClientOptions {
        ca_cert_pem: Some(pem.into_bytes()),
        ..options()
    })
    .unwrap();
    let insecure = Client::new(&ClientOptions {
        insecure: true,
        ..options()
    })
    .unwrap();
    for c in [&trusting, &insecure] {
        for r in [r.clone(), raw(r.clone())] {
            let ex = run(c, r).await;
            assert_eq!(ex.response.unwrap().body, b"ok".to_vec(), "raw: {}", ex.raw);
        }
    }

    let strict = client();
    for r in [r.clone(), raw(r)] {
        let resp = run(&strict, r).await.response;
        assert!(matches!(resp, Err(TransportError::Tls(_))), "{resp:?}");
    }
}

#[test]
fn bad_options_are_reported() {
    let e = Client::new(&ClientOptions {
        ca_cert_pem: Some(b"not a certificate".to_vec()),
        ..options()
    })
    .unwrap_err();
    assert!(matches!(e, ClientError::Ca(_)), "{e}");
    assert!(e.to_string().contains("PEM"), "{e}");
    let e = Client::new(&ClientOptions {
        timeout: Duration::ZERO,
        ..options()
    })
    .unwrap_err();
    assert!(matches!(e, ClientError::Options(_)));
}

/// The reference server over HTTPS (a certificate made at startup), a client that trusts
/// it, and its create URL.
async fn tls_reference() -> (edge_reference_server::Server, Client, Url) {
    use edge_reference_server::{start, Config, Tls};
    let server = start(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::SelfSigned { write_to: None },
        ..Config::default()
    })
    .await
    .unwrap();
    let c = Client::new(&ClientOptions {
        ca_cert_pem: server.certificate_pem().map(String::into_bytes),
        ..options()
    })
    .unwrap();
    let ce = Url::parse(&server.create_url()).unwrap();
    (server, c, ce)
}

/// Signed requests from `sign`, sent by both paths, parsed by `wire`, against the reference
/// server over TLS (HTTP/2 by ALPN on the reqwest path).
#[tokio::test]
async fn end_to_end_against_the_reference_server() {
    use crate::profiles::edge_v1::sign::{authorization, signature_token, KeyPool, SigFault};
    use crate::profiles::edge_v1::wire::{
        connection_id, resolve_uri, CreateResponse, RetrieveResponse,
    };
    let (server, c, ce) = tls_reference().await;
    let pool = KeyPool::builtin().unwrap();
    let (rk, other) = (pool.take(), pool.take());

    let signed = |m: &str, url: &Url, body: String, fault: Option<SigFault>| {
        let r = Request::new(m, url.clone())
            .header("Content-Type", "application/json")
            .body(body);
        let token = signature_token(&rk, &other, m, &r.request_target(), &r.body, fault);
        r.header("Authorization", authorization(&token))
    };
    let create_body = || {
        format!(
            r#"{{"connectionID":"{}","recipient":"{}"}}"#,
            connection_id(),
            rk.spki_base64()
        )
    };

    let bad = run(
        &c,
        signed("POST", &ce, create_body(), Some(SigFault::Bitflip)),
    )
    .await;
    assert_eq!(bad.response.unwrap().status, 401);

    let cid_body = create_body();
    let ex = run(&c, signed("POST", &ce, cid_body.clone(), None)).await;
    assert!(!ex.raw);
    let resp = ex.response.unwrap();
    assert_eq!((resp.status, resp.version.as_str()), (201, "HTTP/2"));
    let created = CreateResponse::from_body(&resp.body).unwrap();
    let ru = resolve_uri(&ce, &created.recipient_uri).unwrap();

    let cid: serde_json::Value = serde_json::from_str(&cid_body).unwrap();
    let messages = ru.join(&format!("{}/messages", ru.path())).unwrap();
    let body = format!(r#"{{"connectionID":{}}}"#, cid["connectionID"]);
    let ex = run(&c, raw(signed("POST", &messages, body, None))).await;
    assert!(ex.raw);
    let resp = ex.response.unwrap();
    assert_eq!((resp.status, resp.version.as_str()), (200, "HTTP/1.1"));
    assert!(RetrieveResponse::from_body(&resp.body)
        .unwrap()
        .messages
        .is_empty());

    server.shutdown().await;
}

/// `ClientOptions::http` decides the version of the ordinary path, over TLS (ALPN) and over
/// plain TCP (HTTP/2 by prior knowledge); the raw path stays on HTTP/1.1.
#[tokio::test]
async fn the_ordinary_path_speaks_the_http_version_asked_for() {
    use edge_reference_server::{start, Config, Tls};

    for (tls, expect) in [
        (
            true,
            [("auto", "HTTP/2"), ("1.1", "HTTP/1.1"), ("2", "HTTP/2")],
        ),
        (
            false,
            [("auto", "HTTP/1.1"), ("1.1", "HTTP/1.1"), ("2", "HTTP/2")],
        ),
    ] {
        let server = start(Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: if tls {
                Tls::SelfSigned { write_to: None }
            } else {
                Tls::Plain
            },
            ..Config::default()
        })
        .await
        .unwrap();
        let ce = Url::parse(&server.create_url()).unwrap();
        for (http, (name, version)) in [HttpVersion::Auto, HttpVersion::Http1, HttpVersion::Http2]
            .into_iter()
            .zip(expect)
        {
            assert_eq!(http.name(), name);
            let c = Client::new(&ClientOptions {
                ca_cert_pem: server.certificate_pem().map(String::into_bytes),
                http,
                ..options()
            })
            .unwrap();
            let r = Request::new("POST", ce.clone()).body("{}");
            let resp = run(&c, r.clone()).await.response.unwrap();
            assert_eq!(resp.version, version, "--http {name}, TLS {tls}");
            let resp = run(&c, raw(r)).await.response.unwrap();
            assert_eq!(resp.version, "HTTP/1.1", "raw path, --http {name}");
        }
        server.shutdown().await;
    }
}

#[tokio::test]
async fn h2_streams_go_over_alpn_h2_and_a_server_without_it_is_told_apart() {
    // The reference server offers h2 by ALPN: two streams of one connection, one held.
    let (server, c, ce) = tls_reference().await;
    let mut conn = c.h2_connect(&ce).await.unwrap();
    let r = Request::new("POST", ce.clone())
        .header("Content-Type", "application/json")
        .body("{\"recipient\": \"x\"}");
    let held = conn.send_part(&c, r.clone(), 5).await.unwrap();
    let other = conn.execute(&c, r.clone()).await.response.unwrap();
    let first = held.finish(&c).await.response.unwrap();
    for resp in [&other, &first] {
        assert_eq!(resp.version, "HTTP/2");
        assert_eq!(resp.status, 400, "an unsigned create: {resp:?}");
    }
    server.shutdown().await;

    // A TLS server that offers no protocol by ALPN does not speak HTTP/2.
    let (acceptor, pem) = tls_acceptor();
    let (addr, _rx) = serve(b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), Some(acceptor)).await;
    let target = Url::parse(&format!("https://localhost:{}/c", addr.port())).unwrap();
    let c = Client::new(&ClientOptions {
        ca_cert_pem: Some(pem.into_bytes()),
        ..options()
    })
    .unwrap();
    let e = c.h2_connect(&target).await.unwrap_err();
    assert!(matches!(e, H2Unavailable::NotSpoken(_)), "{e:?}");

    // An origin the run may not contact is refused before any connection.
    let c = Client::new(&ClientOptions {
        origins: origin::OriginPolicy::only(origin::Origin::of(&ce)),
        ..options()
    })
    .unwrap();
    let elsewhere = Url::parse("https://127.0.0.1:9/connection").unwrap();
    let e = c.h2_connect(&elsewhere).await.unwrap_err();
    assert!(
        matches!(e, H2Unavailable::Failed(TransportError::Refused(_))),
        "{e:?}"
    );
}
