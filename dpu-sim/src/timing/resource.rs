//! A queueing server: `units` identical parallel units, each with a calendar of busy
//! intervals. A job goes to the unit that can start it earliest at or after its arrival,
//! into the first idle gap long enough to hold it. For arrivals in order this is plain FIFO;
//! when an op reaches a later stage before an earlier-submitted op (a short op overtaking a
//! long one on another path), it uses the idle gap as the hardware would, instead of
//! queueing behind work that has not arrived yet.
//!
//! Calendars are bounded ([`CALENDAR_CAPACITY`] intervals per unit, allocated up front):
//! adjacent intervals merge, and when a calendar is full its oldest interval is forgotten
//! and the unit's floor rises to its end, so nothing ever starts before the floor.

#![forbid(unsafe_code)]

use std::collections::VecDeque;

use super::time::{SimDuration, SimTime};

/// Busy intervals remembered per unit. Bounded so booking costs O(units x capacity).
pub const CALENDAR_CAPACITY: usize = 32;

/// Index of a resource in a [`super::TimingModel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceId(pub(crate) usize);

#[derive(Debug, Clone)]
struct Unit {
    /// Nothing may start before this; only ever rises.
    floor: SimTime,
    /// Sorted, disjoint, non-adjacent `[start, end)` intervals, all at or after `floor`.
    busy: VecDeque<(SimTime, SimTime)>,
}

impl Unit {
    fn new() -> Unit {
        Unit { floor: SimTime::ZERO, busy: VecDeque::with_capacity(CALENDAR_CAPACITY) }
    }

    /// Earliest start at or after `arrival` with `service` of idle time.
    fn earliest_start(&self, arrival: SimTime, service: SimDuration) -> SimTime {
        let mut candidate = arrival.max(self.floor);
        for &(start, end) in &self.busy {
            if candidate + service <= start {
                return candidate;
            }
            if end > candidate {
                candidate = end;
            }
        }
        candidate
    }

    fn book(&mut self, start: SimTime, end: SimTime) {
        debug_assert!(start >= self.floor, "unit booked before its floor");
        if start == end {
            return;
        }
        let pos = self.busy.partition_point(|&(s, _)| s < start);
        // A unit is never busy twice at once.
        debug_assert!(pos == 0 || self.busy[pos - 1].1 <= start, "overlaps previous");
        debug_assert!(pos == self.busy.len() || end <= self.busy[pos].0, "overlaps next");
        let joins_prev = pos > 0 && self.busy[pos - 1].1 == start;
        let joins_next = pos < self.busy.len() && self.busy[pos].0 == end;
        match (joins_prev, joins_next) {
            (true, true) => {
                let next_end = self.busy[pos].1;
                self.busy[pos - 1].1 = next_end;
                self.busy.remove(pos);
            }
            (true, false) => self.busy[pos - 1].1 = end,
            (false, true) => self.busy[pos].0 = start,
            (false, false) if self.busy.len() < CALENDAR_CAPACITY => {
                self.busy.insert(pos, (start, end));
            }
            // Full, and the new interval would be the oldest: remember it as the floor.
            (false, false) if pos == 0 => self.floor = self.floor.max(end),
            (false, false) => {
                self.forget_oldest();
                self.busy.insert(pos - 1, (start, end));
            }
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((_, end)) = self.busy.pop_front() {
            debug_assert!(end >= self.floor, "floor would go backwards");
            self.floor = self.floor.max(end);
        }
    }

    /// Forgets intervals that end at or before `horizon`: no future job arrives earlier.
    fn prune(&mut self, horizon: SimTime) {
        while self.busy.front().is_some_and(|&(_, end)| end <= horizon) {
            self.forget_oldest();
        }
    }
}

/// Occupancy of one resource over the current statistics window.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceStats {
    pub name: String,
    pub units: u32,
    pub jobs: u64,
    /// Sum of service times booked since the window began (all units).
    pub busy_ns: u64,
    /// `busy_ns / (units x window length)`, at most 1.
    pub utilization: f64,
}

/// One server in the model (a DMA direction, the doorbell, an engine pool, the cores).
#[derive(Debug, Clone)]
pub struct Resource {
    name: String,
    units: Vec<Unit>,
    window_start: SimTime,
    busy_ns: u64,
    jobs: u64,
    last_end: SimTime,
}

impl Resource {
    pub fn new(name: impl Into<String>, units: u32) -> Resource {
        assert!(units >= 1, "a resource needs at least one unit");
        Resource {
            name: name.into(),
            units: (0..units).map(|_| Unit::new()).collect(),
            window_start: SimTime::ZERO,
            busy_ns: 0,
            jobs: 0,
            last_end: SimTime::ZERO,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn units(&self) -> u32 {
        self.units.len() as u32
    }

    /// Books a job that arrives at `arrival` needing `service`; returns `(start, end)`.
    pub fn book(&mut self, arrival: SimTime, service: SimDuration) -> (SimTime, SimTime) {
        let (unit, start) = self
            .units
            .iter()
            .enumerate()
            .map(|(i, u)| (i, u.earliest_start(arrival, service)))
            .min_by_key(|&(i, start)| (start, i))
            .expect("a resource has at least one unit");
        let end = start + service;
        debug_assert!(start >= arrival, "a job started before it arrived");
        self.units[unit].book(start, end);
        self.jobs += 1;
        let counted_from = start.max(self.window_start);
        self.busy_ns = self.busy_ns.saturating_add(end.saturating_since(counted_from).as_ns());
        self.last_end = self.last_end.max(end);
        (start, end)
    }

    /// Drops calendar entries no future job can use (all future arrivals >= `horizon`).
    pub fn prune(&mut self, horizon: SimTime) {
        for unit in &mut self.units {
            unit.prune(horizon);
        }
    }

    /// Latest end of any job booked so far.
    pub fn last_end(&self) -> SimTime {
        self.last_end
    }

    /// Starts a new statistics window at `at` (busy time and job counts restart).
    pub fn reset_window(&mut self, at: SimTime) {
        self.window_start = at;
        self.busy_ns = 0;
        self.jobs = 0;
    }

    /// Statistics for the window from its start to `until`. Jobs are counted whole when
    /// booked, so pass an `until` at or after the last completion (e.g. the makespan).
    pub fn stats(&self, until: SimTime) -> ResourceStats {
        let window_ns = until.saturating_since(self.window_start).as_ns();
        let capacity_ns = window_ns as f64 * self.units.len() as f64;
        let utilization = if capacity_ns > 0.0 { (self.busy_ns as f64 / capacity_ns).min(1.0) } else { 0.0 };
        ResourceStats {
            name: self.name.clone(),
            units: self.units(),
            jobs: self.jobs,
            busy_ns: self.busy_ns,
            utilization,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ns: u64) -> SimTime {
        SimTime::from_ns(ns)
    }
    fn d(ns: u64) -> SimDuration {
        SimDuration::from_ns(ns)
    }

    #[test]
    fn fifo_for_in_order_arrivals() {
        let mut r = Resource::new("r", 1);
        assert_eq!(r.book(t(0), d(10)), (t(0), t(10)));
        assert_eq!(r.book(t(2), d(10)), (t(10), t(20)));
        assert_eq!(r.book(t(30), d(10)), (t(30), t(40)));
    }

    #[test]
    fn parallel_units_share_load() {
        let mut r = Resource::new("r", 2);
        assert_eq!(r.book(t(0), d(10)), (t(0), t(10)));
        assert_eq!(r.book(t(0), d(10)), (t(0), t(10)));
        assert_eq!(r.book(t(0), d(10)), (t(10), t(20)));
    }

    #[test]
    fn late_booking_fills_an_earlier_gap() {
        let mut r = Resource::new("r", 1);
        r.book(t(100), d(10));
        assert_eq!(r.book(t(5), d(10)), (t(5), t(15)));
        // Too long for the gap before 100: goes after.
        assert_eq!(r.book(t(50), d(60)), (t(110), t(170)));
    }

    #[test]
    fn full_calendar_raises_the_floor() {
        let mut r = Resource::new("r", 1);
        for i in 0..(CALENDAR_CAPACITY as u64 + 1) {
            r.book(t(100 * i), d(10));
        }
        // The first interval was forgotten; its gap can no longer be used.
        let (start, _) = r.book(t(0), d(5));
        assert!(start >= t(10));
    }

    #[test]
    fn utilization_over_window() {
        let mut r = Resource::new("r", 2);
        r.book(t(0), d(50));
        r.book(t(0), d(50));
        let s = r.stats(t(100));
        assert_eq!(s.busy_ns, 100);
        assert!((s.utilization - 0.5).abs() < 1e-12);
    }
}
