//! What the model is asked to time ([`OpCost`]) and what it answers ([`OpTiming`],
//! [`BatchTiming`]). Plain `Copy` values so the hot path allocates nothing.

#![forbid(unsafe_code)]

use crate::profile::Algorithm;

use super::time::{SimDuration, SimTime};

/// Cost description of a user-defined kernel; it runs on the DPU cores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UserOpCost {
    /// Opcode or plugin id, for the caller's bookkeeping.
    pub id: u32,
    /// Fixed cost per op on one core, on top of the profile's per-op cost.
    pub fixed_ns: f64,
    /// Streaming rate of one core over `bytes_in`.
    pub bytes_per_s: f64,
}

/// The operation a descriptor asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OpKind {
    /// Descriptor fetch and completion only: measures queue overhead.
    Nop,
    Crc32c,
    Copy,
    CopyCrc32c,
    Compress(Algorithm),
    Decompress(Algorithm),
    CacheLookup,
    CacheInsert,
    CacheDelete,
    User(UserOpCost),
}

impl OpKind {
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Nop => "nop",
            OpKind::Crc32c => "crc32c",
            OpKind::Copy => "copy",
            OpKind::CopyCrc32c => "copy_crc32c",
            OpKind::Compress(Algorithm::Deflate) => "compress deflate",
            OpKind::Compress(Algorithm::Lz4) => "compress lz4",
            OpKind::Compress(Algorithm::Zstd) => "compress zstd",
            OpKind::Decompress(Algorithm::Deflate) => "decompress deflate",
            OpKind::Decompress(Algorithm::Lz4) => "decompress lz4",
            OpKind::Decompress(Algorithm::Zstd) => "decompress zstd",
            OpKind::CacheLookup => "cache_lookup",
            OpKind::CacheInsert => "cache_insert",
            OpKind::CacheDelete => "cache_delete",
            OpKind::User(_) => "user",
        }
    }
}

/// One descriptor's work: the op and the bytes it moves across PCIe.
///
/// `bytes_in` is DMA-read from the host before the op; `bytes_out` is DMA-written back
/// after it (0 when the result fits in the completion, e.g. a CRC). Compression rates
/// apply to `bytes_in`; decompression rates to `bytes_out` (the uncompressed size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpCost {
    pub kind: OpKind,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Where the compute stage of an op ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// No compute stage (Nop).
    NoCompute,
    /// The DPU's general-purpose cores.
    DpuCores,
    /// A hardware engine pool: index into the profile's `accelerators`.
    Accelerator(usize),
}

/// One pass through one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stage {
    /// When the work reached the resource.
    pub ready: SimTime,
    /// When a unit began serving it.
    pub start: SimTime,
    /// When the unit was free again.
    pub end: SimTime,
    /// When the result is visible downstream (`end` plus any propagation latency).
    pub done: SimTime,
}

impl Stage {
    /// A stage that costs nothing (skipped, or not modelled for this profile).
    pub fn instant(at: SimTime) -> Stage {
        Stage { ready: at, start: at, end: at, done: at }
    }

    pub fn queue_wait(&self) -> SimDuration {
        self.start.saturating_since(self.ready)
    }

    pub fn service(&self) -> SimDuration {
        self.end.saturating_since(self.start)
    }
}

/// Timing of one op after its descriptor is on the device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpTiming {
    /// The op's arrival as given (descriptor on the device), before any fence.
    pub arrival: SimTime,
    /// When its first stage began service.
    pub start: SimTime,
    /// When its completion record is visible to the host.
    pub completion: SimTime,
    pub route: Route,
    pub source_read: Stage,
    pub compute: Stage,
    pub result_write: Stage,
    pub completion_write: Stage,
    /// The op is smaller than its engine's minimum efficient size.
    pub below_min_efficient_size: bool,
}

impl OpTiming {
    /// Arrival to completion.
    pub fn latency(&self) -> SimDuration {
        self.completion.saturating_since(self.arrival)
    }
}

/// Timing of one doorbell and the descriptor fetch it triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchTiming {
    pub doorbell: Stage,
    pub descriptor_fetch: Stage,
    /// When the batch's descriptors are on the device: pass it to `submit` as arrival.
    pub descriptors_ready: SimTime,
}
