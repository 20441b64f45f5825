//! Manifest recovery (`ManifestState::parse`, what `Manifest::load` and `Manifest::open` run
//! after a crash). Two kinds of input, by byte 0:
//!
//! - **damaged manifests** (even): a manifest of real records, then torn (cut short), bit
//!   flips and overwritten bytes. Recovery never acknowledges a chunk that was not written
//!   as it stands (every acknowledged record, and every copy mark, is one of the records
//!   written, in the order written); it never reports the intact prefix as corrupt; a manifest that was
//!   only cut short always loads, with exactly the complete lines before the cut.
//! - **arbitrary bytes** (odd): recovery is idempotent (the valid prefix it reports loads
//!   to the same state with nothing torn, as `open` relies on when it truncates), and a
//!   record appended after that prefix is read back.

use std::collections::BTreeMap;
use std::path::Path;

use dpukit_host::tier::{
    ChunkEntry, ChunkId, ChunkRecord, CopiedRecord, ManifestRecord, ManifestState, TierError,
};

use crate::{assert_one_line, Bytes};

const PATH: &str = "fuzz/manifest.jsonl";
/// Most records in a generated manifest.
const MAX_RECORDS: usize = 24;

pub fn target(data: &[u8]) {
    let mut input = Bytes(data);
    if input.u8() & 1 == 0 {
        damaged(&mut input);
    } else {
        arbitrary(input.rest());
    }
}

/// What the kit's rule makes of records applied in order (the reference model).
fn apply(records: &[ManifestRecord]) -> BTreeMap<ChunkId, ChunkEntry> {
    let mut chunks = BTreeMap::new();
    for r in records {
        match r {
            ManifestRecord::Chunk(c) => {
                chunks.insert(c.id(), ChunkEntry { record: c.clone(), copied: None });
            }
            ManifestRecord::Copied(m) => {
                let id = ChunkId { shard: m.shard.clone(), chunk_index: m.chunk_index };
                if let Some(e) = chunks.get_mut(&id).filter(|e| e.record.crc32c == m.crc32c) {
                    e.copied = Some(m.clone());
                }
            }
        }
    }
    chunks
}

fn records(input: &mut Bytes<'_>) -> Vec<ManifestRecord> {
    let n = usize::from(input.u8()) % (MAX_RECORDS + 1);
    (0..n)
        .map(|_| {
            let kind = input.u8();
            let shard = ["rank0", "rank1", "node-2.shard_a"][usize::from(kind >> 1) % 3].to_string();
            let chunk_index = u64::from(input.u8() % 8);
            let crc32c = u32::from(input.u8() % 4) * 0x0101_0101;
            let len = u64::from(input.u16());
            if kind & 1 == 0 {
                ManifestRecord::Chunk(ChunkRecord {
                    shard,
                    chunk_index,
                    offset_bytes: chunk_index * 65536,
                    stored_len_bytes: len,
                    uncompressed_len_bytes: len * 2,
                    compression: ["none", "lz4", "zstd"][usize::from(kind >> 3) % 3].into(),
                    crc32c,
                })
            } else {
                let blob_key = format!("chunks/{shard}/{chunk_index:010}.{crc32c:08x}");
                ManifestRecord::Copied(CopiedRecord {
                    shard,
                    chunk_index,
                    crc32c,
                    blob_key,
                    lag_ns: len * 1000,
                })
            }
        })
        .collect()
}

fn damaged(input: &mut Bytes<'_>) {
    let written = records(input);
    let lines: Vec<String> = written.iter().map(|r| r.encode_line().expect("records encode")).collect();
    let mut bytes: Vec<u8> = lines.concat().into_bytes();
    let original_len = bytes.len();
    // Ends of the lines (offset after each newline).
    let ends: Vec<usize> = lines
        .iter()
        .scan(0, |end, l| {
            *end += l.len();
            Some(*end)
        })
        .collect();
    // First byte that differs from what was written, or the cut.
    let mut damage = original_len;
    let mut flipped = false;
    while !input.is_empty() && !bytes.is_empty() {
        let op = input.u8();
        let at = usize::from(input.u16()) % bytes.len();
        match op % 4 {
            0 => {
                bytes.truncate(at);
                damage = damage.min(at);
            }
            1 | 2 => {
                bytes[at] ^= 1 << (op >> 2 & 7);
                damage = damage.min(at);
                flipped = true;
            }
            _ => {
                let b = input.u8();
                if bytes[at] != b {
                    bytes[at] = b;
                    damage = damage.min(at);
                    flipped = true;
                }
            }
        }
    }
    // Lines that lie wholly before the damage are intact.
    let intact = ends.iter().take_while(|&&end| end <= damage).count();
    match ManifestState::parse(Path::new(PATH), &bytes) {
        Ok(state) => {
            let m = usize::try_from(state.records).expect("small");
            assert!(m >= intact, "recovery dropped intact records: {m} of {intact}");
            assert!(m <= written.len(), "recovery read {m} records of {} written", written.len());
            assert_eq!(
                state.chunks,
                apply(&written[..m]),
                "recovered state is not the first {m} records as written"
            );
            assert_eq!(
                state.valid_len_bytes,
                if m == 0 { 0 } else { ends[m - 1] as u64 }.min(bytes.len() as u64)
            );
            assert_eq!(state.valid_len_bytes + state.torn_tail_bytes, bytes.len() as u64);
            if !flipped {
                assert_eq!(m, intact, "a manifest only cut short loads exactly its complete lines");
            }
        }
        Err(TierError::ManifestCorrupt { line, reason, .. }) => {
            assert!(flipped, "a manifest only cut short must load (line {line}: {reason})");
            assert!(line as usize > intact, "intact line {line} reported corrupt: {reason}");
        }
        Err(other) => panic!("unexpected error {other}"),
    }
}

fn arbitrary(bytes: &[u8]) {
    let state = match ManifestState::parse(Path::new(PATH), bytes) {
        Ok(state) => state,
        Err(e) => return assert_one_line("manifest", &e.to_string()),
    };
    assert_eq!(state.valid_len_bytes + state.torn_tail_bytes, bytes.len() as u64);
    let valid = &bytes[..state.valid_len_bytes as usize];
    let again = ManifestState::parse(Path::new(PATH), valid).expect("the valid prefix loads");
    assert_eq!(again.torn_tail_bytes, 0);
    assert_eq!(
        (&again.chunks, again.records, again.orphan_copied_marks),
        (&state.chunks, state.records, state.orphan_copied_marks)
    );
    // What `open` then appends is read back.
    let record = ChunkRecord {
        shard: "rank0".into(),
        chunk_index: 1 << 40,
        offset_bytes: 0,
        stored_len_bytes: 4096,
        uncompressed_len_bytes: 4096,
        compression: "none".into(),
        crc32c: 0x1234_5678,
    };
    let mut appended = valid.to_vec();
    appended
        .extend_from_slice(ManifestRecord::Chunk(record.clone()).encode_line().expect("encodes").as_bytes());
    let after = ManifestState::parse(Path::new(PATH), &appended).expect("an append after recovery loads");
    assert_eq!(after.records, state.records + 1);
    assert_eq!(after.chunks.get(&record.id()).map(|e| &e.record), Some(&record));
}
