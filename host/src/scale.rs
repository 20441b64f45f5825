//! Scale mode: the four scenarios as a discrete-event simulation of a cluster, for up to
//! 100,000 nodes, on a virtual clock (`dpukit_sim::des`).
//!
//! **Cluster model.** Each node has a data-path thread (the live code runs one per node),
//! a host CPU (`host_cores` cores), an optional DPU, a local tier, and a NIC (one server
//! per direction); a fabric (non-blocking, or a shared core of `nodes x NIC /
//! oversubscription`) joins them to each other and to the blob tier (one aggregate-bandwidth
//! server plus a per-request latency). Every resource is a FIFO server
//! ([`dpukit_sim::des::UnitArena`]); a job holds the node's thread and a core together
//! while it computes. `colocated` puts every node on this machine instead, as a live run
//! does: one set of cores (the machine's), one local file system, no network, and the
//! blob tier is the local file system. There each local write is slowed by every other
//! node writing to the same file system, by the calibrated two-writer slowdown
//! (`crowd_slowdown`), and the blob tier's GETs take turns at one client.
//!
//! **DPU.** A node's DPU is the profile's timing-model resources (doorbell, DMA read and
//! write, cores, engines) kept as compact FIFO servers; every stage's service time comes
//! from timing the same op on the profile's `TimingModel` ([`DpuShape::probe`]), so the
//! formulas are the live mode's. The device fetches a job when its doorbell rings: every
//! `batch` jobs, or when the node waits for a completion, as the live offload does.
//!
//! **Host costs** come from a [`Calibration`] (measured on this machine with the real
//! kernels and tiers), never from constants here: kernel CPU-ns per byte at the chunk
//! size and compressibility, per-job overheads of the offload layer, local-tier write
//! (with fdatasync; a checkpoint's batch in one call priced from the batched measurement)
//! and read, blob GET/PUT, manifest appends. A cost's CPU share holds a
//! core; the rest (a flush to disk) holds the local tier.
//!
//! **Scenarios** follow `scenario.rs` step by step: fan-out read (per chunk: lookup; hit:
//! local read; miss: a peer that has the chunk, else the blob tier; verify; fill the
//! cache; insert; two passes, the second starting on every node once all are done with
//! the first), fan-out write (generate, compress, CRC, stage; commit every
//! `batch` chunks to the write pipeline, which writes and fdatasyncs them while the node
//! goes on, at most `queue_depth / batch` batches (two at least) in flight; acknowledge a
//! batch once durable with a manifest append; copy to the blob tier in the background),
//! fan-in read (readers fetch every shard from the blob tier and verify),
//! KV cache (the same seeded requests; hits from the real cache index).
//!
//! **Batching.** A step's work for `B` consecutive chunks of one node is one event with
//! `B` times the service and the latency (a node waits on each chunk's steps in turn), `B` chosen so the run stays within an event
//! budget; at `B = 1` every chunk is its own event. Peer serving is tracked per block of
//! `B` chunks: the first node to fetch a block from the blob tier serves it to others from
//! the time it has received it.
//!
//! The same spec, seed and calibration give the same result bit for bit.

use crate::calibrate::{Calibration, CalibrationError};
use crate::metrics::{machine_info, StageHist};
use crate::result::{
    DeviceSummary, Fallbacks, Figure, LatencySummary, Mode, ResourceUse, RunResult, Source, Unit,
    Verification, RESULT_SCHEMA_VERSION,
};
use crate::scenario::write_batches_in_flight;
use crate::spec::{ScenarioKind, ScenarioSpec, SpecError};
use dpukit_ffi::Algorithm as AbiAlgorithm;
use dpukit_kernels::cache_index::{CacheIndex, CacheKey, Location};
use dpukit_sim::des::{dpu_resources, DpuShape, FifoServer, Scheduler, UnitArena};
use dpukit_sim::profile::{Algorithm as ProfileAlgorithm, Profile, ProfileKind};
use dpukit_sim::timing::{OpCost, OpKind, SimDuration, SimTime};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Most nodes a scale run models.
pub const MAX_SCALE_NODES: u32 = 100_000;
/// Default event budget: batching keeps a run near or under it.
pub const DEFAULT_MAX_EVENTS: u64 = 40_000_000;
/// NIC bandwidth when the profile names none (assumed: a 100 Gb/s port).
pub const DEFAULT_NIC_BYTES_PER_S: f64 = 100e9 / 8.0;
/// Blob tier aggregate bandwidth (assumed: 100 GB/s, a large object store).
pub const DEFAULT_BLOB_BYTES_PER_S: f64 = 100e9;
/// Blob tier latency per request (assumed: 5 ms to first byte).
pub const DEFAULT_BLOB_LATENCY_NS: u64 = 5_000_000;
/// Local tier capacity per node (assumed: 3.84 TB NVMe).
pub const DEFAULT_LOCAL_CAPACITY_BYTES: u64 = 3_840_000_000_000;

/// Why a scale run could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Calibration(#[from] CalibrationError),
    #[error("cluster: {0}")]
    Cluster(String),
    #[error("model: {0}")]
    Model(String),
}

/// The cluster the scenario runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    /// Every node on this machine (as a live run): shared cores and local tier, no network.
    pub colocated: bool,
    /// Cores per node (colocated: of the machine).
    pub host_cores: u32,
    /// Per NIC, per direction.
    pub nic_bytes_per_s: f64,
    /// Fabric oversubscription: 1 = non-blocking.
    pub oversubscription: f64,
    pub blob_bytes_per_s: f64,
    pub blob_latency_ns: u64,
    pub local_capacity_bytes: u64,
    /// Event budget that sets the batch size (when `batch_chunks` is `None`).
    pub max_events: u64,
    /// Chunks per event; `None` picks the smallest that keeps within `max_events`.
    pub batch_chunks: Option<u32>,
    /// Colocated: core equivalents the machine gives when every core is busy (from
    /// calibration); CPU work stretches by `min(nodes, host_cores) / effective_cores`
    /// when that exceeds 1, as threads sharing fewer real cores do.
    pub effective_cores: f64,
}

impl ClusterSpec {
    /// All nodes on this machine, as a live run: the calibrated machine's cores.
    pub fn this_machine(cal: &Calibration) -> ClusterSpec {
        ClusterSpec {
            colocated: true,
            host_cores: cal.machine.logical_cpus.max(1),
            nic_bytes_per_s: f64::INFINITY,
            oversubscription: 1.0,
            blob_bytes_per_s: f64::INFINITY,
            blob_latency_ns: 0,
            local_capacity_bytes: DEFAULT_LOCAL_CAPACITY_BYTES,
            max_events: DEFAULT_MAX_EVENTS,
            batch_chunks: None,
            effective_cores: cal.effective_cores,
        }
    }

    /// A cluster of machines like this one (cores from calibration), NICs from the
    /// profile's network (else 100 Gb/s), a non-blocking fabric and a remote blob tier.
    pub fn cluster(cal: &Calibration, profile: &Profile) -> ClusterSpec {
        let nic = profile
            .network
            .as_ref()
            .map_or(DEFAULT_NIC_BYTES_PER_S, |n| n.bandwidth_gbit_per_s.value * 1e9 / 8.0);
        ClusterSpec {
            colocated: false,
            host_cores: cal.machine.logical_cpus.max(1),
            nic_bytes_per_s: nic,
            oversubscription: 1.0,
            blob_bytes_per_s: DEFAULT_BLOB_BYTES_PER_S,
            blob_latency_ns: DEFAULT_BLOB_LATENCY_NS,
            local_capacity_bytes: DEFAULT_LOCAL_CAPACITY_BYTES,
            max_events: DEFAULT_MAX_EVENTS,
            batch_chunks: None,
            effective_cores: f64::from(cal.machine.logical_cpus.max(1)),
        }
    }

    fn check(&self) -> Result<(), ScaleError> {
        let bad = |m: String| Err(ScaleError::Cluster(m));
        if self.host_cores == 0 {
            return bad("host_cores must be at least 1".into());
        }
        for (name, v) in
            [("nic_bytes_per_s", self.nic_bytes_per_s), ("blob_bytes_per_s", self.blob_bytes_per_s)]
        {
            if v.is_nan() || v <= 0.0 {
                return bad(format!("{name} must be > 0, got {v}"));
            }
        }
        if !(self.oversubscription.is_finite() && self.oversubscription >= 1.0) {
            return bad(format!("oversubscription must be >= 1, got {}", self.oversubscription));
        }
        if self.max_events < 1000 {
            return bad(format!("max_events must be at least 1000, got {}", self.max_events));
        }
        if !(self.effective_cores.is_finite() && self.effective_cores > 0.0) {
            return bad(format!("effective_cores must be > 0, got {}", self.effective_cores));
        }
        if self.batch_chunks == Some(0) {
            return bad("batch_chunks must be at least 1".into());
        }
        Ok(())
    }

    fn describe(&self) -> String {
        if self.colocated {
            return format!(
                "all nodes on this machine: {} cores shared ({:.2} effective), one local tier, no network",
                self.host_cores, self.effective_cores
            );
        }
        format!(
            "{} cores per node, NIC {:.1} Gb/s per direction, fabric {}, blob tier {:.1} GB/s aggregate and {:.2} ms per request",
            self.host_cores,
            self.nic_bytes_per_s * 8.0 / 1e9,
            if self.oversubscription > 1.0 { format!("{}:1 oversubscribed", self.oversubscription) } else { "non-blocking".into() },
            self.blob_bytes_per_s / 1e9,
            self.blob_latency_ns as f64 / 1e6
        )
    }
}

impl ScenarioSpec {
    /// Checks every knob as [`ScenarioSpec::validate`] does, but allows up to
    /// [`MAX_SCALE_NODES`] nodes (a live run stops at 1024).
    pub fn validate_scale(&self) -> Result<(), SpecError> {
        if self.nodes == 0 || self.nodes > MAX_SCALE_NODES {
            return Err(SpecError {
                knob: "nodes",
                reason: format!("must be 1..={MAX_SCALE_NODES} for a scale run, got {}", self.nodes),
            });
        }
        if self.readers == 0 || self.readers > self.nodes {
            return Err(SpecError {
                knob: "readers",
                reason: format!("must be 1..=nodes ({}), got {}", self.nodes, self.readers),
            });
        }
        let mut live = self.clone();
        live.nodes = self.nodes.min(1024);
        live.readers = self.readers.min(live.nodes);
        live.read_shift = self.read_shift.min(live.nodes - 1);
        live.validate()
    }
}

/// Everything a scale run needs besides the scenario.
#[derive(Debug, Clone)]
pub struct ScaleOptions {
    pub cluster: ClusterSpec,
    pub calibration: Calibration,
    /// Where the calibration came from (a file, or "measured now"), for the record.
    pub calibration_source: String,
}

/// Per-chunk costs of one scenario, from the calibration (ns, wall).
#[derive(Debug, Clone, Copy, Default)]
struct Costs {
    chunk: u64,
    stored: u64,
    datagen_ns: f64,
    compress_ns: f64,
    crc_raw_ns: f64,
    crc_stored_ns: f64,
    decompress_ns: f64,
    memcpy_stored_ns: f64,
    host_job_ns: f64,
    host_insert_ns: f64,
    dev_job_ns: f64,
    local_read_ns: f64,
    local_write_op_ns: f64,
    local_write_byte_ns: f64,
    /// How a write of one chunk (a cache fill, a KV store) shares its wall.
    local_write: IoShares,
    /// Per byte past a write call's first chunk, and how a call of several (a
    /// checkpoint's batch, one sync for it all) shares its wall.
    local_write_more_byte_ns: f64,
    batch_write: IoShares,
    manifest_op_ns: f64,
    manifest_record_ns: f64,
    manifest: IoShares,
    blob_get_ns: f64,
    blob_get_cpu_share: f64,
    blob_get_serial: f64,
    /// (requests, wall ns) of a batch of GETs at once, at the stored chunk size.
    blob_get_batch: Option<(u32, f64)>,
    blob_put_ns: f64,
    blob_put_cpu_share: f64,
}

fn costs(spec: &ScenarioSpec, cal: &Calibration, notes: &mut Vec<String>) -> Costs {
    let chunk = match spec.kind {
        ScenarioKind::KvCache => spec.kv_shape.block_bytes(),
        _ => u64::from(spec.chunk_size_bytes),
    };
    let comp = spec.compressibility;
    let (compress_ns_b, decompress_ns_b, ratio) = match &spec.compression {
        Some(c) => {
            // The registry maps gzip/zlib the same way live runs do.
            match cal.codec(&c.algorithm, c.level) {
                Some(codec) => {
                    if codec.level != c.level {
                        notes.push(format!(
                            "calibration has no {} level {}; used level {}",
                            c.algorithm, c.level, codec.level
                        ));
                    }
                    cal.codec_at(codec, comp, chunk)
                }
                None => {
                    notes.push(format!("calibration has no {}: modelled as uncompressed", c.algorithm));
                    (0.0, 0.0, 1.0)
                }
            }
        }
        None => (0.0, 0.0, 1.0),
    };
    let stored =
        if spec.compression.is_some() { ((chunk as f64 / ratio).round() as u64).max(1) } else { chunk };
    if spec.kind == ScenarioKind::FanInRead
        && spec.blob_options.read_concurrency > 1
        && cal.blob_get_batch.is_none_or(|b| b.requests < 2)
    {
        notes.push(
            "calibration has no GETs at once: a reader's read_concurrency GETs modelled one after another"
                .into(),
        );
    }
    if spec.kind == ScenarioKind::FanOutWrite && spec.batch > 1 && cal.local_write_batch.is_none() {
        notes.push(
            "calibration has no batched local write: each byte of a checkpoint's batch priced as in a write of one chunk"
                .into(),
        );
    }
    // What one local-tier write moves: a checkpoint writes a batch of chunks at once, a
    // cache fill or a KV store one.
    let write_bytes = match spec.kind {
        ScenarioKind::FanOutWrite => stored * u64::from(spec.batch.max(1)),
        _ => stored,
    };
    // A calibration without the two-writer measurement: the flush (the share that is not
    // CPU) holds the disk, the CPU share overlaps.
    let serial = cal.local_write.serial_share_at(write_bytes);
    let write_shares = IoShares {
        cpu: cal.local_write.cpu_share,
        serial: serial.unwrap_or(1.0 - cal.local_write.cpu_share),
        crowd: crowd_slowdown(serial, cal.local_write.cpu_share),
    };
    Costs {
        chunk,
        stored,
        datagen_ns: cal.datagen_ns_per_byte(comp, chunk) * chunk as f64,
        compress_ns: compress_ns_b * chunk as f64,
        crc_raw_ns: cal.crc32c_ns_per_byte(chunk) * chunk as f64,
        crc_stored_ns: cal.crc32c_ns_per_byte(stored) * stored as f64,
        decompress_ns: decompress_ns_b * chunk as f64,
        memcpy_stored_ns: cal.memcpy_ns_per_byte(stored) * stored as f64,
        host_job_ns: cal.host_job_ns,
        host_insert_ns: cal.host_insert_job_ns,
        dev_job_ns: cal.device_job_host_ns,
        local_read_ns: cal.local_read.wall_ns(stored),
        local_write_op_ns: cal.local_write.op_ns,
        local_write_byte_ns: cal.local_write.ns_per_byte,
        local_write: write_shares,
        local_write_more_byte_ns: cal.local_write_more_ns_per_byte(),
        batch_write: IoShares { cpu: cal.local_write_batch_cpu_share(), ..write_shares },
        manifest_op_ns: cal.manifest_append.op_ns,
        manifest_record_ns: cal.manifest_append.ns_per_byte,
        manifest: IoShares {
            cpu: cal.manifest_append.cpu_share,
            serial: 1.0 - cal.manifest_append.cpu_share,
            crowd: crowd_slowdown(cal.local_write.serial_share_small, cal.manifest_append.cpu_share),
        },
        blob_get_ns: cal.blob_get.wall_ns(stored),
        blob_get_cpu_share: cal.blob_get.cpu_share,
        blob_get_serial: cal.blob_get.serial_share_at(stored).unwrap_or(0.0),
        blob_get_batch: cal
            .blob_get_batch
            .filter(|b| b.requests > 1)
            .map(|b| (b.requests, b.wall_ns(stored))),
        blob_put_ns: cal.blob_put.wall_ns(stored),
        blob_put_cpu_share: cal.blob_put.cpu_share,
    }
}

/// How a local-tier op's wall divides: its CPU share holds a core, its serial share the
/// node's disk, and colocated, it takes `crowd` of it more per other writing node.
#[derive(Debug, Clone, Copy, Default)]
struct IoShares {
    cpu: f64,
    serial: f64,
    crowd: f64,
}

/// How much longer a local write (write and fdatasync) takes per other node writing to
/// the same file system, over its wall alone: `2s - 1` of the calibration's two-writer
/// serial share `s`, which is the slowdown two writers back to back measured. Without that
/// measurement, the share that is not CPU stands in for `s`.
///
/// The slowdown does not need the writes to overlap in time. A C probe on this kit's VM
/// (0.53 MB pwrite and fdatasync per op, each thread to its own file, sleeping between
/// ops; one op alone 0.49-0.57 ms): each other writer added 0.25-0.3 ms to every op
/// whether the writers slept 0, 0.45 or 1.2 ms between ops (1 to 4 writers), and 0.12 to
/// 0.29 ms with 3, 10 and 30 ms between ops. So colocated writers do not take turns at a
/// disk here: each slows every write of the others, all run long.
fn crowd_slowdown(serial_share: Option<f64>, cpu_share: f64) -> f64 {
    let s = serial_share.unwrap_or(1.0 - cpu_share);
    (2.0 * s - 1.0).clamp(0.0, 1.0)
}

fn ns(v: f64) -> SimDuration {
    SimDuration::from_ns_f64(v.max(0.0))
}

fn profile_algorithm(name: &str) -> Option<ProfileAlgorithm> {
    match AbiAlgorithm::from_name(name)? {
        AbiAlgorithm::Lz4 => Some(ProfileAlgorithm::Lz4),
        AbiAlgorithm::Zstd => Some(ProfileAlgorithm::Zstd),
        AbiAlgorithm::Gzip | AbiAlgorithm::Zlib => Some(ProfileAlgorithm::Deflate),
    }
}

/// The device jobs a scenario submits, timed on the profile's model.
struct Shapes {
    lookup: DpuShape,
    insert: DpuShape,
    verify: DpuShape,
    compress: Option<DpuShape>,
    crc_stored: DpuShape,
}

fn shapes(
    spec: &ScenarioSpec,
    profile: &Profile,
    c: &Costs,
) -> Result<Shapes, dpukit_sim::timing::ModelError> {
    let alg = spec.compression.as_ref().and_then(|x| profile_algorithm(&x.algorithm));
    let op = |kind, bytes_in, bytes_out| OpCost { kind, bytes_in, bytes_out };
    let mut verify = vec![op(OpKind::Crc32c, c.stored, 0)];
    if let Some(a) = alg {
        verify.push(op(OpKind::Decompress(a), c.stored, c.chunk));
    }
    Ok(Shapes {
        lookup: DpuShape::probe(profile, &[op(OpKind::CacheLookup, 0, 16)])?,
        insert: DpuShape::probe(profile, &[op(OpKind::CacheInsert, 0, 0)])?,
        verify: DpuShape::probe(profile, &verify)?,
        compress: alg
            .map(|a| DpuShape::probe(profile, &[op(OpKind::Compress(a), c.chunk, c.stored)]))
            .transpose()?,
        crc_stored: DpuShape::probe(profile, &[op(OpKind::Crc32c, c.stored, 0)])?,
    })
}

/// A compact event: which node, which token (block), which step.
#[derive(Debug, Clone, Copy)]
struct Ev {
    node: u32,
    token: u32,
    step: Step,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Lookup,
    Fetch,
    Verify,
    Fill,
    Insert,
    Issue,
    Fetched,
    Compressed,
    Checked,
    Done,
}

/// The servers of one node.
#[derive(Debug, Clone, Copy)]
struct NodeServers {
    thread: FifoServer,
    cores: FifoServer,
    disk: FifoServer,
    nic_tx: Option<FifoServer>,
    nic_rx: Option<FifoServer>,
    /// First of this node's DPU servers in `Model::dpu`.
    dpu_first: u32,
}

/// Per-node progress.
#[derive(Debug, Clone, Copy, Default)]
struct NodeState {
    /// Next block of the node's scan (reads) or next block to issue (writes, fan-in).
    next: u32,
    epoch: u8,
    hit: bool,
    from_peer: bool,
    in_flight: u32,
    staged_chunks: u32,
    done_blocks: u32,
    issue_pending: bool,
    /// Fan-in read: tokens of the fetch in progress.
    fetch_batch: u32,
    /// Fan-in read: jobs finished and not yet collected.
    finished: u32,
    /// Fan-in read: jobs the thread waits to collect (0 while it fills slots).
    collecting: u32,
    block_start_ns: u64,
    end_ns: u64,
    kv_req: u32,
    /// Fan-out write: when the node's shard file is free for the next sync (one at a time).
    file_free_ns: u64,
}

/// The model: servers, costs, counters.
struct Model<'a> {
    spec: &'a ScenarioSpec,
    mode: Mode,
    cluster: &'a ClusterSpec,
    c: Costs,
    shapes: Option<Shapes>,
    arena: UnitArena,
    nodes: Vec<NodeServers>,
    state: Vec<NodeState>,
    dpu: Vec<FifoServer>,
    dpu_per_node: usize,
    dpu_names: Vec<(String, u32)>,
    blob: FifoServer,
    fabric: Option<FifoServer>,
    copier: FifoServer,
    sched: Scheduler<Ev>,
    batch: u32,
    blocks: u32,
    /// Fan-out read: who first fetched each block, and from when it can serve it.
    holder: Vec<(u32, u64)>,
    e2e: StageHist,
    host_cpu_ns: f64,
    dev_jobs: u64,
    dev_descriptors: u64,
    egress_bytes: u64,
    peer_bytes: u64,
    hits: u64,
    misses: u64,
    bytes: u64,
    ops: u64,
    stored_bytes: u64,
    blob_put_bytes: u64,
    kv: Vec<Vec<(u32, u32)>>,
    /// Pipelined scenarios: when each in-flight token was issued, by token % queue depth.
    issued_ns: Vec<u64>,
    /// Fan-out write: per node, its commits in the local tier's write pipeline, oldest
    /// first.
    writes: Vec<VecDeque<PendingWrite>>,
    /// Fan-out write: per node, its background copies not yet marked in its manifest: when
    /// each ends, and its chunks, earliest end first.
    copies: Vec<BinaryHeap<Reverse<(SimTime, u32)>>>,
    /// CPU work stretch of colocated nodes sharing fewer real cores (1 otherwise).
    cpu_stretch: f64,
    /// Colocated: the other nodes writing to the same local file system (0 otherwise).
    other_writers: f64,
    /// Fan-out read: nodes done with the cold pass, and when the last of them was; the
    /// warm pass starts on every node then, as the live passes do (a barrier).
    cold_done: u32,
    cold_end: SimTime,
    /// Offload: per node, the device jobs submitted since its last doorbell.
    unrung: Vec<Vec<Unrung>>,
}

/// A device job submitted and not yet rung: the device fetches it at the doorbell (every
/// `batch` jobs, or when the host waits for a completion), as a live DPU polling its queue
/// does. `then` is the node's step when the job completes.
#[derive(Clone, Copy)]
struct Unrung {
    token: u32,
    chunks: u32,
    which: fn(&Shapes) -> &DpuShape,
    then: Step,
}

const NO_HOLDER: u32 = u32::MAX;

/// A fan-out write's commit in the local tier's write pipeline, not yet acknowledged.
#[derive(Debug, Clone, Copy)]
struct PendingWrite {
    /// When its writes and their sync complete; `None` until its sync is pushed.
    done: Option<SimTime>,
    /// Its writes and sync, wall ns.
    wall_ns: f64,
    /// Chunks it commits, and the write batches (local-tier calls) they make.
    chunks: u32,
    batches: u32,
    /// When its first chunk was issued.
    start_ns: u64,
}

impl Model<'_> {
    fn blocks_len(&self, block: u32) -> u32 {
        let chunks = self.chunks_per_object();
        let start = u64::from(block) * u64::from(self.batch);
        (chunks - start).min(u64::from(self.batch)) as u32
    }

    fn chunks_per_object(&self) -> u64 {
        self.spec.chunks_per_object()
    }

    fn offload(&self) -> bool {
        self.mode == Mode::Offload && self.shapes.is_some()
    }

    /// CPU work on the node's thread and a core together.
    fn cpu(&mut self, node: u32, at: SimTime, work_ns: f64) -> SimTime {
        if work_ns <= 0.0 {
            return at;
        }
        let n = self.nodes[node as usize];
        self.host_cpu_ns += work_ns;
        let d = ns(work_ns * self.cpu_stretch);
        // Hold both: start when the thread and a core are free.
        let start = self.earliest(&[n.thread, n.cores], at);
        let bt = self.arena.book(n.thread, start, d);
        let bc = self.arena.book(n.cores, start, d);
        bt.end.max(bc.end)
    }

    /// Earliest time at or after `at` when one unit of each server is free.
    fn earliest(&self, servers: &[FifoServer], at: SimTime) -> SimTime {
        servers.iter().fold(at, |t, s| t.max(self.arena.earliest_free(*s)))
    }

    /// Blocking I/O on the local tier: `wall_ns` shared as `s` says, its serial share on
    /// the node's disk (see [`Model::shared_op`]); then, colocated, `s.crowd` of the wall
    /// more per other node writing to the same file system ([`crowd_slowdown`]).
    fn io(&mut self, node: u32, at: SimTime, wall_ns: f64, s: IoShares) -> SimTime {
        let n = self.nodes[node as usize];
        let t = self.shared_op(node, at, wall_ns, s.cpu, s.serial, n.disk);
        let slowed = wall_ns * s.crowd * self.other_writers;
        if slowed <= 0.0 {
            return t;
        }
        // The wait is the file system's: it holds the node's disk too, so that its
        // utilization (and the bottleneck) shows it.
        let start = self.earliest(&[n.thread, n.disk], t);
        self.arena.book(n.disk, start, ns(slowed));
        self.arena.book(n.thread, start, ns(slowed)).end
    }

    /// A blocking op of `wall_ns` on the node's thread: the `serial` share holds `shared`
    /// too (one op at a time there), the CPU share a core, the rest only the thread. The
    /// calibration measures the shares; with one node all three add up to the wall.
    fn shared_op(
        &mut self,
        node: u32,
        at: SimTime,
        wall_ns: f64,
        cpu_share: f64,
        serial: f64,
        shared: FifoServer,
    ) -> SimTime {
        // An op that costs nothing books nothing: a zero-length booking would still move
        // the shared server's clock to where it is made (servers are booked in the order
        // events are handled), holding another node's earlier op behind it.
        if wall_ns <= 0.0 {
            return at;
        }
        let serial = serial.clamp(0.0, 1.0);
        let cpu_share = cpu_share.clamp(0.0, 1.0);
        let on_core = cpu_share.min(1.0 - serial);
        // CPU the op burns while it holds the shared server (a GET is mostly CPU and
        // partly serial): it holds a core for that long too, from the same start.
        let inside = cpu_share - on_core;
        let t = self.cpu(node, at, wall_ns * on_core);
        let t = if serial > 0.0 {
            let n = self.nodes[node as usize];
            let start = if inside > 0.0 {
                self.earliest(&[n.thread, shared, n.cores], t)
            } else {
                self.earliest(&[n.thread, shared], t)
            };
            if inside > 0.0 {
                self.host_cpu_ns += wall_ns * inside;
                self.arena.book(n.cores, start, ns(wall_ns * inside * self.cpu_stretch));
            }
            let d = ns(wall_ns * serial);
            self.arena.book(n.thread, start, d);
            self.arena.book(shared, start, d).end
        } else {
            t
        };
        self.wait(node, t, wall_ns * (1.0 - serial - on_core))
    }

    /// The writes and sync of a fan-out write batch, pushed at `at` by the node's write
    /// pipeline while its thread goes on: they start when the node's shard file is free
    /// (one sync per file at a time, as the live pipeline keeps it) and the node's disk can
    /// take them, hold the disk for their serial share, and complete their wall after they
    /// start, `s.crowd` of it more per other colocated writer ([`crowd_slowdown`]). Their
    /// CPU share holds a core, not the thread, booked now (see [`acknowledge_write`] for
    /// why now). Returns when they complete.
    fn pipelined_io(&mut self, node: u32, at: SimTime, wall_ns: f64, s: IoShares) -> SimTime {
        let ni = node as usize;
        let at = at.max(SimTime::from_ns(self.state[ni].file_free_ns));
        if wall_ns <= 0.0 {
            return at;
        }
        let n = self.nodes[ni];
        let cpu = wall_ns * s.cpu.clamp(0.0, 1.0);
        if cpu > 0.0 {
            self.host_cpu_ns += cpu;
            self.arena.book(n.cores, at, ns(cpu * self.cpu_stretch));
        }
        let serial = s.serial.clamp(0.0, 1.0);
        let slowed = wall_ns * s.crowd * self.other_writers;
        let start = if serial > 0.0 || slowed > 0.0 {
            let start = self.earliest(&[n.disk], at);
            self.arena.book(n.disk, start, ns(wall_ns * serial + slowed)).start
        } else {
            at
        };
        let done = start + ns(wall_ns + slowed);
        self.state[ni].file_free_ns = done.as_ns();
        done
    }

    /// A wait that holds only the node's thread (a blocking call on no modelled resource).
    fn wait(&mut self, node: u32, at: SimTime, wall_ns: f64) -> SimTime {
        if wall_ns <= 0.0 {
            return at;
        }
        let th = self.nodes[node as usize].thread;
        self.arena.book(th, at, ns(wall_ns)).end
    }

    /// A device job the host waits for: host-side submit and poll on the CPU, then (the
    /// doorbell rung at once) the DPU's stages.
    fn device(&mut self, node: u32, at: SimTime, which: fn(&Shapes) -> &DpuShape, times: u32) -> SimTime {
        let t = self.cpu(node, at, self.c.dev_job_ns * f64::from(times));
        self.on_device(node, t, which, times)
    }

    /// A device job the host goes on from: its host-side cost now, its DPU stages once
    /// its doorbell rings ([`Model::ring`]), which this submit does when it makes `batch`
    /// unrung jobs. Returns when the node's thread is free.
    fn submit_device(&mut self, node: u32, at: SimTime, job: Unrung) -> Result<SimTime, ScaleError> {
        let t = self.cpu(node, at, self.c.dev_job_ns * f64::from(job.chunks));
        let unrung = &mut self.unrung[node as usize];
        unrung.push(job);
        let jobs: u32 = unrung.iter().map(|j| j.chunks).sum();
        if jobs >= self.spec.batch.max(1) {
            self.ring(node, t)?;
        }
        Ok(t)
    }

    /// The node's doorbell: the device fetches every job submitted since the last one.
    fn ring(&mut self, node: u32, at: SimTime) -> Result<(), ScaleError> {
        let mut jobs = std::mem::take(&mut self.unrung[node as usize]);
        for j in &jobs {
            let done = self.on_device(node, at, j.which, j.chunks);
            self.schedule(done, node, j.token, j.then)?;
        }
        // The emptied list goes back, to be reused without allocating.
        jobs.clear();
        self.unrung[node as usize] = jobs;
        Ok(())
    }

    /// A job's stages on the node's DPU, fetched at `t`.
    fn on_device(&mut self, node: u32, t: SimTime, which: fn(&Shapes) -> &DpuShape, times: u32) -> SimTime {
        let Some(shapes) = &self.shapes else { return t };
        let shape = which(shapes);
        self.dev_jobs += u64::from(times);
        self.dev_descriptors += shape.ops.len() as u64 * u64::from(times);
        let first = self.nodes[node as usize].dpu_first as usize;
        let servers = &self.dpu[first..first + self.dpu_per_node];
        shape.book(&mut self.arena, servers, t, times)
    }

    /// `chunks` blob-tier GETs of stored chunks, one after another, each copied into a
    /// slot. Colocated nodes share one client: the calibrated serial share of a GET holds
    /// the blob tier's server. In a cluster each node has its own client, and the network
    /// and the blob tier's bandwidth are modelled by [`Model::transfer`].
    fn blob_get(&mut self, node: u32, at: SimTime, chunks: u32) -> SimTime {
        self.blob_get_batch(node, at, chunks, 1)
    }

    /// `chunks` blob-tier GETs made `lanes` at a time through the node's client (a
    /// reader's `get_ranges_unverified` with `read_concurrency` requests in flight), each
    /// then copied into a slot. The node's thread waits for each batch of `lanes`, whose
    /// wall comes from the calibration (see [`Model::get_batch_ns`]).
    fn blob_get_batch(&mut self, node: u32, at: SimTime, chunks: u32, lanes: u32) -> SimTime {
        let lanes = lanes.clamp(1, chunks.max(1));
        let rest = chunks % lanes;
        let wall = f64::from(chunks / lanes) * self.get_batch_ns(lanes)
            + if rest > 0 { self.get_batch_ns(rest) } else { 0.0 };
        let serial = if self.cluster.colocated { self.c.blob_get_serial } else { 0.0 };
        let t = self.shared_op(node, at, wall, self.c.blob_get_cpu_share, serial, self.blob);
        self.cpu(node, t, self.c.memcpy_stored_ns * f64::from(chunks))
    }

    /// Wall of `k` GETs at once through one client: one GET, plus for each further
    /// request what the calibration's batch of several added per request over one (a
    /// straight line through the two measurements, extended past the larger). Without
    /// that measurement, one after another.
    fn get_batch_ns(&self, k: u32) -> f64 {
        let one = self.c.blob_get_ns;
        let per_more = match self.c.blob_get_batch {
            Some((n, wall)) if n > 1 => ((wall - one) / f64::from(n - 1)).max(0.0),
            _ => one,
        };
        one + per_more * f64::from(k.saturating_sub(1))
    }

    /// A transfer over the network into `node`: from `source` (a peer's NIC, or the blob
    /// tier), streaming: each later hop starts when the one before starts.
    /// `requests` rounds of blob requests are made one after another, each paying the
    /// latency.
    fn transfer(
        &mut self,
        node: u32,
        at: SimTime,
        bytes: u64,
        from_peer: Option<u32>,
        requests: u32,
    ) -> SimTime {
        if self.cluster.colocated {
            return at;
        }
        let mut start = at;
        let mut end = at;
        let hop =
            |arena: &mut UnitArena, s: FifoServer, rate: f64, start: &mut SimTime, end: &mut SimTime| {
                let b = arena.book(s, *start, ns(bytes as f64 / rate * 1e9));
                *start = b.start;
                *end = (*end).max(b.end);
            };
        match from_peer {
            Some(p) => {
                if let Some(tx) = self.nodes[p as usize].nic_tx {
                    hop(&mut self.arena, tx, self.cluster.nic_bytes_per_s, &mut start, &mut end);
                }
            }
            None => {
                let blob = self.blob;
                hop(&mut self.arena, blob, self.cluster.blob_bytes_per_s, &mut start, &mut end);
                start +=
                    SimDuration::from_ns(self.cluster.blob_latency_ns.saturating_mul(u64::from(requests)));
                end = end.max(start);
            }
        }
        if let Some(core) = self.fabric {
            let rate = self.fabric_rate();
            hop(&mut self.arena, core, rate, &mut start, &mut end);
        }
        if let Some(rx) = self.nodes[node as usize].nic_rx {
            hop(&mut self.arena, rx, self.cluster.nic_bytes_per_s, &mut start, &mut end);
        }
        end
    }

    /// A transfer out of `node` to the blob tier (background copy).
    fn upload(&mut self, node: u32, at: SimTime, bytes: u64) -> SimTime {
        if self.cluster.colocated {
            return at;
        }
        let mut t = at;
        let mut end = at;
        let rate = self.cluster.nic_bytes_per_s;
        if let Some(tx) = self.nodes[node as usize].nic_tx {
            let b = self.arena.book(tx, t, ns(bytes as f64 / rate * 1e9));
            t = b.start;
            end = end.max(b.end);
        }
        if let Some(core) = self.fabric {
            let r = self.fabric_rate();
            let b = self.arena.book(core, t, ns(bytes as f64 / r * 1e9));
            t = b.start;
            end = end.max(b.end);
        }
        let b = self.arena.book(self.blob, t, ns(bytes as f64 / self.cluster.blob_bytes_per_s * 1e9));
        end.max(b.end)
    }

    fn fabric_rate(&self) -> f64 {
        f64::from(self.spec.nodes) * self.cluster.nic_bytes_per_s / self.cluster.oversubscription
    }

    fn schedule(&mut self, at: SimTime, node: u32, token: u32, step: Step) -> Result<(), ScaleError> {
        self.sched.schedule(at, Ev { node, token, step }).map_err(|e| ScaleError::Model(e.to_string()))
    }

    fn issued_slot(&self, node: u32, token: u32) -> usize {
        node as usize * self.spec.queue_depth as usize + (token % self.spec.queue_depth) as usize
    }

    fn finish_chunks(&mut self, node: u32, chunks: u32, start_ns: u64, now: SimTime) {
        let per_chunk = now.as_ns().saturating_sub(start_ns) / u64::from(chunks.max(1));
        for _ in 0..chunks {
            self.e2e.record(per_chunk);
        }
        self.bytes += self.c.chunk * u64::from(chunks);
        self.ops += u64::from(chunks);
        let st = &mut self.state[node as usize];
        st.end_ns = st.end_ns.max(now.as_ns());
    }
}

/// Runs `spec` in scale mode.
pub fn run_scale(
    spec: &ScenarioSpec,
    mode: Mode,
    profile: &Profile,
    opts: &ScaleOptions,
) -> Result<RunResult, ScaleError> {
    spec.validate_scale()?;
    opts.cluster.check()?;
    let wall0 = std::time::Instant::now();
    let cal = &opts.calibration;
    let cluster = &opts.cluster;
    let mut notes = Vec::new();
    let c = costs(spec, cal, &mut notes);

    // The device: the profile's timing model, or none (host-only: every op on the CPU).
    let (shapes, dpu_names) = if mode == Mode::Offload {
        match (shapes(spec, profile, &c), dpu_resources(profile)) {
            (Ok(s), Ok(names)) => (Some(s), names),
            (Err(e), _) | (_, Err(e)) => {
                if profile.kind != ProfileKind::HostOnly {
                    return Err(ScaleError::Model(e.to_string()));
                }
                notes.push(format!(
                    "profile `{}` has no device: every op modelled on the host CPU",
                    profile.name
                ));
                (None, Vec::new())
            }
        }
    } else {
        (None, Vec::new())
    };

    let chunks = match spec.kind {
        ScenarioKind::KvCache => 0,
        _ => spec.chunks_per_object(),
    };
    let kv: Vec<Vec<(u32, u32)>> =
        if spec.kind == ScenarioKind::KvCache { kv_plan(spec) } else { Vec::new() };
    let kv_blocks: u64 = kv.iter().map(|r| r.iter().map(|&(h, m)| u64::from(h + m)).sum::<u64>()).sum();
    // Events per chunk-step, to size batches within the budget.
    let (workers, steps_per_chunk, passes) = match spec.kind {
        ScenarioKind::FanOutRead => (spec.nodes, 5, 2),
        ScenarioKind::FanOutWrite => (spec.nodes, 4, 1),
        ScenarioKind::FanInRead => (spec.readers, 3, 1),
        ScenarioKind::KvCache => (spec.nodes, 5, 1),
    };
    let total_chunk_steps = match spec.kind {
        ScenarioKind::FanInRead => u64::from(spec.nodes) * chunks * steps_per_chunk,
        ScenarioKind::KvCache => kv_blocks * steps_per_chunk,
        _ => u64::from(workers) * chunks * steps_per_chunk * passes,
    };
    let batch = match cluster.batch_chunks {
        Some(b) => b,
        None => total_chunk_steps.div_ceil(cluster.max_events).max(1).min(u64::from(u32::MAX)) as u32,
    };
    let batch = if spec.kind == ScenarioKind::KvCache { 1 } else { batch.min(chunks.max(1) as u32) };
    let blocks =
        if spec.kind == ScenarioKind::KvCache { 0 } else { chunks.div_ceil(u64::from(batch)) as u32 };

    // Servers.
    let mut arena = UnitArena::new();
    let shared_cores = cluster.colocated.then(|| arena.add(cluster.host_cores));
    let blob = arena.add(1);
    // The background copy uploads `upload_concurrency` chunks at once, as the live copier does.
    let copier = arena.add(spec.blob_options.upload_concurrency.max(1));
    let fabric = (!cluster.colocated && cluster.oversubscription > 1.0).then(|| arena.add(1));
    let mut nodes = Vec::with_capacity(spec.nodes as usize);
    let mut dpu = Vec::new();
    for _ in 0..spec.nodes {
        let thread = arena.add(1);
        let cores = shared_cores.unwrap_or_else(|| arena.add(cluster.host_cores));
        // Each node its own disk server, colocated too: what colocated writers do to each
        // other is `other_writers` ([`crowd_slowdown`]), not turns at one server.
        let disk = arena.add(1);
        let (nic_tx, nic_rx) =
            if cluster.colocated { (None, None) } else { (Some(arena.add(1)), Some(arena.add(1))) };
        let dpu_first = dpu.len() as u32;
        for (_, units) in &dpu_names {
            dpu.push(arena.add(*units));
        }
        nodes.push(NodeServers { thread, cores, disk, nic_tx, nic_rx, dpu_first });
    }
    let pending = (spec.nodes as usize) * (spec.queue_depth as usize + 2);
    let mut m = Model {
        spec,
        mode,
        cluster,
        c,
        shapes,
        arena,
        nodes,
        state: vec![NodeState::default(); spec.nodes as usize],
        dpu,
        dpu_per_node: dpu_names.len(),
        dpu_names,
        blob,
        fabric,
        copier,
        sched: Scheduler::with_capacity(pending),
        batch,
        blocks,
        holder: vec![(NO_HOLDER, 0); blocks as usize],
        e2e: StageHist::new("end_to_end", Source::Modelled),
        host_cpu_ns: 0.0,
        dev_jobs: 0,
        dev_descriptors: 0,
        egress_bytes: 0,
        peer_bytes: 0,
        hits: 0,
        misses: 0,
        bytes: 0,
        ops: 0,
        stored_bytes: 0,
        blob_put_bytes: 0,
        kv,
        issued_ns: vec![0; workers as usize * spec.queue_depth as usize],
        writes: vec![
            VecDeque::new();
            if spec.kind == ScenarioKind::FanOutWrite { workers as usize } else { 0 }
        ],
        copies: vec![
            BinaryHeap::new();
            if spec.kind == ScenarioKind::FanOutWrite { workers as usize } else { 0 }
        ],
        other_writers: if cluster.colocated && spec.kind != ScenarioKind::FanInRead {
            f64::from(workers.saturating_sub(1))
        } else {
            0.0
        },
        cpu_stretch: if cluster.colocated {
            (f64::from(workers.min(cluster.host_cores)) / cluster.effective_cores).max(1.0)
        } else {
            1.0
        },
        cold_done: 0,
        cold_end: SimTime::ZERO,
        unrung: vec![Vec::new(); if mode == Mode::Offload { workers as usize } else { 0 }],
    };

    // Start every worker at time zero.
    for node in 0..workers {
        let st = &mut m.state[node as usize];
        match spec.kind {
            ScenarioKind::FanOutRead => {
                // Staggered starts, as live nodes do, so peers can serve each other.
                st.next = ((u64::from(node) * u64::from(blocks)) / u64::from(spec.nodes)) as u32;
                m.schedule(SimTime::ZERO, node, 0, Step::Lookup)?;
            }
            ScenarioKind::KvCache => m.schedule(SimTime::ZERO, node, 0, Step::Lookup)?,
            _ => {
                st.issue_pending = true;
                m.schedule(SimTime::ZERO, node, 0, Step::Issue)?;
            }
        }
    }
    while let Some((now, ev)) = m.sched.pop() {
        match spec.kind {
            ScenarioKind::FanOutRead => fan_out_read(&mut m, now, ev)?,
            ScenarioKind::FanOutWrite => fan_out_write(&mut m, now, ev)?,
            ScenarioKind::FanInRead => fan_in_read(&mut m, now, ev)?,
            ScenarioKind::KvCache => kv_cache(&mut m, now, ev)?,
        }
    }
    debug_assert!(m.unrung.iter().all(Vec::is_empty), "device jobs submitted and never rung");
    let events = m.sched.processed();
    assemble(m, profile, opts, workers, events, wall0.elapsed().as_secs_f64(), notes)
}

// ---------------------------------------------------------------------------------------
// Fan-out read: per block, lookup -> fetch (or local read) -> verify -> fill -> insert;
// a cold pass, then, once every node is done with it, a warm pass. A live offload node
// keeps that wait off its own clock (its clock is virtual); here every clock is the model's,
// so a node's completion includes it, as a real node's would.

fn fan_out_read(m: &mut Model<'_>, now: SimTime, ev: Ev) -> Result<(), ScaleError> {
    let node = ev.node;
    let ni = node as usize;
    let k = m.blocks;
    let block = m.state[ni].next % k;
    let b = m.blocks_len(block);
    let off = m.offload();
    match ev.step {
        Step::Lookup => {
            m.state[ni].block_start_ns = now.as_ns();
            // Warm pass hits when the node's cache holds the whole object; a cyclic scan
            // larger than the cache evicts each chunk before it comes round again.
            let cached_chunks = m.chunks_per_object();
            let fits = cached_chunks <= m.spec.cache_capacity_chunks.max(16)
                && cached_chunks * m.c.stored <= m.cluster.local_capacity_bytes;
            m.state[ni].hit = m.state[ni].epoch == 1 && fits;
            let t = if off {
                m.device(node, now, |s| &s.lookup, b)
            } else {
                m.cpu(node, now, m.c.host_job_ns * f64::from(b))
            };
            m.schedule(t, node, 0, Step::Fetch)
        }
        Step::Fetch => {
            let stored = m.c.stored * u64::from(b);
            let t = if m.state[ni].hit {
                m.hits += u64::from(b);
                m.cpu(node, now, m.c.local_read_ns * f64::from(b))
            } else {
                m.misses += u64::from(b);
                let (h, ready_ns) = m.holder[block as usize];
                if m.spec.peer_serving && h != NO_HOLDER {
                    m.state[ni].from_peer = true;
                    m.peer_bytes += stored;
                    let from = SimTime::from_ns(ready_ns).max(now);
                    let received = if h == node { from } else { m.transfer(node, from, stored, Some(h), b) };
                    m.cpu(node, received, m.c.local_read_ns * f64::from(b))
                } else {
                    m.state[ni].from_peer = false;
                    m.egress_bytes += stored;
                    let received = m.transfer(node, now, stored, None, b);
                    let t = m.blob_get(node, received, b);
                    if m.spec.peer_serving && m.holder[block as usize].0 == NO_HOLDER {
                        m.holder[block as usize] = (node, t.as_ns());
                    }
                    t
                }
            };
            m.schedule(t, node, 0, Step::Verify)
        }
        Step::Verify => {
            let t = if off {
                m.device(node, now, |s| &s.verify, b)
            } else {
                m.cpu(node, now, (m.c.host_job_ns + m.c.crc_stored_ns + m.c.decompress_ns) * f64::from(b))
            };
            if m.state[ni].hit {
                next_read_block(m, node, t)
            } else {
                m.schedule(t, node, 0, Step::Fill)
            }
        }
        Step::Fill => {
            let wall = (m.c.local_write_op_ns + m.c.local_write_byte_ns * m.c.stored as f64) * f64::from(b);
            let t = m.io(node, now, wall, m.c.local_write);
            m.schedule(t, node, 0, Step::Insert)
        }
        Step::Insert => {
            let t = if off {
                m.device(node, now, |s| &s.insert, b)
            } else {
                m.cpu(node, now, m.c.host_insert_ns * f64::from(b))
            };
            next_read_block(m, node, t)
        }
        _ => Ok(()),
    }
}

fn next_read_block(m: &mut Model<'_>, node: u32, t: SimTime) -> Result<(), ScaleError> {
    let ni = node as usize;
    let block = m.state[ni].next % m.blocks;
    let b = m.blocks_len(block);
    let start = m.state[ni].block_start_ns;
    m.finish_chunks(node, b, start, t);
    let st = &mut m.state[ni];
    st.next += 1;
    st.done_blocks += 1;
    if st.done_blocks == m.blocks {
        st.done_blocks = 0;
        st.epoch += 1;
        if st.epoch >= 2 {
            return Ok(());
        }
        // The warm pass starts on every node at once, when the last one is done with the
        // cold pass (the live run's barrier between the passes).
        m.cold_done += 1;
        m.cold_end = m.cold_end.max(t);
        if m.cold_done < m.spec.nodes {
            return Ok(());
        }
        for n in 0..m.spec.nodes {
            m.schedule(m.cold_end, n, 0, Step::Lookup)?;
        }
        return Ok(());
    }
    m.schedule(t, node, 0, Step::Lookup)
}

// ---------------------------------------------------------------------------------------
// Fan-out write: issue (generate [+ compress + CRC on the host]) -> [device compress ->
// device CRC] -> stage; commit every `batch` chunks to the write pipeline; acknowledge the
// durable ones (manifest append); background copy to the blob tier.

fn fan_out_write(m: &mut Model<'_>, now: SimTime, ev: Ev) -> Result<(), ScaleError> {
    let node = ev.node;
    let ni = node as usize;
    let off = m.offload();
    match ev.step {
        Step::Issue => {
            m.state[ni].issue_pending = false;
            let st = m.state[ni];
            if st.next >= m.blocks || st.in_flight >= m.spec.queue_depth {
                return Ok(());
            }
            let token = st.next;
            let b = m.blocks_len(token);
            m.state[ni].next += 1;
            m.state[ni].in_flight += 1;
            let fb = f64::from(b);
            let t = if off {
                m.cpu(node, now, m.c.datagen_ns * fb)
            } else {
                let comp = if m.spec.compression.is_some() {
                    m.c.compress_ns + m.c.crc_stored_ns
                } else {
                    m.c.crc_raw_ns
                };
                m.cpu(node, now, (m.c.datagen_ns + comp + m.c.host_job_ns + m.c.memcpy_stored_ns) * fb)
            };
            let slot = m.issued_slot(node, token);
            m.issued_ns[slot] = now.as_ns();
            if m.state[ni].staged_chunks == 0 && m.state[ni].block_start_ns == 0 {
                m.state[ni].block_start_ns = now.as_ns();
            }
            let t = if off {
                let which: fn(&Shapes) -> &DpuShape =
                    if m.shapes.as_ref().is_some_and(|s| s.compress.is_some()) {
                        |s| s.compress.as_ref().expect("compressing")
                    } else {
                        |s| &s.crc_stored
                    };
                let then = if m.spec.compression.is_some() { Step::Compressed } else { Step::Checked };
                m.submit_device(node, t, Unrung { token, chunks: b, which, then })?
            } else {
                m.schedule(t, node, token, Step::Checked)?;
                t
            };
            if m.state[ni].next < m.blocks && m.state[ni].in_flight < m.spec.queue_depth {
                m.state[ni].issue_pending = true;
                m.schedule(t, node, 0, Step::Issue)?;
            } else if off {
                // No slot left to fill: the live thread waits for a completion, which
                // rings the doorbell for what it submitted.
                m.ring(node, t)?;
            }
            Ok(())
        }
        Step::Compressed => {
            let b = m.blocks_len(ev.token);
            let done = m.device(node, now, |s| &s.crc_stored, b);
            m.schedule(done, node, ev.token, Step::Checked)
        }
        Step::Checked => {
            let b = m.blocks_len(ev.token);
            let t = if off { m.cpu(node, now, m.c.memcpy_stored_ns * f64::from(b)) } else { now };
            let st = &mut m.state[ni];
            st.in_flight -= 1;
            st.staged_chunks += b;
            let last = st.next >= m.blocks && st.in_flight == 0;
            let mut t = t;
            if st.staged_chunks >= m.spec.batch || last {
                let staged = st.staged_chunks;
                st.staged_chunks = 0;
                let start = st.block_start_ns;
                let calls = staged.div_ceil(m.spec.batch);
                let bytes = m.c.stored as f64 * f64::from(staged);
                // A call's first chunk costs what a write of one chunk does; every byte
                // after it, what a byte of a batch does.
                let first = m.c.local_write_op_ns + m.c.local_write_byte_ns * m.c.stored as f64;
                let more = bytes - f64::from(calls) * m.c.stored as f64;
                let write = first * f64::from(calls) + m.c.local_write_more_byte_ns * more;
                // The local tier's write pipeline, as the live `commit` drives it: the
                // batches handed over before have their syncs pushed now (the pipeline
                // pushes a batch's fdatasync once it has reaped its writes, at the node's
                // next call); with the pipeline full, the thread waits for the oldest and
                // acknowledges it; it hands this batch over and acknowledges those already
                // durable. The last commit pushes its own sync and waits for them all.
                start_pending_writes(m, node, t);
                let limit = write_batches_in_flight(m.spec) as u32;
                while let Some(&oldest) = m.writes[ni].front() {
                    let queued: u32 = m.writes[ni].iter().map(|w| w.batches).sum();
                    if queued + calls <= limit {
                        break;
                    }
                    m.writes[ni].pop_front();
                    t = acknowledge_write(m, node, t, oldest);
                }
                m.writes[ni].push_back(PendingWrite {
                    done: None,
                    wall_ns: write,
                    chunks: staged,
                    batches: calls,
                    start_ns: start,
                });
                if last {
                    start_pending_writes(m, node, t);
                }
                while let Some(&oldest) = m.writes[ni].front() {
                    if !last && oldest.done.is_none_or(|d| d > t) {
                        break;
                    }
                    m.writes[ni].pop_front();
                    t = acknowledge_write(m, node, t, oldest);
                }
                m.state[ni].block_start_ns = t.as_ns();
            }
            if !m.state[ni].issue_pending && m.state[ni].next < m.blocks {
                m.state[ni].issue_pending = true;
                m.schedule(t, node, 0, Step::Issue)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Pushes the syncs of the node's batches handed over and not yet syncing, at `t`, in
/// order (see [`Model::pipelined_io`]).
fn start_pending_writes(m: &mut Model<'_>, node: u32, t: SimTime) {
    let ni = node as usize;
    for k in 0..m.writes[ni].len() {
        if m.writes[ni][k].done.is_none() {
            let wall = m.writes[ni][k].wall_ns;
            let done = m.pipelined_io(node, t, wall, m.c.batch_write);
            m.writes[ni][k].done = Some(done);
        }
    }
}

/// Acknowledges a commit on the node's thread once it is durable (at `t` or later), as the
/// live `acknowledge`: its manifest records appended (with their sync), its chunks done,
/// their background copy queued, and the copies finished by then marked in the manifest
/// (one more append with its sync, when there are any). Returns when the thread is free
/// again.
fn acknowledge_write(m: &mut Model<'_>, node: u32, t: SimTime, w: PendingWrite) -> SimTime {
    let ni = node as usize;
    let t = t.max(w.done.unwrap_or(t));
    let manifest = m.c.manifest_op_ns * f64::from(w.batches) + m.c.manifest_record_ns * f64::from(w.chunks);
    let t = m.io(node, t, manifest, m.c.manifest);
    m.finish_chunks(node, w.chunks, w.start_ns, t);
    m.stored_bytes += m.c.stored * u64::from(w.chunks);
    // The background copy: one copier thread on the machine's cores when colocated; the
    // NIC and the blob tier in a cluster. Off the critical path.
    let put_wall = m.c.blob_put_ns * f64::from(w.chunks);
    let cores = m.nodes[ni].cores;
    let cpu = ns(put_wall * m.c.blob_put_cpu_share);
    let copied = if m.cluster.colocated {
        // Its CPU is booked on the cores now: a core's units are served in order, and CPU
        // booked where a backlogged copier would start would hold a core idle until then,
        // where the live scheduler runs the data path in the meantime.
        let copy = m.arena.book(m.copier, t, ns(put_wall));
        m.arena.book(cores, t, cpu);
        m.host_cpu_ns += put_wall * m.c.blob_put_cpu_share;
        copy.end
    } else {
        m.arena.book(cores, t, cpu);
        m.host_cpu_ns += put_wall * m.c.blob_put_cpu_share;
        m.upload(node, t, m.c.stored * u64::from(w.chunks))
    };
    m.blob_put_bytes += m.c.stored * u64::from(w.chunks);
    m.copies[ni].push(Reverse((copied, w.chunks)));
    let mut marks = 0u32;
    while let Some(&Reverse((end, chunks))) = m.copies[ni].peek() {
        if end > t {
            break;
        }
        marks += chunks;
        m.copies[ni].pop();
    }
    if marks == 0 {
        return t;
    }
    let mark = m.c.manifest_op_ns + m.c.manifest_record_ns * f64::from(marks);
    let t = m.io(node, t, mark, m.c.manifest);
    // The node's time runs until its thread is done with the last acknowledgement.
    let st = &mut m.state[ni];
    st.end_ns = st.end_ns.max(t.as_ns());
    t
}

// ---------------------------------------------------------------------------------------
// Fan-in read: readers fetch every shard's blocks from the blob tier, `read_concurrency`
// at a time (blocking), then verify (host CPU, or the device while the reader fetches the
// next); with its slots full, a reader collects that many finished jobs before it fetches
// again.

fn fan_in_read(m: &mut Model<'_>, now: SimTime, ev: Ev) -> Result<(), ScaleError> {
    let node = ev.node;
    let ni = node as usize;
    let off = m.offload();
    let readers = m.spec.readers;
    let lanes = m.spec.blob_options.read_concurrency.max(1);
    // Reader r reads shards r, r + readers, ...; token = index into its own work list.
    let my_shards = (m.spec.nodes - node).div_ceil(readers);
    let total = my_shards * m.blocks;
    match ev.step {
        // The reader's thread fills free slots, `read_concurrency` tokens per fetch, as the
        // live reader does; with none free (or nothing left) it collects finished jobs.
        Step::Issue => {
            let st = m.state[ni];
            let k = lanes.min(m.spec.queue_depth - st.in_flight).min(total - st.next);
            if k == 0 {
                // Waiting for completions rings the doorbell for what it submitted.
                if off {
                    m.ring(node, now)?;
                }
                return fan_in_collect(m, node, now);
            }
            let first = st.next;
            let chunks: u32 = (first..first + k).map(|t| m.blocks_len(t % m.blocks)).sum();
            m.state[ni].next += k;
            m.state[ni].in_flight += k;
            m.state[ni].fetch_batch = k;
            let stored = m.c.stored * u64::from(chunks);
            m.egress_bytes += stored;
            let received = m.transfer(node, now, stored, None, chunks.div_ceil(lanes));
            let t = m.blob_get_batch(node, received, chunks, lanes);
            for token in first..first + k {
                let slot = m.issued_slot(node, token);
                m.issued_ns[slot] = now.as_ns();
            }
            m.schedule(t, node, first, Step::Fetched)?;
            Ok(())
        }
        // Each fetched token submitted in turn: verified on the CPU, or handed to the device
        // while the thread goes on.
        Step::Fetched => {
            let mut t = now;
            for token in ev.token..ev.token + m.state[ni].fetch_batch {
                let b = m.blocks_len(token % m.blocks);
                let fb = f64::from(b);
                if off {
                    let job = Unrung { token, chunks: b, which: |s| &s.verify, then: Step::Done };
                    t = m.submit_device(node, t, job)?;
                    t = t.max(m.arena.earliest_free(m.nodes[ni].thread));
                } else {
                    t = m.cpu(node, t, (m.c.host_job_ns + m.c.crc_stored_ns + m.c.decompress_ns) * fb);
                    m.schedule(t, node, token, Step::Done)?;
                }
            }
            m.schedule(t, node, 0, Step::Issue)?;
            Ok(())
        }
        Step::Done => {
            let b = m.blocks_len(ev.token % m.blocks);
            // Latency of a block: from its fetch to its verification, per chunk.
            let start = m.issued_ns[m.issued_slot(node, ev.token)];
            m.finish_chunks(node, b, start, now);
            let st = &mut m.state[ni];
            st.finished += 1;
            if st.collecting > 0 && st.finished >= st.collecting {
                fan_in_take(m, node, now)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The fan-in reader's thread has no slot to fill: it collects the `read_concurrency`
/// earliest finished jobs (or all in flight), now if they are done, else when they are.
fn fan_in_collect(m: &mut Model<'_>, node: u32, now: SimTime) -> Result<(), ScaleError> {
    let st = &mut m.state[node as usize];
    let want = m.spec.blob_options.read_concurrency.max(1).min(st.in_flight);
    if want == 0 {
        return Ok(());
    }
    st.collecting = want;
    if st.finished >= want {
        fan_in_take(m, node, now)?;
    }
    Ok(())
}

/// The collected jobs free their slots, and the thread goes back to filling them.
fn fan_in_take(m: &mut Model<'_>, node: u32, now: SimTime) -> Result<(), ScaleError> {
    let st = &mut m.state[node as usize];
    st.in_flight -= st.collecting;
    st.finished -= st.collecting;
    st.collecting = 0;
    m.schedule(now, node, 0, Step::Issue)
}

// ---------------------------------------------------------------------------------------
// KV cache: the live scenario's seeded requests; each block a lookup, then a hit (local
// read, verify) or a miss (produce, compress, CRC, store, insert).

/// Per node, per request: (hits, misses) of its blocks, from the real cache index.
fn kv_plan(spec: &ScenarioSpec) -> Vec<Vec<(u32, u32)>> {
    let capacity = spec.cache_capacity_chunks.max(16) as usize;
    (0..spec.nodes)
        .map(|node| {
            let cache = CacheIndex::new(capacity).expect("capacity >= 16");
            let loc = Location::new(1, 0, 0, 1, 0).expect("valid location");
            // The live scenario's own request stream, so both see the same keys.
            crate::scenario::kv_requests(spec, node)
                .into_iter()
                .map(|(doc, blocks)| {
                    let mut hm = (0u32, 0u32);
                    for b in 0..blocks {
                        let key = CacheKey::for_chunk(doc, b);
                        if cache.lookup(key).is_some() {
                            hm.0 += 1;
                        } else {
                            hm.1 += 1;
                            cache.insert(key, loc);
                        }
                    }
                    hm
                })
                .collect()
        })
        .collect()
}

fn kv_cache(m: &mut Model<'_>, now: SimTime, ev: Ev) -> Result<(), ScaleError> {
    let node = ev.node;
    let ni = node as usize;
    let off = m.offload();
    let req = m.state[ni].kv_req as usize;
    let Some(&(h, mi)) = m.kv[ni].get(req) else { return Ok(()) };
    let fh = f64::from(h);
    let fm = f64::from(mi);
    match ev.step {
        Step::Lookup => {
            m.state[ni].block_start_ns = now.as_ns();
            let n = h + mi;
            let t = if off {
                m.device(node, now, |s| &s.lookup, n)
            } else {
                m.cpu(node, now, m.c.host_job_ns * f64::from(n))
            };
            m.schedule(t, node, 0, Step::Verify)
        }
        Step::Verify => {
            // Hits: read the block and verify it.
            m.hits += u64::from(h);
            let mut t = m.cpu(node, now, m.c.local_read_ns * fh);
            if h > 0 {
                t = if off {
                    m.device(node, t, |s| &s.verify, h)
                } else {
                    m.cpu(node, t, (m.c.host_job_ns + m.c.crc_stored_ns + m.c.decompress_ns) * fh)
                };
            }
            m.schedule(t, node, 0, Step::Fetch)
        }
        Step::Fetch => {
            // Misses: produce the block (prefill), compress, CRC.
            m.misses += u64::from(mi);
            let mut t = m.cpu(node, now, m.c.datagen_ns * fm);
            if mi > 0 {
                if off {
                    if m.shapes.as_ref().is_some_and(|s| s.compress.is_some()) {
                        t = m.device(node, t, |s| s.compress.as_ref().expect("compressing"), mi);
                    }
                    t = m.device(node, t, |s| &s.crc_stored, mi);
                } else {
                    let comp = if m.spec.compression.is_some() {
                        m.c.compress_ns + m.c.crc_stored_ns
                    } else {
                        m.c.crc_raw_ns
                    };
                    t = m.cpu(node, t, (comp + m.c.host_job_ns) * fm);
                }
            }
            m.schedule(t, node, 0, Step::Fill)
        }
        Step::Fill => {
            let wall = (m.c.local_write_op_ns + m.c.local_write_byte_ns * m.c.stored as f64) * fm;
            let t = m.io(node, now, wall, m.c.local_write);
            m.stored_bytes += m.c.stored * u64::from(mi);
            m.schedule(t, node, 0, Step::Insert)
        }
        Step::Insert => {
            let t = if mi == 0 {
                now
            } else if off {
                m.device(node, now, |s| &s.insert, mi)
            } else {
                m.cpu(node, now, m.c.host_insert_ns * fm)
            };
            let start = m.state[ni].block_start_ns;
            m.finish_chunks(node, h + mi, start, t);
            m.state[ni].kv_req += 1;
            if (m.state[ni].kv_req as usize) < m.kv[ni].len() {
                m.schedule(t, node, 0, Step::Lookup)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// The result document.

fn summary_of(stage: &str, values: &[u64]) -> LatencySummary {
    let mut h = StageHist::new("node_completion", Source::Modelled);
    for &v in values {
        h.record(v);
    }
    let mut s = h.summary();
    s.stage = stage.into();
    s
}

fn assemble(
    m: Model<'_>,
    profile: &Profile,
    opts: &ScaleOptions,
    workers: u32,
    events: u64,
    model_wall_s: f64,
    mut notes: Vec<String>,
) -> Result<RunResult, ScaleError> {
    let spec = m.spec;
    let cluster = m.cluster;
    let ends: Vec<u64> = m.state[..workers as usize].iter().map(|s| s.end_ns).collect();
    let makespan_ns = ends.iter().copied().max().unwrap_or(0).max(1);
    let elapsed_s = makespan_ns as f64 / 1e9;
    let mut sorted = ends.clone();
    sorted.sort_unstable();
    let pct = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize] as f64;
    let until = SimTime::from_ns(makespan_ns);

    // Utilization per resource class: the busiest instance (nodes differ only by load).
    let mean_util = |servers: &mut dyn Iterator<Item = FifoServer>| -> (f64, f64) {
        let (mut sum, mut max, mut n) = (0.0, 0.0f64, 0usize);
        for s in servers {
            let u = m.arena.utilization(s, until);
            sum += u;
            max = max.max(u);
            n += 1;
        }
        (if n > 0 { sum / n as f64 } else { 0.0 }, max)
    };
    let w = workers as usize;
    let cpu = if cluster.colocated {
        mean_util(&mut std::iter::once(m.nodes[0].cores))
    } else {
        mean_util(&mut m.nodes[..w].iter().map(|n| n.cores))
    };
    let disk = mean_util(&mut m.nodes[..w].iter().map(|n| n.disk));
    let nic_rx = mean_util(&mut m.nodes.iter().filter_map(|n| n.nic_rx));
    let nic_tx = mean_util(&mut m.nodes.iter().filter_map(|n| n.nic_tx));
    let blob = mean_util(&mut std::iter::once(m.blob));
    let fabric = mean_util(&mut m.fabric.into_iter());
    let thread = mean_util(&mut m.nodes[..w].iter().map(|n| n.thread));

    // Device resources, summed over nodes as the live summary does.
    let mut resources: Vec<ResourceUse> = Vec::new();
    let mut dpu_max = 0.0f64;
    if m.shapes.is_some() {
        for (i, (name, units)) in m.dpu_names.iter().enumerate() {
            let (mut busy, mut util) = (0u64, 0.0);
            for n in &m.nodes[..w] {
                let s = m.dpu[n.dpu_first as usize + i];
                busy += m.arena.busy_ns(s);
                util += m.arena.utilization(s, until);
            }
            let util = util / w.max(1) as f64;
            dpu_max = dpu_max.max(util);
            resources.push(ResourceUse {
                name: name.clone(),
                units: *units,
                jobs: 0,
                busy_ns: busy,
                utilization: util,
            });
        }
    }
    let device = m.shapes.as_ref().map(|_| {
        let bottleneck = resources
            .iter()
            .filter(|r| r.busy_ns > 0)
            .max_by(|a, b| a.utilization.total_cmp(&b.utilization))
            .map(|r| r.name.clone());
        DeviceSummary {
            profile: profile.name.clone(),
            devices: workers,
            makespan_ns,
            resources: resources.clone(),
            bottleneck,
            descriptors: m.dev_descriptors,
            error_completions: 0,
            injected_errors: 0,
            doorbells_dropped: 0,
            below_min_efficient_size: 0,
            late_completions: 0,
            max_lag_ns: 0,
        }
    });

    let classes = [
        ("host CPU", cpu.1),
        ("DPU", dpu_max),
        ("local tier", disk.1),
        ("NIC", nic_rx.1.max(nic_tx.1)),
        ("network", fabric.1),
        ("blob tier", blob.1),
    ];
    let (bottleneck, hot) =
        classes.iter().fold(("host CPU", -1.0), |b, &(n, u)| if u > b.1 { (n, u) } else { b });
    notes.push(format!("cluster bottleneck: {bottleneck} ({:.0}% busy)", hot * 100.0));
    if hot < 0.8 {
        notes.push(format!(
            "no resource is saturated: each node works through its chunks one step at a time (data-path thread {:.0}% busy on average); latency, not bandwidth, sets the pace",
            thread.0 * 100.0
        ));
    }
    notes.push(format!(
        "scale mode: discrete-event model of {} nodes ({}); {} events, {} chunk(s) per event; modelled in {:.2} s",
        spec.nodes,
        cluster.describe(),
        events,
        m.batch,
        model_wall_s
    ));
    notes.push(format!(
        "host-side costs from calibration {} ({} build, {}, {} logical CPUs)",
        opts.calibration_source,
        opts.calibration.build,
        opts.calibration.machine.cpu_model,
        opts.calibration.machine.logical_cpus
    ));
    if opts.calibration.build != if cfg!(debug_assertions) { "debug" } else { "release" } {
        notes.push("calibration was measured with a different build than this one: compare with live runs of its build".into());
    }
    notes.push("scale mode moves no bytes: nothing was read back or verified".into());

    let fig = Figure::modelled;
    let mut extra: Vec<(String, Figure)> = vec![
        ("node_completion_slowest".into(), fig(pct(1.0), Unit::Nanoseconds)),
        ("node_completion_p99".into(), fig(pct(0.99), Unit::Nanoseconds)),
        ("node_completion_p50".into(), fig(pct(0.5), Unit::Nanoseconds)),
        ("scale_nodes".into(), fig(f64::from(spec.nodes), Unit::Count)),
        ("scale_events".into(), fig(events as f64, Unit::Count)),
        ("scale_chunks_per_event".into(), fig(f64::from(m.batch), Unit::Count)),
        ("util_host_cpu".into(), fig(cpu.1, Unit::Ratio)),
        ("util_dpu".into(), fig(dpu_max, Unit::Ratio)),
        ("util_local_tier".into(), fig(disk.1, Unit::Ratio)),
        ("util_nic".into(), fig(nic_rx.1.max(nic_tx.1), Unit::Ratio)),
        ("util_network".into(), fig(fabric.1, Unit::Ratio)),
        ("util_blob_tier".into(), fig(blob.1, Unit::Ratio)),
        ("util_node_thread".into(), fig(thread.0, Unit::Ratio)),
    ];
    let cal = &opts.calibration;
    extra.push((
        "calibration_crc32c".into(),
        fig(cal.crc32c_ns_per_byte(m.c.stored), Unit::NanosecondsPerByte),
    ));
    extra.push(("calibration_local_write_op".into(), fig(cal.local_write.op_ns, Unit::Nanoseconds)));
    extra.push(("calibration_blob_get_op".into(), fig(cal.blob_get.op_ns, Unit::Nanoseconds)));
    extra.push(("calibration_device_job_host".into(), fig(cal.device_job_host_ns, Unit::Nanoseconds)));
    if m.stored_bytes > 0 {
        extra.push(("stored_bytes".into(), fig(m.stored_bytes as f64, Unit::Bytes)));
    }
    if spec.compression.is_some() {
        extra.push(("compression_ratio".into(), fig(m.c.chunk as f64 / m.c.stored as f64, Unit::Ratio)));
    }
    if m.hits + m.misses > 0 {
        extra.push(("cache_hit_ratio".into(), fig(m.hits as f64 / (m.hits + m.misses) as f64, Unit::Ratio)));
    }
    if matches!(spec.kind, ScenarioKind::FanOutRead | ScenarioKind::FanInRead) {
        extra.push(("blob_egress_bytes".into(), fig(m.egress_bytes as f64, Unit::Bytes)));
        extra.push(("peer_bytes".into(), fig(m.peer_bytes as f64, Unit::Bytes)));
    }
    if m.blob_put_bytes > 0 {
        extra.push(("blob_copied_bytes".into(), fig(m.blob_put_bytes as f64, Unit::Bytes)));
    }

    let bytes = m.bytes;
    let host_cpu_s = m.host_cpu_ns / 1e9;
    let mut latency = Vec::new();
    if !m.e2e.is_empty() {
        latency.push(m.e2e.summary());
    }
    latency.push(summary_of("node_completion", &ends));
    let fallbacks = Fallbacks::default();
    Ok(RunResult {
        schema_version: RESULT_SCHEMA_VERSION,
        kit_version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario: spec.clone(),
        profile: profile.name.clone(),
        mode: m.mode,
        seed: spec.seed,
        machine: machine_info(),
        bytes,
        ops: m.ops,
        wall: fig(elapsed_s, Unit::Seconds),
        throughput: fig(bytes as f64 / elapsed_s, Unit::BytesPerSecond),
        ops_per_s: fig(m.ops as f64 / elapsed_s, Unit::OpsPerSecond),
        host_cpu: fig(host_cpu_s, Unit::Seconds),
        host_cpu_ns_per_byte: fig(
            if bytes > 0 { m.host_cpu_ns / bytes as f64 } else { 0.0 },
            Unit::NanosecondsPerByte,
        ),
        host_cores_busy: fig(host_cpu_s / elapsed_s, Unit::Cores),
        latency,
        device,
        fallbacks,
        verification: Verification { ok: true, ..Verification::default() },
        extra,
        notes,
        blob_tier: None,
        per_node: None,
    })
}

/// Runs host mode then offload mode in scale mode and puts them side by side.
pub fn compare_scale(
    spec: &ScenarioSpec,
    profile: &Profile,
    opts: &ScaleOptions,
) -> Result<crate::result::Comparison, ScaleError> {
    let host = run_scale(spec, Mode::Host, profile, opts)?;
    let offload = run_scale(spec, Mode::Offload, profile, opts)?;
    Ok(crate::run::comparison(host, offload))
}
