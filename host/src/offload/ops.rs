//! A job's ops on a DMA slot (the buffers they read and write, their opcodes) and what
//! comes back: the result of each op and the finished job.

#![forbid(unsafe_code)]

use super::*;

/// Which buffer of a slot an op reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buf {
    In,
    Out,
    /// The slot's third buffer ([`OffloadConfig::spare_bytes`]; none by default).
    Spare,
}

/// One op of a job, on the job's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotOp {
    /// CRC32C of the first `len` bytes of a buffer (seed 0).
    Crc32c { buf: Buf, len: u32 },
    /// Compress `len` input bytes into the output buffer.
    Compress { algorithm: Algorithm, level: u8, len: u32 },
    /// Decompress the first `len` bytes of `src` into `dst` (the input into the output,
    /// unless a transform before it moved the stored form).
    Decompress { algorithm: Algorithm, src: Buf, dst: Buf, len: u32 },
    /// Look a key up; on a hit the 16-byte value lands at the start of the output.
    CacheLookup { key: [u8; 16] },
    /// Insert or replace a key.
    CacheInsert { key: [u8; 16], value: [u8; 16] },
    /// A user opcode (a C plugin's op) on the first `len` bytes of `src`, into `dst`;
    /// `arg0` and `arg1` reach the kernel as its seed and aux.
    User { opcode: u8, arg0: u64, arg1: u64, src: Buf, dst: Buf, len: u32 },
    /// CRC32C of input bytes `offset..offset + len`; with `chain`, seeded with the CRC of
    /// the job's previous op (one CRC over several buffers, accel_perf's `-C`), which the
    /// device runs in order (`CRC_SEED_PREV`).
    Crc32cAt { offset: u32, len: u32, chain: bool },
    /// Copy input bytes `offset..offset + len` to the same place in the output.
    Copy { offset: u32, len: u32 },
    /// Copy as [`SlotOp::Copy`] and CRC32C the bytes, chained as [`SlotOp::Crc32cAt`].
    CopyCrc32c { offset: u32, len: u32, chain: bool },
}

impl SlotOp {
    pub(super) fn opcode(&self) -> (Opcode, Option<Algorithm>) {
        match *self {
            SlotOp::Crc32c { .. } => (Opcode::Crc32c, None),
            SlotOp::Compress { algorithm, .. } => (Opcode::Compress, Some(algorithm)),
            SlotOp::Decompress { algorithm, .. } => (Opcode::Decompress, Some(algorithm)),
            SlotOp::CacheLookup { .. } => (Opcode::CacheLookup, None),
            SlotOp::CacheInsert { .. } => (Opcode::CacheInsert, None),
            SlotOp::Crc32cAt { .. } => (Opcode::Crc32c, None),
            SlotOp::Copy { .. } => (Opcode::Copy, None),
            SlotOp::CopyCrc32c { .. } => (Opcode::CopyCrc32c, None),
            SlotOp::User { opcode, .. } => (Opcode::User(opcode), None),
        }
    }

    /// The buffer it reads and the one it writes, if any.
    pub(super) fn buffers(&self) -> (Option<Buf>, Option<Buf>) {
        match *self {
            SlotOp::Crc32c { buf, .. } => (Some(buf), None),
            SlotOp::Crc32cAt { .. } => (Some(Buf::In), None),
            SlotOp::Copy { .. } | SlotOp::CopyCrc32c { .. } => (Some(Buf::In), Some(Buf::Out)),
            SlotOp::Compress { .. } => (Some(Buf::In), Some(Buf::Out)),
            SlotOp::Decompress { src, dst, .. } | SlotOp::User { src, dst, .. } => (Some(src), Some(dst)),
            SlotOp::CacheLookup { .. } => (None, Some(Buf::Out)),
            SlotOp::CacheInsert { .. } => (None, None),
        }
    }

    /// Whether the op takes its CRC seed from the previous op of its job.
    pub(super) fn chained(&self) -> bool {
        matches!(*self, SlotOp::Crc32cAt { chain: true, .. } | SlotOp::CopyCrc32c { chain: true, .. })
    }
}

/// Where an op ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RanOn {
    Host,
    Device,
}

/// The outcome of one op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpResult {
    pub status: Status,
    pub result: u64,
    pub ran_on: RanOn,
    /// Host: measured kernel time. Device: its doorbell-to-completion time, modelled or
    /// measured as the device's clock is (see [`Offload::device_clock`]).
    pub latency_ns: u64,
}

/// Most ops in one job.
pub const MAX_OPS_PER_JOB: usize = 4;

/// A job's ops or results, inline up to [`MAX_OPS_PER_JOB`] (no heap allocation per job).
pub type JobVec<T> = smallvec::SmallVec<[T; MAX_OPS_PER_JOB]>;

/// A finished job: its slot (still owned by the caller until [`Offload::release`]) and
/// the result of each op in submission order.
#[derive(Debug, Clone)]
pub struct Finished {
    pub slot: usize,
    pub user: u64,
    pub results: JobVec<OpResult>,
    /// Host clock when the job was submitted and when it was done.
    pub submitted_ns: u64,
    pub done_ns: u64,
}

/// An op with its algorithm, for reasons ("lz4 compress").
pub(super) fn op_label(op: &SlotOp) -> String {
    match op.opcode() {
        (_, Some(a)) => format!("{} {}", a.name(), op_name(op)),
        _ => op_name(op).to_string(),
    }
}

pub(super) fn op_name(op: &SlotOp) -> &'static str {
    match op {
        SlotOp::Crc32c { .. } => "crc32c",
        SlotOp::Compress { .. } => "compress",
        SlotOp::Decompress { .. } => "decompress",
        SlotOp::CacheLookup { .. } => "cache_lookup",
        SlotOp::CacheInsert { .. } => "cache_insert",
        SlotOp::User { .. } => "plugin op",
        SlotOp::Crc32cAt { .. } => "crc32c",
        SlotOp::Copy { .. } => "copy",
        SlotOp::CopyCrc32c { .. } => "copy_crc32c",
    }
}
