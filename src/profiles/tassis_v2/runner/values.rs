//! Byte expressions of case files, and the fresh identity keys they name.
//!
//! - `""`: no bytes; `$name`: 32 fresh random bytes, the same for every use of `name` in one
//!   check; `$name/N`: N fresh random bytes;
//! - `key:alice`: the public identity key of `alice`, a fresh key made for this check;
//!   `key255:alice` the same with bit 255 set;
//! - `text:d1`: UTF-8 bytes; `hex:00ff`: literal bytes.
//!
//! Every run draws fresh values, so state a server kept from an earlier run never meets a
//! later one.

use std::collections::HashMap;

use rand::RngCore;

use crate::profiles::tassis_v2::xeddsa::IdentityKey;

/// A byte expression that does not parse.
#[derive(Debug, thiserror::Error)]
#[error(
    "bad byte expression `{expr}`: {why}; write \"\", $name, $name/N, key:NAME, text:… or hex:…"
)]
pub struct ValueError {
    /// The expression.
    pub expr: String,
    /// What is wrong.
    pub why: String,
}

/// The values and keys of one check.
#[derive(Default)]
pub struct Values {
    bytes: HashMap<String, Vec<u8>>,
    keys: HashMap<String, IdentityKey>,
}

impl Values {
    /// The key named `name`, made on first use. The Edwards sign bits of a check's keys
    /// alternate 1, 0, 1, ... in order of first use, so every check with two keys meets both
    /// conventions of TB-SIG, and no check's verdict depends on a coin flip.
    pub fn key(&mut self, name: &str) -> &IdentityKey {
        let bit = u8::from(self.keys.len().is_multiple_of(2));
        self.keys
            .entry(name.to_string())
            .or_insert_with(|| IdentityKey::generate_with_sign_bit(bit))
    }

    /// The bytes an expression stands for.
    pub fn eval(&mut self, expr: &str) -> Result<Vec<u8>, ValueError> {
        let bad = |why: &str| ValueError {
            expr: expr.to_string(),
            why: why.to_string(),
        };
        if expr.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(name) = expr.strip_prefix('$') {
            let (name, len) = match name.split_once('/') {
                Some((n, l)) => (n, l.parse::<usize>().map_err(|_| bad("N is not a number"))?),
                None => (name, 32),
            };
            if len > 1 << 20 {
                return Err(bad("N is over 1 MiB"));
            }
            let key = format!("{name}/{len}");
            let v = self.bytes.entry(key).or_insert_with(|| {
                let mut b = vec![0u8; len];
                rand::rng().fill_bytes(&mut b);
                b
            });
            return Ok(v.clone());
        }
        if let Some(name) = expr.strip_prefix("key:") {
            return Ok(self.key(name).public().to_vec());
        }
        if let Some(name) = expr.strip_prefix("key255:") {
            let mut k = self.key(name).public().to_vec();
            k[31] |= 0x80;
            return Ok(k);
        }
        if let Some(t) = expr.strip_prefix("text:") {
            return Ok(t.as_bytes().to_vec());
        }
        if let Some(h) = expr.strip_prefix("hex:") {
            return hex::decode(h).map_err(|_| bad("not hex"));
        }
        Err(bad("unknown form"))
    }

    /// Check an expression's form without drawing anything (case validation).
    pub fn check(expr: &str) -> Result<(), ValueError> {
        Values::default().eval(expr).map(|_| ())
    }

    /// The name of the value these bytes came from, for messages (`$m1`), if any.
    pub fn name_of(&self, bytes: &[u8]) -> Option<String> {
        self.bytes
            .iter()
            .find(|(_, v)| v.as_slice() == bytes)
            .map(|(k, _)| format!("${}", k.trim_end_matches("/32")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_bits_alternate_in_order_of_first_use() {
        let mut v = Values::default();
        let bits: Vec<u8> = ["alice", "bob", "carol", "alice", "dave"]
            .iter()
            .map(|n| v.key(n).edwards_sign_bit())
            .collect();
        assert_eq!(bits, [1, 0, 1, 1, 0]);
    }

    #[test]
    fn names_are_stable_within_a_check_and_fresh_across_checks() {
        let mut a = Values::default();
        let x = a.eval("$m1").unwrap();
        assert_eq!(x.len(), 32);
        assert_eq!(a.eval("$m1").unwrap(), x);
        assert_ne!(a.eval("$m2").unwrap(), x);
        assert_eq!(a.eval("$big/100").unwrap().len(), 100);
        let mut b = Values::default();
        assert_ne!(b.eval("$m1").unwrap(), x);
        assert_eq!(a.eval("key:alice").unwrap(), a.eval("key:alice").unwrap());
        assert_eq!(a.eval("text:d1").unwrap(), b"d1");
        assert_eq!(a.eval("hex:00ff").unwrap(), [0, 255]);
        assert!(a.eval("nope").is_err());
        assert!(a.eval("$x/abc").is_err());
        assert_eq!(a.name_of(&x).as_deref(), Some("$m1"));
    }
}
