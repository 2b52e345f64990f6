//! A small simplex-v5 client for the tests, independent of the server's code: reqwest for
//! REST, tokio-tungstenite for the WebSocket API, the `rsa` crate for signatures (the server
//! verifies with aws-lc-rs), and a JCS serialiser of its own for the string-only objects the
//! tests sign.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use edge_reference_server::simplex_v5::{start, SimplexConfig, SimplexServer};
use edge_reference_server::Tls;
use futures_util::{SinkExt as _, StreamExt as _};
use reqwest::header::HeaderMap;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::WebSocketStream;

/// How long a test waits for a reply or push.
pub const REPLY: Duration = Duration::from_secs(3);
/// How long a test waits to be sure nothing comes.
pub const QUIET: Duration = Duration::from_millis(200);

/// An RSA key pair from `tests/keys/`.
pub struct Key {
    private: rsa::RsaPrivateKey,
    /// base64 of the DER SubjectPublicKeyInfo.
    pub spki: String,
}

impl Key {
    /// Loads `tests/keys/<name>.pem` (once per test binary).
    pub fn load(name: &str) -> Arc<Key> {
        static LOADED: std::sync::Mutex<Vec<(String, Arc<Key>)>> =
            std::sync::Mutex::new(Vec::new());
        let mut loaded = LOADED.lock().unwrap();
        if let Some((_, key)) = loaded.iter().find(|(n, _)| n == name) {
            return key.clone();
        }
        let key = Key::read(name);
        loaded.push((name.to_owned(), key.clone()));
        key
    }

    fn read(name: &str) -> Arc<Key> {
        let path = format!("{}/tests/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"));
        let pem = std::fs::read_to_string(&path).expect("fixture key");
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).expect("PKCS#8 PEM");
        let der = private.to_public_key().to_public_key_der().expect("SPKI");
        Arc::new(Key {
            private,
            spki: STANDARD.encode(der.as_bytes()),
        })
    }

    /// base64 RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) of `input`.
    pub fn sign_bytes(&self, input: &[u8]) -> String {
        let signer =
            rsa::pss::SigningKey::<sha2::Sha256>::new_with_salt_len(self.private.clone(), 32);
        STANDARD.encode(
            signer
                .sign_with_rng(&mut rand_core::OsRng, input)
                .to_bytes(),
        )
    }

    /// base64 signature of a REST request.
    pub fn sign(&self, method: &str, path: &str, body: &[u8]) -> String {
        self.sign_bytes(&signing_input(method, path, body))
    }

    /// base64 PKCS#1 v1.5 signature (SHA-256) of a REST request, which the binding refuses.
    pub fn sign_pkcs1v15(&self, method: &str, path: &str, body: &[u8]) -> String {
        let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.private.clone());
        let sig = rsa::signature::Signer::sign(&signer, &signing_input(method, path, body));
        STANDARD.encode(sig.to_bytes())
    }
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

/// RFC 8785 serialisation of an object whose values are strings (all the tests sign):
/// members sorted by UTF-16 code units, strings escaped as JCS (ECMAScript) does.
pub fn jcs(object: &Map<String, Value>) -> String {
    let mut members: Vec<(&String, &Value)> = object.iter().collect();
    members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    let parts: Vec<String> = members
        .into_iter()
        .map(|(k, v)| {
            let v = v.as_str().expect("the tests sign string values only");
            format!("{}:{}", jcs_string(k), jcs_string(v))
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

fn jcs_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
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

    /// Asserts 401 with the body `"Unauthorized"` and a JSON Content-Type.
    #[track_caller]
    pub fn unauthorized(&self) {
        self.expect(401);
        assert_eq!(self.body, b"\"Unauthorized\"");
        assert_eq!(self.content_type(), Some("application/json"));
    }

    /// Asserts 200 with the body `"OK"`.
    #[track_caller]
    pub fn ok(&self) {
        self.expect(200);
        assert_eq!(self.body, b"\"OK\"");
        assert_eq!(self.content_type(), Some("application/json"));
    }

    /// The Content-Type field.
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
    }
}

/// A client of one server: its create endpoint and WebSocket URL.
pub struct Api {
    pub client: reqwest::Client,
    pub ce: String,
    pub ws: String,
}

impl Api {
    /// A client for the plain-HTTP server whose create endpoint is `ce`.
    pub fn remote(ce: &str) -> Api {
        Api {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            ce: ce.to_owned(),
            ws: ce.replace("http://", "ws://"),
        }
    }
}

/// A server started in-process and a client for it.
pub struct TestServer {
    pub server: SimplexServer,
    pub api: Api,
}

impl std::ops::Deref for TestServer {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// Plain HTTP on 127.0.0.1, free port, defaults otherwise; `tweak` adjusts the config.
pub async fn plain_with(tweak: impl FnOnce(&mut SimplexConfig)) -> TestServer {
    let mut config = SimplexConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        ..SimplexConfig::default()
    };
    tweak(&mut config);
    let server = start(config).await.expect("server starts");
    let mut api = Api::remote(&server.create_url());
    api.ws = server.ws_url();
    TestServer { server, api }
}

/// Plain HTTP with the defaults.
pub async fn plain() -> TestServer {
    plain_with(|_| {}).await
}

/// A connection created by the tests.
pub struct Conn {
    pub rk: Arc<Key>,
    pub sk: Option<Arc<Key>>,
    pub ru: String,
    pub su: String,
}

impl Conn {
    /// `RU/messages`.
    pub fn messages(&self) -> String {
        format!("{}/messages", self.ru)
    }
}

impl Api {
    /// Sends a request as given: no header added, not even Content-Type.
    pub async fn raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, url).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("the server did not answer {url}: {e:?}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap().to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// A request with `body` (JSON Content-Type when non-empty), signed by `key`.
    pub async fn signed(&self, method: &str, url: &str, key: Option<&Key>, body: &[u8]) -> Resp {
        let auth = key.map(|k| format!("EMSig {}", k.sign(method, &path_of(url), body)));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if !body.is_empty() {
            headers.push(("content-type", "application/json"));
        }
        if let Some(auth) = &auth {
            headers.push(("authorization", auth));
        }
        self.raw(method, url, &headers, body).await
    }

    /// A JSON request signed by `key` (unsigned without one).
    pub async fn call(&self, method: &str, url: &str, key: Option<&Key>, body: &Value) -> Resp {
        self.signed(method, url, key, &serde_json::to_vec(body).unwrap())
            .await
    }

    /// Creates a connection (201 expected).
    pub async fn create(&self, rk: &Arc<Key>) -> Conn {
        let r = self
            .call("POST", &self.ce, Some(rk), &json!({"recipient": rk.spki}))
            .await;
        r.expect(201);
        let v = r.json();
        assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
        Conn {
            rk: rk.clone(),
            sk: None,
            ru: v["recipientURI"].as_str().unwrap().to_owned(),
            su: v["senderURI"].as_str().unwrap().to_owned(),
        }
    }

    /// Secures `conn` with `sk`.
    pub async fn secure(&self, conn: &mut Conn, sk: &Arc<Key>) {
        self.call("PUT", &conn.ru, Some(&conn.rk), &json!({"sender": sk.spki}))
            .await
            .ok();
        conn.sk = Some(sk.clone());
    }

    /// Sends `msg` (base64), signed with SK if the connection has one.
    pub async fn send(&self, conn: &Conn, msg: &str) -> Resp {
        self.call(
            "POST",
            &format!("{}/messages", conn.su),
            conn.sk.as_deref(),
            &json!({"msg": msg}),
        )
        .await
    }

    /// GET `url` signed by RK (`url` may carry a query).
    pub async fn get(&self, conn: &Conn, url: &str) -> Resp {
        self.signed("GET", url, Some(&conn.rk), b"").await
    }

    /// The first page (200 expected).
    pub async fn page(&self, conn: &Conn) -> Value {
        let r = self.get(conn, &conn.messages()).await;
        r.expect(200);
        r.json()
    }

    /// The IDs of the first page.
    pub async fn ids(&self, conn: &Conn) -> Vec<String> {
        ids(&self.page(conn).await)
    }

    /// DELETE `url` signed by RK.
    pub async fn delete(&self, conn: &Conn, url: &str) -> Resp {
        self.signed("DELETE", url, Some(&conn.rk), b"").await
    }
}

/// The message IDs of a page.
pub fn ids(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// base64 of `n` bytes of `byte`.
pub fn b64(byte: u8, n: usize) -> String {
    STANDARD.encode(vec![byte; n])
}

/// Binary messages for the tests.
#[allow(async_fn_in_trait)]
pub trait SendBinary {
    /// Sends one binary message.
    async fn send_binary_for_test(&mut self, bytes: &[u8]);
    /// The next frame within [`REPLY`]; `None` when the connection ended or broke.
    async fn next_frame_for_test(&mut self) -> Option<Frame>;
}

impl SendBinary for WebSocketStream<Box<dyn Io>> {
    async fn send_binary_for_test(&mut self, bytes: &[u8]) {
        self.send(Frame::binary(bytes.to_vec()))
            .await
            .expect("send");
    }

    async fn next_frame_for_test(&mut self) -> Option<Frame> {
        match tokio::time::timeout(REPLY, self.next()).await {
            Ok(Some(Ok(frame))) => Some(frame),
            Ok(_) => None,
            Err(_) => panic!("nothing within {REPLY:?}"),
        }
    }
}

/// Any byte stream.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A WebSocket session of the tests.
pub struct Ws {
    pub stream: WebSocketStream<Box<dyn Io>>,
    /// The hello nonce, as sent.
    pub nonce: String,
}

impl Ws {
    /// Opens a session and reads the hello.
    pub async fn open(url: &str) -> Ws {
        let mut ws = Ws::open_raw(url).await;
        let hello = ws.recv().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        ws.nonce = hello["nonce"].as_str().unwrap().to_owned();
        ws
    }

    /// Opens a session (`ws://` only) without reading anything.
    pub async fn open_raw(url: &str) -> Ws {
        let rest = url.strip_prefix("ws://").expect("ws:// URL");
        let host = rest.split('/').next().unwrap();
        let tcp = TcpStream::connect(host).await.expect("connects");
        let io: Box<dyn Io> = Box::new(tcp);
        let (stream, _) = tokio_tungstenite::client_async(url, io)
            .await
            .expect("WebSocket upgrade");
        Ws {
            stream,
            nonce: String::new(),
        }
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Frame::text(text.to_owned()))
            .await
            .expect("send");
    }

    /// Sends a JSON value.
    pub async fn send(&mut self, value: &Value) {
        self.send_text(&value.to_string()).await;
    }

    /// The next frame, if one comes within `wait`.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<Frame> {
        match tokio::time::timeout(wait, self.stream.next()).await {
            Ok(Some(Ok(frame))) => Some(frame),
            _ => None,
        }
    }

    /// The next text message as JSON (panics if none comes).
    pub async fn recv(&mut self) -> Value {
        loop {
            match self.next_frame(REPLY).await {
                Some(Frame::Text(text)) => return serde_json::from_str(&text).expect("JSON"),
                Some(Frame::Ping(_) | Frame::Pong(_)) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// Asserts that no text message comes within [`QUIET`].
    pub async fn quiet(&mut self) {
        if let Some(Frame::Text(text)) = self.next_frame(QUIET).await {
            panic!("unexpected message {text}");
        }
    }

    /// A signed subscribe request for this session.
    pub fn subscribe_request(&self, id: &str, ru: &str, rk: &Key) -> Value {
        let unsigned = json!({"id": id, "type": "subscribe", "recipientURI": ru});
        let auth = rk.sign_bytes(&ws_signing_input(
            &self.nonce,
            unsigned.as_object().unwrap(),
        ));
        json!({"id": id, "type": "subscribe", "recipientURI": ru, "auth": auth})
    }

    /// Subscribes and returns the reply.
    pub async fn subscribe(&mut self, id: &str, ru: &str, rk: &Key) -> Value {
        let request = self.subscribe_request(id, ru, rk);
        self.send(&request).await;
        self.recv().await
    }
}

/// `"EMSig1" LF "WS" LF NONCE LF` + JCS of the request without `auth`.
pub fn ws_signing_input(nonce: &str, object: &Map<String, Value>) -> Vec<u8> {
    format!("EMSig1\nWS\n{nonce}\n{}", jcs(object)).into_bytes()
}
