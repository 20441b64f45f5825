//! The four scenarios, each defined once; two executors run them.
//!
//! A scenario's definition says what happens to a chunk and in what order: the compute
//! jobs it runs on it (checksum, compression, cache lookup and insert, as a chain of
//! [`Job`]s of [`Stage`]s), which chunks each node handles, and its phases. The **live**
//! executor (`crate::live`) runs a definition for real: threads or MPI ranks, the real
//! kernels and tiers, each job through the offload interface (host CPU or a device). The
//! **modelled** executor (`crate::scale`) runs the same definition as events on a virtual
//! clock: each job priced from the calibration (host) or timed on the profile's timing
//! model (device). Each executor reads a job's stages through one interpreter (live:
//! `live/jobs.rs`, stages to slot ops; model: `scale/costs.rs`, stages to host prices and
//! device ops), and no scenario's executor code names a stage: a stage added to a job here
//! runs live and is priced in the model with no change to either executor; a new kind of
//! stage adds one arm to each interpreter. What stays per executor is the order in which a
//! node's I/O and jobs hold its resources (real threads and tiers live, FIFO servers and
//! events in the model).
//!
//! Per chunk:
//! - fan-out write ([`fan_out_write`]): generate, [`produce`] (compress, the plugin op if
//!   any, CRC32C of the stored bytes), write to the local tier in batches of `batch` chunks through a write
//!   pipeline (the next batches are generated and written while one syncs; a batch is
//!   acknowledged once durable, then recorded in the manifest), copy to the blob tier in
//!   the background;
//! - fan-out read ([`fan_out_read`]): [`lookup`]; hit: read the local tier; miss: in the cold
//!   pass, fetch from the peer the peer plan names (peer serving), else from the blob tier;
//!   [`verify`]; fill the cache and [`insert`]. Two passes, each a phase: cold, then warm;
//! - fan-in read ([`fan_in_read`]): `readers` nodes fetch every shard the writers produced
//!   from the blob tier and [`verify`] it;
//! - KV cache ([`kv_cache`]): Zipf-skewed requests over token-prefix blocks; per block a
//!   [`lookup`]; hits read the block and [`verify`] it, misses [`produce`] it (as a prefill
//!   would), store it and [`insert`] it.

#![forbid(unsafe_code)]

pub(crate) mod fan_in_read;
pub(crate) mod fan_out_read;
pub(crate) mod fan_out_write;
pub(crate) mod kv_cache;

use crate::spec::{ScenarioKind, ScenarioSpec};
use dpukit_ffi::Algorithm;

/// The two forms of a chunk: as generated (raw) and as stored (compressed, or the raw bytes
/// when the scenario does not compress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Raw,
    Stored,
}

/// One compute op on a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// CRC32C of the chunk in one form.
    Crc32c(Form),
    /// Raw to stored, with the scenario's codec.
    Compress { algorithm: Algorithm, level: u8 },
    /// Stored to raw; the result must be the raw length.
    Decompress { algorithm: Algorithm },
    /// Look the chunk's key up in the node's cache index.
    Lookup,
    /// Insert the chunk's location into the node's cache index.
    Insert,
    /// The scenario's C plugin op ([`crate::spec::PluginSpec`]) on the stored form: a
    /// length-preserving transform, forward when producing, `inverse` when verifying; `arg`
    /// reaches the plugin as its seed.
    Plugin { arg: u64, inverse: bool },
}

/// Ops submitted together on one slot and completed together (one device job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Job {
    pub(crate) stages: Vec<Stage>,
}

impl Job {
    fn of(stages: &[Stage]) -> Job {
        Job { stages: stages.to_vec() }
    }
}

/// The scenario's codec and level, if it compresses.
pub(crate) fn codec(spec: &ScenarioSpec) -> Option<(Algorithm, u8)> {
    spec.compression.as_ref().map(|c| (c.algorithm, c.level))
}

/// The plugin op's stage, forward or inverse, if the scenario has a plugin.
fn plugin(spec: &ScenarioSpec, inverse: bool) -> Option<Stage> {
    spec.plugin.as_ref().map(|p| Stage::Plugin { arg: p.arg, inverse })
}

/// Producing a chunk after it is generated: compress it, then checksum what will be stored
/// (two jobs: the checksum needs the compressed length); without compression, checksum the
/// raw bytes. A plugin op transforms the stored form after compression (a cipher after the
/// codec, as storage stacks order them) and before the checksum, so the checksum covers
/// the bytes as stored and a read checks them before undoing the transform; it shares the
/// checksum's job (the plugin keeps the length, which is therefore known at submission).
/// Fan-out write and a KV cache miss run it.
pub(crate) fn produce(spec: &ScenarioSpec) -> Vec<Job> {
    let mut last: Vec<Stage> = plugin(spec, false).into_iter().collect();
    match codec(spec) {
        Some((algorithm, level)) => {
            last.push(Stage::Crc32c(Form::Stored));
            vec![Job::of(&[Stage::Compress { algorithm, level }]), Job { stages: last }]
        }
        None if last.is_empty() => vec![Job::of(&[Stage::Crc32c(Form::Raw)])],
        None => {
            last.push(Stage::Crc32c(Form::Stored));
            vec![Job { stages: last }]
        }
    }
}

/// Verifying a stored chunk that was read or fetched: its CRC32C, then the plugin op's
/// inverse (if any), then decompression to the raw length. Every read scenario runs it.
pub(crate) fn verify(spec: &ScenarioSpec) -> Job {
    let mut stages = vec![Stage::Crc32c(Form::Stored)];
    stages.extend(plugin(spec, true));
    if let Some((algorithm, _)) = codec(spec) {
        stages.push(Stage::Decompress { algorithm });
    }
    Job { stages }
}

/// Every job the scenario runs on its chunks, in the order a chunk meets them: what a
/// device must be able to do to serve it.
pub(crate) fn jobs(spec: &ScenarioSpec) -> Vec<Job> {
    match spec.kind {
        ScenarioKind::FanOutWrite => produce(spec),
        ScenarioKind::FanOutRead => vec![lookup(), verify(spec), insert()],
        ScenarioKind::FanInRead => vec![verify(spec)],
        ScenarioKind::KvCache => {
            let mut jobs = vec![lookup(), verify(spec)];
            jobs.extend(produce(spec));
            jobs.push(insert());
            jobs
        }
    }
}

/// A cache lookup of the chunk's key.
pub(crate) fn lookup() -> Job {
    Job::of(&[Stage::Lookup])
}

/// A cache insert of the chunk's location.
pub(crate) fn insert() -> Job {
    Job::of(&[Stage::Insert])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::CompressionSpec;

    fn spec(compression: Option<&str>) -> ScenarioSpec {
        let mut s = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
        s.compression =
            compression.map(|a| CompressionSpec { algorithm: Algorithm::from_name(a).unwrap(), level: 1 });
        s
    }

    #[test]
    fn a_compressed_chunk_is_checksummed_as_stored_after_compression() {
        let jobs = produce(&spec(Some("zstd")));
        assert_eq!(jobs.len(), 2);
        assert!(matches!(jobs[0].stages[..], [Stage::Compress { algorithm: Algorithm::Zstd, level: 1 }]));
        assert_eq!(jobs[1].stages, vec![Stage::Crc32c(Form::Stored)]);
    }

    #[test]
    fn an_uncompressed_chunk_is_checksummed_raw_in_one_job() {
        assert_eq!(produce(&spec(None)), vec![Job::of(&[Stage::Crc32c(Form::Raw)])]);
        assert_eq!(verify(&spec(None)).stages, vec![Stage::Crc32c(Form::Stored)]);
    }

    #[test]
    fn a_plugin_transforms_the_stored_form_before_its_checksum_and_is_undone_before_decompression() {
        let mut s = spec(Some("lz4"));
        s.plugin = Some(crate::spec::PluginSpec { path: "x.so".into(), arg: 7 });
        let fwd = Stage::Plugin { arg: 7, inverse: false };
        let inv = Stage::Plugin { arg: 7, inverse: true };
        let jobs = produce(&s);
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[1].stages, vec![fwd, Stage::Crc32c(Form::Stored)]);
        assert_eq!(
            verify(&s).stages,
            vec![Stage::Crc32c(Form::Stored), inv, Stage::Decompress { algorithm: Algorithm::Lz4 }]
        );
        s.compression = None;
        assert_eq!(produce(&s), vec![Job::of(&[fwd, Stage::Crc32c(Form::Stored)])]);
        assert_eq!(verify(&s).stages, vec![Stage::Crc32c(Form::Stored), inv]);
    }

    #[test]
    fn verification_checks_the_stored_bytes_before_decompressing_them() {
        let v = verify(&spec(Some("gzip")));
        assert_eq!(
            v.stages,
            vec![Stage::Crc32c(Form::Stored), Stage::Decompress { algorithm: Algorithm::Gzip }]
        );
    }
}
