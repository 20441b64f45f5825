//! The result document of a scale run.

#![forbid(unsafe_code)]

use crate::metrics::{machine_info, StageHist};
use crate::result::{
    DeviceSummary, Fallbacks, Figure, LatencySummary, ResourceUse, RunResult, Source, Unit, Verification,
    RESULT_SCHEMA_VERSION,
};
use crate::scale::model::Model;
use crate::scale::{ScaleError, ScaleOptions};
use crate::spec::ScenarioKind;
use dpukit_sim::des::FifoServer;
use dpukit_sim::profile::Profile;
use dpukit_sim::timing::SimTime;

// The result document.

pub(super) fn summary_of(stage: &str, values: &[u64]) -> LatencySummary {
    let mut h = StageHist::new("node_completion", Source::Modelled);
    for &v in values {
        h.record(v);
    }
    let mut s = h.summary();
    s.stage = stage.into();
    s
}

pub(super) fn assemble(
    m: Model<'_>,
    profile: &Profile,
    opts: &ScaleOptions,
    workers: u32,
    events: u64,
    model_wall_s: f64,
    mut notes: Vec<String>,
) -> Result<RunResult, ScaleError> {
    let spec = m.spec;
    let ends: Vec<u64> = m.state[..workers as usize].iter().map(|s| s.end_ns).collect();
    let makespan_ns = ends.iter().copied().max().unwrap_or(0).max(1);
    let elapsed_s = makespan_ns as f64 / 1e9;
    let mut sorted = ends.clone();
    sorted.sort_unstable();
    let pct = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize] as f64;
    let until = SimTime::from_ns(makespan_ns);

    let u = Utilization::of(&m, workers, until);
    let (device, dpu_max) = device_summary(&m, profile, workers, makespan_ns, until);
    model_notes(&m, &u, dpu_max, opts, events, model_wall_s, &mut notes);
    let mut extra = vec![
        ("node_completion_slowest".into(), Figure::modelled(pct(1.0), Unit::Nanoseconds)),
        ("node_completion_p99".into(), Figure::modelled(pct(0.99), Unit::Nanoseconds)),
        ("node_completion_p50".into(), Figure::modelled(pct(0.5), Unit::Nanoseconds)),
    ];
    extra.extend(model_figures(&m, &u, dpu_max, opts, events));

    let fig = Figure::modelled;
    let bytes = m.bytes;
    let host_cpu_s = m.host_cpu_ns / 1e9;
    let mut latency = Vec::new();
    if !m.e2e.is_empty() {
        latency.push(m.e2e.summary());
    }
    latency.push(summary_of("node_completion", &ends));
    let fallbacks = Fallbacks::default();
    Ok(RunResult {
        schema_version: RESULT_SCHEMA_VERSION,
        kit_version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario: spec.clone(),
        profile: profile.name.clone(),
        mode: m.mode,
        seed: spec.seed,
        machine: machine_info(),
        bytes,
        ops: m.ops,
        wall: fig(elapsed_s, Unit::Seconds),
        throughput: fig(bytes as f64 / elapsed_s, Unit::BytesPerSecond),
        ops_per_s: fig(m.ops as f64 / elapsed_s, Unit::OpsPerSecond),
        host_cpu: fig(host_cpu_s, Unit::Seconds),
        host_cpu_ns_per_byte: fig(
            if bytes > 0 { m.host_cpu_ns / bytes as f64 } else { 0.0 },
            Unit::NanosecondsPerByte,
        ),
        host_cores_busy: fig(host_cpu_s / elapsed_s, Unit::Cores),
        latency,
        device,
        fallbacks,
        verification: Verification { ok: true, ..Verification::default() },
        extra,
        notes,
        blob_tier: None,
        per_node: None,
        provenance: None,
        repeats: None,
        timeline: None,
    })
}

/// Utilization per resource class, modelled: (mean over nodes, busiest node).
struct Utilization {
    cpu: (f64, f64),
    disk: (f64, f64),
    nic_rx: (f64, f64),
    nic_tx: (f64, f64),
    blob: (f64, f64),
    fabric: (f64, f64),
    thread: (f64, f64),
}

impl Utilization {
    fn of(m: &Model<'_>, workers: u32, until: SimTime) -> Utilization {
        // Utilization per resource class: the busiest instance (nodes differ only by load).
        let mean_util = |servers: &mut dyn Iterator<Item = FifoServer>| -> (f64, f64) {
            let (mut sum, mut max, mut n) = (0.0, 0.0f64, 0usize);
            for s in servers {
                let u = m.arena.utilization(s, until);
                sum += u;
                max = max.max(u);
                n += 1;
            }
            (if n > 0 { sum / n as f64 } else { 0.0 }, max)
        };
        let w = workers as usize;
        let cpu = if m.cluster.colocated {
            mean_util(&mut std::iter::once(m.nodes[0].cores))
        } else {
            mean_util(&mut m.nodes[..w].iter().map(|n| n.cores))
        };
        let disk = mean_util(&mut m.nodes[..w].iter().map(|n| n.disk));
        let nic_rx = mean_util(&mut m.nodes.iter().filter_map(|n| n.nic_rx));
        let nic_tx = mean_util(&mut m.nodes.iter().filter_map(|n| n.nic_tx));
        let blob = mean_util(&mut std::iter::once(m.blob));
        let fabric = mean_util(&mut m.fabric.into_iter());
        let thread = mean_util(&mut m.nodes[..w].iter().map(|n| n.thread));
        Utilization { cpu, disk, nic_rx, nic_tx, blob, fabric, thread }
    }
}

/// The device summary over every node's DPU (resources summed as the live summary does),
/// and the busiest DPU resource's utilization.
fn device_summary(
    m: &Model<'_>,
    profile: &Profile,
    workers: u32,
    makespan_ns: u64,
    until: SimTime,
) -> (Option<DeviceSummary>, f64) {
    let w = workers as usize;
    let mut resources: Vec<ResourceUse> = Vec::new();
    let mut dpu_max = 0.0f64;
    if m.shapes.is_some() {
        for (i, (name, units)) in m.dpu_names.iter().enumerate() {
            let (mut busy, mut util) = (0u64, 0.0);
            for n in &m.nodes[..w] {
                let s = m.dpu[n.dpu_first as usize + i];
                busy += m.arena.busy_ns(s);
                util += m.arena.utilization(s, until);
            }
            let util = util / w.max(1) as f64;
            dpu_max = dpu_max.max(util);
            resources.push(ResourceUse {
                name: name.clone(),
                units: *units,
                jobs: 0,
                busy_ns: busy,
                utilization: util,
            });
        }
    }
    let device = m.shapes.as_ref().map(|_| {
        let bottleneck = resources
            .iter()
            .filter(|r| r.busy_ns > 0)
            .max_by(|a, b| a.utilization.total_cmp(&b.utilization))
            .map(|r| r.name.clone());
        DeviceSummary {
            profile: profile.name.clone(),
            name: format!("{} (simulated)", profile.name),
            modelled: true,
            devices: workers,
            makespan_ns,
            resources: resources.clone(),
            bottleneck,
            descriptors: m.dev_descriptors,
            error_completions: 0,
            injected_errors: 0,
            doorbells_dropped: 0,
            below_min_efficient_size: 0,
            late_completions: 0,
            max_lag_ns: 0,
        }
    });
    (device, dpu_max)
}

/// The model's notes: the cluster's bottleneck, how the run was modelled, and from what.
fn model_notes(
    m: &Model<'_>,
    u: &Utilization,
    dpu_max: f64,
    opts: &ScaleOptions,
    events: u64,
    model_wall_s: f64,
    notes: &mut Vec<String>,
) {
    let (spec, cluster) = (m.spec, m.cluster);
    let (cpu, disk, nic_rx, nic_tx, fabric, blob, thread) =
        (u.cpu, u.disk, u.nic_rx, u.nic_tx, u.fabric, u.blob, u.thread);
    let classes = [
        ("host CPU", cpu.1),
        ("DPU", dpu_max),
        ("local tier", disk.1),
        ("NIC", nic_rx.1.max(nic_tx.1)),
        ("network", fabric.1),
        ("blob tier", blob.1),
    ];
    let (bottleneck, hot) =
        classes.iter().fold(("host CPU", -1.0), |b, &(n, u)| if u > b.1 { (n, u) } else { b });
    notes.push(format!("cluster bottleneck: {bottleneck} ({:.0}% busy)", hot * 100.0));
    if hot < 0.8 {
        notes.push(format!(
            "no resource is saturated: each node works through its chunks one step at a time (data-path thread {:.0}% busy on average); latency, not bandwidth, sets the pace",
            thread.0 * 100.0
        ));
    }
    notes.push(format!(
        "scale mode: discrete-event model of {} nodes ({}); {} events, {} chunk(s) per event; modelled in {:.2} s",
        spec.nodes,
        cluster.describe(),
        events,
        m.batch,
        model_wall_s
    ));
    notes.push(format!(
        "host-side costs from calibration {} ({} build, {}, {} logical CPUs)",
        opts.calibration_source,
        opts.calibration.build,
        opts.calibration.machine.cpu_model,
        opts.calibration.machine.logical_cpus
    ));
    if opts.calibration.build != if cfg!(debug_assertions) { "debug" } else { "release" } {
        notes.push("calibration was measured with a different build than this one: compare with live runs of its build".into());
    }
    notes.push("scale mode moves no bytes: nothing was read back or verified".into());
}

/// The model's own figures: utilization per resource class, the calibration's key
/// figures, and what the nodes stored, hit and fetched.
fn model_figures(
    m: &Model<'_>,
    u: &Utilization,
    dpu_max: f64,
    opts: &ScaleOptions,
    events: u64,
) -> Vec<(String, Figure)> {
    let spec = m.spec;
    let (cpu, disk, nic_rx, nic_tx, fabric, blob, thread) =
        (u.cpu, u.disk, u.nic_rx, u.nic_tx, u.fabric, u.blob, u.thread);
    let fig = Figure::modelled;
    let mut extra: Vec<(String, Figure)> = vec![
        ("scale_nodes".into(), fig(f64::from(spec.nodes), Unit::Count)),
        ("scale_events".into(), fig(events as f64, Unit::Count)),
        ("scale_chunks_per_event".into(), fig(f64::from(m.batch), Unit::Count)),
        ("util_host_cpu".into(), fig(cpu.1, Unit::Ratio)),
        ("util_dpu".into(), fig(dpu_max, Unit::Ratio)),
        ("util_local_tier".into(), fig(disk.1, Unit::Ratio)),
        ("util_nic".into(), fig(nic_rx.1.max(nic_tx.1), Unit::Ratio)),
        ("util_network".into(), fig(fabric.1, Unit::Ratio)),
        ("util_blob_tier".into(), fig(blob.1, Unit::Ratio)),
        ("util_node_thread".into(), fig(thread.0, Unit::Ratio)),
    ];
    let cal = &opts.calibration;
    extra.push((
        "calibration_crc32c".into(),
        fig(cal.crc32c_ns_per_byte(m.c.stored), Unit::NanosecondsPerByte),
    ));
    extra.push(("calibration_local_write_op".into(), fig(cal.local_write.op_ns, Unit::Nanoseconds)));
    extra.push(("calibration_blob_get_op".into(), fig(cal.blob_get.op_ns, Unit::Nanoseconds)));
    extra.push(("calibration_device_job_host".into(), fig(cal.device_job_host_ns, Unit::Nanoseconds)));
    if m.stored_bytes > 0 {
        extra.push(("stored_bytes".into(), fig(m.stored_bytes as f64, Unit::Bytes)));
    }
    if spec.compression.is_some() {
        extra.push(("compression_ratio".into(), fig(m.c.chunk as f64 / m.c.stored as f64, Unit::Ratio)));
    }
    if m.hits + m.misses > 0 {
        extra.push(("cache_hit_ratio".into(), fig(m.hits as f64 / (m.hits + m.misses) as f64, Unit::Ratio)));
    }
    if matches!(spec.kind, ScenarioKind::FanOutRead | ScenarioKind::FanInRead) {
        extra.push(("blob_egress_bytes".into(), fig(m.egress_bytes as f64, Unit::Bytes)));
        extra.push(("peer_bytes".into(), fig(m.peer_bytes as f64, Unit::Bytes)));
    }
    if m.blob_put_bytes > 0 {
        extra.push(("blob_copied_bytes".into(), fig(m.blob_put_bytes as f64, Unit::Bytes)));
    }
    extra
}
