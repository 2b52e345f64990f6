//! Structure-aware mutations of protobuf frames: the frame is parsed into fields (and, at a
//! random depth, into the fields of a nested message), one mutation is applied at that level,
//! and the levels above are re-encoded with correct lengths around it.
//!
//! Every mutation is named; the name goes into the finding's description.

use rand::Rng;

/// One field of an encoded message, as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Field number (up to 2²⁹ − 1).
    pub number: u32,
    /// Wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
    pub wire_type: u8,
    /// The value's bytes without the key: the varint's own bytes, 8 or 4 fixed bytes, or
    /// the content of a length-delimited field (its length is written on encoding).
    pub raw: Vec<u8>,
}

/// The varint encoding of `v`.
pub fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// The fields of `buf`, or `None` when it is not a well-formed message (groups count as
/// not well-formed).
pub fn parse(buf: &[u8]) -> Option<Vec<Field>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = crate::profiles::tassis_v2::runner::scan::varint(buf, &mut pos)?;
        let number = u32::try_from(key >> 3).ok().filter(|n| *n != 0)?;
        let wire_type = (key & 7) as u8;
        let start = pos;
        let raw = match wire_type {
            0 => {
                crate::profiles::tassis_v2::runner::scan::varint(buf, &mut pos)?;
                buf[start..pos].to_vec()
            }
            1 | 5 => {
                let n = if wire_type == 1 { 8 } else { 4 };
                pos = pos.checked_add(n).filter(|p| *p <= buf.len())?;
                buf[start..pos].to_vec()
            }
            2 => {
                let len = usize::try_from(crate::profiles::tassis_v2::runner::scan::varint(
                    buf, &mut pos,
                )?)
                .ok()?;
                let end = pos.checked_add(len).filter(|e| *e <= buf.len())?;
                let d = buf[pos..end].to_vec();
                pos = end;
                d
            }
            _ => return None,
        };
        out.push(Field {
            number,
            wire_type,
            raw,
        });
    }
    Some(out)
}

/// The key of a field.
fn key(number: u32, wire_type: u8) -> Vec<u8> {
    varint((u64::from(number) << 3) | u64::from(wire_type & 7))
}

/// Encode fields back (length-delimited contents get their length).
pub fn encode(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        out.extend(key(f.number, f.wire_type));
        if f.wire_type == 2 {
            out.extend(varint(f.raw.len() as u64));
        }
        out.extend_from_slice(&f.raw);
    }
    out
}

/// Field numbers of `Message`'s payloads (the oneof), for confusion between messages.
pub const PAYLOAD_FIELDS: [u32; 14] = [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16];

/// The mutations of one level, by name.
pub const MUTATIONS: [&str; 16] = [
    "wrong-wire-type",
    "truncated-varint",
    "overlong-varint",
    "length-past-end",
    "unknown-field",
    "repeated-oneof",
    "huge-repeated",
    "field-number-confusion",
    "empty-submessage",
    "absent-field",
    "duplicate-field",
    "varint-extreme",
    "bytes-length",
    "bit-flip",
    "truncate",
    "reorder",
];

/// Mutate `frame` once, at a random depth: the bytes and the mutation's name
/// (`depth-1 wrong-wire-type`).
pub fn mutate(frame: &[u8], rng: &mut impl Rng) -> (Vec<u8>, String) {
    let depth = match rng.random_range(0..10) {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    };
    match at_depth(frame, depth, rng) {
        Some((b, name, d)) => (b, format!("depth-{d} {name}")),
        None => {
            let mut b = frame.to_vec();
            flip(&mut b, rng);
            (b, "bit-flip".into())
        }
    }
}

/// Descend `depth` levels through length-delimited fields that parse, mutate there, and
/// re-encode upwards.
fn at_depth(
    buf: &[u8],
    depth: usize,
    rng: &mut impl Rng,
) -> Option<(Vec<u8>, &'static str, usize)> {
    let mut fields = parse(buf)?;
    if depth > 0 {
        let nested: Vec<usize> = fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.wire_type == 2 && !f.raw.is_empty() && parse(&f.raw).is_some())
            .map(|(i, _)| i)
            .collect();
        if !nested.is_empty() {
            let i = nested[rng.random_range(0..nested.len())];
            if let Some((inner, name, d)) = at_depth(&fields[i].raw, depth - 1, rng) {
                fields[i].raw = inner;
                return Some((encode(&fields), name, d + 1));
            }
        }
    }
    let (bytes, name) = level(&mut fields, buf, depth == 0, rng);
    Some((bytes, name, 0))
}

fn flip(b: &mut Vec<u8>, rng: &mut impl Rng) {
    if b.is_empty() {
        b.push(rng.random());
        return;
    }
    let i = rng.random_range(0..b.len());
    b[i] ^= 1 << rng.random_range(0..8);
}

fn pick(fields: &[Field], rng: &mut impl Rng) -> Option<usize> {
    (!fields.is_empty()).then(|| rng.random_range(0..fields.len()))
}

/// One mutation of one level: its bytes and its name. `top`: this is the `Message` itself.
fn level(
    fields: &mut Vec<Field>,
    original: &[u8],
    top: bool,
    rng: &mut impl Rng,
) -> (Vec<u8>, &'static str) {
    let name = MUTATIONS[rng.random_range(0..MUTATIONS.len())];
    match name {
        "wrong-wire-type" => {
            if let Some(i) = pick(fields, rng) {
                let f = &mut fields[i];
                f.wire_type = [0u8, 1, 2, 5][rng.random_range(0..4)];
                f.raw = match f.wire_type {
                    0 => varint(rng.random_range(0..1000)),
                    1 => vec![0x41; 8],
                    5 => vec![0x41; 4],
                    _ => b"wrong wire type".to_vec(),
                };
            }
            (encode(fields), name)
        }
        "truncated-varint" => {
            // A key, then a varint whose last byte still has the continuation bit.
            let mut b = encode(fields);
            let number = if top && rng.random_bool(0.5) {
                1
            } else {
                rng.random_range(1..20)
            };
            b.extend(key(number, 0));
            b.extend(std::iter::repeat_n(0xff, rng.random_range(1..12)));
            (b, name)
        }
        "overlong-varint" => {
            // The sequence (or a field) as 10 or 11 bytes: zero padding, or past 64 bits.
            let mut b = key(if top { 1 } else { rng.random_range(1..4) }, 0);
            let n = rng.random_range(2..11);
            b.extend(std::iter::repeat_n(0x80, n));
            b.push(if rng.random_bool(0.5) { 0x00 } else { 0x7f });
            b.extend(encode(fields));
            (b, name)
        }
        "length-past-end" => {
            // A length-delimited field whose length runs past the end of the frame.
            let mut b = encode(fields);
            let number = if top {
                PAYLOAD_FIELDS[rng.random_range(0..PAYLOAD_FIELDS.len())]
            } else {
                rng.random_range(1..4)
            };
            b.extend(key(number, 2));
            let claimed: u64 =
                [1u64 << 31, u64::from(u32::MAX), 40_000, 100][rng.random_range(0..4)];
            b.extend(varint(claimed));
            b.extend_from_slice(b"short");
            (b, name)
        }
        "unknown-field" => {
            let number = [11u32, 17, 18, 19, 20, 99, 1000, (1 << 29) - 1][rng.random_range(0..8)];
            let wire_type = [0u8, 1, 2, 5][rng.random_range(0..4)];
            let raw = match wire_type {
                0 => varint(rng.random()),
                1 => vec![7; 8],
                5 => vec![7; 4],
                _ => vec![0x11; rng.random_range(0..64)],
            };
            let at = rng.random_range(0..=fields.len());
            fields.insert(
                at,
                Field {
                    number,
                    wire_type,
                    raw,
                },
            );
            (encode(fields), name)
        }
        "repeated-oneof" => {
            // A second payload of another kind, before or after the first.
            let number = PAYLOAD_FIELDS[rng.random_range(0..PAYLOAD_FIELDS.len())];
            let f = Field {
                number,
                wire_type: 2,
                raw: Vec::new(),
            };
            if rng.random_bool(0.5) {
                fields.insert(0, f);
            } else {
                fields.push(f);
            }
            (encode(fields), name)
        }
        "huge-repeated" => {
            // Thousands of copies of one length-delimited field (under 32 KiB in all).
            let number = match fields.iter().find(|f| f.wire_type == 2) {
                Some(f) => f.number,
                None => 2,
            };
            let item = vec![0x5a; rng.random_range(0..3)];
            let n = 30_000 / (item.len() + 3);
            for _ in 0..n {
                fields.push(Field {
                    number,
                    wire_type: 2,
                    raw: item.clone(),
                });
            }
            (encode(fields), name)
        }
        "field-number-confusion" => {
            // The same bytes under another message's field number.
            if let Some(i) = pick(fields, rng) {
                fields[i].number = if top && fields[i].wire_type == 2 {
                    PAYLOAD_FIELDS[rng.random_range(0..PAYLOAD_FIELDS.len())]
                } else {
                    rng.random_range(1..17)
                };
            }
            (encode(fields), name)
        }
        "empty-submessage" => {
            if let Some(i) = fields.iter().position(|f| f.wire_type == 2) {
                fields[i].raw.clear();
            } else if top {
                fields.push(Field {
                    number: PAYLOAD_FIELDS[rng.random_range(0..PAYLOAD_FIELDS.len())],
                    wire_type: 2,
                    raw: Vec::new(),
                });
            }
            (encode(fields), name)
        }
        "absent-field" => {
            if let Some(i) = pick(fields, rng) {
                fields.remove(i);
            }
            (encode(fields), name)
        }
        "duplicate-field" => {
            if let Some(i) = pick(fields, rng) {
                let mut f = fields[i].clone();
                if f.wire_type == 2 && rng.random_bool(0.5) {
                    f.raw = vec![0x33; rng.random_range(0..40)];
                }
                fields.push(f);
            }
            (encode(fields), name)
        }
        "varint-extreme" => {
            let v: u64 = [
                0,
                1,
                u64::from(u32::MAX),
                u64::from(u32::MAX) + 1,
                u64::MAX,
                i64::MAX as u64,
            ][rng.random_range(0..6)];
            match fields.iter().position(|f| f.wire_type == 0) {
                Some(i) if rng.random_bool(0.8) => fields[i].raw = varint(v),
                _ => fields.insert(
                    0,
                    Field {
                        number: 1,
                        wire_type: 0,
                        raw: varint(v),
                    },
                ),
            }
            (encode(fields), name)
        }
        "bytes-length" => {
            // A length-delimited field cut short, or grown (keys, device IDs, signatures).
            if let Some(i) = fields.iter().position(|f| f.wire_type == 2) {
                let f = &mut fields[i];
                match rng.random_range(0..4) {
                    0 => f.raw.truncate(f.raw.len().saturating_sub(1)),
                    1 => f.raw.truncate(rng.random_range(0..=f.raw.len())),
                    2 => f.raw.push(0),
                    _ => f.raw.extend(vec![0x44; rng.random_range(1..100)]),
                }
            }
            (encode(fields), name)
        }
        "bit-flip" => {
            let mut b = original.to_vec();
            for _ in 0..rng.random_range(1..4) {
                flip(&mut b, rng);
            }
            (b, name)
        }
        "truncate" => {
            let mut b = original.to_vec();
            if !b.is_empty() {
                b.truncate(rng.random_range(0..b.len()));
            }
            (b, name)
        }
        _ => {
            fields.reverse();
            (encode(fields), "reorder")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parse_and_encode_round_trip_and_mutations_never_panic() {
        let frame = crate::profiles::tassis_v2::wire::encode(
            7,
            crate::profiles::tassis_v2::wire::Payload::Register(
                crate::profiles::tassis_v2::wire::Register {
                    signed_pre_key: vec![1; 32],
                    one_time_pre_keys: vec![vec![2; 32], vec![3; 32]],
                },
            ),
        );
        assert_eq!(encode(&parse(&frame).unwrap()), frame);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut names = std::collections::BTreeSet::new();
        for _ in 0..5000 {
            let (b, name) = mutate(&frame, &mut rng);
            assert!(b.len() < 40_000, "{name}");
            names.insert(name.split(' ').nth(1).unwrap_or("").to_string());
        }
        assert!(names.len() >= 14, "{names:?}");
        assert_eq!(varint(300), vec![0xac, 0x02]);
    }
}
