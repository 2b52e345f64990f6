//! A small client for the tests, independent of the server's code: reqwest for HTTP, the
//! `rsa` crate for signatures (the server verifies with aws-lc-rs), and a raw socket for
//! requests an HTTP library would normalise.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use edge_reference_server::{start, Config, Server, Tls};
use reqwest::header::HeaderMap;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// An RSA key pair from `tests/keys/`.
pub struct Key {
    private: rsa::RsaPrivateKey,
    /// base64 of the DER SubjectPublicKeyInfo (what `recipient`/`sender` carry).
    pub spki: String,
}

impl Key {
    /// Loads `tests/keys/<name>.pem`.
    pub fn load(name: &str) -> Arc<Key> {
        let path = format!("{}/tests/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"));
        let pem = std::fs::read_to_string(&path).expect("fixture key");
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).expect("PKCS#8 PEM");
        let der = private.to_public_key().to_public_key_der().expect("SPKI");
        Arc::new(Key {
            private,
            spki: STANDARD.encode(der.as_bytes()),
        })
    }

    /// base64 RSASSA-PSS (SHA-256, MGF1-SHA-256) signature with `salt` bytes of salt.
    pub fn sign_salt(&self, salt: usize, method: &str, path: &str, body: &[u8]) -> String {
        let signer =
            rsa::pss::SigningKey::<sha2::Sha256>::new_with_salt_len(self.private.clone(), salt);
        let sig = signer.sign_with_rng(&mut rand_core::OsRng, &signing_input(method, path, body));
        STANDARD.encode(sig.to_bytes())
    }

    /// base64 signature as the binding requires (salt 32).
    pub fn sign(&self, method: &str, path: &str, body: &[u8]) -> String {
        self.sign_salt(32, method, path, body)
    }

    /// base64 of the bare PKCS#1 `RSAPublicKey` DER (not a valid key for the binding).
    pub fn pkcs1_public(&self) -> String {
        use rsa::pkcs1::EncodeRsaPublicKey as _;
        STANDARD.encode(
            self.private
                .to_public_key()
                .to_pkcs1_der()
                .unwrap()
                .as_bytes(),
        )
    }

    /// base64 PKCS#1 v1.5 signature (SHA-256), which the binding refuses.
    pub fn sign_pkcs1v15(&self, method: &str, path: &str, body: &[u8]) -> String {
        let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.private.clone());
        let sig = rsa::signature::Signer::sign(&signer, &signing_input(method, path, body));
        STANDARD.encode(sig.to_bytes())
    }
}

/// base64 SPKI of the EC P-256 fixture key (not an RSA key).
pub fn ec_spki() -> String {
    let path = format!("{}/tests/keys/ec-p256.pem", env!("CARGO_MANIFEST_DIR"));
    let pair = rcgen::KeyPair::from_pem(&std::fs::read_to_string(path).unwrap()).unwrap();
    STANDARD.encode(rcgen::PublicKeyData::subject_public_key_info(&pair))
}

/// `"EMSig1" LF METHOD LF PATH LF BODY`.
pub fn signing_input(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut input = format!("EMSig1\n{method}\n{path}\n").into_bytes();
    input.extend_from_slice(body);
    input
}

/// The path and query of `url` as sent on the request line.
pub fn path_of(url: &str) -> String {
    let url = reqwest::Url::parse(url).expect("absolute URL");
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub version: reqwest::Version,
}

impl Resp {
    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts the status, showing the body if it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Resp {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }
}

/// A server started in-process and a client for it.
pub struct TestServer {
    pub server: Server,
    pub client: reqwest::Client,
    pub ce: String,
}

/// Plain HTTP on 127.0.0.1, free port, defaults otherwise; `tweak` adjusts the config.
pub async fn plain_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        ..Config::default()
    };
    tweak(&mut config);
    let server = start(config).await.expect("server starts");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let ce = server.create_url();
    TestServer { server, client, ce }
}

/// Plain HTTP with the defaults.
pub async fn plain() -> TestServer {
    plain_with(|_| {}).await
}

/// HTTPS with a self-signed certificate kept in memory, trusted by the client.
pub async fn https() -> TestServer {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::SelfSigned { write_to: None },
        ..Config::default()
    };
    let server = start(config).await.expect("server starts");
    let pem = server.certificate_pem().expect("self-signed certificate");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let ce = server.create_url();
    TestServer { server, client, ce }
}

/// A connection created by the tests.
pub struct Conn {
    pub cid: String,
    pub rk: Arc<Key>,
    pub sk: Option<Arc<Key>>,
    pub ru: String,
    pub su: String,
}

/// A fresh random connection ID (128 bits, 22 characters).
pub fn new_cid() -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut bytes = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestServer {
    /// Sends a request as given: no header added, not even Content-Type.
    pub async fn raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        self.try_raw(method, url, headers, body)
            .await
            .unwrap_or_else(|e| panic!("the server did not answer {method} {url}: {e}"))
    }

    /// Like [`TestServer::raw`], but a transport failure is an `Err`.
    pub async fn try_raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Resp, String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, url).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.map_err(|e| format!("{e:?}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let version = response.version();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("{e:?}"))?
            .to_vec();
        Ok(Resp {
            status,
            headers,
            body,
            version,
        })
    }

    /// A JSON request signed by `key` (unsigned without one).
    pub async fn call(&self, method: &str, url: &str, key: Option<&Key>, body: &Value) -> Resp {
        self.call_with(method, url, key, body, &[]).await
    }

    /// A JSON request signed by `key`, with extra header fields.
    pub async fn call_with(
        &self,
        method: &str,
        url: &str,
        key: Option<&Key>,
        body: &Value,
        extra: &[(&str, &str)],
    ) -> Resp {
        let bytes = serde_json::to_vec(body).unwrap();
        let auth = key.map(|k| format!("EMSig {}", k.sign(method, &path_of(url), &bytes)));
        let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("authorization", auth));
        }
        headers.extend_from_slice(extra);
        self.raw(method, url, &headers, &bytes).await
    }

    /// `body` as given, signed by `key`, with exactly `headers` besides Authorization.
    pub async fn signed_raw(
        &self,
        method: &str,
        url: &str,
        key: &Key,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let auth = format!("EMSig {}", key.sign(method, &path_of(url), body));
        let mut all = headers.to_vec();
        all.push(("authorization", &auth));
        self.raw(method, url, &all, body).await
    }

    /// Creates a connection (201 expected).
    pub async fn create(&self, rk: &Arc<Key>, sk: Option<&Arc<Key>>) -> Conn {
        let cid = new_cid();
        let mut body = json!({"connectionID": cid, "recipient": rk.spki});
        if let Some(sk) = sk {
            body["sender"] = json!(sk.spki);
        }
        let r = self.call("POST", &self.ce, Some(rk), &body).await;
        r.expect(201);
        let v = r.json();
        Conn {
            cid,
            rk: rk.clone(),
            sk: sk.cloned(),
            ru: v["recipientURI"].as_str().unwrap().to_owned(),
            su: v["senderURI"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates a connection and sets its SK through the first recipient update.
    pub async fn secured(&self, rk: &Arc<Key>, sk: &Arc<Key>) -> Conn {
        let mut conn = self.create(rk, None).await;
        self.call(
            "PUT",
            &conn.ru,
            Some(rk),
            &json!({"connectionID": conn.cid, "sender": sk.spki}),
        )
        .await
        .expect(200);
        conn.sk = Some(sk.clone());
        conn
    }

    /// Sends `msgs`, signed with the connection's SK if it has one.
    pub async fn send(&self, conn: &Conn, msgs: &[&str]) -> Resp {
        let messages: Vec<Value> = msgs.iter().map(|m| json!({"msg": m})).collect();
        let url = format!("{}/messages", conn.su);
        self.call(
            "POST",
            &url,
            conn.sk.as_deref(),
            &json!({"connectionID": conn.cid, "messages": messages}),
        )
        .await
    }

    /// Retrieves with extra body properties; returns the response.
    pub async fn retrieve(&self, conn: &Conn, extra: Value) -> Resp {
        let mut body = json!({"connectionID": conn.cid});
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        self.call(
            "POST",
            &format!("{}/messages", conn.ru),
            Some(&conn.rk),
            &body,
        )
        .await
    }

    /// The `msg` values of a successful retrieval.
    pub async fn drain(&self, conn: &Conn, extra: Value) -> Vec<String> {
        let r = self.retrieve(conn, extra).await;
        r.expect(200);
        msgs(&r.json())
    }
}

/// The `msg` values of a retrieval body.
pub fn msgs(body: &Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .expect("messages array")
        .iter()
        .map(|m| m["msg"].as_str().unwrap().to_owned())
        .collect()
}

/// Writes `request` to the plain-HTTP server at `addr` and reads until it closes the
/// connection (send `Connection: close`). Returns the status and the raw response.
/// A JSON POST of `body` to `path` in HTTP/1.1 chunked coding (chunks of 1000 bytes), closing
/// the connection after.
pub fn chunked_post(addr: std::net::SocketAddr, path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(1000) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    request
}

pub async fn raw_socket(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut response)).await;
    assert!(read.is_ok(), "the server did not close the connection");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}
