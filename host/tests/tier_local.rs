//! Local tier: round trips through io_uring and the pread/pwrite fallback, buffered and
//! O_DIRECT, and the errors a person sees for bad requests and unusable directories.

use dpukit_host::tier::{Backend, Durability, LocalTier, LocalTierConfig, TierError};

#[path = "common/local_tier.rs"]
mod local_tier;
use local_tier::{allow_new_files, config, deny_new_files, open_or_report, pattern};

/// Writes chunks of mixed sizes (some larger than a pool buffer, so split) at aligned
/// offsets, reads them back in one batch and one by one.
fn round_trip(portable: bool, direct: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut tier = open_or_report(dir.path(), config(portable, direct));
    let expected = if portable { Backend::PreadPwrite } else { Backend::IoUring };
    if !portable && tier.backend() != Backend::IoUring {
        eprintln!("NOTE: io_uring unavailable on this kernel; the io_uring round trip ran on the fallback");
    } else {
        assert_eq!(tier.backend(), expected);
    }
    assert_eq!(tier.durability(), Durability::Fdatasync);

    let sizes = [4096usize, 65536, 200 * 1024, 8192, 1 << 20];
    let mut offset = 0u64;
    let mut chunks = Vec::new();
    for (i, &len) in sizes.iter().enumerate() {
        chunks.push((offset, pattern(i as u64, len)));
        offset += len as u64 + 4096;
    }
    let writes: Vec<(u64, &[u8])> = chunks.iter().map(|(o, d)| (*o, &d[..])).collect();
    let acks = tier.write_chunks("rank0", &writes).unwrap();
    assert_eq!(acks.len(), chunks.len());
    for (ack, (o, d)) in acks.iter().zip(&chunks) {
        assert_eq!((ack.offset_bytes, ack.len_bytes), (*o, d.len() as u64));
    }

    let mut bufs: Vec<Vec<u8>> = chunks.iter().map(|(_, d)| vec![0u8; d.len()]).collect();
    let mut reqs: Vec<(u64, &mut [u8])> =
        chunks.iter().zip(bufs.iter_mut()).map(|((o, _), b)| (*o, &mut b[..])).collect();
    tier.read_chunks("rank0", &mut reqs).unwrap();
    for ((_, want), got) in chunks.iter().zip(&bufs) {
        assert!(want == got, "batch read mismatch");
    }
    for (o, want) in &chunks {
        assert!(tier.read_chunk("rank0", *o, want.len()).unwrap() == *want, "single read mismatch");
    }

    // A fresh tier (no cached files) sees the same bytes: they are in the file, not a cache.
    drop(tier);
    let mut again = open_or_report(dir.path(), config(!portable, direct));
    let (o, want) = &chunks[2];
    assert!(again.read_chunk("rank0", *o, want.len()).unwrap() == *want);
}

#[test]
fn round_trip_io_uring_buffered() {
    round_trip(false, false);
}

#[test]
fn round_trip_io_uring_direct() {
    round_trip(false, true);
}

#[test]
fn round_trip_fallback_buffered() {
    round_trip(true, false);
}

#[test]
fn round_trip_fallback_direct() {
    round_trip(true, true);
}

#[test]
fn dsync_durability_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LocalTierConfig { durability: Durability::Dsync, ..config(false, false) };
    let mut tier = LocalTier::open(dir.path(), cfg).unwrap();
    assert_eq!(tier.durability().as_str(), "O_DSYNC");
    let data = pattern(7, 100_000);
    tier.write_chunks("s", &[(12345, &data)]).unwrap();
    assert!(tier.read_chunk("s", 12345, data.len()).unwrap() == data);
}

#[test]
fn many_chunks_beyond_iodepth() {
    let dir = tempfile::tempdir().unwrap();
    let mut tier = LocalTier::open(dir.path(), config(false, false)).unwrap();
    assert_eq!(tier.iodepth(), 4);
    let chunks: Vec<(u64, Vec<u8>)> = (0..100u64).map(|i| (i * 3000, pattern(i, 3000))).collect();
    let writes: Vec<(u64, &[u8])> = chunks.iter().map(|(o, d)| (*o, &d[..])).collect();
    tier.write_chunks("dense", &writes).unwrap();
    let all = tier.read_chunk("dense", 0, 300_000).unwrap();
    for (o, d) in &chunks {
        assert!(all[*o as usize..*o as usize + d.len()] == d[..]);
    }
}

#[test]
fn direct_rejects_misaligned_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut tier = open_or_report(dir.path(), config(false, true));
    if !tier.direct() {
        return;
    }
    let data = vec![1u8; 4096];
    let err = tier.write_chunks("s", &[(100, &data)]).unwrap_err();
    assert!(matches!(err, TierError::Misaligned { what: "offset", value: 100, .. }), "{err}");
    assert_eq!(err.to_string(), "shard s: O_DIRECT needs 4096-aligned offset, got 100");
    let mut buf = vec![0u8; 4096];
    let err = tier.read_chunks("s", &mut [(4097, &mut buf[..])]).unwrap_err();
    assert!(matches!(err, TierError::Misaligned { what: "offset", value: 4097, .. }), "{err}");
}

/// With O_DIRECT a length need not be a multiple of 4 KiB (a compressed chunk's): writes
/// are padded with zeros to the next 4 KiB, reads drop the padding, on both backends and
/// across a piece boundary (the pool's buffers are 64 KiB here).
#[test]
fn direct_pads_lengths_that_are_not_multiples_of_4k() {
    for portable in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut tier = open_or_report(dir.path(), config(portable, true));
        if !tier.direct() {
            return;
        }
        let backend = tier.backend().as_str();
        let pattern = |len: usize, seed: u8| -> Vec<u8> {
            (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1).collect()
        };
        // 1000 B, 5000 B, and 70000 B (a full 64 KiB piece and an unaligned tail), each at
        // a 4 KiB boundary after the padding of the one before.
        let chunks = [(0u64, pattern(1000, 1)), (4096, pattern(5000, 2)), (12288, pattern(70_000, 3))];
        let reqs: Vec<(u64, &[u8])> = chunks.iter().map(|(o, d)| (*o, &d[..])).collect();
        let acks = tier.write_chunks("s", &reqs).unwrap();
        assert_eq!(acks.iter().map(|a| a.len_bytes).collect::<Vec<_>>(), [1000, 5000, 70_000], "{backend}");
        for (o, d) in &chunks {
            assert_eq!(tier.read_chunk("s", *o, d.len()).unwrap(), *d, "{backend}: chunk at {o}");
        }
        // The padding is zeros, and the file ends at the last chunk's padded end.
        let file = std::fs::read(dir.path().join("s.shard")).unwrap();
        assert_eq!(file.len(), 12288 + 73728, "{backend}");
        assert!(file[1000..4096].iter().all(|&b| b == 0), "{backend}");
        assert!(file[9096..12288].iter().all(|&b| b == 0), "{backend}");
        assert!(file[12288 + 70_000..].iter().all(|&b| b == 0), "{backend}");
        // A read past the end is still a short read, padding or not.
        assert_short_read(tier.read_chunk("s", 12288 + 69_632, 5000), 5000, 4096, backend);
    }
}

/// A file written buffered ends inside what a padded O_DIRECT read asks for: the read
/// takes the bytes the file has.
#[test]
fn direct_reads_a_chunk_that_ends_the_file_unpadded() {
    for portable in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut buffered = LocalTier::open(dir.path(), config(portable, false)).unwrap();
        buffered.write_chunks("s", &[(0, &data)]).unwrap();
        drop(buffered);
        let mut tier = open_or_report(dir.path(), config(portable, true));
        if !tier.direct() {
            return;
        }
        let backend = tier.backend().as_str();
        assert_eq!(tier.read_chunk("s", 0, 5000).unwrap(), data, "{backend}");
        // Past an end that is not 4 KiB aligned: a short read, not EINVAL from a retry.
        assert_short_read(tier.read_chunk("s", 4096, 4096), 4096, 904, backend);
    }
}

/// `result` is a short read that wanted `wanted` bytes and found `got`.
fn assert_short_read(result: Result<Vec<u8>, TierError>, wanted: u64, got: u64, backend: &str) {
    match result {
        Err(TierError::ShortRead { wanted_bytes, got_bytes, .. })
            if (wanted_bytes, got_bytes) == (wanted, got) => {}
        Err(other) => panic!("{backend}: expected a short read of {got} of {wanted} bytes, got {other}"),
        Ok(v) => {
            panic!("{backend}: expected a short read of {got} of {wanted} bytes, read {} bytes", v.len())
        }
    }
}

#[test]
fn read_past_end_is_short_read() {
    for portable in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut tier = LocalTier::open(dir.path(), config(portable, false)).unwrap();
        tier.write_chunks("s", &[(0, &[9u8; 5000])]).unwrap();
        assert_short_read(tier.read_chunk("s", 4096, 4096), 4096, 904, tier.backend().as_str());
    }
}

#[test]
fn missing_shard_and_missing_dir_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut tier = LocalTier::open(dir.path(), config(false, false)).unwrap();
    let err = tier.read_chunk("nothere", 0, 10).unwrap_err();
    let shard_path = dir.path().join("nothere.shard");
    assert!(matches!(&err, TierError::NotFound { path, .. } if *path == shard_path), "{err}");
    assert!(err.to_string().contains(&shard_path.display().to_string()));

    let missing = dir.path().join("no-such-dir");
    let err = LocalTier::open(&missing, config(false, false)).err().expect("missing dir must fail");
    assert_eq!(
        err.to_string(),
        format!("open tier directory {}: no such file or directory", missing.display())
    );
}

#[test]
fn bad_shard_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut tier = LocalTier::open(dir.path(), config(false, false)).unwrap();
    for bad in ["", "../escape", "a/b", ".hidden", "sp ace"] {
        let err = tier.write_chunks(bad, &[(0, &[1u8; 10])]).unwrap_err();
        assert!(matches!(err, TierError::BadShardName { .. }), "{bad:?}: {err}");
    }
}

#[test]
fn bad_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err =
        LocalTier::open(dir.path(), LocalTierConfig { iodepth: 0, ..Default::default() }).err().unwrap();
    assert!(err.to_string().starts_with("bad tier config: iodepth"), "{err}");
    let cfg = LocalTierConfig { buffer_size_bytes: 1000, ..Default::default() };
    let err = LocalTier::open(dir.path(), cfg).err().unwrap();
    assert!(err.to_string().starts_with("bad tier config: buffer_size_bytes"), "{err}");
}

#[test]
fn permission_denied_names_the_path() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("locked");
    std::fs::create_dir(&dir).unwrap();
    if !deny_new_files(&dir) {
        allow_new_files(&dir);
        eprintln!("NOTE: could not make {} unwritable (root without chattr); test not run", dir.display());
        return;
    }
    let result = LocalTier::open(&dir, config(false, false));
    allow_new_files(&dir);
    let err = result.err().expect("open in an unwritable directory must fail");
    assert!(matches!(&err, TierError::PermissionDenied { path, .. } if *path == dir), "{err}");
    assert_eq!(
        err.to_string(),
        format!("create file in tier directory {}: permission denied", dir.display())
    );
}
