//! Repeated runs: the same scenario and seed run N times, each with fresh state (the live
//! executor gives every run a new run directory, blob-tier part, devices and caches), and
//! each figure reported as its median, minimum, maximum and spread. This machine's speed
//! moves from one minute to the next, so one run's figure says little on its own.

#![forbid(unsafe_code)]

use crate::result::{Figure, RepeatedFigure, Repeats, RunResult, Source, Unit};

/// Most repetitions of one run.
pub const MAX_REPEATS: u32 = 100;

/// Why a repeat count was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepeatError {
    #[error("`{0}` is not a whole number")]
    NotANumber(String),
    #[error("{0}: must be 1..={MAX_REPEATS}")]
    OutOfRange(u64),
}

/// Parses a repeat count, 1..=[`MAX_REPEATS`].
pub fn parse_repeat(text: &str) -> Result<u32, RepeatError> {
    let n: u64 = text.trim().parse().map_err(|_| RepeatError::NotANumber(text.to_owned()))?;
    if !(1..=u64::from(MAX_REPEATS)).contains(&n) {
        return Err(RepeatError::OutOfRange(n));
    }
    Ok(n as u32)
}

/// The repetitions as one result: the run of median throughput (the lower of the two
/// middle ones for an even count), with every repetition's figures under `repeats`. A
/// verification failure in any repetition fails the whole. One run comes back unchanged.
pub fn combine(mut runs: Vec<RunResult>) -> RunResult {
    assert!(!runs.is_empty(), "combine needs at least one run");
    if runs.len() == 1 {
        return runs.remove(0);
    }
    let n = runs.len();
    let figures = figures(&runs);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| runs[a].throughput.value.total_cmp(&runs[b].throughput.value));
    let median_run = order[(n - 1) / 2];
    let failures: Vec<String> = runs
        .iter()
        .enumerate()
        .filter(|(i, r)| *i != median_run && !r.verification.ok)
        .flat_map(|(i, r)| r.verification.failures.iter().map(move |f| format!("repetition {}: {f}", i + 1)))
        .collect();
    let any_failed = runs.iter().any(|r| !r.verification.ok);
    let mut r = runs.swap_remove(median_run);
    r.verification.ok &= !any_failed;
    r.verification.failures.extend(failures);
    r.notes.push(format!(
        "repeated {n} times on seed {}, each with fresh state; figures are repetition {}'s (median throughput), \
         `repeats` holds every repetition's",
        r.seed,
        median_run + 1
    ));
    r.repeats = Some(Repeats { count: n as u32, median_run: median_run as u32, figures });
    r
}

/// Each headline figure over the repetitions, in run order.
fn figures(runs: &[RunResult]) -> Vec<RepeatedFigure> {
    type Field = fn(&RunResult) -> Figure;
    let whole: [(&str, Field); 6] = [
        ("throughput", |r| r.throughput),
        ("ops_per_s", |r| r.ops_per_s),
        ("wall", |r| r.wall),
        ("host_cpu", |r| r.host_cpu),
        ("host_cpu_ns_per_byte", |r| r.host_cpu_ns_per_byte),
        ("host_cores_busy", |r| r.host_cores_busy),
    ];
    let mut out: Vec<RepeatedFigure> = whole
        .iter()
        .map(|(name, f)| {
            let first = f(&runs[0]);
            RepeatedFigure::of(name, first.unit, first.source, runs.iter().map(|r| f(r).value).collect())
        })
        .collect();
    if runs.iter().all(|r| r.latency_of("end_to_end").is_some()) {
        let source = runs[0].latency_of("end_to_end").map_or(Source::Measured, |l| l.source);
        let lat = |name: &str, f: fn(&crate::result::LatencySummary) -> f64| {
            let values = runs.iter().filter_map(|r| r.latency_of("end_to_end")).map(f).collect();
            RepeatedFigure::of(name, Unit::Nanoseconds, source, values)
        };
        out.push(lat("latency_p50", |l| l.p50_ns as f64));
        out.push(lat("latency_p99", |l| l.p99_ns as f64));
        out.push(lat("latency_p999", |l| l.p999_ns as f64));
        out.push(lat("latency_mean", |l| l.mean_ns));
    }
    out
}

/// Offload over host throughput of each pair of repetitions (host run i with offload run
/// i, run one after the other), or `None` unless both were repeated the same number of times.
pub fn speedup_over_runs(host: &RunResult, offload: &RunResult) -> Option<RepeatedFigure> {
    let tp = |r: &RunResult| {
        r.repeats.as_ref()?.figures.iter().find(|f| f.name == "throughput").map(|f| f.values.clone())
    };
    let (h, o) = (tp(host)?, tp(offload)?);
    if h.len() != o.len() {
        return None;
    }
    let ratios = h.iter().zip(&o).map(|(h, o)| if *h > 0.0 { o / h } else { 0.0 }).collect();
    // Measured only when both throughputs are (a device whose times are measured).
    let source =
        if host.throughput.source == Source::Measured && offload.throughput.source == Source::Measured {
            Source::Measured
        } else {
            Source::Modelled
        };
    Some(RepeatedFigure::of("speedup", Unit::Ratio, source, ratios))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::Mode;

    fn run(tp: f64, ok: bool) -> RunResult {
        let mut r = crate::report::testdata::run(Mode::Host);
        r.throughput.value = tp;
        r.verification.ok = ok;
        r
    }

    #[test]
    fn the_median_run_carries_every_repetition() {
        let r = combine(vec![run(300.0, true), run(100.0, true), run(200.0, true)]);
        assert_eq!(r.throughput.value, 200.0);
        let reps = r.repeats.as_ref().unwrap();
        assert_eq!((reps.count, reps.median_run), (3, 2));
        let tp = reps.figures.iter().find(|f| f.name == "throughput").unwrap();
        assert_eq!(tp.values, [300.0, 100.0, 200.0]);
        assert_eq!((tp.median, tp.min, tp.max), (200.0, 100.0, 300.0));
        assert!((tp.spread - 1.0).abs() < 1e-12);
        assert!(reps.figures.iter().any(|f| f.name == "latency_p99"));
        assert!(r.verification.ok);
    }

    #[test]
    fn a_failed_repetition_fails_the_whole() {
        let r = combine(vec![run(1.0, true), run(2.0, false), run(3.0, true)]);
        assert_eq!(r.throughput.value, 2.0);
        assert!(!r.verification.ok);
        let r = combine(vec![run(1.0, false), run(2.0, true), run(3.0, true)]);
        assert!(!r.verification.ok, "a failure outside the median run still counts");
    }

    #[test]
    fn speedups_pair_runs_in_order() {
        let host = combine(vec![run(100.0, true), run(200.0, true)]);
        let offload = combine(vec![run(300.0, true), run(300.0, true)]);
        let s = speedup_over_runs(&host, &offload).unwrap();
        assert_eq!(s.values, [3.0, 1.5]);
        assert_eq!((s.min, s.max, s.median), (1.5, 3.0, 2.25));
        assert!(speedup_over_runs(&run(1.0, true), &offload).is_none());
    }

    #[test]
    fn repeat_counts_are_checked() {
        assert_eq!(parse_repeat("3"), Ok(3));
        assert_eq!(parse_repeat("0"), Err(RepeatError::OutOfRange(0)));
        assert_eq!(parse_repeat("101"), Err(RepeatError::OutOfRange(101)));
        assert!(matches!(parse_repeat("-1"), Err(RepeatError::NotANumber(_))));
    }
}
