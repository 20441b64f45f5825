//! The result document of a live run, assembled on the leader from every process's nodes.

#![forbid(unsafe_code)]

use crate::cluster::Cluster;
use crate::live::node::{DeviceOut, NodeOut};
use crate::live::{CopyOut, ProcessOut};
use crate::metrics::{machine_info, StageHist};
use crate::placement::placement_notes;
use crate::result::LatencySummary;
use crate::result::{
    DeviceSummary, Fallbacks, Figure, Interval, Mode, NodeTime, NodeTimeline, PerNode, ResourceUse,
    RunResult, Source, Timeline, Unit, Verification, RESULT_SCHEMA_VERSION, STRAGGLER_FACTOR,
};
use crate::run::RunError;
use crate::spec::{ScenarioKind, ScenarioSpec};
use dpukit_kernels::crc32c::crc32c_append;
use dpukit_sim::profile::Profile;

/// Each node's time and the spread across nodes.
pub(super) fn per_node(nodes: &[NodeOut], src: Source, cluster: &dyn Cluster) -> Option<PerNode> {
    if nodes.is_empty() {
        return None;
    }
    let mut times: Vec<u64> = nodes.iter().map(|n| n.end_ns).collect();
    times.sort_unstable();
    let median = if times.len() % 2 == 1 {
        times[times.len() / 2] as f64
    } else {
        (times[times.len() / 2 - 1] + times[times.len() / 2]) as f64 / 2.0
    };
    let secs = |ns: f64| Figure { value: ns / 1e9, unit: Unit::Seconds, source: src, emulator: false };
    let mut stragglers: Vec<u32> =
        nodes.iter().filter(|n| n.end_ns as f64 > median * STRAGGLER_FACTOR).map(|n| n.node).collect();
    stragglers.sort_unstable();
    let mut list: Vec<NodeTime> = nodes
        .iter()
        .map(|n| NodeTime {
            node: n.node,
            host: n.host.clone(),
            bytes: n.bytes,
            elapsed: secs(n.end_ns as f64),
        })
        .collect();
    list.sort_by_key(|n| n.node);
    Some(PerNode {
        transport: cluster.transport().name().to_owned(),
        processes: cluster.ranks(),
        elapsed_min: secs(times[0] as f64),
        elapsed_median: secs(median),
        elapsed_max: secs(times[times.len() - 1] as f64),
        stragglers,
        nodes: list,
    })
}

/// `emulator`: the blob tier is the Azure Storage emulator, so the copy's timings are its.
pub(super) fn assemble(
    spec: &ScenarioSpec,
    mode: Mode,
    profile: &Profile,
    cluster: &dyn Cluster,
    procs: Vec<ProcessOut>,
    emulator: bool,
    percentiles: &[f64],
) -> Result<RunResult, RunError> {
    // Processes run side by side: the run's wall time is the longest; CPU time adds up.
    let wall_ns = procs.iter().map(|p| p.wall_ns).max().unwrap_or(0);
    let cpu_ns: u64 = procs.iter().map(|p| p.cpu_ns).sum();
    let mut notes: Vec<String> = procs.iter().flat_map(|p| p.notes.iter().cloned()).collect();
    if cluster.ranks() > 1 {
        let mut hosts: Vec<&str> =
            procs.iter().flat_map(|p| p.nodes.iter().map(|n| n.host.as_str())).collect();
        hosts.sort_unstable();
        hosts.dedup();
        notes.push(format!(
            "{} MPI ranks, one node each, on {} host(s); machine facts are rank 0's",
            cluster.ranks(),
            hosts.len()
        ));
    }
    let mut extra: Vec<(String, Figure)> = Vec::new();
    let copies: Vec<&CopyOut> = procs.iter().filter_map(|p| p.copy.as_ref()).collect();
    if !copies.is_empty() {
        extra.extend(copy_figures(&copies, emulator));
    }
    let mut nodes: Vec<NodeOut> = procs.into_iter().flat_map(|p| p.nodes).collect();
    nodes.sort_by_key(|n| n.node);

    let bytes: u64 = nodes.iter().map(|n| n.bytes).sum();
    let ops: u64 = nodes.iter().map(|n| n.ops).sum();
    let sim_cpu: u64 = nodes.iter().map(|n| n.sim_cpu_ns).sum();
    let host_cpu_ns = cpu_ns.saturating_sub(sim_cpu);
    let wall_s = wall_ns as f64 / 1e9;

    // Both modes time the data path the same way: from each node's start to its end, the
    // slowest node counting (setup such as opening tiers is outside). Host mode: the wall
    // clock, measured. Offload mode: the node's host clock (measured host time plus waits
    // for modelled completions), so modelled; with no device at all it is the wall clock.
    let elapsed_ns = nodes.iter().map(|n| n.end_ns).max().unwrap_or(0).max(1);
    let modelled =
        mode == Mode::Offload && nodes.iter().any(|n| n.device.as_ref().is_some_and(|d| d.modelled));
    let src = if modelled { Source::Modelled } else { Source::Measured };
    let elapsed_s = elapsed_ns as f64 / 1e9;
    let throughput =
        Figure { value: bytes as f64 / elapsed_s, unit: Unit::BytesPerSecond, source: src, emulator: false };
    let ops_per_s =
        Figure { value: ops as f64 / elapsed_s, unit: Unit::OpsPerSecond, source: src, emulator: false };

    let latency = merge_latency(&nodes, percentiles);

    let fallbacks = merge_fallbacks(&nodes);

    let device = device_summary(profile, &nodes);
    if let Some(note) = cpu_wait_note(&nodes) {
        notes.push(note);
    }
    if let Some(d) = &device {
        if d.late_completions > 0 {
            notes.push(format!(
                "simulator lag: {} completions posted late, max {} ns",
                d.late_completions, d.max_lag_ns
            ));
        }
    }
    // Where the profile puts each op is the model's; a measured device ran them itself.
    if mode == Mode::Offload && device.as_ref().is_some_and(|d| d.modelled) {
        notes.extend(placement_notes(profile, spec));
    }
    if modelled {
        notes.push(
            "offload throughput combines measured host-side time with modelled device time (docs/RESULTS.md)"
                .into(),
        );
    } else if let Some(d) = device.as_ref().filter(|_| mode == Mode::Offload) {
        notes.push(format!(
            "offload figures measured: the device ({}) ran on this machine and the host timed its completions",
            d.name
        ));
    }

    let verification = merge_verification(&nodes);

    let (digest, items) = manifest_digest(&nodes);
    extra.push(("manifest_digest".into(), Figure::measured(digest as f64, Unit::Count)));
    extra.push(("manifest_chunks".into(), Figure::measured(items as f64, Unit::Count)));
    extra.extend(node_figures(spec, &nodes, host_cpu_ns));

    Ok(RunResult {
        schema_version: RESULT_SCHEMA_VERSION,
        kit_version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario: spec.clone(),
        profile: profile.name.clone(),
        mode,
        seed: spec.seed,
        machine: machine_info(),
        bytes,
        ops,
        wall: Figure::measured(wall_s, Unit::Seconds),
        throughput,
        ops_per_s,
        host_cpu: Figure::measured(host_cpu_ns as f64 / 1e9, Unit::Seconds),
        host_cpu_ns_per_byte: Figure::measured(
            if bytes > 0 { host_cpu_ns as f64 / bytes as f64 } else { 0.0 },
            Unit::NanosecondsPerByte,
        ),
        host_cores_busy: Figure::measured(host_cpu_ns as f64 / wall_ns.max(1) as f64, Unit::Cores),
        latency,
        device,
        fallbacks,
        verification,
        extra,
        notes,
        blob_tier: None,
        per_node: per_node(&nodes, src, cluster),
        provenance: None,
        repeats: None,
        timeline: None,
    })
}

pub(super) fn device_summary(profile: &Profile, nodes: &[NodeOut]) -> Option<DeviceSummary> {
    let devs: Vec<&DeviceOut> = nodes.iter().filter_map(|n| n.device.as_ref()).collect();
    if devs.is_empty() {
        return None;
    }
    let mut resources: Vec<ResourceUse> = Vec::new();
    for d in &devs {
        for r in &d.resources {
            match resources.iter_mut().find(|x| x.name == r.name) {
                Some(x) => {
                    x.jobs += r.jobs;
                    x.busy_ns += r.busy_ns;
                    x.utilization += r.utilization / devs.len() as f64;
                }
                None => {
                    let mut r = r.clone();
                    r.utilization /= devs.len() as f64;
                    resources.push(r);
                }
            }
        }
    }
    let bottleneck = resources
        .iter()
        .filter(|r| r.jobs > 0)
        .max_by(|a, b| a.utilization.total_cmp(&b.utilization))
        .map(|r| r.name.clone());
    let sum = |f: fn(&DeviceOut) -> u64| devs.iter().map(|d| f(d)).sum::<u64>();
    Some(DeviceSummary {
        profile: profile.name.clone(),
        name: devs[0].name.clone(),
        modelled: devs.iter().any(|d| d.modelled),
        devices: devs.len() as u32,
        makespan_ns: devs.iter().map(|d| d.makespan_ns).max().unwrap_or(0),
        resources,
        bottleneck,
        descriptors: sum(|d| d.descriptors),
        error_completions: sum(|d| d.error_completions),
        injected_errors: sum(|d| d.injected_errors),
        doorbells_dropped: sum(|d| d.doorbells_dropped),
        below_min_efficient_size: sum(|d| d.below_min_efficient_size),
        late_completions: sum(|d| d.late_completions),
        max_lag_ns: devs.iter().map(|d| d.max_lag_ns).max().unwrap_or(0),
    })
}

/// The background copy's figures, over every process's copier. `emulator`: the blob tier
/// is the Azure Storage emulator, so the copy's timings are its.
fn copy_figures(copies: &[&CopyOut], emulator: bool) -> Vec<(String, Figure)> {
    let mut extra = Vec::new();
    let copied_bytes: u64 = copies.iter().map(|c| c.copied_bytes).sum();
    let copied_chunks: u64 = copies.iter().map(|c| c.copied_chunks).sum();
    let lag_total: u64 = copies.iter().map(|c| c.lag_ns_total).sum();
    let lag_max = copies.iter().map(|c| c.lag_ns_max).max().unwrap_or(0);
    // Processes copy side by side: the copy's window is the longest one's.
    let window_s = copies.iter().map(|c| c.window_ns).max().unwrap_or(0) as f64 / 1e9;
    let mut lag = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
        .expect("static histogram bounds are valid");
    for (value, count) in copies.iter().flat_map(|c| c.lag.iter()) {
        lag.saturating_record_n(*value, *count);
    }
    let quantile = |q| if lag.is_empty() { 0.0 } else { lag.value_at_quantile(q) as f64 };
    let m = Figure::measured;
    // Timings of the copy are the blob service's: the emulator's, when it is one.
    let timed = |v, unit| Figure::measured(v, unit).on_emulator(emulator);
    extra.push(("blob_copied_bytes".into(), m(copied_bytes as f64, Unit::Bytes)));
    extra.push(("blob_copied_chunks".into(), m(copied_chunks as f64, Unit::Count)));
    extra.push((
        "blob_copy_throughput".into(),
        timed(if window_s > 0.0 { copied_bytes as f64 / window_s } else { 0.0 }, Unit::BytesPerSecond),
    ));
    extra.push(("blob_copy_lag_p50".into(), timed(quantile(0.50), Unit::Nanoseconds)));
    extra.push(("blob_copy_lag_p99".into(), timed(quantile(0.99), Unit::Nanoseconds)));
    let mean_lag = if copied_chunks > 0 { lag_total as f64 / copied_chunks as f64 } else { 0.0 };
    extra.push(("blob_copy_lag_mean".into(), timed(mean_lag, Unit::Nanoseconds)));
    extra.push(("blob_copy_lag_max".into(), timed(lag_max as f64, Unit::Nanoseconds)));
    extra.push((
        "blob_copy_backpressure_events".into(),
        m(copies.iter().map(|c| c.backpressure_events).sum::<u64>() as f64, Unit::Count),
    ));
    extra.push((
        "blob_multipart_uploads".into(),
        m(copies.iter().map(|c| c.multipart_uploads).sum::<u64>() as f64, Unit::Count),
    ));
    extra
}

fn merge_fallbacks(nodes: &[NodeOut]) -> Fallbacks {
    let mut fallbacks = Fallbacks::default();
    for n in nodes {
        let f = &n.fallbacks;
        fallbacks.unsupported_ops += f.unsupported_ops;
        fallbacks.after_device_error += f.after_device_error;
        fallbacks.after_timeout += f.after_timeout;
        for r in &f.reasons {
            if !fallbacks.reasons.contains(r) {
                fallbacks.reasons.push(r.clone());
            }
        }
    }
    fallbacks
}

fn merge_verification(nodes: &[NodeOut]) -> Verification {
    let mut verification = Verification { ok: true, ..Verification::default() };
    for n in nodes {
        let v = &n.verification;
        verification.chunks_checked += v.chunks_checked;
        verification.bytes_checked += v.bytes_checked;
        verification.corrupt_detected += v.corrupt_detected;
        verification.refetched += v.refetched;
        verification.ok &= v.ok;
        verification.failures.extend(v.failures.iter().cloned());
    }
    verification.failures.truncate(20);
    verification
}

/// The manifest digest: a CRC32C over every (node, chunk, stored length, CRC) the run
/// produced, in order; identical in both modes when the same chunks were produced. Also
/// the number of chunks.
fn manifest_digest(nodes: &[NodeOut]) -> (u32, usize) {
    let mut items: Vec<_> = nodes.iter().flat_map(|n| n.digest_items.iter().copied()).collect();
    items.sort_unstable();
    let mut digest = 0u32;
    for (node, idx, len, crc) in &items {
        let mut b = [0u8; 24];
        b[..4].copy_from_slice(&node.to_le_bytes());
        b[4..12].copy_from_slice(&idx.to_le_bytes());
        b[12..20].copy_from_slice(&len.to_le_bytes());
        b[20..].copy_from_slice(&crc.to_le_bytes());
        digest = crc32c_append(digest, &b);
    }
    (digest, items.len())
}

/// The run's latency stages over every node: end to end, the kernels' or the device's
/// ops, and storage I/O (the stages with no samples left out).
fn merge_latency(nodes: &[NodeOut], percentiles: &[f64]) -> Vec<LatencySummary> {
    let mut e2e = StageHist::new("end_to_end", nodes.first().map_or(Source::Measured, |n| n.e2e.source));
    let mut kernel = nodes
        .first()
        .map(|n| n.kernel.clone())
        .unwrap_or_else(|| StageHist::new("kernels", Source::Measured));
    let mut io = StageHist::new("storage_io", Source::Measured);
    let mut first = true;
    for n in nodes {
        e2e.merge(&n.e2e);
        if !first {
            kernel.merge(&n.kernel);
        }
        first = false;
        io.merge(&n.io);
    }
    [&e2e, &kernel, &io].iter().filter(|h| !h.is_empty()).map(|h| h.summary_with(percentiles)).collect()
}

/// What the nodes stored, hit, fetched and spent on the CPU, as named figures.
fn node_figures(spec: &ScenarioSpec, nodes: &[NodeOut], host_cpu_ns: u64) -> Vec<(String, Figure)> {
    let mut extra = Vec::new();
    let bytes: u64 = nodes.iter().map(|n| n.bytes).sum();
    let sim_cpu: u64 = nodes.iter().map(|n| n.sim_cpu_ns).sum();
    let stored: u64 = nodes.iter().map(|n| n.stored_bytes).sum();
    if stored > 0 {
        extra.push(("stored_bytes".into(), Figure::measured(stored as f64, Unit::Bytes)));
        extra.push(("compression_ratio".into(), Figure::measured(bytes as f64 / stored as f64, Unit::Ratio)));
    }
    let (hits, misses): (u64, u64) = nodes.iter().fold((0, 0), |(h, m), n| (h + n.hits, m + n.misses));
    if hits + misses > 0 {
        extra.push((
            "cache_hit_ratio".into(),
            Figure::measured(hits as f64 / (hits + misses) as f64, Unit::Ratio),
        ));
    }
    let egress: u64 = nodes.iter().map(|n| n.blob_egress_bytes).sum();
    let peer: u64 = nodes.iter().map(|n| n.peer_bytes).sum();
    if matches!(spec.kind, ScenarioKind::FanOutRead | ScenarioKind::FanInRead) {
        extra.push(("blob_egress_bytes".into(), Figure::measured(egress as f64, Unit::Bytes)));
        extra.push(("peer_bytes".into(), Figure::measured(peer as f64, Unit::Bytes)));
    }
    extra.push(("simulator_cpu".into(), Figure::measured(sim_cpu as f64 / 1e9, Unit::Seconds)));
    let waits: Vec<u64> = nodes.iter().filter_map(|n| n.device.as_ref()?.cpu_wait_ns).collect();
    if !waits.is_empty() {
        extra.push((
            "device_thread_cpu_wait".into(),
            Figure::measured(waits.iter().sum::<u64>() as f64 / 1e9, Unit::Seconds),
        ));
    }
    // Per-thread split of the host CPU: the node threads' own data-path work, and the
    // rest of the process (background blob copy, I/O runtime).
    let node_cpu: u64 = nodes.iter().map(|n| n.thread_cpu_ns).sum();
    extra.push(("host_cpu_node_threads".into(), Figure::measured(node_cpu as f64 / 1e9, Unit::Seconds)));
    extra.push((
        "host_cpu_max_node_thread".into(),
        Figure::measured(
            nodes.iter().map(|n| n.thread_cpu_ns).max().unwrap_or(0) as f64 / 1e9,
            Unit::Seconds,
        ),
    ));
    extra.push((
        "host_cpu_background".into(),
        Figure::measured(host_cpu_ns.saturating_sub(node_cpu) as f64 / 1e9, Unit::Seconds),
    ));
    extra
}

/// The timeline of every process's nodes: each node's intervals and their sum, latency
/// percentiles over every chunk of an interval. `clock` says where the nodes' clocks come
/// from (the result's throughput source).
pub(super) fn timeline(procs: &[ProcessOut], interval_ns: u64, clock: Source) -> Timeline {
    let mut nodes: Vec<&NodeOut> = procs.iter().flat_map(|p| p.nodes.iter()).collect();
    nodes.sort_by_key(|n| n.node);
    let len = nodes.iter().map(|n| n.intervals.len()).max().unwrap_or(0);
    let summary = |start: usize, bytes: u64, ops: u64, cpu: u64, lat: &mut Vec<u64>| {
        lat.sort_unstable();
        let pct =
            |q: f64| if lat.is_empty() { 0 } else { lat[((lat.len() - 1) as f64 * q).round() as usize] };
        Interval {
            start_ns: start as u64 * interval_ns,
            bytes,
            ops,
            latency_p50_ns: pct(0.50),
            latency_p99_ns: pct(0.99),
            host_cpu_ns: cpu,
        }
    };
    let per_node = nodes
        .iter()
        .map(|n| NodeTimeline {
            node: n.node,
            intervals: n
                .intervals
                .iter()
                .enumerate()
                .map(|(i, iv)| summary(i, iv.bytes, iv.ops, iv.host_cpu_ns, &mut iv.latencies_ns.clone()))
                .collect(),
        })
        .collect();
    let total = (0..len)
        .map(|i| {
            let ivs: Vec<_> = nodes.iter().filter_map(|n| n.intervals.get(i)).collect();
            let mut lat: Vec<u64> = ivs.iter().flat_map(|iv| iv.latencies_ns.iter().copied()).collect();
            summary(
                i,
                ivs.iter().map(|iv| iv.bytes).sum(),
                ivs.iter().map(|iv| iv.ops).sum(),
                ivs.iter().map(|iv| iv.host_cpu_ns).sum(),
                &mut lat,
            )
        })
        .collect();
    Timeline { interval_ns, clock, total, nodes: per_node }
}

/// Share of a device thread's busy time it may wait for a CPU before a run says so.
const CPU_WAIT_NOTE_SHARE: f64 = 0.05;

/// A note when devices on host threads waited for a CPU for a visible share of their
/// busy time: the machine's cores were shared by them and the run's own threads.
fn cpu_wait_note(nodes: &[NodeOut]) -> Option<String> {
    let (mut wait, mut busy) = (0u64, 0u64);
    for d in nodes.iter().filter_map(|n| n.device.as_ref()) {
        wait += d.cpu_wait_ns?;
        busy += d.resources.iter().map(|r| r.busy_ns).sum::<u64>();
    }
    (busy > 0 && wait as f64 > CPU_WAIT_NOTE_SHARE * busy as f64).then(|| {
        format!(
            "device thread CPU wait: the device thread(s) waited {:.1} ms for a CPU while runnable, {:.0} % of \
             their busy time [meas]: this machine's cores were shared by them and the run's own threads \
             (node, storage I/O, blob copy), so the device ran slower than one with a core of its own",
            wait as f64 / 1e6,
            wait as f64 / busy as f64 * 100.0
        )
    })
}
