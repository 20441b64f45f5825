//! Calibration: what the host side of the data path costs on this machine, measured with
//! the real kernels (through the same kernel registry the scenarios use), the real local
//! tier (io_uring, fdatasync), the real blob tier (`object_store` on the local file
//! system) and the real offload layer, for a few seconds in all.
//!
//! Scale mode ([`crate::scale`]) takes every host-side cost from a [`Calibration`], never
//! from constants in the code, and records which calibration it used. A calibration is
//! saved as JSON (`dpukit calibrate --out FILE`) so a model run can be repeated bit for
//! bit on the same file. Costs are CPU-ns (or wall-ns) per byte and per op; a fixed
//! cost and a per-byte cost come from a straight line through two sizes.
//!
//! Two halves:
//! - the saved format and its queries ([`Calibration`], its cost types, load and save,
//!   the per-byte and codec queries and their interpolation): `format.rs`;
//! - the probes that measure it, run in order by [`calibrate`] (`probe.rs`): the kernels
//!   in passes (`kernels.rs`, with the core probe `cores.rs` and the blob tier's GETs
//!   sampled per pass), the local tier (`local.rs`), the blob tier (`blob.rs`) and the
//!   offload layer (`offload.rs`), timed by `measure.rs` into the buffers of `ring.rs`.
//!
//! Costs are measured the way a run pays them, not at their best:
//! - kernels write into a ring of slot-sized buffers, resident as a run's DMA pool is,
//!   not into one buffer still in cache from the last call; a copy reads from the ring too
//!   (bytes another thread produced), while CRC32C reads bytes just written, as in a run;
//! - each kernel's rounds are spread over five passes of the whole set, so a machine whose
//!   speed changes from second to second prices every kernel at the same mix;
//! - local-tier reads go round 48 MiB of chunks, more than a last-level cache holds; each
//!   blob-tier GET is the first read of an object, one at a time and in a reader's batches
//!   ([`Calibration::blob_get_batch`]), a few per kernel pass;
//! - local-tier writes start a new extent each, one chunk per call and, as a checkpoint
//!   commits a batch, eight in one call with one sync ([`Calibration::local_write_batch`]);
//!   the page cache they fill is handed back to the kernel before each;
//! - each local-tier write comes after 64 MiB of other memory traffic, and each blob-tier
//!   GET after 8 MiB, as a data path's do: back to back, the kernel's and the client's
//!   paths stay in cache and the ops look cheaper than in a run;
//! - local-tier writes and blob-tier GETs are also timed while another thread runs the
//!   same op back to back, alone and loaded in turn, at both sizes: how much colocated
//!   nodes slow each other's ops ([`OpCost::serial_share`], [`OpCost::serial_share_at`]);
//! - the core count is how much one thread's kernels slow down while the other logical
//!   CPUs run them too, in alternating phases spread over the kernel passes
//!   ([`Calibration::effective_cores`]).
//!
//! Costs depend on the build: a debug build runs the kernels unoptimized, so a
//! calibration is only comparable with live runs of the same build (it records which).
//! The measurements behind these choices are in `docs/model-validation.md`.

#![forbid(unsafe_code)]

mod blob;
mod cores;
mod device;
#[cfg(feature = "dpdk")]
mod dpdk;
mod format;
mod kernels;
mod local;
mod measure;
mod offload;
mod probe;
mod ring;

pub use device::{device_profile, DeviceProfileOptions, DEVICE_PROFILE_CODECS};
#[cfg(feature = "dpdk")]
pub use dpdk::{dpdk_device_profile, DpdkProfileOptions};
pub use format::{
    BatchCost, Calibration, CalibrationError, CodecCost, CodecPoint, DatagenPoint, OpCost, SizedCost,
    WriteBatchCost, CALIBRATION_VERSION, DEFAULT_CALIBRATION_FILE,
};
pub use kernels::{
    CodecPlan, CALIBRATION_CODECS, CALIBRATION_CODECS_BRIEF, CALIBRATION_COMPRESSIBILITIES, CALIBRATION_SIZES,
};
pub use local::WRITE_BATCH_CHUNKS;
pub use probe::{calibrate, CalibrateOptions};
