//! Scale mode: the discrete-event engine's events per second (a hold model: pop the
//! earliest event, schedule one later, with a `BinaryHeap` push and pop of a bare `u64`
//! beside it as the reference), and the wall time of a large fan-out read modelled end to
//! end.
//!
//! Sizes from the environment:
//! - `DPUKIT_BENCH_DES_PENDING` events kept pending in the hold model (default 10,000);
//! - `DPUKIT_BENCH_SCALE_NODES` nodes (default 10,000), `DPUKIT_BENCH_SCALE_SIZE` object
//!   bytes (default 10 GiB), `DPUKIT_BENCH_SCALE_CHUNK` chunk bytes (default 1 MiB);
//! - `DPUKIT_BENCH_CALIBRATION` a calibration file (default: calibrate once, before timing).

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dpukit_host::calibrate::{calibrate, CalibrateOptions, Calibration};
use dpukit_host::result::Mode;
use dpukit_host::scale::{run_scale, ClusterSpec, ScaleOptions};
use dpukit_host::spec::{ScenarioKind, ScenarioSpec};
use dpukit_sim::des::Scheduler;
use dpukit_sim::profile::Profile;
use dpukit_sim::timing::{SimDuration, SplitMix64};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A compact event, as the cluster model's (node, token, step).
#[derive(Debug, Clone, Copy)]
struct Ev {
    node: u32,
    token: u32,
    step: u8,
}

const HOLD_EVENTS: u64 = 1_000_000;

fn engine(c: &mut Criterion) {
    let pending = env_u64("DPUKIT_BENCH_DES_PENDING", 10_000) as usize;
    let mut g = c.benchmark_group("des_events");
    g.throughput(Throughput::Elements(HOLD_EVENTS));
    g.bench_function(format!("scheduler_hold_{pending}_pending"), |b| {
        b.iter_batched(
            || {
                let mut s: Scheduler<Ev> = Scheduler::with_capacity(pending + 1);
                let mut rng = SplitMix64::new(1);
                for i in 0..pending as u32 {
                    let at = dpukit_sim::timing::SimTime::from_ns(rng.next_u64() % 1_000_000);
                    s.schedule(at, Ev { node: i, token: 0, step: 0 }).unwrap();
                }
                (s, rng)
            },
            |(mut s, mut rng)| {
                for _ in 0..HOLD_EVENTS {
                    let (_, ev) = s.pop().unwrap();
                    let d = SimDuration::from_ns(rng.next_u64() % 1_000_000);
                    let next = Ev { node: ev.node, token: ev.token + 1, step: ev.step ^ 1 };
                    s.schedule_in(d, black_box(next)).unwrap();
                }
                black_box(s.processed())
            },
            BatchSize::LargeInput,
        )
    });
    // Reference: the bare standard heap with a bare key, same hold pattern.
    g.bench_function(format!("binaryheap_u64_hold_{pending}_pending"), |b| {
        b.iter_batched(
            || {
                let mut h = BinaryHeap::with_capacity(pending + 1);
                let mut rng = SplitMix64::new(1);
                for _ in 0..pending {
                    h.push(Reverse(rng.next_u64() % 1_000_000));
                }
                (h, rng)
            },
            |(mut h, mut rng)| {
                for _ in 0..HOLD_EVENTS {
                    let Reverse(t) = h.pop().unwrap();
                    h.push(Reverse(t + rng.next_u64() % 1_000_000));
                }
                black_box(h.len())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn calibration() -> Calibration {
    match std::env::var("DPUKIT_BENCH_CALIBRATION") {
        Ok(path) => Calibration::load(std::path::Path::new(&path)).expect("calibration file"),
        Err(_) => calibrate(&CalibrateOptions::default()).expect("calibration"),
    }
}

fn cluster(c: &mut Criterion) {
    let nodes = env_u64("DPUKIT_BENCH_SCALE_NODES", 10_000) as u32;
    let size = env_u64("DPUKIT_BENCH_SCALE_SIZE", 10 << 30);
    let chunk = env_u64("DPUKIT_BENCH_SCALE_CHUNK", 1 << 20) as u32;
    let cal = calibration();
    let profile = Profile::builtin("bluefield-2").expect("profile");
    let opts = ScaleOptions {
        cluster: ClusterSpec::cluster(&cal, &profile),
        calibration: cal,
        calibration_source: "benches/scale.rs".into(),
    };
    let mut spec = ScenarioSpec::defaults(ScenarioKind::FanOutRead);
    spec.nodes = nodes;
    spec.object_size_bytes = size;
    spec.chunk_size_bytes = chunk;
    let mut g = c.benchmark_group("scale_fan_out_read");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(1));
    for mode in [Mode::Host, Mode::Offload] {
        // One run first, to print what was modelled and how fast.
        let t0 = Instant::now();
        let r = run_scale(&spec, mode, &profile, &opts).expect("scale run");
        let wall = t0.elapsed().as_secs_f64();
        let events = r.extra_figure("scale_events").map_or(0.0, |f| f.value);
        eprintln!(
            "scale fan-out-read {} nodes {} GiB {} mode: {:.2} s wall, {:.0} events ({:.1} M events/s), {} chunk(s) per event, modelled {:.1} GB/s in {:.1} s",
            nodes,
            size >> 30,
            mode.name(),
            wall,
            events,
            events / wall / 1e6,
            r.extra_figure("scale_chunks_per_event").map_or(0.0, |f| f.value),
            r.throughput.value / 1e9,
            r.wall.value
        );
        g.bench_function(format!("{nodes}_nodes_{}", mode.name()), |b| {
            b.iter(|| black_box(run_scale(&spec, mode, &profile, &opts).expect("scale run").bytes))
        });
    }
    g.finish();
}

criterion_group!(benches, engine, cluster);
criterion_main!(benches);
