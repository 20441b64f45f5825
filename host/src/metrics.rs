//! Measurement helpers: latency histograms per stage, process CPU time, machine facts.

#![forbid(unsafe_code)]

use crate::result::{LatencySummary, MachineInfo, Percentile, Source, DEFAULT_PERCENTILES};
use hdrhistogram::Histogram;

/// Highest latency recorded (longer values are clamped): one hour.
const MAX_LATENCY_NS: u64 = 3_600_000_000_000;
/// CDF points kept per stage for charts.
const CDF_POINTS: usize = 200;

/// A latency histogram for one stage, tagged with where its values come from.
#[derive(Clone)]
pub struct StageHist {
    pub stage: String,
    pub source: Source,
    hist: Histogram<u64>,
}

/// A histogram as it travels between processes (MPI ranks to the leader): its stage,
/// source and the recorded (value, count) pairs. Values are the buckets' own, so the
/// histogram rebuilt from them has the same percentiles, mean and maximum.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistWire {
    pub stage: String,
    pub source: Source,
    pub counts: Vec<(u64, u64)>,
}

impl From<&StageHist> for HistWire {
    fn from(h: &StageHist) -> HistWire {
        HistWire {
            stage: h.stage.clone(),
            source: h.source,
            counts: h.hist.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect(),
        }
    }
}

impl From<HistWire> for StageHist {
    fn from(w: HistWire) -> StageHist {
        let mut h = StageHist::new("", w.source);
        h.stage = w.stage;
        for (value, count) in w.counts {
            let _ = h.hist.record_n(value.clamp(1, MAX_LATENCY_NS), count);
        }
        h
    }
}

impl serde::Serialize for StageHist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        HistWire::from(self).serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for StageHist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StageHist, D::Error> {
        HistWire::deserialize(d).map(StageHist::from)
    }
}

impl StageHist {
    pub fn new(stage: &'static str, source: Source) -> StageHist {
        let hist = Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("static bounds are valid");
        StageHist { stage: stage.to_owned(), source, hist }
    }

    pub fn record(&mut self, ns: u64) {
        let _ = self.hist.record(ns.clamp(1, MAX_LATENCY_NS));
    }

    pub fn merge(&mut self, other: &StageHist) {
        let _ = self.hist.add(&other.hist);
    }

    pub fn len(&self) -> u64 {
        self.hist.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    /// The summary with fio's default percentile list.
    pub fn summary(&self) -> LatencySummary {
        self.summary_with(DEFAULT_PERCENTILES)
    }

    /// The summary with these percentiles (0..=100).
    pub fn summary_with(&self, percentiles: &[f64]) -> LatencySummary {
        let h = &self.hist;
        let mut cdf: Vec<(u64, f64)> = Vec::new();
        if !h.is_empty() {
            // Each distinct latency with the largest fraction at or below it, so the curve
            // reaches 1 even when few samples share the top value.
            for i in 0..=CDF_POINTS {
                let q = i as f64 / CDF_POINTS as f64;
                let v = h.value_at_quantile(q);
                match cdf.last_mut() {
                    Some(last) if last.0 == v => last.1 = q,
                    _ => cdf.push((v, q)),
                }
            }
        }
        let percentiles = if h.is_empty() {
            Vec::new()
        } else {
            percentiles
                .iter()
                .map(|&p| Percentile { percentile: p, ns: h.value_at_quantile(p / 100.0) })
                .collect()
        };
        LatencySummary {
            stage: self.stage.clone(),
            source: self.source,
            count: h.len(),
            p50_ns: h.value_at_quantile(0.50),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
            mean_ns: h.mean(),
            min_ns: if h.is_empty() { 0 } else { h.min() },
            stdev_ns: h.stdev(),
            percentiles,
            emulator: false,
            cdf,
        }
    }
}

/// User + system CPU time of the whole process, ns.
pub fn process_cpu_ns() -> u64 {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let t = |tv: nix::sys::time::TimeVal| {
                tv.tv_sec() as u64 * 1_000_000_000 + tv.tv_usec() as u64 * 1_000
            };
            t(u.user_time()) + t(u.system_time())
        }
        Err(_) => 0,
    }
}

/// This machine's host name, for telling the ranks of a multi-host run apart.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// What this machine is, for the record.
pub fn machine_info() -> MachineInfo {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let logical_cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let os = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| format!("{} {}", std::env::consts::OS, r.trim()))
        .unwrap_or_else(|_| std::env::consts::OS.to_owned());
    MachineInfo { cpu_model, logical_cpus, os }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_has_the_spread_and_a_cdf_that_reaches_one() {
        let mut h = StageHist::new("end_to_end", Source::Measured);
        for v in [1_000, 2_000, 3_000, 4_000] {
            h.record(v);
        }
        let s = h.summary_with(&[25.0, 50.0, 100.0]);
        assert_eq!(s.min_ns, 1_000);
        assert!((s.mean_ns - 2_500.0).abs() < 5.0, "{}", s.mean_ns);
        // Population standard deviation of 1, 2, 3, 4 thousand: sqrt(1.25) thousand.
        assert!((s.stdev_ns - 1_118.0).abs() < 10.0, "{}", s.stdev_ns);
        let ns: Vec<u64> = s.percentiles.iter().map(|p| p.ns).collect();
        assert_eq!(ns.len(), 3);
        assert!(
            ns[0] >= 1_000 && ns[0] < 1_010 && ns[1] >= 2_000 && ns[1] < 2_010 && ns[2] == s.max_ns,
            "{ns:?}"
        );
        // Four samples: the curve steps at each and ends at 1, not at the quantile where
        // the last value first appears.
        assert_eq!(s.cdf.last().unwrap().1, 1.0, "{:?}", s.cdf);
        assert_eq!(s.cdf.len(), 4, "{:?}", s.cdf);
        assert!(s.cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        assert!(StageHist::new("x", Source::Measured).summary().percentiles.is_empty());
    }

    #[test]
    fn a_histogram_survives_the_wire() {
        let mut h = StageHist::new("storage_io", Source::Measured);
        for v in [1, 7, 1_000, 1_234_567, 99_999_999, 1_234_567] {
            h.record(v);
        }
        let text = serde_json::to_string(&h).unwrap();
        let back: StageHist = serde_json::from_str(&text).unwrap();
        assert_eq!(back.summary(), h.summary());
        assert_eq!(back.len(), 6);
    }
}
