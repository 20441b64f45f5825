//! What each step of a scenario costs in the model: host-side costs from the
//! [`Calibration`], device jobs timed on the profile's timing model.

#![forbid(unsafe_code)]

use crate::calibrate::Calibration;
use crate::plugin::{user_cost, Plugin};
use crate::scenario::{self, Form, Job, Stage};
use crate::spec::{ScenarioKind, ScenarioSpec};
use dpukit_sim::des::DpuShape;
use dpukit_sim::engine::profile_algorithm;
use dpukit_sim::profile::Profile;
use dpukit_sim::timing::{ModelError, OpCost, OpKind, SimDuration, UserOpCost};
use std::time::Duration;

/// Per-chunk costs of one scenario, from the calibration (ns, wall).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Costs {
    pub(super) chunk: u64,
    pub(super) stored: u64,
    pub(super) datagen_ns: f64,
    pub(super) compress_ns: f64,
    pub(super) crc_raw_ns: f64,
    pub(super) crc_stored_ns: f64,
    pub(super) decompress_ns: f64,
    pub(super) memcpy_stored_ns: f64,
    pub(super) host_job_ns: f64,
    pub(super) host_insert_ns: f64,
    pub(super) dev_job_ns: f64,
    pub(super) local_read_ns: f64,
    pub(super) local_write_op_ns: f64,
    pub(super) local_write_byte_ns: f64,
    /// How a write of one chunk (a cache fill, a KV store) shares its wall.
    pub(super) local_write: IoShares,
    /// Per byte past a write call's first chunk, and how a call of several (a
    /// checkpoint's batch, one sync for it all) shares its wall.
    pub(super) local_write_more_byte_ns: f64,
    pub(super) batch_write: IoShares,
    pub(super) manifest_op_ns: f64,
    pub(super) manifest_record_ns: f64,
    pub(super) manifest: IoShares,
    pub(super) blob_get_ns: f64,
    pub(super) blob_get_cpu_share: f64,
    pub(super) blob_get_serial: f64,
    /// (requests, wall ns) of a batch of GETs at once, at the stored chunk size.
    pub(super) blob_get_batch: Option<(u32, f64)>,
    pub(super) blob_put_ns: f64,
    pub(super) blob_put_cpu_share: f64,
    /// Host CPU of the plugin op on one stored chunk: measured at startup on this
    /// machine (a plugin is not in the calibration); 0 without a plugin.
    pub(super) plugin_ns: f64,
    /// The plugin op's device cost (the profile's `[[user_kernels]]` entry), if any.
    pub(super) plugin_cost: Option<UserOpCost>,
    /// Host CPU of the scenario's jobs on one chunk (see [`JobCosts`]).
    pub(super) jobs: JobCosts,
}

/// Host CPU of each of the scenario definition's jobs on one chunk, priced once per run
/// from the stages ([`Costs::job_ns`]).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct JobCosts {
    pub(super) lookup_ns: f64,
    pub(super) insert_ns: f64,
    pub(super) verify_ns: f64,
    /// The produce chain's stages, without a job's overhead ([`Costs::chain_stages_ns`]).
    pub(super) produce_stages_ns: f64,
}

/// How long the startup probe of a plugin's host cost runs (at least).
const PLUGIN_PROBE_BUDGET: Duration = Duration::from_millis(20);

pub(super) fn costs(
    spec: &ScenarioSpec,
    cal: &Calibration,
    plugin: Option<(&Plugin, &Profile)>,
    notes: &mut Vec<String>,
) -> Result<Costs, PluginProbeError> {
    let chunk = match spec.kind {
        ScenarioKind::KvCache => spec.kv_shape.block_bytes(),
        _ => u64::from(spec.chunk_size_bytes),
    };
    let comp = spec.compressibility;
    let (compress_ns_b, decompress_ns_b, ratio) = match &spec.compression {
        Some(c) => {
            // The registry maps gzip/zlib the same way live runs do.
            match cal.codec(c.algorithm.name(), c.level) {
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
    let mut c = Costs {
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
        plugin_ns: 0.0,
        plugin_cost: None,
        jobs: JobCosts::default(),
    };
    if let (Some((p, profile)), Some(ps)) = (plugin, &spec.plugin) {
        c.plugin_ns = p
            .measure_host_ns(stored as usize, ps.arg, PLUGIN_PROBE_BUDGET)
            .map_err(|status| PluginProbeError { kernel: p.name().to_owned(), status })?;
        c.plugin_cost = user_cost(profile, p.name());
        notes.push(format!(
            "plugin op `{}`: host cost {:.1} us per {stored}-byte stored chunk, measured on this machine at startup (not in the calibration)",
            p.name(),
            c.plugin_ns / 1e3
        ));
    }
    c.jobs = JobCosts {
        lookup_ns: c.job_ns(&scenario::lookup()),
        insert_ns: c.job_ns(&scenario::insert()),
        verify_ns: c.job_ns(&scenario::verify(spec)),
        produce_stages_ns: c.chain_stages_ns(&scenario::produce(spec)),
    };
    Ok(c)
}

/// The plugin failed the host-cost probe (an error status, or output of another length).
#[derive(Debug, thiserror::Error)]
#[error("plugin op `{kernel}` failed its host-cost probe: {status}")]
pub struct PluginProbeError {
    kernel: String,
    status: dpukit_ffi::Status,
}

/// How a local-tier op's wall divides: its CPU share holds a core, its serial share the
/// node's disk, and colocated, it takes `crowd` of it more per other writing node.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct IoShares {
    pub(super) cpu: f64,
    pub(super) serial: f64,
    pub(super) crowd: f64,
}

/// How much longer a local write (write and fdatasync) takes per other node writing to
/// the same file system, over its wall alone: `2s - 1` of the calibration's two-writer
/// serial share `s`, which is the slowdown two writers back to back measured. Without that
/// measurement, the share that is not CPU stands in for `s`.
///
/// The slowdown does not need the writes to overlap in time: colocated writers do not
/// take turns at a disk, each slows every write of the others for as long as both run
/// (the probe behind this rule: docs/model-validation.md).
pub(super) fn crowd_slowdown(serial_share: Option<f64>, cpu_share: f64) -> f64 {
    let s = serial_share.unwrap_or(1.0 - cpu_share);
    (2.0 * s - 1.0).clamp(0.0, 1.0)
}

pub(super) fn ns(v: f64) -> SimDuration {
    SimDuration::from_ns_f64(v.max(0.0))
}

impl Costs {
    /// Host CPU of one stage on one chunk. A lookup's whole cost is a job's overhead (the
    /// calibration times the offload layer's job with a lookup); an insert's is its own
    /// measured job.
    fn stage_ns(&self, stage: &Stage) -> f64 {
        match stage {
            Stage::Crc32c(Form::Raw) => self.crc_raw_ns,
            Stage::Crc32c(Form::Stored) => self.crc_stored_ns,
            Stage::Compress { .. } => self.compress_ns,
            Stage::Decompress { .. } => self.decompress_ns,
            Stage::Lookup => 0.0,
            Stage::Insert => self.host_insert_ns,
            Stage::Plugin { .. } => self.plugin_ns,
        }
    }

    /// Host CPU of one job on one chunk: the offload layer's overhead for a job, then each
    /// stage (an insert job was measured whole, overhead included).
    pub(super) fn job_ns(&self, job: &Job) -> f64 {
        let base = if job.stages.contains(&Stage::Insert) { 0.0 } else { self.host_job_ns };
        job.stages.iter().fold(base, |ns, s| ns + self.stage_ns(s))
    }

    /// Host CPU of a chain of jobs' stages on one chunk, without the jobs' overhead: the
    /// host runs a chain back to back on the node's thread, and the caller adds one job's
    /// overhead for it.
    pub(super) fn chain_stages_ns(&self, jobs: &[Job]) -> f64 {
        jobs.iter().flat_map(|j| &j.stages).fold(0.0, |ns, s| ns + self.stage_ns(s))
    }
}

/// Which of a scenario's device jobs (see [`Shapes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DeviceJob {
    Lookup,
    Insert,
    Verify,
    /// The n-th job of the produce chain.
    Produce(u8),
}

/// The device jobs a scenario's definition submits ([`crate::scenario`]), timed on the
/// profile's model at this run's chunk and stored sizes. Every one is probed, whether the
/// scenario uses it or not: a profile that cannot run one of them cannot be a device here.
pub(super) struct Shapes {
    lookup: DpuShape,
    insert: DpuShape,
    verify: DpuShape,
    produce: Vec<DpuShape>,
}

impl Shapes {
    pub(super) fn get(&self, job: DeviceJob) -> &DpuShape {
        match job {
            DeviceJob::Lookup => &self.lookup,
            DeviceJob::Insert => &self.insert,
            DeviceJob::Verify => &self.verify,
            DeviceJob::Produce(k) => &self.produce[k as usize],
        }
    }

    /// Jobs in the produce chain.
    pub(super) fn produce_jobs(&self) -> u8 {
        self.produce.len() as u8
    }
}

/// A stage as the timing model's op, at this run's sizes. A plugin op without a cost in
/// the profile cannot be timed.
fn op_cost(stage: &Stage, c: &Costs, profile: &Profile) -> Result<OpCost, ModelError> {
    let op = |kind, bytes_in, bytes_out| OpCost { kind, bytes_in, bytes_out };
    Ok(match *stage {
        Stage::Crc32c(Form::Raw) => op(OpKind::Crc32c, c.chunk, 0),
        Stage::Crc32c(Form::Stored) => op(OpKind::Crc32c, c.stored, 0),
        Stage::Compress { algorithm, .. } => {
            op(OpKind::Compress(profile_algorithm(algorithm)), c.chunk, c.stored)
        }
        Stage::Decompress { algorithm } => {
            op(OpKind::Decompress(profile_algorithm(algorithm)), c.stored, c.chunk)
        }
        Stage::Lookup => op(OpKind::CacheLookup, 0, 16),
        Stage::Insert => op(OpKind::CacheInsert, 0, 0),
        Stage::Plugin { .. } => {
            let cost = c.plugin_cost.ok_or_else(|| ModelError::NoRoute {
                profile: profile.name.clone(),
                op: "user kernel without a [[user_kernels]] cost",
            })?;
            op(OpKind::User(cost), c.stored, c.stored)
        }
    })
}

pub(super) fn shapes(
    spec: &ScenarioSpec,
    profile: &Profile,
    c: &Costs,
) -> Result<Shapes, dpukit_sim::timing::ModelError> {
    let probe = |job: &Job| {
        let ops: Vec<OpCost> = job.stages.iter().map(|s| op_cost(s, c, profile)).collect::<Result<_, _>>()?;
        DpuShape::probe(profile, &ops)
    };
    Ok(Shapes {
        lookup: probe(&scenario::lookup())?,
        insert: probe(&scenario::insert())?,
        verify: probe(&scenario::verify(spec))?,
        produce: scenario::produce(spec).iter().map(probe).collect::<Result<_, _>>()?,
    })
}
