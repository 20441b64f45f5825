//! Bodies of the fuzz targets, as plain functions of arbitrary bytes, so that `cargo fuzz`
//! (`fuzz/`, coverage-guided), proptest and the soak loop (`examples/fuzz_soak.rs`) run the
//! same checks. Built only with the `fuzzing` feature (and in tests). Each function panics
//! only when a kernel breaks its contract, which is what the fuzzer looks for.

use std::collections::HashMap;

use crate::cache_index::{CacheIndex, CacheKey, Location};
use crate::compress::{
    compress, decompress, deflate_decompress_with, isal_linked, max_compressed_len, Algorithm, Codec,
    InflateBackend,
};
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
        let mut whole = None;
        for dst in [&mut small[..], &mut big[..]] {
            match decompress(algorithm, input, dst) {
                Ok(n) => {
                    assert!(n <= dst.len(), "{algorithm}: reported {n} > capacity");
                    whole = Some(dst[..n].to_vec());
                }
                Err(KernelError::CorruptInput { .. }) => {}
                Err(KernelError::DstTooSmall { capacity, needed }) => {
                    assert_eq!(capacity, dst.len());
                    assert!(
                        needed.is_none_or(|n| n > capacity),
                        "{algorithm}: needs {needed:?} of {capacity}"
                    );
                }
                Err(other) => panic!("{algorithm}: unexpected error {other}"),
            }
        }
        if let Some(out) = whole {
            exact_fit(algorithm, input, &out);
            agrees_with_reference(algorithm, input, &out);
        }
        if matches!(algorithm, Algorithm::Gzip | Algorithm::Zlib) && isal_linked() {
            inflate_backends_agree(algorithm, input, &mut big);
        }
        round_trip(Codec::with_default_level(algorithm), input, small_len);
    }
}

/// The kit's two inflate backends (libdeflate, ISA-L) give the same answer under the kit's
/// rules: the same bytes, or the same kind of error. Which of them decodes a stream may
/// depend on the destination's size ([`crate::compress::inflate_backend`]), so any stream
/// one reads and the other refuses would read or not by the size of the buffer.
fn inflate_backends_agree(algorithm: Algorithm, input: &[u8], dst: &mut [u8]) {
    let first =
        deflate_decompress_with(InflateBackend::Libdeflate, algorithm, input, dst).map(|n| dst[..n].to_vec());
    let second =
        deflate_decompress_with(InflateBackend::Isal, algorithm, input, dst).map(|n| dst[..n].to_vec());
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert!(a == b, "{algorithm}: libdeflate and ISA-L read different bytes"),
        (Err(a), Err(b)) if std::mem::discriminant(a) == std::mem::discriminant(b) => {}
        _ => panic!(
            "{algorithm}: libdeflate gave {:?}, ISA-L {:?}",
            first.as_ref().map(Vec::len),
            second.as_ref().map(Vec::len)
        ),
    }
}

/// A stream that decompressed to `out` decompresses to the same bytes into a destination of
/// exactly that size, and is `DstTooSmall` one byte short.
fn exact_fit(algorithm: Algorithm, input: &[u8], out: &[u8]) {
    let mut exact = vec![0u8; out.len()];
    match decompress(algorithm, input, &mut exact) {
        Ok(n) => {
            assert!(n == out.len() && exact == out, "{algorithm}: exact-size destination gave other bytes")
        }
        Err(e) => {
            panic!("{algorithm}: {} bytes fit a bigger destination but not their own size: {e}", out.len())
        }
    }
    if let Some(short) = out.len().checked_sub(1) {
        match decompress(algorithm, input, &mut exact[..short]) {
            Err(KernelError::DstTooSmall { capacity, .. }) => assert_eq!(capacity, short),
            other => panic!("{algorithm}: one byte short of {} gave {other:?}", out.len()),
        }
    }
}

/// What the kit accepted, a second decoder of the format reads to the same bytes: for LZ4
/// `lz4_flex`'s frame decoder (the kit reads frames itself, blocks with liblz4), for zstd
/// the library's streaming decoder, for gzip and zlib zlib-rs (the kit uses ISA-L and
/// libdeflate).
fn agrees_with_reference(algorithm: Algorithm, input: &[u8], out: &[u8]) {
    use std::io::Read;
    let limit = MAX_FUZZ_DST_BYTES as u64 + 1;
    let mut reference = Vec::new();
    let read = match algorithm {
        Algorithm::Lz4 => lz4_flex::frame::FrameDecoder::new(input).take(limit).read_to_end(&mut reference),
        Algorithm::Zstd => match zstd::stream::read::Decoder::new(input) {
            Ok(d) => d.take(limit).read_to_end(&mut reference),
            Err(e) => Err(e),
        },
        Algorithm::Gzip => flate2::read::MultiGzDecoder::new(input).take(limit).read_to_end(&mut reference),
        Algorithm::Zlib => flate2::read::ZlibDecoder::new(input).take(limit).read_to_end(&mut reference),
    };
    if let Err(e) = read {
        // libzstd's one-shot decoder (the kit's) reads what its streaming decoder refuses:
        // a block larger than its frame's window, which the spec does not allow, and a
        // window over the streaming decoder's memory limit. Both are libzstd, so these are
        // the library's own (pinned by `compress::tests::zstd_one_shot_reads_...`).
        // lz4_flex's frame decoder stops at a skippable frame, which the format allows and
        // the `lz4` tool skips, as the kit does.
        let lz4_skippable = algorithm == Algorithm::Lz4 && e.to_string().starts_with("SkippableFrame");
        // libdeflate (one of the kit's gzip/zlib decoders) reads some deflate streams zlib
        // calls corrupt (length symbols 286 and 287 as 258); the reference checks only what
        // zlib reads (see docs/baselines.md).
        let deflate_lenient = matches!(algorithm, Algorithm::Gzip | Algorithm::Zlib)
            && e.to_string().contains("corrupt deflate stream");
        if !(lz4_skippable
            || deflate_lenient
            || algorithm == Algorithm::Zstd && zstd_streaming_refuses(input))
        {
            panic!(
                "{algorithm}: the kit read {} bytes from a stream its reference decoder rejects: {e}",
                out.len()
            );
        }
        return;
    }
    assert!(reference == out, "{algorithm}: the kit and its reference decoder read different bytes");
}

/// The largest window libzstd's streaming decoder accepts by default
/// (`ZSTD_WINDOWLOG_LIMIT_DEFAULT`: 2^27 bytes).
const ZSTD_STREAM_WINDOW_MAX: u64 = 1 << 27;

/// Whether a zstd stream holds a frame whose window is over the streaming decoder's limit,
/// or a block larger than its frame allows (the window, at most 128 KiB: RFC 8878 section
/// 3.1.1.2.4), reading frame and block headers only. Streams this cannot follow
/// (truncated, a reserved block type) are `false`.
pub(crate) fn zstd_streaming_refuses(mut s: &[u8]) -> bool {
    const MAGIC: u32 = 0xFD2F_B528;
    let take = |s: &mut &[u8], n: usize| -> Option<u64> {
        let (head, rest) = (s.get(..n)?, s.get(n..)?);
        *s = rest;
        Some(head.iter().rev().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
    };
    while !s.is_empty() {
        let Some(magic) = take(&mut s, 4) else { return false };
        if magic as u32 & 0xFFFF_FFF0 == 0x184D_2A50 {
            // A skippable frame: its length, then that many bytes.
            let Some(len) = take(&mut s, 4) else { return false };
            let Some(rest) = s.get(len as usize..) else { return false };
            s = rest;
            continue;
        }
        if magic as u32 != MAGIC {
            return false;
        }
        let Some(fhd) = take(&mut s, 1) else { return false };
        let single = fhd & 0x20 != 0;
        let window = if single {
            None
        } else {
            let Some(wd) = take(&mut s, 1) else { return false };
            let base = 1u64 << (10 + (wd >> 3));
            Some(base + base / 8 * (wd & 7))
        };
        let Some(_dict) = take(&mut s, [0, 1, 2, 4][(fhd & 3) as usize]) else { return false };
        let fcs_len = [usize::from(single), 2, 4, 8][(fhd >> 6) as usize];
        let Some(fcs) = take(&mut s, fcs_len) else { return false };
        let fcs = if fcs_len == 2 { fcs + 256 } else { fcs };
        if window.unwrap_or(fcs) > ZSTD_STREAM_WINDOW_MAX {
            return true;
        }
        let max_block = window.unwrap_or(fcs).min(128 << 10);
        loop {
            let Some(header) = take(&mut s, 3) else { return false };
            let (last, kind, size) = (header & 1 == 1, (header >> 1) & 3, header >> 3);
            if size > max_block {
                return true;
            }
            let body = match kind {
                0 | 2 => size as usize,
                1 => 1,
                _ => return false,
            };
            let Some(rest) = s.get(body..) else { return false };
            s = rest;
            if last {
                break;
            }
        }
        if fhd & 4 != 0 && take(&mut s, 4).is_none() {
            return false;
        }
    }
    false
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
