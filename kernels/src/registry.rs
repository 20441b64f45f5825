//! The kernel registry: one table from opcode to kernel, through which both the host
//! backend (host mode) and the simulated DPU (offload mode) dispatch. Because both paths
//! call [`Registry::execute`], their results are byte-identical by construction.
//!
//! Built-in opcodes map to the kernels of this crate; user opcodes (`0x80..=0xfe`) map to
//! [`UserKernel`]s registered at run time (Rust closures, or C plugins loaded by the
//! simulator). Every kernel error becomes one ABI [`Status`].

// The call variants and their fields mirror the ABI's opcodes and descriptor fields,
// which `ffi/include/dpu_offload.h` documents one by one.
#![allow(missing_docs)]

use crate::cache_index::{CacheIndex, CacheKey, Location};
use crate::compress::{self, Codec};
use crate::crc32c::crc32c_append;
use crate::KernelError;
use dpukit_ffi::{Algorithm as AbiAlgorithm, Status};
use std::sync::Arc;

/// Arguments of a user kernel beyond its buffers (the descriptor's fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserArgs {
    pub opcode: u8,
    pub arg0: u64,
    pub arg1: u64,
    pub algo: u8,
    pub level: u8,
}

/// What a user kernel returns on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserOutput {
    /// Copied to the completion's `result`.
    pub result: u64,
    /// Bytes written to the destination (at most its length).
    pub dst_len: usize,
}

/// A kernel bound to a user opcode.
pub trait UserKernel: Send + Sync {
    /// Name for reports and profiles' cost tables.
    fn name(&self) -> &str;
    /// Runs on resolved buffers; an error is the completion status.
    fn run(&self, args: &UserArgs, src: &[u8], dst: &mut [u8]) -> Result<UserOutput, Status>;
}

/// A user kernel from a Rust closure.
pub struct FnKernel<F> {
    name: String,
    f: F,
}

impl<F> FnKernel<F>
where
    F: Fn(&UserArgs, &[u8], &mut [u8]) -> Result<UserOutput, Status> + Send + Sync,
{
    pub fn new(name: impl Into<String>, f: F) -> FnKernel<F> {
        FnKernel { name: name.into(), f }
    }
}

impl<F> UserKernel for FnKernel<F>
where
    F: Fn(&UserArgs, &[u8], &mut [u8]) -> Result<UserOutput, Status> + Send + Sync,
{
    fn name(&self) -> &str {
        &self.name
    }
    fn run(&self, args: &UserArgs, src: &[u8], dst: &mut [u8]) -> Result<UserOutput, Status> {
        (self.f)(args, src, dst)
    }
}

/// One operation with its buffers resolved: what a kernel runs on.
pub enum Call<'a> {
    Nop,
    Crc32c {
        src: &'a [u8],
        seed: u32,
    },
    Copy {
        src: &'a [u8],
        dst: &'a mut [u8],
    },
    CopyCrc32c {
        src: &'a [u8],
        dst: &'a mut [u8],
        seed: u32,
    },
    Compress {
        src: &'a [u8],
        dst: &'a mut [u8],
        algorithm: AbiAlgorithm,
        level: u8,
    },
    Decompress {
        src: &'a [u8],
        dst: &'a mut [u8],
        algorithm: AbiAlgorithm,
    },
    /// On a hit the 16-byte location is written to `dst`.
    CacheLookup {
        key: [u8; 16],
        dst: &'a mut [u8],
    },
    CacheInsert {
        key: [u8; 16],
        value: [u8; 16],
    },
    CacheDelete {
        key: [u8; 16],
    },
    User {
        args: UserArgs,
        src: &'a [u8],
        dst: &'a mut [u8],
    },
}

/// The outcome of a successful call, as a completion carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// CRC value, output length, 1/0 for insert-replaced, user result.
    pub result: u64,
    /// Source bytes processed.
    pub bytes_in: u64,
    /// Bytes written to the destination.
    pub bytes_out: u64,
}

/// Maps a kernel error to the status its completion carries.
pub fn status_of(e: &KernelError) -> Status {
    match e {
        KernelError::DstTooSmall { .. } => Status::DstTooSmall,
        KernelError::CorruptInput { .. } | KernelError::BadEncodingLength { .. } => Status::CorruptInput,
        KernelError::BadLevel { .. } => Status::BadAlgorithm,
        KernelError::OffsetTooLarge { .. } => Status::OutOfRange,
        KernelError::NotFound { .. } => Status::NotFound,
        KernelError::ZeroKey | KernelError::InvalidParameter { .. } => Status::InvalidArgument,
    }
}

/// The codec a descriptor's (algorithm, level) names. LZ4 frames have a single level,
/// written as 0 in descriptors.
pub fn codec_for(algorithm: AbiAlgorithm, level: u8) -> Result<Codec, Status> {
    if algorithm == AbiAlgorithm::Lz4 {
        return if level == 0 { Ok(Codec::with_default_level(algorithm)) } else { Err(Status::BadAlgorithm) };
    }
    Codec::new(algorithm, level as i32).map_err(|e| status_of(&e))
}

/// The library each built-in host kernel runs on, by the op names results use: `crc32c`,
/// then `compress ALGO` and `decompress ALGO` for each compression algorithm.
pub fn host_libraries() -> Vec<(String, crate::Library)> {
    let mut v = vec![("crc32c".to_owned(), crate::crc32c::LIBRARY)];
    for a in AbiAlgorithm::ALL {
        v.push((format!("compress {}", a.name()), compress::compress_library(a)));
        v.push((format!("decompress {}", a.name()), compress::decompress_library(a)));
    }
    v
}

/// Number of user opcodes (`0x80..=0xfe`).
const USER_SLOTS: usize = 0xfe - 0x80 + 1;

/// Why a user kernel could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("opcode {0:#04x} is not in the user range 0x80..=0xfe")]
    NotUserOpcode(u8),
    #[error("opcode {opcode:#04x} is already bound to kernel {existing:?}")]
    AlreadyBound { opcode: u8, existing: String },
}

/// Opcode -> kernel table, with the cache index that the cache opcodes operate on.
#[derive(Clone)]
pub struct Registry {
    user: Vec<Option<Arc<dyn UserKernel>>>,
    cache: Arc<CacheIndex>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bound: Vec<_> = self.user_kernels().map(|(op, k)| format!("{op:#04x}={}", k.name())).collect();
        f.debug_struct("Registry").field("user", &bound).field("cache", &self.cache).finish()
    }
}

impl Registry {
    /// A registry whose cache opcodes operate on `cache`.
    pub fn new(cache: Arc<CacheIndex>) -> Registry {
        Registry { user: vec![None; USER_SLOTS], cache }
    }

    pub fn cache(&self) -> &Arc<CacheIndex> {
        &self.cache
    }

    /// Binds `kernel` to a user opcode.
    pub fn register_user(&mut self, opcode: u8, kernel: Arc<dyn UserKernel>) -> Result<(), RegistryError> {
        if !(0x80..=0xfe).contains(&opcode) {
            return Err(RegistryError::NotUserOpcode(opcode));
        }
        let slot = &mut self.user[(opcode - 0x80) as usize];
        if let Some(existing) = slot {
            return Err(RegistryError::AlreadyBound { opcode, existing: existing.name().to_owned() });
        }
        *slot = Some(kernel);
        Ok(())
    }

    /// The kernel bound to a user opcode.
    pub fn user_kernel(&self, opcode: u8) -> Option<&Arc<dyn UserKernel>> {
        opcode.checked_sub(0x80).and_then(|i| self.user.get(i as usize)).and_then(|k| k.as_ref())
    }

    /// Every bound user kernel, by opcode.
    pub fn user_kernels(&self) -> impl Iterator<Item = (u8, &Arc<dyn UserKernel>)> {
        self.user.iter().enumerate().filter_map(|(i, k)| k.as_ref().map(|k| (0x80 + i as u8, k)))
    }

    /// Runs one call. Never panics on bad input: every failure is a status.
    pub fn execute(&self, call: Call<'_>) -> Result<Outcome, Status> {
        match call {
            Call::Nop => Ok(Outcome::default()),
            Call::Crc32c { src, seed } => Ok(Outcome {
                result: crc32c_append(seed, src) as u64,
                bytes_in: src.len() as u64,
                bytes_out: 0,
            }),
            Call::Copy { src, dst } => {
                let out = dst.get_mut(..src.len()).ok_or(Status::DstTooSmall)?;
                out.copy_from_slice(src);
                let n = src.len() as u64;
                Ok(Outcome { result: n, bytes_in: n, bytes_out: n })
            }
            Call::CopyCrc32c { src, dst, seed } => {
                let out = dst.get_mut(..src.len()).ok_or(Status::DstTooSmall)?;
                out.copy_from_slice(src);
                let n = src.len() as u64;
                Ok(Outcome { result: crc32c_append(seed, src) as u64, bytes_in: n, bytes_out: n })
            }
            Call::Compress { src, dst, algorithm, level } => {
                let codec = codec_for(algorithm, level)?;
                let n = compress::compress(&codec, src, dst).map_err(|e| status_of(&e))?;
                Ok(Outcome { result: n as u64, bytes_in: src.len() as u64, bytes_out: n as u64 })
            }
            Call::Decompress { src, dst, algorithm } => {
                let n = compress::decompress(algorithm, src, dst).map_err(|e| status_of(&e))?;
                Ok(Outcome { result: n as u64, bytes_in: src.len() as u64, bytes_out: n as u64 })
            }
            Call::CacheLookup { key, dst } => {
                let key = CacheKey::from_bytes(key).map_err(|e| status_of(&e))?;
                let loc = self.cache.lookup(key).ok_or(Status::NotFound)?;
                let out = dst.get_mut(..Location::WIRE_BYTES).ok_or(Status::DstTooSmall)?;
                out.copy_from_slice(&loc.to_bytes());
                Ok(Outcome { result: 1, bytes_in: 0, bytes_out: Location::WIRE_BYTES as u64 })
            }
            Call::CacheInsert { key, value } => {
                let key = CacheKey::from_bytes(key).map_err(|e| status_of(&e))?;
                let outcome = self.cache.insert(key, Location::from_bytes(value));
                Ok(Outcome { result: outcome.replaced.is_some() as u64, bytes_in: 0, bytes_out: 0 })
            }
            Call::CacheDelete { key } => {
                let key = CacheKey::from_bytes(key).map_err(|e| status_of(&e))?;
                self.cache.delete(key).map_err(|e| status_of(&e))?;
                Ok(Outcome::default())
            }
            Call::User { args, src, dst } => {
                let kernel = self.user_kernel(args.opcode).ok_or(Status::UnknownOpcode)?;
                let cap = dst.len();
                let out = kernel.run(&args, src, dst)?;
                if out.dst_len > cap {
                    // A kernel claiming more output than its buffer is broken.
                    return Err(Status::KernelError);
                }
                Ok(Outcome { result: out.result, bytes_in: src.len() as u64, bytes_out: out.dst_len as u64 })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crc32c::crc32c;

    fn reg() -> Registry {
        Registry::new(Arc::new(CacheIndex::new(1024).unwrap()))
    }

    #[test]
    fn crc_copy_and_chaining() {
        let r = reg();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31) as u8).collect();
        let whole = crc32c(&data);
        let a = r.execute(Call::Crc32c { src: &data[..3000], seed: 0 }).unwrap().result as u32;
        let b = r.execute(Call::Crc32c { src: &data[3000..], seed: a }).unwrap().result as u32;
        assert_eq!(b, whole, "seeded CRC spans buffers");
        let mut dst = vec![0u8; 10_000];
        let o = r.execute(Call::CopyCrc32c { src: &data, dst: &mut dst, seed: 0 }).unwrap();
        assert_eq!((o.result as u32, o.bytes_in, o.bytes_out), (whole, 10_000, 10_000));
        assert_eq!(dst, data);
        let mut small = vec![0u8; 10];
        assert_eq!(r.execute(Call::Copy { src: &data, dst: &mut small }).unwrap_err(), Status::DstTooSmall);
    }

    #[test]
    fn compression_round_trip_and_errors() {
        let r = reg();
        let data: Vec<u8> = b"checkpoint shard ".iter().cycle().take(64 * 1024).copied().collect();
        for (algorithm, level) in [
            (AbiAlgorithm::Lz4, 0),
            (AbiAlgorithm::Zstd, 1),
            (AbiAlgorithm::Zstd, 19),
            (AbiAlgorithm::Gzip, 6),
            (AbiAlgorithm::Zlib, 1),
        ] {
            let mut c = vec![0u8; 70 * 1024];
            let o = r.execute(Call::Compress { src: &data, dst: &mut c, algorithm, level }).unwrap();
            assert!(o.result < data.len() as u64 / 4, "{algorithm:?} compresses repetitive data");
            let mut d = vec![0u8; data.len()];
            let clen = o.result as usize;
            let o2 = r.execute(Call::Decompress { src: &c[..clen], dst: &mut d, algorithm }).unwrap();
            assert_eq!(o2.result, data.len() as u64);
            assert_eq!(d, data);
            let mut short = vec![0u8; data.len() - 1];
            assert_eq!(
                r.execute(Call::Decompress { src: &c[..clen], dst: &mut short, algorithm }).unwrap_err(),
                Status::DstTooSmall
            );
            let mut garbage = c[..clen].to_vec();
            garbage[clen / 2] ^= 0xff;
            garbage.truncate(clen.saturating_sub(3));
            assert!(matches!(
                r.execute(Call::Decompress { src: &garbage, dst: &mut d, algorithm }),
                Err(Status::CorruptInput | Status::DstTooSmall)
            ));
        }
        let mut c = vec![0u8; 1024];
        assert_eq!(
            r.execute(Call::Compress { src: &data, dst: &mut c, algorithm: AbiAlgorithm::Zstd, level: 20 })
                .unwrap_err(),
            Status::BadAlgorithm
        );
        assert_eq!(
            r.execute(Call::Compress { src: &data, dst: &mut c, algorithm: AbiAlgorithm::Lz4, level: 1 })
                .unwrap_err(),
            Status::BadAlgorithm
        );
    }

    #[test]
    fn cache_ops() {
        let r = reg();
        let key = CacheKey::for_chunk(7, 3).to_bytes();
        let loc = Location::new(1, 0, 4096, 65536, 0xabcd).unwrap();
        let mut out = [0u8; 16];
        assert_eq!(r.execute(Call::CacheLookup { key, dst: &mut out }).unwrap_err(), Status::NotFound);
        assert_eq!(r.execute(Call::CacheInsert { key, value: loc.to_bytes() }).unwrap().result, 0);
        assert_eq!(r.execute(Call::CacheInsert { key, value: loc.to_bytes() }).unwrap().result, 1);
        r.execute(Call::CacheLookup { key, dst: &mut out }).unwrap();
        assert_eq!(Location::from_bytes(out), loc);
        r.execute(Call::CacheDelete { key }).unwrap();
        assert_eq!(r.execute(Call::CacheDelete { key }).unwrap_err(), Status::NotFound);
        assert_eq!(r.execute(Call::CacheDelete { key: [0; 16] }).unwrap_err(), Status::InvalidArgument);
    }

    #[test]
    fn user_kernels_bind_and_misbehave_safely() {
        let mut r = reg();
        let xor = FnKernel::new("xor", |a: &UserArgs, src: &[u8], dst: &mut [u8]| {
            let out = dst.get_mut(..src.len()).ok_or(Status::DstTooSmall)?;
            for (o, s) in out.iter_mut().zip(src) {
                *o = s ^ a.arg0 as u8;
            }
            Ok(UserOutput { result: src.len() as u64, dst_len: src.len() })
        });
        r.register_user(0x80, Arc::new(xor)).unwrap();
        let liar = FnKernel::new("liar", |_: &UserArgs, _: &[u8], dst: &mut [u8]| {
            Ok(UserOutput { result: 0, dst_len: dst.len() + 1 })
        });
        r.register_user(0x81, Arc::new(liar)).unwrap();
        assert!(matches!(
            r.register_user(
                0x80,
                Arc::new(FnKernel::new(
                    "x",
                    |_: &UserArgs, _: &[u8], _: &mut [u8]| Ok(UserOutput::default())
                ))
            ),
            Err(RegistryError::AlreadyBound { opcode: 0x80, .. })
        ));
        assert_eq!(
            r.register_user(0x7f, r.user_kernel(0x80).unwrap().clone()),
            Err(RegistryError::NotUserOpcode(0x7f))
        );
        let mut dst = [0u8; 4];
        let args = UserArgs { opcode: 0x80, arg0: 0xff, ..Default::default() };
        let o = r.execute(Call::User { args, src: &[1, 2, 3], dst: &mut dst }).unwrap();
        assert_eq!((o.result, &dst[..3]), (3, &[0xfe, 0xfd, 0xfc][..]));
        let args = UserArgs { opcode: 0x81, ..Default::default() };
        assert_eq!(r.execute(Call::User { args, src: &[], dst: &mut dst }).unwrap_err(), Status::KernelError);
        let args = UserArgs { opcode: 0x90, ..Default::default() };
        assert_eq!(
            r.execute(Call::User { args, src: &[], dst: &mut dst }).unwrap_err(),
            Status::UnknownOpcode
        );
    }
}
