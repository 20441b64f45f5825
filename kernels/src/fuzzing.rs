//! Bodies of the fuzz targets, as plain functions of arbitrary bytes, so that `cargo fuzz`
//! (nightly, `fuzz/`), proptest and the stable soak loop (`examples/fuzz_soak.rs`) run the
//! same checks. Built only with the `fuzzing` feature (and in tests). Each function panics
//! only when a kernel breaks its contract, which is what the fuzzer looks for.

use std::collections::HashMap;

use crate::cache_index::{CacheIndex, CacheKey, Location};
use crate::compress::{compress, decompress, max_compressed_len, Algorithm, Codec};
use crate::KernelError;

/// Largest destination the decompress target allocates.
pub const MAX_FUZZ_DST_BYTES: usize = 1 << 20;

/// Decompresses arbitrary bytes with every algorithm into a small and a big destination,
/// and round-trips the same bytes through every algorithm. Byte 0 picks the small size.
pub fn decompress_target(data: &[u8]) {
    let (small_len, input) = match data.split_first() {
        Some((first, rest)) => (usize::from(*first) * 16, rest),
        None => (0, data),
    };
    let mut small = vec![0u8; small_len];
    let mut big = vec![0u8; MAX_FUZZ_DST_BYTES];
    for algorithm in Algorithm::ALL {
        for dst in [&mut small[..], &mut big[..]] {
            match decompress(algorithm, input, dst) {
                Ok(n) => assert!(n <= dst.len(), "{algorithm}: reported {n} > capacity"),
                Err(KernelError::CorruptInput { .. }) => {}
                Err(KernelError::DstTooSmall { capacity, .. }) => assert_eq!(capacity, dst.len()),
                Err(other) => panic!("{algorithm}: unexpected error {other}"),
            }
        }
        round_trip(Codec::with_default_level(algorithm), input, small_len);
    }
}

fn round_trip(codec: Codec, input: &[u8], small_len: usize) {
    let mut packed = vec![0u8; max_compressed_len(&codec, input.len())];
    let n = compress(&codec, input, &mut packed)
        .unwrap_or_else(|e| panic!("{codec:?}: compress into the bound failed: {e}"));
    let mut out = vec![0u8; input.len()];
    let m = decompress(codec.algorithm(), &packed[..n], &mut out)
        .unwrap_or_else(|e| panic!("{codec:?}: round trip failed: {e}"));
    assert_eq!(m, input.len());
    assert!(out == input, "{codec:?}: round trip changed the data");
    // Compressing into a short destination is an error, never a panic or a wrong length.
    let short = small_len.min(packed.len());
    match compress(&codec, input, &mut packed[..short]) {
        Ok(k) => assert!(k <= short),
        Err(KernelError::DstTooSmall { .. }) => {}
        Err(other) => panic!("{codec:?}: unexpected error {other}"),
    }
}

/// Runs an arbitrary sequence of index operations against a `HashMap` model. Inserts report
/// what they evict, so the model follows the index exactly: every lookup, replace and
/// delete must agree with it, `len` never exceeds capacity, and the counters add up.
pub fn cache_index_target(data: &[u8]) {
    let Some((&config, ops)) = data.split_first() else {
        return;
    };
    let capacity = 1 + usize::from(config & 0x3F);
    let shards = 1usize << (config >> 6).min(capacity.ilog2() as u8);
    let Ok(index) = CacheIndex::with_shards(capacity, shards) else {
        panic!("valid configuration rejected: {capacity} entries, {shards} shards");
    };
    let mut model: HashMap<CacheKey, Location> = HashMap::new();
    // A small key space so operations collide; key 0 is tried too.
    for op in ops.chunks(4) {
        let [kind, key_byte, a, b] = [0, 1, 2, 3].map(|i| op.get(i).copied().unwrap_or(0));
        let raw = u128::from(key_byte % 96);
        let key = match CacheKey::new(raw) {
            Ok(k) => k,
            Err(e) => {
                assert_eq!(e, KernelError::ZeroKey);
                continue;
            }
        };
        let location = Location::new(a, b, u64::from(a) << 40 | u64::from(b), u32::from(b), u32::from(a))
            .expect("offset below 2^48");
        match kind % 4 {
            0 | 1 => {
                let outcome = index.insert(key, location);
                // Evictions are reported, so the model tracks the index exactly.
                assert_eq!(outcome.replaced, model.get(&key).copied());
                if let Some((evicted_key, evicted_location)) = outcome.evicted {
                    assert_ne!(evicted_key, key);
                    assert_eq!(model.remove(&evicted_key), Some(evicted_location));
                }
                model.insert(key, location);
            }
            2 => {
                let got = index.lookup(key);
                assert_eq!(got, model.get(&key).copied(), "lookup {raw}");
            }
            _ => match index.delete(key) {
                Ok(loc) => assert_eq!(model.remove(&key), Some(loc)),
                Err(e) => {
                    assert_eq!(e, KernelError::NotFound { key: raw });
                    assert!(!model.contains_key(&key));
                }
            },
        }
        assert!(index.len() <= capacity);
        assert_eq!(index.len(), model.len());
    }
    index.check_invariants();
    let stats = index.stats();
    assert_eq!(stats.inserts - stats.evictions - stats.deletes, index.len() as u64);
}
