//! The simulator's own speed: modelled descriptors processed per second of wall time,
//! with functional execution off (timing model only) and on (real kernels), beside the
//! bare kernel call for the same work as the reference.
//!
//! Parameters (env): DPUKIT_BENCH_ENGINE_SIZES (bytes per descriptor, default
//! "4096,65536"), DPUKIT_BENCH_ENGINE_PROFILE (default "bluefield-2").

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dpukit_ffi::{BufRef, Descriptor, Op, QueuePair, QueuePairConfig};
use dpukit_kernels::cache_index::CacheIndex;
use dpukit_kernels::crc32c::crc32c;
use dpukit_kernels::registry::Registry;
use dpukit_sim::engine::{Engine, EngineConfig};
use dpukit_sim::profile::Profile;
use dpukit_sim::timing::SimTime;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn sizes() -> Vec<u32> {
    std::env::var("DPUKIT_BENCH_ENGINE_SIZES")
        .unwrap_or_else(|_| "4096,65536".into())
        .split(',')
        .map(|s| s.trim().parse().expect("DPUKIT_BENCH_ENGINE_SIZES: numbers"))
        .collect()
}

fn run(profile: &Profile, functional: bool, size: u32, n: u64) -> Duration {
    const BATCH: usize = 32;
    let (mut host, dev) = QueuePair::create(QueuePairConfig::default()).unwrap();
    let registry = Registry::new(Arc::new(CacheIndex::new(1024).unwrap()));
    let cfg = EngineConfig { functional, ..EngineConfig::default() };
    let mut engine = Engine::new(profile, registry, cfg).unwrap();
    engine.attach(dev);
    let mut mem = vec![0x5au8; size as usize * BATCH];
    // SAFETY: `mem` outlives the queue pair and is not touched while descriptors fly.
    let r = unsafe { host.register_region(mem.as_mut_ptr(), mem.len() as u64) }.unwrap().0;
    let descs: Vec<Descriptor> = (0..BATCH as u64)
        .map(|i| Descriptor::new(i, Op::Crc32c { src: BufRef::new(r, i * size as u64, size), seed: 0 }))
        .collect();
    let mut out = Vec::with_capacity(256);
    let mut done = 0u64;
    let mut now = SimTime::ZERO;
    let start = Instant::now();
    while done < n {
        let k = BATCH.min((n - done) as usize);
        assert_eq!(host.submit(&descs[..k]), k);
        engine.poll(now);
        out.clear();
        host.poll(256, &mut out).unwrap();
        done += out.len() as u64;
        now = engine.makespan();
    }
    let elapsed = start.elapsed();
    black_box(&mem);
    elapsed
}

fn engine_speed(c: &mut Criterion) {
    let name = std::env::var("DPUKIT_BENCH_ENGINE_PROFILE").unwrap_or_else(|_| "bluefield-2".into());
    let profile = Profile::builtin(&name).expect("DPUKIT_BENCH_ENGINE_PROFILE: a built-in profile");
    let mut g = c.benchmark_group("engine_crc32c_descriptors");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(20);
    g.throughput(Throughput::Elements(1));
    for size in sizes() {
        g.bench_with_input(BenchmarkId::new("timing_only", size), &size, |b, &size| {
            b.iter_custom(|n| run(&profile, false, size, n))
        });
        g.bench_with_input(BenchmarkId::new("functional", size), &size, |b, &size| {
            b.iter_custom(|n| run(&profile, true, size, n))
        });
        let buf = vec![0x5au8; size as usize];
        g.bench_with_input(BenchmarkId::new("bare_crc32c_kernel", size), &size, |b, _| {
            b.iter(|| black_box(crc32c(black_box(&buf))))
        });
    }
    g.finish();
}

criterion_group!(benches, engine_speed);
criterion_main!(benches);
