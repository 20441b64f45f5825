//! The core probe: how many cores this machine really gives a CPU-bound job running on
//! every logical CPU at once ([`Calibration::effective_cores`](super::Calibration::effective_cores)).

#![forbid(unsafe_code)]

use super::format::{err, CalibrationError};
use super::ring::RING_FILL;
use dpukit_ffi::Algorithm;
use dpukit_kernels::registry::{Call, Registry};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Phases per [`CoreProbe::sample`]: half with the other threads running, half without.
const CORE_PROBE_PHASES: u32 = 10;

/// Core equivalents: how much a thread running the read path's kernels on a 1 MiB chunk
/// (LZ4 decompress, CRC32C) slows down when one such thread runs on every other logical
/// CPU too, so shared caches and memory bandwidth count as they do in a live run.
///
/// One thread runs all the time; the others run in every second phase of a few rounds
/// each, and the measured thread's calls are timed on both sides. Phases are shorter than
/// the speed changes of a VM's cores, so both sides see both speeds; a window of one
/// thread then a window of two would read a speed change as a core lost or gained. A
/// sample is taken per kernel pass, spread over the calibration, so no one moment (a
/// guest kernel busy after another process freed its memory) sets the figure
/// (docs/model-validation.md, "Effective cores").
pub(super) struct CoreProbe {
    cpus: usize,
    phase: Duration,
    comp: Vec<u8>,
    /// One output buffer per thread, resident before anything is timed: threads faulting
    /// pages in at once do not scale as their kernels do.
    outs: Vec<Vec<u8>>,
    /// The measured thread's (ns, bytes), alone and with the others running.
    alone: (f64, f64),
    loaded: (f64, f64),
}

impl CoreProbe {
    pub(super) fn new(
        round: Duration,
        registry: &Registry,
        data: &[u8],
    ) -> Result<CoreProbe, CalibrationError> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut comp = vec![0u8; data.len() * 2 + 4096];
        let clen = registry
            .execute(Call::Compress { src: data, dst: &mut comp, algorithm: Algorithm::Lz4, level: 0 })
            .map_err(|s| err(format!("lz4 compress: {s}")))?
            .result as usize;
        comp.truncate(clen);
        let outs = (0..cpus).map(|_| vec![RING_FILL; data.len()]).collect();
        Ok(CoreProbe { cpus, phase: round * 2, comp, outs, alone: (0.0, 0.0), loaded: (0.0, 0.0) })
    }

    /// [`CORE_PROBE_PHASES`] more phases.
    pub(super) fn sample(&mut self, registry: &Registry) {
        if self.cpus < 2 {
            return;
        }
        let comp = &self.comp[..];
        let kernels = |out: &mut [u8]| {
            let _ = registry.execute(Call::Decompress { src: comp, dst: out, algorithm: Algorithm::Lz4 });
            let _ = registry.execute(Call::Crc32c { src: comp, seed: 0 });
        };
        // Phase number: the others run in odd phases. `turns` counts their starts and
        // stops, so a timed call that saw one is dropped.
        let phase = AtomicU32::new(0);
        let turns = AtomicU32::new(0);
        let done = AtomicBool::new(false);
        let (first, others) = self.outs.split_at_mut(1);
        let measured = &mut first[0];
        let (mut alone, mut loaded) = ((0.0, 0.0), (0.0, 0.0));
        std::thread::scope(|s| {
            for out in others.iter_mut() {
                let (phase, turns, done) = (&phase, &turns, &done);
                s.spawn(move || {
                    let mut running = false;
                    while !done.load(Ordering::Acquire) {
                        let on = phase.load(Ordering::Acquire) % 2 == 1;
                        if on != running {
                            running = on;
                            turns.fetch_add(1, Ordering::AcqRel);
                        }
                        if on {
                            kernels(out);
                        } else {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    }
                });
            }
            let timed = s.spawn(|| {
                while !done.load(Ordering::Acquire) {
                    let (p0, t0) = (phase.load(Ordering::Acquire), turns.load(Ordering::Acquire));
                    let start = Instant::now();
                    kernels(measured);
                    let ns = start.elapsed().as_nanos() as f64;
                    let (p1, t1) = (phase.load(Ordering::Acquire), turns.load(Ordering::Acquire));
                    // Only calls wholly inside one phase, with the others settled in it.
                    if p0 == p1 && t0 == t1 {
                        let side = if p0 % 2 == 1 { &mut loaded } else { &mut alone };
                        side.0 += ns;
                        side.1 += measured.len() as f64;
                    }
                }
            });
            for p in 0..CORE_PROBE_PHASES {
                phase.store(p, Ordering::Release);
                std::thread::sleep(self.phase);
            }
            done.store(true, Ordering::Release);
            let _ = timed.join();
        });
        self.alone = (self.alone.0 + alone.0, self.alone.1 + alone.1);
        self.loaded = (self.loaded.0 + loaded.0, self.loaded.1 + loaded.1);
    }

    /// One core for the measured thread, and for each of the others its speed with them
    /// running over its speed alone. All the logical CPUs if nothing was measured.
    pub(super) fn effective_cores(&self) -> f64 {
        let cpus = self.cpus as f64;
        if self.alone.0 <= 0.0 || self.loaded.0 <= 0.0 {
            return cpus;
        }
        let speed = (self.loaded.1 / self.loaded.0) / (self.alone.1 / self.alone.0);
        (1.0 + (cpus - 1.0) * speed).clamp(1.0, cpus)
    }
}

#[cfg(test)]
mod tests {
    use super::super::kernels::datagen_for;
    use super::*;
    use dpukit_kernels::cache_index::CacheIndex;
    use std::sync::Arc;

    #[test]
    fn core_probe_times_the_measured_thread_on_both_sides() {
        let registry = Registry::new(Arc::new(CacheIndex::new(16).unwrap()));
        let mut data = vec![0u8; 64 << 10];
        datagen_for(2.0).fill(7, 0, &mut data);
        // Phases of 20 ms: a call of a few hundred microseconds fits in one even with the
        // other unit tests running beside it.
        let mut probe = CoreProbe::new(Duration::from_millis(10), &registry, &data).unwrap();
        let cpus = probe.cpus as f64;
        assert_eq!(probe.effective_cores(), cpus, "nothing measured yet: every logical CPU");
        probe.sample(&registry);
        probe.sample(&registry);
        if probe.cpus > 1 {
            assert!(probe.alone.1 > 0.0 && probe.loaded.1 > 0.0, "{:?} {:?}", probe.alone, probe.loaded);
        }
        let cores = probe.effective_cores();
        assert!((1.0..=cpus).contains(&cores), "{cores}");
        // Half the speed with the others running: one core, plus half of each other.
        probe.alone = (1000.0, 1000.0);
        probe.loaded = (2000.0, 1000.0);
        assert_eq!(probe.effective_cores(), 1.0 + (cpus - 1.0) * 0.5);
        // Faster with company (noise) is capped at the logical CPUs.
        probe.loaded = (500.0, 1000.0);
        assert_eq!(probe.effective_cores(), cpus);
    }
}
