//! Sharding: the union of all shards is the whole plan, with no overlap, for every split size;
//! the split is stable when cases are added.

use std::collections::BTreeMap;

use edgecheck::cli::shard::{shard_of, Shard};
use edgecheck::profiles::edge_v1::cases;

fn catalogue_ids() -> Vec<String> {
    cases::builtin()
        .expect("built-in cases load")
        .iter()
        .flat_map(|f| f.cases.iter().map(|c| c.id.clone()))
        .collect()
}

#[test]
fn shards_cover_every_check_exactly_once() {
    let ids = catalogue_ids();
    assert!(
        ids.len() > 10,
        "the catalogue is too small to test sharding"
    );
    for n in [1, 2, 3, 4, 7, 16] {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for i in 1..=n {
            let s = Shard { index: i, count: n };
            for id in ids.iter().filter(|id| s.contains(id)) {
                *seen.entry(id.as_str()).or_default() += 1;
            }
        }
        assert_eq!(
            seen.len(),
            ids.len(),
            "n = {n}: some checks are in no shard"
        );
        assert!(
            seen.values().all(|&k| k == 1),
            "n = {n}: some checks are in two shards"
        );
    }
}

#[test]
fn shards_are_balanced_enough_to_be_worth_it() {
    let ids = catalogue_ids();
    let n = 4;
    for i in 1..=n {
        let size = ids.iter().filter(|id| shard_of(id, n) == i).count();
        assert!(size > 0, "shard {i}/{n} is empty for {} checks", ids.len());
    }
}

#[test]
fn adding_a_case_moves_no_other_check() {
    let ids = catalogue_ids();
    let before: Vec<usize> = ids.iter().map(|id| shard_of(id, 5)).collect();
    let mut more = ids.clone();
    more.insert(3, "create/a-new-case".into());
    let after: Vec<usize> = more
        .iter()
        .filter(|id| *id != "create/a-new-case")
        .map(|id| shard_of(id, 5))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn the_split_is_pinned() {
    // CI matrices depend on this split: these values must never change.
    let got: Vec<usize> = ["create/created", "send/ok", "retrieve/paging", "a/b"]
        .iter()
        .map(|id| shard_of(id, 7))
        .collect();
    assert_eq!(got, PINNED);
}

// Computed independently: int.from_bytes(sha256(id)[:8], "big") % 7 + 1.
const PINNED: [usize; 4] = [3, 4, 5, 7];
