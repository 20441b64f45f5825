//! The one error type of the storage tiers: every variant names the thing (path, shard,
//! chunk, key) and the reason, in one line, so the command line can print it as is.

#![forbid(unsafe_code)]

use std::io;
use std::path::{Path, PathBuf};

/// Errors of the local tier, the manifest and the blob tier.
#[derive(Debug, thiserror::Error)]
pub enum TierError {
    /// The device or filesystem is full (ENOSPC / EDQUOT).
    #[error("{op} {path}: disk full ({source})")]
    DiskFull {
        /// What was being done (`"write"`, `"create"`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// EACCES / EPERM on a file or directory.
    #[error("{op} {path}: permission denied")]
    PermissionDenied {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
    },
    /// A tier directory or shard file does not exist.
    #[error("{op} {path}: no such file or directory")]
    NotFound {
        /// What was being done.
        op: &'static str,
        /// The missing path.
        path: PathBuf,
    },
    /// Any other I/O failure.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The filesystem refuses O_DIRECT (EINVAL on open), e.g. tmpfs.
    #[error(
        "{path}: filesystem does not support O_DIRECT (EINVAL on open); open the tier with direct = false"
    )]
    DirectIoUnsupported {
        /// The probed file.
        path: PathBuf,
    },
    /// An O_DIRECT request whose offset, length or size is not a multiple of 4096.
    #[error("shard {shard}: O_DIRECT needs 4096-aligned {what}, got {value}")]
    Misaligned {
        /// The shard.
        shard: String,
        /// `"offset"` or `"length"`.
        what: &'static str,
        /// The offending value in bytes.
        value: u64,
    },
    /// A read reached the end of the shard file before the requested length.
    #[error(
        "{path}: short read at offset {offset_bytes}: wanted {wanted_bytes} bytes, file has {got_bytes}"
    )]
    ShortRead {
        /// The shard file.
        path: PathBuf,
        /// Offset of the request.
        offset_bytes: u64,
        /// Requested length.
        wanted_bytes: u64,
        /// Bytes available.
        got_bytes: u64,
    },
    /// A shard name that cannot be a file name or key segment.
    #[error("bad shard name {shard:?}: {reason}")]
    BadShardName {
        /// The name as given.
        shard: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A configuration value out of range.
    #[error("bad tier config: {field} {reason}")]
    BadConfig {
        /// The field name.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// io_uring failed after setup (submit, register) in a way the tier cannot recover from.
    #[error("io_uring {op}: {source}")]
    Uring {
        /// The ring operation.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// A previous io_uring failure left operations in an unknown state; the tier refuses work.
    #[error("local tier {dir} is unusable after an earlier io_uring failure")]
    Poisoned {
        /// The tier directory.
        dir: PathBuf,
    },
    /// A write pipeline already holds its limit of batches; collect one before submitting.
    #[error("write pipeline full: {max_batches_in_flight} batches in flight; collect one before submitting")]
    PipelineFull {
        /// The pipeline's limit.
        max_batches_in_flight: usize,
    },
    /// A write pipeline stopped at a failed batch: that batch and every later one are not
    /// acknowledged, and the pipeline accepts nothing more.
    #[error("write pipeline in {dir} stopped at batch {batch}, not acknowledged from there on: {cause}")]
    PipelineFailed {
        /// The tier directory.
        dir: PathBuf,
        /// The first batch not acknowledged.
        batch: u64,
        /// The error that stopped it, as first reported (it names the file).
        cause: String,
    },
    /// Chunk bytes on the local tier do not match their recorded CRC32C.
    #[error("shard {shard} chunk {chunk_index}: CRC32C mismatch (recorded {expected_crc32c:08x}, read {actual_crc32c:08x})")]
    CorruptChunk {
        /// The shard.
        shard: String,
        /// The chunk.
        chunk_index: u64,
        /// CRC recorded in the manifest.
        expected_crc32c: u32,
        /// CRC of the bytes read.
        actual_crc32c: u32,
    },
    /// A manifest line that is not the torn tail of a crash is invalid.
    #[error("manifest {path} line {line}: {reason}")]
    ManifestCorrupt {
        /// The manifest file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A blob object does not match the CRC32C carried in its key.
    #[error("blob {key}: CRC32C mismatch (key says {expected_crc32c:08x}, object has {actual_crc32c:08x})")]
    CorruptBlob {
        /// The object key.
        key: String,
        /// CRC from the key.
        expected_crc32c: u32,
        /// CRC of the bytes fetched.
        actual_crc32c: u32,
    },
    /// An object key that is not a chunk key of this tier.
    #[error("blob key {key}: {reason}")]
    BadBlobKey {
        /// The key.
        key: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The object store reported an error.
    #[error("blob {op} {key}: {source}")]
    Blob {
        /// `"put"`, `"get"`, `"delete"`, `"list"`.
        op: &'static str,
        /// The key or prefix.
        key: String,
        /// The store's error.
        source: object_store::Error,
    },
    /// A blob tier URL that is not one of the accepted forms.
    #[error("blob tier `{url}`: {reason}")]
    BadBlobUrl {
        /// The URL as given.
        url: String,
        /// What is wrong, with the accepted forms.
        reason: String,
    },
    /// The blob tier as a whole cannot be used: unreachable, missing container, refused
    /// credentials.
    #[error("blob tier {location}: {reason}")]
    BlobAccess {
        /// The tier URL (no secrets).
        location: String,
        /// What is wrong, one line.
        reason: String,
    },
    /// An object whose `crc32c` metadata is missing or disagrees with its key.
    #[error("blob {key}: crc32c metadata is {found}, the key says otherwise; object not trusted")]
    BlobMetadata {
        /// The object key.
        key: String,
        /// The metadata value found (`none` when absent).
        found: String,
    },
    /// The blob tier could not start its runtime.
    #[error("blob tier runtime: {source}")]
    Runtime {
        /// The OS error.
        source: io::Error,
    },
}

impl TierError {
    /// Classifies an OS error on `path` into the variant a person needs to see.
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        let path = path.to_path_buf();
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => TierError::DiskFull { op, path, source },
            Some(libc::EACCES) | Some(libc::EPERM) => TierError::PermissionDenied { op, path },
            Some(libc::ENOENT) => TierError::NotFound { op, path },
            _ => TierError::Io { op, path, source },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_are_classified_and_name_the_path() {
        let path = Path::new("/data/rank0.shard");
        let full = TierError::io("write", path, io::Error::from_raw_os_error(libc::ENOSPC));
        assert!(matches!(full, TierError::DiskFull { .. }));
        assert!(full.to_string().starts_with("write /data/rank0.shard: disk full"), "{full}");
        let denied = TierError::io("create shard file", path, io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(denied.to_string(), "create shard file /data/rank0.shard: permission denied");
        let missing = TierError::io("open shard file", path, io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(missing.to_string(), "open shard file /data/rank0.shard: no such file or directory");
        let other = TierError::io("read", path, io::Error::from_raw_os_error(libc::EIO));
        assert!(matches!(other, TierError::Io { .. }));
    }
}
