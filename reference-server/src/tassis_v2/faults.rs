//! Deliberate deviations from the `tassis-v2` binding, for checking that a test suite catches
//! them.
//!
//! Each [`Fault`] breaks one rule (named by [`Fault::rule`]); where it unavoidably breaks
//! another too, its description says so. They exist only with the cargo feature `faults`;
//! without it every check in the server compiles to `false`.
#![cfg_attr(not(feature = "faults"), allow(dead_code))]

crate::fault_list::fault_list! {
    "tassis-v2", "cumulative-ack";
    // The public implementation's real bugs.
    CrashOutboundNoTo = "crash-outbound-no-to", "T-MSG-NO-TO", "An OutboundMessage without `to` crashes the server: it stops accepting, drops every connection and never serves again.";
    CrashShortSignature = "crash-short-signature", "T-AUTH-MALFORMED", "An AuthResponse with the connection's nonce and a signature shorter than 64 bytes crashes the server (checked after the nonce, as in tassis).";
    CrashLoginNoAddress = "crash-login-no-address", "T-AUTH-MALFORMED", "An AuthResponse whose Login has no address crashes the server.";
    CumulativeAck = "cumulative-ack", "T-REDELIVER", "Acks are cumulative per inbox: acking a message also removes every earlier one, acknowledged or not.";
    UnregisterOneMemberSet = "unregister-one-member-set", "T-UNREG-OTHERS", "Unregistering a device of an identity with exactly one registered device removes that device, whichever device asked.";
    UploadNonpositiveSilent = "upload-nonpositive-silent", "TB-UPLOAD-NONE", "RequestUploadAuthorizations with numRequested <= 0 gets no reply (also breaks T-SEQ-REPLY).";
    LongKeyAliasing = "long-key-aliasing", "TB-KEY-LEN", "An identityKey longer than 32 bytes is accepted (login, OutboundMessage, RequestPreKeys) and only its first 32 bytes are checked: one private key owns many identities.";
    Bit255Aliasing = "bit255-aliasing", "TB-KEY-CANON", "An identityKey with bit 255 set is accepted as a distinct identity that the key without the bit signs for.";
    DegenerateKeyForgery = "degenerate-key-forgery", "TB-SIG", "Identity keys with u >= p or of small order are not refused (the verifier is as lax as Go's): logins for them can be forged without a private key.";
    NonCanonicalUReduced = "non-canonical-u-reduced", "TB-SIG", "An identityKey whose u is >= p is reduced modulo p instead of refused (small-order points are still refused): u = p + 9 is the base point, and anyone signs for it with the private scalar 1.";
    // Transport and framing.
    Upgrade500 = "upgrade-500", "TB-WS-UPGRADE", "A GET of the WebSocket URL without an upgrade gets 500.";
    TextFramesParsed = "text-frames-parsed", "TB-TEXT-FRAME", "Text frames are parsed as protobuf Messages and answered like binary frames.";
    Frame32kRefused = "frame-32k-refused", "TB-FRAME-SIZE", "The largest message accepted is 32 767 bytes: a 32 768-byte frame closes the connection with 1009.";
    LargeFrameCrash = "large-frame-crash", "TB-FRAME-SIZE", "A frame over 32 768 bytes crashes the server instead of closing one connection.";
    BadFrameCloses = "bad-frame-closes", "TB-FRAME-BAD", "A binary frame that does not parse as Message closes the connection.";
    IdleClose18s = "idle-close-18s", "TB-IDLE", "Connections are closed after three tenths of the idle timeout without a client data frame: 18 s with the default 60 s, under the 20 s TB-IDLE allows.";
    CrashAbruptDisconnect = "crash-abrupt-disconnect", "TB-ALIVE", "An authenticated connection that ends without a close frame crashes the server.";
    // Sequence numbers.
    SeqNotEchoed = "seq-not-echoed", "T-SEQ-ECHO", "Replies other than Error carry the request's sequence plus one.";
    ErrorSeqZero = "error-seq-zero", "T-SEQ-ECHO", "Error replies carry sequence 0.";
    RegisterAckedTwice = "register-acked-twice", "T-SEQ-REPLY", "Register is acknowledged twice.";
    NoReplyRegisterEmpty = "no-reply-register-empty", "T-SEQ-REPLY", "Register with no one-time prekeys is applied but not answered (also breaks T-REG-ACK).";
    ServerSeqFrom0 = "server-seq-from-0", "TB-SEQ-SERVER", "The server's own counter starts at 0 (AuthChallenge 0, Configuration 1).";
    SeqZeroIgnored = "seq-zero-ignored", "TB-SEQ-ANY", "Requests with sequence 0 are ignored: no reply, no effect (also breaks T-SEQ-REPLY).";
    UnknownAckError = "unknown-ack-error", "T-SEQ-ACK-UNKNOWN", "An Ack whose sequence matches no delivered message gets Error invalid_request.";
    // Connection start and login.
    ConfigMissing = "config-missing", "T-HELLO", "No Configuration is sent at connection start, only the AuthChallenge.";
    NonceCounter = "nonce-counter", "TB-NONCE", "Nonces are a 32-byte big-endian counter from 1, restarting with the server.";
    ShortNonce = "short-nonce", "TB-NONCE", "Nonces are 8 random bytes.";
    ConfigZero = "config-zero", "T-CONFIG", "Configuration.maxAttachmentSize is 0 (upload authorizations then exceed it: T-UPLOAD notices too).";
    LoginReplyPreKeys = "login-reply-prekeys", "TB-LOGIN-REPLY", "A successful login is answered with an empty PreKeys instead of Ack.";
    SignatureUnchecked = "signature-unchecked", "T-AUTH-FAIL", "Any 64-byte signature is accepted: the login signature is not verified.";
    NonceNotChecked = "nonce-not-checked", "T-AUTH-FAIL", "The login's nonce is not compared with the connection's (replays are accepted too).";
    NonceXorCompare = "nonce-xor-compare", "T-AUTH-FAIL", "The login's nonce is compared by folding byte differences with XOR instead of OR: a nonce with the same bit flipped in two bytes is taken for the connection's.";
    ReplayAccepted = "replay-accepted", "T-AUTH-FAIL", "A login with the nonce of any earlier connection of this server is accepted: captured AuthResponses can be replayed.";
    SignBitIgnored = "sign-bit-ignored", "TB-SIG", "The Edwards sign bit in `signature[63]` is not used: libsignal-style signatures of keys whose sign bit is 1 fail.";
    MalleableS = "malleable-s", "TB-SIG", "Signatures with s >= L are accepted (s is reduced modulo L).";
    ReserializeLogin = "reserialize-login", "TB-SIG", "The signature is verified over the Login re-encoded by the server, not over the bytes received.";
    FailedLoginStillServes = "failed-login-still-serves", "T-AUTH-CLOSE", "After a failed login the connection stays open and anonymous, and keeps serving (also breaks TB-AUTH-CLOSE-FAST).";
    FailedLoginDelivers = "failed-login-delivers", "T-AUTH-CLOSE", "A login refused for its signature still delivers the claimed address's stored messages before the connection closes.";
    FailedLoginLeftOpen = "failed-login-left-open", "TB-AUTH-CLOSE-FAST", "After a failed login the connection serves nothing but is closed only 30 s later.";
    SecondLoginAccepted = "second-login-accepted", "T-AUTH-ONCE", "A second AuthResponse on an authenticated connection is processed as a new login.";
    DeviceId64Refused = "device-id-64-refused", "TB-KEY", "A deviceId of 64 bytes, the longest TB-KEY allows, is refused with invalid_request, in a login and in an OutboundMessage's `to`.";
    LoginNeedsRegistration = "login-needs-registration", "T-AUTH-ANY-DEVICE", "A login of a device that is not registered gets unauthorized while its identity has other registered devices.";
    AnonFirstRequestRefused = "anon-first-request-refused", "T-ANON", "The first anonymous request of a connection (RequestPreKeys, OutboundMessage, RequestUploadAuthorizations) gets Error unauthorized.";
    ErrorNameUnknown = "error-name-unknown", "TB-ERROR-NAMES", "Errors named `unauthorized` are named `not_authorized` (checks of those errors notice too).";
    // Operations on an authenticated connection.
    RegisterEmptyRefused = "register-empty-refused", "T-REG-ACK", "Register with no one-time prekeys gets Error invalid_request and changes nothing.";
    RegisterAlwaysReplace = "register-always-replace", "T-REG-APPEND", "Register always replaces the registration, even with the same signedPreKey.";
    RegisterAlwaysAppend = "register-always-append", "T-REG-REPLACE", "Register with a new signedPreKey keeps the old one-time prekeys.";
    UnregisterKeepsKeys = "unregister-keeps-keys", "T-UNREG", "Unregister is acknowledged but the device stays in key distribution.";
    UnregisterUnregisteredError = "unregister-unregistered-error", "T-UNREG", "Unregister of a device that is not registered gets Error unknown_identity.";
    UnregisterDropsInbox = "unregister-drops-inbox", "TB-UNREG-INBOX", "Unregister also deletes the messages stored for the address.";
    RegisterAnonymousAllowed = "register-anonymous-allowed", "T-AUTHED-ONLY", "Register and Unregister on an anonymous connection are acknowledged (and change nothing).";
    AnonOpsOnAuthed = "anon-ops-on-authed", "T-ANON-ONLY", "RequestPreKeys, OutboundMessage and RequestUploadAuthorizations are served on authenticated connections.";
    // Key distribution.
    KnownDevicesIgnored = "known-devices-ignored", "T-PK-DEVICES", "RequestPreKeys ignores knownDeviceIds.";
    PrekeyHandedTwice = "prekey-handed-twice", "T-PK-ONCE", "Each one-time prekey is handed out twice before it is removed.";
    PrekeyRace = "prekey-race", "T-PK-ONCE", "RequestPreKeys reads a one-time prekey, waits 50 ms and only then removes it: concurrent requesters get the same key.";
    OtpkWithheld = "otpk-withheld", "T-PK-AVAILABLE", "A device's last one-time prekey is never handed out: its entry is empty while one key is left.";
    ExhaustedError = "exhausted-error", "T-PK-EMPTY", "RequestPreKeys gets Error unknown_error when a device it returns has no one-time prekeys left.";
    UnknownIdentityEmptyList = "unknown-identity-empty-list", "T-PK-UNKNOWN", "RequestPreKeys for an identity without registered devices gets an empty PreKeys.";
    AllKnownOtherError = "all-known-other-error", "TB-PK-ALL-KNOWN", "RequestPreKeys listing every registered device in knownDeviceIds gets Error unknown_error.";
    PreKeysLowNever = "prekeys-low-never", "TB-PK-LOW", "PreKeysLow is never sent.";
    PreKeysLowAfterUnregister = "prekeys-low-after-unregister", "TB-PK-LOW", "A connection that has sent PreKeysLow keeps sending it every interval after its device is unregistered.";
    PreKeysLowFlood = "prekeys-low-flood", "TB-PK-LOW", "While the device is below the limit, PreKeysLow repeats twenty times an interval instead of at most once.";
    PreKeysLowAnonymous = "prekeys-low-anonymous", "TB-PK-LOW", "PreKeysLow is also pushed on the anonymous connection whose RequestPreKeys left a device below the limit.";
    // Message transport.
    SendNoAck = "send-no-ack", "T-SEND-ACK", "OutboundMessage is stored but not acknowledged (also breaks T-SEQ-REPLY).";
    SendUnknownRefused = "send-unknown-refused", "T-SEND-ANY", "OutboundMessage to an address that never registered or logged in gets Error unknown_identity.";
    DeliverToAllDevices = "deliver-to-all-devices", "T-DELIVER", "A new message is also pushed to the authenticated connections of the identity's other devices.";
    DeliverMutated = "deliver-mutated", "T-DELIVER", "Delivered bytes have their last byte flipped.";
    NoStoreForward = "no-store-forward", "T-STORE-FORWARD", "A message sent while its address has no authenticated connection is acknowledged and dropped.";
    OrderReversed = "order-reversed", "T-ORDER", "Stored messages are delivered newest first at login.";
    AckedRedelivered = "acked-redelivered", "T-ACK-DONE", "Acks are ignored: acknowledged messages are delivered again to new sessions.";
    AckAppliedLate = "ack-applied-late", "TB-ORDERED", "Acks take effect about 300 ms after they arrive, after later frames have been answered.";
    AckRemovesNewest = "ack-removes-newest", "T-REDELIVER", "An Ack removes the newest stored message of the inbox instead of the acknowledged one.";
    UnsubscribeDropsAll = "unsubscribe-drops-all", "T-DELIVER", "When one session of an address ends, the address's other sessions stop receiving pushes too (messages are still stored for the next login).";
    CompetingConsumers = "competing-consumers", "T-FANOUT", "A new message goes to one of the address's sessions only, in turn.";
    InboundExtraSenderField = "inbound-extra-sender-field", "T-OPAQUE", "InboundMessage carries an extra field 15 with the sending connection's peer address.";
    InboundRawBytes = "inbound-raw-bytes", "TB-INBOUND-FORM", "Field 16 holds the opaque bytes themselves instead of an InboundMessage (the seed's form, allowed but not recommended).";
    // Attachments.
    UploadExpirySeconds = "upload-expiry-seconds", "T-UPLOAD", "authorizationExpiresAt is in unix seconds.";
    UploadMaxTooBig = "upload-max-too-big", "T-UPLOAD", "maxUploadSize is one more than Configuration.maxAttachmentSize.";
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
            assert!(fault.rule().starts_with("T-") || fault.rule().starts_with("TB-"));
            assert!(fault.description().ends_with('.'), "{fault}");
        }
        assert!("no-such-fault".parse::<Fault>().is_err());
    }

    #[test]
    fn fault_sets() {
        let set = Faults::of(&[Fault::CumulativeAck, Fault::UploadMaxTooBig]);
        assert!(set.on(Fault::CumulativeAck) && set.on(Fault::UploadMaxTooBig));
        assert!(!set.on(Fault::MalleableS));
        assert!(!Faults::default().on(Fault::CumulativeAck));
    }
}
