//! One HTTP request through the order of checks of binding §3.1: route, body (size,
//! Content-Type, JSON, schema), connection, authorisation, state.

use std::cell::OnceCell;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest::Digest;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::header::{HeaderMap, HeaderValue, ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode, Uri};
use serde::Serialize;

use crate::auth::{self, HeaderError, HeaderLeniency};
use crate::json::{self, Strictness};
use crate::keys::PublicKey;
use crate::request::{self, SchemaLeniency, SENDER_PROHIBITED};
use crate::routes::{self, Endpoint, Op, Routes, Target};
use crate::store::{Keys, Message, Party, Proof, RecipientChange, Refusal, Store};

/// Response body type.
pub(crate) type Body = Full<Bytes>;

/// How long a client may take to send a request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Optimistic attempts (verify outside the lock) before verifying under the lock.
const OPTIMISTIC_ATTEMPTS: usize = 4;

/// Everything a request handler needs.
pub(crate) struct App {
    /// Connections and messages.
    pub store: Store,
    /// The server's paths.
    pub routes: Routes,
    /// `scheme://host:port` of returned URIs.
    pub origin: String,
    /// Largest request body.
    pub body_limit: usize,
}

impl App {
    /// The absolute URI of the connection URI with `token`.
    fn uri(&self, token: &str) -> String {
        format!("{}{}", self.origin, self.routes.token_path(token))
    }
}

/// A refusal with its status and a short text for `{"error": ...}`.
#[derive(Debug)]
pub(crate) struct Failure {
    status: StatusCode,
    text: String,
}

impl Failure {
    fn new(status: StatusCode, text: impl Into<String>) -> Failure {
        Failure {
            status,
            text: text.into(),
        }
    }

    fn bad_request(text: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, text)
    }
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Failure {
        use StatusCode as S;
        match refusal {
            Refusal::NotFound => Failure::new(S::NOT_FOUND, "unknown URI or connectionID"),
            // Only reachable if a retry loop gave up, which `on_connection` never does.
            Refusal::Stale => Failure::new(S::CONFLICT, "the connection changed; retry"),
            Refusal::Unauthorized(why) => Failure::new(S::UNAUTHORIZED, why),
            Refusal::Conflict => Failure::new(S::CONFLICT, "connectionID is in use"),
            Refusal::UnknownFrom => {
                Failure::bad_request("fromMessageID is not a message of this connection")
            }
            Refusal::SenderRequired => Failure::bad_request("the first update must set sender"),
            Refusal::NoSenderKey => {
                Failure::new(S::UNAUTHORIZED, "the connection has no sender key")
            }
            Refusal::Disabled => Failure::new(S::FORBIDDEN, "the connection is disabled"),
            Refusal::QueueFull => {
                Failure::new(S::TOO_MANY_REQUESTS, "the connection's queue is full")
            }
        }
    }
}

/// Serves one request. Never panics on any input; every response has
/// `Cache-Control: no-store` and none sets a cookie.
pub(crate) async fn handle(app: Arc<App>, request: Request<Incoming>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let target = request_target(&parts.uri).to_owned();
    let path = target
        .split_once('?')
        .map_or(target.as_str(), |(path, _)| path);

    let Some(endpoint) = resolve(&app, path) else {
        return failure(Failure::new(StatusCode::NOT_FOUND, "unknown URI"));
    };
    let op = match routes::select(endpoint, &parts.method) {
        Ok(op) => op,
        Err(allow) => {
            let mut response = failure(Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("this URI accepts {allow}"),
            ));
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
            return response;
        }
    };
    let bytes = match read_body(body, app.body_limit).await {
        Ok(bytes) => bytes,
        Err(too_large) => return too_large,
    };
    match dispatch(&app, op, &parts, &target, &bytes) {
        Ok(response) => response,
        Err(f) => failure(f),
    }
}

/// The request-target's path and query exactly as received (scheme and authority of an
/// absolute-form target dropped).
fn request_target(uri: &Uri) -> &str {
    uri.path_and_query().map_or("/", |pq| pq.as_str())
}

/// The live endpoint `path` names.
fn resolve(app: &App, path: &str) -> Option<Endpoint> {
    match app.routes.target(path)? {
        Target::Create => Some(Endpoint::Create),
        Target::Echo => Some(Endpoint::Echo),
        Target::Connection { token, messages } => {
            let party = app.store.party(token)?;
            Some(if messages {
                Endpoint::Messages(party)
            } else {
                Endpoint::Connection(party)
            })
        }
    }
}

/// Reads the body, refusing more than `limit` bytes (413) from `Content-Length` before
/// reading, or while counting the bytes of a chunked body; never buffers more than `limit`.
async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, Response<Body>> {
    let too_large = || {
        let mut response = failure(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes"),
        ));
        // The unread rest of the body makes the connection unusable for another request.
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        response
    };
    if body.size_hint().lower() > limit as u64 {
        return Err(too_large());
    }
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, limit).collect()).await {
        Err(_) => Err(failure(Failure::new(
            StatusCode::REQUEST_TIMEOUT,
            "the body took too long to arrive",
        ))),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(_)) => Err(failure(Failure::bad_request("the body could not be read"))),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Checks the body and runs `op` (steps 2 to 5 of §3.1).
fn dispatch(
    app: &App,
    op: Op,
    parts: &Parts,
    target: &str,
    body: &[u8],
) -> Result<Response<Body>, Failure> {
    check_content_type(&parts.headers)?;
    let map = json::parse_object(body, Strictness::default())
        .map_err(|e| Failure::bad_request(e.to_string()))?;
    let schema = SchemaLeniency::default();
    let signed = Signed::new(parts, target, body);
    let token = connection_token(app, target);
    match op {
        Op::Echo => Ok(respond(StatusCode::OK, Some(Bytes::copy_from_slice(body)))),
        Op::Create => create(
            app,
            &signed,
            request::Create::parse(map, &schema).map_err(Failure::bad_request)?,
        ),
        Op::UpdateRecipient => {
            let body =
                request::UpdateRecipient::parse(map, &schema).map_err(Failure::bad_request)?;
            update_recipient(app, &signed, token, body)
        }
        Op::DeleteConnection => {
            let body =
                request::DeleteConnection::parse(map, &schema).map_err(Failure::bad_request)?;
            let authorize = |keys: &Keys| signed.verify(&keys.rk);
            on_connection(
                app,
                token,
                &body.connection_id,
                Party::Recipient,
                &authorize,
                |proof| app.store.delete(token, &body.connection_id, proof),
            )?;
            Ok(respond(StatusCode::OK, None))
        }
        Op::Retrieve => {
            let body = request::Retrieve::parse(map, &schema).map_err(Failure::bad_request)?;
            let authorize = |keys: &Keys| signed.verify(&keys.rk);
            let page = on_connection(
                app,
                token,
                &body.connection_id,
                Party::Recipient,
                &authorize,
                |proof| {
                    app.store.retrieve(
                        token,
                        &body.connection_id,
                        proof,
                        body.page_size,
                        body.from_message_id.as_deref(),
                        body.keep_messages,
                    )
                },
            )?;
            Ok(json_response(
                StatusCode::OK,
                &PageBody {
                    messages: &page.messages,
                    next_message_id: page.next.as_deref(),
                },
            ))
        }
        Op::DeleteMessages => {
            let body =
                request::DeleteMessages::parse(map, &schema).map_err(Failure::bad_request)?;
            let authorize = |keys: &Keys| signed.verify(&keys.rk);
            let deleted = on_connection(
                app,
                token,
                &body.connection_id,
                Party::Recipient,
                &authorize,
                |proof| {
                    app.store.delete_messages(
                        token,
                        &body.connection_id,
                        proof,
                        body.page_size,
                        body.from_message_id.as_deref(),
                    )
                },
            )?;
            Ok(json_response(StatusCode::OK, &DeletedBody { deleted }))
        }
        Op::UpdateSender => {
            if let Some(name) = SENDER_PROHIBITED
                .iter()
                .find(|&&name| map.contains_key(name))
            {
                return Err(Failure::new(
                    StatusCode::UNAUTHORIZED,
                    format!("{name} may not be sent to the sender URI"),
                ));
            }
            let body = request::UpdateSender::parse(map, &schema).map_err(Failure::bad_request)?;
            update_sender(app, &signed, token, body)
        }
        Op::Send => {
            let body = request::Send::parse(map, &schema).map_err(Failure::bad_request)?;
            let authorize = |keys: &Keys| match &keys.sk {
                Some(sk) => signed.verify(sk),
                // S-G-OPEN: without SK the Authorization field is not looked at.
                None => Ok(()),
            };
            let mut messages = body.messages;
            on_connection(
                app,
                token,
                &body.connection_id,
                Party::Sender,
                &authorize,
                |proof| {
                    app.store
                        .send(token, &body.connection_id, proof, &mut messages)
                },
            )?;
            Ok(respond(StatusCode::OK, None))
        }
    }
}

/// The URI token of a connection request's path (empty for `CE`).
fn connection_token<'t>(app: &App, target: &'t str) -> &'t str {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    match app.routes.target(path) {
        Some(Target::Connection { token, .. }) => token,
        _ => "",
    }
}

/// Runs `op` with proof that `authorize` accepted the current keys of the connection.
///
/// The signature is verified outside the store's lock against a snapshot of the keys; if
/// they changed before `op` ran, it starts over, and after a few tries verifies under the
/// lock, so a request always ends with an answer that matches one state of the connection.
fn on_connection<T>(
    app: &App,
    token: &str,
    cid: &str,
    party: Party,
    authorize: &dyn Fn(&Keys) -> Result<(), Refusal>,
    mut op: impl FnMut(Proof<'_>) -> Result<T, Refusal>,
) -> Result<T, Refusal> {
    for _ in 0..OPTIMISTIC_ATTEMPTS {
        let (keys, ticket) = app.store.keys(token, cid, party)?;
        authorize(&keys)?;
        match op(Proof::Ticket(ticket)) {
            Err(Refusal::Stale) => continue,
            done => return done,
        }
    }
    op(Proof::Verify(authorize))
}

fn create(
    app: &App,
    signed: &Signed<'_>,
    body: request::Create,
) -> Result<Response<Body>, Failure> {
    signed.verify(&body.recipient)?;
    let (ru, su) = app.store.create(
        &body.connection_id,
        body.recipient,
        body.sender,
        body.disabled,
    )?;
    Ok(json_response(
        StatusCode::CREATED,
        &UrisBody {
            recipient_uri: Some(app.uri(&ru)),
            sender_uri: Some(app.uri(&su)),
        },
    ))
}

fn update_recipient(
    app: &App,
    signed: &Signed<'_>,
    token: &str,
    body: request::UpdateRecipient,
) -> Result<Response<Body>, Failure> {
    let authorize = |keys: &Keys| {
        signed.verify(&keys.rk)?;
        match &body.recipient {
            Some(new) => signed.verify_new_key(new),
            None => Ok(()),
        }
    };
    let tokens = on_connection(
        app,
        token,
        &body.connection_id,
        Party::Recipient,
        &authorize,
        |proof| {
            let change = RecipientChange {
                recipient: body.recipient.clone(),
                sender: body.sender.clone(),
                new_recipient_uri: body.new_recipient_uri,
                new_sender_uri: body.new_sender_uri,
                disabled: body.disabled,
            };
            app.store
                .update_recipient(token, &body.connection_id, proof, change)
        },
    )?;
    Ok(json_response(
        StatusCode::OK,
        &UrisBody {
            recipient_uri: tokens.recipient.map(|t| app.uri(&t)),
            sender_uri: tokens.sender.map(|t| app.uri(&t)),
        },
    ))
}

fn update_sender(
    app: &App,
    signed: &Signed<'_>,
    token: &str,
    body: request::UpdateSender,
) -> Result<Response<Body>, Failure> {
    let authorize = |keys: &Keys| {
        let sk = keys.sk.as_ref().ok_or(Refusal::NoSenderKey)?;
        signed.verify(sk)?;
        match &body.sender {
            Some(new) => signed.verify_new_key(new),
            None => Ok(()),
        }
    };
    let new_su = on_connection(
        app,
        token,
        &body.connection_id,
        Party::Sender,
        &authorize,
        |proof| {
            app.store.update_sender(
                token,
                &body.connection_id,
                proof,
                body.sender.clone(),
                body.new_sender_uri,
            )
        },
    )?;
    Ok(json_response(
        StatusCode::OK,
        &UrisBody {
            recipient_uri: None,
            sender_uri: new_su.map(|t| app.uri(&t)),
        },
    ))
}

/// The signature material of one request.
struct Signed<'r> {
    method: &'r str,
    target: &'r str,
    body: &'r [u8],
    authorization: Result<Vec<u8>, HeaderError>,
    new_key: Result<Vec<u8>, HeaderError>,
    digest: OnceCell<Digest>,
}

impl<'r> Signed<'r> {
    fn new(parts: &'r Parts, target: &'r str, body: &'r [u8]) -> Signed<'r> {
        Signed {
            method: parts.method.as_str(),
            target,
            body,
            authorization: auth::authorization(&parts.headers, HeaderLeniency::default()),
            new_key: auth::new_key_signature(&parts.headers),
            digest: OnceCell::new(),
        }
    }

    fn digest(&self) -> &Digest {
        self.digest
            .get_or_init(|| auth::signing_digest(self.method, self.target, self.body))
    }

    /// `Authorization` verifies with `key` (B-SIG-HDR).
    fn verify(&self, key: &PublicKey) -> Result<(), Refusal> {
        let signature = self
            .authorization
            .as_ref()
            .map_err(|e| Refusal::Unauthorized(format!("the Authorization field {e}")))?;
        if key.verify(self.digest(), signature) {
            Ok(())
        } else {
            Err(Refusal::Unauthorized(
                "the signature does not verify with the required key".into(),
            ))
        }
    }

    /// `EM-New-Key-Signature` verifies with the new key `key` (B-SIG-NEWKEY).
    fn verify_new_key(&self, key: &PublicKey) -> Result<(), Refusal> {
        let signature = self
            .new_key
            .as_ref()
            .map_err(|e| Refusal::Unauthorized(format!("the EM-New-Key-Signature field {e}")))?;
        if key.verify(self.digest(), signature) {
            Ok(())
        } else {
            Err(Refusal::Unauthorized(
                "EM-New-Key-Signature does not verify with the new key".into(),
            ))
        }
    }
}

/// `Content-Type: application/json` (parameters allowed), exactly one field (B-CT-400).
///
/// One case-insensitive comparison of the media type; a MIME crate would add nothing here.
fn check_content_type(headers: &HeaderMap) -> Result<(), Failure> {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let wanted = "send Content-Type: application/json";
    let value = values.next().ok_or_else(|| Failure::bad_request(wanted))?;
    if values.next().is_some() {
        return Err(Failure::bad_request("send exactly one Content-Type field"));
    }
    let media = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim_matches([' ', '\t']));
    match media {
        Some(m) if m.eq_ignore_ascii_case("application/json") => Ok(()),
        _ => Err(Failure::bad_request(wanted)),
    }
}

#[derive(Serialize)]
struct UrisBody {
    #[serde(rename = "recipientURI", skip_serializing_if = "Option::is_none")]
    recipient_uri: Option<String>,
    #[serde(rename = "senderURI", skip_serializing_if = "Option::is_none")]
    sender_uri: Option<String>,
}

#[derive(Serialize)]
struct PageBody<'a> {
    messages: &'a [Message],
    #[serde(rename = "nextMessageID", skip_serializing_if = "Option::is_none")]
    next_message_id: Option<&'a str>,
}

#[derive(Serialize)]
struct DeletedBody {
    deleted: usize,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut s = serializer.serialize_struct("Message", 3)?;
        s.serialize_field("id", &self.id)?;
        s.serialize_field("ts", &self.ts)?;
        s.serialize_field("msg", &self.msg)?;
        s.end()
    }
}

/// A response with `Cache-Control: no-store` and, if given, a JSON body.
fn respond(status: StatusCode, json: Option<Bytes>) -> Response<Body> {
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

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    match serde_json::to_vec(body) {
        Ok(bytes) => respond(status, Some(Bytes::from(bytes))),
        // Serialising these plain structs cannot fail; answer 400 rather than 5xx if it did.
        Err(_) => failure(Failure::bad_request("the response could not be encoded")),
    }
}

fn failure(f: Failure) -> Response<Body> {
    let body = serde_json::to_vec(&ErrorBody { error: &f.text }).unwrap_or_default();
    respond(f.status, Some(Bytes::from(body)))
}
