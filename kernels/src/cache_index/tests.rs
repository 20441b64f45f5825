//! The cache index: its wire forms, its operations against a hash-map model, S3-FIFO eviction
//! (scan resistance, probation, the ghost) and its use by many threads at once.

use super::*;
use proptest::prelude::*;
use std::collections::VecDeque;

fn key(n: u64) -> CacheKey {
    CacheKey::for_chunk(1, n)
}

fn loc(n: u64) -> Location {
    Location::new(1, 0, n * 4096, 4096, n as u32).expect("small offset")
}

#[test]
fn location_wire_layout() {
    let l = Location::new(0xAB, 0xCD, 0x0000_1234_5678_9ABC, 0x0102_0304, 0xDEAD_BEEF).expect("fits");
    let bytes = l.to_bytes();
    assert_eq!(
        bytes,
        [0xBC, 0x9A, 0x78, 0x56, 0x34, 0x12, 0xAB, 0xCD, 0x04, 0x03, 0x02, 0x01, 0xEF, 0xBE, 0xAD, 0xDE]
    );
    assert_eq!(Location::from_bytes(bytes), l);
    assert_eq!(Location::from_slice(&bytes), Ok(l));
    assert!(matches!(
        Location::from_slice(&bytes[..15]),
        Err(KernelError::BadEncodingLength { got: 15, .. })
    ));
    assert_eq!(Location::new(0, 0, 1 << 48, 0, 0), Err(KernelError::OffsetTooLarge { offset: 1 << 48 }));
    assert!(Location::new(0, 0, Location::MAX_OFFSET, 0, 0).is_ok());
}

#[test]
fn keys() {
    assert_eq!(CacheKey::new(0), Err(KernelError::ZeroKey));
    assert_eq!(CacheKey::from_bytes([0; 16]), Err(KernelError::ZeroKey));
    let k = CacheKey::for_chunk(7, 9);
    assert_eq!(CacheKey::from_bytes(k.to_bytes()), Ok(k));
    assert_ne!(CacheKey::for_chunk(7, 9), CacheKey::for_chunk(9, 7));
    let first = CacheKey::for_token_block(None, &[1, 2, 3]);
    let second = CacheKey::for_token_block(Some(first), &[4, 5, 6]);
    assert_ne!(second, CacheKey::for_token_block(None, &[4, 5, 6]));
    assert_eq!(second, CacheKey::for_token_block(Some(first), &[4, 5, 6]));
}

#[test]
fn insert_lookup_replace_delete() {
    let index = CacheIndex::new(100).expect("valid");
    assert_eq!(index.lookup(key(1)), None);
    let first = index.insert(key(1), loc(1));
    assert_eq!(first, InsertOutcome { replaced: None, evicted: None });
    assert_eq!(index.lookup(key(1)), Some(loc(1)));
    // Duplicate insert replaces and says so.
    let again = index.insert(key(1), loc(2));
    assert_eq!(again.replaced, Some(loc(1)));
    assert_eq!(index.len(), 1);
    assert_eq!(index.delete(key(1)), Ok(loc(2)));
    assert_eq!(index.delete(key(1)), Err(KernelError::NotFound { key: key(1).as_u128() }));
    assert!(index.is_empty());
    let s = index.stats();
    assert_eq!((s.hits, s.misses, s.inserts, s.updates, s.deletes), (1, 1, 1, 1, 1));
}

#[test]
fn bad_configurations() {
    assert!(CacheIndex::new(0).is_err());
    assert!(CacheIndex::with_shards(10, 3).is_err());
    assert!(CacheIndex::with_shards(10, 16).is_err());
    assert!(CacheIndex::with_shards(MAX_CAPACITY_ENTRIES + 1, 1).is_err());
    assert_eq!(CacheIndex::new(1).map(|i| i.shard_count()), Ok(1));
    assert_eq!(CacheIndex::new(5).map(|i| i.shard_count()), Ok(4));
}

#[test]
fn at_capacity_evicts_and_reports() {
    let capacity = 1000;
    let index = CacheIndex::new(capacity).expect("valid");
    let mut evicted = 0;
    for n in 0..5000 {
        if let Some((k, l)) = index.insert(key(n), loc(n)).evicted {
            evicted += 1;
            assert!(!index.contains(k));
            assert_eq!(l.crc32c as u64, (0..n).find(|m| key(*m) == k).expect("known key"));
        }
        assert!(index.len() <= capacity);
    }
    let s = index.stats();
    assert_eq!(s.evictions, evicted);
    assert_eq!(s.inserts - s.evictions, index.len() as u64);
    // Per-shard bounds: the whole capacity is used, less a little for uneven spread.
    assert!(index.len() > capacity * 9 / 10);
}

#[test]
fn memory_per_entry_within_budget() {
    for capacity in [100_000, 1 << 20] {
        let index = CacheIndex::new(capacity).expect("valid");
        let per_entry = index.bytes_per_entry();
        assert!(per_entry <= 48.0, "{capacity}: {per_entry} bytes per entry");
    }
}

/// A plain LRU, for comparison.
fn lru_survivors(capacity: usize, hot: &[u64], scan: std::ops::Range<u64>) -> usize {
    let mut lru: VecDeque<u64> = VecDeque::new();
    let access = |k: u64, lru: &mut VecDeque<u64>| {
        if let Some(p) = lru.iter().position(|x| *x == k) {
            lru.remove(p);
        } else if lru.len() == capacity {
            lru.pop_front();
        }
        lru.push_back(k);
    };
    for _ in 0..3 {
        for &k in hot {
            access(k, &mut lru);
        }
    }
    for k in scan {
        access(k, &mut lru);
    }
    hot.iter().filter(|k| lru.contains(k)).count()
}

#[test]
fn hot_set_survives_a_one_time_scan() {
    let capacity = 1000;
    let hot: Vec<u64> = (0..200).collect();
    let scan = 10_000..13_000; // three times the capacity, each key once
    let index = CacheIndex::with_shards(capacity, 1).expect("valid");
    for _ in 0..3 {
        for &k in &hot {
            if index.lookup(key(k)).is_none() {
                index.insert(key(k), loc(k));
            }
        }
    }
    for k in scan.clone() {
        if index.lookup(key(k)).is_none() {
            index.insert(key(k), loc(k));
        }
    }
    let survivors = hot.iter().filter(|k| index.contains(key(**k))).count();
    let lru = lru_survivors(capacity, &hot, scan);
    assert_eq!(lru, 0, "LRU (and FIFO) lose the whole hot set to the scan");
    assert!(survivors >= 190, "S3-FIFO kept {survivors} of 200 hot keys");
}

#[test]
fn new_entries_get_probation_wherever_they_land() {
    // A new key's slot follows from its hash, so it may land just ahead of the small
    // queue's hand. Such a key must still survive many inserts before it is evicted.
    let capacity = 1000;
    let index = CacheIndex::with_shards(capacity, 1).expect("valid");
    let shard = &index.shards[0];
    let (mut candidate, mut fresh, mut trials) = (10_000_000u64, 0u64, 0);
    let insert_fresh = |index: &CacheIndex, fresh: &mut u64| {
        *fresh += 1;
        index.insert(key(*fresh), loc(*fresh));
    };
    for _ in 0..capacity {
        insert_fresh(&index, &mut fresh);
    }
    while trials < 50 {
        assert!(fresh < 1_000_000, "no key found to land just ahead of the hand");
        let hand = shard.writer.lock().small_hand;
        // A key whose home group starts within 30 slots ahead of the hand and has room:
        // 60 evictions then move the hand past it.
        let found = (0..2000).map(|i| candidate + i).find(|k| {
            let home = shard.home(hash_key(key(*k)));
            home * GROUP_SLOTS > hand
                && home * GROUP_SLOTS <= hand + 2 * GROUP_SLOTS
                && Group::matches(shard.groups[home].load(), 0) != 0
        });
        candidate += 2000;
        let Some(k) = found else {
            insert_fresh(&index, &mut fresh);
            continue;
        };
        index.insert(key(k), loc(k));
        let slot = shard.find_locked(key(k), hash_key(key(k))).expect("just inserted");
        assert!(slot > hand && slot < hand + 60, "slot {slot}, hand {hand}");
        for _ in 0..60 {
            insert_fresh(&index, &mut fresh);
        }
        assert!(
            index.contains(key(k)),
            "key at slot {slot}, just ahead of the hand at {hand}, evicted within 60 inserts"
        );
        trials += 1;
    }
    index.check_invariants();
}

#[test]
fn queue_scan_finds_the_next_entry_of_its_queue() {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for len in [1usize, 7, 8, 9, 64, 70] {
        for _ in 0..2000 {
            let meta: Vec<u8> = (0..len)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    [0, LIVE, LIVE | MAIN, LIVE | SEEN, MAIN, LIVE | MAIN | SEEN][(rng % 6) as usize]
                })
                .collect();
            let from = (rng >> 20) as usize % len;
            for main in [false, true] {
                let want = (0..len)
                    .map(|i| (from + i) % len)
                    .find(|&i| meta[i] & LIVE != 0 && (meta[i] & MAIN != 0) == main);
                if let Some(want) = want {
                    assert_eq!(next_in_queue(&meta, from, main), want, "{meta:x?} from {from} main {main}");
                }
            }
        }
    }
}

#[test]
fn group_match_masks() {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..10_000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let words = [rng, rng.rotate_left(29) ^ 0x00ff_00ff_00ff_00ff];
        for tag in [0u8, 1, 0x7f, 0x80, 0xff, (rng >> 8) as u8, words[0] as u8] {
            let want = (0..GROUP_SLOTS)
                .filter(|s| (words[s / 8] >> (8 * (s % 8))) as u8 == tag)
                .fold(0u32, |m, s| m | 1 << s);
            assert_eq!(Group::matches(words, tag), want, "{words:x?} tag {tag:#x}");
        }
    }
}

#[test]
fn ghost_readmits_to_main() {
    let index = CacheIndex::with_shards(100, 1).expect("valid");
    for n in 0..300 {
        index.insert(key(n), loc(n));
    }
    // Keys evicted from the small queue recently are remembered.
    for n in 100..200 {
        index.insert(key(n), loc(n));
    }
    assert!(index.stats().ghost_admissions > 0);
}

#[test]
fn concurrent_use() {
    let index = CacheIndex::new(100_000).expect("valid");
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let index = &index;
            scope.spawn(move || {
                for n in 0..2000 {
                    let k = key(t * 1_000_000 + n);
                    index.insert(k, loc(n));
                    assert_eq!(index.lookup(k), Some(loc(n)));
                }
            });
        }
    });
    assert_eq!(index.len(), 8000);
}

#[test]
fn overflow_chains_stay_consistent_under_churn() {
    // One small shard: home groups fill up and entries spill into later groups.
    let index = CacheIndex::with_shards(64, 1).expect("valid");
    let mut present = std::collections::BTreeSet::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let n = rng % 200;
        if rng & (1 << 20) == 0 {
            if let Some((evicted, _)) = index.insert(key(n), loc(n)).evicted {
                present.retain(|m| key(*m) != evicted);
            }
            present.insert(n);
        } else if index.delete(key(n)).is_ok() {
            assert!(present.remove(&n));
        }
    }
    index.check_invariants();
    for n in 0..200 {
        assert_eq!(index.lookup(key(n)), present.contains(&n).then(|| loc(n)), "key {n}");
    }
}

#[test]
fn readers_see_stable_keys_while_writers_churn() {
    // Readers probe without locks while a writer inserts, evicts and deletes in the same
    // shards: a stable key must always be found with its own location. Large enough
    // that nothing is evicted: this is about torn reads, not policy.
    let index = CacheIndex::with_shards(32_768, 2).expect("valid");
    for n in 0..256 {
        index.insert(key(n), loc(n));
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (index, done) = (&index, &done);
        scope.spawn(move || {
            for round in 0..20u64 {
                for n in 1000..3000 {
                    index.insert(key(round * 10_000 + n), loc(n));
                }
                for n in (1000..3000).step_by(2) {
                    let _ = index.delete(key(round * 10_000 + n));
                }
            }
            done.store(true, Relaxed);
        });
        scope.spawn(move || {
            let mut rounds = 0u64;
            while !done.load(Relaxed) || rounds == 0 {
                for n in 0..256 {
                    assert_eq!(index.lookup(key(n)), Some(loc(n)), "stable key {n}");
                }
                rounds += 1;
            }
        });
    });
    assert_eq!(index.stats().evictions, 0);
    index.check_invariants();
}

#[test]
fn prefetch_changes_nothing() {
    let index = CacheIndex::new(1000).expect("valid");
    for n in 0..500 {
        index.insert(key(n), loc(n));
    }
    let before = index.stats();
    let keys: Vec<CacheKey> = (0..1000).map(key).collect();
    index.prefetch(&keys);
    index.prefetch(&[]);
    assert_eq!(index.stats(), before, "prefetch counts nothing");
    for n in 0..1000 {
        assert_eq!(index.lookup(key(n)), (n < 500).then(|| loc(n)));
    }
    index.check_invariants();
}

#[test]
fn lookup_many_matches_lookup() {
    let index = CacheIndex::new(1000).expect("valid");
    for n in 0..500 {
        index.insert(key(n), loc(n));
    }
    let keys: Vec<CacheKey> = (400..700).map(key).collect();
    let mut out = vec![None; keys.len()];
    index.lookup_many(&keys, &mut out);
    for (k, got) in keys.iter().zip(&out) {
        assert_eq!(*got, index.lookup(*k));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn agrees_with_a_hashmap_model(ops in prop::collection::vec(any::<u8>(), 0..800)) {
        crate::fuzzing::cache_index_target(&ops);
    }

    #[test]
    fn decompress_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        crate::fuzzing::decompress_target(&bytes);
    }
}
