//! Virtual time: [`SimTime`] (an instant) and [`SimDuration`] (a span), both in whole
//! nanoseconds. Arithmetic saturates (a model that runs past `u64::MAX` ns, ~584 years,
//! pins there rather than wrapping); `checked_*` variants exist where overflow must be seen.

#![forbid(unsafe_code)]

use std::fmt;
use std::ops::{Add, AddAssign};

/// An instant on the model's virtual clock, in nanoseconds since the model's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(u64);

/// A span of virtual time, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimDuration(u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);

    pub const fn from_ns(ns: u64) -> SimTime {
        SimTime(ns)
    }

    pub const fn as_ns(self) -> u64 {
        self.0
    }

    pub fn checked_add(self, d: SimDuration) -> Option<SimTime> {
        self.0.checked_add(d.0).map(SimTime)
    }

    pub fn saturating_add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }

    /// Time from `earlier` to `self`; zero if `earlier` is later.
    pub fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }

    /// Time from `earlier` to `self`; `None` if `earlier` is later.
    pub fn checked_since(self, earlier: SimTime) -> Option<SimDuration> {
        self.0.checked_sub(earlier.0).map(SimDuration)
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);

    pub const fn from_ns(ns: u64) -> SimDuration {
        SimDuration(ns)
    }

    /// From a model computation in fractional nanoseconds, rounded to the nearest ns.
    /// Negative or NaN inputs (which validated profiles cannot produce) become zero.
    pub fn from_ns_f64(ns: f64) -> SimDuration {
        debug_assert!(ns.is_finite() && ns >= 0.0, "bad duration {ns} ns");
        // `as` saturates for large floats and maps NaN to 0.
        SimDuration(ns.round() as u64)
    }

    pub const fn as_ns(self) -> u64 {
        self.0
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 * 1e-9
    }

    pub fn checked_add(self, other: SimDuration) -> Option<SimDuration> {
        self.0.checked_add(other.0).map(SimDuration)
    }

    pub fn saturating_add(self, other: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(other.0))
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    /// Saturating.
    fn add(self, d: SimDuration) -> SimTime {
        self.saturating_add(d)
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = self.saturating_add(d);
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    /// Saturating.
    fn add(self, other: SimDuration) -> SimDuration {
        self.saturating_add(other)
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}ns", self.0)
    }
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ns", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_instead_of_wrapping() {
        let t = SimTime::MAX + SimDuration::from_ns(5);
        assert_eq!(t, SimTime::MAX);
        assert_eq!(SimTime::MAX.checked_add(SimDuration::from_ns(1)), None);
        assert_eq!(SimTime::from_ns(3).saturating_since(SimTime::from_ns(10)), SimDuration::ZERO);
        assert_eq!(SimTime::from_ns(3).checked_since(SimTime::from_ns(10)), None);
    }

    #[test]
    fn rounds_fractional_ns() {
        assert_eq!(SimDuration::from_ns_f64(95.24).as_ns(), 95);
        assert_eq!(SimDuration::from_ns_f64(95.5).as_ns(), 96);
    }
}
