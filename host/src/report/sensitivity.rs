//! Sensitivity of a comparison, for people: one line per figure that moves the result
//! ("±25 % on `cores.compress_bytes_per_s.lz4` [assumed]: speedup 3.10x-4.60x, ..."), the
//! top few at `top` and all at `all`, and one line when the top driver is `assumed`.
//! Tables print the lines; the HTML page shows the same rows as a table. JSON keeps every
//! figure (see [`crate::sensitivity::Sensitivity`]).

use super::format::{fmt_duration_ns, fmt_rate};
use super::profile::value;
use crate::sensitivity::{FigureEffect, Headline, Level, Sensitivity, TOP_LINES};

/// `min-max` of a metric over the baseline and the perturbed sides (one side alone still
/// gives a range against the baseline).
fn range(f: &FigureEffect, base: &Headline, metric: fn(&Headline) -> f64, fmt: fn(f64) -> String) -> String {
    let mut xs: Vec<f64> = [&f.low, &f.high].iter().filter_map(|s| s.as_ref()).map(|s| metric(&s.headline)).collect();
    if xs.len() < 2 {
        xs.push(metric(base));
    }
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (a, b) = (fmt(lo), fmt(hi));
    if a == b {
        a
    } else {
        format!("{a}-{b}")
    }
}

fn speedup(x: f64) -> String {
    format!("{x:.2}x")
}

fn cores(x: f64) -> String {
    format!("{x:.2}")
}

/// What was done to the figure: `±25 %` for a continuous one, `16 -> 12/20` otherwise.
pub(crate) fn perturbation(f: &FigureEffect, fraction: f64) -> String {
    let continuous = [&f.low, &f.high].into_iter().flatten().all(|s| {
        let r = s.figure_value / f.value;
        (r - (1.0 - fraction)).abs() < 1e-6 || (r - (1.0 + fraction)).abs() < 1e-6
    });
    if continuous && f.low.is_some() && f.high.is_some() {
        return format!("±{:.0} %", fraction * 100.0);
    }
    let side = |s: &Option<crate::sensitivity::Perturbed>| s.as_ref().map_or("-".into(), |s| value(&s.figure_value));
    format!("{} -> {}/{}", value(&f.value), side(&f.low), side(&f.high))
}

/// The figure's ranges: speedup, offload throughput, p99, cores freed.
pub(crate) fn ranges(f: &FigureEffect, base: &Headline) -> [String; 4] {
    [
        range(f, base, |h| h.speedup, speedup),
        range(f, base, |h| h.throughput_bytes_per_s, fmt_rate),
        range(f, base, |h| h.p99_ns, fmt_duration_ns),
        range(f, base, |h| h.host_cores_freed, cores),
    ]
}

/// The figures a report shows: those with an effect, the top few at `top`, all at `all`.
pub(crate) fn shown(s: &Sensitivity) -> &[FigureEffect] {
    let moving = s.figures.iter().take_while(|f| f.effect > 0.0).count();
    let n = match s.level {
        Level::All => s.figures.len(),
        _ => moving.min(TOP_LINES),
    };
    &s.figures[..n]
}

/// The sensitivity section of a comparison table.
pub fn sensitivity_lines(s: &Sensitivity) -> Vec<String> {
    let b = &s.baseline;
    let mut out = vec![
        format!(
            "sensitivity [model]: speedup {}, throughput {}, p99 {}, cores freed {}; {}",
            speedup(b.speedup),
            fmt_rate(b.throughput_bytes_per_s),
            fmt_duration_ns(b.p99_ns),
            cores(b.host_cores_freed),
            s.method
        ),
        format!("  perturbed: {}", s.selection),
    ];
    for f in shown(s) {
        let [sp, tp, p99, cf] = ranges(f, b);
        out.push(format!(
            "  {} on {} [{}]: speedup {sp}, throughput {tp}, p99 {p99}, cores freed {cf}",
            perturbation(f, s.fraction),
            f.key,
            f.confidence
        ));
    }
    if s.top_driver().is_none() {
        out.push("  no perturbed figure moves the result".into());
    }
    let hidden = s.figures.len() - shown(s).len();
    if hidden > 0 {
        out.push(format!(
            "  {hidden} more figure(s) in the JSON ({} with no effect); --sensitivity all lists them here",
            s.figures.iter().filter(|f| f.effect == 0.0).count()
        ));
    }
    if let Some(line) = s.assumed_top_driver_line() {
        out.push(format!("  {line}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata::sensitivity as sample;

    #[test]
    fn top_shows_three_lines_and_names_an_assumed_top_driver() {
        let text = sensitivity_lines(&sample(Level::Top)).join("\n");
        assert!(
            text.contains("±25 % on cores.compress_bytes_per_s.lz4 [assumed]: speedup 3.10x-4.60x"),
            "{text}"
        );
        assert!(text.contains("cores.crc32c_bytes_per_s [measured]"), "{text}");
        assert!(!text.contains("cores.per_op_fixed_ns"), "{text}");
        assert!(text.contains("2 more figure(s) in the JSON (1 with no effect)"), "{text}");
        assert!(text.contains("top driver `cores.compress_bytes_per_s.lz4` is assumed"), "{text}");
        let all = sensitivity_lines(&sample(Level::All)).join("\n");
        assert!(all.contains("memory.size_gib [vendor]") && !all.contains("more figure"), "{all}");
    }

    #[test]
    fn a_measured_top_driver_gets_no_assumed_line_and_steps_are_shown_as_values() {
        let mut s = sample(Level::Top);
        s.figures[0].confidence = "measured".into();
        s.figures[0].low = None;
        s.figures[0].high.as_mut().unwrap().figure_value = 2.0 * s.figures[0].value;
        let text = sensitivity_lines(&s).join("\n");
        assert!(!text.contains("is assumed"), "{text}");
        assert!(text.contains("5.7e8 -> -/1.14e9 on cores.compress_bytes_per_s.lz4"), "{text}");
        // One side only: the range runs from the baseline.
        assert!(text.contains("speedup 3.98x-4.60x"), "{text}");
    }
}
