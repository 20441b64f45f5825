//! Compression and decompression kernels: LZ4 (frame format), zstd, and deflate with gzip or
//! zlib framing, all into caller-provided buffers of known capacity.
//!
//! The offload engine hands a kernel a source region and a destination region; it never
//! grows a buffer. So every call takes `dst: &mut [u8]`, returns the bytes written, and
//! reports a destination that is too small as [`KernelError::DstTooSmall`] and a corrupt,
//! truncated or foreign stream as [`KernelError::CorruptInput`] — never a panic, never an
//! access outside the slices.
//!
//! Backends, chosen by measurement per algorithm against the other well-kept libraries on
//! the same chunks at the same levels (`scripts/baselines.sh`, figures in
//! docs/baselines.md); [`compress_library`] and [`decompress_library`] name the ones in use,
//! and results record them:
//! - LZ4: frames written and read here, each block compressed straight into the caller's
//!   buffer by the C library (liblz4's LZ4_compress_default, through the `lz4` crate's
//!   safe block call), faster than `lz4_flex`, and decompressed straight into place by
//!   `lz4_flex`'s block decoder. liblz4's decoder is faster still but accepts a match
//!   offset of 0, which the format forbids, and then copies whatever the destination held;
//!   rejecting that first takes a walk over the block's sequences, which costs as much as
//!   decoding them (measured: docs/baselines.md). Frame codecs that allocate their own block buffers per call cost about
//!   0.24 ms per 1 MiB chunk over the compression itself, hence the frame code here. Frames
//!   with linked blocks (the `lz4` tool's -BD) go to `lz4_flex`'s frame decoder. The frame
//!   structure is walked first because a stream cut at a block boundary must be
//!   `CorruptInput`.
//! - zstd: the `zstd` crate's bulk API (libzstd) with one compression and one decompression
//!   context per thread, so small chunks do not pay for a context allocation per call.
//! - deflate (gzip, zlib): level 1 compresses inputs from 32 KiB with ISA-L's igzip at its
//!   level 3 (Debian's libisal, `isal_deflate_stateless`, src/isal.rs): faster than
//!   libdeflate's level 1 there at the same ratio (within 0.1 %) or better. Below 32 KiB
//!   ISA-L's fixed cost per stream makes it slower, and libdeflate compresses. ISA-L's levels
//!   stop at about libdeflate level 1's ratio, so levels 2..9 compress with libdeflate, one
//!   compressor per level and thread; it is faster than zlib-rs there at an equal or better
//!   ratio. Inflate (compress/deflate.rs) takes ISA-L's stateless decoder for streams that
//!   expand by less than 3.5:1 ([`ISAL_INFLATE_BELOW_RATIO`]: the last gzip member's
//!   ISIZE, or for zlib the destination's size, over the stream's) and libdeflate's for the
//!   rest, one decoder of each per thread: ISA-L is the faster on the kit's generated data
//!   (up to 1.3 times on level 1), libdeflate on text (up to 1.3 times). Both run under the same rules (members, trailing bytes, header CRC,
//!   truncation, `DstTooSmall`), read the same streams to the same bytes (the `decompress`
//!   fuzz body checks it), and libdeflate takes any member past ISA-L's 32-bit lengths
//!   (docs/baselines.md has the figures behind each choice).

use std::cell::RefCell;
use std::io::{ErrorKind, Read};
use std::ops::RangeInclusive;

use zstd::zstd_safe;

use crate::KernelError;
pub use crate::Library;
use deflate::{deflate_compress, deflate_decompress};
pub use deflate::{deflate_decompress_with, inflate_backend, InflateBackend, ISAL_INFLATE_BELOW_RATIO};

/// A compression format: the ABI's own type (`dpu_algo`), the one every crate of the kit
/// names an algorithm with.
pub use dpukit_ffi::Algorithm;

/// Levels the kernels take for `algorithm`. LZ4 frames have one level, 1 (liblz4's default
/// compressor; the ABI writes it 0, see [`crate::registry::codec_for`]). gzip and zlib take
/// zlib's 1..=9, which libdeflate's levels of the same numbers stand for.
pub fn levels(algorithm: Algorithm) -> RangeInclusive<i32> {
    match algorithm {
        Algorithm::Lz4 => 1..=1,
        Algorithm::Zstd => 1..=19,
        Algorithm::Gzip | Algorithm::Zlib => 1..=9,
    }
}

/// The level used when none is given: the fast end, as a data path would pick.
pub fn default_level(algorithm: Algorithm) -> i32 {
    match algorithm {
        Algorithm::Lz4 | Algorithm::Zstd => 1,
        Algorithm::Gzip | Algorithm::Zlib => 6,
    }
}

/// An algorithm with a level that has been checked against [`levels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Codec {
    algorithm: Algorithm,
    level: i32,
}

impl Codec {
    /// A codec, or `BadLevel` if `level` is outside [`levels`]`(algorithm)`.
    pub fn new(algorithm: Algorithm, level: i32) -> Result<Self, KernelError> {
        let range = levels(algorithm);
        if !range.contains(&level) {
            return Err(KernelError::BadLevel {
                algorithm: algorithm.name(),
                level,
                min: *range.start(),
                max: *range.end(),
            });
        }
        Ok(Self { algorithm, level })
    }

    /// The codec at the algorithm's default level.
    pub fn with_default_level(algorithm: Algorithm) -> Self {
        Self { algorithm, level: default_level(algorithm) }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The level (within [`levels`]`(algorithm())`).
    pub fn level(&self) -> i32 {
        self.level
    }
}

/// The libraries behind [`compress`] for `algorithm` over all its levels (gzip and zlib
/// name both of theirs, with the levels each takes).
pub fn compress_library(algorithm: Algorithm) -> Library {
    match algorithm {
        Algorithm::Lz4 => Library { name: "liblz4 (lz4)", version: LIBLZ4_VERSION },
        Algorithm::Zstd => Library { name: "libzstd (zstd)", version: LIBZSTD_VERSION },
        #[cfg(dpukit_isal)]
        Algorithm::Gzip | Algorithm::Zlib => Library {
            name: "ISA-L igzip (libisal) at level 1 from 32 KiB, libdeflate (libdeflater) otherwise",
            version: concat!(env!("DPUKIT_ISAL_VERSION"), " / ", "1.26"),
        },
        #[cfg(not(dpukit_isal))]
        Algorithm::Gzip | Algorithm::Zlib => {
            Library { name: "libdeflate (libdeflater; built without ISA-L)", version: LIBDEFLATE_VERSION }
        }
    }
}

/// The library behind [`compress`] for `codec` (its algorithm at its level) and `src_len`
/// bytes of input.
pub fn compress_library_at(codec: &Codec, src_len: usize) -> Library {
    match codec.algorithm {
        Algorithm::Gzip | Algorithm::Zlib if uses_isal(codec.level, src_len) => ISAL,
        Algorithm::Gzip | Algorithm::Zlib => {
            Library { name: "libdeflate (libdeflater)", version: LIBDEFLATE_VERSION }
        }
        other => compress_library(other),
    }
}

/// The library behind [`decompress`] for `algorithm`.
pub fn decompress_library(algorithm: Algorithm) -> Library {
    match algorithm {
        Algorithm::Lz4 => Library { name: "lz4_flex", version: LZ4_FLEX_VERSION },
        #[cfg(dpukit_isal)]
        Algorithm::Gzip | Algorithm::Zlib => Library {
            name: "ISA-L igzip (libisal) below 3.5:1, else libdeflate (libdeflater)",
            version: concat!(env!("DPUKIT_ISAL_VERSION"), " / ", "1.26"),
        },
        #[cfg(not(dpukit_isal))]
        Algorithm::Gzip | Algorithm::Zlib => {
            Library { name: "libdeflate (libdeflater; built without ISA-L)", version: LIBDEFLATE_VERSION }
        }
        other => compress_library(other),
    }
}

/// ISA-L as results name it: the version of the system library the build linked
/// (pkg-config's, kernels/build.rs).
const ISAL: Library = Library {
    name: "ISA-L igzip (libisal)",
    version: match option_env!("DPUKIT_ISAL_VERSION") {
        Some(v) => v,
        None => "not linked",
    },
};

/// Whether this build linked ISA-L (kernels/build.rs: pkg-config found libisal-dev).
pub fn isal_linked() -> bool {
    cfg!(dpukit_isal)
}

/// Inputs from this size compress with ISA-L at gzip/zlib level 1.
const ISAL_MIN_BYTES: usize = 32 << 10;

/// Whether gzip/zlib at `level` compresses `src_len` bytes with ISA-L: level 1 from
/// [`ISAL_MIN_BYTES`]. There ISA-L's densest level (3) writes streams as small as
/// libdeflate's level 1 (within 0.1 %) or smaller, faster; below it, its fixed cost per
/// stream makes it slower than libdeflate; and libdeflate's level 2 and up write smaller
/// streams than any ISA-L level (docs/baselines.md).
fn uses_isal(level: i32, src_len: usize) -> bool {
    isal_linked() && level == 1 && src_len >= ISAL_MIN_BYTES
}

// Versions of the C libraries the crates build from their bundled source (the `+lz4-…`
// and `+zstd.…` build metadata of lz4-sys and zstd-sys, libdeflate-sys's own version),
// checked against Cargo.lock and the libraries' own version calls by unit tests.
const LIBLZ4_VERSION: &str = "1.10.0";
const LIBZSTD_VERSION: &str = "1.5.7";
const LIBDEFLATE_VERSION: &str = "1.26";
const LZ4_FLEX_VERSION: &str = "0.11.7";

/// Upper bound on the compressed size of `src_len` bytes: a `dst` of this size never gives
/// `DstTooSmall` from [`compress`]. Saturates instead of overflowing.
pub fn max_compressed_len(codec: &Codec, src_len: usize) -> usize {
    match codec.algorithm {
        // Room for each block's worst case in the block format, so that every block is
        // compressed straight into the caller's buffer (a block that does not shrink is
        // stored raw, which needs less).
        Algorithm::Lz4 => lz4_frame_bound(src_len),
        Algorithm::Zstd => {
            let bound = zstd_safe::compress_bound(src_len);
            // compress_bound returns 0 when src_len is too large to bound.
            if bound == 0 {
                usize::MAX
            } else {
                bound
            }
        }
        Algorithm::Gzip | Algorithm::Zlib => {
            // Generous for libdeflate and ISA-L, which both fall back to stored blocks (5
            // bytes per up to 64 KiB) when compressing does not shrink the data, and covers
            // zlib's fixed Huffman codes (up to 9 bits per literal, 1/8 expansion); gzip
            // adds 18 bytes, zlib 6.
            src_len
                .saturating_add(src_len / 8)
                .saturating_add((src_len / 16384 + 1).saturating_mul(8))
                .saturating_add(64)
        }
    }
}

/// Compresses `src` into `dst`, returns the compressed length. `DstTooSmall` if the output
/// does not fit (a `dst` of [`max_compressed_len`] always fits).
pub fn compress(codec: &Codec, src: &[u8], dst: &mut [u8]) -> Result<usize, KernelError> {
    match codec.algorithm {
        Algorithm::Lz4 => lz4_compress(src, dst),
        Algorithm::Zstd => zstd_compress(codec.level, src, dst),
        Algorithm::Gzip | Algorithm::Zlib => deflate_compress(codec, src, dst),
    }
}

/// Decompresses a complete `algorithm` stream `src` into `dst`, returns the decompressed
/// length. The whole of `src` must be the stream (concatenated frames/members are accepted
/// for LZ4, zstd and gzip, as their tools do; trailing bytes are `CorruptInput`).
pub fn decompress(algorithm: Algorithm, src: &[u8], dst: &mut [u8]) -> Result<usize, KernelError> {
    if src.is_empty() {
        return Err(corrupt(algorithm, "empty input"));
    }
    match algorithm {
        Algorithm::Lz4 => lz4_decompress(src, dst),
        Algorithm::Zstd => zstd_decompress(src, dst),
        Algorithm::Gzip | Algorithm::Zlib => deflate_decompress(algorithm, src, dst),
    }
}

fn corrupt(algorithm: Algorithm, reason: impl Into<String>) -> KernelError {
    KernelError::CorruptInput { algorithm: algorithm.name(), reason: reason.into() }
}

fn too_small(capacity: usize, needed: Option<usize>) -> KernelError {
    KernelError::DstTooSmall { capacity, needed }
}

// ---------------------------------------------------------------- LZ4

const LZ4_MAGIC: u32 = 0x184D_2204;
const LZ4_LEGACY_MAGIC: u32 = 0x184C_2102;
const LZ4_SKIPPABLE_MASK: u32 = 0xFFFF_FFF0;
const LZ4_SKIPPABLE_MAGIC: u32 = 0x184D_2A50;

/// FLG byte of the frames written here: version 01, independent blocks, content size.
const LZ4_FLG: u8 = 0x40 | LZ4_FLG_INDEPENDENT | LZ4_FLG_CONTENT_SIZE;
const LZ4_FLG_VERSION_MASK: u8 = 0xC0;
const LZ4_FLG_INDEPENDENT: u8 = 0x20;
const LZ4_FLG_BLOCK_CHECKSUM: u8 = 0x10;
const LZ4_FLG_CONTENT_SIZE: u8 = 0x08;
const LZ4_FLG_CONTENT_CHECKSUM: u8 = 0x04;
const LZ4_FLG_RESERVED: u8 = 0x02;
const LZ4_FLG_DICT_ID: u8 = 0x01;
/// Stored-block flag of a block size word.
const LZ4_UNCOMPRESSED: u32 = 0x8000_0000;

/// Largest block of a frame for `len` bytes of input and its BD byte: 64 KiB, 256 KiB or
/// 4 MiB, as `lz4_flex`'s frame encoder chooses (fixed 64 KiB blocks made 1 MiB compression
/// about 30 % slower).
fn lz4_block_max(len: usize) -> (usize, u8) {
    let code: u8 = if len > 256 * 1024 {
        7
    } else if len > 64 * 1024 {
        5
    } else {
        4
    };
    (lz4_block_size_of(code << 4).unwrap_or(64 << 10), code << 4)
}

/// Block size of a BD byte, `None` for a reserved or unknown code.
fn lz4_block_size_of(bd: u8) -> Option<usize> {
    if bd & 0x8F != 0 {
        return None;
    }
    match bd >> 4 {
        4 => Some(64 << 10),
        5 => Some(256 << 10),
        6 => Some(1 << 20),
        7 => Some(4 << 20),
        _ => None,
    }
}

/// Upper bound of one frame of `src_len` bytes as written by [`lz4_compress`]: header, per
/// block a size word and the block format's worst case, end mark, and 4 bytes of slack.
fn lz4_frame_bound(src_len: usize) -> usize {
    let (block_max, _) = lz4_block_max(src_len);
    let full = src_len / block_max;
    let tail = src_len % block_max;
    let block_bound = |n: usize| 4usize.saturating_add(lz4_block_bound(n));
    let mut total = 15usize + 4 + 4;
    total = total.saturating_add(full.saturating_mul(block_bound(block_max)));
    if tail > 0 || full == 0 {
        total = total.saturating_add(block_bound(tail));
    }
    total
}

/// Worst-case compressed size of an LZ4 block of `len` bytes: liblz4's LZ4_COMPRESSBOUND
/// (blocks here are at most 4 MiB, far below its input limit). A destination this large
/// always takes the block.
const fn lz4_block_bound(len: usize) -> usize {
    len + len / 255 + 16
}

thread_local! {
    /// Where a block is compressed when the caller's buffer is smaller than the block
    /// format's worst case; kept per thread so no call allocates.
    static LZ4_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// One LZ4 frame, written straight into `dst`: no per-call buffers, no copy out of an
/// encoder's own buffer. Blocks are independent, the content size is declared, and a
/// block that does not shrink is stored as is, as the `lz4` tool and `lz4_flex` do.
/// One block with liblz4's default (fast, acceleration 1) compressor into `dst`, which holds
/// at least [`lz4_block_bound`] bytes, so the call cannot run out of room.
fn lz4_block_compress(block: &[u8], dst: &mut [u8]) -> Result<usize, KernelError> {
    debug_assert!(dst.len() >= lz4_block_bound(block.len()));
    if block.is_empty() {
        // liblz4 encodes an empty block as one token byte; the frame never holds one, as
        // an empty input has no blocks, but the block codec is total.
        return Ok(0);
    }
    lz4::block::compress_to_buffer(block, None, false, dst)
        .map_err(|e| corrupt(Algorithm::Lz4, e.to_string()))
}

fn lz4_compress(src: &[u8], dst: &mut [u8]) -> Result<usize, KernelError> {
    let capacity = dst.len();
    let small = || too_small(capacity, None);
    let (block_max, bd) = lz4_block_max(src.len());
    let mut header = [0u8; 15];
    header[..4].copy_from_slice(&LZ4_MAGIC.to_le_bytes());
    header[4] = LZ4_FLG;
    header[5] = bd;
    header[6..14].copy_from_slice(&(src.len() as u64).to_le_bytes());
    header[14] = (xxhash_rust::xxh32::xxh32(&header[4..14], 0) >> 8) as u8;
    dst.get_mut(..15).ok_or_else(small)?.copy_from_slice(&header);
    let mut pos = 15usize;
    for block in src.chunks(block_max) {
        let body = pos + 4;
        let room = capacity.saturating_sub(body);
        let bound = lz4_block_bound(block.len());
        let packed = if room >= bound {
            lz4_block_compress(block, &mut dst[body..])?
        } else {
            // The caller's buffer may still hold the block: compress aside, copy if it fits.
            LZ4_SCRATCH.with(|scratch| -> Result<usize, KernelError> {
                let mut scratch = scratch.borrow_mut();
                if scratch.len() < bound {
                    scratch.resize(bound, 0);
                }
                let n = lz4_block_compress(block, &mut scratch[..])?;
                if n < block.len() && n <= room {
                    dst[body..body + n].copy_from_slice(&scratch[..n]);
                }
                Ok(n)
            })?
        };
        let word = if packed < block.len() && packed <= room {
            packed as u32
        } else {
            dst.get_mut(body..body + block.len()).ok_or_else(small)?.copy_from_slice(block);
            block.len() as u32 | LZ4_UNCOMPRESSED
        };
        dst[pos..body].copy_from_slice(&word.to_le_bytes());
        pos = body + (word & !LZ4_UNCOMPRESSED) as usize;
    }
    dst.get_mut(pos..pos + 4).ok_or_else(small)?.copy_from_slice(&0u32.to_le_bytes());
    Ok(pos + 4)
}

/// Walks the frame structure (headers, block sizes, end marks) of a whole LZ4 stream without
/// decoding it. Returns the sum of the declared content sizes, if every frame declares one.
fn lz4_check_structure(src: &[u8]) -> Result<Option<usize>, KernelError> {
    let err = |reason: &str| Err(corrupt(Algorithm::Lz4, reason));
    let read_u32 = |pos: usize| -> Option<u32> {
        let bytes = src.get(pos..pos.checked_add(4)?)?;
        Some(u32::from_le_bytes(bytes.try_into().ok()?))
    };
    let mut pos = 0usize;
    let mut content: Option<usize> = Some(0);
    while pos < src.len() {
        let Some(magic) = read_u32(pos) else {
            return err("truncated frame magic");
        };
        pos += 4;
        if magic & LZ4_SKIPPABLE_MASK == LZ4_SKIPPABLE_MAGIC {
            let Some(len) = read_u32(pos) else {
                return err("truncated skippable frame");
            };
            pos = match (pos + 4).checked_add(len as usize) {
                Some(end) if end <= src.len() => end,
                _ => return err("truncated skippable frame"),
            };
            continue;
        }
        if magic == LZ4_LEGACY_MAGIC {
            return err("legacy LZ4 frames are not supported");
        }
        if magic != LZ4_MAGIC {
            return err("bad frame magic");
        }
        let Some(&flg) = src.get(pos) else {
            return err("truncated frame header");
        };
        let block_checksum = flg & 0x10 != 0;
        let has_content_size = flg & 0x08 != 0;
        let content_checksum = flg & 0x04 != 0;
        let has_dict_id = flg & 0x01 != 0;
        let header_len = 2 + if has_content_size { 8 } else { 0 } + if has_dict_id { 4 } else { 0 } + 1;
        if pos + header_len > src.len() {
            return err("truncated frame header");
        }
        content = match (content, has_content_size) {
            (Some(sum), true) => {
                let bytes: [u8; 8] = src[pos + 2..pos + 10].try_into().unwrap_or_default();
                usize::try_from(u64::from_le_bytes(bytes)).ok().and_then(|n| sum.checked_add(n))
            }
            _ => None,
        };
        pos += header_len;
        loop {
            let Some(word) = read_u32(pos) else {
                return err("truncated: missing block header or end mark");
            };
            pos += 4;
            if word == 0 {
                break;
            }
            let block_len = (word & 0x7FFF_FFFF) as usize + if block_checksum { 4 } else { 0 };
            pos = match pos.checked_add(block_len) {
                Some(end) if end <= src.len() => end,
                _ => return err("truncated block"),
            };
        }
        if content_checksum {
            if pos + 4 > src.len() {
                return err("truncated content checksum");
            }
            pos += 4;
        }
    }
    Ok(content)
}

fn lz4_decompress(src: &[u8], dst: &mut [u8]) -> Result<usize, KernelError> {
    let declared = lz4_check_structure(src)?;
    let capacity = dst.len();
    if let Some(needed) = declared {
        if needed > capacity {
            return Err(too_small(capacity, Some(needed)));
        }
    }
    let mut pos = 0usize;
    let mut filled = 0usize;
    while pos < src.len() {
        let frame = &src[pos..];
        let magic = lz4_u32(frame, 0).ok_or_else(|| corrupt(Algorithm::Lz4, "truncated frame magic"))?;
        if magic & LZ4_SKIPPABLE_MASK == LZ4_SKIPPABLE_MAGIC {
            let len =
                lz4_u32(frame, 4).ok_or_else(|| corrupt(Algorithm::Lz4, "truncated skippable frame"))?;
            pos += 8 + len as usize;
            continue;
        }
        let flg = frame.get(4).copied().unwrap_or(0);
        let (used, n) = if flg & LZ4_FLG_INDEPENDENT != 0 && flg & LZ4_FLG_DICT_ID == 0 {
            lz4_decode_frame(frame, dst, filled, declared)?
        } else {
            // Linked blocks or a dictionary id (the `lz4` tool's -BD): `lz4_flex`'s decoder.
            lz4_decode_frame_linked(frame, dst, filled, declared)?
        };
        pos += used;
        filled += n;
    }
    Ok(filled)
}

fn lz4_u32(src: &[u8], at: usize) -> Option<u32> {
    let bytes = src.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// The frames' data did not fit `capacity`: too small, unless their headers declared a
/// content size that fits, in which case the blocks hold more than declared: corrupt.
fn lz4_overflow(capacity: usize, declared: Option<usize>) -> KernelError {
    match declared {
        Some(n) if n <= capacity => {
            corrupt(Algorithm::Lz4, "blocks hold more than the frame header declares")
        }
        _ => too_small(capacity, declared),
    }
}

/// Decodes the frame of independent blocks at the start of `src` (its structure already
/// walked) into `dst` from `at`: each block straight into place. Returns the bytes of
/// `src` it took and the bytes it wrote. Checks what `lz4_flex` checks: version, reserved
/// bits, block size, header checksum, block and content checksums, content size.
fn lz4_decode_frame(
    src: &[u8],
    dst: &mut [u8],
    at: usize,
    declared: Option<usize>,
) -> Result<(usize, usize), KernelError> {
    let bad = |reason: &str| corrupt(Algorithm::Lz4, reason);
    let capacity = dst.len();
    let overflow = || lz4_overflow(capacity, declared);
    let truncated = || bad("truncated frame");
    let (&flg, &bd) = (src.get(4).ok_or_else(truncated)?, src.get(5).ok_or_else(truncated)?);
    if flg & LZ4_FLG_VERSION_MASK != 0x40 {
        return Err(bad("unsupported frame version"));
    }
    if flg & LZ4_FLG_RESERVED != 0 {
        return Err(bad("reserved frame flag set"));
    }
    let block_max = lz4_block_size_of(bd).ok_or_else(|| bad("bad block size byte"))?;
    let mut p = 6usize;
    let content_size = if flg & LZ4_FLG_CONTENT_SIZE != 0 {
        let bytes: [u8; 8] = src.get(6..14).ok_or_else(truncated)?.try_into().map_err(|_| truncated())?;
        p = 14;
        Some(u64::from_le_bytes(bytes))
    } else {
        None
    };
    let checksum = *src.get(p).ok_or_else(truncated)?;
    if checksum != (xxhash_rust::xxh32::xxh32(&src[4..p], 0) >> 8) as u8 {
        return Err(bad("frame header checksum does not match"));
    }
    p += 1;
    let mut out = at;
    loop {
        let word = lz4_u32(src, p).ok_or_else(truncated)?;
        p += 4;
        if word == 0 {
            break;
        }
        let len = (word & !LZ4_UNCOMPRESSED) as usize;
        if len > block_max {
            return Err(bad("block larger than the frame's block size"));
        }
        let data = src.get(p..p + len).ok_or_else(truncated)?;
        p += len;
        if flg & LZ4_FLG_BLOCK_CHECKSUM != 0 {
            let sum = lz4_u32(src, p).ok_or_else(truncated)?;
            p += 4;
            if xxhash_rust::xxh32::xxh32(data, 0) != sum {
                return Err(bad("block checksum does not match"));
            }
        }
        if word & LZ4_UNCOMPRESSED != 0 {
            let place = dst.get_mut(out..out + len).ok_or_else(overflow)?;
            place.copy_from_slice(data);
            out += len;
        } else {
            let limit = capacity.min(out + block_max);
            // lz4_flex, not liblz4: liblz4's decoder accepts a match offset of 0, which the
            // format forbids, and copies whatever the destination held there, so its output
            // would depend on the buffer's old bytes (and disagree with every other decoder).
            match lz4_flex::block::decompress_into(data, &mut dst[out..limit]) {
                Ok(n) => out += n,
                Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) if limit < out + block_max => {
                    return Err(overflow())
                }
                Err(e) => return Err(bad(&e.to_string())),
            }
        }
    }
    if content_size.is_some_and(|n| n != (out - at) as u64) {
        return Err(bad("content size does not match the frame header"));
    }
    if flg & LZ4_FLG_CONTENT_CHECKSUM != 0 {
        let sum = lz4_u32(src, p).ok_or_else(truncated)?;
        p += 4;
        if xxhash_rust::xxh32::xxh32(&dst[at..out], 0) != sum {
            return Err(bad("content checksum does not match"));
        }
    }
    Ok((p, out - at))
}

/// Decodes the frame at the start of `src` with `lz4_flex`'s decoder, which handles
/// linked blocks and dictionary ids, into `dst` from `at`. Returns the bytes of `src` it
/// took and the bytes it wrote.
fn lz4_decode_frame_linked(
    src: &[u8],
    dst: &mut [u8],
    at: usize,
    declared: Option<usize>,
) -> Result<(usize, usize), KernelError> {
    let capacity = dst.len();
    let mut filled = at;
    let mut decoder = lz4_flex::frame::FrameDecoder::new(src);
    loop {
        if filled == capacity {
            let mut probe = [0u8; 1];
            match read_retrying(&mut decoder, &mut probe) {
                Ok(0) => break,
                Ok(_) => return Err(lz4_overflow(capacity, declared)),
                Err(e) => return Err(corrupt(Algorithm::Lz4, e.to_string())),
            }
        }
        match read_retrying(&mut decoder, &mut dst[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(corrupt(Algorithm::Lz4, e.to_string())),
        }
    }
    let used = src.len() - decoder.get_ref().len();
    if used == 0 {
        return Err(corrupt(Algorithm::Lz4, "frame made no progress"));
    }
    Ok((used, filled - at))
}

fn read_retrying(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

// ---------------------------------------------------------------- zstd

const ZSTD_DST_TOO_SMALL: &str = "Destination buffer is too small";

thread_local! {
    static ZSTD_CCTX: RefCell<zstd_safe::CCtx<'static>> = RefCell::new(zstd_safe::CCtx::create());
    static ZSTD_DCTX: RefCell<zstd_safe::DCtx<'static>> = RefCell::new(zstd_safe::DCtx::create());
}

fn zstd_compress(level: i32, src: &[u8], dst: &mut [u8]) -> Result<usize, KernelError> {
    let capacity = dst.len();
    ZSTD_CCTX.with(|cctx| cctx.borrow_mut().compress(dst, src, level)).map_err(|code| {
        let name = zstd_safe::get_error_name(code);
        if name == ZSTD_DST_TOO_SMALL {
            too_small(capacity, None)
        } else {
            corrupt(Algorithm::Zstd, name)
        }
    })
}

fn zstd_decompress(src: &[u8], dst: &mut [u8]) -> Result<usize, KernelError> {
    let capacity = dst.len();
    ZSTD_DCTX.with(|dctx| dctx.borrow_mut().decompress(dst, src)).map_err(|code| {
        let name = zstd_safe::get_error_name(code);
        if name == ZSTD_DST_TOO_SMALL {
            // The first frame's declared size, only when it alone exceeds the capacity: with
            // more frames behind it (or a frame that declares less than it holds) it is no
            // measure of what is needed.
            let needed = zstd_safe::get_frame_content_size(src)
                .ok()
                .flatten()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n > capacity);
            too_small(capacity, needed)
        } else {
            corrupt(Algorithm::Zstd, name)
        }
    })
}

mod deflate;

#[cfg(test)]
mod tests;
