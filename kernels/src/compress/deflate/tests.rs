//! The kit's gzip/zlib rules, held by each inflate backend: the cases where ISA-L's decoder
//! might behave differently from libdeflate's (cuts, trailing bytes, members, header
//! fields, destinations at the exact size).

use super::*;
use crate::compress::{compress, decompress, decompress_library, max_compressed_len};
use crate::datagen::{DataGen, Preset};

fn data(preset: Preset, len: usize, seed: u64) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    DataGen::preset(preset).fill(seed, 0, &mut buf);
    buf
}

fn packed(algorithm: Algorithm, level: i32, src: &[u8]) -> Vec<u8> {
    let codec = Codec::new(algorithm, level).expect("level");
    let mut dst = vec![0u8; max_compressed_len(&codec, src.len())];
    let n = compress(&codec, src, &mut dst).expect("compresses");
    dst.truncate(n);
    dst
}

/// The backends this build has: libdeflate always, ISA-L where linked.
fn backends() -> Vec<InflateBackend> {
    let mut all = vec![InflateBackend::Libdeflate];
    if isal_linked() {
        all.push(InflateBackend::Isal);
    }
    all
}

fn is_corrupt(r: &Result<usize, KernelError>) -> bool {
    matches!(r, Err(KernelError::CorruptInput { .. }))
}

/// Streams the kit writes at levels 1 (ISA-L from 32 KiB) and 6, gzip and zlib.
fn streams() -> Vec<(Algorithm, Vec<u8>, Vec<u8>)> {
    let mut all = Vec::new();
    for (preset, len) in
        [(Preset::TextLike, 40_000), (Preset::CheckpointLike, 50_000), (Preset::TextLike, 3_000)]
    {
        let src = data(preset, len, len as u64);
        for algorithm in [Algorithm::Gzip, Algorithm::Zlib] {
            for level in [1, 6] {
                all.push((algorithm, src.clone(), packed(algorithm, level, &src)));
            }
        }
    }
    all
}

#[test]
fn a_member_cut_in_its_header_or_trailer_is_corrupt() {
    for backend in backends() {
        for (algorithm, src, stream) in streams() {
            let trailer = if algorithm == Algorithm::Gzip { 8 } else { 4 };
            let header = if algorithm == Algorithm::Gzip { 10 } else { 2 };
            let mut out = vec![0u8; src.len() + 1024];
            let cuts = (1..=header).chain(stream.len() - trailer..stream.len());
            for cut in cuts {
                let r = deflate_decompress_with(backend, algorithm, &stream[..cut], &mut out);
                assert!(is_corrupt(&r), "{backend:?} {algorithm} cut at {cut}/{}: {r:?}", stream.len());
                // Into a destination of exactly the data's size as well.
                let r = deflate_decompress_with(backend, algorithm, &stream[..cut], &mut out[..src.len()]);
                assert!(is_corrupt(&r), "{backend:?} {algorithm} cut at {cut}, exact destination: {r:?}");
            }
        }
    }
}

#[test]
fn trailing_bytes_after_a_gzip_member_or_zlib_stream_are_corrupt() {
    for backend in backends() {
        for (algorithm, src, stream) in streams() {
            let mut out = vec![0u8; 2 * src.len() + 1024];
            for junk in
                [&[0u8][..], &[0; 8], &[0x1f], &[0x1f, 0x8b], &[0x1f, 0x8b, 8, 0], b"garbage after it"]
            {
                let input = [&stream[..], junk].concat();
                let r = deflate_decompress_with(backend, algorithm, &input, &mut out);
                assert!(is_corrupt(&r), "{backend:?} {algorithm} + {junk:?}: {r:?}");
            }
        }
    }
}

#[test]
fn a_corrupt_second_member_is_corrupt() {
    let a = data(Preset::TextLike, 40_000, 1);
    let b = data(Preset::CheckpointLike, 40_000, 2);
    for backend in backends() {
        for level in [1, 6] {
            let first = packed(Algorithm::Gzip, level, &a);
            let second = packed(Algorithm::Gzip, level, &b);
            let mut out = vec![0u8; a.len() + b.len() + 1024];
            let both = [&first[..], &second[..]].concat();
            assert_eq!(
                deflate_decompress_with(backend, Algorithm::Gzip, &both, &mut out),
                Ok(a.len() + b.len())
            );
            assert_eq!(&out[..a.len()], &a[..]);
            assert_eq!(&out[a.len()..a.len() + b.len()], &b[..]);
            // A flipped bit in the second member's data, CRC32 and ISIZE; a cut anywhere in it.
            for at in [12, second.len() / 2, second.len() - 8, second.len() - 1] {
                let mut bad = both.clone();
                bad[first.len() + at] ^= 0x10;
                let r = deflate_decompress_with(backend, Algorithm::Gzip, &bad, &mut out);
                assert!(is_corrupt(&r), "{backend:?} level {level} flip at {at}: {r:?}");
            }
            for cut in [1, 10, second.len() / 2, second.len() - 1] {
                let r =
                    deflate_decompress_with(backend, Algorithm::Gzip, &both[..first.len() + cut], &mut out);
                assert!(is_corrupt(&r), "{backend:?} level {level} second member cut at {cut}: {r:?}");
            }
        }
    }
}

#[test]
fn empty_members_and_streams() {
    let text = data(Preset::TextLike, 5_000, 3);
    for backend in backends() {
        for algorithm in [Algorithm::Gzip, Algorithm::Zlib] {
            let empty = packed(algorithm, 6, &[]);
            let mut out = vec![0u8; 10_000];
            assert_eq!(deflate_decompress_with(backend, algorithm, &empty, &mut out), Ok(0));
            assert_eq!(deflate_decompress_with(backend, algorithm, &empty, &mut []), Ok(0));
            assert!(is_corrupt(&deflate_decompress_with(backend, algorithm, &[], &mut out)));
        }
        // An empty member between two others, and alone twice.
        let full = packed(Algorithm::Gzip, 6, &text);
        let empty = packed(Algorithm::Gzip, 6, &[]);
        let mut out = vec![0u8; 10_000];
        let input = [&full[..], &empty[..], &full[..]].concat();
        assert_eq!(deflate_decompress_with(backend, Algorithm::Gzip, &input, &mut out), Ok(10_000));
        assert_eq!(&out[5_000..], &text[..]);
        let input = [&empty[..], &empty[..]].concat();
        assert_eq!(deflate_decompress_with(backend, Algorithm::Gzip, &input, &mut out), Ok(0));
    }
}

/// `member` with FNAME "chunk" and a header CRC; `good` chooses a right or a wrong CRC.
fn with_header_crc(member: &[u8], good: bool) -> Vec<u8> {
    let mut header = member[..10].to_vec();
    header[3] |= 0x08 | 0x02;
    header.extend_from_slice(b"chunk\0");
    let crc = (libdeflater::crc32(&header) & 0xFFFF) as u16 ^ u16::from(!good);
    [&header[..], &crc.to_le_bytes(), &member[10..]].concat()
}

#[test]
fn gzip_header_crc_and_reserved_flags() {
    let src = data(Preset::CheckpointLike, 40_000, 4);
    for backend in backends() {
        for level in [1, 6] {
            let member = packed(Algorithm::Gzip, level, &src);
            let mut out = vec![0u8; src.len()];
            let good = with_header_crc(&member, true);
            assert_eq!(deflate_decompress_with(backend, Algorithm::Gzip, &good, &mut out), Ok(src.len()));
            assert_eq!(out, src);
            let bad = with_header_crc(&member, false);
            let r = deflate_decompress_with(backend, Algorithm::Gzip, &bad, &mut out);
            assert!(is_corrupt(&r), "{backend:?}: wrong header CRC read: {r:?}");
            // Wrong in a second member only.
            let mut two = vec![0u8; 2 * src.len()];
            let input = [&good[..], &bad[..]].concat();
            assert!(is_corrupt(&deflate_decompress_with(backend, Algorithm::Gzip, &input, &mut two)));
            // Reserved flag bits, which ISA-L alone would ignore.
            for bit in [0x20u8, 0x40, 0x80] {
                let mut flagged = member.clone();
                flagged[3] |= bit;
                let r = deflate_decompress_with(backend, Algorithm::Gzip, &flagged, &mut out);
                assert!(is_corrupt(&r), "{backend:?}: reserved flag {bit:#x} read: {r:?}");
            }
        }
    }
}

/// A zlib header with `cmf` and the FDICT flag as given, FCHECK made right.
fn zlib_header(cmf: u8, dict: bool) -> [u8; 2] {
    let flg = if dict { 0x20u8 } else { 0 };
    let check = (31 - (u16::from(cmf) * 256 + u16::from(flg)) % 31) % 31;
    [cmf, flg | check as u8]
}

#[test]
fn zlib_preset_dictionary_and_window_size() {
    let src = data(Preset::TextLike, 40_000, 5);
    for backend in backends() {
        for level in [1, 6] {
            let stream = packed(Algorithm::Zlib, level, &src);
            let mut out = vec![0u8; src.len()];
            // The same deflate data and Adler-32 behind a header that asks for a dictionary
            // (with its 4-byte id): neither backend has one to give.
            let with_dict = [&zlib_header(0x78, true)[..], &[0, 0, 0, 1], &stream[2..]].concat();
            let r = deflate_decompress_with(backend, Algorithm::Zlib, &with_dict, &mut out);
            assert!(is_corrupt(&r), "{backend:?}: FDICT read: {r:?}");
            // Any window size up to 32 KiB reads (the data's distances are not checked
            // against it, as zlib does not); CINFO 8 and up is no zlib stream.
            for cinfo in 0..=7u8 {
                let input = [&zlib_header(cinfo << 4 | 8, false)[..], &stream[2..]].concat();
                assert_eq!(
                    deflate_decompress_with(backend, Algorithm::Zlib, &input, &mut out),
                    Ok(src.len())
                );
            }
            for cinfo in 8..=15u8 {
                let input = [&zlib_header(cinfo << 4 | 8, false)[..], &stream[2..]].concat();
                let r = deflate_decompress_with(backend, Algorithm::Zlib, &input, &mut out);
                assert!(is_corrupt(&r), "{backend:?}: CINFO {cinfo} read: {r:?}");
            }
        }
    }
}

#[test]
fn exact_destinations_and_one_byte_short() {
    for backend in backends() {
        for (algorithm, src, stream) in streams() {
            let mut out = vec![0u8; src.len()];
            assert_eq!(deflate_decompress_with(backend, algorithm, &stream, &mut out), Ok(src.len()));
            assert_eq!(out, src);
            let r = deflate_decompress_with(backend, algorithm, &stream, &mut out[..src.len() - 1]);
            assert_eq!(
                r,
                Err(KernelError::DstTooSmall { capacity: src.len() - 1, needed: Some(src.len()) }),
                "{backend:?} {algorithm}"
            );
        }
        // Two members: one byte short of both, and room for the first only.
        let a = data(Preset::TextLike, 40_000, 6);
        let b = data(Preset::CheckpointLike, 40_000, 7);
        let both = [packed(Algorithm::Gzip, 1, &a), packed(Algorithm::Gzip, 6, &b)].concat();
        let total = a.len() + b.len();
        let mut out = vec![0u8; total];
        assert_eq!(deflate_decompress_with(backend, Algorithm::Gzip, &both, &mut out), Ok(total));
        assert_eq!(
            deflate_decompress_with(backend, Algorithm::Gzip, &both, &mut out[..total - 1]),
            Err(KernelError::DstTooSmall { capacity: total - 1, needed: Some(total) })
        );
        assert!(matches!(
            deflate_decompress_with(backend, Algorithm::Gzip, &both, &mut out[..a.len()]),
            Err(KernelError::DstTooSmall { capacity, needed: Some(n) }) if capacity == a.len() && n == total
        ));
    }
}

/// Whatever the input, a backend writes inside the destination only: the bytes after it in
/// the same allocation keep their values.
#[test]
fn nothing_is_written_past_the_destination() {
    const GUARD: u8 = 0xA5;
    for backend in backends() {
        for (algorithm, src, stream) in streams() {
            let mut inputs = vec![stream.clone()];
            for cut in [stream.len() / 3, stream.len() - 5] {
                inputs.push(stream[..cut].to_vec());
            }
            let mut flipped = stream.clone();
            flipped[stream.len() / 2] ^= 0x04;
            inputs.push(flipped);
            for input in &inputs {
                for cap in [0, 1, 100, 4096, src.len() / 2, src.len() - 1, src.len()] {
                    let mut buf = vec![GUARD; cap + 4096];
                    let r = deflate_decompress_with(backend, algorithm, input, &mut buf[..cap]);
                    if let Ok(n) = r {
                        assert!(n <= cap);
                    }
                    assert!(
                        buf[cap..].iter().all(|&b| b == GUARD),
                        "{backend:?} {algorithm} cap {cap}: {r:?}"
                    );
                }
            }
        }
    }
}

/// The two backends give the same answer on the kit's streams cut and flipped everywhere
/// (the fuzz body checks the same on arbitrary input).
#[test]
fn backends_agree_on_damaged_streams() {
    if !isal_linked() {
        return;
    }
    let small = data(Preset::TextLike, 2_000, 8);
    let large = data(Preset::CheckpointLike, 40_000, 9);
    for src in [&small, &large] {
        for algorithm in [Algorithm::Gzip, Algorithm::Zlib] {
            for level in [1, 6, 9] {
                let stream = packed(algorithm, level, src);
                let step = (stream.len() / 300).max(1);
                let mut inputs: Vec<Vec<u8>> =
                    (1..stream.len()).step_by(step).map(|c| stream[..c].to_vec()).collect();
                for at in (0..stream.len()).step_by(step) {
                    for bit in [0x01, 0x80] {
                        let mut bad = stream.clone();
                        bad[at] ^= bit;
                        inputs.push(bad);
                    }
                }
                let mut out = vec![0u8; src.len() + 70_000];
                let mut other = vec![0u8; src.len() + 70_000];
                for input in &inputs {
                    let a = deflate_decompress_with(InflateBackend::Libdeflate, algorithm, input, &mut out);
                    let b = deflate_decompress_with(InflateBackend::Isal, algorithm, input, &mut other);
                    match (&a, &b) {
                        (Ok(x), Ok(y)) => assert!(x == y && out[..*x] == other[..*y]),
                        (Err(x), Err(y)) => {
                            assert_eq!(std::mem::discriminant(x), std::mem::discriminant(y), "{x} / {y}")
                        }
                        _ => panic!("{algorithm} level {level}: libdeflate {a:?}, ISA-L {b:?}"),
                    }
                }
            }
        }
    }
}

#[test]
fn the_backend_follows_the_expansion_ratio() {
    let low = data(Preset::CheckpointLike, 100_000, 10);
    let high = vec![b'a'; 100_000];
    for algorithm in [Algorithm::Gzip, Algorithm::Zlib] {
        let low_stream = packed(algorithm, 6, &low);
        let high_stream = packed(algorithm, 6, &high);
        assert!((low.len() as f64) < low_stream.len() as f64 * ISAL_INFLATE_BELOW_RATIO);
        assert!((high.len() as f64) > high_stream.len() as f64 * ISAL_INFLATE_BELOW_RATIO);
        let want = if isal_linked() { InflateBackend::Isal } else { InflateBackend::Libdeflate };
        assert_eq!(inflate_backend(algorithm, &low_stream, low.len()), want, "{algorithm}");
        assert_eq!(inflate_backend(algorithm, &high_stream, high.len()), InflateBackend::Libdeflate);
        // zlib records no size: a destination far larger than the data moves it too.
        if algorithm == Algorithm::Zlib {
            assert_eq!(inflate_backend(algorithm, &low_stream, 100 * low.len()), InflateBackend::Libdeflate);
        }
        // Either way decompress reads both.
        let mut out = vec![0u8; 100_000];
        assert_eq!(decompress(algorithm, &low_stream, &mut out), Ok(low.len()));
        assert_eq!(decompress(algorithm, &high_stream, &mut out), Ok(high.len()));
    }
    let name = decompress_library(Algorithm::Gzip).name;
    assert_eq!(name.starts_with("ISA-L"), isal_linked(), "{name}");
    if isal_linked() {
        assert!(name.contains(&format!("below {ISAL_INFLATE_BELOW_RATIO}:1")), "{name}");
    }
    assert!(matches!(
        deflate_decompress_with(InflateBackend::Libdeflate, Algorithm::Zstd, &low, &mut [0u8; 1]),
        Err(KernelError::InvalidParameter { .. })
    ));
}

/// An input past ISA-L's 32-bit lengths goes to libdeflate member by member: here a good
/// member followed by zeros to over 4 GiB (zero pages, never touched), which is corrupt
/// after the first member, not a panic or a misread. The allocation is virtual.
#[test]
fn an_input_over_4_gib_falls_back_to_libdeflate() {
    let src = data(Preset::TextLike, 3_000, 11);
    let member = packed(Algorithm::Gzip, 6, &src);
    let mut huge = vec![0u8; (1usize << 32) + 16];
    huge[..member.len()].copy_from_slice(&member);
    let mut out = vec![0u8; 2 * src.len()];
    for backend in backends() {
        match deflate_decompress_with(backend, Algorithm::Gzip, &huge, &mut out) {
            Err(KernelError::CorruptInput { reason, .. }) => {
                assert!(reason.contains("after the first member"), "{reason}")
            }
            other => panic!("{backend:?}: {other:?}"),
        }
        assert_eq!(&out[..src.len()], &src[..]);
    }
}

/// The one malformed stream the two decoders were seen to read differently (found by the
/// fuzz body's backend check): a zlib stream whose fixed-code block uses length symbol 286
/// or 287, which the format does not define. libdeflate reads it as length 258 (its table
/// maps 285..=287 alike); ISA-L, like zlib, stops. The kit reads it either way, as it did
/// with libdeflate alone: a member one decoder refuses goes to the other.
#[cfg(dpukit_isal)]
#[test]
fn length_symbols_286_and_287_read_by_libdeflate_alone() {
    let seed = include_bytes!("../../../../fuzz/seeds/decompress/zlib-libdeflate-lenient");
    let stream = &seed[1..];
    let mut out = vec![0u8; 4096];
    let mut libdeflate = crate::libdeflate::Inflater::new().expect("alloc");
    assert_eq!(
        libdeflate.decompress_one(crate::libdeflate::Wrapper::Zlib, stream, &mut out),
        Ok((stream.len(), 600))
    );
    let mut isal = isal::Inflater::new();
    assert_eq!(isal.decompress_one(isal::Wrapper::Zlib, stream, &mut out), Err(isal::InflateError::BadData));
    let mut zlib = flate2::Decompress::new(true);
    assert!(zlib.decompress(stream, &mut out, flate2::FlushDecompress::Finish).is_err());
    for backend in backends() {
        assert_eq!(deflate_decompress_with(backend, Algorithm::Zlib, stream, &mut out), Ok(600));
        // Into 600 bytes exactly, one short, and a destination that picks the other backend.
        assert_eq!(deflate_decompress_with(backend, Algorithm::Zlib, stream, &mut out[..600]), Ok(600));
        assert_eq!(
            deflate_decompress_with(backend, Algorithm::Zlib, stream, &mut out[..599]),
            Err(KernelError::DstTooSmall { capacity: 599, needed: Some(600) })
        );
    }
    assert_eq!(
        decompress(Algorithm::Zlib, stream, &mut out[..200]),
        Err(KernelError::DstTooSmall { capacity: 200, needed: Some(600) })
    );
}

/// Two read-write pages followed by one inaccessible page, so that a slice ending at the
/// boundary faults on any access past its end (where a heap buffer would hide it).
struct Guarded {
    base: std::ptr::NonNull<std::ffi::c_void>,
    page: usize,
}

#[allow(unsafe_code)]
impl Guarded {
    fn new() -> Guarded {
        use nix::sys::mman::{mmap_anonymous, mprotect, MapFlags, ProtFlags};
        let page = 4096usize;
        let len = std::num::NonZeroUsize::new(3 * page).expect("non-zero");
        let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        // SAFETY: a fresh anonymous private mapping, at an address the kernel picks; nothing
        // else refers to it.
        let base = unsafe { mmap_anonymous(None, len, rw, MapFlags::MAP_PRIVATE) }.expect("mmap");
        // SAFETY: the third page lies inside the mapping just made, and no reference to it
        // exists.
        let guard = unsafe { base.byte_add(2 * page) };
        // SAFETY: as above: the range is the mapping's own last page.
        unsafe { mprotect(guard, page, ProtFlags::PROT_NONE) }.expect("mprotect");
        Guarded { base, page }
    }

    /// The last `len` bytes (at most two pages) before the inaccessible page.
    fn tail(&mut self, len: usize) -> &mut [u8] {
        assert!(len <= 2 * self.page);
        // SAFETY: the first two pages are mapped read-write for the life of self, and the
        // returned slice borrows self mutably, so it is the only reference to them.
        let pages = unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().cast::<u8>(), 2 * self.page) };
        &mut pages[2 * self.page - len..]
    }
}

#[allow(unsafe_code)]
impl Drop for Guarded {
    fn drop(&mut self) {
        // SAFETY: base and 3 pages are the mapping made in new, unmapped once, here.
        unsafe { nix::sys::mman::munmap(self.base, 3 * self.page) }.expect("munmap");
    }
}

/// No backend reads a byte past the input or writes one past the destination: each slice
/// ends where an inaccessible page starts, for whole, cut and damaged streams, and
/// destinations of the exact size and smaller. A stray access faults the test process.
#[test]
fn no_access_past_the_input_or_the_destination() {
    let src = data(Preset::TextLike, 8_000, 12);
    let mut input_pages = Guarded::new();
    let mut output_pages = Guarded::new();
    for backend in backends() {
        for algorithm in [Algorithm::Gzip, Algorithm::Zlib] {
            for level in [1, 6, 9] {
                let stream = packed(algorithm, level, &src);
                assert!(stream.len() <= 8192, "{}", stream.len());
                let mut inputs: Vec<Vec<u8>> =
                    (0..=stream.len()).step_by(37).map(|c| stream[..c].to_vec()).collect();
                inputs.push(stream.clone());
                for at in (0..stream.len()).step_by(53) {
                    let mut bad = stream.clone();
                    bad[at] ^= 0x08;
                    inputs.push(bad);
                }
                for input in &inputs {
                    let placed = input_pages.tail(input.len());
                    placed.copy_from_slice(input);
                    let placed: &[u8] = placed;
                    for cap in [src.len(), src.len() - 1, 1000, 0] {
                        let dst = output_pages.tail(cap);
                        let r = deflate_decompress_with(backend, algorithm, placed, dst);
                        if input == &stream && cap == src.len() {
                            assert_eq!(r, Ok(src.len()));
                            assert_eq!(&dst[..], &src[..]);
                        }
                    }
                }
            }
        }
    }
}
