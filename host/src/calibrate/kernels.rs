//! The kernel probes: CRC32C, copies, the data generator and every codec of the grid,
//! each through the kernel registry the scenarios use, measured in passes over the whole
//! set (see [`KERNEL_PASSES`]), with the core probe and the blob tier's GETs sampled
//! once per pass beside them.

#![forbid(unsafe_code)]

use super::blob::GetProbe;
use super::cores::CoreProbe;
use super::format::{err, CalibrationError, CodecCost, CodecPoint, DatagenPoint, SizedCost, LARGE_BYTES};
use super::measure::Passes;
use super::ring::Ring;
use dpukit_ffi::Algorithm;
use dpukit_kernels::datagen::{ByteStyle, DataGen};
use dpukit_kernels::registry::{Call, Registry};
use std::time::Duration;

/// Compressibilities the data generator and the main codecs are measured at.
pub const CALIBRATION_COMPRESSIBILITIES: [f64; 3] = [1.0, 2.0, 4.0];
/// Buffer sizes the per-byte kernels are measured at (per-byte cost depends on size:
/// a buffer that outgrows a cache level costs more per byte).
pub const CALIBRATION_SIZES: [u64; 2] = [64 << 10, 1 << 20];
/// Codec levels measured at every compressibility (algorithm, level).
pub const CALIBRATION_CODECS: [(Algorithm, u8); 2] = [(Algorithm::Lz4, 0), (Algorithm::Zstd, 3)];
/// Codec levels measured at compressibility 2 only; other levels use the nearest measured.
pub const CALIBRATION_CODECS_BRIEF: [(Algorithm, u8); 4] =
    [(Algorithm::Zstd, 1), (Algorithm::Gzip, 1), (Algorithm::Gzip, 6), (Algorithm::Zlib, 6)];

/// Passes over the kernel measurements. Each kernel gets one round per pass and its cost
/// is its mean over the passes: a machine whose speed changes from second to second then
/// prices every kernel at the same mix of speeds, as a run of a few hundred milliseconds
/// pays it (docs/model-validation.md, "Kernels in passes").
pub(super) const KERNEL_PASSES: usize = 5;

/// One codec measurement: algorithm and level on generated data of a compressibility,
/// `bytes` per call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CodecPlan {
    pub algorithm: Algorithm,
    pub level: u8,
    pub compressibility: f64,
    pub bytes: u64,
}

/// The generator the scenarios use at `compressibility` (random bytes when incompressible).
pub(super) fn datagen_for(compressibility: f64) -> DataGen {
    let style = if compressibility <= 1.0 { ByteStyle::Random } else { ByteStyle::Bf16 };
    DataGen::new(compressibility, style)
        .unwrap_or_else(|_| DataGen::new(1.0, ByteStyle::Random).expect("1.0 is valid"))
}

/// The codec grid, then any extra points asked for (a scenario's own).
pub(super) fn codec_plan(extra: &[CodecPlan]) -> Vec<CodecPlan> {
    let mut plan: Vec<CodecPlan> = Vec::new();
    for (algorithm, level) in CALIBRATION_CODECS {
        for c in CALIBRATION_COMPRESSIBILITIES {
            for bytes in CALIBRATION_SIZES {
                plan.push(CodecPlan { algorithm, level, compressibility: c, bytes });
            }
        }
    }
    for (algorithm, level) in CALIBRATION_CODECS_BRIEF {
        for bytes in CALIBRATION_SIZES {
            plan.push(CodecPlan { algorithm, level, compressibility: 2.0, bytes });
        }
    }
    for p in extra {
        if !plan.contains(p) {
            plan.push(*p);
        }
    }
    plan
}

/// What the kernel passes measured.
#[derive(Debug, Default)]
pub(super) struct KernelCosts {
    pub crc32c: Vec<SizedCost>,
    pub memcpy: Vec<SizedCost>,
    pub datagen: Vec<DatagenPoint>,
    pub codecs: Vec<CodecCost>,
    /// From the core probe sampled once per pass ([`CoreProbe::effective_cores`]).
    pub effective_cores: f64,
}

/// Runs the [`KERNEL_PASSES`] passes: per pass a core-probe sample, every per-byte kernel
/// and codec of `plan` one round each, and a few of `gets`' GETs. `src` holds at least
/// `largest` bytes and is left as generated data of compressibility 2. The ring is dropped
/// before the effective cores are read, as the tiers' probes that follow need its memory
/// back.
pub(super) fn measure_kernels(
    round: Duration,
    registry: &Registry,
    mut ring: Ring,
    src: &mut [u8],
    largest: usize,
    plan: &[CodecPlan],
    gets: &mut GetProbe,
) -> Result<KernelCosts, CalibrationError> {
    let mut passes = Passes::new(round);
    let mut costs = KernelCosts::default();
    let mut comp = vec![0u8; largest * 2 + 4096];
    let mut cores = CoreProbe::new(round, registry, &src[..LARGE_BYTES])?;
    for _ in 0..KERNEL_PASSES {
        cores.sample(registry);
        // Each pass rebuilds the figures from the running means: the last has them all.
        passes.start_pass();
        datagen_for(2.0).fill(7, 0, src);
        costs.crc32c.clear();
        costs.memcpy.clear();
        costs.datagen.clear();
        costs.codecs.clear();
        measure_sized(&mut passes, registry, &mut ring, src, &mut costs)?;
        for &p in plan {
            measure_codec(&mut passes, registry, &mut ring, src, &mut comp, p, &mut costs.codecs)?;
        }
        gets.sample(&mut ring)?;
    }
    drop(ring);
    datagen_for(2.0).fill(7, 0, src);
    // Taken during the kernel passes, before the tiers: their flushes and freed pages
    // keep the kernel busy for a while after, and that would count as a core this
    // machine does not give.
    costs.effective_cores = cores.effective_cores();
    Ok(costs)
}

/// One round each of CRC32C, a copy and the data generator (every compressibility) at
/// every calibration size.
fn measure_sized(
    passes: &mut Passes,
    registry: &Registry,
    ring: &mut Ring,
    src: &[u8],
    costs: &mut KernelCosts,
) -> Result<(), CalibrationError> {
    for bytes in CALIBRATION_SIZES {
        let n = bytes as usize;
        // CRC32C runs on bytes just written (a fetched chunk just copied into its slot,
        // a compressed chunk just produced): in cache.
        let crc_ns = passes.measure(|| {
            registry.execute(Call::Crc32c { src: &src[..n], seed: 0 }).map_err(err)?;
            Ok(())
        })?;
        costs.crc32c.push(SizedCost { bytes, ns_per_byte: crc_ns / bytes as f64 });
        // A copy moves bytes another thread produced (a fetched object, a device's
        // output) into a slot: neither end in cache.
        ring.fill_from(&src[..n]);
        let copy_ns = passes.measure(|| {
            ring.copy_across(n);
            Ok(())
        })?;
        costs.memcpy.push(SizedCost { bytes, ns_per_byte: copy_ns / bytes as f64 });
        for c in CALIBRATION_COMPRESSIBILITIES {
            let g = datagen_for(c);
            let ns = passes.measure(|| {
                g.fill(11, 0, ring.next_out(n));
                Ok(())
            })?;
            costs.datagen.push(DatagenPoint { compressibility: c, bytes, ns_per_byte: ns / bytes as f64 });
        }
    }
    Ok(())
}

/// One round each of compressing and decompressing point `p`; the point joins its codec's
/// entry in `codecs`. `comp` holds a codec's worst-case output of the largest input.
fn measure_codec(
    passes: &mut Passes,
    registry: &Registry,
    ring: &mut Ring,
    src: &mut [u8],
    comp: &mut [u8],
    p: CodecPlan,
    codecs: &mut Vec<CodecCost>,
) -> Result<(), CalibrationError> {
    let n = p.bytes as usize;
    datagen_for(p.compressibility).fill(13, 0, &mut src[..n]);
    let (algorithm, level) = (p.algorithm, p.level);
    // Compression reads a chunk just generated or copied in (in cache) and writes a
    // slot's output; decompression reads a chunk just fetched and writes a slot.
    let cns = passes.measure(|| {
        registry
            .execute(Call::Compress { src: &src[..n], dst: ring.next_out(n * 2 + 4096), algorithm, level })
            .map_err(|s| err(format!("{} compress: {s}", algorithm.name())))?;
        Ok(())
    })?;
    let clen = registry
        .execute(Call::Compress { src: &src[..n], dst: comp, algorithm, level })
        .map_err(|s| err(format!("{} compress: {s}", algorithm.name())))?
        .result as usize;
    let dns = passes.measure(|| {
        registry
            .execute(Call::Decompress { src: &comp[..clen], dst: ring.next_out(n), algorithm })
            .map_err(|s| err(format!("{} decompress: {s}", algorithm.name())))?;
        Ok(())
    })?;
    let point = CodecPoint {
        compressibility: p.compressibility,
        bytes: p.bytes,
        compress_ns_per_byte: cns / n as f64,
        decompress_ns_per_byte: dns / n as f64,
        ratio: n as f64 / clen.max(1) as f64,
    };
    match codecs.iter_mut().find(|c| c.algorithm == algorithm.name() && c.level == level) {
        Some(c) => c.points.push(point),
        None => codecs.push(CodecCost { algorithm: algorithm.name().into(), level, points: vec![point] }),
    }
    Ok(())
}
