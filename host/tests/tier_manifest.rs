//! Manifest: acknowledged chunks survive reopen, a torn last line is ignored and cut away,
//! corruption elsewhere is an error naming the line, and `verify` finds corrupted and
//! missing chunks on disk.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;

use dpukit_host::tier::{
    verify, write_acknowledged, ChunkId, ChunkWrite, CopiedRecord, LocalTier, LocalTierConfig, Manifest,
    TierError,
};
use dpukit_kernels::crc32c::crc32c;

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u64).wrapping_mul(31).wrapping_add(seed * 7) as u8).collect()
}

/// Writes `count` chunks of `len` bytes to shard `shard` through the ack path.
fn write_some(local: &mut LocalTier, manifest: &mut Manifest, shard: &str, count: u64, len: usize) {
    let data: Vec<Vec<u8>> = (0..count).map(|i| pattern(i, len)).collect();
    let chunks: Vec<ChunkWrite<'_>> = data
        .iter()
        .enumerate()
        .map(|(i, d)| ChunkWrite {
            chunk_index: i as u64,
            offset_bytes: i as u64 * len as u64,
            stored: d,
            uncompressed_len_bytes: len as u64,
            compression: "none",
            crc32c: crc32c(d),
        })
        .collect();
    let records = write_acknowledged(local, manifest, shard, &chunks).unwrap();
    assert_eq!(records.len() as u64, count);
}

fn setup() -> (tempfile::TempDir, LocalTier, Manifest) {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalTier::open(dir.path(), LocalTierConfig::default()).unwrap();
    let manifest = Manifest::open(dir.path().join("manifest.jsonl")).unwrap();
    (dir, local, manifest)
}

#[test]
fn records_survive_reopen_and_copied_marks_apply() {
    let (dir, mut local, mut manifest) = setup();
    write_some(&mut local, &mut manifest, "rank0", 5, 8192);
    write_some(&mut local, &mut manifest, "rank1", 3, 4096);
    let rec = manifest.state().chunks[&ChunkId { shard: "rank0".into(), chunk_index: 2 }].record.clone();
    manifest
        .mark_copied(&[
            CopiedRecord {
                shard: "rank0".into(),
                chunk_index: 2,
                crc32c: rec.crc32c,
                blob_key: "k".into(),
                lag_ns: 5,
            },
            // A mark for another version of the chunk does not apply.
            CopiedRecord {
                shard: "rank0".into(),
                chunk_index: 3,
                crc32c: !0,
                blob_key: "k".into(),
                lag_ns: 5,
            },
        ])
        .unwrap();
    drop(manifest);

    let state = Manifest::load(dir.path().join("manifest.jsonl")).unwrap();
    assert_eq!(state.chunks.len(), 8);
    assert_eq!(state.records, 10);
    assert_eq!(state.torn_tail_bytes, 0);
    assert_eq!(state.orphan_copied_marks, 1);
    assert_eq!(state.not_copied().count(), 7);
    let entry = &state.chunks[&ChunkId { shard: "rank0".into(), chunk_index: 2 }];
    assert_eq!(entry.record, rec);
    assert_eq!(entry.record.stored_len_bytes, 8192);
    assert_eq!(entry.record.compression, "none");
    assert_eq!(entry.copied.as_ref().map(|c| c.lag_ns), Some(5));
    assert!(verify(&mut local, &state).is_clean());
}

#[test]
fn torn_last_line_is_ignored_and_truncated() {
    let (dir, mut local, mut manifest) = setup();
    let path = dir.path().join("manifest.jsonl");
    write_some(&mut local, &mut manifest, "rank0", 4, 4096);
    drop(manifest);
    let good_len = std::fs::metadata(&path).unwrap().len();
    let full = std::fs::read(&path).unwrap();
    let last_line_start = full[..full.len() - 1].iter().rposition(|&b| b == b'\n').unwrap() + 1;

    // Three shapes of a torn append: cut mid-line, cut just before the newline, and a
    // complete line whose bytes did not all land (checksum mismatch).
    let torn_tails: Vec<Vec<u8>> = vec![
        full[last_line_start..last_line_start + 40].to_vec(),
        full[last_line_start..full.len() - 1].to_vec(),
        {
            let mut l = full[last_line_start..].to_vec();
            let n = l.len();
            l[n - 10] ^= 0x01;
            l
        },
    ];
    for tail in torn_tails {
        std::fs::write(&path, &full).unwrap();
        OpenOptions::new().append(true).open(&path).unwrap().write_all(&tail).unwrap();

        let state = Manifest::load(&path).unwrap();
        assert_eq!(state.chunks.len(), 4, "torn line must not add a chunk");
        assert_eq!(state.torn_tail_bytes, tail.len() as u64);

        // Reopening cuts the torn tail so new records follow the last valid one.
        let mut manifest = Manifest::open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len);
        write_some(&mut local, &mut manifest, "rank9", 1, 4096);
        drop(manifest);
        let state = Manifest::load(&path).unwrap();
        assert_eq!((state.chunks.len(), state.torn_tail_bytes), (5, 0));
    }
}

#[test]
fn corruption_before_the_last_line_is_an_error_naming_the_line() {
    let (dir, mut local, mut manifest) = setup();
    let path = dir.path().join("manifest.jsonl");
    write_some(&mut local, &mut manifest, "rank0", 3, 4096);
    drop(manifest);
    let mut bytes = std::fs::read(&path).unwrap();
    let second_line = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    bytes[second_line + 60] ^= 0x02;
    std::fs::write(&path, &bytes).unwrap();
    let err = Manifest::load(&path).unwrap_err();
    assert!(matches!(err, TierError::ManifestCorrupt { line: 2, .. }), "{err}");
    assert!(err.to_string().starts_with(&format!("manifest {} line 2:", path.display())), "{err}");
}

#[test]
fn verify_finds_corrupt_and_missing_chunks() {
    let (dir, mut local, mut manifest) = setup();
    write_some(&mut local, &mut manifest, "rank0", 6, 16384);
    write_some(&mut local, &mut manifest, "rank1", 2, 4096);

    // Flip one byte of chunk 4 of rank0 on disk; truncate rank1 so its chunk 1 is gone.
    let shard0 = OpenOptions::new().read(true).write(true).open(local.shard_path("rank0")).unwrap();
    let mut byte = [0u8; 1];
    shard0.read_exact_at(&mut byte, 4 * 16384 + 100).unwrap();
    shard0.write_all_at(&[byte[0] ^ 0x80], 4 * 16384 + 100).unwrap();
    OpenOptions::new().write(true).open(local.shard_path("rank1")).unwrap().set_len(4096).unwrap();

    // A fresh tier, so nothing is served from state the writer held.
    let mut reader = LocalTier::open(dir.path(), LocalTierConfig::default()).unwrap();
    let report = verify(&mut reader, manifest.state());
    assert_eq!(report.ok.len(), 6);
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.corrupt[0].id, ChunkId { shard: "rank0".into(), chunk_index: 4 });
    assert_ne!(report.corrupt[0].expected_crc32c, report.corrupt[0].actual_crc32c);
    assert_eq!(report.missing.len(), 1);
    assert_eq!(report.missing[0].id, ChunkId { shard: "rank1".into(), chunk_index: 1 });
    assert!(report.missing[0].reason.contains("short read"), "{}", report.missing[0].reason);
    assert!(!report.is_clean());
}
