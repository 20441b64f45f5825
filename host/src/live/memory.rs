//! Memory admission: a run whose DMA pools would not fit in this machine's memory is
//! refused before anything is made.

#![forbid(unsafe_code)]

use crate::live::env::{slot_buffer_bytes, slot_buffers};
use crate::run::RunError;
use crate::spec::{ScenarioKind, ScenarioSpec};

/// Most of this machine's available memory that the DMA pools of one process may pin.
pub(super) const DMA_POOLS_MAX_SHARE_OF_AVAILABLE: f64 = 0.75;

/// Refuses a run whose nodes' DMA pools (resident from the start, as pinned DMA memory
/// is) would not fit in this machine's available memory, before anything is made: the
/// allocation would fail and abort the process, or the kernel would kill it.
pub(super) fn fits_in_memory(spec: &ScenarioSpec, local: &[u32]) -> Result<(), RunError> {
    let workers = match spec.kind {
        ScenarioKind::FanInRead => local.iter().filter(|&&n| n < spec.readers).count(),
        _ => local.len(),
    } as u64;
    let buffer = slot_buffer_bytes(spec).div_ceil(crate::dma::SLOT_ALIGN) * crate::dma::SLOT_ALIGN;
    let buffers = slot_buffers(spec) as u64;
    let need = workers * u64::from(spec.queue_depth) * buffers * buffer as u64;
    let Some(available) = available_memory_bytes() else { return Ok(()) };
    if need as f64 > available as f64 * DMA_POOLS_MAX_SHARE_OF_AVAILABLE {
        let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
        return Err(RunError::Spec(crate::spec::SpecError {
            knob: "queue_depth",
            reason: format!(
                "the DMA pools of {workers} node(s) would pin {:.1} GiB ({} slots x {buffers} buffers x {} KiB each), \
                 more than {:.0} % of the {:.1} GiB this machine has available: lower --iodepth, --nodes or --bs",
                gib(need),
                spec.queue_depth,
                buffer / 1024,
                DMA_POOLS_MAX_SHARE_OF_AVAILABLE * 100.0,
                gib(available)
            ),
        }));
    }
    Ok(())
}

/// `MemAvailable` of /proc/meminfo, in bytes; `None` where it cannot be read.
pub(super) fn available_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
