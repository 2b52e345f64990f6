//! The Rust wire types of `tassis-v2` say what `conformance/tassis-v2/tassis.proto` says:
//! the `.proto` is compiled in pure Rust (protox, no `protoc`), and every message, fully
//! populated, decodes through the descriptor with every field set, no unknown fields, and
//! the same values by name; and back.

use std::collections::HashMap;

use edgecheck::profiles::tassis_v2::wire::{self, Payload};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage as _, Value};

fn pool() -> DescriptorPool {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/tassis-v2");
    let fds = protox::compile(["tassis.proto"], [dir]).expect("tassis.proto compiles");
    DescriptorPool::from_file_descriptor_set(fds).expect("descriptor pool")
}

/// Decode `bytes` as `name` and check that exactly the fields in `want` are set, with those
/// values, and nothing unknown; then re-encode through the descriptor and check the bytes
/// decode to the same Rust value.
fn check<M: prost::Message + Default + PartialEq + std::fmt::Debug>(
    pool: &DescriptorPool,
    name: &str,
    value: &M,
    want: &[(&str, Value)],
) {
    let desc = pool
        .get_message_by_name(&format!("tassis.{name}"))
        .unwrap_or_else(|| panic!("{name} is not in tassis.proto"));
    let bytes = value.encode_to_vec();
    let dm = DynamicMessage::decode(desc.clone(), bytes.as_slice()).expect("decodes");
    assert_eq!(
        dm.unknown_fields().count(),
        0,
        "{name}: fields unknown to the .proto"
    );
    for (field, v) in want {
        let f = desc
            .get_field_by_name(field)
            .unwrap_or_else(|| panic!("{name}.{field} is not in tassis.proto"));
        assert!(dm.has_field(&f), "{name}.{field} not set");
        assert_eq!(&*dm.get_field(&f), v, "{name}.{field}");
    }
    let set = desc.fields().filter(|f| dm.has_field(f)).count();
    assert_eq!(set, want.len(), "{name}: other fields set than expected");
    let back = M::decode(dm.encode_to_vec().as_slice()).expect("decodes back");
    assert_eq!(&back, value, "{name}: round trip");
    let _ = dm.descriptor();
}

fn b(v: &[u8]) -> Value {
    Value::Bytes(v.to_vec().into())
}

#[test]
fn every_message_matches_the_proto() {
    let pool = pool();
    let addr = wire::Address {
        identity_key: vec![1; 32],
        device_id: b"d1".to_vec(),
    };
    check(
        &pool,
        "Error",
        &wire::Error {
            name: "unauthorized".into(),
            description: "x".into(),
        },
        &[
            ("name", Value::String("unauthorized".into())),
            ("description", Value::String("x".into())),
        ],
    );
    check(
        &pool,
        "Address",
        &addr,
        &[("identityKey", b(&[1; 32])), ("deviceId", b(b"d1"))],
    );
    check(
        &pool,
        "Configuration",
        &wire::Configuration {
            max_attachment_size: 5,
        },
        &[("maxAttachmentSize", Value::I64(5))],
    );
    check(
        &pool,
        "AuthChallenge",
        &wire::AuthChallenge { nonce: vec![7; 32] },
        &[("nonce", b(&[7; 32]))],
    );
    check(
        &pool,
        "Login",
        &wire::Login {
            address: Some(addr.clone()),
            nonce: vec![7; 4],
        },
        &[
            (
                "address",
                Value::Message(
                    DynamicMessage::decode(
                        pool.get_message_by_name("tassis.Address").unwrap(),
                        addr.encode_to_vec().as_slice(),
                    )
                    .unwrap(),
                ),
            ),
            ("nonce", b(&[7; 4])),
        ],
    );
    check(
        &pool,
        "AuthResponse",
        &wire::AuthResponse {
            login: vec![1],
            signature: vec![2; 64],
        },
        &[("login", b(&[1])), ("signature", b(&[2; 64]))],
    );
    check(
        &pool,
        "Register",
        &wire::Register {
            signed_pre_key: vec![3],
            one_time_pre_keys: vec![vec![4], vec![5]],
        },
        &[
            ("signedPreKey", b(&[3])),
            ("oneTimePreKeys", Value::List(vec![b(&[4]), b(&[5])])),
        ],
    );
    check(
        &pool,
        "RequestPreKeys",
        &wire::RequestPreKeys {
            identity_key: vec![1; 32],
            known_device_ids: vec![b"d".to_vec()],
        },
        &[
            ("identityKey", b(&[1; 32])),
            ("knownDeviceIds", Value::List(vec![b(b"d")])),
        ],
    );
    let pk = wire::PreKey {
        device_id: b"d".to_vec(),
        signed_pre_key: vec![3],
        one_time_pre_key: vec![4],
    };
    check(
        &pool,
        "PreKey",
        &pk,
        &[
            ("deviceId", b(b"d")),
            ("signedPreKey", b(&[3])),
            ("oneTimePreKey", b(&[4])),
        ],
    );
    check(
        &pool,
        "PreKeysLow",
        &wire::PreKeysLow { keys_requested: 4 },
        &[("keysRequested", Value::U32(4))],
    );
    check(
        &pool,
        "RequestUploadAuthorizations",
        &wire::RequestUploadAuthorizations { num_requested: -1 },
        &[("numRequested", Value::I32(-1))],
    );
    let mut form = HashMap::new();
    form.insert("k".to_string(), "v".to_string());
    let ua = wire::UploadAuthorization {
        upload_url: "https://u/".into(),
        upload_form_data: form,
        authorization_expires_at: 1_700_000_000_000,
        max_upload_size: 9,
        download_url: "https://d/".into(),
    };
    check(
        &pool,
        "UploadAuthorization",
        &ua,
        &[
            ("uploadURL", Value::String("https://u/".into())),
            (
                "uploadFormData",
                Value::Map(
                    [(
                        prost_reflect::MapKey::String("k".into()),
                        Value::String("v".into()),
                    )]
                    .into_iter()
                    .collect(),
                ),
            ),
            ("authorizationExpiresAt", Value::I64(1_700_000_000_000)),
            ("maxUploadSize", Value::I64(9)),
            ("downloadURL", Value::String("https://d/".into())),
        ],
    );
    check(
        &pool,
        "OutboundMessage",
        &wire::OutboundMessage {
            to: Some(addr.clone()),
            unidentified_sender_message: vec![8],
        },
        &[
            (
                "to",
                Value::Message(
                    DynamicMessage::decode(
                        pool.get_message_by_name("tassis.Address").unwrap(),
                        addr.encode_to_vec().as_slice(),
                    )
                    .unwrap(),
                ),
            ),
            ("unidentifiedSenderMessage", b(&[8])),
        ],
    );
    check(
        &pool,
        "InboundMessage",
        &wire::InboundMessage {
            unidentified_sender_message: vec![8],
        },
        &[("unidentifiedSenderMessage", b(&[8]))],
    );
}

#[test]
fn every_payload_sits_at_its_field_of_message() {
    let pool = pool();
    let desc = pool.get_message_by_name("tassis.Message").unwrap();
    let payloads = [
        Payload::Ack(wire::Ack {}),
        Payload::Error(wire::Error::default()),
        Payload::Configuration(wire::Configuration::default()),
        Payload::AuthChallenge(wire::AuthChallenge::default()),
        Payload::AuthResponse(wire::AuthResponse::default()),
        Payload::Register(wire::Register::default()),
        Payload::Unregister(wire::Unregister {}),
        Payload::RequestPreKeys(wire::RequestPreKeys::default()),
        Payload::PreKeys(wire::PreKeys::default()),
        Payload::PreKeysLow(wire::PreKeysLow::default()),
        Payload::RequestUploadAuthorizations(wire::RequestUploadAuthorizations::default()),
        Payload::UploadAuthorizations(wire::UploadAuthorizations::default()),
        Payload::OutboundMessage(wire::OutboundMessage::default()),
        Payload::InboundMessage(wire::InboundMessage::default()),
    ];
    // Every payload field of the .proto has a Rust variant.
    let oneof = desc.oneofs().next().expect("payload oneof");
    assert_eq!(oneof.fields().count(), payloads.len());
    for p in payloads {
        let name = p.name();
        let bytes = wire::encode(9, p.clone());
        let dm = DynamicMessage::decode(desc.clone(), bytes.as_slice()).unwrap();
        assert_eq!(dm.unknown_fields().count(), 0, "{name}");
        let f = desc
            .get_field_by_name(name)
            .unwrap_or_else(|| panic!("no field {name}"));
        assert!(
            dm.has_field(&f),
            "{name} is not at its field ({})",
            f.number()
        );
        assert_eq!(*dm.get_field_by_name("sequence").unwrap(), Value::U32(9));
        let back = wire::Message::decode(dm.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back.payload, Some(p), "{name}");
    }
}
