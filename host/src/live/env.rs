//! What a live run sets up around its nodes: its directory and blob tier ([`Env`]), and
//! per node its local tier and its offload (host CPU or a simulated DPU).

#![forbid(unsafe_code)]

use crate::cluster::{Cluster, ClusterError};
use crate::live::node::Ctx;
use crate::offload::OffloadError;
use crate::offload::{Offload, OffloadConfig};
use crate::plugin::PLUGIN_OPCODE;
use crate::result::Mode;
use crate::run::RunError;
use crate::scenario::codec;
use crate::spec::{ScenarioKind, ScenarioSpec};
use crate::tier::TierError;
use crate::tier::{Backend, BlobLocation, BlobOptions, BlobTier, LocalTier, LocalTierConfig};
use dpukit_kernels::cache_index::CacheIndex;
use dpukit_kernels::compress;
use dpukit_kernels::datagen::{ByteStyle, DataGen};
use dpukit_kernels::registry::{codec_for, Registry};
use dpukit_sim::engine::EngineConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A device that answers later than this (modelled) is declared dead.
pub(super) const DEVICE_TIMEOUT_NS: u64 = 1_000_000_000;

/// Tier id of the local tier in cache locations.
pub(super) const TIER_LOCAL: u8 = 1;

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
pub(super) struct Env {
    pub(super) root: PathBuf,
    pub(super) _tmp: Option<tempfile::TempDir>,
    pub(super) blob: Arc<BlobTier>,
}

impl Env {
    pub(super) fn new(spec: &ScenarioSpec, mode: Mode, cluster: &dyn Cluster) -> Result<Env, RunError> {
        let mut root =
            spec.work_dir.as_ref().map(|d| d.join(format!("{}-{}", spec.kind.name(), mode.name())));
        let mut tmp = None;
        let segment = spec.blob_run_segment(mode.name());
        let mut leader_blob = None;
        if cluster.is_leader() {
            if root.is_none() {
                let t = tempfile::Builder::new().prefix("dpukit-").tempdir().map_err(|e| RunError::Io {
                    path: std::env::temp_dir().display().to_string(),
                    source: e,
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
            let text =
                serde_json::to_string_pretty(&record).map_err(|e| RunError::Published(e.to_string()))?;
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

    pub(super) fn node_dir(&self, node: u32) -> Result<PathBuf, RunError> {
        let d = self.root.join(format!("node{node:04}"));
        std::fs::create_dir_all(&d).map_err(|e| io_err(&d, e))?;
        Ok(d)
    }
}

/// Where a run's objects go: `blob/` in the run's directory, or the run's part of a given tier.
pub(super) fn blob_location(
    spec: &ScenarioSpec,
    root: &Path,
    segment: &str,
) -> Result<BlobLocation, RunError> {
    Ok(match spec.blob_location()? {
        None => BlobLocation::Local(root.join("blob")),
        Some(given) => given.join(segment),
    })
}

pub(super) fn io_err(path: &Path, e: std::io::Error) -> RunError {
    RunError::Io { path: path.display().to_string(), source: e }
}

pub(super) fn tier_err(e: TierError) -> RunError {
    RunError::Tier(e)
}

pub(super) fn off_err(e: OffloadError) -> RunError {
    RunError::Offload(e)
}

pub(super) fn wire_err(e: impl std::fmt::Display) -> RunError {
    RunError::Cluster(ClusterError(format!("malformed message between ranks: {e}")))
}

/// Data of one object/shard: generator and seed.
pub(super) fn datagen(spec: &ScenarioSpec) -> DataGen {
    let style = if spec.compressibility <= 1.0 { ByteStyle::Random } else { ByteStyle::Bf16 };
    DataGen::new(spec.compressibility, style)
        .unwrap_or_else(|_| DataGen::new(1.0, ByteStyle::Random).expect("1.0 is valid"))
}

pub(super) fn object_seed(spec: &ScenarioSpec, object: u64) -> u64 {
    spec.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ object.wrapping_mul(0xd6e8_feb8_6659_fd93)
}

pub(super) fn algorithm_name(spec: &ScenarioSpec) -> &str {
    spec.compression.as_ref().map_or("none", |c| c.algorithm.name())
}

/// Largest stored form of a chunk of `len` bytes.
pub(super) fn max_stored(spec: &ScenarioSpec, len: usize) -> usize {
    match codec(spec).and_then(|(a, l)| codec_for(a, l).ok()) {
        Some(codec) => compress::max_compressed_len(&codec, len).max(len),
        None => len,
    }
}

/// What one buffer of a node's DMA pool holds: a chunk (a KV block) or its stored form,
/// whichever is larger.
pub(super) fn slot_buffer_bytes(spec: &ScenarioSpec) -> usize {
    let chunk = match spec.kind {
        ScenarioKind::KvCache => spec.kv_shape.block_bytes() as usize,
        _ => spec.chunk_size_bytes as usize,
    };
    max_stored(spec, chunk).max(chunk)
}

/// Buffers of a DMA slot: input and output, and a spare one when a verification chains
/// two transforms (the plugin op's inverse, then decompression) and the stored bytes in the
/// input must survive them (a fan-out read caches them after).
pub(super) fn slot_buffers(spec: &ScenarioSpec) -> usize {
    if spec.plugin.is_some() && spec.compression.is_some() {
        3
    } else {
        2
    }
}

pub(super) fn offload_for(ctx: &Ctx, node: u32) -> Result<Offload, RunError> {
    let spec = ctx.spec;
    let buffer = slot_buffer_bytes(spec);
    let cache = CacheIndex::new(spec.cache_capacity_chunks.max(16) as usize)?;
    let mut registry = Registry::new(Arc::new(cache));
    if let Some(p) = ctx.plugin {
        registry.register_user(PLUGIN_OPCODE, p.kernel()).map_err(|e| RunError::Job(e.to_string()))?;
    }
    let cfg = OffloadConfig {
        slots: spec.queue_depth as usize,
        in_bytes: buffer,
        out_bytes: buffer,
        spare_bytes: if slot_buffers(spec) > 2 { buffer } else { 0 },
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
        Mode::Offload => Offload::with_choice(registry, &cfg, ctx.profile, ctx.device),
    }
    .map_err(off_err)
}

pub(super) fn local_tier(ctx: &Ctx, dir: &Path, chunk_bytes: usize) -> Result<LocalTier, RunError> {
    let spec = ctx.spec;
    let buffer = chunk_bytes.div_ceil(4096) * 4096;
    let cfg = LocalTierConfig {
        iodepth: spec.queue_depth.clamp(1, 256),
        direct: spec.direct,
        buffer_size_bytes: buffer,
        max_inflight_bytes: (buffer as u64 * spec.queue_depth.max(1) as u64).max(buffer as u64),
        engine: ctx.io_engine,
        ..LocalTierConfig::default()
    };
    let tier = LocalTier::open(dir, cfg).map_err(tier_err)?;
    let mut used = ctx.io_engine_used.lock().unwrap_or_else(|p| p.into_inner());
    if *used != Some(Backend::PreadPwrite) {
        *used = Some(tier.backend());
    }
    Ok(tier)
}
