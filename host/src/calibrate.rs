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
//! Costs are measured the way a run pays them, not at their best:
//! - kernels write into a ring of slot-sized buffers, resident as a run's DMA pool is, as a
//!   run's outputs land in its slots, not into one buffer still in cache from the last
//!   call; a copy reads from the ring too (bytes another thread produced), while CRC32C
//!   reads bytes just written, as it does in a run;
//! - each kernel's rounds are spread over five passes of the whole set, so a machine whose
//!   speed changes from second to second prices every kernel at the same mix, as a run of
//!   a few hundred milliseconds pays it;
//! - local-tier reads go round 48 MiB of chunks, more than a last-level cache holds, so
//!   the page cache's copy comes from memory; each blob-tier GET is the first read of an
//!   object, as in a run, and so is each GET of a batch made at once (`read_concurrency`
//!   of them, as a reader fetches, [`Calibration::blob_get_batch`]); the GETs are timed a
//!   few per kernel pass, so they too are spread over the whole calibration;
//! - local-tier writes start a new extent each, as a cache fill's do in its slot-sized
//!   stride, one chunk per call and, as a checkpoint commits a batch, eight in one call with
//!   one sync ([`Calibration::local_write_batch`]); the page cache they fill is handed back
//!   to the kernel before each, as a run's freed memory and a full page cache's recycled
//!   pages come back to it (`recycle_pages`);
//! - each local-tier write comes after 64 MiB of other memory traffic, and each blob-tier
//!   GET and batch of GETs after 8 MiB, as a data path's do after a batch's generation, a
//!   chunk's verification or a reader's copies into slots: back to back, the kernel's and
//!   the client's paths stay in cache, and a flushed write costs a third less, a GET up to
//!   half (see `GET_GAP_COPIES`);
//! - local-tier writes and blob-tier GETs are also timed while another thread runs the
//!   same op back to back, a few ops alone and a few loaded in turn, at both sizes: how
//!   much colocated nodes slow each other's ops (a shared client's GETs take turns; each
//!   local write is slowed by every other writer on the file system),
//!   [`OpCost::serial_share`] and [`OpCost::serial_share_at`];
//! - the core count is how much one thread's kernels slow down while the other logical
//!   CPUs run them too, in alternating phases shorter than the machine's speed changes
//!   and spread over the kernel passes ([`Calibration::effective_cores`]).
//!
//! Costs depend on the build: a debug build runs the kernels unoptimized, so a
//! calibration is only comparable with live runs of the same build (it records which).

use crate::metrics::{machine_info, process_cpu_ns};
use crate::offload::{Buf, Offload, OffloadConfig, SlotOp};
use crate::result::MachineInfo;
use crate::tier::{BlobKey, BlobTier, ChunkRecord, LocalTier, LocalTierConfig, Manifest};
use bytes::Bytes;
use dpukit_ffi::Algorithm;
use dpukit_kernels::cache_index::{CacheIndex, CacheKey, Location};
use dpukit_kernels::datagen::{ByteStyle, DataGen};
use dpukit_kernels::registry::{Call, Registry};
use dpukit_sim::engine::EngineConfig;
use dpukit_sim::profile::Profile;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Version of the calibration file format.
pub const CALIBRATION_VERSION: u32 = 1;
/// Default file name of `dpukit calibrate`.
pub const DEFAULT_CALIBRATION_FILE: &str = "dpukit-calibration.json";
/// Compressibilities the data generator and the main codecs are measured at.
pub const CALIBRATION_COMPRESSIBILITIES: [f64; 3] = [1.0, 2.0, 4.0];
/// Buffer sizes the per-byte kernels are measured at (per-byte cost depends on size:
/// a buffer that outgrows a cache level costs more per byte).
pub const CALIBRATION_SIZES: [u64; 2] = [64 << 10, 1 << 20];
/// Codec levels measured at every compressibility (algorithm, level).
pub const CALIBRATION_CODECS: [(Algorithm, u8); 2] = [(Algorithm::Lz4, 0), (Algorithm::Zstd, 3)];
/// Codec levels measured at compressibility 2 only; other levels use the nearest measured.
pub const CALIBRATION_CODECS_BRIEF: [(Algorithm, u8); 4] =
    [(Algorithm::Zstd, 1), (Algorithm::Gzip, 1), (Algorithm::Gzip, 6), (Algorithm::Zlib, 6)];
/// Buffer sizes of the two-point fits (fixed cost + per byte).
const SMALL_BYTES: usize = 64 << 10;
const LARGE_BYTES: usize = 1 << 20;
/// Rounds per measurement.
const ROUNDS: usize = 3;
/// Rounds of the tier measurements are this many times longer.
const STORAGE_ROUND_FACTOR: u32 = 3;
/// Most iterations of one round.
const MAX_ITERS_PER_ROUND: u32 = 10_000;
/// Jobs through the offload layer per measurement.
const OFFLOAD_JOBS: u32 = 400;
/// Profile whose device the offload-layer overhead is measured against (host-side cost
/// only: the simulator's own time is subtracted).
const OFFLOAD_PROFILE: &str = "bluefield-2";

/// Why calibration failed or a calibration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{path}: not a dpukit calibration: {reason}")]
    Parse { path: String, reason: String },
    #[error("{path}: calibration version {found} is not supported (expected {CALIBRATION_VERSION})")]
    Version { path: String, found: u32 },
    #[error("calibration: {0}")]
    Measure(String),
}

/// Cost of one op: a fixed part and a per-byte part; `cpu` is the share of it the host
/// CPU is busy (the rest is waiting on a device: a flush to disk).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct OpCost {
    pub op_ns: f64,
    pub ns_per_byte: f64,
    /// CPU time over wall time of the op, 0..=1.
    pub cpu_share: f64,
    /// Share of the op's wall that ops on several threads at once take in turns (one
    /// disk's bandwidth, one journal, one flush queue, one client), 0..=1, for an op of the
    /// large calibration size (1 MiB). Measured as the op's slowdown while another thread
    /// runs the same op back to back, over two: 1 when it takes twice as long, 0.5 when it
    /// takes no longer (see `serial_share` in this module). Absent in files that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_share: Option<f64>,
    /// The same for an op of the small calibration size (64 KiB); absent in files that
    /// predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_share_small: Option<f64>,
}

/// `requests` ops of one size made at once: the wall time of the batch, by the bytes of
/// each op.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BatchCost {
    pub requests: u32,
    pub op_ns: f64,
    pub ns_per_byte: f64,
}

impl BatchCost {
    /// Wall time of the batch, each op moving `bytes`.
    pub fn wall_ns(&self, bytes: u64) -> f64 {
        self.op_ns + self.ns_per_byte * bytes as f64
    }
}

impl OpCost {
    /// Wall time of one op moving `bytes`.
    pub fn wall_ns(&self, bytes: u64) -> f64 {
        self.op_ns + self.ns_per_byte * bytes as f64
    }

    /// A file written before the share was measured at two sizes recorded the slowdown of
    /// two ops at once minus one, measured at 1 MiB: rewritten in today's terms (the
    /// slowdown over two, see [`serial_share`]), the same at both sizes. A saved file then
    /// has both and loads unchanged.
    fn upgrade_serial_share(&mut self) {
        if let (Some(old), None) = (self.serial_share, self.serial_share_small) {
            let share = ((1.0 + old) / CONCURRENT_OPS as f64).clamp(0.0, 1.0);
            self.serial_share = Some(share);
            self.serial_share_small = Some(share);
        }
    }

    /// Serial share of an op moving `bytes`. The serial time (share times wall) is a fixed
    /// part plus a per-byte part, like the wall: a disk's latency overlaps with another
    /// op's, its bandwidth does not, so a large write takes turns more than a small one.
    /// Fitted through the two calibration sizes; with only the large one measured, that
    /// share at every size.
    pub fn serial_share_at(&self, bytes: u64) -> Option<f64> {
        let large = self.serial_share?;
        let Some(small) = self.serial_share_small else { return Some(large) };
        let at = |b: usize, share: f64| (b as f64, share * self.wall_ns(b as u64));
        let ((x0, y0), (x1, y1)) = (at(SMALL_BYTES, small), at(LARGE_BYTES, large));
        let serial_ns = y0 + (y1 - y0) / (x1 - x0) * (bytes as f64 - x0);
        let wall = self.wall_ns(bytes);
        Some(if wall > 0.0 { (serial_ns / wall).clamp(0.0, 1.0) } else { large })
    }
}

/// One local-tier `write_chunks` call of several chunks, each at a fresh place, with one
/// fdatasync for them all: a checkpoint's batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WriteBatchCost {
    /// Chunks in the call.
    pub chunks: u32,
    /// Bytes of each chunk.
    pub chunk_bytes: u64,
    /// Wall time of the call.
    pub wall_ns: f64,
    /// CPU time over wall time of the call, 0..=1.
    pub cpu_share: f64,
}

/// A per-byte cost at one buffer size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SizedCost {
    pub bytes: u64,
    pub ns_per_byte: f64,
}

/// A codec at one compressibility of the generated data and one buffer size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CodecPoint {
    pub compressibility: f64,
    /// Uncompressed bytes per call.
    pub bytes: u64,
    /// Per input (uncompressed) byte.
    pub compress_ns_per_byte: f64,
    /// Per output (uncompressed) byte.
    pub decompress_ns_per_byte: f64,
    /// Uncompressed over compressed bytes (below 1 when the data does not compress).
    pub ratio: f64,
}

/// One codec and level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodecCost {
    pub algorithm: String,
    pub level: u8,
    pub points: Vec<CodecPoint>,
}

/// The data generator at one compressibility and buffer size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DatagenPoint {
    pub compressibility: f64,
    pub bytes: u64,
    pub ns_per_byte: f64,
}

/// Host-side costs of this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub version: u32,
    pub kit_version: String,
    /// `debug` or `release`: kernels are unoptimized in a debug build.
    pub build: String,
    pub machine: MachineInfo,
    /// Directory the local and blob tiers were measured in.
    pub measured_in: String,
    /// Wall time the calibration took.
    pub took_s: f64,
    pub crc32c: Vec<SizedCost>,
    pub memcpy: Vec<SizedCost>,
    pub datagen: Vec<DatagenPoint>,
    pub codecs: Vec<CodecCost>,
    /// One `write_chunks` call of one chunk (fdatasync before the ack), by bytes written.
    pub local_write: OpCost,
    /// One `write_chunks` call of [`WRITE_BATCH_CHUNKS`] chunks of 1 MiB; absent in files
    /// that predate it (see [`Calibration::local_write_more_ns_per_byte`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_write_batch: Option<WriteBatchCost>,
    /// One `read_chunks` call (page cache), by bytes read.
    pub local_read: OpCost,
    /// One manifest append of a batch of records (fdatasync).
    pub manifest_append: OpCost,
    /// One blob-tier GET of a byte range, by bytes.
    pub blob_get: OpCost,
    /// A batch of blob-tier GETs at once through one client, as a reader fetches with
    /// `read_concurrency` requests in flight; absent in files that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_get_batch: Option<BatchCost>,
    /// One blob-tier PUT (fsync), by bytes.
    pub blob_put: OpCost,
    /// Host backend: one job (submit, run inline, take back) around a cache lookup.
    pub host_job_ns: f64,
    /// Host backend: one cache insert job.
    pub host_insert_job_ns: f64,
    /// DPU backend: host-side time of one job (descriptor build, submit, doorbell share,
    /// poll, take back), the simulator's own time excluded.
    pub device_job_host_ns: f64,
    /// Cores this machine gave a CPU-bound job on every logical CPU at once, in core
    /// equivalents (below `logical_cpus` when others share the machine, or when the
    /// threads contend for caches and memory): one, plus for each other logical CPU the
    /// speed of one thread's kernels with every CPU busy over its speed alone.
    pub effective_cores: f64,
}

fn build_name() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

fn err(e: impl std::fmt::Display) -> CalibrationError {
    CalibrationError::Measure(e.to_string())
}

/// Mean (wall ns, process CPU ns) per iteration over `ROUNDS` rounds of at least
/// `round` each (or `MAX_ITERS_PER_ROUND` iterations). The mean, not the best: a live run
/// pays every slow flush and every preemption too.
fn measure(
    round: Duration,
    mut f: impl FnMut() -> Result<(), CalibrationError>,
) -> Result<(f64, f64), CalibrationError> {
    // Warm up (page faults, lazy tables) unless one call already fills a round.
    let t = Instant::now();
    f()?;
    let long = t.elapsed() >= round;
    let rounds = if long { ROUNDS - 1 } else { ROUNDS };
    let (t0, c0) = (Instant::now(), process_cpu_ns());
    let mut n = 0u32;
    for _ in 0..rounds {
        n += one_round(round, &mut f)?;
    }
    let wall = t0.elapsed().as_nanos() as f64 / f64::from(n);
    let cpu = process_cpu_ns().saturating_sub(c0) as f64 / f64::from(n);
    Ok((wall, cpu))
}

/// Other work (1 MiB copies through a [`Ring`], 64 MiB of memory traffic) before each
/// timed local-tier write: what a data path does between two flushed writes, a cache
/// fill's GET and verification, a checkpoint's next batch (see [`measure_spaced`]).
const WRITE_GAP_COPIES: usize = 32;

/// Other work before each timed blob-tier GET or batch of GETs: 8 MiB of memory traffic,
/// about what a data path moves between two of its GETs (a chunk's copy into a slot, its
/// verification and decompression). Back to back, the client's path stays in cache and a
/// GET looks cheaper than in a run; after the write's 64 MiB it looks dearer. First-read
/// GETs of 0.53 MB on this VM (two calibrations at each gap, 0 / 8 / 64 MiB of traffic):
/// debug 3.3-4.3 / 3.7-4.5 / 4.5 ms, a live fan-in read's 3.8-4.4 ms; release 0.21-0.24 /
/// 0.20-0.21 / 0.36-0.44 ms, live 0.17-0.21 ms. A release probe of 40 GETs after each kind
/// of gap in turn, twice: 0.11-0.12 ms back to back, 0.15-0.18 ms after 8 MiB, 0.21-0.26
/// after 64 MiB, against 0.18-0.22 ms in a live fan-out read's cold pass. 64 MiB doubled
/// a release GET, and fan-out read in host mode came out modelled 15-28 % slow in release.
const GET_GAP_COPIES: usize = 4;

/// Runs `copies` of the gap before a timed storage op.
fn gap(ring: &mut Ring, copies: usize) {
    for _ in 0..copies {
        ring.copy_across(LARGE_BYTES);
    }
}

/// Hands the page cache of a calibration file written and synced back to the kernel
/// (truncating it), so that the next write's pages come from memory just freed. On a VM
/// that reports free memory to its host (virtio-balloon free page reporting), memory idle
/// for a couple of seconds goes back to the host, and the guest's first touch of it waits
/// for the host to map it again: 4.3 MB written into the page cache took 0.85-0.94 ms
/// right after other memory was freed and 10.1-13.1 ms after 5-20 s idle (`pwrite`, this
/// VM, release). A calibration that grows its files takes fresh pages for every write,
/// and in a few seconds runs through what was freed recently; a data path that writes less
/// than the memory it frees, or a machine whose page cache is full and recycles its own
/// pages, does not. A file that is not there yet is left alone.
fn recycle_pages(path: &Path) {
    if let Ok(f) = std::fs::OpenOptions::new().write(true).open(path) {
        let _ = f.set_len(0);
    }
}

/// Mean (wall ns, process CPU ns) of `f` over at least `ROUNDS` rounds of `round` of its
/// own time (or `MAX_ITERS_PER_ROUND` calls), with `gap` run untimed before every call:
/// an op as a data path makes it, after other work, not back to back. On this VM a
/// flushed 0.53 MB write took 2.1-2.2 ms back to back and 2.7-3.4 ms after 64 MiB of
/// copies (a C probe, three runs each): the work in between evicts the kernel's write path
/// from the caches. A live fan-out read's cache fills took 2.9-3.7 ms where a back-to-back
/// calibration said 2.1 ms.
fn measure_spaced(
    round: Duration,
    mut gap: impl FnMut(),
    mut f: impl FnMut() -> Result<(), CalibrationError>,
) -> Result<(f64, f64), CalibrationError> {
    gap();
    f()?;
    let budget = round * ROUNDS as u32;
    let (mut wall, mut cpu, mut n) = (Duration::ZERO, 0u64, 0u32);
    while n == 0 || (wall < budget && n < MAX_ITERS_PER_ROUND) {
        gap();
        let (t0, c0) = (Instant::now(), process_cpu_ns());
        f()?;
        wall += t0.elapsed();
        cpu += process_cpu_ns().saturating_sub(c0);
        n += 1;
    }
    Ok((wall.as_nanos() as f64 / f64::from(n), cpu as f64 / f64::from(n)))
}

/// Calls `f` for at least `round` (at least once, at most [`MAX_ITERS_PER_ROUND`] times);
/// returns how many times.
fn one_round(
    round: Duration,
    f: &mut impl FnMut() -> Result<(), CalibrationError>,
) -> Result<u32, CalibrationError> {
    let t0 = Instant::now();
    let mut k = 0u32;
    while k == 0 || (t0.elapsed() < round && k < MAX_ITERS_PER_ROUND) {
        f()?;
        k += 1;
    }
    Ok(k)
}

/// Passes over the kernel measurements (see `calibrate`).
const KERNEL_PASSES: usize = 5;

/// Kernel measurements taken in passes: the `i`-th measurement of every pass adds one round
/// (at least `round`, or [`MAX_ITERS_PER_ROUND`] calls) to the `i`-th running mean, so a
/// kernel's rounds spread over all the passes. The first pass warms each kernel up first.
struct Passes {
    round: Duration,
    /// Per measurement: wall ns and calls, summed over the passes so far.
    sums: Vec<(f64, u64)>,
    next: usize,
    first: bool,
}

impl Passes {
    fn new(round: Duration) -> Passes {
        Passes { round, sums: Vec::new(), next: 0, first: true }
    }

    fn start_pass(&mut self) {
        self.first = self.sums.is_empty();
        self.next = 0;
    }

    /// One round of `f`; returns the mean wall ns per call over every round of this
    /// measurement so far. Measurements come in the same order in every pass.
    fn measure(
        &mut self,
        mut f: impl FnMut() -> Result<(), CalibrationError>,
    ) -> Result<f64, CalibrationError> {
        if self.first {
            // Warm up (page faults, lazy tables).
            f()?;
            self.sums.push((0.0, 0));
        }
        let i = self.next;
        self.next += 1;
        let t0 = Instant::now();
        let k = one_round(self.round, &mut f)?;
        let sum = self.sums.get_mut(i).ok_or_else(|| err("kernel measurements out of order"))?;
        sum.0 += t0.elapsed().as_nanos() as f64;
        sum.1 += u64::from(k);
        Ok(sum.0 / sum.1 as f64)
    }
}

/// Fixed + per-byte cost from the walls at two sizes; CPU share from the larger.
/// CPU time over wall time of a measured (wall ns, CPU ns), 0..=1.
fn cpu_share((wall, cpu): (f64, f64)) -> f64 {
    if wall > 0.0 {
        (cpu / wall).clamp(0.0, 1.0)
    } else {
        1.0
    }
}

fn fit(small: (f64, f64), large: (f64, f64)) -> OpCost {
    let per_byte = ((large.0 - small.0) / (LARGE_BYTES - SMALL_BYTES) as f64).max(0.0);
    let op = (small.0 - per_byte * SMALL_BYTES as f64).max(0.0);
    OpCost {
        op_ns: op,
        ns_per_byte: per_byte,
        cpu_share: (cpu_share(small) + cpu_share(large)) / 2.0,
        ..OpCost::default()
    }
}

/// Ops run at once to measure how much of an op does not overlap with another.
const CONCURRENT_OPS: usize = 2;
/// Time budget of one two-at-once measurement, in rounds.
const SERIAL_ROUNDS: u32 = 4 * ROUNDS as u32;
/// Fewest counted cycles of a two-at-once measurement, whatever its time budget.
const MIN_SERIAL_CYCLES: u32 = 6;
/// Ops thread 0 times in each phase (alone, loaded) of a cycle.
const SERIAL_OPS_PER_PHASE: u32 = 3;

/// Share of one op's wall that [`CONCURRENT_OPS`] ops at once take in turns, from the
/// mean wall of one op alone and of one op while the others run back to back: the share
/// with which scale mode's model reproduces that slowdown. There, an op holds the shared
/// server (a disk, a client) for its serial share `s` of its wall `T` and overlaps the
/// rest with the others' ops, so `N` streams of ops each take `max(T, N * s * T)` per op:
/// `s` is the slowdown over `N`. No slowdown at all gives `1 / N`: the most that `N`
/// streams can share without waiting, which is all that measuring `N` at once can tell.
/// That is how scale mode shares a blob client. Local-tier writes slow each other whether
/// or not they overlap in time, so for them it takes the slowdown itself, `2s - 1` of the
/// wall more per other writer (`crowd_slowdown` in `scale.rs`).
fn serial_share(alone_ns: f64, loaded_ns: f64) -> f64 {
    if alone_ns <= 0.0 {
        return 0.0;
    }
    (loaded_ns / alone_ns / CONCURRENT_OPS as f64).clamp(0.0, 1.0)
}

/// [`serial_share`] of the op `make(i)` makes for thread `i`. Thread 0 times its op in
/// cycles: [`SERIAL_OPS_PER_PHASE`] ops alone, then as many while the other threads run
/// theirs back to back, as a run's node threads do; until `budget` is spent (at least
/// [`MIN_SERIAL_CYCLES`] cycles).
///
/// Alone and loaded alternate every few ops, so they see the same machine: on a VM whose
/// disk slows down for a while after a burst of writes, all of one and then all of the
/// other put the burst's after-effect on one side only (here: 1 MiB writes alone at 4.1 ms
/// before two-writer phases, 6.3 ms after them). The first loaded op is not timed: it
/// starts together with the others' first, which a steady stream of ops does not.
fn measure_serial_share<F>(
    budget: Duration,
    make: impl Fn(usize) -> F + Sync,
) -> Result<f64, CalibrationError>
where
    F: FnMut() -> Result<(), CalibrationError>,
{
    use std::sync::atomic::{AtomicBool, Ordering};
    let barrier = std::sync::Barrier::new(CONCURRENT_OPS);
    // `stop` is written only between a cycle's last barrier and the next cycle's first,
    // and read right after that first one: every thread leaves on the same cycle.
    let stop = AtomicBool::new(false);
    // Set by thread 0 when its loaded ops are done; the others then finish the op they
    // are in. Cleared by thread 0 before the next cycle's first barrier.
    let loaded_done = AtomicBool::new(false);
    let failure = std::sync::Mutex::new(None::<CalibrationError>);
    let started = Instant::now();
    let fail = |e: CalibrationError| {
        failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
    };
    let timed = |op: &mut F, k: u32| -> Result<f64, CalibrationError> {
        let t = Instant::now();
        for _ in 0..k {
            op()?;
        }
        Ok(t.elapsed().as_nanos() as f64)
    };
    // Thread 0's (ns alone, ns loaded, cycles counted).
    let sums = std::thread::scope(|s| {
        let load: Vec<_> = (1..CONCURRENT_OPS)
            .map(|i| {
                let (barrier, stop, loaded_done, fail, make) = (&barrier, &stop, &loaded_done, &fail, &make);
                s.spawn(move || {
                    let mut op = make(i);
                    loop {
                        barrier.wait();
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        barrier.wait();
                        while !loaded_done.load(Ordering::SeqCst) {
                            if let Err(e) = op() {
                                fail(e);
                                stop.store(true, Ordering::SeqCst);
                                break;
                            }
                        }
                        barrier.wait();
                    }
                })
            })
            .collect();
        let mut op = make(0);
        let (mut alone, mut loaded, mut cycles) = (0.0, 0.0, 0u32);
        // Cycle 0 warms up (page faults, file creation) and is not counted.
        for cycle in 0u32.. {
            barrier.wait();
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let a = timed(&mut op, SERIAL_OPS_PER_PHASE);
            barrier.wait();
            let l =
                a.and_then(|a| timed(&mut op, 1).and(timed(&mut op, SERIAL_OPS_PER_PHASE)).map(|l| (a, l)));
            loaded_done.store(true, Ordering::SeqCst);
            barrier.wait();
            loaded_done.store(false, Ordering::SeqCst);
            match l {
                Ok((a, l)) if cycle > 0 => {
                    alone += a;
                    loaded += l;
                    cycles += 1;
                }
                Ok(_) => {}
                Err(e) => {
                    fail(e);
                    stop.store(true, Ordering::SeqCst);
                }
            }
            if cycles >= MIN_SERIAL_CYCLES && started.elapsed() >= budget {
                stop.store(true, Ordering::SeqCst);
            }
        }
        for h in load {
            if h.join().is_err() {
                fail(err("a calibration thread panicked"));
            }
        }
        (alone, loaded, cycles)
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let (alone, loaded, cycles) = sums;
    if cycles == 0 {
        return Err(err("a two-at-once measurement counted no cycle"));
    }
    Ok(serial_share(alone, loaded))
}

fn datagen_for(compressibility: f64) -> DataGen {
    let style = if compressibility <= 1.0 { ByteStyle::Random } else { ByteStyle::Bf16 };
    DataGen::new(compressibility, style)
        .unwrap_or_else(|_| DataGen::new(1.0, ByteStyle::Random).expect("1.0 is valid"))
}

/// One codec measurement: algorithm and level on generated data of a compressibility,
/// `bytes` per call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CodecPlan {
    pub algorithm: Algorithm,
    pub level: u8,
    pub compressibility: f64,
    pub bytes: u64,
}

/// How long to measure, where, and which extra codec points.
#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    /// Length of one round of one measurement.
    pub round: Duration,
    /// Where to put the temporary local and blob tiers (the system temp dir if `None`).
    pub dir: Option<PathBuf>,
    /// Codec points beyond the standard grid (a scenario's own algorithm, level,
    /// compressibility and chunk size), so its costs are measured, not interpolated.
    pub extra: Vec<CodecPlan>,
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        CalibrateOptions { round: Duration::from_millis(12), dir: None, extra: Vec::new() }
    }
}

/// Measures this machine.
pub fn calibrate(opts: &CalibrateOptions) -> Result<Calibration, CalibrationError> {
    // Write back what others left dirty first: the kernel's flusher threads would take a
    // core from the measurements, and the disk's bandwidth from the tiers' (right after a
    // test suite's writes, one calibration here saw 1.25 of this machine's 2 cores).
    nix::unistd::sync();
    let started = Instant::now();
    let round = opts.round;
    let registry = Registry::new(Arc::new(CacheIndex::new(1024).map_err(err)?));
    let largest = CALIBRATION_SIZES
        .iter()
        .copied()
        .chain(opts.extra.iter().map(|p| p.bytes))
        .max()
        .unwrap_or(LARGE_BYTES as u64) as usize;
    let mut src = vec![0u8; largest];
    datagen_for(2.0).fill(7, 0, &mut src);
    // Outputs land in a ring of buffers the size of a run's DMA pool, as a slot's do:
    // memory that is not in cache when the kernel writes it. Measured into one reused
    // buffer, a 1 MiB output stays in cache: on a 32 MiB-L3 EPYC a 1 MiB copy then looks
    // four times, and an LZ4 decompression a third, as fast as in the data path.
    let mut ring = Ring::new(largest);

    // The codec grid, then any extra points asked for (a scenario's own).
    let mut plan: Vec<CodecPlan> = Vec::new();
    for (algorithm, level) in CALIBRATION_CODECS {
        for c in CALIBRATION_COMPRESSIBILITIES {
            for bytes in CALIBRATION_SIZES {
                plan.push(CodecPlan { algorithm, level, compressibility: c, bytes });
            }
        }
    }
    for (algorithm, level) in CALIBRATION_CODECS_BRIEF {
        for bytes in CALIBRATION_SIZES {
            plan.push(CodecPlan { algorithm, level, compressibility: 2.0, bytes });
        }
    }
    for p in &opts.extra {
        if !plan.contains(p) {
            plan.push(*p);
        }
    }
    // Every kernel is measured in `KERNEL_PASSES` passes over the whole set, one round of
    // each per pass, and its cost is its mean over the passes. This VM's cores run a
    // kernel at two speeds 1.7 times apart, switching every few hundred milliseconds (LZ4
    // compression of 1 MiB: 0.95 or 1.6 ns/B in 36 ms windows of one process): the rounds
    // of one kernel in a row caught one speed or the other, and in a debug build, where
    // a round is a call or two, calibrations minutes apart put one node's fan-out write at
    // 12.1 to 17.8 MB/s in scale mode. Spread over the whole set, every kernel sees a
    // mix, as a run of a few hundred milliseconds does: three calibrations then put it at
    // 12.9 to 13.5 MB/s.
    let tmp = match &opts.dir {
        Some(d) => tempfile::Builder::new().prefix("dpukit-calibrate-").tempdir_in(d),
        None => tempfile::Builder::new().prefix("dpukit-calibrate-").tempdir(),
    }
    .map_err(|e| CalibrationError::Io { path: "temporary directory".into(), reason: e.to_string() })?;
    // Blob-tier GETs are timed a few per pass too (see `GetProbe`).
    let mut gets = GetProbe::new(tmp.path(), &src)?;
    let mut passes = Passes::new(round);
    let (mut crc32c, mut memcpy, mut datagen) = (Vec::new(), Vec::new(), Vec::new());
    let mut codecs: Vec<CodecCost> = Vec::new();
    let mut comp = vec![0u8; largest * 2 + 4096];
    let mut cores = CoreProbe::new(round, &registry, &src[..LARGE_BYTES])?;
    for _ in 0..KERNEL_PASSES {
        cores.sample(&registry);
        // Each pass rebuilds the figures from the running means: the last has them all.
        passes.start_pass();
        datagen_for(2.0).fill(7, 0, &mut src);
        crc32c.clear();
        memcpy.clear();
        datagen.clear();
        codecs.clear();
        for bytes in CALIBRATION_SIZES {
            let n = bytes as usize;
            // CRC32C runs on bytes just written (a fetched chunk just copied into its slot,
            // a compressed chunk just produced): in cache.
            let crc_ns = passes.measure(|| {
                registry.execute(Call::Crc32c { src: &src[..n], seed: 0 }).map_err(err)?;
                Ok(())
            })?;
            crc32c.push(SizedCost { bytes, ns_per_byte: crc_ns / bytes as f64 });
            // A copy moves bytes another thread produced (a fetched object, a device's
            // output) into a slot: neither end in cache.
            ring.fill_from(&src[..n]);
            let copy_ns = passes.measure(|| {
                ring.copy_across(n);
                Ok(())
            })?;
            memcpy.push(SizedCost { bytes, ns_per_byte: copy_ns / bytes as f64 });
            for c in CALIBRATION_COMPRESSIBILITIES {
                let g = datagen_for(c);
                let ns = passes.measure(|| {
                    g.fill(11, 0, ring.next_out(n));
                    Ok(())
                })?;
                datagen.push(DatagenPoint { compressibility: c, bytes, ns_per_byte: ns / bytes as f64 });
            }
        }

        for &p in &plan {
            let n = p.bytes as usize;
            datagen_for(p.compressibility).fill(13, 0, &mut src[..n]);
            let (algorithm, level) = (p.algorithm, p.level);
            // Compression reads a chunk just generated or copied in (in cache) and writes a
            // slot's output; decompression reads a chunk just fetched and writes a slot.
            let cns = passes.measure(|| {
                registry
                    .execute(Call::Compress {
                        src: &src[..n],
                        dst: ring.next_out(n * 2 + 4096),
                        algorithm,
                        level,
                    })
                    .map_err(|s| err(format!("{} compress: {s}", algorithm.name())))?;
                Ok(())
            })?;
            let clen = registry
                .execute(Call::Compress { src: &src[..n], dst: &mut comp, algorithm, level })
                .map_err(|s| err(format!("{} compress: {s}", algorithm.name())))?
                .result as usize;
            let dns = passes.measure(|| {
                registry
                    .execute(Call::Decompress { src: &comp[..clen], dst: ring.next_out(n), algorithm })
                    .map_err(|s| err(format!("{} decompress: {s}", algorithm.name())))?;
                Ok(())
            })?;
            let point = CodecPoint {
                compressibility: p.compressibility,
                bytes: p.bytes,
                compress_ns_per_byte: cns / n as f64,
                decompress_ns_per_byte: dns / n as f64,
                ratio: n as f64 / clen.max(1) as f64,
            };
            match codecs.iter_mut().find(|c| c.algorithm == algorithm.name() && c.level == level) {
                Some(c) => c.points.push(point),
                None => {
                    codecs.push(CodecCost { algorithm: algorithm.name().into(), level, points: vec![point] })
                }
            }
        }
        gets.sample(&mut ring)?;
    }
    drop(ring);
    datagen_for(2.0).fill(7, 0, &mut src);
    // Taken during the kernel passes, before the tiers: their flushes and freed pages
    // keep the kernel busy for a while after, and that would count as a core this
    // machine does not give.
    let effective_cores = cores.effective_cores();
    drop(cores);

    // A flush takes a millisecond or more and varies from one to the next: the tiers get
    // longer rounds, so that one measurement averages a few dozen of them.
    let storage_round = round * STORAGE_ROUND_FACTOR;
    let (local_write, local_write_batch, local_read, manifest_append) =
        measure_local(tmp.path(), storage_round, &src)?;
    let (blob_get, blob_get_batch, blob_put) = measure_blob(gets, storage_round, &src)?;
    let (host_job_ns, host_insert_job_ns, device_job_host_ns) = measure_offload(round)?;

    Ok(Calibration {
        version: CALIBRATION_VERSION,
        kit_version: env!("CARGO_PKG_VERSION").into(),
        build: build_name().into(),
        machine: machine_info(),
        measured_in: tmp.path().parent().map(|p| p.display().to_string()).unwrap_or_default(),
        took_s: started.elapsed().as_secs_f64(),
        crc32c,
        memcpy,
        datagen,
        codecs,
        local_write,
        local_write_batch: Some(local_write_batch),
        local_read,
        manifest_append,
        blob_get,
        blob_get_batch: Some(blob_get_batch),
        blob_put,
        host_job_ns,
        host_insert_job_ns,
        device_job_host_ns,
        effective_cores,
    })
}

/// Buffers of the ring the per-byte kernels write into: as many as a run's DMA pool has
/// slots at the default queue depth.
const RING_SLOTS: usize = 16;
/// What the ring's buffers start as: not zero, so allocating them writes every page
/// (zeroed memory may be mapped lazily, on first touch).
const RING_FILL: u8 = 0xA5;
/// Writes of each thread of the two-writer measurement between two truncations of its
/// file.
const SERIAL_RECYCLE_WRITES: u64 = 8;
/// Chunks of the calibration's batched local write: the scenarios' default `batch`.
pub const WRITE_BATCH_CHUNKS: u32 = 8;
/// Distance between the starts of two local-tier writes: more than the largest, so each
/// leaves a hole before the next.
const WRITE_STRIDE_BYTES: u64 = 2 * LARGE_BYTES as u64;
/// Chunks the local-tier reads go round (48 MiB of `LARGE_BYTES` chunks, more than a
/// server CPU's last-level cache).
const READ_SPAN_CHUNKS: u64 = 48;

/// Buffers the per-byte kernels read from and write into in turn, so that, as in a run's
/// slots, an output does not land in memory still in cache from the last call.
struct Ring {
    inputs: Vec<Vec<u8>>,
    outputs: Vec<Vec<u8>>,
    next: usize,
}

impl Ring {
    /// [`RING_SLOTS`] inputs of `largest` bytes and as many outputs, sized for a codec's
    /// worst case. A kernel on `n`-byte buffers touches `n` bytes of each, as a run with
    /// `n`-byte chunks touches its slots.
    fn new(largest: usize) -> Ring {
        // Every page written now, as a run's DMA pool is when it is made: a buffer zeroed by
        // the allocator is mapped lazily, and the first pass over the ring would time page
        // faults (three pairs of calibrations on a 2-core VM, one of each kind in turn: a
        // 1 MiB copy at 0.23-0.33 ns/B with those faults, 0.19-0.20 without).
        let resident = |n: usize| vec![RING_FILL; n];
        Ring {
            inputs: (0..RING_SLOTS).map(|_| resident(largest)).collect(),
            outputs: (0..RING_SLOTS).map(|_| resident(largest * 2 + 4096)).collect(),
            next: 0,
        }
    }

    fn advance(&mut self) -> usize {
        let i = self.next;
        self.next = (i + 1) % self.outputs.len();
        i
    }

    /// The next output buffer, `n` bytes of it.
    fn next_out(&mut self, n: usize) -> &mut [u8] {
        let i = self.advance();
        &mut self.outputs[i][..n]
    }

    /// Puts `data` at the start of every input buffer.
    fn fill_from(&mut self, data: &[u8]) {
        for b in &mut self.inputs {
            b[..data.len()].copy_from_slice(data);
        }
    }

    /// Copies `n` bytes of the next input buffer into the next output buffer.
    fn copy_across(&mut self, n: usize) {
        let i = self.advance();
        self.outputs[i][..n].copy_from_slice(std::hint::black_box(&self.inputs[i][..n]));
    }
}

/// Phases per [`CoreProbe::sample`]: half with the other threads running, half without.
const CORE_PROBE_PHASES: u32 = 10;

/// Core equivalents: how much a thread running the read path's kernels on a 1 MiB chunk
/// (LZ4 decompress, CRC32C) slows down when one such thread runs on every other logical
/// CPU too, so shared caches and memory bandwidth count as they do in a live run.
///
/// One thread runs all the time; the others run in every second phase of a few rounds
/// each, and the measured thread's calls are timed on both sides. This VM's cores change
/// speed by up to 1.7 times every few hundred milliseconds: a window of one thread then a
/// window of two read that as a core lost or gained (three such ratios taken within 0.3 s
/// said 1.19-1.27 cores where the live runs that followed had both; single ratios went
/// from 1.2 to 2.2 within one calibration). Phases shorter than the speed changes see both
/// speeds on both sides. A sample is taken per kernel pass, spread over the calibration:
/// the guest kernel stays busy for a few seconds after a process frees a lot of memory (a
/// previous run or test), and no one moment sets the figure.
struct CoreProbe {
    cpus: usize,
    phase: Duration,
    comp: Vec<u8>,
    /// One output buffer per thread, resident before anything is timed: a fresh page
    /// costs about 3 us to fault in on this VM, and threads faulting at once do not scale
    /// as their kernels do.
    outs: Vec<Vec<u8>>,
    /// The measured thread's (ns, bytes), alone and with the others running.
    alone: (f64, f64),
    loaded: (f64, f64),
}

impl CoreProbe {
    fn new(round: Duration, registry: &Registry, data: &[u8]) -> Result<CoreProbe, CalibrationError> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut comp = vec![0u8; data.len() * 2 + 4096];
        let clen = registry
            .execute(Call::Compress { src: data, dst: &mut comp, algorithm: Algorithm::Lz4, level: 0 })
            .map_err(|s| err(format!("lz4 compress: {s}")))?
            .result as usize;
        comp.truncate(clen);
        let outs = (0..cpus).map(|_| vec![RING_FILL; data.len()]).collect();
        Ok(CoreProbe { cpus, phase: round * 2, comp, outs, alone: (0.0, 0.0), loaded: (0.0, 0.0) })
    }

    /// [`CORE_PROBE_PHASES`] more phases.
    fn sample(&mut self, registry: &Registry) {
        if self.cpus < 2 {
            return;
        }
        let comp = &self.comp[..];
        let kernels = |out: &mut [u8]| {
            let _ = registry.execute(Call::Decompress { src: comp, dst: out, algorithm: Algorithm::Lz4 });
            let _ = registry.execute(Call::Crc32c { src: comp, seed: 0 });
        };
        // Phase number: the others run in odd phases. `turns` counts their starts and
        // stops, so a timed call that saw one is dropped.
        let phase = AtomicU32::new(0);
        let turns = AtomicU32::new(0);
        let done = AtomicBool::new(false);
        let (first, others) = self.outs.split_at_mut(1);
        let measured = &mut first[0];
        let (mut alone, mut loaded) = ((0.0, 0.0), (0.0, 0.0));
        std::thread::scope(|s| {
            for out in others.iter_mut() {
                let (phase, turns, done) = (&phase, &turns, &done);
                s.spawn(move || {
                    let mut running = false;
                    while !done.load(Ordering::Acquire) {
                        let on = phase.load(Ordering::Acquire) % 2 == 1;
                        if on != running {
                            running = on;
                            turns.fetch_add(1, Ordering::AcqRel);
                        }
                        if on {
                            kernels(out);
                        } else {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    }
                });
            }
            let timed = s.spawn(|| {
                while !done.load(Ordering::Acquire) {
                    let (p0, t0) = (phase.load(Ordering::Acquire), turns.load(Ordering::Acquire));
                    let start = Instant::now();
                    kernels(measured);
                    let ns = start.elapsed().as_nanos() as f64;
                    let (p1, t1) = (phase.load(Ordering::Acquire), turns.load(Ordering::Acquire));
                    // Only calls wholly inside one phase, with the others settled in it.
                    if p0 == p1 && t0 == t1 {
                        let side = if p0 % 2 == 1 { &mut loaded } else { &mut alone };
                        side.0 += ns;
                        side.1 += measured.len() as f64;
                    }
                }
            });
            for p in 0..CORE_PROBE_PHASES {
                phase.store(p, Ordering::Release);
                std::thread::sleep(self.phase);
            }
            done.store(true, Ordering::Release);
            let _ = timed.join();
        });
        self.alone = (self.alone.0 + alone.0, self.alone.1 + alone.1);
        self.loaded = (self.loaded.0 + loaded.0, self.loaded.1 + loaded.1);
    }

    /// One core for the measured thread, and for each of the others its speed with them
    /// running over its speed alone. All the logical CPUs if nothing was measured.
    fn effective_cores(&self) -> f64 {
        let cpus = self.cpus as f64;
        if self.alone.0 <= 0.0 || self.loaded.0 <= 0.0 {
            return cpus;
        }
        let speed = (self.loaded.1 / self.loaded.0) / (self.alone.1 / self.alone.0);
        (1.0 + (cpus - 1.0) * speed).clamp(1.0, cpus)
    }
}

fn measure_local(
    dir: &Path,
    round: Duration,
    data: &[u8],
) -> Result<(OpCost, WriteBatchCost, OpCost, OpCost), CalibrationError> {
    let cfg = LocalTierConfig {
        buffer_size_bytes: LARGE_BYTES,
        max_inflight_bytes: LARGE_BYTES as u64 * 16,
        ..LocalTierConfig::default()
    };
    let local_dir = dir.join("local");
    std::fs::create_dir_all(&local_dir)
        .map_err(|e| CalibrationError::Io { path: local_dir.display().to_string(), reason: e.to_string() })?;
    let mut local = LocalTier::open(&local_dir, cfg.clone()).map_err(err)?;
    let mut ring = Ring::new(LARGE_BYTES);
    // `chunks` chunks of `len` bytes per call, one sync for them all.
    let mut at = |len: usize, chunks: u64| -> Result<(f64, f64), CalibrationError> {
        let mut slot = 0u64;
        let shard = format!("cal{len}x{chunks}");
        let path = local.shard_path(&shard);
        let w = measure_spaced(
            round,
            || {
                gap(&mut ring, WRITE_GAP_COPIES);
                recycle_pages(&path);
            },
            || {
                // Fresh places each time, as a checkpoint or a cache fill writes: the file
                // grows, so the flush carries the allocation too. A gap after each, as a cache
                // fill leaves in its slot-sized stride: every write starts a new extent
                // (0.53 MB written back to back here took 1.8-2.2 ms, with gaps 2.0-2.4 ms).
                // A checkpoint's batch puts its chunks one stride apart.
                let writes: Vec<(u64, &[u8])> =
                    (slot..slot + chunks).map(|k| (k * WRITE_STRIDE_BYTES, &data[..len])).collect();
                slot += chunks;
                local.write_chunks(&shard, &writes).map(|_| ()).map_err(err)
            },
        )?;
        Ok(w)
    };
    let ws = at(SMALL_BYTES, 1)?;
    let wl = at(LARGE_BYTES, 1)?;
    let wb = at(LARGE_BYTES, u64::from(WRITE_BATCH_CHUNKS))?;
    let batch = WriteBatchCost {
        chunks: WRITE_BATCH_CHUNKS,
        chunk_bytes: LARGE_BYTES as u64,
        wall_ns: wb.0,
        cpu_share: cpu_share(wb),
    };
    // Two writers at once, each on its own tier and file, as colocated nodes fill their
    // caches: how much of a write (its flush, mostly) the two take turns at.
    let mut tiers = (0..CONCURRENT_OPS)
        .map(|i| {
            let d = local_dir.join(format!("together{i}"));
            std::fs::create_dir_all(&d)
                .map_err(|e| CalibrationError::Io { path: d.display().to_string(), reason: e.to_string() })?;
            LocalTier::open(&d, cfg.clone()).map_err(err)
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(std::sync::Mutex::new)
        .collect::<Vec<_>>();
    let slots: Vec<std::sync::atomic::AtomicU64> = tiers.iter().map(|_| Default::default()).collect();
    let write_serial = |len: usize| {
        measure_serial_share(round * SERIAL_ROUNDS, |i| {
            let (tier, slot) = (&tiers[i], &slots[i]);
            move || {
                let n = slot.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut t = tier.lock().map_err(|_| err("local tier lock"))?;
                // The page cache goes back every few writes, as before each single write
                // (`recycle_pages`); the file starts over, each write still at a fresh place.
                if n % SERIAL_RECYCLE_WRITES == 0 {
                    recycle_pages(&t.shard_path("cal"));
                }
                let offset = (n % SERIAL_RECYCLE_WRITES) * WRITE_STRIDE_BYTES;
                t.write_chunks("cal", &[(offset, &data[..len])]).map(|_| ()).map_err(err)
            }
        })
    };
    let (serial_small, serial_large) = (write_serial(SMALL_BYTES)?, write_serial(LARGE_BYTES)?);
    tiers.clear();
    // Reads go round a span of chunks larger than the last-level cache, each into the
    // next slot of a ring, as a run reads its cached chunks back into its slots: the page
    // cache's copy comes from memory, not from cache.
    let span: Vec<(u64, &[u8])> =
        (0..READ_SPAN_CHUNKS).map(|i| (i * LARGE_BYTES as u64, &data[..LARGE_BYTES])).collect();
    local.write_chunks("calread", &span).map_err(err)?;
    let mut next = 0u64;
    let mut read = |len: usize| {
        measure(round, || {
            let offset = (next % READ_SPAN_CHUNKS) * LARGE_BYTES as u64;
            next += 1;
            local.read_chunks("calread", &mut [(offset, ring.next_out(len))]).map_err(err)
        })
    };
    let rs = read(SMALL_BYTES)?;
    let rl = read(LARGE_BYTES)?;

    let mut manifest = Manifest::open(dir.join("manifest.jsonl")).map_err(err)?;
    let mut index = 0u64;
    let mut append = |records: usize| {
        measure(round, || {
            let batch: Vec<ChunkRecord> = (0..records)
                .map(|i| ChunkRecord {
                    shard: "cal".into(),
                    chunk_index: index + i as u64,
                    offset_bytes: 0,
                    stored_len_bytes: 1,
                    uncompressed_len_bytes: 1,
                    compression: "none".into(),
                    crc32c: 0,
                })
                .collect();
            index += records as u64;
            manifest.append_chunks(&batch).map_err(err)
        })
    };
    // Per call and per record (the "bytes" of this cost are records).
    let m1 = append(1)?;
    let m8 = append(8)?;
    let per_record = ((m8.0 - m1.0) / 7.0).max(0.0);
    let manifest_cost = OpCost {
        op_ns: (m1.0 - per_record).max(0.0),
        ns_per_byte: per_record,
        cpu_share: if m8.0 > 0.0 { (m8.1 / m8.0).clamp(0.0, 1.0) } else { 1.0 },
        ..OpCost::default()
    };
    let write =
        OpCost { serial_share: Some(serial_large), serial_share_small: Some(serial_small), ..fit(ws, wl) };
    Ok((write, batch, fit(rs, rl), manifest_cost))
}

/// First-read GETs timed at each size per kernel pass, one at a time and in batches of
/// `read_concurrency` (each batch of fresh objects too): over the five passes, 40 GETs
/// and 15 batches per size, spread over the whole calibration as the kernels are.
///
/// One GET's wall is a wide distribution here, and its mean moves from one second to the
/// next (debug, 0.53 MB after the gap, 384 in a row: p10 3.5, p50 5.6, p90 7.1, p99 13.4
/// ms, means of 24 in a row from 4.1 to 9.7 ms). Timed in one block, 48 GETs and 12
/// batches per size, six blocks in one process put one GET at 3.8-5.2 ms and a batch at
/// 9.1-12.1 ms; twice as many per block, at 2.9-4.2 and 6.8-9.8 ms: more GETs in one
/// block see the same moment, not more moments. Four debug calibrations in a row, 0.53 MB
/// (`dpukit calibrate`): timed in one block, one GET 3.3-4.8 ms and a batch 7.5-10.4 ms;
/// a few per pass, 3.0-3.7 and 7.4-8.3 ms, and the calibration took 18 s instead of 19-22.
const GETS_PER_PASS: u64 = 8;
const GET_BATCHES_PER_PASS: u64 = 3;

/// The blob tier's first-read GETs, objects written before the passes start and timed a
/// few per pass (see [`GETS_PER_PASS`]).
struct GetProbe {
    blob: BlobTier,
    requests: u32,
    /// Per size ([`SMALL_BYTES`], [`LARGE_BYTES`]): objects not read yet, to GET one at a
    /// time and in batches.
    singles: [Vec<BlobKey>; 2],
    batched: [Vec<BlobKey>; 2],
    /// Per size: objects read, for the two-at-once measurement after the passes.
    read: [Vec<BlobKey>; 2],
    /// Per size: (wall ns, process CPU ns, GETs) one at a time, (wall ns, batches) in
    /// batches.
    single_sums: [(f64, f64, u32); 2],
    batch_sums: [(f64, u32); 2],
}

const GET_SIZES: [usize; 2] = [SMALL_BYTES, LARGE_BYTES];

impl GetProbe {
    fn new(dir: &Path, data: &[u8]) -> Result<GetProbe, CalibrationError> {
        let blob_dir = dir.join("blob");
        std::fs::create_dir_all(&blob_dir).map_err(|e| CalibrationError::Io {
            path: blob_dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let blob = BlobTier::local(&blob_dir).map_err(err)?;
        let requests = blob.options().read_concurrency.max(1);
        let passes = KERNEL_PASSES as u64;
        let fresh = |len: usize, shard: &str, count: u64| -> Result<Vec<BlobKey>, CalibrationError> {
            (0..count)
                .map(|i| blob.put_chunk(shard, i, Bytes::copy_from_slice(&data[..len])))
                .collect::<Result<_, _>>()
                .map_err(err)
        };
        let singles = [
            fresh(SMALL_BYTES, "calsmall", GETS_PER_PASS * passes)?,
            fresh(LARGE_BYTES, "callarge", GETS_PER_PASS * passes)?,
        ];
        let batch_objects = GET_BATCHES_PER_PASS * u64::from(requests) * passes;
        let batched = [
            fresh(SMALL_BYTES, "calbatchsmall", batch_objects)?,
            fresh(LARGE_BYTES, "calbatchlarge", batch_objects)?,
        ];
        // Written back before anything is timed: the flusher would take a core from the
        // kernels' passes.
        nix::unistd::sync();
        Ok(GetProbe {
            blob,
            requests,
            singles,
            batched,
            read: [Vec::new(), Vec::new()],
            single_sums: [(0.0, 0.0, 0); 2],
            batch_sums: [(0.0, 0); 2],
        })
    }

    /// One pass's GETs at both sizes, each after the gap.
    fn sample(&mut self, ring: &mut Ring) -> Result<(), CalibrationError> {
        for (i, len) in GET_SIZES.into_iter().enumerate() {
            for _ in 0..GETS_PER_PASS {
                let Some(key) = self.singles[i].pop() else { break };
                gap(ring, GET_GAP_COPIES);
                let (t0, c0) = (Instant::now(), process_cpu_ns());
                std::hint::black_box(self.blob.get_range_unverified(&key, 0..len as u64).map_err(err)?);
                let sum = &mut self.single_sums[i];
                sum.0 += t0.elapsed().as_nanos() as f64;
                sum.1 += process_cpu_ns().saturating_sub(c0) as f64;
                sum.2 += 1;
                self.read[i].push(key);
            }
            for _ in 0..GET_BATCHES_PER_PASS {
                let at = self.batched[i].len().saturating_sub(self.requests as usize);
                let batch: Vec<(BlobKey, std::ops::Range<u64>)> =
                    self.batched[i].drain(at..).map(|k| (k, 0..len as u64)).collect();
                if batch.is_empty() {
                    break;
                }
                gap(ring, GET_GAP_COPIES);
                let t0 = Instant::now();
                std::hint::black_box(self.blob.get_ranges_unverified(&batch).map_err(err)?);
                let sum = &mut self.batch_sums[i];
                sum.0 += t0.elapsed().as_nanos() as f64;
                sum.1 += 1;
            }
        }
        Ok(())
    }

    /// Mean (wall ns, CPU ns) of one GET at size `i`, and mean wall ns of a batch.
    fn means(&self, i: usize) -> Result<((f64, f64), f64), CalibrationError> {
        let (wall, cpu, n) = self.single_sums[i];
        let (bwall, bn) = self.batch_sums[i];
        if n == 0 || bn == 0 {
            return Err(err("no blob-tier GET was timed"));
        }
        Ok(((wall / f64::from(n), cpu / f64::from(n)), bwall / f64::from(bn)))
    }
}

/// GET (from the passes' [`GetProbe`]), a batch of GETs, and PUT costs of the blob tier.
/// Each GET is the first read of an object written before the passes, as a run's is (a
/// fan-out read's cold pass, a fan-in read): here a first read of 1 MiB took 163 us, later
/// reads of the same object 105-109 us. The objects add up to more than a last-level cache
/// holds. The copy into a slot is not part of it: the model counts that as a memcpy.
///
/// A batch is `read_concurrency` GETs at once through the client, as a reader fetches:
/// here four GETs of 0.53 MB at once took 2.1-2.4 times as long as one in a debug build.
/// In a release build they do not overlap: live fan-in reads fetched a batch of four in
/// 0.66-0.79 ms and one GET in 0.17-0.21 ms.
fn measure_blob(
    probe: GetProbe,
    round: Duration,
    data: &[u8],
) -> Result<(OpCost, BatchCost, OpCost), CalibrationError> {
    let ((gs, bs), (gl, bl)) = (probe.means(0)?, probe.means(1)?);
    let GetProbe { blob, requests, read: [keys_small, keys], .. } = probe;
    let fitted = fit((bs, 0.0), (bl, 0.0));
    let batch = BatchCost { requests, op_ns: fitted.op_ns, ns_per_byte: fitted.ns_per_byte };
    // Two readers at once through the same client, as colocated nodes share one.
    let get_serial = |len: usize, keys: &[BlobKey]| {
        measure_serial_share(round * SERIAL_ROUNDS, |i| {
            let blob = &blob;
            let mut next = i * keys.len() / CONCURRENT_OPS;
            move || {
                let key = &keys[next % keys.len()];
                next += 1;
                std::hint::black_box(blob.get_range_unverified(key, 0..len as u64).map_err(err)?);
                Ok(())
            }
        })
    };
    let (serial_small, serial_large) =
        (get_serial(SMALL_BYTES, &keys_small)?, get_serial(LARGE_BYTES, &keys)?);
    let mut n = 2u64;
    // The payload is made once: a run's copier hands over bytes it already holds, and a
    // fresh copy per PUT would add an allocation's page faults that a run does not pay.
    let mut put = |len: usize| {
        let payload = Bytes::copy_from_slice(&data[..len]);
        measure(round, || {
            n += 1;
            blob.put_chunk("cal", n % 16 + 2, payload.clone()).map(|_| ()).map_err(err)
        })
    };
    let ps = put(SMALL_BYTES)?;
    let pl = put(LARGE_BYTES)?;
    let get =
        OpCost { serial_share: Some(serial_large), serial_share_small: Some(serial_small), ..fit(gs, gl) };
    Ok((get, batch, fit(ps, pl)))
}

fn offload_config() -> OffloadConfig {
    OffloadConfig {
        slots: 1,
        in_bytes: 4096,
        out_bytes: 4096,
        batch: 1,
        device_timeout_ns: 1_000_000_000,
        engine: EngineConfig::default(),
    }
}

/// Per job: host backend lookup, host backend insert, DPU backend host-side time.
fn measure_offload(round: Duration) -> Result<(f64, f64, f64), CalibrationError> {
    let registry = || CacheIndex::new(4096).map(|c| Registry::new(Arc::new(c))).map_err(err);
    let job = |off: &mut Offload, op: SlotOp| -> Result<(), CalibrationError> {
        let slot = off.take_slot().ok_or_else(|| err("no free slot"))?;
        off.submit(slot, 0, &[op]).map_err(err)?;
        off.next_finished().map_err(err)?.ok_or_else(|| err("job lost"))?;
        off.release(slot);
        Ok(())
    };
    let mut host = Offload::host(registry()?, &offload_config()).map_err(err)?;
    let mut k = 0u64;
    let (lookup_ns, _) = measure(round, || {
        k += 1;
        job(&mut host, SlotOp::CacheLookup { key: CacheKey::for_chunk(1, k % 4096).to_bytes() })
    })?;
    let loc = Location::new(1, 0, 0, 1, 0).map_err(err)?.to_bytes();
    let (insert_ns, _) = measure(round, || {
        k += 1;
        job(&mut host, SlotOp::CacheInsert { key: CacheKey::for_chunk(1, k % 4096).to_bytes(), value: loc })
    })?;
    // DPU backend: host-side time is wall time minus the simulator's own; a CRC of a few
    // bytes keeps the device work, and so the subtraction, small.
    let profile = Profile::builtin(OFFLOAD_PROFILE).map_err(err)?;
    let mut best = f64::INFINITY;
    for _ in 0..ROUNDS {
        let mut dev = Offload::dpu(registry()?, &offload_config(), &profile).map_err(err)?;
        let (t0, sim0) = (Instant::now(), dev.stats().sim_wall_ns);
        for _ in 0..OFFLOAD_JOBS {
            job(&mut dev, SlotOp::Crc32c { buf: Buf::In, len: 64 })?;
        }
        let host_ns = (t0.elapsed().as_nanos() as u64).saturating_sub(dev.stats().sim_wall_ns - sim0);
        best = best.min(host_ns as f64 / f64::from(OFFLOAD_JOBS));
    }
    Ok((lookup_ns, insert_ns, best))
}

impl Calibration {
    /// Reads and checks a calibration file.
    pub fn load(path: &Path) -> Result<Calibration, CalibrationError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| CalibrationError::Io { path: p.clone(), reason: e.to_string() })?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| CalibrationError::Parse { path: p.clone(), reason: e.to_string() })?;
        let found = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        if found != CALIBRATION_VERSION {
            return Err(CalibrationError::Version { path: p, found });
        }
        let mut cal: Calibration = serde_json::from_value(value)
            .map_err(|e| CalibrationError::Parse { path: p, reason: e.to_string() })?;
        cal.local_write.upgrade_serial_share();
        cal.blob_get.upgrade_serial_share();
        Ok(cal)
    }

    /// Writes the calibration as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<(), CalibrationError> {
        let text = serde_json::to_string_pretty(self).map_err(err)? + "\n";
        std::fs::write(path, text)
            .map_err(|e| CalibrationError::Io { path: path.display().to_string(), reason: e.to_string() })
    }

    /// What a local-tier write call pays for each byte past its first chunk: the batched
    /// measurement's wall less one chunk's (the single-chunk fit at that size), over the
    /// rest of its bytes; one sync covers the whole call and its writes queue together.
    /// A file that predates the batched measurement: what a byte costs in a call of one
    /// chunk.
    pub fn local_write_more_ns_per_byte(&self) -> f64 {
        match self.local_write_batch.filter(|b| b.chunks > 1 && b.chunk_bytes > 0) {
            Some(b) => {
                let rest = f64::from(b.chunks - 1) * b.chunk_bytes as f64;
                ((b.wall_ns - self.local_write.wall_ns(b.chunk_bytes)) / rest).max(0.0)
            }
            None => self.local_write.ns_per_byte,
        }
    }

    /// CPU time over wall time of a local-tier write call of several chunks (that of one
    /// chunk in a file that predates the batched measurement).
    pub fn local_write_batch_cpu_share(&self) -> f64 {
        self.local_write_batch.map_or(self.local_write.cpu_share, |b| b.cpu_share)
    }

    /// CRC32C per byte of a `bytes`-long buffer.
    pub fn crc32c_ns_per_byte(&self, bytes: u64) -> f64 {
        by_size(self.crc32c.iter().map(|p| (p.bytes, 1.0, p.ns_per_byte)), bytes, 1.0)
    }

    /// Copy per byte of a `bytes`-long buffer.
    pub fn memcpy_ns_per_byte(&self, bytes: u64) -> f64 {
        by_size(self.memcpy.iter().map(|p| (p.bytes, 1.0, p.ns_per_byte)), bytes, 1.0)
    }

    /// Data generator per byte at `compressibility`, `bytes` per call.
    pub fn datagen_ns_per_byte(&self, compressibility: f64, bytes: u64) -> f64 {
        by_size(
            self.datagen.iter().map(|p| (p.bytes, p.compressibility, p.ns_per_byte)),
            bytes,
            compressibility,
        )
    }

    /// The codec entry for `algorithm` at the level nearest `level`.
    pub fn codec(&self, algorithm: &str, level: u8) -> Option<&CodecCost> {
        self.codecs
            .iter()
            .filter(|c| c.algorithm == algorithm)
            .min_by_key(|c| (i32::from(c.level) - i32::from(level)).abs())
    }

    /// (compress ns/B, decompress ns/B, ratio) at `compressibility`, `bytes` per call.
    pub fn codec_at(&self, codec: &CodecCost, compressibility: f64, bytes: u64) -> (f64, f64, f64) {
        let at = |f: fn(&CodecPoint) -> f64| {
            by_size(codec.points.iter().map(|p| (p.bytes, p.compressibility, f(p))), bytes, compressibility)
        };
        (at(|p| p.compress_ns_per_byte), at(|p| p.decompress_ns_per_byte), at(|p| p.ratio))
    }
}

/// Interpolates `(bytes, x, y)` points: linearly in `x` among the points of each size,
/// then linearly in log2(bytes) between sizes; clamped at the ends.
fn by_size(points: impl Iterator<Item = (u64, f64, f64)>, bytes: u64, x: f64) -> f64 {
    let mut pts: Vec<(u64, f64, f64)> = points.collect();
    pts.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut per_size: Vec<(f64, f64)> = Vec::new();
    let mut i = 0;
    while i < pts.len() {
        let size = pts[i].0;
        let same: Vec<(f64, f64)> = pts[i..].iter().take_while(|p| p.0 == size).map(|p| (p.1, p.2)).collect();
        i += same.len();
        per_size.push(((size.max(1) as f64).log2(), interpolate(&same, x)));
    }
    interpolate(&per_size, (bytes.max(1) as f64).log2())
}

/// Linear interpolation over points sorted by x, clamped at the ends.
fn interpolate(points: &[(f64, f64)], x: f64) -> f64 {
    match points {
        [] => 0.0,
        [only] => only.1,
        _ => {
            if x <= points[0].0 {
                return points[0].1;
            }
            for w in points.windows(2) {
                let ((x0, y0), (x1, y1)) = (w[0], w[1]);
                if x <= x1 {
                    let t = if x1 > x0 { (x - x0) / (x1 - x0) } else { 0.0 };
                    return y0 + t * (y1 - y0);
                }
            }
            points[points.len() - 1].1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_clamps_and_blends() {
        let pts = [(1.0, 10.0), (2.0, 20.0), (4.0, 20.0)];
        assert_eq!(interpolate(&pts, 0.5), 10.0);
        assert_eq!(interpolate(&pts, 1.5), 15.0);
        assert_eq!(interpolate(&pts, 9.0), 20.0);
    }

    #[test]
    fn two_point_fit_separates_fixed_and_per_byte() {
        let small = (1000.0 + SMALL_BYTES as f64 * 0.5, 0.0);
        let large = (1000.0 + LARGE_BYTES as f64 * 0.5, 0.0);
        let c = fit(small, large);
        assert!((c.op_ns - 1000.0).abs() < 1e-6 && (c.ns_per_byte - 0.5).abs() < 1e-9);
    }

    #[test]
    fn core_probe_times_the_measured_thread_on_both_sides() {
        let registry = Registry::new(Arc::new(CacheIndex::new(16).unwrap()));
        let mut data = vec![0u8; 64 << 10];
        datagen_for(2.0).fill(7, 0, &mut data);
        // Phases of 20 ms: a call of a few hundred microseconds fits in one even with the
        // other unit tests running beside it.
        let mut probe = CoreProbe::new(Duration::from_millis(10), &registry, &data).unwrap();
        let cpus = probe.cpus as f64;
        assert_eq!(probe.effective_cores(), cpus, "nothing measured yet: every logical CPU");
        probe.sample(&registry);
        probe.sample(&registry);
        if probe.cpus > 1 {
            assert!(probe.alone.1 > 0.0 && probe.loaded.1 > 0.0, "{:?} {:?}", probe.alone, probe.loaded);
        }
        let cores = probe.effective_cores();
        assert!((1.0..=cpus).contains(&cores), "{cores}");
        // Half the speed with the others running: one core, plus half of each other.
        probe.alone = (1000.0, 1000.0);
        probe.loaded = (2000.0, 1000.0);
        assert_eq!(probe.effective_cores(), 1.0 + (cpus - 1.0) * 0.5);
        // Faster with company (noise) is capped at the logical CPUs.
        probe.loaded = (500.0, 1000.0);
        assert_eq!(probe.effective_cores(), cpus);
    }

    #[test]
    fn passes_warm_up_once_and_keep_each_measurement_in_its_place() {
        let mut passes = Passes::new(Duration::from_micros(50));
        let (mut a, mut b) = (0u32, 0u32);
        for _ in 0..3 {
            passes.start_pass();
            let ma = passes
                .measure(|| {
                    a += 1;
                    Ok(())
                })
                .unwrap();
            let mb = passes
                .measure(|| {
                    b += 1;
                    std::thread::sleep(Duration::from_micros(200));
                    Ok(())
                })
                .unwrap();
            // Each measurement keeps its own mean: the sleeping one is the slower.
            assert!(mb > ma && mb >= 200_000.0, "{ma} ns, {mb} ns");
        }
        // `b` takes longer than a round: one warm-up call, then one call per pass.
        assert_eq!(b, 1 + 3);
        assert!(a > b);
        // A pass that measures more than the first did is refused, not misfiled.
        passes.start_pass();
        for _ in 0..2 {
            passes.measure(|| Ok(())).unwrap();
        }
        assert!(passes.measure(|| Ok(())).is_err());
    }

    #[test]
    fn serial_share_is_the_slowdown_of_two_at_once_over_two() {
        assert_eq!(serial_share(100.0, 100.0), 0.5);
        assert_eq!(serial_share(100.0, 150.0), 0.75);
        assert_eq!(serial_share(100.0, 200.0), 1.0);
        // Noise either way stays within 0..=1.
        assert_eq!(serial_share(100.0, 90.0), 0.45);
        assert_eq!(serial_share(100.0, 260.0), 1.0);
        assert_eq!(serial_share(0.0, 10.0), 0.0);
    }

    #[test]
    fn ring_hands_out_every_slot_in_turn() {
        let mut ring = Ring::new(4096);
        let first = ring.next_out(64).as_ptr();
        let mut seen = vec![first];
        for _ in 1..RING_SLOTS {
            let p = ring.next_out(64).as_ptr();
            assert!(!seen.contains(&p));
            seen.push(p);
        }
        assert_eq!(ring.next_out(64).as_ptr(), first);
        // Outputs fit a codec's worst case for the largest input.
        assert!(ring.next_out(4096 * 2 + 4096).len() == 4096 * 3);
        ring.fill_from(&[7u8; 100]);
        ring.copy_across(100);
        assert!(ring.outputs.iter().any(|o| o[..100] == [7u8; 100]));
    }

    #[test]
    fn a_file_without_serial_shares_still_loads() {
        let old = r#"{"op_ns": 1.0, "ns_per_byte": 2.0, "cpu_share": 0.5}"#;
        let op: OpCost = serde_json::from_str(old).unwrap();
        assert_eq!(op.serial_share, None);
        assert!(!serde_json::to_string(&op).unwrap().contains("serial_share"));
    }

    #[test]
    fn a_file_with_the_old_serial_share_is_read_in_todays_terms() {
        let mut op: OpCost = serde_json::from_str(
            r#"{"op_ns": 1.0, "ns_per_byte": 2.0, "cpu_share": 0.5, "serial_share": 0.4}"#,
        )
        .unwrap();
        op.upgrade_serial_share();
        // Two at once took 1.4 times as long: 0.7 of an op's wall in turns, at any size.
        assert_eq!((op.serial_share, op.serial_share_small), (Some(0.7), Some(0.7)));
        assert!((op.serial_share_at(300 << 10).unwrap() - 0.7).abs() < 1e-9);
        // Upgraded once: loading what was saved changes nothing.
        let again = op;
        op.upgrade_serial_share();
        assert_eq!(op, again);
        // A file without any share keeps none: the model's fallback applies.
        let mut none: OpCost =
            serde_json::from_str(r#"{"op_ns": 1.0, "ns_per_byte": 2.0, "cpu_share": 0.5}"#).unwrap();
        none.upgrade_serial_share();
        assert_eq!((none.serial_share, none.serial_share_small), (None, None));
    }

    #[test]
    fn serial_time_is_fitted_through_both_sizes() {
        // 64 KiB: 100 us, half in turns; 1 MiB: 1100 us, nine tenths in turns.
        let per_byte = 1_000_000.0 / (LARGE_BYTES - SMALL_BYTES) as f64;
        let op = OpCost {
            op_ns: 100_000.0 - per_byte * SMALL_BYTES as f64,
            ns_per_byte: per_byte,
            cpu_share: 0.2,
            serial_share: Some(0.9),
            serial_share_small: Some(0.5),
        };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(op.serial_share_at(SMALL_BYTES as u64).unwrap(), 0.5));
        assert!(close(op.serial_share_at(LARGE_BYTES as u64).unwrap(), 0.9));
        // Halfway in bytes: serial time halfway (50 + 990) / 2 us of a 600 us op.
        let mid = (SMALL_BYTES + LARGE_BYTES) as u64 / 2;
        assert!(close(op.serial_share_at(mid).unwrap(), (50_000.0 + 990_000.0) / 2.0 / 600_000.0));
        // Outside the two sizes the fit is clamped to a share.
        assert!((0.0..=1.0).contains(&op.serial_share_at(64 << 20).unwrap()));
        assert!((0.0..=1.0).contains(&op.serial_share_at(0).unwrap()));
        // Only the large share measured: that one everywhere.
        let large_only = OpCost { serial_share_small: None, ..op };
        assert_eq!(large_only.serial_share_at(mid), Some(0.9));
    }
}
