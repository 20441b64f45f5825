//! Typed opcode, status, flag and algorithm values.
//!
//! Every conversion from a raw integer is checked: an unknown value is an [`AbiError`],
//! never a panic and never a silently truncated value.

#![forbid(unsafe_code)]

use crate::bindings as b;

/// A raw value that does not name anything in the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AbiError {
    #[error("unknown opcode {0:#04x}")]
    UnknownOpcode(u32),
    #[error("unknown status code {0}")]
    UnknownStatus(u32),
    #[error("unknown descriptor flag bits {0:#x}")]
    UnknownFlags(u32),
    #[error("unknown compression algorithm {0}")]
    UnknownAlgorithm(u32),
}

/// An operation the device can execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    Nop,
    Crc32c,
    Copy,
    CopyCrc32c,
    Compress,
    Decompress,
    CacheLookup,
    CacheInsert,
    CacheDelete,
    /// A user kernel bound at run time, in `0x80..=0xfe`.
    User(u8),
}

impl Opcode {
    pub const ALL_BUILTIN: [Opcode; 9] = [
        Opcode::Nop,
        Opcode::Crc32c,
        Opcode::Copy,
        Opcode::CopyCrc32c,
        Opcode::Compress,
        Opcode::Decompress,
        Opcode::CacheLookup,
        Opcode::CacheInsert,
        Opcode::CacheDelete,
    ];

    /// A user opcode, if `raw` is in the user range.
    pub fn user(raw: u8) -> Result<Opcode, AbiError> {
        if (b::DPU_OP_USER_FIRST..=b::DPU_OP_USER_LAST).contains(&(raw as u32)) {
            Ok(Opcode::User(raw))
        } else {
            Err(AbiError::UnknownOpcode(raw as u32))
        }
    }

    pub fn raw(self) -> u8 {
        (match self {
            Opcode::Nop => b::DPU_OP_NOP,
            Opcode::Crc32c => b::DPU_OP_CRC32C,
            Opcode::Copy => b::DPU_OP_COPY,
            Opcode::CopyCrc32c => b::DPU_OP_COPY_CRC32C,
            Opcode::Compress => b::DPU_OP_COMPRESS,
            Opcode::Decompress => b::DPU_OP_DECOMPRESS,
            Opcode::CacheLookup => b::DPU_OP_CACHE_LOOKUP,
            Opcode::CacheInsert => b::DPU_OP_CACHE_INSERT,
            Opcode::CacheDelete => b::DPU_OP_CACHE_DELETE,
            Opcode::User(raw) => raw as u32,
        }) as u8
    }

    /// Short lower-case name, as used in profiles and reports.
    pub fn name(self) -> &'static str {
        match self {
            Opcode::Nop => "nop",
            Opcode::Crc32c => "crc32c",
            Opcode::Copy => "copy",
            Opcode::CopyCrc32c => "copy_crc32c",
            Opcode::Compress => "compress",
            Opcode::Decompress => "decompress",
            Opcode::CacheLookup => "cache_lookup",
            Opcode::CacheInsert => "cache_insert",
            Opcode::CacheDelete => "cache_delete",
            Opcode::User(_) => "user",
        }
    }

    /// Whether the op computes a CRC (and so may chain its seed).
    pub fn is_crc(self) -> bool {
        matches!(self, Opcode::Crc32c | Opcode::CopyCrc32c)
    }
}

impl TryFrom<u32> for Opcode {
    type Error = AbiError;
    fn try_from(raw: u32) -> Result<Self, AbiError> {
        Ok(match raw {
            b::DPU_OP_NOP => Opcode::Nop,
            b::DPU_OP_CRC32C => Opcode::Crc32c,
            b::DPU_OP_COPY => Opcode::Copy,
            b::DPU_OP_COPY_CRC32C => Opcode::CopyCrc32c,
            b::DPU_OP_COMPRESS => Opcode::Compress,
            b::DPU_OP_DECOMPRESS => Opcode::Decompress,
            b::DPU_OP_CACHE_LOOKUP => Opcode::CacheLookup,
            b::DPU_OP_CACHE_INSERT => Opcode::CacheInsert,
            b::DPU_OP_CACHE_DELETE => Opcode::CacheDelete,
            r if (b::DPU_OP_USER_FIRST..=b::DPU_OP_USER_LAST).contains(&r) => Opcode::User(r as u8),
            r => return Err(AbiError::UnknownOpcode(r)),
        })
    }
}

impl TryFrom<u8> for Opcode {
    type Error = AbiError;
    fn try_from(raw: u8) -> Result<Self, AbiError> {
        Opcode::try_from(raw as u32)
    }
}

/// Outcome of a descriptor, as carried in a completion record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    UnknownOpcode,
    BadFlags,
    UnknownRegion,
    OutOfRange,
    DstTooSmall,
    CorruptInput,
    NotFound,
    QueueFull,
    DeviceUnavailable,
    BadAlgorithm,
    BadLength,
    ReservedNonzero,
    ChainAborted,
    NoSpace,
    KernelError,
    InvalidArgument,
}

impl Status {
    pub const ALL: [Status; 17] = [
        Status::Ok,
        Status::UnknownOpcode,
        Status::BadFlags,
        Status::UnknownRegion,
        Status::OutOfRange,
        Status::DstTooSmall,
        Status::CorruptInput,
        Status::NotFound,
        Status::QueueFull,
        Status::DeviceUnavailable,
        Status::BadAlgorithm,
        Status::BadLength,
        Status::ReservedNonzero,
        Status::ChainAborted,
        Status::NoSpace,
        Status::KernelError,
        Status::InvalidArgument,
    ];

    pub fn raw(self) -> u16 {
        (match self {
            Status::Ok => b::DPU_STATUS_OK,
            Status::UnknownOpcode => b::DPU_STATUS_UNKNOWN_OPCODE,
            Status::BadFlags => b::DPU_STATUS_BAD_FLAGS,
            Status::UnknownRegion => b::DPU_STATUS_UNKNOWN_REGION,
            Status::OutOfRange => b::DPU_STATUS_OUT_OF_RANGE,
            Status::DstTooSmall => b::DPU_STATUS_DST_TOO_SMALL,
            Status::CorruptInput => b::DPU_STATUS_CORRUPT_INPUT,
            Status::NotFound => b::DPU_STATUS_NOT_FOUND,
            Status::QueueFull => b::DPU_STATUS_QUEUE_FULL,
            Status::DeviceUnavailable => b::DPU_STATUS_DEVICE_UNAVAILABLE,
            Status::BadAlgorithm => b::DPU_STATUS_BAD_ALGORITHM,
            Status::BadLength => b::DPU_STATUS_BAD_LENGTH,
            Status::ReservedNonzero => b::DPU_STATUS_RESERVED_NONZERO,
            Status::ChainAborted => b::DPU_STATUS_CHAIN_ABORTED,
            Status::NoSpace => b::DPU_STATUS_NO_SPACE,
            Status::KernelError => b::DPU_STATUS_KERNEL_ERROR,
            Status::InvalidArgument => b::DPU_STATUS_INVALID_ARGUMENT,
        }) as u16
    }

    pub fn is_ok(self) -> bool {
        self == Status::Ok
    }

    /// Short description for reports and error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::UnknownOpcode => "unknown opcode",
            Status::BadFlags => "bad flags",
            Status::UnknownRegion => "unknown region",
            Status::OutOfRange => "buffer out of range",
            Status::DstTooSmall => "destination too small",
            Status::CorruptInput => "corrupt input",
            Status::NotFound => "not found",
            Status::QueueFull => "queue full",
            Status::DeviceUnavailable => "device unavailable",
            Status::BadAlgorithm => "bad algorithm or level",
            Status::BadLength => "bad length",
            Status::ReservedNonzero => "reserved field not zero",
            Status::ChainAborted => "chain aborted",
            Status::NoSpace => "no space",
            Status::KernelError => "kernel error",
            Status::InvalidArgument => "invalid argument",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

impl TryFrom<u32> for Status {
    type Error = AbiError;
    fn try_from(raw: u32) -> Result<Self, AbiError> {
        Status::ALL.iter().copied().find(|s| s.raw() as u32 == raw).ok_or(AbiError::UnknownStatus(raw))
    }
}

impl TryFrom<u16> for Status {
    type Error = AbiError;
    fn try_from(raw: u16) -> Result<Self, AbiError> {
        Status::try_from(raw as u32)
    }
}

/// Descriptor flag bits; construction rejects reserved bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct DescFlags(u32);

impl DescFlags {
    pub const NONE: DescFlags = DescFlags(0);
    pub const FENCE: DescFlags = DescFlags(b::DPU_DESC_F_FENCE);
    pub const CRC_SEED_PREV: DescFlags = DescFlags(b::DPU_DESC_F_CRC_SEED_PREV);
    pub const COMPLETION: DescFlags = DescFlags(b::DPU_DESC_F_COMPLETION);
    const ALL_BITS: u32 = b::DPU_DESC_F_FENCE | b::DPU_DESC_F_CRC_SEED_PREV | b::DPU_DESC_F_COMPLETION;

    pub fn from_raw(raw: u32) -> Result<DescFlags, AbiError> {
        if raw & !Self::ALL_BITS != 0 {
            Err(AbiError::UnknownFlags(raw & !Self::ALL_BITS))
        } else {
            Ok(DescFlags(raw))
        }
    }
    pub fn raw(self) -> u32 {
        self.0
    }
    pub fn contains(self, other: DescFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether the descriptor must wait for every earlier one (FENCE, or CRC chaining).
    pub fn fences(self) -> bool {
        self.0 & (b::DPU_DESC_F_FENCE | b::DPU_DESC_F_CRC_SEED_PREV) != 0
    }
}

impl std::ops::BitOr for DescFlags {
    type Output = DescFlags;
    fn bitor(self, rhs: DescFlags) -> DescFlags {
        DescFlags(self.0 | rhs.0)
    }
}

/// Compression algorithm named by `dpu_desc.algo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Lz4,
    Zstd,
    Gzip,
    Zlib,
}

impl Algorithm {
    pub const ALL: [Algorithm; 4] = [Algorithm::Lz4, Algorithm::Zstd, Algorithm::Gzip, Algorithm::Zlib];

    pub fn raw(self) -> u8 {
        (match self {
            Algorithm::Lz4 => b::DPU_ALGO_LZ4,
            Algorithm::Zstd => b::DPU_ALGO_ZSTD,
            Algorithm::Gzip => b::DPU_ALGO_GZIP,
            Algorithm::Zlib => b::DPU_ALGO_ZLIB,
        }) as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Lz4 => "lz4",
            Algorithm::Zstd => "zstd",
            Algorithm::Gzip => "gzip",
            Algorithm::Zlib => "zlib",
        }
    }

    /// Parses a name as used on the command line and in profiles.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// Inclusive range of valid levels (LZ4 has one level, written as 0).
    pub fn levels(self) -> std::ops::RangeInclusive<u8> {
        match self {
            Algorithm::Lz4 => 0..=0,
            Algorithm::Zstd => 1..=19,
            Algorithm::Gzip | Algorithm::Zlib => 1..=9,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<u32> for Algorithm {
    type Error = AbiError;
    fn try_from(raw: u32) -> Result<Self, AbiError> {
        Algorithm::ALL.iter().copied().find(|a| a.raw() as u32 == raw).ok_or(AbiError::UnknownAlgorithm(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_raw_opcode_round_trips_or_errors() {
        for raw in 0..=u8::MAX {
            match Opcode::try_from(raw) {
                Ok(op) => assert_eq!(op.raw(), raw),
                Err(e) => {
                    assert_eq!(e, AbiError::UnknownOpcode(raw as u32));
                    assert!((9..0x80).contains(&raw) || raw == 0xff, "{raw:#x}");
                }
            }
        }
        assert_eq!(Opcode::try_from(0x1_00u32), Err(AbiError::UnknownOpcode(0x100)));
        assert!(Opcode::user(0x7f).is_err());
        assert!(Opcode::user(0xff).is_err());
        assert_eq!(Opcode::user(0x80), Ok(Opcode::User(0x80)));
    }

    #[test]
    fn every_raw_status_round_trips_or_errors() {
        for raw in 0..=u16::MAX {
            match Status::try_from(raw) {
                Ok(s) => assert_eq!(s.raw(), raw),
                Err(e) => {
                    assert_eq!(e, AbiError::UnknownStatus(raw as u32));
                    assert!(raw as usize >= Status::ALL.len());
                }
            }
        }
    }

    #[test]
    fn every_reserved_flag_bit_is_rejected() {
        for bit in 0..32 {
            let raw = 1u32 << bit;
            let r = DescFlags::from_raw(raw);
            if bit < 3 {
                assert_eq!(r.unwrap().raw(), raw);
            } else {
                assert_eq!(r, Err(AbiError::UnknownFlags(raw)));
            }
        }
        assert_eq!(DescFlags::from_raw(0xffff_ffff), Err(AbiError::UnknownFlags(0xffff_fff8)));
        assert!(DescFlags::CRC_SEED_PREV.fences());
        assert!(!DescFlags::COMPLETION.fences());
    }

    #[test]
    fn every_raw_algorithm_round_trips_or_errors() {
        for raw in 0..=255u32 {
            match Algorithm::try_from(raw) {
                Ok(a) => {
                    assert_eq!(a.raw() as u32, raw);
                    assert_eq!(Algorithm::from_name(a.name()), Some(a));
                }
                Err(e) => assert_eq!(e, AbiError::UnknownAlgorithm(raw)),
            }
        }
        assert_eq!(Algorithm::try_from(0u32), Err(AbiError::UnknownAlgorithm(0)));
    }
}
