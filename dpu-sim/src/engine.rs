//! The engine of the software DPU: polls queue pairs, parses and bounds-checks every
//! descriptor, executes it through the kernel registry (real bytes, so results can be
//! compared with host mode), and posts a completion stamped with the time the timing
//! model gives.
//!
//! One [`Engine`] is one device. It is single-threaded and driven by [`Engine::poll`],
//! which takes the device's notion of "now" on the virtual clock:
//!
//! - **virtual clock** ([`ClockMode::Virtual`]): the caller advances time (a simulation,
//!   a test, a host backend that runs the device inline). Completions are posted as soon
//!   as they are executed, carrying their modelled times. Deterministic.
//! - **live emulation** ([`ClockMode::Live`], see [`crate::live`]): a device thread maps
//!   the virtual clock onto wall time and holds each completion until its modelled time,
//!   so the host sees it no earlier than the device would have produced it. When
//!   functional execution falls behind the model, the lag is counted and reported.
//!
//! Ordering and chaining: descriptors of one queue execute in order, so a later one sees
//! an earlier one's output. Without a fence, the model lets a short op overtake a long
//! one on another resource. FENCE makes the model start a descriptor no earlier than every
//! earlier completion of its queue, and, as on in-order work queues, holds back the
//! descriptors behind it; CRC_SEED_PREV takes the CRC seed from the previous descriptor's
//! result (and fails with `CHAIN_ABORTED` if that descriptor failed).
//!
//! Bounds: a poll fetches at most `fetch_batch` descriptors per queue and posts at most
//! `completion_budget` completions per queue; the engine never takes more descriptors
//! than its completion ring and its bounded pending list can answer.

use crate::profile::{Algorithm as ProfileAlgorithm, FaultConfig, Profile};
use crate::timing::{
    FaultPlan, ModelError, OpCost, OpKind, ResourceStats, SimDuration, SimTime, TimingModel, UserOpCost,
    MAX_DOORBELL_BATCH,
};
use dpukit_ffi::desc::ParseError;
use dpukit_ffi::{
    Algorithm, Completion, DescFlags, Descriptor, DeviceQueue, Op, Opcode, RawCpl, RawDesc, RegionTable,
    ResolvedBuf, Status,
};
use dpukit_kernels::cache_index::CacheKey;
use dpukit_kernels::registry::{Call, Registry, UserArgs, UserKernel};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

/// How the engine relates the virtual clock to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    Virtual,
    Live,
}

/// Engine bounds and switches.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Most descriptors fetched from one queue per poll (one doorbell's batch).
    pub fetch_batch: usize,
    /// Most completions posted to one queue per poll. Too small a budget is a known
    /// scaling cliff in real drivers; it is a knob so a sweep can show it.
    pub completion_budget: usize,
    /// Most completions held per queue while waiting for their modelled time.
    pub max_pending: usize,
    /// Execute kernels on real bytes (off: timing only, for the engine's own benchmark).
    pub functional: bool,
    pub clock: ClockMode,
    /// Faults to inject; `None` takes the profile's `[faults]` (if any).
    pub faults: Option<FaultConfig>,
    pub fault_seed: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            fetch_batch: 64,
            completion_budget: 64,
            max_pending: 1024,
            functional: true,
            clock: ClockMode::Virtual,
            faults: None,
            fault_seed: 0,
        }
    }
}

/// Why an engine could not be built or configured.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("engine config: {0}")]
    Config(String),
    #[error(
        "profile `{profile}` has no cost for user kernel `{kernel}`: add a [[user_kernels]] \
         entry with name = \"{kernel}\", fixed_ns and bytes_per_s"
    )]
    NoUserCost { profile: String, kernel: String },
    #[error(transparent)]
    Registry(#[from] dpukit_kernels::registry::RegistryError),
}

/// Identifies a queue pair attached to an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueId(pub usize);

/// Counters of one engine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineStats {
    pub polls: u64,
    pub doorbells_seen: u64,
    pub doorbells_dropped: u64,
    pub descriptors: u64,
    pub completions_posted: u64,
    /// Successful descriptors that asked for no completion.
    pub silent_successes: u64,
    pub errors_by_status: Vec<(Status, u64)>,
    pub injected_errors: u64,
    /// Polls that found the device stalled (fault injection).
    pub stalled_polls: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Ops below their engine's minimum efficient size.
    pub below_min_efficient_size: u64,
    /// Completions posted later than their modelled time (live mode).
    pub late_completions: u64,
    pub max_lag_ns: u64,
    pub total_lag_ns: u64,
}

impl EngineStats {
    fn count_error(&mut self, status: Status) {
        match self.errors_by_status.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => self.errors_by_status.push((status, 1)),
        }
    }

    /// Error completions. A cache lookup's NOT_FOUND is an answer (a miss), not an error,
    /// and is counted by [`EngineStats::not_found`] instead.
    pub fn errors(&self) -> u64 {
        self.errors_by_status.iter().filter(|(s, _)| *s != Status::NotFound).map(|(_, n)| n).sum()
    }

    /// NOT_FOUND completions (cache misses and deletes of absent keys).
    pub fn not_found(&self) -> u64 {
        self.errors_by_status.iter().filter(|(s, _)| *s == Status::NotFound).map(|(_, n)| n).sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at: SimTime,
    seq: u64,
}

struct Pending {
    due: Due,
    cpl: RawCpl,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    // Reversed: BinaryHeap is a max-heap and we want the earliest due first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.due.cmp(&self.due)
    }
}

/// Result of the previous descriptor of a queue, for CRC chaining.
#[derive(Debug, Clone, Copy)]
struct Prev {
    opcode: Opcode,
    ok: bool,
    result: u64,
}

struct QueueState {
    dev: DeviceQueue,
    /// Doorbell value last acted on.
    seen_doorbell: u64,
    /// A dropped doorbell's value: entries up to it are invisible until the next one.
    dropped_doorbell: Option<u64>,
    /// Latest modelled completion on this queue (the fence time).
    fence: SimTime,
    prev: Option<Prev>,
    pending: BinaryHeap<Pending>,
}

/// What one poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollOutcome {
    pub fetched: usize,
    pub posted: usize,
    /// Completions still held (not yet due, or no room in the completion ring).
    pub pending: usize,
    /// Earliest time a held completion becomes due.
    pub next_due: Option<SimTime>,
}

/// One software DPU.
pub struct Engine {
    cfg: EngineConfig,
    profile: Profile,
    model: TimingModel,
    registry: Registry,
    faults: FaultPlan,
    queues: Vec<QueueState>,
    user_costs: HashMap<u8, UserOpCost>,
    stats: EngineStats,
    op_index: u64,
    seq: u64,
    /// Latest arrival handed to the model; arrivals never go backwards.
    last_arrival: SimTime,
    /// Descriptor buffer reused by every fetch.
    scratch: Vec<RawDesc>,
    /// Keys of the cache lookups in the batch being run (reused).
    lookup_keys: Vec<CacheKey>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("profile", &self.profile.name)
            .field("queues", &self.queues.len())
            .field("stats", &self.stats)
            .finish()
    }
}

/// The profile's name for a descriptor's compression algorithm.
pub fn profile_algorithm(a: Algorithm) -> ProfileAlgorithm {
    match a {
        Algorithm::Lz4 => ProfileAlgorithm::Lz4,
        Algorithm::Zstd => ProfileAlgorithm::Zstd,
        Algorithm::Gzip | Algorithm::Zlib => ProfileAlgorithm::Deflate,
    }
}

impl Engine {
    /// A device for `profile` whose kernels come from `registry`. A host-only profile is
    /// `ModelError::NoDevice`: there is nothing to offload to.
    pub fn new(profile: &Profile, registry: Registry, cfg: EngineConfig) -> Result<Engine, EngineError> {
        if cfg.fetch_batch == 0 || cfg.fetch_batch > MAX_DOORBELL_BATCH as usize {
            return Err(EngineError::Config(format!(
                "fetch_batch must be 1..={MAX_DOORBELL_BATCH}, got {}",
                cfg.fetch_batch
            )));
        }
        if cfg.completion_budget == 0 {
            return Err(EngineError::Config("completion_budget must be at least 1".into()));
        }
        if cfg.max_pending < cfg.fetch_batch {
            return Err(EngineError::Config(format!(
                "max_pending ({}) must be at least fetch_batch ({})",
                cfg.max_pending, cfg.fetch_batch
            )));
        }
        let model = TimingModel::new(profile)?;
        let faults = match cfg.faults.as_ref().or(profile.faults.as_ref()) {
            Some(f) => FaultPlan::new(f, cfg.fault_seed).map_err(|e| EngineError::Config(e.to_string()))?,
            None => FaultPlan::none(),
        };
        Ok(Engine {
            cfg,
            profile: profile.clone(),
            model,
            registry,
            faults,
            queues: Vec::new(),
            user_costs: HashMap::new(),
            stats: EngineStats::default(),
            op_index: 0,
            seq: 0,
            last_arrival: SimTime::ZERO,
            scratch: Vec::new(),
            lookup_keys: Vec::new(),
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn model(&self) -> &TimingModel {
        &self.model
    }

    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Per-resource modelled busy time and utilization, and the bottleneck.
    pub fn resource_stats(&self) -> Vec<ResourceStats> {
        self.model.stats().collect()
    }

    pub fn bottleneck(&self) -> Option<ResourceStats> {
        self.model.bottleneck()
    }

    /// Attaches the device end of a queue pair.
    pub fn attach(&mut self, dev: DeviceQueue) -> QueueId {
        let seen = dev.doorbell_index();
        self.queues.push(QueueState {
            dev,
            seen_doorbell: seen,
            dropped_doorbell: None,
            fence: SimTime::ZERO,
            prev: None,
            pending: BinaryHeap::new(),
        });
        QueueId(self.queues.len() - 1)
    }

    /// Binds a user kernel to a user opcode; its cost comes from the profile's
    /// `[[user_kernels]]` entry of the same name.
    pub fn bind_user_kernel(&mut self, opcode: u8, kernel: Arc<dyn UserKernel>) -> Result<(), EngineError> {
        let spec = self.profile.user_kernel(kernel.name()).ok_or_else(|| EngineError::NoUserCost {
            profile: self.profile.name.clone(),
            kernel: kernel.name().to_owned(),
        })?;
        let cost = UserOpCost {
            id: opcode as u32,
            fixed_ns: spec.fixed_ns.value,
            bytes_per_s: spec.bytes_per_s.value,
        };
        self.bind_user_kernel_with_cost(opcode, kernel, cost)
    }

    /// Binds a user kernel with an explicit cost (for what-if runs).
    pub fn bind_user_kernel_with_cost(
        &mut self,
        opcode: u8,
        kernel: Arc<dyn UserKernel>,
        cost: UserOpCost,
    ) -> Result<(), EngineError> {
        // Validate the cost before binding so a bad one leaves nothing half-done.
        self.model.route(&OpKind::User(cost))?;
        self.model.compute_service(
            crate::timing::Route::DpuCores,
            &OpCost { kind: OpKind::User(cost), bytes_in: 0, bytes_out: 0 },
        )?;
        self.registry.register_user(opcode, kernel)?;
        self.user_costs.insert(opcode, cost);
        Ok(())
    }

    /// Whether this device can run `opcode` (with `algorithm` for compression). Ops it
    /// cannot run get `UNKNOWN_OPCODE` completions; the host runs them instead.
    pub fn supports(&self, opcode: Opcode, algorithm: Option<Algorithm>) -> bool {
        match self.op_kind(opcode, algorithm) {
            Some(kind) => self.model.route(&kind).is_ok(),
            None => false,
        }
    }

    fn op_kind(&self, opcode: Opcode, algorithm: Option<Algorithm>) -> Option<OpKind> {
        Some(match opcode {
            Opcode::Nop => OpKind::Nop,
            Opcode::Crc32c => OpKind::Crc32c,
            Opcode::Copy => OpKind::Copy,
            Opcode::CopyCrc32c => OpKind::CopyCrc32c,
            Opcode::Compress => OpKind::Compress(profile_algorithm(algorithm?)),
            Opcode::Decompress => OpKind::Decompress(profile_algorithm(algorithm?)),
            Opcode::CacheLookup => OpKind::CacheLookup,
            Opcode::CacheInsert => OpKind::CacheInsert,
            Opcode::CacheDelete => OpKind::CacheDelete,
            Opcode::User(op) => OpKind::User(*self.user_costs.get(&op)?),
        })
    }

    /// Completions held across all queues.
    pub fn pending(&self) -> usize {
        self.queues.iter().map(|q| q.pending.len()).sum()
    }

    /// Earliest due time of a held completion.
    pub fn next_due(&self) -> Option<SimTime> {
        self.queues.iter().filter_map(|q| q.pending.peek().map(|p| p.due.at)).min()
    }

    /// One pass over every queue at device time `now`: post due completions, then fetch,
    /// execute and time newly doorbelled descriptors.
    pub fn poll(&mut self, now: SimTime) -> PollOutcome {
        self.poll_with(&mut || now)
    }

    /// As [`Engine::poll`], reading the device clock from `clock` at each step, so a live
    /// device stamps a batch with the time it actually fetched it (a time read at the
    /// start of the poll could precede the host's doorbell).
    pub fn poll_with(&mut self, clock: &mut dyn FnMut() -> SimTime) -> PollOutcome {
        self.stats.polls += 1;
        let mut out = PollOutcome::default();
        for qi in 0..self.queues.len() {
            let budget = self.cfg.completion_budget;
            let mut posted = self.post_due(qi, clock(), budget);
            out.fetched += self.fetch_and_run(qi, clock);
            // In virtual mode what was just executed is due at once.
            if self.cfg.clock == ClockMode::Virtual {
                posted += self.post_due(qi, clock(), budget - posted);
            }
            out.posted += posted;
        }
        out.pending = self.pending();
        out.next_due = self.next_due();
        out
    }

    fn post_due(&mut self, qi: usize, now: SimTime, budget: usize) -> usize {
        let live = self.cfg.clock == ClockMode::Live;
        let q = &mut self.queues[qi];
        let mut batch: [RawCpl; 64] = [RawCpl::default(); 64];
        let mut posted = 0;
        while posted < budget {
            let room = q.dev.cq_free().min(64).min(budget - posted);
            let mut n = 0;
            while n < room {
                match q.pending.peek() {
                    Some(p) if !live || p.due.at <= now => {
                        let p = q.pending.pop().expect("peeked");
                        if live && now > p.due.at {
                            let lag = now.saturating_since(p.due.at).as_ns();
                            // Lag under a microsecond is polling granularity, not lag.
                            if lag > 1_000 {
                                self.stats.late_completions += 1;
                            }
                            self.stats.max_lag_ns = self.stats.max_lag_ns.max(lag);
                            self.stats.total_lag_ns += lag;
                        }
                        batch[n] = p.cpl;
                        n += 1;
                    }
                    _ => break,
                }
            }
            if n == 0 {
                break;
            }
            let k = q.dev.complete(&batch[..n]);
            debug_assert_eq!(k, n, "room was checked against cq_free");
            posted += k;
        }
        self.stats.completions_posted += posted as u64;
        posted
    }

    fn fetch_and_run(&mut self, qi: usize, clock: &mut dyn FnMut() -> SimTime) -> usize {
        // Doorbell handling, with injected drops: a dropped doorbell's entries stay
        // invisible until the host rings again.
        let db = self.queues[qi].dev.doorbell_index();
        if db != self.queues[qi].seen_doorbell {
            self.queues[qi].seen_doorbell = db;
            self.stats.doorbells_seen += 1;
            if self.faults.should_drop_doorbell(self.stats.doorbells_seen) {
                self.stats.doorbells_dropped += 1;
                self.queues[qi].dropped_doorbell = Some(db);
            } else {
                self.queues[qi].dropped_doorbell = None;
            }
        }
        if self.queues[qi].dropped_doorbell.is_some() {
            return 0;
        }
        // A stalled device answers nothing; in virtual mode the stall shows as delay.
        let stall_end = self.faults.stalled_until(clock());
        if stall_end.is_some() && self.cfg.clock == ClockMode::Live {
            self.stats.stalled_polls += 1;
            return 0;
        }
        let q = &mut self.queues[qi];
        let room = q.dev.cq_free().saturating_sub(q.pending.len());
        let room = room.min(self.cfg.max_pending.saturating_sub(q.pending.len())).min(self.cfg.fetch_batch);
        if room == 0 {
            return 0;
        }
        // Reused across polls: no allocation on the hot path.
        let mut descs = std::mem::take(&mut self.scratch);
        descs.resize(room, RawDesc::default());
        let n = q.dev.fetch(&mut descs[..room]);
        if n == 0 {
            self.scratch = descs;
            return 0;
        }
        // The batch arrives when it was fetched, read after the fetch: never before the
        // host rang.
        let arrival = clock().max(self.last_arrival);
        self.last_arrival = arrival;
        let batch = match self.model.doorbell(arrival, n as u32) {
            Ok(b) => b,
            Err(e) => unreachable!("batch size bounded by fetch_batch: {e}"),
        };
        let not_before = stall_end.unwrap_or(SimTime::ZERO);
        let table = self.queues[qi].dev.region_table();
        let regions = table.read().unwrap_or_else(|e| e.into_inner());
        // The batch's cache lookups run one at a time, in order with the rest; their
        // entries are pulled into cache together first, so their trips to memory overlap.
        self.lookup_keys.clear();
        for raw in &descs[..n] {
            if raw.0.opcode == Opcode::CacheLookup.raw() {
                if let Ok(Descriptor { op: Op::CacheLookup { key, .. }, .. }) = Descriptor::parse(raw) {
                    self.lookup_keys.extend(CacheKey::from_bytes(key).ok());
                }
            }
        }
        if self.lookup_keys.len() > 1 {
            self.registry.cache().prefetch(&self.lookup_keys);
        }
        // Resolve and execute under one read lock of the region table.
        for raw in &descs[..n] {
            let (cpl, always, due) =
                self.run_one(qi, &regions, raw, batch.descriptors_ready, not_before, batch.doorbell.start);
            if always {
                self.seq += 1;
                self.queues[qi]
                    .pending
                    .push(Pending { due: Due { at: due, seq: self.seq }, cpl: cpl.encode() });
            } else {
                self.stats.silent_successes += 1;
            }
        }
        drop(regions);
        self.scratch = descs;
        self.stats.descriptors += n as u64;
        n
    }

    /// Parses, resolves, times and executes one descriptor. Returns the completion,
    /// whether it must be posted, and when it is due.
    fn run_one(
        &mut self,
        qi: usize,
        regions: &RegionTable,
        raw: &RawDesc,
        ready: SimTime,
        not_before: SimTime,
        doorbell_at: SimTime,
    ) -> (Completion, bool, SimTime) {
        self.op_index += 1;
        let d = match Descriptor::parse(raw) {
            Ok(d) => d,
            Err(ParseError { tag, opcode, status, .. }) => {
                self.stats.count_error(status);
                self.queues[qi].prev = None;
                return (Completion::error(tag, opcode, status), true, ready);
            }
        };
        let opcode = d.op.opcode();
        let fail = |this: &mut Engine, status: Status, at: SimTime| {
            this.stats.count_error(status);
            this.queues[qi].prev = Some(Prev { opcode, ok: false, result: 0 });
            let mut c = Completion::error(d.tag, opcode.raw(), status);
            c.modelled_ns = at.saturating_since(doorbell_at).as_ns();
            (c, true, at)
        };

        // CRC chaining: the seed is the previous descriptor's result.
        let mut chained_seed = None;
        if d.flags.contains(DescFlags::CRC_SEED_PREV) {
            match self.queues[qi].prev {
                Some(Prev { opcode: p, ok: true, result }) if p.is_crc() => {
                    chained_seed = Some(result as u32)
                }
                Some(Prev { ok: false, .. }) => return fail(self, Status::ChainAborted, ready),
                _ => return fail(self, Status::BadFlags, ready),
            }
        }

        let algorithm = match d.op {
            Op::Compress { algorithm, .. } | Op::Decompress { algorithm, .. } => Some(algorithm),
            _ => None,
        };
        let Some(kind) = self.op_kind(opcode, algorithm) else {
            return fail(self, Status::UnknownOpcode, ready);
        };
        if self.model.route(&kind).is_err() {
            // The device has neither an engine nor cores for this op.
            return fail(self, Status::UnknownOpcode, ready);
        }

        // Resolve buffers against the region table.
        let src = match d.op.src().map(|b| regions.resolve(b)).transpose() {
            Ok(s) => s,
            Err(st) => return fail(self, st, ready),
        };
        let dst = match d.op.dst().map(|b| regions.resolve(b)).transpose() {
            Ok(t) => t,
            Err(st) => return fail(self, st, ready),
        };
        if let (Some(s), Some(t)) = (&src, &dst) {
            if s.overlaps(t) {
                return fail(self, Status::OutOfRange, ready);
            }
        }

        let fence = if d.flags.fences() { self.queues[qi].fence.max(not_before) } else { not_before };

        // Execute (real bytes) or, when functional execution is off, assume the output
        // fills the destination a compressor would need.
        let executed = if self.cfg.functional {
            match execute(&self.registry, &d.op, chained_seed, src, dst) {
                Ok(o) => o,
                Err(st) => {
                    let t = self.error_time(ready, fence);
                    return fail(self, st, t);
                }
            }
        } else {
            let bytes_in = src.map_or(0, |s| s.len() as u64);
            dpukit_kernels::registry::Outcome {
                result: 0,
                bytes_in,
                bytes_out: dst.map_or(0, |t| t.len() as u64),
            }
        };

        let bytes_out = match d.op {
            // A cache lookup's 16 bytes, a copy's bytes, a codec's output.
            Op::Crc32c { .. } | Op::CacheInsert { .. } | Op::CacheDelete { .. } | Op::Nop => 0,
            _ => executed.bytes_out,
        };
        let cost = OpCost { kind, bytes_in: executed.bytes_in, bytes_out };
        let timing = match self.model.submit_fenced(ready, fence, &cost) {
            Ok(t) => t,
            Err(_) => return fail(self, Status::UnknownOpcode, ready),
        };
        if timing.below_min_efficient_size {
            self.stats.below_min_efficient_size += 1;
        }
        let q = &mut self.queues[qi];
        q.fence = q.fence.max(timing.completion);

        if self.faults.inject_error(self.op_index) {
            self.stats.injected_errors += 1;
            return fail(self, Status::DeviceUnavailable, timing.completion);
        }

        self.stats.bytes_in += executed.bytes_in;
        self.stats.bytes_out += bytes_out;
        self.queues[qi].prev = Some(Prev { opcode, ok: true, result: executed.result });
        let mut c =
            Completion::ok(d.tag, opcode, executed.result, executed.bytes_in.min(u32::MAX as u64) as u32);
        c.modelled_ns = timing.completion.saturating_since(doorbell_at).as_ns();
        let always = d.flags.contains(DescFlags::COMPLETION);
        (c, always, timing.completion)
    }

    /// When an op that failed during execution reports: after its descriptor fetch and a
    /// completion write, with no compute charged.
    fn error_time(&self, ready: SimTime, fence: SimTime) -> SimTime {
        ready.max(fence)
    }

    /// The modelled wake-up of a host that waited `waited` for one of this device's
    /// completions (see [`TimingModel::host_wake`]).
    pub fn host_wake(&self, waited: SimDuration) -> SimDuration {
        self.model.host_wake(waited)
    }

    /// Modelled time of the latest completion so far.
    pub fn makespan(&self) -> SimTime {
        self.model.makespan()
    }
}

/// Runs one parsed op on resolved buffers through the registry.
fn execute(
    registry: &Registry,
    op: &Op,
    chained_seed: Option<u32>,
    src: Option<ResolvedBuf>,
    dst: Option<ResolvedBuf>,
) -> Result<dpukit_kernels::registry::Outcome, Status> {
    // SAFETY: both buffers were resolved inside registered regions (bounds-checked by
    // the region table) and checked not to overlap; the registration contract keeps the
    // host off ranges referenced by in-flight descriptors, and the engine executes one
    // descriptor at a time, so these are the only live references to these bytes.
    let (s, t): (&[u8], &mut [u8]) =
        unsafe { (src.map_or(&[][..], |b| b.as_slice()), dst.map_or(&mut [][..], |b| b.as_mut_slice())) };
    let call = match *op {
        Op::Nop => Call::Nop,
        Op::Crc32c { seed, .. } => Call::Crc32c { src: s, seed: chained_seed.unwrap_or(seed) },
        Op::Copy { .. } => Call::Copy { src: s, dst: t },
        Op::CopyCrc32c { seed, .. } => {
            Call::CopyCrc32c { src: s, dst: t, seed: chained_seed.unwrap_or(seed) }
        }
        Op::Compress { algorithm, level, .. } => Call::Compress { src: s, dst: t, algorithm, level },
        Op::Decompress { algorithm, .. } => Call::Decompress { src: s, dst: t, algorithm },
        Op::CacheLookup { key, .. } => Call::CacheLookup { key, dst: t },
        Op::CacheInsert { key, value } => Call::CacheInsert { key, value },
        Op::CacheDelete { key } => Call::CacheDelete { key },
        Op::User { opcode, arg0, arg1, algo, level, .. } => {
            Call::User { args: UserArgs { opcode, arg0, arg1, algo, level }, src: s, dst: t }
        }
    };
    registry.execute(call)
}

/// A modelled duration as nanoseconds, for reports.
pub fn ns(d: SimDuration) -> u64 {
    d.as_ns()
}
