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
//! ack; the blob copy follows asynchronously. After a crash, [`Manifest::load`] returns
//! exactly the acknowledged chunks and [`verify`] checks them against their CRC32C.
//!
//! Nothing here depends on the simulator or on scenarios; the only other crate used is
//! `dpukit_kernels::crc32c`.

mod blob;
mod error;
mod local;
mod location;
mod manifest;

pub use blob::{
    BlobCopier, BlobCopierConfig, BlobKey, BlobTier, CopiedChunk, CopierStats, CopyFailure, CopyJob,
    CopyObserver, EnqueueError, UploadCounts, CRC32C_METADATA,
};
pub use error::TierError;
pub use local::{Ack, Backend, Durability, LocalTier, LocalTierConfig, DIRECT_IO_ALIGN_BYTES};
pub(crate) use location::first_line;
pub use location::{BlobLocation, BlobOptions, BlobTierInfo, BLOB_URL_FORMS};
pub use manifest::{
    verify, ChunkEntry, ChunkId, ChunkRecord, CopiedRecord, CorruptChunk, Manifest, ManifestState,
    MissingChunk, VerifyReport,
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
///
/// On error nothing in this batch is acknowledged; chunks that did reach the disk are simply
/// not in the manifest and are ignored after a crash.
pub fn write_acknowledged(
    local: &mut LocalTier,
    manifest: &mut Manifest,
    shard: &str,
    chunks: &[ChunkWrite<'_>],
) -> Result<Vec<ChunkRecord>, TierError> {
    let writes: Vec<(u64, &[u8])> = chunks.iter().map(|c| (c.offset_bytes, c.stored)).collect();
    local.write_chunks(shard, &writes)?;
    let records: Vec<ChunkRecord> = chunks
        .iter()
        .map(|c| ChunkRecord {
            shard: shard.to_string(),
            chunk_index: c.chunk_index,
            offset_bytes: c.offset_bytes,
            stored_len_bytes: c.stored.len() as u64,
            uncompressed_len_bytes: c.uncompressed_len_bytes,
            compression: c.compression.to_string(),
            crc32c: c.crc32c,
        })
        .collect();
    manifest.append_chunks(&records)?;
    Ok(records)
}
