//! `--shard i/n`: a deterministic split of the checks for a CI matrix of `n` jobs.
//!
//! A check belongs to shard `1 + h mod n`, where `h` is the first 8 bytes of the SHA-256 of its
//! ID: every check is in exactly one shard, the split does not depend on the selection or the
//! order of the catalogue, and adding a case never moves the others.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// Most shards a split may have.
pub const MAX_SHARDS: usize = 1000;

/// One shard of an `n`-way split (`index` is 1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, `1..=count`.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

/// The shard (1-based) a check ID belongs to in an `n`-way split.
pub fn shard_of(check_id: &str, count: usize) -> usize {
    let digest = Sha256::digest(check_id.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(head) % count.max(1) as u64) as usize + 1
}

impl Shard {
    /// Whether the check with this ID is in this shard.
    pub fn contains(&self, check_id: &str) -> bool {
        shard_of(check_id, self.count) == self.index
    }
}

/// A `--shard` value that is not `i/n`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a shard: write i/n with 1 <= i <= n <= {MAX_SHARDS}, e.g. 2/4")]
pub struct ShardError(String);

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let usage = || ShardError(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(usage)?;
        let index: usize = i.trim().parse().map_err(|_| usage())?;
        let count: usize = n.trim().parse().map_err(|_| usage())?;
        if index == 0 || count == 0 || index > count || count > MAX_SHARDS {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "x/2", "1", "1/1001", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad} accepted");
        }
        assert_eq!(Shard { index: 3, count: 7 }.to_string(), "3/7");
    }
}
