//! AuthResponse frames: correct logins and each way of spoiling one.

use prost::Message as _;
use rand::RngCore;

use crate::profiles::tassis_v2::case::{Corrupt, Style};
use crate::profiles::tassis_v2::wire::{self, Address, AuthResponse, Login, Payload};
use crate::profiles::tassis_v2::xeddsa::{self, IdentityKey};

fn z() -> [u8; 64] {
    let mut z = [0u8; 64];
    rand::rng().fill_bytes(&mut z);
    z
}

fn sign(key: &IdentityKey, msg: &[u8], style: Style) -> [u8; 64] {
    match style {
        Style::Xeddsa => key.sign_xeddsa(msg, z()),
        Style::Libsignal => key.sign_libsignal(msg, z()),
    }
}

/// The Login's fields in reverse order (nonce first, deviceId before identityKey): the same
/// Login, other bytes.
fn reordered(identity: &[u8], device: &[u8], nonce: &[u8]) -> Vec<u8> {
    let mut address = Vec::new();
    prost::encoding::bytes::encode(2, &device.to_vec(), &mut address);
    prost::encoding::bytes::encode(1, &identity.to_vec(), &mut address);
    let mut out = Vec::new();
    prost::encoding::bytes::encode(2, &nonce.to_vec(), &mut out);
    prost::encoding::bytes::encode(1, &address, &mut out);
    out
}

fn frame(seq: u32, login: Vec<u8>, signature: Vec<u8>) -> Vec<u8> {
    wire::encode(
        seq,
        Payload::AuthResponse(AuthResponse { login, signature }),
    )
}

/// A correct login of `key` as `device`, XEdDSA-signed.
pub fn correct(key: &IdentityKey, device: &[u8], nonce: &[u8], seq: u32) -> Vec<u8> {
    build(
        key,
        device,
        nonce,
        seq,
        Corrupt::None,
        Style::Xeddsa,
        None,
        None,
    )
}

/// An AuthResponse frame: `other` signs for [`Corrupt::OtherKey`], `other_nonce` is the
/// nonce for [`Corrupt::OtherConnectionNonce`].
#[allow(clippy::too_many_arguments)]
pub fn build(
    key: &IdentityKey,
    device: &[u8],
    nonce: &[u8],
    seq: u32,
    corrupt: Corrupt,
    style: Style,
    other: Option<&IdentityKey>,
    other_nonce: Option<&[u8]>,
) -> Vec<u8> {
    let public = key.public();
    let mut identity = public.to_vec();
    let mut device = device.to_vec();
    let mut nonce = nonce.to_vec();
    match corrupt {
        Corrupt::WrongNonce => rand::rng().fill_bytes(&mut nonce),
        Corrupt::NearNonce => match nonce.len() {
            // Too short for two bytes (TB-NONCE's business): still a wrong nonce.
            0 => nonce.push(0x01),
            1 => nonce[0] ^= 0x01,
            n => {
                nonce[0] ^= 0x01;
                nonce[n - 1] ^= 0x01;
            }
        },
        Corrupt::OtherConnectionNonce => nonce = other_nonce.unwrap_or_default().to_vec(),
        Corrupt::Bit255 => identity[31] |= 0x80,
        Corrupt::LongKey => identity.push(0x01),
        Corrupt::ShortKey => identity.truncate(31),
        Corrupt::EmptyDevice => device.clear(),
        Corrupt::LongDevice => device = vec![b'd'; 65],
        Corrupt::ForgedP => identity = xeddsa::P_BYTES.to_vec(),
        Corrupt::ForgedPMinus1 => identity = xeddsa::P_MINUS_1.to_vec(),
        Corrupt::ForgedZero => identity = vec![0; 32],
        Corrupt::ForgedPPlus9 => identity = xeddsa::P_PLUS_9.to_vec(),
        _ => {}
    }
    let canonical = Login {
        address: Some(Address {
            identity_key: identity.clone(),
            device_id: device.clone(),
        }),
        nonce: nonce.clone(),
    }
    .encode_to_vec();
    let login = match corrupt {
        Corrupt::Reordered | Corrupt::SignedCanonicalSentReordered => {
            reordered(&identity, &device, &nonce)
        }
        Corrupt::NoAddress => Login {
            address: None,
            nonce: nonce.clone(),
        }
        .encode_to_vec(),
        Corrupt::Unparsable => vec![0xff; 24],
        _ => canonical.clone(),
    };
    let signature: Vec<u8> = match corrupt {
        Corrupt::OtherKey => sign(other.unwrap_or(key), &login, style).to_vec(),
        Corrupt::SignedCanonicalSentReordered => sign(key, &canonical, style).to_vec(),
        Corrupt::SignedAddressNonce => {
            let mut m = identity.clone();
            m.extend_from_slice(&device);
            m.extend_from_slice(&nonce);
            sign(key, &m, style).to_vec()
        }
        Corrupt::WrongSignature => {
            let mut s = sign(key, &login, style);
            s[10] ^= 0x01;
            s.to_vec()
        }
        Corrupt::ShortSignature => sign(key, &login, style)[..63].to_vec(),
        Corrupt::LongSignature => {
            let mut s = sign(key, &login, style).to_vec();
            s.push(0);
            s
        }
        Corrupt::NoSignature => Vec::new(),
        Corrupt::Malleated => xeddsa::malleate(&sign(key, &login, style)).to_vec(),
        Corrupt::ForgedP => {
            xeddsa::forge_degenerate(&xeddsa::P_BYTES, &login).map_or_else(Vec::new, |s| s.to_vec())
        }
        Corrupt::ForgedPMinus1 => xeddsa::forge_degenerate(&xeddsa::P_MINUS_1, &login)
            .map_or_else(Vec::new, |s| s.to_vec()),
        Corrupt::ForgedZero => {
            xeddsa::forge_degenerate(&[0; 32], &login).map_or_else(Vec::new, |s| s.to_vec())
        }
        Corrupt::ForgedPPlus9 => xeddsa::sign_as_base_point(&login).to_vec(),
        _ => sign(key, &login, style).to_vec(),
    };
    frame(seq, login, signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoiled_logins_differ_from_the_correct_one_only_where_they_say() {
        let key = IdentityKey::generate();
        let nonce = [7u8; 32];
        let decode = |f: &[u8]| match wire::Message::decode(f).unwrap().payload {
            Some(Payload::AuthResponse(a)) => a,
            _ => panic!("not an AuthResponse"),
        };
        let ok = decode(&correct(&key, b"d1", &nonce, 3));
        assert!(xeddsa::verify(&key.public(), &ok.login, &ok.signature).is_ok());
        let re = decode(&build(
            &key,
            b"d1",
            &nonce,
            3,
            Corrupt::Reordered,
            Style::Libsignal,
            None,
            None,
        ));
        assert_ne!(re.login, ok.login);
        assert_eq!(
            Login::decode(re.login.as_slice()).unwrap(),
            Login::decode(ok.login.as_slice()).unwrap()
        );
        assert!(xeddsa::verify(&key.public(), &re.login, &re.signature).is_ok());
        let bad = decode(&build(
            &key,
            b"d1",
            &nonce,
            3,
            Corrupt::SignedCanonicalSentReordered,
            Style::Xeddsa,
            None,
            None,
        ));
        assert!(xeddsa::verify(&key.public(), &bad.login, &bad.signature).is_err());
        for c in [
            Corrupt::WrongSignature,
            Corrupt::Malleated,
            Corrupt::SignedAddressNonce,
        ] {
            let a = decode(&build(&key, b"d1", &nonce, 3, c, Style::Xeddsa, None, None));
            assert!(
                xeddsa::verify(&key.public(), &a.login, &a.signature).is_err(),
                "{c:?}"
            );
        }
        let short = decode(&build(
            &key,
            b"d1",
            &nonce,
            3,
            Corrupt::ShortSignature,
            Style::Xeddsa,
            None,
            None,
        ));
        assert_eq!(short.signature.len(), 63);
        let forged = decode(&build(
            &key,
            b"d1",
            &nonce,
            3,
            Corrupt::ForgedP,
            Style::Xeddsa,
            None,
            None,
        ));
        let l = Login::decode(forged.login.as_slice()).unwrap();
        assert_eq!(l.address.unwrap().identity_key, xeddsa::P_BYTES);
    }
}
