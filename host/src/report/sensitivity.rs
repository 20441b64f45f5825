//! Sensitivity of a comparison, for people: one line per figure that moves the result
//! ("±25 % on cores.compress_bytes_per_s.lz4 [assumed] moves it up to 22 %: speedup
//! 3.10x-4.60x, ..."), the
//! top few at `top` and all at `all`, and one line when the top driver is `assumed`.
//! Tables print the lines; the HTML page shows the same rows as a table. JSON keeps every
//! figure (see [`crate::sensitivity::Sensitivity`]).

#![forbid(unsafe_code)]

use super::format::{fmt_duration_ns, fmt_rate};
use super::profile::value;
use crate::sensitivity::{
    DeviceEffect, FigureEffect, Headline, Level, NotPerturbed, Sensitivity, SMALL_EFFECT, TOP_LINES,
};
use crate::spec::ScenarioSpec;
use dpukit_sim::profile::{Confidence, Profile};

/// `min-max` of a metric over the baseline and the perturbed sides (one side alone still
/// gives a range against the baseline).
fn range(f: &FigureEffect, base: &Headline, metric: fn(&Headline) -> f64, fmt: fn(f64) -> String) -> String {
    let mut xs: Vec<f64> =
        [&f.low, &f.high].iter().filter_map(|s| s.as_ref()).map(|s| metric(&s.headline)).collect();
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

/// A relative change as a percentage: `22 %`, `1.5 %`, `0.04 %`, `<0.01 %`.
pub(crate) fn effect_pct(effect: f64) -> String {
    match effect * 100.0 {
        e if e >= 10.0 => format!("{e:.0} %"),
        e if e >= 1.0 => format!("{e:.1} %"),
        e if e >= 0.01 => format!("{e:.2} %"),
        e if e > 0.0 => "<0.01 %".into(),
        _ => "0 %".into(),
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
    let side =
        |s: &Option<crate::sensitivity::Perturbed>| s.as_ref().map_or("-".into(), |s| value(&s.figure_value));
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
    if let Some(p) = &s.proxy_baseline {
        out.push(format!(
            "  scale mode's own figures for this scenario on this machine: speedup {}, throughput {}, p99 {}, cores freed {}",
            speedup(p.speedup),
            fmt_rate(p.throughput_bytes_per_s),
            fmt_duration_ns(p.p99_ns),
            cores(p.host_cores_freed)
        ));
    }
    for f in shown(s) {
        let [sp, tp, p99, cf] = ranges(f, b);
        out.push(format!(
            "  {} on {} [{}] moves it up to {}: speedup {sp}, throughput {tp}, p99 {p99}, cores freed {cf}",
            perturbation(f, s.fraction),
            f.key,
            f.confidence,
            effect_pct(f.effect)
        ));
    }
    match s.top_driver() {
        None => out.push("  no perturbed figure moves the result".into()),
        Some(top) if top.effect < SMALL_EFFECT => out.push(format!(
            "  no profile figure moves any headline figure by {} or more: the result rests on the host side, not on the profile",
            effect_pct(SMALL_EFFECT)
        )),
        Some(_) => {}
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

/// `dpukit profiles show NAME --scenario S`: the figures that matter for the scenario,
/// ranked by their effect on the modelled device time per chunk, each with its
/// confidence; then those that do not, with the reason.
pub fn render_scenario_figures(
    p: &Profile,
    spec: &ScenarioSpec,
    used: &[DeviceEffect],
    left: &[NotPerturbed],
    fraction: f64,
) -> String {
    let codec = spec.compression.as_ref().map_or("no compression".to_string(), |c| c.algorithm.to_string());
    let mut out = format!(
        "Figures that matter for {} on {} (default knobs: {} chunks, {codec}): {} of {}, ranked by how far \
         ±{:.0} % on each moves the modelled device time per chunk (each op alone, no queueing; \
         end-to-end effects need a run: compare --sensitivity)\n",
        spec.kind.name(),
        p.name,
        super::format::fmt_bytes(u64::from(spec.chunk_size_bytes)),
        used.len(),
        used.len() + left.len(),
        fraction * 100.0
    );
    let w = used.iter().map(|u| u.figure.key.len()).max().unwrap_or(0);
    for u in used {
        out.push_str(&format!(
            "  {:<w$}  [{}]  {}\n",
            u.figure.key,
            u.figure.confidence.name(),
            match u.effect * 100.0 {
                e if e >= 0.1 => format!("{e:.1} %"),
                e if e > 0.0 => "<0.1 %".into(),
                _ => "no effect on one chunk".into(),
            }
        ));
    }
    let count = |c: Confidence| used.iter().filter(|u| u.figure.confidence == c).count();
    let counts: Vec<String> = Confidence::ALL.iter().map(|&c| format!("{} {}", count(c), c.name())).collect();
    out.push_str(&format!("  of these: {}\n", counts.join(", ")));
    if let Some(top) = used.first().filter(|u| u.figure.confidence == Confidence::Assumed && u.effect > 0.0) {
        out.push_str(&format!(
            "  the figure that matters most, {}, is assumed: a measurement of it on real hardware would settle most\n",
            top.figure.key
        ));
    }
    out.push_str("Not used by this scenario:\n");
    for n in left {
        out.push_str(&format!("  {}  [{}]: {}\n", n.key, n.confidence, n.reason));
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
            text.contains(
                "±25 % on cores.compress_bytes_per_s.lz4 [assumed] moves it up to 22 %: speedup 3.10x-4.60x"
            ),
            "{text}"
        );
        assert!(text.contains("cores.crc32c_bytes_per_s [measured]"), "{text}");
        assert!(!text.contains("cores.per_op_fixed_ns"), "{text}");
        assert!(text.contains("2 more figure(s) in the JSON (1 with no effect)"), "{text}");
        assert!(text.contains("top driver `cores.compress_bytes_per_s.lz4` is assumed"), "{text}");
        let all = sensitivity_lines(&sample(Level::All)).join("\n");
        assert!(!all.contains("rests on the host side"), "{all}");
        assert!(all.contains("memory.size_gib [vendor]") && !all.contains("more figure"), "{all}");
    }

    #[test]
    fn a_result_no_figure_moves_much_says_so_instead_of_naming_a_driver() {
        let mut s = sample(Level::Top);
        for f in &mut s.figures {
            f.effect /= 100.0;
        }
        let text = sensitivity_lines(&s).join("\n");
        assert!(text.contains("no profile figure moves any headline figure by 1.0 % or more"), "{text}");
        assert!(!text.contains("is assumed"), "{text}");
    }

    #[test]
    fn a_measured_top_driver_gets_no_assumed_line_and_steps_are_shown_as_values() {
        let mut s = sample(Level::Top);
        s.figures[0].confidence = "measured".into();
        s.figures[0].low = None;
        s.figures[0].high.as_mut().unwrap().figure_value = 2.0 * s.figures[0].value;
        let text = sensitivity_lines(&s).join("\n");
        assert!(!text.contains("is assumed"), "{text}");
        assert!(text.contains("5.7e8 -> -/1.14e9 on cores.compress_bytes_per_s.lz4 [measured]"), "{text}");
        // One side only: the range runs from the baseline.
        assert!(text.contains("speedup 3.98x-4.60x"), "{text}");
    }
}
