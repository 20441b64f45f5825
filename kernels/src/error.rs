//! Errors of the kernels: one enum shared by all of them, so the opcode registry can map each
//! variant to one completion status without knowing which kernel produced it.

use thiserror::Error;

/// What went wrong in a kernel call. Every variant is caused by the caller's input or
/// buffers; kernels never panic on bad input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KernelError {
    /// The destination buffer cannot hold the output. `needed` is the exact or upper-bound
    /// size when the kernel can tell (e.g. a zstd frame header carries its content size).
    #[error("destination buffer too small: {capacity} bytes given, {}", match .needed {
        Some(n) => format!("{n} bytes needed"),
        None => "needed size unknown".to_string(),
    })]
    DstTooSmall {
        /// Bytes the caller provided.
        capacity: usize,
        /// Bytes needed, when known.
        needed: Option<usize>,
    },
    /// A compressed stream is corrupt, truncated, or of another format.
    #[error("corrupt or truncated {algorithm} stream: {reason}")]
    CorruptInput {
        /// Algorithm name, as `Algorithm::name` gives it.
        algorithm: &'static str,
        /// What the decoder reported.
        reason: String,
    },
    /// A compression level outside the algorithm's range.
    #[error("level {level} out of range for {algorithm} (valid: {min}..={max})")]
    BadLevel {
        /// Algorithm name.
        algorithm: &'static str,
        /// Level asked for.
        level: i32,
        /// Lowest valid level.
        min: i32,
        /// Highest valid level.
        max: i32,
    },
    /// A location offset that does not fit the 48 bits of the wire encoding.
    #[error("offset {offset:#x} does not fit in 48 bits")]
    OffsetTooLarge {
        /// The offset asked for.
        offset: u64,
    },
    /// The all-zero cache key is reserved (it marks an empty slot in the index).
    #[error("cache key 0 is reserved")]
    ZeroKey,
    /// A cache index key that is not present.
    #[error("cache key {key:#034x} not found")]
    NotFound {
        /// The key looked for.
        key: u128,
    },
    /// A size parameter outside its valid range (capacity, shard count, ratio, ...).
    #[error("invalid {what}: {reason}")]
    InvalidParameter {
        /// Which parameter.
        what: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// A wire encoding of the wrong length.
    #[error("{what}: expected {expected} bytes, got {got}")]
    BadEncodingLength {
        /// What was being decoded.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Given length.
        got: usize,
    },
}
