//! The offloadable kernels of dpukit: CRC32C, compression, the synthetic data generator and
//! the cache index.
//!
//! Each kernel is implemented once, here, and called by both the host data path
//! (`dpukit-host`) and the simulated DPU (`dpukit-sim`), so host and offload results are
//! byte-identical by construction. Kernels work on caller-provided slices (no allocation of
//! output buffers, no copies beyond what the underlying library does), return
//! [`KernelError`] for every kind of bad input, and never panic on it.
//!
//! This crate does not know about the ABI: mapping opcodes and descriptor fields to these
//! functions is the job of the opcode registry above it.

// `unsafe` only in the libdeflate and ISA-L bindings, which say why each block is sound.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod cache_index;
pub mod compress;
pub mod crc32c;
pub mod datagen;
pub mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
#[cfg(dpukit_isal)]
#[allow(unsafe_code)]
mod isal;
#[cfg(dpukit_isal)]
#[allow(unsafe_code)]
mod isal_bindings;
#[allow(unsafe_code)]
mod libdeflate;
pub mod registry;

pub use error::KernelError;

/// The software library a host kernel runs on, as results name it: the library that does
/// the work (and, where it differs, the crate that wraps it) and the version built into
/// this binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Library {
    /// e.g. `libdeflate (libdeflater)`.
    pub name: &'static str,
    /// Version of the library that does the work.
    pub version: &'static str,
}
