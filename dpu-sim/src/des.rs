//! A discrete-event engine for scale mode: a virtual clock and a queue of timestamped
//! events, popped in (time, sequence) order, so two events at the same instant come out in
//! the order they were scheduled and a run is deterministic bit for bit.
//!
//! The engine knows nothing of clusters or scenarios: events are any small `Copy` value
//! the caller defines (keep it compact; the heap moves it on every push and pop). The
//! queue is allocated once with a bounded capacity ([`Scheduler::with_capacity`]), so the
//! hot path allocates nothing, and scheduling past the bound is an error rather than
//! unbounded growth. No wall clock and no randomness live here; a model that needs
//! randomness takes a seeded [`crate::timing::SplitMix64`].
//!
//! [`FifoServer`] is the scale-mode twin of [`crate::timing::Resource`]: the same FIFO
//! semantics (a job goes to the unit free earliest, starts at `max(arrival, free)`), kept
//! to one `SimTime` per unit because a DES books in time order, so the idle-gap calendar
//! `Resource` needs for out-of-order bookings is never used. Units live in a caller-owned
//! arena so thousands of nodes cost a few words each.

#![forbid(unsafe_code)]

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::timing::{SimDuration, SimTime};

/// Why the engine refused an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesError {
    #[error("event queue full: {capacity} events pending (raise the bound or batch work)")]
    QueueFull { capacity: usize },
    #[error("event scheduled in the past: at {at} ns, clock at {now} ns")]
    InThePast { at: u64, now: u64 },
}

/// One pending event. Ordered so `BinaryHeap` (a max-heap) pops the earliest first.
#[derive(Debug, Clone, Copy)]
struct Entry<E> {
    at_ns: u64,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.at_ns == other.at_ns && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: the smallest (time, seq) is the heap's maximum.
        (other.at_ns, other.seq).cmp(&(self.at_ns, self.seq))
    }
}

/// The event queue and the virtual clock.
#[derive(Debug, Clone)]
pub struct Scheduler<E> {
    heap: BinaryHeap<Entry<E>>,
    capacity: usize,
    now: SimTime,
    next_seq: u64,
    processed: u64,
}

impl<E: Copy> Scheduler<E> {
    /// A queue holding at most `capacity` pending events, allocated up front.
    pub fn with_capacity(capacity: usize) -> Scheduler<E> {
        Scheduler {
            heap: BinaryHeap::with_capacity(capacity),
            capacity,
            now: SimTime::ZERO,
            next_seq: 0,
            processed: 0,
        }
    }

    /// The time of the event being handled (the last one popped).
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Events popped so far.
    pub fn processed(&self) -> u64 {
        self.processed
    }

    pub fn pending(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Schedules `event` at `at` (not before the clock).
    pub fn schedule(&mut self, at: SimTime, event: E) -> Result<(), DesError> {
        if at < self.now {
            return Err(DesError::InThePast { at: at.as_ns(), now: self.now.as_ns() });
        }
        if self.heap.len() >= self.capacity {
            return Err(DesError::QueueFull { capacity: self.capacity });
        }
        self.heap.push(Entry { at_ns: at.as_ns(), seq: self.next_seq, event });
        self.next_seq += 1;
        Ok(())
    }

    /// Schedules `event` `after` the current time.
    pub fn schedule_in(&mut self, after: SimDuration, event: E) -> Result<(), DesError> {
        self.schedule(self.now + after, event)
    }

    /// The earliest event, advancing the clock to it; `None` when nothing is pending.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let e = self.heap.pop()?;
        let at = SimTime::from_ns(e.at_ns);
        debug_assert!(at >= self.now, "time went backwards");
        self.now = at;
        self.processed += 1;
        Some((at, e.event))
    }
}

/// Where a [`FifoServer`]'s units live in a [`UnitArena`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FifoServer {
    first: u32,
    units: u32,
}

/// Free-at times of every unit of every server, one flat vector.
#[derive(Debug, Clone, Default)]
pub struct UnitArena {
    free_at: Vec<SimTime>,
    busy_ns: Vec<u64>,
}

/// When a booked job started and ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Booking {
    pub start: SimTime,
    pub end: SimTime,
}

impl UnitArena {
    pub fn new() -> UnitArena {
        UnitArena::default()
    }

    /// Adds a server with `units` parallel units (at least one).
    pub fn add(&mut self, units: u32) -> FifoServer {
        let units = units.max(1);
        let first = self.free_at.len() as u32;
        self.free_at.extend((0..units).map(|_| SimTime::ZERO));
        self.busy_ns.extend((0..units).map(|_| 0));
        FifoServer { first, units }
    }

    /// Books `service` on `server` for a job arriving at `arrival`: the unit free earliest
    /// (lowest index on a tie) takes it, FIFO.
    pub fn book(&mut self, server: FifoServer, arrival: SimTime, service: SimDuration) -> Booking {
        let lo = server.first as usize;
        let hi = lo + server.units as usize;
        let mut best = lo;
        for u in lo + 1..hi {
            if self.free_at[u] < self.free_at[best] {
                best = u;
            }
        }
        let start = arrival.max(self.free_at[best]);
        let end = start + service;
        debug_assert!(end >= self.free_at[best], "a unit is never busy twice at once");
        self.free_at[best] = end;
        self.busy_ns[best] = self.busy_ns[best].saturating_add(service.as_ns());
        Booking { start, end }
    }

    /// When the earliest unit of `server` is free: a job arriving then starts at once.
    pub fn earliest_free(&self, server: FifoServer) -> SimTime {
        let lo = server.first as usize;
        self.free_at[lo..lo + server.units as usize].iter().copied().min().unwrap_or(SimTime::ZERO)
    }

    /// Busy time of all units of `server`, summed.
    pub fn busy_ns(&self, server: FifoServer) -> u64 {
        let lo = server.first as usize;
        self.busy_ns[lo..lo + server.units as usize].iter().sum()
    }

    /// Latest end of any job booked on `server`.
    pub fn last_end(&self, server: FifoServer) -> SimTime {
        let lo = server.first as usize;
        self.free_at[lo..lo + server.units as usize].iter().copied().max().unwrap_or(SimTime::ZERO)
    }

    /// Utilization of `server` over `[0, until)`: busy / (units x window), at most 1.
    pub fn utilization(&self, server: FifoServer, until: SimTime) -> f64 {
        let capacity = until.as_ns() as f64 * f64::from(server.units);
        if capacity > 0.0 {
            (self.busy_ns(server) as f64 / capacity).min(1.0)
        } else {
            0.0
        }
    }
}

impl FifoServer {
    pub fn units(self) -> u32 {
        self.units
    }
}

/// One stage of a device job: a resource of the node's DPU, its service time and the
/// propagation latency after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpuStage {
    /// Index into [`DpuShape::resources`] (and the node's servers, in the same order).
    pub resource: u8,
    pub service: SimDuration,
    pub latency: SimDuration,
}

/// The stages of one op: source DMA read, compute, result DMA write, completion write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DpuOpStages {
    pub read: Option<DpuStage>,
    pub compute: Option<DpuStage>,
    pub write: Option<DpuStage>,
    pub completion: Option<DpuStage>,
}

/// A device job (one doorbell, a few ops) with every stage's service time taken from the
/// profile's [`TimingModel`](crate::timing::TimingModel), by timing the same ops on a
/// fresh model: scale mode books the same services on compact per-node servers, so live
/// and scale mode share one model of a DPU.
#[derive(Debug, Clone, PartialEq)]
pub struct DpuShape {
    pub doorbell: Option<DpuStage>,
    pub fetch: Option<DpuStage>,
    pub ops: Vec<DpuOpStages>,
}

/// The resources of a profile's device, in the timing model's order: (name, units).
pub fn dpu_resources(
    profile: &crate::profile::Profile,
) -> Result<Vec<(String, u32)>, crate::timing::ModelError> {
    let model = crate::timing::TimingModel::new(profile)?;
    Ok(model.resources().iter().map(|r| (r.name().to_string(), r.units())).collect())
}

fn stage_of(names: &[(String, u32)], name: &str, st: &crate::timing::Stage) -> Option<DpuStage> {
    let service = st.service();
    let latency = st.done.saturating_since(st.end);
    if service == SimDuration::ZERO && latency == SimDuration::ZERO {
        return None;
    }
    let resource = names.iter().position(|(n, _)| n == name)? as u8;
    Some(DpuStage { resource, service, latency })
}

impl DpuShape {
    /// Times `ops` (one doorbell) on a fresh model of `profile` and keeps each stage.
    pub fn probe(
        profile: &crate::profile::Profile,
        ops: &[crate::timing::OpCost],
    ) -> Result<DpuShape, crate::timing::ModelError> {
        use crate::timing::{Route, TimingModel};
        let names = dpu_resources(profile)?;
        let mut model = TimingModel::new(profile)?;
        let batch = model.doorbell(SimTime::ZERO, ops.len().max(1) as u32)?;
        let doorbell = stage_of(&names, "doorbell", &batch.doorbell);
        let fetch = stage_of(&names, "pcie-dma-read", &batch.descriptor_fetch);
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            // Each op on its own fresh model: a shape holds service times, not queueing.
            let mut m = TimingModel::new(profile)?;
            let t = m.submit(SimTime::ZERO, op)?;
            let compute_name = match t.route {
                Route::NoCompute => None,
                Route::DpuCores => Some("dpu-cores".to_string()),
                Route::Accelerator(i) => profile.accelerators.get(i).map(|a| format!("accel:{}", a.name)),
            };
            out.push(DpuOpStages {
                read: stage_of(&names, "pcie-dma-read", &t.source_read),
                compute: compute_name.and_then(|n| stage_of(&names, &n, &t.compute)),
                write: stage_of(&names, "pcie-dma-write", &t.result_write),
                completion: stage_of(&names, "pcie-dma-write", &t.completion_write),
            });
        }
        Ok(DpuShape { doorbell, fetch, ops: out })
    }

    /// Books `times` copies of the job, one after another as a host waiting on each job
    /// runs them (services and latencies both `times` over), on a node's servers
    /// (`servers[i]` is resource `i`), arriving at `arrival`, store-and-forward as the
    /// timing model chains them; returns when the last completion is visible to the host.
    pub fn book(
        &self,
        arena: &mut UnitArena,
        servers: &[FifoServer],
        arrival: SimTime,
        times: u32,
    ) -> SimTime {
        let scale = |d: SimDuration| SimDuration::from_ns(d.as_ns().saturating_mul(u64::from(times)));
        let mut step = |st: &Option<DpuStage>, at: SimTime| -> (SimTime, SimTime) {
            match st {
                Some(s) => {
                    let b = arena.book(servers[s.resource as usize], at, scale(s.service));
                    (b.end, b.end + scale(s.latency))
                }
                None => (at, at),
            }
        };
        let (_, rung) = step(&self.doorbell, arrival);
        let (_, ready) = step(&self.fetch, rung);
        let mut done = ready;
        for op in &self.ops {
            let (_, read) = step(&op.read, ready);
            let (_, computed) = step(&op.compute, read);
            let (written_end, written) = step(&op.write, computed);
            // Posted writes stay ordered: the completion follows the result data.
            let (_, completed) = step(&op.completion, written_end);
            done = done.max(completed).max(written);
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ns: u64) -> SimTime {
        SimTime::from_ns(ns)
    }

    #[test]
    fn pops_in_time_then_schedule_order() {
        let mut s: Scheduler<u32> = Scheduler::with_capacity(8);
        s.schedule(t(20), 1).unwrap();
        s.schedule(t(10), 2).unwrap();
        s.schedule(t(20), 3).unwrap();
        s.schedule(t(10), 4).unwrap();
        let order: Vec<u32> = std::iter::from_fn(|| s.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, [2, 4, 1, 3]);
        assert_eq!(s.now(), t(20));
        assert_eq!(s.processed(), 4);
    }

    #[test]
    fn refuses_the_past_and_overflow() {
        let mut s: Scheduler<u8> = Scheduler::with_capacity(1);
        s.schedule(t(5), 0).unwrap();
        assert_eq!(s.schedule(t(6), 0), Err(DesError::QueueFull { capacity: 1 }));
        s.pop();
        assert_eq!(s.schedule(t(4), 0), Err(DesError::InThePast { at: 4, now: 5 }));
        s.schedule_in(SimDuration::from_ns(1), 9).unwrap();
        assert_eq!(s.pop(), Some((t(6), 9)));
    }

    #[test]
    fn fifo_server_matches_resource_for_in_order_arrivals() {
        use crate::timing::Resource;
        let mut arena = UnitArena::new();
        let server = arena.add(2);
        let mut reference = Resource::new("r", 2);
        let mut rng = crate::timing::SplitMix64::new(7);
        let mut at = 0u64;
        for _ in 0..1000 {
            at += rng.next_u64() % 50;
            let service = SimDuration::from_ns(rng.next_u64() % 120);
            let b = arena.book(server, t(at), service);
            let (start, end) = reference.book(t(at), service);
            assert_eq!((b.start, b.end), (start, end));
        }
        assert_eq!(arena.last_end(server), reference.last_end());
    }
}
