//! The manifest of one node: the append-only, crash-safe record of acknowledged chunks and of
//! their later copies to the blob tier, plus [`verify`], which reads every acknowledged chunk
//! back from the local tier and checks its CRC32C.
//!
//! **Format.** JSON lines, one record per line, each carrying the CRC32C of its own body:
//!
//! ```text
//! {"crc32c":"1c2d3e4f","rec":{"kind":"chunk","shard":"rank0","chunk_index":3,"offset_bytes":3145728,"stored_len_bytes":1048576,"uncompressed_len_bytes":1048576,"compression":"none","crc32c":305419896}}
//! {"crc32c":"5a6b7c8d","rec":{"kind":"copied","shard":"rank0","chunk_index":3,"crc32c":305419896,"blob_key":"chunks/rank0/0000000003.12345678","lag_ns":81234}}
//! ```
//!
//! The outer `crc32c` covers the exact bytes of `rec`. **Crash safety.** A batch of records
//! is written with one `write` and made durable with one fdatasync before the chunks are
//! acknowledged. After a crash the last line may be torn (missing newline, cut JSON, or a
//! checksum mismatch): [`Manifest::load`] ignores it and [`Manifest::open`] truncates it away
//! before appending, so an invalid line anywhere else is real corruption and an error naming
//! the file and line. A later record for the same (shard, chunk) replaces the earlier one; a
//! `copied` mark applies only to the record with the same CRC32C.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use dpukit_kernels::crc32c::crc32c;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{validate_shard_name, LocalTier, TierError};

/// Most chunks read back by [`verify`] in one batch.
const VERIFY_BATCH_CHUNKS: usize = 64;
/// Most bytes read back by [`verify`] in one batch.
const VERIFY_BATCH_BYTES: u64 = 64 << 20;

/// One acknowledged chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// Shard (file) the chunk belongs to.
    pub shard: String,
    /// Index of the chunk within its shard.
    pub chunk_index: u64,
    /// Byte offset of the chunk in the shard file.
    pub offset_bytes: u64,
    /// Length as stored (after compression).
    pub stored_len_bytes: u64,
    /// Length before compression.
    pub uncompressed_len_bytes: u64,
    /// Compression algorithm name (`"none"` when stored as is).
    pub compression: String,
    /// CRC32C of the stored bytes.
    pub crc32c: u32,
}

impl ChunkRecord {
    /// The (shard, chunk index) identity of this record.
    pub fn id(&self) -> ChunkId {
        ChunkId { shard: self.shard.clone(), chunk_index: self.chunk_index }
    }
}

/// A chunk's copy reached the blob tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopiedRecord {
    /// Shard of the copied chunk.
    pub shard: String,
    /// Index of the copied chunk.
    pub chunk_index: u64,
    /// CRC32C of the copied bytes (ties the mark to one version of the chunk).
    pub crc32c: u32,
    /// Object key in the blob tier.
    pub blob_key: String,
    /// Time from local-durable to blob-durable.
    pub lag_ns: u64,
}

/// One line of a manifest: an acknowledged chunk or a blob-copy mark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ManifestRecord {
    /// A chunk was acknowledged.
    Chunk(ChunkRecord),
    /// A chunk's copy reached the blob tier.
    Copied(CopiedRecord),
}

impl ManifestRecord {
    /// The line [`Manifest`] writes for this record, newline included: the record's JSON
    /// body under its own CRC32C.
    pub fn encode_line(&self) -> Result<String, serde_json::Error> {
        let body = serde_json::to_string(self)?;
        Ok(format!("{{\"crc32c\":\"{:08x}\",\"rec\":{body}}}\n", crc32c(body.as_bytes())))
    }
}

#[derive(Deserialize)]
struct Line<'a> {
    crc32c: &'a str,
    #[serde(borrow)]
    rec: &'a RawValue,
}

/// Identity of a chunk: its shard and index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkId {
    /// Shard name.
    pub shard: String,
    /// Chunk index within the shard.
    pub chunk_index: u64,
}

impl std::fmt::Display for ChunkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shard {} chunk {}", self.shard, self.chunk_index)
    }
}

/// The current state of one acknowledged chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkEntry {
    /// The latest acknowledged record.
    pub record: ChunkRecord,
    /// Its blob copy, once recorded.
    pub copied: Option<CopiedRecord>,
}

/// What a manifest file says: the acknowledged chunks, and what loading had to skip.
#[derive(Debug, Clone, Default)]
pub struct ManifestState {
    /// Acknowledged chunks by identity.
    pub chunks: BTreeMap<ChunkId, ChunkEntry>,
    /// Valid records read.
    pub records: u64,
    /// Bytes of a torn last line that were ignored (0 after a clean shutdown).
    pub torn_tail_bytes: u64,
    /// Length of the valid prefix of the file.
    pub valid_len_bytes: u64,
    /// `copied` marks whose chunk (with that CRC) is not in the manifest.
    pub orphan_copied_marks: u64,
}

impl ManifestState {
    fn apply(&mut self, record: ManifestRecord) {
        match record {
            ManifestRecord::Chunk(rec) => {
                self.chunks.insert(rec.id(), ChunkEntry { record: rec, copied: None });
            }
            ManifestRecord::Copied(mark) => {
                let id = ChunkId { shard: mark.shard.clone(), chunk_index: mark.chunk_index };
                match self.chunks.get_mut(&id) {
                    Some(entry) if entry.record.crc32c == mark.crc32c => entry.copied = Some(mark),
                    _ => self.orphan_copied_marks += 1,
                }
            }
        }
        self.records += 1;
    }

    /// Reads a manifest's bytes as [`Manifest::load`] reads its file (`path` names it in
    /// errors): the acknowledged chunks, a torn last line ignored, an invalid line before it
    /// [`TierError::ManifestCorrupt`].
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<ManifestState, TierError> {
        parse(path, bytes)
    }

    /// Acknowledged chunks whose blob copy is not recorded yet.
    pub fn not_copied(&self) -> impl Iterator<Item = &ChunkRecord> {
        self.chunks.values().filter(|e| e.copied.is_none()).map(|e| &e.record)
    }
}

/// An open manifest, appending to its file.
pub struct Manifest {
    path: PathBuf,
    file: File,
    state: ManifestState,
}

impl Manifest {
    /// Reads a manifest without modifying it: the acknowledged chunks, ignoring a torn last
    /// line. An invalid line before the last is [`TierError::ManifestCorrupt`].
    pub fn load(path: impl AsRef<Path>) -> Result<ManifestState, TierError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| TierError::io("read manifest", path, e))?;
        parse(path, &bytes)
    }

    /// Opens a manifest for appending, creating it if absent; a torn last line is truncated
    /// away (durably) so new records follow the last valid one.
    pub fn open(path: impl AsRef<Path>) -> Result<Manifest, TierError> {
        let path = path.as_ref().to_path_buf();
        let existed = path.exists();
        let state = if existed { Manifest::load(&path)? } else { ManifestState::default() };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| TierError::io("open manifest", &path, e))?;
        if !existed {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| TierError::io("fsync directory", dir, e))?;
        }
        if state.torn_tail_bytes > 0 {
            file.set_len(state.valid_len_bytes)
                .and_then(|()| file.sync_data())
                .map_err(|e| TierError::io("truncate torn manifest tail", &path, e))?;
        }
        Ok(Manifest { path, file, state })
    }

    /// The manifest file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The acknowledged chunks so far.
    pub fn state(&self) -> &ManifestState {
        &self.state
    }

    /// Appends chunk records durably (one write, one fdatasync for the batch).
    pub fn append_chunks(&mut self, records: &[ChunkRecord]) -> Result<(), TierError> {
        for r in records {
            validate_shard_name(&r.shard)?;
        }
        self.append(records.iter().cloned().map(ManifestRecord::Chunk).collect())
    }

    /// Appends blob-copy marks durably (one write, one fdatasync for the batch).
    pub fn mark_copied(&mut self, marks: &[CopiedRecord]) -> Result<(), TierError> {
        for m in marks {
            validate_shard_name(&m.shard)?;
        }
        self.append(marks.iter().cloned().map(ManifestRecord::Copied).collect())
    }

    fn append(&mut self, records: Vec<ManifestRecord>) -> Result<(), TierError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(records.len() * 256);
        for record in &records {
            let line = record.encode_line().map_err(|e| TierError::Io {
                op: "encode manifest record",
                path: self.path.clone(),
                source: std::io::Error::other(e),
            })?;
            buf.extend_from_slice(line.as_bytes());
        }
        let written = self.file.write_all(&buf).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Cut a partial batch off so the next append does not follow a torn line.
            let _ = self.file.set_len(self.state.valid_len_bytes);
            return Err(TierError::io("append manifest", &self.path, e));
        }
        self.state.valid_len_bytes += buf.len() as u64;
        for record in records {
            self.state.apply(record);
        }
        Ok(())
    }
}

fn parse_line(line: &[u8]) -> Result<ManifestRecord, String> {
    let outer: Line<'_> = serde_json::from_slice(line).map_err(|e| format!("not a record line: {e}"))?;
    let want = u32::from_str_radix(outer.crc32c, 16)
        .map_err(|_| format!("bad checksum field {:?}", outer.crc32c))?;
    let got = crc32c(outer.rec.get().as_bytes());
    if want != got {
        return Err(format!("checksum mismatch (line says {want:08x}, body has {got:08x})"));
    }
    serde_json::from_str(outer.rec.get()).map_err(|e| format!("bad record: {e}"))
}

fn parse(path: &Path, bytes: &[u8]) -> Result<ManifestState, TierError> {
    let mut state = ManifestState::default();
    let mut pos = 0usize;
    let mut line_no = 0u64;
    while pos < bytes.len() {
        line_no += 1;
        let Some(nl) = bytes[pos..].iter().position(|&b| b == b'\n') else {
            // No newline: the write of the last line was cut short.
            state.torn_tail_bytes = (bytes.len() - pos) as u64;
            break;
        };
        let end = pos + nl + 1;
        match parse_line(&bytes[pos..pos + nl]) {
            Ok(record) => state.apply(record),
            Err(_) if end == bytes.len() => {
                state.torn_tail_bytes = (end - pos) as u64;
                break;
            }
            Err(reason) => {
                return Err(TierError::ManifestCorrupt { path: path.to_path_buf(), line: line_no, reason })
            }
        }
        pos = end;
        state.valid_len_bytes = pos as u64;
    }
    Ok(state)
}

/// A chunk whose bytes could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingChunk {
    /// The chunk.
    pub id: ChunkId,
    /// Why (missing file, short file, I/O error), one line.
    pub reason: String,
}

/// A chunk whose bytes do not match the recorded CRC32C.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptChunk {
    /// The chunk.
    pub id: ChunkId,
    /// CRC recorded in the manifest.
    pub expected_crc32c: u32,
    /// CRC of the bytes read.
    pub actual_crc32c: u32,
}

/// Outcome of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Chunks read back with the recorded CRC32C.
    pub ok: Vec<ChunkId>,
    /// Chunks that could not be read.
    pub missing: Vec<MissingChunk>,
    /// Chunks read with a different CRC32C.
    pub corrupt: Vec<CorruptChunk>,
}

impl VerifyReport {
    /// True when every acknowledged chunk read back and verified.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty()
    }
}

/// Reads every acknowledged chunk of `manifest` back from `local` and checks its CRC32C.
/// Reads are batched per shard; a failed batch is retried chunk by chunk to name the chunk.
pub fn verify(local: &mut LocalTier, manifest: &ManifestState) -> VerifyReport {
    let mut report = VerifyReport::default();
    let records: Vec<&ChunkRecord> = manifest.chunks.values().map(|e| &e.record).collect();
    let mut start = 0;
    while start < records.len() {
        let shard = &records[start].shard;
        let mut end = start;
        let mut batch_bytes = 0u64;
        while end < records.len()
            && &records[end].shard == shard
            && end - start < VERIFY_BATCH_CHUNKS
            && (end == start || batch_bytes + records[end].stored_len_bytes <= VERIFY_BATCH_BYTES)
        {
            batch_bytes += records[end].stored_len_bytes;
            end += 1;
        }
        verify_batch(local, &records[start..end], &mut report);
        start = end;
    }
    report
}

fn verify_batch(local: &mut LocalTier, batch: &[&ChunkRecord], report: &mut VerifyReport) {
    let shard = &batch[0].shard;
    let mut bufs: Vec<Vec<u8>> = batch.iter().map(|r| vec![0u8; r.stored_len_bytes as usize]).collect();
    let result = {
        let mut reqs: Vec<(u64, &mut [u8])> =
            batch.iter().zip(bufs.iter_mut()).map(|(r, b)| (r.offset_bytes, &mut b[..])).collect();
        local.read_chunks(shard, &mut reqs)
    };
    if let Err(e) = result {
        if batch.len() > 1 {
            for r in batch {
                verify_batch(local, std::slice::from_ref(r), report);
            }
        } else {
            report.missing.push(MissingChunk { id: batch[0].id(), reason: e.to_string() });
        }
        return;
    }
    for (r, buf) in batch.iter().zip(&bufs) {
        let actual = crc32c(buf);
        if actual == r.crc32c {
            report.ok.push(r.id());
        } else {
            report.corrupt.push(CorruptChunk {
                id: r.id(),
                expected_crc32c: r.crc32c,
                actual_crc32c: actual,
            });
        }
    }
}
