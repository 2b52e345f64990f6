//! A protobuf field scanner: which fields a frame really carries, including those the
//! typed decoder drops (T-OPAQUE: nothing about the sender), and the two forms of an inbound
//! message (TB-INBOUND-FORM).

/// One field of an encoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    /// Field number.
    pub number: u64,
    /// Wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
    pub wire_type: u8,
    /// The bytes of a length-delimited field (empty for the others).
    pub data: &'a [u8],
    /// The value of a varint field (0 for the others).
    pub value: u64,
}

/// Reads the varint at `pos` and moves past it; `None` when it is cut short or overlong.
pub fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..70).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The fields of `buf` in order, or `None` when it is not a well-formed message.
pub fn fields(buf: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let number = key >> 3;
        let wire_type = (key & 7) as u8;
        if number == 0 {
            return None;
        }
        let mut value = 0;
        let data: &[u8] = match wire_type {
            0 => {
                value = varint(buf, &mut pos)?;
                &[]
            }
            1 => {
                pos = pos.checked_add(8).filter(|p| *p <= buf.len())?;
                &[]
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len).filter(|e| *e <= buf.len())?;
                let d = &buf[pos..end];
                pos = end;
                d
            }
            5 => {
                pos = pos.checked_add(4).filter(|p| *p <= buf.len())?;
                &[]
            }
            _ => return None,
        };
        out.push(Field {
            number,
            wire_type,
            data,
            value,
        });
    }
    Some(out)
}

/// How an inbound message carried its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundForm {
    /// Field 16 holds `InboundMessage{3: bytes}` (the typed form).
    Typed(Vec<u8>),
    /// Field 16 holds the bytes themselves (the seed's form).
    Raw(Vec<u8>),
}

/// The `sequence` (field 1) of a frame, 0 when absent.
pub fn sequence(frame: &[u8]) -> u32 {
    fields(frame)
        .and_then(|f| {
            f.iter()
                .rev()
                .find(|f| f.number == 1 && f.wire_type == 0)
                .map(|f| f.value as u32)
        })
        .unwrap_or(0)
}

/// What a frame with field 16 carries, given the bytes the suite may have sent
/// (`known`): the typed form when field 16 parses as an `InboundMessage` whose only field is
/// 3, the raw form when field 16 equals one of `known`. Also the numbers of any fields
/// beyond `sequence` and `inboundMessage`, and beyond field 3 inside it (T-OPAQUE).
pub fn inbound(frame: &[u8], known: &[Vec<u8>]) -> Option<(InboundForm, Vec<String>)> {
    let top = fields(frame)?;
    let mut extra = Vec::new();
    let mut body = None;
    for f in &top {
        match (f.number, f.wire_type) {
            (1, 0) => {}
            (16, 2) => body = Some(f.data),
            (n, _) => extra.push(format!("field {n} of Message")),
        }
    }
    let body = body?;
    if known.iter().any(|k| k.as_slice() == body) {
        return Some((InboundForm::Raw(body.to_vec()), extra));
    }
    let inner = fields(body)?;
    let mut bytes = None;
    for f in &inner {
        match (f.number, f.wire_type) {
            (3, 2) => bytes = Some(f.data.to_vec()),
            (n, _) => extra.push(format!("field {n} of InboundMessage")),
        }
    }
    Some((InboundForm::Typed(bytes.unwrap_or_default()), extra))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::tassis_v2::wire::{self, InboundMessage, Payload};

    #[test]
    fn tells_typed_from_raw_and_finds_extra_fields() {
        let typed = wire::encode(
            3,
            Payload::InboundMessage(InboundMessage {
                unidentified_sender_message: b"hello".to_vec(),
            }),
        );
        let (form, extra) = inbound(&typed, &[]).unwrap();
        assert_eq!(form, InboundForm::Typed(b"hello".to_vec()));
        assert!(extra.is_empty());
        // Field 16 holding the bytes: 0x82 0x01 = key (16 << 3 | 2).
        let mut raw = vec![0x08, 3, 0x82, 0x01, 5];
        raw.extend_from_slice(b"hello");
        let (form, _) = inbound(&raw, &[b"hello".to_vec()]).unwrap();
        assert_eq!(form, InboundForm::Raw(b"hello".to_vec()));
        // An extra field 4 inside InboundMessage (a sender) and 20 outside.
        let mut inner = vec![0x1a, 5];
        inner.extend_from_slice(b"hello");
        inner.extend_from_slice(&[0x22, 2, b'm', b'e']);
        let mut leaky = vec![0x08, 3, 0x82, 0x01, inner.len() as u8];
        leaky.extend_from_slice(&inner);
        leaky.extend_from_slice(&[0xa0, 0x01, 1]);
        let (_, extra) = inbound(&leaky, &[]).unwrap();
        assert_eq!(extra, ["field 20 of Message", "field 4 of InboundMessage"]);
        assert!(fields(&[0xff]).is_none());
        assert!(fields(&[0x0a, 10, 1]).is_none());
    }
}
