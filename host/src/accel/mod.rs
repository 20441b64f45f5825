//! Single-op microbenchmarks in accel_perf's terms (`dpukit accel`): one op (copy,
//! CRC32C, copy+CRC32C, compress, decompress, cache lookup or insert, a C plugin's op) at
//! one transfer size and queue depth, for a time, on the host CPU and through the offload
//! layer to a device, side by side.
//!
//! Host side: each thread keeps `queue_depth` buffers and runs the op through the kernel
//! registry (the same call the host backend and the simulator make), so a change of kernel
//! reaches this benchmark untouched. Everything on this side is measured.
//!
//! Offload side (`offload.rs`): one [`Offload`] (queue pair, DMA slots, the device of
//! [`AccelSpec::device`]) with `queue_depth` jobs in flight. Its clock is the offload
//! layer's host clock: measured host time plus waits for completions, which are modelled
//! when the device is the simulator ([`Offload::device_clock`]), so `-t` counts seconds of
//! that clock there, not wall time (a wall-clock budget bounds the run), and wall seconds
//! on a measured device. The host's own cost of offloading is measured and split as
//! dpdk-test-compress-perf's cycle count does: preparing a job, submitting it, polling for
//! it; in ns, and in TSC cycles where the TSC is invariant ([`Tsc`]).
//!
//! `-C N` (buffers per op) gives each op N buffers of the transfer size: copies are N
//! descriptors, a CRC is one CRC over all N (each descriptor seeded with the previous one's
//! CRC, as a device without scatter-gather chains it).
//!
//! Plugin ops (`user:NAME`, [`AccelSpec::plugin`]): the plugin's forward transform of one
//! buffer (length-preserving, see [`crate::plugin`]) bound at [`PLUGIN_OPCODE`], called
//! through the registry on the host and as a user descriptor on the device; `-y` holds each
//! output to the plugin's own output for the slot, computed once on the host.

#![forbid(unsafe_code)]

use crate::device::DeviceChoice;
use crate::metrics::StageHist;
use crate::offload::{thread_cpu_ns, Buf, Offload, OffloadConfig, OffloadError, SlotOp, MAX_OPS_PER_JOB};
use crate::plugin::{Plugin, PLUGIN_FORWARD, PLUGIN_OPCODE};
use crate::result::{Fallbacks, Figure, LatencySummary, Mode, ResourceUse, Source, Unit};
use dpukit_ffi::{Algorithm, Status};
use dpukit_kernels::cache_index::{CacheIndex, CacheKey, Location};
use dpukit_kernels::compress::{max_compressed_len, Codec};
use dpukit_kernels::crc32c::{crc32c, crc32c_append};
use dpukit_kernels::datagen::{ByteStyle, DataGen};
use dpukit_kernels::registry::{Call, Registry, UserArgs};
use dpukit_sim::engine::{profile_algorithm, EngineConfig};
use dpukit_sim::profile::Profile;
use dpukit_sim::timing::{ModelError, OpKind, Route, TimingModel};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

/// Version of the accel result document; bump on any incompatible change.
pub const ACCEL_SCHEMA_VERSION: u32 = 1;
/// Largest transfer size (one buffer).
pub const MAX_TRANSFER_BYTES: u64 = 64 << 20;
/// Largest queue depth (jobs in flight per thread).
pub const MAX_QUEUE_DEPTH: u32 = 4096;
/// Most host threads.
pub const MAX_THREADS: u32 = 256;
/// Most buffer bytes one thread holds (queue depth x buffers x transfer size, input and
/// output): a bound on what a run allocates.
pub const MAX_BUFFER_BYTES_PER_THREAD: u64 = 2 << 30;
/// Longest run and warm-up, seconds.
pub const MAX_SECONDS: f64 = 3600.0;
/// Cache entries present before a lookup run, and the keys an insert run cycles through.
pub const CACHE_KEYS: u64 = 1 << 16;
/// Host ops between two looks at the clock (time-based end, warm-up end): 256 below
/// [`SMALL_OP_BYTES`] (a clock read per 32 ops of 4 KiB showed in the loop's profile), 32
/// from there.
const CLOCK_CHECK_EVERY_SMALL: u64 = 256;
const CLOCK_CHECK_EVERY: u64 = 32;
/// Offloaded jobs between two looks at the wall clock (the offload side's wall budget).
const WALL_CHECK_EVERY: u64 = 64;
/// Below this transfer size a host op is timed one in [`SMALL_OP_LATENCY_STRIDE`]: two
/// clock reads cost tens of ns, a share of a 4 KiB CRC (about 45 ns) that would show in
/// its rate (2 % at one in 64); one in 256 keeps it near 0.5 % and still samples some
/// 10^5 ops a second.
const SMALL_OP_BYTES: u64 = 64 << 10;
const SMALL_OP_LATENCY_STRIDE: u64 = 256;

mod offload;
pub use offload::{check_offload, run_offload};
mod op;
pub use op::{route_on, AccelError, AccelOp};
mod tsc;
pub use tsc::Tsc;

/// The bytes the ops work on.
#[derive(Debug, Clone)]
pub enum DataSource {
    /// Generated, seeded, at a target compressibility (1.0 ..= 8.0, LZ4's ratio).
    Generated { compressibility: f64 },
    /// The user's own bytes (read whole by the caller), used in order and wrapped around.
    File { path: String, bytes: Arc<Vec<u8>> },
}

/// Which sides run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sides {
    Host,
    Offload,
    Both,
}

/// One benchmark, in accel_perf's terms.
#[derive(Debug, Clone)]
pub struct AccelSpec {
    pub op: AccelOp,
    /// `-o`: bytes of one buffer.
    pub transfer_bytes: u64,
    /// `-q`: jobs in flight per thread.
    pub queue_depth: u32,
    /// `-C`: buffers per op.
    pub buffers_per_op: u32,
    /// `-T`: host threads (each its own buffers; offload: queues).
    pub threads: u32,
    /// Jobs per doorbell (offload).
    pub batch: u32,
    /// `-t`: measured seconds, on the side's clock (wall on the host; the offload layer's
    /// host clock in offload mode, modelled where the device is).
    pub seconds: f64,
    /// Seconds run first and not counted, on the same clock.
    pub warmup_seconds: f64,
    /// Wall-clock budget of an offload side (its clock is not wall time).
    pub max_wall_seconds: f64,
    /// `-y`: check every result against the host kernel.
    pub verify: bool,
    pub seed: u64,
    pub data: DataSource,
    pub percentiles: Vec<f64>,
    pub sides: Sides,
    /// The device of the offload side (`--device`): the profile's simulator by default.
    pub device: DeviceChoice,
    /// The loaded plugin of a `user:NAME` op (`--plugin`), named NAME.
    pub plugin: Option<Plugin>,
}

impl AccelSpec {
    /// Checks every bound; each failure names its flag.
    pub fn validate(&self) -> Result<(), AccelError> {
        let bad = |flag: &'static str, value: String, reason: &str| {
            Err(AccelError::Bad { flag, value, reason: reason.to_owned() })
        };
        if self.transfer_bytes == 0 {
            return bad("-o", "0".into(), "the transfer size must be at least 1 byte");
        }
        if self.transfer_bytes > MAX_TRANSFER_BYTES {
            return bad("-o", self.transfer_bytes.to_string(), "at most 64 MiB per buffer");
        }
        if self.queue_depth == 0 {
            return bad("-q", "0".into(), "the queue depth must be at least 1");
        }
        if self.queue_depth > MAX_QUEUE_DEPTH {
            return bad("-q", self.queue_depth.to_string(), "at most 4096");
        }
        if self.buffers_per_op == 0 {
            return bad("-C", "0".into(), "at least 1 buffer per op");
        }
        if self.buffers_per_op > 1 && !self.op.takes_several_buffers() {
            return bad(
                "-C",
                self.buffers_per_op.to_string(),
                "several buffers per op apply to copy, crc32c and copy_crc32c",
            );
        }
        if self.buffers_per_op as usize > MAX_OPS_PER_JOB {
            return bad(
                "-C",
                self.buffers_per_op.to_string(),
                "at most 4 buffers per op (descriptors per job)",
            );
        }
        if self.threads == 0 || self.threads > MAX_THREADS {
            return bad("-T", self.threads.to_string(), "1..=256 threads");
        }
        if self.threads > 1 && self.sides != Sides::Host {
            return bad(
                "-T",
                self.threads.to_string(),
                "the offload side drives one queue on one device; use -T 1, or --mode host for several threads",
            );
        }
        if self.batch == 0 || self.batch > self.queue_depth {
            return bad("--batch", self.batch.to_string(), "1..=queue depth jobs per doorbell");
        }
        for (flag, s) in [("-t", self.seconds), ("--warmup", self.warmup_seconds)] {
            if !(s.is_finite() && (0.0..=MAX_SECONDS).contains(&s)) {
                return bad(flag, s.to_string(), "0..=3600 seconds");
            }
        }
        if self.seconds <= 0.0 {
            return bad("-t", self.seconds.to_string(), "a run lasts more than 0 seconds");
        }
        match (self.op.plugin_name(), &self.plugin) {
            (Some(name), None) => return Err(AccelError::PluginNeeded(name.to_owned())),
            (Some(name), Some(p)) if p.name() != name => {
                return Err(AccelError::PluginName {
                    op: name.to_owned(),
                    path: p.path().display().to_string(),
                    found: p.name().to_owned(),
                })
            }
            (None, Some(p)) => return Err(AccelError::PluginUnused(p.path().display().to_string())),
            _ => {}
        }
        if let DataSource::File { path, bytes } = &self.data {
            if bytes.is_empty() {
                return bad("--input", path.clone(), "the file is empty");
            }
        }
        if let DataSource::Generated { compressibility } = self.data {
            if !(compressibility.is_finite() && (1.0..=8.0).contains(&compressibility)) {
                return bad("--compressibility", compressibility.to_string(), "1.0 (incompressible) ..= 8.0");
            }
        }
        let per_thread = self.queue_depth as u64 * self.buffers_per_op as u64 * self.transfer_bytes * 3;
        if per_thread > MAX_BUFFER_BYTES_PER_THREAD {
            return bad(
                "-q",
                self.queue_depth.to_string(),
                "queue depth x buffers x transfer size needs more than 2 GiB of buffers per thread",
            );
        }
        Ok(())
    }

    fn op_bytes(&self) -> usize {
        if self.op.moves_buffers() {
            (self.transfer_bytes * self.buffers_per_op as u64) as usize
        } else {
            0
        }
    }
}

/// One line of accel_perf's summary: a thread (host) or queue (offload), or the total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryLine {
    /// `0`, `1`, ... or `total`.
    pub name: String,
    pub ops: u64,
    pub ops_per_s: Figure,
    /// Absent for ops that move no buffers (lookup, insert).
    pub bandwidth: Option<Figure>,
    pub failed: u64,
    pub miscompares: u64,
}

/// The host's own cost of offloading, per op (dpdk-test-compress-perf's split).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OffloadCost {
    pub prepare_ns_per_op: Figure,
    pub submit_ns_per_op: Figure,
    pub poll_ns_per_op: Figure,
    pub total_ns_per_op: Figure,
    /// The same in TSC cycles, where the TSC is usable.
    pub cycles: Option<[f64; 4]>,
}

/// The simulator's own speed in the run: descriptors per second of wall time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulatorSpeed {
    pub descriptors: u64,
    /// Descriptors over the wall time of the measured window (host code and simulator).
    pub descriptors_per_wall_s: Figure,
    /// Share of that wall time spent in the simulator.
    pub sim_share: Figure,
    /// Descriptors over the simulator's own wall time: its speed, as `cargo bench --bench
    /// engine` measures it (the rest of the wall time is the host side of the offload layer).
    pub descriptors_per_sim_s: Figure,
    /// Wall time per descriptor in neither the simulator nor the host's cost of offloading
    /// (prepare, submit, poll): `accel`'s own loop around them (its histograms, result
    /// checks, refill decisions), the one overhead the figures above do not name.
    #[serde(default)]
    pub loop_ns_per_descriptor: Option<Figure>,
}

/// How far a simulator on a thread of its own (`--device sim-paced`) fell behind its
/// model over the whole side, warm-up included (measured): its figures are the model's only
/// while it keeps up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimLag {
    /// Completions posted later than their modelled time.
    pub late_completions: u64,
    pub max_lag_ns: Figure,
}

/// One side of the benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccelSide {
    pub mode: Mode,
    /// What ran the op: `host CPU`, `bluefield-3 (simulated), accel:...`, `host thread`;
    /// ops that fell back to the host CPU are counted here too.
    pub engine: String,
    /// The clock `-t` counted: `wall` (the host side, a measured device) or `offload host
    /// clock (modelled)`.
    pub clock: String,
    /// Length of the measured window on that clock.
    pub window_s: Figure,
    /// Wall time the whole side took, warm-up and drain included (measured).
    pub wall_s: f64,
    /// Why the side stopped: `time` or `wall budget`.
    pub stopped_by: String,
    pub threads: Vec<SummaryLine>,
    pub total: SummaryLine,
    /// Submission to completion seen, per op.
    pub latency: LatencySummary,
    /// Host: one in this many ops was timed.
    pub latency_stride: u64,
    /// Host: the clock's own cost (two back-to-back readings), taken off each latency
    /// sample; the largest of the threads'.
    #[serde(default)]
    pub timer_ns: Option<Figure>,
    /// Device-side latency per descriptor (doorbell to completion), offload only.
    pub device_latency: Option<LatencySummary>,
    /// Host CPU per op (thread CPU time; the simulator's own time taken out).
    pub host_cpu_ns_per_op: Figure,
    pub offload_cost: Option<OffloadCost>,
    /// Device resources over the measured window, and the busiest: modelled or measured as
    /// the side's clock is (`window_s.source`).
    pub resources: Vec<ResourceUse>,
    pub bottleneck: Option<String>,
    pub simulator: Option<SimulatorSpeed>,
    /// The paced simulator's lag behind its model (`--device sim-paced` only).
    #[serde(default)]
    pub sim_lag: Option<SimLag>,
    pub fallbacks: Fallbacks,
    /// Compressed over uncompressed bytes (compress and decompress).
    pub ratio: Option<f64>,
}

/// The document `dpukit accel` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccelResult {
    pub schema_version: u32,
    pub op: AccelOp,
    pub op_name: String,
    pub transfer_bytes: u64,
    pub queue_depth: u32,
    pub buffers_per_op: u32,
    pub threads: u32,
    pub batch: u32,
    pub seconds: f64,
    pub warmup_seconds: f64,
    pub verify: bool,
    pub seed: u64,
    /// `generated (compressibility 2)` or `file PATH (N bytes)`.
    pub data: String,
    pub profile: String,
    pub tsc: Tsc,
    pub sides: Vec<AccelSide>,
}

/// Bytes starting at a 64-byte boundary (a cache line, an AVX-512 load), as a DMA pool's
/// buffers do: the CRC kernel loads 64 bytes at a time, and loads straddling two lines cost
/// it about 10 % of a 4 KiB op.
struct Aligned {
    lines: Vec<Line>,
    len: usize,
}

#[derive(Clone, Copy, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C, align(64))]
struct Line([u8; 64]);

impl Aligned {
    fn copy_of(bytes: &[u8]) -> Aligned {
        let mut lines = vec![Line([0; 64]); bytes.len().div_ceil(64)];
        bytemuck::cast_slice_mut::<Line, u8>(&mut lines)[..bytes.len()].copy_from_slice(bytes);
        Aligned { lines, len: bytes.len() }
    }
}

impl std::ops::Deref for Aligned {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &bytemuck::cast_slice::<Line, u8>(&self.lines)[..self.len]
    }
}

/// The inputs of one slot, prepared once.
struct SlotData {
    /// What the op reads (compressed for decompress).
    input: Aligned,
    /// Bytes of `input` the op reads.
    input_len: usize,
    /// The uncompressed bytes (decompress: what must come out; others: = input).
    plain: Vec<u8>,
    /// CRC32C of `plain` (all buffers chained).
    crc: u32,
    /// A plugin op: the plugin's output for `plain`, run once on the host (empty otherwise).
    expect: Vec<u8>,
}

fn fill_plain(spec: &AccelSpec, thread: u32, slot: u32, out: &mut [u8]) {
    match &spec.data {
        DataSource::Generated { compressibility } => {
            let style = if *compressibility <= 1.0 { ByteStyle::Random } else { ByteStyle::Bf16 };
            let gen = DataGen::new(*compressibility, style)
                .unwrap_or_else(|_| DataGen::new(1.0, ByteStyle::Random).expect("1.0 is valid"));
            let object = spec.seed ^ ((thread as u64) << 32) ^ slot as u64;
            gen.fill(object, 0, out);
        }
        DataSource::File { bytes, .. } => {
            // Consecutive slots take consecutive pieces of the file, wrapping around.
            let n = bytes.len().max(1);
            let start = ((thread as usize * spec.queue_depth as usize + slot as usize) * out.len()) % n;
            for (i, b) in out.iter_mut().enumerate() {
                *b = bytes[(start + i) % n];
            }
        }
    }
}

fn prepare_slots(spec: &AccelSpec, registry: &Registry, thread: u32) -> Result<Vec<SlotData>, AccelError> {
    let n = spec.op_bytes();
    (0..spec.queue_depth)
        .map(|s| {
            let mut plain = vec![0u8; n];
            fill_plain(spec, thread, s, &mut plain);
            let crc = crc32c(&plain);
            let (input, input_len) = match spec.op {
                AccelOp::Decompress { algorithm, level } => {
                    let codec = Codec::new(algorithm, level.max(1) as i32)
                        .map_err(|e| AccelError::Offload(e.to_string()))?;
                    let mut c = vec![0u8; max_compressed_len(&codec, n)];
                    let len = registry
                        .execute(Call::Compress { src: &plain, dst: &mut c, algorithm, level })
                        .map_err(|s| AccelError::Offload(format!("preparing compressed input: {s}")))?
                        .result as usize;
                    (Aligned::copy_of(&c), len)
                }
                _ => (Aligned::copy_of(&plain), n),
            };
            let mut expect = Vec::new();
            if let AccelOp::User { arg, .. } = spec.op {
                expect = vec![0u8; n];
                registry
                    .execute(Call::User { args: user_args(arg), src: &plain, dst: &mut expect })
                    .map_err(|s| {
                        AccelError::Offload(format!("preparing the plugin's expected output: {s}"))
                    })?;
            }
            Ok(SlotData { input, input_len, plain, crc, expect })
        })
        .collect()
}

/// The arguments of a plugin op's call: `arg` as its seed, forward.
fn user_args(arg: u64) -> UserArgs {
    UserArgs { opcode: PLUGIN_OPCODE, arg0: arg, arg1: PLUGIN_FORWARD, algo: 0, level: 0 }
}

fn out_capacity(spec: &AccelSpec) -> usize {
    let n = spec.op_bytes();
    match spec.op {
        AccelOp::Compress { algorithm, level } => Codec::new(algorithm, level.max(1) as i32)
            .map(|c| max_compressed_len(&c, n))
            .unwrap_or(2 * n + 4096),
        AccelOp::Lookup | AccelOp::Insert => 16,
        _ => n.max(16),
    }
}

/// The cache key of op `k`'s lookup or insert, and the value stored under it.
fn cache_entry(seed: u64, k: u64) -> ([u8; 16], [u8; 16]) {
    let i = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) % CACHE_KEYS;
    let key = CacheKey::for_chunk(seed | 1, i).to_bytes();
    let loc = Location::new(1, 0, i * 4096, 4096, i as u32).map(|l| l.to_bytes()).unwrap_or([0; 16]);
    (key, loc)
}

fn registry_for(spec: &AccelSpec) -> Result<Registry, AccelError> {
    let cache = CacheIndex::new((CACHE_KEYS * 2) as usize).map_err(|e| AccelError::Offload(e.to_string()))?;
    let mut registry = Registry::new(Arc::new(cache));
    if let Some(p) = &spec.plugin {
        // Bound where a scenario binds its plugin: the host calls it through the registry,
        // and a device is given the registry's user kernels (the simulator with their cost).
        registry.register_user(PLUGIN_OPCODE, p.kernel()).map_err(|e| AccelError::Plugin(e.to_string()))?;
    }
    if spec.op == AccelOp::Lookup {
        for k in 0..CACHE_KEYS {
            let (key, value) = cache_entry(spec.seed, k);
            let _ = registry.execute(Call::CacheInsert { key, value });
        }
    }
    Ok(registry)
}

/// What one thread of the host side counted over its measured window.
struct ThreadCount {
    /// What two back-to-back clock readings measure with nothing between them, taken off
    /// every latency sample.
    timer_ns: u64,
    ops: u64,
    failed: u64,
    miscompares: u64,
    window_ns: u64,
    cpu_ns: u64,
    hist: StageHist,
    out_bytes: u64,
}

/// Runs one op on the host through the registry; returns (status ok, output length or CRC).
fn host_op(
    spec: &AccelSpec,
    registry: &Registry,
    slot: &SlotData,
    out: &mut [u8],
    k: u64,
) -> Result<u64, Status> {
    let t = spec.transfer_bytes as usize;
    match spec.op {
        AccelOp::Crc32c => Ok(chained_crc32c(slot, t) as u64),
        AccelOp::Copy => {
            for (seg, dst) in slot.input[..slot.input_len].chunks(t).zip(out.chunks_mut(t)) {
                registry.execute(Call::Copy { src: seg, dst })?;
            }
            Ok(slot.input_len as u64)
        }
        AccelOp::CopyCrc32c => {
            let mut crc = 0u32;
            for (seg, dst) in slot.input[..slot.input_len].chunks(t).zip(out.chunks_mut(t)) {
                crc = registry.execute(Call::CopyCrc32c { src: seg, dst, seed: crc })?.result as u32;
            }
            Ok(crc as u64)
        }
        AccelOp::Compress { algorithm, level } => Ok(registry
            .execute(Call::Compress { src: &slot.input[..slot.input_len], dst: out, algorithm, level })?
            .result),
        AccelOp::Decompress { algorithm, .. } => Ok(registry
            .execute(Call::Decompress { src: &slot.input[..slot.input_len], dst: out, algorithm })?
            .result),
        AccelOp::Lookup => {
            let (key, _) = cache_entry(spec.seed, k);
            Ok(registry.execute(Call::CacheLookup { key, dst: out })?.result)
        }
        AccelOp::Insert => {
            let (key, value) = cache_entry(spec.seed, k);
            Ok(registry.execute(Call::CacheInsert { key, value })?.result)
        }
        AccelOp::User { arg, .. } => Ok(registry
            .execute(Call::User { args: user_args(arg), src: &slot.input[..slot.input_len], dst: out })?
            .result),
    }
}

/// What timing nothing measures: the least of many back-to-back pairs of clock readings,
/// in ns. A 4 KiB CRC takes about 45 ns and a pair of readings about as much in a VM: left
/// in, it would be half of a small op's latency. The OS clock, not the raw TSC: its reads
/// are ordered (an unfenced TSC read lets the CPU start it before the op's last
/// instructions finish, and a 4 KiB CRC then times shorter than it runs).
fn timer_cost_ns() -> u64 {
    (0..1000)
        .map(|_| {
            let t = Instant::now();
            t.elapsed().as_nanos() as u64
        })
        .min()
        .unwrap_or(0)
}

/// CRC32C of a slot's buffers of `t` bytes, chained: the registry's `Call::Crc32c`, which is
/// this kernel, without its dispatch.
#[inline]
fn chained_crc32c(slot: &SlotData, t: usize) -> u32 {
    slot.input[..slot.input_len].chunks(t).fold(0, crc32c_append)
}

/// Whether op `k`'s result matches the host kernel's.
fn check(spec: &AccelSpec, registry: &Registry, slot: &SlotData, out: &[u8], result: u64, k: u64) -> bool {
    match spec.op {
        AccelOp::Crc32c => result as u32 == slot.crc,
        AccelOp::Copy => out[..slot.plain.len()] == slot.plain[..],
        AccelOp::CopyCrc32c => result as u32 == slot.crc && out[..slot.plain.len()] == slot.plain[..],
        AccelOp::Compress { algorithm, .. } => {
            let len = result as usize;
            let mut back = vec![0u8; slot.plain.len()];
            len <= out.len()
                && registry
                    .execute(Call::Decompress { src: &out[..len], dst: &mut back, algorithm })
                    .is_ok_and(|o| o.result as usize == slot.plain.len() && back == slot.plain)
        }
        AccelOp::Decompress { .. } => {
            result as usize == slot.plain.len() && out[..slot.plain.len()] == slot.plain[..]
        }
        AccelOp::Lookup => {
            let (_, value) = cache_entry(spec.seed, k);
            out.get(..16) == Some(&value[..])
        }
        AccelOp::Insert => {
            let (key, value) = cache_entry(spec.seed, k);
            let mut got = [0u8; 16];
            registry.execute(Call::CacheLookup { key, dst: &mut got }).is_ok() && got == value
        }
        AccelOp::User { .. } => out.get(..slot.expect.len()) == Some(&slot.expect[..]),
    }
}

fn host_thread(spec: &AccelSpec, registry: &Registry, thread: u32) -> Result<ThreadCount, AccelError> {
    let slots = prepare_slots(spec, registry, thread)?;
    let t = spec.transfer_bytes as usize;
    match spec.op {
        // One buffer per op: the loop monomorphised around the kernel itself pays no
        // dispatch at all (the registry's was about 6 % of a 4 KiB CRC). Chained buffers
        // (`-C`) go through `host_op`, which calls the same kernel.
        AccelOp::Crc32c if slots.iter().all(|s| s.input_len <= t) => {
            host_loop(spec, registry, &slots, |slot, _, _| Ok(crc32c(&slot.input[..slot.input_len]) as u64))
        }
        _ => host_loop(spec, registry, &slots, |slot, out, k| host_op(spec, registry, slot, out, k)),
    }
}

/// One host thread's time-based loop around `op` (slot, its output buffer, op index).
fn host_loop(
    spec: &AccelSpec,
    registry: &Registry,
    slots: &[SlotData],
    mut op: impl FnMut(&SlotData, &mut [u8], u64) -> Result<u64, Status>,
) -> Result<ThreadCount, AccelError> {
    let mut outs: Vec<Vec<u8>> = (0..spec.queue_depth).map(|_| vec![0u8; out_capacity(spec)]).collect();
    let stride = if spec.op.moves_buffers() && (spec.op_bytes() as u64) < SMALL_OP_BYTES {
        SMALL_OP_LATENCY_STRIDE
    } else {
        1
    };
    let warm_ns = (spec.warmup_seconds * 1e9) as u64;
    let end_ns = warm_ns + (spec.seconds * 1e9) as u64;
    let mut hist = StageHist::new("op", Source::Measured);
    let (mut ops, mut failed, mut miscompares, mut out_bytes) = (0u64, 0u64, 0u64, 0u64);
    let start = Instant::now();
    let timer_ns = timer_cost_ns();
    let mut measuring = warm_ns == 0;
    let (mut cpu0, mut t0) = (thread_cpu_ns(), 0u64);
    let qd = spec.queue_depth as usize;
    let mut k = 0u64;
    // Buffer `k % qd` and "op `k` is timed" (`k % stride == 0`) kept as counters: two
    // 64-bit divisions per op were a visible share of a 4 KiB CRC.
    let (mut s, mut until_timed) = (0usize, 0u64);
    let check_every = if stride > 1 { CLOCK_CHECK_EVERY_SMALL } else { CLOCK_CHECK_EVERY };
    loop {
        for _ in 0..check_every {
            let timed = until_timed == 0;
            until_timed = if timed { stride - 1 } else { until_timed - 1 };
            let op_start = if timed { Some(Instant::now()) } else { None };
            let r = op(&slots[s], &mut outs[s], k);
            if let Some(t) = op_start {
                if measuring {
                    hist.record((t.elapsed().as_nanos() as u64).saturating_sub(timer_ns));
                }
            }
            if measuring {
                ops += 1;
                match r {
                    Ok(v) => {
                        if matches!(spec.op, AccelOp::Compress { .. }) {
                            out_bytes += v;
                        }
                        if spec.verify && !check(spec, registry, &slots[s], &outs[s], v, k) {
                            miscompares += 1;
                        }
                    }
                    Err(_) => failed += 1,
                }
            }
            k += 1;
            s += 1;
            if s == qd {
                s = 0;
            }
        }
        let now = start.elapsed().as_nanos() as u64;
        if !measuring && now >= warm_ns {
            measuring = true;
            cpu0 = thread_cpu_ns();
            t0 = now;
        }
        if measuring && now >= end_ns {
            return Ok(ThreadCount {
                timer_ns,
                ops,
                failed,
                miscompares,
                window_ns: now - t0,
                cpu_ns: thread_cpu_ns().saturating_sub(cpu0),
                hist,
                out_bytes,
            });
        }
    }
}

fn line(
    name: String,
    ops: u64,
    window_ns: u64,
    bytes_per_op: usize,
    failed: u64,
    mis: u64,
    source: Source,
) -> SummaryLine {
    let secs = window_ns as f64 / 1e9;
    let rate = if secs > 0.0 { ops as f64 / secs } else { 0.0 };
    let fig = |v: f64, u: Unit| Figure { value: v, unit: u, source, emulator: false };
    SummaryLine {
        name,
        ops,
        ops_per_s: fig(rate, Unit::OpsPerSecond),
        bandwidth: (bytes_per_op > 0).then(|| fig(rate * bytes_per_op as f64, Unit::BytesPerSecond)),
        failed,
        miscompares: mis,
    }
}

/// Runs the host side: `threads` threads, each its own buffers, for the spec's time.
pub fn run_host(spec: &AccelSpec) -> Result<AccelSide, AccelError> {
    let registry = registry_for(spec)?;
    let wall = Instant::now();
    let counts: Vec<Result<ThreadCount, AccelError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..spec.threads)
            .map(|t| {
                s.spawn({
                    let r = registry.clone();
                    move || host_thread(spec, &r, t)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(AccelError::Offload("a host thread panicked".into()))))
            .collect()
    });
    let counts = counts.into_iter().collect::<Result<Vec<_>, _>>()?;
    let bytes = spec.op_bytes();
    let mut threads = Vec::new();
    let mut hist = StageHist::new("op", Source::Measured);
    let (mut ops, mut failed, mut mis, mut cpu, mut rate, mut out_bytes) = (0, 0, 0, 0, 0.0, 0);
    let mut window_ns = 0;
    for (i, c) in counts.iter().enumerate() {
        threads.push(line(
            i.to_string(),
            c.ops,
            c.window_ns,
            bytes,
            c.failed,
            c.miscompares,
            Source::Measured,
        ));
        hist.merge(&c.hist);
        ops += c.ops;
        failed += c.failed;
        mis += c.miscompares;
        cpu += c.cpu_ns;
        out_bytes += c.out_bytes;
        rate += c.ops as f64 / (c.window_ns.max(1) as f64 / 1e9);
        window_ns = window_ns.max(c.window_ns);
    }
    // The total is the sum of the threads' rates (each over its own window).
    let mut total = line("total".into(), ops, window_ns, bytes, failed, mis, Source::Measured);
    total.ops_per_s.value = rate;
    if let Some(b) = total.bandwidth.as_mut() {
        b.value = rate * bytes as f64;
    }
    let mut latency = hist.summary_with(&spec.percentiles);
    latency.stage = "op".into();
    Ok(AccelSide {
        mode: Mode::Host,
        engine: "host CPU (kernel registry)".into(),
        clock: "wall (-t counts wall seconds)".into(),
        window_s: Figure::measured(window_ns as f64 / 1e9, Unit::Seconds),
        wall_s: wall.elapsed().as_secs_f64(),
        stopped_by: "time".into(),
        threads,
        total,
        latency,
        timer_ns: counts
            .iter()
            .map(|c| c.timer_ns)
            .max()
            .map(|ns| Figure::measured(ns as f64, Unit::Nanoseconds)),
        latency_stride: counts
            .first()
            .map(|_| {
                if spec.op.moves_buffers() && (bytes as u64) < SMALL_OP_BYTES {
                    SMALL_OP_LATENCY_STRIDE
                } else {
                    1
                }
            })
            .unwrap_or(1),
        device_latency: None,
        host_cpu_ns_per_op: Figure::measured(cpu as f64 / ops.max(1) as f64, Unit::Nanoseconds),
        offload_cost: None,
        resources: Vec::new(),
        bottleneck: None,
        simulator: None,
        sim_lag: None,
        fallbacks: Fallbacks::default(),
        ratio: ratio_of(spec, out_bytes, ops),
    })
}

fn ratio_of(spec: &AccelSpec, compressed_bytes: u64, ops: u64) -> Option<f64> {
    match spec.op {
        AccelOp::Compress { .. } if ops > 0 => {
            Some(compressed_bytes as f64 / (ops as f64 * spec.op_bytes() as f64))
        }
        _ => None,
    }
}

/// Runs the sides the spec asks for, host first, and gathers them into one document.
/// Everything is checked before any side runs.
pub fn run(spec: &AccelSpec, profile: &Profile) -> Result<AccelResult, AccelError> {
    spec.validate()?;
    if spec.sides != Sides::Host {
        check_offload(spec, profile)?;
    }
    let tsc = Tsc::probe(&quanta::Clock::new());
    let mut sides = Vec::new();
    if spec.sides != Sides::Offload {
        sides.push(run_host(spec)?);
    }
    if spec.sides != Sides::Host {
        sides.push(run_offload(spec, profile, &tsc)?);
    }
    let data = match &spec.data {
        DataSource::Generated { compressibility } => format!("generated (compressibility {compressibility})"),
        DataSource::File { path, bytes } => format!("file {path} ({} bytes)", bytes.len()),
    };
    Ok(AccelResult {
        schema_version: ACCEL_SCHEMA_VERSION,
        op: spec.op.clone(),
        op_name: spec.op.name(),
        transfer_bytes: spec.transfer_bytes,
        queue_depth: spec.queue_depth,
        buffers_per_op: spec.buffers_per_op,
        threads: spec.threads,
        batch: spec.batch,
        seconds: spec.seconds,
        warmup_seconds: spec.warmup_seconds,
        verify: spec.verify,
        seed: spec.seed,
        data,
        profile: profile.name.clone(),
        tsc,
        sides,
    })
}

#[cfg(test)]
mod tests;
