//! Deliberate deviations from the `simplex-v5` binding, for checking that a test suite
//! catches them.
//!
//! Each [`Fault`] breaks one rule (named by [`Fault::rule`]); where it unavoidably breaks
//! another too, its description says so. They exist only with the cargo feature `faults`;
//! without it every check in the server compiles to `false`.
#![cfg_attr(not(feature = "faults"), allow(dead_code))]

crate::fault_list::fault_list! {
    "simplex-v5", "retrieval-deletes";
    // Statuses and bodies.
    UnknownUri404 = "unknown-uri-404", "V-401", "Requests to URIs that do not exist (never created, deleted, or unknown paths) get 404 instead of 401.";
    WrongSignature403 = "wrong-signature-403", "V-401", "A signature that does not verify with the required key (or a missing one) gets 403 instead of 401.";
    UnauthorizedBodyObject = "unauthorized-body-object", "V-401-BODY", "401 responses carry `{\"error\":\"Unauthorized\"}` instead of the JSON string \"Unauthorized\".";
    OkBodyMissing = "ok-body-missing", "V-OK-BODY", "Secure, delete, delete one and send answer 200 with an empty body instead of \"OK\".";
    NoContentType = "no-content-type", "VB-RESP-CT", "The \"OK\" and \"Unauthorized\" responses have no Content-Type.";
    NoCacheControl = "no-cache-control", "B-CACHE", "Responses have no Cache-Control: no-store.";
    OtherRoleServed = "other-role-served", "VB-ROUTE", "A live URI serves the other role's operations too, verified with the key they need: a retrieve on SU signed with RK succeeds, and a send to RU before SK is set is stored.";
    LiveUriWrongMethod405 = "live-uri-wrong-method-405", "VB-ROUTE", "A method a live URI does not define (GET SU, PUT SU, POST RU, PATCH RU, ...) gets 405 instead of 401, telling anyone which URIs exist.";
    OptionsServed = "options-served", "V-EP-EXH", "OPTIONS on any path answers 204 with Allow and CORS headers.";
    UnauthorizedBeforeBadRequest = "unauthorized-before-bad-request", "VB-ORDER", "A request to a URI that does not exist gets 401 before its syntax is checked (a bad body, query or cookie there gets 401 instead of 400).";
    // Transport.
    ChunkedBodyUncounted = "chunked-body-uncounted", "B-SIZE", "A body without `Content-Length` (chunked) is read whole, whatever its size; declared bodies are still refused from `Content-Length`.";
    IdleCloseStalls = "idle-close-stalls", "B-NO-5XX", "When a connection ends without a request after the head deadline, the server drops every new connection for 30 s (requests on connections already open are still answered).";
    H2StreamClosedAtIdle = "h2-stream-closed-at-idle", "B-NO-5XX", "An HTTP/2 connection is closed once the head deadline has passed since any one of its streams ended, with other streams still in flight.";
    // Syntax (400).
    CookieAccepted = "cookie-accepted", "V-400", "A Cookie header field is ignored instead of refused with 400 (on the WebSocket handshake too).";
    ExtraQueryAccepted = "extra-query-accepted", "V-400", "Query parameters other than fromMessageId on retrieval are ignored.";
    GetBodyAccepted = "get-body-accepted", "V-400", "A non-empty body on GET or DELETE is ignored.";
    BadMessageId401 = "bad-message-id-401", "VB-MID", "A message ID that is not valid under VB-MID (in the path or in fromMessageId) gets 401 instead of 400.";
    // Endpoints.
    CreateBadSignatureAccepted = "create-bad-signature-accepted", "V-CREATE", "Create accepts a missing or invalid self-signature.";
    UriKeyHash = "uri-key-hash", "V-URI", "RU begins with the hex SHA-256 of the RK DER.";
    SecondSecureReplaces = "second-secure-replaces", "V-SECURE", "A second secure with another key gets 200 and replaces SK.";
    DeleteLeavesUris = "delete-leaves-uris", "V-DEL-AFTER", "Deleting a connection removes its messages, but RU and SU keep working on an empty connection.";
    PageSizePlusOne = "page-size-plus-one", "V-RETR", "A page holds PAGE_SIZE + 1 messages when that many remain.";
    NextIdLastReturned = "next-id-last-returned", "V-RETR", "nextMessageID names the last message of the page instead of the first one after it.";
    SizeBase64Length = "size-base64-length", "V-RETR-SIZE", "`size` is the length of the base64 `msg` instead of the number of decoded bytes.";
    LargeMsgIncluded = "large-msg-included", "V-RETR-LARGE", "Pages include `msg` even when size > LARGE_MESSAGE.";
    RetrievalDeletes = "retrieval-deletes", "V-RETR-KEEP", "A GET of RU/messages removes the messages it returned.";
    ForeignMessageIdAccepted = "foreign-message-id-accepted", "V-RETR-401", "A fromMessageId of another connection is accepted: the page starts at the earliest message.";
    DeleteMessageTwiceOk = "delete-message-twice-ok", "V-DELM", "Deleting a message ID that is not in the connection (one already deleted included) answers 200 \"OK\" and deletes nothing.";
    SendExtraPropertyAccepted = "send-extra-property-accepted", "V-SEND", "A send body may carry properties besides `msg` (they are ignored).";
    UnsignedSendAfterSecure = "unsigned-send-after-secure", "V-SEND-OPEN", "Once SK is set, a send without Authorization is still accepted.";
    // Timing.
    SkipVerifyUnknownUri = "skip-verify-unknown-uri", "V-TIMING", "Failures on URIs that do not exist answer 401 without verifying a signature (faster than the other failures).";
    // WebSocket API.
    NoHello = "no-hello", "VB-WS-HELLO", "No hello is sent; subscribe signatures are verified over an empty nonce.";
    NonceUnsigned = "nonce-unsigned", "VB-WS-SIG", "A subscribe signed with the nonce of any earlier session of this server is accepted: captured subscribes can be replayed.";
    SubBadSignatureNoOk = "sub-bad-signature-no-ok", "V-WS-SUB", "A subscribe with a bad signature on a live URI is answered without `ok` (an unknown URI still gets ok false): the answers differ.";
    BacklogNotPushed = "backlog-not-pushed", "VB-WS-BACKLOG", "A subscribe pushes only messages that arrive later, not those already in the connection.";
    BacklogReversed = "backlog-reversed", "V-WS-ORDER", "The backlog of a subscribe is pushed newest first.";
    DoublePush = "double-push", "V-WS-ORDER", "A message that arrives while the backlog of a new subscription is being pushed is pushed twice in that subscription.";
    PushAfterUnsubscribe = "push-after-unsubscribe", "V-WS-UNSUB", "After unsubscribe answered ok true, new messages are still pushed.";
    DeleteWithoutSubscription = "delete-without-subscription", "V-WS-DEL", "delete_message succeeds (ok true, the message is deleted) in a session not subscribed to that URI.";
    InvalidExtraFirst = "invalid-extra-first", "V-WS-INVALID", "The invalid pointer names an extra member before the missing or malformed required ones.";
    IdEchoedNonString = "id-echoed-non-string", "VB-WS-ID", "Replies carry the request's `id` whatever its type (a number is echoed as a number) instead of null.";
    RestDeleteKeepsSubscriptions = "rest-delete-keeps-subscriptions", "VB-WS-END", "After the connection is deleted over REST, unsubscribe still answers ok true.";
    PingServed = "ping-served", "V-WS-SCOPE", "A request of type `ping` is answered with `{\"id\", \"type\": \"pong\"}` instead of invalid.";
    UriCaseInsensitive = "uri-case-insensitive", "VB-WS-URI", "recipientURI is compared case-insensitively (subscribe, unsubscribe, delete_message).";
    BinaryFrameCrash = "binary-frame-crash", "V-WS-JSON", "A binary message makes the session's handler fail: the connection is dropped without a reply or close frame (other sessions live on).";
    LargeMessageCrash = "large-message-crash", "VB-WS-LIMIT", "A message over MAX_WEBSOCKET_MESSAGE makes the session's handler fail: the connection is dropped without a reply or close frame.";
}

#[cfg(all(test, feature = "faults"))]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_rules_and_descriptions_are_complete_and_unique() {
        assert!(Fault::ALL.len() < 128, "Faults is a u128 bit set");
        let names: HashSet<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), Fault::ALL.len());
        for &fault in Fault::ALL {
            assert_eq!(fault.name().parse::<Fault>(), Ok(fault));
            let json = serde_json::to_string(&fault).unwrap();
            assert_eq!(json, format!("\"{}\"", fault.name()));
            assert!(
                fault.rule().starts_with("V-")
                    || fault.rule().starts_with("VB-")
                    || fault.rule().starts_with("B-"),
                "{fault}"
            );
            assert!(fault.description().ends_with('.'), "{fault}");
        }
        assert!("no-such-fault".parse::<Fault>().is_err());
    }

    #[test]
    fn fault_sets() {
        let set = Faults::of(&[Fault::RetrievalDeletes, Fault::DoublePush]);
        assert!(set.on(Fault::RetrievalDeletes) && set.on(Fault::DoublePush));
        assert!(!set.on(Fault::NoHello));
        assert!(!Faults::default().on(Fault::RetrievalDeletes));
    }
}
