//! SVG charts: throughput bars, latency CDFs, modelled device utilization and a sweep's
//! throughput. Each chart is a self-contained `<svg>` element with an `id` (the
//! `CHART_*` constants) and its own legend. Measured bars are solid and modelled ones
//! hatched; measured lines are solid and modelled ones dashed.

#![forbid(unsafe_code)]

use super::format::{esc, fmt_duration_ns, fmt_pct, fmt_rate, source_tag};
use super::{run_labels, Sweep};
use crate::result::{Mode, RunResult, Source};
use std::fmt::Write;

pub const CHART_THROUGHPUT: &str = "chart-throughput";
pub const CHART_LATENCY_CDF: &str = "chart-latency-cdf";
pub const CHART_UTILIZATION: &str = "chart-utilization";
pub const CHART_SWEEP: &str = "chart-sweep";
pub const CHART_TIMELINE: &str = "chart-timeline";

const WIDTH: f64 = 760.0;
const HOST_COLOR: &str = "#2b6cb0";
const OFFLOAD_COLOR: &str = "#dd6b20";
const DEVICE_COLOR: &str = "#6b46c1";
const FONT: &str = "font-family=\"sans-serif\" font-size=\"12\"";
/// Rough width of one character at font-size 12, for laying out labels without a renderer.
const CHAR_PX: f64 = 6.8;

/// Colour of a run's mode.
fn mode_color(mode: Mode) -> &'static str {
    match mode {
        Mode::Host => HOST_COLOR,
        Mode::Offload => OFFLOAD_COLOR,
    }
}

/// The colours a chart uses, in order of first use; each gets a hatch pattern.
fn defs(id: &str, colors: &[&str]) -> String {
    let mut s = String::from("<defs>");
    for c in colors {
        let _ = write!(
            s,
            "<pattern id=\"{id}-hatch-{}\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\" \
             patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"{c}\" fill-opacity=\"0.25\"/>\
             <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"{c}\" stroke-width=\"3\"/></pattern>",
            &c[1..]
        );
    }
    s.push_str("</defs>");
    s
}

/// Fill for a bar: solid when measured, the colour's hatch pattern when modelled.
fn fill(id: &str, color: &str, source: Source) -> String {
    match source {
        Source::Measured => color.to_string(),
        Source::Modelled => format!("url(#{id}-hatch-{})", &color[1..]),
    }
}

fn open(id: &str, height: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{id}\" class=\"chart\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{t}\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\
         <text x=\"10\" y=\"20\" {FONT} font-size=\"14\" font-weight=\"bold\">{t}</text>",
        t = esc(title)
    )
}

/// What a colour stands for in every chart.
fn series_name(color: &str) -> &'static str {
    match color {
        HOST_COLOR => "host mode",
        OFFLOAD_COLOR => "offload mode",
        _ => "device resource",
    }
}

/// The key under a bar chart: one swatch for each colour and source its bars use, drawn
/// as those bars are (solid or hatched), then the profile the modelled ones come from.
/// Items wrap before the chart's edge. Returns the markup and its height.
fn bar_legend(id: &str, y0: f64, entries: &[(&'static str, Source)], profile: &str) -> (String, f64) {
    let mut s = String::from("<g class=\"legend\">");
    let (mut x, mut y) = (10.0, y0);
    for (color, source) in entries {
        let text = format!(
            "{}, {} ({})",
            series_name(color),
            source.tag(),
            if *source == Source::Modelled { "hatched" } else { "solid" }
        );
        let w = 22.0 + text.chars().count() as f64 * CHAR_PX + 18.0;
        if x > 10.0 && x + w > WIDTH - 10.0 {
            x = 10.0;
            y += 18.0;
        }
        let _ = write!(
            s,
            "<rect class=\"swatch swatch-{src}\" x=\"{x}\" y=\"{y}\" width=\"14\" height=\"12\" fill=\"{f}\" stroke=\"{color}\"/>\
             <text x=\"{tx}\" y=\"{ty}\" {FONT}>{t}</text>",
            src = source.tag(),
            f = fill(id, color, *source),
            tx = x + 20.0,
            ty = y + 10.0,
            t = esc(&text),
        );
        x += w;
    }
    if entries.iter().any(|(_, s)| *s == Source::Modelled) {
        let words = format!(
            "modelled by the simulator from {} {profile}",
            if profile.contains(", ") { "profiles" } else { "profile" }
        );
        // Wrapped by character count so the line never runs past the chart.
        let per_line = ((WIDTH - 20.0) / CHAR_PX) as usize;
        let mut line = String::new();
        let mut lines = Vec::new();
        for word in words.split(' ') {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > per_line {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
        for l in lines {
            y += 18.0;
            let _ = write!(s, "<text x=\"10\" y=\"{ty}\" {FONT}>{t}</text>", ty = y + 10.0, t = esc(&l));
        }
    }
    s.push_str("</g>");
    (s, y - y0 + 18.0)
}

/// One horizontal bar.
struct Bar {
    label: String,
    value: f64,
    text: String,
    color: &'static str,
    source: Source,
    /// Drawn with a heavy outline (the bottleneck).
    emphasis: bool,
}

/// Horizontal bars with labels on the left and values on the right; `max` fixes the scale.
fn hbars(id: &str, title: &str, bars: &[Bar], max: f64, profile: &str) -> String {
    let row_h = 26.0;
    let top = 34.0;
    // Labels get up to 55% of the width; a longer one is shortened (the bar's tooltip keeps
    // it whole), so no label runs past the chart's left edge.
    let max_label_px = WIDTH * 0.55;
    let label_w =
        bars.iter().map(|b| b.label.chars().count() as f64 * CHAR_PX).fold(60.0, f64::max).min(max_label_px)
            + 16.0;
    let max_chars = (max_label_px / CHAR_PX) as usize;
    let shown = |label: &str| -> String {
        if label.chars().count() <= max_chars {
            label.to_string()
        } else {
            label.chars().take(max_chars.saturating_sub(1)).chain(std::iter::once('…')).collect()
        }
    };
    let text_w = bars.iter().map(|b| b.text.chars().count() as f64 * CHAR_PX).fold(40.0, f64::max) + 12.0;
    let plot_w = (WIDTH - label_w - text_w - 10.0).max(100.0);
    let mut colors: Vec<&str> = Vec::new();
    let mut entries: Vec<(&'static str, Source)> = Vec::new();
    for b in bars {
        if !colors.contains(&b.color) {
            colors.push(b.color);
        }
        if !entries.contains(&(b.color, b.source)) {
            entries.push((b.color, b.source));
        }
    }
    let legend_top = top + row_h * bars.len().max(1) as f64 + 8.0;
    let (legend, legend_h) = bar_legend(id, legend_top, &entries, profile);
    let height = legend_top + legend_h + 8.0;
    let mut s = open(id, height, title);
    s.push_str(&defs(id, &colors));
    let scale = if max > 0.0 && max.is_finite() { plot_w / max } else { 0.0 };
    for (i, b) in bars.iter().enumerate() {
        let y = top + row_h * i as f64;
        let w = (b.value.max(0.0) * scale).clamp(0.0, plot_w);
        let stroke = if b.emphasis { "stroke=\"#1a202c\" stroke-width=\"2\"" } else { "" };
        let _ = write!(
            s,
            "<text x=\"{lx}\" y=\"{ty}\" {FONT} text-anchor=\"end\">{short}</text>\
             <rect class=\"bar bar-{src}\" x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bh}\" fill=\"{f}\" {stroke}>\
             <title>{label}: {text}</title></rect>\
             <text x=\"{vx:.1}\" y=\"{ty}\" {FONT}>{text}</text>",
            lx = label_w - 8.0,
            ty = y + 14.0,
            label = esc(&b.label),
            short = esc(&shown(&b.label)),
            src = b.source.tag(),
            bh = row_h - 8.0,
            f = fill(id, b.color, b.source),
            vx = label_w + w + 6.0,
            text = esc(&b.text),
        );
    }
    if bars.is_empty() {
        let _ = write!(s, "<text x=\"10\" y=\"{}\" {FONT}>nothing to show</text>", top + 14.0);
    }
    s.push_str(&legend);
    s.push_str("</svg>");
    s
}

/// Throughput of each run as a bar, host blue and offload orange.
pub fn throughput_svg(runs: &[&RunResult]) -> String {
    let labels = run_labels(runs);
    let bars: Vec<Bar> = runs
        .iter()
        .zip(labels)
        .map(|(r, label)| Bar {
            label,
            value: r.throughput.value,
            text: format!("{} {}", fmt_rate(r.throughput.value), source_tag(r.throughput.source)),
            color: mode_color(r.mode),
            source: r.throughput.source,
            emphasis: false,
        })
        .collect();
    let max = runs.iter().map(|r| r.throughput.value).fold(0.0, f64::max);
    hbars(CHART_THROUGHPUT, "Throughput (higher is better)", &bars, max, profile_of(runs))
}

/// Utilization of every device resource of every offload run, modelled or measured as
/// the device's figures are (a device on a host thread measures its own); the bottleneck
/// has a heavy outline.
pub fn utilization_svg(runs: &[&RunResult]) -> String {
    let mut bars = Vec::new();
    let several = runs.iter().filter(|r| r.device.is_some()).count() > 1;
    let labels = run_labels(runs);
    for (r, run_label) in runs.iter().zip(&labels) {
        let Some(d) = &r.device else { continue };
        let source = if d.modelled { Source::Modelled } else { Source::Measured };
        for res in &d.resources {
            let bottleneck = d.bottleneck.as_deref() == Some(res.name.as_str());
            let label = if several { format!("{run_label} · {}", res.name) } else { res.name.clone() };
            bars.push(Bar {
                label,
                value: res.utilization,
                text: format!(
                    "{} {}{}",
                    fmt_pct(res.utilization),
                    source_tag(source),
                    if bottleneck { " bottleneck" } else { "" }
                ),
                color: DEVICE_COLOR,
                source,
                emphasis: bottleneck,
            });
        }
    }
    let all_modelled = runs.iter().filter_map(|r| r.device.as_ref()).all(|d| d.modelled);
    let title = if all_modelled {
        "Modelled DPU utilization per resource (0-100%)"
    } else {
        "Device utilization per resource (0-100%; measured bars solid, modelled hatched)"
    };
    hbars(CHART_UTILIZATION, title, &bars, 1.0, profile_of(runs))
}

/// A sweep's throughput: one bar per point and mode, grouped by point.
pub fn sweep_svg(s: &Sweep) -> String {
    let bars: Vec<Bar> = s
        .points
        .iter()
        .map(|p| Bar {
            label: format!("{} · {}", p.label(), p.result.mode.name()),
            value: p.result.throughput.value,
            text: format!(
                "{} {}",
                fmt_rate(p.result.throughput.value),
                source_tag(p.result.throughput.source)
            ),
            color: mode_color(p.result.mode),
            source: p.result.throughput.source,
            emphasis: false,
        })
        .collect();
    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max);
    let mut profiles: Vec<&str> = Vec::new();
    for p in s.points.iter().filter(|p| p.result.mode == Mode::Offload) {
        if !profiles.contains(&p.result.profile.as_str()) {
            profiles.push(&p.result.profile);
        }
    }
    let profile = if profiles.is_empty() { "-".to_string() } else { profiles.join(", ") };
    hbars(CHART_SWEEP, &format!("Throughput across {}", s.varied.join(" x ")), &bars, max, &profile)
}

/// Cumulative latency distribution (end to end) of each run, log-scaled latency axis.
pub fn latency_cdf_svg(runs: &[&RunResult]) -> String {
    let (left, right, top, plot_h) = (60.0, 32.0, 40.0, 260.0);
    let plot_w = WIDTH - left - right;
    let labels = run_labels(runs);
    let series: Vec<(&RunResult, &crate::result::LatencySummary, String)> = runs
        .iter()
        .zip(labels)
        .filter_map(|(r, label)| {
            r.latency_of("end_to_end").or_else(|| r.latency.first()).map(|l| (*r, l, label))
        })
        .filter(|(_, l, _)| !l.cdf.is_empty())
        .collect();
    let legend_h = 20.0 * series.len().max(1) as f64;
    let height = top + plot_h + 60.0 + legend_h;
    let mut s = open(CHART_LATENCY_CDF, height, "Latency CDF, end to end (left is better)");
    let (lo, hi) = series
        .iter()
        .flat_map(|(_, l, _)| l.cdf.iter().map(|(ns, _)| (*ns).max(1) as f64))
        .fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if series.is_empty() || hi <= 0.0 {
        let _ = write!(
            s,
            "<text x=\"10\" y=\"{}\" {FONT}>no latency distribution recorded</text></svg>",
            top + 14.0
        );
        return s;
    }
    // Whole decades around the data, so the grid lines fall on 1 us, 10 us, ...
    let lo_dec = lo.log10().floor();
    let hi_dec = (hi.log10().ceil()).max(lo_dec + 1.0);
    let x = |ns: f64| left + (ns.max(1.0).log10() - lo_dec) / (hi_dec - lo_dec) * plot_w;
    let y = |frac: f64| top + (1.0 - frac.clamp(0.0, 1.0)) * plot_h;
    let _ = write!(
        s,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#a0aec0\"/>"
    );
    let mut d = lo_dec;
    while d <= hi_dec + 1e-9 {
        let px = x(10f64.powf(d));
        let _ = write!(
            s,
            "<line x1=\"{px:.1}\" y1=\"{top}\" x2=\"{px:.1}\" y2=\"{b}\" stroke=\"#e2e8f0\"/>\
             <text x=\"{px:.1}\" y=\"{ty}\" {FONT} text-anchor=\"middle\">{t}</text>",
            b = top + plot_h,
            ty = top + plot_h + 16.0,
            t = fmt_duration_ns(10f64.powf(d)),
        );
        d += 1.0;
    }
    for frac in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let py = y(frac);
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{py:.1}\" x2=\"{r}\" y2=\"{py:.1}\" stroke=\"#e2e8f0\"/>\
             <text x=\"{tx}\" y=\"{ty:.1}\" {FONT} text-anchor=\"end\">{frac}</text>",
            r = left + plot_w,
            tx = left - 6.0,
            ty = py + 4.0,
        );
    }
    let _ = write!(
        s,
        "<text class=\"axis-title\" x=\"{cx}\" y=\"{ty}\" {FONT} text-anchor=\"middle\">end-to-end latency per chunk (log scale)</text>\
         <text class=\"axis-title\" x=\"14\" y=\"{cy}\" {FONT} text-anchor=\"middle\" transform=\"rotate(-90 14 {cy})\">fraction of chunks at or below</text>",
        cx = left + plot_w / 2.0,
        ty = top + plot_h + 34.0,
        cy = top + plot_h / 2.0,
    );
    for (i, (r, l, run_label)) in series.iter().enumerate() {
        let color = mode_color(r.mode);
        let dash = if l.source == Source::Modelled { "stroke-dasharray=\"7 4\"" } else { "" };
        let points: Vec<String> =
            l.cdf.iter().map(|(ns, f)| format!("{:.1},{:.1}", x(*ns as f64), y(*f))).collect();
        let _ = write!(
            s,
            "<polyline class=\"cdf cdf-{src}\" points=\"{p}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2.5\" {dash}/>",
            src = l.source.tag(),
            p = points.join(" ")
        );
        let ly = top + plot_h + 54.0 + 20.0 * i as f64;
        let _ = write!(
            s,
            "<line x1=\"10\" y1=\"{ly}\" x2=\"40\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2.5\" {dash}/>\
             <text x=\"48\" y=\"{ty}\" {FONT}>{label}: {kind} (p50 {p50}, p99 {p99}, p99.9 {p999})</text>",
            ty = ly + 4.0,
            label = esc(run_label),
            kind = if l.source == Source::Modelled { "modelled, dashed" } else { "measured, solid" },
            p50 = fmt_duration_ns(l.p50_ns as f64),
            p99 = fmt_duration_ns(l.p99_ns as f64),
            p999 = fmt_duration_ns(l.p999_ns as f64),
        );
    }
    s.push_str("</svg>");
    s
}

/// Throughput per interval over time, one line per run with a timeline (host and offload
/// on one time axis); dashed where the intervals follow a modelled clock. `None` when no
/// run has a timeline.
pub fn timeline_svg(runs: &[&RunResult]) -> Option<String> {
    let labels = run_labels(runs);
    let series: Vec<(&RunResult, &crate::result::Timeline, String)> = runs
        .iter()
        .zip(labels)
        .filter_map(|(r, label)| r.timeline.as_ref().map(|t| (*r, t, label)))
        .filter(|(_, t, _)| !t.total.is_empty())
        .collect();
    if series.is_empty() {
        return None;
    }
    let (left, right, top, plot_h) = (80.0, 32.0, 40.0, 240.0);
    let plot_w = WIDTH - left - right;
    let rate = |t: &crate::result::Timeline, iv: &crate::result::Interval| {
        iv.bytes as f64 / (t.interval_ns as f64 / 1e9)
    };
    let end_s = series
        .iter()
        .map(|(_, t, _)| (t.total.len() as u64 * t.interval_ns) as f64 / 1e9)
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let max_rate = series
        .iter()
        .flat_map(|(_, t, _)| t.total.iter().map(|iv| rate(t, iv)))
        .fold(0.0f64, f64::max)
        .max(1.0);
    let legend_h = 20.0 * series.len() as f64;
    let height = top + plot_h + 50.0 + legend_h;
    let mut s = open(CHART_TIMELINE, height, "Throughput over time, per interval (all nodes)");
    let x = |sec: f64| left + sec / end_s * plot_w;
    let y = |r: f64| top + (1.0 - r / max_rate) * plot_h;
    let _ = write!(
        s,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#a0aec0\"/>"
    );
    for k in 0..=4 {
        let f = k as f64 / 4.0;
        let (px, py) = (x(end_s * f), y(max_rate * f));
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{py:.1}\" x2=\"{r}\" y2=\"{py:.1}\" stroke=\"#e2e8f0\"/>\
             <text x=\"{tx}\" y=\"{ty:.1}\" {FONT} text-anchor=\"end\">{rl}</text>\
             <text x=\"{px:.1}\" y=\"{bx}\" {FONT} text-anchor=\"middle\">{sl:.2} s</text>",
            r = left + plot_w,
            tx = left - 6.0,
            ty = py + 4.0,
            rl = fmt_rate(max_rate * f),
            bx = top + plot_h + 16.0,
            sl = end_s * f,
        );
    }
    let _ = write!(
        s,
        "<text class=\"axis-title\" x=\"{cx}\" y=\"{ty}\" {FONT} text-anchor=\"middle\">time since the timed phase started (each node's clock)</text>\
         <text class=\"axis-title\" x=\"14\" y=\"{cy}\" {FONT} text-anchor=\"middle\" transform=\"rotate(-90 14 {cy})\">throughput per interval</text>",
        cx = left + plot_w / 2.0,
        ty = top + plot_h + 34.0,
        cy = top + plot_h / 2.0,
    );
    for (i, (r, t, run_label)) in series.iter().enumerate() {
        let color = mode_color(r.mode);
        let dash = if t.clock == Source::Modelled { "stroke-dasharray=\"7 4\"" } else { "" };
        let secs = t.interval_ns as f64 / 1e9;
        // Each interval's rate at its midpoint.
        let points: Vec<String> = t
            .total
            .iter()
            .enumerate()
            .map(|(k, iv)| format!("{:.1},{:.1}", x((k as f64 + 0.5) * secs), y(rate(t, iv))))
            .collect();
        let _ = write!(
            s,
            "<polyline class=\"timeline timeline-{m}\" points=\"{p}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" {dash}/>",
            m = r.mode.name(),
            p = points.join(" ")
        );
        let ly = top + plot_h + 50.0 + 20.0 * i as f64;
        let _ = write!(
            s,
            "<line x1=\"10\" y1=\"{ly}\" x2=\"40\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\" {dash}/>\
             <text x=\"48\" y=\"{ty}\" {FONT}>{label}: {kind}, {n} intervals of {w}</text>",
            ty = ly + 4.0,
            label = esc(run_label),
            kind = if t.clock == Source::Modelled { "modelled clock, dashed" } else { "measured clock, solid" },
            n = t.total.len(),
            w = fmt_duration_ns(t.interval_ns as f64),
        );
    }
    s.push_str("</svg>");
    Some(s)
}

/// Charts stacked vertically into one standalone SVG document (`dpukit report --format svg`).
pub fn stack_svg(charts: &[String]) -> String {
    let mut y = 0.0;
    let mut inner = String::new();
    for c in charts {
        // Every chart opens with `<svg ... width=".." height=".."`, written by `open`.
        let h: f64 = c
            .split_once("height=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .and_then(|(h, _)| h.parse().ok())
            .unwrap_or(0.0);
        let placed = c.replacen("<svg ", &format!("<svg x=\"0\" y=\"{y}\" "), 1);
        inner.push_str(&placed);
        y += h + 10.0;
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{y}\" viewBox=\"0 0 {WIDTH} {y}\">{inner}</svg>\n"
    )
}

/// `host` or `offload (bluefield-2)`.
fn profile_of<'a>(runs: &[&'a RunResult]) -> &'a str {
    runs.iter().find(|r| r.mode == Mode::Offload).or(runs.first()).map(|r| r.profile.as_str()).unwrap_or("-")
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::*;

    #[test]
    fn charts_have_ids_bars_and_legends() {
        let c = testdata::comparison();
        let runs = [&c.host, &c.offload];
        let t = throughput_svg(&runs);
        assert!(t.starts_with("<svg") && t.ends_with("</svg>") && t.contains("id=\"chart-throughput\""));
        assert_eq!(t.matches("class=\"bar bar-measured\"").count(), 1);
        assert_eq!(t.matches("class=\"bar bar-modelled\"").count(), 1);
        // One swatch per colour and source the bars use, drawn as those bars are.
        assert!(
            t.contains("host mode, measured (solid)") && t.contains("offload mode, modelled (hatched)"),
            "{t}"
        );
        assert!(
            t.contains("class=\"swatch swatch-measured\" x=\"10\"")
                && t.contains("fill=\"#2b6cb0\" stroke=\"#2b6cb0\"")
        );
        assert!(t.contains("fill=\"url(#chart-throughput-hatch-dd6b20)\" stroke=\"#dd6b20\""), "{t}");
        assert!(!t.contains("host mode, modelled"), "a swatch for bars that are not there");
        let u = utilization_svg(&runs);
        assert_eq!(u.matches("class=\"bar bar-modelled\"").count(), 3);
        assert!(u.contains("stroke-width=\"2\"") && u.contains("bottleneck"));
        let l = latency_cdf_svg(&runs);
        assert_eq!(l.matches("<polyline").count(), 2);
        assert!(l.contains("stroke-dasharray") && l.contains("modelled, dashed"));
        let all = stack_svg(&[t.clone(), l.clone()]);
        assert!(all.contains("y=\"0\"") && all.matches("<svg ").count() == 3);
        let sw = sweep_svg(&testdata::sweep());
        assert_eq!(sw.matches("<rect class=\"bar").count(), 4);
        // Labels and notes are escaped.
        assert!(!sw.contains("<not"));
    }

    #[test]
    fn empty_inputs_still_render() {
        let t = latency_cdf_svg(&[]);
        assert!(t.contains("no latency") && t.ends_with("</svg>"));
        let u = utilization_svg(&[&testdata::run(Mode::Host)]);
        assert!(u.contains("nothing to show"));
    }
}
