//! How a probe times an op: rounds of calls (`measure`), calls spaced by other work
//! (`measure_spaced`), rounds spread over passes (`Passes`), two-size fits (`fit`) and
//! the slowdown of two ops at once (`measure_serial_share`). Every figure is a mean, not
//! the best: a live run pays every slow flush and every preemption too.

#![forbid(unsafe_code)]

use super::format::{err, CalibrationError, OpCost, CONCURRENT_OPS, LARGE_BYTES, SMALL_BYTES};
use crate::metrics::process_cpu_ns;
use std::time::{Duration, Instant};

/// Rounds per measurement: enough to average out a preemption, few enough to keep a
/// calibration to seconds.
pub(super) const ROUNDS: usize = 3;
/// Most iterations of one round: a bound for ops far shorter than a round.
const MAX_ITERS_PER_ROUND: u32 = 10_000;

/// Mean (wall ns, process CPU ns) per iteration over `ROUNDS` rounds of at least
/// `round` each (or `MAX_ITERS_PER_ROUND` iterations). The mean, not the best: a live run
/// pays every slow flush and every preemption too.
pub(super) fn measure(
    round: Duration,
    mut f: impl FnMut() -> Result<(), CalibrationError>,
) -> Result<(f64, f64), CalibrationError> {
    // Warm up (page faults, lazy tables) unless one call already fills a round.
    let t = Instant::now();
    f()?;
    let long = t.elapsed() >= round;
    let rounds = if long { ROUNDS - 1 } else { ROUNDS };
    let (t0, c0) = (Instant::now(), process_cpu_ns());
    let mut n = 0u32;
    for _ in 0..rounds {
        n += one_round(round, &mut f)?;
    }
    let wall = t0.elapsed().as_nanos() as f64 / f64::from(n);
    let cpu = process_cpu_ns().saturating_sub(c0) as f64 / f64::from(n);
    Ok((wall, cpu))
}

/// Mean (wall ns, process CPU ns) of `f` over at least `ROUNDS` rounds of `round` of its
/// own time (or `MAX_ITERS_PER_ROUND` calls), with `gap` run untimed before every call:
/// an op as a data path makes it, after other work, not back to back: the work in between
/// evicts the kernel's write path and the client's from the caches, and a flushed write
/// back to back costs a third less than in a run (docs/model-validation.md).
pub(super) fn measure_spaced(
    round: Duration,
    mut gap: impl FnMut(),
    mut f: impl FnMut() -> Result<(), CalibrationError>,
) -> Result<(f64, f64), CalibrationError> {
    gap();
    f()?;
    let budget = round * ROUNDS as u32;
    let (mut wall, mut cpu, mut n) = (Duration::ZERO, 0u64, 0u32);
    while n == 0 || (wall < budget && n < MAX_ITERS_PER_ROUND) {
        gap();
        let (t0, c0) = (Instant::now(), process_cpu_ns());
        f()?;
        wall += t0.elapsed();
        cpu += process_cpu_ns().saturating_sub(c0);
        n += 1;
    }
    Ok((wall.as_nanos() as f64 / f64::from(n), cpu as f64 / f64::from(n)))
}

/// Calls `f` for at least `round` (at least once, at most [`MAX_ITERS_PER_ROUND`] times);
/// returns how many times.
pub(super) fn one_round(
    round: Duration,
    f: &mut impl FnMut() -> Result<(), CalibrationError>,
) -> Result<u32, CalibrationError> {
    let t0 = Instant::now();
    let mut k = 0u32;
    while k == 0 || (t0.elapsed() < round && k < MAX_ITERS_PER_ROUND) {
        f()?;
        k += 1;
    }
    Ok(k)
}

/// Kernel measurements taken in passes: the `i`-th measurement of every pass adds one round
/// (at least `round`, or [`MAX_ITERS_PER_ROUND`] calls) to the `i`-th running mean, so a
/// kernel's rounds spread over all the passes. The first pass warms each kernel up first.
pub(super) struct Passes {
    round: Duration,
    /// Per measurement: wall ns and calls, summed over the passes so far.
    sums: Vec<(f64, u64)>,
    next: usize,
    first: bool,
}

impl Passes {
    pub(super) fn new(round: Duration) -> Passes {
        Passes { round, sums: Vec::new(), next: 0, first: true }
    }

    pub(super) fn start_pass(&mut self) {
        self.first = self.sums.is_empty();
        self.next = 0;
    }

    /// One round of `f`; returns the mean wall ns per call over every round of this
    /// measurement so far. Measurements come in the same order in every pass.
    pub(super) fn measure(
        &mut self,
        mut f: impl FnMut() -> Result<(), CalibrationError>,
    ) -> Result<f64, CalibrationError> {
        if self.first {
            // Warm up (page faults, lazy tables).
            f()?;
            self.sums.push((0.0, 0));
        }
        let i = self.next;
        self.next += 1;
        let t0 = Instant::now();
        let k = one_round(self.round, &mut f)?;
        let sum = self.sums.get_mut(i).ok_or_else(|| err("kernel measurements out of order"))?;
        sum.0 += t0.elapsed().as_nanos() as f64;
        sum.1 += u64::from(k);
        Ok(sum.0 / sum.1 as f64)
    }
}

/// CPU time over wall time of a measured (wall ns, CPU ns), 0..=1.
pub(super) fn cpu_share((wall, cpu): (f64, f64)) -> f64 {
    if wall > 0.0 {
        (cpu / wall).clamp(0.0, 1.0)
    } else {
        1.0
    }
}

/// Fixed + per-byte cost from the (wall ns, CPU ns) at the two sizes; CPU share the mean
/// of both.
pub(super) fn fit(small: (f64, f64), large: (f64, f64)) -> OpCost {
    let per_byte = ((large.0 - small.0) / (LARGE_BYTES - SMALL_BYTES) as f64).max(0.0);
    let op = (small.0 - per_byte * SMALL_BYTES as f64).max(0.0);
    OpCost {
        op_ns: op,
        ns_per_byte: per_byte,
        cpu_share: (cpu_share(small) + cpu_share(large)) / 2.0,
        ..OpCost::default()
    }
}

/// Time budget of one two-at-once measurement, in rounds: longer than one op's, as each
/// cycle times only a few ops on each side.
pub(super) const SERIAL_ROUNDS: u32 = 4 * ROUNDS as u32;
/// Fewest counted cycles of a two-at-once measurement, whatever its time budget: ops
/// slower than the budget still get a mean over several cycles.
const MIN_SERIAL_CYCLES: u32 = 6;
/// Ops thread 0 times in each phase (alone, loaded) of a cycle: few, so the two sides
/// alternate faster than the machine changes speed.
const SERIAL_OPS_PER_PHASE: u32 = 3;

/// Share of one op's wall that [`CONCURRENT_OPS`] ops at once take in turns, from the
/// mean wall of one op alone and of one op while the others run back to back: the share
/// with which scale mode's model reproduces that slowdown. There, an op holds the shared
/// server (a disk, a client) for its serial share `s` of its wall `T` and overlaps the
/// rest with the others' ops, so `N` streams of ops each take `max(T, N * s * T)` per op:
/// `s` is the slowdown over `N`. No slowdown at all gives `1 / N`: the most that `N`
/// streams can share without waiting, which is all that measuring `N` at once can tell.
/// That is how scale mode shares a blob client. Local-tier writes slow each other whether
/// or not they overlap in time, so for them it takes the slowdown itself, `2s - 1` of the
/// wall more per other writer (scale mode's `crowd_slowdown`).
pub(super) fn serial_share(alone_ns: f64, loaded_ns: f64) -> f64 {
    if alone_ns <= 0.0 {
        return 0.0;
    }
    (loaded_ns / alone_ns / CONCURRENT_OPS as f64).clamp(0.0, 1.0)
}

/// [`serial_share`] of the op `make(i)` makes for thread `i`. Thread 0 times its op in
/// cycles: [`SERIAL_OPS_PER_PHASE`] ops alone, then as many while the other threads run
/// theirs back to back, as a run's node threads do; until `budget` is spent (at least
/// [`MIN_SERIAL_CYCLES`] cycles).
///
/// Alone and loaded alternate every few ops, so they see the same machine: on a VM whose
/// disk slows down for a while after a burst of writes, all of one and then all of the
/// other put the burst's after-effect on one side only. The first loaded op is not timed: it
/// starts together with the others' first, which a steady stream of ops does not.
pub(super) fn measure_serial_share<F>(
    budget: Duration,
    make: impl Fn(usize) -> F + Sync,
) -> Result<f64, CalibrationError>
where
    F: FnMut() -> Result<(), CalibrationError>,
{
    use std::sync::atomic::{AtomicBool, Ordering};
    let barrier = std::sync::Barrier::new(CONCURRENT_OPS);
    // `stop` is written only between a cycle's last barrier and the next cycle's first,
    // and read right after that first one: every thread leaves on the same cycle.
    let stop = AtomicBool::new(false);
    // Set by thread 0 when its loaded ops are done; the others then finish the op they
    // are in. Cleared by thread 0 before the next cycle's first barrier.
    let loaded_done = AtomicBool::new(false);
    let failure = std::sync::Mutex::new(None::<CalibrationError>);
    let started = Instant::now();
    let fail = |e: CalibrationError| {
        failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
    };
    let timed = |op: &mut F, k: u32| -> Result<f64, CalibrationError> {
        let t = Instant::now();
        for _ in 0..k {
            op()?;
        }
        Ok(t.elapsed().as_nanos() as f64)
    };
    // Thread 0's (ns alone, ns loaded, cycles counted).
    let sums = std::thread::scope(|s| {
        let load: Vec<_> = (1..CONCURRENT_OPS)
            .map(|i| {
                let (barrier, stop, loaded_done, fail, make) = (&barrier, &stop, &loaded_done, &fail, &make);
                s.spawn(move || {
                    let mut op = make(i);
                    loop {
                        barrier.wait();
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        barrier.wait();
                        while !loaded_done.load(Ordering::SeqCst) {
                            if let Err(e) = op() {
                                fail(e);
                                stop.store(true, Ordering::SeqCst);
                                break;
                            }
                        }
                        barrier.wait();
                    }
                })
            })
            .collect();
        let mut op = make(0);
        let (mut alone, mut loaded, mut cycles) = (0.0, 0.0, 0u32);
        // Cycle 0 warms up (page faults, file creation) and is not counted.
        for cycle in 0u32.. {
            barrier.wait();
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let a = timed(&mut op, SERIAL_OPS_PER_PHASE);
            barrier.wait();
            let l =
                a.and_then(|a| timed(&mut op, 1).and(timed(&mut op, SERIAL_OPS_PER_PHASE)).map(|l| (a, l)));
            loaded_done.store(true, Ordering::SeqCst);
            barrier.wait();
            loaded_done.store(false, Ordering::SeqCst);
            match l {
                Ok((a, l)) if cycle > 0 => {
                    alone += a;
                    loaded += l;
                    cycles += 1;
                }
                Ok(_) => {}
                Err(e) => {
                    fail(e);
                    stop.store(true, Ordering::SeqCst);
                }
            }
            if cycles >= MIN_SERIAL_CYCLES && started.elapsed() >= budget {
                stop.store(true, Ordering::SeqCst);
            }
        }
        for h in load {
            if h.join().is_err() {
                fail(err("a calibration thread panicked"));
            }
        }
        (alone, loaded, cycles)
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let (alone, loaded, cycles) = sums;
    if cycles == 0 {
        return Err(err("a two-at-once measurement counted no cycle"));
    }
    Ok(serial_share(alone, loaded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_point_fit_separates_fixed_and_per_byte() {
        let small = (1000.0 + SMALL_BYTES as f64 * 0.5, 0.0);
        let large = (1000.0 + LARGE_BYTES as f64 * 0.5, 0.0);
        let c = fit(small, large);
        assert!((c.op_ns - 1000.0).abs() < 1e-6 && (c.ns_per_byte - 0.5).abs() < 1e-9);
    }

    #[test]
    fn passes_warm_up_once_and_keep_each_measurement_in_its_place() {
        let mut passes = Passes::new(Duration::from_micros(50));
        let (mut a, mut b) = (0u32, 0u32);
        for _ in 0..3 {
            passes.start_pass();
            let ma = passes
                .measure(|| {
                    a += 1;
                    Ok(())
                })
                .unwrap();
            let mb = passes
                .measure(|| {
                    b += 1;
                    std::thread::sleep(Duration::from_micros(200));
                    Ok(())
                })
                .unwrap();
            // Each measurement keeps its own mean: the sleeping one is the slower.
            assert!(mb > ma && mb >= 200_000.0, "{ma} ns, {mb} ns");
        }
        // `b` takes longer than a round: one warm-up call, then one call per pass.
        assert_eq!(b, 1 + 3);
        assert!(a > b);
        // A pass that measures more than the first did is refused, not misfiled.
        passes.start_pass();
        for _ in 0..2 {
            passes.measure(|| Ok(())).unwrap();
        }
        assert!(passes.measure(|| Ok(())).is_err());
    }

    #[test]
    fn serial_share_is_the_slowdown_of_two_at_once_over_two() {
        assert_eq!(serial_share(100.0, 100.0), 0.5);
        assert_eq!(serial_share(100.0, 150.0), 0.75);
        assert_eq!(serial_share(100.0, 200.0), 1.0);
        // Noise either way stays within 0..=1.
        assert_eq!(serial_share(100.0, 90.0), 0.45);
        assert_eq!(serial_share(100.0, 260.0), 1.0);
        assert_eq!(serial_share(0.0, 10.0), 0.0);
    }
}
