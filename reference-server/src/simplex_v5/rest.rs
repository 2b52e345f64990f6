//! One HTTP request through the order of checks of VB-ORDER: body size (413), then syntax
//! (cookies, query, body presence, Content-Type, JSON, schema, message IDs: 400), then the
//! values (URI, role, signature, state: 401), with one signature verification on every path
//! past the syntax (V-TIMING).
//!
//! Fault injection branches are marked `app.fault(Fault::...)`; without the `faults` feature
//! they are constant `false`.

use std::sync::Arc;

use aws_lc_rs::digest::Digest;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, UPGRADE,
};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use crate::body::{self, MediaStrictness, Unread};
use crate::edge_v1::auth::{self, HeaderLeniency};
use crate::edge_v1::keys::PublicKey;
use crate::simplex_v5::faults::{Fault, Faults};
use crate::simplex_v5::request::{self, is_valid_mid, QueryError};
use crate::simplex_v5::routes::{Op, Paths, Shape};
use crate::simplex_v5::store::{Lookup, Message, Refusal, Role, Store};
use crate::simplex_v5::verify::Verifier;

/// Response body type.
pub(crate) type Body = Full<Bytes>;

/// How many times a send authorised against keys that changed meanwhile starts over.
const SEND_ATTEMPTS: usize = 4;

/// Everything a request handler needs.
pub(crate) struct App {
    /// Connections, messages and subscriptions.
    pub store: Store,
    /// The server's paths.
    pub paths: Paths,
    /// `scheme://host:port` of returned URIs (`http` or `https`).
    pub origin: String,
    /// `PAGE_SIZE`.
    pub page_size: usize,
    /// `LARGE_MESSAGE`.
    pub large_message: usize,
    /// Largest request body.
    pub body_limit: usize,
    /// Equal-cost signature checks.
    pub verifier: Verifier,
    /// Deliberate deviations (none unless the `faults` feature is on).
    pub faults: Faults,
}

impl App {
    /// Whether `fault` is on.
    pub(crate) fn fault(&self, fault: Fault) -> bool {
        self.faults.on(fault)
    }

    /// The absolute URI with `token`.
    pub(crate) fn uri(&self, token: &str) -> String {
        format!("{}{}", self.origin, self.paths.token_path(token))
    }

    /// A message as pages and pushes list it: `msg` only up to `LARGE_MESSAGE` bytes
    /// (V-RETR-LARGE), unless `full`.
    pub(crate) fn listed<'m>(&self, message: &'m Message, full: bool) -> Listed<'m> {
        let small = message.size <= self.large_message || self.fault(Fault::LargeMsgIncluded);
        Listed {
            id: &message.id,
            ts: &message.ts,
            size: if self.fault(Fault::SizeBase64Length) {
                message.msg.len()
            } else {
                message.size
            },
            msg: (full || small).then_some(message.msg.as_str()),
        }
    }
}

/// A message in a response or push: exactly `{id, ts, size, msg?}`.
#[derive(Serialize)]
pub(crate) struct Listed<'m> {
    id: &'m str,
    ts: &'m str,
    size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    msg: Option<&'m str>,
}

#[derive(Serialize)]
struct UrisBody {
    #[serde(rename = "recipientURI")]
    recipient_uri: String,
    #[serde(rename = "senderURI")]
    sender_uri: String,
}

#[derive(Serialize)]
struct PageBody<'a> {
    messages: Vec<Listed<'a>>,
    #[serde(rename = "nextMessageID", skip_serializing_if = "Option::is_none")]
    next_message_id: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

/// A request body after the syntax checks.
enum Parsed {
    None,
    /// Create's `recipient`.
    Create(Arc<PublicKey>),
    /// Secure's `sender`.
    Secure(Arc<PublicKey>),
    /// Send's `msg` and its decoded size.
    Send(String, usize),
}

/// What the syntax checks yield.
struct Syntax<'t> {
    from: Option<&'t str>,
    body: Parsed,
}

/// A refusal before any value was looked at.
enum Early {
    TooLarge,
    Status(StatusCode, &'static str),
    BadRequest(String),
}

/// Serves one request (not a WebSocket upgrade). Never panics on any input; every response
/// has `Cache-Control: no-store` and none sets a cookie.
pub(crate) async fn handle(app: Arc<App>, request: Request<Incoming>) -> Response<Body> {
    let head = request.method() == Method::HEAD;
    let mut response = serve(&app, request).await;
    if head {
        // A response to HEAD has no body (RFC 9110 §9.3.2).
        *response.body_mut() = Full::new(Bytes::new());
    }
    if app.fault(Fault::NoCacheControl) {
        response.headers_mut().remove(CACHE_CONTROL);
    }
    response
}

async fn serve(app: &App, request: Request<Incoming>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target.as_str(), None),
    };
    let shape = app.paths.shape(path);
    let op = Op::of(shape, &parts.method);
    let uncounted =
        app.fault(Fault::ChunkedBodyUncounted) && !parts.headers.contains_key(CONTENT_LENGTH);
    let limit = if uncounted {
        usize::MAX
    } else {
        app.body_limit
    };
    let bytes = match body::read_limited(body, limit).await {
        Ok(bytes) => bytes,
        Err(unread) => return early(app, refused_body(unread)),
    };
    if app.fault(Fault::OptionsServed) && parts.method == Method::OPTIONS {
        return options();
    }
    if app.fault(Fault::UnauthorizedBeforeBadRequest)
        && shape != Shape::Create
        && shape.token().and_then(|t| app.store.lookup(t)).is_none()
    {
        let digest = auth::signing_digest(parts.method.as_str(), &target, &bytes);
        app.verifier.burn(&digest, None);
        return value_failure(app, Failure::Unknown);
    }
    let checked = match syntax(app, &parts, shape, op, query, &bytes) {
        Ok(checked) => checked,
        Err(e) => return early(app, e),
    };
    if op == Op::CreateOther {
        return method_not_allowed(&parts);
    }
    let signed = Signed::new(&parts, &target, &bytes);
    match values(app, &signed, shape, op, checked) {
        Ok(response) => response,
        Err(failure) => value_failure(app, failure),
    }
}

/// Why a body was not read, as a refusal.
fn refused_body(unread: Unread) -> Early {
    match unread {
        Unread::TooLarge => Early::TooLarge,
        Unread::Timeout => Early::Status(
            StatusCode::REQUEST_TIMEOUT,
            "the body took too long to arrive",
        ),
        Unread::Broken => Early::Status(StatusCode::BAD_REQUEST, "the body could not be read"),
    }
}

/// The syntax checks (400) of every path, in a fixed order.
fn syntax<'t>(
    app: &App,
    parts: &Parts,
    shape: Shape<'_>,
    op: Op,
    query: Option<&'t str>,
    body: &[u8],
) -> Result<Syntax<'t>, Early> {
    if parts.headers.contains_key(COOKIE) && !app.fault(Fault::CookieAccepted) {
        return Err(Early::BadRequest("cookies are not allowed".into()));
    }
    let bad_id = |what: &str| {
        if app.fault(Fault::BadMessageId401) {
            Early::Status(StatusCode::UNAUTHORIZED, "")
        } else {
            Early::BadRequest(format!(
                "{what} is not a message ID ([A-Za-z0-9_-]{{1,64}})"
            ))
        }
    };
    let from = if op == Op::Retrieve {
        match request::from_message_id(query, app.fault(Fault::ExtraQueryAccepted)) {
            Ok(from) => from,
            Err(QueryError::Syntax(why)) => return Err(Early::BadRequest(why.into())),
            Err(QueryError::BadId) => return Err(bad_id("fromMessageId")),
        }
    } else if query.is_some() {
        return Err(Early::BadRequest("no query is allowed here".into()));
    } else {
        None
    };
    let bodiless = matches!(parts.method, Method::GET | Method::DELETE | Method::HEAD);
    if bodiless && !body.is_empty() && !app.fault(Fault::GetBodyAccepted) {
        return Err(Early::BadRequest(format!(
            "{} requests have no body",
            parts.method
        )));
    }
    let mut parsed = Parsed::None;
    if op.has_body() {
        body::check_content_type(&parts.headers, MediaStrictness::default())
            .map_err(|why| Early::BadRequest(why.into()))?;
        let map = request::object(body).map_err(Early::BadRequest)?;
        parsed = match op {
            Op::Create => request::create(map).map(Parsed::Create),
            Op::Secure => request::secure(map).map(Parsed::Secure),
            _ => request::send(map, app.fault(Fault::SendExtraPropertyAccepted))
                .map(|(msg, size)| Parsed::Send(msg, size)),
        }
        .map_err(Early::BadRequest)?;
    }
    if let Shape::Message(_, id) = shape {
        if !is_valid_mid(id) {
            return Err(bad_id("the path's message ID"));
        }
    }
    Ok(Syntax { from, body: parsed })
}

/// Why a request failed on its values (→ 401).
enum Failure {
    /// The URI does not exist, is of the other role, or the method is not defined for it.
    Unknown,
    /// The signature does not verify with the required key.
    Signature,
    /// The state forbids it (an unknown message, a second secure).
    State,
    /// A method a live URI does not define (only `live-uri-wrong-method-405` tells it apart).
    Method,
}

/// The signature material of one request.
struct Signed {
    digest: Digest,
    signature: Option<Vec<u8>>,
}

impl Signed {
    /// The digest of the signing input and the `Authorization` signature, if well-formed.
    fn new(parts: &Parts, target: &str, body: &[u8]) -> Signed {
        Signed {
            digest: auth::signing_digest(parts.method.as_str(), target, body),
            signature: match auth::authorization(&parts.headers, HeaderLeniency::default()) {
                Ok(sig) => Some(sig),
                Err(_) => {
                    // The decoding a signature would have cost (V-TIMING).
                    auth::decode_stand_in();
                    None
                }
            },
        }
    }

    /// Whether the signature verifies with `key`.
    fn verify(&self, app: &App, key: &PublicKey) -> Result<(), Failure> {
        if app
            .verifier
            .verify(Some(key), &self.digest, self.signature.as_deref())
        {
            Ok(())
        } else {
            Err(Failure::Signature)
        }
    }

    /// The equal-cost verification of a request that fails anyway; `unknown` when its URI
    /// does not exist (which `skip-verify-unknown-uri` answers without it).
    fn burn(&self, app: &App, unknown: bool) {
        if !(unknown && app.fault(Fault::SkipVerifyUnknownUri)) {
            app.verifier.burn(&self.digest, self.signature.as_deref());
        }
    }
}

/// The live connection behind `token` in `role`; otherwise the equal-cost verification and
/// a failure.
fn live(app: &App, signed: &Signed, token: Option<&str>, role: Role) -> Result<Lookup, Failure> {
    match token.and_then(|t| app.store.lookup(t)) {
        Some(found) if found.role == role || app.fault(Fault::OtherRoleServed) => Ok(found),
        found => {
            signed.burn(app, found.is_none());
            Err(Failure::Unknown)
        }
    }
}

/// The value checks and the operation.
fn values(
    app: &App,
    signed: &Signed,
    shape: Shape<'_>,
    op: Op,
    checked: Syntax<'_>,
) -> Result<Response<Body>, Failure> {
    let token = shape.token();
    let from = checked.from;
    match (op, checked.body) {
        (Op::Create, Parsed::Create(rk)) => {
            if let Err(failure) = signed.verify(app, &rk) {
                if !app.fault(Fault::CreateBadSignatureAccepted) {
                    return Err(failure);
                }
            }
            let (ru, su) = app.store.create(rk);
            Ok(json(
                StatusCode::CREATED,
                &UrisBody {
                    recipient_uri: app.uri(&ru),
                    sender_uri: app.uri(&su),
                },
            ))
        }
        (Op::Secure, Parsed::Secure(sk)) => {
            let found = live(app, signed, token, Role::Recipient)?;
            signed.verify(app, &found.rk)?;
            app.store
                .secure(found.conn, sk)
                .map_err(|_| Failure::State)?;
            Ok(ok(app))
        }
        (Op::Delete, _) => {
            let found = live(app, signed, token, Role::Recipient)?;
            signed.verify(app, &found.rk)?;
            app.store.delete(found.conn).map_err(|_| Failure::State)?;
            Ok(ok(app))
        }
        (Op::Retrieve, _) => {
            let found = live(app, signed, token, Role::Recipient)?;
            signed.verify(app, &found.rk)?;
            let page = app
                .store
                .page(found.conn, from, app.page_size)
                .map_err(|_| Failure::State)?;
            Ok(json(
                StatusCode::OK,
                &PageBody {
                    messages: page.messages.iter().map(|m| app.listed(m, false)).collect(),
                    next_message_id: page.next.as_deref(),
                },
            ))
        }
        (Op::RetrieveOne, _) => {
            let Shape::Message(_, id) = shape else {
                return Err(Failure::Unknown);
            };
            let found = live(app, signed, token, Role::Recipient)?;
            signed.verify(app, &found.rk)?;
            let message = app.store.message(found.conn, id).ok_or(Failure::State)?;
            Ok(json(StatusCode::OK, &app.listed(&message, true)))
        }
        (Op::DeleteOne, _) => {
            let Shape::Message(_, id) = shape else {
                return Err(Failure::Unknown);
            };
            let found = live(app, signed, token, Role::Recipient)?;
            signed.verify(app, &found.rk)?;
            match app.store.delete_message(found.conn, id) {
                Ok(()) => Ok(ok(app)),
                Err(_) if app.fault(Fault::DeleteMessageTwiceOk) => Ok(ok(app)),
                Err(_) => Err(Failure::State),
            }
        }
        (Op::Send, Parsed::Send(msg, size)) => {
            let unsigned = signed.signature.is_none();
            for _ in 0..SEND_ATTEMPTS {
                let found = live(app, signed, token, Role::Sender)?;
                // S-G-OPEN: without SK the Authorization field is not looked at.
                if let Some(sk) = &found.sk {
                    if !(unsigned && app.fault(Fault::UnsignedSendAfterSecure)) {
                        signed.verify(app, sk)?;
                    }
                }
                match app
                    .store
                    .send(found.conn, found.sk.as_ref(), msg.clone(), size)
                {
                    Ok(()) => return Ok(ok(app)),
                    Err(Refusal::Stale) => continue,
                    Err(Refusal::Unauthorized) => return Err(Failure::Unknown),
                }
            }
            // SK changed under us again and again: answer as the latest state says.
            Err(Failure::State)
        }
        _ => {
            let exists = token.and_then(|t| app.store.lookup(t)).is_some();
            signed.burn(app, !exists);
            if exists && app.fault(Fault::LiveUriWrongMethod405) {
                return Err(Failure::Method);
            }
            Err(if exists {
                Failure::State
            } else {
                Failure::Unknown
            })
        }
    }
}

/// `"OK"` (V-OK-BODY).
fn ok(app: &App) -> Response<Body> {
    if app.fault(Fault::OkBodyMissing) {
        return respond(StatusCode::OK, None);
    }
    let mut response = respond(StatusCode::OK, Some(Bytes::from_static(b"\"OK\"")));
    if app.fault(Fault::NoContentType) {
        response.headers_mut().remove(CONTENT_TYPE);
    }
    response
}

/// 401 `"Unauthorized"` (V-401, V-401-BODY), or what a fault makes of it.
fn value_failure(app: &App, failure: Failure) -> Response<Body> {
    match failure {
        Failure::Unknown if app.fault(Fault::UnknownUri404) => {
            return error(StatusCode::NOT_FOUND, "unknown URI")
        }
        Failure::Signature if app.fault(Fault::WrongSignature403) => {
            return error(StatusCode::FORBIDDEN, "the signature does not verify")
        }
        Failure::Method => {
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "this URI does not define that method",
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, PUT, POST, DELETE"));
            return response;
        }
        _ => {}
    }
    unauthorized(app)
}

fn unauthorized(app: &App) -> Response<Body> {
    let body: &'static [u8] = if app.fault(Fault::UnauthorizedBodyObject) {
        b"{\"error\":\"Unauthorized\"}"
    } else {
        b"\"Unauthorized\""
    };
    let mut response = respond(StatusCode::UNAUTHORIZED, Some(Bytes::from_static(body)));
    if app.fault(Fault::NoContentType) {
        response.headers_mut().remove(CONTENT_TYPE);
    }
    response
}

fn early(app: &App, refusal: Early) -> Response<Body> {
    match refusal {
        Early::TooLarge => {
            let mut response = error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the body is larger than {} bytes", app.body_limit),
            );
            // Whatever is left unread makes the connection unusable for another request.
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            response
        }
        Early::Status(StatusCode::UNAUTHORIZED, _) => unauthorized(app),
        Early::Status(status, why) => error(status, why),
        Early::BadRequest(why) => error(StatusCode::BAD_REQUEST, &why),
    }
}

/// 405 for methods `CE` does not define (VB-ROUTE); a plain GET gets 426 (the WebSocket
/// upgrade is the only GET of `CE`).
fn method_not_allowed(parts: &Parts) -> Response<Body> {
    if parts.method == Method::GET {
        let mut response = error(
            StatusCode::UPGRADE_REQUIRED,
            "GET of the create endpoint is the WebSocket API: open a WebSocket (version 13)",
        );
        let h = response.headers_mut();
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        return response;
    }
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "the create endpoint accepts POST (and GET with a WebSocket upgrade)",
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static("POST"));
    response
}

/// `options-served`: a CORS preflight answer.
#[cfg_attr(mutants, mutants::skip)] // fault injection only
fn options() -> Response<Body> {
    let mut response = respond(StatusCode::NO_CONTENT, None);
    let h = response.headers_mut();
    h.insert(
        ALLOW,
        HeaderValue::from_static("GET, PUT, POST, DELETE, OPTIONS"),
    );
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, PUT, POST, DELETE"),
    );
    response
}

/// A response with `Cache-Control: no-store` and, if given, a JSON body.
pub(crate) fn respond(status: StatusCode, json: Option<Bytes>) -> Response<Body> {
    let is_json = json.is_some();
    let mut response = Response::new(Full::new(json.unwrap_or_default()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if is_json {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    response
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    match serde_json::to_vec(body) {
        Ok(bytes) => respond(status, Some(Bytes::from(bytes))),
        // Serialising these plain structs cannot fail; answer 400 rather than 5xx if it did.
        Err(_) => error(StatusCode::BAD_REQUEST, "the response could not be encoded"),
    }
}

/// An error with `{"error": text}` (B-ERR-BODY).
pub(crate) fn error(status: StatusCode, text: &str) -> Response<Body> {
    let body = serde_json::to_vec(&ErrorBody { error: text }).unwrap_or_default();
    respond(status, Some(Bytes::from(body)))
}
