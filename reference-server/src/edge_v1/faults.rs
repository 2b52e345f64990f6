//! Deliberate deviations from the binding, for checking that a test suite catches them.
//!
//! Each [`Fault`] breaks exactly one rule (named by [`Fault::rule`]). They exist only with the
//! cargo feature `faults`; without it every check in the server compiles to `false` and the
//! released `edge-server` has none of them.
#![cfg_attr(not(feature = "faults"), allow(dead_code))]

crate::fault_list::fault_list! {
    "edge-v1", "accept-any-salt";
    // Signatures.
    CreateNoSigCheck = "create-no-sig-check", "S-CREATE-SIGN", "Create accepts a missing or invalid signature.";
    AcceptPkcs1v15 = "accept-pkcs1v15", "B-SIG-ALG", "Signatures made with PKCS#1 v1.5 (SHA-256) are accepted too.";
    AcceptAnySalt = "accept-any-salt", "B-SIG-ALG", "RSA-PSS signatures with any salt length from 0 to 64 bytes (or the maximum) are accepted.";
    SenderPkcs1v15Accepted = "sender-pkcs1v15-accepted", "S-CRYPTO-PSS", "Requests to SU and SU/messages signed with PKCS#1 v1.5 (SHA-256) are accepted (the sender endpoints verify with another scheme).";
    SigIgnoresPath = "sig-ignores-path", "B-SIG-INPUT", "A signature made with an empty PATH, or with the path of another endpoint of the server for this connection (CE, RU, RU/messages, SU, SU/messages), is accepted.";
    SigIgnoresMethod = "sig-ignores-method", "B-SIG-INPUT", "A signature made with an empty METHOD or any other common method (GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS) is accepted.";
    SigIgnoresBody = "sig-ignores-body", "B-SIG-INPUT", "A signature made over an empty BODY (or `{}`) is accepted whatever the body.";
    SigIgnoresQuery = "sig-ignores-query", "B-SIG-INPUT", "A signature made over the path without its query is accepted.";
    AuthAnyScheme = "auth-any-scheme", "B-SIG-HDR", "Any scheme name is accepted in Authorization (`Bearer <sig>`).";
    AuthFirstOfMany = "auth-first-of-many", "B-SIG-HDR", "With two Authorization fields, the first is used instead of refusing the request.";
    SigBase64Lax = "sig-base64-lax", "B-ENC-B64", "Signature tokens (Authorization, EM-New-Key-Signature) are decoded leniently: the base64url alphabet and missing padding are accepted.";
    NewkeySigOptional = "newkey-sig-optional", "B-SIG-NEWKEY", "PUT RU with `recipient` needs no EM-New-Key-Signature (one that is present is still checked).";
    NewkeySigUnchecked = "newkey-sig-unchecked", "B-SIG-NEWKEY", "PUT RU with `recipient` needs EM-New-Key-Signature, but its value is not verified.";
    SenderNewkeySigOptional = "sender-newkey-sig-optional", "B-SIG-NEWKEY", "PUT SU with `sender` needs no EM-New-Key-Signature (one that is present is still checked).";
    OpenSendVerifies = "open-send-verifies", "S-G-OPEN", "While no SK is set, a send that carries an Authorization field is refused with 401.";
    UnsignedSendAfterSecure = "unsigned-send-after-secure", "S-G-SIGNED-ONLY", "Once SK is set, a send without Authorization is still accepted.";
    SkAcceptedOnRu = "sk-accepted-on-ru", "S-G-KEYS", "Requests to RU and RU/messages signed with SK are accepted.";
    RkAcceptedOnSu = "rk-accepted-on-su", "S-G-KEYS", "Requests to SU and SU/messages signed with RK are accepted.";
    // Where URIs point.
    UrisOtherOrigin = "uris-other-origin", "B-URI-ORIGIN", "Returned URIs name another port of the server's host (its port + 1), where nothing of it listens.";
    UrisUserinfo = "uris-userinfo", "B-URI-ORIGIN", "Returned URIs carry userinfo (`edge:secret@`).";
    // Rotation and invalidation.
    OldRkAlive = "old-rk-alive", "S-RUPD-OLDKEY", "After RK is replaced, the old RK still signs recipient requests.";
    OldSkAliveRecipientChange = "old-sk-alive-recipient-change", "S-RUPD-OLDKEY", "After SK is replaced through PUT RU, the old SK still signs sender requests.";
    OldSkAliveSenderChange = "old-sk-alive-sender-change", "S-SUPD-OLDKEY", "After SK is replaced through PUT SU, the old SK still signs sender requests.";
    OldRuAlive = "old-ru-alive", "S-RUPD-OLDURI", "After a new RU, the old RU still works.";
    OldSuAliveRecipientChange = "old-su-alive-recipient-change", "S-RUPD-OLDURI", "After a new SU requested through PUT RU, the old SU still works.";
    OldSuAliveSenderChange = "old-su-alive-sender-change", "S-SUPD-OLDURI", "After a new SU requested through PUT SU, the old SU still works.";
    ThirdSuRotationRevivesFirst = "third-su-rotation-revives-first", "S-PRIV-NOHIST-KEYS", "On the third SU rotation of a connection, its first SU works again.";
    SecondRkRotationRevivesFirst = "second-rk-rotation-revives-first", "S-PRIV-NOHIST-KEYS", "On the second RK rotation of a connection, its first RK signs again.";
    ThirdRuRotationRevivesFirst = "third-ru-rotation-revives-first", "S-RUPD-PERM", "On the third RU rotation of a connection, its first RU works again (a copy kept since the creation is restored).";
    RupdFirstNotEnforced = "rupd-first-not-enforced", "S-RUPD-FIRST", "A first PUT RU without `sender` succeeds.";
    RupdUrisAlwaysReturned = "rupd-uris-always-returned", "S-RUPD-200", "PUT RU returns recipientURI and senderURI even when not asked for.";
    RupdUriNotReturned = "rupd-uri-not-returned", "S-RUPD-200", "PUT RU with `newSenderURI: true` makes a new SU but does not return it.";
    RupdEmptyBody = "rupd-empty-body", "B-RUPD-BODY", "PUT RU that regenerates no URI answers with an empty body instead of `{}`.";
    RupdNotAtomic = "rupd-not-atomic", "B-RUPD-ATOMIC", "A PUT RU refused for its EM-New-Key-Signature has already applied newRecipientURI and disabled.";
    SupdProhibitedIgnored = "supd-prohibited-ignored", "S-SUPD-PROHIB", "PUT SU ignores the prohibited properties and succeeds.";
    SupdProhibited400 = "supd-prohibited-400", "S-SUPD-PROHIB", "PUT SU with a prohibited property gets 400 instead of 401.";
    SupdWithoutSkOk = "supd-without-sk-ok", "S-SUPD-KEY", "PUT SU on a connection without SK succeeds (unsigned).";
    SupdUriNotReturned = "supd-uri-not-returned", "S-SUPD-200", "PUT SU with `newSenderURI: true` makes a new SU but does not return it.";
    Supd204 = "supd-204", "S-SUPD-200", "PUT SU that regenerates no URI answers 204 instead of 200.";
    // Bodies and routing.
    UnknownPropertyAccepted = "unknown-property-accepted", "S-GEN-400", "Unknown top-level properties are ignored.";
    MessageExtraPropertyAccepted = "message-extra-property-accepted", "S-SEND-BODY", "Message objects may carry properties besides `msg`.";
    EmptyMessagesAccepted = "empty-messages-accepted", "S-SEND-BODY", "A send with an empty `messages` array gets 200.";
    NullAsAbsent = "null-as-absent", "S-GEN-400", "`null` for an optional property is treated as absent.";
    ContentTypeIgnored = "content-type-ignored", "B-CT-400", "Content-Type is not checked.";
    TrailingBytesAccepted = "trailing-bytes-accepted", "B-CT-400", "Bytes after the JSON value are ignored.";
    ContentTypeParamsRefused = "content-type-params-refused", "S-HDR-JSON", "A Content-Type with parameters (`application/json; charset=utf-8`) gets 400.";
    ContentTypeCaseSensitive = "content-type-case-sensitive", "S-HDR-JSON", "The media type is compared case-sensitively (`Application/JSON` gets 400).";
    DuplicateMembersAccepted = "duplicate-members-accepted", "B-JSON-DUP", "Duplicate member names are accepted (the last one wins).";
    Pkcs1KeyAccepted = "pkcs1-key-accepted", "B-KEY-PKCS1", "A bare PKCS#1 RSAPublicKey is accepted as a key.";
    SmallKeyAccepted = "small-key-accepted", "B-KEY-SIZE", "1024-bit RSA keys are accepted.";
    KeyAlgorithmUnchecked = "key-algorithm-unchecked", "B-KEY-FMT", "Any well-formed SPKI is accepted as a key, whatever its algorithm (a P-256 key is stored, and then verifies nothing).";
    KeyBase64Lax = "key-base64-lax", "B-ENC-B64", "Keys are decoded leniently: the base64url alphabet, missing padding, spaces and line breaks are accepted.";
    CidFormatLax = "cid-format-lax", "B-CID-FMT", "Any non-empty connectionID is accepted (4 characters, non-base64url).";
    MsgNotBase64Accepted = "msg-not-base64-accepted", "B-MSG-FMT", "Any non-empty string is accepted as `msg`.";
    CidMismatchIgnored = "cid-mismatch-ignored", "S-CID-404", "The connectionID in the body is not compared with the connection of the URI.";
    TrailingSlashAlias = "trailing-slash-alias", "S-GEN-404", "`RU/`, `SU/` and their `/messages/` are routed like the paths without the slash.";
    MessagesSegmentAnyCase = "messages-segment-any-case", "S-EP-MSG", "`/Messages`, `/MESSAGES` and any other letter case of the segment route like `/messages`.";
    MessagesSegmentDecoded = "messages-segment-decoded", "S-EP-MSG", "The `messages` segment is percent-decoded before routing (`/%6Dessages` routes like `/messages`).";
    SenderDeletesMessages = "sender-deletes-messages", "S-EP-NOMOD", "DELETE SU/messages (signed with SK, or unsigned while no SK is set) deletes queued messages as DELETE RU/messages does.";
    GetRu200 = "get-ru-200", "B-METHOD", "GET RU answers 200 `{}`.";
    DeletedUrisRouted = "deleted-uris-routed", "S-DEL-AFTER", "After a delete, RU and SU stay routed for methods they do not define: GET, PATCH or HEAD to RU gets 405 instead of 404 (requests with their own methods still get 404).";
    Oversize500 = "oversize-500", "B-SIZE", "A body over the limit gets 500.";
    IdleCloseStalls = "idle-close-stalls", "B-NO-5XX", "When the head deadline closes an idle connection, the server accepts no new connection for 30 s (requests on connections already open are still answered).";
    H2StreamClosedAtIdle = "h2-stream-closed-at-idle", "B-NO-5XX", "An HTTP/2 connection counts as waiting for a head once any one of its streams ends, so the head deadline closes it with other streams still in flight.";
    OneConnectionAtATime = "one-connection-at-a-time", "B-NO-5XX", "The server holds one TCP connection at a time: a second one waits while the first is busy (a body half sent), and takes its place once it has been idle 100 ms.";
    LimitAfterBody = "limit-after-body", "B-SIZE", "A body of exactly the size limit is read whole, then refused with 413 (the limit counted as over, and the size not decided from `Content-Length`).";
    ChunkedBodyUncounted = "chunked-body-uncounted", "B-SIZE", "A body without `Content-Length` (chunked) is read whole, whatever its size; declared bodies are still refused from `Content-Length`.";
    PageSizeZeroPanics = "page-size-zero-panics", "B-NO-5XX", "`pageSize: 0` makes the handler panic (the connection closes without a response).";
    DeepJsonPanics = "deep-json-panics", "B-NO-5XX", "JSON nested deeper than 32 levels makes the handler panic.";
    LargePageSizePanics = "large-page-size-panics", "B-NO-5XX", "A retrieval with a valid `pageSize` of 1,000,000 or more makes the handler panic (the connection closes without a response).";
    LargestSend500 = "largest-send-500", "B-NO-5XX", "A send of exactly 16 messages, or with a `msg` of exactly 16,384 characters (the largest legal send), gets 500.";
    NulPathPanics = "nul-path-panics", "B-NO-5XX", "A path containing `%00` makes the router panic.";
    // Paging and retrieval.
    PageSizeIgnored = "page-size-ignored", "S-RETR-PAGE", "Retrieval returns every message, whatever pageSize and PAGE_SIZE.";
    PageSizeMax = "page-size-max", "S-RETR-PAGE", "Retrieval returns max(pageSize, PAGE_SIZE) messages instead of the minimum.";
    NextAlwaysPresent = "next-always-present", "S-RETR-NEXT", "nextMessageID is present even when nothing remains (the last id returned, or \"\").";
    NextMissingWhenOneLeft = "next-missing-when-one-left", "S-RETR-NEXT", "nextMessageID is left out when exactly one message remains.";
    NextNamesLastReturned = "next-names-last-returned", "S-RETR-NEXT", "nextMessageID names the last message returned, not the first remaining.";
    FromExclusive = "from-exclusive", "S-RETR-200", "Retrieval starts after fromMessageID instead of at it.";
    FromUnknownEmpty = "from-unknown-empty", "S-RETR-400", "An unknown fromMessageID gets 200 with no messages.";
    FromOtherConnectionAccepted = "from-other-connection-accepted", "S-RETR-400", "A fromMessageID of another connection is accepted (retrieval starts at the earliest).";
    KeepStillRemoves = "keep-still-removes", "S-RETR-REMOVE", "`keepMessages: true` still removes the returned messages.";
    RetrieveNeverRemoves = "retrieve-never-removes", "S-RETR-REMOVE", "Retrieval never removes messages.";
    KeepTracksCount = "keep-tracks-count", "S-RETR-NOTRACK", "Kept messages gain a `retrieved` counter.";
    KeepAfterDeleteMessagesResurrects = "keep-after-delete-messages-resurrects", "S-PRIV-NOHIST-MSG", "A keepMessages retrieval right after DELETE RU/messages returns the deleted messages again.";
    FifoReversed = "fifo-reversed", "S-RETR-200", "Messages come newest first.";
    MsgAltered = "msg-altered", "B-MSG-FMT", "Base64 padding is stripped from `msg` on return.";
    TsOffset = "ts-offset", "B-TS-FMT", "Timestamps end in `+00:00` instead of `Z`.";
    // Deleting messages.
    DelmCountRequested = "delm-count-requested", "S-DELM-200", "DELETE RU/messages reports pageSize instead of the number removed.";
    DelmCappedByPageSize = "delm-capped-by-page-size", "S-DELM-SEL", "DELETE RU/messages removes at most PAGE_SIZE messages.";
    DelmUnknownFromOk = "delm-unknown-from-ok", "S-DELM-400", "DELETE RU/messages with an unknown fromMessageID gets 200 `{\"deleted\":0}`.";
    // Disabled connections.
    CreateDisabledIgnored = "create-disabled-ignored", "S-CREATE-DIS", "`disabled: true` at creation is ignored.";
    DisableUpdateIgnored = "disable-update-ignored", "B-SEND-DISABLED", "`disabled` in PUT RU is ignored.";
    Disabled401 = "disabled-401", "B-SEND-DISABLED", "A send to a disabled connection gets 401 instead of 403.";
    DisabledBlocksRetrieve = "disabled-blocks-retrieve", "B-SEND-DISABLED", "Retrieval from a disabled connection gets 403.";
    DisabledCheckedFirst = "disabled-checked-first", "B-ORDER", "A send to a disabled connection gets 403 before its signature is checked (an unsigned or wrongly signed send gets 403, not 401).";
    // Atomicity.
    SendNotAtomic = "send-not-atomic", "B-SEND-ATOMIC", "The valid messages before an invalid one are stored, though the send gets 400.";
    // Privacy.
    DeletedCidRemembered = "deleted-cid-remembered", "S-PRIV-NOHIST-CONN", "A deleted connectionID cannot be created again (409).";
    UriContainsCid = "uri-contains-cid", "S-URI-GEN", "RU and SU contain the connectionID.";
    UriCounter = "uri-counter", "S-URI-GEN", "RU and SU come from a server-wide counter.";
    UriContainsKeyHash = "uri-contains-key-hash", "S-URI-GEN", "RU contains the hex SHA-256 of the RK DER.";
    RuEqualsSu = "ru-equals-su", "S-URI-GEN", "RU and SU are the same URI (requests are told apart by method, body and signature).";
    SuContainsKeySha1 = "su-contains-key-sha1", "S-PRIV-URI", "SU starts with the base64url SHA-1 of the RK DER (then 128 random bits).";
    MessageIdCounter = "message-id-counter", "B-MID-RANDOM", "Message ids come from a visible server-wide counter.";
    MessageIdReused = "message-id-reused", "B-MID-FMT", "Message ids count from 1 per connection and restart when its queue is empty, so ids come back.";
    DeleteKeepsMessages = "delete-keeps-messages", "S-DEL-PERM", "Re-creating a deleted connectionID shows the old messages.";
    DeletedSuAlive = "deleted-su-alive", "S-DEL-AFTER", "After DELETE RU, the SU still accepts sends (200).";
    // Miscellaneous.
    Create409Overwrites = "create-409-overwrites", "S-CREATE-409", "A create with a live connectionID replaces that connection (201).";
    CreateReturns200 = "create-returns-200", "S-CREATE-201", "Create answers 200 instead of 201.";
    CreateExtraProperties = "create-extra-properties", "B-CREATE-ONLY", "The create response also carries `connectionID`.";
    CreateSenderIgnored = "create-sender-ignored", "S-CREATE-ALT", "`sender` at creation is checked but not stored: the connection stays open to unsigned sends.";
    NoCacheControl = "no-cache-control", "B-CACHE", "Responses have no Cache-Control.";
    SetsCookie = "sets-cookie", "B-NO-COOKIE", "Responses set a cookie.";
    SendReturnsBody = "send-returns-body", "S-SEND-200", "A successful send answers `{}` instead of an empty body.";
    DeleteReturnsBody = "delete-returns-body", "S-DEL-200", "A successful DELETE RU answers `{}` instead of an empty body.";
    DeleteMessagesCrossesConnections = "delete-messages-crosses-connections", "B-ISOLATION", "DELETE RU/messages without pageSize empties every connection of the server.";
    QuotaLargeSendBypasses = "quota-large-send-bypasses", "B-QUOTA", "A send of more than 16 messages skips the queue cap (a bulk path without the check).";
    QuotaPartial = "quota-partial", "B-QUOTA", "Over the queue cap, the messages that fit are stored (the send still gets 429).";
    RetrieveNotAtomic = "retrieve-not-atomic", "B-CONCURRENT", "Retrieval reads, waits, then removes, in two critical sections, so concurrent retrievers get duplicates.";
}

#[cfg(feature = "faults")]
pub(crate) use lenient::{accepts_leniently, SignedRequest, SmallKey};

/// Verification beyond the binding.
#[cfg(feature = "faults")]
mod lenient {
    use aws_lc_rs::digest::Digest;
    use aws_lc_rs::signature::{
        RsaParameters, RsaPssSaltLength, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
        RSA_PSS_2048_8192_SHA256,
    };
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::signature::hazmat::PrehashVerifier as _;

    use super::{Fault, Faults};
    use crate::edge_v1::auth::signing_digest;
    use crate::edge_v1::keys::PublicKey;

    /// Methods `sig-ignores-method` accepts a signature for.
    const METHODS: [&str; 8] = [
        "", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS",
    ];

    /// What a signature may cover.
    pub(crate) struct SignedRequest<'a> {
        /// The request method.
        pub method: &'a str,
        /// Path and query as received.
        pub target: &'a str,
        /// The body bytes.
        pub body: &'a [u8],
        /// Other paths of the connection (`sig-ignores-path`).
        pub other_paths: &'a [String],
        /// Whether the request goes to SU or SU/messages (`sender-pkcs1v15-accepted`).
        pub to_sender: bool,
    }

    /// Whether `signature` by `key` is accepted by one of the signature faults that are on,
    /// though it does not verify over the exact request (whose SHA-256 is `digest`).
    pub(crate) fn accepts_leniently(
        faults: Faults,
        key: &PublicKey,
        digest: &Digest,
        request: &SignedRequest<'_>,
        signature: &[u8],
    ) -> bool {
        let schemes = SigLeniency {
            pkcs1v15: faults.on(Fault::AcceptPkcs1v15)
                || (faults.on(Fault::SenderPkcs1v15Accepted) && request.to_sender),
            any_salt: faults.on(Fault::AcceptAnySalt),
        };
        if schemes.verify(key.der(), digest, signature) {
            return true;
        }
        let over = |method: &str, path: &str, body: &[u8]| {
            key.verify(&signing_digest(method, path, body), signature)
        };
        let SignedRequest {
            method,
            target,
            body,
            other_paths,
            ..
        } = *request;
        (faults.on(Fault::SigIgnoresPath)
            && std::iter::once("")
                .chain(other_paths.iter().map(String::as_str))
                .any(|path| over(method, path, body)))
            || (faults.on(Fault::SigIgnoresMethod) && METHODS.iter().any(|m| over(m, target, body)))
            || (faults.on(Fault::SigIgnoresBody)
                && [&b""[..], b"{}"].iter().any(|b| over(method, target, b)))
            || (faults.on(Fault::SigIgnoresQuery)
                && target
                    .split_once('?')
                    .is_some_and(|(path, _)| over(method, path, body)))
    }

    /// Salt lengths `accept-any-salt` tries: 0 to 64 bytes.
    const SALTS: usize = 65;

    static PSS_ANY_SALT: [RsaParameters; SALTS] = {
        let mut params = [const { RSA_PSS_2048_8192_SHA256 }; SALTS];
        let mut salt = 0;
        while salt < SALTS {
            params[salt] = RSA_PSS_2048_8192_SHA256
                .with_pss_salt_length(RsaPssSaltLength::Custom(salt as u16));
            salt += 1;
        }
        params
    };

    static PSS_MAX_SALT: RsaParameters =
        RSA_PSS_2048_8192_SHA256.with_pss_salt_length(RsaPssSaltLength::Max);

    /// Signature schemes accepted besides RSA-PSS with salt 32.
    #[derive(Debug, Clone, Copy, Default)]
    struct SigLeniency {
        /// PKCS#1 v1.5 with SHA-256.
        pub pkcs1v15: bool,
        /// RSA-PSS with any salt length.
        pub any_salt: bool,
    }

    impl SigLeniency {
        /// Whether `signature` verifies under one of the extra schemes.
        fn verify(self, spki: &[u8], digest: &Digest, signature: &[u8]) -> bool {
            let with = |alg: &'static RsaParameters| {
                UnparsedPublicKey::new(alg, spki)
                    .verify_digest(digest, signature)
                    .is_ok()
            };
            (self.pkcs1v15 && with(&RSA_PKCS1_2048_8192_SHA256))
                || (self.any_salt && (PSS_ANY_SALT.iter().any(with) || with(&PSS_MAX_SALT)))
        }
    }

    /// A key under 2048 bits, which aws-lc-rs will not verify with; checked with the `rsa` crate.
    pub(crate) struct SmallKey(rsa::pss::VerifyingKey<sha2::Sha256>);

    impl SmallKey {
        /// Parses a DER SPKI.
        pub(crate) fn from_der(der: &[u8]) -> Option<SmallKey> {
            let key = rsa::RsaPublicKey::from_public_key_der(der).ok()?;
            Some(SmallKey(rsa::pss::VerifyingKey::new(key)))
        }

        /// RSA-PSS, SHA-256, salt 32, over the message whose SHA-256 is `digest`.
        pub(crate) fn verify(&self, digest: &Digest, signature: &[u8]) -> bool {
            let Ok(signature) = rsa::pss::Signature::try_from(signature) else {
                return false;
            };
            self.0.verify_prehash(digest.as_ref(), &signature).is_ok()
        }
    }
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
            assert_eq!(serde_json::from_str::<Fault>(&json).unwrap(), fault);
            assert!(fault.rule().starts_with("S-") || fault.rule().starts_with("B-"));
            assert!(fault.description().ends_with('.'), "{fault}");
        }
        assert!("no-such-fault".parse::<Fault>().is_err());
    }

    #[test]
    fn fault_sets() {
        let set = Faults::of(&[Fault::AcceptAnySalt, Fault::RetrieveNotAtomic]);
        assert!(set.on(Fault::AcceptAnySalt) && set.on(Fault::RetrieveNotAtomic));
        assert!(!set.on(Fault::AcceptPkcs1v15));
        assert!(!Faults::default().on(Fault::AcceptAnySalt));
    }
}
