//! One HTTP request through the order of checks of binding §3.1: route, body (size,
//! Content-Type, JSON, schema), connection, authorisation, state.
//!
//! Fault injection branches are marked `app.fault(Fault::...)`; without the `faults` feature
//! they are constant `false`.

use std::cell::OnceCell;
use std::sync::Arc;

use aws_lc_rs::digest::Digest;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderValue, ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE,
    SET_COOKIE,
};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode, Uri};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::body::{MediaStrictness, Unread};
use crate::edge_v1::auth::{self, HeaderError, HeaderLeniency};
use crate::edge_v1::faults::{Fault, Faults};
use crate::edge_v1::json::{self, Strictness};
use crate::edge_v1::keys::PublicKey;
use crate::edge_v1::request::{self, SchemaLeniency, SENDER_PROHIBITED};
use crate::edge_v1::routes::{self, Endpoint, Op, Routes, Target};
use crate::edge_v1::store::{
    Keys, Message, NewTokens, Party, Proof, RecipientChange, Refusal, Store,
};

/// Response body type.
pub(crate) type Body = Full<Bytes>;

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
    /// Deliberate deviations (none unless the `faults` feature is on).
    pub faults: Faults,
}

impl App {
    /// The absolute URI of the connection URI with `token`.
    fn uri(&self, token: &str) -> String {
        let path = self.routes.token_path(token);
        if self.fault(Fault::UrisOtherOrigin) {
            if let Some((head, port)) = self.origin.rsplit_once(':') {
                if let Ok(p) = port.parse::<u16>() {
                    return format!("{head}:{}{path}", p.wrapping_add(1));
                }
            }
        }
        if self.fault(Fault::UrisUserinfo) {
            if let Some((scheme, rest)) = self.origin.split_once("://") {
                return format!("{scheme}://edge:secret@{rest}{path}");
            }
        }
        format!("{}{}", self.origin, path)
    }

    #[cfg_attr(mutants, mutants::skip)] // fault injection only
    fn fault(&self, fault: Fault) -> bool {
        self.faults.on(fault)
    }

    fn schema(&self) -> SchemaLeniency {
        SchemaLeniency {
            unknown_properties: self.fault(Fault::UnknownPropertyAccepted),
            message_properties: self.fault(Fault::MessageExtraPropertyAccepted),
            empty_messages: self.fault(Fault::EmptyMessagesAccepted),
            null_as_absent: self.fault(Fault::NullAsAbsent),
            lax_cid: self.fault(Fault::CidFormatLax),
            lax_msg: self.fault(Fault::MsgNotBase64Accepted),
            keys: crate::edge_v1::keys::KeyLeniency {
                pkcs1: self.fault(Fault::Pkcs1KeyAccepted),
                small: self.fault(Fault::SmallKeyAccepted),
                any_algorithm: self.fault(Fault::KeyAlgorithmUnchecked),
                lax_base64: self.fault(Fault::KeyBase64Lax),
            },
        }
    }

    /// Keys that may sign requests to `RU…`.
    fn recipient_keys<'k>(&self, keys: &'k Keys) -> impl Iterator<Item = &'k PublicKey> {
        let sk = keys
            .sk
            .as_deref()
            .filter(|_| self.fault(Fault::SkAcceptedOnRu));
        std::iter::once(&*keys.rk)
            .chain(keys.old_rks.iter().map(|k| &**k))
            .chain(sk)
    }

    /// Keys that may sign requests to `SU…` (none while no `SK` is set).
    fn sender_keys<'k>(&self, keys: &'k Keys) -> impl Iterator<Item = &'k PublicKey> {
        let rk = Some(&*keys.rk).filter(|_| keys.sk.is_some() && self.fault(Fault::RkAcceptedOnSu));
        keys.sk
            .as_deref()
            .into_iter()
            .chain(keys.old_sks.iter().map(|k| &**k))
            .chain(rk)
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

/// Serves one request. Never panics on any input (without fault injection); every response
/// has `Cache-Control: no-store` and none sets a cookie.
pub(crate) async fn handle(app: Arc<App>, request: Request<Incoming>) -> Response<Body> {
    let head = request.method() == Method::HEAD;
    let mut response = serve(&app, request).await;
    if head {
        // A response to HEAD has no body (RFC 9110 §9.3.2); HTTP/2 resets a stream that sends one.
        *response.body_mut() = Full::new(Bytes::new());
    }
    if app.fault(Fault::NoCacheControl) {
        response.headers_mut().remove(CACHE_CONTROL);
    }
    if app.fault(Fault::SetsCookie) {
        let cookie = HeaderValue::from_static("edge-session=1; Path=/; HttpOnly");
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}

async fn serve(app: &App, request: Request<Incoming>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let target = request_target(&parts.uri).to_owned();
    let path = target
        .split_once('?')
        .map_or(target.as_str(), |(path, _)| path);

    let Some(endpoint) = resolve(app, path) else {
        if let Some(response) = deleted_route(app, path, &parts.method) {
            return response;
        }
        return failure(Failure::new(StatusCode::NOT_FOUND, "unknown URI"));
    };
    let op = match routes::select(endpoint, &parts.method) {
        Ok(op) => op,
        Err(_)
            if app.fault(Fault::SenderDeletesMessages)
                && parts.method == Method::DELETE
                && endpoint == Endpoint::Messages(Party::Sender) =>
        {
            Op::SenderDeleteMessages
        }
        Err(_)
            if app.fault(Fault::GetRu200)
                && parts.method == Method::GET
                && endpoint == Endpoint::Connection(Party::Recipient) =>
        {
            return respond(StatusCode::OK, Some(Bytes::from_static(b"{}")));
        }
        Err(allow) => return method_not_allowed(allow),
    };
    let too_large = if app.fault(Fault::Oversize500) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::PAYLOAD_TOO_LARGE
    };
    let limit =
        if app.fault(Fault::ChunkedBodyUncounted) && !parts.headers.contains_key(CONTENT_LENGTH) {
            usize::MAX
        } else {
            app.body_limit
        };
    let bytes = match read_body(body, limit, too_large).await {
        Ok(bytes) => bytes,
        Err(refused) => return refused,
    };
    if app.fault(Fault::LimitAfterBody) && bytes.len() >= app.body_limit {
        return refused_as_too_large(limit, too_large);
    }
    match dispatch(app, op, &parts, &target, &bytes) {
        Ok(response) => response,
        Err(f) => failure(f),
    }
}

/// The request-target's path and query exactly as received (scheme and authority of an
/// absolute-form target dropped).
fn request_target(uri: &Uri) -> &str {
    uri.path_and_query().map_or("/", |pq| pq.as_str())
}

/// `deleted-uris-routed`: a method `RU` or `SU` of a deleted connection does not define gets
/// 405, as if the URI still existed.
#[cfg_attr(mutants, mutants::skip)] // fault injection only
fn deleted_route(app: &App, path: &str, method: &Method) -> Option<Response<Body>> {
    let Some(Target::Connection {
        token,
        messages: false,
    }) = app.routes.target(path)
    else {
        return None;
    };
    let endpoint = Endpoint::Connection(app.store.deleted_party(token)?);
    let allow = routes::select(endpoint, method).err()?;
    Some(method_not_allowed(allow))
}

/// 405 with `Allow: allow`.
fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = failure(Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("this URI accepts {allow}"),
    ));
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
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

/// Reads the body (see [`crate::body::read_limited`]), answering 413 (or `too_large`) for
/// one over `limit`.
async fn read_body(
    body: Incoming,
    limit: usize,
    too_large: StatusCode,
) -> Result<Bytes, Response<Body>> {
    match crate::body::read_limited(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(Unread::TooLarge) => Err(refused_as_too_large(limit, too_large)),
        Err(Unread::Timeout) => Err(failure(Failure::new(
            StatusCode::REQUEST_TIMEOUT,
            "the body took too long to arrive",
        ))),
        Err(Unread::Broken) => Err(failure(Failure::bad_request("the body could not be read"))),
    }
}

/// The answer to a body over `limit`: `too_large` (413), and the connection closes.
fn refused_as_too_large(limit: usize, too_large: StatusCode) -> Response<Body> {
    let mut response = failure(Failure::new(
        too_large,
        format!("the body is larger than {limit} bytes"),
    ));
    // Whatever is left unread makes the connection unusable for another request.
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Checks the body and runs `op` (steps 2 to 5 of §3.1).
fn dispatch(
    app: &App,
    op: Op,
    parts: &Parts,
    target: &str,
    body: &[u8],
) -> Result<Response<Body>, Failure> {
    if !app.fault(Fault::ContentTypeIgnored) {
        let strictness = MediaStrictness {
            refuse_parameters: app.fault(Fault::ContentTypeParamsRefused),
            case_sensitive: app.fault(Fault::ContentTypeCaseSensitive),
        };
        check_content_type(&parts.headers, strictness)?;
    }
    let strictness = Strictness {
        reject_duplicates: !app.fault(Fault::DuplicateMembersAccepted),
        allow_trailing: app.fault(Fault::TrailingBytesAccepted),
        panic_deeper_than: app.fault(Fault::DeepJsonPanics).then_some(32),
    };
    let mut map =
        json::parse_object(body, strictness).map_err(|e| Failure::bad_request(e.to_string()))?;
    if app.fault(Fault::PageSizeZeroPanics) && matches!(op, Op::Retrieve | Op::DeleteMessages) {
        assert!(
            map.get("pageSize") != Some(&Value::from(0)),
            "pageSize is 0"
        );
    }
    // The benchmark's baseline: nothing below (signature, schema, store) applies to it.
    if op == Op::Echo {
        return Ok(echo(body));
    }
    let schema = app.schema();
    let token = connection_token(app, target);
    let signed = Signed::new(app, parts, target, body, token);
    let op = if app.store.is_shared(token) {
        shared_op(app, op, &map, &signed, token)
    } else {
        op
    };
    match op {
        Op::Echo => Ok(echo(body)),
        Op::Create => {
            let body = request::Create::parse(map, &schema).map_err(Failure::bad_request)?;
            create(app, &signed, body)
        }
        Op::UpdateRecipient => {
            let body =
                request::UpdateRecipient::parse(map, &schema).map_err(Failure::bad_request)?;
            update_recipient(app, &signed, token, body)
        }
        Op::DeleteConnection => {
            let body =
                request::DeleteConnection::parse(map, &schema).map_err(Failure::bad_request)?;
            let cid = body.connection_id.as_str();
            let authorize = |keys: &Keys| signed.verify_any(app.recipient_keys(keys));
            on_connection(app, token, cid, Party::Recipient, &authorize, |proof| {
                app.store.delete(token, cid, proof)
            })?;
            let empty = app
                .fault(Fault::DeleteReturnsBody)
                .then(|| Bytes::from_static(b"{}"));
            Ok(respond(StatusCode::OK, empty))
        }
        Op::Retrieve => {
            let body = request::Retrieve::parse(map, &schema).map_err(Failure::bad_request)?;
            if app.fault(Fault::LargePageSizePanics) {
                // Valid (≤ 2^31−1, checked by the schema), yet too much for this handler.
                assert!(
                    body.page_size.is_none_or(|n| n < LARGE_PAGE_SIZE),
                    "pageSize {:?} is too large",
                    body.page_size
                );
            }
            let cid = body.connection_id.as_str();
            let authorize = |keys: &Keys| signed.verify_any(app.recipient_keys(keys));
            let page = on_connection(app, token, cid, Party::Recipient, &authorize, |proof| {
                app.store.retrieve(
                    token,
                    cid,
                    proof,
                    body.page_size,
                    body.from_message_id.as_deref(),
                    body.keep_messages,
                )
            })?;
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
            let cid = body.connection_id.as_str();
            let authorize = |keys: &Keys| signed.verify_any(app.recipient_keys(keys));
            let deleted = on_connection(app, token, cid, Party::Recipient, &authorize, |proof| {
                app.store.delete_messages(
                    token,
                    cid,
                    proof,
                    body.page_size,
                    body.from_message_id.as_deref(),
                )
            })?;
            Ok(json_response(StatusCode::OK, &DeletedBody { deleted }))
        }
        Op::SenderDeleteMessages => {
            let body =
                request::DeleteMessages::parse(map, &schema).map_err(Failure::bad_request)?;
            sender_delete_messages(app, &signed, token, body)
        }
        Op::UpdateSender => {
            if let Some(name) = SENDER_PROHIBITED.iter().find(|&&n| map.contains_key(n)) {
                if app.fault(Fault::SupdProhibitedIgnored) {
                    map.retain(|name, _| !SENDER_PROHIBITED.contains(&name.as_str()));
                } else {
                    let status = if app.fault(Fault::SupdProhibited400) {
                        StatusCode::BAD_REQUEST
                    } else {
                        StatusCode::UNAUTHORIZED
                    };
                    let why = format!("{name} may not be sent to the sender URI");
                    return Err(Failure::new(status, why));
                }
            }
            let body = request::UpdateSender::parse(map, &schema).map_err(Failure::bad_request)?;
            update_sender(app, &signed, token, body)
        }
        Op::Send => {
            let partial = app.fault(Fault::SendNotAtomic).then(|| map.clone());
            let body = match request::Send::parse(map, &schema) {
                Ok(body) => body,
                Err(e) => {
                    if let Some(map) = partial {
                        store_valid_prefix(app, &signed, token, map, &schema);
                    }
                    return Err(Failure::bad_request(e));
                }
            };
            if app.fault(Fault::LargestSend500) && is_largest_send(&body.messages) {
                return Err(Failure::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "send buffer overflow",
                ));
            }
            send(app, &signed, token, &body.connection_id, body.messages)?;
            let empty = app
                .fault(Fault::SendReturnsBody)
                .then(|| Bytes::from_static(b"{}"));
            Ok(respond(StatusCode::OK, empty))
        }
    }
}

/// The smallest `pageSize` that `large-page-size-panics` fails on.
const LARGE_PAGE_SIZE: u64 = 1_000_000;

/// Whether a send is of the largest size B-SIZE asks servers to accept: 16 messages, or a
/// `msg` of 16,384 characters (`largest-send-500`).
#[cfg_attr(mutants, mutants::skip)] // fault injection only
fn is_largest_send(messages: &[String]) -> bool {
    messages.len() == 16 || messages.iter().any(|m| m.len() == 16_384)
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
    if !app.fault(Fault::CreateNoSigCheck) {
        signed.verify_any([&*body.recipient])?;
    }
    let sender = body
        .sender
        .filter(|_| !app.fault(Fault::CreateSenderIgnored));
    let (ru, su) = app
        .store
        .create(&body.connection_id, body.recipient, sender, body.disabled)?;
    let status = if app.fault(Fault::CreateReturns200) {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(json_response(
        status,
        &UrisBody {
            recipient_uri: Some(app.uri(&ru)),
            sender_uri: Some(app.uri(&su)),
            connection_id: app
                .fault(Fault::CreateExtraProperties)
                .then_some(body.connection_id),
        },
    ))
}

fn update_recipient(
    app: &App,
    signed: &Signed<'_>,
    token: &str,
    body: request::UpdateRecipient,
) -> Result<Response<Body>, Failure> {
    let cid = body.connection_id.as_str();
    let recipient_ok = |keys: &Keys| signed.verify_any(app.recipient_keys(keys));
    let authorize = |keys: &Keys| {
        recipient_ok(keys)?;
        match &body.recipient {
            Some(new) => new_key_proof(app, signed, new, Fault::NewkeySigOptional),
            None => Ok(()),
        }
    };
    let change = || RecipientChange {
        recipient: body.recipient.clone(),
        sender: body.sender.clone(),
        new_recipient_uri: body.new_recipient_uri,
        new_sender_uri: body.new_sender_uri,
        disabled: body.disabled,
    };
    let result = on_connection(app, token, cid, Party::Recipient, &authorize, |proof| {
        app.store.update_recipient(token, cid, proof, change())
    });
    if matches!(result, Err(Refusal::Unauthorized(_)))
        && body.recipient.is_some()
        && app.fault(Fault::RupdNotAtomic)
    {
        // Apply the URI and disabled changes although the new-key proof failed.
        let _ = on_connection(app, token, cid, Party::Recipient, &recipient_ok, |proof| {
            let partial = RecipientChange {
                recipient: None,
                sender: None,
                new_recipient_uri: body.new_recipient_uri,
                new_sender_uri: false,
                disabled: body.disabled,
            };
            app.store.update_recipient(token, cid, proof, partial)
        });
    }
    let tokens = result?;
    if tokens == NewTokens::default() && app.fault(Fault::RupdEmptyBody) {
        return Ok(respond(StatusCode::OK, None));
    }
    Ok(json_response(
        StatusCode::OK,
        &UrisBody {
            recipient_uri: tokens.recipient.map(|t| app.uri(&t)),
            sender_uri: tokens.sender.map(|t| app.uri(&t)),
            connection_id: None,
        },
    ))
}

fn update_sender(
    app: &App,
    signed: &Signed<'_>,
    token: &str,
    body: request::UpdateSender,
) -> Result<Response<Body>, Failure> {
    let cid = body.connection_id.as_str();
    let authorize = |keys: &Keys| {
        match &keys.sk {
            None if app.fault(Fault::SupdWithoutSkOk) => return Ok(()),
            None => return Err(Refusal::NoSenderKey),
            Some(_) => signed.verify_any(app.sender_keys(keys))?,
        }
        match &body.sender {
            Some(new) => new_key_proof(app, signed, new, Fault::SenderNewkeySigOptional),
            None => Ok(()),
        }
    };
    let new_su = on_connection(app, token, cid, Party::Sender, &authorize, |proof| {
        app.store
            .update_sender(token, cid, proof, body.sender.clone(), body.new_sender_uri)
    })?
    .filter(|_| !app.fault(Fault::SupdUriNotReturned));
    if new_su.is_none() && app.fault(Fault::Supd204) {
        return Ok(respond(StatusCode::NO_CONTENT, None));
    }
    Ok(json_response(
        StatusCode::OK,
        &UrisBody {
            recipient_uri: None,
            sender_uri: new_su.map(|t| app.uri(&t)),
            connection_id: None,
        },
    ))
}

/// `EM-New-Key-Signature` by `new` (B-SIG-NEWKEY); `optional` is the fault that waives it.
fn new_key_proof(
    app: &App,
    signed: &Signed<'_>,
    new: &PublicKey,
    optional: Fault,
) -> Result<(), Refusal> {
    match &signed.new_key {
        Err(HeaderError::Missing) if app.fault(optional) => Ok(()),
        Ok(_) if optional == Fault::NewkeySigOptional && app.fault(Fault::NewkeySigUnchecked) => {
            Ok(())
        }
        _ => signed.verify_new_key(new),
    }
}

/// POST `SU/messages` after the schema: authorisation, then the store.
fn send(
    app: &App,
    signed: &Signed<'_>,
    token: &str,
    cid: &str,
    mut messages: Vec<String>,
) -> Result<(), Refusal> {
    if app.fault(Fault::DisabledCheckedFirst) && app.store.is_disabled(token, cid) {
        return Err(Refusal::Disabled);
    }
    let unsigned = matches!(signed.authorization, Err(HeaderError::Missing));
    let authorize = |keys: &Keys| match &keys.sk {
        Some(_) if unsigned && app.fault(Fault::UnsignedSendAfterSecure) => Ok(()),
        Some(_) => signed.verify_any(app.sender_keys(keys)),
        None if !unsigned && app.fault(Fault::OpenSendVerifies) => Err(Refusal::Unauthorized(
            "no sender key is set to verify the Authorization field".into(),
        )),
        // S-G-OPEN: without SK the Authorization field is not looked at.
        None => Ok(()),
    };
    on_connection(app, token, cid, Party::Sender, &authorize, |proof| {
        app.store.send(token, cid, proof, &mut messages)
    })
}

/// `sender-deletes-messages`: DELETE `SU/messages` deletes as DELETE `RU/messages` does,
/// authorised as a send is.
#[cfg_attr(mutants, mutants::skip)] // fault injection only
fn sender_delete_messages(
    app: &App,
    signed: &Signed<'_>,
    token: &str,
    body: request::DeleteMessages,
) -> Result<Response<Body>, Failure> {
    let cid = body.connection_id.as_str();
    let ru = app
        .store
        .tokens_of(token)
        .map(|(ru, _)| ru)
        .unwrap_or_default();
    let authorize = |keys: &Keys| match &keys.sk {
        Some(_) => signed.verify_any(app.sender_keys(keys)),
        None => Ok(()),
    };
    let deleted = on_connection(app, token, cid, Party::Sender, &authorize, |proof| {
        app.store.delete_messages(
            &ru,
            cid,
            proof,
            body.page_size,
            body.from_message_id.as_deref(),
        )
    })?;
    Ok(json_response(StatusCode::OK, &DeletedBody { deleted }))
}

/// `send-not-atomic`: stores the valid messages before the first invalid one.
#[cfg_attr(mutants, mutants::skip)] // fault injection only
fn store_valid_prefix(
    app: &App,
    signed: &Signed<'_>,
    token: &str,
    mut map: Map<String, Value>,
    schema: &SchemaLeniency,
) {
    let Some(Value::String(cid)) = map.remove("connectionID") else {
        return;
    };
    let Some(Value::Array(items)) = map.remove("messages") else {
        return;
    };
    let prefix: Vec<String> = items
        .into_iter()
        .enumerate()
        .map_while(|(i, item)| request::message(i, item, schema).ok())
        .collect();
    if !prefix.is_empty() {
        let _ = send(app, signed, token, &cid, prefix);
    }
}

/// `ru-equals-su`: one URI serves both parties; tell the operation apart.
#[cfg_attr(mutants, mutants::skip)] // fault injection only
fn shared_op(app: &App, op: Op, map: &Map<String, Value>, signed: &Signed<'_>, token: &str) -> Op {
    match op {
        Op::Retrieve if map.contains_key("messages") => Op::Send,
        Op::UpdateRecipient => {
            let cid = map
                .get("connectionID")
                .and_then(Value::as_str)
                .unwrap_or("");
            let by_recipient = app
                .store
                .keys(token, cid, Party::Recipient)
                .is_ok_and(|(keys, _)| signed.verify_any([&*keys.rk]).is_ok());
            if by_recipient {
                Op::UpdateRecipient
            } else {
                Op::UpdateSender
            }
        }
        other => other,
    }
}

/// The signature material of one request.
struct Signed<'r> {
    method: &'r str,
    target: &'r str,
    body: &'r [u8],
    authorization: Result<Vec<u8>, HeaderError>,
    new_key: Result<Vec<u8>, HeaderError>,
    digest: OnceCell<Digest>,
    /// Other paths a signature is accepted for (`sig-ignores-path` only; else empty).
    #[cfg_attr(not(feature = "faults"), allow(dead_code))]
    other_paths: Vec<String>,
    /// The request goes to SU or SU/messages (`sender-pkcs1v15-accepted` only; else false).
    #[cfg_attr(not(feature = "faults"), allow(dead_code))]
    to_sender: bool,
    #[cfg_attr(not(feature = "faults"), allow(dead_code))]
    faults: Faults,
}

impl<'r> Signed<'r> {
    fn new(
        app: &App,
        parts: &'r Parts,
        target: &'r str,
        body: &'r [u8],
        token: &str,
    ) -> Signed<'r> {
        let leniency = HeaderLeniency {
            any_scheme: app.fault(Fault::AuthAnyScheme),
            first_of_many: app.fault(Fault::AuthFirstOfMany),
            lax_base64: app.fault(Fault::SigBase64Lax),
        };
        let to_sender = app.fault(Fault::SenderPkcs1v15Accepted)
            && app.store.party(token) == Some(Party::Sender);
        let mut other_paths = Vec::new();
        if app.fault(Fault::SigIgnoresPath) {
            other_paths.push(app.routes.create_path().to_owned());
            if let Some((ru, su)) = app.store.tokens_of(token) {
                for t in [ru, su] {
                    let path = app.routes.token_path(&t);
                    other_paths.push(format!("{path}/messages"));
                    other_paths.push(path);
                }
            }
        }
        Signed {
            method: parts.method.as_str(),
            target,
            body,
            authorization: auth::authorization(&parts.headers, leniency),
            new_key: auth::new_key_signature(&parts.headers, leniency),
            digest: OnceCell::new(),
            other_paths,
            to_sender,
            faults: app.faults,
        }
    }

    fn digest(&self) -> &Digest {
        self.digest
            .get_or_init(|| auth::signing_digest(self.method, self.target, self.body))
    }

    /// Whether `signature` by `key` covers this request.
    fn accepts(&self, key: &PublicKey, signature: &[u8]) -> bool {
        if key.verify(self.digest(), signature) {
            return true;
        }
        #[cfg(feature = "faults")]
        {
            let request = crate::edge_v1::faults::SignedRequest {
                method: self.method,
                target: self.target,
                body: self.body,
                other_paths: &self.other_paths,
                to_sender: self.to_sender,
            };
            crate::edge_v1::faults::accepts_leniently(
                self.faults,
                key,
                self.digest(),
                &request,
                signature,
            )
        }
        #[cfg(not(feature = "faults"))]
        false
    }

    /// `Authorization` verifies with one of `keys` (B-SIG-HDR).
    fn verify_any<'k>(&self, keys: impl IntoIterator<Item = &'k PublicKey>) -> Result<(), Refusal> {
        let signature = self
            .authorization
            .as_ref()
            .map_err(|e| Refusal::Unauthorized(format!("the Authorization field {e}")))?;
        if keys.into_iter().any(|key| self.accepts(key, signature)) {
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
        if self.accepts(key, signature) {
            Ok(())
        } else {
            Err(Refusal::Unauthorized(
                "EM-New-Key-Signature does not verify with the new key".into(),
            ))
        }
    }
}

/// `Content-Type: application/json` (parameters allowed), exactly one field (B-CT-400).
fn check_content_type(headers: &HeaderMap, strictness: MediaStrictness) -> Result<(), Failure> {
    crate::body::check_content_type(headers, strictness).map_err(Failure::bad_request)
}

#[derive(Serialize)]
struct UrisBody {
    #[serde(rename = "recipientURI", skip_serializing_if = "Option::is_none")]
    recipient_uri: Option<String>,
    #[serde(rename = "senderURI", skip_serializing_if = "Option::is_none")]
    sender_uri: Option<String>,
    /// Only under the `create-extra-properties` fault.
    #[serde(rename = "connectionID", skip_serializing_if = "Option::is_none")]
    connection_id: Option<String>,
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
        let counted = self.retrieved > 0;
        let mut s = serializer.serialize_struct("Message", 3 + usize::from(counted))?;
        s.serialize_field("id", &self.id)?;
        s.serialize_field("ts", &self.ts)?;
        s.serialize_field("msg", &self.msg)?;
        if counted {
            s.serialize_field("retrieved", &self.retrieved)?;
        }
        s.end()
    }
}

/// The echo endpoint's answer: the request body.
#[cfg_attr(mutants, mutants::skip)] // benchmark only
fn echo(body: &[u8]) -> Response<Body> {
    respond(StatusCode::OK, Some(Bytes::copy_from_slice(body)))
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
