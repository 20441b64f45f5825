//! The TSC as a cycle counter, for the host's cost of offloading in cycles.

#![forbid(unsafe_code)]

use super::*;

/// The TSC as a cycle counter, and whether it is one. Usable when the CPU says its TSC is
/// invariant (`constant_tsc` and `nonstop_tsc` in /proc/cpuinfo: one rate on every core,
/// in every power state) and `quanta` reads it (its raw counter runs at a rate other than
/// 1 per ns); otherwise cycles are not printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tsc {
    pub usable: bool,
    pub why: String,
    /// Measured cycles per ns (0 when not usable).
    pub cycles_per_ns: f64,
}

impl Tsc {
    pub fn probe(clock: &quanta::Clock) -> Tsc {
        let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let flag_line = flags.lines().find(|l| l.starts_with("flags")).unwrap_or("");
        let has = |f: &str| flag_line.split_whitespace().any(|w| w == f);
        if !cfg!(target_arch = "x86_64") {
            return Tsc { usable: false, why: "not x86_64".into(), cycles_per_ns: 0.0 };
        }
        if !(has("constant_tsc") && has("nonstop_tsc")) {
            return Tsc {
                usable: false,
                why: "the CPU does not report an invariant TSC (constant_tsc, nonstop_tsc)".into(),
                cycles_per_ns: 0.0,
            };
        }
        let (r0, t0) = (clock.raw(), Instant::now());
        while t0.elapsed().as_millis() < 20 {
            std::hint::spin_loop();
        }
        let (r1, ns) = (clock.raw(), t0.elapsed().as_nanos() as f64);
        let rate = r1.wrapping_sub(r0) as f64 / ns;
        if (rate - 1.0).abs() < 0.01 {
            return Tsc {
                usable: false,
                why: "the TSC is not read (the OS clock is)".into(),
                cycles_per_ns: 0.0,
            };
        }
        Tsc {
            usable: true,
            why: "invariant TSC (constant_tsc, nonstop_tsc), read with rdtsc".into(),
            cycles_per_ns: rate,
        }
    }
}
