//! The machine's load over a stretch of a validation: how many CPUs this process, the
//! rest of the machine and the hypervisor (steal) took, from `/proc/stat` and this
//! process's rusage. A calibration and the live runs after it only agree if the machine
//! ran at the same speed for both, so a report shows the load of each.

#![forbid(unsafe_code)]

use crate::metrics::process_cpu_ns;
use crate::report::source_tag;
use crate::result::{Figure, Source, Unit};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// CPU use over a stretch of time, in CPUs (1.0 = one logical CPU all the time), from
/// `/proc/stat` and this process's rusage; measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Load {
    pub wall_s: f64,
    /// This process.
    pub own: Figure,
    /// Every other process of the machine (absent where `/proc/stat` cannot be read).
    pub others: Option<Figure>,
    /// Taken by the hypervisor from this VM.
    pub steal: Option<Figure>,
}

impl Load {
    /// `this process 1.62 CPUs, others 0.03, steal 0.00 over 21.4 s [meas]`.
    pub fn describe(&self) -> String {
        let tag = source_tag(Source::Measured);
        match (self.others, self.steal) {
            (Some(o), Some(s)) => format!(
                "this process {:.2} CPUs, others {:.2}, steal {:.2} over {:.1} s {tag}",
                self.own.value, o.value, s.value, self.wall_s
            ),
            _ => format!("this process {:.2} CPUs over {:.1} s {tag}", self.own.value, self.wall_s),
        }
    }
}

/// A point in time to measure load from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mark {
    at: Instant,
    own_ns: u64,
    /// (busy, steal) clock ticks of all CPUs, if `/proc/stat` could be read.
    ticks: Option<(u64, u64)>,
}

/// `/proc/stat` counts in USER_HZ, 100 per second on every Linux ABI.
const USER_HZ: f64 = 100.0;

impl Mark {
    pub(super) fn now() -> Mark {
        let ticks = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            let line = s.lines().next()?;
            let v: Vec<u64> = line.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
            // user nice system idle iowait irq softirq steal
            let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)?;
            Some((busy, *v.get(7)?))
        });
        Mark { at: Instant::now(), own_ns: process_cpu_ns(), ticks }
    }

    /// (wall s, own CPU s, others' CPU s, steal s) from `start` to this mark.
    fn since(&self, start: &Mark) -> (f64, f64, Option<(f64, f64)>) {
        let wall = self.at.duration_since(start.at).as_secs_f64();
        let own = self.own_ns.saturating_sub(start.own_ns) as f64 / 1e9;
        let rest = match (start.ticks, self.ticks) {
            (Some((b0, s0)), Some((b1, s1))) => {
                let busy = b1.saturating_sub(b0) as f64 / USER_HZ;
                Some(((busy - own).max(0.0), s1.saturating_sub(s0) as f64 / USER_HZ))
            }
            _ => None,
        };
        (wall, own, rest)
    }
}

/// Load summed over stretches of time (a case's live runs, spread over the rounds).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LoadSum {
    wall_s: f64,
    own_s: f64,
    rest: Option<(f64, f64)>,
    unreadable: bool,
}

impl LoadSum {
    pub(super) fn add(&mut self, start: &Mark, end: &Mark) {
        let (wall, own, rest) = end.since(start);
        self.wall_s += wall;
        self.own_s += own;
        match rest {
            Some((o, s)) if !self.unreadable => {
                let (o0, s0) = self.rest.unwrap_or((0.0, 0.0));
                self.rest = Some((o0 + o, s0 + s));
            }
            _ => {
                self.unreadable = true;
                self.rest = None;
            }
        }
    }

    pub(super) fn load(&self) -> Load {
        let per_s = |v: f64| Figure::measured(v / self.wall_s.max(1e-9), Unit::Cores);
        Load {
            wall_s: self.wall_s,
            own: per_s(self.own_s),
            others: self.rest.map(|(o, _)| per_s(o)),
            steal: self.rest.map(|(_, s)| per_s(s)),
        }
    }

    pub(super) fn between(start: &Mark, end: &Mark) -> Load {
        let mut sum = LoadSum::default();
        sum.add(start, end);
        sum.load()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn load_is_cpu_time_over_wall_time() {
        let t = Instant::now();
        let start = Mark { at: t, own_ns: 0, ticks: Some((1000, 10)) };
        // 2 s: this process 1 s of CPU, the machine 3 s busy (300 ticks), 0.2 s stolen.
        let end = Mark { at: t + Duration::from_secs(2), own_ns: 1_000_000_000, ticks: Some((1300, 30)) };
        let load = LoadSum::between(&start, &end);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(load.wall_s, 2.0) && close(load.own.value, 0.5), "{load:?}");
        assert!(close(load.others.unwrap().value, 1.0) && close(load.steal.unwrap().value, 0.1), "{load:?}");
        assert!([Some(load.own), load.others, load.steal]
            .iter()
            .all(|f| f.unwrap().source == Source::Measured));
        // Summed over two stretches: the same rates.
        let mut sum = LoadSum::default();
        sum.add(&start, &end);
        sum.add(&start, &end);
        assert_eq!(sum.load().others, load.others);
        // A stretch without /proc/stat leaves the others unknown, not zero.
        sum.add(&start, &Mark { ticks: None, ..end });
        assert_eq!((sum.load().others, sum.load().steal), (None, None));
        assert!(close(sum.load().own.value, 0.5));
        assert!(LoadSum::between(&start, &Mark { ticks: None, ..end })
            .describe()
            .starts_with("this process 0.50 CPUs over 2.0 s"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn proc_stat_is_read_on_linux() {
        assert!(Mark::now().ticks.is_some());
    }
}
