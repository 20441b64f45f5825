//! [`calibrate`]: the probes in the order a calibration runs them, and their results put
//! together into a [`Calibration`].

#![forbid(unsafe_code)]

use super::blob::{measure_blob, GetProbe};
use super::format::{build_name, err, Calibration, CalibrationError, CALIBRATION_VERSION, LARGE_BYTES};
use super::kernels::{codec_plan, datagen_for, measure_kernels, CodecPlan, CALIBRATION_SIZES};
use super::local::measure_local;
use super::offload::measure_offload;
use super::ring::Ring;
use crate::metrics::machine_info;
use dpukit_kernels::cache_index::CacheIndex;
use dpukit_kernels::registry::Registry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rounds of the tier measurements are this many times longer: a flush takes a
/// millisecond or more and varies from one to the next, so that one measurement averages
/// a few dozen of them.
const STORAGE_ROUND_FACTOR: u32 = 3;

/// How long to measure, where, and which extra codec points.
#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    /// Length of one round of one measurement.
    pub round: Duration,
    /// Where to put the temporary local and blob tiers (the system temp dir if `None`).
    pub dir: Option<PathBuf>,
    /// Codec points beyond the standard grid (a scenario's own algorithm, level,
    /// compressibility and chunk size), so its costs are measured, not interpolated.
    pub extra: Vec<CodecPlan>,
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        CalibrateOptions { round: Duration::from_millis(12), dir: None, extra: Vec::new() }
    }
}

/// Measures this machine: the kernels in passes (with the core probe and the blob tier's
/// GETs spread over them), then the local tier, the rest of the blob tier and the offload
/// layer.
pub fn calibrate(opts: &CalibrateOptions) -> Result<Calibration, CalibrationError> {
    // Write back what others left dirty first: the kernel's flusher threads would take a
    // core from the measurements, and the disk's bandwidth from the tiers'.
    nix::unistd::sync();
    let started = Instant::now();
    let round = opts.round;
    let registry = Registry::new(Arc::new(CacheIndex::new(1024).map_err(err)?));
    let largest = CALIBRATION_SIZES
        .iter()
        .copied()
        .chain(opts.extra.iter().map(|p| p.bytes))
        .max()
        .unwrap_or(LARGE_BYTES as u64) as usize;
    let mut src = vec![0u8; largest];
    datagen_for(2.0).fill(7, 0, &mut src);
    // Outputs land in a ring of buffers the size of a run's DMA pool, as a slot's do:
    // memory that is not in cache when the kernel writes it (see `Ring`).
    let ring = Ring::new(largest);
    let plan = codec_plan(&opts.extra);
    let tmp = temp_dir(opts.dir.as_deref())?;
    // Blob-tier GETs are timed a few per kernel pass (see `GetProbe`).
    let mut gets = GetProbe::new(tmp.path(), &src)?;
    let kernels = measure_kernels(round, &registry, ring, &mut src, largest, &plan, &mut gets)?;

    let storage_round = round * STORAGE_ROUND_FACTOR;
    let local = measure_local(tmp.path(), storage_round, &src)?;
    let (blob_get, blob_get_batch, blob_put) = measure_blob(gets, storage_round, &src)?;
    let (host_job_ns, host_insert_job_ns, device_job_host_ns) = measure_offload(round)?;

    Ok(Calibration {
        version: CALIBRATION_VERSION,
        kit_version: env!("CARGO_PKG_VERSION").into(),
        build: build_name().into(),
        machine: machine_info(),
        measured_in: tmp.path().parent().map(|p| p.display().to_string()).unwrap_or_default(),
        took_s: started.elapsed().as_secs_f64(),
        crc32c: kernels.crc32c,
        memcpy: kernels.memcpy,
        datagen: kernels.datagen,
        codecs: kernels.codecs,
        local_write: local.write,
        local_write_batch: Some(local.write_batch),
        local_read: local.read,
        manifest_append: local.manifest_append,
        blob_get,
        blob_get_batch: Some(blob_get_batch),
        blob_put,
        host_job_ns,
        host_insert_job_ns,
        device_job_host_ns,
        effective_cores: kernels.effective_cores,
    })
}

/// A fresh temporary directory for the tiers, in `dir` or the system temp dir.
fn temp_dir(dir: Option<&Path>) -> Result<tempfile::TempDir, CalibrationError> {
    match dir {
        Some(d) => tempfile::Builder::new().prefix("dpukit-calibrate-").tempdir_in(d),
        None => tempfile::Builder::new().prefix("dpukit-calibrate-").tempdir(),
    }
    .map_err(|e| CalibrationError::Io { path: "temporary directory".into(), reason: e.to_string() })
}
