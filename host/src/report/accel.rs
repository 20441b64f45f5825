//! `dpukit accel` results as text: accel_perf's summary (per thread and total: transfers,
//! bandwidth, failed, miscompares) for each side, then what accel_perf does not print
//! (latency percentiles, host CPU per op, the host's cost of offloading, device utilisation
//! and the bottleneck), every figure tagged; CSV with one row per side; sweeps of it.

#![forbid(unsafe_code)]

use super::format::{fmt_bytes, fmt_figure, fmt_pct, fmt_value, sig3};
use super::table::layout;
use super::{legend, SweepValue};
use crate::accel::{AccelResult, AccelSide};
use crate::result::{Figure, LatencySummary, Mode, Source, Unit};
use serde::{Deserialize, Serialize};

/// Points of a sweep of `dpukit accel` knobs, each a whole accel result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccelSweep {
    pub schema_version: u32,
    pub varied: Vec<String>,
    pub points: Vec<AccelSweepPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccelSweepPoint {
    pub values: Vec<SweepValue>,
    pub result: AccelResult,
}

/// Below this utilisation of its busiest resource the device is not what limits the rate.
const NOT_SATURATED: f64 = 0.5;

fn tag(source: Source) -> &'static str {
    super::format::source_tag(source)
}

/// The configuration line, as accel_perf prints its configuration block.
pub fn accel_config_line(r: &AccelResult) -> String {
    let buffers =
        if r.buffers_per_op == 1 { "1 buffer".to_owned() } else { format!("{} buffers", r.buffers_per_op) };
    format!(
        "accel {}: transfer {} x {buffers}, queue depth {}, {} thread{}, batch {}, -t {}s after a {}s warm-up, verify {}, seed {}, data {}",
        r.op_name,
        fmt_bytes(r.transfer_bytes),
        r.queue_depth,
        r.threads,
        if r.threads == 1 { "" } else { "s" },
        r.batch,
        sig3(r.seconds),
        sig3(r.warmup_seconds),
        if r.verify { "on" } else { "off" },
        r.seed,
        r.data
    )
}

fn latency_line(what: &str, l: &LatencySummary) -> String {
    let d = |ns: u64| super::format::fmt_duration_ns(ns as f64);
    format!(
        "{what} p50 {} / p99 {} / p99.9 {} / max {} {} ({} samples)",
        d(l.p50_ns),
        d(l.p99_ns),
        d(l.p999_ns),
        d(l.max_ns),
        tag(l.source),
        l.count
    )
}

/// One side: its heading, accel_perf's summary lines, then the kit's own figures.
pub fn render_accel_side(s: &AccelSide, tsc_ghz: Option<f64>) -> String {
    let mut out = format!(
        "{} side: {}\n  clock: {}; measured window {}; wall time {}; stopped by {}\n\n",
        s.mode.name(),
        s.engine,
        s.clock,
        fmt_figure(&s.window_s),
        fmt_value(&Figure::measured(s.wall_s, Unit::Seconds)),
        s.stopped_by
    );
    let header: Vec<String> =
        ["Thread", "Transfers", "Bandwidth", "Failed", "Miscompares"].map(String::from).to_vec();
    let row = |l: &crate::accel::SummaryLine| {
        vec![
            l.name.clone(),
            fmt_figure(&l.ops_per_s),
            l.bandwidth.as_ref().map_or("-".into(), fmt_figure),
            l.failed.to_string(),
            l.miscompares.to_string(),
        ]
    };
    let mut rows: Vec<Vec<String>> = s.threads.iter().map(row).collect();
    if s.threads.len() > 1 {
        rows.push(row(&s.total));
    }
    for line in layout(&header, &rows).lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    let mut stride =
        if s.latency_stride > 1 { format!(", 1 op in {} timed", s.latency_stride) } else { String::new() };
    if let Some(t) = &s.timer_ns {
        stride.push_str(&format!(", the clock's own {} taken off each", fmt_value(t)));
    }
    let what =
        if s.mode == Mode::Host { "latency per op" } else { "latency per op (submit to completion seen)" };
    out.push_str(&format!("  {}{stride}\n", latency_line(what, &s.latency)));
    if let Some(d) = &s.device_latency {
        out.push_str(&format!(
            "  {}\n",
            latency_line("device time per descriptor (doorbell to completion)", d)
        ));
    }
    out.push_str(&format!("  host CPU per op: {}\n", fmt_figure(&s.host_cpu_ns_per_op)));
    if let Some(c) = &s.offload_cost {
        out.push_str(&format!(
            "  host cost of offloading per op: prepare {}, submit {}, poll {}, total {} {}",
            fmt_value(&c.prepare_ns_per_op),
            fmt_value(&c.submit_ns_per_op),
            fmt_value(&c.poll_ns_per_op),
            fmt_value(&c.total_ns_per_op),
            tag(c.total_ns_per_op.source)
        ));
        match (c.cycles, tsc_ghz) {
            (Some(cy), Some(ghz)) => out.push_str(&format!(
                "; cycles {:.0} / {:.0} / {:.0} / {:.0} (TSC {:.2} GHz)\n",
                cy[0], cy[1], cy[2], cy[3], ghz
            )),
            _ => out.push_str("; cycles not shown (TSC not usable)\n"),
        }
    }
    if let Some(r) = s.ratio {
        out.push_str(&format!("  compressed / original: {:.3}\n", r));
    }
    if !s.resources.is_empty() {
        let used: Vec<String> =
            s.resources.iter().map(|r| format!("{} {}", r.name, fmt_pct(r.utilization))).collect();
        out.push_str(&format!(
            "  device utilisation {}: {}; bottleneck: {}\n",
            tag(s.window_s.source),
            used.join(", "),
            s.bottleneck.as_deref().unwrap_or("none")
        ));
        let busiest = s.resources.iter().map(|r| r.utilization).fold(0.0, f64::max);
        if busiest < NOT_SATURATED {
            out.push_str(&format!(
                "  the device is not saturated (busiest resource {}): latency at this queue depth, or the host side, sets the rate\n",
                fmt_pct(busiest)
            ));
        }
    }
    if let Some(sim) = &s.simulator {
        out.push_str(&format!(
            "  simulator: {} descriptors, {} of wall time {} ({} of it in the simulator: {} of simulator time)\n",
            sim.descriptors,
            fmt_value(&sim.descriptors_per_wall_s).replace("op/s", "descriptors/s"),
            tag(sim.descriptors_per_wall_s.source),
            fmt_pct(sim.sim_share.value),
            fmt_value(&sim.descriptors_per_sim_s).replace("op/s", "descriptors/s"),
        ));
        if let (Some(rest), Some(c)) = (&sim.loop_ns_per_descriptor, &s.offload_cost) {
            // Per descriptor: the simulator's share, the host's cost (per op, spread over the
            // op's descriptors) and the loop's rest add up to the wall time.
            let per_desc = |per_s: f64| if per_s > 0.0 { 1e9 / per_s } else { 0.0 };
            let descs_per_op = sim.descriptors as f64 / s.total.ops.max(1) as f64;
            out.push_str(&format!(
                "  wall time per descriptor {}: {:.0} ns = simulator {:.0} ns + host cost of offloading {:.0} ns + accel's own loop {:.0} ns\n",
                tag(rest.source),
                per_desc(sim.descriptors_per_wall_s.value),
                per_desc(sim.descriptors_per_sim_s.value),
                c.total_ns_per_op.value / descs_per_op.max(f64::MIN_POSITIVE),
                rest.value,
            ));
        }
    }
    if let Some(lag) = &s.sim_lag {
        out.push_str(&format!(
            "  simulator lag behind its model: max {}, {} late completions {} (whole side, warm-up included)\n",
            fmt_value(&lag.max_lag_ns),
            lag.late_completions,
            tag(lag.max_lag_ns.source)
        ));
    }
    if s.fallbacks.total() > 0 {
        out.push_str(&format!(
            "  fallbacks to the host CPU: {} ({})\n",
            s.fallbacks.total(),
            s.fallbacks.reasons.join("; ")
        ));
    }
    out
}

/// The whole result: configuration, each side, the side-by-side line and the legend.
pub fn render_accel_table(r: &AccelResult) -> String {
    let ghz = r.tsc.usable.then_some(r.tsc.cycles_per_ns);
    let mut out = accel_config_line(r);
    out.push_str("\n\n");
    for s in &r.sides {
        out.push_str(&render_accel_side(s, ghz));
        out.push('\n');
    }
    if let (Some(h), Some(o)) =
        (r.sides.iter().find(|s| s.mode == Mode::Host), r.sides.iter().find(|s| s.mode == Mode::Offload))
    {
        let speedup = o.total.ops_per_s.value / h.total.ops_per_s.value.max(f64::MIN_POSITIVE);
        // Measured over measured is measured; anything over a modelled rate is modelled.
        let ratio =
            Figure { value: speedup, unit: Unit::Ratio, source: o.total.ops_per_s.source, emulator: false };
        out.push_str(&format!(
            "offload vs host: {} the host's ops/s {}; host CPU per op {} offloaded vs {} on the CPU {}\n",
            fmt_value(&ratio),
            tag(o.total.ops_per_s.source),
            fmt_value(&o.host_cpu_ns_per_op),
            fmt_value(&h.host_cpu_ns_per_op),
            tag(Source::Measured)
        ));
    }
    if !r.tsc.usable {
        out.push_str(&format!("cycles: not shown, {}\n", r.tsc.why));
    }
    if r.sides.iter().any(|s| s.window_s.source == Source::Modelled) {
        out.push_str(&legend(&r.profile));
    } else {
        out.push_str(&format!("{} measured on this machine", tag(Source::Measured)));
    }
    out.push('\n');
    out
}

/// CSV columns, after any varied knobs.
const CSV_COLUMNS: &[&str] = &[
    "mode",
    "op",
    "transfer_bytes",
    "queue_depth",
    "buffers_per_op",
    "threads",
    "batch",
    "profile",
    "engine",
    "clock",
    "window_s",
    "ops",
    "ops_per_s",
    "bandwidth_bytes_per_s",
    "rate_source",
    "failed",
    "miscompares",
    "p50_ns",
    "p99_ns",
    "p999_ns",
    "latency_source",
    "device_p50_ns",
    "device_p99_ns",
    "host_cpu_ns_per_op",
    "prepare_ns_per_op",
    "submit_ns_per_op",
    "poll_ns_per_op",
    "offload_cost_ns_per_op",
    "offload_cost_cycles_per_op",
    "bottleneck",
    "bottleneck_utilization",
    "sim_descriptors_per_wall_s",
    "sim_descriptors_per_sim_s",
    "compressed_ratio",
    "stopped_by",
];

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv_rows(r: &AccelResult, extra: &[String]) -> String {
    let mut out = String::new();
    for s in &r.sides {
        let num = |v: f64| format!("{v}");
        let opt = |v: Option<f64>| v.map(num).unwrap_or_default();
        let util = s
            .bottleneck
            .as_ref()
            .and_then(|b| s.resources.iter().find(|r| &r.name == b))
            .map(|r| r.utilization);
        let mut cells: Vec<String> = extra.to_vec();
        cells.extend([
            s.mode.name().to_owned(),
            r.op_name.clone(),
            r.transfer_bytes.to_string(),
            r.queue_depth.to_string(),
            r.buffers_per_op.to_string(),
            r.threads.to_string(),
            r.batch.to_string(),
            if s.mode == Mode::Host { String::new() } else { r.profile.clone() },
            s.engine.clone(),
            s.clock.clone(),
            num(s.window_s.value),
            s.total.ops.to_string(),
            num(s.total.ops_per_s.value),
            opt(s.total.bandwidth.map(|b| b.value)),
            s.total.ops_per_s.source.tag().to_owned(),
            s.total.failed.to_string(),
            s.total.miscompares.to_string(),
            s.latency.p50_ns.to_string(),
            s.latency.p99_ns.to_string(),
            s.latency.p999_ns.to_string(),
            s.latency.source.tag().to_owned(),
            s.device_latency.as_ref().map(|d| d.p50_ns.to_string()).unwrap_or_default(),
            s.device_latency.as_ref().map(|d| d.p99_ns.to_string()).unwrap_or_default(),
            num(s.host_cpu_ns_per_op.value),
            opt(s.offload_cost.as_ref().map(|c| c.prepare_ns_per_op.value)),
            opt(s.offload_cost.as_ref().map(|c| c.submit_ns_per_op.value)),
            opt(s.offload_cost.as_ref().map(|c| c.poll_ns_per_op.value)),
            opt(s.offload_cost.as_ref().map(|c| c.total_ns_per_op.value)),
            opt(s.offload_cost.as_ref().and_then(|c| c.cycles).map(|c| c[3])),
            s.bottleneck.clone().unwrap_or_default(),
            opt(util),
            opt(s.simulator.as_ref().map(|x| x.descriptors_per_wall_s.value)),
            opt(s.simulator.as_ref().map(|x| x.descriptors_per_sim_s.value)),
            opt(s.ratio),
            s.stopped_by.clone(),
        ]);
        out.push_str(&cells.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// One row per side. Rates and latencies of the offload side are modelled where its
/// `rate_source`/`latency_source` says so; host CPU and offload costs are measured.
pub fn render_accel_csv(r: &AccelResult) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    out.push_str(&csv_rows(r, &[]));
    out
}

/// One row per side of every point, the varied knobs first.
pub fn render_accel_sweep_csv(s: &AccelSweep) -> String {
    let mut header: Vec<String> = s.varied.clone();
    header.extend(CSV_COLUMNS.iter().map(|c| c.to_string()));
    let mut out = header.join(",");
    out.push('\n');
    for p in &s.points {
        let values: Vec<String> = p.values.iter().map(|v| v.value.clone()).collect();
        out.push_str(&csv_rows(&p.result, &values));
    }
    out
}

/// One row per side of every point: ops/s, bandwidth, latency, host CPU per op, the
/// host's cost of offloading and the bottleneck.
pub fn render_accel_sweep_table(s: &AccelSweep) -> String {
    let mut header: Vec<String> = s.varied.clone();
    header.extend(
        ["mode", "ops/s", "bandwidth", "p50", "p99", "host CPU/op", "offload cost/op", "bottleneck"]
            .map(String::from),
    );
    let mut rows = Vec::new();
    let mut profiles: Vec<String> = Vec::new();
    for p in &s.points {
        for side in &p.result.sides {
            if side.window_s.source == Source::Modelled && !profiles.contains(&p.result.profile) {
                profiles.push(p.result.profile.clone());
            }
            let mut row: Vec<String> = p.values.iter().map(|v| v.value.clone()).collect();
            let lat = |ns: u64| {
                fmt_figure(&Figure {
                    value: ns as f64,
                    unit: Unit::Nanoseconds,
                    source: side.latency.source,
                    emulator: false,
                })
            };
            row.extend([
                side.mode.name().to_owned(),
                fmt_figure(&side.total.ops_per_s),
                side.total.bandwidth.as_ref().map_or("-".into(), fmt_figure),
                lat(side.latency.p50_ns),
                lat(side.latency.p99_ns),
                fmt_figure(&side.host_cpu_ns_per_op),
                side.offload_cost.as_ref().map_or("-".into(), |c| fmt_figure(&c.total_ns_per_op)),
                match &side.bottleneck {
                    Some(b) => {
                        let u = side.resources.iter().find(|r| &r.name == b).map_or(0.0, |r| r.utilization);
                        format!("{b} {} {}", fmt_pct(u), tag(side.window_s.source))
                    }
                    None => "-".into(),
                },
            ]);
            rows.push(row);
        }
    }
    let first = s.points.first().map(|p| accel_config_line(&p.result)).unwrap_or_default();
    let mut out = format!("{first}\nsweep over {}\n\n", s.varied.join(", "));
    out.push_str(&layout(&header, &rows));
    out.push('\n');
    match profiles.first() {
        Some(p) => out.push_str(&legend(p)),
        None => out.push_str(&format!("{} measured on this machine", tag(Source::Measured))),
    }
    out.push('\n');
    out
}
