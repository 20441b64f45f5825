//! The live executor: a scenario run for real on this machine. Each of N simulated nodes
//! runs on a thread of its own, with its own local tier directory, cache index and (in
//! offload mode) its own DPU. The nodes of a run are spread over the processes of a
//! [`Cluster`]: all of them in one process, or one per MPI rank; what crosses nodes (the
//! barrier that starts each timed phase, the catalog of published objects, peer chunks,
//! the per-node outputs the leader assembles) goes through it, so the same code runs
//! either way.
//!
//! Host mode and offload mode replay exactly the same operations: chunk contents come
//! from the seeded data generator, orders from the seed, and both modes dispatch through
//! the same kernel registry, so the stored bytes and checksums are identical. The
//! `manifest_digest` figure of a run is a CRC32C over every (node, chunk, stored length,
//! CRC) the run produced, and `dpukit compare` checks the two modes agree on it.
//!
//! What each scenario does per chunk is defined in [`crate::scenario`]; this module owns the
//! run around it: [`env`] (the run's directory, blob tier and per-node resources),
//! [`memory`] (admission of the DMA pools), [`sync`] (barriers and peer serving),
//! [`publish`] (the objects the read scenarios read), [`node`] (a node's measurements),
//! [`assemble`] (the result document), and one file per scenario.

#![forbid(unsafe_code)]

mod assemble;
pub(crate) mod env;
mod fan_in_read;
mod fan_out_read;
mod fan_out_write;
mod jobs;
mod kv_cache;
mod memory;
mod node;
mod publish;
mod sync;

use crate::cluster::{Cluster, ClusterError, PeerPlan};
use crate::live::assemble::assemble;
use crate::live::env::{tier_err, wire_err, Env};
use crate::live::fan_in_read::fan_in_read;
use crate::live::fan_out_read::fan_out_read;
use crate::live::fan_out_write::fan_out_write;
use crate::live::kv_cache::kv_cache;
use crate::live::memory::fits_in_memory;
use crate::live::node::{Ctx, NodeOut, Prog};
use crate::live::publish::{publish, share_catalog, ObjectName};
use crate::live::sync::{NodeSync, PeerState, Peers, SyncState};
use crate::metrics::process_cpu_ns;
use crate::provenance::Provenance;
use crate::result::{Mode, RunResult};
use crate::run::{RunError, RunOptions};
use crate::scenario::kv_cache::kv_requests;
use crate::spec::{ScenarioKind, ScenarioSpec};
use crate::tier::{Backend, UploadCounts};
use crate::tier::{BlobCopier, BlobCopierConfig, Manifest};
use dpukit_sim::profile::{Profile, ProfileKind};
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicU64;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long the run waits for the background blob copy to drain.
const COPY_DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// What one process sends the leader: its nodes' outputs and its own figures.
#[derive(Serialize, Deserialize)]
struct ProcessOut {
    rank: u32,
    nodes: Vec<NodeOut>,
    wall_ns: u64,
    cpu_ns: u64,
    copy: Option<CopyOut>,
    notes: Vec<String>,
    /// The local tier's I/O engine this process's nodes used (`None`: no local tier).
    #[serde(default)]
    io_engine: Option<String>,
    /// Blob-tier requests retried during the run (`None`: not counted in this process).
    #[serde(default)]
    blob_retries: Option<u64>,
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
    let started = std::time::SystemTime::now();
    let retries0 = crate::logs::blob_retries();
    tracing::info!(
        scenario = spec.kind.name(),
        mode = mode.name(),
        nodes = spec.nodes,
        rank = cluster.rank(),
        "run starting"
    );
    same_scenario_everywhere(spec, mode, cluster)?;
    let plugin = crate::plugin::prepare(spec, mode, profile)?;
    let local: Vec<u32> = (0..spec.nodes).filter(|&n| cluster.rank_of(n) == cluster.rank()).collect();
    fits_in_memory(spec, &local)?;
    let env = Env::new(spec, mode, cluster)?;
    let total = progress_total(spec, &local);
    let prog = Prog {
        done: AtomicU64::new(0),
        total,
        mode,
        cb: opts.progress.clone(),
        last: Mutex::new(Instant::now()),
    };
    let mut notes = Vec::new();
    if let Some(p) = &plugin {
        notes.push(crate::plugin::placement_note(p, mode, profile));
    }
    let _reserved = reserve_model_cores(mode, profile, opts, local.len(), &mut notes);

    // Untimed setup: the data the read scenarios read, published by the process that owns
    // it (the model: the leader; a shard: its writer's process), then shared.
    let owned: Vec<ObjectName> = match spec.kind {
        ScenarioKind::FanOutRead if cluster.is_leader() => vec![ObjectName::Model],
        ScenarioKind::FanInRead => local.iter().map(|&n| ObjectName::Shard(n)).collect(),
        _ => Vec::new(),
    };
    if !owned.is_empty() {
        tracing::info!(objects = owned.len(), "publishing what the scenario reads (untimed)");
    }
    let catalog = share_catalog(cluster, publish(spec, &env, &owned, plugin.as_ref())?)?;

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
    let io_engine_used = Mutex::new(None);
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
        io_engine: opts.io_engine,
        io_engine_used: &io_engine_used,
        log_interval_ns: opts.log_interval_ns,
        device: &opts.device,
        plugin: plugin.as_ref(),
    };

    tracing::info!(nodes = local.len(), "timed phase starting");
    let cpu0 = process_cpu_ns();
    let wall0 = Instant::now();
    let (nodes, mut manifests) = run_nodes(&ctx, &local)?;
    let wall_ns = wall0.elapsed().as_nanos() as u64;
    let cpu_ns = process_cpu_ns().saturating_sub(cpu0);

    tracing::info!(wall_ms = wall_ns / 1_000_000, "timed phase done");
    // The background copy: drained after the timed phase, reported separately.
    if copier.is_some() {
        tracing::info!("waiting for the background blob copy to drain");
    }
    let copy = match copier {
        Some(copier) => Some(drain_copy(copier, &mut manifests, spec, &env, uploads0)?),
        None => None,
    };

    // Every process's outputs to the leader, as JSON (the same path in one process).
    let io_engine =
        io_engine_used.into_inner().unwrap_or_else(|p| p.into_inner()).map(|b| b.as_str().to_owned());
    let blob_retries = crate::logs::blob_retries().zip(retries0).map(|(now, then)| now - then);
    let mine =
        ProcessOut { rank: cluster.rank(), nodes, wall_ns, cpu_ns, copy, notes, io_engine, blob_retries };
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
    let engines: Vec<String> = procs.iter().filter_map(|p| p.io_engine.clone()).collect();
    // Counted only where every process counted them: a partial sum would read as fewer.
    let retries: Option<u64> = procs.iter().map(|p| p.blob_retries).sum();
    let percentiles = opts.percentiles.as_deref().unwrap_or(crate::result::DEFAULT_PERCENTILES);
    let timeline = (opts.log_interval_ns > 0)
        .then(|| assemble::timeline(&procs, opts.log_interval_ns, crate::result::Source::Measured));
    let mut result = assemble(spec, mode, profile, cluster, procs, emulator, percentiles)?;
    if let Some(mut t) = timeline {
        // The intervals follow the same clock as the throughput.
        t.clock = result.throughput.source;
        let elapsed_ns = (result.bytes as f64 / result.throughput.value.max(1e-9) * 1e9) as u64;
        if t.total.len() <= 1 {
            result.notes.push(format!(
                "timeline: the run took {} ns of its clock, within one {} ns interval; give a shorter --log-interval",
                elapsed_ns, opts.log_interval_ns
            ));
        }
        result.timeline = Some(t);
    }
    label_blob_tier(&mut result, spec, &env);
    if let (Some(n), true) = (retries, result.blob_tier.is_some()) {
        result.extra.push((
            "blob_retries".into(),
            crate::result::Figure::measured(n as f64, crate::result::Unit::Count),
        ));
        if n > 0 {
            result
                .notes
                .push(format!("blob tier: {n} requests retried after transient errors (see -v for each)"));
        }
    }
    tracing::info!(
        throughput_bytes_per_s = result.throughput.value as u64,
        source = result.throughput.source.tag(),
        "run done"
    );
    let mut prov = Provenance::collect(started, &profile.name);
    prov.set_work_dir(spec.work_dir.as_deref().unwrap_or(&env.root));
    // Under MPI, ranks may differ: psync anywhere is what a reader must know.
    prov.io_engine =
        engines.iter().find(|e| *e == Backend::PreadPwrite.as_str()).or(engines.first()).cloned();
    prov.io_engine_requested = prov.io_engine.as_ref().map(|_| opts.io_engine.as_str().to_owned());
    prov.blob_tier = result.blob_tier.as_ref().map(|b| b.kind.clone());
    result.provenance = Some(prov);
    Ok(Some(result))
}

/// Bytes this process's nodes move in the timed phase, for the progress bar.
fn progress_total(spec: &ScenarioSpec, local: &[u32]) -> u64 {
    match spec.kind {
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
    }
}

/// Runs this process's nodes, one thread each, and returns their outputs and manifests
/// once all are done. The first real error counts, not the "another node failed" of the
/// nodes it released.
fn run_nodes(ctx: &Ctx, local: &[u32]) -> Result<(Vec<NodeOut>, Vec<Option<Manifest>>), RunError> {
    let outs: Vec<Result<NodeResult, RunError>> = std::thread::scope(|s| {
        let handles: Vec<_> = local
            .iter()
            .map(|&node| {
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
                Ok(h) => h.join().unwrap_or_else(|_| Err(RunError::Node("a node thread panicked".into()))),
                Err(e) => {
                    ctx.sync.fail();
                    Err(RunError::Node(format!("cannot start a node thread: {e}")))
                }
            })
            .collect()
    });
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
    match first_err {
        Some(e) => Err(e),
        None => Ok((nodes, manifests)),
    }
}

/// Waits for the background copy to drain, marks what it copied in the nodes' manifests,
/// and fails naming how many acknowledged chunks are on the local tier only when it could
/// not copy them all.
fn drain_copy(
    mut copier: BlobCopier,
    manifests: &mut [Option<Manifest>],
    spec: &ScenarioSpec,
    env: &Env,
    uploads0: UploadCounts,
) -> Result<CopyOut, RunError> {
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
            None => "the work dir was temporary: run with --work-dir to keep the chunks for `dpukit copy`"
                .to_string(),
        };
        return Err(RunError::Copy(format!(
            "blob copy to {} failed: {marked} of {acked} acknowledged chunks copied, the rest are \
             durable on the local tier only ({}); {resume}",
            env.blob.info().location,
            crate::tier::first_line(&why),
        )));
    }
    let uploads = env.blob.upload_counts();
    Ok(CopyOut {
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

/// Records which blob tier the run used and, on an emulator (Azurite, an S3 emulator), tags the run's
/// figures whose timing includes blob-tier requests (reads; the copy's backpressure on
/// writes): it is the emulator's speed, not Azure's. The copy's own figures are tagged
/// where they are made, in [`assemble`].
fn label_blob_tier(result: &mut RunResult, spec: &ScenarioSpec, env: &Env) {
    if spec.kind == ScenarioKind::KvCache {
        return;
    }
    let info = env.blob.info().clone();
    let emulator = info.emulator;
    result.blob_tier = Some(info.clone());
    if let Some(m) = &info.mount {
        if m.is_fuse() {
            result.notes.push(format!(
                "blob tier: a FUSE mount ({}, {} at {}): every object is a file written through its daemon, so the \
                 copy and read figures include its per-request cost; a FUSE file system may acknowledge fsync \
                 without making data durable, which no check here can see",
                m.fstype, m.source, m.mount_point
            ));
        }
        if !m.fsync {
            result.notes.push(format!(
                "blob tier: the file system at {} ({}) refuses fsync: objects were written without it, so a copied \
                 chunk is not known to be durable there",
                m.mount_point, m.fstype
            ));
        }
    }
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
    result.notes.push(match info.kind.as_str() {
        "s3" => format!(
            "blob tier: an S3 emulator at {}; figures tagged [emulator] say nothing of an S3 service's own speed",
            info.endpoint.as_deref().unwrap_or("its endpoint")
        ),
        _ => "blob tier: Azure Storage emulator (Azurite); figures tagged [emulator] say nothing of Azure's own speed"
            .into(),
    });
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
    tracing::debug!(node, "node starting");
    let r = run_node_inner(ctx, node);
    match &r {
        Ok(_) => tracing::debug!(node, "node done"),
        Err(e) => tracing::debug!(node, error = %e, "node failed"),
    }
    r
}

fn run_node_inner(ctx: &Ctx, node: u32) -> Result<NodeResult, RunError> {
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

/// A modelled device made of this host's cores (a `host-cores` profile on the inline
/// simulator) takes them from the run's own threads while the run lasts, as the device it
/// models does (`crate::cores`): the host side is left what it would have beside that
/// device. Each node's device takes the profile's core count.
fn reserve_model_cores(
    mode: Mode,
    profile: &Profile,
    opts: &RunOptions,
    nodes: usize,
    notes: &mut Vec<String>,
) -> crate::cores::Reserved {
    let modelled_here = mode == Mode::Offload && opts.device == crate::device::DeviceChoice::Simulated;
    let Some(cores) =
        profile.cores.as_ref().filter(|_| modelled_here && profile.kind == ProfileKind::HostCores)
    else {
        return crate::cores::Reserved::none();
    };
    let r = crate::cores::reserve(nodes * cores.count.value.max(1) as usize);
    if !r.cpus().is_empty() {
        let list: Vec<String> = r.cpus().iter().map(|c| c.to_string()).collect();
        notes.push(format!(
            "host-cores device: cpu {} kept from the run's threads while it ran, as the device `{}` models \
             takes its cores from this host (the simulator itself runs on the node threads)",
            list.join(", "),
            profile.name
        ));
    }
    r
}
