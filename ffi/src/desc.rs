//! Descriptors and completions with meaning: builders for the host, and the one parser
//! the device runs on every raw descriptor it pulls from a ring.
//!
//! `Descriptor::parse` checks everything that can be checked without the region table
//! (opcode, flags, reserved fields, algorithm and level, lengths); buffer references are
//! resolved afterwards by [`crate::region::RegionTable::resolve`]. After parsing, the
//! device works with a [`Descriptor`] that cannot be malformed.

#![forbid(unsafe_code)]

use crate::abi::{off, RawCpl, RawDesc};
use crate::bindings as b;
use crate::types::{Algorithm, DescFlags, Opcode, Status};

/// A reference to `len` bytes at `offset` in registered region `region`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct BufRef {
    pub region: u32,
    pub offset: u64,
    pub len: u32,
}

impl BufRef {
    pub const NONE: BufRef = BufRef { region: 0, offset: 0, len: 0 };

    pub fn new(region: u32, offset: u64, len: u32) -> BufRef {
        BufRef { region, offset, len }
    }
    pub fn is_none(&self) -> bool {
        *self == BufRef::NONE
    }
    fn read(raw: &RawDesc, at: usize) -> BufRef {
        BufRef {
            region: raw.u32_at(at + off::BUF_REGION),
            len: raw.u32_at(at + off::BUF_LEN),
            offset: raw.u64_at(at + off::BUF_OFFSET),
        }
    }
    fn write(&self, raw: &mut RawDesc, at: usize) {
        raw.set_bytes(at + off::BUF_REGION, &self.region.to_le_bytes());
        raw.set_bytes(at + off::BUF_LEN, &self.len.to_le_bytes());
        raw.set_bytes(at + off::BUF_OFFSET, &self.offset.to_le_bytes());
    }
}

/// The 16-byte cache key.
pub type CacheKeyBytes = [u8; 16];
/// The 16-byte cache value (`struct dpu_cache_value`, little-endian).
pub type CacheValueBytes = [u8; 16];

/// What a descriptor asks for, one variant per opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Nop,
    Crc32c { src: BufRef, seed: u32 },
    Copy { src: BufRef, dst: BufRef },
    CopyCrc32c { src: BufRef, dst: BufRef, seed: u32 },
    Compress { src: BufRef, dst: BufRef, algorithm: Algorithm, level: u8 },
    Decompress { src: BufRef, dst: BufRef, algorithm: Algorithm },
    CacheLookup { key: CacheKeyBytes, dst: BufRef },
    CacheInsert { key: CacheKeyBytes, value: CacheValueBytes },
    CacheDelete { key: CacheKeyBytes },
    User { opcode: u8, src: BufRef, dst: BufRef, arg0: u64, arg1: u64, algo: u8, level: u8 },
}

impl Op {
    pub fn opcode(&self) -> Opcode {
        match self {
            Op::Nop => Opcode::Nop,
            Op::Crc32c { .. } => Opcode::Crc32c,
            Op::Copy { .. } => Opcode::Copy,
            Op::CopyCrc32c { .. } => Opcode::CopyCrc32c,
            Op::Compress { .. } => Opcode::Compress,
            Op::Decompress { .. } => Opcode::Decompress,
            Op::CacheLookup { .. } => Opcode::CacheLookup,
            Op::CacheInsert { .. } => Opcode::CacheInsert,
            Op::CacheDelete { .. } => Opcode::CacheDelete,
            Op::User { opcode, .. } => Opcode::User(*opcode),
        }
    }

    /// The source buffer, if the op reads one.
    pub fn src(&self) -> Option<BufRef> {
        match *self {
            Op::Crc32c { src, .. }
            | Op::Copy { src, .. }
            | Op::CopyCrc32c { src, .. }
            | Op::Compress { src, .. }
            | Op::Decompress { src, .. } => Some(src),
            Op::User { src, .. } if !src.is_none() => Some(src),
            _ => None,
        }
    }

    /// The destination buffer, if the op writes one.
    pub fn dst(&self) -> Option<BufRef> {
        match *self {
            Op::Copy { dst, .. }
            | Op::CopyCrc32c { dst, .. }
            | Op::Compress { dst, .. }
            | Op::Decompress { dst, .. }
            | Op::CacheLookup { dst, .. } => Some(dst),
            Op::User { dst, .. } if !dst.is_none() => Some(dst),
            _ => None,
        }
    }
}

/// A parsed, well-formed descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    pub tag: u64,
    pub flags: DescFlags,
    pub op: Op,
}

/// Why a raw descriptor was rejected, with the status its error completion carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("descriptor tag {tag}: {status}: {detail}")]
pub struct ParseError {
    pub tag: u64,
    pub opcode: u8,
    pub status: Status,
    pub detail: &'static str,
}

impl Descriptor {
    pub fn new(tag: u64, op: Op) -> Descriptor {
        Descriptor { tag, flags: DescFlags::COMPLETION, op }
    }

    pub fn with_flags(mut self, flags: DescFlags) -> Descriptor {
        self.flags = flags;
        self
    }

    /// Parses one raw descriptor. Never panics.
    pub fn parse(raw: &RawDesc) -> Result<Descriptor, ParseError> {
        let d = &raw.0;
        let tag = d.tag;
        let err = |status, detail| ParseError { tag, opcode: d.opcode, status, detail };
        let opcode =
            Opcode::try_from(d.opcode).map_err(|_| err(Status::UnknownOpcode, "opcode not defined"))?;
        let flags =
            DescFlags::from_raw(d.flags).map_err(|_| err(Status::BadFlags, "reserved flag bit set"))?;
        if d.reserved0 != 0 {
            return Err(err(Status::ReservedNonzero, "reserved0 is not zero"));
        }
        if flags.contains(DescFlags::CRC_SEED_PREV) && !opcode.is_crc() {
            return Err(err(Status::BadFlags, "CRC_SEED_PREV on an op that computes no CRC"));
        }
        let is_user = matches!(opcode, Opcode::User(_));
        let is_codec = matches!(opcode, Opcode::Compress | Opcode::Decompress);
        if !is_user && !is_codec && (d.algo != 0 || d.level != 0) {
            return Err(err(Status::ReservedNonzero, "algo/level set on an op that takes none"));
        }
        if !is_user && d.aux != 0 {
            return Err(err(Status::ReservedNonzero, "aux is not zero"));
        }
        let src = BufRef::read(raw, off::IO_SRC);
        let dst = BufRef::read(raw, off::IO_DST);
        let seed = raw.u64_at(off::SEED);
        let crc_seed = || -> Result<u32, ParseError> {
            u32::try_from(seed).map_err(|_| err(Status::ReservedNonzero, "CRC seed above 32 bits"))
        };
        let no_seed =
            || if seed != 0 { Err(err(Status::ReservedNonzero, "seed is not zero")) } else { Ok(()) };
        let need_src =
            |r: BufRef| if r.len == 0 { Err(err(Status::BadLength, "zero-length source")) } else { Ok(r) };
        let key: CacheKeyBytes = raw.bytes_at(off::CACHE_KEY);
        let op = match opcode {
            Opcode::Nop => {
                no_seed()?;
                if raw.as_bytes()[off::OP..off::SEED].iter().any(|&x| x != 0) {
                    return Err(err(Status::ReservedNonzero, "NOP operands are not zero"));
                }
                Op::Nop
            }
            Opcode::Crc32c => {
                if !dst.is_none() {
                    return Err(err(Status::ReservedNonzero, "CRC32C takes no destination"));
                }
                // A zero-length CRC is well defined (it returns the seed).
                Op::Crc32c { src, seed: crc_seed()? }
            }
            Opcode::Copy => {
                no_seed()?;
                if dst.len < src.len {
                    return Err(err(Status::DstTooSmall, "destination shorter than source"));
                }
                Op::Copy { src, dst }
            }
            Opcode::CopyCrc32c => {
                if dst.len < src.len {
                    return Err(err(Status::DstTooSmall, "destination shorter than source"));
                }
                Op::CopyCrc32c { src, dst, seed: crc_seed()? }
            }
            Opcode::Compress | Opcode::Decompress => {
                no_seed()?;
                let algorithm = Algorithm::try_from(d.algo as u32)
                    .map_err(|_| err(Status::BadAlgorithm, "unknown compression algorithm"))?;
                let src = need_src(src)?;
                if dst.len == 0 {
                    return Err(err(Status::DstTooSmall, "zero-length destination"));
                }
                if opcode == Opcode::Compress {
                    if !algorithm.levels().contains(&d.level) {
                        return Err(err(Status::BadAlgorithm, "level out of range for algorithm"));
                    }
                    Op::Compress { src, dst, algorithm, level: d.level }
                } else {
                    if d.level != 0 {
                        return Err(err(Status::ReservedNonzero, "level set on DECOMPRESS"));
                    }
                    Op::Decompress { src, dst, algorithm }
                }
            }
            Opcode::CacheLookup => {
                no_seed()?;
                let dst = BufRef::read(raw, off::CACHE_DST);
                if (dst.len as usize) < b::DPU_CACHE_VALUE_BYTES as usize {
                    return Err(err(Status::DstTooSmall, "lookup destination below 16 bytes"));
                }
                Op::CacheLookup { key, dst }
            }
            Opcode::CacheInsert => {
                no_seed()?;
                Op::CacheInsert { key, value: raw.bytes_at(off::CACHE_VALUE) }
            }
            Opcode::CacheDelete => {
                no_seed()?;
                if raw.as_bytes()[off::CACHE_VALUE..off::SEED].iter().any(|&x| x != 0) {
                    return Err(err(Status::ReservedNonzero, "CACHE_DELETE value bytes are not zero"));
                }
                Op::CacheDelete { key }
            }
            Opcode::User(opcode) => {
                Op::User { opcode, src, dst, arg0: seed, arg1: d.aux, algo: d.algo, level: d.level }
            }
        };
        Ok(Descriptor { tag, flags, op })
    }

    /// Encodes into the raw 64-byte form.
    pub fn encode(&self) -> RawDesc {
        let mut raw = RawDesc::default();
        raw.0.opcode = self.op.opcode().raw();
        raw.0.flags = self.flags.raw();
        raw.0.tag = self.tag;
        let mut seed = 0u64;
        match self.op {
            Op::Nop => {}
            Op::Crc32c { src, seed: s } => {
                src.write(&mut raw, off::IO_SRC);
                seed = s as u64;
            }
            Op::Copy { src, dst } => {
                src.write(&mut raw, off::IO_SRC);
                dst.write(&mut raw, off::IO_DST);
            }
            Op::CopyCrc32c { src, dst, seed: s } => {
                src.write(&mut raw, off::IO_SRC);
                dst.write(&mut raw, off::IO_DST);
                seed = s as u64;
            }
            Op::Compress { src, dst, algorithm, level } => {
                src.write(&mut raw, off::IO_SRC);
                dst.write(&mut raw, off::IO_DST);
                raw.0.algo = algorithm.raw();
                raw.0.level = level;
            }
            Op::Decompress { src, dst, algorithm } => {
                src.write(&mut raw, off::IO_SRC);
                dst.write(&mut raw, off::IO_DST);
                raw.0.algo = algorithm.raw();
            }
            Op::CacheLookup { key, dst } => {
                raw.set_bytes(off::CACHE_KEY, &key);
                dst.write(&mut raw, off::CACHE_DST);
            }
            Op::CacheInsert { key, value } => {
                raw.set_bytes(off::CACHE_KEY, &key);
                raw.set_bytes(off::CACHE_VALUE, &value);
            }
            Op::CacheDelete { key } => raw.set_bytes(off::CACHE_KEY, &key),
            Op::User { src, dst, arg0, arg1, algo, level, .. } => {
                src.write(&mut raw, off::IO_SRC);
                dst.write(&mut raw, off::IO_DST);
                seed = arg0;
                raw.0.aux = arg1;
                raw.0.algo = algo;
                raw.0.level = level;
            }
        }
        raw.0.seed = seed;
        raw
    }
}

/// A completion record with meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    pub tag: u64,
    pub status: Status,
    /// The raw opcode byte echoed from the descriptor (it may be an unknown one).
    pub opcode: u8,
    pub result: u64,
    pub bytes: u32,
    pub modelled_ns: u64,
}

impl Completion {
    pub fn ok(tag: u64, opcode: Opcode, result: u64, bytes: u32) -> Completion {
        Completion { tag, status: Status::Ok, opcode: opcode.raw(), result, bytes, modelled_ns: 0 }
    }

    pub fn error(tag: u64, opcode: u8, status: Status) -> Completion {
        Completion { tag, status, opcode, result: 0, bytes: 0, modelled_ns: 0 }
    }

    pub fn encode(&self) -> RawCpl {
        RawCpl(b::dpu_cpl {
            tag: self.tag,
            result: self.result,
            bytes: self.bytes,
            status: self.status.raw(),
            opcode: self.opcode,
            reserved0: 0,
            modelled_ns: self.modelled_ns,
        })
    }

    /// Parses a raw completion; an unknown status is an error, never a guess.
    pub fn parse(raw: &RawCpl) -> Result<Completion, crate::AbiError> {
        let c = &raw.0;
        Ok(Completion {
            tag: c.tag,
            status: Status::try_from(c.status)?,
            opcode: c.opcode,
            result: c.result,
            bytes: c.bytes,
            modelled_ns: c.modelled_ns,
        })
    }
}

/// What a host remembers of a descriptor it sent, to check the device's answer: the
/// rule every host end applies, in one place (a device is the other side of a trust
/// boundary: another process, a vendor library, a user's prototype).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub opcode: u8,
    /// Source bytes (0 for the cache ops).
    pub src_len: u32,
    /// Destination bytes (a lookup's value buffer for the cache ops).
    pub dst_len: u32,
}

/// A completion no correct device posts for the descriptor it answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadAnswer {
    #[error("device answered tag {tag} with opcode {got:#04x}; the descriptor's is {sent:#04x}")]
    OpcodeMismatch { tag: u64, sent: u8, got: u8 },
    #[error("device answered tag {tag} with {what} {got}, more than the descriptor's {max}")]
    BadLength { tag: u64, what: &'static str, got: u64, max: u64 },
}

impl Sent {
    /// What the host keeps of a raw descriptor (lengths read where its opcode puts them;
    /// an unparseable descriptor keeps zeros, and its device answers it with an error).
    pub fn of(d: &RawDesc) -> Sent {
        let opcode = d.0.opcode;
        let cache = matches!(
            Opcode::try_from(opcode),
            Ok(Opcode::CacheLookup | Opcode::CacheInsert | Opcode::CacheDelete)
        );
        let (src_len, dst_len) = if cache {
            (0, d.u32_at(off::CACHE_DST + off::BUF_LEN))
        } else {
            (d.u32_at(off::IO_SRC + off::BUF_LEN), d.u32_at(off::IO_DST + off::BUF_LEN))
        };
        Sent { opcode, src_len, dst_len }
    }

    /// Checks `c` as an answer to this descriptor: the same opcode and, on success, no
    /// more source bytes than were given, no output length past the destination, a
    /// CRC32C that fits 32 bits. A user opcode's result is the plugin's to define.
    pub fn check(&self, c: &Completion) -> Result<(), BadAnswer> {
        let tag = c.tag;
        if c.opcode != self.opcode {
            return Err(BadAnswer::OpcodeMismatch { tag, sent: self.opcode, got: c.opcode });
        }
        if !c.status.is_ok() {
            return Ok(());
        }
        let builtin = Opcode::try_from(self.opcode).ok().filter(|o| !matches!(o, Opcode::User(_)));
        let too_long = |what, got: u64, max: u32| {
            if got > u64::from(max) {
                Err(BadAnswer::BadLength { tag, what, got, max: u64::from(max) })
            } else {
                Ok(())
            }
        };
        let reads = matches!(
            builtin,
            Some(Opcode::Crc32c | Opcode::Copy | Opcode::CopyCrc32c | Opcode::Compress | Opcode::Decompress)
        );
        if reads {
            too_long("bytes", u64::from(c.bytes), self.src_len)?;
        }
        if matches!(builtin, Some(Opcode::Copy | Opcode::Compress | Opcode::Decompress)) {
            too_long("result length", c.result, self.dst_len)?;
        }
        if matches!(builtin, Some(Opcode::Crc32c | Opcode::CopyCrc32c)) {
            too_long("CRC32C", c.result, u32::MAX)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_ops() -> Vec<Op> {
        let s = BufRef::new(1, 64, 4096);
        let d = BufRef::new(2, 0, 8192);
        vec![
            Op::Nop,
            Op::Crc32c { src: s, seed: 0xdead_beef },
            Op::Copy { src: s, dst: d },
            Op::CopyCrc32c { src: s, dst: d, seed: 7 },
            Op::Compress { src: s, dst: d, algorithm: Algorithm::Zstd, level: 3 },
            Op::Compress { src: s, dst: d, algorithm: Algorithm::Lz4, level: 0 },
            Op::Decompress { src: s, dst: d, algorithm: Algorithm::Gzip },
            Op::CacheLookup { key: [9; 16], dst: BufRef::new(3, 16, 16) },
            Op::CacheInsert { key: [1; 16], value: [2; 16] },
            Op::CacheDelete { key: [3; 16] },
            Op::User { opcode: 0x81, src: s, dst: d, arg0: 1, arg1: 2, algo: 3, level: 4 },
        ]
    }

    #[test]
    fn encode_parse_round_trip() {
        for (i, op) in all_ops().into_iter().enumerate() {
            let d = Descriptor::new(i as u64 * 1000 + 1, op);
            let raw = d.encode();
            assert_eq!(Descriptor::parse(&raw), Ok(d), "{op:?}");
            assert_eq!(raw.0.tag, d.tag);
        }
    }

    #[test]
    fn completion_round_trip_and_bad_status() {
        let c =
            Completion { tag: 5, status: Status::NotFound, opcode: 6, result: 9, bytes: 3, modelled_ns: 77 };
        assert_eq!(Completion::parse(&c.encode()), Ok(c));
        let mut raw = c.encode();
        raw.0.status = 999;
        assert_eq!(Completion::parse(&raw), Err(crate::AbiError::UnknownStatus(999)));
    }

    fn parse_status(raw: &RawDesc) -> Status {
        match Descriptor::parse(raw) {
            Ok(_) => Status::Ok,
            Err(e) => e.status,
        }
    }

    #[test]
    fn malformed_descriptors_get_specific_statuses() {
        let good =
            Descriptor::new(1, Op::Copy { src: BufRef::new(1, 0, 10), dst: BufRef::new(1, 10, 10) }).encode();
        assert_eq!(parse_status(&good), Status::Ok);

        for opcode in (9u8..0x80).chain([0xff]) {
            let mut r = good;
            r.0.opcode = opcode;
            assert_eq!(parse_status(&r), Status::UnknownOpcode, "opcode {opcode:#x}");
        }
        for bit in 3..32 {
            let mut r = good;
            r.0.flags |= 1 << bit;
            assert_eq!(parse_status(&r), Status::BadFlags, "bit {bit}");
        }
        let mut r = good;
        r.0.flags = DescFlags::CRC_SEED_PREV.raw();
        assert_eq!(parse_status(&r), Status::BadFlags);
        let mut r = good;
        r.0.reserved0 = 1;
        assert_eq!(parse_status(&r), Status::ReservedNonzero);
        let mut r = good;
        r.0.aux = 1;
        assert_eq!(parse_status(&r), Status::ReservedNonzero);
        let mut r = good;
        r.0.algo = 1;
        assert_eq!(parse_status(&r), Status::ReservedNonzero);
        let short = Descriptor::new(1, Op::Copy { src: BufRef::new(1, 0, 10), dst: BufRef::new(1, 10, 9) });
        assert_eq!(parse_status(&short.encode()), Status::DstTooSmall);

        let comp = Descriptor::new(
            1,
            Op::Compress {
                src: BufRef::new(1, 0, 10),
                dst: BufRef::new(1, 10, 100),
                algorithm: Algorithm::Zlib,
                level: 6,
            },
        )
        .encode();
        assert_eq!(parse_status(&comp), Status::Ok);
        for algo in [0u8, 5, 200] {
            let mut r = comp;
            r.0.algo = algo;
            assert_eq!(parse_status(&r), Status::BadAlgorithm, "algo {algo}");
        }
        for level in [0u8, 10, 255] {
            let mut r = comp;
            r.0.level = level;
            assert_eq!(parse_status(&r), Status::BadAlgorithm, "level {level}");
        }
        let mut r = comp;
        r.0.op.io.src.len = 0;
        assert_eq!(parse_status(&r), Status::BadLength);

        let mut crc = Descriptor::new(1, Op::Crc32c { src: BufRef::new(1, 0, 10), seed: 0 }).encode();
        crc.0.seed = 1 << 40;
        assert_eq!(parse_status(&crc), Status::ReservedNonzero);

        let lookup = Descriptor::new(1, Op::CacheLookup { key: [0; 16], dst: BufRef::new(1, 0, 15) });
        assert_eq!(parse_status(&lookup.encode()), Status::DstTooSmall);
        let mut nop = Descriptor::new(1, Op::Nop).encode();
        nop.0.op.io.src.region = 1;
        assert_eq!(parse_status(&nop), Status::ReservedNonzero);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes() {
        // A deterministic sweep of pseudo-random descriptors (xorshift), plus each
        // single-byte corruption of valid ones.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut bytes = [0u8; 64];
            for chunk in bytes.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            let _ = Descriptor::parse(&RawDesc::from_bytes(bytes));
        }
        for op in all_ops() {
            let raw = Descriptor::new(1, op).encode();
            for i in 0..64 {
                for v in [0u8, 1, 0x80, 0xff] {
                    let mut bytes = *raw.as_bytes();
                    bytes[i] = v;
                    let _ = Descriptor::parse(&RawDesc::from_bytes(bytes));
                }
            }
        }
    }
}
