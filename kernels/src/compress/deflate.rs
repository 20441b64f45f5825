//! gzip and zlib: compression (ISA-L at level 1 from 32 KiB, libdeflate otherwise) and
//! inflate with either ISA-L or libdeflate behind one set of rules (see the parent module
//! for which is used where). The rules are the kit's, not a library's: several gzip
//! members back to back, one zlib stream and nothing after it, the gzip header CRC
//! checked, a truncated or corrupt stream `CorruptInput` and a full destination
//! `DstTooSmall` (with the size needed when it is known), whichever library decodes.

use std::cell::RefCell;

#[cfg(dpukit_isal)]
use super::uses_isal;
use super::{corrupt, isal_linked, too_small, Algorithm, Codec, KernelError};
#[cfg(dpukit_isal)]
use crate::isal;
use crate::libdeflate::{self, Inflater};

/// The libraries that can inflate a gzip member or zlib stream here:
/// [`decompress`](super::decompress) uses [`inflate_backend`]'s choice,
/// [`deflate_decompress_with`] any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InflateBackend {
    /// libdeflate (`libdeflate-sys`, its `_ex` calls), in every build.
    Libdeflate,
    /// ISA-L's `isal_inflate_stateless` (Debian's libisal), where the build linked it
    /// ([`isal_linked`]); libdeflate takes over a member whose input or output passes
    /// ISA-L's 32-bit lengths (4 GiB).
    Isal,
}

thread_local! {
    /// One libdeflate compressor per level and thread (levels 1..=9 at index level - 1),
    /// made on first use: a compressor holds its match finder's tables (up to about 1 MB at
    /// the high levels), too much to allocate per chunk.
    static DEFLATE_COMPRESSORS: RefCell<[Option<libdeflater::Compressor>; 9]> =
        RefCell::new(Default::default());
    /// One libdeflate decompressor per thread, made on first use.
    static DEFLATE_DECOMPRESSOR: RefCell<Option<Inflater>> = const { RefCell::new(None) };
    /// One ISA-L decompression state per thread (about 90 KB), made on first use.
    #[cfg(dpukit_isal)]
    static ISAL_INFLATER: RefCell<Option<isal::Inflater>> = const { RefCell::new(None) };
    /// One ISA-L compression stream per thread (with its ~350 KB level buffer), made on
    /// first use.
    #[cfg(dpukit_isal)]
    static ISAL_DEFLATER: RefCell<Option<isal::Deflater>> = const { RefCell::new(None) };
}

pub(super) fn deflate_compress(codec: &Codec, src: &[u8], dst: &mut [u8]) -> Result<usize, KernelError> {
    let capacity = dst.len();
    #[cfg(dpukit_isal)]
    if uses_isal(codec.level, src.len()) {
        let wrapper =
            if codec.algorithm == Algorithm::Gzip { isal::Wrapper::Gzip } else { isal::Wrapper::Zlib };
        let done = ISAL_DEFLATER.with(|slot| {
            let mut slot = slot.borrow_mut();
            slot.get_or_insert_with(isal::Deflater::new).compress(wrapper, src, dst)
        });
        match done {
            Ok(n) => return Ok(n),
            Err(isal::DeflateError::InsufficientSpace) => return Err(too_small(capacity, None)),
            // A level or level buffer ISA-L refused: a bug here, reported as the libdeflate
            // allocation failure below is, not a panic.
            Err(isal::DeflateError::Library(code)) => {
                return Err(corrupt(codec.algorithm, format!("ISA-L refused to compress (code {code})")))
            }
            // Above 4 GiB (ISA-L's lengths are 32-bit): libdeflate's level 1 below.
            Err(isal::DeflateError::TooLarge) => {}
        }
    }
    // Levels 1..=9 by construction of Codec; libdeflate's levels 1..=9 are zlib's in intent
    // (1 fastest, 6 default, 9 smallest), with its own match finders.
    let level = libdeflater::CompressionLvl::new(codec.level)
        .map_err(|_| corrupt(codec.algorithm, format!("level {} outside libdeflate's", codec.level)))?;
    let slot = (codec.level as usize).saturating_sub(1).min(8);
    DEFLATE_COMPRESSORS.with(|compressors| {
        let mut compressors = compressors.borrow_mut();
        let compressor = compressors[slot].get_or_insert_with(|| libdeflater::Compressor::new(level));
        let written = match codec.algorithm {
            Algorithm::Gzip => compressor.gzip_compress(src, dst),
            _ => compressor.zlib_compress(src, dst),
        };
        written.map_err(|_| too_small(capacity, None))
    })
}

/// Streams that expand by less than this ratio (uncompressed over compressed bytes) inflate
/// with ISA-L, the others with libdeflate. ISA-L's decoder is the faster on the kit's
/// generated data (bf16-like words, ratio 2 to 4: 1.28 to 1.36 times on its own level-1
/// streams, up to 1.14 on libdeflate's level 6 and 9), libdeflate's on text (1.04 to 1.27
/// times; about even on text chunks below 3.5). The ratio is what tells the two apart
/// before decoding (docs/baselines.md, "Inflate: ISA-L or libdeflate").
pub const ISAL_INFLATE_BELOW_RATIO: f64 = 3.5;

/// The inflate backend [`super::decompress`] uses for `src` into a destination of
/// `dst_len` bytes: ISA-L where the build linked it and the stream expands by less than
/// [`ISAL_INFLATE_BELOW_RATIO`], libdeflate otherwise. The uncompressed size is the last
/// gzip member's ISIZE (its trailer's last 4 bytes: the whole stream's size for one
/// member), and for zlib, which records none, the destination's size (the kit sizes it to
/// the chunk). Either backend reads the same streams to the same bytes; this only picks the
/// faster one.
pub fn inflate_backend(algorithm: Algorithm, src: &[u8], dst_len: usize) -> InflateBackend {
    if !isal_linked() {
        return InflateBackend::Libdeflate;
    }
    let expected_out = match (algorithm, src.len().checked_sub(4)) {
        (Algorithm::Gzip, Some(at)) => {
            let isize = [src[at], src[at + 1], src[at + 2], src[at + 3]];
            u32::from_le_bytes(isize) as usize
        }
        _ => dst_len,
    };
    if (expected_out as f64) < src.len() as f64 * ISAL_INFLATE_BELOW_RATIO {
        InflateBackend::Isal
    } else {
        InflateBackend::Libdeflate
    }
}

pub(super) fn deflate_decompress(
    algorithm: Algorithm,
    src: &[u8],
    dst: &mut [u8],
) -> Result<usize, KernelError> {
    deflate_decompress_with(inflate_backend(algorithm, src, dst.len()), algorithm, src, dst)
}

/// Decompresses a complete gzip (`algorithm` [`Algorithm::Gzip`]: one or more members) or
/// zlib stream with `backend`, under the same contract as [`super::decompress`], so the two
/// libraries can be held against each other (tests, `examples/baselines.rs`).
/// `InvalidParameter` for [`InflateBackend::Isal`] in a build without ISA-L, and for an
/// algorithm other than gzip or zlib.
pub fn deflate_decompress_with(
    backend: InflateBackend,
    algorithm: Algorithm,
    src: &[u8],
    dst: &mut [u8],
) -> Result<usize, KernelError> {
    let wrapper = match algorithm {
        Algorithm::Gzip => Wrapper::Gzip,
        Algorithm::Zlib => Wrapper::Zlib,
        other => {
            return Err(KernelError::InvalidParameter {
                what: "inflate algorithm",
                reason: format!("{other} is not deflate"),
            })
        }
    };
    if src.is_empty() {
        return Err(corrupt(algorithm, "empty input"));
    }
    #[cfg(not(dpukit_isal))]
    if backend == InflateBackend::Isal {
        return Err(KernelError::InvalidParameter {
            what: "inflate backend",
            reason: "this build did not link ISA-L (libisal-dev)".into(),
        });
    }
    inflate_members(algorithm, wrapper, src, dst, &mut |w, s, d| member(backend, w, s, d))
}

/// Decodes one member with `first`; a member it calls bad is tried with the other backend
/// before it counts as bad. The two refuse different malformed streams (libdeflate reads
/// the invalid length symbols 286 and 287 of a fixed-code block as length 258, where ISA-L
/// and zlib stop: `fuzz/seeds/decompress/zlib-libdeflate-lenient`), and which one decodes
/// depends on the stream and the destination ([`inflate_backend`]); trying both makes the
/// answer the same whichever is first, and costs only on corrupt input.
fn member(
    first: InflateBackend,
    wrapper: Wrapper,
    src: &[u8],
    dst: &mut [u8],
) -> Result<(usize, usize), MemberError> {
    match first {
        InflateBackend::Libdeflate => match libdeflate_one(wrapper, src, dst) {
            #[cfg(dpukit_isal)]
            Err(MemberError::BadData) => isal_one(wrapper, src, dst),
            other => other,
        },
        InflateBackend::Isal => match isal_one(wrapper, src, dst) {
            Err(MemberError::BadData) => libdeflate_one(wrapper, src, dst),
            other => other,
        },
    }
}

/// The wrapper around a deflate stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrapper {
    Gzip,
    Zlib,
}

/// Why one member did not inflate, whichever library tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemberError {
    /// Corrupt, truncated or foreign data.
    BadData,
    /// The output does not fit in the destination.
    InsufficientSpace,
}

/// Decodes the first member of `src` into `dst`: the bytes of `src` it took and the bytes
/// it wrote.
type DecodeOne<'a> = dyn FnMut(Wrapper, &[u8], &mut [u8]) -> Result<(usize, usize), MemberError> + 'a;

fn libdeflate_one(wrapper: Wrapper, src: &[u8], dst: &mut [u8]) -> Result<(usize, usize), MemberError> {
    DEFLATE_DECOMPRESSOR.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = Inflater::new();
        }
        // libdeflate's decompressor is about 10 KB; failing to allocate it is reported as
        // no stream read rather than a panic.
        let inflater = slot.as_mut().ok_or(MemberError::BadData)?;
        let wrapper = match wrapper {
            Wrapper::Gzip => libdeflate::Wrapper::Gzip,
            Wrapper::Zlib => libdeflate::Wrapper::Zlib,
        };
        inflater.decompress_one(wrapper, src, dst).map_err(|e| match e {
            libdeflate::InflateError::BadData => MemberError::BadData,
            libdeflate::InflateError::InsufficientSpace => MemberError::InsufficientSpace,
        })
    })
}

/// ISA-L's decoder, one per thread; libdeflate's where ISA-L's 32-bit lengths do not reach.
#[cfg(dpukit_isal)]
fn isal_one(wrapper: Wrapper, src: &[u8], dst: &mut [u8]) -> Result<(usize, usize), MemberError> {
    const ISAL_MAX_BYTES: usize = u32::MAX as usize;
    let isal_wrapper = match wrapper {
        Wrapper::Gzip => isal::Wrapper::Gzip,
        Wrapper::Zlib => isal::Wrapper::Zlib,
    };
    let done = ISAL_INFLATER.with(|slot| {
        let mut slot = slot.borrow_mut();
        slot.get_or_insert_with(isal::Inflater::new).decompress_one(isal_wrapper, src, dst)
    });
    match done {
        Ok(done) => Ok(done),
        Err(isal::InflateError::BadData) => Err(MemberError::BadData),
        // Input over 4 GiB, or output that filled the 4 GiB ISA-L was offered of a larger
        // destination: libdeflate, whose lengths are usize, decodes this member.
        Err(isal::InflateError::TooLarge) => libdeflate_one(wrapper, src, dst),
        Err(isal::InflateError::InsufficientSpace) if dst.len() > ISAL_MAX_BYTES => {
            libdeflate_one(wrapper, src, dst)
        }
        Err(isal::InflateError::InsufficientSpace) => Err(MemberError::InsufficientSpace),
    }
}

#[cfg(not(dpukit_isal))]
fn isal_one(wrapper: Wrapper, src: &[u8], dst: &mut [u8]) -> Result<(usize, usize), MemberError> {
    // Not reached: deflate_decompress_with refuses the ISA-L backend in such a build.
    libdeflate_one(wrapper, src, dst)
}

/// The member loop: gzip members back to back (as `cat a.gz b.gz` makes), one zlib stream
/// and nothing after it, each member's header held to the kit's rules first.
fn inflate_members(
    algorithm: Algorithm,
    wrapper: Wrapper,
    src: &[u8],
    dst: &mut [u8],
    decode: &mut DecodeOne<'_>,
) -> Result<usize, KernelError> {
    let capacity = dst.len();
    let mut in_pos = 0usize;
    let mut out_pos = 0usize;
    loop {
        header_holds(wrapper, &src[in_pos..]).map_err(|reason| corrupt(algorithm, reason))?;
        match decode(wrapper, &src[in_pos..], &mut dst[out_pos..]) {
            // A member is at least a header and a trailer; no progress would loop forever.
            Ok((0, _)) => return Err(corrupt(algorithm, "member of no bytes")),
            Ok((used_in, used_out)) => {
                in_pos += used_in;
                out_pos += used_out;
            }
            Err(MemberError::InsufficientSpace) => {
                return Err(too_small_or_corrupt(
                    decode,
                    wrapper,
                    algorithm,
                    &src[in_pos..],
                    out_pos,
                    capacity,
                ))
            }
            Err(MemberError::BadData) if in_pos == 0 => {
                return Err(corrupt(algorithm, "bad or truncated stream"))
            }
            Err(MemberError::BadData) => {
                return Err(corrupt(algorithm, "bad or truncated data after the first member"))
            }
        }
        if in_pos == src.len() {
            return Ok(out_pos);
        }
        if wrapper == Wrapper::Zlib {
            return Err(corrupt(algorithm, "trailing bytes after the stream"));
        }
    }
}

/// Extra room, past the destination, in which a member that did not fit is decoded again to
/// tell a longer stream from a truncated one. libdeflate reads a cut stream as if followed
/// by zero bits until it has read 8 bytes past the end, and those bits can decode to a few
/// KB of output (at most some 25 matches of 258 bytes) before it gives up, so a cut stream
/// can overflow a destination its whole self would fit. 64 KiB is far beyond that. (ISA-L
/// stops where the input ends.)
const DEFLATE_RECHECK_SLACK_BYTES: usize = 64 << 10;

/// After the decoder found the member at the start of `rest` too big for the `capacity -
/// filled` bytes left: decodes it again into a buffer [`DEFLATE_RECHECK_SLACK_BYTES`]
/// larger. A member that decodes there needs more room (and how much is known when it is
/// the last one); one that fails is corrupt or truncated; one that overflows that too is
/// taken to need more room. Runs on the error path only.
fn too_small_or_corrupt(
    decode: &mut DecodeOne<'_>,
    wrapper: Wrapper,
    algorithm: Algorithm,
    rest: &[u8],
    filled: usize,
    capacity: usize,
) -> KernelError {
    let room = (capacity - filled).saturating_add(DEFLATE_RECHECK_SLACK_BYTES);
    let mut scratch = vec![0u8; room];
    match decode(wrapper, rest, &mut scratch) {
        Ok((used, n)) => {
            let needed = (used == rest.len()).then_some(filled + n).filter(|&n| n > capacity);
            too_small(capacity, needed)
        }
        Err(MemberError::BadData) => corrupt(algorithm, "bad or truncated stream"),
        Err(MemberError::InsufficientSpace) => too_small(capacity, None),
    }
}

/// The header rules the kit holds every member to before a library decodes it, so both
/// libraries (and zlib) read a member alike: a gzip header's reserved flag bits clear
/// (libdeflate and zlib check them, ISA-L does not) and its optional header CRC right
/// (zlib and ISA-L check it, libdeflate skips it); a zlib window size (CINFO) of at most
/// 32 KiB (libdeflate and zlib check it, ISA-L does not). A header too short for a rule is
/// left to the library, which rejects it.
fn header_holds(wrapper: Wrapper, member: &[u8]) -> Result<(), &'static str> {
    match wrapper {
        Wrapper::Gzip => {
            const FRESERVED: u8 = 0xE0;
            if member.get(3).is_some_and(|flg| flg & FRESERVED != 0) {
                return Err("reserved gzip header flags set");
            }
            if !gzip_header_crc_holds(member) {
                return Err("gzip header CRC does not match");
            }
        }
        Wrapper::Zlib => {
            if member.first().is_some_and(|cmf| cmf >> 4 > 7) {
                return Err("zlib window size over 32 KiB");
            }
        }
    }
    Ok(())
}

/// Whether a gzip member's optional header CRC (FLG.FHCRC: the low 16 bits of the CRC32 of
/// the header before it) matches. A header too short to hold the field is left to the
/// library, which rejects it.
fn gzip_header_crc_holds(member: &[u8]) -> bool {
    const FHCRC: u8 = 0x02;
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    const FCOMMENT: u8 = 0x10;
    let Some(&flg) = member.get(3) else { return true };
    if flg & FHCRC == 0 {
        return true;
    }
    let mut p = 10usize;
    if flg & FEXTRA != 0 {
        let Some(xlen) = member.get(10..12) else { return true };
        p = 12 + usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flg & flag != 0 {
            match member.get(p..).and_then(|rest| rest.iter().position(|&b| b == 0)) {
                Some(end) => p += end + 1,
                None => return true,
            }
        }
    }
    match (member.get(..p), member.get(p..p + 2)) {
        (Some(header), Some(stored)) => {
            (libdeflater::crc32(header) & 0xFFFF) as u16 == u16::from_le_bytes([stored[0], stored[1]])
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests;
