//! The offload-layer probe: host-side time of one job through the host backend and
//! through the DPU backend (the simulator's own time excluded).

#![forbid(unsafe_code)]

use super::format::{err, CalibrationError};
use super::measure::{measure, ROUNDS};
use crate::offload::{Buf, Offload, OffloadConfig, SlotOp};
use dpukit_kernels::cache_index::{CacheIndex, CacheKey, Location};
use dpukit_kernels::registry::Registry;
use dpukit_sim::engine::EngineConfig;
use dpukit_sim::profile::Profile;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Jobs through the DPU backend per timed round; the figure is the best round's mean.
const OFFLOAD_JOBS: u32 = 400;
/// Profile whose device the offload-layer overhead is measured against (host-side cost
/// only: the simulator's own time is subtracted).
const OFFLOAD_PROFILE: &str = "bluefield-2";

/// One slot of a few KiB: the probe's jobs are a cache op or a CRC of a few bytes.
fn offload_config() -> OffloadConfig {
    OffloadConfig {
        slots: 1,
        in_bytes: 4096,
        out_bytes: 4096,
        spare_bytes: 0,
        batch: 1,
        device_timeout_ns: 1_000_000_000,
        engine: EngineConfig::default(),
    }
}

/// Per job: host backend lookup, host backend insert, DPU backend host-side time.
pub(super) fn measure_offload(round: Duration) -> Result<(f64, f64, f64), CalibrationError> {
    let registry = || CacheIndex::new(4096).map(|c| Registry::new(Arc::new(c))).map_err(err);
    let job = |off: &mut Offload, op: SlotOp| -> Result<(), CalibrationError> {
        let slot = off.take_slot().ok_or_else(|| err("no free slot"))?;
        off.submit(slot, 0, &[op]).map_err(err)?;
        off.next_finished().map_err(err)?.ok_or_else(|| err("job lost"))?;
        off.release(slot);
        Ok(())
    };
    let mut host = Offload::host(registry()?, &offload_config()).map_err(err)?;
    let mut k = 0u64;
    let (lookup_ns, _) = measure(round, || {
        k += 1;
        job(&mut host, SlotOp::CacheLookup { key: CacheKey::for_chunk(1, k % 4096).to_bytes() })
    })?;
    let loc = Location::new(1, 0, 0, 1, 0).map_err(err)?.to_bytes();
    let (insert_ns, _) = measure(round, || {
        k += 1;
        job(&mut host, SlotOp::CacheInsert { key: CacheKey::for_chunk(1, k % 4096).to_bytes(), value: loc })
    })?;
    // DPU backend: host-side time is wall time minus the simulator's own; a CRC of a few
    // bytes keeps the device work, and so the subtraction, small.
    let profile = Profile::builtin(OFFLOAD_PROFILE).map_err(err)?;
    let mut best = f64::INFINITY;
    for _ in 0..ROUNDS {
        let mut dev = Offload::dpu(registry()?, &offload_config(), &profile).map_err(err)?;
        let (t0, sim0) = (Instant::now(), dev.stats().sim_wall_ns);
        for _ in 0..OFFLOAD_JOBS {
            job(&mut dev, SlotOp::Crc32c { buf: Buf::In, len: 64 })?;
        }
        let host_ns = (t0.elapsed().as_nanos() as u64).saturating_sub(dev.stats().sim_wall_ns - sim0);
        best = best.min(host_ns as f64 / f64::from(OFFLOAD_JOBS));
    }
    Ok((lookup_ns, insert_ns, best))
}
