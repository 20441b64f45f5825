//! The profile of a DPDK compressdev device (`--device dpdk:PMD`) on this machine:
//! `dpukit calibrate --device-profile OUT.toml --device dpdk:PMD`.
//!
//! The device runs gzip and zlib compress and decompress on the PMD, from a thread of its
//! own per node, and leaves every other op to the host CPU. So its model is an
//! `on-cpu-accelerator` profile with two engines, the PMD's compression and its
//! decompression, one of each per node (one queue pair), and no cores: the ops without an
//! engine run on the host, measured, as they do beside the real device. Each engine's cost
//! is measured through the device as the kit drives it (the offload layer, a queue pair,
//! the device thread, the PMD and the gzip wrapping), sixteen ops in flight as a run keeps
//! them, as the device's busy time per op: a fixed cost per op and a rate per byte, fitted
//! through a small op and one of the scenario's chunk size, on the scenario's data. Every figure is `measured`, its source naming this run; each time
//! is the median of several rounds.

#![forbid(unsafe_code)]

use super::format::{build_name, err, CalibrationError};
use super::kernels::datagen_for;
use crate::device::DeviceChoice;
use crate::dpdk::DpdkSpec;
use crate::metrics::machine_info;
use crate::offload::{Buf, Offload, OffloadConfig, SlotOp};
use dpukit_ffi::{Algorithm, Status};
use dpukit_kernels::cache_index::CacheIndex;
use dpukit_kernels::registry::Registry;
use dpukit_sim::profile::Profile;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the profile is measured at.
#[derive(Debug, Clone)]
pub struct DpdkProfileOptions {
    /// The profile's name; `None`: the PMD's, e.g. `compress-isal`.
    pub name: Option<String>,
    /// Compressibility of the data (the scenarios' default: 2).
    pub compressibility: f64,
    /// Bytes of the large op (the scenarios' default chunk: 1 MiB).
    pub chunk_bytes: usize,
    /// Bytes of the small op the fixed cost is fitted through.
    pub small_bytes: usize,
    /// The gzip level compressions run at (the kit's `--compress gzip` default: 1).
    pub level: u8,
    /// Rounds per figure; the median is kept.
    pub rounds: usize,
    /// Wall time of one round of one figure.
    pub round: Duration,
}

impl Default for DpdkProfileOptions {
    fn default() -> Self {
        DpdkProfileOptions {
            name: None,
            compressibility: 2.0,
            chunk_bytes: 1 << 20,
            small_bytes: 4096,
            level: 1,
            rounds: 7,
            round: Duration::from_millis(50),
        }
    }
}

/// Jobs in flight while an op is measured: the scenarios' default queue depth.
const IN_FLIGHT: usize = 16;

/// Median of the device's busy time per op (its own measure: wall time in the PMD's bursts
/// and the wrapping around them) while [`IN_FLIGHT`] jobs of `op` are in flight, over
/// `rounds` rounds of about `round`, with each slot's input copied in just before its job
/// is submitted, as a run hands the device its chunks. Measured as a run drives the device
/// (bursts of several ops), not one op at a time: at 1 MiB a burst's ops and their mbufs
/// do not fit the caches a single op does, and a pipelined device does not wait for the
/// host between ops. Returns the median and the result of an op (its output length).
fn median_op_ns(
    off: &mut Offload,
    rounds: usize,
    round: Duration,
    input: &[u8],
    op: SlotOp,
) -> Result<(f64, u64), CalibrationError> {
    let busy =
        |off: &Offload| off.device_report().map_or(0, |r| r.resources.iter().map(|x| x.busy_ns).sum::<u64>());
    let mut result = 0;
    let mut samples = Vec::with_capacity(rounds.max(1));
    // The first round warms up (the device thread, the PMD's mbuf pool, the caches).
    for r in 0..=rounds.max(1) {
        let (busy0, start) = (busy(off), Instant::now());
        let mut done = 0u64;
        while done < 3 || start.elapsed() < round {
            while off.in_flight() < IN_FLIGHT {
                let Some(slot) = off.take_slot() else { break };
                off.slot(slot).map_err(err)?.0[..input.len()].copy_from_slice(input);
                off.submit(slot, 0, &[op]).map_err(err)?;
            }
            let f = off.next_finished().map_err(err)?.ok_or_else(|| err("the op did not come back"))?;
            off.release(f.slot);
            let res = f.results[0];
            if res.status != Status::Ok || res.ran_on != crate::offload::RanOn::Device {
                return Err(err(format!(
                    "the device answered {} on the {:?}",
                    res.status.describe(),
                    res.ran_on
                )));
            }
            result = res.result;
            done += 1;
        }
        if r > 0 {
            samples.push(busy(off).saturating_sub(busy0) as f64 / done as f64);
        }
    }
    // Leave nothing in flight for the next figure.
    while let Some(f) = off.next_finished().map_err(err)? {
        off.release(f.slot);
    }
    samples.sort_by(f64::total_cmp);
    Ok((samples[samples.len() / 2], result))
}

/// A fixed cost and a rate through two points (bytes, ns); the rate is bytes per second.
fn fit(small: (usize, f64), large: (usize, f64)) -> (f64, f64) {
    let per_byte = ((large.1 - small.1) / (large.0 - small.0) as f64).max(1e-6);
    let fixed = (small.1 - small.0 as f64 * per_byte).max(0.0);
    (fixed, 1e9 / per_byte)
}

/// Measures the device `spec` names and returns the `on-cpu-accelerator` profile that
/// models it (TOML text, validated).
pub fn dpdk_device_profile(spec: &DpdkSpec, opts: &DpdkProfileOptions) -> Result<String, CalibrationError> {
    if !(opts.compressibility.is_finite() && (1.0..=8.0).contains(&opts.compressibility)) {
        return Err(err(format!("compressibility must be 1.0..=8.0, got {}", opts.compressibility)));
    }
    if !(512..=(64 << 20)).contains(&opts.chunk_bytes) || opts.small_bytes >= opts.chunk_bytes {
        return Err(err(format!(
            "chunk size must be 512 B..=64 MiB and above the small op's {} B, got {}",
            opts.small_bytes, opts.chunk_bytes
        )));
    }
    let n = opts.chunk_bytes;
    let cfg = OffloadConfig {
        slots: IN_FLIGHT,
        in_bytes: n,
        out_bytes: n + n / 8 + 4096,
        spare_bytes: 0,
        batch: 1,
        device_timeout_ns: 60_000_000_000,
        engine: Default::default(),
    };
    let registry = Registry::new(Arc::new(CacheIndex::new(64).map_err(err)?));
    // The profile argument only names the run: the device is the PMD.
    let routing = Profile::builtin("host-only").map_err(err)?;
    let mut off = Offload::with_choice(registry, &cfg, &routing, &DeviceChoice::Dpdk(spec.clone()))
        .map_err(|e| err(format!("{}: {e}", spec.spec())))?;
    let device = off.device_name().unwrap_or_default();
    let mut data = vec![0u8; n];
    datagen_for(opts.compressibility).fill(7, 0, &mut data);
    let (rounds, round) = (opts.rounds, opts.round);
    let compress =
        |len: usize| SlotOp::Compress { algorithm: Algorithm::Gzip, level: opts.level, len: len as u32 };
    let (c_small, _) =
        median_op_ns(&mut off, rounds, round, &data[..opts.small_bytes], compress(opts.small_bytes))?;
    let (c_large, clen) = median_op_ns(&mut off, rounds, round, &data, compress(n))?;
    // The device's own output, read back by it: the same stream the scenarios verify.
    let packed = {
        let slot = off.take_slot().ok_or_else(|| err("no free slot"))?;
        off.slot(slot).map_err(err)?.0.copy_from_slice(&data);
        off.submit(slot, 0, &[compress(n)]).map_err(err)?;
        let f = off.next_finished().map_err(err)?.ok_or_else(|| err("the op did not come back"))?;
        let out = off.slot(f.slot).map_err(err)?.1[..f.results[0].result as usize].to_vec();
        off.release(f.slot);
        out
    };
    let small_packed = {
        let mut out = vec![0u8; opts.small_bytes * 2 + 1024];
        let codec = dpukit_kernels::compress::Codec::new(Algorithm::Gzip, opts.level as i32).map_err(err)?;
        let m =
            dpukit_kernels::compress::compress(&codec, &data[..opts.small_bytes], &mut out).map_err(err)?;
        out.truncate(m);
        out
    };
    let decompress = |len: usize| SlotOp::Decompress {
        algorithm: Algorithm::Gzip,
        src: Buf::In,
        dst: Buf::Out,
        len: len as u32,
    };
    let (d_small, _) = median_op_ns(&mut off, rounds, round, &small_packed, decompress(small_packed.len()))?;
    let (d_large, _) = median_op_ns(&mut off, rounds, round, &packed, decompress(packed.len()))?;
    drop(off);

    let (c_fixed, c_rate) = fit((opts.small_bytes, c_small), (n, c_large));
    let (d_fixed, d_rate) = fit((opts.small_bytes, d_small), (n, d_large));
    let machine = machine_info();
    let stamp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let run = format!(
        "dpukit {} calibrate --device-profile --device {} ({} build, {}, unix time {stamp})",
        env!("CARGO_PKG_VERSION"),
        spec.spec(),
        build_name(),
        machine.cpu_model
    );
    let med = format!("median of {rounds} rounds, the device's busy time per op with {IN_FLIGHT} in flight");
    let data_note = format!(
        "gzip level {} on data of compressibility {} (ratio {:.2})",
        opts.level,
        opts.compressibility,
        n as f64 / clen.max(1) as f64
    );
    let fig = |value: String, what: &str| {
        format!("{{ value = {value}, source = \"measured: {run}: {what}\", confidence = \"measured\" }}")
    };
    let derived = |value: String, what: &str| {
        format!("{{ value = {value}, source = \"derived: {what}\", confidence = \"derived\" }}")
    };
    let sci = |v: f64| format!("{v:.4e}");
    let name = opts.name.clone().unwrap_or_else(|| spec.pmd.replace('_', "-"));
    let kind = if spec.is_software() { "software PMD on this host" } else { "PMD" };
    let engine = |what: &str, op: &str, fixed: f64, rate: f64, small: f64, large: f64| {
        format!(
            "[[accelerators]]\n\
             name = \"{pmd}-{what}\"\n\
             ops = [\"{op}\"]\n\
             algorithms = [\"deflate\"]\n\
             engines = {}\n\
             bandwidth_bytes_per_s = {}\n\
             setup_latency_ns = {}\n\
             min_efficient_size_bytes = {}\n",
            fig("1".into(), "one compressdev queue pair per node, driven by one thread"),
            fig(
                sci(rate),
                &format!(
                    "{what} rate per {} byte, fitted through {} B ({small:.0} ns) and {n} B ({large:.0} ns) ops, {data_note}, {med}",
                    if op == "decompress" { "uncompressed" } else { "input" },
                    opts.small_bytes
                )
            ),
            fig(
                format!("{fixed:.0}"),
                &format!("{what} fixed cost per op (queue pair, device thread, PMD call, gzip wrapping), same fit")
            ),
            derived(format!("{:.0}", fixed * rate / 1e9), "setup_latency_ns x bandwidth"),
            pmd = spec.pmd,
        )
    };
    let text = format!(
        "# {pmd} ({kind}) behind `dpukit run --device {dev}`, as the kit drives it: one\n\
         # compressdev queue pair per node, driven from a thread of its own. Written by `dpukit\n\
         # calibrate --device-profile --device {dev}`; every figure measured by that run. Ops the\n\
         # device leaves to the host CPU (CRC32C, cache ops, lz4, zstd) have no engine here and run\n\
         # on the host, measured, as they do beside the device. Regenerate it on the machine you\n\
         # compare against: its rates are this machine's. Measured on: {device}\n\
         schema_version = 1\n\
         name = \"{name}\"\n\
         kind = \"on-cpu-accelerator\"\n\
         description = \"{pmd} ({kind}), DEFLATE through DPDK compressdev, measured on {cpu}\"\n\n\
         [host]\n\
         cpu = \"{cpu}\"\n\n\
         {compress}\n\
         {decompress}",
        pmd = spec.pmd,
        dev = spec.spec(),
        name = name.escape_debug(),
        cpu = machine.cpu_model.escape_debug(),
        device = device.replace('\n', " "),
        compress = engine("compress", "compress", c_fixed, c_rate, c_small, c_large),
        decompress = engine("decompress", "decompress", d_fixed, d_rate, d_small, d_large),
    );
    Profile::from_toml_str(&text, "dpdk device profile").map_err(err)?;
    Ok(text)
}
