//! The saved calibration: its JSON format ([`Calibration`] and its cost types), loading
//! and saving it (old files load: fields added later are optional and upgraded on load),
//! and the queries scale mode prices its steps with (per-byte kernel costs, codecs,
//! interpolation between the measured points). Nothing here measures anything: the
//! probes that fill a [`Calibration`] are the rest of [`crate::calibrate`].

#![forbid(unsafe_code)]

use crate::result::MachineInfo;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Version of the calibration file format.
pub const CALIBRATION_VERSION: u32 = 1;
/// Default file name of `dpukit calibrate`.
pub const DEFAULT_CALIBRATION_FILE: &str = "dpukit-calibration.json";
/// Buffer sizes of the two-point fits (fixed cost + per byte): an op's `serial_share` is
/// measured at the large one, `serial_share_small` at the small one.
pub(super) const SMALL_BYTES: usize = 64 << 10;
pub(super) const LARGE_BYTES: usize = 1 << 20;
/// Ops run at once to measure how much of an op does not overlap with another: a serial
/// share is the slowdown of this many at once over this many.
pub(super) const CONCURRENT_OPS: usize = 2;

/// Why calibration failed or a calibration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{path}: not a dpukit calibration: {reason}")]
    Parse { path: String, reason: String },
    #[error("{path}: calibration version {found} is not supported (expected {CALIBRATION_VERSION})")]
    Version { path: String, found: u32 },
    #[error("calibration: {0}")]
    Measure(String),
}

/// Cost of one op: a fixed part and a per-byte part; `cpu` is the share of it the host
/// CPU is busy (the rest is waiting on a device: a flush to disk).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct OpCost {
    pub op_ns: f64,
    pub ns_per_byte: f64,
    /// CPU time over wall time of the op, 0..=1.
    pub cpu_share: f64,
    /// Share of the op's wall that ops on several threads at once take in turns (one
    /// disk's bandwidth, one journal, one flush queue, one client), 0..=1, for an op of the
    /// large calibration size (1 MiB). Measured as the op's slowdown while another thread
    /// runs the same op back to back, over two: 1 when it takes twice as long, 0.5 when it
    /// takes no longer (see `serial_share` in `calibrate::measure`). Absent in files that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_share: Option<f64>,
    /// The same for an op of the small calibration size (64 KiB); absent in files that
    /// predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_share_small: Option<f64>,
}

/// `requests` ops of one size made at once: the wall time of the batch, by the bytes of
/// each op.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BatchCost {
    pub requests: u32,
    pub op_ns: f64,
    pub ns_per_byte: f64,
}

impl BatchCost {
    /// Wall time of the batch, each op moving `bytes`.
    pub fn wall_ns(&self, bytes: u64) -> f64 {
        self.op_ns + self.ns_per_byte * bytes as f64
    }
}

impl OpCost {
    /// Wall time of one op moving `bytes`.
    pub fn wall_ns(&self, bytes: u64) -> f64 {
        self.op_ns + self.ns_per_byte * bytes as f64
    }

    /// A file written before the share was measured at two sizes recorded the slowdown of
    /// two ops at once minus one, measured at 1 MiB: rewritten in today's terms (the
    /// slowdown over two, as `calibrate::measure` computes it), the same at both sizes. A saved file then
    /// has both and loads unchanged.
    pub(super) fn upgrade_serial_share(&mut self) {
        if let (Some(old), None) = (self.serial_share, self.serial_share_small) {
            let share = ((1.0 + old) / CONCURRENT_OPS as f64).clamp(0.0, 1.0);
            self.serial_share = Some(share);
            self.serial_share_small = Some(share);
        }
    }

    /// Serial share of an op moving `bytes`. The serial time (share times wall) is a fixed
    /// part plus a per-byte part, like the wall: a disk's latency overlaps with another
    /// op's, its bandwidth does not, so a large write takes turns more than a small one.
    /// Fitted through the two calibration sizes; with only the large one measured, that
    /// share at every size.
    pub fn serial_share_at(&self, bytes: u64) -> Option<f64> {
        let large = self.serial_share?;
        let Some(small) = self.serial_share_small else { return Some(large) };
        let at = |b: usize, share: f64| (b as f64, share * self.wall_ns(b as u64));
        let ((x0, y0), (x1, y1)) = (at(SMALL_BYTES, small), at(LARGE_BYTES, large));
        let serial_ns = y0 + (y1 - y0) / (x1 - x0) * (bytes as f64 - x0);
        let wall = self.wall_ns(bytes);
        Some(if wall > 0.0 { (serial_ns / wall).clamp(0.0, 1.0) } else { large })
    }
}

/// One local-tier `write_chunks` call of several chunks, each at a fresh place, with one
/// fdatasync for them all: a checkpoint's batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WriteBatchCost {
    /// Chunks in the call.
    pub chunks: u32,
    /// Bytes of each chunk.
    pub chunk_bytes: u64,
    /// Wall time of the call.
    pub wall_ns: f64,
    /// CPU time over wall time of the call, 0..=1.
    pub cpu_share: f64,
}

/// A per-byte cost at one buffer size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SizedCost {
    pub bytes: u64,
    pub ns_per_byte: f64,
}

/// A codec at one compressibility of the generated data and one buffer size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CodecPoint {
    pub compressibility: f64,
    /// Uncompressed bytes per call.
    pub bytes: u64,
    /// Per input (uncompressed) byte.
    pub compress_ns_per_byte: f64,
    /// Per output (uncompressed) byte.
    pub decompress_ns_per_byte: f64,
    /// Uncompressed over compressed bytes (below 1 when the data does not compress).
    pub ratio: f64,
}

/// One codec and level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodecCost {
    pub algorithm: String,
    pub level: u8,
    pub points: Vec<CodecPoint>,
}

/// The data generator at one compressibility and buffer size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DatagenPoint {
    pub compressibility: f64,
    pub bytes: u64,
    pub ns_per_byte: f64,
}

/// Host-side costs of this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub version: u32,
    pub kit_version: String,
    /// `debug` or `release`: kernels are unoptimized in a debug build.
    pub build: String,
    pub machine: MachineInfo,
    /// Directory the local and blob tiers were measured in.
    pub measured_in: String,
    /// Wall time the calibration took.
    pub took_s: f64,
    pub crc32c: Vec<SizedCost>,
    pub memcpy: Vec<SizedCost>,
    pub datagen: Vec<DatagenPoint>,
    pub codecs: Vec<CodecCost>,
    /// One `write_chunks` call of one chunk (fdatasync before the ack), by bytes written.
    pub local_write: OpCost,
    /// One `write_chunks` call of [`WRITE_BATCH_CHUNKS`](super::WRITE_BATCH_CHUNKS) chunks of 1 MiB; absent in files
    /// that predate it (see [`Calibration::local_write_more_ns_per_byte`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_write_batch: Option<WriteBatchCost>,
    /// One `read_chunks` call (page cache), by bytes read.
    pub local_read: OpCost,
    /// One manifest append of a batch of records (fdatasync).
    pub manifest_append: OpCost,
    /// One blob-tier GET of a byte range, by bytes.
    pub blob_get: OpCost,
    /// A batch of blob-tier GETs at once through one client, as a reader fetches with
    /// `read_concurrency` requests in flight; absent in files that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_get_batch: Option<BatchCost>,
    /// One blob-tier PUT (fsync), by bytes.
    pub blob_put: OpCost,
    /// Host backend: one job (submit, run inline, take back) around a cache lookup.
    pub host_job_ns: f64,
    /// Host backend: one cache insert job.
    pub host_insert_job_ns: f64,
    /// DPU backend: host-side time of one job (descriptor build, submit, doorbell share,
    /// poll, take back), the simulator's own time excluded.
    pub device_job_host_ns: f64,
    /// Cores this machine gave a CPU-bound job on every logical CPU at once, in core
    /// equivalents (below `logical_cpus` when others share the machine, or when the
    /// threads contend for caches and memory): one, plus for each other logical CPU the
    /// speed of one thread's kernels with every CPU busy over its speed alone.
    pub effective_cores: f64,
}

/// The build the calibration ran in: kernels are unoptimized in a debug build.
pub(super) fn build_name() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// A measurement's failure, as the error calibration returns.
pub(super) fn err(e: impl std::fmt::Display) -> CalibrationError {
    CalibrationError::Measure(e.to_string())
}

impl Calibration {
    /// Reads and checks a calibration file.
    pub fn load(path: &Path) -> Result<Calibration, CalibrationError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| CalibrationError::Io { path: p.clone(), reason: e.to_string() })?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| CalibrationError::Parse { path: p.clone(), reason: e.to_string() })?;
        let found = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        if found != CALIBRATION_VERSION {
            return Err(CalibrationError::Version { path: p, found });
        }
        let mut cal: Calibration = serde_json::from_value(value)
            .map_err(|e| CalibrationError::Parse { path: p, reason: e.to_string() })?;
        cal.local_write.upgrade_serial_share();
        cal.blob_get.upgrade_serial_share();
        Ok(cal)
    }

    /// Writes the calibration as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<(), CalibrationError> {
        let text = serde_json::to_string_pretty(self).map_err(err)? + "\n";
        std::fs::write(path, text)
            .map_err(|e| CalibrationError::Io { path: path.display().to_string(), reason: e.to_string() })
    }

    /// What a local-tier write call pays for each byte past its first chunk: the batched
    /// measurement's wall less one chunk's (the single-chunk fit at that size), over the
    /// rest of its bytes; one sync covers the whole call and its writes queue together.
    /// A file that predates the batched measurement: what a byte costs in a call of one
    /// chunk.
    pub fn local_write_more_ns_per_byte(&self) -> f64 {
        match self.local_write_batch.filter(|b| b.chunks > 1 && b.chunk_bytes > 0) {
            Some(b) => {
                let rest = f64::from(b.chunks - 1) * b.chunk_bytes as f64;
                ((b.wall_ns - self.local_write.wall_ns(b.chunk_bytes)) / rest).max(0.0)
            }
            None => self.local_write.ns_per_byte,
        }
    }

    /// CPU time over wall time of a local-tier write call of several chunks (that of one
    /// chunk in a file that predates the batched measurement).
    pub fn local_write_batch_cpu_share(&self) -> f64 {
        self.local_write_batch.map_or(self.local_write.cpu_share, |b| b.cpu_share)
    }

    /// CRC32C per byte of a `bytes`-long buffer.
    pub fn crc32c_ns_per_byte(&self, bytes: u64) -> f64 {
        by_size(self.crc32c.iter().map(|p| (p.bytes, 1.0, p.ns_per_byte)), bytes, 1.0)
    }

    /// Copy per byte of a `bytes`-long buffer.
    pub fn memcpy_ns_per_byte(&self, bytes: u64) -> f64 {
        by_size(self.memcpy.iter().map(|p| (p.bytes, 1.0, p.ns_per_byte)), bytes, 1.0)
    }

    /// Data generator per byte at `compressibility`, `bytes` per call.
    pub fn datagen_ns_per_byte(&self, compressibility: f64, bytes: u64) -> f64 {
        by_size(
            self.datagen.iter().map(|p| (p.bytes, p.compressibility, p.ns_per_byte)),
            bytes,
            compressibility,
        )
    }

    /// The codec entry for `algorithm` at the level nearest `level`.
    pub fn codec(&self, algorithm: &str, level: u8) -> Option<&CodecCost> {
        self.codecs
            .iter()
            .filter(|c| c.algorithm == algorithm)
            .min_by_key(|c| (i32::from(c.level) - i32::from(level)).abs())
    }

    /// (compress ns/B, decompress ns/B, ratio) at `compressibility`, `bytes` per call.
    pub fn codec_at(&self, codec: &CodecCost, compressibility: f64, bytes: u64) -> (f64, f64, f64) {
        let at = |f: fn(&CodecPoint) -> f64| {
            by_size(codec.points.iter().map(|p| (p.bytes, p.compressibility, f(p))), bytes, compressibility)
        };
        (at(|p| p.compress_ns_per_byte), at(|p| p.decompress_ns_per_byte), at(|p| p.ratio))
    }
}

/// Interpolates `(bytes, x, y)` points: linearly in `x` among the points of each size,
/// then linearly in log2(bytes) between sizes; clamped at the ends.
fn by_size(points: impl Iterator<Item = (u64, f64, f64)>, bytes: u64, x: f64) -> f64 {
    let mut pts: Vec<(u64, f64, f64)> = points.collect();
    pts.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut per_size: Vec<(f64, f64)> = Vec::new();
    let mut i = 0;
    while i < pts.len() {
        let size = pts[i].0;
        let same: Vec<(f64, f64)> = pts[i..].iter().take_while(|p| p.0 == size).map(|p| (p.1, p.2)).collect();
        i += same.len();
        per_size.push(((size.max(1) as f64).log2(), interpolate(&same, x)));
    }
    interpolate(&per_size, (bytes.max(1) as f64).log2())
}

/// Linear interpolation over points sorted by x, clamped at the ends.
fn interpolate(points: &[(f64, f64)], x: f64) -> f64 {
    match points {
        [] => 0.0,
        [only] => only.1,
        _ => {
            if x <= points[0].0 {
                return points[0].1;
            }
            for w in points.windows(2) {
                let ((x0, y0), (x1, y1)) = (w[0], w[1]);
                if x <= x1 {
                    let t = if x1 > x0 { (x - x0) / (x1 - x0) } else { 0.0 };
                    return y0 + t * (y1 - y0);
                }
            }
            points[points.len() - 1].1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_clamps_and_blends() {
        let pts = [(1.0, 10.0), (2.0, 20.0), (4.0, 20.0)];
        assert_eq!(interpolate(&pts, 0.5), 10.0);
        assert_eq!(interpolate(&pts, 1.5), 15.0);
        assert_eq!(interpolate(&pts, 9.0), 20.0);
    }

    #[test]
    fn a_file_without_serial_shares_still_loads() {
        let old = r#"{"op_ns": 1.0, "ns_per_byte": 2.0, "cpu_share": 0.5}"#;
        let op: OpCost = serde_json::from_str(old).unwrap();
        assert_eq!(op.serial_share, None);
        assert!(!serde_json::to_string(&op).unwrap().contains("serial_share"));
    }

    #[test]
    fn a_file_with_the_old_serial_share_is_read_in_todays_terms() {
        let mut op: OpCost = serde_json::from_str(
            r#"{"op_ns": 1.0, "ns_per_byte": 2.0, "cpu_share": 0.5, "serial_share": 0.4}"#,
        )
        .unwrap();
        op.upgrade_serial_share();
        // Two at once took 1.4 times as long: 0.7 of an op's wall in turns, at any size.
        assert_eq!((op.serial_share, op.serial_share_small), (Some(0.7), Some(0.7)));
        assert!((op.serial_share_at(300 << 10).unwrap() - 0.7).abs() < 1e-9);
        // Upgraded once: loading what was saved changes nothing.
        let again = op;
        op.upgrade_serial_share();
        assert_eq!(op, again);
        // A file without any share keeps none: the model's fallback applies.
        let mut none: OpCost =
            serde_json::from_str(r#"{"op_ns": 1.0, "ns_per_byte": 2.0, "cpu_share": 0.5}"#).unwrap();
        none.upgrade_serial_share();
        assert_eq!((none.serial_share, none.serial_share_small), (None, None));
    }

    #[test]
    fn serial_time_is_fitted_through_both_sizes() {
        // 64 KiB: 100 us, half in turns; 1 MiB: 1100 us, nine tenths in turns.
        let per_byte = 1_000_000.0 / (LARGE_BYTES - SMALL_BYTES) as f64;
        let op = OpCost {
            op_ns: 100_000.0 - per_byte * SMALL_BYTES as f64,
            ns_per_byte: per_byte,
            cpu_share: 0.2,
            serial_share: Some(0.9),
            serial_share_small: Some(0.5),
        };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(op.serial_share_at(SMALL_BYTES as u64).unwrap(), 0.5));
        assert!(close(op.serial_share_at(LARGE_BYTES as u64).unwrap(), 0.9));
        // Halfway in bytes: serial time halfway (50 + 990) / 2 us of a 600 us op.
        let mid = (SMALL_BYTES + LARGE_BYTES) as u64 / 2;
        assert!(close(op.serial_share_at(mid).unwrap(), (50_000.0 + 990_000.0) / 2.0 / 600_000.0));
        // Outside the two sizes the fit is clamped to a share.
        assert!((0.0..=1.0).contains(&op.serial_share_at(64 << 20).unwrap()));
        assert!((0.0..=1.0).contains(&op.serial_share_at(0).unwrap()));
        // Only the large share measured: that one everywhere.
        let large_only = OpCost { serial_share_small: None, ..op };
        assert_eq!(large_only.serial_share_at(mid), Some(0.9));
    }

    /// A calibration with every optional field set, as `calibrate` saves one.
    fn sample() -> Calibration {
        let op = OpCost { op_ns: 1000.0, ns_per_byte: 0.5, cpu_share: 0.3, ..OpCost::default() };
        Calibration {
            version: CALIBRATION_VERSION,
            kit_version: "test".into(),
            build: "debug".into(),
            machine: MachineInfo { cpu_model: "test".into(), logical_cpus: 2, os: "test".into() },
            measured_in: "/tmp".into(),
            took_s: 1.0,
            crc32c: vec![SizedCost { bytes: 1 << 20, ns_per_byte: 0.1 }],
            memcpy: vec![SizedCost { bytes: 1 << 20, ns_per_byte: 0.2 }],
            datagen: vec![DatagenPoint { compressibility: 2.0, bytes: 1 << 20, ns_per_byte: 0.3 }],
            codecs: vec![CodecCost {
                algorithm: "lz4".into(),
                level: 0,
                points: vec![CodecPoint {
                    compressibility: 2.0,
                    bytes: 1 << 20,
                    compress_ns_per_byte: 1.0,
                    decompress_ns_per_byte: 0.4,
                    ratio: 2.0,
                }],
            }],
            local_write: OpCost { serial_share: Some(0.6), serial_share_small: Some(0.5), ..op },
            local_write_batch: Some(WriteBatchCost {
                chunks: 8,
                chunk_bytes: 1 << 20,
                wall_ns: 9e6,
                cpu_share: 0.2,
            }),
            local_read: op,
            manifest_append: op,
            blob_get: OpCost { serial_share: Some(0.7), serial_share_small: Some(0.55), ..op },
            blob_get_batch: Some(BatchCost { requests: 4, op_ns: 2000.0, ns_per_byte: 1.5 }),
            blob_put: op,
            host_job_ns: 100.0,
            host_insert_job_ns: 120.0,
            device_job_host_ns: 300.0,
            effective_cores: 1.8,
        }
    }

    #[test]
    fn a_saved_file_loads_unchanged_and_a_file_without_the_later_fields_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cal.json");
        let cal = sample();
        cal.save(&path).unwrap();
        assert_eq!(Calibration::load(&path).unwrap(), cal);
        // A file from before the batched write, the batch of GETs and the serial shares.
        let mut old = serde_json::to_value(&cal).unwrap();
        for field in ["local_write_batch", "blob_get_batch"] {
            old.as_object_mut().unwrap().remove(field);
        }
        for op in ["local_write", "blob_get"] {
            let op = old[op].as_object_mut().unwrap();
            op.remove("serial_share");
            op.remove("serial_share_small");
        }
        std::fs::write(&path, serde_json::to_string(&old).unwrap()).unwrap();
        let loaded = Calibration::load(&path).unwrap();
        assert_eq!((loaded.local_write_batch, loaded.blob_get_batch), (None, None));
        assert_eq!(loaded.local_write.serial_share, None);
        // Its queries fall back to what it has: a batch costs what one chunk's bytes cost.
        assert_eq!(loaded.local_write_more_ns_per_byte(), loaded.local_write.ns_per_byte);
        assert_eq!(loaded.local_write_batch_cpu_share(), loaded.local_write.cpu_share);
        // Saved again, it is written without the fields it lacks.
        loaded.save(&path).unwrap();
        assert_eq!(Calibration::load(&path).unwrap(), loaded);
        assert!(!std::fs::read_to_string(&path).unwrap().contains("blob_get_batch"));
    }
}
