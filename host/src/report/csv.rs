//! CSV: one row per run, a header, a stable column order (new columns are only ever
//! appended). Each figure has a value column in base units (named with the unit) and a
//! `_source` column saying `measured` or `modelled`. Before the header, `# ` comment lines
//! give the provenance of the runs (pandas: `read_csv(..., comment="#")`).

#![forbid(unsafe_code)]

use crate::result::{Figure, RunResult, Source};

/// The columns, in order.
const COLUMNS: &[&str] = &[
    "schema_version",
    "kit_version",
    "scenario",
    "mode",
    "profile",
    "seed",
    "nodes",
    "object_size_bytes",
    "chunk_size_bytes",
    "queue_depth",
    "batch",
    "compression",
    "compressibility",
    "skew",
    "bytes",
    "ops",
    "wall_s",
    "wall_source",
    "throughput_bytes_per_s",
    "throughput_source",
    "ops_per_s",
    "ops_per_s_source",
    "host_cpu_s",
    "host_cpu_source",
    "host_cpu_ns_per_byte",
    "host_cpu_ns_per_byte_source",
    "host_cores_busy",
    "host_cores_busy_source",
    "latency_p50_ns",
    "latency_p99_ns",
    "latency_p999_ns",
    "latency_source",
    "bottleneck",
    "bottleneck_utilization",
    "bottleneck_utilization_source",
    "sim_max_lag_ns",
    "sim_late_completions",
    "fallbacks",
    "verification_ok",
    "chunks_checked",
    "corrupt_detected",
    "blob_tier",
    "blob_emulator",
    "blob_copy_throughput_bytes_per_s",
    "blob_copy_throughput_source",
    "blob_copy_lag_p50_ns",
    "blob_copy_lag_p50_source",
    "blob_copy_lag_p99_ns",
    "blob_copy_lag_p99_source",
    "started_utc",
    "io_engine",
    "git_commit",
    "profile_sha256",
    "latency_min_ns",
    "latency_mean_ns",
    "latency_stdev_ns",
    "latency_max_ns",
    "latency_percentiles_ns",
];

/// A `_source` cell: `measured` or `modelled`, with ` (emulator)` for figures measured
/// against the Azure Storage emulator.
fn source_cell(source: Source, emulator: bool) -> String {
    if emulator {
        format!("{} (emulator)", source.tag())
    } else {
        source.tag().to_string()
    }
}

/// The header line (no newline); `extra` names columns put in front (a sweep's knobs).
pub fn csv_header(extra: &[String]) -> String {
    extra.iter().map(|s| field(s)).chain(COLUMNS.iter().map(|s| s.to_string())).collect::<Vec<_>>().join(",")
}

/// One run as a row (no newline); `extra` are values for the columns put in front.
pub fn csv_row(r: &RunResult, extra: &[String]) -> String {
    let s = &r.scenario;
    let mut v: Vec<String> = extra.to_vec();
    let fig = |v: &mut Vec<String>, f: &Figure| {
        v.push(num(f.value));
        v.push(source_cell(f.source, f.emulator));
    };
    v.extend([
        r.schema_version.to_string(),
        r.kit_version.clone(),
        s.kind.name().into(),
        r.mode.name().into(),
        r.profile.clone(),
        r.seed.to_string(),
        s.nodes.to_string(),
        s.object_size_bytes.to_string(),
        s.chunk_size_bytes.to_string(),
        s.queue_depth.to_string(),
        s.batch.to_string(),
        match &s.compression {
            Some(c) => format!("{}:{}", c.algorithm, c.level),
            None => "none".into(),
        },
        num(s.compressibility),
        num(s.skew),
        r.bytes.to_string(),
        r.ops.to_string(),
    ]);
    for f in [&r.wall, &r.throughput, &r.ops_per_s, &r.host_cpu, &r.host_cpu_ns_per_byte, &r.host_cores_busy]
    {
        fig(&mut v, f);
    }
    match r.latency_of("end_to_end") {
        Some(l) => v.extend([
            l.p50_ns.to_string(),
            l.p99_ns.to_string(),
            l.p999_ns.to_string(),
            source_cell(l.source, l.emulator),
        ]),
        None => v.extend(["".into(), "".into(), "".into(), "".into()]),
    }
    match &r.device {
        Some(d) => {
            let util = d.resources.iter().map(|x| x.utilization).fold(0.0, f64::max);
            v.extend([
                d.bottleneck.clone().unwrap_or_default(),
                num(util),
                Source::Modelled.tag().into(),
                d.max_lag_ns.to_string(),
                d.late_completions.to_string(),
            ]);
        }
        None => v.extend(["".into(), "".into(), "".into(), "".into(), "".into()]),
    }
    v.extend([
        r.fallbacks.total().to_string(),
        r.verification.ok.to_string(),
        r.verification.chunks_checked.to_string(),
        r.verification.corrupt_detected.to_string(),
    ]);
    match &r.blob_tier {
        Some(b) => v.extend([b.kind.clone(), b.emulator.to_string()]),
        None => v.extend(["".into(), "".into()]),
    }
    for name in ["blob_copy_throughput", "blob_copy_lag_p50", "blob_copy_lag_p99"] {
        match r.extra_figure(name) {
            Some(f) => fig(&mut v, &f),
            None => v.extend(["".into(), "".into()]),
        }
    }
    let p = r.provenance.as_ref();
    let opt = |x: Option<&String>| x.cloned().unwrap_or_default();
    v.extend([
        opt(p.map(|p| &p.started_utc)),
        opt(p.and_then(|p| p.io_engine.as_ref())),
        opt(p.and_then(|p| p.git_commit.as_ref())),
        opt(p.and_then(|p| p.profile_sha256.as_ref())),
    ]);
    match r.latency_of("end_to_end") {
        Some(l) => v.extend([
            l.min_ns.to_string(),
            num(l.mean_ns),
            num(l.stdev_ns),
            l.max_ns.to_string(),
            // `50=40000;99=900000`: one cell, so the column count stays fixed.
            l.percentiles.iter().map(|p| format!("{}={}", p.percentile, p.ns)).collect::<Vec<_>>().join(";"),
        ]),
        None => v.extend(std::iter::repeat_n(String::new(), 5)),
    }
    v.iter().map(|s| field(s)).collect::<Vec<_>>().join(",")
}

/// The runs' provenance as `# ` comment lines, each ending in a newline (none when no run
/// has one).
pub fn csv_comment<'a>(runs: impl IntoIterator<Item = &'a RunResult>) -> String {
    let runs: Vec<&RunResult> = runs.into_iter().collect();
    super::provenance_lines(&runs).iter().map(|l| format!("# {}\n", l.replace(['\n', '\r'], " "))).collect()
}

/// Header and one row per run.
pub fn render_csv<'a>(runs: impl IntoIterator<Item = &'a RunResult>) -> String {
    let runs: Vec<&RunResult> = runs.into_iter().collect();
    let mut out = csv_comment(runs.iter().copied()) + &csv_header(&[]) + "\n";
    for r in runs {
        out.push_str(&csv_row(r, &[]));
        out.push('\n');
    }
    out
}

/// The timelines of `runs` (those that have one): one row per run, node (`all` for the
/// sum over nodes) and interval, after the provenance comment lines. `clock` says whether
/// the intervals follow a measured or a modelled clock.
pub fn render_timeline_csv(runs: &[&RunResult]) -> String {
    let mut out = csv_comment(runs.iter().copied());
    out.push_str(
        "mode,profile,node,start_s,bytes,ops,throughput_bytes_per_s,latency_p50_ns,latency_p99_ns,host_cpu_s,clock\n",
    );
    for r in runs {
        let Some(t) = &r.timeline else { continue };
        let secs = t.interval_ns as f64 / 1e9;
        let series = std::iter::once(("all".to_string(), &t.total))
            .chain(t.nodes.iter().map(|n| (n.node.to_string(), &n.intervals)));
        for (node, ivs) in series {
            for iv in ivs.iter() {
                out.push_str(&format!(
                    "{},{},{node},{},{},{},{},{},{},{},{}\n",
                    r.mode.name(),
                    field(&r.profile),
                    num(iv.start_ns as f64 / 1e9),
                    iv.bytes,
                    iv.ops,
                    num(iv.bytes as f64 / secs),
                    iv.latency_p50_ns,
                    iv.latency_p99_ns,
                    num(iv.host_cpu_ns as f64 / 1e9),
                    t.clock.tag()
                ));
            }
        }
    }
    out
}

/// Full precision, no exponent surprises for integers; empty for non-finite values.
fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        String::new()
    }
}

/// RFC 4180 quoting.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::*;

    #[test]
    fn one_row_per_run_with_a_stable_header() {
        let c = testdata::comparison();
        let text = render_csv([&c.host, &c.offload]);
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines.len(), 3);
        let n = lines[0].split(',').count();
        assert_eq!(n, COLUMNS.len());
        for l in &lines[1..] {
            assert_eq!(l.split(',').count(), n, "{l}");
        }
        assert!(lines[0].starts_with("schema_version,kit_version,scenario,mode,profile,seed"));
        assert!(lines[2].contains(",offload,") && lines[2].contains(",3200000000,modelled,"), "{}", lines[2]);
        assert!(lines[1].contains(",host,") && lines[1].contains(",1600000000,measured,"), "{}", lines[1]);
        assert_eq!(field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
