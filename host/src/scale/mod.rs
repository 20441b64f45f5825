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
//! from timing the same op on the profile's `TimingModel` (`DpuShape::probe`), so the
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
//! **Scenarios.** Each runs its definition (`crate::scenario`), the one the live executor
//! runs: the same jobs on each chunk (priced from the calibration on the host, timed on
//! the profile on the device, `costs.rs`), the same work per node and the same phases.
//! What is modelled per scenario (the order in which a node's steps hold its resources) is
//! in one file each.
//!
//! **Batching.** A step's work for `B` consecutive chunks of one node is one event with
//! `B` times the service and the latency (a node waits on each chunk's steps in turn),
//! `B` chosen so the run stays within an event budget; at `B = 1` every chunk is its own event. Peer serving is tracked per block of
//! `B` chunks: the first node to fetch a block from the blob tier serves it to others from
//! the time it has received it.
//!
//! The same spec, seed and calibration give the same result bit for bit.

#![forbid(unsafe_code)]

mod assemble;
mod cluster;
mod costs;
mod fan_in_read;
mod fan_out_read;
mod fan_out_write;
mod kv_cache;
mod model;

pub use cluster::ClusterSpec;

use crate::calibrate::{Calibration, CalibrationError};
use crate::placement::placement_notes;
use crate::result::{Mode, RunResult};
use crate::scale::assemble::assemble;
use crate::scale::costs::{costs, shapes, Costs, Shapes};
use crate::scale::fan_in_read::fan_in_read;
use crate::scale::fan_out_read::fan_out_read;
use crate::scale::fan_out_write::fan_out_write;
use crate::scale::kv_cache::{kv_cache, kv_plan};
use crate::scale::model::{Model, Step};
use crate::scenario::fan_out_read::PASSES;
use crate::spec::{ScenarioKind, ScenarioSpec, SpecError};
use dpukit_sim::des::dpu_resources;
use dpukit_sim::profile::{Profile, ProfileKind};
use dpukit_sim::timing::SimTime;

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
    /// The scenario's plugin cannot be loaded or run on the profile.
    #[error(transparent)]
    Plugin(#[from] crate::plugin::PluginError),
}

/// Everything a scale run needs besides the scenario.
#[derive(Debug, Clone)]
pub struct ScaleOptions {
    pub cluster: ClusterSpec,
    pub calibration: Calibration,
    /// Where the calibration came from (a file, or "measured now"), for the record.
    pub calibration_source: String,
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
    let plugin = crate::plugin::prepare(spec, mode, profile)?;
    if let Some(p) = &plugin {
        notes.push(crate::plugin::placement_note(p, mode, profile));
    }
    let c = costs(spec, cal, plugin.as_ref().map(|p| (p, profile)), &mut notes)
        .map_err(|e| ScaleError::Model(e.to_string()))?;

    let (shapes, dpu_names) = device(spec, mode, profile, &c, &mut notes)?;
    if shapes.is_some() {
        notes.extend(placement_notes(profile, spec));
    }
    let kv: Vec<Vec<(u32, u32)>> =
        if spec.kind == ScenarioKind::KvCache { kv_plan(spec) } else { Vec::new() };
    let sizing = Sizing::of(spec, cluster, &kv);
    let (workers, blocks) = (sizing.workers, sizing.blocks);
    let mut m = Model::new(spec, mode, cluster, c, (shapes, dpu_names), sizing, kv);

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

/// The device of an offload run: the profile's timing model of the scenario's jobs and
/// its resources, or none (a host-only profile: every op on the host CPU, noted).
#[allow(clippy::type_complexity)]
fn device(
    spec: &ScenarioSpec,
    mode: Mode,
    profile: &Profile,
    c: &Costs,
    notes: &mut Vec<String>,
) -> Result<(Option<Shapes>, Vec<(String, u32)>), ScaleError> {
    Ok(if mode == Mode::Offload {
        match (shapes(spec, profile, c), dpu_resources(profile)) {
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
    })
}

/// How many nodes work, and how many chunks one event stands for (a block): the smallest
/// batch that keeps the run within the event budget, unless the cluster names one.
struct Sizing {
    workers: u32,
    batch: u32,
    blocks: u32,
}

impl Sizing {
    fn of(spec: &ScenarioSpec, cluster: &ClusterSpec, kv: &[Vec<(u32, u32)>]) -> Sizing {
        let chunks = match spec.kind {
            ScenarioKind::KvCache => 0,
            _ => spec.chunks_per_object(),
        };
        let kv_blocks: u64 = kv.iter().map(|r| r.iter().map(|&(h, m)| u64::from(h + m)).sum::<u64>()).sum();
        // Events per chunk-step, to size batches within the budget.
        let (workers, steps_per_chunk, passes) = match spec.kind {
            ScenarioKind::FanOutRead => (spec.nodes, 5, u64::from(PASSES)),
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
        Sizing { workers, batch, blocks }
    }
}

/// Runs host mode then offload mode in scale mode and puts them side by side.
pub fn compare_scale(
    spec: &ScenarioSpec,
    profile: &Profile,
    opts: &ScaleOptions,
) -> Result<crate::result::Comparison, ScaleError> {
    // A plugin the offload run would refuse is refused before the host run.
    crate::plugin::prepare(spec, Mode::Offload, profile)?;
    let host = run_scale(spec, Mode::Host, profile, opts)?;
    let offload = run_scale(spec, Mode::Offload, profile, opts)?;
    Ok(crate::run::comparison(host, offload))
}
