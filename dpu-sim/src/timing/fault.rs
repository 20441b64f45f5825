//! Fault injection, model side: a [`FaultPlan`] answers "is the device stalled now?",
//! "is this doorbell lost?", "does this op complete with an error?". Every answer is a pure
//! function of the seed and the question (a hash, not a stream), so the answers do not
//! depend on the order or number of queries, and the same seed gives the same faults.

#![forbid(unsafe_code)]

use crate::profile::{FaultConfig, PeriodicStall, StallWindow};

use super::time::{SimDuration, SimTime};

/// SplitMix64: a small, fast, seeded generator for the model and its tests.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        unit_f64(self.next_u64())
    }

    /// Exponentially distributed with the given mean (for Poisson arrivals).
    pub fn next_exp(&mut self, mean: f64) -> f64 {
        // 1 - u is in (0, 1], so the log is finite.
        -mean * (1.0 - self.next_f64()).ln()
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit_f64(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Independent streams per question, so e.g. doorbell drops do not correlate with errors.
const DOMAIN_DOORBELL: u64 = 0x646f_6f72_6265_6c6c;
const DOMAIN_ERROR: u64 = 0x6572_726f_7273_0000;
const DOMAIN_STALL: u64 = 0x7374_616c_6c00_0000;

/// A deterministic, seeded fault schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    seed: u64,
    /// Sorted by start.
    stalls: Vec<StallWindow>,
    periodic: Option<PeriodicStall>,
    doorbell_drop_rate: f64,
    error_completion_rate: f64,
}

/// A fault configuration that does not make sense.
#[derive(Debug, thiserror::Error)]
#[error("fault plan: {key}: {reason}")]
pub struct FaultConfigError {
    pub key: String,
    pub reason: String,
}

impl FaultPlan {
    /// No faults at all.
    pub fn none() -> FaultPlan {
        FaultPlan {
            seed: 0,
            stalls: Vec::new(),
            periodic: None,
            doorbell_drop_rate: 0.0,
            error_completion_rate: 0.0,
        }
    }

    pub fn new(config: &FaultConfig, seed: u64) -> Result<FaultPlan, FaultConfigError> {
        config.check().map_err(|(key, reason)| FaultConfigError { key, reason })?;
        let mut stalls = config.stalls.clone();
        stalls.sort_by_key(|s| s.at_ns);
        Ok(FaultPlan {
            seed,
            stalls,
            periodic: config.periodic_stall,
            doorbell_drop_rate: config.doorbell_drop_rate,
            error_completion_rate: config.error_completion_rate,
        })
    }

    fn draw(&self, domain: u64, n: u64) -> u64 {
        mix(mix(self.seed ^ domain) ^ n)
    }

    fn chance(&self, domain: u64, n: u64, rate: f64) -> bool {
        rate > 0.0 && unit_f64(self.draw(domain, n)) < rate
    }

    /// Whether doorbell number `n` (counting from 0 per queue) is lost.
    pub fn should_drop_doorbell(&self, n: u64) -> bool {
        self.chance(DOMAIN_DOORBELL, n, self.doorbell_drop_rate)
    }

    /// Whether op number `op_index` completes with an error status.
    pub fn inject_error(&self, op_index: u64) -> bool {
        self.chance(DOMAIN_ERROR, op_index, self.error_completion_rate)
    }

    /// If the device is stalled at `t`, when it answers again (chained stalls followed).
    pub fn stalled_until(&self, t: SimTime) -> Option<SimTime> {
        let mut now = t;
        // Each step moves `now` to the end of a stall covering it; bounded because stalls
        // are finite, listed or one per periodic interval.
        loop {
            let end = self.stall_covering(now)?;
            debug_assert!(end > now, "stall end must move time forward");
            now = end;
            if self.stall_covering(now).is_none() {
                return Some(now);
            }
        }
    }

    fn stall_covering(&self, t: SimTime) -> Option<SimTime> {
        let t_ns = t.as_ns();
        let listed = self
            .stalls
            .iter()
            .take_while(|s| s.at_ns <= t_ns)
            .filter(|s| t_ns < s.at_ns + s.duration_ns)
            .map(|s| s.at_ns + s.duration_ns)
            .max();
        let periodic = self.periodic.and_then(|p| {
            // One stall per interval, wholly inside it (duration < interval is validated).
            let epoch = t_ns / p.interval_ns;
            let slack = p.interval_ns - p.duration_ns;
            let offset = self.draw(DOMAIN_STALL, epoch) % (slack + 1);
            let start = epoch * p.interval_ns + offset;
            let end = start.saturating_add(p.duration_ns);
            (start <= t_ns && t_ns < end).then_some(end)
        });
        listed.into_iter().chain(periodic).max().map(|end_ns| SimTime::ZERO + SimDuration::from_ns(end_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_stalls_chain() {
        let config = FaultConfig {
            stalls: vec![
                StallWindow { at_ns: 100, duration_ns: 50 },
                StallWindow { at_ns: 140, duration_ns: 60 },
            ],
            ..FaultConfig::default()
        };
        let plan = FaultPlan::new(&config, 1).unwrap();
        assert_eq!(plan.stalled_until(SimTime::from_ns(99)), None);
        assert_eq!(plan.stalled_until(SimTime::from_ns(100)), Some(SimTime::from_ns(200)));
        assert_eq!(plan.stalled_until(SimTime::from_ns(200)), None);
    }

    #[test]
    fn rates_are_deterministic_and_close() {
        let config =
            FaultConfig { doorbell_drop_rate: 0.1, error_completion_rate: 0.01, ..FaultConfig::default() };
        let a = FaultPlan::new(&config, 7).unwrap();
        let b = FaultPlan::new(&config, 7).unwrap();
        let drops = (0..100_000).filter(|&n| a.should_drop_doorbell(n)).count();
        assert!((9_000..11_000).contains(&drops), "drops {drops}");
        let errors = (0..100_000).filter(|&n| a.inject_error(n)).count();
        assert!((800..1_200).contains(&errors), "errors {errors}");
        assert!((0..1000).all(|n| a.inject_error(n) == b.inject_error(n)));
    }

    #[test]
    fn periodic_stall_fraction_matches() {
        let config = FaultConfig {
            periodic_stall: Some(PeriodicStall { interval_ns: 1_000, duration_ns: 100 }),
            ..FaultConfig::default()
        };
        let plan = FaultPlan::new(&config, 3).unwrap();
        let stalled = (0..100_000u64).filter(|&t| plan.stalled_until(SimTime::from_ns(t)).is_some()).count();
        assert_eq!(stalled, 10_000);
    }

    #[test]
    fn stall_filling_its_interval_is_rejected() {
        let config = FaultConfig {
            periodic_stall: Some(PeriodicStall { interval_ns: 100, duration_ns: 100 }),
            ..FaultConfig::default()
        };
        assert!(FaultPlan::new(&config, 0).is_err());
    }

    #[test]
    fn bad_rate_is_rejected() {
        let config = FaultConfig { error_completion_rate: 1.5, ..FaultConfig::default() };
        let err = FaultPlan::new(&config, 0).unwrap_err();
        assert!(err.to_string().contains("error_completion_rate"), "{err}");
    }
}
