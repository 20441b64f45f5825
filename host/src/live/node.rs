//! One node of a live run: what it shares with the others ([`Ctx`]), what it measures
//! ([`NodeOut`]), and the per-chunk steps several scenarios share (read a cache hit,
//! verify a stored chunk).

#![forbid(unsafe_code)]

use crate::device::DeviceClock;
use crate::live::env::{off_err, tier_err, Env};
use crate::live::jobs::{stage_name, SlotChunk};
use crate::live::publish::Catalog;
use crate::live::sync::{NodeSync, Peers};
use crate::metrics::{host_name, StageHist};
use crate::offload::{thread_cpu_ns, Finished, Offload, RanOn};
use crate::result::{Fallbacks, Mode, ResourceUse, Source, Verification};
use crate::run::{Progress, RunError};
use crate::scenario::{insert, lookup, verify, Job};
use crate::spec::ScenarioSpec;
use crate::tier::{Backend, BlobCopier, IoEngine, LocalTier};
use dpukit_ffi::Status;
use dpukit_kernels::cache_index::Location;
use dpukit_sim::profile::{FaultConfig, Profile};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Per-node measurement and outcome. It crosses processes as JSON (under MPI every rank
/// sends its node's to the leader), so it holds only plain data.
#[derive(Serialize, Deserialize)]
pub(super) struct NodeOut {
    pub(super) node: u32,
    /// Host name of the machine it ran on.
    pub(super) host: String,
    pub(super) bytes: u64,
    pub(super) ops: u64,
    /// Host clock from the start of the timed phase (the barrier) to the node's end.
    pub(super) end_ns: u64,
    pub(super) e2e: StageHist,
    pub(super) kernel: StageHist,
    pub(super) io: StageHist,
    /// Simulator CPU time (excluded from the host's) and CPU fallbacks.
    pub(super) sim_cpu_ns: u64,
    pub(super) fallbacks: Fallbacks,
    pub(super) device: Option<DeviceOut>,
    pub(super) digest_items: Vec<(u32, u64, u64, u32)>,
    pub(super) verification: Verification,
    pub(super) hits: u64,
    pub(super) misses: u64,
    pub(super) blob_egress_bytes: u64,
    pub(super) peer_bytes: u64,
    pub(super) stored_bytes: u64,
    /// CPU time of this node's thread (getrusage per thread), minus the simulator's.
    pub(super) thread_cpu_ns: u64,
    #[serde(skip)]
    pub(super) thread_cpu_start_ns: u64,
    #[serde(skip)]
    pub(super) start_ns: u64,
    /// Timeline (`--log-interval`): the interval width (0: off) and each interval so far.
    #[serde(skip)]
    pub(super) interval_ns: u64,
    #[serde(default)]
    pub(super) intervals: Vec<NodeInterval>,
    /// Host CPU of this thread (simulator excluded) when the last interval was opened.
    #[serde(skip)]
    cpu_mark_ns: u64,
}

/// Most intervals a node records; later completions count in the last one.
pub(super) const MAX_INTERVALS: usize = 100_000;

/// One interval of one node: the chunks that completed in it (every latency, so the
/// leader can take percentiles over all nodes) and the host CPU spent until it closed.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct NodeInterval {
    pub(super) bytes: u64,
    pub(super) ops: u64,
    pub(super) latencies_ns: Vec<u64>,
    pub(super) host_cpu_ns: u64,
}

impl NodeOut {
    pub(super) fn new(mode: Mode, node: u32) -> NodeOut {
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
            interval_ns: 0,
            intervals: Vec::new(),
            cpu_mark_ns: 0,
        }
    }

    /// A chunk finished at `now_ns` (the node's clock) after `latency_ns`: counts it, and
    /// with a timeline, in the interval it finished in.
    pub(super) fn chunk_done(&mut self, off: &Offload, now_ns: u64, latency_ns: u64, bytes: u64) {
        self.e2e.record(latency_ns);
        self.bytes += bytes;
        self.ops += 1;
        if self.interval_ns == 0 {
            return;
        }
        let i = ((now_ns.saturating_sub(self.start_ns) / self.interval_ns) as usize).min(MAX_INTERVALS - 1);
        if self.intervals.len() <= i {
            let open = self.intervals.len().saturating_sub(1);
            self.intervals.resize_with(i + 1, NodeInterval::default);
            self.charge_cpu(off, open, i);
        }
        let iv = &mut self.intervals[i];
        iv.bytes += bytes;
        iv.ops += 1;
        iv.latencies_ns.push(latency_ns);
    }

    /// Charges the host CPU spent since the last mark evenly to intervals `from..=to` (the
    /// thread's clock is read at completions only, so CPU between two completions is spread
    /// over the intervals between them).
    fn charge_cpu(&mut self, off: &Offload, from: usize, to: usize) {
        let cpu = thread_cpu_ns().saturating_sub(off.stats().sim_cpu_ns);
        let delta = cpu.saturating_sub(self.cpu_mark_ns);
        self.cpu_mark_ns = cpu;
        let Some(span) = self.intervals.get_mut(from..=to) else { return };
        let each = delta / span.len() as u64;
        for iv in span.iter_mut() {
            iv.host_cpu_ns += each;
        }
        if let Some(last) = span.last_mut() {
            last.host_cpu_ns += delta - each * (to - from + 1) as u64;
        }
    }

    /// Waits at the barrier that starts the timed phase, then starts this node's clocks.
    pub(super) fn begin(&mut self, ctx: &Ctx, off: &Offload) -> Result<(), RunError> {
        ctx.sync.wait()?;
        self.start_ns = off.now_ns();
        self.thread_cpu_start_ns = thread_cpu_ns();
        self.interval_ns = ctx.log_interval_ns;
        self.cpu_mark_ns = thread_cpu_ns().saturating_sub(off.stats().sim_cpu_ns);
        Ok(())
    }

    pub(super) fn finish(&mut self, off: &Offload) {
        self.end_ns = off.now_ns().saturating_sub(self.start_ns);
        if self.interval_ns > 0 && !self.intervals.is_empty() {
            let last = self.intervals.len() - 1;
            self.charge_cpu(off, last, last);
        }
        let stats = off.stats();
        self.sim_cpu_ns = stats.sim_cpu_ns;
        self.fallbacks = stats.fallbacks.clone();
        self.thread_cpu_ns =
            thread_cpu_ns().saturating_sub(self.thread_cpu_start_ns).saturating_sub(stats.sim_cpu_ns);
        let measured = off.device_clock().is_none_or(|c| c == DeviceClock::Measured);
        if off.device_clock().is_none() {
            // No device ran anything: every latency is a measured host figure.
            self.e2e.source = Source::Measured;
            self.kernel = {
                let mut k = StageHist::new("kernels", Source::Measured);
                k.merge(&self.kernel);
                k
            };
        } else if measured {
            // A device whose times the host measured.
            self.e2e.source = Source::Measured;
            self.kernel.source = Source::Measured;
        }
        if let Some(r) = off.device_report() {
            self.device = Some(DeviceOut {
                name: off.device_name().unwrap_or_default(),
                modelled: !measured,
                makespan_ns: r.makespan_ns,
                resources: r.resources,
                descriptors: r.descriptors,
                error_completions: r.error_completions,
                injected_errors: r.injected_errors,
                doorbells_dropped: r.doorbells_dropped,
                below_min_efficient_size: r.below_min_efficient_size,
                late_completions: r.late_completions,
                max_lag_ns: r.max_lag_ns,
                cpu_wait_ns: r.cpu_wait_ns,
            });
        }
    }

    pub(super) fn record_ops(&mut self, f: &Finished) {
        for r in &f.results {
            if r.ran_on == RanOn::Device
                || !matches!(r.status, Status::Ok | Status::NotFound)
                || r.latency_ns > 0
            {
                self.kernel.record(r.latency_ns);
            }
        }
    }

    pub(super) fn fail(&mut self, msg: String) {
        self.verification.ok = false;
        if self.verification.failures.len() < 20 {
            self.verification.failures.push(msg);
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct DeviceOut {
    /// What served the queue pair ("bluefield-2 (simulated)").
    pub(super) name: String,
    /// Its times came from a timing model (else the host measured them).
    pub(super) modelled: bool,
    pub(super) makespan_ns: u64,
    pub(super) resources: Vec<ResourceUse>,
    pub(super) descriptors: u64,
    pub(super) error_completions: u64,
    pub(super) injected_errors: u64,
    pub(super) doorbells_dropped: u64,
    pub(super) below_min_efficient_size: u64,
    pub(super) late_completions: u64,
    pub(super) max_lag_ns: u64,
    /// A device on a host thread: its time runnable but waiting for a CPU (measured).
    #[serde(default)]
    pub(super) cpu_wait_ns: Option<u64>,
}

/// Shared progress counter and callback.
pub(super) struct Prog {
    pub(super) done: AtomicU64,
    pub(super) total: u64,
    pub(super) mode: Mode,
    pub(super) cb: Option<crate::run::ProgressFn>,
    pub(super) last: Mutex<Instant>,
}

impl Prog {
    pub(super) fn add(&self, bytes: u64) {
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

/// What every node thread of a run shares.
pub(super) struct Ctx<'a> {
    pub(super) spec: &'a ScenarioSpec,
    pub(super) mode: Mode,
    pub(super) profile: &'a Profile,
    pub(super) faults: Option<&'a FaultConfig>,
    pub(super) corrupt: u64,
    pub(super) env: &'a Env,
    pub(super) prog: &'a Prog,
    pub(super) sync: &'a NodeSync<'a>,
    pub(super) peers: Option<&'a Peers<'a>>,
    pub(super) catalog: &'a Catalog,
    pub(super) copier: Option<&'a BlobCopier>,
    /// The I/O engine asked for, and the one the local tiers of this process's nodes use
    /// (psync if any node fell back to it).
    pub(super) io_engine: IoEngine,
    pub(super) io_engine_used: &'a Mutex<Option<Backend>>,
    /// Timeline interval width (0: no timeline).
    pub(super) log_interval_ns: u64,
    /// The device serving each node's queue pair in offload mode.
    pub(super) device: &'a crate::device::DeviceChoice,
    /// The scenario's plugin, loaded.
    pub(super) plugin: Option<&'a crate::plugin::Plugin>,
}

impl Ctx<'_> {
    /// Wall time a node spent waiting for others (a barrier, a peer's chunk) is not its
    /// own work: in offload mode, whose host clock is virtual (it skips the simulator's
    /// time, which the others' wall time includes), it is kept off the clock.
    pub(super) fn waited(&self, off: &mut Offload, since: Instant) {
        if self.mode == Mode::Offload {
            off.exclude_wall_ns(since.elapsed().as_nanos() as u64);
        }
    }
}

/// After a cache hit: the location the lookup wrote to the slot's output, and the stored
/// chunk read from the local tier into the slot's input.
pub(super) fn read_hit(
    off: &mut Offload,
    local: &mut LocalTier,
    shard: &str,
    slot: usize,
    out: &mut NodeOut,
) -> Result<Location, RunError> {
    let loc = {
        let (_, output) = off.slot(slot).map_err(off_err)?;
        let value: [u8; 16] = output[..16].try_into().map_err(|_| RunError::Job("lookup value".into()))?;
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

pub(super) fn flip_byte(path: &Path, offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset)?;
    b[0] ^= 0x5a;
    f.write_all_at(&b, offset)?;
    f.sync_data()
}

pub(super) fn read_at(path: &Path, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    std::fs::File::open(path)?.read_exact_at(buf, offset)
}

/// Verifies a stored chunk in a slot (the scenario's [`verify`] job) through the offload;
/// returns whether it checks out.
pub(super) fn verify_in_slot(
    off: &mut Offload,
    out: &mut NodeOut,
    spec: &ScenarioSpec,
    slot: usize,
    stored_len: u32,
    raw_len: u32,
    expect_crc: u32,
) -> Result<bool, RunError> {
    let job = verify(spec);
    let chunk = SlotChunk::stored(stored_len, raw_len);
    off.submit(slot, u64::MAX, &chunk.ops(&job)).map_err(off_err)?;
    // This node waits for its own verification (the window holds one job here).
    let f = match off.next_finished().map_err(off_err)? {
        Some(f) if f.slot == slot => f,
        Some(_) => return Err(RunError::Job("unexpected job finished".into())),
        None => return Err(RunError::Job("verification job lost".into())),
    };
    out.record_ops(&f);
    Ok(chunk.verifies(&job, &f, expect_crc))
}

/// Looks `key` up in the node's cache (the scenario's [`lookup`] job) and waits for the
/// answer: whether it was a hit. A lookup that fails is a miss: the chunk is then fetched
/// and verified like any other miss.
pub(super) fn lookup_in_slot(
    off: &mut Offload,
    out: &mut NodeOut,
    slot: usize,
    user: u64,
    key: [u8; 16],
) -> Result<bool, RunError> {
    let job = lookup();
    let mut chunk = SlotChunk::keyed(key);
    off.submit(slot, user, &chunk.ops(&job)).map_err(off_err)?;
    let f = off.next_finished().map_err(off_err)?.ok_or_else(|| RunError::Job("lookup lost".into()))?;
    out.record_ops(&f);
    // A failed lookup leaves `hit` false.
    let _ = chunk.apply(&job, &f);
    Ok(chunk.hit)
}

/// Records `location` under `key` in the node's cache (the scenario's [`insert`] job) and
/// waits for it. An insert that fails leaves the chunk uncached: a later lookup misses.
pub(super) fn insert_in_slot(
    off: &mut Offload,
    out: &mut NodeOut,
    slot: usize,
    user: u64,
    key: [u8; 16],
    location: [u8; 16],
) -> Result<(), RunError> {
    let mut chunk = SlotChunk::keyed(key);
    chunk.location = location;
    off.submit(slot, user, &chunk.ops(&insert())).map_err(off_err)?;
    let f = off.next_finished().map_err(off_err)?.ok_or_else(|| RunError::Job("insert lost".into()))?;
    out.record_ops(&f);
    Ok(())
}

/// Runs a chain of jobs on a chunk in a slot (the scenario's [`produce`]), each after the
/// one before, waiting for each; returns what they found.
pub(super) fn run_jobs_in_slot(
    off: &mut Offload,
    out: &mut NodeOut,
    slot: usize,
    jobs: &[Job],
    mut chunk: SlotChunk,
) -> Result<SlotChunk, RunError> {
    for (k, job) in jobs.iter().enumerate() {
        off.submit(slot, k as u64, &chunk.ops(job)).map_err(off_err)?;
        let f = off.next_finished().map_err(off_err)?.ok_or_else(|| RunError::Job("job lost".into()))?;
        out.record_ops(&f);
        chunk
            .apply(job, &f)
            .map_err(|(stage, status)| RunError::Job(format!("{} failed: {status}", stage_name(stage))))?;
    }
    Ok(chunk)
}
