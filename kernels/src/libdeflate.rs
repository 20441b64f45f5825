//! libdeflate's decompressor through its `_ex` entry points, which report how many input
//! bytes a gzip member or zlib stream took. `libdeflater` wraps only the plain entry points,
//! which ignore whatever follows the first member, so they can neither read concatenated
//! gzip members nor reject trailing bytes; this module adds those two calls and nothing
//! else. Besides `isal.rs`, the one place in this crate with `unsafe` code (compression
//! goes through `libdeflater`'s safe `Compressor`).

use std::ffi::c_void;
use std::ptr::NonNull;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result, libdeflate_zlib_decompress_ex,
};

const SUCCESS: libdeflate_result = libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS;
const INSUFFICIENT_SPACE: libdeflate_result = libdeflate_sys::libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE;

/// Why a stream did not decompress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// Corrupt, truncated or foreign data (a bad header, checksum or code).
    BadData,
    /// The output does not fit in the destination.
    InsufficientSpace,
}

/// The wrapper whose stream is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wrapper {
    Gzip,
    Zlib,
}

/// One libdeflate decompressor (about 10 KB of tables), owned; not shared between threads
/// at once, as libdeflate requires.
pub(crate) struct Inflater(NonNull<libdeflate_decompressor>);

impl Inflater {
    /// A new decompressor, or `None` if libdeflate could not allocate one.
    pub(crate) fn new() -> Option<Inflater> {
        // SAFETY: no arguments; returns an owned decompressor or NULL on allocation failure,
        // which NonNull::new turns into None.
        NonNull::new(unsafe { libdeflate_alloc_decompressor() }).map(Inflater)
    }

    /// Decodes the first gzip member or zlib stream of `src` into `dst`: the bytes of `src`
    /// it took (header to trailer) and the bytes it wrote. Checksums and sizes in the
    /// trailer are checked by libdeflate.
    pub(crate) fn decompress_one(
        &mut self,
        wrapper: Wrapper,
        src: &[u8],
        dst: &mut [u8],
    ) -> Result<(usize, usize), InflateError> {
        let (mut used_in, mut used_out) = (0usize, 0usize);
        let call = match wrapper {
            Wrapper::Gzip => libdeflate_gzip_decompress_ex,
            Wrapper::Zlib => libdeflate_zlib_decompress_ex,
        };
        // SAFETY: self.0 is a live decompressor owned by self, used by this thread alone
        // (&mut self). libdeflate reads at most src.len() bytes from src's pointer and
        // writes at most dst.len() bytes to dst's pointer (both valid for those lengths for
        // the call; an empty slice's dangling pointer is never dereferenced at length 0),
        // and writes one usize through each of the two out-pointers, which point to locals.
        let result: libdeflate_result = unsafe {
            call(
                self.0.as_ptr(),
                src.as_ptr().cast::<c_void>(),
                src.len(),
                dst.as_mut_ptr().cast::<c_void>(),
                dst.len(),
                &mut used_in,
                &mut used_out,
            )
        };
        match result {
            SUCCESS if used_in <= src.len() && used_out <= dst.len() => Ok((used_in, used_out)),
            INSUFFICIENT_SPACE => Err(InflateError::InsufficientSpace),
            // BAD_DATA, and any code libdeflate might add later, is no valid stream.
            // (SHORT_OUTPUT happens only without an actual_out pointer, which is passed.)
            _ => Err(InflateError::BadData),
        }
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: self.0 came from libdeflate_alloc_decompressor and is freed exactly once,
        // here; nothing else holds it.
        unsafe { libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

// SAFETY: a libdeflate decompressor holds no thread-affine state (no TLS, no locks); it may
// move to another thread as long as one thread at a time uses it, which &mut self ensures.
unsafe impl Send for Inflater {}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(6).expect("level"));
        let mut out = vec![0u8; c.gzip_compress_bound(data.len())];
        let n = c.gzip_compress(data, &mut out).expect("fits");
        out.truncate(n);
        out
    }

    #[test]
    fn reports_the_member_length_so_members_can_follow() {
        let a = gzip(b"first member, first member, first member");
        let b = gzip(b"second");
        let both = [a.clone(), b].concat();
        let mut out = vec![0u8; 100];
        let mut inflater = Inflater::new().expect("alloc");
        let first = b"first member, first member, first member";
        assert_eq!(inflater.decompress_one(Wrapper::Gzip, &both, &mut out), Ok((a.len(), first.len())));
        assert_eq!(&out[..first.len()], first.as_slice());
    }

    #[test]
    fn corrupt_truncated_and_small_outputs_are_errors() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8 ^ (i / 7) as u8).collect();
        let packed = gzip(&data);
        let mut inflater = Inflater::new().expect("alloc");
        // Room to spare: a cut stream read as if followed by zero bits may decode to a few
        // bytes more than the whole one (compress/ rechecks such overflows).
        let mut out = vec![0u8; data.len() + 65536];
        for cut in [0, 1, 10, packed.len() / 2, packed.len() - 1] {
            assert_eq!(
                inflater.decompress_one(Wrapper::Gzip, &packed[..cut], &mut out),
                Err(InflateError::BadData),
                "cut at {cut}"
            );
        }
        let mut flipped = packed.clone();
        let last = flipped.len() - 6;
        flipped[last] ^= 1; // the CRC32 of the trailer
        assert_eq!(inflater.decompress_one(Wrapper::Gzip, &flipped, &mut out), Err(InflateError::BadData));
        assert_eq!(inflater.decompress_one(Wrapper::Zlib, &packed, &mut out), Err(InflateError::BadData));
        assert_eq!(inflater.decompress_one(Wrapper::Gzip, &packed, &mut out), Ok((packed.len(), data.len())));
        assert_eq!(
            inflater.decompress_one(Wrapper::Gzip, &packed, &mut out[..data.len() - 1]),
            Err(InflateError::InsufficientSpace)
        );
        assert_eq!(
            inflater.decompress_one(Wrapper::Gzip, &packed, &mut []),
            Err(InflateError::InsufficientSpace)
        );
    }
}
