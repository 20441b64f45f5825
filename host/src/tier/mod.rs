//! Storage tiers of the host data path: where a node's chunks live once written.
//!
//! Each simulated storage node owns a [`LocalTier`] (NVMe-like shard files in one directory,
//! driven through io_uring) and a [`Manifest`] (the append-only record of acknowledged
//! chunks); all nodes share one [`BlobTier`] (an object store), fed in the background by a
//! [`BlobCopier`]. The scenarios above this module decide what to write; this module decides
//! how bytes become durable and how they are checked on the way back.
//!
//! The acknowledgement rule of a fan-out write is [`write_acknowledged`]: the chunk bytes are
//! durable in the local tier, then the manifest record is durable, then the caller gets the
//! ack; the blob copy follows asynchronously. [`AckedWriter`] applies the same rule to a
//! [`WritePipeline`], so the next batch is written while the previous one syncs: a batch's
//! records reach the manifest only once its sync has completed. After a crash,
//! [`Manifest::load`] returns exactly the acknowledged chunks and [`verify`] checks them
//! against their CRC32C.
//!
//! Nothing here depends on the simulator or on scenarios; the only other crate used is
//! `dpukit_kernels::crc32c`.

mod blob;
mod copier;
mod error;
mod local;
mod location;
mod manifest;
mod mount;
mod pipeline;

use std::collections::VecDeque;

use bytes::Bytes;

pub use blob::{BlobKey, BlobTier, UploadCounts, CRC32C_METADATA};
pub use copier::{
    BlobCopier, BlobCopierConfig, CopiedChunk, CopierStats, CopyFailure, CopyJob, CopyObserver, EnqueueError,
};
pub use error::TierError;
pub use local::{Ack, Backend, Durability, IoEngine, LocalTier, LocalTierConfig, DIRECT_IO_ALIGN_BYTES};
pub(crate) use location::first_line;
pub use location::{BlobLocation, BlobOptions, BlobTierInfo, BLOB_URL_FORMS};
pub use manifest::{
    verify, ChunkEntry, ChunkId, ChunkRecord, CopiedRecord, CorruptChunk, Manifest, ManifestRecord,
    ManifestState, MissingChunk, VerifyReport,
};
pub use mount::{mount_of, probe_fsync, MountInfo};
pub use pipeline::{
    BatchAcks, BatchId, PipelineEvent, WritePipeline, MAX_BATCHES_IN_FLIGHT, MAX_PIPELINE_EVENTS,
};

/// Longest accepted shard name, in bytes (it becomes a file name and part of a blob key).
pub const MAX_SHARD_NAME_BYTES: usize = 128;

/// Checks a shard name once at the boundary: it becomes a file name and a blob key segment,
/// so only `[A-Za-z0-9._-]`, no leading dot, at most [`MAX_SHARD_NAME_BYTES`].
pub fn validate_shard_name(shard: &str) -> Result<(), TierError> {
    let reason = if shard.is_empty() {
        Some("empty")
    } else if shard.len() > MAX_SHARD_NAME_BYTES {
        Some("longer than 128 bytes")
    } else if shard.starts_with('.') {
        Some("starts with '.'")
    } else if !shard.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        Some("only A-Z a-z 0-9 . _ - are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(TierError::BadShardName { shard: shard.to_string(), reason }),
        None => Ok(()),
    }
}

/// One chunk of a fan-out write, as handed to [`write_acknowledged`].
#[derive(Debug, Clone, Copy)]
pub struct ChunkWrite<'a> {
    /// Index of the chunk within its shard.
    pub chunk_index: u64,
    /// Byte offset of the chunk in the shard file.
    pub offset_bytes: u64,
    /// The bytes as stored (after optional compression).
    pub stored: &'a [u8],
    /// Length before compression (equal to `stored.len()` when uncompressed).
    pub uncompressed_len_bytes: u64,
    /// Compression algorithm name (`"none"`, `"lz4"`, `"zstd"`, ...).
    pub compression: &'a str,
    /// CRC32C of `stored`, as the data path computed it (on the host or on the DPU): the
    /// manifest records it and every read-back is checked against it.
    pub crc32c: u32,
}

/// Writes chunks of one shard and acknowledges them: local tier durable, then manifest record
/// durable (one fdatasync for the whole batch), then the returned records are the acks.
/// One batch through an [`AckedWriter`] of depth 1, so the acknowledgement rule lives in one
/// place; the bytes are copied into the batch (the fan-out write hands owned bytes to an
/// `AckedWriter` directly).
///
/// On error nothing in this batch is acknowledged; chunks that did reach the disk are simply
/// not in the manifest and are ignored after a crash.
pub fn write_acknowledged(
    local: &mut LocalTier,
    manifest: &mut Manifest,
    shard: &str,
    chunks: &[ChunkWrite<'_>],
) -> Result<Vec<ChunkRecord>, TierError> {
    let owned = chunks
        .iter()
        .map(|c| OwnedChunkWrite {
            chunk_index: c.chunk_index,
            offset_bytes: c.offset_bytes,
            stored: Bytes::copy_from_slice(c.stored),
            uncompressed_len_bytes: c.uncompressed_len_bytes,
            compression: c.compression.to_string(),
            crc32c: c.crc32c,
        })
        .collect();
    let mut writer = AckedWriter::new(local, manifest, 1)?;
    writer.submit(shard, owned)?;
    let done = writer.wait()?.expect("the batch just submitted");
    Ok(done.records)
}

/// One chunk of a pipelined fan-out write ([`AckedWriter`]): a [`ChunkWrite`] that owns its
/// bytes, so they can stay with the kernel after `submit` returns.
#[derive(Debug, Clone)]
pub struct OwnedChunkWrite {
    /// Index of the chunk within its shard.
    pub chunk_index: u64,
    /// Byte offset of the chunk in the shard file.
    pub offset_bytes: u64,
    /// The bytes as stored (after optional compression).
    pub stored: Bytes,
    /// Length before compression (equal to `stored.len()` when uncompressed).
    pub uncompressed_len_bytes: u64,
    /// Compression algorithm name (`"none"`, `"lz4"`, `"zstd"`, ...).
    pub compression: String,
    /// CRC32C of `stored`.
    pub crc32c: u32,
}

/// A batch acknowledged by [`AckedWriter`]: durable in the local tier and in the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckedBatch {
    /// The batch.
    pub batch: BatchId,
    /// The manifest records appended for it, one per chunk in the order submitted.
    pub records: Vec<ChunkRecord>,
}

/// [`write_acknowledged`] over a [`WritePipeline`]: batches are written while earlier ones
/// sync, and a batch's records are appended to the manifest (durably) only once the pipeline
/// acknowledged it, i.e. once a sync covering all of its writes completed. Acks come out in
/// submission order.
///
/// Errors follow the pipeline's: the first error of a batch is returned in place of its
/// acks, and neither it nor any later batch reaches the manifest. A failed manifest append
/// also stops the writer (later calls are refused), as the manifest's state is then unknown.
pub struct AckedWriter<'a> {
    pipe: WritePipeline<'a>,
    manifest: &'a mut Manifest,
    /// Records of the batches in flight, oldest first.
    pending: VecDeque<(BatchId, Vec<ChunkRecord>)>,
    manifest_failed: bool,
}

impl<'a> AckedWriter<'a> {
    /// A writer holding at most `max_batches_in_flight` batches (1..=[`MAX_BATCHES_IN_FLIGHT`]).
    pub fn new(
        local: &'a mut LocalTier,
        manifest: &'a mut Manifest,
        max_batches_in_flight: usize,
    ) -> Result<AckedWriter<'a>, TierError> {
        let pipe = local.write_pipeline(max_batches_in_flight)?;
        Ok(AckedWriter { pipe, manifest, pending: VecDeque::new(), manifest_failed: false })
    }

    /// Whether `submit` would be refused for want of room: collect a batch first.
    pub fn is_full(&self) -> bool {
        self.pipe.is_full()
    }

    /// Batches submitted and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.pipe.in_flight()
    }

    /// The manifest, for records that need no local write (blob-copy marks).
    pub fn manifest(&mut self) -> &mut Manifest {
        self.manifest
    }

    /// Starts writing one batch of chunks of `shard`; returns at once.
    pub fn submit(&mut self, shard: &str, chunks: Vec<OwnedChunkWrite>) -> Result<BatchId, TierError> {
        self.check_manifest()?;
        let mut records = Vec::with_capacity(chunks.len());
        let mut writes = Vec::with_capacity(chunks.len());
        for c in chunks {
            records.push(ChunkRecord {
                shard: shard.to_string(),
                chunk_index: c.chunk_index,
                offset_bytes: c.offset_bytes,
                stored_len_bytes: c.stored.len() as u64,
                uncompressed_len_bytes: c.uncompressed_len_bytes,
                compression: c.compression,
                crc32c: c.crc32c,
            });
            writes.push((c.offset_bytes, c.stored));
        }
        let batch = self.pipe.submit(shard, writes)?;
        self.pending.push_back((batch, records));
        Ok(batch)
    }

    /// The oldest batch, once durable and recorded; blocks until then. `Ok(None)` when
    /// nothing is in flight.
    pub fn wait(&mut self) -> Result<Option<AckedBatch>, TierError> {
        self.check_manifest()?;
        let done = self.pipe.wait()?;
        self.record(done)
    }

    /// [`wait`](Self::wait) without blocking on the local tier (the manifest append of a
    /// durable batch still syncs).
    pub fn poll(&mut self) -> Result<Option<AckedBatch>, TierError> {
        self.check_manifest()?;
        let done = self.pipe.poll()?;
        self.record(done)
    }

    fn check_manifest(&self) -> Result<(), TierError> {
        if self.manifest_failed {
            return Err(TierError::Io {
                op: "append to manifest",
                path: self.manifest.path().to_path_buf(),
                source: std::io::Error::other("an earlier append failed; nothing more is acknowledged"),
            });
        }
        Ok(())
    }

    fn record(&mut self, done: Option<BatchAcks>) -> Result<Option<AckedBatch>, TierError> {
        let Some(done) = done else { return Ok(None) };
        let (batch, records) = self.pending.pop_front().expect("an acknowledged batch was submitted");
        debug_assert_eq!(batch, done.batch, "acks come out in submission order");
        debug_assert_eq!(records.len(), done.acks.len());
        if let Err(e) = self.manifest.append_chunks(&records) {
            self.manifest_failed = true;
            return Err(e);
        }
        Ok(Some(AckedBatch { batch, records }))
    }
}
