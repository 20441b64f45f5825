//! A device behind DPDK compressdev (`--device dpdk:PMD`, Cargo feature `dpdk`): the
//! vendor-neutral API through which DPUs and accelerators expose their compression engines
//! (`compress_mlx5` for BlueField and ConnectX, the QAT PMD, `compress_octeontx`), with
//! software PMDs (`compress_isal`, `compress_zlib`) that run on any x86 host.
//!
//! What the device runs is read from the device's capabilities, never assumed: the kit's
//! gzip and zlib chunks are raw DEFLATE inside a header and a checksum trailer, so they run
//! on the device when its DEFLATE capability computes the trailer's checksum (CRC32 for
//! gzip, Adler-32 for zlib); the header and trailer are written and checked here, with the
//! checksum the PMD computed. Everything else (CRC32C, cache lookups, LZ4 and zstd, which
//! compressdev does not offer) runs on the host CPU, counted, with the reason.
//!
//! Figures are measured: each node's compressdev queue pair is driven from a thread of its
//! own, as a DPDK application polls a queue pair from a worker lcore (a software PMD
//! compresses inside the enqueue call, on that thread; a hardware one is polled there until
//! it answers), and the host times each op as it comes back.
//!
//! `spec.rs` (always built): the `--device dpdk:PMD` choice and its options. With the
//! feature: `sys.rs` (the shim's bindings), `compressdev.rs` (EAL, devices, queue pairs:
//! every `unsafe` call into DPDK), `device.rs` (the [`crate::device::Device`]).

mod spec;
pub use spec::{DpdkSpec, NOT_BUILT};

#[cfg(feature = "dpdk")]
mod compressdev;
#[cfg(feature = "dpdk")]
mod device;
#[cfg(feature = "dpdk")]
#[allow(unsafe_code, unreachable_pub, clippy::all, clippy::undocumented_unsafe_blocks)]
mod sys;

#[cfg(feature = "dpdk")]
pub use compressdev::{DeviceInfo, Eal};
#[cfg(feature = "dpdk")]
pub use device::DpdkDevice;
