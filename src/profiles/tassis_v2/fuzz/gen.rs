//! Valid frames from a small generator (logins, registers, prekey requests, sends, acks,
//! upload requests), and the kind of any frame for deduplicating findings.

use prost::Message as _;
use rand::Rng;

use crate::profiles::tassis_v2::wire::{self, Address, Payload};

/// What a session knows when it makes a frame.
pub struct Who {
    /// The session's identity key (public).
    pub identity: [u8; 32],
    /// Its device ID.
    pub device: Vec<u8>,
    /// Whether the connection is logged in.
    pub authed: bool,
}

fn bytes(rng: &mut impl Rng, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    rng.fill_bytes(&mut b);
    b
}

fn address(rng: &mut impl Rng, who: &Who) -> Address {
    if rng.random_bool(0.5) {
        Address {
            identity_key: who.identity.to_vec(),
            device_id: who.device.clone(),
        }
    } else {
        let mut key = bytes(rng, 32);
        key[31] &= 0x7f;
        Address {
            identity_key: key,
            device_id: {
                let n = rng.random_range(1..=16);
                bytes(rng, n)
            },
        }
    }
}

/// A valid request payload that fits the connection's state (authenticated requests when
/// logged in, anonymous ones when not), or, with `any`, of either kind.
pub fn payload(rng: &mut impl Rng, who: &Who, any: bool) -> Payload {
    let authed_only = any || who.authed;
    let anon_only = any || !who.authed;
    loop {
        let p = match rng.random_range(0..7) {
            0 if authed_only => Payload::Register(wire::Register {
                signed_pre_key: bytes(rng, 32),
                one_time_pre_keys: (0..rng.random_range(0..6))
                    .map(|_| bytes(rng, 32))
                    .collect(),
            }),
            1 if authed_only => Payload::Unregister(wire::Unregister {}),
            2 => Payload::RequestPreKeys(wire::RequestPreKeys {
                identity_key: address(rng, who).identity_key,
                known_device_ids: (0..rng.random_range(0..3)).map(|_| bytes(rng, 4)).collect(),
            }),
            3 | 4 if anon_only => Payload::OutboundMessage(wire::OutboundMessage {
                to: Some(address(rng, who)),
                unidentified_sender_message: {
                    let n = rng.random_range(1..200);
                    bytes(rng, n)
                },
            }),
            5 => Payload::Ack(wire::Ack {}),
            6 => Payload::RequestUploadAuthorizations(wire::RequestUploadAuthorizations {
                num_requested: rng.random_range(1..4),
            }),
            _ => continue,
        };
        return p;
    }
}

/// The kind of a frame, for deduplication: the payload's name, refined where one payload has
/// several known ways of going wrong (`authResponse/short-signature`,
/// `outboundMessage/no-to`), or `unparsable`.
pub fn kind(frame: &[u8]) -> String {
    let Ok(m) = wire::Message::decode(frame) else {
        return "unparsable".into();
    };
    match m.payload {
        None => "no-payload".into(),
        Some(Payload::AuthResponse(a)) => {
            let detail = match wire::Login::decode(a.login.as_slice()) {
                Err(_) => "unparsable-login",
                Ok(l) => match l.address {
                    None => "no-address",
                    Some(ad) if ad.identity_key.len() != 32 => "key-length",
                    Some(ad) if ad.device_id.is_empty() || ad.device_id.len() > 64 => {
                        "device-length"
                    }
                    Some(_) if a.signature.len() < 64 => "short-signature",
                    Some(_) if a.signature.len() > 64 => "long-signature",
                    Some(_) => "",
                },
            };
            if detail.is_empty() {
                "authResponse".into()
            } else {
                format!("authResponse/{detail}")
            }
        }
        Some(Payload::OutboundMessage(o)) if o.to.is_none() => "outboundMessage/no-to".into(),
        Some(p) => p.name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn payloads_fit_the_state_and_kinds_name_the_known_crashes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let who = Who {
            identity: [5; 32],
            device: b"d".to_vec(),
            authed: false,
        };
        for _ in 0..200 {
            let p = payload(&mut rng, &who, false);
            assert!(!matches!(p, Payload::Register(_) | Payload::Unregister(_)));
        }
        let f = wire::encode(
            3,
            Payload::OutboundMessage(wire::OutboundMessage {
                to: None,
                unidentified_sender_message: vec![1],
            }),
        );
        assert_eq!(kind(&f), "outboundMessage/no-to");
        assert_eq!(kind(&[0xff, 0xff]), "unparsable");
    }
}
