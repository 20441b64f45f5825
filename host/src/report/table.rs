//! Terminal tables: one run, host vs offload side by side, or a sweep. Every figure ends
//! in its source tag (`[meas]` or `[model]`); a legend line says what the tags mean.

#![forbid(unsafe_code)]

use super::format::{fmt_bytes, fmt_duration_ns, fmt_figure, fmt_pct, fmt_value, source_tag};
use super::{legend, scenario_line, Sweep};
use crate::result::{Comparison, RunResult, Source};

/// Stragglers listed by name in a table; the rest are counted.
const MAX_STRAGGLERS_SHOWN: usize = 8;

/// The rows of one run: (figure name, value with tag). Labels are stable so two runs line up.
fn rows(r: &RunResult) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = vec![
        ("throughput".into(), fmt_figure(&r.throughput)),
        ("ops".into(), fmt_figure(&r.ops_per_s)),
        ("wall time".into(), fmt_figure(&r.wall)),
        ("bytes moved".into(), format!("{} in {} ops", fmt_bytes(r.bytes), r.ops)),
    ];
    if let Some(p) = &r.per_node {
        let tag = source_tag(p.elapsed_max.source);
        let how = if p.transport == "mpi" {
            format!("{} MPI ranks", p.processes)
        } else {
            format!("threads of {} process", p.processes)
        };
        rows.push(("nodes".into(), format!("{} ({how})", p.nodes.len())));
        rows.push((
            "node time min/median/max".into(),
            format!(
                "{} / {} / {} {tag}",
                fmt_duration_ns(p.elapsed_min.value * 1e9),
                fmt_duration_ns(p.elapsed_median.value * 1e9),
                fmt_duration_ns(p.elapsed_max.value * 1e9)
            ),
        ));
        let slow: Vec<String> = p
            .nodes
            .iter()
            .filter(|n| p.stragglers.contains(&n.node))
            .take(MAX_STRAGGLERS_SHOWN)
            .map(|n| format!("{} on {} ({})", n.node, n.host, fmt_duration_ns(n.elapsed.value * 1e9)))
            .collect();
        let more = p.stragglers.len().saturating_sub(slow.len());
        rows.push((
            "stragglers (>10 % over median)".into(),
            match (slow.is_empty(), more) {
                (true, _) => "none".into(),
                (false, 0) => format!("{} {tag}", slow.join(", ")),
                (false, m) => format!("{} and {m} more {tag}", slow.join(", ")),
            },
        ));
    }
    for l in &r.latency {
        let tag = source_tag(l.source);
        let name =
            if l.stage == "end_to_end" { "latency".to_string() } else { format!("latency {}", l.stage) };
        rows.push((
            format!("{name} p50/p99/p99.9"),
            format!(
                "{} / {} / {} {tag}",
                fmt_duration_ns(l.p50_ns as f64),
                fmt_duration_ns(l.p99_ns as f64),
                fmt_duration_ns(l.p999_ns as f64)
            ),
        ));
        if l.stage == "end_to_end" {
            rows.push((
                format!("{name} min/mean/stdev/max"),
                format!(
                    "{} / {} / {} / {} {tag}",
                    fmt_duration_ns(l.min_ns as f64),
                    fmt_duration_ns(l.mean_ns),
                    fmt_duration_ns(l.stdev_ns),
                    fmt_duration_ns(l.max_ns as f64)
                ),
            ));
            // The default list is long and in the JSON; a list someone asked for is shown.
            let asked: Vec<f64> = l.percentiles.iter().map(|p| p.percentile).collect();
            if !l.percentiles.is_empty() && asked != crate::result::DEFAULT_PERCENTILES {
                let cells: Vec<String> = l
                    .percentiles
                    .iter()
                    .map(|p| format!("p{} {}", p.percentile, fmt_duration_ns(p.ns as f64)))
                    .collect();
                rows.push((format!("{name} percentiles"), format!("{} {tag}", cells.join(", "))));
            }
        }
    }
    if let Some(reps) = &r.repeats {
        for f in &reps.figures {
            rows.push((format!("{} over {} runs", f.name.replace('_', " "), reps.count), repeated_cell(f)));
        }
    }
    rows.push(("host CPU time".into(), fmt_figure(&r.host_cpu)));
    rows.push(("host CPU per byte".into(), fmt_figure(&r.host_cpu_ns_per_byte)));
    rows.push(("host cores busy".into(), fmt_figure(&r.host_cores_busy)));
    if let Some(d) = &r.device {
        let model = source_tag(if d.modelled { Source::Modelled } else { Source::Measured });
        // A measured device may be no DPU at all (a host thread, a software PMD).
        let what = if d.modelled { "DPU" } else { "device" };
        if !d.name.is_empty() {
            rows.push(("device".into(), d.name.clone()));
        }
        for res in &d.resources {
            let mark = if d.bottleneck.as_deref() == Some(res.name.as_str()) { " (bottleneck)" } else { "" };
            rows.push((
                format!("{what} util {}", res.name),
                format!("{} {model}{mark}", fmt_pct(res.utilization)),
            ));
        }
        rows.push(("bottleneck".into(), format!("{} {model}", d.bottleneck.as_deref().unwrap_or("none"))));
        rows.push((format!("{what} makespan"), format!("{} {model}", fmt_duration_ns(d.makespan_ns as f64))));
        // How far a simulator on its own thread (sim-paced) fell behind its model; a
        // measured device has no model to lag.
        if d.modelled {
            rows.push((
                "simulator lag".into(),
                format!(
                    "max {}, {} late completions {}",
                    fmt_duration_ns(d.max_lag_ns as f64),
                    d.late_completions,
                    source_tag(Source::Measured)
                ),
            ));
        }
        if d.error_completions + d.injected_errors + d.doorbells_dropped > 0 {
            rows.push((
                "device errors".into(),
                format!(
                    "{} error completions, {} injected, {} doorbells dropped",
                    d.error_completions, d.injected_errors, d.doorbells_dropped
                ),
            ));
        }
    }
    let fb = &r.fallbacks;
    rows.push((
        "fallbacks to host".into(),
        if fb.total() == 0 {
            "none".into()
        } else {
            format!(
                "{} ({} unsupported, {} after error, {} after timeout)",
                fb.total(),
                fb.unsupported_ops,
                fb.after_device_error,
                fb.after_timeout
            )
        },
    ));
    let v = &r.verification;
    rows.push((
        "verification".into(),
        format!(
            "{}: {} chunks, {} checked, {} corrupt",
            if v.ok { "ok" } else { "FAILED" },
            v.chunks_checked,
            fmt_bytes(v.bytes_checked),
            v.corrupt_detected
        ),
    ));
    for (name, f) in &r.extra {
        rows.push((name.replace('_', " "), fmt_figure(f)));
    }
    rows
}

/// Header and rows of a one-run table.
pub(crate) fn run_body(r: &RunResult) -> (Vec<String>, Vec<Vec<String>>) {
    let body = rows(r).into_iter().map(|(k, v)| vec![k, v]).collect();
    (vec!["figure".into(), r.mode.name().into()], body)
}

/// Lays out rows as aligned columns with a header and a rule under it.
pub(crate) fn layout(header: &[String], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(width[i] - c.chars().count() + 2));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|s| s.as_str()).collect());
    out.push_str(&line(
        width.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().iter().map(|s| s.as_str()).collect(),
    ));
    for row in rows {
        out.push_str(&line(row.iter().map(|s| s.as_str()).collect()));
    }
    out
}

/// One run as a two-column table with a heading and the legend.
pub fn render_run_table(r: &RunResult) -> String {
    let (header, body) = run_body(r);
    let mut out = format!("{}\nmode {}, profile {}\n\n", scenario_line(r), r.mode.name(), r.profile);
    out.push_str(&layout(&header, &body));
    notes(&mut out, r);
    out.push('\n');
    out.push_str(&legend(&r.profile));
    out.push('\n');
    out
}

fn notes(out: &mut String, r: &RunResult) {
    for line in note_lines(r) {
        out.push_str(&line);
        out.push('\n');
    }
}

/// Fallback reasons, verification failures and notes, one line each, prefixed by the mode.
pub(crate) fn note_lines(r: &RunResult) -> Vec<String> {
    let mode = r.mode.name();
    let fallbacks = r.fallbacks.reasons.iter().map(|x| format!("{mode} fallback: {x}"));
    let failures = r.verification.failures.iter().map(|x| format!("{mode} verification: {x}"));
    let notes = r.notes.iter().map(|x| format!("{mode} note: {x}"));
    fallbacks.chain(failures).chain(notes).collect()
}

/// Host and offload side by side, then what offloading bought.
pub fn render_comparison_table(c: &Comparison) -> String {
    let (header, body) = comparison_body(c);
    let mut out = format!("{}\nhost vs offload, profile {}\n\n", scenario_line(&c.host), c.offload.profile);
    out.push_str(&layout(&header, &body));
    notes(&mut out, &c.host);
    notes(&mut out, &c.offload);
    if let Some(s) = &c.sensitivity {
        out.push('\n');
        for line in super::sensitivity::sensitivity_lines(s) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out.push('\n');
    out.push_str(&legend(&c.offload.profile));
    out.push('\n');
    out
}

/// `median X (min Y, max Z, spread S) [tag]`.
pub(crate) fn repeated_cell(f: &crate::result::RepeatedFigure) -> String {
    let v = |value: f64| {
        fmt_value(&crate::result::Figure { value, unit: f.unit, source: f.source, emulator: false })
    };
    format!(
        "median {} (min {}, max {}, spread {}) {}",
        v(f.median),
        v(f.min),
        v(f.max),
        fmt_pct(f.spread),
        source_tag(f.source)
    )
}

/// Header and rows of the host-vs-offload table.
pub(crate) fn comparison_body(c: &Comparison) -> (Vec<String>, Vec<Vec<String>>) {
    let host = rows(&c.host);
    let offload = rows(&c.offload);
    // Union of labels, keeping each run's order (device rows exist in offload mode only).
    let mut labels: Vec<String> = host.iter().map(|(k, _)| k.clone()).collect();
    let mut after = 0;
    for (k, _) in &offload {
        match labels.iter().position(|l| l == k) {
            Some(i) => after = i + 1,
            None => {
                labels.insert(after, k.clone());
                after += 1;
            }
        }
    }
    let get = |rows: &[(String, String)], k: &str| {
        rows.iter().find(|(l, _)| l == k).map(|(_, v)| v.clone()).unwrap_or_else(|| "-".into())
    };
    let mut body: Vec<Vec<String>> =
        labels.iter().map(|k| vec![k.clone(), get(&host, k), get(&offload, k)]).collect();
    body.push(vec!["speedup (offload/host)".into(), String::new(), fmt_figure(&c.speedup)]);
    if let Some(s) = &c.speedup_over_runs {
        body.push(vec![
            format!("speedup over {} run pairs", s.values.len()),
            String::new(),
            repeated_cell(s),
        ]);
    }
    body.push(vec!["host cores freed".into(), String::new(), fmt_figure(&c.host_cores_freed)]);
    body.push(vec![
        "same bytes stored".into(),
        String::new(),
        if c.equivalent { "yes".into() } else { "NO".into() },
    ]);
    (vec!["figure".into(), "host".into(), "offload".into()], body)
}

/// One row per sweep point and mode: the varied knobs, then the headline figures.
pub fn render_sweep_table(s: &Sweep) -> String {
    let (header, body) = sweep_body(s);
    let runs: Vec<&RunResult> = s.points.iter().map(|p| &p.result).collect();
    let mut profiles: Vec<&str> = Vec::new();
    for r in runs.iter().filter(|r| r.mode == crate::result::Mode::Offload) {
        if !profiles.contains(&r.profile.as_str()) {
            profiles.push(&r.profile);
        }
    }
    let profile = if profiles.is_empty() { "-".to_string() } else { profiles.join(", ") };
    let mut out = if runs.is_empty() {
        String::new()
    } else {
        format!("{}\nsweep over {}\n\n", super::common_scenario_line(&runs), s.varied.join(", "))
    };
    out.push_str(&layout(&header, &body));
    out.push('\n');
    out.push_str(&legend(&profile));
    out.push('\n');
    out
}

/// A blob tier in a few words: `s3 (emulator)`, `local (fuse.juicefs)`, `azure`.
fn tier_cell(t: &crate::tier::BlobTierInfo) -> String {
    let mut cell = t.kind.clone();
    if let Some(m) = &t.mount {
        cell.push_str(&format!(" ({})", m.fstype));
    }
    if t.emulator {
        cell.push_str(" (emulator)");
    }
    cell
}

/// Header and rows of the sweep table.
pub(crate) fn sweep_body(s: &Sweep) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = s.varied.clone();
    header.extend(
        ["mode", "throughput", "p99 latency", "host CPU/B", "bottleneck", "verified"].map(String::from),
    );
    // A sweep over blob tiers shows what each tier is and how its copy went.
    let tiers = s.varied.iter().any(|v| v == "blob");
    if tiers {
        header.extend(["tier", "copy throughput", "copy lag p99"].map(String::from));
    }
    let body: Vec<Vec<String>> = s
        .points
        .iter()
        .map(|p| {
            let r = &p.result;
            let mut row: Vec<String> = p.values.iter().map(|v| v.value.clone()).collect();
            let p99 = r
                .latency_of("end_to_end")
                .map(|l| format!("{} {}", fmt_duration_ns(l.p99_ns as f64), source_tag(l.source)))
                .unwrap_or_else(|| "-".into());
            let bottleneck = r
                .device
                .as_ref()
                .map(|d| {
                    let util = d.resources.iter().map(|x| x.utilization).fold(0.0, f64::max);
                    format!(
                        "{} {} {}",
                        d.bottleneck.as_deref().unwrap_or("none"),
                        fmt_pct(util),
                        source_tag(if d.modelled { Source::Modelled } else { Source::Measured })
                    )
                })
                .unwrap_or_else(|| "-".into());
            row.extend([
                r.mode.name().to_string(),
                fmt_figure(&r.throughput),
                p99,
                format!(
                    "{} {}",
                    fmt_value(&r.host_cpu_ns_per_byte),
                    source_tag(r.host_cpu_ns_per_byte.source)
                ),
                bottleneck,
                if r.verification.ok { "ok".into() } else { "FAILED".into() },
            ]);
            if tiers {
                row.push(r.blob_tier.as_ref().map_or_else(|| "-".into(), tier_cell));
                for name in ["blob_copy_throughput", "blob_copy_lag_p99"] {
                    row.push(r.extra_figure(name).map_or_else(|| "-".into(), |f| fmt_figure(&f)));
                }
            }
            row
        })
        .collect();
    (header, body)
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::*;
    use crate::result::Mode;

    #[test]
    fn every_figure_row_carries_a_source_tag() {
        let c = testdata::comparison();
        let t = render_comparison_table(&c);
        for line in t.lines() {
            let figure_row =
                ["throughput", "ops ", "latency", "host CPU", "host cores", "DPU util", "speedup"]
                    .iter()
                    .any(|p| line.starts_with(p));
            if figure_row {
                assert!(line.contains("[meas]") || line.contains("[model]"), "untagged: {line}");
            }
        }
        assert!(t.contains("DPU util pcie_dma_read") && t.contains("(bottleneck)"), "{t}");
        assert!(t.contains("2.98 GiB/s [model]") && t.contains("1.49 GiB/s [meas]"), "{t}");
        assert!(t.contains("measured on this machine"));
    }

    #[test]
    fn run_and_sweep_tables() {
        let t = render_run_table(&testdata::run(Mode::Host));
        assert!(
            t.contains("fan-out-write") && t.contains("latency p50/p99/p99.9") && t.contains("[meas]"),
            "{t}"
        );
        assert!(!t.contains("DPU util"));
        let s = render_sweep_table(&testdata::sweep());
        assert_eq!(s.lines().filter(|l| l.starts_with("64k") || l.starts_with("1m")).count(), 4, "{s}");
    }
}
