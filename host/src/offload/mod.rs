//! The offload interface: one data path, two backends.
//!
//! A scenario prepares a *job* in a DMA slot (input bytes, a few ops such as "CRC32C of
//! the input" and "compress input into output"), submits it, and later takes it back
//! finished. With the **host** backend the ops run at once on the calling thread through
//! the kernel registry (measured). With the **DPU** backend they become descriptors on a
//! queue pair, the simulated device executes them (real bytes) and stamps completions
//! with modelled times; batching (`batch` jobs per doorbell) and queue depth (slots in
//! flight) are parameters. Both backends dispatch through the same registry, so the bytes
//! are identical.
//!
//! Time. In host mode the clock is the wall clock. In offload mode the host runs the
//! device inline, so the host's clock is virtual: wall time spent in host code (measured)
//! plus waits for modelled completions, minus the time the simulator itself takes. A job
//! is handed back no earlier than its modelled completion; its ready time advances the
//! host clock. The end-to-end figure combines measured host time with modelled device
//! time and is labelled modelled.
//!
//! Failures. Ops the device cannot run go to the CPU (counted). An error completion that
//! means the device failed (`DEVICE_UNAVAILABLE`) is retried on the CPU (counted). A
//! device that stops answering, or answers later than `device_timeout_ns`, is declared
//! dead after the timeout: it is stopped, the in-flight jobs and everything after run on
//! the CPU (counted), and the device is never polled again, so it cannot touch reclaimed
//! slots. An inline device has stopped answering when it has nothing pending and jobs are
//! still in flight (its timeout is then on the host clock); a device that runs on its own
//! is waited for in wall time, and is dead at once when it says it can no longer answer.

use crate::device::{Device, DeviceChoice, DeviceClock, DeviceReport, SimulatedDevice};
use crate::dma::{DmaPool, PoolError};
use crate::process::{ProcessDevice, ProcessSpec};
use crate::result::Fallbacks;
use crate::thread_device::ThreadDevice;
use dpukit_ffi::{
    Algorithm, BufRef, Completion, DescFlags, Descriptor, DeviceQueue, HostQueue, Op, Opcode, QueuePair,
    QueuePairConfig, Sent, ShmConfig, ShmHost, Status,
};
use dpukit_kernels::registry::{Call, Registry, UserArgs};
use dpukit_sim::engine::{EngineConfig, EngineError};
use dpukit_sim::profile::Profile;
use dpukit_sim::timing::ModelError;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

mod fallback;
mod ops;
mod poll;
mod wake;
use ops::{op_label, op_name};
pub use ops::{Buf, Finished, JobVec, OpResult, RanOn, SlotOp, MAX_OPS_PER_JOB};

#[derive(Debug, Clone)]
struct Job {
    user: u64,
    ops: JobVec<SlotOp>,
    results: JobVec<Option<OpResult>>,
    /// Ops (a bit per index) the host CPU runs once the device has answered every op
    /// before them: an op the device does not run, after one it does, waits for it, and
    /// so does every op after it, so the job's ops take effect in their order (one may
    /// read what an earlier one writes, or write what an earlier one reads).
    deferred: u8,
    /// Its answers were taken and its retries run on the host: a later fail-over keeps
    /// them (a later op may already have overwritten what an earlier one read).
    settled: bool,
    submitted_ns: u64,
    /// Latest modelled due time among its device ops (host clock ns).
    ready_ns: u64,
}

/// Backend switches.
#[derive(Debug, Clone)]
pub struct OffloadConfig {
    /// Slots (jobs in flight, the queue depth).
    pub slots: usize,
    pub in_bytes: usize,
    pub out_bytes: usize,
    /// Each slot's third buffer (0: none), for a job that chains two transforms.
    pub spare_bytes: usize,
    /// Jobs per doorbell.
    pub batch: usize,
    /// A device answering later than this is declared dead and the CPU takes over.
    pub device_timeout_ns: u64,
    pub engine: EngineConfig,
}

/// The host's end of a node's queue pair: in this process (the device shares the host's
/// memory) or in memory shared with a device process, whose every answer is checked.
/// The offload logic is the same for both; only these three calls differ.
enum HostEnd {
    InProcess(HostQueue),
    Shared(ShmHost),
}

impl HostEnd {
    /// Queues descriptors; the device sees them at the next doorbell at the latest.
    fn submit(&mut self, descs: &[Descriptor]) -> Result<usize, String> {
        match self {
            HostEnd::InProcess(q) => Ok(q.submit(descs)),
            HostEnd::Shared(h) => h.push(descs).map_err(|e| what_the_device_did(&e)),
        }
    }

    fn ring_doorbell(&mut self) {
        match self {
            HostEnd::InProcess(q) => q.ring_doorbell(),
            HostEnd::Shared(h) => h.ring_doorbell(),
        }
    }

    /// Appends up to `budget` completions to `out`. On a device fault the completions
    /// checked before it are in `out` and the fault is the error.
    fn poll(&mut self, budget: usize, out: &mut Vec<Completion>) -> Result<usize, String> {
        match self {
            HostEnd::InProcess(q) => q.poll(budget, out).map_err(|e| e.to_string()),
            HostEnd::Shared(h) => h.poll(budget, out).map_err(|e| what_the_device_did(&e)),
        }
    }
}

/// A queue-pair fault as what the device did, for "device {it}: the host CPU took over".
fn what_the_device_did(e: &dpukit_ffi::ShmError) -> String {
    let line = e.to_string();
    match line.strip_prefix("device ") {
        Some(rest) => rest.to_string(),
        None => format!("failed ({line})"),
    }
}

/// The device serving this node's queue pair, and the host's end of it.
struct Attached {
    // Dropped before `device`: a device process sees the host close its end and exits.
    queue: HostEnd,
    device: Box<dyn Device>,
    clock: DeviceClock,
    region: u32,
    dead: bool,
    /// Jobs submitted since the doorbell last rang.
    unrung_jobs: usize,
    /// Ops the device answered it does not run (`UNKNOWN_OPCODE`, `BAD_ALGORITHM`): from
    /// then on they run on the host CPU without being offered.
    refused: Vec<(Opcode, Option<Algorithm>)>,
    /// Completions the host took from the device, and how many were errors.
    answered: u64,
    error_answers: u64,
    /// Descriptors submitted and not yet answered by a completion.
    unanswered: u64,
}

impl Attached {
    fn new(queue: HostEnd, device: Box<dyn Device>, region: u32) -> Attached {
        let clock = device.clock();
        Attached {
            queue,
            device,
            clock,
            region,
            dead: false,
            unrung_jobs: 0,
            refused: Vec::new(),
            answered: 0,
            error_answers: 0,
            unanswered: 0,
        }
    }

    fn offers(&self, opcode: Opcode, algorithm: Option<Algorithm>) -> bool {
        self.device.supports(opcode, algorithm) && !self.refused.contains(&(opcode, algorithm))
    }
}

/// Statuses with which a device says it does not run an op (rather than that the op
/// failed): the op runs on the host CPU.
fn refuses(status: Status) -> bool {
    matches!(status, Status::UnknownOpcode | Status::BadAlgorithm)
}

/// Counters of the offload layer.
#[derive(Debug, Clone, Default)]
pub struct OffloadStats {
    pub jobs: u64,
    pub ops_on_host: u64,
    pub ops_on_device: u64,
    pub fallbacks: Fallbacks,
    /// Wall time spent running the simulator (excluded from the host clock).
    pub sim_wall_ns: u64,
    /// CPU time spent running the simulator (excluded from host CPU figures).
    pub sim_cpu_ns: u64,
}

/// One node's offload interface.
pub struct Offload {
    pool: DmaPool,
    registry: Registry,
    device: Option<Attached>,
    jobs: Vec<Option<Job>>,
    free: Vec<usize>,
    batch: usize,
    timeout_ns: u64,
    /// The host clock's source: the TSC where it is invariant (a read costs a few ns; the
    /// OS clock costs tens of ns in a VM, several times per job), else the OS's monotonic
    /// clock. `start_raw` is its reading when this interface was built.
    clock: quanta::Clock,
    start_raw: u64,
    /// Offload mode: the host clock skips simulator time and jumps on waits.
    wait_offset_ns: u64,
    /// Wall time that is not this node's work (waiting for other nodes), off the clock.
    excluded_wall_ns: u64,
    stats: OffloadStats,
    /// Offload mode against a profile without a device: every op is a fallback.
    no_device: bool,
    /// Completion buffer reused by every poll of the device.
    cpl_buf: Vec<Completion>,
    /// Complete jobs by (ready time, slot), earliest first, so [`Offload::next_finished`]
    /// costs in proportion to completions, not slots. Every complete job has an entry with
    /// its current `ready_ns`; an entry whose job is gone, incomplete or ready at another
    /// time is stale and skipped.
    ready: BinaryHeap<Reverse<(u64, usize)>>,
    /// Slots whose jobs completed since the last retry check of `next_finished`.
    fresh: Vec<usize>,
    /// Jobs submitted and not yet handed back.
    live_jobs: usize,
}

/// Why the offload layer could not be set up or used.
#[derive(Debug, thiserror::Error)]
pub enum OffloadError {
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error("device: {0}")]
    Device(String),
    #[error("job has {0} ops; at most {MAX_OPS_PER_JOB}")]
    TooManyOps(usize),
    #[error("op length {len} exceeds the slot's {cap}-byte buffer")]
    TooLong { len: u32, cap: usize },
    #[error("{0} reads and writes the same buffer of its slot")]
    SameBuffer(&'static str),
}

/// Time the calling thread has spent runnable but waiting for a CPU, ns (the second
/// field of Linux's `/proc/thread-self/schedstat`); `None` where the kernel keeps no
/// scheduler statistics.
pub fn thread_cpu_wait_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time of the calling thread, ns.
pub fn thread_cpu_ns() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID) {
        Ok(ts) => ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64,
        Err(_) => 0,
    }
}

impl Offload {
    /// Host backend: every op runs on the calling thread.
    pub fn host(registry: Registry, cfg: &OffloadConfig) -> Result<Offload, OffloadError> {
        Ok(Offload::build(registry, cfg, Offload::own_pool(cfg)?))
    }

    /// DPU backend: the simulator for `profile`. A profile without a device (host-only)
    /// gives a backend whose every op falls back to the CPU, counted as unsupported. The
    /// user kernels of `registry` (C plugins) are bound on the device too, each at its
    /// profile's `[[user_kernels]]` cost: a device that cannot run one is an error.
    pub fn dpu(registry: Registry, cfg: &OffloadConfig, profile: &Profile) -> Result<Offload, OffloadError> {
        let engine_cfg = cfg.engine.clone();
        // The same cache index; user kernels are bound below, each with its cost.
        let sim_registry = Registry::new(registry.cache().clone());
        let user: Vec<_> = registry.user_kernels().map(|(op, k)| (op, k.clone())).collect();
        Offload::with_device(registry, cfg, |queue| {
            match SimulatedDevice::new(profile, sim_registry, engine_cfg, queue) {
                Ok(mut d) => {
                    for (opcode, kernel) in user {
                        d.bind_user_kernel(opcode, kernel)
                            .map_err(|e| OffloadError::Device(e.to_string()))?;
                    }
                    Ok(Some(Box::new(d) as Box<dyn Device>))
                }
                Err(EngineError::Model(ModelError::NoDevice { .. })) => Ok(None),
                Err(e) => Err(OffloadError::Device(e.to_string())),
            }
        })
        .map(|mut off| {
            if off.device.is_none() {
                off.stats
                    .fallbacks
                    .reasons
                    .push(format!("profile `{}` has no device: every op ran on the host CPU", profile.name));
                off.no_device = true;
            }
            off
        })
    }

    /// Offload backend with the device `choice` names, for `profile` (the simulator of
    /// the profile, or a device that the profile models).
    pub fn with_choice(
        registry: Registry,
        cfg: &OffloadConfig,
        profile: &Profile,
        choice: &DeviceChoice,
    ) -> Result<Offload, OffloadError> {
        match choice {
            DeviceChoice::Simulated => Offload::dpu(registry, cfg, profile),
            DeviceChoice::Thread | DeviceChoice::SimPaced => {
                let engine_cfg = cfg.engine.clone();
                let dev_registry = registry.clone();
                let paced = *choice == DeviceChoice::SimPaced;
                let mut off = Offload::with_device(registry, cfg, |queue| {
                    let made = if paced {
                        ThreadDevice::paced(profile, dev_registry, engine_cfg, queue)
                    } else {
                        ThreadDevice::measured(profile, dev_registry, engine_cfg, queue)
                    };
                    match made {
                        Ok(d) => Ok(Some(Box::new(d) as Box<dyn Device>)),
                        Err(EngineError::Model(ModelError::NoDevice { .. })) => Ok(None),
                        Err(e) => Err(OffloadError::Device(e.to_string())),
                    }
                })?;
                if off.device.is_none() {
                    off.stats.fallbacks.reasons.push(format!(
                        "profile `{}` has no device: every op ran on the host CPU",
                        profile.name
                    ));
                    off.no_device = true;
                }
                Ok(off)
            }
            DeviceChoice::Process(spec) => Offload::with_process(registry, cfg, spec),
            DeviceChoice::Dpdk(spec) => Offload::with_dpdk(registry, cfg, spec),
        }
    }

    /// Offload backend served by a DPDK compressdev queue pair (see [`crate::dpdk`]): what
    /// the device runs and what it leaves to the host CPU is one of the fallback reasons.
    #[cfg(feature = "dpdk")]
    pub fn with_dpdk(
        registry: Registry,
        cfg: &OffloadConfig,
        spec: &crate::dpdk::DpdkSpec,
    ) -> Result<Offload, OffloadError> {
        let max_bytes = cfg.in_bytes.max(cfg.out_bytes).max(cfg.spare_bytes);
        let timeout = Duration::from_nanos(cfg.device_timeout_ns);
        let mut note = String::new();
        let mut off = Offload::with_device(registry, cfg, |queue| {
            let d = crate::dpdk::DpdkDevice::open(spec, queue, max_bytes, cfg.slots, timeout)
                .map_err(OffloadError::Device)?;
            note = d.capability_note().to_string();
            Ok(Some(Box::new(d) as Box<dyn Device>))
        })?;
        // What the device leaves to the host: a reason once an op falls back, not a warning
        // now (a run whose ops the device all takes falls back on nothing).
        tracing::info!(target: "dpukit::device", capabilities = %note, "DPDK device opened");
        if !off.stats.fallbacks.reasons.contains(&note) {
            off.stats.fallbacks.reasons.push(note);
        }
        Ok(off)
    }

    /// Without the `dpdk` feature there is no DPDK device: one line says how to build it.
    #[cfg(not(feature = "dpdk"))]
    pub fn with_dpdk(
        _registry: Registry,
        _cfg: &OffloadConfig,
        _spec: &crate::dpdk::DpdkSpec,
    ) -> Result<Offload, OffloadError> {
        Err(OffloadError::Device(crate::dpdk::NOT_BUILT.into()))
    }

    /// Offload backend served by a device process (`spec`'s program): the queue pair and
    /// the DMA pool live in one shared memory file, the pool with guard pages around every
    /// buffer. The process is started here, before any work.
    pub fn with_process(
        registry: Registry,
        cfg: &OffloadConfig,
        spec: &ProcessSpec,
    ) -> Result<Offload, OffloadError> {
        let dev_err = |e: dpukit_ffi::ShmError| OffloadError::Device(e.to_string());
        let slots = cfg.slots.max(1);
        let pool_bytes = DmaPool::shared_bytes(slots, cfg.in_bytes, cfg.out_bytes, cfg.spare_bytes)?;
        let entries = queue_entries(cfg);
        let mut host = ShmHost::create(ShmConfig {
            sq_entries: entries,
            cq_entries: entries,
            max_regions: 1,
            data_bytes: pool_bytes as u64,
        })
        .map_err(dev_err)?;
        let region = host.alloc_region(pool_bytes as u64).map_err(dev_err)?;
        let (base, len) = host
            .region_raw(region.id)
            .and_then(|(p, len)| Some((std::ptr::NonNull::new(p)?, len)))
            .ok_or_else(|| OffloadError::Device("shared DMA region is missing".into()))?;
        // SAFETY: the region is `len` writable bytes of the shared mapping, at the start of
        // its page-aligned data area; the keep-alive holds the mapping as long as the pool;
        // nothing else in this process touches the region (the host end only copies
        // through `write_region`/`read_region`, which the offload layer never calls).
        let pool = unsafe {
            DmaPool::over_shared(
                base,
                len,
                host.keep_alive(),
                slots,
                cfg.in_bytes,
                cfg.out_bytes,
                cfg.spare_bytes,
            )?
        };
        let device = ProcessDevice::start(spec, &host, registry.cache().capacity_entries())
            .map_err(OffloadError::Device)?;
        let mut off = Offload::build(registry, cfg, pool);
        off.device = Some(Attached::new(HostEnd::Shared(host), Box::new(device), region.id.0));
        Ok(off)
    }

    /// A backend whose device `make` builds on the device end of this node's queue pair
    /// (`None`: there is no device, every op runs on the host CPU). The DMA pool is the
    /// queue pair's one registered region.
    pub fn with_device(
        registry: Registry,
        cfg: &OffloadConfig,
        make: impl FnOnce(DeviceQueue) -> Result<Option<Box<dyn Device>>, OffloadError>,
    ) -> Result<Offload, OffloadError> {
        let mut off = Offload::build(registry, cfg, Offload::own_pool(cfg)?);
        let entries = queue_entries(cfg);
        let (queue, dev) =
            QueuePair::create(QueuePairConfig { sq_entries: entries, cq_entries: entries, max_regions: 4 })
                .map_err(|e| OffloadError::Device(e.to_string()))?;
        let Some(device) = make(dev)? else { return Ok(off) };
        let (base, len) = off.pool.raw_region();
        // SAFETY: the pool's allocation lives in `off` as long as the queue pair and the
        // device (both dropped with `off`, device first: see `Drop`), and the pool only
        // lends the host slots that are not in flight.
        let region =
            unsafe { queue.register_region(base, len) }.map_err(|e| OffloadError::Device(e.to_string()))?.0;
        off.device = Some(Attached::new(HostEnd::InProcess(queue), device, region));
        Ok(off)
    }

    fn own_pool(cfg: &OffloadConfig) -> Result<DmaPool, OffloadError> {
        Ok(DmaPool::with_spare(cfg.slots.max(1), cfg.in_bytes, cfg.out_bytes, cfg.spare_bytes)?)
    }

    fn build(registry: Registry, cfg: &OffloadConfig, pool: DmaPool) -> Offload {
        let slots = pool.slots();
        let clock = quanta::Clock::new();
        Offload {
            pool,
            registry,
            device: None,
            jobs: vec![None; slots],
            free: (0..slots).rev().collect(),
            batch: cfg.batch.max(1),
            timeout_ns: cfg.device_timeout_ns,
            start_raw: clock.raw(),
            clock,
            excluded_wall_ns: 0,
            wait_offset_ns: 0,
            stats: OffloadStats::default(),
            no_device: false,
            cpl_buf: Vec::with_capacity(1024),
            ready: BinaryHeap::with_capacity(slots),
            fresh: Vec::with_capacity(slots),
            live_jobs: 0,
        }
    }

    /// Whether a device is attached (dead or alive).
    pub fn has_device(&self) -> bool {
        self.device.is_some()
    }

    pub fn device_alive(&self) -> bool {
        self.device.as_ref().is_some_and(|d| !d.dead)
    }

    /// What the device did so far, if there is one. A device that keeps no counts of its
    /// own (a device process) gets the host's: completions taken, and error completions.
    pub fn device_report(&self) -> Option<DeviceReport> {
        self.device.as_ref().map(|d| {
            let mut r = d.device.report();
            if r.descriptors == 0 {
                r.descriptors = d.answered;
                r.error_completions = d.error_answers;
            }
            r
        })
    }

    /// What the device is ("bluefield-2 (simulated)"), if there is one.
    pub fn device_name(&self) -> Option<String> {
        self.device.as_ref().map(|d| d.device.name())
    }

    /// How the device's completion times are known, if there is one.
    pub fn device_clock(&self) -> Option<DeviceClock> {
        self.device.as_ref().map(|d| d.clock)
    }

    pub fn stats(&self) -> &OffloadStats {
        &self.stats
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The host clock in ns since this interface was built.
    pub fn now_ns(&self) -> u64 {
        let wall = self.clock.delta_as_nanos(self.start_raw, self.clock.raw());
        wall.saturating_sub(self.stats.sim_wall_ns + self.excluded_wall_ns) + self.wait_offset_ns
    }

    /// Keeps `ns` of wall time just spent off the host clock: time this node waited for
    /// other nodes (a barrier) whose own clocks do not count the same wall time (in
    /// offload mode each skips its simulator's time).
    pub fn exclude_wall_ns(&mut self, ns: u64) {
        self.excluded_wall_ns += ns;
    }

    /// Moves the host clock forward to `t_ns` if it is behind; the clock's new reading.
    fn advance_to(&mut self, t_ns: u64) -> u64 {
        let now = self.now_ns();
        self.advance_from(now, t_ns)
    }

    /// [`advance_to`](Self::advance_to) from a clock reading `now` just taken.
    fn advance_from(&mut self, now: u64, t_ns: u64) -> u64 {
        if t_ns > now {
            self.wait_offset_ns += t_ns - now;
            t_ns
        } else {
            now
        }
    }

    pub fn in_flight(&self) -> usize {
        self.pool.slots() - self.free.len()
    }

    /// A free slot, if any.
    pub fn take_slot(&mut self) -> Option<usize> {
        self.free.pop()
    }

    /// The host's view of a slot (input, output).
    pub fn slot(&mut self, slot: usize) -> Result<(&mut [u8], &mut [u8]), OffloadError> {
        Ok(self.pool.slot(slot)?)
    }

    /// Returns a slot to the free list once the caller is done with its bytes.
    pub fn release(&mut self, slot: usize) {
        debug_assert!(self.jobs[slot].is_none() && !self.pool.is_in_flight(slot));
        self.free.push(slot);
    }

    /// Submits a job on `slot`. `user` comes back in [`Finished`].
    pub fn submit(&mut self, slot: usize, user: u64, ops: &[SlotOp]) -> Result<(), OffloadError> {
        if ops.len() > MAX_OPS_PER_JOB {
            return Err(OffloadError::TooManyOps(ops.len()));
        }
        for op in ops {
            let (len, cap) = match *op {
                SlotOp::Crc32c { buf, len } => (len, self.buf_bytes(buf)),
                SlotOp::Compress { len, .. } => (len, self.pool.in_bytes()),
                SlotOp::Decompress { src, len, .. } => (len, self.buf_bytes(src)),
                SlotOp::User { src, dst, len, .. } => (len, self.buf_bytes(src).min(self.buf_bytes(dst))),
                SlotOp::Crc32cAt { offset, len, .. } => (offset.saturating_add(len), self.pool.in_bytes()),
                SlotOp::Copy { offset, len } | SlotOp::CopyCrc32c { offset, len, .. } => {
                    (offset.saturating_add(len), self.pool.in_bytes().min(self.pool.out_bytes()))
                }
                _ => (0, 0),
            };
            if len as usize > cap {
                return Err(OffloadError::TooLong { len, cap });
            }
            if let (Some(a), Some(b)) = op.buffers() {
                if a == b {
                    return Err(OffloadError::SameBuffer(op_name(op)));
                }
            }
        }
        self.stats.jobs += 1;
        let now = self.now_ns();
        // In place before any op runs: a chained op run on the host reads its seed there.
        self.jobs[slot] = Some(Job {
            user,
            ops: JobVec::from_slice(ops),
            results: smallvec::smallvec![None; ops.len()],
            deferred: 0,
            settled: false,
            submitted_ns: now,
            ready_ns: now,
        });
        self.live_jobs += 1;
        let alive = self.device_alive();
        let mut descs: JobVec<Descriptor> = JobVec::new();
        // Buffers an earlier op of this job writes: an op reading one is fenced behind it,
        // so the device's model does not start it before its input exists.
        let mut written: JobVec<Buf> = JobVec::new();
        for (i, op) in ops.iter().enumerate() {
            let (reads, writes) = op.buffers();
            let fenced = reads.is_some_and(|b| written.contains(&b));
            written.extend(writes);
            let (opcode, algorithm) = op.opcode();
            let offered = alive && self.device.as_ref().is_some_and(|d| d.offers(opcode, algorithm));
            // After an op the host runs once the device has answered, every later op of the
            // job is the host's too: the device would run it before that op.
            let behind_host = job_deferred(self.jobs[slot].as_ref()) && offered;
            let on_device = offered && !behind_host;
            if on_device {
                let d = self.descriptor(slot, i, op);
                descs.push(if fenced { d.with_flags(DescFlags::COMPLETION | DescFlags::FENCE) } else { d });
            } else {
                if behind_host {
                    self.stats.fallbacks.unsupported_ops += 1;
                    let reason = format!(
                        "{} ran on the host CPU after an op of its job the device does not run (a job's ops run in order)",
                        op_name(op)
                    );
                    push_reason(&mut self.stats.fallbacks, reason);
                } else if self.no_device {
                    self.stats.fallbacks.unsupported_ops += 1;
                } else if self.device.is_some() && alive {
                    self.stats.fallbacks.unsupported_ops += 1;
                    let reason = format!("{} not supported by the device: ran on the host CPU", op_name(op));
                    push_reason(&mut self.stats.fallbacks, reason);
                } else if self.device.is_some() {
                    // The device was given up: every later op is the host's because of that.
                    self.stats.fallbacks.after_timeout += 1;
                }
                let job = self.jobs[slot].as_mut().expect("job placed above");
                if descs.is_empty() {
                    let r = self.run_on_host(slot, op)?;
                    self.jobs[slot].as_mut().expect("job placed above").results[i] = Some(r);
                } else {
                    job.deferred |= 1 << i;
                }
            }
        }
        if descs.is_empty() {
            let now = self.now_ns();
            self.jobs[slot].as_mut().expect("job placed above").ready_ns = now;
            self.completed(slot, now);
            return Ok(());
        }
        self.pool.mark_in_flight(slot)?;
        let dev = self.device.as_mut().expect("alive device");
        // The queue holds MAX_OPS_PER_JOB descriptors per slot, so only a device that broke
        // the ring (a shared one) can make it refuse some: the CPU takes over.
        match dev.queue.submit(&descs) {
            Ok(n) if n == descs.len() => {}
            Ok(n) => {
                let why = format!("took {n} of {} descriptors into a ring sized for all", descs.len());
                return self.fail_over(self.now_ns(), &why);
            }
            Err(why) => return self.fail_over(self.now_ns(), &why),
        }
        dev.unrung_jobs += 1;
        dev.unanswered += descs.len() as u64;
        if dev.unrung_jobs >= self.batch {
            self.flush();
            // A DPU polls its queues: it fetches a batch when its doorbell rings, not when
            // the host next asks for completions.
            self.drive_device()?;
        }
        Ok(())
    }

    fn descriptor(&self, slot: usize, i: usize, slot_op: &SlotOp) -> Descriptor {
        let op = slot_op;
        let region = self.device.as_ref().expect("device").region;
        let tag = ((slot as u64) << 8) | i as u64;
        let at = |buf: Buf, len: usize| {
            let offset = match buf {
                Buf::In => self.pool.in_offset(slot),
                Buf::Out => self.pool.out_offset(slot),
                Buf::Spare => self.pool.spare_offset(slot),
            };
            BufRef::new(region, offset, len as u32)
        };
        let whole = |buf: Buf| at(buf, self.buf_bytes(buf));
        let op = match *op {
            SlotOp::Crc32c { buf, len } => Op::Crc32c { src: at(buf, len as usize), seed: 0 },
            SlotOp::Compress { algorithm, level, len } => {
                Op::Compress { src: at(Buf::In, len as usize), dst: whole(Buf::Out), algorithm, level }
            }
            SlotOp::Decompress { algorithm, src, dst, len } => {
                Op::Decompress { src: at(src, len as usize), dst: whole(dst), algorithm }
            }
            SlotOp::CacheLookup { key } => Op::CacheLookup { key, dst: at(Buf::Out, 16) },
            SlotOp::CacheInsert { key, value } => Op::CacheInsert { key, value },
            SlotOp::Crc32cAt { offset, len, .. } => Op::Crc32c {
                src: BufRef::new(region, self.pool.in_offset(slot) + offset as u64, len),
                seed: 0,
            },
            SlotOp::Copy { offset, len } => Op::Copy {
                src: BufRef::new(region, self.pool.in_offset(slot) + offset as u64, len),
                dst: BufRef::new(region, self.pool.out_offset(slot) + offset as u64, len),
            },
            SlotOp::CopyCrc32c { offset, len, .. } => Op::CopyCrc32c {
                src: BufRef::new(region, self.pool.in_offset(slot) + offset as u64, len),
                dst: BufRef::new(region, self.pool.out_offset(slot) + offset as u64, len),
                seed: 0,
            },
            SlotOp::User { opcode, arg0, arg1, src, dst, len } => Op::User {
                opcode,
                src: at(src, len as usize),
                dst: at(dst, len as usize),
                arg0,
                arg1,
                algo: 0,
                level: 0,
            },
        };
        let d = Descriptor::new(tag, op);
        if slot_op.chained() {
            d.with_flags(DescFlags::COMPLETION | DescFlags::CRC_SEED_PREV)
        } else {
            d
        }
    }

    /// Bytes of one buffer of a slot.
    fn buf_bytes(&self, buf: Buf) -> usize {
        match buf {
            Buf::In => self.pool.in_bytes(),
            Buf::Out => self.pool.out_bytes(),
            Buf::Spare => self.pool.spare_bytes(),
        }
    }

    /// Rings the doorbell for jobs submitted since the last one.
    pub fn flush(&mut self) {
        if let Some(dev) = self.device.as_mut().filter(|d| !d.dead) {
            if dev.unrung_jobs > 0 {
                dev.queue.ring_doorbell();
                dev.unrung_jobs = 0;
            }
        }
    }

    fn job_complete(job: &Job) -> bool {
        job.results.iter().all(|r| r.is_some())
    }

    /// Every op the device was given is answered (the deferred ones wait for this).
    fn device_done(job: &Job) -> bool {
        job.results.iter().enumerate().all(|(i, r)| r.is_some() || job.deferred & (1 << i) != 0)
    }

    /// Runs the job's deferred ops on the host CPU, in their order.
    fn run_deferred(&mut self, slot: usize) -> Result<(), OffloadError> {
        let Some(job) = self.jobs[slot].as_ref() else { return Ok(()) };
        let waiting: JobVec<(usize, SlotOp)> = (0..job.ops.len())
            .filter(|&i| job.results[i].is_none() && job.deferred & (1 << i) != 0)
            .map(|i| (i, job.ops[i]))
            .collect();
        for (i, op) in waiting {
            let r = self.run_on_host(slot, &op)?;
            self.jobs[slot].as_mut().expect("job").results[i] = Some(r);
        }
        Ok(())
    }

    /// Lists the job on `slot`, complete at `ready_ns`, for `next_finished`.
    fn completed(&mut self, slot: usize, ready_ns: u64) {
        self.ready.push(Reverse((ready_ns, slot)));
        self.fresh.push(slot);
    }

    /// The next finished job, waiting (on the host clock) for the earliest one.
    /// `None` when nothing is in flight.
    pub fn next_finished(&mut self) -> Result<Option<Finished>, OffloadError> {
        self.flush();
        let mut idle_rounds = 0;
        loop {
            self.drive_device()?;
            // Retry on the CPU what the device failed or does not run, with every later
            // device op of the job (it may have read what the failed op did not write).
            // Only jobs completed since the last look can hold such ops.
            while let Some(slot) = self.fresh.pop() {
                let Some(job) = self.jobs[slot].as_ref().filter(|j| Self::device_done(j)) else { continue };
                // Answered after the timeout: the whole job is the fail-over's, which reruns its
                // ops in their order. Retrying a later op here first would let it overwrite what
                // an earlier op the fail-over reruns reads.
                if self.device_alive() && job.ready_ns > job.submitted_ns.saturating_add(self.timeout_ns) {
                    continue;
                }
                let first = job.results.iter().position(|r| {
                    r.is_some_and(|r| {
                        r.ran_on == RanOn::Device
                            && (r.status == Status::DeviceUnavailable || refuses(r.status))
                    })
                });
                let Some(first) = first else { continue };
                // In the job's order: the deferred ops, and from the failed op on every op the
                // device ran.
                let retry: JobVec<(usize, SlotOp, Option<Status>)> = (0..job.ops.len())
                    .filter_map(|i| match job.results[i] {
                        None => Some((i, job.ops[i], None)),
                        Some(r) if i >= first && r.ran_on == RanOn::Device => {
                            Some((i, job.ops[i], Some(r.status)))
                        }
                        Some(_) => None,
                    })
                    .collect();
                self.pool.mark_done(slot)?;
                self.jobs[slot].as_mut().expect("job").settled = true;
                for (i, op, answered) in retry {
                    let r = self.run_on_host(slot, &op)?;
                    self.jobs[slot].as_mut().expect("job").results[i] = Some(r);
                    let Some(status) = answered else { continue };
                    if status == Status::DeviceUnavailable {
                        self.stats.fallbacks.after_device_error += 1;
                        push_reason(
                            &mut self.stats.fallbacks,
                            "device error completion: op retried on the host CPU".into(),
                        );
                    } else if refuses(status) {
                        self.stats.fallbacks.unsupported_ops += 1;
                        let (opcode, algorithm) = op.opcode();
                        let dev = self.device.as_mut().expect("a device answered");
                        if !dev.refused.contains(&(opcode, algorithm)) {
                            dev.refused.push((opcode, algorithm));
                        }
                        let reason = format!(
                            "{} not run by the device (it answered {}): ran on the host CPU",
                            op_label(&op),
                            status.describe()
                        );
                        push_reason(&mut self.stats.fallbacks, reason);
                    }
                }
            }
            // Earliest complete job (ties: lowest slot), dropping stale entries on the way.
            let mut best = None;
            while let Some(&Reverse((ready_ns, slot))) = self.ready.peek() {
                let valid =
                    self.jobs[slot].as_ref().is_some_and(|j| j.ready_ns == ready_ns && Self::device_done(j));
                if valid {
                    best = Some((ready_ns, slot));
                    break;
                }
                self.ready.pop();
            }
            if let Some((ready_ns, slot)) = best {
                let job = self.jobs[slot].as_ref().expect("job");
                if self.device_alive() && ready_ns > job.submitted_ns.saturating_add(self.timeout_ns) {
                    let at = job.submitted_ns + self.timeout_ns;
                    self.fail_over(at, "answered after the timeout")?;
                    continue;
                }
                self.ready.pop();
                // A host that slept through the wait pays its wake-up (a modelled device's
                // profile says how much); one clock read serves the wake-up, the clock's
                // advance and the job's done time.
                let now = self.now_ns();
                let until = self.woken_at(now, ready_ns);
                let mut done_ns = self.advance_from(now, until);
                if !Self::job_complete(self.jobs[slot].as_ref().expect("job")) {
                    // The device has answered: the host runs what waited for it.
                    self.pool.mark_done(slot)?;
                    self.run_deferred(slot)?;
                    done_ns = self.now_ns();
                }
                let job = self.jobs[slot].take().expect("job");
                self.live_jobs -= 1;
                self.pool.mark_done(slot)?;
                let results = job.results.into_iter().map(|r| r.expect("complete")).collect();
                return Ok(Some(Finished {
                    slot,
                    user: job.user,
                    results,
                    submitted_ns: job.submitted_ns,
                    done_ns,
                }));
            }
            if self.live_jobs == 0 {
                return Ok(None);
            }
            // Jobs in flight, none complete. A device that runs on its own is waited for
            // in wall time, up to the timeout of the oldest job.
            let deadline = self.oldest_deadline();
            let now = self.now_ns();
            if let Some(dev) = self.device.as_mut().filter(|d| !d.dead && d.device.runs_on_its_own()) {
                if let Err(why) = dev.device.health() {
                    self.fail_over(now, &why)?;
                } else if now >= deadline {
                    self.fail_over(now, "stopped answering (timeout)")?;
                } else {
                    dev.device.wait(Duration::from_nanos((deadline - now).min(1_000_000)));
                }
                continue;
            }
            // An inline device with nothing pending has nothing left to give.
            let pending = self.device.as_ref().map_or(0, |d| d.device.pending());
            if pending == 0 {
                idle_rounds += 1;
                if idle_rounds >= 3 {
                    self.fail_over(deadline, "stopped answering (timeout)")?;
                }
            }
        }
    }
}

impl Offload {
    /// The host time by which the oldest job in flight is overdue. A scan of every slot:
    /// taken only while no job is complete.
    fn oldest_deadline(&self) -> u64 {
        let oldest = self.jobs.iter().flatten().map(|j| j.submitted_ns).min().unwrap_or(0);
        oldest.saturating_add(self.timeout_ns)
    }
}

impl Drop for Offload {
    fn drop(&mut self) {
        // The device (and its queue pair, which registered the pool) goes first.
        self.device = None;
    }
}

/// Descriptor entries for a node's queue pair: every slot's ops fit at once.
fn queue_entries(cfg: &OffloadConfig) -> u32 {
    (cfg.slots.max(1) * MAX_OPS_PER_JOB).next_power_of_two().clamp(8, 65536) as u32
}

/// Records a fallback's reason once; each new reason is logged (later ones at debug).
/// Whether the job has an op waiting to run on the host after the device's answers.
fn job_deferred(job: Option<&Job>) -> bool {
    job.is_some_and(|j| j.deferred != 0)
}

fn push_reason(f: &mut Fallbacks, reason: String) {
    if !f.reasons.contains(&reason) {
        tracing::warn!(target: "dpukit::fallback", reason = %reason, "falling back to the host CPU");
        if f.reasons.len() < 16 {
            f.reasons.push(reason);
        }
    } else {
        tracing::trace!(target: "dpukit::fallback", reason = %reason, "fallback");
    }
}

#[cfg(test)]
mod tests;
