//! The four scenarios, as seeded generators of chunk operations driven through the
//! offload interface. Each of N simulated nodes runs on a thread of its own, with its own
//! local tier directory, cache index and (in offload mode) its own DPU. The nodes of a run
//! are spread over the processes of a [`Cluster`]: all of them in one process, or one per
//! MPI rank; what crosses nodes (the barrier that starts each timed phase, the catalog of
//! published objects, peer chunks, the per-node outputs the leader assembles) goes through
//! it, so the same code runs either way.
//!
//! Host mode and offload mode replay exactly the same operations: chunk contents come
//! from the seeded data generator, orders from the seed, and both modes dispatch through
//! the same kernel registry, so the stored bytes and checksums are identical. The
//! `manifest_digest` figure of a run is a CRC32C over every (node, chunk, stored length,
//! CRC) the run produced, and `dpukit compare` checks the two modes agree on it.
//!
//! Per-chunk work:
//! - fan-out write: generate, [compress], CRC32C of the stored bytes, write to the local
//!   tier in batches of `batch` chunks through a write pipeline (the next batches are
//!   generated and written while one syncs; a batch is acknowledged once durable, then
//!   recorded in the manifest), copy to the blob tier in the background;
//! - fan-out read: cache lookup; hit: read the local tier; miss: in the cold pass, fetch
//!   from the peer [`PeerPlan`] names (peer serving), else from the blob tier; verify
//!   CRC32C, decompress; fill the cache. Two passes, each a phase: cold, then warm;
//! - fan-in read: `readers` nodes read every shard the writers produced from the blob
//!   tier, verify, decompress;
//! - KV cache: Zipf-skewed requests over token-prefix blocks; hits read the block and
//!   verify it, misses produce it (as a prefill would), checksum it, store and insert it.

use crate::cluster::{Cluster, ClusterError, PeerPlan};
use crate::metrics::{host_name, machine_info, process_cpu_ns, StageHist};
use crate::offload::{thread_cpu_ns, Buf, Finished, Offload, OffloadConfig, RanOn, SlotOp};
use crate::result::{
    DeviceSummary, Fallbacks, Figure, Mode, NodeTime, PerNode, ResourceUse, RunResult, Source, Unit,
    Verification, RESULT_SCHEMA_VERSION, STRAGGLER_FACTOR,
};
use crate::run::{Progress, RunError, RunOptions};
use crate::spec::{ScenarioKind, ScenarioSpec};
use crate::staging::StagingPool;
use crate::tier::{
    AckedBatch, AckedWriter, BatchId, BlobCopier, BlobCopierConfig, BlobKey, BlobLocation, BlobOptions,
    BlobTier, CopyJob, LocalTier, LocalTierConfig, Manifest, OwnedChunkWrite, MAX_BATCHES_IN_FLIGHT,
};
use bytes::Bytes;
use dpukit_ffi::{Algorithm, Status};
use dpukit_kernels::cache_index::{CacheIndex, CacheKey, Location};
use dpukit_kernels::compress;
use dpukit_kernels::crc32c::{crc32c, crc32c_append};
use dpukit_kernels::datagen::{ByteStyle, DataGen};
use dpukit_kernels::registry::{codec_for, Registry};
use dpukit_sim::engine::EngineConfig;
use dpukit_sim::profile::{FaultConfig, Profile};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A device that answers later than this (modelled) is declared dead.
const DEVICE_TIMEOUT_NS: u64 = 1_000_000_000;
/// Tier id of the local tier in cache locations.
const TIER_LOCAL: u8 = 1;
/// How long the run waits for the background blob copy to drain.
const COPY_DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// Blocks per KV request: 1..=this.
const KV_MAX_BLOCKS_PER_REQUEST: u64 = 4;
/// Popular documents the KV prefixes are drawn from.
const KV_POPULAR_DOCS: u64 = 256;
/// Longest a node waits for another node (a barrier, a peer's chunk) in one process.
const NODE_WAIT_TIMEOUT: Duration = Duration::from_secs(3600);

/// What a run records about its blob tier, in `<run dir>/blob-tier.json`, so `dpukit copy`
/// can resume an interrupted copy to the same place.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct BlobRecord {
    /// The tier URL as the user gave it (`None`: the default inside the run's directory).
    pub blob: Option<String>,
    /// The run's own part of the tier (`<scenario>-<mode>-seed<seed>`).
    pub segment: String,
    /// Where the run's objects are: the tier URL with the segment appended.
    pub location: String,
    pub blob_options: BlobOptions,
}

/// File name of the [`BlobRecord`] in a run's directory.
pub(crate) const BLOB_RECORD_FILE: &str = "blob-tier.json";

/// Where a run keeps its files: the given work dir, or a temporary one removed after.
///
/// The blob tier: by default `blob/` inside the run's directory (removed with it). A given
/// tier (`--blob`) holds each run under `<tier>/<scenario>-<mode>-seed<seed>/`, so host and
/// offload runs, and runs of other scenarios or seeds, never share objects; the run clears
/// that part of the tier before it starts, as it clears its directory.
///
/// Under MPI the leader prepares the run directory (removing an old one) before any rank
/// uses it; without a work dir the ranks share the leader's temporary directory (so they
/// must share its filesystem: a single host; a cluster gives a shared `--work-dir`).
struct Env {
    root: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    blob: Arc<BlobTier>,
}

impl Env {
    fn new(spec: &ScenarioSpec, mode: Mode, cluster: &dyn Cluster) -> Result<Env, RunError> {
        let mut root =
            spec.work_dir.as_ref().map(|d| d.join(format!("{}-{}", spec.kind.name(), mode.name())));
        let mut tmp = None;
        let segment = spec.blob_run_segment(mode.name());
        let mut leader_blob = None;
        if cluster.is_leader() {
            if root.is_none() {
                let t = tempfile::Builder::new().prefix("dpukit-").tempdir().map_err(|e| RunError::Io {
                    path: std::env::temp_dir().display().to_string(),
                    reason: e.to_string(),
                })?;
                root = Some(t.path().to_path_buf());
                tmp = Some(t);
            }
            let r = root.as_ref().expect("root set above");
            if r.exists() {
                std::fs::remove_dir_all(r).map_err(|e| io_err(r, e))?;
            }
            let blob_dir = r.join("blob");
            std::fs::create_dir_all(&blob_dir).map_err(|e| io_err(&blob_dir, e))?;
            // The leader checks the tier, clears the run's part of a given one and records
            // where it is, before any rank uses it.
            let location = blob_location(spec, r, &segment)?;
            let blob = BlobTier::open(&location, &spec.blob_options).map_err(tier_err)?;
            blob.check().map_err(tier_err)?;
            if spec.blob.is_some() {
                blob.clear().map_err(tier_err)?;
            }
            let record = BlobRecord {
                blob: spec.blob.clone(),
                segment: segment.clone(),
                location: location.to_string(),
                blob_options: spec.blob_options.clone(),
            };
            let path = r.join(BLOB_RECORD_FILE);
            let text = serde_json::to_string_pretty(&record).map_err(|e| RunError::Tier(e.to_string()))?;
            std::fs::write(&path, text).map_err(|e| io_err(&path, e))?;
            leader_blob = Some(blob);
        }
        // The leader's directory and tier are ready once this returns; a rank without a
        // work dir takes the leader's.
        let leader_root = root.as_ref().map(|r| r.display().to_string()).unwrap_or_default();
        let all = cluster.all_gather(leader_root.into_bytes()).map_err(RunError::Cluster)?;
        let root = match root {
            Some(r) => r,
            None => PathBuf::from(String::from_utf8_lossy(&all[0]).into_owned()),
        };
        let blob = match leader_blob {
            Some(blob) => blob,
            None => BlobTier::open(&blob_location(spec, &root, &segment)?, &spec.blob_options)
                .map_err(tier_err)?,
        };
        Ok(Env { root, _tmp: tmp, blob: Arc::new(blob) })
    }

    fn node_dir(&self, node: u32) -> Result<PathBuf, RunError> {
        let d = self.root.join(format!("node{node:04}"));
        std::fs::create_dir_all(&d).map_err(|e| io_err(&d, e))?;
        Ok(d)
    }
}

/// Where a run's objects go: `blob/` in the run's directory, or the run's part of a given tier.
fn blob_location(spec: &ScenarioSpec, root: &Path, segment: &str) -> Result<BlobLocation, RunError> {
    Ok(match spec.blob_location()? {
        None => BlobLocation::Local(root.join("blob")),
        Some(given) => given.join(segment),
    })
}

fn io_err(path: &Path, e: std::io::Error) -> RunError {
    RunError::Io { path: path.display().to_string(), reason: e.to_string() }
}

fn tier_err(e: impl std::fmt::Display) -> RunError {
    RunError::Tier(e.to_string())
}

fn off_err(e: impl std::fmt::Display) -> RunError {
    RunError::Device(e.to_string())
}

fn wire_err(e: impl std::fmt::Display) -> RunError {
    RunError::Cluster(ClusterError(format!("malformed message between ranks: {e}")))
}

/// Data of one object/shard: generator and seed.
fn datagen(spec: &ScenarioSpec) -> DataGen {
    let style = if spec.compressibility <= 1.0 { ByteStyle::Random } else { ByteStyle::Bf16 };
    DataGen::new(spec.compressibility, style)
        .unwrap_or_else(|_| DataGen::new(1.0, ByteStyle::Random).expect("1.0 is valid"))
}

fn object_seed(spec: &ScenarioSpec, object: u64) -> u64 {
    spec.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ object.wrapping_mul(0xd6e8_feb8_6659_fd93)
}

fn algorithm(spec: &ScenarioSpec) -> Option<(Algorithm, u8)> {
    spec.compression.as_ref().and_then(|c| Algorithm::from_name(&c.algorithm).map(|a| (a, c.level)))
}

fn algorithm_name(spec: &ScenarioSpec) -> &str {
    spec.compression.as_ref().map_or("none", |c| c.algorithm.as_str())
}

/// Largest stored form of a chunk of `len` bytes.
fn max_stored(spec: &ScenarioSpec, len: usize) -> usize {
    match algorithm(spec).and_then(|(a, l)| codec_for(a, l).ok()) {
        Some(codec) => compress::max_compressed_len(&codec, len).max(len),
        None => len,
    }
}

/// Per-node measurement and outcome. It crosses processes as JSON (under MPI every rank
/// sends its node's to the leader), so it holds only plain data.
#[derive(Serialize, Deserialize)]
struct NodeOut {
    node: u32,
    /// Host name of the machine it ran on.
    host: String,
    bytes: u64,
    ops: u64,
    /// Host clock from the start of the timed phase (the barrier) to the node's end.
    end_ns: u64,
    e2e: StageHist,
    kernel: StageHist,
    io: StageHist,
    /// Simulator CPU time (excluded from the host's) and CPU fallbacks.
    sim_cpu_ns: u64,
    fallbacks: Fallbacks,
    device: Option<DeviceOut>,
    digest_items: Vec<(u32, u64, u64, u32)>,
    verification: Verification,
    hits: u64,
    misses: u64,
    blob_egress_bytes: u64,
    peer_bytes: u64,
    stored_bytes: u64,
    /// CPU time of this node's thread (getrusage per thread), minus the simulator's.
    thread_cpu_ns: u64,
    #[serde(skip)]
    thread_cpu_start_ns: u64,
    #[serde(skip)]
    start_ns: u64,
}

#[derive(Serialize, Deserialize)]
struct DeviceOut {
    makespan_ns: u64,
    resources: Vec<ResourceUse>,
    descriptors: u64,
    error_completions: u64,
    injected_errors: u64,
    doorbells_dropped: u64,
    below_min_efficient_size: u64,
    late_completions: u64,
    max_lag_ns: u64,
}

impl NodeOut {
    fn new(mode: Mode, node: u32) -> NodeOut {
        let kernel_source = if mode == Mode::Offload { Source::Modelled } else { Source::Measured };
        NodeOut {
            node,
            host: host_name(),
            bytes: 0,
            ops: 0,
            end_ns: 0,
            e2e: StageHist::new(
                "end_to_end",
                if mode == Mode::Offload { Source::Modelled } else { Source::Measured },
            ),
            kernel: StageHist::new(
                if mode == Mode::Offload { "device_ops" } else { "kernels" },
                kernel_source,
            ),
            io: StageHist::new("storage_io", Source::Measured),
            sim_cpu_ns: 0,
            fallbacks: Fallbacks::default(),
            device: None,
            digest_items: Vec::new(),
            verification: Verification { ok: true, ..Verification::default() },
            hits: 0,
            misses: 0,
            blob_egress_bytes: 0,
            peer_bytes: 0,
            stored_bytes: 0,
            thread_cpu_ns: 0,
            thread_cpu_start_ns: thread_cpu_ns(),
            start_ns: 0,
        }
    }

    /// Waits at the barrier that starts the timed phase, then starts this node's clocks.
    fn begin(&mut self, ctx: &Ctx, off: &Offload) -> Result<(), RunError> {
        ctx.sync.wait()?;
        self.start_ns = off.now_ns();
        self.thread_cpu_start_ns = thread_cpu_ns();
        Ok(())
    }

    fn finish(&mut self, off: &Offload) {
        self.end_ns = off.now_ns().saturating_sub(self.start_ns);
        let stats = off.stats();
        self.sim_cpu_ns = stats.sim_cpu_ns;
        self.fallbacks = stats.fallbacks.clone();
        self.thread_cpu_ns =
            thread_cpu_ns().saturating_sub(self.thread_cpu_start_ns).saturating_sub(stats.sim_cpu_ns);
        if off.engine().is_none() {
            // No device ran anything: every latency is a measured host figure.
            self.e2e.source = Source::Measured;
            self.kernel = {
                let mut k = StageHist::new("kernels", Source::Measured);
                k.merge(&self.kernel);
                k
            };
        }
        if let Some(engine) = off.engine() {
            let resources = engine
                .resource_stats()
                .into_iter()
                .map(|r| ResourceUse {
                    name: r.name.clone(),
                    units: r.units,
                    jobs: r.jobs,
                    busy_ns: r.busy_ns,
                    utilization: r.utilization,
                })
                .collect();
            let s = engine.stats();
            self.device = Some(DeviceOut {
                makespan_ns: engine.makespan().as_ns(),
                resources,
                descriptors: s.descriptors,
                error_completions: s.errors(),
                injected_errors: s.injected_errors,
                doorbells_dropped: s.doorbells_dropped,
                below_min_efficient_size: s.below_min_efficient_size,
                late_completions: s.late_completions,
                max_lag_ns: s.max_lag_ns,
            });
        }
    }

    fn record_ops(&mut self, f: &Finished) {
        for r in &f.results {
            if r.ran_on == RanOn::Device
                || !matches!(r.status, Status::Ok | Status::NotFound)
                || r.latency_ns > 0
            {
                self.kernel.record(r.latency_ns);
            }
        }
    }

    fn fail(&mut self, msg: String) {
        self.verification.ok = false;
        if self.verification.failures.len() < 20 {
            self.verification.failures.push(msg);
        }
    }
}

/// Shared progress counter and callback.
struct Prog {
    done: AtomicU64,
    total: u64,
    mode: Mode,
    cb: Option<crate::run::ProgressFn>,
    last: Mutex<Instant>,
}

impl Prog {
    fn add(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(cb) = &self.cb {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= Duration::from_millis(200) || done >= self.total {
                *last = Instant::now();
                cb(Progress { mode: self.mode, bytes_done: done.min(self.total), bytes_total: self.total });
            }
        }
    }
}

/// The barrier of the node threads of this process; the last thread to arrive also waits
/// at the cluster's barrier, so every node of every process starts a phase together. A
/// node that fails releases the others with an error instead of leaving them waiting.
struct NodeSync<'a> {
    parties: usize,
    state: Mutex<SyncState>,
    cv: Condvar,
    cluster: &'a dyn Cluster,
}

#[derive(Default)]
struct SyncState {
    arrived: usize,
    generation: u64,
    failed: bool,
}

impl NodeSync<'_> {
    fn wait(&self) -> Result<(), RunError> {
        let aborted = || RunError::Cluster(ClusterError("another node failed".into()));
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.failed {
            return Err(aborted());
        }
        st.arrived += 1;
        if st.arrived == self.parties {
            let r = self.cluster.barrier().map_err(RunError::Cluster);
            st.arrived = 0;
            st.generation += 1;
            self.cv.notify_all();
            return r;
        }
        let generation = st.generation;
        let deadline = Instant::now() + NODE_WAIT_TIMEOUT;
        while st.generation == generation && !st.failed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RunError::Cluster(ClusterError(format!(
                    "a node waited {} s at a barrier",
                    NODE_WAIT_TIMEOUT.as_secs()
                ))));
            }
            st = self.cv.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        if st.generation == generation {
            return Err(aborted());
        }
        Ok(())
    }

    fn fail(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).failed = true;
        self.cv.notify_all();
    }
}

/// A chunk a node holds in its cache for its peers, or could not get.
#[derive(Clone)]
enum Held {
    At { path: PathBuf, offset: u64, len: u32 },
    Missing,
}

/// Peer serving of fan-out read. Who serves whom follows [`PeerPlan`]; within a process a
/// node waits for the chunk its source caches and reads it from the source's local tier
/// file; across processes the chunks travel by the cluster's exchange, one step at a time.
struct Peers<'a> {
    plan: PeerPlan,
    cluster: &'a dyn Cluster,
    held: Mutex<PeerState>,
    cv: Condvar,
}

#[derive(Default)]
struct PeerState {
    chunks: HashMap<(u32, u64), Held>,
    failed: bool,
}

impl Peers<'_> {
    /// Records what `node` holds of `chunk` after handling it in the cold pass.
    fn hold(&self, node: u32, chunk: u64, held: Held) {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).chunks.insert((node, chunk), held);
        self.cv.notify_all();
    }

    fn fail(&self) {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).failed = true;
        self.cv.notify_all();
    }

    fn read_held(&self, node: u32, chunk: u64) -> Result<Vec<u8>, RunError> {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).chunks.get(&(node, chunk)).cloned();
        match held {
            Some(Held::At { path, offset, len }) => {
                let mut buf = vec![0u8; len as usize];
                read_at(&path, offset, &mut buf).map_err(|e| io_err(&path, e))?;
                Ok(buf)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Step `step` of `node`'s cold pass: serves the nodes of other processes whose source
    /// `node` is, and fetches `node`'s own chunk from its source into `into`. Every node
    /// calls this at every step of the cold pass. Returns the fetched length, or `None`
    /// when the chunk must come from the blob tier.
    fn step(&self, node: u32, step: u64, into: &mut [u8]) -> Result<Option<usize>, RunError> {
        let src = self.plan.source(node, step);
        if self.cluster.ranks() > 1 {
            let me = self.cluster.rank_of(node);
            let mut sends = Vec::new();
            for q in 0..self.plan.nodes() {
                let rank = self.cluster.rank_of(q);
                if rank != me && self.plan.source(q, step) == Some(node) {
                    sends.push((rank, self.read_held(node, self.plan.chunk(q, step))?));
                }
            }
            let from = src.map(|s| self.cluster.rank_of(s)).filter(|&r| r != me);
            let got = self.cluster.exchange(&sends, from, into).map_err(RunError::Cluster)?;
            if from.is_some() {
                return Ok(got.filter(|&n| n > 0));
            }
        }
        let Some(src) = src else { return Ok(None) };
        let chunk = self.plan.chunk(node, step);
        let deadline = Instant::now() + NODE_WAIT_TIMEOUT;
        let mut st = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let held = loop {
            if let Some(h) = st.chunks.get(&(src, chunk)) {
                break h.clone();
            }
            if st.failed {
                return Err(RunError::Cluster(ClusterError("another node failed".into())));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RunError::Cluster(ClusterError(format!(
                    "node {node} waited {} s for chunk {chunk} from node {src}",
                    NODE_WAIT_TIMEOUT.as_secs()
                ))));
            }
            st = self.cv.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
        };
        drop(st);
        match held {
            Held::At { path, offset, len } => {
                let len = len as usize;
                if len > into.len() {
                    return Ok(None);
                }
                Ok(read_at(&path, offset, &mut into[..len]).ok().map(|_| len))
            }
            Held::Missing => Ok(None),
        }
    }
}

/// What every node thread of a run shares.
struct Ctx<'a> {
    spec: &'a ScenarioSpec,
    mode: Mode,
    profile: &'a Profile,
    faults: Option<&'a FaultConfig>,
    corrupt: u64,
    env: &'a Env,
    prog: &'a Prog,
    sync: &'a NodeSync<'a>,
    peers: Option<&'a Peers<'a>>,
    catalog: &'a Catalog,
    copier: Option<&'a BlobCopier>,
}

impl Ctx<'_> {
    /// Wall time a node spent waiting for others (a barrier, a peer's chunk) is not its
    /// own work: in offload mode, whose host clock is virtual (it skips the simulator's
    /// time, which the others' wall time includes), it is kept off the clock.
    fn waited(&self, off: &mut Offload, since: Instant) {
        if self.mode == Mode::Offload {
            off.exclude_wall_ns(since.elapsed().as_nanos() as u64);
        }
    }
}

/// What one buffer of a node's DMA pool holds: a chunk (a KV block) or its stored form,
/// whichever is larger.
fn slot_buffer_bytes(spec: &ScenarioSpec) -> usize {
    let chunk = match spec.kind {
        ScenarioKind::KvCache => spec.kv_shape.block_bytes() as usize,
        _ => spec.chunk_size_bytes as usize,
    };
    max_stored(spec, chunk).max(chunk)
}

/// Most of this machine's available memory that the DMA pools of one process may pin.
const DMA_POOLS_MAX_SHARE_OF_AVAILABLE: f64 = 0.75;

/// Refuses a run whose nodes' DMA pools (resident from the start, as pinned DMA memory
/// is) would not fit in this machine's available memory, before anything is made: the
/// allocation would fail and abort the process, or the kernel would kill it.
fn fits_in_memory(spec: &ScenarioSpec, local: &[u32]) -> Result<(), RunError> {
    let workers = match spec.kind {
        ScenarioKind::FanInRead => local.iter().filter(|&&n| n < spec.readers).count(),
        _ => local.len(),
    } as u64;
    let buffer = slot_buffer_bytes(spec).div_ceil(crate::dma::SLOT_ALIGN) * crate::dma::SLOT_ALIGN;
    let need = workers * u64::from(spec.queue_depth) * 2 * buffer as u64;
    let Some(available) = available_memory_bytes() else { return Ok(()) };
    if need as f64 > available as f64 * DMA_POOLS_MAX_SHARE_OF_AVAILABLE {
        let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
        return Err(RunError::Spec(crate::spec::SpecError {
            knob: "queue_depth",
            reason: format!(
                "the DMA pools of {workers} node(s) would pin {:.1} GiB ({} slots x 2 buffers x {} KiB each), \
                 more than {:.0} % of the {:.1} GiB this machine has available: lower --iodepth, --nodes or --bs",
                gib(need),
                spec.queue_depth,
                buffer / 1024,
                DMA_POOLS_MAX_SHARE_OF_AVAILABLE * 100.0,
                gib(available)
            ),
        }));
    }
    Ok(())
}

/// `MemAvailable` of /proc/meminfo, in bytes; `None` where it cannot be read.
fn available_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn offload_for(ctx: &Ctx, node: u32) -> Result<Offload, RunError> {
    let spec = ctx.spec;
    let buffer = slot_buffer_bytes(spec);
    let cache = CacheIndex::new(spec.cache_capacity_chunks.max(16) as usize).map_err(off_err)?;
    let registry = Registry::new(Arc::new(cache));
    let cfg = OffloadConfig {
        slots: spec.queue_depth as usize,
        in_bytes: buffer,
        out_bytes: buffer,
        batch: spec.batch as usize,
        device_timeout_ns: DEVICE_TIMEOUT_NS,
        engine: EngineConfig {
            fault_seed: spec.seed ^ node as u64,
            faults: ctx.faults.cloned(),
            ..EngineConfig::default()
        },
    };
    match ctx.mode {
        Mode::Host => Offload::host(registry, &cfg),
        Mode::Offload => Offload::dpu(registry, &cfg, ctx.profile),
    }
    .map_err(off_err)
}

fn local_tier(spec: &ScenarioSpec, dir: &Path, chunk_bytes: usize) -> Result<LocalTier, RunError> {
    let buffer = chunk_bytes.div_ceil(4096) * 4096;
    let cfg = LocalTierConfig {
        iodepth: spec.queue_depth.clamp(1, 256),
        direct: spec.direct,
        buffer_size_bytes: buffer,
        max_inflight_bytes: (buffer as u64 * spec.queue_depth.max(1) as u64).max(buffer as u64),
        ..LocalTierConfig::default()
    };
    LocalTier::open(dir, cfg).map_err(tier_err)
}

/// What one process sends the leader: its nodes' outputs and its own figures.
#[derive(Serialize, Deserialize)]
struct ProcessOut {
    rank: u32,
    nodes: Vec<NodeOut>,
    wall_ns: u64,
    cpu_ns: u64,
    copy: Option<CopyOut>,
    notes: Vec<String>,
}

/// The background blob copy of one process (fan-out write).
#[derive(Serialize, Deserialize)]
struct CopyOut {
    copied_bytes: u64,
    copied_chunks: u64,
    lag_ns_total: u64,
    lag_ns_max: u64,
    /// From the first upload to the last completion.
    window_ns: u64,
    backpressure_events: u64,
    multipart_uploads: u64,
    /// Lag histogram, (bucket value, count) pairs.
    lag: Vec<(u64, u64)>,
}

/// Marks a node failed on the way out unless it finished: the others stop waiting for it.
struct NodeGuard<'a> {
    sync: &'a NodeSync<'a>,
    peers: Option<&'a Peers<'a>>,
    done: bool,
}

impl Drop for NodeGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.sync.fail();
            if let Some(p) = self.peers {
                p.fail();
            }
        }
    }
}

/// Runs one scenario in one mode: this process's nodes, then (on the leader) the result of
/// every process's nodes together. Returns `None` on the processes that are not the leader.
pub(crate) fn run(
    spec: &ScenarioSpec,
    mode: Mode,
    profile: &Profile,
    opts: &RunOptions,
    cluster: &dyn Cluster,
) -> Result<Option<RunResult>, RunError> {
    if cluster.ranks() > 1 && spec.nodes != cluster.ranks() {
        return Err(RunError::Cluster(ClusterError(format!(
            "{} nodes on {} MPI ranks: a rank is one node, so --nodes must be the world size",
            spec.nodes,
            cluster.ranks()
        ))));
    }
    same_scenario_everywhere(spec, mode, cluster)?;
    let local: Vec<u32> = (0..spec.nodes).filter(|&n| cluster.rank_of(n) == cluster.rank()).collect();
    fits_in_memory(spec, &local)?;
    let env = Env::new(spec, mode, cluster)?;
    let total = match spec.kind {
        ScenarioKind::FanOutWrite => spec.object_size_bytes * local.len() as u64,
        ScenarioKind::FanOutRead => spec.object_size_bytes * local.len() as u64 * 2,
        ScenarioKind::FanInRead => {
            spec.object_size_bytes
                * (0..spec.nodes).filter(|n| local.contains(&(n % spec.readers))).count() as u64
        }
        ScenarioKind::KvCache => local
            .iter()
            .map(|&n| kv_requests(spec, n).iter().map(|r| r.1).sum::<u64>() * spec.kv_shape.block_bytes())
            .sum(),
    };
    let prog = Prog {
        done: AtomicU64::new(0),
        total,
        mode,
        cb: opts.progress.clone(),
        last: Mutex::new(Instant::now()),
    };
    let notes = Vec::new();

    // Untimed setup: the data the read scenarios read, published by the process that owns
    // it (the model: the leader; a shard: its writer's process), then shared.
    let owned: Vec<ObjectName> = match spec.kind {
        ScenarioKind::FanOutRead if cluster.is_leader() => vec![ObjectName::Model],
        ScenarioKind::FanInRead => local.iter().map(|&n| ObjectName::Shard(n)).collect(),
        _ => Vec::new(),
    };
    let catalog = share_catalog(cluster, publish(spec, &env, &owned)?)?;

    let copier = if spec.kind == ScenarioKind::FanOutWrite {
        let config = BlobCopierConfig {
            upload_concurrency: spec.blob_options.upload_concurrency as usize,
            ..BlobCopierConfig::default()
        };
        Some(
            BlobCopier::start_observed(env.blob.clone(), config, opts.copy_observer.clone())
                .map_err(tier_err)?,
        )
    } else {
        None
    };
    let uploads0 = env.blob.upload_counts();
    let peers = (spec.kind == ScenarioKind::FanOutRead && spec.peer_serving).then(|| Peers {
        plan: PeerPlan::new(
            spec.nodes,
            catalog.first().map_or(1, |(_, c)| c.len().max(1) as u64),
            spec.read_shift,
        ),
        cluster,
        held: Mutex::new(PeerState::default()),
        cv: Condvar::new(),
    });
    let sync = NodeSync {
        parties: local.len(),
        state: Mutex::new(SyncState::default()),
        cv: Condvar::new(),
        cluster,
    };
    let ctx = Ctx {
        spec,
        mode,
        profile,
        faults: opts.faults.as_ref(),
        corrupt: opts.corrupt_cached_chunks,
        env: &env,
        prog: &prog,
        sync: &sync,
        peers: peers.as_ref(),
        catalog: &catalog,
        copier: copier.as_ref(),
    };

    let cpu0 = process_cpu_ns();
    let wall0 = Instant::now();
    let outs: Vec<Result<NodeResult, RunError>> = std::thread::scope(|s| {
        let handles: Vec<_> = local
            .iter()
            .map(|&node| {
                let ctx = &ctx;
                std::thread::Builder::new().name(format!("node{node}")).spawn_scoped(s, move || {
                    let mut guard = NodeGuard { sync: ctx.sync, peers: ctx.peers, done: false };
                    let r = run_node(ctx, node);
                    guard.done = r.is_ok();
                    r
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| Err(RunError::Device("a node thread panicked".into()))),
                Err(e) => {
                    sync.fail();
                    Err(RunError::Device(format!("cannot start a node thread: {e}")))
                }
            })
            .collect()
    });
    let wall_ns = wall0.elapsed().as_nanos() as u64;
    let cpu_ns = process_cpu_ns().saturating_sub(cpu0);

    // The first real error counts, not the "another node failed" of those it released.
    let mut nodes = Vec::new();
    let mut manifests = Vec::new();
    let mut first_err: Option<RunError> = None;
    for o in outs {
        match o {
            Ok((n, m)) => {
                if let Some(n) = n {
                    nodes.push(n);
                }
                manifests.push(m);
            }
            Err(e) => {
                let released = matches!(&e, RunError::Cluster(ClusterError(m)) if m == "another node failed");
                if first_err.is_none() || (!released && first_err.as_ref().is_some_and(is_release)) {
                    first_err = Some(e);
                }
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }

    // The background copy: drained after the timed phase, reported separately.
    let copy = match copier {
        Some(mut copier) => {
            let drained = copier.wait_idle(COPY_DRAIN_TIMEOUT);
            let copied = copier.take_copied();
            let failed = copier.take_failed();
            let broken = copier.broken();
            let lag = copier.lag_counts();
            let stats = copier.shutdown();
            let mut acked = 0u64;
            let mut marked = 0u64;
            for m in manifests.iter_mut().flatten() {
                let shard = m.state().chunks.values().next().map(|e| e.record.shard.clone());
                if let Some(shard) = shard {
                    let marks: Vec<_> =
                        copied.iter().filter(|c| c.key.shard == shard).map(|c| c.to_record()).collect();
                    m.mark_copied(&marks).map_err(tier_err)?;
                }
                acked += m.state().chunks.len() as u64;
                marked += m.state().chunks.values().filter(|e| e.copied.is_some()).count() as u64;
            }
            if !drained || !failed.is_empty() || broken.is_some() || marked < acked {
                let why = broken
                    .or_else(|| failed.first().map(|f| f.error.clone()))
                    .unwrap_or_else(|| format!("the copy did not finish within {COPY_DRAIN_TIMEOUT:?}"));
                let resume = match &spec.work_dir {
                    Some(d) => format!("resume with `dpukit copy --work-dir {}`", d.display()),
                    None => {
                        "the work dir was temporary: run with --work-dir to keep the chunks for `dpukit copy`"
                            .to_string()
                    }
                };
                return Err(RunError::Tier(format!(
                    "blob copy to {} failed: {marked} of {acked} acknowledged chunks copied, the rest are \
                     durable on the local tier only ({}); {resume}",
                    env.blob.info().location,
                    crate::tier::first_line(&why),
                )));
            }
            let uploads = env.blob.upload_counts();
            Some(CopyOut {
                copied_bytes: stats.copied_bytes,
                copied_chunks: stats.copied_chunks,
                lag_ns_total: stats.lag_ns_total,
                lag_ns_max: stats.lag_ns_max,
                window_ns: stats.copy_window_ns,
                backpressure_events: stats.backpressure_events,
                multipart_uploads: uploads.multipart_puts - uploads0.multipart_puts,
                lag,
            })
        }
        None => None,
    };

    // Every process's outputs to the leader, as JSON (the same path in one process).
    let mine = ProcessOut { rank: cluster.rank(), nodes, wall_ns, cpu_ns, copy, notes };
    let bytes = serde_json::to_vec(&mine).map_err(wire_err)?;
    let all = cluster.all_gather(bytes).map_err(RunError::Cluster)?;
    if !cluster.is_leader() {
        return Ok(None);
    }
    let mut procs = Vec::with_capacity(all.len());
    for b in &all {
        procs.push(serde_json::from_slice::<ProcessOut>(b).map_err(wire_err)?);
    }
    let emulator = env.blob.info().emulator;
    let mut result = assemble(spec, mode, profile, cluster, procs, emulator)?;
    label_blob_tier(&mut result, spec, &env);
    Ok(Some(result))
}

/// Records which blob tier the run used and, on the Azure Storage emulator, tags the run's
/// figures whose timing includes blob-tier requests (reads; the copy's backpressure on
/// writes): it is the emulator's speed, not Azure's. The copy's own figures are tagged
/// where they are made, in [`assemble`].
fn label_blob_tier(result: &mut RunResult, spec: &ScenarioSpec, env: &Env) {
    if spec.kind == ScenarioKind::KvCache {
        return;
    }
    let info = env.blob.info().clone();
    let emulator = info.emulator;
    result.blob_tier = Some(info);
    if !emulator {
        return;
    }
    for f in [&mut result.throughput, &mut result.ops_per_s, &mut result.wall] {
        f.emulator = true;
    }
    if spec.kind != ScenarioKind::FanOutWrite {
        for l in result.latency.iter_mut().filter(|l| matches!(l.stage.as_str(), "end_to_end" | "storage_io"))
        {
            l.emulator = true;
        }
    }
    result.notes.push(
        "blob tier: Azure Storage emulator (Azurite); figures tagged [emulator] say nothing of Azure's own speed"
            .into(),
    );
}

/// Every rank must run the same scenario and mode (a launch that gives ranks different
/// options would compare unlike runs); only the work directory may differ. A rank that
/// differs from rank 0 fails, naming itself.
fn same_scenario_everywhere(spec: &ScenarioSpec, mode: Mode, cluster: &dyn Cluster) -> Result<(), RunError> {
    if cluster.ranks() == 1 {
        return Ok(());
    }
    let mut s = spec.clone();
    s.work_dir = None;
    let mine = serde_json::to_vec(&(mode, &s)).map_err(wire_err)?;
    let all = cluster.all_gather(mine.clone()).map_err(RunError::Cluster)?;
    if all.first() != Some(&mine) {
        return Err(RunError::Cluster(ClusterError(format!(
            "rank {} was given a different scenario or mode than rank 0: every rank needs the same options",
            cluster.rank()
        ))));
    }
    Ok(())
}

fn is_release(e: &RunError) -> bool {
    matches!(e, RunError::Cluster(ClusterError(m)) if m == "another node failed")
}

/// What a node thread returns: its output (none for an idle node) and its manifest (writes).
type NodeResult = (Option<NodeOut>, Option<Manifest>);

/// One node's part of the scenario; `None` for a node with nothing to do (a fan-in node
/// that is not a reader), which still takes part in the barriers.
fn run_node(ctx: &Ctx, node: u32) -> Result<NodeResult, RunError> {
    match ctx.spec.kind {
        ScenarioKind::FanOutWrite => fan_out_write(ctx, node).map(|(o, m)| (Some(o), Some(m))),
        ScenarioKind::FanOutRead => fan_out_read(ctx, node).map(|o| (Some(o), None)),
        ScenarioKind::FanInRead => {
            if node < ctx.spec.readers {
                fan_in_read(ctx, node).map(|o| (Some(o), None))
            } else {
                ctx.sync.wait().map(|_| (None, None))
            }
        }
        ScenarioKind::KvCache => kv_cache(ctx, node).map(|o| (Some(o), None)),
    }
}

/// Each node's time and the spread across nodes.
fn per_node(nodes: &[NodeOut], src: Source, cluster: &dyn Cluster) -> Option<PerNode> {
    if nodes.is_empty() {
        return None;
    }
    let mut times: Vec<u64> = nodes.iter().map(|n| n.end_ns).collect();
    times.sort_unstable();
    let median = if times.len() % 2 == 1 {
        times[times.len() / 2] as f64
    } else {
        (times[times.len() / 2 - 1] + times[times.len() / 2]) as f64 / 2.0
    };
    let secs = |ns: f64| Figure { value: ns / 1e9, unit: Unit::Seconds, source: src, emulator: false };
    let mut stragglers: Vec<u32> =
        nodes.iter().filter(|n| n.end_ns as f64 > median * STRAGGLER_FACTOR).map(|n| n.node).collect();
    stragglers.sort_unstable();
    let mut list: Vec<NodeTime> = nodes
        .iter()
        .map(|n| NodeTime {
            node: n.node,
            host: n.host.clone(),
            bytes: n.bytes,
            elapsed: secs(n.end_ns as f64),
        })
        .collect();
    list.sort_by_key(|n| n.node);
    Some(PerNode {
        transport: cluster.transport().name().to_owned(),
        processes: cluster.ranks(),
        elapsed_min: secs(times[0] as f64),
        elapsed_median: secs(median),
        elapsed_max: secs(times[times.len() - 1] as f64),
        stragglers,
        nodes: list,
    })
}

/// `emulator`: the blob tier is the Azure Storage emulator, so the copy's timings are its.
fn assemble(
    spec: &ScenarioSpec,
    mode: Mode,
    profile: &Profile,
    cluster: &dyn Cluster,
    procs: Vec<ProcessOut>,
    emulator: bool,
) -> Result<RunResult, RunError> {
    // Processes run side by side: the run's wall time is the longest; CPU time adds up.
    let wall_ns = procs.iter().map(|p| p.wall_ns).max().unwrap_or(0);
    let cpu_ns: u64 = procs.iter().map(|p| p.cpu_ns).sum();
    let mut notes: Vec<String> = procs.iter().flat_map(|p| p.notes.iter().cloned()).collect();
    if cluster.ranks() > 1 {
        let mut hosts: Vec<&str> =
            procs.iter().flat_map(|p| p.nodes.iter().map(|n| n.host.as_str())).collect();
        hosts.sort_unstable();
        hosts.dedup();
        notes.push(format!(
            "{} MPI ranks, one node each, on {} host(s); machine facts are rank 0's",
            cluster.ranks(),
            hosts.len()
        ));
    }
    let mut extra: Vec<(String, Figure)> = Vec::new();
    let copies: Vec<&CopyOut> = procs.iter().filter_map(|p| p.copy.as_ref()).collect();
    if !copies.is_empty() {
        let copied_bytes: u64 = copies.iter().map(|c| c.copied_bytes).sum();
        let copied_chunks: u64 = copies.iter().map(|c| c.copied_chunks).sum();
        let lag_total: u64 = copies.iter().map(|c| c.lag_ns_total).sum();
        let lag_max = copies.iter().map(|c| c.lag_ns_max).max().unwrap_or(0);
        // Processes copy side by side: the copy's window is the longest one's.
        let window_s = copies.iter().map(|c| c.window_ns).max().unwrap_or(0) as f64 / 1e9;
        let mut lag = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
            .expect("static histogram bounds are valid");
        for (value, count) in copies.iter().flat_map(|c| c.lag.iter()) {
            lag.saturating_record_n(*value, *count);
        }
        let quantile = |q| if lag.is_empty() { 0.0 } else { lag.value_at_quantile(q) as f64 };
        let m = Figure::measured;
        // Timings of the copy are the blob service's: the emulator's, when it is one.
        let timed = |v, unit| Figure::measured(v, unit).on_emulator(emulator);
        extra.push(("blob_copied_bytes".into(), m(copied_bytes as f64, Unit::Bytes)));
        extra.push(("blob_copied_chunks".into(), m(copied_chunks as f64, Unit::Count)));
        extra.push((
            "blob_copy_throughput".into(),
            timed(if window_s > 0.0 { copied_bytes as f64 / window_s } else { 0.0 }, Unit::BytesPerSecond),
        ));
        extra.push(("blob_copy_lag_p50".into(), timed(quantile(0.50), Unit::Nanoseconds)));
        extra.push(("blob_copy_lag_p99".into(), timed(quantile(0.99), Unit::Nanoseconds)));
        let mean_lag = if copied_chunks > 0 { lag_total as f64 / copied_chunks as f64 } else { 0.0 };
        extra.push(("blob_copy_lag_mean".into(), timed(mean_lag, Unit::Nanoseconds)));
        extra.push(("blob_copy_lag_max".into(), timed(lag_max as f64, Unit::Nanoseconds)));
        extra.push((
            "blob_copy_backpressure_events".into(),
            m(copies.iter().map(|c| c.backpressure_events).sum::<u64>() as f64, Unit::Count),
        ));
        extra.push((
            "blob_multipart_uploads".into(),
            m(copies.iter().map(|c| c.multipart_uploads).sum::<u64>() as f64, Unit::Count),
        ));
    }
    let mut nodes: Vec<NodeOut> = procs.into_iter().flat_map(|p| p.nodes).collect();
    nodes.sort_by_key(|n| n.node);

    let bytes: u64 = nodes.iter().map(|n| n.bytes).sum();
    let ops: u64 = nodes.iter().map(|n| n.ops).sum();
    let sim_cpu: u64 = nodes.iter().map(|n| n.sim_cpu_ns).sum();
    let host_cpu_ns = cpu_ns.saturating_sub(sim_cpu);
    let wall_s = wall_ns as f64 / 1e9;

    // Host mode: wall clock. Offload mode: the slowest node's host clock (measured host
    // time plus waits for modelled completions).
    // Both modes time the data path the same way: from each node's start to its end, the
    // slowest node counting (setup such as opening tiers is outside). Host mode: the wall
    // clock, measured. Offload mode: the node's host clock (measured host time plus waits
    // for modelled completions), so modelled; with no device at all it is the wall clock.
    let elapsed_ns = nodes.iter().map(|n| n.end_ns).max().unwrap_or(0).max(1);
    let modelled = mode == Mode::Offload && nodes.iter().any(|n| n.device.is_some());
    let src = if modelled { Source::Modelled } else { Source::Measured };
    let elapsed_s = elapsed_ns as f64 / 1e9;
    let throughput =
        Figure { value: bytes as f64 / elapsed_s, unit: Unit::BytesPerSecond, source: src, emulator: false };
    let ops_per_s =
        Figure { value: ops as f64 / elapsed_s, unit: Unit::OpsPerSecond, source: src, emulator: false };

    let mut e2e = StageHist::new("end_to_end", nodes.first().map_or(Source::Measured, |n| n.e2e.source));
    let mut kernel = nodes
        .first()
        .map(|n| n.kernel.clone())
        .unwrap_or_else(|| StageHist::new("kernels", Source::Measured));
    let mut io = StageHist::new("storage_io", Source::Measured);
    let mut first = true;
    for n in &nodes {
        e2e.merge(&n.e2e);
        if !first {
            kernel.merge(&n.kernel);
        }
        first = false;
        io.merge(&n.io);
    }
    let latency = [&e2e, &kernel, &io].iter().filter(|h| !h.is_empty()).map(|h| h.summary()).collect();

    let mut fallbacks = Fallbacks::default();
    for n in &nodes {
        let f = &n.fallbacks;
        fallbacks.unsupported_ops += f.unsupported_ops;
        fallbacks.after_device_error += f.after_device_error;
        fallbacks.after_timeout += f.after_timeout;
        for r in &f.reasons {
            if !fallbacks.reasons.contains(r) {
                fallbacks.reasons.push(r.clone());
            }
        }
    }

    let device = device_summary(profile, &nodes);
    if let Some(d) = &device {
        if d.late_completions > 0 {
            notes.push(format!(
                "simulator lag: {} completions posted late, max {} ns",
                d.late_completions, d.max_lag_ns
            ));
        }
    }
    if mode == Mode::Offload {
        notes.push(
            "offload throughput combines measured host-side time with modelled device time (docs/RESULTS.md)"
                .into(),
        );
    }

    let mut verification = Verification { ok: true, ..Verification::default() };
    for n in &nodes {
        let v = &n.verification;
        verification.chunks_checked += v.chunks_checked;
        verification.bytes_checked += v.bytes_checked;
        verification.corrupt_detected += v.corrupt_detected;
        verification.refetched += v.refetched;
        verification.ok &= v.ok;
        verification.failures.extend(v.failures.iter().cloned());
    }
    verification.failures.truncate(20);

    // Manifest digest: identical in both modes when the same chunks were produced.
    let mut items: Vec<_> = nodes.iter().flat_map(|n| n.digest_items.iter().copied()).collect();
    items.sort_unstable();
    let mut digest = 0u32;
    for (node, idx, len, crc) in &items {
        let mut b = [0u8; 24];
        b[..4].copy_from_slice(&node.to_le_bytes());
        b[4..12].copy_from_slice(&idx.to_le_bytes());
        b[12..20].copy_from_slice(&len.to_le_bytes());
        b[20..].copy_from_slice(&crc.to_le_bytes());
        digest = crc32c_append(digest, &b);
    }
    extra.push(("manifest_digest".into(), Figure::measured(digest as f64, Unit::Count)));
    extra.push(("manifest_chunks".into(), Figure::measured(items.len() as f64, Unit::Count)));
    let stored: u64 = nodes.iter().map(|n| n.stored_bytes).sum();
    if stored > 0 {
        extra.push(("stored_bytes".into(), Figure::measured(stored as f64, Unit::Bytes)));
        extra.push(("compression_ratio".into(), Figure::measured(bytes as f64 / stored as f64, Unit::Ratio)));
    }
    let (hits, misses): (u64, u64) = nodes.iter().fold((0, 0), |(h, m), n| (h + n.hits, m + n.misses));
    if hits + misses > 0 {
        extra.push((
            "cache_hit_ratio".into(),
            Figure::measured(hits as f64 / (hits + misses) as f64, Unit::Ratio),
        ));
    }
    let egress: u64 = nodes.iter().map(|n| n.blob_egress_bytes).sum();
    let peer: u64 = nodes.iter().map(|n| n.peer_bytes).sum();
    if matches!(spec.kind, ScenarioKind::FanOutRead | ScenarioKind::FanInRead) {
        extra.push(("blob_egress_bytes".into(), Figure::measured(egress as f64, Unit::Bytes)));
        extra.push(("peer_bytes".into(), Figure::measured(peer as f64, Unit::Bytes)));
    }
    extra.push(("simulator_cpu".into(), Figure::measured(sim_cpu as f64 / 1e9, Unit::Seconds)));
    // Per-thread split of the host CPU: the node threads' own data-path work, and the
    // rest of the process (background blob copy, I/O runtime).
    let node_cpu: u64 = nodes.iter().map(|n| n.thread_cpu_ns).sum();
    extra.push(("host_cpu_node_threads".into(), Figure::measured(node_cpu as f64 / 1e9, Unit::Seconds)));
    extra.push((
        "host_cpu_max_node_thread".into(),
        Figure::measured(
            nodes.iter().map(|n| n.thread_cpu_ns).max().unwrap_or(0) as f64 / 1e9,
            Unit::Seconds,
        ),
    ));
    extra.push((
        "host_cpu_background".into(),
        Figure::measured(host_cpu_ns.saturating_sub(node_cpu) as f64 / 1e9, Unit::Seconds),
    ));

    Ok(RunResult {
        schema_version: RESULT_SCHEMA_VERSION,
        kit_version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario: spec.clone(),
        profile: profile.name.clone(),
        mode,
        seed: spec.seed,
        machine: machine_info(),
        bytes,
        ops,
        wall: Figure::measured(wall_s, Unit::Seconds),
        throughput,
        ops_per_s,
        host_cpu: Figure::measured(host_cpu_ns as f64 / 1e9, Unit::Seconds),
        host_cpu_ns_per_byte: Figure::measured(
            if bytes > 0 { host_cpu_ns as f64 / bytes as f64 } else { 0.0 },
            Unit::NanosecondsPerByte,
        ),
        host_cores_busy: Figure::measured(host_cpu_ns as f64 / wall_ns.max(1) as f64, Unit::Cores),
        latency,
        device,
        fallbacks,
        verification,
        extra,
        notes,
        blob_tier: None,
        per_node: per_node(&nodes, src, cluster),
    })
}

fn device_summary(profile: &Profile, nodes: &[NodeOut]) -> Option<DeviceSummary> {
    let devs: Vec<&DeviceOut> = nodes.iter().filter_map(|n| n.device.as_ref()).collect();
    if devs.is_empty() {
        return None;
    }
    let mut resources: Vec<ResourceUse> = Vec::new();
    for d in &devs {
        for r in &d.resources {
            match resources.iter_mut().find(|x| x.name == r.name) {
                Some(x) => {
                    x.jobs += r.jobs;
                    x.busy_ns += r.busy_ns;
                    x.utilization += r.utilization / devs.len() as f64;
                }
                None => {
                    let mut r = r.clone();
                    r.utilization /= devs.len() as f64;
                    resources.push(r);
                }
            }
        }
    }
    let bottleneck = resources
        .iter()
        .filter(|r| r.jobs > 0)
        .max_by(|a, b| a.utilization.total_cmp(&b.utilization))
        .map(|r| r.name.clone());
    let sum = |f: fn(&DeviceOut) -> u64| devs.iter().map(|d| f(d)).sum::<u64>();
    Some(DeviceSummary {
        profile: profile.name.clone(),
        devices: devs.len() as u32,
        makespan_ns: devs.iter().map(|d| d.makespan_ns).max().unwrap_or(0),
        resources,
        bottleneck,
        descriptors: sum(|d| d.descriptors),
        error_completions: sum(|d| d.error_completions),
        injected_errors: sum(|d| d.injected_errors),
        doorbells_dropped: sum(|d| d.doorbells_dropped),
        below_min_efficient_size: sum(|d| d.below_min_efficient_size),
        late_completions: sum(|d| d.late_completions),
        max_lag_ns: devs.iter().map(|d| d.max_lag_ns).max().unwrap_or(0),
    })
}

// ---------------------------------------------------------------------------------------
// Fan-out write

fn shard_name(node: u32) -> String {
    format!("node{node:04}")
}

/// One chunk on its way to the local tier.
struct Staged {
    index: u64,
    offset: u64,
    data: Bytes,
    raw_len: u64,
    crc: u32,
    started_ns: u64,
}

/// Batches of a fan-out write in flight at once on a node's local tier: `queue_depth` chunks
/// in flight as `batch`-chunk batches, and at least two, so one batch is written while the
/// one before it syncs.
pub(crate) fn write_batches_in_flight(spec: &ScenarioSpec) -> usize {
    ((spec.queue_depth / spec.batch.max(1)) as usize).clamp(2, MAX_BATCHES_IN_FLIGHT)
}

/// A batch of a fan-out write in the local tier's pipeline, not yet acknowledged.
struct InFlightBatch {
    batch: BatchId,
    chunks: Vec<Staged>,
    submitted_at: Instant,
}

/// What `commit` and `acknowledge` share on one node.
struct WriteSide<'a> {
    writer: AckedWriter<'a>,
    in_flight: VecDeque<InFlightBatch>,
    shard: &'a str,
    spec: &'a ScenarioSpec,
    copier: &'a BlobCopier,
    prog: &'a Prog,
}

fn fan_out_write(ctx: &Ctx, node: u32) -> Result<(NodeOut, Manifest), RunError> {
    let spec = ctx.spec;
    let copier = ctx.copier.ok_or_else(|| RunError::Tier("no blob copier for a write".into()))?;
    let chunk = spec.chunk_size_bytes as usize;
    let dir = ctx.env.node_dir(node)?;
    let mut local = local_tier(spec, &dir, max_stored(spec, chunk))?;
    let mut manifest = Manifest::open(dir.join("manifest.jsonl")).map_err(tier_err)?;
    let mut out = fan_out_write_batches(ctx, node, &mut local, &mut manifest, copier)?;
    if spec.verify {
        verify_written(spec, &mut local, &manifest, node, &mut out);
    }
    Ok((out, manifest))
}

/// Most bytes of staging buffers a fan-out write node allocates before its timed phase;
/// past them it allocates as it goes (and keeps what it allocated, see [`StagingPool`]).
const STAGING_BYTES: usize = 64 << 20;

/// The timed part of a fan-out write: generate, [compress], checksum and commit every chunk.
fn fan_out_write_batches(
    ctx: &Ctx,
    node: u32,
    local: &mut LocalTier,
    manifest: &mut Manifest,
    copier: &BlobCopier,
) -> Result<NodeOut, RunError> {
    let (spec, prog) = (ctx.spec, ctx.prog);
    let chunk = spec.chunk_size_bytes as usize;
    let chunks = spec.chunks_per_object();
    let mut off = offload_for(ctx, node)?;
    let mut out = NodeOut::new(ctx.mode, node);
    let gen = datagen(spec);
    let seed = object_seed(spec, node as u64);
    let shard = shard_name(node);
    let stride = max_stored(spec, chunk).div_ceil(4096) as u64 * 4096;
    let codec = algorithm(spec);
    let batch_chunks = spec.batch.max(1) as usize;
    let writer = AckedWriter::new(local, manifest, write_batches_in_flight(spec)).map_err(tier_err)?;
    let mut side = WriteSide { writer, in_flight: VecDeque::new(), shard: &shard, spec, copier, prog };
    // Room for the chunks being staged and the batches in the pipeline, and as many again
    // for the copier's lag; no more than the object has, nor than STAGING_BYTES.
    let stored_max = max_stored(spec, chunk);
    let staged_buffers = (batch_chunks * (write_batches_in_flight(spec) + 2))
        .min(chunks as usize)
        .min((STAGING_BYTES / stored_max.max(1)).max(1));
    let mut staging = StagingPool::new(staged_buffers, stored_max);
    out.begin(ctx, &off)?;

    let mut next = 0u64;
    let mut started: HashMap<u64, u64> = HashMap::new();
    let mut compressed_len: HashMap<u64, u64> = HashMap::new();
    let mut staged: Vec<Staged> = Vec::with_capacity(batch_chunks);
    loop {
        while next < chunks {
            let Some(slot) = off.take_slot() else { break };
            let len = chunk.min((spec.object_size_bytes - next * chunk as u64) as usize);
            started.insert(next, off.now_ns());
            {
                let (input, _) = off.slot(slot).map_err(off_err)?;
                gen.fill(seed, next * chunk as u64, &mut input[..len]);
            }
            let user = next << 1;
            match codec {
                Some((algorithm, level)) => off
                    .submit(slot, user, &[SlotOp::Compress { algorithm, level, len: len as u32 }])
                    .map_err(off_err)?,
                None => off
                    .submit(slot, user | 1, &[SlotOp::Crc32c { buf: Buf::In, len: len as u32 }])
                    .map_err(off_err)?,
            }
            next += 1;
        }
        let Some(f) = off.next_finished().map_err(off_err)? else { break };
        out.record_ops(&f);
        let index = f.user >> 1;
        let len = chunk.min((spec.object_size_bytes - index * chunk as u64) as usize);
        let r = f.results[0];
        if r.status != Status::Ok {
            return Err(RunError::Device(format!(
                "{shard} chunk {index}: {} failed: {}",
                if f.user & 1 == 0 { "compress" } else { "crc32c" },
                r.status
            )));
        }
        if f.user & 1 == 0 {
            // Compressed: checksum what will be stored.
            let clen = r.result as u32;
            off.submit(f.slot, (index << 1) | 1, &[SlotOp::Crc32c { buf: Buf::Out, len: clen }])
                .map_err(off_err)?;
            compressed_len.insert(index, clen as u64);
            continue;
        }
        let stored_len =
            if codec.is_some() { compressed_len.remove(&index).unwrap_or(0) } else { len as u64 };
        let data = {
            let (input, output) = off.slot(f.slot).map_err(off_err)?;
            let src = if codec.is_some() { &output[..stored_len as usize] } else { &input[..len] };
            staging.copy(src)
        };
        off.release(f.slot);
        staged.push(Staged {
            index,
            offset: index * stride,
            data,
            raw_len: len as u64,
            crc: r.result as u32,
            started_ns: started.remove(&index).unwrap_or(0),
        });
        if staged.len() >= batch_chunks || (next >= chunks && off.in_flight() == 0) {
            commit(&mut side, &mut staged, &mut off, &mut out)?;
        }
    }
    commit(&mut side, &mut staged, &mut off, &mut out)?;
    // The last batches: every chunk acknowledged before the node's time stops.
    while let Some(done) = side.writer.wait().map_err(tier_err)? {
        acknowledge(&mut side, done, &mut off, &mut out)?;
    }
    out.finish(&off);
    Ok(out)
}

/// Hands staged chunks to the local tier's write pipeline as one batch (waiting for the
/// oldest batch first when the pipeline is full), then acknowledges every batch already
/// durable. The chunks are acknowledged later, by `acknowledge`.
fn commit(
    side: &mut WriteSide<'_>,
    staged: &mut Vec<Staged>,
    off: &mut Offload,
    out: &mut NodeOut,
) -> Result<(), RunError> {
    if !staged.is_empty() {
        while side.writer.is_full() {
            let done = side.writer.wait().map_err(tier_err)?.expect("a full pipeline holds a batch");
            acknowledge(side, done, off, out)?;
        }
        let chunks: Vec<OwnedChunkWrite> = staged
            .iter()
            .map(|s| OwnedChunkWrite {
                chunk_index: s.index,
                offset_bytes: s.offset,
                stored: s.data.clone(),
                uncompressed_len_bytes: s.raw_len,
                compression: algorithm_name(side.spec).to_string(),
                crc32c: s.crc,
            })
            .collect();
        let submitted_at = Instant::now();
        let batch = side.writer.submit(side.shard, chunks).map_err(tier_err)?;
        side.in_flight.push_back(InFlightBatch { batch, chunks: std::mem::take(staged), submitted_at });
    }
    while let Some(done) = side.writer.poll().map_err(tier_err)? {
        acknowledge(side, done, off, out)?;
    }
    Ok(())
}

/// Acknowledges one batch the writer reports durable (local tier synced, manifest records
/// synced): counts its chunks, then queues the background copy.
fn acknowledge(
    side: &mut WriteSide<'_>,
    done: AckedBatch,
    off: &mut Offload,
    out: &mut NodeOut,
) -> Result<(), RunError> {
    let flight = side.in_flight.pop_front().expect("an acknowledged batch was submitted");
    debug_assert_eq!(flight.batch, done.batch, "batches are acknowledged in order");
    // From submission to acknowledged: the write, its sync, and any wait behind earlier batches.
    out.io.record(flight.submitted_at.elapsed().as_nanos() as u64);
    let durable_at = Instant::now();
    let now = off.now_ns();
    for s in flight.chunks {
        out.e2e.record(now.saturating_sub(s.started_ns));
        out.bytes += s.raw_len;
        out.stored_bytes += s.data.len() as u64;
        out.ops += 1;
        out.digest_items.push((out.node, s.index, s.data.len() as u64, s.crc));
        side.prog.add(s.raw_len);
        let job = CopyJob {
            shard: side.shard.to_owned(),
            chunk_index: s.index,
            crc32c: s.crc,
            data: s.data,
            local_durable_at: durable_at,
        };
        // Backpressure: wait for room in the staging queue; a stopped copier is an error.
        side.copier.enqueue(job, COPY_DRAIN_TIMEOUT).map_err(|e| RunError::Tier(e.to_string()))?;
    }
    // Record the copies done so far, so an interrupted run resumes from here.
    let marks: Vec<_> = side.copier.take_copied_of(side.shard).iter().map(|c| c.to_record()).collect();
    side.writer.manifest().mark_copied(&marks).map_err(tier_err)?;
    Ok(())
}

/// Reads every acknowledged chunk back, checks its CRC32C and that it decompresses to the
/// generated bytes.
fn verify_written(
    spec: &ScenarioSpec,
    local: &mut LocalTier,
    manifest: &Manifest,
    node: u32,
    out: &mut NodeOut,
) {
    let gen = datagen(spec);
    let seed = object_seed(spec, node as u64);
    let chunk = spec.chunk_size_bytes as usize;
    let mut raw = vec![0u8; chunk];
    let mut expect = vec![0u8; chunk];
    for entry in manifest.state().chunks.values() {
        let r = &entry.record;
        out.verification.chunks_checked += 1;
        out.verification.bytes_checked += r.uncompressed_len_bytes;
        let stored = match local.read_chunk(&r.shard, r.offset_bytes, r.stored_len_bytes as usize) {
            Ok(b) => b,
            Err(e) => {
                out.fail(format!("{} chunk {}: {e}", r.shard, r.chunk_index));
                continue;
            }
        };
        if crc32c(&stored) != r.crc32c {
            out.verification.corrupt_detected += 1;
            out.fail(format!("{} chunk {}: CRC32C mismatch", r.shard, r.chunk_index));
            continue;
        }
        let n = r.uncompressed_len_bytes as usize;
        let got: &[u8] = match algorithm(spec) {
            Some((a, _)) => {
                match compress::decompress(dpukit_kernels::registry::kernel_algorithm(a), &stored, &mut raw) {
                    Ok(k) if k == n => &raw[..n],
                    Ok(k) => {
                        out.fail(format!(
                            "{} chunk {}: decompressed to {k} bytes, expected {n}",
                            r.shard, r.chunk_index
                        ));
                        continue;
                    }
                    Err(e) => {
                        out.fail(format!("{} chunk {}: {e}", r.shard, r.chunk_index));
                        continue;
                    }
                }
            }
            None => &stored[..],
        };
        gen.fill(seed, r.chunk_index * chunk as u64, &mut expect[..n]);
        if got != &expect[..n] {
            out.fail(format!("{} chunk {}: content differs from what was written", r.shard, r.chunk_index));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Published objects (setup of the read scenarios, untimed)

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum ObjectName {
    /// The model every node loads (fan-out read).
    Model,
    /// The shard node N wrote (fan-in read).
    Shard(u32),
}

impl ObjectName {
    fn shard(self) -> String {
        match self {
            ObjectName::Model => "model".into(),
            ObjectName::Shard(n) => shard_name(n),
        }
    }
    fn seed_id(self) -> u64 {
        match self {
            ObjectName::Model => u64::MAX,
            ObjectName::Shard(n) => n as u64,
        }
    }
}

/// One published chunk: where it is and what it must verify to.
#[derive(Debug, Clone)]
struct PubChunk {
    key: BlobKey,
    stored_len: u32,
    raw_len: u32,
}

type Catalog = Vec<(ObjectName, Vec<PubChunk>)>;

/// Every process's published objects, in object order (the model, then shards by writer).
fn share_catalog(cluster: &dyn Cluster, mine: Catalog) -> Result<Catalog, RunError> {
    type Wire = Vec<(ObjectName, Vec<(String, u32, u32)>)>;
    let wire: Wire = mine
        .into_iter()
        .map(|(name, chunks)| {
            (name, chunks.into_iter().map(|c| (c.key.to_string(), c.stored_len, c.raw_len)).collect())
        })
        .collect();
    let all = cluster.all_gather(serde_json::to_vec(&wire).map_err(wire_err)?).map_err(RunError::Cluster)?;
    let mut catalog = Catalog::new();
    for bytes in all {
        let wire: Wire = serde_json::from_slice(&bytes).map_err(wire_err)?;
        for (name, chunks) in wire {
            let chunks = chunks
                .into_iter()
                .map(|(key, stored_len, raw_len)| {
                    BlobKey::parse(&key).map(|key| PubChunk { key, stored_len, raw_len }).map_err(wire_err)
                })
                .collect::<Result<Vec<_>, _>>()?;
            catalog.push((name, chunks));
        }
    }
    catalog.sort_by_key(|(name, _)| match name {
        ObjectName::Model => (0, 0),
        ObjectName::Shard(n) => (1, *n),
    });
    Ok(catalog)
}

/// Writes the objects to the blob tier, as a previous job would have (untimed).
fn publish(spec: &ScenarioSpec, env: &Env, names: &[ObjectName]) -> Result<Catalog, RunError> {
    let gen = datagen(spec);
    let chunk = spec.chunk_size_bytes as usize;
    let mut raw = vec![0u8; chunk];
    let mut comp = vec![0u8; max_stored(spec, chunk)];
    let mut catalog = Vec::new();
    for &name in names {
        let seed = object_seed(spec, name.seed_id());
        let mut chunks = Vec::new();
        for i in 0..spec.chunks_per_object() {
            let len = chunk.min((spec.object_size_bytes - i * chunk as u64) as usize);
            gen.fill(seed, i * chunk as u64, &mut raw[..len]);
            let stored: &[u8] = match algorithm(spec).and_then(|(a, l)| codec_for(a, l).ok()) {
                Some(codec) => {
                    let n = compress::compress(&codec, &raw[..len], &mut comp).map_err(off_err)?;
                    &comp[..n]
                }
                None => &raw[..len],
            };
            let key =
                env.blob.put_chunk(&name.shard(), i, Bytes::copy_from_slice(stored)).map_err(tier_err)?;
            chunks.push(PubChunk { key, stored_len: stored.len() as u32, raw_len: len as u32 });
        }
        catalog.push((name, chunks));
    }
    Ok(catalog)
}

/// After a cache hit: the location the lookup wrote to the slot's output, and the stored
/// chunk read from the local tier into the slot's input.
fn read_hit(
    off: &mut Offload,
    local: &mut LocalTier,
    shard: &str,
    slot: usize,
    out: &mut NodeOut,
) -> Result<Location, RunError> {
    let loc = {
        let (_, output) = off.slot(slot).map_err(off_err)?;
        let value: [u8; 16] = output[..16].try_into().map_err(|_| RunError::Device("lookup value".into()))?;
        Location::from_bytes(value)
    };
    let t_io = Instant::now();
    let (input, _) = off.slot(slot).map_err(off_err)?;
    let len = (loc.length as usize).min(input.len());
    let mut req = [(loc.offset(), &mut input[..len])];
    local.read_chunks(shard, &mut req).map_err(tier_err)?;
    out.io.record(t_io.elapsed().as_nanos() as u64);
    Ok(loc)
}

fn flip_byte(path: &Path, offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset)?;
    b[0] ^= 0x5a;
    f.write_all_at(&b, offset)?;
    f.sync_data()
}

fn read_at(path: &Path, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    std::fs::File::open(path)?.read_exact_at(buf, offset)
}

/// Verifies a stored chunk in a slot (CRC32C of the input, then decompress into the
/// output) through the offload; returns whether it checks out.
fn verify_in_slot(
    off: &mut Offload,
    out: &mut NodeOut,
    spec: &ScenarioSpec,
    slot: usize,
    stored_len: u32,
    raw_len: u32,
    expect_crc: u32,
) -> Result<bool, RunError> {
    let mut ops = vec![SlotOp::Crc32c { buf: Buf::In, len: stored_len }];
    if let Some((algorithm, _)) = algorithm(spec) {
        ops.push(SlotOp::Decompress { algorithm, len: stored_len });
    }
    off.submit(slot, u64::MAX, &ops).map_err(off_err)?;
    // This node waits for its own verification (the window holds one job here).
    let f = match off.next_finished().map_err(off_err)? {
        Some(f) if f.slot == slot => f,
        Some(_) => return Err(RunError::Device("unexpected job finished".into())),
        None => return Err(RunError::Device("verification job lost".into())),
    };
    out.record_ops(&f);
    let crc_ok = f.results[0].status == Status::Ok && f.results[0].result as u32 == expect_crc;
    let decomp_ok = f.results.get(1).is_none_or(|r| r.status == Status::Ok && r.result == raw_len as u64);
    Ok(crc_ok && decomp_ok)
}

// ---------------------------------------------------------------------------------------
// Fan-out read

fn fan_out_read(ctx: &Ctx, node: u32) -> Result<NodeOut, RunError> {
    let (spec, env, prog, corrupt) = (ctx.spec, ctx.env, ctx.prog, ctx.corrupt);
    let chunk = spec.chunk_size_bytes as usize;
    let dir = env.node_dir(node)?;
    let stored_max = max_stored(spec, chunk);
    let mut local = local_tier(spec, &dir, stored_max)?;
    let mut off = offload_for(ctx, node)?;
    let mut out = NodeOut::new(ctx.mode, node);
    let (_, chunks) = ctx.catalog.first().ok_or_else(|| RunError::Tier("no model was published".into()))?;
    let n = chunks.len() as u64;
    let stride = stored_max.div_ceil(4096) as u64 * 4096;
    let cache_shard = "cache";
    let shard_path = local.shard_path(cache_shard);
    // Nodes start at different chunks so peers can serve each other (a broadcast); the
    // peer plan says where (and who serves whom).
    let plan = PeerPlan::new(spec.nodes, n.max(1), spec.read_shift);
    let start = plan.start(node);
    // Where a chunk received for a peer goes when this node does not need it.
    let mut scratch = Vec::new();
    out.begin(ctx, &off)?;
    for epoch in 0..2u64 {
        if epoch == 1 {
            // Both passes start together, as separate phases.
            let t = Instant::now();
            ctx.sync.wait()?;
            ctx.waited(&mut off, t);
        }
        if epoch == 1 && corrupt > 0 {
            // Fault injection: damage cached chunks on disk between the passes.
            for i in 0..corrupt.min(n) {
                flip_byte(&shard_path, i * stride + (chunks[i as usize].stored_len as u64) / 2)
                    .map_err(|e| io_err(&shard_path, e))?;
            }
        }
        for k in 0..n {
            let i = (start + k) % n;
            let c = &chunks[i as usize];
            let t0 = off.now_ns();
            let key = CacheKey::for_chunk(u64::MAX, i).to_bytes();
            let slot = off.take_slot().ok_or_else(|| RunError::Device("no free slot".into()))?;
            off.submit(slot, i, &[SlotOp::CacheLookup { key }]).map_err(off_err)?;
            let f = off
                .next_finished()
                .map_err(off_err)?
                .ok_or_else(|| RunError::Device("lookup lost".into()))?;
            out.record_ops(&f);
            let hit = f.results[0].status == Status::Ok;
            let mut verified = false;
            if hit {
                out.hits += 1;
                let loc = read_hit(&mut off, &mut local, cache_shard, slot, &mut out)?;
                verified = verify_in_slot(&mut off, &mut out, spec, slot, loc.length, c.raw_len, loc.crc32c)?;
                if !verified {
                    out.verification.corrupt_detected += 1;
                    out.verification.refetched += 1;
                } else if let (0, Some(peers)) = (epoch, ctx.peers) {
                    let held = Held::At { path: shard_path.clone(), offset: loc.offset(), len: loc.length };
                    peers.hold(node, i, held);
                }
            } else {
                out.misses += 1;
            }
            // The cold pass with peer serving: every node takes part in every step (it may
            // serve others); the chunk it receives is used on a miss.
            let t_io = Instant::now();
            let from_peer = match (epoch, ctx.peers) {
                (0, Some(peers)) if verified => {
                    scratch.resize(stored_max, 0);
                    peers.step(node, k, &mut scratch)?;
                    None
                }
                (0, Some(peers)) => {
                    let (input, _) = off.slot(slot).map_err(off_err)?;
                    peers.step(node, k, input)?
                }
                _ => None,
            };
            if !verified {
                // Miss (or a corrupt cached copy): a peer if one has it, else the blob tier;
                // a peer copy that does not verify is dropped for the blob tier's.
                let mut ok = false;
                if let Some(len) = from_peer {
                    out.io.record(t_io.elapsed().as_nanos() as u64);
                    if len == c.stored_len as usize {
                        out.peer_bytes += c.stored_len as u64;
                        ok = verify_in_slot(
                            &mut off,
                            &mut out,
                            spec,
                            slot,
                            c.stored_len,
                            c.raw_len,
                            c.key.crc32c,
                        )?;
                        if !ok {
                            out.verification.corrupt_detected += 1;
                        }
                    }
                }
                if !ok {
                    let t_io = Instant::now();
                    let data =
                        env.blob.get_range_unverified(&c.key, 0..c.stored_len as u64).map_err(tier_err)?;
                    let (input, _) = off.slot(slot).map_err(off_err)?;
                    input[..data.len()].copy_from_slice(&data);
                    out.blob_egress_bytes += data.len() as u64;
                    out.io.record(t_io.elapsed().as_nanos() as u64);
                    ok = verify_in_slot(
                        &mut off,
                        &mut out,
                        spec,
                        slot,
                        c.stored_len,
                        c.raw_len,
                        c.key.crc32c,
                    )?;
                }
                if !ok {
                    out.fail(format!("model chunk {i}: the blob tier's copy does not verify"));
                    if let (0, Some(peers)) = (epoch, ctx.peers) {
                        peers.hold(node, i, Held::Missing);
                    }
                    off.release(slot);
                    continue;
                }
                // Fill the cache: local tier, then the index.
                let offset = i * stride;
                let t_io = Instant::now();
                {
                    let (input, _) = off.slot(slot).map_err(off_err)?;
                    local
                        .write_chunks(cache_shard, &[(offset, &input[..c.stored_len as usize])])
                        .map_err(tier_err)?;
                }
                out.io.record(t_io.elapsed().as_nanos() as u64);
                let loc =
                    Location::new(TIER_LOCAL, 0, offset, c.stored_len, c.key.crc32c).map_err(off_err)?;
                off.submit(slot, i, &[SlotOp::CacheInsert { key, value: loc.to_bytes() }])
                    .map_err(off_err)?;
                let f = off
                    .next_finished()
                    .map_err(off_err)?
                    .ok_or_else(|| RunError::Device("insert lost".into()))?;
                out.record_ops(&f);
                if let (0, Some(peers)) = (epoch, ctx.peers) {
                    peers.hold(node, i, Held::At { path: shard_path.clone(), offset, len: c.stored_len });
                }
            }
            off.release(slot);
            out.e2e.record(off.now_ns().saturating_sub(t0));
            out.bytes += c.raw_len as u64;
            out.ops += 1;
            out.verification.chunks_checked += 1;
            out.verification.bytes_checked += c.raw_len as u64;
            if epoch == 1 {
                out.digest_items.push((node, i, c.stored_len as u64, c.key.crc32c));
            }
            prog.add(c.raw_len as u64);
        }
    }
    out.finish(&off);
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Fan-in read

fn fan_in_read(ctx: &Ctx, reader: u32) -> Result<NodeOut, RunError> {
    let (spec, env, prog) = (ctx.spec, ctx.env, ctx.prog);
    let mut off = offload_for(ctx, reader)?;
    let mut out = NodeOut::new(ctx.mode, reader);
    // Reader r reads the shards of writers r + shift, r + shift + readers, ... (mod nodes):
    // every shard once in all.
    let nodes = spec.nodes as usize;
    let shift = spec.read_shift as usize;
    let mine: Vec<&(ObjectName, Vec<PubChunk>)> = ctx
        .catalog
        .iter()
        .enumerate()
        .filter(|(i, _)| ((i + nodes - shift % nodes) % nodes) as u32 % spec.readers == reader)
        .map(|(_, s)| s)
        .collect();
    out.begin(ctx, &off)?;
    let mut work = mine
        .iter()
        .flat_map(|(name, chunks)| chunks.iter().enumerate().map(move |(i, c)| (*name, i as u64, c)));
    let mut started: HashMap<usize, (ObjectName, u64, PubChunk, u64)> = HashMap::new();
    let mut exhausted = false;
    let read_concurrency = spec.blob_options.read_concurrency.max(1) as usize;
    loop {
        // Fill free slots, fetching up to `read_concurrency` chunks from the blob tier at
        // once; each is verified (CRC32C, decompression) when its job finishes.
        while !exhausted {
            let mut batch = Vec::with_capacity(read_concurrency);
            while batch.len() < read_concurrency {
                let Some(slot) = off.take_slot() else { break };
                let Some((name, i, c)) = work.next() else {
                    off.release(slot);
                    exhausted = true;
                    break;
                };
                batch.push((slot, name, i, c, off.now_ns()));
            }
            if batch.is_empty() {
                break;
            }
            let reqs: Vec<_> =
                batch.iter().map(|(_, _, _, c, _)| (c.key.clone(), 0..c.stored_len as u64)).collect();
            let t_io = Instant::now();
            let fetched = env.blob.get_ranges_unverified(&reqs).map_err(tier_err)?;
            let io_ns = t_io.elapsed().as_nanos() as u64;
            for ((slot, name, i, c, t0), data) in batch.into_iter().zip(fetched) {
                out.io.record(io_ns);
                out.blob_egress_bytes += data.len() as u64;
                {
                    let (input, _) = off.slot(slot).map_err(off_err)?;
                    input[..data.len()].copy_from_slice(&data);
                }
                let mut ops = vec![SlotOp::Crc32c { buf: Buf::In, len: c.stored_len }];
                if let Some((algorithm, _)) = algorithm(spec) {
                    ops.push(SlotOp::Decompress { algorithm, len: c.stored_len });
                }
                off.submit(slot, slot as u64, &ops).map_err(off_err)?;
                started.insert(slot, (name, i, c.clone(), t0));
            }
        }
        // Collect the `read_concurrency` earliest finished jobs (or all there are), so the
        // next fill fetches that many chunks at once again: collecting one job and
        // refilling its slot would fetch one chunk at a time once the queue is full.
        let want = read_concurrency.min(off.in_flight());
        if want == 0 {
            break;
        }
        for _ in 0..want {
            let Some(f) = off.next_finished().map_err(off_err)? else { break };
            out.record_ops(&f);
            let (name, i, c, t0) = started.remove(&f.slot).expect("started job");
            let crc_ok = f.results[0].status == Status::Ok && f.results[0].result as u32 == c.key.crc32c;
            let decomp_ok =
                f.results.get(1).is_none_or(|r| r.status == Status::Ok && r.result == c.raw_len as u64);
            if !(crc_ok && decomp_ok) {
                out.verification.corrupt_detected += 1;
                out.fail(format!("{} chunk {i}: does not verify", name.shard()));
            }
            off.release(f.slot);
            out.e2e.record(off.now_ns().saturating_sub(t0));
            out.bytes += c.raw_len as u64;
            out.ops += 1;
            out.verification.chunks_checked += 1;
            out.verification.bytes_checked += c.raw_len as u64;
            let writer = match name {
                ObjectName::Shard(n) => n,
                ObjectName::Model => u32::MAX,
            };
            out.digest_items.push((writer, i, c.stored_len as u64, c.key.crc32c));
            prog.add(c.raw_len as u64);
        }
    }
    out.finish(&off);
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// KV cache

/// A seeded SplitMix64 stream for request generation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(s) over 0..n by inverse CDF on a precomputed table.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: u64, s: f64) -> Zipf {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                acc += 1.0 / (k as f64).powf(s);
                acc
            })
            .collect();
        for x in &mut cdf {
            *x /= acc;
        }
        Zipf { cdf }
    }
    fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1) as u64
    }
}

/// The requests of one node: (document, prefix blocks). Shared prefixes come from a Zipf
/// over popular documents; the rest are unique to the request.
pub(crate) fn kv_requests(spec: &ScenarioSpec, node: u32) -> Vec<(u64, u64)> {
    let zipf = Zipf::new(KV_POPULAR_DOCS, spec.skew);
    let mut rng = Rng(spec.seed ^ (node as u64).wrapping_mul(0xa076_1d64_78bd_642f));
    (0..spec.kv_requests)
        .map(|req| {
            let shared = rng.unit() < spec.kv_prefix_sharing;
            let doc = if shared {
                zipf.sample(&mut rng)
            } else {
                KV_POPULAR_DOCS + (node as u64) * spec.kv_requests + req
            };
            (doc, 1 + rng.next() % KV_MAX_BLOCKS_PER_REQUEST)
        })
        .collect()
}

fn kv_cache(ctx: &Ctx, node: u32) -> Result<NodeOut, RunError> {
    let (spec, prog) = (ctx.spec, ctx.prog);
    let block = spec.kv_shape.block_bytes() as usize;
    let dir = ctx.env.node_dir(node)?;
    let stored_max = max_stored(spec, block);
    let mut local = local_tier(spec, &dir, stored_max)?;
    let mut off = offload_for(ctx, node)?;
    let mut out = NodeOut::new(ctx.mode, node);
    let gen = datagen(spec);
    let stride = stored_max.div_ceil(4096) as u64 * 4096;
    let capacity = spec.cache_capacity_chunks.max(16);
    // Block storage: a ring of `capacity` x 4 places; a block's place is fixed by its
    // sequence number, and the index never holds more than `capacity` entries.
    let places = capacity * 4;
    let mut next_place = 0u64;
    let shard = "kv";
    let requests = kv_requests(spec, node);
    out.begin(ctx, &off)?;
    for (doc, blocks) in requests {
        for b in 0..blocks {
            let t0 = off.now_ns();
            let key_id = CacheKey::for_chunk(doc, b);
            let key = key_id.to_bytes();
            let slot = off.take_slot().ok_or_else(|| RunError::Device("no free slot".into()))?;
            off.submit(slot, 0, &[SlotOp::CacheLookup { key }]).map_err(off_err)?;
            let f = off
                .next_finished()
                .map_err(off_err)?
                .ok_or_else(|| RunError::Device("lookup lost".into()))?;
            out.record_ops(&f);
            let seed = object_seed(spec, doc ^ 0x4b56);
            let mut served = false;
            if f.results[0].status == Status::Ok {
                let loc = read_hit(&mut off, &mut local, shard, slot, &mut out)?;
                served =
                    verify_in_slot(&mut off, &mut out, spec, slot, loc.length, block as u32, loc.crc32c)?;
                if served {
                    out.hits += 1;
                } else {
                    // Its place was reused by a newer block: detected, served as a miss.
                    out.verification.refetched += 1;
                }
            }
            if !served {
                out.misses += 1;
                // Produce the block (as prefill would), checksum, store, insert.
                let (len, ops): (u32, Vec<SlotOp>) = {
                    let (input, _) = off.slot(slot).map_err(off_err)?;
                    gen.fill(seed, b * block as u64, &mut input[..block]);
                    match algorithm(spec) {
                        Some((algorithm, level)) => {
                            (block as u32, vec![SlotOp::Compress { algorithm, level, len: block as u32 }])
                        }
                        None => (block as u32, vec![SlotOp::Crc32c { buf: Buf::In, len: block as u32 }]),
                    }
                };
                off.submit(slot, 1, &ops).map_err(off_err)?;
                let f = off
                    .next_finished()
                    .map_err(off_err)?
                    .ok_or_else(|| RunError::Device("produce lost".into()))?;
                out.record_ops(&f);
                let (buf, stored_len, crc) = if algorithm(spec).is_some() {
                    let clen = f.results[0].result as u32;
                    off.submit(slot, 2, &[SlotOp::Crc32c { buf: Buf::Out, len: clen }]).map_err(off_err)?;
                    let g = off
                        .next_finished()
                        .map_err(off_err)?
                        .ok_or_else(|| RunError::Device("crc lost".into()))?;
                    out.record_ops(&g);
                    (Buf::Out, clen, g.results[0].result as u32)
                } else {
                    (Buf::In, len, f.results[0].result as u32)
                };
                // Stored form goes to the input buffer's place in the ring.
                let place = next_place % places;
                next_place += 1;
                let offset = place * stride;
                let t_io = Instant::now();
                {
                    let (input, output) = off.slot(slot).map_err(off_err)?;
                    let src = if buf == Buf::Out {
                        &output[..stored_len as usize]
                    } else {
                        &input[..stored_len as usize]
                    };
                    local.write_chunks(shard, &[(offset, src)]).map_err(tier_err)?;
                }
                out.io.record(t_io.elapsed().as_nanos() as u64);
                out.stored_bytes += stored_len as u64;
                let loc = Location::new(TIER_LOCAL, 0, offset, stored_len, crc).map_err(off_err)?;
                off.submit(slot, 3, &[SlotOp::CacheInsert { key, value: loc.to_bytes() }])
                    .map_err(off_err)?;
                let f = off
                    .next_finished()
                    .map_err(off_err)?
                    .ok_or_else(|| RunError::Device("insert lost".into()))?;
                out.record_ops(&f);
                out.digest_items.push((
                    node,
                    doc.wrapping_mul(KV_MAX_BLOCKS_PER_REQUEST) + b,
                    stored_len as u64,
                    crc,
                ));
            }
            off.release(slot);
            out.e2e.record(off.now_ns().saturating_sub(t0));
            out.bytes += block as u64;
            out.ops += 1;
            out.verification.chunks_checked += served as u64;
            out.verification.bytes_checked += if served { block as u64 } else { 0 };
            prog.add(block as u64);
        }
    }
    out.finish(&off);
    Ok(out)
}
