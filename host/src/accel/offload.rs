//! The offload side of `dpukit accel`: one [`Offload`] to the device `--device` names
//! (the profile's simulator by default; a dedicated host thread, the paced simulator, a
//! device process or a DPDK compressdev queue pair), `queue_depth` jobs in flight,
//! refilled `batch` at a time.
//!
//! Its figures carry the device's clock ([`Offload::device_clock`]): modelled for the
//! simulator, whose `-t` then counts seconds of the offload layer's host clock (measured
//! host time plus modelled waits); measured for every other device, whose `-t` counts wall
//! seconds. The host's own cost of offloading (prepare, submit, poll) and its CPU per op are
//! measured either way.
//!
//! Routing is asked where the device answers it: the simulator (inline or paced) runs what
//! the profile routes ([`route_on`], refused before any work otherwise), the thread device
//! what a `host-cores` profile routes when given one; a device process or a DPDK device
//! says itself what it runs, and every op it cannot run goes to the host CPU, counted in
//! the side's fallbacks and named in its `engine`.

#![forbid(unsafe_code)]

use super::*;
use crate::device::{DeviceChoice, DeviceClock};
use crate::offload::RanOn;
use crate::plugin::{PLUGIN_FORWARD, PLUGIN_OPCODE};
use dpukit_sim::profile::ProfileKind;

/// Where `spec`'s device runs its op on `profile`, checked before any work: `Some(route)`
/// for a device that routes by the profile ("accel:dsa", "dpu-cores"), `None` for one that
/// decides itself (ops it cannot run fall back to the host CPU, counted). A profile that
/// cannot run the op is one line naming what is missing.
pub fn check_offload(spec: &AccelSpec, profile: &Profile) -> Result<Option<String>, AccelError> {
    match &spec.device {
        DeviceChoice::Simulated | DeviceChoice::SimPaced => route_on(profile, &spec.op).map(Some),
        // The thread device routes by a host-cores profile (else by its own, which runs every
        // built-in op) and times a plugin by the host clock, so needs no cost for it.
        DeviceChoice::Thread if profile.kind == ProfileKind::HostCores && spec.op.plugin_name().is_none() => {
            route_on(profile, &spec.op).map(|_| None)
        }
        _ => Ok(None),
    }
}

/// The slot ops of one job.
fn slot_ops(spec: &AccelSpec, input_len: usize, k: u64, ops: &mut Vec<SlotOp>) {
    ops.clear();
    let t = spec.transfer_bytes as u32;
    match &spec.op {
        AccelOp::Crc32c | AccelOp::Copy | AccelOp::CopyCrc32c => {
            for b in 0..spec.buffers_per_op {
                let (offset, chain) = (b * t, b > 0);
                ops.push(match spec.op {
                    AccelOp::Crc32c => SlotOp::Crc32cAt { offset, len: t, chain },
                    AccelOp::Copy => SlotOp::Copy { offset, len: t },
                    _ => SlotOp::CopyCrc32c { offset, len: t, chain },
                });
            }
        }
        &AccelOp::Compress { algorithm, level } => {
            ops.push(SlotOp::Compress { algorithm, level, len: input_len as u32 })
        }
        &AccelOp::Decompress { algorithm, .. } => {
            ops.push(SlotOp::Decompress { algorithm, src: Buf::In, dst: Buf::Out, len: input_len as u32 })
        }
        AccelOp::Lookup => ops.push(SlotOp::CacheLookup { key: cache_entry(spec.seed, k).0 }),
        AccelOp::Insert => {
            let (key, value) = cache_entry(spec.seed, k);
            ops.push(SlotOp::CacheInsert { key, value })
        }
        // The plugin's forward transform of the whole buffer, from the input to the output.
        AccelOp::User { arg, .. } => ops.push(SlotOp::User {
            opcode: PLUGIN_OPCODE,
            arg0: *arg,
            arg1: PLUGIN_FORWARD,
            src: Buf::In,
            dst: Buf::Out,
            len: input_len as u32,
        }),
    }
}

/// Runs the offload side on `spec`'s device for `profile`. Checked first: the device can
/// run the op there ([`check_offload`]).
pub fn run_offload(spec: &AccelSpec, profile: &Profile, tsc: &Tsc) -> Result<AccelSide, AccelError> {
    let route = check_offload(spec, profile)?;
    let registry = registry_for(spec)?;
    let slots = prepare_slots(spec, &registry, 0)?;
    let in_bytes = slots.iter().map(|s| s.input.len()).max().unwrap_or(0).max(16);
    let cfg = OffloadConfig {
        slots: spec.queue_depth as usize,
        in_bytes,
        out_bytes: out_capacity(spec),
        spare_bytes: 0,
        batch: spec.batch as usize,
        device_timeout_ns: 60_000_000_000,
        engine: EngineConfig::default(),
    };
    let mut off = Offload::with_choice(registry.clone(), &cfg, profile, &spec.device)?;
    for (s, data) in slots.iter().enumerate() {
        let (input, _) = off.slot(s)?;
        input[..data.input.len()].copy_from_slice(&data.input);
    }
    let clock = quanta::Clock::new();
    let modelled = off.device_clock() != Some(DeviceClock::Measured);
    let source = if modelled { Source::Modelled } else { Source::Measured };
    let warm_ns = (spec.warmup_seconds * 1e9) as u64;
    let end_ns = warm_ns + (spec.seconds * 1e9) as u64;
    let wall = Instant::now();
    let wall_budget_ns = (spec.max_wall_seconds * 1e9) as u64;
    let t_base = off.now_ns();
    let mut hist = StageHist::new("op", source);
    let mut dev_hist = StageHist::new("device", source);
    let (mut ops, mut failed, mut mis, mut out_bytes) = (0u64, 0u64, 0u64, 0u64);
    // Ops of the window that ran (in whole or in part) on the host CPU instead of the device.
    let mut on_host = 0u64;
    // Host cost of offloading, raw clock ticks: prepare, submit, poll (simulator excluded).
    let mut cost = [0u64; 3];
    let mut measuring = warm_ns == 0;
    let mut snap = Snapshot::take(&off, &wall);
    let mut stopped_by = "time";
    let mut stopping = false;
    let mut k = 0u64;
    let mut user_k: Vec<u64> = vec![0; spec.queue_depth as usize];
    let mut finished = 0u64;
    let mut job_ops: Vec<SlotOp> = Vec::with_capacity(MAX_OPS_PER_JOB);
    loop {
        // Keep the queue full until the time is up, then drain it. Refill a whole batch at
        // a time, so each doorbell announces `batch` jobs (refilling one slot as it frees
        // would ring the doorbell per job whatever the batch).
        let qd = spec.queue_depth as usize;
        let refill = !stopping && qd - off.in_flight() >= spec.batch as usize;
        // Back-to-back stages share a clock reading (one read of the raw counter ends a
        // stage and starts the next): 2 to 3 reads per job instead of 5.
        let mut last = None;
        while refill && off.in_flight() < qd {
            let r0 = last.unwrap_or_else(|| clock.raw());
            let Some(slot) = off.take_slot() else { break };
            slot_ops(spec, slots[slot].input_len, k, &mut job_ops);
            user_k[slot] = k;
            k += 1;
            let r1 = clock.raw();
            let sim0 = off.stats().sim_wall_ns;
            off.submit(slot, k - 1, &job_ops)?;
            let r2 = clock.raw();
            last = Some(r2);
            let sim_ns = off.stats().sim_wall_ns - sim0;
            if measuring {
                cost[0] += r1.wrapping_sub(r0);
                cost[1] += r2.wrapping_sub(r1).saturating_sub(ns_to_raw(&clock, sim_ns));
            }
        }
        let sim0 = off.stats().sim_wall_ns;
        let r0 = last.unwrap_or_else(|| clock.raw());
        let Some(f) = off.next_finished()? else { break };
        let r1 = clock.raw();
        let sim_ns = off.stats().sim_wall_ns - sim0;
        let in_window = measuring && f.done_ns.saturating_sub(t_base) <= end_ns;
        if measuring {
            cost[2] += r1.wrapping_sub(r0).saturating_sub(ns_to_raw(&clock, sim_ns));
        }
        if in_window {
            ops += 1;
            hist.record(f.done_ns.saturating_sub(f.submitted_ns));
            // An op the host CPU ran instead has no device time (its latency is the
            // kernel's time on the CPU): the device's percentiles are the device's alone.
            for r in f.results.iter().filter(|r| r.ran_on == RanOn::Device) {
                dev_hist.record(r.latency_ns);
            }
            if f.results.iter().any(|r| r.ran_on == RanOn::Host) {
                on_host += 1;
            }
            let last = f.results.last().copied();
            let ok = f.results.iter().all(|r| r.status == Status::Ok);
            if !ok {
                failed += 1;
            } else if let Some(last) = last {
                if matches!(spec.op, AccelOp::Compress { .. }) {
                    out_bytes += last.result;
                }
                if spec.verify {
                    let kk = user_k[f.slot];
                    let (_, out) = off.slot(f.slot)?;
                    if !check(spec, &registry, &slots[f.slot], out, last.result, kk) {
                        mis += 1;
                    }
                }
            }
        }
        off.release(f.slot);
        finished += 1;
        // The job's done time is the host clock's reading as next_finished returned: no
        // clock read of its own (each is tens of ns, a visible share of an op's host cost).
        let now = f.done_ns.saturating_sub(t_base);
        if !measuring && now >= warm_ns {
            measuring = true;
            snap = Snapshot::take(&off, &wall);
        }
        if !stopping && measuring && now >= end_ns {
            stopping = true;
        }
        // The wall budget is a bound, not a figure: looked at once per WALL_CHECK_EVERY jobs.
        if !stopping
            && finished.is_multiple_of(WALL_CHECK_EVERY)
            && wall.elapsed().as_nanos() as u64 >= wall_budget_ns
        {
            stopping = true;
            stopped_by = "wall budget";
            if !measuring {
                measuring = true;
                snap = Snapshot::take(&off, &wall);
            }
        }
    }
    let end = Snapshot::take(&off, &wall);
    let window_ns = end.host_ns.min(t_base + end_ns).saturating_sub(snap.host_ns).max(1);
    let bytes = spec.op_bytes();
    let total = line("total".into(), ops, window_ns, bytes, failed, mis, source);
    let threads = vec![SummaryLine { name: "0".into(), ..total.clone() }];
    let resources: Vec<ResourceUse> = end
        .resources
        .iter()
        .map(|r| {
            let before = snap.resources.iter().find(|b| b.name == r.name).map_or(0, |b| b.busy_ns);
            let busy = r.busy_ns.saturating_sub(before);
            ResourceUse {
                name: r.name.clone(),
                units: r.units,
                jobs: r
                    .jobs
                    .saturating_sub(snap.resources.iter().find(|b| b.name == r.name).map_or(0, |b| b.jobs)),
                busy_ns: busy,
                utilization: (busy as f64 / (r.units.max(1) as f64 * window_ns as f64)).min(1.0),
            }
        })
        .collect();
    let bottleneck = resources
        .iter()
        .filter(|r| r.busy_ns > 0)
        .max_by(|a, b| a.utilization.total_cmp(&b.utilization))
        .map(|r| r.name.clone());
    let per_op = |raw: u64| clock.delta_as_nanos(0, raw) as f64 / ops.max(1) as f64;
    let ns = [per_op(cost[0]), per_op(cost[1]), per_op(cost[2])];
    let cycles = tsc.usable.then(|| {
        let c = |raw: u64| raw as f64 / ops.max(1) as f64;
        [c(cost[0]), c(cost[1]), c(cost[2]), c(cost[0] + cost[1] + cost[2])]
    });
    let descriptors = end.descriptors.saturating_sub(snap.descriptors);
    let wall_window = end.wall_ns.saturating_sub(snap.wall_ns).max(1);
    let sim_window = end.sim_wall_ns.saturating_sub(snap.sim_wall_ns);
    let host_cpu =
        end.cpu_ns.saturating_sub(snap.cpu_ns).saturating_sub(end.sim_cpu_ns.saturating_sub(snap.sim_cpu_ns));
    let mut latency = hist.summary_with(&spec.percentiles);
    latency.stage = "op".into();
    let mut device_latency = dev_hist.summary_with(&spec.percentiles);
    device_latency.stage = "device".into();
    let fallbacks = off.stats().fallbacks.clone();
    let clock_name = if modelled {
        "offload host clock (measured host time plus modelled waits: -t counts modelled seconds)"
    } else {
        "wall (the device's completions timed as they arrive: -t counts wall seconds)"
    };
    let device = off.device_name().unwrap_or_else(|| "no device".into());
    let engine = engine_label(&spec.op, &device, route.as_deref(), on_host, ops);
    // Only the inline simulator has a speed of its own to give: its wall time is counted
    // apart from the host's (a paced one runs on its own thread).
    let inline_sim = modelled && spec.device == DeviceChoice::Simulated;
    Ok(AccelSide {
        mode: Mode::Offload,
        engine,
        clock: clock_name.into(),
        window_s: Figure { value: window_ns as f64 / 1e9, unit: Unit::Seconds, source, emulator: false },
        wall_s: wall.elapsed().as_secs_f64(),
        stopped_by: stopped_by.into(),
        threads,
        total,
        latency,
        latency_stride: 1,
        timer_ns: None,
        device_latency: (!dev_hist.is_empty()).then_some(device_latency),
        host_cpu_ns_per_op: Figure::measured(host_cpu as f64 / ops.max(1) as f64, Unit::Nanoseconds),
        offload_cost: Some(OffloadCost {
            prepare_ns_per_op: Figure::measured(ns[0], Unit::Nanoseconds),
            submit_ns_per_op: Figure::measured(ns[1], Unit::Nanoseconds),
            poll_ns_per_op: Figure::measured(ns[2], Unit::Nanoseconds),
            total_ns_per_op: Figure::measured(ns.iter().sum(), Unit::Nanoseconds),
            cycles,
        }),
        resources,
        bottleneck,
        simulator: inline_sim.then(|| SimulatorSpeed {
            descriptors,
            descriptors_per_wall_s: Figure::measured(
                descriptors as f64 / (wall_window as f64 / 1e9),
                Unit::OpsPerSecond,
            ),
            sim_share: Figure::measured(sim_window as f64 / wall_window as f64, Unit::Ratio),
            descriptors_per_sim_s: Figure::measured(
                descriptors as f64 / (sim_window.max(1) as f64 / 1e9),
                Unit::OpsPerSecond,
            ),
            loop_ns_per_descriptor: (descriptors > 0).then(|| {
                let cost_ns = clock.delta_as_nanos(0, cost.iter().sum());
                let rest = wall_window.saturating_sub(sim_window).saturating_sub(cost_ns);
                Figure::measured(rest as f64 / descriptors as f64, Unit::Nanoseconds)
            }),
        }),
        sim_lag: (spec.device == DeviceChoice::SimPaced).then(|| SimLag {
            late_completions: end.late_completions,
            max_lag_ns: Figure::measured(end.max_lag_ns as f64, Unit::Nanoseconds),
        }),
        fallbacks,
        ratio: ratio_of(spec, out_bytes, ops),
    })
}

/// What ran the op: the device and its route; where ops fell back to the host CPU, so that
/// a host CPU's figure is never read as the device's, how many, or that all did.
fn engine_label(op: &AccelOp, device: &str, route: Option<&str>, on_host: u64, ops: u64) -> String {
    let named = match route {
        Some(r) => format!("{device}, {r}"),
        None => device.to_owned(),
    };
    if ops > 0 && on_host == ops {
        format!("host CPU: every op fell back to it ({named} did not run {})", op.name())
    } else if on_host > 0 {
        format!("{named}; {on_host} of {ops} ops fell back to the host CPU")
    } else {
        named
    }
}

fn ns_to_raw(clock: &quanta::Clock, ns: u64) -> u64 {
    if ns == 0 {
        return 0;
    }
    // delta_as_nanos is linear in the raw delta: scale by its rate at 1e9 ticks.
    let per_tick = clock.delta_as_nanos(0, 1_000_000_000) as f64 / 1e9;
    if per_tick > 0.0 {
        (ns as f64 / per_tick) as u64
    } else {
        ns
    }
}

/// Counters of the offload side at one moment.
struct Snapshot {
    host_ns: u64,
    wall_ns: u64,
    cpu_ns: u64,
    sim_wall_ns: u64,
    sim_cpu_ns: u64,
    descriptors: u64,
    resources: Vec<ResourceUse>,
    late_completions: u64,
    max_lag_ns: u64,
}

impl Snapshot {
    fn take(off: &Offload, wall: &Instant) -> Snapshot {
        let report = off.device_report().unwrap_or_default();
        Snapshot {
            host_ns: off.now_ns(),
            wall_ns: wall.elapsed().as_nanos() as u64,
            cpu_ns: thread_cpu_ns(),
            sim_wall_ns: off.stats().sim_wall_ns,
            sim_cpu_ns: off.stats().sim_cpu_ns,
            descriptors: report.descriptors,
            resources: report.resources,
            late_completions: report.late_completions,
            max_lag_ns: report.max_lag_ns,
        }
    }
}
